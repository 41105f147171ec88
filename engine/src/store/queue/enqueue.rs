//! Enqueueing: a source record and its jobs, in one transaction.

use rusqlite::{OptionalExtension, Transaction, params};

use super::*;
use crate::store::audit::now_ms;
use crate::store::{Store, StoreError};

/// One source record and the jobs its plugin made of it, ready to store.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    /// Pushed to qbridge or pulled by it.
    pub origin: Origin,
    /// Connection (company file) the jobs are for.
    pub connection_id: i64,
    /// Plugin that mapped it.
    pub plugin: &'a str,
    /// Record kind (`invoice`, `transaction`, …).
    pub kind: &'a str,
    /// The source's id, when the record has one.
    pub source_id: Option<&'a str>,
    /// The record as received (JSON text).
    pub payload: &'a str,
    /// The plugin's requests, in its order.
    pub jobs: &'a [NewJob],
}

impl Store {
    /// Stores a source record and its jobs in one transaction — the source may be
    /// acknowledged only after this returns `Ok`.
    pub fn enqueue_record(&self, record: &NewRecord<'_>) -> Result<Ingested, StoreError> {
        self.write(|tx| insert_record(tx, record, now_ms()))
    }

    /// Stores many records in one transaction (bulk ingest: one commit, one fsync, per batch
    /// instead of per record). All or nothing.
    pub fn enqueue_records(&self, records: &[NewRecord<'_>]) -> Result<Vec<Ingested>, StoreError> {
        self.write(|tx| {
            let now = now_ms();
            records.iter().map(|r| insert_record(tx, r, now)).collect()
        })
    }
}

fn insert_record(
    tx: &Transaction<'_>,
    r: &NewRecord<'_>,
    now: i64,
) -> Result<Ingested, StoreError> {
    tx.prepare_cached(
        "INSERT INTO record(connection_id, plugin, kind, source_id, payload, received_at, origin,
             content_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        r.connection_id,
        r.plugin,
        r.kind,
        r.source_id,
        r.payload,
        now,
        r.origin.as_str(),
        crate::store::retention::content_hash(r.payload)
    ])?;
    let record_id = tx.last_insert_rowid();
    let mut jobs = Vec::with_capacity(r.jobs.len());
    for job in r.jobs {
        let outcome = insert_job(tx, r.connection_id, r.plugin, Some(record_id), job, now)?;
        jobs.push((job.key.clone(), outcome));
    }
    Ok(Ingested { record_id, jobs })
}

/// Statements of [`insert_job`], prepared once per connection (bulk ingest runs them for
/// every job).
const IN_QUICKBOOKS: &str =
    "SELECT EXISTS(SELECT 1 FROM mapping WHERE connection_id=?1 AND plugin=?2 AND key=?3)";
const LIVE_WITH_KEY: &str = "SELECT id FROM job WHERE connection_id=?1 AND plugin=?2 AND key=?3
    AND state NOT IN ('completed','discarded','cancelled')";
/// A dependency among the keys in ?3 (JSON) that failed and has no live successor.
const FAILED_DEPENDENCY: &str = "SELECT j.id, j.key FROM job j
    WHERE j.connection_id=?1 AND j.plugin=?2 AND j.state IN ('discarded','cancelled','held')
      AND j.key IN (SELECT value FROM json_each(?3))
      AND NOT EXISTS (SELECT 1 FROM job k WHERE k.connection_id=j.connection_id AND k.plugin=j.plugin
                      AND k.key=j.key AND k.state NOT IN ('completed','discarded','cancelled','held'))
    LIMIT 1";
const INSERT_JOB: &str =
    "INSERT INTO job(connection_id, plugin, record_id, key, request_type, qbxml,
        probe, adopt_existing, notes, state, advice, run_at, created_at, updated_at, unmet, verify)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?12, ?13, ?14)";
/// True while a restore's verify window is open (a handful of rows at most, one per restore).
const AFTER_RESTORE: &str =
    "SELECT EXISTS(SELECT 1 FROM restore_generation WHERE verify_until > ?1)";
const INSERT_DEPENDENCY: &str = "INSERT OR IGNORE INTO job_dep(job_id, depends_on) VALUES (?1, ?2)";

pub(crate) fn insert_job(
    tx: &Transaction<'_>,
    connection_id: i64,
    plugin: &str,
    record_id: Option<i64>,
    job: &NewJob,
    now: i64,
) -> Result<Enqueued, StoreError> {
    let in_quickbooks = |key: &str| -> rusqlite::Result<bool> {
        tx.prepare_cached(IN_QUICKBOOKS)?
            .query_row(params![connection_id, plugin, key], |r| r.get(0))
    };
    if in_quickbooks(&job.key)? {
        return Ok(Enqueued::AlreadyInQuickBooks);
    }
    let existing: Option<i64> = tx
        .prepare_cached(LIVE_WITH_KEY)?
        .query_row(params![connection_id, plugin, job.key], |r| r.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(Enqueued::Existing(id));
    }
    // A dependency QuickBooks has under another name (shared name space): refer to that.
    let renamed = super::names::follow_renames(tx, connection_id, plugin, job)?;
    let job = renamed.as_ref().unwrap_or(job);
    let mut deps: Vec<&String> = job.depends_on.iter().collect();
    deps.sort();
    deps.dedup();
    // A dependency that already failed holds the new job at once, with the reason.
    let held_by: Option<(i64, String)> = if deps.is_empty() {
        None
    } else {
        tx.prepare_cached(FAILED_DEPENDENCY)?
            .query_row(
                params![
                    connection_id,
                    plugin,
                    serde_json::to_string(&deps).unwrap_or_default()
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
    };
    let (state, advice) = match &held_by {
        Some((id, key)) => (
            "held",
            Some(format!(
                "waiting for job {id} ({key}), which failed; fix and retry that job"
            )),
        ),
        None => ("available", None),
    };
    // After a restore from an old backup the source sends again what it sent since the
    // backup, and some of it is already in QuickBooks: such a job is proved absent by its
    // probe before it is sent; a write the plugin gave no probe for waits for an admin.
    let after_restore: bool = tx
        .prepare_cached(AFTER_RESTORE)?
        .query_row([now], |r| r.get(0))?;
    let (state, advice, verify) = match (after_restore, &job.probe) {
        (false, _) => (state, advice, false),
        (true, Some(_)) => (state, advice, true),
        (true, None) if super::is_query(&job.request_type) || state == "held" => {
            (state, advice, false)
        }
        (true, None) => (
            "in_doubt",
            Some(super::RESTORED_WITHOUT_PROBE.to_string()),
            false,
        ),
    };
    // Dependencies not yet in QuickBooks; completing each counts it down (`DEPENDENTS_OF`).
    let mut unmet = 0i64;
    for dep in &deps {
        if !in_quickbooks(dep)? {
            unmet += 1;
        }
    }
    tx.prepare_cached(INSERT_JOB)?.execute(params![
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
        now,
        unmet,
        verify
    ])?;
    let id = tx.last_insert_rowid();
    let mut insert_dependency = tx.prepare_cached(INSERT_DEPENDENCY)?;
    for dep in &deps {
        insert_dependency.execute(params![id, dep])?;
    }
    Ok(Enqueued::Created(id))
}
