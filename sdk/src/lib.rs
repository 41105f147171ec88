//! `qbridge-sdk`: the crate plugin authors use to write qbridge mapping plugins.
//!
//! A plugin implements [`Mapper`] (turn a source record into [`Request`]s), registers it with
//! [`export_mapper!`], tests it natively with [`testing`], and is built with
//! `cargo build --release --target wasm32-wasip2`. The guide is the crate's README.
//!
//! Feature `schema` (native only) adds [`schema::validate`], which checks a qbXML document
//! against Intuit's XSD, and makes [`testing::check`] use it.

/// This SDK's version; its major.minor is the plugin interface it builds (`wit/v<major.minor>.0`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod amount;
#[cfg(not(target_arch = "wasm32"))]
mod fake_host;
pub mod host;
pub mod id;
pub mod mapper;
pub mod qbxml;
pub mod reconcile;
pub mod record;
mod request;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod text;

pub use mapper::{ConfigKey, INTERFACE_VERSION, Manifest, MapError, Mapper, Page, PulledRecord};
pub use request::{Action, Request, root_element};
/// Re-exported so plugins need no direct dependency to read records.
pub use serde_json;

#[cfg(feature = "schema")]
pub mod schema;
