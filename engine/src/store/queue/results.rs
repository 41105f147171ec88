//! Results: what QuickBooks answered (or failed to answer) and what it means for each job.

use std::collections::HashMap;

use crate::store::sql::{OptionalExt, Tx, params};

use super::names;
use super::*;
use crate::store::alerts::{self, AlertKind};
use crate::store::audit::now_ms;
use crate::store::nodes::live_nodes;
use crate::store::plugin_calls::{CallKind, queue_call};
use crate::store::{Store, StoreError};

/// The message set a response answers, as the session that received it knows it.
#[derive(Debug, Clone, Copy)]
pub enum Answering<'a> {
    /// Requests this session sent (`None`: a probe-only set, which has no id).
    Sent(Option<&'a str>),
    /// QuickBooks' stored answer to an unanswered set, asked for by this session.
    Recovered(&'a str),
}

/// Where a response arrived: the session (and its company file) and what it answers.
#[derive(Debug, Clone, Copy)]
pub struct AnswerTo<'a> {
    /// The session's connection.
    pub connection_id: i64,
    /// The session.
    pub session_id: i64,
    /// The outstanding message set.
    pub set: Answering<'a>,
}

/// One response entry, judged.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The `requestID` QuickBooks echoed (`j<job>.<attempt>`).
    pub request_id: String,
    /// The job it names.
    pub job_id: i64,
    /// What it means for the job.
    pub result: JobResult,
    /// The raw response element, kept for `jobs show`.
    pub response: Option<String>,
}

/// What [`Store::record_results`] did.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Answers applied to their jobs.
    pub applied: usize,
    /// Request ids of answers that answer nothing owed to this session.
    pub ignored: Vec<String>,
    /// Requests of the set that got no answer (now in doubt).
    pub unanswered: usize,
    /// Answers applied in the whole session so far, these included (on whichever nodes).
    pub session_answered: u64,
}

/// The jobs owed an answer in session `?2` of connection `?1` for the set `?3` it sent (a
/// probe-only set has no id: `IS NULL`).
pub(super) const OWED_SENT: &str =
    "j.connection_id=?1 AND j.session_id=?2 AND j.state='sent' AND j.message_set_id IS ?3";
/// The jobs owed an answer in session `?2` of connection `?1` when it recovers set `?3`: the
/// set's unresolved jobs, provided this session is the one recovering it. (`+` keeps the
/// planner on the set's index: without statistics it may prefer `job_key` by connection,
/// which reads every job of the company file.)
pub(super) const OWED_RECOVERED: &str =
    "+j.connection_id=?1 AND j.message_set_id=?3 AND j.state IN ('sent','in_doubt')
    AND EXISTS (SELECT 1 FROM message_set m WHERE m.id=?3 AND m.connection_id=?1
                AND m.session_id=?2 AND m.state='recovering')";

/// Requests of the set `?3` that session `?2` of connection `?1` sent and got no answer for
/// go in doubt (at time `?4`).
pub(super) const UNANSWERED_SENT: &str = "UPDATE job SET state='in_doubt', updated_at=?4
    WHERE connection_id=?1 AND session_id=?2 AND state='sent' AND message_set_id IS ?3";
/// Jobs of connection ?1 and plugin ?2 waiting for key ?3, whose version just reached
/// QuickBooks: one dependency fewer to wait for (`unmet`, read by the claim's `job_ready`
/// index); [`DEPENDENCIES_MET`] then marks those dependencies met, so a later version of the
/// key counts down only the dependents that waited for it.
/// (`+` keeps SQLite from seeking the `job_key` index by connection and plugin — every job
/// the connection ever had — instead of the few rows the subquery names.)
pub(super) const DEPENDENTS_OF: &str = "UPDATE job SET unmet = unmet - 1
    WHERE id IN (SELECT job_id FROM job_dep WHERE depends_on=?3 AND met=0)
      AND +connection_id=?1 AND +plugin=?2 AND unmet > 0";
/// See [`DEPENDENTS_OF`].
pub(super) const DEPENDENCIES_MET: &str = "UPDATE job_dep SET met=1
    WHERE depends_on=?3 AND met=0 AND job_id IN (SELECT id FROM job
        WHERE id IN (SELECT job_id FROM job_dep WHERE depends_on=?3 AND met=0)
          AND +connection_id=?1 AND +plugin=?2)";

