//! Renamed records of QuickBooks' shared name space (see `pipeline::names`): a job renamed
//! because another list holds its name, the mapping that remembers both names once the
//! record exists, and dependents that follow the new name — those already queued when the
//! record is created, and those enqueued later.

use crate::store::sql::{OptionalExt, Tx, params};

use super::*;
use crate::qbxml::names::{self as qbnames, NameList};
use crate::store::{Store, StoreError};

/// A job's request, for the pipeline to tell whether its probe is a name check.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// e.g. `CustomerAdd`.
    pub request_type: String,
    /// The request as it is sent.
    pub qbxml: String,
    /// Its probe.
    pub probe: Option<String>,
    /// The status of the last answer to it.
    pub last_status: Option<i64>,
}

impl Store {
    /// The request of a job (see [`JobRequest`]).
    pub fn job_request(&self, job_id: i64) -> Result<JobRequest, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT request_type, qbxml, probe, last_status FROM job WHERE id=?1",
                [job_id],
                |r| {
                    Ok(JobRequest {
                        request_type: r.get(0)?,
                        qbxml: r.get(1)?,
                        probe: r.get(2)?,
                        last_status: r.get(3)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))
        })
    }
}

/// The job is sent again under another name: its request and probe are replaced, the name
/// the plugin asked for kept (the first one, if renamed twice), the reason noted, and its
/// send count starts again — it is a different request now.
pub(super) fn rename(
    tx: &Tx<'_>,
    job_id: i64,
    qbxml: &str,
    probe: Option<&str>,
    from: &str,
    note: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE job SET qbxml=?2, probe=?3, renamed_from=COALESCE(renamed_from, ?4),
            notes=json_insert(notes, '$[#]', ?5), state='available', verify=0, sends=0,
            last_status=3100, run_at=?6, updated_at=?6
         WHERE id=?1",
        params![job_id, qbxml, probe, from, note, now],
    )?;
    Ok(())
}

/// A job renamed from `from` just completed: the mapping records the name QuickBooks has and
/// the one the plugin asked for, and live dependents not yet sent refer to the new name from
/// now on.
pub(super) fn record_renamed(
    tx: &Tx<'_>,
    job_id: i64,
    from: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (connection_id, plugin, key, request_type, qbxml): (i64, String, String, String, String) =
        tx.query_row(
            "SELECT connection_id, plugin, key, request_type, qbxml FROM job WHERE id=?1",
            [job_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
    let Some(list) = NameList::of_add(&request_type) else {
        return Ok(());
    };
    let Some(name) = qbnames::added_name(&qbxml) else {
        return Ok(());
    };
    tx.execute(
        "UPDATE mapping SET name=?4, renamed_from=?5, updated_at=?6
         WHERE connection_id=?1 AND plugin=?2 AND key=?3",
        params![connection_id, plugin, key, name, from, now],
    )?;
    let mut stmt = tx.prepare(
        "SELECT j.id, j.qbxml, j.probe FROM job j JOIN job_dep d ON d.job_id=j.id
         WHERE d.depends_on=?3 AND j.connection_id=?1 AND j.plugin=?2
           AND j.state NOT IN ('completed','discarded','cancelled','sent')",
    )?;
    let dependents: Vec<(i64, String, Option<String>)> = stmt
        .query_map(params![connection_id, plugin, key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    for (id, qbxml, probe) in dependents {
        let qbxml = qbnames::retarget(&qbxml, list, from, &name);
        let probe = probe.and_then(|p| qbnames::retarget(&p, list, from, &name));
        if qbxml.is_some() || probe.is_some() {
            tx.execute(
                "UPDATE job SET qbxml=COALESCE(?2, qbxml), probe=COALESCE(?3, probe), updated_at=?4 WHERE id=?1",
                params![id, qbxml, probe, now],
            )?;
        }
    }
    Ok(())
}

/// A job about to be enqueued, with its references to renamed records of its dependencies
/// rewritten to the names QuickBooks has (`None` when none of them was renamed).
pub(crate) fn follow_renames(
    tx: &Tx<'_>,
    connection_id: i64,
    plugin: &str,
    job: &NewJob,
) -> Result<Option<NewJob>, StoreError> {
    if job.depends_on.is_empty() {
        return Ok(None);
    }
    let mut stmt = tx.prepare_cached(
        "SELECT request_type, renamed_from, name FROM mapping
         WHERE connection_id=?1 AND plugin=?2 AND key=?3 AND renamed_from IS NOT NULL",
    )?;
    let mut out: Option<NewJob> = None;
    for dep in &job.depends_on {
        let renamed: Option<(String, String, String)> = stmt
            .query_row(params![connection_id, plugin, dep], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((request_type, from, name)) = renamed else {
            continue;
        };
        let Some(list) = NameList::of_add(&request_type) else {
            continue;
        };
        let current = out.get_or_insert_with(|| job.clone());
        if let Some(x) = qbnames::retarget(&current.qbxml, list, &from, &name) {
            current.qbxml = x;
        }
        if let Some(p) = current
            .probe
            .as_deref()
            .and_then(|p| qbnames::retarget(p, list, &from, &name))
        {
            current.probe = Some(p);
        }
    }
    Ok(out)
}
