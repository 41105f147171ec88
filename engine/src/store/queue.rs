//! The durable job queue: what must reach QuickBooks, in which order, and what happened.
//!
//! A *record* is one source document as ingested (kept for audit and re-mapping); each of the
//! plugin's requests for it becomes a *job*. Jobs move through these states, each move one
//! SQL statement set inside one `BEGIN IMMEDIATE` transaction:
//!
//! ```text
//! available ──claim (sendRequestXML)──► sent ──response──► completed (mapping stored)
//!     ▲  ▲                               │        ├──transient──► retryable ──run_at──► available
//!     │  └─────── probe: not found ──────┤        └──permanent──► discarded (+ dependents held)
//!     │                                  └──no response (session lost, crash)──► in_doubt
//!  held ◄── a dependency was discarded     in_doubt ──next session──► oldMessageSetID recovery
//!                                                          └─ unresolved ─► probe ─► completed | available
//! ```
//!
//! The queue delivers at least once; the *effect* in QuickBooks is exactly once because a job
//! whose outcome is unknown is never simply re-sent: it is `in_doubt` until qbXML error
//! recovery or its probe query proves whether QuickBooks applied it. Uniqueness of
//! `(connection, plugin, key)` among live jobs is a partial unique index, and `mapping` is the
//! permanent record of what exists in QuickBooks, so re-ingesting a record is a no-op.

use rusqlite::{OptionalExtension, Transaction, params};

use super::audit::now_ms;
use super::plugin_calls::{CallKind, queue_call};
use super::{Store, StoreError};

/// Job states as stored and shown to admins.
pub const STATES: &[&str] = &[
    "available",
    "held",
    "sent",
    "in_doubt",
    "retryable",
    "completed",
    "discarded",
    "cancelled",
];

/// One request to enqueue (the plugin's output after validation).
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The plugin's idempotency key, unique per connection and plugin.
    pub key: String,
    /// Keys that must be completed first.
    pub depends_on: Vec<String>,
    /// e.g. `CustomerAdd`.
    pub request_type: String,
    /// The `<XxxRq>` element.
    pub qbxml: String,
    /// Query that finds the object if an earlier attempt landed.
    pub probe: Option<String>,
    /// Adopt an existing list record on 3100.
    pub adopt_existing: bool,
    /// What the SDK changed to make the data fit (shown on the job).
    pub notes: Vec<String>,
}

/// What happened to each request of an ingested record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enqueued {
    /// A new job.
    Created(i64),
    /// A live job with the same key already exists (the record was sent twice).
    Existing(i64),
    /// QuickBooks already has it (a completed job left a mapping): nothing to do.
    AlreadyInQuickBooks,
}

/// Result of [`Store::enqueue_record`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ingested {
    /// The stored record.
    pub record_id: i64,
    /// Per request key, in the plugin's order.
    pub jobs: Vec<(String, Enqueued)>,
}

/// How much one message set may carry.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Requests per message set.
    pub max_requests: usize,
    /// Bytes of request XML per message set.
    pub max_bytes: usize,
}

/// A job handed to a session.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Job id.
    pub job_id: i64,
    /// The `requestID` to put on the request (echoed by QuickBooks).
    pub request_id: String,
    /// The request element to send: the job's request, or its probe when verifying.
    pub qbxml: String,
    /// True when `qbxml` is the probe (the job's outcome is being verified).
    pub probing: bool,
}

/// What the next message set of a session must be.
#[derive(Debug, Clone)]
pub enum Claim {
    /// Ask QuickBooks for the stored response of an unanswered message set first.
    Recover {
        /// The message set whose response never arrived.
        old_message_set_id: String,
    },
    /// Send these requests.
    Send {
        /// `newMessageSetID` to store the response under (`None` for probe-only sets, which
        /// change nothing and need no recovery).
        message_set_id: Option<String>,
        /// The requests, at most [`BatchLimits`].
        jobs: Vec<ClaimedJob>,
    },
}

/// How a record reached qbridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Sent to qbridge (ingest API or CLI): its sender owns the source's bookkeeping.
    Push,
    /// Pulled from the source by a plugin's `pull`: qbridge acknowledges it to the source
    /// once QuickBooks accepted it.
    Pull,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Push => "push",
            Origin::Pull => "pull",
        }
    }
}

/// The fate of one sent request, decided by the pipeline from QuickBooks' answer.
#[derive(Debug, Clone)]
pub enum JobResult {
    /// Applied: store the object id (ListID/TxnID) and edit sequence.
    Completed {
        /// ListID or TxnID.
        object_id: Option<String>,
        /// EditSequence, for later Mods.
        edit_sequence: Option<String>,
        /// Follow-up requests from the plugin's `on_response`.
        follow_ups: Vec<NewJob>,
        /// The plugin acknowledges to its source: if the job's record was pulled, queue a
        /// source acknowledgement in the same transaction (see `store::plugin_calls`).
        acknowledge: bool,
        /// The plugin's `on_response` failed: queue it to be called again (the write itself
        /// is in QuickBooks; only the follow-ups are owed).
        retry_on_response: bool,
    },
    /// A probe found nothing: the original request was not applied; send it again.
    NotApplied,
    /// QuickBooks was busy (locks): try again later.
    Retry {
        /// Status code.
        code: i32,
        /// Message to keep in the job's history.
        message: String,
    },
    /// Will never succeed as is; dependents are held.
    Discard {
        /// Status code (or 0 for engine-side failures).
        code: i32,
        /// QuickBooks' message.
        message: String,
        /// Plain advice for the admin.
        advice: String,
    },
    /// 3100 on an add that may adopt the existing record: verify by probe next.
    Verify {
        /// Why verification is needed.
        message: String,
    },
}

