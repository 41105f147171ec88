//! End-to-end tests: the real `qbridge` binary, real HTTP, a real SQLite file.
//!
//! One test binary (modules below) keeps link time low; each module reads as a specification
//! of one part of the product.

mod support;

mod admin;
mod admin_api;
mod admin_plugins;
mod browser;
mod crash;
mod fake_source;
mod foundation;
mod hostile;
mod load;
mod msp;
mod pipeline;
mod plugin_crates;
mod plugins;
mod qbwc;
mod simulator;
mod source_http;
mod source_sync;
mod sources;
mod webconnector;
