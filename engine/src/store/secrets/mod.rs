//! Source secrets (API keys a plugin needs to reach its source), encrypted at rest.
//!
//! Each value is sealed with XChaCha20-Poly1305 under a 32-byte key kept in its own file
//! (default `<data_dir>/secrets.key`, 0600), so a copy of the database alone reveals nothing.
//! The associated data binds a ciphertext to its `plugin` and `name`: a row copied onto another
//! secret's name fails to decrypt instead of handing one plugin another plugin's key.
//! Values are write-only for admins: listing shows names, kinds and when they were set, never
//! values; only the plugin host reads them ([`Store::secret`]).
//!
//! A secret is either a plain value or an OAuth2 client-credentials grant ([`ClientCredentials`])
//! from which the plugin host obtains access tokens. A grant is stored inside the same sealed
//! plaintext as a small versioned JSON envelope behind a NUL marker, so no schema change was
//! needed and plain values stored before grants existed still read as plain values (a plain
//! value cannot contain NUL, so it can never be mistaken for an envelope).

use std::path::{Path, PathBuf};

use crate::store::sql::{OptionalExt, params};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::audit::{AuditEntry, append_in, now_ms};
use super::{Store, StoreError};
use crate::crypto::{KeyFileError, load_or_create_key};
use crate::logging::Redacted;

/// Longest secret value: API keys and OAuth refresh tokens are far shorter.
const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Longest plugin or secret name.
const MAX_NAME_CHARS: usize = 64;
/// Longest token endpoint URL of a grant.
const MAX_URL_CHARS: usize = 2048;
/// Longest client id of a grant.
const MAX_CLIENT_ID_CHARS: usize = 512;
/// Longest scope list of a grant.
const MAX_SCOPE_CHARS: usize = 1024;
/// Longest client secret of a grant.
const MAX_CLIENT_SECRET_BYTES: usize = 4096;
/// Opens the sealed plaintext of a grant: plain values never contain NUL, so never start so.
const ENVELOPE_MARKER: &str = "\0qbridge-secret\0";
/// Envelope format written by this version.
const ENVELOPE_VERSION: u32 = 1;
const NONCE_BYTES: usize = 24;

/// What went wrong with a secret or the key file.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file cannot be read or created.
    #[error(
        "cannot use the secrets key file {path}: {message}. Fix: make its folder writable for this user, or set secrets.key_file to another path"
    )]
    KeyFile { path: PathBuf, message: String },
    /// The key file is readable by group or others.
    #[error(
        "the secrets key file {path} is readable by other users (mode {mode:o}); qbridge refuses to use it. Fix: `chmod 600 {path}`"
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    /// The key file does not hold a key.
    #[error(
        "the secrets key file {path} is not a qbridge key ({len} bytes, expected 32). Restore the right file; if it is lost, delete it and set every secret again"
    )]
    KeyCorrupt { path: PathBuf, len: u64 },
    /// The stored value does not open with this key (other key file, or the row was altered).
    #[error(
        "secret {plugin}/{name} cannot be decrypted with the key in use (a different key file, an altered row, or a format from a newer qbridge). Set it again"
    )]
    Undecryptable { plugin: String, name: String },
    /// A name or value the caller gave is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The OS random source or the cipher failed (not the caller's fault).
    #[error("cannot seal the secret: {0}. Check the system's random source and try again")]
    Seal(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key that seals source secrets. Never printed.
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
    /// Key of the audit chain's anchors, derived from the same file (`store::audit_anchor`):
    /// whoever cannot read the secrets cannot forge an anchor either.
    anchor: super::audit_anchor::AnchorKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    /// Reads the key file, creating it (0600, 32 random bytes) on first use. Refuses a file
    /// that group or others may read: the key is worth as much as every secret together.
    pub fn open(path: &Path) -> Result<SecretKey, SecretError> {
        let bytes = load_or_create_key(path).map_err(|e| match e {
            KeyFileError::Io(e) => SecretError::KeyFile {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
            KeyFileError::Permissions(mode) => SecretError::KeyPermissions {
                path: path.to_path_buf(),
                mode,
            },
            KeyFileError::Corrupt(len) => SecretError::KeyCorrupt {
                path: path.to_path_buf(),
                len,
            },
        })?;
        let cipher =
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretError::KeyCorrupt {
                path: path.to_path_buf(),
                len: bytes.len() as u64,
            })?;
        let anchor = super::audit_anchor::AnchorKey::derive(&bytes);
        Ok(SecretKey { cipher, anchor })
    }

    /// The key the audit chain's anchors are signed with.
    pub fn anchor_key(&self) -> &super::audit_anchor::AnchorKey {
        &self.anchor
    }

    /// Seals `plain` bound to `aad` under a fresh random nonce: `(nonce, ciphertext)`. Other
    /// store modules (alert webhooks) seal their secrets the same way as source secrets.
    pub(super) fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SecretError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| SecretError::Seal(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .map_err(|_| SecretError::Seal("encryption failed".into()))?;
        Ok((nonce.to_vec(), sealed))
    }

    /// Opens what [`SecretKey::seal`] sealed with the same `aad`; `None` when it does not open
    /// (another key, another `aad`, an altered row).
    pub(super) fn unseal(&self, aad: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if nonce.len() != NONCE_BYTES {
            return None;
        }
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
    }
}

