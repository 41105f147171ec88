//! Administration: the first admin token, API tokens, temporary support access, the audit trail, source secrets, the
//! admin HTTP API (alert destinations included) and the web UI.
//!
//! Every admin route goes through [`auth::Actor`], which checks the bearer token (or the UI's
//! session cookie), its scope, expiry and revocation on every request and audits every request
//! made under a support grant.

pub(crate) mod alerts_api;
pub mod anchoring;
pub(crate) mod api;
mod audit_api;
pub mod auth;
pub mod bootstrap;
pub mod cli;
pub(crate) mod connections_api;
pub mod local;
pub mod metrics_api;
pub(crate) mod overview;
pub(crate) mod plugin_config_api;
pub(crate) mod plugins_api;
mod rejected_api;
pub mod routes;
pub mod secret_cli;
pub(crate) mod secrets_api;
pub(crate) mod setup_api;
pub(crate) mod ui;
