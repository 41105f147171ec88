//! Plugin configuration values (`plugin_config`): what an admin gave the `config` keys a
//! plugin declares, plugin-wide or for one connection. Which keys exist and which values are
//! acceptable is `plugins::plugin_config`'s business; this module stores them, one audit row
//! per change in the same transaction.

use crate::store::sql::{OptionalExt, params};

use super::audit::{AuditEntry, append_in, now_ms};
use super::{Store, StoreError};

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigValue {
    /// The key.
    pub name: String,
    /// The connection it is for; `None`: plugin-wide (every connection without its own).
    pub connection_id: Option<i64>,
    /// The value.
    pub value: String,
    /// Who set it.
    pub set_by: String,
    /// When (ms since the epoch).
    pub set_at: i64,
}

/// The `connection_id` column: 0 stands for "every connection".
fn slot(connection: Option<i64>) -> i64 {
    connection.unwrap_or(0)
}

impl Store {
    /// Stores (or replaces) a value and appends `audit` in the same transaction.
    pub fn set_plugin_config(
        &self,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
        value: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO plugin_config(plugin, connection_id, name, value, set_by, set_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(plugin, name, connection_id) DO UPDATE SET value=excluded.value,
                   set_by=excluded.set_by, set_at=excluded.set_at",
                params![plugin, slot(connection), name, value, audit.actor, now_ms()],
            )?;
            append_in(tx, audit)?;
            Ok(())
        })
    }

    /// Removes a value and appends `audit`; `NotFound` when there is none.
    pub fn unset_plugin_config(
        &self,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM plugin_config WHERE plugin=?1 AND name=?2 AND connection_id=?3",
                params![plugin, name, slot(connection)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "no value of {name} is set for plugin {plugin}{}",
                    if connection.is_some() {
                        " and that connection"
                    } else {
                        " plugin-wide"
                    }
                )));
            }
            append_in(tx, audit)?;
            Ok(())
        })
    }

    /// Every value of `plugin`, by key then connection (plugin-wide first).
    pub fn plugin_config_values(&self, plugin: &str) -> Result<Vec<ConfigValue>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT name, connection_id, value, set_by, set_at FROM plugin_config
                 WHERE plugin=?1 ORDER BY name, connection_id",
            )?;
            let rows = stmt
                .query_map([plugin], |r| {
                    let slot: i64 = r.get(1)?;
                    Ok(ConfigValue {
                        name: r.get(0)?,
                        connection_id: (slot != 0).then_some(slot),
                        value: r.get(2)?,
                        set_by: r.get(3)?,
                        set_at: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// The value of `name` a call for `connection` sees: the connection's own, else the
    /// plugin-wide one.
    pub fn plugin_config_value(
        &self,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
    ) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT value FROM plugin_config
                 WHERE plugin=?1 AND name=?2 AND connection_id IN (?3, 0)
                 ORDER BY connection_id DESC LIMIT 1",
                params![plugin, name, slot(connection)],
                |r| r.get(0),
            )
            .optional()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(action: &str) -> AuditEntry {
        AuditEntry {
            actor: "cli:test".into(),
            action: action.into(),
            target: "plugin:echo/config/tenant".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_connections_own_value_wins_over_the_plugin_wide_one_and_each_change_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(&dir.path().join("data"));
        let set = audit("plugin.config.set");
        s.set_plugin_config("echo", "tenant", None, "globex", &set)
            .unwrap();
        s.set_plugin_config("echo", "tenant", Some(7), "acme", &set)
            .unwrap();
        let value = |c| s.plugin_config_value("echo", "tenant", c).unwrap();
        assert_eq!(value(Some(7)).as_deref(), Some("acme"));
        assert_eq!(value(Some(8)).as_deref(), Some("globex"));
        assert_eq!(value(None).as_deref(), Some("globex"));
        s.set_plugin_config("echo", "tenant", Some(7), "initech", &set)
            .unwrap();
        assert_eq!(value(Some(7)).as_deref(), Some("initech"));
        let unset = audit("plugin.config.unset");
        s.unset_plugin_config("echo", "tenant", None, &unset)
            .unwrap();
        assert_eq!(value(Some(8)), None);
        assert!(matches!(
            s.unset_plugin_config("echo", "tenant", None, &unset),
            Err(StoreError::NotFound(_))
        ));
        let rows = s.plugin_config_values("echo").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].connection_id, rows[0].value.as_str()),
            (Some(7), "initech")
        );
        assert_eq!(
            s.plugin_config_value("other", "tenant", Some(7)).unwrap(),
            None
        );
        let actions: Vec<String> = s
            .audit_rows(0, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.entry.action)
            .filter(|a| a.starts_with("plugin.config"))
            .collect();
        assert_eq!(actions.len(), 4, "{actions:?}");
    }
}
