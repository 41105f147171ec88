//! Web Connector sessions: the one live lease per connection, its ticket (only a hash is
//! stored), negotiation and progress, and how it ends.

use crate::store::nodes::live_nodes;
use crate::store::sql::{OptionalExt, Row, Tx, params};

use super::*;

/// Timing rules for a session lease, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRules {
    /// A session with no call for this long is expired.
    pub idle_ms: i64,
    /// A session older than this is expired whatever its activity.
    pub absolute_ms: i64,
}

/// The outcome of asking for a session on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The session was created with this id.
    Granted(i64),
    /// Another live session holds the connection.
    Busy,
}

/// Why a session stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `closeConnection`.
    Closed,
    /// Idle or absolute lifetime passed.
    Expired,
    /// The Web Connector gave up after `connectionError`.
    ConnectionError,
    /// Handed out by an earlier engine process.
    Abandoned,
    /// Its user was disabled or had its password rotated.
    Revoked,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            EndReason::Closed => "closed",
            EndReason::Expired => "expired",
            EndReason::ConnectionError => "connection_error",
            EndReason::Abandoned => "abandoned",
            EndReason::Revoked => "revoked",
        }
    }
}

/// The durable state of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// Row id.
    pub id: i64,
    /// Connection it holds.
    pub connection_id: i64,
    /// That connection's name.
    pub connection: String,
    /// The connection's configured company file.
    pub configured_company_file: String,
    /// The user who logged in.
    pub user_id: i64,
    /// That user's name.
    pub username: String,
    /// Company file the Web Connector reported (`strCompanyFileName`).
    pub company_file: String,
    /// Country the Web Connector reported.
    pub country: String,
    /// Negotiated qbXML version (0.0 until the first `sendRequestXML`).
    pub qbxml_version: (u32, u32),
    /// True once the first `sendRequestXML` was handled.
    pub negotiated: bool,
    /// The company file carries another connection's FileID: no work is sent.
    pub wrong_file: bool,
    /// A request was sent and its response is due.
    pub awaiting_response: bool,
    /// `connectionError` calls seen so far.
    pub connection_errors: u32,
    /// Text `getLastError` returns.
    pub last_error: String,
}

/// What a ticket look-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    /// A live session; its lease was extended.
    Live(SessionState),
    /// The session existed but had expired (now ended); the caller tells the pipeline.
    Expired(SessionState),
    /// The session's user was disabled or its password rotated (now ended); the caller tells
    /// the pipeline.
    Revoked(SessionState),
    /// No open session has this ticket (never issued, closed, or from an earlier process).
    Unknown,
}

/// Fields a session handler changes after the first `sendRequestXML`.
#[derive(Debug, Clone)]
pub struct Negotiated<'a> {
    /// `strCompanyFileName`.
    pub company_file: &'a str,
    /// `qbXMLCountry`.
    pub country: &'a str,
    /// The negotiated qbXML version.
    pub qbxml_version: (u32, u32),
    /// The file carries another FileID under our OwnerID.
    pub wrong_file: bool,
}

const SESSION_COLUMNS: &str = "s.id, s.connection_id, c.name, c.company_file, s.user_id, \
     u.username, s.company_file, s.country, s.qbxml_major, s.qbxml_minor, s.negotiated, \
     s.wrong_file, s.awaiting_response, s.connection_errors, s.last_error, s.created_at, s.lease_until, s.boot_id";

fn session_from_row(r: &Row<'_>) -> crate::store::sql::Result<(SessionState, i64, i64, String)> {
    Ok((
        SessionState {
            id: r.get(0)?,
            connection_id: r.get(1)?,
            connection: r.get(2)?,
            configured_company_file: r.get(3)?,
            user_id: r.get(4)?,
            username: r.get(5)?,
            company_file: r.get(6)?,
            country: r.get(7)?,
            qbxml_version: (r.get(8)?, r.get(9)?),
            negotiated: r.get(10)?,
            wrong_file: r.get(11)?,
            awaiting_response: r.get(12)?,
            connection_errors: r.get(13)?,
            last_error: r.get(14)?,
        },
        r.get(15)?,
        r.get(16)?,
        r.get(17)?,
    ))
}