/// A job as shown to admins.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobView {
    /// Job id.
    pub id: i64,
    /// Connection (company file) id.
    pub connection_id: i64,
    /// Plugin that produced it.
    pub plugin: String,
    /// Idempotency key.
    pub key: String,
    /// e.g. `InvoiceAdd`.
    pub request_type: String,
    /// State.
    pub state: String,
    /// Attempts so far.
    pub attempt: i64,
    /// Keys it waits for.
    pub depends_on: Vec<String>,
    /// ListID/TxnID once completed.
    pub object_id: Option<String>,
    /// Last QuickBooks status code.
    pub last_status: Option<i64>,
    /// Plain advice (permanent failures, holds).
    pub advice: Option<String>,
    /// SDK adjustments (transliteration, truncation).
    pub notes: Vec<String>,
    /// Error history `[{at, attempt, code, message}]`.
    pub errors: serde_json::Value,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// The request sent (in `show` only).
    pub qbxml: Option<String>,
    /// The last response element (in `show` only).
    pub response: Option<String>,
}

/// A job's routing facts (see [`Store::job_brief`]).
#[derive(Debug, Clone)]
pub struct JobBrief {
    /// Plugin that produced it.
    pub plugin: String,
    /// Idempotency key.
    pub key: String,
    /// e.g. `CustomerAdd`.
    pub request_type: String,
    /// The request in flight is the job's probe, not the job itself.
    pub probing: bool,
    /// May adopt an existing list record on 3100.
    pub adopt_existing: bool,
    /// The plugin supplied a probe.
    pub has_probe: bool,
}

/// Filter for [`Store::list_jobs`].
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this connection.
    pub connection_id: Option<i64>,
    /// At most this many (newest first).
    pub limit: u32,
}

/// Counts for `qbridge status` and the dashboard.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct QueueStatus {
    /// Connection id.
    pub connection_id: i64,
    /// `(state, count)` for every state with jobs.
    pub counts: Vec<(String, i64)>,
    /// Age in ms of the oldest job waiting to be sent.
    pub oldest_waiting_ms: Option<i64>,
}

/// A job whose probe (a query: it changes nothing) was sent in a probe-only set, which has no
/// message set id to recover: if unanswered it is simply probed again.
const UNANSWERED_PROBE: &str = "state='sent' AND verify=1 AND message_set_id IS NULL";
/// Message sets with jobs whose outcome is unknown. Matched by set id, not session id: a set
/// being recovered carries the recovering session's id while its jobs keep the sending one's.
const IN_DOUBT_SETS: &str =
    "SELECT message_set_id FROM job WHERE state='in_doubt' AND message_set_id IS NOT NULL";
/// In-doubt jobs of connection ?1 that no pending recovery covers: their message set was
/// already answered or resolved (or they have none). Nothing would ever resolve them, so they
/// are verified by probe — which is always safe, because a probe changes nothing.
const UNCOVERED_IN_DOUBT: &str = "connection_id=?1 AND state='in_doubt' AND probe IS NOT NULL
    AND (message_set_id IS NULL OR message_set_id NOT IN
         (SELECT id FROM message_set WHERE state IN ('in_doubt','recovering')))";
const TERMINAL: &str = "('completed','discarded','cancelled')";
/// Responses are kept for `jobs show`; cap them so a huge query answer cannot bloat the queue.
const MAX_STORED_RESPONSE: usize = 64 * 1024;
/// Backoff: min(2^attempt · 5 s, 1 h) plus full jitter.
const BACKOFF_BASE_MS: i64 = 5_000;
const BACKOFF_CAP_MS: i64 = 3_600_000;

