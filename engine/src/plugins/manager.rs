//! [`PluginManager`]: the registry of running plugins, shared by the server and the CLI.
//!
//! Hot swap: a new version is prepared completely off the hot path — compiled (or loaded
//! from the cache), linked (`instantiate_pre`), its `manifest()` called in a throwaway
//! instance and checked, its permissions compared with the running version's — and only then
//! published with one atomic pointer store. Callers never take a lock: each call loads the
//! current generation once and finishes on it, so calls in flight complete on the old
//! version while new calls start on the new one, and no call fails because of a swap.
//!
//! A version that declares more request types, hosts or secrets than the running one is
//! *staged* and runs only after [`PluginManager::approve`]. Install, stage, approve,
//! rollback and remove each write an audit row in the same transaction as the change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use qbridge_sdk::{Manifest, MapError, Request};

use super::host::{Generation, Label, Limits, PluginHost, sha256_hex};
use super::http::{HttpPolicy, SecretSource, SourceHttp};
use super::interface::PulledPage;
use super::pool::{CallPermit, CallPool};
use super::{PluginError, SUPPORTED_INTERFACES, bundled, output};
use crate::config::Config;
use crate::metrics::PluginFunction;
use crate::store::audit::AuditEntry;
use crate::store::{NewPluginVersion, PluginStatus, PluginVersion, Store};

/// Largest component accepted for install.
const MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;
/// Largest record passed to `map`, and response passed to `on_response`.
const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;
/// Actor recorded for plugins the binary ships.
const BUNDLED_ACTOR: &str = "qbridge (bundled plugin)";

/// What installing a component did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The version runs now; `replaced` is the version it replaced.
    Activated {
        name: String,
        version: String,
        replaced: Option<String>,
    },
    /// The version asks for more than the running one; it waits for `approve`.
    Staged {
        name: String,
        version: String,
        escalation: Escalation,
    },
    /// Exactly this component already runs.
    AlreadyActive { name: String, version: String },
    /// A `-dev` build replaced its version in place (`install --dev`) and runs now; what it
    /// asks for beyond the running version was approved with the install.
    DevInstalled {
        name: String,
        version: String,
        replaced: Option<String>,
        approved: Escalation,
    },
}

/// What a new version asks for beyond the running version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Escalation {
    /// Request types not declared before.
    pub request_types: Vec<String>,
    /// Hosts not declared before.
    pub allowed_hosts: Vec<String>,
    /// Secrets not declared before.
    pub secrets: Vec<String>,
}

impl Escalation {
    /// What `new` declares that `running` does not.
    pub(crate) fn between(running: &Manifest, new: &Manifest) -> Escalation {
        let added = |old: &[String], new: &[String]| -> Vec<String> {
            new.iter().filter(|x| !old.contains(x)).cloned().collect()
        };
        Escalation {
            request_types: added(&running.request_types, &new.request_types),
            allowed_hosts: added(&running.allowed_hosts, &new.allowed_hosts),
            secrets: added(&running.secrets, &new.secrets),
        }
    }

    /// True when nothing new is asked for.
    pub fn is_empty(&self) -> bool {
        self.request_types.is_empty() && self.allowed_hosts.is_empty() && self.secrets.is_empty()
    }
}

impl std::fmt::Display for Escalation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (what, list) in [
            ("request types", &self.request_types),
            ("hosts", &self.allowed_hosts),
            ("secrets", &self.secrets),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what} {}", list.join(", ")));
            }
        }
        f.write_str(&parts.join("; "))
    }
}

/// The running plugins and the registry behind them. Cheap to share (`Arc`), safe to call
/// from many threads; calls are synchronous and belong on blocking threads.
pub struct PluginManager {
    host: PluginHost,
    store: Store,
    http: Arc<SourceHttp>,
    trusted_keys: Vec<minisign_verify::PublicKey>,
    /// name → running generation; replaced wholesale on every change (readers never lock).
    active: ArcSwap<HashMap<String, Arc<Generation>>>,
    /// Serialises registry changes (install, approve, rollback, remove).
    admin: Mutex<()>,
    /// Bounds concurrent `map` and `on_response` calls to the CPUs (see `pool.rs`). Pulls and
    /// acknowledgements wait on the network, not the CPU, and come one at a time from their
    /// background loops, so they do not take permits.
    pool: CallPool,
}

