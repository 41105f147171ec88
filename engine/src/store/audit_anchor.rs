//! Anchors of the audit chain's head, so removing the newest rows is detected.
//!
//! The hash chain (`store::audit`) catches an edited or removed row *inside* the log, but not
//! a log cut short: delete the newest rows and what remains is still a valid chain. An anchor
//! is `(audit id, its row hash, time)` with an HMAC-SHA-256 under a key derived from the
//! secrets key file, recorded every few minutes while the server runs and at shutdown. Each
//! anchor is kept twice: in the `audit_anchor` table (the history) and, the newest, in a file
//! beside the secrets key (`audit-anchor`), outside the database. `audit verify` then finds
//! every anchored row present with the anchored hash, or says which rows were removed.
//!
//! What it does not catch: rows appended after the newest anchor and removed before the next
//! one (a few minutes at most), or someone who can write both the database and the key's
//! folder putting back an older anchor file. Without the key nobody can make a new anchor.

use crate::crypto::hmac_sha256;
use std::path::{Path, PathBuf};

use crate::store::sql::{OptionalExt, params};

use super::audit::{hex, now_ms};
use super::{Store, StoreError};

/// Name of the newest anchor's file, beside the secrets key.
pub const ANCHOR_FILE: &str = "audit-anchor";

/// The anchors' signing key (never printed).
#[derive(Clone)]
pub struct AnchorKey([u8; 32]);

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnchorKey([redacted])")
    }
}

impl AnchorKey {
    /// Derives the anchor key from the secrets key's bytes (a key of its own purpose, so an
    /// anchor MAC never equals anything made with the secrets key itself).
    pub(crate) fn derive(secrets_key: &[u8]) -> AnchorKey {
        AnchorKey(hmac_sha256(secrets_key, &[b"qbridge audit anchor v1"]))
    }

    fn mac(&self, audit_id: i64, row_hash: &str, at: i64) -> String {
        let (id, at) = (audit_id.to_le_bytes(), at.to_le_bytes());
        let len = (row_hash.len() as u64).to_le_bytes();
        hex(&hmac_sha256(
            &self.0,
            &[&id, &at, &len, row_hash.as_bytes()],
        ))
    }

    fn verifies(&self, a: &Anchor) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(
            self.mac(a.audit_id, &a.row_hash, a.at)
                .as_bytes()
                .ct_eq(a.mac.as_bytes()),
        )
    }
}

/// One signed statement: row `audit_id` with hash `row_hash` was the head at `at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anchor {
    /// Audit row id of the head.
    pub audit_id: i64,
    /// Its `row_hash`.
    pub row_hash: String,
    /// Unix ms when anchored.
    pub at: i64,
    /// HMAC-SHA-256 of the three, hex.
    pub mac: String,
}

/// What the anchors say about the audit log.
#[derive(Debug, PartialEq, Eq)]
pub enum AnchorVerdict {
    /// Every anchored row is present with its anchored hash; this many anchors checked.
    Consistent(u64),
    /// Rows from `from_id` on were removed (an anchor names a row that is gone or differs).
    RowsRemoved {
        /// The first anchored row id that is missing or changed.
        from_id: i64,
    },
    /// An anchor's MAC does not verify: it was not made with this key.
    Forged {
        /// The audit id the forged anchor names.
        audit_id: i64,
    },
    /// The anchor file is gone although the database holds anchors.
    FileMissing,
    /// The secrets key file is gone, so anchors cannot be checked (nor secrets read).
    KeyMissing,
    /// Nothing anchored yet (a new installation).
    NotAnchored,
}

/// Where the newest anchor is written, given the secrets key file's path.
pub fn anchor_file(key_path: &Path) -> PathBuf {
    key_path.with_file_name(ANCHOR_FILE)
}