fn backoff_ms(attempt: i64) -> i64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1i64 << attempt.clamp(0, 20));
    let ceiling = exp.min(BACKOFF_CAP_MS);
    let mut b = [0u8; 8];
    let jitter = if getrandom::fill(&mut b).is_ok() {
        (u64::from_le_bytes(b) % (ceiling as u64 + 1)) as i64
    } else {
        ceiling / 2
    };
    ceiling / 2 + jitter / 2
}

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

    /// True when a session for this connection would have something to send now: an
    /// unanswered message set to recover, a job to verify by probe, or a ready job — or jobs
    /// still `sent` by an earlier session: if that session is dead (an abandoned Web
    /// Connector), only a new session's login ends it and puts its jobs in doubt, so
    /// answering `none` here would strand them. (In-doubt jobs that only an admin can resolve
    /// do not make QuickBooks open for nothing.)
    pub fn has_work(&self, connection_id: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        self.read(|c| {
            let recover: bool = c.query_row(
                &format!(
                    "SELECT EXISTS(SELECT 1 FROM message_set WHERE connection_id=?1 AND state='in_doubt')
                     OR EXISTS(SELECT 1 FROM job WHERE {UNCOVERED_IN_DOUBT})
                     OR EXISTS(SELECT 1 FROM job WHERE connection_id=?1 AND state='sent')"
                ),
                [connection_id],
                |r| r.get(0),
            )?;
            if recover {
                return Ok(true);
            }
            let ready: bool = c.query_row(
                &format!("SELECT EXISTS({ELIGIBLE_SQL})"),
                params![connection_id, now],
                |r| r.get(0),
            )?;
            Ok(ready)
        })
    }

    /// Jobs not yet finished for a connection (for the progress percentage).
    pub fn pending_jobs(&self, connection_id: i64) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM job WHERE connection_id=?1 AND state IN ('available','retryable','sent','in_doubt')",
                [connection_id],
                |r| r.get(0),
            )?)
        })
    }

    /// What the pipeline needs to judge a response for a job.
    pub fn job_brief(&self, job_id: i64) -> Result<JobBrief, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT plugin, key, request_type, verify, adopt_existing, probe IS NOT NULL FROM job WHERE id=?1",
                [job_id],
                |r| {
                    Ok(JobBrief {
                        plugin: r.get(0)?,
                        key: r.get(1)?,
                        request_type: r.get(2)?,
                        probing: r.get(3)?,
                        adopt_existing: r.get(4)?,
                        has_probe: r.get(5)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))
        })
    }

    /// Picks the next message set for a session (one transaction): recovery of an unanswered
    /// set first, then probes of jobs being verified, then ready jobs whose dependencies are
    /// all completed. Claimed jobs become `sent`, stamped with the session and this process'
    /// boot id, before the XML leaves the engine.
    pub fn claim(
        &self,
        connection_id: i64,
        session_id: i64,
        limits: BatchLimits,
    ) -> Result<Option<Claim>, StoreError> {
        let boot = self.boot_id().to_string();
        self.write(|tx| {
            let now = now_ms();
            tx.execute(
                &format!("UPDATE job SET state='available', verify=1, updated_at=?2 WHERE {UNCOVERED_IN_DOUBT}"),
                params![connection_id, now],
            )?;
            // 1. An unanswered mutating message set: ask QuickBooks for its stored response.
            let pending: Option<String> = tx
                .query_row(
                    "SELECT id FROM message_set WHERE connection_id=?1 AND state='in_doubt'
                     ORDER BY created_at DESC LIMIT 1",
                    [connection_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(old) = pending {
                tx.execute(
                    "UPDATE message_set SET state='recovering', session_id=?2 WHERE id=?1",
                    params![old, session_id],
                )?;
                return Ok(Some(Claim::Recover {
                    old_message_set_id: old,
                }));
            }
            // 2. Jobs whose outcome is unknown and cannot be recovered: verify by probe
            //    (also a probe that QuickBooks asked us to retry later, once it is due).
            let mut stmt = tx.prepare(
                "SELECT id, probe, attempt FROM job WHERE connection_id=?1
                 AND (state='available' OR (state='retryable' AND run_at<=?3))
                 AND verify=1 AND probe IS NOT NULL ORDER BY priority, id LIMIT ?2",
            )?;
            let probes: Vec<(i64, String, i64)> = stmt
                .query_map(
                    params![connection_id, limits.max_requests as i64, now],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?
                .collect::<Result<_, _>>()?;
            drop(stmt);
            let picked = if !probes.is_empty() {
                (true, probes)
            } else {
                let mut stmt = tx.prepare(&format!(
                    "{ELIGIBLE_SELECT} ORDER BY j.priority, j.id LIMIT ?3"
                ))?;
                let rows: Vec<(i64, String, i64)> = stmt
                    .query_map(
                        params![connection_id, now, limits.max_requests as i64],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )?
                    .collect::<Result<_, _>>()?;
                (false, rows)
            };
            let (probing, rows) = picked;
            let mut jobs = Vec::new();
            let mut bytes = 0;
            for (id, xml, attempt) in rows {
                if !jobs.is_empty() && bytes + xml.len() > limits.max_bytes {
                    break;
                }
                bytes += xml.len();
                jobs.push(ClaimedJob {
                    job_id: id,
                    request_id: format!("j{id}.{}", attempt + 1),
                    qbxml: xml,
                    probing,
                });
            }
            if jobs.is_empty() {
                return Ok(None);
            }
            let message_set_id = if probing {
                None
            } else {
                tx.execute(
                    "INSERT INTO message_set(id, connection_id, session_id, state, created_at)
                     VALUES ('pending', ?1, ?2, 'sent', ?3)",
                    params![connection_id, session_id, now],
                )?;
                let seq = tx.last_insert_rowid();
                // ≤ 23 chars as qbXML requires; unique per database.
                let id = format!("qbr-{seq}");
                tx.execute(
                    "UPDATE message_set SET id=?1 WHERE rowid=?2",
                    params![id, seq],
                )?;
                Some(id)
            };
            for j in &jobs {
                tx.execute(
                    "UPDATE job SET state='sent', attempt=attempt+1, session_id=?2, lease_owner=?3,
                     message_set_id=?4, request_id=?5, updated_at=?6 WHERE id=?1",
                    params![
                        j.job_id,
                        session_id,
                        boot,
                        message_set_id,
                        j.request_id,
                        now
                    ],
                )?;
            }
            Ok(Some(Claim::Send {
                message_set_id,
                jobs,
            }))
        })
    }

    /// Jobs of a message set, by request id (for matching a recovered response).
    pub fn jobs_of_message_set(
        &self,
        message_set_id: &str,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, request_id FROM job WHERE message_set_id=?1 AND request_id IS NOT NULL",
            )?;
            let rows = stmt
                .query_map([message_set_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Records what QuickBooks answered for a message set, all in one transaction.
    /// `results` pairs job ids with their fate and the raw response element.
    pub fn record_results(
        &self,
        message_set_id: Option<&str>,
        results: &[(i64, JobResult, Option<String>)],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let now = now_ms();
            for (job_id, result, response) in results {
                apply_result(tx, *job_id, result, response.as_deref(), now)?;
            }
            if let Some(id) = message_set_id {
                tx.execute("UPDATE message_set SET state='answered' WHERE id=?1", [id])?;
            }
            Ok(())
        })
    }

    /// QuickBooks had no stored response for an unanswered message set: every job in it is
    /// verified by its probe before anything is re-sent. Jobs without a probe stay `in_doubt`
    /// for an admin to decide (`jobs retry` re-sends, `jobs cancel` drops).
    pub fn recovery_unavailable(&self, message_set_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let now = now_ms();
            tx.execute(
                "UPDATE job SET state='available', verify=1, updated_at=?2
                 WHERE message_set_id=?1 AND state IN ('sent','in_doubt') AND probe IS NOT NULL",
                params![message_set_id, now],
            )?;
            tx.execute(
                "UPDATE job SET state='in_doubt', advice=?2, updated_at=?3
                 WHERE message_set_id=?1 AND state IN ('sent','in_doubt') AND probe IS NULL",
                params![
                    message_set_id,
                    "QuickBooks did not confirm whether this request was applied and the plugin gave no way to check. \
                     Look for the record in QuickBooks: if it is missing run `qbridge jobs retry ID`, if it is there run `qbridge jobs cancel ID`.",
                    now
                ],
            )?;
            tx.execute("UPDATE message_set SET state='resolved' WHERE id=?1", [message_set_id])?;
            Ok(())
        })
    }

    /// A session ended without answering what it was sent (closeConnection too early,
    /// expired ticket, lost connection): its `sent` jobs and message sets become `in_doubt`.
    pub fn session_lost(&self, session_id: i64) -> Result<usize, StoreError> {
        self.write(|tx| {
            let n = doubt_unanswered(tx, "session_id=?1", &session_id)?;
            tx.execute(
                "UPDATE message_set SET state='in_doubt' WHERE session_id=?1 AND state IN ('sent','recovering')",
                [session_id],
            )?;
            Ok(n)
        })
    }

    /// Start-up rescue: leases stamped with another boot id belong to a dead process.
    /// Returns how many jobs became `in_doubt`.
    pub fn rescue_orphans(&self) -> Result<usize, StoreError> {
        let boot = self.boot_id().to_string();
        self.write(|tx| {
            let n = doubt_unanswered(tx, "lease_owner IS NOT ?1", &boot)?;
            tx.execute(
                &format!(
                    "UPDATE message_set SET state='in_doubt' WHERE state IN ('sent','recovering')
                     AND id IN ({IN_DOUBT_SETS})"
                ),
                [],
            )?;
            // A set with no live jobs left needs no recovery.
            tx.execute(
                "UPDATE message_set SET state='resolved' WHERE state IN ('sent','recovering')",
                [],
            )?;
            Ok(n)
        })
    }

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
                "UPDATE job SET state='available', verify=0, run_at=?2, advice=NULL, finalized_at=NULL, updated_at=?2
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

    /// Jobs, newest first.
    pub fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobView>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "{JOB_VIEW_SELECT} WHERE (?1 IS NULL OR state=?1) AND (?2 IS NULL OR connection_id=?2)
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            let limit = if filter.limit == 0 { 100 } else { filter.limit };
            let rows = stmt
                .query_map(params![filter.state, filter.connection_id, limit], |r| job_view(r, false))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// One job with its request and last response.
    pub fn job(&self, job_id: i64) -> Result<JobView, StoreError> {
        self.read(|c| {
            c.query_row(&format!("{JOB_VIEW_SELECT} WHERE id=?1"), [job_id], |r| {
                job_view(r, true)
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))
        })
    }

    /// Counts per state and lag, per connection.
    pub fn queue_status(&self) -> Result<Vec<QueueStatus>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT connection_id, state, COUNT(*) FROM job GROUP BY connection_id, state ORDER BY connection_id, state",
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
                    }),
                }
            }
            let now = now_ms();
            for s in &mut out {
                let oldest: Option<i64> = c.query_row(
                    "SELECT MIN(created_at) FROM job WHERE connection_id=?1 AND state IN ('available','retryable','held','in_doubt')",
                    [s.connection_id],
                    |r| r.get(0),
                )?;
                s.oldest_waiting_ms = oldest.map(|t| now - t);
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

    /// Deletes finalized jobs older than the retention, in batches of 1,000 (short write
    /// transactions, so sessions are never blocked for long). Returns how many were removed.
    pub fn prune_jobs(
        &self,
        completed_older_than_ms: i64,
        failed_older_than_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let now = now_ms();
            let n = self.write(|tx| {
                tx.execute(
                    "DELETE FROM job WHERE id IN (SELECT id FROM job WHERE
                       (state='completed' AND finalized_at < ?1) OR
                       (state IN ('discarded','cancelled') AND finalized_at < ?2) LIMIT 1000)",
                    params![now - completed_older_than_ms, now - failed_older_than_ms],
                )
            })?;
            total += n;
            if n < 1000 {
                return Ok(total);
            }
        }
    }
}

