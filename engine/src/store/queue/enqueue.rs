//! Enqueueing: a source record and its jobs, in one transaction.

use rusqlite::{OptionalExtension, Transaction, params};

use super::*;
use crate::store::audit::now_ms;
use crate::store::{Store, StoreError};

impl Store {
    /// Stores a source record and its jobs in one transaction — the source may be
    /// acknowledged only after this returns `Ok`.
    // One argument per column of the record row; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue_record(
        &self,
        origin: Origin,
        connection_id: i64,
        plugin: &str,
        kind: &str,
        source_id: Option<&str>,
        payload: &str,
        jobs: &[NewJob],
    ) -> Result<Ingested, StoreError> {
        self.write(|tx| {
            let now = now_ms();
            tx.execute(
                "INSERT INTO record(connection_id, plugin, kind, source_id, payload, received_at, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![connection_id, plugin, kind, source_id, payload, now, origin.as_str()],
            )?;
            let record_id = tx.last_insert_rowid();
            let mut out = Vec::with_capacity(jobs.len());
            for job in jobs {
                let outcome = insert_job(tx, connection_id, plugin, Some(record_id), job, now)?;
                out.push((job.key.clone(), outcome));
            }
            Ok(Ingested {
                record_id,
                jobs: out,
            })
        })
    }
}

pub(crate) fn insert_job(
    tx: &Transaction<'_>,
    connection_id: i64,
    plugin: &str,
    record_id: Option<i64>,
    job: &NewJob,
    now: i64,
) -> Result<Enqueued, StoreError> {
    let done: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM mapping WHERE connection_id=?1 AND plugin=?2 AND key=?3)",
        params![connection_id, plugin, job.key],
        |r| r.get(0),
    )?;
    if done {
        return Ok(Enqueued::AlreadyInQuickBooks);
    }
    let existing: Option<i64> = tx
        .query_row(
            &format!("SELECT id FROM job WHERE connection_id=?1 AND plugin=?2 AND key=?3 AND state NOT IN {TERMINAL}"),
            params![connection_id, plugin, job.key],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = existing {
        return Ok(Enqueued::Existing(id));
    }
    // A dependency QuickBooks has under another name (shared name space): refer to that.
    let renamed = super::names::follow_renames(tx, connection_id, plugin, job)?;
    let job = renamed.as_ref().unwrap_or(job);
    // A dependency that already failed holds the new job at once, with the reason.
    let held_by: Option<(i64, String)> = tx
        .query_row(
            &format!(
                "SELECT j.id, j.key FROM job j WHERE j.connection_id=?1 AND j.plugin=?2 AND j.state IN ('discarded','cancelled','held')
                 AND j.key IN (SELECT value FROM json_each(?3))
                 AND NOT EXISTS (SELECT 1 FROM job k WHERE k.connection_id=j.connection_id AND k.plugin=j.plugin
                                 AND k.key=j.key AND k.state NOT IN {TERMINAL} AND k.state!='held')
                 LIMIT 1"
            ),
            params![connection_id, plugin, serde_json::to_string(&job.depends_on).unwrap_or_default()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (state, advice) = match &held_by {
        Some((id, key)) => (
            "held",
            Some(format!(
                "waiting for job {id} ({key}), which failed; fix and retry that job"
            )),
        ),
        None => ("available", None),
    };
    tx.execute(
        "INSERT INTO job(connection_id, plugin, record_id, key, request_type, qbxml, probe, adopt_existing, notes,
                         state, advice, run_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?12)",
        params![
            connection_id,
            plugin,
            record_id,
            job.key,
            job.request_type,
            job.qbxml,
            job.probe,
            job.adopt_existing,
            serde_json::to_string(&job.notes).unwrap_or_else(|_| "[]".into()),
            state,
            advice,
            now
        ],
    )?;
    let id = tx.last_insert_rowid();
    for dep in &job.depends_on {
        tx.execute(
            "INSERT OR IGNORE INTO job_dep(job_id, depends_on) VALUES (?1, ?2)",
            params![id, dep],
        )?;
    }
    if !job.depends_on.is_empty() {
        // Dependencies not yet in QuickBooks; the `mapping_unblocks` trigger counts them down.
        tx.execute(
            "UPDATE job SET unmet = (SELECT COUNT(*) FROM job_dep d WHERE d.job_id=?1 AND NOT EXISTS (
                SELECT 1 FROM mapping m WHERE m.connection_id=?2 AND m.plugin=?3 AND m.key=d.depends_on))
             WHERE id=?1",
            params![id, connection_id, plugin],
        )?;
    }
    Ok(Enqueued::Created(id))
}
