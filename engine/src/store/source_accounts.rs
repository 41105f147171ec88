//! Source accounts: which account at the source (a Ramp business, an Autotask tenant) a
//! connection's schedule pulls, told apart without reading or keeping any secret in clear.
//!
//! A source account is the plugin plus the secrets its calls would use for that connection,
//! resolved as the plugin host resolves them (the connection's own secret, else the
//! plugin-wide one). Two schedules whose resolved secrets are the same pull the same records,
//! and each company file would receive every one of them — the mistake the shared-account
//! guard stops (`schedule add` refuses it unless confirmed). An OAuth2 grant counts by its
//! token URL and client id (the client secret may be rotated on one side only and still open
//! the same account); a plain value by itself. Fingerprints are keyed with a random key that
//! lives only for one comparison, so nothing derived from a secret outlives the call.

use std::collections::BTreeMap;

use super::secrets::{Secret, SecretError, SecretKey};
use super::{Store, StoreError};
use crate::crypto::hmac_sha256;

/// Connections whose schedules of one plugin pull the same source account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedAccount {
    /// The plugin that pulls.
    pub plugin: String,
    /// The connections (two or more) as `(name, id)`, sorted by name.
    pub connections: Vec<(String, i64)>,
}

impl SharedAccount {
    /// One line for `qbridge status` and the schedules listing.
    pub fn warning(&self) -> String {
        format!(
            "{} pull the same {} account (the same secrets resolve for each): every record of it goes to each of their company files",
            self.connections
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(" and "),
            self.plugin
        )
    }
}

/// The refusal of a schedule that would pull the same account as `others`' schedules;
/// `confirm` says how to confirm (a CLI flag or a JSON field).
pub fn shared_account_refusal(
    plugin: &str,
    connection: &str,
    others: &[String],
    confirm: &str,
) -> String {
    format!(
        "{plugin} for {connection} would pull the same source account as the {plugin} schedule of {} (the same secrets resolve for both), so both company files would receive the same records. Give {connection} its own secret (`qbridge secret set {plugin} NAME --connection {connection}`), or, if both company files really should receive that account's records, confirm with {confirm}",
        others.join(" and ")
    )
}

/// A keyed fingerprint of an account; only comparable with others made with the same key.
type Fingerprint = [u8; 32];

impl Store {
    /// Names of the connections, other than `connection_id`, whose schedule of `plugin` pulls
    /// the same source account as a schedule of `plugin` for `connection_id` would. Empty
    /// when the connection resolves no secret of the plugin (no account to compare).
    pub fn connections_sharing_account(
        &self,
        key: &SecretKey,
        plugin: &str,
        connection_id: i64,
    ) -> Result<Vec<String>, SecretError> {
        let salt = fresh_salt()?;
        let names = self.secret_names_of(plugin)?;
        let Some(mine) = self.account_of(key, plugin, &names, connection_id, &salt)? else {
            return Ok(Vec::new());
        };
        let mut others = Vec::new();
        for s in self.schedules()? {
            if s.plugin != plugin || s.connection_id == connection_id {
                continue;
            }
            if self.account_of(key, plugin, &names, s.connection_id, &salt)? == Some(mine) {
                others.push(self.name_of(s.connection_id)?);
            }
        }
        others.sort();
        Ok(others)
    }

    /// Every source account that two or more connections' schedules pull — whether confirmed
    /// when scheduled or come about since, through a secret set or deleted later.
    pub fn shared_source_accounts(
        &self,
        key: &SecretKey,
    ) -> Result<Vec<SharedAccount>, SecretError> {
        let salt = fresh_salt()?;
        let mut groups: BTreeMap<(String, Fingerprint), Vec<(String, i64)>> = BTreeMap::new();
        let mut names_by_plugin: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in self.schedules()? {
            if !names_by_plugin.contains_key(&s.plugin) {
                let names = self.secret_names_of(&s.plugin)?;
                names_by_plugin.insert(s.plugin.clone(), names);
            }
            let names = &names_by_plugin[&s.plugin];
            if let Some(account) = self.account_of(key, &s.plugin, names, s.connection_id, &salt)? {
                groups
                    .entry((s.plugin.clone(), account))
                    .or_default()
                    .push((self.name_of(s.connection_id)?, s.connection_id));
            }
        }
        Ok(groups
            .into_iter()
            .filter(|(_, connections)| connections.len() > 1)
            .map(|((plugin, _), mut connections)| {
                connections.sort();
                SharedAccount {
                    plugin,
                    connections,
                }
            })
            .collect())
    }

    /// A connection's name (its id, should the row be gone).
    fn name_of(&self, id: i64) -> Result<String, StoreError> {
        Ok(self
            .connection_name(id)?
            .unwrap_or_else(|| format!("connection {id}")))
    }

