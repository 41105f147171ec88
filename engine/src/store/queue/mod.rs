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

mod admin;
mod claim;
#[cfg(test)]
mod claim_tests;
mod enqueue;
#[cfg(test)]
mod loops_tests;
mod names;
#[cfg(test)]
mod page_tests;
#[cfg(test)]
mod plan_tests;
mod results;
#[cfg(test)]
mod tests;
mod versions;
#[cfg(test)]
mod versions_tests;
pub(in crate::store) mod views;

pub use admin::{cancel_applies, retry_applies};
pub use enqueue::NewRecord;
pub(crate) use enqueue::insert_job;
pub use names::JobRequest;
pub use qbridge_sdk::Action;
pub use results::{AnswerTo, Answered, Answering, Recorded};

/// A job's state, as stored (`job.state`) and shown to admins (see the diagram above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be sent (its dependencies may still be missing).
    Available,
    /// Waiting for an admin (a failed dependency, a conflict, a request that keeps failing).
    Held,
    /// In a message set QuickBooks has not answered yet.
    Sent,
    /// Sent without an answer: error recovery or its probe decides before anything else.
    InDoubt,
    /// QuickBooks was busy: sent again after a back-off.
    Retryable,
    /// In QuickBooks.
    Completed,
    /// Failed for good; its dependents are held.
    Discarded,
    /// Stopped by an admin, superseded by a void, or never needed.
    Cancelled,
}

impl JobState {
    /// Every state, in the order the diagram reads.
    pub const ALL: [JobState; 8] = [
        JobState::Available,
        JobState::Held,
        JobState::Sent,
        JobState::InDoubt,
        JobState::Retryable,
        JobState::Completed,
        JobState::Discarded,
        JobState::Cancelled,
    ];

    /// The stored name (`in_doubt`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Held => "held",
            JobState::Sent => "sent",
            JobState::InDoubt => "in_doubt",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Discarded => "discarded",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state called `s`, or an error listing the states.
    pub fn parse(s: &str) -> Result<JobState, String> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown state {s:?}: expected one of {}",
                    JobState::ALL.map(JobState::as_str).join(", ")
                )
            })
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl crate::store::sql::FromValue for JobState {
    fn from_value(v: crate::store::sql::ValueRef<'_>) -> Result<Self, String> {
        JobState::parse(&String::from_value(v)?).map_err(|e| e.to_string())
    }
}

impl crate::store::sql::ToValue for JobState {
    fn to_value(&self) -> crate::store::sql::ValueRef<'_> {
        crate::store::sql::ValueRef::Text(self.as_str())
    }
}

/// Advice on a job that may have reached QuickBooks after the backup a restore brought back,
/// and that has no probe to find out.
pub(crate) const RESTORED_WITHOUT_PROBE: &str = "the database was restored from a backup: this request may already be in QuickBooks and the plugin gave no probe to check. Look in QuickBooks, then `qbridge jobs retry ID` to send it or `qbridge jobs cancel ID` to drop it";

/// A query changes nothing in QuickBooks, so sending it again is always safe.
pub(crate) fn is_query(request_type: &str) -> bool {
    request_type.ends_with("Query")
}

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
    /// How the request relates to earlier versions of its key (interface 0.3.0).
    pub versioning: Versioning,
}

/// What a request does to the QuickBooks object its key names, and what the engine needs to
/// turn a later version into the right Mod. Requests of plugins before interface 0.3.0 are
/// writes that never modify (`modifies: false`): a changed record keeps the first write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioning {
    /// Write (Add, or the matching Mod once in QuickBooks), void or delete.
    pub action: Action,
    /// One stable id per line of the request, in document order; empty: by position.
    pub line_keys: Vec<String>,
    /// Fields a probe compares before adopting what it found; empty: all QuickBooks returns.
    pub significant: Vec<String>,
    /// The plugin declared the Mod type of this request, so a changed version becomes a Mod
    /// (and a void, the removal it needs). False: a new version of a key QuickBooks has is
    /// kept as before, unchanged.
    pub modifies: bool,
}