/// A secret as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretName {
    /// Plugin that uses it.
    pub plugin: String,
    /// Name the plugin asks for, e.g. `api_key`.
    pub name: String,
    /// The connection (company file) it is for; `None`: every connection of the plugin that
    /// has no secret of this name of its own.
    pub connection_id: Option<i64>,
    /// Unix ms when last set.
    pub set_at: i64,
    /// Who set it (audit actor).
    pub set_by: String,
    /// A plain value or a grant (or unreadable with the key in use).
    pub kind: SecretKind,
    /// For a grant, the token endpoint's host (never the client secret or a token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_host: Option<String>,
}

/// What kind of secret a stored row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    /// A plain value substituted as is.
    Value,
    /// An OAuth2 client-credentials grant; the host substitutes a current access token.
    Oauth2ClientCredentials,
    /// Stored, but it does not open with the key in use (set it again).
    Unreadable,
}

/// An OAuth2 client-credentials grant (RFC 6749 §4.4) the plugin host turns into access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The token endpoint, e.g. `https://api.ramp.com/developer/v1/token`.
    pub token_url: String,
    /// The client id (sent with the secret by HTTP Basic authentication).
    pub client_id: String,
    /// The client secret; never printed.
    pub client_secret: Redacted<String>,
    /// Space-separated scopes to ask for, if the source wants them named.
    pub scope: Option<String>,
}

impl ClientCredentials {
    /// The lowercase host of the token endpoint (`None` when the URL has none).
    pub fn token_host(&self) -> Option<String> {
        url_host(&self.token_url)
    }

    /// Checks what an admin gave: an http(s) URL with a host and no credentials, a non-empty
    /// client id and secret, scopes in RFC 6749 syntax, everything bounded.
    fn check(&self) -> Result<(), SecretError> {
        let invalid = |m: String| Err(SecretError::Invalid(m));
        let url = &self.token_url;
        if url.len() > MAX_URL_CHARS
            || !(url.starts_with("https://") || url.starts_with("http://"))
            || self.token_host().is_none()
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return invalid(format!(
                "token URL {url:?} is not usable: give the source's https:// token endpoint (at most {MAX_URL_CHARS} characters, no spaces, no user:password@)"
            ));
        }
        let id = &self.client_id;
        if id.is_empty() || id.len() > MAX_CLIENT_ID_CHARS || id.chars().any(|c| c.is_control()) {
            return invalid(format!(
                "the client id must be 1 to {MAX_CLIENT_ID_CHARS} characters without control characters"
            ));
        }
        let secret = &self.client_secret.0;
        if secret.is_empty()
            || secret.len() > MAX_CLIENT_SECRET_BYTES
            || secret.chars().any(|c| c.is_control())
        {
            return invalid(format!(
                "the client secret must be 1 to {MAX_CLIENT_SECRET_BYTES} bytes without control characters (got {} bytes)",
                secret.len()
            ));
        }
        if let Some(scope) = &self.scope {
            // RFC 6749 §3.3: scope tokens are printable ASCII except `"` and `\`, space-separated.
            let token_ok = |t: &str| {
                !t.is_empty()
                    && t.bytes()
                        .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
            };
            if scope.len() > MAX_SCOPE_CHARS || !scope.split(' ').all(token_ok) {
                return invalid(format!(
                    "scope {scope:?} is not a space-separated list of scope names (at most {MAX_SCOPE_CHARS} characters, printable ASCII without quotes or backslashes)"
                ));
            }
        }
        Ok(())
    }
}

