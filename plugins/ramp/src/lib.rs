//! The Ramp mapping plugin: Ramp card transactions, bills (with their payments) and
//! reimbursements become QuickBooks card charges and credits, vendors, bills and bill
//! payments.
//!
//! The logic is plain Rust, tested natively: [`map`] (records → requests), [`response`]
//! (bill payments once the bill's TxnID is known) and [`pull`] (HTTP requests to fetch and
//! acknowledge records). The WASM glue (`glue.rs`) only adapts it to the SDK's `Mapper`.

mod bill;
pub mod lists;
pub mod map;
pub mod pull;
pub mod response;
pub mod statement;

mod glue;
