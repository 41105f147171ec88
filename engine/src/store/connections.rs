//! QBWC connections (one per QuickBooks company file), the Web Connector users that may log
//! in to each, and the sessions (leases) those logins hold.
//!
//! Secrets never reach this table in clear: users carry an HMAC-SHA-256 of their generated
//! password under the server key (or, from older versions, an argon2id PHC string, replaced
//! at the next successful login), sessions the SHA-256 of their ticket. A session is live only
//! while its lease runs, its absolute lifetime has not passed and it was handed out by *this*
//! process (`boot_id`): a restart therefore invalidates every old ticket at once, and a crashed
//! Web Connector can never lock a company file for longer than one idle lease. Disabling a
//! user or rotating its password revokes its sessions in the same transaction (their lease is
//! set to [`REVOKED`]): the next call with their ticket is refused and the company file is free.
//!
//! Every string a Web Connector reports is capped before it is stored ([`MAX_STORED`]), so a
//! client cannot grow the database or the admin pages with one call.

use rusqlite::{OptionalExtension, Row, Transaction, params};
use sha2::Digest;

use super::alerts::{self, AlertKind};
use super::audit::{AuditEntry, append_in, now_ms};
use super::{Store, StoreError};

/// One connection: a company file the engine syncs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Row id.
    pub id: i64,
    /// Admin-chosen name, unique.
    pub name: String,
    /// `{GUID}` the Web Connector stamps into the company file (QWC `FileID`).
    pub file_id: String,
    /// Company file path handed to the Web Connector in `authenticate` ("" = the open file).
    pub company_file: String,
    /// Set when users of this connection report different paths for the company file.
    pub path_warning: Option<String>,
    /// What QuickBooks reported about itself in the last session, if any.
    pub host: Option<HostInfo>,
    /// Plain-language advice for the last error, and when it happened (Unix ms).
    pub last_error: Option<(String, i64)>,
}

/// What QuickBooks reported in the first `sendRequestXML` of a session (HostQuery,
/// CompanyQuery) plus the qbXML version negotiated from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// e.g. `QuickBooks Pro 2006`.
    pub product_name: String,
    /// Pro, Premier, Enterprise, Accountant, … (derived from the product name).
    pub edition: String,
    /// QuickBooks major version.
    pub major: u32,
    /// QuickBooks minor version.
    pub minor: u32,
    /// Country code, e.g. `US`.
    pub country: String,
    /// Every `SupportedQBXMLVersion` reported, e.g. `["1.0", …, "13.0"]`.
    pub supported_versions: Vec<String>,
    /// The FileID stamp found under our OwnerID, if the file carries one.
    pub file_id_stamp: Option<String>,
    /// The negotiated qbXML version.
    pub qbxml_version: (u32, u32),
}

/// A Web Connector user (one per Windows user / QWC file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QbwcUser {
    /// Row id.
    pub id: i64,
    /// Connection the user belongs to.
    pub connection_id: i64,
    /// That connection's name.
    pub connection: String,
    /// `strUserName` as typed in the QWC file.
    pub username: String,
    /// This user's QWC `FileID`: QBWC refuses an OwnerID/FileID pair already stamped in the
    /// file (QBWC1039), so every Web Connector user of one company file needs its own.
    pub file_id: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// A disabled user always gets `nvu`.
    pub disabled: bool,
    /// The company-file path this user's Web Connector last reported.
    pub reported_path: Option<String>,
}

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

const META_OWNER_ID: &str = "qbwc.owner_id";

/// `lease_until` of a revoked session: a lease that ended before it began.
pub const REVOKED: i64 = -1;

/// Longest Web Connector-reported string stored (path, country, product name, error text…);
/// the SOAP layer refuses longer parameters already, this is the last line.
pub const MAX_STORED: usize = 8192;