/// The lowercase host of an `http(s)://` URL, if it names one and carries no credentials.
fn url_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => &authority[..v6.find(']')? + 2],
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A stored secret as the plugin host reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// A plain value, substituted as is.
    Value(Redacted<String>),
    /// A grant; the host substitutes an access token obtained with it.
    Oauth2ClientCredentials(ClientCredentials),
}

/// The sealed form of a grant: versioned so a later format can be told apart.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    v: u32,
    kind: String,
    token_url: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    scope: Option<String>,
}

/// The envelope's `kind` of a client-credentials grant.
const GRANT_KIND: &str = "oauth2-client-credentials";

impl Secret {
    /// The plaintext that is sealed.
    fn to_plaintext(&self) -> String {
        match self {
            Secret::Value(v) => v.0.clone(),
            Secret::Oauth2ClientCredentials(grant) => {
                let envelope = Envelope {
                    v: ENVELOPE_VERSION,
                    kind: GRANT_KIND.into(),
                    token_url: grant.token_url.clone(),
                    client_id: grant.client_id.clone(),
                    client_secret: grant.client_secret.0.clone(),
                    scope: grant.scope.clone(),
                };
                // Serialising plain strings cannot fail.
                let json = serde_json::to_string(&envelope).unwrap_or_default();
                format!("{ENVELOPE_MARKER}{json}")
            }
        }
    }

    /// Reads an opened plaintext; `None` when it is an envelope this version cannot read.
    fn from_plaintext(plain: String) -> Option<Secret> {
        let Some(json) = plain.strip_prefix(ENVELOPE_MARKER) else {
            return Some(Secret::Value(Redacted(plain)));
        };
        let e: Envelope = serde_json::from_str(json).ok()?;
        let readable = e.v == ENVELOPE_VERSION && e.kind == GRANT_KIND;
        readable.then_some(Secret::Oauth2ClientCredentials(ClientCredentials {
            token_url: e.token_url,
            client_id: e.client_id,
            client_secret: Redacted(e.client_secret),
            scope: e.scope,
        }))
    }

    fn kind(&self) -> SecretKind {
        match self {
            Secret::Value(_) => SecretKind::Value,
            Secret::Oauth2ClientCredentials(_) => SecretKind::Oauth2ClientCredentials,
        }
    }
}

/// Checks a plugin or secret name: 1–64 of `A-Z a-z 0-9 _ . -`. Keeps names safe in URLs,
/// file names and logs, and makes the associated data unambiguous.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_CHARS
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn check_names(plugin: &str, name: &str) -> Result<(), SecretError> {
    for (what, v) in [("plugin", plugin), ("secret name", name)] {
        if !valid_name(v) {
            return Err(SecretError::Invalid(format!(
                "invalid {what} {v:?}: use 1 to {MAX_NAME_CHARS} letters, digits, `_`, `.` or `-`"
            )));
        }
    }
    Ok(())
}

