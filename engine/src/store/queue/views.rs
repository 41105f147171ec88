//! Read views of the queue for admins (pruning is `store::retention`).

use crate::store::sql::{OptionalExt, params};

use super::*;
use crate::store::audit::now_ms;
use crate::store::nodes::live_nodes;
use crate::store::{Store, StoreError};

impl Store {
    /// Jobs, newest first.
    pub fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobView>, StoreError> {
        self.read(|c| {
            let live = crate::store::nodes::live_boot_ids(c, self.boot_id())?;
            let mut stmt = c.prepare(&format!(
                "{JOB_VIEW_SELECT} WHERE (state=?1 OR ?1 IS NULL) AND (connection_id=?2 OR ?2 IS NULL)
                   AND (plugin=?4 OR ?4 IS NULL)
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            let limit = if filter.limit == 0 { 100 } else { filter.limit };
            let rows = stmt
                .query_map(
                    params![filter.state, filter.connection_id, limit, filter.plugin],
                    |r| {
                    job_view(r, false, &live)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// One job with its request and last response.
    pub fn job(&self, job_id: i64) -> Result<JobView, StoreError> {
        self.read(|c| {
            let live = crate::store::nodes::live_boot_ids(c, self.boot_id())?;
            c.query_row(&format!("{JOB_VIEW_SELECT} WHERE id=?1"), [job_id], |r| {
                job_view(r, true, &live)
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))
        })
    }

    /// Counts per state and lag, per connection: from the counters and an index seek, so the
    /// dashboard costs the same with a million finished jobs.
    pub fn queue_status(&self) -> Result<Vec<QueueStatus>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT connection_id, state, n FROM job_count WHERE n > 0 ORDER BY connection_id, state",
            )?;
            let mut out: Vec<QueueStatus> = Vec::new();
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
            for row in rows {
                let (conn, state, n) = row?;
                match out.last_mut() {
                    Some(s) if s.connection_id == conn => s.counts.push((state, n)),
                    _ => out.push(QueueStatus {
                        connection_id: conn,
                        counts: vec![(state, n)],
                        oldest_waiting_ms: None,
                        outcome_unknown: 0,
                    }),
                }
            }
            let now = now_ms();
            for s in &mut out {
                let oldest: Option<i64> =
                    c.query_row(OLDEST_WAITING, [s.connection_id], |r| r.get(0))?;
                s.oldest_waiting_ms = oldest.map(|t| now - t);
                s.outcome_unknown = c.query_row(
                    ORPHANED_SENT,
                    params![
                        s.connection_id,
                        self.boot_id(),
                        crate::store::nodes::live_cutoff(c)?
                    ],
                    |r| r.get(0),
                )?;
            }
            Ok(out)
        })
    }

    /// The object a completed key created, if any: `(object_id, edit_sequence)`.
    pub fn mapping(
        &self,
        connection_id: i64,
        plugin: &str,
        key: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT object_id, edit_sequence FROM mapping WHERE connection_id=?1 AND plugin=?2 AND key=?3",
                params![connection_id, plugin, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
    }

    /// The plugin and key of a job (to route its response to the right plugin).
    pub fn job_origin(&self, job_id: i64) -> Result<(i64, String, String), StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT connection_id, plugin, key FROM job WHERE id=?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))
        })
    }
}

const JOB_VIEW_SELECT: &str = "SELECT id, connection_id, plugin, key, request_type, state, attempt,
    (SELECT json_group_array(depends_on) FROM job_dep WHERE job_id=job.id), object_id, last_status, advice,
    notes, errors, created_at, updated_at, qbxml, response, lease_owner, version, action, sent_qbxml,
    conflict FROM job";

fn job_view(
    r: &crate::store::sql::Row<'_>,
    full: bool,
    live: &[String],
) -> crate::store::sql::Result<JobView> {
    let json = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
    let deps: String = r.get(7)?;
    let notes: String = r.get(11)?;
    Ok(JobView {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        plugin: r.get(2)?,
        key: r.get(3)?,
        request_type: r.get(4)?,
        state: r.get(5)?,
        attempt: r.get(6)?,
        depends_on: serde_json::from_str(&deps).unwrap_or_default(),
        object_id: r.get(8)?,
        last_status: r.get(9)?,
        advice: r.get(10)?,
        notes: serde_json::from_str(&notes).unwrap_or_default(),
        errors: json(r.get(12)?),
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        qbxml: if full { r.get(15)? } else { None },
        response: if full { r.get(16)? } else { None },
        outcome_unknown: state_is_sent(r)?
            && !r
                .get::<_, Option<String>>(17)?
                .is_some_and(|owner| live.contains(&owner)),
        version: r.get(18)?,
        action: r.get(19)?,
        sent_qbxml: if full { r.get(20)? } else { None },
        conflict: r
            .get::<_, Option<String>>(21)?
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
    })
}

fn state_is_sent(r: &crate::store::sql::Row<'_>) -> crate::store::sql::Result<bool> {
    Ok(r.get::<_, Option<String>>(5)?.as_deref() == Some("sent"))
}

/// Jobs of connection ?1 sent by a process that is gone: every lease carries the boot id of
/// its session's node, and a node not this one (?2) that stopped heartbeating since ?3 is
/// dead, so such a job's session died with it (the `job_sent` index).
pub(super) const ORPHANED_SENT: &str = concat!(
    "SELECT COUNT(*) FROM job WHERE connection_id=?1 AND state='sent' AND lease_owner IS NOT ?2
     AND (lease_owner IS NULL OR lease_owner NOT IN ",
    live_nodes!("?3"),
    ")"
);

/// When the oldest job still waiting for connection ?1 was queued (the `job_waiting` index).
pub(in crate::store) const OLDEST_WAITING: &str = "SELECT MIN(created_at) FROM job
    WHERE connection_id=?1 AND state IN ('available','retryable','held','in_doubt')";
