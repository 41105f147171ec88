//! Administration: API tokens, temporary support access, the audit trail — and (growing) the
//! admin HTTP API and web UI.
//!
//! Every admin route goes through [`auth::Actor`], which checks the bearer token's scope,
//! expiry and revocation on every request and audits every request made under a support grant.

pub mod auth;
pub mod cli;