/// A version of `key` reached QuickBooks: the jobs waiting for it may go.
fn dependency_done(
    tx: &Tx<'_>,
    connection_id: i64,
    plugin: &str,
    key: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(DEPENDENTS_OF)?
        .execute(params![connection_id, plugin, key])?;
    tx.prepare_cached(DEPENDENCIES_MET)?
        .execute(params![connection_id, plugin, key])?;
    Ok(())
}

/// A probe that went out as often as a job may be tried and never got an answer: asking again
/// would only repeat that, so the job is held (with [`UNANSWERED_PROBES_ADVICE`]).
const PROBES_EXHAUSTED: &str = "attempt >= max_attempts";
const UNANSWERED_PROBES_ADVICE: &str = "QuickBooks never answered the query that checks whether this request was applied, however often it was asked. \
     Look for the record in QuickBooks: if it is missing run `qbridge jobs retry ID`, if it is there run `qbridge jobs cancel ID`.";

/// The condition on `job j` selecting what `to` may answer, and its set parameter `?3`.
fn owed<'a>(to: &AnswerTo<'a>) -> (&'static str, Option<&'a str>) {
    match to.set {
        Answering::Sent(set) => (OWED_SENT, set),
        Answering::Recovered(set) => (OWED_RECOVERED, Some(set)),
    }
}

