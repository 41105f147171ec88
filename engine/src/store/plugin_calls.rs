//! Plugin calls deferred past a QuickBooks write, retried until they succeed.
//!
//! Once QuickBooks holds a write, two things may still be owed to the plugin's side:
//! - **acknowledge** — telling the source system (Ramp, Autotask) that a record it handed to
//!   qbridge is now in QuickBooks, so it leaves the source's "ready to sync" list. Only for
//!   jobs of *pulled* records whose plugin acknowledges.
//! - **on_response** — the plugin's follow-ups (e.g. a bill's payments, which need its
//!   TxnID), when the plugin failed to produce them at first (a trap, a limit, bad output).
//!   The job stays completed — the write is in QuickBooks — and the call is repeated, e.g.
//!   after the admin swapped in a fixed plugin version.
//!
//! A `plugin_call` row is written in the same transaction that records the job as completed
//! (`queue::record_results`), so it can no longer be lost. The deferred-call loop
//! (`pipeline::deferred`) makes the call with back-off between attempts; after
//! [`MAX_ATTEMPTS`] the row is `failed` for the admin to retry. A crash between the call and
//! the `done` commit repeats the call: acknowledgements must be idempotent, and follow-ups are
//! inserted in the `done` transaction itself (their keys are unique besides).

use crate::store::sql::{Tx, params};

use super::alerts::{self, AlertKind};
use super::audit::now_ms;
use super::queue::{NewJob, insert_job};
use super::{Store, StoreError};

/// Attempts before a call is given up as `failed` (with the back-off below, about a day at the
/// default check interval).
pub const MAX_ATTEMPTS: i64 = 24;
/// Longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// A call handed to a node is not due again, on any node, for this long: every node runs
/// the deferred-call loop, and each call must be made by one. A node that dies during the
/// call leaves it to be made again after this (calls are bounded far below it).
pub const CLAIM_LEASE_MS: i64 = 300_000;

/// Which plugin call is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// `acknowledge`: tell the source the pulled record is in QuickBooks.
    Acknowledge,
    /// `on_response`: produce the follow-up requests.
    OnResponse,
}

impl CallKind {
    /// The interface name of the call.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Acknowledge => "acknowledge",
            CallKind::OnResponse => "on_response",
        }
    }

    fn parse(s: &str) -> CallKind {
        if s == "acknowledge" {
            CallKind::Acknowledge
        } else {
            CallKind::OnResponse
        }
    }
}

/// One call that is due, with what the plugin needs to make it.
#[derive(Debug, Clone)]
pub struct DueCall {
    /// The completed job.
    pub job_id: i64,
    /// The call owed.
    pub call: CallKind,
    /// Its plugin.
    pub plugin: String,
    /// The job's connection (the plugin call uses its source secrets).
    pub connection_id: i64,
    /// The job's idempotency key.
    pub key: String,
    /// Kind of the record the job came from (empty if the record is gone).
    pub kind: String,
    /// The record (JSON; `{}` if the record is gone).
    pub record_json: String,
    /// QuickBooks' `…Ret` for the job.
    pub response_xml: String,
    /// Attempts so far.
    pub attempts: i64,
}

/// How many calls of one kind are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCounts {
    /// Waiting for (another) attempt.
    pub pending: i64,
    /// Made successfully.
    pub done: i64,
    /// Given up after [`MAX_ATTEMPTS`]; `qbridge jobs retry-deferred` tries them again.
    pub failed: i64,
}

/// A call given up, for the admin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedCall {
    /// The completed job.
    pub job_id: i64,
    /// The call.
    pub call: CallKind,
    /// Its plugin.
    pub plugin: String,
    /// The job's idempotency key.
    pub key: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last reason the plugin or source gave.
    pub last_error: Option<String>,
}

/// Queues `call` for completed job `job_id` (inside the transaction that completes it).
/// Acknowledgements are queued only for jobs of pulled records. A repeat is harmless.
pub(super) fn queue_call(
    tx: &Tx<'_>,
    job_id: i64,
    call: CallKind,
    now: i64,
) -> crate::store::sql::Result<()> {
    let pulled_only = match call {
        CallKind::Acknowledge => {
            "AND EXISTS(SELECT 1 FROM record WHERE record.id = job.record_id AND record.origin = 'pull')"
        }
        CallKind::OnResponse => "",
    };
    tx.execute(
        &format!(
            "INSERT INTO plugin_call(job_id, call, state, attempts, next_at, created_at)
             SELECT job.id, ?2, 'pending', 0, ?3, ?3 FROM job WHERE job.id = ?1 {pulled_only} ON CONFLICT DO NOTHING"
        ),
        params![job_id, call.as_str(), now],
    )?;
    Ok(())
}

/// The wait after `attempts` failed attempts: `base_ms` doubled each time, at most an hour.
fn backoff_ms(base_ms: i64, attempts: i64) -> i64 {
    let doubled = base_ms.saturating_mul(1i64 << attempts.clamp(0, 20));
    doubled.min(MAX_BACKOFF_MS)
}

