//! Enqueueing: a source record and its jobs, in one transaction.

use crate::store::sql::{OptionalExt, Tx, params};

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

fn insert_record(tx: &Tx<'_>, r: &NewRecord<'_>, now: i64) -> Result<Ingested, StoreError> {
    let record_id = tx
        .prepare_cached(
        "INSERT INTO record(connection_id, plugin, kind, source_id, payload, received_at, origin,
             content_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
    )?
    .insert(params![
        r.connection_id,
        r.plugin,
        r.kind,
        r.source_id,
        r.payload,
        now,
        r.origin.as_str(),
        crate::store::retention::content_hash(r.payload)
    ])?;
    let mut jobs = Vec::with_capacity(r.jobs.len());
    for job in r.jobs {
        let outcome = insert_job(tx, r.connection_id, r.plugin, Some(record_id), job, now)?;
        jobs.push((job.key.clone(), outcome));
    }
    Ok(Ingested { record_id, jobs })
}

/// Statements of [`insert_job`], prepared once per connection (bulk ingest runs them for
/// every job).
const MAPPED: &str =
    "SELECT content_hash FROM mapping WHERE connection_id=?1 AND plugin=?2 AND key=?3";
const LIVE_WITH_KEY: &str = "SELECT id, state, verify, sends, content_hash FROM job
    WHERE connection_id=?1 AND plugin=?2 AND key=?3
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
        probe, adopt_existing, notes, state, advice, run_at, created_at, updated_at, unmet, verify,
        content_hash, action, line_keys, significant, modifies, version)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?12, ?13, ?14,
        ?15, ?16, ?17, ?18, ?19,
        (SELECT COALESCE(MAX(version), 0) + 1 FROM job WHERE connection_id=?1 AND plugin=?2 AND key=?4))
    RETURNING id";
/// True while a restore's verify window is open (a handful of rows at most, one per restore).
const AFTER_RESTORE: &str =
    "SELECT EXISTS(SELECT 1 FROM restore_generation WHERE verify_until > ?1)";
const INSERT_DEPENDENCY: &str =
    "INSERT INTO job_dep(job_id, depends_on, met) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";

/// SHA-256 of what a version asks of QuickBooks (action, type, request, line keys): equal
/// hashes are the same version sent again; dependencies and probes do not count.
pub(crate) fn content_hash(job: &NewJob) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        job.versioning.action.as_str(),
        &job.request_type,
        &job.qbxml,
        &job.versioning.line_keys.join("\u{1f}"),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn insert_job(
    tx: &Tx<'_>,
    connection_id: i64,
    plugin: &str,
    record_id: Option<i64>,
    job: &NewJob,
    now: i64,
) -> Result<Enqueued, StoreError> {
    let hash = content_hash(job);
    let live: Option<super::versions::Live> = tx
        .prepare_cached(LIVE_WITH_KEY)?
        .query_row(params![connection_id, plugin, job.key], |r| {
            Ok(super::versions::Live {
                id: r.get(0)?,
                state: r.get(1)?,
                verify: r.get(2)?,
                sends: r.get(3)?,
                content_hash: r.get(4)?,
            })
        })
        .optional()?;
    let mapped: Option<Option<String>> = tx
        .prepare_cached(MAPPED)?
        .query_row(params![connection_id, plugin, job.key], |r| r.get(0))
        .optional()?;
    if let Some(live) = live {
        let key = super::versions::KeyOf {
            connection_id,
            plugin,
            record_id,
        };
        return super::versions::over_live(tx, &key, job, &hash, &live, mapped.is_some(), now);
    }
    if let Some(mapped_hash) = mapped {
        if !job.versioning.modifies
            || super::versions::same_as_mapped(
                tx,
                connection_id,
                plugin,
                &job.key,
                mapped_hash,
                &hash,
            )?
        {
            return Ok(Enqueued::AlreadyInQuickBooks);
        }
    } else if job.versioning.action != super::Action::Write {
        // Nothing in QuickBooks and nothing pending: there is nothing to void or delete.
        return Ok(Enqueued::NothingToRemove);
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
    // Dependencies not yet in QuickBooks, or with a newer version on its way; completing each
    // counts it down (`DEPENDENTS_OF`).
    let mut met = Vec::with_capacity(deps.len());
    for dep in &deps {
        met.push(super::versions::dependency_met(
            tx,
            connection_id,
            plugin,
            dep,
        )?);
    }
    let unmet = met.iter().filter(|m| !**m).count() as i64;
    let id = tx.prepare_cached(INSERT_JOB)?.insert(params![
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
        verify,
        hash,
        job.versioning.action.as_str(),
        serde_json::to_string(&job.versioning.line_keys).unwrap_or_else(|_| "[]".into()),
        serde_json::to_string(&job.versioning.significant).unwrap_or_else(|_| "[]".into()),
        job.versioning.modifies,
    ])?;
    let mut insert_dependency = tx.prepare_cached(INSERT_DEPENDENCY)?;
    for (dep, met) in deps.iter().zip(met) {
        insert_dependency.execute(params![id, dep, met])?;
    }
    Ok(Enqueued::Created(id))
}