/// Reads the newest anchor from its file; `Ok(None)` when there is none.
pub fn read_anchor_file(path: &Path) -> std::io::Result<Option<Anchor>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the anchor file atomically (write a temporary file, then rename), 0600.
pub fn write_anchor_file(path: &Path, anchor: &Anchor) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(serde_json::to_string(anchor)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Why the log could not be anchored or its anchors checked.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// The secrets key file cannot be used.
    #[error(transparent)]
    Key(#[from] super::secrets::SecretError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The anchor file cannot be read or written.
    #[error(
        "cannot use the audit anchor file {path}: {source}. Fix: give this user access to the secrets key's folder"
    )]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AnchorVerdict {
    /// True unless the anchors show tampering.
    pub fn is_sound(&self) -> bool {
        matches!(
            self,
            AnchorVerdict::Consistent(_) | AnchorVerdict::NotAnchored
        )
    }

    /// One sentence for `audit verify`, the API and the UI.
    pub fn describe(&self) -> String {
        match self {
            AnchorVerdict::Consistent(n) => format!("{n} signed anchor(s) of the newest rows match."),
            AnchorVerdict::NotAnchored => "No signed anchor yet (the server anchors the newest row every few minutes and at shutdown).".into(),
            AnchorVerdict::RowsRemoved { from_id } => format!("Rows were removed from the end of the log: row {from_id} was anchored (signed) and is gone or changed."),
            AnchorVerdict::Forged { audit_id } => format!("An anchor naming row {audit_id} is not signed with this installation's key: it was forged or copied from elsewhere."),
            AnchorVerdict::FileMissing => format!("The anchor file ({ANCHOR_FILE}, beside the secrets key) was deleted although anchors exist: the newest rows cannot be vouched for."),
            AnchorVerdict::KeyMissing => "The secrets key file is missing, so the signed anchors cannot be checked.".into(),
        }
    }
}

impl Store {
    /// Anchors the head now with the key in `key_path` (created on first use, as for secrets)
    /// and writes the newest anchor to its file beside the key.
    pub fn anchor_audit_with(&self, key_path: &Path) -> Result<Option<Anchor>, AnchorError> {
        let key = super::secrets::SecretKey::open(key_path)?;
        let anchor = self.anchor_audit(key.anchor_key())?;
        if let Some(a) = &anchor {
            let path = anchor_file(key_path);
            write_anchor_file(&path, a).map_err(|source| AnchorError::File { path, source })?;
        }
        Ok(anchor)
    }

    /// Checks the anchors with the key in `key_path`, never creating a key.
    pub fn check_audit_anchors_with(&self, key_path: &Path) -> Result<AnchorVerdict, AnchorError> {
        if !key_path.exists() {
            let any: bool = self.read(|c| {
                Ok::<_, StoreError>(c.query_row(
                    "SELECT EXISTS(SELECT 1 FROM audit_anchor)",
                    [],
                    |r| r.get(0),
                )?)
            })?;
            return Ok(if any {
                AnchorVerdict::KeyMissing
            } else {
                AnchorVerdict::NotAnchored
            });
        }
        let key = super::secrets::SecretKey::open(key_path)?;
        let path = anchor_file(key_path);
        let from_file =
            read_anchor_file(&path).map_err(|source| AnchorError::File { path, source })?;
        Ok(self.check_audit_anchors(key.anchor_key(), from_file.as_ref())?)
    }

    /// Anchors the current head when it moved since the last anchor; returns the newest
    /// anchor (new or not), `None` while the log is empty.
    pub fn anchor_audit(&self, key: &AnchorKey) -> Result<Option<Anchor>, StoreError> {
        self.write(|tx| {
            let head: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, row_hash FROM audit ORDER BY id DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((audit_id, row_hash)) = head else {
                return Ok(None);
            };
            let last: Option<Anchor> = tx
                .query_row(
                    "SELECT audit_id, row_hash, at, mac FROM audit_anchor ORDER BY id DESC LIMIT 1",
                    [],
                    |r| {
                        Ok(Anchor {
                            audit_id: r.get(0)?,
                            row_hash: r.get(1)?,
                            at: r.get(2)?,
                            mac: r.get(3)?,
                        })
                    },
                )
                .optional()?;
            if let Some(last) = last.filter(|l| l.audit_id == audit_id) {
                return Ok(Some(last));
            }
            let at = now_ms();
            let anchor = Anchor {
                mac: key.mac(audit_id, &row_hash, at),
                audit_id,
                row_hash,
                at,
            };
            tx.execute(
                "INSERT INTO audit_anchor(at, audit_id, row_hash, mac) VALUES (?1, ?2, ?3, ?4)",
                params![anchor.at, anchor.audit_id, anchor.row_hash, anchor.mac],
            )?;
            Ok(Some(anchor))
        })
    }