impl Store {
    /// Ends every open session that is no longer valid (expired, or from an earlier process)
    /// and, unless another live session holds the connection, opens a new one.
    /// Returns the claim and the sessions it ended, so the caller can tell the pipeline.
    pub fn claim_qbwc_session(
        &self,
        ticket_hash: &str,
        user: &QbwcUser,
        rules: LeaseRules,
    ) -> Result<(Claim, Vec<(SessionState, EndReason)>), StoreError> {
        let boot = self.boot_id().to_string();
        self.write(|tx| {
            let now = now_ms();
            let ended = reap(tx, &boot, now, rules)?;
            let busy: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM qbwc_session WHERE connection_id = ?1 AND closed_at IS NULL)",
                [user.connection_id],
                |r| r.get(0),
            )?;
            if busy {
                return Ok((Claim::Busy, ended));
            }
            let id = tx.insert(
                "INSERT INTO qbwc_session(ticket_hash, connection_id, user_id, boot_id, created_at,
                    last_seen_at, lease_until) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) RETURNING id",
                params![
                    ticket_hash,
                    user.connection_id,
                    user.id,
                    boot,
                    now,
                    now + rules.idle_ms
                ],
            )?;
            Ok((Claim::Granted(id), ended))
        })
    }

    /// Finds the open session for a ticket hash and extends its lease; an expired one is
    /// ended and reported as such.
    pub fn touch_qbwc_session(
        &self,
        ticket_hash: &str,
        rules: LeaseRules,
    ) -> Result<SessionLookup, StoreError> {
        let boot = self.boot_id().to_string();
        // Which company file the ticket is for decides the write lock (every call of every
        // Web Connector comes through here, so it must not wait for other firms' calls).
        let connection: Option<i64> = self.read(|c| {
            c.query_row(
                "SELECT connection_id FROM qbwc_session WHERE ticket_hash = ?1 AND closed_at IS NULL",
                [ticket_hash],
                |r| r.get(0),
            )
            .optional()
        })?;
        let Some(connection_id) = connection else {
            return Ok(SessionLookup::Unknown);
        };
        self.write_connection(connection_id, |tx| {
            let now = now_ms();
            let found = tx
                .query_row(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM qbwc_session s
                         JOIN qbwc_connection c ON c.id = s.connection_id
                         JOIN qbwc_user u ON u.id = s.user_id
                         WHERE s.ticket_hash = ?1 AND s.closed_at IS NULL AND s.connection_id = ?2"
                    ),
                    params![ticket_hash, connection_id],
                    session_from_row,
                )
                .optional()?;
            let Some((state, created_at, lease_until, session_boot)) = found else {
                return Ok(SessionLookup::Unknown);
            };
            // Any live node may answer a session's calls; one whose last node died is over
            // (that node may have sent requests whose answers nobody will take).
            if session_boot != boot && !crate::store::nodes::is_live(tx, &session_boot)? {
                end(tx, state.id, EndReason::Abandoned, now)?;
                return Ok(SessionLookup::Unknown);
            }
            if lease_until == REVOKED {
                end(tx, state.id, EndReason::Revoked, now)?;
                return Ok(SessionLookup::Revoked(state));
            }
            if lease_until <= now || created_at + rules.absolute_ms <= now {
                end(tx, state.id, EndReason::Expired, now)?;
                return Ok(SessionLookup::Expired(state));
            }
            // The node answering this call holds the session now: behind a balancer the calls
            // of one session alternate between nodes, and what it sends from here on is lost
            // only if this node dies.
            tx.execute(
                "UPDATE qbwc_session SET last_seen_at = ?2, lease_until = ?3, boot_id = ?4 WHERE id = ?1",
                params![state.id, now, now + rules.idle_ms, boot],
            )?;
            Ok(SessionLookup::Live(state))
        })
    }

    /// Whether `ticket_hash` names a live session, and if so whether it awaits a response —
    /// without extending its lease or ending it (the SOAP layer asks this before it lets a
    /// body grow past the small limit). `None`: no live session.
    pub fn qbwc_session_awaiting(
        &self,
        ticket_hash: &str,
        rules: LeaseRules,
    ) -> Result<Option<bool>, StoreError> {
        let boot = self.boot_id().to_string();
        let now = now_ms();
        self.read(|c| {
            c.query_row(
                concat!(
                    "SELECT awaiting_response FROM qbwc_session
                     WHERE ticket_hash = ?1 AND closed_at IS NULL
                       AND (boot_id = ?2 OR boot_id IN ",
                    live_nodes!("?5"),
                    ") AND lease_until > ?3 AND created_at + ?4 > ?3"
                ),
                params![
                    ticket_hash,
                    boot,
                    now,
                    rules.absolute_ms,
                    crate::store::nodes::live_cutoff(c)?
                ],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)
        })
    }

    /// Records what the session's outstanding message set is (`None`: nothing), so that
    /// whichever node receives the response knows what it answers.
    pub fn set_in_flight(
        &self,
        connection_id: i64,
        session_id: i64,
        in_flight: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write_connection(connection_id, |tx| {
            tx.execute(
                "UPDATE qbwc_session SET in_flight = ?2 WHERE id = ?1 AND connection_id = ?3",
                params![session_id, in_flight, connection_id],
            )?;
            Ok(())
        })
    }

    /// The session's outstanding message set, cleared: a response is taken once.
    pub fn take_in_flight(
        &self,
        connection_id: i64,
        session_id: i64,
    ) -> Result<Option<String>, StoreError> {
        self.write_connection(connection_id, |tx| {
            let found: Option<Option<String>> = tx
                .query_row(
                    "SELECT in_flight FROM qbwc_session WHERE id = ?1 AND connection_id = ?2",
                    [session_id, connection_id],
                    |r| r.get(0),
                )
                .optional()?;
            let found = found.flatten();
            if found.is_some() {
                tx.execute(
                    "UPDATE qbwc_session SET in_flight = NULL WHERE id = ?1",
                    [session_id],
                )?;
            }
            Ok(found)
        })
    }

    /// Stores what the first `sendRequestXML` of a session established.
    pub fn set_qbwc_negotiated(
        &self,
        session_id: i64,
        n: &Negotiated<'_>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE qbwc_session SET company_file = ?2, country = ?3, qbxml_major = ?4,
                    qbxml_minor = ?5, wrong_file = ?6, negotiated = 1 WHERE id = ?1",
                params![
                    session_id,
                    capped(n.company_file, MAX_STORED),
                    capped(n.country, 16),
                    n.qbxml_version.0,
                    n.qbxml_version.1,
                    n.wrong_file
                ],
            )?;
            Ok(())
        })
    }

    /// Records whether a response is due and the text `getLastError` returns next.
    pub fn set_qbwc_progress(
        &self,
        connection_id: i64,
        session_id: i64,
        awaiting_response: bool,
        last_error: &str,
    ) -> Result<(), StoreError> {
        self.write_connection(connection_id, |tx| {
            tx.execute(
                "UPDATE qbwc_session SET awaiting_response = ?2, last_error = ?3
                 WHERE id = ?1 AND connection_id = ?4",
                params![
                    session_id,
                    awaiting_response,
                    capped(last_error, 2 * MAX_STORED),
                    connection_id
                ],
            )?;
            Ok(())
        })
    }

    /// Counts one `connectionError` on the session; returns the new count.
    pub fn count_qbwc_connection_error(
        &self,
        session_id: i64,
        last_error: &str,
    ) -> Result<u32, StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE qbwc_session SET connection_errors = connection_errors + 1, last_error = ?2
                 WHERE id = ?1",
                params![session_id, capped(last_error, 2 * MAX_STORED)],
            )?;
            Ok(tx.query_row(
                "SELECT connection_errors FROM qbwc_session WHERE id = ?1",
                [session_id],
                |r| r.get(0),
            )?)
        })
    }

    /// Ends a session; false when it was already ended.
    pub fn end_qbwc_session(&self, session_id: i64, reason: EndReason) -> Result<bool, StoreError> {
        self.write(|tx| end(tx, session_id, reason, now_ms()))
    }
}

