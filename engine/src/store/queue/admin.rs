//! Admin decisions on single jobs: retry and cancel.

use crate::store::sql::{OptionalExt, params};

use super::JobState;
use super::results::{hold_dependents, release_dependents};
use crate::store::audit::now_ms;
use crate::store::{Store, StoreError};

/// Whether an admin's retry applies to a job in `state`: a job that stopped (failed, held,
/// cancelled) or whose outcome is unknown. A job merely waiting (available, retryable) is
/// sent anyway, and a sent or completed one must not be sent again.
pub fn retry_applies(state: JobState) -> bool {
    matches!(
        state,
        JobState::Discarded | JobState::Held | JobState::Cancelled | JobState::InDoubt
    )
}

/// Whether an admin's cancel applies to a job in `state`: anything not yet applied and not
/// already cancelled (a sent job's answer is awaited).
pub fn cancel_applies(state: JobState) -> bool {
    !matches!(
        state,
        JobState::Completed | JobState::Sent | JobState::Cancelled
    )
}

impl Store {
    /// Admin: send a discarded, held, cancelled or unresolvable in-doubt job again.
    pub fn retry_job(&self, job_id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let state: JobState = tx
                .query_row("SELECT state FROM job WHERE id=?1", [job_id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
            if !retry_applies(state) {
                return Err(StoreError::Conflict(format!(
                    "job {job_id} is {state}; only failed (discarded), held, cancelled or in-doubt jobs can be retried"
                )));
            }
            let newer: Option<i64> = tx
                .query_row(
                    "SELECT k.id FROM job j JOIN job k ON k.connection_id=j.connection_id AND k.plugin=j.plugin
                       AND k.key=j.key AND k.id!=j.id AND k.state NOT IN ('completed','discarded','cancelled')
                     WHERE j.id=?1",
                    [job_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(newer) = newer {
                return Err(StoreError::Conflict(format!(
                    "job {job_id} was replaced by a newer version of its record, job {newer}; retry or cancel that one"
                )));
            }
            let now = now_ms();
            // A job held over a conflict with an edit in QuickBooks is retried as the source
            // wins: its Mod is built afresh from the identity re-read when the conflict was found.
            tx.execute(
                "UPDATE job SET state='available', verify=0, sends=0, run_at=?2, advice=NULL, finalized_at=NULL,
                    conflict=NULL, updated_at=?2
                 WHERE id=?1",
                params![job_id, now],
            )?;
            release_dependents(tx, job_id, now)?;
            Ok(())
        })
    }

    /// Admin: stop a job that has not been applied; its dependents are held.
    pub fn cancel_job(&self, job_id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let state: JobState = tx
                .query_row("SELECT state FROM job WHERE id=?1", [job_id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
            if !cancel_applies(state) {
                return Err(StoreError::Conflict(format!(
                    "job {job_id} is {state} and cannot be cancelled"
                )));
            }
            let now = now_ms();
            tx.execute(
                "UPDATE job SET state='cancelled', finalized_at=?2, updated_at=?2 WHERE id=?1",
                params![job_id, now],
            )?;
            hold_dependents(tx, job_id, "was cancelled by an admin", now)?;
            let (connection_id, plugin, key): (i64, String, String) = tx.query_row(
                "SELECT connection_id, plugin, key FROM job WHERE id=?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            super::versions::promote_next(tx, connection_id, &plugin, &key, now)?;
            Ok(())
        })
    }
}
