//! The plugin registry: every installed version of every plugin, its component bytes, its
//! manifest and its status. Each change commits together with its audit row.
//!
//! A plugin has at most one `active` version (the one that runs) and at most one `staged`
//! version (awaiting the admin's approval because it asks for more permissions); versions it
//! ran before are `previous` (rollback targets), and `removed` ones are kept for the record.

use crate::store::sql::{OptionalExt, Row, params};
use qbridge_sdk::Manifest;

use super::alerts::{self, AlertKind};
use super::audit::{AuditEntry, append_in, now_ms};
use super::{Store, StoreError};

/// Where a plugin version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginStatus {
    /// The version that runs.
    Active,
    /// Installed, waiting for approval of the permissions it adds.
    Staged,
    /// Ran before; a rollback target.
    Previous,
    /// Removed by the admin.
    Removed,
}

impl PluginStatus {
    fn as_str(self) -> &'static str {
        match self {
            PluginStatus::Active => "active",
            PluginStatus::Staged => "staged",
            PluginStatus::Previous => "previous",
            PluginStatus::Removed => "removed",
        }
    }

    fn parse(s: &str) -> PluginStatus {
        match s {
            "active" => PluginStatus::Active,
            "staged" => PluginStatus::Staged,
            "previous" => PluginStatus::Previous,
            // The CHECK constraint allows nothing else.
            _ => PluginStatus::Removed,
        }
    }
}

impl std::fmt::Display for PluginStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One installed version (without its component bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginVersion {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// SHA-256 of the component (hex).
    pub sha256: String,
    /// The manifest the component returned at install.
    pub manifest: Manifest,
    /// Where this version stands.
    pub status: PluginStatus,
    /// Request types the admin approved (empty until approved or auto-approved).
    pub approved_request_types: Vec<String>,
    /// Who installed it.
    pub installed_by: String,
    /// When, in ms since the Unix epoch.
    pub installed_at: i64,
    /// Who approved its permissions, when that was needed.
    pub approved_by: Option<String>,
}

/// A version to record.
#[derive(Debug, Clone)]
pub struct NewPluginVersion<'a> {
    /// Its manifest.
    pub manifest: &'a Manifest,
    /// SHA-256 of `wasm` (hex).
    pub sha256: &'a str,
    /// The component bytes.
    pub wasm: &'a [u8],
    /// Who installs it.
    pub installed_by: &'a str,
    /// `Active` (replaces the running version) or `Staged` (waits for approval).
    pub status: PluginStatus,
    /// A development build (`install --dev`): it replaces the content of a version already
    /// registered under the same number instead of being refused as a conflict.
    pub replace_content: bool,
}

const COLUMNS: &str = "name, version, sha256, manifest, status, approved_request_types, installed_by, installed_at, approved_by";

