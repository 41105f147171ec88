//! `qbridge-sdk`: the crate plugin authors use to write qbridge mapping plugins.
//!
//! (Being built: the `Mapper` trait, `export_mapper!`, typed qbXML builders and the native
//! test harness arrive with the plugin host.)
#![forbid(unsafe_code)]
