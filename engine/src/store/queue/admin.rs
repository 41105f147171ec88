//! Admin decisions on single jobs: retry and cancel.

use rusqlite::{OptionalExtension, params};

use super::results::{hold_dependents, release_dependents};
use crate::store::audit::now_ms;
use crate::store::{Store, StoreError};

impl Store {
    /// Admin: send a discarded, held, cancelled or unresolvable in-doubt job again.
    pub fn retry_job(&self, job_id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let state: String = tx
                .query_row("SELECT state FROM job WHERE id=?1", [job_id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
            if matches!(state.as_str(), "completed" | "sent") {
                return Err(StoreError::Conflict(format!(
                    "job {job_id} is {state}; only failed, held, cancelled or in-doubt jobs can be retried"
                )));
            }
            let now = now_ms();
            tx.execute(
                "UPDATE job SET state='available', verify=0, sends=0, run_at=?2, advice=NULL, finalized_at=NULL, updated_at=?2
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
            let state: String = tx
                .query_row("SELECT state FROM job WHERE id=?1", [job_id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
            if matches!(state.as_str(), "completed" | "sent" | "cancelled") {
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
            Ok(())
        })
    }
}