    /// Checks the anchors in the database and `from_file` (the newest, kept outside it)
    /// against the audit rows.
    pub fn check_audit_anchors(
        &self,
        key: &AnchorKey,
        from_file: Option<&Anchor>,
    ) -> Result<AnchorVerdict, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT audit_id, row_hash, at, mac FROM audit_anchor ORDER BY id")?;
            let mut anchors = stmt
                .query_map([], |r| {
                    Ok(Anchor {
                        audit_id: r.get(0)?,
                        row_hash: r.get(1)?,
                        at: r.get(2)?,
                        mac: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            if from_file.is_none() && !anchors.is_empty() {
                return Ok(AnchorVerdict::FileMissing);
            }
            anchors.extend(from_file.cloned());
            if anchors.is_empty() {
                return Ok(AnchorVerdict::NotAnchored);
            }
            let mut first_removed: Option<i64> = None;
            for a in &anchors {
                if !key.verifies(a) {
                    return Ok(AnchorVerdict::Forged {
                        audit_id: a.audit_id,
                    });
                }
                let stored: Option<String> = c
                    .query_row(
                        "SELECT row_hash FROM audit WHERE id = ?1",
                        [a.audit_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if stored.as_deref() != Some(a.row_hash.as_str()) {
                    first_removed = Some(first_removed.map_or(a.audit_id, |f| f.min(a.audit_id)));
                }
            }
            Ok(match first_removed {
                Some(from_id) => AnchorVerdict::RowsRemoved { from_id },
                None => AnchorVerdict::Consistent(anchors.len() as u64),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::AuditEntry;

    fn log(store: &Store, n: usize) {
        for i in 0..n {
            store
                .audit(&AuditEntry {
                    actor: "test".into(),
                    action: format!("act.{i}"),
                    target: "x".into(),
                    ..Default::default()
                })
                .unwrap();
        }
    }

    /// Deletes the newest `n` audit rows the way an intruder with the database would.
    fn cut(store: &Store, n: i64, anchors_too: bool) {
        store
            .write(|tx| {
                crate::store::testing::drop_trigger(tx, "audit_no_delete", "audit")?;
                tx.execute(
                    "DELETE FROM audit WHERE id > (SELECT MAX(id) FROM audit) - ?1",
                    [n],
                )?;
                if anchors_too {
                    tx.execute("DELETE FROM audit_anchor", [])?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn removing_the_newest_rows_is_detected_by_the_anchor_even_when_the_chain_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::testing::open(dir.path());
        let key = AnchorKey::derive(&[7u8; 32]);
        assert_eq!(
            store.check_audit_anchors(&key, None).unwrap(),
            AnchorVerdict::NotAnchored
        );
        log(&store, 5);
        let file = store.anchor_audit(&key).unwrap().unwrap();
        assert_eq!(file.audit_id, 5);
        assert_eq!(
            store.check_audit_anchors(&key, Some(&file)).unwrap(),
            AnchorVerdict::Consistent(2)
        );
        // An unchanged head is not anchored twice.
        assert_eq!(store.anchor_audit(&key).unwrap().unwrap(), file);

        cut(&store, 2, true);
        assert!(matches!(
            store.verify_audit().unwrap(),
            crate::store::audit::AuditVerdict::Intact(3)
        ));
        assert_eq!(
            store.check_audit_anchors(&key, Some(&file)).unwrap(),
            AnchorVerdict::RowsRemoved { from_id: 5 },
            "the file outside the database still names row 5"
        );
        assert_eq!(
            store.check_audit_anchors(&key, None).unwrap(),
            AnchorVerdict::NotAnchored,
            "without the file and the table nothing can be said"
        );
    }

    #[test]
    fn the_database_anchors_catch_a_cut_and_a_forged_or_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::testing::open(dir.path());
        let key = AnchorKey::derive(&[7u8; 32]);
        log(&store, 3);
        let file = store.anchor_audit(&key).unwrap().unwrap();
        log(&store, 3);
        let newer = store.anchor_audit(&key).unwrap().unwrap();
        assert_eq!(newer.audit_id, 6);
        cut(&store, 4, false);
        assert_eq!(
            store.check_audit_anchors(&key, Some(&file)).unwrap(),
            AnchorVerdict::RowsRemoved { from_id: 3 }
        );
        assert_eq!(
            store.check_audit_anchors(&key, None).unwrap(),
            AnchorVerdict::FileMissing
        );
        let other = AnchorKey::derive(&[8u8; 32]);
        assert_eq!(
            store.check_audit_anchors(&other, Some(&file)).unwrap(),
            AnchorVerdict::Forged { audit_id: 3 }
        );
    }

    #[test]
    fn the_anchor_file_round_trips_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = anchor_file(&dir.path().join("secrets.key"));
        assert_eq!(read_anchor_file(&path).unwrap(), None);
        let a = Anchor {
            audit_id: 4,
            row_hash: "ab".into(),
            at: 1,
            mac: "cd".into(),
        };
        write_anchor_file(&path, &a).unwrap();
        assert_eq!(read_anchor_file(&path).unwrap(), Some(a));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