/// The associated data: `plugin ‖ NUL ‖ name`, then `‖ NUL ‖ connection id` for a
/// connection's own secret (names cannot contain NUL, so no two slots give the same bytes): a
/// sealed value copied to another plugin, name or connection does not open.
fn aad(plugin: &str, name: &str, connection: Option<i64>) -> Vec<u8> {
    let mut v = Vec::with_capacity(plugin.len() + name.len() + 24);
    v.extend_from_slice(plugin.as_bytes());
    v.push(0);
    v.extend_from_slice(name.as_bytes());
    if let Some(c) = connection {
        v.push(0);
        v.extend_from_slice(c.to_string().as_bytes());
    }
    v
}

/// The `connection_id` column: 0 stands for "every connection" (the plugin-wide default).
fn slot(connection: Option<i64>) -> i64 {
    connection.unwrap_or(0)
}

/// The audit target of a secret.
fn target(plugin: &str, name: &str, connection: Option<i64>) -> String {
    match connection {
        Some(c) => format!("secret:{plugin}/{name}@connection:{c}"),
        None => format!("secret:{plugin}/{name}"),
    }
}

impl Store {
    /// Seals and stores (or replaces) a plain secret value; audited without its value.
    pub fn set_secret(
        &self,
        key: &SecretKey,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
        value: &str,
        actor: &str,
    ) -> Result<(), SecretError> {
        if value.is_empty() || value.len() > MAX_VALUE_BYTES {
            return Err(SecretError::Invalid(format!(
                "a secret value must be 1 to {MAX_VALUE_BYTES} bytes (got {})",
                value.len()
            )));
        }
        if value.contains('\0') {
            return Err(SecretError::Invalid(
                "a secret value cannot contain NUL characters; check that the right file was given"
                    .into(),
            ));
        }
        self.seal_and_store(
            key,
            plugin,
            name,
            connection,
            &Secret::Value(Redacted(value.into())),
            actor,
        )
    }

    /// Seals and stores (or replaces) an OAuth2 client-credentials grant; audited with its
    /// token URL, never its client secret.
    pub fn set_secret_grant(
        &self,
        key: &SecretKey,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
        grant: &ClientCredentials,
        actor: &str,
    ) -> Result<(), SecretError> {
        grant.check()?;
        let secret = Secret::Oauth2ClientCredentials(grant.clone());
        self.seal_and_store(key, plugin, name, connection, &secret, actor)
    }

    fn seal_and_store(
        &self,
        key: &SecretKey,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
        secret: &Secret,
        actor: &str,
    ) -> Result<(), SecretError> {
        check_names(plugin, name)?;
        if let Some(c) = connection {
            // A secret for a connection that does not exist would never be used.
            if !self.connections()?.iter().any(|known| known.id == c) {
                return Err(SecretError::Invalid(format!(
                    "there is no connection with id {c}"
                )));
            }
        }
        let (nonce, sealed) = key.seal(
            &aad(plugin, name, connection),
            secret.to_plaintext().as_bytes(),
        )?;
        let detail = match secret {
            Secret::Value(_) => serde_json::Value::Null,
            Secret::Oauth2ClientCredentials(g) => {
                serde_json::json!({"kind": GRANT_KIND, "token_url": g.token_url})
            }
        };
        Ok(self.write(|tx| {
            let now = now_ms();
            tx.execute(
                "INSERT INTO secret(plugin, name, connection_id, nonce, ciphertext, set_at, set_by)
                 VALUES (?1, ?2, ?7, ?3, ?4, ?5, ?6)
                 ON CONFLICT(plugin, name, connection_id) DO UPDATE SET nonce=excluded.nonce,
                   ciphertext=excluded.ciphertext, set_at=excluded.set_at, set_by=excluded.set_by",
                params![
                    plugin,
                    name,
                    &nonce[..],
                    sealed,
                    now,
                    actor,
                    slot(connection)
                ],
            )?;
            append_in(
                tx,
                &AuditEntry {
                    actor: actor.to_string(),
                    action: "secret.set".into(),
                    target: target(plugin, name, connection),
                    detail,
                    ..Default::default()
                },
            )?;
            Ok::<_, StoreError>(())
        })?)
    }