    /// The names of every secret stored for `plugin`, for any connection or plugin-wide.
    fn secret_names_of(&self, plugin: &str) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT DISTINCT name FROM secret WHERE plugin=?1 ORDER BY name")?;
            let names = stmt
                .query_map([plugin], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
    }

    /// The fingerprint of what `names` resolve to for `connection_id`; `None` when none of
    /// them resolves, or one does not open with the key (its pull fails anyway, and saying
    /// so is the secrets page's job).
    fn account_of(
        &self,
        key: &SecretKey,
        plugin: &str,
        names: &[String],
        connection_id: i64,
        salt: &[u8],
    ) -> Result<Option<Fingerprint>, SecretError> {
        let mut fields: Vec<Vec<u8>> = vec![plugin.as_bytes().to_vec()];
        let mut resolved_any = false;
        for name in names {
            fields.push(name.as_bytes().to_vec());
            match self.secret(key, plugin, name, Some(connection_id)) {
                Ok(Some(Secret::Value(v))) => {
                    resolved_any = true;
                    fields.push(b"value".to_vec());
                    fields.push(v.0.into_bytes());
                }
                Ok(Some(Secret::Oauth2ClientCredentials(grant))) => {
                    resolved_any = true;
                    fields.push(b"oauth2-client-credentials".to_vec());
                    fields.push(grant.token_url.into_bytes());
                    fields.push(grant.client_id.into_bytes());
                }
                Ok(None) => fields.push(b"unset".to_vec()),
                Err(SecretError::Undecryptable { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        if !resolved_any {
            return Ok(None);
        }
        // Length-prefixed, so no two different field lists hash the same bytes.
        let prefixed: Vec<Vec<u8>> = fields
            .iter()
            .flat_map(|f| [(f.len() as u64).to_be_bytes().to_vec(), f.clone()])
            .collect();
        let parts: Vec<&[u8]> = prefixed.iter().map(Vec::as_slice).collect();
        Ok(Some(hmac_sha256(salt, &parts)))
    }
}

/// A random key for one comparison's fingerprints.
fn fresh_salt() -> Result<[u8; 32], SecretError> {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| SecretError::Seal(e.to_string()))?;
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::Redacted;
    use crate::store::secrets::ClientCredentials;

    fn grant(client_id: &str, client_secret: &str) -> ClientCredentials {
        ClientCredentials {
            token_url: "https://api.ramp.com/developer/v1/token".into(),
            client_id: client_id.into(),
            client_secret: Redacted(client_secret.into()),
            scope: None,
        }
    }

    #[test]
    fn the_same_resolved_secrets_are_the_same_account_whoever_holds_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        let key = SecretKey::open(&dir.path().join("secrets.key")).unwrap();
        let acme = s.add_connection("acme", "{A}", "", "t").unwrap().id;
        let globex = s.add_connection("globex", "{G}", "", "t").unwrap().id;
        let name = "ramp.access_token";
        // No secret at all: no account to compare.
        s.add_schedule(acme, "ramp", "0 0 1 1 *", "UTC", None, None, &[], "t")
            .unwrap();
        assert!(
            s.connections_sharing_account(&key, "ramp", globex)
                .unwrap()
                .is_empty()
        );
        // Both fall back to the plugin-wide grant.
        s.set_secret_grant(&key, "ramp", name, None, &grant("firm", "x"), "t")
            .unwrap();
        assert_eq!(
            s.connections_sharing_account(&key, "ramp", globex).unwrap(),
            ["acme"]
        );
        // globex's own grant with another client is another account; the same client with a
        // rotated secret is still the same one.
        s.set_secret_grant(&key, "ramp", name, Some(globex), &grant("globex", "y"), "t")
            .unwrap();
        assert!(
            s.connections_sharing_account(&key, "ramp", globex)
                .unwrap()
                .is_empty()
        );
        s.set_secret_grant(
            &key,
            "ramp",
            name,
            Some(globex),
            &grant("firm", "rotated"),
            "t",
        )
        .unwrap();
        assert_eq!(
            s.connections_sharing_account(&key, "ramp", globex).unwrap(),
            ["acme"]
        );
        assert!(
            s.shared_source_accounts(&key).unwrap().is_empty(),
            "globex has no schedule yet"
        );
        s.add_schedule(
            globex,
            "ramp",
            "0 0 1 1 *",
            "UTC",
            None,
            None,
            &["acme".into()],
            "t",
        )
        .unwrap();
        let shared = s.shared_source_accounts(&key).unwrap();
        assert_eq!(shared.len(), 1);
        assert_eq!(
            shared[0].warning().split(" pull").next(),
            Some("acme and globex")
        );
        // Plain values count by value.
        s.set_secret(&key, "ramp", "extra", Some(acme), "one", "t")
            .unwrap();
        assert!(s.shared_source_accounts(&key).unwrap().is_empty());
    }
}