/// Jobs ready to send for connection ?1 at time ?2: available or retryable and due, not being
/// verified (a job whose earlier attempt may have landed is only ever probed, never re-sent,
/// until the probe proves it absent), with every dependency completed (a mapping exists for
/// each dependency key).
const ELIGIBLE_SELECT: &str = "SELECT j.id, j.qbxml, j.attempt FROM job j
    WHERE j.connection_id=?1 AND j.state IN ('available','retryable') AND j.verify=0 AND j.run_at<=?2
      AND NOT EXISTS (SELECT 1 FROM job_dep d WHERE d.job_id=j.id AND NOT EXISTS (
          SELECT 1 FROM mapping m WHERE m.connection_id=j.connection_id AND m.plugin=j.plugin AND m.key=d.depends_on))";
const ELIGIBLE_SQL: &str = "SELECT 1 FROM job j
    WHERE j.connection_id=?1 AND (j.state='available' OR j.state='retryable') AND j.run_at<=?2
      AND (j.verify=1 OR NOT EXISTS (SELECT 1 FROM job_dep d WHERE d.job_id=j.id AND NOT EXISTS (
          SELECT 1 FROM mapping m WHERE m.connection_id=j.connection_id AND m.plugin=j.plugin AND m.key=d.depends_on)))";

const JOB_VIEW_SELECT: &str = "SELECT id, connection_id, plugin, key, request_type, state, attempt,
    (SELECT json_group_array(depends_on) FROM job_dep WHERE job_id=job.id), object_id, last_status, advice,
    notes, errors, created_at, updated_at, qbxml, response FROM job";