/// The next page of an iterated query, a job of its own so each page keeps its answer (for a
/// repeated `on_response`) and its place in the message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPage {
    /// The page's key: the query's key with `#<page>` (`lists:1:accounts#2`).
    pub key: String,
    /// The Continue request.
    pub qbxml: String,
    /// The QBWC session whose QuickBooks session holds the iterator: in any other session
    /// the page starts the query over.
    pub session_id: i64,
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
    /// A new version replaced the unsent older version of job `id` in place, so QuickBooks
    /// sees only the latest.
    Superseded(i64),
    /// A new version waits for job `id` (its previous version, which may already be in
    /// QuickBooks) to finish; it is queued then, as a Mod.
    Behind(i64),
    /// A void or delete of a record that never reached QuickBooks cancelled its pending job.
    Cancelled(i64),
    /// A void or delete of a record QuickBooks never had and nothing pending: nothing to do.
    NothingToRemove,
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
    /// One page of an iterated query was answered: `done` records it (a [`Completed`]
    /// result), and the next page joins the queue as its own job.
    ///
    /// [`Completed`]: JobResult::Completed
    Page {
        /// What the answered page means.
        done: Box<JobResult>,
        /// The next page.
        next: NextPage,
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
    /// Another list of QuickBooks' shared name space holds the name the job creates, and
    /// qbridge chose another (see `pipeline::names`): send the renamed request next.
    Renamed {
        /// The request under the new name.
        qbxml: String,
        /// The probe, finding the new name.
        probe: Option<String>,
        /// The name the plugin asked for.
        from: String,
        /// Why, for the job's notes.
        note: String,
    },
    /// QuickBooks refused a Mod or removal because the object changed since qbridge last read
    /// it (3200, stale EditSequence): re-read it next (`refresh_query`), at most
    /// [`MAX_REFRESHES`] times per version.
    Stale {
        /// QuickBooks' message.
        message: String,
    },
    /// The re-read object differs from what this version asks: its identity (EditSequence,
    /// TxnLineIDs) is stored and the version sent again, as a Mod built on it.
    Refreshed {
        /// `…Ret` of the object as QuickBooks has it now.
        ret_xml: String,
        /// EditSequence now.
        edit_sequence: Option<String>,
        /// For the job's notes: a bookkeeper's edit the source's version overwrites.
        note: Option<String>,
    },
    /// The object was edited in QuickBooks since qbridge wrote it and the plugin's policy is
    /// `hold`: the identity is stored (a retry sends the source's version), the job waits
    /// with the diff.
    Conflict {
        /// `…Ret` of the object as QuickBooks has it now.
        ret_xml: String,
        /// EditSequence now.
        edit_sequence: Option<String>,
        /// One line per field: what QuickBooks has, what qbridge wrote.
        diff: Vec<String>,
        /// What the bookkeeper can do.
        advice: String,
    },
    /// A probe for an Add found an object that differs from it: the key is mapped to that
    /// object (dependents may go), and the job sends the source's version as a Mod — or
    /// waits with the diff (`hold`).
    Adopted {
        /// ListID or TxnID of the object found.
        object_id: Option<String>,
        /// Its EditSequence.
        edit_sequence: Option<String>,
        /// Its `…Ret`.
        ret_xml: String,
        /// Under `hold`: the diff lines and the advice.
        hold: Option<(Vec<String>, String)>,
        /// Under `source-wins`: what is noted on the job.
        note: Option<String>,
    },
    /// Sending the job again would not help (the same answer again and again, a name another
    /// list holds): it waits for an admin, with advice; dependents are held with it.
    Hold {
        /// Status code of the last answer.
        code: i32,
        /// QuickBooks' message.
        message: String,
        /// What the bookkeeper can do.
        advice: String,
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
    pub state: JobState,
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
    /// `sent` by a process that is gone (a crash or kill): whether QuickBooks applied it is
    /// unknown until the next start verifies it.
    pub outcome_unknown: bool,
    /// Which version of its key this is (1: the first write).
    pub version: i64,
    /// `write`, `void` or `delete`.
    pub action: String,
    /// The Mod or removal actually sent for a later version (in `show` only).
    pub sent_qbxml: Option<String>,
    /// Held over an edit made in QuickBooks since qbridge wrote the object: one line per
    /// field (what QuickBooks has, what qbridge wrote, what the source has now).
    pub conflict: Vec<String>,
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
    /// Sends of the request since it last changed (see migration 10).
    pub sends: i64,
    /// The name the plugin asked for, when qbridge renamed the job (shared name space).
    pub renamed_from: Option<String>,
    /// The status of the last answer recorded for it.
    pub last_status: Option<i64>,
    /// The request in flight re-reads the object this version changes (after a stale
    /// EditSequence or an unknown outcome), rather than probing for an Add.
    pub refreshing: bool,
    /// What the version does to the object.
    pub action: Action,
    /// Fields compared (empty: every field QuickBooks returns).
    pub significant: Vec<String>,
}

/// Re-reads of an object per version after a stale EditSequence: a second 3200 right after a
/// refresh means someone keeps editing the object, and the job is held instead.
pub const MAX_REFRESHES: i64 = 2;

/// Filter for [`Store::list_jobs`].
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this connection.
    pub connection_id: Option<i64>,
    /// Only this plugin (a token fenced to a plugin sees a full page of its own jobs).
    pub plugin: Option<String>,
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
    /// Of the `sent` jobs, those sent by a process that is gone (see
    /// [`JobView::outcome_unknown`]).
    pub outcome_unknown: i64,
}

/// A job whose probe (a query: it changes nothing) was sent in a probe-only set, which has no
/// message set id to recover: if unanswered it is simply probed again.
pub(super) const UNANSWERED_PROBE: &str = "state='sent' AND verify=1 AND message_set_id IS NULL";
/// Message sets with jobs whose outcome is unknown. Matched by set id, not session id: a set
/// being recovered carries the recovering session's id while its jobs keep the sending one's.
pub(super) const IN_DOUBT_SETS: &str =
    "SELECT message_set_id FROM job WHERE state='in_doubt' AND message_set_id IS NOT NULL";
/// Responses are kept for `jobs show`; cap them so a huge query answer cannot bloat the queue.
pub(super) const MAX_STORED_RESPONSE: usize = 64 * 1024;
/// Backoff: min(2^attempt · 5 s, 1 h) plus full jitter.
const BACKOFF_BASE_MS: i64 = 5_000;
const BACKOFF_CAP_MS: i64 = 3_600_000;

pub(super) fn backoff_ms(attempt: i64) -> i64 {
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
