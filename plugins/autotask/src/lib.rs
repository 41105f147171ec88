//! The Autotask PSA mapping plugin: Autotask companies, invoices, purchase orders and expense
//! reports become QuickBooks customers, items, invoices/credit memos, vendors, purchase
//! orders and bills.
//!
//! The logic is plain Rust, tested natively: [`map`] (records → requests) and [`pull`]
//! (HTTP requests to fetch records and acknowledge them). The WASM glue (`glue.rs`) only
//! adapts it to the SDK's `Mapper` trait.

mod cursor;
mod invoice;
pub mod map;
pub mod pull;
pub mod time_entry;

mod glue;
