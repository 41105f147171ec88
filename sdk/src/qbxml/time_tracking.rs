//! `TimeTrackingAdd`: hours someone worked, for a customer and a service item (Autotask time
//! entries). QuickBooks bills them through its "time and costs" on the next invoice, or pays
//! them through payroll.

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::bill::{BillableStatus, billable};
use super::common::{BuildError, Built, Date, Ref, setters};
use super::xml::Writer;

/// A time-tracking entry of `hours` on `txn_date` by `entity_ref` (an employee, vendor or
/// other name). The duration is written in whole minutes (`PT1H30M0S`), rounded half away
/// from zero.
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{Date, Ref, TimeTrackingAdd};
/// let built = TimeTrackingAdd::new(
///     Date::parse("2025-03-03").unwrap(),
///     Ref::full_name("v-Halpert, Jim"),
///     Amount::parse("1.75").unwrap(),
/// )
/// .customer_ref(Ref::full_name("Acme Corp"))
/// .build()
/// .unwrap();
/// assert!(built.qbxml.contains("<Duration>PT1H45M0S</Duration>"));
/// ```
#[derive(Debug, Clone)]
pub struct TimeTrackingAdd {
    txn_date: Date,
    entity_ref: Ref,
    hours: Amount,
    customer_ref: Option<Ref>,
    item_service_ref: Option<Ref>,
    rate: Option<Amount>,
    class_ref: Option<Ref>,
    notes: Option<String>,
    billable_status: Option<BillableStatus>,
    external_guid: Option<String>,
    policy: TextPolicy,
}

impl TimeTrackingAdd {
    /// `hours` (decimal, e.g. `1.75`) worked on `txn_date` by `entity_ref`.
    pub fn new(txn_date: Date, entity_ref: Ref, hours: Amount) -> Self {
        TimeTrackingAdd {
            txn_date,
            entity_ref,
            hours,
            customer_ref: None,
            item_service_ref: None,
            rate: None,
            class_ref: None,
            notes: None,
            billable_status: None,
            external_guid: None,
            policy: TextPolicy::default(),
        }
    }

    setters! {
        /// The customer (or Customer:Job) the time was for.
        customer_ref: Ref,
        /// The service item the time is billed as.
        item_service_ref: Ref,
        /// Hourly rate (up to 5 decimals).
        rate: Amount,
        /// Class.
        class_ref: Ref,
        /// Notes (4095 characters).
        notes: String,
        /// Whether the time is billable to the customer.
        billable_status: BillableStatus,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<TimeTrackingAddRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add("TimeTrackingAdd", self.policy);
        let minutes = self
            .hours
            .checked_mul(Amount::from_cents(60 * 100))
            .and_then(|m| m.to_minor_units(0))
            .ok()
            .filter(|m| *m > 0);
        w.date("TxnDate", Some(self.txn_date));
        w.reference("EntityRef", Some(&self.entity_ref));
        w.reference("CustomerRef", self.customer_ref.as_ref());
        w.reference("ItemServiceRef", self.item_service_ref.as_ref());
        w.price("Rate", self.rate);
        match minutes {
            Some(m) => w.raw("Duration", &format!("PT{}H{}M0S", m / 60, m % 60)),
            None => {
                let request = w.field("");
                w.fail(BuildError::Missing {
                    request,
                    what: "a positive duration (at least half a minute)",
                });
            }
        }
        w.reference("ClassRef", self.class_ref.as_ref());
        w.text("Notes", self.notes.as_deref(), 4095);
        billable(&mut w, self.billable_status);
        w.guid("ExternalGUID", self.external_guid.as_deref());
        w.finish()
    }
}