/// `s` cut to at most `max` bytes at a character boundary.
pub fn capped(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

const SESSION_COLUMNS: &str = "s.id, s.connection_id, c.name, c.company_file, s.user_id, \
     u.username, s.company_file, s.country, s.qbxml_major, s.qbxml_minor, s.negotiated, \
     s.wrong_file, s.awaiting_response, s.connection_errors, s.last_error, s.created_at, s.lease_until, s.boot_id";

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<(SessionState, i64, i64, String)> {
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

const CONNECTION_COLUMNS: &str = "id, name, file_id, company_file, path_warning, product_name, \
     edition, qb_major, qb_minor, country, supported_versions, file_id_stamp, qbxml_major, \
     qbxml_minor, last_error, last_error_at";

fn connection_from_row(r: &Row<'_>) -> rusqlite::Result<ConnectionInfo> {
    let product: Option<String> = r.get(5)?;
    let host = match product {
        None => None,
        Some(product_name) => Some(HostInfo {
            product_name,
            edition: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
            major: r.get::<_, Option<u32>>(7)?.unwrap_or(0),
            minor: r.get::<_, Option<u32>>(8)?.unwrap_or(0),
            country: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            supported_versions: r
                .get::<_, Option<String>>(10)?
                .unwrap_or_default()
                .split(',')
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
            file_id_stamp: r.get(11)?,
            qbxml_version: (
                r.get::<_, Option<u32>>(12)?.unwrap_or(0),
                r.get::<_, Option<u32>>(13)?.unwrap_or(0),
            ),
        }),
    };
    let last_error = match (
        r.get::<_, Option<String>>(14)?,
        r.get::<_, Option<i64>>(15)?,
    ) {
        (Some(text), Some(at)) => Some((text, at)),
        _ => None,
    };
    Ok(ConnectionInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        file_id: r.get(2)?,
        company_file: r.get(3)?,
        path_warning: r.get(4)?,
        host,
        last_error,
    })
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<QbwcUser> {
    Ok(QbwcUser {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        connection: r.get(2)?,
        username: r.get(3)?,
        password_hash: r.get(4)?,
        disabled: r.get(5)?,
        reported_path: r.get(6)?,
        file_id: r.get(7)?,
    })
}

const USER_SELECT: &str = "SELECT u.id, u.connection_id, c.name, u.username, u.password_hash, \
     u.disabled, u.reported_path, u.file_id FROM qbwc_user u JOIN qbwc_connection c ON c.id = u.connection_id";

fn audit(tx: &Transaction<'_>, actor: &str, action: &str, target: &str) -> Result<(), StoreError> {
    append_in(
        tx,
        &AuditEntry {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            detail: serde_json::json!({}),
            ip: None,
            user_agent: None,
        },
    )?;
    Ok(())
}

fn connection_id(tx: &Transaction<'_>, name: &str) -> Result<i64, StoreError> {
    tx.query_row(
        "SELECT id FROM qbwc_connection WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| {
        StoreError::NotFound(format!(
            "connection {name:?} (see `qbridge connection list`)"
        ))
    })
}

/// Runs an UPDATE keyed by username, or says the user does not exist.
fn update_user(tx: &Transaction<'_>, sql: &str, username: &str) -> Result<(), StoreError> {
    let n = tx.execute(sql, [username])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "Web Connector user {username:?} (see `qbridge user list`)"
        )));
    }
    Ok(())
}

