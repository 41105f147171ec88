//! Mapping plugins: WASM components that turn source records into qbXML requests.
//!
//! - `host` — the wasmtime engine, compiled-code cache, sandbox and per-call limits.
//! - `interface` — the supported interface versions behind one `Prepared`/`Instance`;
//!   `v0_1_0`, `v0_2_0`, `v0_3_0` — the bindings of `qbridge:plugin@0.1.0`, `@0.2.0` and `@0.3.0`.
//! - `manager` — [`PluginManager`]: install, hot swap, staging/approval, rollback, calls.
//! - `output` — checks on untrusted plugin output and manifests.
//! - `permissions` — QuickBooks permission areas per request type.
//! - `http` — host-mediated HTTP with secret injection.
//! - `plugin_config` — per-installation settings: key, value and host-template rules;
//!   `config_admin` — listing, setting and unsetting values (API, UI and CLI alike).
//! - `oauth2` — access tokens the host obtains for OAuth2 client-credentials secrets.
//! - `endpoints` — `source_endpoints`: listed source hosts sent to local fakes (tests).
//! - `cli` — `qbridge plugin …` (and `scaffold`, the template for `plugin new`; `check`,
//!   `plugin check`: a component run on sample records in a scratch registry; `config_cli`,
//!   `plugin config`).
//!
//! A misbehaving plugin fails its call with a [`PluginError`]; it never takes the engine
//! down.

mod bundled;
pub mod check;
pub mod cli;
pub mod config_admin;
mod config_cli;
pub mod endpoints;
mod host;
mod http;
mod interface;
mod manager;
mod oauth2;
pub mod output;
mod permissions;
pub mod plugin_config;
pub mod pool;
mod sandbox;
mod scaffold;
mod v0_1_0;
mod v0_2_0;
mod v0_3_0;

pub use host::Limits;
pub use http::{NoSecrets, SecretSource};
pub use interface::PulledPage;
pub use manager::{Escalation, InstallOutcome, PluginManager};
pub use permissions::{PermissionArea, permission_area, permission_areas};

use crate::store::StoreError;

/// Interface versions this engine runs (`qbridge:plugin@X`).
pub const SUPPORTED_INTERFACES: &[&str] = &["0.1.0", "0.2.0", "0.3.0"];

/// Everything that can go wrong installing or calling a plugin, phrased for the admin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin asked for more memory than allowed.
    #[error(
        "plugin `{name}` {version} exceeded its {limit_mib} MiB memory limit ({detail}) and was stopped"
    )]
    Memory {
        name: String,
        version: String,
        limit_mib: u64,
        detail: String,
    },
    /// The plugin ran past its CPU deadline.
    #[error("plugin `{name}` {version} ran longer than {limit} and was stopped")]
    Timeout {
        name: String,
        version: String,
        limit: String,
    },
    /// The plugin panicked.
    #[error("plugin `{name}` {version} panicked: {message}")]
    Panic {
        name: String,
        version: String,
        message: String,
    },
    /// The plugin trapped for another reason.
    #[error("plugin `{name}` {version} crashed: {message}")]
    Trap {
        name: String,
        version: String,
        message: String,
    },
    /// The plugin returned something the engine refuses.
    #[error("plugin `{name}` {version} returned an invalid request, which was refused: {problem}")]
    BadOutput {
        name: String,
        version: String,
        problem: String,
    },
    /// The plugin reported that the call failed (an `error` from `on-response`).
    #[error("plugin `{name}` {version} reported an error: {message}")]
    Failed {
        name: String,
        version: String,
        message: String,
    },
    /// The component was built for an interface version this engine does not run.
    #[error("this plugin was built for plugin interface {found}, but this qbridge supports {}. Rebuild it with a qbridge-sdk for one of those, or upgrade qbridge", SUPPORTED_INTERFACES.join(", "))]
    UnsupportedInterface { found: String },
    /// The file is not an acceptable plugin.
    #[error("cannot install the plugin: {0}")]
    Invalid(String),
    /// The signature check failed.
    #[error("cannot install the plugin: {0}")]
    Signature(String),
    /// No such plugin (or version) is installed.
    #[error("{0}")]
    NotFound(String),
    /// The host itself could not be set up.
    #[error("plugin host error: {0}")]
    Host(String),
    /// The registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