fn row_to_version(row: &Row<'_>) -> crate::store::sql::Result<PluginVersion> {
    let manifest: String = row.get(3)?;
    let approved: String = row.get(5)?;
    let decode = |i: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(PluginVersion {
        name: row.get(0)?,
        version: row.get(1)?,
        sha256: row.get(2)?,
        manifest: serde_json::from_str(&manifest).map_err(|e| decode(3, e))?,
        status: PluginStatus::parse(&row.get::<_, String>(4)?),
        approved_request_types: serde_json::from_str(&approved).map_err(|e| decode(5, e))?,
        installed_by: row.get(6)?,
        installed_at: row.get(7)?,
        approved_by: row.get(8)?,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain structs of strings cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

impl Store {
    /// Installed versions (all plugins, or one), oldest first.
    pub fn plugin_versions(&self, name: Option<&str>) -> Result<Vec<PluginVersion>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM plugin_versions WHERE name=?1 OR ?1 IS NULL ORDER BY name, id"
            ))?;
            let rows = stmt
                .query_map(params![name], row_to_version)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// The component bytes of one version.
    pub fn plugin_wasm(&self, name: &str, version: &str) -> Result<Vec<u8>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT wasm FROM plugin_versions WHERE name = ?1 AND version = ?2",
                params![name, version],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("plugin {name} version {version}")))
        })
    }

    /// Records a newly installed version as active (the running one becomes previous) or
    /// staged (replacing an older staged one). Installing the same name and version again
    /// with the same bytes reuses the row; with different bytes it is a conflict.
    pub fn plugin_add_version(
        &self,
        new: &NewPluginVersion<'_>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let m = new.manifest;
        self.write(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT sha256 FROM plugin_versions WHERE name = ?1 AND version = ?2",
                    params![m.name, m.version],
                    |r| r.get(0),
                )
                .optional()?;
            if !new.replace_content && existing.as_deref().is_some_and(|sha| sha != new.sha256) {
                return Err(StoreError::Conflict(format!(
                    "plugin {} version {} is already installed with different content; give the new build a new version number",
                    m.name, m.version
                )));
            }
            let demote = match new.status {
                PluginStatus::Active => "UPDATE plugin_versions SET status = 'previous' WHERE name = ?1 AND status = 'active' AND version <> ?2",
                _ => "UPDATE plugin_versions SET status = 'removed' WHERE name = ?1 AND status = 'staged' AND version <> ?2",
            };
            tx.execute(demote, params![m.name, m.version])?;
            let now = now_ms();
            let approved = if new.status == PluginStatus::Active {
                to_json(&m.request_types)
            } else {
                "[]".to_string()
            };
            let activated = (new.status == PluginStatus::Active).then_some(now);
            if existing.is_some() && new.replace_content {
                tx.execute(
                    "UPDATE plugin_versions SET sha256 = ?3, manifest = ?4, wasm = ?5, status = ?6, approved_request_types = ?7,
                            installed_by = ?8, installed_at = ?9, activated_at = COALESCE(?10, activated_at)
                     WHERE name = ?1 AND version = ?2",
                    params![
                        m.name,
                        m.version,
                        new.sha256,
                        to_json(m),
                        new.wasm,
                        new.status.as_str(),
                        approved,
                        new.installed_by,
                        now,
                        activated
                    ],
                )?;
            } else if existing.is_some() {
                tx.execute(
                    "UPDATE plugin_versions SET status = ?3, approved_request_types = ?4, activated_at = COALESCE(?5, activated_at)
                     WHERE name = ?1 AND version = ?2",
                    params![m.name, m.version, new.status.as_str(), approved, activated],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO plugin_versions(name, version, sha256, manifest, wasm, status, approved_request_types, installed_by, installed_at, activated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        m.name,
                        m.version,
                        new.sha256,
                        to_json(m),
                        new.wasm,
                        new.status.as_str(),
                        approved,
                        new.installed_by,
                        now,
                        activated
                    ],
                )?;
            }
            if new.status == PluginStatus::Staged {
                alerts::record_in(
                    tx,
                    AlertKind::PluginStaged,
                    None,
                    &format!("plugin.staged:{}@{}:{}", m.name, m.version, new.sha256),
                    serde_json::json!({
                        "plugin": m.name, "version": m.version, "installed_by": new.installed_by,
                    }),
                )?;
            }
            append_in(tx, audit)?;
            Ok(())
        })
    }

    /// Makes `version` the active version of `name` (the running one becomes previous). With
    /// `approved_by`, records that this person approved the version's request types.
    pub fn plugin_activate(
        &self,
        name: &str,
        version: &str,
        approved_by: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let manifest: String = tx
                .query_row(
                    "SELECT manifest FROM plugin_versions WHERE name = ?1 AND version = ?2 AND status <> 'removed'",
                    params![name, version],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("plugin {name} version {version}")))?;
            tx.execute(
                "UPDATE plugin_versions SET status = 'previous' WHERE name = ?1 AND status = 'active'",
                params![name],
            )?;
            let now = now_ms();
            tx.execute(
                "UPDATE plugin_versions SET status = 'active', activated_at = ?3 WHERE name = ?1 AND version = ?2",
                params![name, version, now],
            )?;
            if let Some(who) = approved_by {
                let m: Manifest = serde_json::from_str(&manifest)
                    .map_err(|e| StoreError::Conflict(format!("stored manifest unreadable: {e}")))?;
                tx.execute(
                    "UPDATE plugin_versions SET approved_by = ?3, approved_at = ?4, approved_request_types = ?5
                     WHERE name = ?1 AND version = ?2",
                    params![name, version, who, now, to_json(&m.request_types)],
                )?;
            }
            append_in(tx, audit)?;
            Ok(())
        })
    }

    /// Marks every version of `name` removed; returns how many were not removed before.
    pub fn plugin_remove(&self, name: &str, audit: &AuditEntry) -> Result<usize, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE plugin_versions SET status = 'removed' WHERE name = ?1 AND status <> 'removed'",
                params![name],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("plugin {name}")));
            }
            append_in(tx, audit)?;
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dev_install_replaces_the_content_of_a_registered_version() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(&dir.path().join("data"));
        let manifest = Manifest::new("crm", "0.1.0-dev", "CRM");
        let audit = AuditEntry {
            actor: "cli:test".into(),
            action: "plugin.install".into(),
            ..Default::default()
        };
        let add = |sha: &str, wasm: &[u8], replace_content: bool| {
            s.plugin_add_version(
                &NewPluginVersion {
                    manifest: &manifest,
                    sha256: sha,
                    wasm,
                    installed_by: "cli:test",
                    status: PluginStatus::Active,
                    replace_content,
                },
                &audit,
            )
        };
        add("aa", b"first", false).unwrap();
        let err = add("bb", b"second", false).unwrap_err();
        assert!(err.to_string().contains("new version number"), "{err}");
        assert_eq!(s.plugin_wasm("crm", "0.1.0-dev").unwrap(), b"first");
        add("bb", b"second", true).unwrap();
        assert_eq!(s.plugin_wasm("crm", "0.1.0-dev").unwrap(), b"second");
        let versions = s.plugin_versions(Some("crm")).unwrap();
        assert_eq!(versions.len(), 1, "replaced in place: {versions:?}");
        assert_eq!(versions[0].sha256, "bb");
        assert_eq!(versions[0].status, PluginStatus::Active);
    }
}
