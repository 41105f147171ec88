//! Typed qbXML request builders.
//!
//! Each builder produces one complete request element (`<CustomerAddRq><CustomerAdd>…
//! </CustomerAdd></CustomerAddRq>`, without `requestID`) that is valid against Intuit's qbXML
//! 13.0 and 16.0 schemas:
//!
//! - elements come out in **schema order**, whatever order the setters were called in;
//! - text is fitted to each field's XSD length and to ISO-8859-1 under a
//!   [`TextPolicy`](crate::text::TextPolicy), and every change is reported in
//!   [`Built::notes`] (put them into [`Request::notes`](crate::Request::notes) with
//!   [`Built::into_request`]);
//! - amounts are exact [`Amount`](crate::amount::Amount)s, written with 2 decimals (prices and
//!   quantities with up to 5);
//! - `Parent:Child` names become a `ParentRef` and a `Name`.
//!
//! `build()` fails with a [`BuildError`] naming the field when the data cannot be made valid
//! (a strict policy, an empty name, an unbalanced journal entry …).

mod bill;
mod card;
pub mod change;
mod check;
mod common;
mod customer;
mod invoice;
mod item;
mod journal;
mod payment;
mod purchase_order;
mod query;
mod time_tracking;
mod vendor;
mod xml;

pub use bill::{BillAdd, BillableStatus, ExpenseLine, ItemLine};
pub use card::CreditCardAdd;
pub use check::CheckAdd;
pub use common::{Address, BuildError, Built, Date, DateError, Ref, element_text};
pub use customer::{CustomerAdd, CustomerMod};
pub use invoice::{InvoiceAdd, InvoiceLine};
pub use item::{ItemAdd, ItemKind};
pub use journal::{JournalEntryAdd, JournalLine};
pub use payment::{AppliedToTxn, BillPaymentAdd};
pub use purchase_order::{PurchaseOrderAdd, PurchaseOrderLine};
pub use query::{
    ActiveStatus, CompanyQuery, HostQuery, ListKind, ListQuery, MatchCriterion, PaidStatus,
    TxnKind, TxnQuery,
};
pub use time_tracking::TimeTrackingAdd;
pub use vendor::VendorAdd;