impl Store {
    /// What the pipeline needs to judge a response for a job.
    pub fn job_brief(&self, job_id: i64) -> Result<JobBrief, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT plugin, key, request_type, verify, adopt_existing, probe IS NOT NULL, sends, renamed_from,
                        last_status, refresh_query IS NOT NULL, action, significant
                 FROM job WHERE id=?1",
                [job_id],
                |r| {
                    let action: String = r.get(10)?;
                    let significant: String = r.get(11)?;
                    Ok(JobBrief {
                        plugin: r.get(0)?,
                        key: r.get(1)?,
                        request_type: r.get(2)?,
                        probing: r.get(3)?,
                        adopt_existing: r.get(4)?,
                        has_probe: r.get(5)?,
                        sends: r.get(6)?,
                        renamed_from: r.get(7)?,
                        last_status: r.get(8)?,
                        refreshing: r.get(9)?,
                        action: Action::parse(&action).unwrap_or_default(),
                        significant: serde_json::from_str(&significant).unwrap_or_default(),
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))
        })
    }

    /// The jobs a response arriving in this session may answer, by request id: the requests
    /// of the message set now outstanding (see [`Answering`]). Anything else in a response —
    /// another company file's jobs, jobs never sent, an earlier attempt — answers nothing.
    pub fn owed_jobs(&self, to: &AnswerTo<'_>) -> Result<HashMap<String, i64>, StoreError> {
        self.read(|c| {
            let (owed, set) = owed(to);
            let mut stmt = c.prepare(&format!(
                "SELECT j.request_id, j.id FROM job j WHERE {owed} AND j.request_id IS NOT NULL"
            ))?;
            let rows = stmt
                .query_map(params![to.connection_id, to.session_id, set], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<HashMap<_, _>, _>>()?;
            Ok(rows)
        })
    }

    /// Records what QuickBooks answered for the outstanding message set, all in one
    /// transaction. Each answer is applied only if its job is still owed to this session
    /// under that request id (checked again here: the session may have expired or the engine
    /// rescued its jobs since [`Store::owed_jobs`]); the rest are counted as ignored.
    /// Requests of a sent set left unanswered go in doubt at once (so a later response can
    /// never answer them under a stale attempt), and the set is recovered next.
    pub fn record_results(
        &self,
        to: &AnswerTo<'_>,
        results: &[Answered],
    ) -> Result<Recorded, StoreError> {
        self.write_connection(to.connection_id, |tx| {
            let now = now_ms();
            let mut recorded = Recorded::default();
            let (cond, set) = owed(to);
            let mut owed = tx.prepare(&format!(
                "SELECT 1 FROM job j WHERE {cond} AND j.id=?4 AND j.request_id=?5"
            ))?;
            for a in results {
                if owed.exists(params![to.connection_id, to.session_id, set, a.job_id, a.request_id])? {
                    apply_result(tx, a.job_id, &a.result, a.response.as_deref(), now)?;
                    recorded.applied += 1;
                } else {
                    recorded.ignored.push(a.request_id.clone());
                }
            }
            drop(owed);
            let answered: Option<i64> = tx
                .query_row(
                    "UPDATE qbwc_session SET answered = answered + ?2 WHERE id = ?1 AND connection_id = ?3
                     RETURNING answered",
                    params![to.session_id, recorded.applied as i64, to.connection_id],
                    |r| r.get(0),
                )
                .optional()?;
            recorded.session_answered = answered.unwrap_or(0).max(0) as u64;
            match to.set {
                Answering::Sent(_) => {
                    let mine = "connection_id=?1 AND session_id=?2 AND message_set_id IS ?3";
                    tx.execute(
                        &format!(
                            "UPDATE job SET state='held', verify=0, advice=?5, updated_at=?4
                             WHERE {UNANSWERED_PROBE} AND {mine} AND {PROBES_EXHAUSTED}"
                        ),
                        params![to.connection_id, to.session_id, set, now, UNANSWERED_PROBES_ADVICE],
                    )?;
                    tx.execute(
                        &format!(
                            "UPDATE job SET state='available', updated_at=?4
                             WHERE {UNANSWERED_PROBE} AND {mine}"
                        ),
                        params![to.connection_id, to.session_id, set, now],
                    )?;
                    recorded.unanswered = tx.execute(
                        UNANSWERED_SENT,
                        params![to.connection_id, to.session_id, set, now],
                    )?;
                    if let Some(id) = set {
                        let state = if recorded.unanswered > 0 { "in_doubt" } else { "answered" };
                        tx.execute(
                            "UPDATE message_set SET state=?2 WHERE id=?1 AND connection_id=?3",
                            params![id, state, to.connection_id],
                        )?;
                    }
                }
                // A recovered response is QuickBooks' whole stored answer: whatever it lacks
                // is verified by probe (the set is no longer pending, so nothing else would).
                Answering::Recovered(id) => {
                    tx.execute(
                        "UPDATE message_set SET state='answered' WHERE id=?1 AND connection_id=?2 AND session_id=?3",
                        params![id, to.connection_id, to.session_id],
                    )?;
                }
            }
            Ok(recorded)
        })
    }

    /// QuickBooks had no stored response for an unanswered message set: every job in it is
    /// verified by its probe before anything is re-sent. Jobs without a probe stay `in_doubt`
    /// for an admin to decide (`jobs retry` re-sends, `jobs cancel` drops).
    pub fn recovery_unavailable(&self, message_set_id: &str) -> Result<(), StoreError> {
        self.write(|tx| abandon_recovery(tx, message_set_id, now_ms()))
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

    /// Rescue of a dead process' work (at start, and every few seconds on every node): leases
    /// stamped with the boot id of a node that stopped heartbeating (`store::nodes`) are
    /// answered by nobody. Returns how many jobs became `in_doubt`.
    pub fn rescue_orphans(&self) -> Result<usize, StoreError> {
        let boot = self.boot_id().to_string();
        self.write(|tx| {
            let cutoff = crate::store::nodes::live_cutoff(tx)?;
            // The cutoff is written in: `doubt_unanswered` numbers its own parameters.
            let orphaned = format!(
                concat!(
                    "lease_owner IS NOT ?1 AND (lease_owner IS NULL OR lease_owner NOT IN ",
                    live_nodes!("{}"),
                    ")"
                ),
                cutoff
            );
            let mut n = doubt_unanswered(tx, &orphaned, &boot)?;
            // Jobs sent in a session that closed before they went out (a claim racing the
            // session's end) are answered by nobody either, though their node lives. The
            // session's own end doubts its jobs within moments; these are left over after it.
            n += doubt_unanswered(
                tx,
                "EXISTS (SELECT 1 FROM qbwc_session s WHERE s.id = job.session_id AND s.closed_at < ?1)",
                &(now_ms() - crate::store::nodes::NODE_TTL_MS),
            )?;
            // Sets an open session of a live node is sending or recovering are that session's
            // business: a set being recovered always has its jobs in doubt.
            let unheld = format!(
                concat!(
                    "NOT EXISTS (SELECT 1 FROM qbwc_session s WHERE s.id = message_set.session_id
                       AND s.closed_at IS NULL AND (s.boot_id = ?1 OR s.boot_id IN ",
                    live_nodes!("{}"),
                    "))"
                ),
                cutoff
            );
            tx.execute(
                &format!(
                    "UPDATE message_set SET state='in_doubt' WHERE state IN ('sent','recovering')
                     AND id IN ({IN_DOUBT_SETS}) AND {unheld}"
                ),
                [&boot],
            )?;
            // A set with no job still out (no live node's) needs no recovery.
            tx.execute(
                &format!(
                    "UPDATE message_set SET state='resolved' WHERE state IN ('sent','recovering')
                     AND NOT EXISTS (SELECT 1 FROM job j WHERE j.message_set_id = message_set.id AND j.state = 'sent')
                     AND {unheld}"
                ),
                [&boot],
            )?;
            Ok(n)
        })
    }
}

/// The sent jobs selected by `owner` (a condition on `?1` = `value`) whose answer will never
/// come: probes go back to `available` (a query changes nothing), every other request becomes
/// `in_doubt`, to be verified before anything is sent again. Returns how many are in doubt.
fn doubt_unanswered(
    tx: &Tx<'_>,
    owner: &str,
    value: &dyn crate::store::sql::ToValue,
) -> crate::store::sql::Result<usize> {
    let now = now_ms();
    tx.execute(
        &format!(
            "UPDATE job SET state='held', verify=0, advice=?3, updated_at=?2
             WHERE {owner} AND {UNANSWERED_PROBE} AND {PROBES_EXHAUSTED}"
        ),
        params![value, now, UNANSWERED_PROBES_ADVICE],
    )?;
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

/// No answer to message set `message_set_id` will come from QuickBooks' error recovery:
/// every job in it is verified by its probe before anything is re-sent; jobs without a probe
/// stay `in_doubt` with advice for an admin (`jobs retry` re-sends, `jobs cancel` drops).
pub(super) fn abandon_recovery(
    tx: &Tx<'_>,
    message_set_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE job SET state='available', verify=1, updated_at=?2
         WHERE message_set_id=?1 AND state IN ('sent','in_doubt') AND COALESCE(refresh_query, probe) IS NOT NULL",
        params![message_set_id, now],
    )?;
    tx.execute(
        "UPDATE job SET state='in_doubt', advice=?2, updated_at=?3
         WHERE message_set_id=?1 AND state IN ('sent','in_doubt') AND COALESCE(refresh_query, probe) IS NULL",
        params![
            message_set_id,
            "QuickBooks did not confirm whether this request was applied and the plugin gave no way to check. \
             Look for the record in QuickBooks: if it is missing run `qbridge jobs retry ID`, if it is there run `qbridge jobs cancel ID`.",
            now
        ],
    )?;
    tx.execute(
        "UPDATE message_set SET state='resolved' WHERE id=?1",
        [message_set_id],
    )?;
    Ok(())
}

fn push_error(
    tx: &Tx<'_>,
    job_id: i64,
    code: i32,
    message: &str,
    now: i64,
) -> Result<(), StoreError> {
    // The one JSON object the store builds in SQL: the functions differ by name.
    let object = match tx.backend() {
        crate::store::sql::Backend::Sqlite => "json_object",
        crate::store::sql::Backend::Postgres => "jsonb_build_object",
    };
    tx.execute(
        &format!(
            "UPDATE job SET errors = json_insert(errors, '$[#]',
                {object}('at', CAST(?2 AS INTEGER), 'attempt', attempt, 'code', CAST(?3 AS INTEGER),
                         'message', CAST(?4 AS TEXT))) WHERE id=?1"
        ),
        params![job_id, now, code, message],
    )?;
    Ok(())
}

fn apply_result(
    tx: &Tx<'_>,
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
            let (connection_id, plugin, key, request_type, record_id, renamed_from): (
                i64,
                String,
                String,
                String,
                Option<i64>,
                Option<String>,
            ) = tx.query_row(
                "SELECT connection_id, plugin, key, request_type, record_id, renamed_from FROM job WHERE id=?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )?;
            tx.execute(
                "UPDATE job SET state='completed', verify=0, object_id=?2, last_status=0, advice=NULL, finalized_at=?3 WHERE id=?1",
                params![job_id, object_id, now],
            )?;
            let object_id = object_id.clone().unwrap_or_default();
            let fresh = tx.execute(
                "INSERT INTO mapping(connection_id, plugin, key, object_id, edit_sequence, request_type, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                params![connection_id, plugin, key, object_id, edit_sequence, request_type, now],
            )? == 1;
            // This version of the key is in QuickBooks now: the jobs waiting for it may go.
            dependency_done(tx, connection_id, &plugin, &key)?;
            if !fresh {
                tx.execute(
                    "UPDATE mapping SET object_id=?4, edit_sequence=?5, updated_at=?6
                     WHERE connection_id=?1 AND plugin=?2 AND key=?3",
                    params![connection_id, plugin, key, object_id, edit_sequence, now],
                )?;
            }
            if let Some(from) = &renamed_from {
                names::record_renamed(tx, job_id, from, now)?;
            }
            super::versions::record_written(tx, job_id, response)?;
            for f in follow_ups {
                insert_job(tx, connection_id, &plugin, record_id, f, now)?;
            }
            if *acknowledge {
                queue_call(tx, job_id, CallKind::Acknowledge, now)?;
            }
            if *retry_on_response {
                queue_call(tx, job_id, CallKind::OnResponse, now)?;
            }
            super::versions::promote_next(tx, connection_id, &plugin, &key, now)?;
        }
        JobResult::Page { done, next } => {
            apply_result(tx, job_id, done, response, now)?;
            let (connection_id, plugin, request_type, record_id, priority): (
                i64,
                String,
                String,
                Option<i64>,
                i64,
            ) = tx.query_row(
                "SELECT connection_id, plugin, request_type, record_id, priority FROM job WHERE id=?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
            let page = NewJob {
                key: next.key.clone(),
                depends_on: Vec::new(),
                request_type,
                qbxml: next.qbxml.clone(),
                probe: None,
                adopt_existing: false,
                notes: Vec::new(),
                versioning: Default::default(),
            };
            if let Enqueued::Created(id) =
                insert_job(tx, connection_id, &plugin, record_id, &page, now)?
            {
                // Same priority as the page before, so the pages of one iterator go out
                // back to back while its QuickBooks session lasts.
                tx.execute(
                    "UPDATE job SET iterator_session=?2, priority=?3 WHERE id=?1",
                    params![id, next.session_id, priority],
                )?;
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
        JobResult::Renamed {
            qbxml,
            probe,
            from,
            note,
        } => {
            names::rename(tx, job_id, qbxml, probe.as_deref(), from, note, now)?;
        }
        JobResult::Hold {
            code,
            message,
            advice,
        } => {
            push_error(tx, job_id, *code, message, now)?;
            tx.execute(
                "UPDATE job SET state='held', verify=0, last_status=?2, advice=?3, updated_at=?4 WHERE id=?1",
                params![job_id, code, advice, now],
            )?;
            hold_dependents(tx, job_id, "is held", now)?;
        }
        JobResult::Stale { message } => {
            push_error(tx, job_id, 3200, message, now)?;
            let refreshes: i64 =
                tx.query_row("SELECT refreshes FROM job WHERE id=?1", [job_id], |r| {
                    r.get(0)
                })?;
            if refreshes >= MAX_REFRESHES {
                tx.execute(
                    "UPDATE job SET state='held', verify=0, last_status=3200, advice=?2, updated_at=?3 WHERE id=?1",
                    params![
                        job_id,
                        format!(
                            "QuickBooks reported this object changed by someone else {refreshes} times right after qbridge re-read it: someone keeps editing it. \
                             When they are done, run `qbridge jobs retry {job_id}`; to keep QuickBooks' version run `qbridge jobs cancel {job_id}`."
                        ),
                        now
                    ],
                )?;
                hold_dependents(tx, job_id, "is held", now)?;
            } else {
                tx.execute(
                    "UPDATE job SET state='available', verify=1, last_status=3200, run_at=?2 WHERE id=?1",
                    params![job_id, now],
                )?;
            }
        }
        JobResult::Refreshed {
            ret_xml,
            edit_sequence,
            note,
        } => {
            super::versions::refresh_identity(tx, job_id, ret_xml, edit_sequence.as_deref())?;
            tx.execute(
                "UPDATE job SET state='available', verify=0, refreshes=refreshes+1, run_at=?2 WHERE id=?1",
                params![job_id, now],
            )?;
            if let Some(note) = note {
                tx.execute(
                    "UPDATE job SET notes=json_insert(notes, '$[#]', ?2) WHERE id=?1",
                    params![job_id, note],
                )?;
            }
        }
        JobResult::Adopted {
            object_id,
            edit_sequence,
            ret_xml,
            hold,
            note,
        } => {
            let (connection_id, plugin, key, request_type): (i64, String, String, String) = tx
                .query_row(
                    "SELECT connection_id, plugin, key, request_type FROM job WHERE id=?1",
                    [job_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
            let fresh = tx.execute(
                "INSERT INTO mapping(connection_id, plugin, key, object_id, edit_sequence, request_type, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                params![connection_id, plugin, key, object_id.clone().unwrap_or_default(), edit_sequence, request_type, now],
            )? == 1;
            if fresh {
                dependency_done(tx, connection_id, &plugin, &key)?;
            }
            super::versions::refresh_identity(tx, job_id, ret_xml, edit_sequence.as_deref())?;
            match hold {
                Some((diff, advice)) => {
                    tx.execute(
                        "UPDATE job SET state='held', verify=0, advice=?2, conflict=?3, updated_at=?4 WHERE id=?1",
                        params![job_id, advice, serde_json::to_string(diff).unwrap_or_else(|_| "[]".into()), now],
                    )?;
                }
                None => {
                    tx.execute(
                        "UPDATE job SET state='available', verify=0, run_at=?2,
                            notes=CASE WHEN CAST(?3 AS TEXT) IS NULL THEN notes ELSE json_insert(notes, '$[#]', ?3) END
                         WHERE id=?1",
                        params![job_id, now, note],
                    )?;
                }
            }
        }
        JobResult::Conflict {
            ret_xml,
            edit_sequence,
            diff,
            advice,
        } => {
            super::versions::refresh_identity(tx, job_id, ret_xml, edit_sequence.as_deref())?;
            tx.execute(
                "UPDATE job SET state='held', verify=0, refreshes=refreshes+1, advice=?2, conflict=?3, updated_at=?4 WHERE id=?1",
                params![
                    job_id,
                    advice,
                    serde_json::to_string(diff).unwrap_or_else(|_| "[]".into()),
                    now
                ],
            )?;
            hold_dependents(tx, job_id, "is held", now)?;
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

fn discard(tx: &Tx<'_>, job_id: i64, code: i32, advice: &str, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE job SET state='discarded', verify=0, last_status=?2, advice=?3, finalized_at=?4 WHERE id=?1",
        params![job_id, code, advice, now],
    )?;
    let (connection_id, plugin, key, request_type): (i64, String, String, String) = tx.query_row(
        "SELECT connection_id, plugin, key, request_type FROM job WHERE id=?1",
        [job_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    // The alert commits with the failure: it cannot be lost, nor sent for a failure that
    // rolled back. A retried job that fails again is a new failure (a new finalized_at).
    alerts::record_in(
        tx,
        AlertKind::JobFailed,
        Some(connection_id),
        &format!("job.failed:{job_id}:{now}"),
        serde_json::json!({
            "job_id": job_id, "plugin": plugin, "key": key, "request_type": request_type,
            "status_code": code, "advice": advice,
        }),
    )?;
    hold_dependents(tx, job_id, "failed", now)?;
    // The version waiting behind this one is judged on its own (an Add again if this was the
    // Add that failed).
    super::versions::promote_next(tx, connection_id, &plugin, &key, now)
}

/// Marks every live job that (transitively) depends on `job_id`'s key as `held`, with the
/// reason, so it is neither sent to fail with 3140 nor silently stuck.
pub(super) fn hold_dependents(
    tx: &Tx<'_>,
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
pub(super) fn release_dependents(tx: &Tx<'_>, job_id: i64, now: i64) -> Result<(), StoreError> {
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