fn job_view(r: &rusqlite::Row<'_>, full: bool) -> rusqlite::Result<JobView> {
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
    })
}

/// The sent jobs selected by `owner` (a condition on `?1` = `value`) whose answer will never
/// come: probes go back to `available` (a query changes nothing), every other request becomes
/// `in_doubt`, to be verified before anything is sent again. Returns how many are in doubt.
fn doubt_unanswered(
    tx: &Transaction<'_>,
    owner: &str,
    value: &dyn rusqlite::ToSql,
) -> rusqlite::Result<usize> {
    let now = now_ms();
    tx.execute(
        &format!(
            "UPDATE job SET state='available', updated_at=?2 WHERE {owner} AND {UNANSWERED_PROBE}"
        ),
        params![value, now],
    )?;
    tx.execute(
        &format!("UPDATE job SET state='in_doubt', updated_at=?2 WHERE {owner} AND state='sent'"),
        params![value, now],
    )
}

pub(super) fn insert_job(
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
    Ok(Enqueued::Created(id))
}

fn push_error(
    tx: &Transaction<'_>,
    job_id: i64,
    code: i32,
    message: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE job SET errors = json_insert(errors, '$[#]',
            json_object('at', ?2, 'attempt', attempt, 'code', ?3, 'message', ?4)) WHERE id=?1",
        params![job_id, now, code, message],
    )?;
    Ok(())
}

