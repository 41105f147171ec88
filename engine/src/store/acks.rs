//! Source acknowledgements: telling a source system (Ramp, Autotask) that a record it handed
//! to qbridge is now in QuickBooks, so it leaves the source's "ready to sync" list.
//!
//! A `source_ack` row is written in the same transaction that records a QuickBooks write as
//! completed (`queue::record_results`), and only for jobs of *pulled* records whose plugin
//! acknowledges: once QuickBooks has the write, the acknowledgement can no longer be lost.
//! The acknowledger (`pipeline::acks`) then calls the plugin until the source accepts,
//! backing off between attempts; after [`MAX_ATTEMPTS`] it stops and the row is `failed`
//! for the admin to retry. A crash between the source's answer and the `done` commit repeats
//! the call, which is why plugins must acknowledge idempotently.

use rusqlite::{Transaction, params};

use super::audit::now_ms;
use super::{Store, StoreError};

/// Attempts before an acknowledgement is given up as `failed` (with the back-off below,
/// about a day at the default check interval).
pub const MAX_ATTEMPTS: i64 = 24;
/// Longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// One acknowledgement that is due, with what the plugin needs to make it.
#[derive(Debug, Clone)]
pub struct DueAck {
    /// The completed job.
    pub job_id: i64,
    /// Its plugin.
    pub plugin: String,
    /// The job's idempotency key.
    pub key: String,
    /// Kind of the record the job came from.
    pub kind: String,
    /// The record as pulled (JSON).
    pub record_json: String,
    /// QuickBooks' `…Ret` for the job.
    pub response_xml: String,
    /// Attempts so far.
    pub attempts: i64,
}

/// How many acknowledgements are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AckCounts {
    /// Waiting for (another) attempt.
    pub pending: i64,
    /// Accepted by the source.
    pub done: i64,
    /// Given up after [`MAX_ATTEMPTS`]; `qbridge jobs retry-acks` tries them again.
    pub failed: i64,
}

/// A failed acknowledgement, for the admin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedAck {
    /// The completed job.
    pub job_id: i64,
    /// Its plugin.
    pub plugin: String,
    /// The job's idempotency key.
    pub key: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last reason the source or plugin gave.
    pub last_error: Option<String>,
}

/// Queues the acknowledgement of completed job `job_id` if its record was pulled (called
/// inside the transaction that completes the job). A job completes once, but a repeat is
/// harmless.
pub(super) fn queue_ack(tx: &Transaction<'_>, job_id: i64, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO source_ack(job_id, state, attempts, next_at, created_at)
         SELECT job.id, 'pending', 0, ?2, ?2 FROM job JOIN record ON record.id = job.record_id
         WHERE job.id = ?1 AND record.origin = 'pull'",
        params![job_id, now],
    )?;
    Ok(())
}

/// The wait after `attempts` failed attempts: `base_ms` doubled each time, at most an hour.
fn backoff_ms(base_ms: i64, attempts: i64) -> i64 {
    let doubled = base_ms.saturating_mul(1i64 << attempts.clamp(0, 20));
    doubled.min(MAX_BACKOFF_MS)
}

impl Store {
    /// Up to `limit` acknowledgements due at `now`, oldest first.
    pub fn due_acks(&self, now: i64, limit: usize) -> Result<Vec<DueAck>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT a.job_id, j.plugin, j.key, r.kind, r.payload, COALESCE(j.response, ''), a.attempts
                 FROM source_ack a JOIN job j ON j.id = a.job_id JOIN record r ON r.id = j.record_id
                 WHERE a.state = 'pending' AND a.next_at <= ?1
                 ORDER BY a.next_at, a.job_id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now, limit as i64], |r| {
                Ok(DueAck {
                    job_id: r.get(0)?,
                    plugin: r.get(1)?,
                    key: r.get(2)?,
                    kind: r.get(3)?,
                    record_json: r.get(4)?,
                    response_xml: r.get(5)?,
                    attempts: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The source accepted the acknowledgement of `job_id`.
    pub fn ack_done(&self, job_id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE source_ack SET state = 'done', attempts = attempts + 1, last_error = NULL, done_at = ?2
                 WHERE job_id = ?1",
                params![job_id, now_ms()],
            )?;
            Ok(())
        })
    }

    /// An attempt failed with `error`: schedules the next one `base_ms` × 2^attempts later
    /// (at most an hour), or marks the row `failed` after [`MAX_ATTEMPTS`]. Returns true when
    /// it was given up.
    pub fn ack_attempt_failed(
        &self,
        job_id: i64,
        error: &str,
        base_ms: i64,
    ) -> Result<bool, StoreError> {
        let error: String = error.chars().take(2_000).collect();
        self.write(|tx| {
            let attempts: i64 = tx.query_row(
                "SELECT attempts + 1 FROM source_ack WHERE job_id = ?1",
                [job_id],
                |r| r.get(0),
            )?;
            let failed = attempts >= MAX_ATTEMPTS;
            tx.execute(
                "UPDATE source_ack SET attempts = ?2, last_error = ?3, next_at = ?4,
                   state = CASE WHEN ?5 THEN 'failed' ELSE 'pending' END
                 WHERE job_id = ?1",
                params![
                    job_id,
                    attempts,
                    error,
                    now_ms() + backoff_ms(base_ms, attempts - 1),
                    failed
                ],
            )?;
            Ok(failed)
        })
    }

    /// Counts by state.
    pub fn ack_counts(&self) -> Result<AckCounts, StoreError> {
        self.read(|c| {
            let mut counts = AckCounts::default();
            let mut stmt = c.prepare("SELECT state, COUNT(*) FROM source_ack GROUP BY state")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (state, n) = row?;
                match state.as_str() {
                    "pending" => counts.pending = n,
                    "done" => counts.done = n,
                    _ => counts.failed = n,
                }
            }
            Ok(counts)
        })
    }

    /// The acknowledgements given up, newest first.
    pub fn failed_acks(&self, limit: usize) -> Result<Vec<FailedAck>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT a.job_id, j.plugin, j.key, a.attempts, a.last_error
                 FROM source_ack a JOIN job j ON j.id = a.job_id
                 WHERE a.state = 'failed' ORDER BY a.job_id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(FailedAck {
                    job_id: r.get(0)?,
                    plugin: r.get(1)?,
                    key: r.get(2)?,
                    attempts: r.get(3)?,
                    last_error: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Makes every failed acknowledgement due again, with a fresh attempt budget, and audits
    /// it. Returns how many.
    pub fn retry_failed_acks(&self, actor: &str) -> Result<usize, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE source_ack SET state = 'pending', attempts = 0, next_at = ?1 WHERE state = 'failed'",
                [now_ms()],
            )?;
            super::audit::append_in(
                tx,
                &super::audit::AuditEntry {
                    actor: actor.to_string(),
                    action: "acks.retry".into(),
                    target: "source_ack:failed".into(),
                    detail: serde_json::json!({"count": n}),
                    ..Default::default()
                },
            )?;
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_an_hour() {
        assert_eq!(backoff_ms(30_000, 0), 30_000);
        assert_eq!(backoff_ms(30_000, 1), 60_000);
        assert_eq!(backoff_ms(30_000, 3), 240_000);
        assert_eq!(backoff_ms(30_000, 10), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(30_000, 500), MAX_BACKOFF_MS);
    }
}
