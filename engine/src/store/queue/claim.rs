//! Claiming: what a session sends next, and whether it has anything to send.

use crate::store::sql::{Backend, OptionalExt, params};

use super::versions::ToSend;
use super::*;
use crate::store::audit::now_ms;
use crate::store::{Store, StoreError};

impl Store {
    /// True when a session for this connection would have something to send now: an
    /// unanswered message set to recover, a job to verify by probe, or a ready job — or jobs
    /// still `sent` by an earlier session: if that session is dead (an abandoned Web
    /// Connector), only a new session's login ends it and puts its jobs in doubt, so
    /// answering `none` here would strand them. (In-doubt jobs that only an admin can resolve
    /// do not make QuickBooks open for nothing.)
    pub fn has_work(&self, connection_id: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        self.read(|c| {
            let mut any = c.prepare_cached(HAS_WORK)?;
            Ok(any.query_row(params![connection_id, now], |r| r.get(0))?)
        })
    }

    /// Jobs not yet finished for a connection (for the progress percentage), from the
    /// counters the `job` triggers keep.
    pub fn pending_jobs(&self, connection_id: i64) -> Result<i64, StoreError> {
        self.read(|c| {
            let mut sum = c.prepare_cached(PENDING)?;
            Ok(sum.query_row([connection_id], |r| r.get(0))?)
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
        self.write_connection(connection_id, |tx| {
            // A session that ended meanwhile (reaped, revoked, expired) claims nothing: what
            // it marked `sent` nobody would answer, and no rescue would see it while this
            // node lives. (Sessions end under a write lock this claim excludes.)
            if tx
                .prepare_cached(
                    "SELECT 1 FROM qbwc_session WHERE id = ?1 AND connection_id = ?2 AND closed_at IS NOT NULL",
                )?
                .exists([session_id, connection_id])?
            {
                return Ok(None);
            }
            let now = now_ms();
            tx.execute(VERIFY_UNCOVERED, params![connection_id, now])?;
            // 1. An unanswered mutating message set: ask QuickBooks for its stored response —
            //    at most MAX_RECOVERIES times: a recovery whose own answer is lost again and
            //    again (a Web Connector that dies on it) falls back to probes, or the company
            //    file would wait on it forever.
            loop {
                let pending: Option<(String, i64)> = tx
                    .query_row(UNANSWERED_SET, [connection_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((old, recoveries)) = pending else {
                    break;
                };
                if recoveries >= MAX_RECOVERIES {
                    super::results::abandon_recovery(tx, &old, now)?;
                    continue;
                }
                tx.execute(
                    "UPDATE message_set SET state='recovering', session_id=?2, recoveries=recoveries+1 WHERE id=?1",
                    params![old, session_id],
                )?;
                return Ok(Some(Claim::Recover {
                    old_message_set_id: old,
                }));
            }
            // 2. Jobs whose outcome is unknown and cannot be recovered: verify by probe
            //    (also a probe that QuickBooks asked us to retry later, once it is due).
            let mut stmt = tx.prepare_cached(&taking(tx, PROBES))?;
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
                let mut stmt = tx.prepare_cached(&taking(tx, READY))?;
                let rows: Vec<(i64, String, i64, Option<i64>)> = stmt
                    .query_map(
                        params![connection_id, now, limits.max_requests as i64],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )?
                    .collect::<Result<_, _>>()?;
                drop(stmt);
                let mut ready = Vec::with_capacity(rows.len());
                for (id, xml, attempt, iterator_session) in rows {
                    let xml = restart_stale_page(tx, id, xml, iterator_session, session_id)?;
                    match super::versions::request_to_send(tx, id, xml)? {
                        ToSend::Request(xml) => ready.push((id, xml, attempt)),
                        ToSend::Hold(advice) => {
                            tx.execute(
                                "UPDATE job SET state='held', advice=?2, updated_at=?3 WHERE id=?1",
                                params![id, advice, now],
                            )?;
                            super::results::hold_dependents(tx, id, "is held", now)?;
                        }
                    }
                }
                (false, ready)
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
                // The row's own sequence number (SQLite's rowid, an identity column on
                // PostgreSQL) names the set. Until then it holds a placeholder of its company
                // file's own: one shared by all would make each claim wait on the unique
                // index for every other company file's claim to commit.
                let seq: i64 = tx.insert(
                    "INSERT INTO message_set(id, connection_id, session_id, state, created_at)
                     VALUES (?4, ?1, ?2, 'sent', ?3) RETURNING rowid",
                    params![
                        connection_id,
                        session_id,
                        now,
                        format!("pending-{connection_id}")
                    ],
                )?;
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
                    // `sends` counts the request itself, not its probes (queries change nothing).
                    "UPDATE job SET state='sent', attempt=attempt+1, sends=sends+CASE WHEN verify=0 THEN 1 ELSE 0 END, session_id=?2,
                     lease_owner=COALESCE((SELECT boot_id FROM qbwc_session WHERE id=?2), ?3),
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
}

/// `select` taking the rows it picks. On PostgreSQL they are locked `FOR UPDATE SKIP LOCKED`.
/// qbridge's own writes never hold a company file's job rows under its claim (they take the
/// write locks of [`Store::write_connection`] first), so what this skips is a row held by a
/// transaction outside them — an operator's `UPDATE` in psql, a maintenance script: the row
/// waits for the next claim instead of the Web Connector's call waiting on it, or being sent
/// while it changes. SQLite has one writer, so nothing can be locked under a claim.
fn taking(tx: &crate::store::sql::Tx<'_>, select: &str) -> String {
    match tx.backend() {
        Backend::Sqlite => select.to_string(),
        Backend::Postgres => format!("{select} FOR UPDATE SKIP LOCKED"),
    }
}

/// A page of an iterated query whose iterator belongs to another QBWC session (QuickBooks
/// forgets iterators when its session ends) is rewritten to start the query over; the
/// earlier pages' answers were already handed to the plugin, which must treat a repeat as
/// the same data again.
fn restart_stale_page(
    tx: &crate::store::sql::Tx<'_>,
    job_id: i64,
    xml: String,
    iterator_session: Option<i64>,
    session_id: i64,
) -> Result<String, StoreError> {
    match iterator_session {
        Some(s) if s != session_id => {
            let Some(fresh) = crate::qbxml::restart_iteration(&xml) else {
                return Ok(xml);
            };
            tx.execute(
                "UPDATE job SET qbxml=?2, iterator_session=NULL,
                    notes=json_insert(notes, '$[#]', ?3) WHERE id=?1",
                params![
                    job_id,
                    fresh,
                    "the QuickBooks session holding this query's iterator ended: the query started over"
                ],
            )?;
            Ok(fresh)
        }
        _ => Ok(xml),
    }
}

// The per-call queries. Each reads through a partial index whose WHERE terms it repeats
// verbatim (migration 9), so its cost follows the batch, not the queue or the history; the
// `hot_queries_use_their_indexes` test holds each to its plan.

/// In-doubt jobs of connection ?1 (at time ?2) that no pending recovery covers become probes.
pub(super) const VERIFY_UNCOVERED: &str =
    "UPDATE job SET state='available', verify=1, updated_at=?2
    WHERE connection_id=?1 AND state='in_doubt' AND COALESCE(refresh_query, probe) IS NOT NULL AND (message_set_id IS NULL
      OR NOT EXISTS (SELECT 1 FROM message_set m WHERE m.id=job.message_set_id
                     AND m.state IN ('in_doubt','recovering')))";
/// Times one unanswered message set is asked for by error recovery before its jobs are
/// verified by probe instead.
const MAX_RECOVERIES: i64 = 3;

/// The newest unanswered mutating message set of connection ?1, and how often its recovery
/// was asked for.
pub(super) const UNANSWERED_SET: &str = "SELECT id, recoveries FROM message_set
    WHERE connection_id=?1 AND state='in_doubt' ORDER BY rowid DESC LIMIT 1";
/// Probes due for connection ?1 (at most ?2, at time ?3): jobs being verified, including a
/// probe QuickBooks asked to retry later once it is due.
pub(super) const PROBES: &str = "SELECT id, COALESCE(refresh_query, probe), attempt FROM job
    WHERE connection_id=?1 AND state IN ('available','retryable') AND verify=1
      AND COALESCE(refresh_query, probe) IS NOT NULL AND run_at<=?3
    ORDER BY priority, id LIMIT ?2";
/// Jobs ready to send for connection ?1 at time ?2 (at most ?3): available or retryable and
/// due, not being verified (a job whose earlier attempt may have landed is only ever probed,
/// never re-sent, until the probe proves it absent), every dependency in QuickBooks
/// (`unmet=0`). Retryable jobs not yet due are stepped over: as many as are backing off.
pub(super) const READY: &str = "SELECT id, qbxml, attempt, iterator_session FROM job
    WHERE connection_id=?1 AND state IN ('available','retryable') AND verify=0 AND unmet=0
      AND run_at<=?2
    ORDER BY priority, id LIMIT ?3";
/// Whether connection ?1 has anything for a session at time ?2: a set to recover, jobs in
/// doubt to verify or still sent by an earlier session, a probe or a ready job.
pub(super) const HAS_WORK: &str = "SELECT
       EXISTS(SELECT 1 FROM message_set WHERE connection_id=?1 AND state='in_doubt')
    OR EXISTS(SELECT 1 FROM job WHERE connection_id=?1 AND state='in_doubt' AND COALESCE(refresh_query, probe) IS NOT NULL
              AND (message_set_id IS NULL OR NOT EXISTS (SELECT 1 FROM message_set m
                   WHERE m.id=job.message_set_id AND m.state IN ('in_doubt','recovering'))))
    OR EXISTS(SELECT 1 FROM job WHERE connection_id=?1 AND state='sent')
    OR EXISTS(SELECT 1 FROM job WHERE connection_id=?1 AND state IN ('available','retryable')
              AND verify=1 AND run_at<=?2)
    OR EXISTS(SELECT 1 FROM job WHERE connection_id=?1 AND state IN ('available','retryable')
              AND verify=0 AND unmet=0 AND run_at<=?2)";
/// Jobs of connection ?1 not yet finished.
pub(super) const PENDING: &str = "SELECT COALESCE(SUM(n), 0) FROM job_count
    WHERE connection_id=?1 AND state IN ('available','retryable','sent','in_doubt')";
