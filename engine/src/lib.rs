//! qbridge: a self-hosted QuickBooks Web Connector server.
//!
//! The crate is a library so that the end-to-end tests and the simulator can drive the same
//! code the `qbridge` binary runs. See ARCHITECTURE.md for the code map.
// `deny`, not `forbid`: loading precompiled plugin code is the one audited `unsafe` call.
#![deny(unsafe_code)]

pub mod admin;
pub mod alerts;
pub mod bench;
pub mod cli;
pub mod config;
mod crypto;
pub mod demo;
pub mod doctor;
pub mod engine;
pub mod failpoint;
pub mod liveness;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod plugins;
pub mod qbwc;
pub mod qbxml;
pub mod retention;
pub mod schedule;
pub mod server;
pub mod sim;
pub mod smtp;
pub mod state;
pub mod store;
