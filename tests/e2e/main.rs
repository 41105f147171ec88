//! End-to-end tests: the real `qbridge` binary, real HTTP, a real SQLite file.
//!
//! One test binary (modules below) keeps link time low; each module reads as a specification
//! of one part of the product.

mod support;

mod admin;
mod admin_api;
mod admin_fences;
mod admin_plugins;
mod admin_sessions;
mod alerts;
mod browser;
mod bulk;
mod changes;
mod cluster;
mod crash;
mod crash_status;
mod database_restore;
mod fake_source;
mod foundation;
mod hostile;
mod load;
mod loops;
mod metrics;
mod msp;
mod operations;
mod pipeline;
mod plugin_author;
mod plugin_config;
mod plugin_crates;
mod plugin_sandbox;
mod plugins;
mod qbwc;
mod ramp_lists;
mod rejected;
mod retention;
mod simulator;
mod source_http;
mod source_money;
mod source_sync;
mod sources;
mod store_copy;
mod tenancy;
mod two_accounts;
mod webconnector;