fn end(tx: &Tx<'_>, id: i64, reason: EndReason, now: i64) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE qbwc_session SET closed_at = ?2, end_reason = ?3 WHERE id = ?1 AND closed_at IS NULL",
        params![id, now, reason.as_str()],
    )?;
    Ok(n == 1)
}

/// Revokes the open sessions of `username`: their lease ends now, so the next call with their
/// ticket ends them as [`EndReason::Revoked`] and the company file can be claimed at once.
pub(super) fn revoke_sessions(tx: &Tx<'_>, username: &str) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE qbwc_session SET lease_until = ?2
         WHERE closed_at IS NULL AND user_id = (SELECT id FROM qbwc_user WHERE username = ?1)",
        params![username, REVOKED],
    )?)
}

/// Ends open sessions that are expired, revoked or belong to an earlier process.
fn reap(
    tx: &Tx<'_>,
    boot: &str,
    now: i64,
    rules: LeaseRules,
) -> Result<Vec<(SessionState, EndReason)>, StoreError> {
    let mut stmt = tx.prepare(&format!(
        concat!(
            "SELECT {} FROM qbwc_session s
             JOIN qbwc_connection c ON c.id = s.connection_id
             JOIN qbwc_user u ON u.id = s.user_id
             WHERE s.closed_at IS NULL
               AND ((s.boot_id != ?1 AND s.boot_id NOT IN ",
            live_nodes!("?4"),
            ") OR s.lease_until <= ?2 OR s.created_at + ?3 <= ?2)"
        ),
        SESSION_COLUMNS
    ))?;
    let stale = stmt
        .query_map(
            params![
                boot,
                now,
                rules.absolute_ms,
                crate::store::nodes::live_cutoff(tx)?
            ],
            session_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let mut ended = Vec::with_capacity(stale.len());
    for (state, _, lease_until, session_boot) in stale {
        let reason = if session_boot != boot && !crate::store::nodes::is_live(tx, &session_boot)? {
            EndReason::Abandoned
        } else if lease_until == REVOKED {
            EndReason::Revoked
        } else {
            EndReason::Expired
        };
        end(tx, state.id, reason, now)?;
        ended.push((state, reason));
    }
    Ok(ended)
}

/// The most recent session of one Web Connector user (for `qbridge status`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastSession {
    /// Web Connector user.
    pub username: String,
    /// When `authenticate` succeeded, unix ms.
    pub started_at: i64,
    /// When it ended, unix ms (`None` while it runs).
    pub closed_at: Option<i64>,
    /// How it ended.
    pub end_reason: Option<String>,
    /// Never closed, and the process that ran it is gone (another boot id): it was cut short
    /// by a crash or a kill, and what it sent is verified at the next start.
    pub interrupted: bool,
}

impl Store {
    /// The latest session of every user of a connection.
    pub fn last_sessions(&self, connection_id: i64) -> Result<Vec<LastSession>, StoreError> {
        let boot = self.boot_id().to_string();
        self.read(|c| {
            let mut stmt = c.prepare(concat!(
                "SELECT u.username, s.created_at, s.closed_at, s.end_reason,
                        s.closed_at IS NULL AND s.boot_id IS NOT ?2
                        AND s.boot_id NOT IN ",
                live_nodes!("?3"),
                "
                 FROM qbwc_user u
                 JOIN qbwc_session s ON s.id = (SELECT MAX(id) FROM qbwc_session WHERE user_id = u.id)
                 WHERE u.connection_id = ?1 ORDER BY u.username",
            ))?;
            let rows = stmt
                .query_map(
                    crate::store::sql::params![
                        connection_id,
                        boot,
                        crate::store::nodes::live_cutoff(c)?
                    ],
                    |r| {
                    Ok(LastSession {
                        username: r.get(0)?,
                        started_at: r.get(1)?,
                        closed_at: r.get(2)?,
                        end_reason: r.get(3)?,
                        interrupted: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}
