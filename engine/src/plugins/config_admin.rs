//! The admin's operations on plugin configuration — list, set, unset — written once for the
//! API, the web UI and `qbridge plugin config` run without a server. Who may do them (scope,
//! tenant fence) is the caller's check; what is acceptable is checked here against the
//! manifests of the plugin's running and staged versions, so an admin can configure a staged
//! version before approving it.

use qbridge_sdk::Manifest;
use serde::Serialize;

use super::plugin_config::{self, HostTemplate};
use crate::store::audit::AuditEntry;
use crate::store::{PluginStatus, Store, StoreError};

/// Why a configuration change or listing was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The key or value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// No such plugin, key or value.
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A plugin's settings as an admin sees them.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ConfigView {
    /// The plugin.
    pub plugin: String,
    /// The keys its running (else staged) version declares.
    pub keys: Vec<KeyView>,
    /// The values set (for a fenced caller: plugin-wide and its own connection's only).
    pub values: Vec<ValueView>,
}

/// One declared key.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct KeyView {
    /// Key name.
    pub name: String,
    /// What it is, in the author's words.
    pub description: String,
    /// True when a pull needs a value.
    pub required: bool,
    /// The value used when none is set.
    pub default_value: Option<String>,
    /// The host templates it completes (its value is the approval of those hosts).
    pub host_templates: Vec<String>,
}

/// One value set.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ValueView {
    /// Key name.
    pub name: String,
    /// The connection's name; `None`: plugin-wide.
    pub connection: Option<String>,
    /// The value.
    pub value: String,
    /// The hosts it completes, from the key's templates.
    pub hosts: Vec<String>,
    /// Who set it.
    pub set_by: String,
    /// When (ms since the epoch).
    pub set_at: i64,
}

/// The manifests of `plugin`'s running and staged versions, the running one first.
fn manifests(store: &Store, plugin: &str) -> Result<Vec<Manifest>, ConfigError> {
    let mut versions: Vec<_> = store
        .plugin_versions(Some(plugin))?
        .into_iter()
        .filter(|v| matches!(v.status, PluginStatus::Active | PluginStatus::Staged))
        .collect();
    versions.sort_by_key(|v| v.status != PluginStatus::Active);
    if versions.is_empty() {
        return Err(ConfigError::NotFound(format!(
            "no plugin named {plugin} is installed (see `qbridge plugin list`)"
        )));
    }
    Ok(versions.into_iter().map(|v| v.manifest).collect())
}

/// The templates of every manifest given that `key` completes.
fn templates_of(manifests: &[Manifest], key: &str) -> Vec<HostTemplate> {
    let mut out: Vec<HostTemplate> = Vec::new();
    for t in manifests.iter().flat_map(plugin_config::templates) {
        if t.key == key && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The audit target of a value.
fn target(plugin: &str, key: &str, connection: Option<i64>) -> String {
    match connection {
        Some(c) => format!("plugin:{plugin}/config/{key}@connection:{c}"),
        None => format!("plugin:{plugin}/config/{key}"),
    }
}

/// Sets `key` of `plugin` for `connection` (or plugin-wide) to `value`; `who` carries the
/// audit row's actor, address and agent. Returns the hosts the value completes, which the
/// audit row names too: setting such a value is the approval of those hosts.
pub fn set(
    store: &Store,
    plugin: &str,
    key: &str,
    connection: Option<i64>,
    value: &str,
    who: AuditEntry,
) -> Result<Vec<String>, ConfigError> {
    let manifests = manifests(store, plugin)?;
    if !manifests
        .iter()
        .any(|m| m.config.iter().any(|k| k.name == key))
    {
        let declared: Vec<&str> = manifests[0]
            .config
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        return Err(ConfigError::Invalid(format!(
            "plugin {plugin} declares no config key {key:?} (declared: {})",
            if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            }
        )));
    }
    plugin_config::check_value(value).map_err(ConfigError::Invalid)?;
    let templates = templates_of(&manifests, key);
    if !templates.is_empty() {
        plugin_config::check_host_value(key, value).map_err(ConfigError::Invalid)?;
    }
    let mut hosts = Vec::new();
    for t in &templates {
        hosts.push(t.resolve(value).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{value:?} does not complete {} to a valid host name (its first label would be longer than 63 characters or end with '-')",
                t.text
            ))
        })?);
    }
    let audit = AuditEntry {
        action: "plugin.config.set".into(),
        target: target(plugin, key, connection),
        detail: serde_json::json!({
            "value": value,
            "connection_id": connection,
            "hosts": hosts,
        }),
        ..who
    };
    store.set_plugin_config(plugin, key, connection, value, &audit)?;
    Ok(hosts)
}

