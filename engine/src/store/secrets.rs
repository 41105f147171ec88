//! Source secrets (API keys a plugin needs to reach its source), encrypted at rest.
//!
//! Each value is sealed with XChaCha20-Poly1305 under a 32-byte key kept in its own file
//! (default `<data_dir>/secrets.key`, 0600), so a copy of the database alone reveals nothing.
//! The associated data binds a ciphertext to its `plugin` and `name`: a row copied onto another
//! secret's name fails to decrypt instead of handing one plugin another plugin's key.
//! Values are write-only for admins: listing shows names and when they were set, never values;
//! only the plugin host reads them ([`Store::secret_value`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::{OptionalExtension, params};

use super::audit::{AuditEntry, append_in, now_ms};
use super::{Store, StoreError};
use crate::logging::Redacted;

/// Longest secret value: API keys and OAuth refresh tokens are far shorter.
const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Longest plugin or secret name.
const MAX_NAME_CHARS: usize = 64;
const KEY_BYTES: usize = 32;
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
        "secret {plugin}/{name} cannot be decrypted with the key in use (a different key file, or the stored row was altered). Set it again"
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
        let key_err = |e: std::io::Error| SecretError::KeyFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if !path.exists() {
            create_key_file(path).map_err(key_err)?;
        }
        let meta = std::fs::metadata(path).map_err(key_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretError::KeyPermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        if meta.len() != KEY_BYTES as u64 {
            return Err(SecretError::KeyCorrupt {
                path: path.to_path_buf(),
                len: meta.len(),
            });
        }
        let bytes = std::fs::read(path).map_err(key_err)?;
        let cipher =
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretError::KeyCorrupt {
                path: path.to_path_buf(),
                len: bytes.len() as u64,
            })?;
        Ok(SecretKey { cipher })
    }
}

fn create_key_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(&key)?;
            f.sync_all()
        }
        // Another process created it between our check and open: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A secret as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretName {
    /// Plugin that uses it.
    pub plugin: String,
    /// Name the plugin asks for, e.g. `api_key`.
    pub name: String,
    /// Unix ms when last set.
    pub set_at: i64,
    /// Who set it (audit actor).
    pub set_by: String,
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

/// The associated data: `plugin ‖ NUL ‖ name` (names cannot contain NUL, so no two pairs
/// give the same bytes).
fn aad(plugin: &str, name: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(plugin.len() + name.len() + 1);
    v.extend_from_slice(plugin.as_bytes());
    v.push(0);
    v.extend_from_slice(name.as_bytes());
    v
}