impl PluginManager {
    /// Opens the plugins of the store's data dir with the configured limits and keys, loads
    /// every active version, and installs or upgrades the plugins bundled in the binary.
    pub fn open(store: Store, config: &Config) -> Result<PluginManager, PluginError> {
        let secrets = super::http::StoredSecrets::new(store.clone(), config.secrets_key_path());
        Self::open_with(store, config, Arc::new(secrets))
    }

    /// [`open`](Self::open) with a source for plugin secrets (requests still go through the
    /// configured `source_endpoints`).
    pub fn open_with(
        store: Store,
        config: &Config,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<PluginManager, PluginError> {
        let manager = Self::empty(store, config, secrets)?;
        manager.load_active()?;
        manager.install_bundled();
        Ok(manager)
    }

    /// A manager running nothing: no stored version is loaded and no bundled plugin is
    /// installed. `plugin check` installs only the component under test into it, on a
    /// scratch store, with the real host, limits and output checks.
    pub(crate) fn empty(
        store: Store,
        config: &Config,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<PluginManager, PluginError> {
        let limits = Limits {
            memory_bytes: config.plugin_memory_limit_mb * 1024 * 1024,
            call_timeout: config.plugin_call_timeout,
        };
        let trusted_keys = config
            .plugin_trusted_keys
            .iter()
            .map(|k| {
                minisign_verify::PublicKey::from_base64(k).map_err(|e| {
                    PluginError::Signature(format!(
                        "plugins.trusted_keys entry {k:?} is not a minisign public key: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PluginManager {
            host: PluginHost::new(config.data_dir.join("plugin-cache"), store.clone(), limits)?,
            http: Arc::new(SourceHttp::new(
                secrets,
                Arc::new(super::plugin_config::StoredConfig(store.clone())),
                config.source_endpoints.clone(),
            )),
            store,
            trusted_keys,
            active: ArcSwap::from_pointee(HashMap::new()),
            admin: Mutex::new(()),
            pool: CallPool::per_cpu(),
        })
    }

    fn load_active(&self) -> Result<(), PluginError> {
        let mut map = HashMap::new();
        for v in self.store.plugin_versions(None)? {
            if v.status != PluginStatus::Active {
                continue;
            }
            // One broken plugin must not keep the others (or the engine) from running.
            match self.prepare_stored(&v.name, &v.version) {
                Ok(generation) => {
                    map.insert(v.name.clone(), Arc::new(generation));
                }
                Err(e) => {
                    tracing::error!(plugin = %v.name, version = %v.version, error = %e, "cannot load plugin; it stays inactive")
                }
            }
        }
        self.active.store(Arc::new(map));
        Ok(())
    }

    /// Catches up with changes other nodes made to the registry (installs, approvals, hot
    /// swaps, rollbacks, removals): every active version whose component differs from the
    /// running one is prepared and swapped in as a local hot swap would be, so a call in
    /// flight finishes on the version it started with and none fails. Returns how many
    /// plugins changed. On one node nothing ever differs; a cluster polls this every few
    /// seconds.
    pub fn sync_with_store(&self) -> Result<usize, PluginError> {
        let _guard = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let running = self.active.load_full();
        let mut next = HashMap::new();
        let mut changed = 0;
        for v in self.store.plugin_versions(None)? {
            if v.status != PluginStatus::Active {
                continue;
            }
            match running.get(&v.name) {
                Some(g) if g.sha256 == v.sha256 => {
                    next.insert(v.name.clone(), g.clone());
                }
                current => match self.prepare_stored(&v.name, &v.version) {
                    Ok(generation) => {
                        tracing::info!(plugin = %v.name, version = %v.version, "plugin changed on another node; now running it here");
                        next.insert(v.name.clone(), Arc::new(generation));
                        changed += 1;
                    }
                    Err(e) => {
                        // Keep what runs rather than stop the plugin on this node only.
                        tracing::error!(plugin = %v.name, version = %v.version, error = %e, "cannot load the plugin version another node activated; keeping the running one");
                        if let Some(g) = current {
                            next.insert(v.name.clone(), g.clone());
                        }
                    }
                },
            }
        }
        changed += running.keys().filter(|n| !next.contains_key(*n)).count();
        if changed > 0 {
            self.active.store(Arc::new(next));
        }
        Ok(changed)
    }

    /// Installs bundled plugins that are missing, and upgrades those the binary ships newer.
    /// A plugin the admin removed stays removed.
    fn install_bundled(&self) {
        for (file, wasm) in bundled::PLUGINS {
            let result = self.prepare(wasm).and_then(|generation| {
                let m = &generation.manifest;
                let known = self.store.plugin_versions(Some(&m.name))?;
                let wanted = match known.iter().find(|v| v.status == PluginStatus::Active) {
                    None => known.is_empty(),
                    Some(active) => {
                        output::is_newer(&m.version, &active.version)
                            && !known.iter().any(|v| v.version == m.version)
                    }
                };
                if wanted {
                    let outcome = self.install_prepared(generation, wasm, BUNDLED_ACTOR, false)?;
                    tracing::info!(?outcome, "bundled plugin installed");
                }
                Ok(())
            });
            if let Err(e) = result {
                tracing::error!(file, error = %e, "cannot install bundled plugin");
            }
        }
    }

    /// Installs a component. With `plugins.trusted_keys` configured, `signature` (the text
    /// of a minisign `.minisig` file) must verify against one of them.
    pub fn install(
        &self,
        wasm: &[u8],
        signature: Option<&str>,
        actor: &str,
    ) -> Result<InstallOutcome, PluginError> {
        self.verify_signature(wasm, signature)?;
        let generation = self.prepare(wasm)?;
        self.install_prepared(generation, wasm, actor, false)
    }

    /// The author's dev loop: installs a build whose version has a `-dev` pre-release
    /// (`0.1.0-dev`), replacing an earlier build of the same version in place, so no version
    /// bump is needed between builds. It activates at once; permission growth is reported in
    /// the outcome and the audit row as approved with the install. Callers offer this only to
    /// the admin scope and the local CLI, which could approve the growth themselves.
    pub fn install_dev(
        &self,
        wasm: &[u8],
        signature: Option<&str>,
        actor: &str,
    ) -> Result<InstallOutcome, PluginError> {
        self.verify_signature(wasm, signature)?;
        let generation = self.prepare(wasm)?;
        let version = &generation.manifest.version;
        if !output::is_dev_version(version) {
            return Err(PluginError::Invalid(format!(
                "--dev installs only a development build, whose version has a `-dev` pre-release (e.g. 0.1.0-dev); this component is version {version}. Set `version = \"{}\"` in its manifest for the dev loop, or install it without --dev",
                output::dev_version_of(version)
            )));
        }
        self.install_prepared(generation, wasm, actor, true)
    }

    fn install_prepared(
        &self,
        generation: Generation,
        wasm: &[u8],
        actor: &str,
        dev: bool,
    ) -> Result<InstallOutcome, PluginError> {
        let _guard = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let m = generation.manifest.clone();
        let running = self.active.load().get(&m.name).cloned();
        if let Some(r) = &running
            && r.sha256 == generation.sha256
        {
            return Ok(InstallOutcome::AlreadyActive {
                name: m.name,
                version: m.version,
            });
        }
        let escalation = running
            .as_ref()
            .map(|r| Escalation::between(&r.manifest, &m))
            .unwrap_or_default();
        let staged = !dev && !escalation.is_empty();
        let status = if staged {
            PluginStatus::Staged
        } else {
            PluginStatus::Active
        };
        let audit = AuditEntry {
            actor: actor.to_string(),
            action: if dev {
                "plugin.install_dev"
            } else if staged {
                "plugin.stage"
            } else {
                "plugin.install"
            }
            .to_string(),
            target: format!("plugin:{}@{}", m.name, m.version),
            detail: serde_json::json!({
                "sha256": generation.sha256,
                "request_types": m.request_types,
                "allowed_hosts": m.allowed_hosts,
                "secrets": m.secrets,
                "replaces": running.as_ref().map(|r| r.manifest.version.clone()),
                "escalation": escalation.to_string(),
                "dev": dev,
                // A dev install approves its own permission growth; the row says so.
                "escalation_auto_approved": dev && !escalation.is_empty(),
            }),
            ip: None,
            user_agent: None,
        };
        self.store.plugin_add_version(
            &NewPluginVersion {
                manifest: &m,
                sha256: &generation.sha256,
                wasm,
                installed_by: actor,
                status,
                replace_content: dev,
            },
            &audit,
        )?;
        if staged {
            return Ok(InstallOutcome::Staged {
                name: m.name,
                version: m.version,
                escalation,
            });
        }
        self.publish(generation);
        let replaced = running.map(|r| r.manifest.version.clone());
        Ok(if dev {
            InstallOutcome::DevInstalled {
                name: m.name,
                version: m.version,
                replaced,
                approved: escalation,
            }
        } else {
            InstallOutcome::Activated {
                name: m.name,
                version: m.version,
                replaced,
            }
        })
    }

    /// Approves a staged version: it becomes the running version.
    pub fn approve(&self, name: &str, version: &str, actor: &str) -> Result<(), PluginError> {
        let _guard = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let row = self.version_row(name, version)?;
        if row.status != PluginStatus::Staged {
            return Err(PluginError::NotFound(format!(
                "plugin {name} {version} is {}, not staged; only staged versions need approval",
                row.status
            )));
        }
        self.activate(row, Some(actor), "plugin.approve", actor)
    }

    /// Goes back to the most recent previous version of `name`.
    pub fn rollback(&self, name: &str, actor: &str) -> Result<String, PluginError> {
        let _guard = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let previous = self
            .store
            .plugin_versions(Some(name))?
            .into_iter()
            .rfind(|v| v.status == PluginStatus::Previous)
            .ok_or_else(|| {
                PluginError::NotFound(format!(
                    "plugin {name} has no previous version to roll back to (see `qbridge plugin list`)"
                ))
            })?;
        let version = previous.version.clone();
        self.activate(previous, None, "plugin.rollback", actor)?;
        Ok(version)
    }

    fn activate(
        &self,
        row: PluginVersion,
        approved_by: Option<&str>,
        action: &str,
        actor: &str,
    ) -> Result<(), PluginError> {
        let generation = self.prepare_stored(&row.name, &row.version)?;
        let running = self
            .active
            .load()
            .get(&row.name)
            .map(|g| g.manifest.version.clone());
        let audit = AuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            target: format!("plugin:{}@{}", row.name, row.version),
            detail: serde_json::json!({
                "sha256": row.sha256,
                "request_types": row.manifest.request_types,
                "replaces": running,
            }),
            ip: None,
            user_agent: None,
        };
        self.store
            .plugin_activate(&row.name, &row.version, approved_by, &audit)?;
        self.publish(generation);
        Ok(())
    }

    /// Removes a plugin: it stops running; its versions stay in the registry as removed.
    pub fn remove(&self, name: &str, actor: &str) -> Result<(), PluginError> {
        let _guard = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let audit = AuditEntry {
            actor: actor.to_string(),
            action: "plugin.remove".into(),
            target: format!("plugin:{name}"),
            detail: serde_json::json!({}),
            ip: None,
            user_agent: None,
        };
        self.store
            .plugin_remove(name, &audit)
            .map_err(|e| match e {
                crate::store::StoreError::NotFound(_) => {
                    PluginError::NotFound(format!("no plugin named {name} is installed"))
                }
                other => other.into(),
            })?;
        let mut map = HashMap::clone(&self.active.load());
        map.remove(name);
        self.active.store(Arc::new(map));
        Ok(())
    }

    /// Every installed version, by plugin name then install order.
    pub fn list(&self) -> Result<Vec<PluginVersion>, PluginError> {
        Ok(self.store.plugin_versions(None)?)
    }

    /// The manifest of the running version of `name`.
    pub fn manifest(&self, name: &str) -> Option<Manifest> {
        self.active.load().get(name).map(|g| g.manifest.clone())
    }

    /// Maps one record with the running version of plugin `name`. The outer error is a
    /// plugin failure (crash, limit, invalid output); the inner one the plugin's verdict that
    /// the record cannot be mapped.
    ///
    /// Every call says which connection (company file) it is for: a plugin's `fetch` uses
    /// that connection's own source secrets, else the plugin-wide ones.
    pub fn map(
        &self,
        name: &str,
        connection: Option<i64>,
        kind: &str,
        record_json: &str,
    ) -> Result<Result<Vec<Request>, MapError>, PluginError> {
        if record_json.len() > MAX_INPUT_BYTES {
            return Ok(Err(MapError::new(format!(
                "the record is {} bytes; at most {MAX_INPUT_BYTES} are accepted",
                record_json.len()
            ))));
        }
        let generation = self.generation(name)?;
        let _permit = self.pool.enter();
        timed(name, PluginFunction::Map, || {
            let out = generation.with_instance(
                &self.host,
                self.host.limits.call_timeout,
                connection,
                |i, s| i.map(s, kind, record_json),
            )?;
            if let Ok(requests) = &out {
                output::check_requests(&generation.manifest, requests)?;
            }
            Ok(out)
        })
    }

    /// A plugin-call permit now, or `None` when as many calls run as there are CPUs. The
    /// ingest route reserves one before it takes a blocking thread, and binds it there
    /// ([`CallPermit::bind`]) so the `map` it makes runs under it.
    pub fn try_reserve_call(&self) -> Option<CallPermit> {
        self.pool.try_reserve()
    }

    /// How many plugin calls may run at once.
    pub fn call_pool_size(&self) -> usize {
        self.pool.size()
    }

    /// [`map`](Self::map) for async callers: runs on tokio's blocking pool, because a call
    /// may run up to the CPU deadline and must not stall the async workers.
    pub async fn map_blocking(
        self: Arc<Self>,
        name: String,
        connection: Option<i64>,
        kind: String,
        record_json: String,
    ) -> Result<Result<Vec<Request>, MapError>, PluginError> {
        tokio::task::spawn_blocking(move || self.map(&name, connection, &kind, &record_json))
            .await
            .map_err(|e| PluginError::Host(format!("plugin call task failed: {e}")))?
    }

    /// Follow-up requests after QuickBooks answered the request with `key`.
    pub fn on_response(
        &self,
        name: &str,
        connection: Option<i64>,
        key: &str,
        response_xml: &str,
    ) -> Result<Vec<Request>, PluginError> {
        let generation = self.generation(name)?;
        if response_xml.len() > MAX_INPUT_BYTES {
            return Err(PluginError::BadOutput {
                name: name.to_string(),
                version: generation.manifest.version.clone(),
                problem: format!("the response to {key} is too large to hand to the plugin"),
            });
        }
        let _permit = self.pool.enter();
        timed(name, PluginFunction::OnResponse, || {
            let requests = generation
                .with_instance(
                    &self.host,
                    self.host.limits.call_timeout,
                    connection,
                    |i, s| i.on_response(s, key, response_xml),
                )?
                .map_err(|message| PluginError::Failed {
                    name: name.to_string(),
                    version: generation.manifest.version.clone(),
                    message: message.chars().take(2000).collect(),
                })?;
            output::check_requests(&generation.manifest, &requests)?;
            Ok(requests)
        })
    }

    /// Pulls the next page of records. Pull waits on the network through the host, so its
    /// deadline is a minute rather than the per-record call timeout.
    pub fn pull(
        &self,
        name: &str,
        connection: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Result<PulledPage, String>, PluginError> {
        let generation = self.generation(name)?;
        // A required setting missing is the admin's to fix, not the plugin's to discover.
        let missing = generation.http.missing_required(connection);
        if !missing.is_empty() {
            return Ok(Err(format!(
                "plugin {name} needs the config key(s) {} set before it can pull{}: `qbridge plugin config {name} set KEY VALUE{}`",
                missing.join(", "),
                if connection.is_some() {
                    " for this connection"
                } else {
                    ""
                },
                if connection.is_some() {
                    " --connection NAME"
                } else {
                    ""
                },
            )));
        }
        timed(name, PluginFunction::Pull, || {
            generation.with_instance(&self.host, self.network_timeout(), connection, |i, s| {
                i.pull(s, cursor)
            })
        })
    }

    /// True when the running version of `name` acknowledges pulled records to its source.
    pub fn acknowledges(&self, name: &str) -> bool {
        self.generation(name)
            .is_ok_and(|g| g.manifest.supports_acknowledge)
    }

    /// Tells the source system that QuickBooks accepted request `key` made from the pulled
    /// record `record_json` of `kind`. The inner error is the plugin's (or the source's)
    /// reason to try again later. Like pull it waits on the network, so it gets pull's
    /// deadline.
    pub fn acknowledge(
        &self,
        name: &str,
        connection: Option<i64>,
        kind: &str,
        record_json: &str,
        key: &str,
        response_xml: &str,
    ) -> Result<Result<(), String>, PluginError> {
        let generation = self.generation(name)?;
        if record_json.len() > MAX_INPUT_BYTES || response_xml.len() > MAX_INPUT_BYTES {
            return Err(PluginError::BadOutput {
                name: name.to_string(),
                version: generation.manifest.version.clone(),
                problem: format!(
                    "the record or response of {key} is too large to hand to the plugin"
                ),
            });
        }
        timed(name, PluginFunction::Acknowledge, || {
            generation.with_instance(&self.host, self.network_timeout(), connection, |i, s| {
                i.acknowledge(s, kind, record_json, key, response_xml)
            })
        })
    }

    /// The deadline of calls that wait on the source system through the host.
    fn network_timeout(&self) -> std::time::Duration {
        self.host
            .limits
            .call_timeout
            .max(std::time::Duration::from_secs(60))
    }

    fn generation(&self, name: &str) -> Result<Arc<Generation>, PluginError> {
        let map = self.active.load();
        map.get(name).cloned().ok_or_else(|| {
            let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
            names.sort_unstable();
            PluginError::NotFound(format!(
                "no plugin named {name} is running (running: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
    }

    fn version_row(&self, name: &str, version: &str) -> Result<PluginVersion, PluginError> {
        self.store
            .plugin_versions(Some(name))?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                PluginError::NotFound(format!(
                    "plugin {name} version {version} is not installed (see `qbridge plugin list`)"
                ))
            })
    }

    /// Publishes a generation: the one atomic step of a swap.
    fn publish(&self, generation: Generation) {
        let mut map = HashMap::clone(&self.active.load());
        map.insert(generation.manifest.name.clone(), Arc::new(generation));
        self.active.store(Arc::new(map));
    }

    fn prepare_stored(&self, name: &str, version: &str) -> Result<Generation, PluginError> {
        let wasm = self.store.plugin_wasm(name, version)?;
        self.prepare(&wasm)
    }

    /// Compiles, links and asks the component for its manifest in a throwaway instance.
    fn prepare(&self, wasm: &[u8]) -> Result<Generation, PluginError> {
        if wasm.len() > MAX_COMPONENT_BYTES {
            return Err(PluginError::Invalid(format!(
                "the component is {} bytes; at most {MAX_COMPONENT_BYTES} are accepted",
                wasm.len()
            )));
        }
        let prepared = self.host.prepare(wasm)?;
        let installing = Manifest::new("new-plugin", "0.0.0", "");
        let label = Label {
            name: "(plugin being installed)".into(),
            version: "?".into(),
        };
        // The placeholder manifest allows no host, so nothing can be fetched during this call.
        let mut store = self
            .host
            .store(label, HttpPolicy::new(&installing, self.http.clone()));
        let timeout = self.host.limits.call_timeout;
        self.host.arm(&mut store, timeout, None);
        let manifest = prepared
            .instantiate(&mut store)
            .and_then(|instance| instance.manifest(&mut store))
            .map_err(|e| self.host.explain(&store, e, timeout))?;
        if !SUPPORTED_INTERFACES.contains(&manifest.interface_version.as_str()) {
            return Err(PluginError::UnsupportedInterface {
                found: manifest.interface_version,
            });
        }
        output::check_manifest(&manifest)?;
        let http = HttpPolicy::new(&manifest, self.http.clone());
        Ok(Generation::new(manifest, sha256_hex(wasm), prepared, http))
    }

    fn verify_signature(&self, wasm: &[u8], signature: Option<&str>) -> Result<(), PluginError> {
        if self.trusted_keys.is_empty() {
            return Ok(());
        }
        let text = signature.ok_or_else(|| {
            PluginError::Signature(
                "plugins.trusted_keys is configured, so plugins must be signed; put the minisign signature next to the file (FILE.wasm.minisig)".into(),
            )
        })?;
        let sig = minisign_verify::Signature::decode(text)
            .map_err(|e| PluginError::Signature(format!("the signature cannot be read: {e}")))?;
        if self
            .trusted_keys
            .iter()
            .any(|key| key.verify(wasm, &sig, false).is_ok())
        {
            Ok(())
        } else {
            Err(PluginError::Signature(
                "the signature does not verify against any key in plugins.trusted_keys".into(),
            ))
        }
    }
}

/// Runs one plugin call and counts it in the metrics: its duration, and a failure when the
/// plugin crashed, hit a limit or returned invalid output (a plugin's own refusal of a record
/// is an answer, not a failure).
fn timed<T>(
    plugin: &str,
    function: PluginFunction,
    call: impl FnOnce() -> Result<T, PluginError>,
) -> Result<T, PluginError> {
    let started = std::time::Instant::now();
    let out = call();
    crate::metrics::global().plugin_call(plugin, function, started.elapsed(), out.is_ok());
    out
}
