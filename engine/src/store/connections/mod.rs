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

mod sessions;
#[cfg(test)]
mod tests;
mod users;

use crate::store::sql::{OptionalExt, Row, Tx, params};
use sha2::Digest;

use super::alerts::{self, AlertKind};
use super::audit::{AuditEntry, append_in, now_ms};
use super::{Store, StoreError};

pub use sessions::{
    Claim, EndReason, LastSession, LeaseRules, Negotiated, SessionLookup, SessionState,
};
pub use users::QbwcUser;

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

const CONNECTION_COLUMNS: &str = "id, name, file_id, company_file, path_warning, product_name, \
     edition, qb_major, qb_minor, country, supported_versions, file_id_stamp, qbxml_major, \
     qbxml_minor, last_error, last_error_at";

fn connection_from_row(r: &Row<'_>) -> crate::store::sql::Result<ConnectionInfo> {
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

fn audit(tx: &Tx<'_>, actor: &str, action: &str, target: &str) -> Result<(), StoreError> {
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

fn connection_id(tx: &Tx<'_>, name: &str) -> Result<i64, StoreError> {
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
}