impl Store {
    /// Up to `limit` calls due at `now`, oldest first, each handed to the caller alone for
    /// [`CLAIM_LEASE_MS`] (until `call_done` or `call_failed` says what came of it).
    pub fn claim_due_calls(&self, now: i64, limit: usize) -> Result<Vec<DueCall>, StoreError> {
        self.write(|c| {
            let mut stmt = c.prepare(
                "SELECT p.job_id, p.call, j.plugin, j.key, COALESCE(r.kind, ''), COALESCE(r.payload, '{}'),
                        COALESCE(j.response, ''), p.attempts, j.connection_id
                 FROM plugin_call p JOIN job j ON j.id = p.job_id LEFT JOIN record r ON r.id = j.record_id
                 WHERE p.state = 'pending' AND p.next_at <= ?1
                 ORDER BY p.next_at, p.job_id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now, limit as i64], |r| {
                Ok(DueCall {
                    job_id: r.get(0)?,
                    call: CallKind::parse(&r.get::<_, String>(1)?),
                    plugin: r.get(2)?,
                    key: r.get(3)?,
                    kind: r.get(4)?,
                    record_json: r.get(5)?,
                    response_xml: r.get(6)?,
                    attempts: r.get(7)?,
                    connection_id: r.get(8)?,
                })
            })?;
            let due = rows.collect::<Result<Vec<_>, _>>()?;
            let mut lease =
                c.prepare("UPDATE plugin_call SET next_at = ?3 WHERE job_id = ?1 AND call = ?2")?;
            for d in &due {
                lease.execute(params![d.job_id, d.call.as_str(), now + CLAIM_LEASE_MS])?;
            }
            Ok(due)
        })
    }

    /// The call succeeded; `follow_ups` (from a repeated `on_response`) are queued in the
    /// same transaction, for the job's connection, plugin and record.
    pub fn call_done(
        &self,
        job_id: i64,
        call: CallKind,
        follow_ups: &[NewJob],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let now = now_ms();
            // Made twice (a lease that ran out under a slow node): the first result stands.
            let pending: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM plugin_call WHERE job_id = ?1 AND call = ?2 AND state = 'pending')",
                params![job_id, call.as_str()],
                |r| r.get(0),
            )?;
            if !pending {
                return Ok(());
            }
            let (connection_id, plugin, record_id): (i64, String, Option<i64>) = tx.query_row(
                "SELECT connection_id, plugin, record_id FROM job WHERE id = ?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            for f in follow_ups {
                insert_job(tx, connection_id, &plugin, record_id, f, now)?;
            }
            tx.execute(
                "UPDATE plugin_call SET state = 'done', attempts = attempts + 1, last_error = NULL, done_at = ?3
                 WHERE job_id = ?1 AND call = ?2",
                params![job_id, call.as_str(), now],
            )?;
            Ok(())
        })
    }

    /// An attempt failed with `error`: schedules the next one `base_ms` × 2^attempts later
    /// (at most an hour), or marks the call `failed` after [`MAX_ATTEMPTS`]. Returns true when
    /// it was given up.
    pub fn call_failed(
        &self,
        job_id: i64,
        call: CallKind,
        error: &str,
        base_ms: i64,
    ) -> Result<bool, StoreError> {
        let error: String = error.chars().take(2_000).collect();
        self.write(|tx| {
            let attempts: i64 = tx.query_row(
                "SELECT attempts + 1 FROM plugin_call WHERE job_id = ?1 AND call = ?2",
                params![job_id, call.as_str()],
                |r| r.get(0),
            )?;
            let failed = attempts >= MAX_ATTEMPTS;
            tx.execute(
                "UPDATE plugin_call SET attempts = ?3, last_error = ?4, next_at = ?5,
                   state = CASE WHEN ?6 THEN 'failed' ELSE 'pending' END
                 WHERE job_id = ?1 AND call = ?2",
                params![
                    job_id,
                    call.as_str(),
                    attempts,
                    error,
                    now_ms() + backoff_ms(base_ms, attempts - 1),
                    failed
                ],
            )?;
            if failed {
                let (connection_id, plugin, key): (i64, String, String) = tx.query_row(
                    "SELECT connection_id, plugin, key FROM job WHERE id = ?1",
                    [job_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                // Given up in the same transaction that alerts; a retried call given up
                // again alerts again (the attempt budget restarts, so `now` differs).
                alerts::record_in(
                    tx,
                    AlertKind::PluginCallGivenUp,
                    Some(connection_id),
                    &format!(
                        "plugin_call.given_up:{job_id}:{}:{}",
                        call.as_str(),
                        now_ms()
                    ),
                    serde_json::json!({
                        "job_id": job_id, "call": call.as_str(), "plugin": plugin, "key": key,
                        "attempts": attempts, "error": error,
                    }),
                )?;
            }
            Ok(failed)
        })
    }

    /// Counts by state for one kind of call.
    pub fn call_counts(&self, call: CallKind) -> Result<CallCounts, StoreError> {
        self.read(|c| {
            let mut counts = CallCounts::default();
            let mut stmt = c.prepare(
                "SELECT state, COUNT(*) FROM plugin_call WHERE call = ?1 GROUP BY state",
            )?;
            let rows = stmt.query_map([call.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
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

    /// The calls given up, newest first.
    pub fn failed_calls(&self, limit: usize) -> Result<Vec<FailedCall>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT p.job_id, p.call, j.plugin, j.key, p.attempts, p.last_error
                 FROM plugin_call p JOIN job j ON j.id = p.job_id
                 WHERE p.state = 'failed' ORDER BY p.job_id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(FailedCall {
                    job_id: r.get(0)?,
                    call: CallKind::parse(&r.get::<_, String>(1)?),
                    plugin: r.get(2)?,
                    key: r.get(3)?,
                    attempts: r.get(4)?,
                    last_error: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Makes every failed call due again, with a fresh attempt budget, and audits it. Returns
    /// how many.
    pub fn retry_failed_calls(&self, actor: &str) -> Result<usize, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE plugin_call SET state = 'pending', attempts = 0, next_at = ?1 WHERE state = 'failed'",
                [now_ms()],
            )?;
            super::audit::append_in(
                tx,
                &super::audit::AuditEntry {
                    actor: actor.to_string(),
                    action: "plugin_calls.retry".into(),
                    target: "plugin_call:failed".into(),
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