impl Store {
    /// Seals and stores (or replaces) a secret; audited without its value.
    pub fn set_secret(
        &self,
        key: &SecretKey,
        plugin: &str,
        name: &str,
        value: &str,
        actor: &str,
    ) -> Result<(), SecretError> {
        check_names(plugin, name)?;
        if value.is_empty() || value.len() > MAX_VALUE_BYTES {
            return Err(SecretError::Invalid(format!(
                "a secret value must be 1 to {MAX_VALUE_BYTES} bytes (got {})",
                value.len()
            )));
        }
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| SecretError::Seal(e.to_string()))?;
        let sealed = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad(plugin, name),
                },
            )
            .map_err(|_| SecretError::Seal("encryption failed".into()))?;
        Ok(self.write(|tx| {
            let now = now_ms();
            tx.execute(
                "INSERT INTO secret(plugin, name, nonce, ciphertext, set_at, set_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(plugin, name) DO UPDATE SET nonce=excluded.nonce,
                   ciphertext=excluded.ciphertext, set_at=excluded.set_at, set_by=excluded.set_by",
                params![plugin, name, &nonce[..], sealed, now, actor],
            )?;
            append_in(
                tx,
                &AuditEntry {
                    actor: actor.to_string(),
                    action: "secret.set".into(),
                    target: format!("secret:{plugin}/{name}"),
                    detail: serde_json::Value::Null,
                    ..Default::default()
                },
            )?;
            Ok::<_, StoreError>(())
        })?)
    }

    /// Names of stored secrets (of one plugin, or all), sorted; never values.
    pub fn secret_names(&self, plugin: Option<&str>) -> Result<Vec<SecretName>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT plugin, name, set_at, set_by FROM secret
                 WHERE ?1 IS NULL OR plugin=?1 ORDER BY plugin, name",
            )?;
            let rows = stmt
                .query_map([plugin], |r| {
                    Ok(SecretName {
                        plugin: r.get(0)?,
                        name: r.get(1)?,
                        set_at: r.get(2)?,
                        set_by: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Deletes a secret; audited. `NotFound` when it does not exist.
    pub fn delete_secret(&self, plugin: &str, name: &str, actor: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM secret WHERE plugin=?1 AND name=?2",
                params![plugin, name],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("secret {plugin}/{name}")));
            }
            append_in(
                tx,
                &AuditEntry {
                    actor: actor.to_string(),
                    action: "secret.delete".into(),
                    target: format!("secret:{plugin}/{name}"),
                    detail: serde_json::Value::Null,
                    ..Default::default()
                },
            )?;
            Ok(())
        })
    }

    /// The plain value, for the plugin host only (it injects it into the plugin's HTTP
    /// calls). Wrapped in [`Redacted`] so it cannot end up in a log line by accident.
    pub fn secret_value(
        &self,
        key: &SecretKey,
        plugin: &str,
        name: &str,
    ) -> Result<Option<Redacted<String>>, SecretError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self.read(|c| {
            Ok::<_, StoreError>(
                c.query_row(
                    "SELECT nonce, ciphertext FROM secret WHERE plugin=?1 AND name=?2",
                    params![plugin, name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?,
            )
        })?;
        let Some((nonce, sealed)) = row else {
            return Ok(None);
        };
        let undecryptable = || SecretError::Undecryptable {
            plugin: plugin.to_string(),
            name: name.to_string(),
        };
        if nonce.len() != NONCE_BYTES {
            return Err(undecryptable());
        }
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: &aad(plugin, name),
                },
            )
            .map_err(|_| undecryptable())?;
        String::from_utf8(plain)
            .map(|v| Some(Redacted(v)))
            .map_err(|_| undecryptable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn setup() -> (tempfile::TempDir, Store, SecretKey) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data"), StoreOptions::default()).unwrap();
        let key = SecretKey::open(&dir.path().join("keys/secrets.key")).unwrap();
        (dir, store, key)
    }

    #[test]
    fn values_round_trip_but_are_not_stored_in_clear() {
        let (dir, s, key) = setup();
        s.set_secret(&key, "ramp", "api_key", "sk_live_TOPSECRET", "cli:test")
            .unwrap();
        let got = s.secret_value(&key, "ramp", "api_key").unwrap().unwrap();
        assert_eq!(got.0, "sk_live_TOPSECRET");
        assert_eq!(format!("{got:?}"), "[redacted]");
        assert_eq!(s.secret_value(&key, "ramp", "other").unwrap(), None);
        let names = s.secret_names(Some("ramp")).unwrap();
        assert_eq!(names.len(), 1);
        assert_eq!(
            (names[0].name.as_str(), names[0].set_by.as_str()),
            ("api_key", "cli:test")
        );
        drop(s);
        for f in ["qbridge.db", "qbridge.db-wal"] {
            let bytes = std::fs::read(dir.path().join("data").join(f)).unwrap_or_default();
            assert!(
                !bytes.windows(8).any(|w| w == b"TOPSECRE"),
                "secret stored in clear in {f}"
            );
        }
    }

    #[test]
    fn a_row_moved_to_another_name_does_not_decrypt() {
        let (_d, s, key) = setup();
        s.set_secret(&key, "ramp", "api_key", "value-one", "t")
            .unwrap();
        s.write(|tx| {
            tx.execute(
                "INSERT INTO secret(plugin, name, nonce, ciphertext, set_at, set_by)
                 SELECT 'stripe', name, nonce, ciphertext, set_at, set_by FROM secret",
                [],
            )
        })
        .unwrap();
        assert!(matches!(
            s.secret_value(&key, "stripe", "api_key"),
            Err(SecretError::Undecryptable { .. })
        ));
    }

    #[test]
    fn another_key_file_cannot_open_the_values() {
        let (dir, s, key) = setup();
        s.set_secret(&key, "ramp", "api_key", "value", "t").unwrap();
        let other = SecretKey::open(&dir.path().join("other.key")).unwrap();
        assert!(s.secret_value(&other, "ramp", "api_key").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_0600_and_refused_when_others_can_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        SecretKey::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretKey::open(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn names_and_sizes_are_checked_and_deletes_are_audited() {
        let (_d, s, key) = setup();
        for (p, n) in [("", "a"), ("ramp", "a/b"), ("ramp", &"x".repeat(65))] {
            assert!(matches!(
                s.set_secret(&key, p, n, "v", "t"),
                Err(SecretError::Invalid(_))
            ));
        }
        let big = "v".repeat(MAX_VALUE_BYTES + 1);
        assert!(s.set_secret(&key, "ramp", "k", &big, "t").is_err());
        s.set_secret(&key, "ramp", "k", "v", "t").unwrap();
        s.delete_secret("ramp", "k", "t").unwrap();
        assert!(matches!(
            s.delete_secret("ramp", "k", "t"),
            Err(StoreError::NotFound(_))
        ));
        let actions: Vec<String> = s
            .audit_rows(0, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.entry.action)
            .collect();
        assert_eq!(actions, ["secret.set", "secret.delete"]);
    }
}