    /// Stored secrets (of one plugin, or all), sorted, with their kind; never values. Each row
    /// is opened with `key` to tell its kind; one that does not open is listed as
    /// [`SecretKind::Unreadable`] so the admin can set it again.
    pub fn secret_names(
        &self,
        key: &SecretKey,
        plugin: Option<&str>,
    ) -> Result<Vec<SecretName>, SecretError> {
        type Row = (String, String, i64, i64, String, Vec<u8>, Vec<u8>);
        let rows: Vec<Row> = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT plugin, name, connection_id, set_at, set_by, nonce, ciphertext FROM secret
                 WHERE plugin=?1 OR ?1 IS NULL ORDER BY plugin, name, connection_id",
            )?;
            let rows = stmt
                .query_map([plugin], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, StoreError>(rows)
        })?;
        Ok(rows
            .into_iter()
            .map(|(plugin, name, slot, set_at, set_by, nonce, sealed)| {
                let connection_id = (slot != 0).then_some(slot);
                let secret = open_sealed(key, &plugin, &name, connection_id, &nonce, &sealed).ok();
                let token_host = match &secret {
                    Some(Secret::Oauth2ClientCredentials(g)) => g.token_host(),
                    _ => None,
                };
                SecretName {
                    kind: secret.map_or(SecretKind::Unreadable, |s| s.kind()),
                    token_host,
                    plugin,
                    name,
                    connection_id,
                    set_at,
                    set_by,
                }
            })
            .collect())
    }

    /// Deletes a secret; audited. `NotFound` when it does not exist.
    pub fn delete_secret(
        &self,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM secret WHERE plugin=?1 AND name=?2 AND connection_id=?3",
                params![plugin, name, slot(connection)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(target(plugin, name, connection)));
            }
            append_in(
                tx,
                &AuditEntry {
                    actor: actor.to_string(),
                    action: "secret.delete".into(),
                    target: target(plugin, name, connection),
                    detail: serde_json::Value::Null,
                    ..Default::default()
                },
            )?;
            Ok(())
        })
    }

    /// The secret `name` of `plugin` as a call for `connection` sees it: the connection's own
    /// when it has one, else the plugin-wide one. For the plugin host only (it injects it into
    /// the plugin's HTTP calls). Values are wrapped in [`Redacted`] so they cannot end up in
    /// a log line by accident.
    pub fn secret(
        &self,
        key: &SecretKey,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
    ) -> Result<Option<Secret>, SecretError> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = self.read(|c| {
            Ok::<_, StoreError>(
                c.query_row(
                    "SELECT connection_id, nonce, ciphertext FROM secret
                     WHERE plugin=?1 AND name=?2 AND connection_id IN (?3, 0)
                     ORDER BY connection_id DESC LIMIT 1",
                    params![plugin, name, slot(connection)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?,
            )
        })?;
        row.map(|(slot, nonce, sealed)| {
            open_sealed(
                key,
                plugin,
                name,
                (slot != 0).then_some(slot),
                &nonce,
                &sealed,
            )
        })
        .transpose()
    }
}

/// Decrypts one row and reads its plaintext.
fn open_sealed(
    key: &SecretKey,
    plugin: &str,
    name: &str,
    connection: Option<i64>,
    nonce: &[u8],
    sealed: &[u8],
) -> Result<Secret, SecretError> {
    let undecryptable = || SecretError::Undecryptable {
        plugin: plugin.to_string(),
        name: name.to_string(),
    };
    let plain = key
        .unseal(&aad(plugin, name, connection), nonce, sealed)
        .ok_or_else(undecryptable)?;
    String::from_utf8(plain)
        .ok()
        .and_then(Secret::from_plaintext)
        .ok_or_else(undecryptable)
}

#[cfg(test)]
mod tests;