impl Store {
    /// The installation-wide OwnerID, created with `generate` the first time it is needed.
    pub fn qbwc_owner_id(&self, generate: impl FnOnce() -> String) -> Result<String, StoreError> {
        self.write(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = ?1",
                    [META_OWNER_ID],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = existing {
                return Ok(id);
            }
            let id = generate();
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                params![META_OWNER_ID, id],
            )?;
            Ok(id)
        })
    }

    /// Creates a connection with its FileID.
    pub fn add_connection(
        &self,
        name: &str,
        file_id: &str,
        company_file: &str,
        actor: &str,
    ) -> Result<ConnectionInfo, StoreError> {
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM qbwc_connection WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(StoreError::Conflict(format!(
                    "a connection named {name:?} already exists; choose another name"
                )));
            }
            tx.execute(
                "INSERT INTO qbwc_connection(name, file_id, company_file, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, file_id, company_file, now_ms()],
            )?;
            audit(tx, actor, "connection.add", name)?;
            Ok(())
        })?;
        self.connection(name)
    }

    /// One connection by name.
    pub fn connection(&self, name: &str) -> Result<ConnectionInfo, StoreError> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {CONNECTION_COLUMNS} FROM qbwc_connection WHERE name = ?1"),
                [name],
                connection_from_row,
            )
            .optional()
        })?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "connection {name:?} (see `qbridge connection list`)"
            ))
        })
    }

    /// Every connection, by name.
    pub fn connections(&self) -> Result<Vec<ConnectionInfo>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {CONNECTION_COLUMNS} FROM qbwc_connection ORDER BY name"
            ))?;
            let rows = stmt
                .query_map([], connection_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Sets the company-file path `authenticate` hands to the Web Connector ("" = open file).
    pub fn set_company_file(&self, name: &str, path: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let id = connection_id(tx, name)?;
            tx.execute(
                "UPDATE qbwc_connection SET company_file = ?2 WHERE id = ?1",
                params![id, path],
            )?;
            audit(tx, "cli", "connection.set_path", name)
        })
    }

    /// Forgets the paths users reported and the warning about them (after the admin fixed
    /// the Windows side), so the next sessions report afresh.
    pub fn clear_reported_paths(&self, name: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let id = connection_id(tx, name)?;
            tx.execute(
                "UPDATE qbwc_user SET reported_path = NULL WHERE connection_id = ?1",
                [id],
            )?;
            tx.execute(
                "UPDATE qbwc_connection SET path_warning = NULL WHERE id = ?1",
                [id],
            )?;
            audit(tx, "cli", "connection.clear_path", name)
        })
    }

    /// Adds a Web Connector user to a connection.
    pub fn add_qbwc_user(
        &self,
        connection: &str,
        username: &str,
        file_id: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<QbwcUser, StoreError> {
        self.write(|tx| {
            let id = connection_id(tx, connection)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM qbwc_user WHERE username = ?1)",
                [username],
                |r| r.get(0),
            )?;
            if exists {
                return Err(StoreError::Conflict(format!(
                    "a Web Connector user named {username:?} already exists; choose another name or use `qbridge user rotate-password`"
                )));
            }
            tx.execute(
                "INSERT INTO qbwc_user(connection_id, username, file_id, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, username, file_id, password_hash, now_ms()],
            )?;
            audit(tx, actor, "qbwc_user.add", username)
        })?;
        self.qbwc_user(username)?
            .ok_or_else(|| StoreError::NotFound(format!("Web Connector user {username:?}")))
    }

    /// Replaces a user's password hash.
    pub fn set_qbwc_password(
        &self,
        username: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE qbwc_user SET password_hash = ?2 WHERE username = ?1",
                params![username, password_hash],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "Web Connector user {username:?} (see `qbridge user list`)"
                )));
            }
            revoke_sessions(tx, username)?;
            audit(tx, actor, "qbwc_user.rotate_password", username)
        })
    }

    /// Replaces a legacy (argon2id) hash by its HMAC form after a successful login, unless the
    /// password changed meanwhile. True when replaced.
    pub fn upgrade_qbwc_password_hash(
        &self,
        user_id: i64,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE qbwc_user SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
                params![user_id, old_hash, new_hash],
            )?;
            Ok(n == 1)
        })
    }

    /// Disables a user: every later login gets `nvu`, and its live sessions end now.
    pub fn disable_qbwc_user(&self, username: &str, actor: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            update_user(
                tx,
                "UPDATE qbwc_user SET disabled = 1 WHERE username = ?1",
                username,
            )?;
            revoke_sessions(tx, username)?;
            audit(tx, actor, "qbwc_user.disable", username)
        })
    }

    /// One user by name.
    pub fn qbwc_user(&self, username: &str) -> Result<Option<QbwcUser>, StoreError> {
        self.read(|c| {
            c.query_row(
                &format!("{USER_SELECT} WHERE u.username = ?1"),
                [username],
                user_from_row,
            )
            .optional()
            .map_err(StoreError::from)
        })
    }

    /// Every FileID that marks a company file as this connection's: the connection's own
    /// and each of its users'.
    pub fn connection_file_ids(&self, connection_id: i64) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT file_id FROM qbwc_connection WHERE id = ?1
                 UNION ALL SELECT file_id FROM qbwc_user WHERE connection_id = ?1",
            )?;
            let rows = stmt
                .query_map([connection_id], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(rows)
        })
    }

    /// Every user, by connection then name.
    pub fn qbwc_users(&self) -> Result<Vec<QbwcUser>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("{USER_SELECT} ORDER BY c.name, u.username"))?;
            let rows = stmt
                .query_map([], user_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Records the company-file path a user's Web Connector reported. When users of one
    /// connection report different paths, `warn` builds the warning stored on the connection
    /// from the two differing `(username, path)` pairs; it is returned when newly set.
    pub fn record_reported_path(
        &self,
        user_id: i64,
        path: &str,
        warn: impl FnOnce((&str, &str), (&str, &str)) -> String,
    ) -> Result<Option<String>, StoreError> {
        let path = capped(path, MAX_STORED);
        self.write(|tx| {
            tx.execute(
                "UPDATE qbwc_user SET reported_path = ?2 WHERE id = ?1",
                params![user_id, path],
            )?;
            let (conn_id, username): (i64, String) = tx.query_row(
                "SELECT connection_id, username FROM qbwc_user WHERE id = ?1",
                [user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let other: Option<(String, String)> = tx
                .query_row(
                    "SELECT username, reported_path FROM qbwc_user
                     WHERE connection_id = ?1 AND id != ?2 AND reported_path IS NOT NULL
                       AND reported_path != '' AND lower(reported_path) != lower(?3)
                     ORDER BY username LIMIT 1",
                    params![conn_id, user_id, path],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((other_user, other_path)) = other else {
                return Ok(None);
            };
            let existing: Option<String> = tx.query_row(
                "SELECT path_warning FROM qbwc_connection WHERE id = ?1",
                [conn_id],
                |r| r.get(0),
            )?;
            let text = warn((&other_user, &other_path), (&username, path));
            if existing.as_deref() == Some(text.as_str()) {
                return Ok(None);
            }
            tx.execute(
                "UPDATE qbwc_connection SET path_warning = ?2 WHERE id = ?1",
                params![conn_id, text],
            )?;
            Ok(Some(text))
        })
    }

    /// Stores what QuickBooks reported about itself on the connection.
    pub fn record_host_info(&self, connection_id: i64, host: &HostInfo) -> Result<(), StoreError> {
        let versions = host.supported_versions.join(",");
        self.write(|tx| {
            tx.execute(
                "UPDATE qbwc_connection SET product_name = ?2, edition = ?3, qb_major = ?4,
                    qb_minor = ?5, country = ?6, supported_versions = ?7, file_id_stamp = ?8,
                    qbxml_major = ?9, qbxml_minor = ?10 WHERE id = ?1",
                params![
                    connection_id,
                    capped(&host.product_name, 256),
                    capped(&host.edition, 64),
                    host.major,
                    host.minor,
                    capped(&host.country, 16),
                    capped(&versions, 1024),
                    host.file_id_stamp.as_deref().map(|s| capped(s, 64)),
                    host.qbxml_version.0,
                    host.qbxml_version.1
                ],
            )?;
            Ok(())
        })
    }

    /// Stores plain-language advice for the connection's latest error.
    pub fn record_connection_error(
        &self,
        connection_id: i64,
        text: &str,
    ) -> Result<(), StoreError> {
        let text = capped(text, 2 * MAX_STORED);
        let now = now_ms();
        self.write(|tx| {
            tx.execute(
                "UPDATE qbwc_connection SET last_error = ?2, last_error_at = ?3 WHERE id = ?1",
                params![connection_id, text, now],
            )?;
            // A Web Connector retrying after an error repeats it every few minutes: the same
            // text alerts at most once an hour per connection.
            let digest = super::audit::hex(&sha2::Sha256::digest(text.as_bytes()));
            alerts::record_in(
                tx,
                AlertKind::ConnectionError,
                Some(connection_id),
                &format!(
                    "connection.error:{connection_id}:{}:{}",
                    now / 3_600_000,
                    &digest[..16]
                ),
                serde_json::json!({"error": text}),
            )?;
            Ok(())
        })
    }

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
            tx.execute(
                "INSERT INTO qbwc_session(ticket_hash, connection_id, user_id, boot_id, created_at,
                    last_seen_at, lease_until) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                params![
                    ticket_hash,
                    user.connection_id,
                    user.id,
                    boot,
                    now,
                    now + rules.idle_ms
                ],
            )?;
            Ok((Claim::Granted(tx.last_insert_rowid()), ended))
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
        self.write(|tx| {
            let now = now_ms();
            let found = tx
                .query_row(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM qbwc_session s
                         JOIN qbwc_connection c ON c.id = s.connection_id
                         JOIN qbwc_user u ON u.id = s.user_id
                         WHERE s.ticket_hash = ?1 AND s.closed_at IS NULL"
                    ),
                    [ticket_hash],
                    session_from_row,
                )
                .optional()?;
            let Some((state, created_at, lease_until, session_boot)) = found else {
                return Ok(SessionLookup::Unknown);
            };
            if session_boot != boot {
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
            tx.execute(
                "UPDATE qbwc_session SET last_seen_at = ?2, lease_until = ?3 WHERE id = ?1",
                params![state.id, now, now + rules.idle_ms],
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
                "SELECT awaiting_response FROM qbwc_session
                 WHERE ticket_hash = ?1 AND closed_at IS NULL AND boot_id = ?2
                   AND lease_until > ?3 AND created_at + ?4 > ?3",
                params![ticket_hash, boot, now, rules.absolute_ms],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)
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
        session_id: i64,
        awaiting_response: bool,
        last_error: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE qbwc_session SET awaiting_response = ?2, last_error = ?3 WHERE id = ?1",
                params![
                    session_id,
                    awaiting_response,
                    capped(last_error, 2 * MAX_STORED)
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

fn end(tx: &Transaction<'_>, id: i64, reason: EndReason, now: i64) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE qbwc_session SET closed_at = ?2, end_reason = ?3 WHERE id = ?1 AND closed_at IS NULL",
        params![id, now, reason.as_str()],
    )?;
    Ok(n == 1)
}

/// Revokes the open sessions of `username`: their lease ends now, so the next call with their
/// ticket ends them as [`EndReason::Revoked`] and the company file can be claimed at once.
fn revoke_sessions(tx: &Transaction<'_>, username: &str) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE qbwc_session SET lease_until = ?2
         WHERE closed_at IS NULL AND user_id = (SELECT id FROM qbwc_user WHERE username = ?1)",
        params![username, REVOKED],
    )?)
}

/// Ends open sessions that are expired, revoked or belong to an earlier process.
fn reap(
    tx: &Transaction<'_>,
    boot: &str,
    now: i64,
    rules: LeaseRules,
) -> Result<Vec<(SessionState, EndReason)>, StoreError> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {SESSION_COLUMNS} FROM qbwc_session s
         JOIN qbwc_connection c ON c.id = s.connection_id
         JOIN qbwc_user u ON u.id = s.user_id
         WHERE s.closed_at IS NULL AND (s.boot_id != ?1 OR s.lease_until <= ?2 OR s.created_at + ?3 <= ?2)"
    ))?;
    let stale = stmt
        .query_map(params![boot, now, rules.absolute_ms], session_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let mut ended = Vec::with_capacity(stale.len());
    for (state, _, lease_until, session_boot) in stale {
        let reason = if session_boot != boot {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    const RULES: LeaseRules = LeaseRules {
        idle_ms: 60_000,
        absolute_ms: 600_000,
    };

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        (dir, store)
    }

    #[test]
    fn owner_id_is_generated_once() {
        let (_d, s) = store();
        let a = s.qbwc_owner_id(|| "{A}".into()).unwrap();
        let b = s.qbwc_owner_id(|| "{B}".into()).unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("{A}", "{A}"));
    }

    #[test]
    fn second_session_on_a_connection_is_busy_until_the_first_ends() {
        let (_d, s) = store();
        s.add_connection("acme", "{F}", "", "test").unwrap();
        let u = s
            .add_qbwc_user("acme", "alice", "{U1}", "$hash", "test")
            .unwrap();
        let (first, _) = s.claim_qbwc_session("t1", &u, RULES).unwrap();
        let Claim::Granted(id) = first else {
            panic!("first claim must be granted")
        };
        assert_eq!(
            s.claim_qbwc_session("t2", &u, RULES).unwrap().0,
            Claim::Busy
        );
        assert!(s.end_qbwc_session(id, EndReason::Closed).unwrap());
        assert!(matches!(
            s.claim_qbwc_session("t3", &u, RULES).unwrap().0,
            Claim::Granted(_)
        ));
        assert_eq!(
            s.touch_qbwc_session("t1", RULES).unwrap(),
            SessionLookup::Unknown
        );
    }

    #[test]
    fn a_restart_invalidates_old_tickets_and_frees_the_company_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), StoreOptions::default()).unwrap();
        s.add_connection("acme", "{F}", "", "test").unwrap();
        let u = s
            .add_qbwc_user("acme", "alice", "{U1}", "$h", "test")
            .unwrap();
        assert!(matches!(
            s.claim_qbwc_session("old", &u, RULES).unwrap().0,
            Claim::Granted(_)
        ));
        drop(s);
        let s = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(
            s.touch_qbwc_session("old", RULES).unwrap(),
            SessionLookup::Unknown
        );
        let (claim, _) = s.claim_qbwc_session("new", &u, RULES).unwrap();
        assert!(
            matches!(claim, Claim::Granted(_)),
            "not busy after a restart"
        );
    }

    #[test]
    fn disabling_or_rotating_revokes_live_sessions_at_once() {
        let (_d, s) = store();
        s.add_connection("acme", "{F}", "", "test").unwrap();
        let u = s
            .add_qbwc_user("acme", "alice", "{U1}", "$h", "test")
            .unwrap();
        let (claim, _) = s.claim_qbwc_session("t1", &u, RULES).unwrap();
        assert!(matches!(claim, Claim::Granted(_)));
        assert_eq!(s.qbwc_session_awaiting("t1", RULES).unwrap(), Some(false));
        s.set_qbwc_password("alice", "$h2", "test").unwrap();
        assert_eq!(s.qbwc_session_awaiting("t1", RULES).unwrap(), None);
        assert!(matches!(
            s.touch_qbwc_session("t1", RULES).unwrap(),
            SessionLookup::Revoked(_)
        ));
        assert_eq!(
            s.touch_qbwc_session("t1", RULES).unwrap(),
            SessionLookup::Unknown
        );
        // A revoked session that never calls again frees the file for the next login.
        let (claim, _) = s.claim_qbwc_session("t2", &u, RULES).unwrap();
        assert!(matches!(claim, Claim::Granted(_)));
        s.disable_qbwc_user("alice", "test").unwrap();
        let (claim, ended) = s.claim_qbwc_session("t3", &u, RULES).unwrap();
        assert!(matches!(claim, Claim::Granted(_)), "the file is free");
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].1, EndReason::Revoked);
        assert!(s.upgrade_qbwc_password_hash(u.id, "$h2", "$h3").unwrap());
        assert!(!s.upgrade_qbwc_password_hash(u.id, "$h2", "$h4").unwrap());
    }

    #[test]
    fn reported_strings_are_capped_before_they_are_stored() {
        let (_d, s) = store();
        s.add_connection("acme", "{F}", "", "test").unwrap();
        let u = s
            .add_qbwc_user("acme", "alice", "{U1}", "$h", "test")
            .unwrap();
        let long = "é".repeat(MAX_STORED);
        s.record_reported_path(u.id, &long, |_, _| String::new())
            .unwrap();
        let stored = s
            .qbwc_user("alice")
            .unwrap()
            .unwrap()
            .reported_path
            .unwrap();
        assert!(stored.len() <= MAX_STORED && long.starts_with(&stored));
        s.record_host_info(
            u.connection_id,
            &HostInfo {
                product_name: "Q".repeat(100_000),
                country: "U".repeat(100),
                ..HostInfo::default()
            },
        )
        .unwrap();
        let host = s.connection("acme").unwrap().host.unwrap();
        assert_eq!((host.product_name.len(), host.country.len()), (256, 16));
        assert_eq!(capped("abc", 2), "ab");
    }

    #[test]
    fn differing_reported_paths_set_a_warning() {
        let (_d, s) = store();
        s.add_connection("acme", "{F}", "", "test").unwrap();
        let a = s
            .add_qbwc_user("acme", "alice", "{U1}", "$h", "test")
            .unwrap();
        let b = s
            .add_qbwc_user("acme", "bob", "{U2}", "$h", "test")
            .unwrap();
        let warn = |x: (&str, &str), y: (&str, &str)| format!("{} {} / {} {}", x.0, x.1, y.0, y.1);
        assert_eq!(
            s.record_reported_path(a.id, r"Q:\Books\acme.qbw", warn)
                .unwrap(),
            None
        );
        let w = s
            .record_reported_path(b.id, r"\\server\Books\acme.qbw", warn)
            .unwrap()
            .unwrap();
        assert!(w.contains("alice") && w.contains("bob"), "{w}");
        assert_eq!(s.connection("acme").unwrap().path_warning, Some(w));
        s.clear_reported_paths("acme").unwrap();
        assert_eq!(s.connection("acme").unwrap().path_warning, None);
    }
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
            let mut stmt = c.prepare(
                "SELECT u.username, s.created_at, s.closed_at, s.end_reason,
                        s.closed_at IS NULL AND s.boot_id IS NOT ?2 FROM qbwc_user u
                 JOIN qbwc_session s ON s.id = (SELECT MAX(id) FROM qbwc_session WHERE user_id = u.id)
                 WHERE u.connection_id = ?1 ORDER BY u.username",
            )?;
            let rows = stmt
                .query_map(rusqlite::params![connection_id, boot], |r| {
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
