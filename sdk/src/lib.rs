//! `qbridge-sdk`: the crate plugin authors use to write qbridge mapping plugins.
//!
//! (Being built: the `Mapper` trait, `export_mapper!`, typed qbXML builders and the native
//! test harness arrive with the plugin host.)
//!
//! Feature `schema` (native only) adds [`schema::validate`], which checks a qbXML document
//! against Intuit's XSD.

pub mod amount;
pub mod id;
pub mod qbxml;
mod request;
pub mod text;
pub use request::{Request, root_element};

#[cfg(feature = "schema")]
pub mod schema;