fn apply_result(
    tx: &Transaction<'_>,
    job_id: i64,
    result: &JobResult,
    response: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let response = response.map(|r| {
        let mut end = r.len().min(MAX_STORED_RESPONSE);
        while !r.is_char_boundary(end) {
            end -= 1;
        }
        &r[..end]
    });
    tx.execute(
        "UPDATE job SET response=?2, updated_at=?3 WHERE id=?1",
        params![job_id, response, now],
    )?;
    match result {
        JobResult::Completed {
            object_id,
            edit_sequence,
            follow_ups,
            acknowledge,
            retry_on_response,
        } => {
            let (connection_id, plugin, key, request_type, record_id): (
                i64,
                String,
                String,
                String,
                Option<i64>,
            ) = tx.query_row(
                "SELECT connection_id, plugin, key, request_type, record_id FROM job WHERE id=?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
            tx.execute(
                "UPDATE job SET state='completed', verify=0, object_id=?2, last_status=0, advice=NULL, finalized_at=?3 WHERE id=?1",
                params![job_id, object_id, now],
            )?;
            tx.execute(
                "INSERT INTO mapping(connection_id, plugin, key, object_id, edit_sequence, request_type, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(connection_id, plugin, key) DO UPDATE SET object_id=excluded.object_id,
                   edit_sequence=excluded.edit_sequence, updated_at=excluded.updated_at",
                params![connection_id, plugin, key, object_id.clone().unwrap_or_default(), edit_sequence, request_type, now],
            )?;
            for f in follow_ups {
                insert_job(tx, connection_id, &plugin, record_id, f, now)?;
            }
            if *acknowledge {
                queue_call(tx, job_id, CallKind::Acknowledge, now)?;
            }
            if *retry_on_response {
                queue_call(tx, job_id, CallKind::OnResponse, now)?;
            }
        }
        JobResult::NotApplied => {
            tx.execute(
                "UPDATE job SET state='available', verify=0, run_at=?2 WHERE id=?1",
                params![job_id, now],
            )?;
        }
        JobResult::Retry { code, message } => {
            let (attempt, max): (i64, i64) = tx.query_row(
                "SELECT attempt, max_attempts FROM job WHERE id=?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            push_error(tx, job_id, *code, message, now)?;
            if attempt >= max {
                let advice = format!(
                    "QuickBooks stayed busy for {attempt} attempts (status {code}: {message}). Check that nobody keeps the record open, then retry the job."
                );
                discard(tx, job_id, *code, &advice, now)?;
            } else {
                tx.execute(
                    "UPDATE job SET state='retryable', last_status=?2, run_at=?3 WHERE id=?1",
                    params![job_id, code, now + backoff_ms(attempt)],
                )?;
            }
        }
        JobResult::Discard {
            code,
            message,
            advice,
        } => {
            push_error(tx, job_id, *code, message, now)?;
            discard(tx, job_id, *code, advice, now)?;
        }
        JobResult::Verify { message } => {
            push_error(tx, job_id, 3100, message, now)?;
            tx.execute(
                "UPDATE job SET state='available', verify=1, last_status=3100, run_at=?2 WHERE id=?1",
                params![job_id, now],
            )?;
        }
    }
    Ok(())
}

fn discard(
    tx: &Transaction<'_>,
    job_id: i64,
    code: i32,
    advice: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE job SET state='discarded', verify=0, last_status=?2, advice=?3, finalized_at=?4 WHERE id=?1",
        params![job_id, code, advice, now],
    )?;
    hold_dependents(tx, job_id, "failed", now)
}

/// Marks every live job that (transitively) depends on `job_id`'s key as `held`, with the
/// reason, so it is neither sent to fail with 3140 nor silently stuck.
fn hold_dependents(
    tx: &Transaction<'_>,
    job_id: i64,
    what: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (connection_id, plugin, key): (i64, String, String) = tx.query_row(
        "SELECT connection_id, plugin, key FROM job WHERE id=?1",
        [job_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let advice = format!("waiting for job {job_id} ({key}), which {what}; fix and retry that job");
    tx.execute(
        "WITH RECURSIVE blocked(k) AS (
            SELECT ?3
            UNION SELECT j.key FROM job j JOIN job_dep d ON d.job_id=j.id JOIN blocked b ON d.depends_on=b.k
            WHERE j.connection_id=?1 AND j.plugin=?2 AND j.state IN ('available','retryable','held'))
         UPDATE job SET state='held', advice=?4, updated_at=?5
         WHERE connection_id=?1 AND plugin=?2 AND state IN ('available','retryable')
           AND id IN (SELECT d.job_id FROM job_dep d WHERE d.depends_on IN (SELECT k FROM blocked))",
        params![connection_id, plugin, key, advice, now],
    )?;
    Ok(())
}

/// After a retry, jobs held because of `job_id` become available again.
fn release_dependents(tx: &Transaction<'_>, job_id: i64, now: i64) -> Result<(), StoreError> {
    let (connection_id, plugin, key): (i64, String, String) = tx.query_row(
        "SELECT connection_id, plugin, key FROM job WHERE id=?1",
        [job_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    tx.execute(
        "WITH RECURSIVE blocked(k) AS (
            SELECT ?3
            UNION SELECT j.key FROM job j JOIN job_dep d ON d.job_id=j.id JOIN blocked b ON d.depends_on=b.k
            WHERE j.connection_id=?1 AND j.plugin=?2 AND j.state='held')
         UPDATE job SET state='available', advice=NULL, run_at=?4, updated_at=?4
         WHERE connection_id=?1 AND plugin=?2 AND state='held'
           AND id IN (SELECT d.job_id FROM job_dep d WHERE d.depends_on IN (SELECT k FROM blocked))",
        params![connection_id, plugin, key, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    const LIMITS: BatchLimits = BatchLimits {
        max_requests: 10,
        max_bytes: 1 << 20,
    };

    fn job(key: &str, deps: &[&str]) -> NewJob {
        NewJob {
            key: key.into(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            request_type: "CustomerAdd".into(),
            qbxml: format!(
                "<CustomerAddRq><CustomerAdd><Name>{key}</Name></CustomerAdd></CustomerAddRq>"
            ),
            probe: Some(format!(
                "<CustomerQueryRq><FullName>{key}</FullName></CustomerQueryRq>"
            )),
            adopt_existing: false,
            notes: vec![],
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        (dir, store)
    }

    fn sent(claim: Option<Claim>) -> (Option<String>, Vec<ClaimedJob>) {
        match claim {
            Some(Claim::Send {
                message_set_id,
                jobs,
            }) => (message_set_id, jobs),
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn done(id: &str) -> JobResult {
        completed(id, false, false)
    }

    /// Applied as `id`, with the plugin-call flags the pipeline would set.
    fn completed(id: &str, acknowledge: bool, retry_on_response: bool) -> JobResult {
        JobResult::Completed {
            object_id: Some(id.into()),
            edit_sequence: Some("1".into()),
            follow_ups: vec![],
            acknowledge,
            retry_on_response,
        }
    }

    #[test]
    fn dependents_wait_until_their_dependency_completed() {
        let (_d, s) = open();
        s.enqueue_record(
            Origin::Push,
            1,
            "p",
            "invoice",
            Some("9"),
            "{}",
            &[job("cust", &[]), job("inv", &["cust"])],
        )
        .unwrap();
        let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
        assert!(set.as_deref().is_some_and(|id| id.len() <= 23));
        assert_eq!(
            jobs.len(),
            1,
            "the invoice must not travel with its customer"
        );
        assert!(
            s.claim(1, 100, LIMITS).unwrap().is_none(),
            "nothing else is ready"
        );
        s.record_results(
            set.as_deref(),
            &[(jobs[0].job_id, done("80000001-1"), None)],
        )
        .unwrap();
        let (_, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].qbxml.contains("inv"));
    }

    #[test]
    fn only_completed_jobs_of_pulled_records_are_acknowledged_with_backoff_until_given_up() {
        let (_d, s) = open();
        s.enqueue_record(
            Origin::Pull,
            1,
            "p",
            "bill",
            None,
            r#"{"id":1}"#,
            &[job("pulled", &[])],
        )
        .unwrap();
        s.enqueue_record(
            Origin::Push,
            1,
            "p",
            "bill",
            None,
            "{}",
            &[job("pushed", &[])],
        )
        .unwrap();
        let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
        assert_eq!(jobs.len(), 2);
        let results: Vec<_> = jobs
            .iter()
            .map(|j| {
                let ack = completed("T-1", true, false);
                (
                    j.job_id,
                    ack,
                    Some("<BillRet><TxnID>T-1</TxnID></BillRet>".to_string()),
                )
            })
            .collect();
        s.record_results(set.as_deref(), &results).unwrap();
        let due = s.due_calls(now_ms(), 10).unwrap();
        assert_eq!(due.len(), 1, "only the pulled record's job: {due:?}");
        let pulled = &due[0];
        assert_eq!(pulled.call, CallKind::Acknowledge);
        assert_eq!(
            (pulled.key.as_str(), pulled.kind.as_str()),
            ("pulled", "bill")
        );
        assert_eq!(pulled.record_json, r#"{"id":1}"#);
        assert!(pulled.response_xml.contains("<TxnID>T-1</TxnID>"));

        // A failure backs off: not due again right away.
        let ack = CallKind::Acknowledge;
        assert!(
            !s.call_failed(pulled.job_id, ack, "HTTP 503", 60_000)
                .unwrap()
        );
        assert!(s.due_calls(now_ms(), 10).unwrap().is_empty());
        assert_eq!(s.due_calls(now_ms() + 60_001, 10).unwrap().len(), 1);
        // … until the budget is spent.
        for _ in 1..super::super::plugin_calls::MAX_ATTEMPTS - 1 {
            assert!(!s.call_failed(pulled.job_id, ack, "HTTP 503", 0).unwrap());
        }
        assert!(s.call_failed(pulled.job_id, ack, "HTTP 503", 0).unwrap());
        let counts = s.call_counts(ack).unwrap();
        assert_eq!((counts.pending, counts.failed, counts.done), (0, 1, 0));
        assert_eq!(
            s.failed_calls(10).unwrap()[0].last_error.as_deref(),
            Some("HTTP 503")
        );
        assert!(s.due_calls(now_ms() + 10_000_000, 10).unwrap().is_empty());

        // The admin retries; success is final.
        assert_eq!(s.retry_failed_calls("cli:test").unwrap(), 1);
        let due = s.due_calls(now_ms(), 10).unwrap();
        assert_eq!(due[0].attempts, 0);
        s.call_done(due[0].job_id, ack, &[]).unwrap();
        let counts = s.call_counts(ack).unwrap();
        assert_eq!((counts.pending, counts.failed, counts.done), (0, 0, 1));
    }

    #[test]
    fn a_failed_on_response_is_retried_and_its_follow_ups_then_join_the_queue() {
        let (_d, s) = open();
        s.enqueue_record(
            Origin::Push,
            1,
            "p",
            "bill",
            None,
            "{}",
            &[job("bill", &[])],
        )
        .unwrap();
        let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
        let failed_follow_ups = completed("T-1", false, true);
        s.record_results(set.as_deref(), &[(jobs[0].job_id, failed_follow_ups, None)])
            .unwrap();
        // The bill is in QuickBooks: nothing to send until the follow-ups exist.
        assert!(s.claim(1, 2, LIMITS).unwrap().is_none());
        let due = s.due_calls(now_ms(), 10).unwrap();
        assert_eq!((due.len(), due[0].call), (1, CallKind::OnResponse));
        s.call_done(
            due[0].job_id,
            CallKind::OnResponse,
            &[job("payment", &["bill"])],
        )
        .unwrap();
        let (_, jobs) = sent(s.claim(1, 3, LIMITS).unwrap());
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].qbxml.contains("payment"));
        assert_eq!(s.call_counts(CallKind::OnResponse).unwrap().done, 1);
    }

    #[test]
    fn reingesting_is_a_no_op_while_live_and_after_completion() {
        let (_d, s) = open();
        let first = s
            .enqueue_record(Origin::Push, 1, "p", "c", None, "{}", &[job("a", &[])])
            .unwrap();
        let Enqueued::Created(id) = first.jobs[0].1 else {
            panic!()
        };
        let again = s
            .enqueue_record(Origin::Push, 1, "p", "c", None, "{}", &[job("a", &[])])
            .unwrap();
        assert_eq!(again.jobs[0].1, Enqueued::Existing(id));
        let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
        s.record_results(set.as_deref(), &[(jobs[0].job_id, done("X"), None)])
            .unwrap();
        let third = s
            .enqueue_record(Origin::Push, 1, "p", "c", None, "{}", &[job("a", &[])])
            .unwrap();
        assert_eq!(third.jobs[0].1, Enqueued::AlreadyInQuickBooks);
        // Another connection is another company file: it needs its own copy.
        let other = s
            .enqueue_record(Origin::Push, 2, "p", "c", None, "{}", &[job("a", &[])])
            .unwrap();
        assert!(matches!(other.jobs[0].1, Enqueued::Created(_)));
    }

    #[test]
    fn failed_dependency_holds_dependents_and_independent_work_flows() {
        let (_d, s) = open();
        s.enqueue_record(
            Origin::Push,
            1,
            "p",
            "x",
            None,
            "{}",
            &[job("cust", &[]), job("inv", &["cust"]), job("other", &[])],
        )
        .unwrap();
        let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
        assert_eq!(jobs.len(), 2, "customer and the independent job");
        let cust = jobs
            .iter()
            .find(|j| j.qbxml.contains("cust"))
            .unwrap()
            .job_id;
        let other = jobs
            .iter()
            .find(|j| j.qbxml.contains("other"))
            .unwrap()
            .job_id;
        s.record_results(
            set.as_deref(),
            &[
                (
                    cust,
                    JobResult::Discard {
                        code: 3260,
                        message: "Insufficient permission".into(),
                        advice: "grant access".into(),
                    },
                    None,
                ),
                (other, done("O"), None),
            ],
        )
        .unwrap();
        let held = s
            .list_jobs(&JobFilter {
                state: Some("held".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(held.len(), 1);
        assert!(
            held[0]
                .advice
                .as_deref()
                .unwrap()
                .contains(&format!("job {cust}"))
        );
        assert!(
            s.claim(1, 1, LIMITS).unwrap().is_none(),
            "held work is not sent to fail with 3140"
        );
        // A new record depending on the failed key is held at once.
        s.enqueue_record(
            Origin::Push,
            1,
            "p",
            "x",
            None,
            "{}",
            &[job("inv2", &["cust"])],
        )
        .unwrap();
        assert_eq!(
            s.list_jobs(&JobFilter {
                state: Some("held".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
            2
        );
        // Retrying the failed job releases its dependents once it completes.
        s.retry_job(cust).unwrap();
        assert_eq!(
            s.list_jobs(&JobFilter {
                state: Some("held".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
            0
        );
        let (set, jobs) = sent(s.claim(1, 2, LIMITS).unwrap());
        assert_eq!(jobs.len(), 1);
        s.record_results(set.as_deref(), &[(jobs[0].job_id, done("C"), None)])
            .unwrap();
        let (_, jobs) = sent(s.claim(1, 2, LIMITS).unwrap());
        assert_eq!(jobs.len(), 2, "both invoices");
    }

    #[test]
    fn lost_session_leads_to_recovery_then_probe_then_resend() {
        let (_d, s) = open();
        s.enqueue_record(Origin::Push, 1, "p", "x", None, "{}", &[job("a", &[])])
            .unwrap();
        let (set, jobs) = sent(s.claim(1, 7, LIMITS).unwrap());
        let set = set.unwrap();
        assert_eq!(s.session_lost(7).unwrap(), 1);
        assert_eq!(s.job(jobs[0].job_id).unwrap().state, "in_doubt");
        assert!(s.has_work(1).unwrap());
        match s.claim(1, 8, LIMITS).unwrap() {
            Some(Claim::Recover { old_message_set_id }) => assert_eq!(old_message_set_id, set),
            other => panic!("expected recovery first, got {other:?}"),
        }
        s.recovery_unavailable(&set).unwrap();
        let (probe_set, probes) = sent(s.claim(1, 8, LIMITS).unwrap());
        assert!(probe_set.is_none(), "probe-only sets change nothing");
        assert!(probes[0].probing && probes[0].qbxml.contains("CustomerQueryRq"));
        s.record_results(None, &[(probes[0].job_id, JobResult::NotApplied, None)])
            .unwrap();
        let (again, jobs2) = sent(s.claim(1, 8, LIMITS).unwrap());
        assert!(!jobs2[0].probing);
        assert_ne!(again.unwrap(), set, "a re-send gets a new message set id");
        assert_ne!(jobs2[0].request_id, jobs[0].request_id);
    }

    #[test]
    fn a_probe_told_to_retry_is_probed_again_never_resent_unverified() {
        let (_d, s) = open();
        s.enqueue_record(Origin::Push, 1, "p", "x", None, "{}", &[job("a", &[])])
            .unwrap();
        let (set, _) = sent(s.claim(1, 1, LIMITS).unwrap());
        s.session_lost(1).unwrap();
        s.recovery_unavailable(&set.unwrap()).unwrap();
        let (_, probes) = sent(s.claim(1, 2, LIMITS).unwrap());
        assert!(probes[0].probing);
        let busy = JobResult::Retry {
            code: 3175,
            message: "locked".into(),
        };
        s.record_results(None, &[(probes[0].job_id, busy, None)])
            .unwrap();
        s.write(|tx| tx.execute("UPDATE job SET run_at=0", []))
            .unwrap();
        let (_, again) = sent(s.claim(1, 2, LIMITS).unwrap());
        assert!(
            again[0].probing,
            "the request itself must not be re-sent before the probe answers"
        );
        assert!(again[0].qbxml.contains("CustomerQueryRq"));
    }

    #[test]
    fn an_in_doubt_job_no_recovery_covers_is_probed_not_stranded() {
        let (_d, s) = open();
        s.enqueue_record(Origin::Push, 1, "p", "x", None, "{}", &[job("a", &[])])
            .unwrap();
        let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
        // Its set was answered without it (or resolved) while the job itself went in doubt.
        s.write(|tx| {
            tx.execute("UPDATE job SET state='in_doubt'", [])?;
            tx.execute(
                "UPDATE message_set SET state='answered' WHERE id=?1",
                [set.as_deref()],
            )
        })
        .unwrap();
        assert!(s.has_work(1).unwrap(), "the job must not be forgotten");
        let (_, probes) = sent(s.claim(1, 2, LIMITS).unwrap());
        assert_eq!(probes[0].job_id, jobs[0].job_id);
        assert!(
            probes[0].probing,
            "verified by probe before anything is re-sent"
        );
    }

    #[test]
    fn orphaned_leases_from_a_dead_process_become_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path(), StoreOptions::default()).unwrap();
            s.enqueue_record(Origin::Push, 1, "p", "x", None, "{}", &[job("a", &[])])
                .unwrap();
            sent(s.claim(1, 1, LIMITS).unwrap());
        }
        let s = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(s.rescue_orphans().unwrap(), 1);
        assert!(matches!(
            s.claim(1, 2, LIMITS).unwrap(),
            Some(Claim::Recover { .. })
        ));
    }

    #[test]
    fn transient_errors_back_off_and_exhaustion_discards() {
        let (_d, s) = open();
        s.enqueue_record(Origin::Push, 1, "p", "x", None, "{}", &[job("a", &[])])
            .unwrap();
        let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
        let retry = JobResult::Retry {
            code: 3175,
            message: "locked".into(),
        };
        s.record_results(set.as_deref(), &[(jobs[0].job_id, retry.clone(), None)])
            .unwrap();
        let j = s.job(jobs[0].job_id).unwrap();
        assert_eq!(j.state, "retryable");
        assert!(
            s.claim(1, 1, LIMITS).unwrap().is_none(),
            "not before run_at"
        );
        assert_eq!(j.errors.as_array().unwrap().len(), 1);
        s.write(|tx| tx.execute("UPDATE job SET attempt=max_attempts, run_at=0", []))
            .unwrap();
        let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
        s.record_results(set.as_deref(), &[(jobs[0].job_id, retry, None)])
            .unwrap();
        assert_eq!(s.job(jobs[0].job_id).unwrap().state, "discarded");
    }

    #[test]
    fn batches_respect_the_byte_budget() {
        let (_d, s) = open();
        let jobs: Vec<NewJob> = (0..5).map(|i| job(&format!("k{i}"), &[])).collect();
        s.enqueue_record(Origin::Push, 1, "p", "x", None, "{}", &jobs)
            .unwrap();
        let one = jobs[0].qbxml.len();
        let (_, claimed) = sent(
            s.claim(
                1,
                1,
                BatchLimits {
                    max_requests: 10,
                    max_bytes: one * 2 + 1,
                },
            )
            .unwrap(),
        );
        assert_eq!(claimed.len(), 2);
    }

    #[test]
    fn backoff_is_capped_and_grows() {
        for a in 0..30 {
            let b = backoff_ms(a);
            assert!((0..=BACKOFF_CAP_MS).contains(&b), "{a}: {b}");
        }
        assert!(backoff_ms(0) <= BACKOFF_BASE_MS);
        assert!(backoff_ms(12) >= BACKOFF_CAP_MS / 2);
    }
}