/// Removes the value of `key` of `plugin` for `connection` (or the plugin-wide one).
pub fn unset(
    store: &Store,
    plugin: &str,
    key: &str,
    connection: Option<i64>,
    who: AuditEntry,
) -> Result<(), ConfigError> {
    let audit = AuditEntry {
        action: "plugin.config.unset".into(),
        target: target(plugin, key, connection),
        detail: serde_json::json!({ "connection_id": connection }),
        ..who
    };
    store
        .unset_plugin_config(plugin, key, connection, &audit)
        .map_err(|e| match e {
            StoreError::NotFound(m) => ConfigError::NotFound(m),
            other => other.into(),
        })
}

/// The keys of `plugin` and the values set; with `only` (a caller fenced to one connection)
/// the plugin-wide values and that connection's only.
pub fn view(store: &Store, plugin: &str, only: Option<i64>) -> Result<ConfigView, ConfigError> {
    let manifests = manifests(store, plugin)?;
    let names: std::collections::HashMap<i64, String> = store
        .connections()?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let keys = manifests[0]
        .config
        .iter()
        .map(|k| KeyView {
            name: k.name.clone(),
            description: k.description.clone(),
            required: k.required,
            default_value: k.default_value.clone(),
            host_templates: templates_of(&manifests[..1], &k.name)
                .into_iter()
                .map(|t| t.text)
                .collect(),
        })
        .collect();
    let values = store
        .plugin_config_values(plugin)?
        .into_iter()
        .filter(|v| only.is_none() || v.connection_id.is_none() || v.connection_id == only)
        .map(|v| ValueView {
            hosts: templates_of(&manifests, &v.name)
                .iter()
                .filter_map(|t| t.resolve(&v.value))
                .collect(),
            connection: v
                .connection_id
                .map(|id| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))),
            name: v.name,
            value: v.value,
            set_by: v.set_by,
            set_at: v.set_at,
        })
        .collect();
    Ok(ConfigView {
        plugin: plugin.to_string(),
        keys,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewPluginVersion, StoreOptions};

    fn install(store: &Store, manifest: &Manifest, status: PluginStatus) {
        store
            .plugin_add_version(
                &NewPluginVersion {
                    manifest,
                    sha256: &manifest.version,
                    wasm: b"\0asm",
                    installed_by: "cli:test",
                    status,
                    replace_content: false,
                },
                &AuditEntry {
                    actor: "cli:test".into(),
                    action: "plugin.install".into(),
                    ..Default::default()
                },
            )
            .unwrap();
    }

    fn who() -> AuditEntry {
        AuditEntry {
            actor: "cli:test".into(),
            ..Default::default()
        }
    }

    #[test]
    fn keys_of_a_staged_version_can_be_set_before_it_is_approved() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data"), StoreOptions::default()).unwrap();
        let err = set(&store, "echo", "tenant", None, "acme", who()).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound(_)), "{err}");
        let v1 = Manifest::new("echo", "1.0.0", "Test").config_key("label", "", false, None);
        install(&store, &v1, PluginStatus::Active);
        let err = set(&store, "echo", "tenant", None, "acme", who()).unwrap_err();
        assert!(err.to_string().contains("declared: label"), "{err}");
        let v2 = v1
            .clone()
            .config_key("tenant", "", true, None)
            .allowed_hosts(&["{tenant}.echo.test"]);
        let v2 = Manifest {
            version: "2.0.0".into(),
            ..v2
        };
        install(&store, &v2, PluginStatus::Staged);
        // The staged version's template makes `tenant` a host: a DNS label only.
        let err = set(&store, "echo", "tenant", None, "a.evil.test", who()).unwrap_err();
        assert!(err.to_string().contains("one DNS label"), "{err}");
        assert_eq!(
            set(&store, "echo", "tenant", Some(3), "acme", who()).unwrap(),
            ["acme.echo.test"]
        );
        assert!(
            set(&store, "echo", "label", None, "Any text, spaces too", who())
                .unwrap()
                .is_empty()
        );
        set(&store, "echo", "label", Some(4), "Other", who()).unwrap();
        // Keys listed are the running version's; a fenced view keeps plugin-wide and its own.
        let view = view(&store, "echo", Some(3)).unwrap();
        assert_eq!(view.keys.len(), 1);
        let values: Vec<(&str, Option<&str>)> = view
            .values
            .iter()
            .map(|v| (v.name.as_str(), v.connection.as_deref()))
            .collect();
        assert_eq!(values, [("label", None), ("tenant", Some("#3"))]);
        assert_eq!(view.values[1].hosts, ["acme.echo.test"]);
        let err = unset(&store, "echo", "tenant", None, who()).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound(_)), "{err}");
        unset(&store, "echo", "tenant", Some(3), who()).unwrap();
    }
}
