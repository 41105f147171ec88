//! Autotask time entries → QuickBooks time tracking, for firms that bill time from QuickBooks
//! ("time and costs") or run payroll on it. Optional per connection: only when the record's
//! `_qbridge.time_tracking` is `true` (the connection's settings); otherwise a time entry maps
//! to nothing, because most firms invoice time from Autotask and booking it again would
//! double it.
//!
//! | Autotask | qbXML |
//! |---|---|
//! | `timeEntry.dateWorked` (else `startDateTime` in the firm's zone) | `TxnDate` |
//! | `resource` | `EntityRef`: vendor `v-Lastname, Firstname` (as expense reports) |
//! | `company` | `CustomerRef` (as invoices) |
//! | `billingCode.name` (the work type) | `ItemServiceRef`, a Service item |
//! | `hoursToBill` when billable, else `hoursWorked` | `Duration`, whole minutes |
//! | `isNonBillable` | `BillableStatus` |
//! | `summaryNotes` + marker | `Notes` |
//!
//! A time entry has no RefNumber; its probe queries the day's time tracking and is matched on
//! the marker in `Notes` and the ExternalGUID.

use qbridge_sdk::Request;
use qbridge_sdk::id::{external_guid, memo_marker};
use qbridge_sdk::qbxml::{BillableStatus, ItemKind, Ref, TimeTrackingAdd, TxnKind, TxnQuery};
use serde_json::Value;

use crate::map::{Item, customer_requests, memo, resource_vendor};
use qbridge_sdk::MapError;
use qbridge_sdk::record::{Rec, Settings, request};

/// Maps a time entry bundle (see the module docs).
pub fn time_entry(record: &Value, settings: &Settings) -> Result<Vec<Request>, MapError> {
    if !settings.enabled("time_tracking") {
        return Ok(Vec::new());
    }
    let entry = Rec::new(
        record
            .get("timeEntry")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                MapError::field(
                    "timeEntry",
                    "is missing; a time entry record is {\"timeEntry\", \"resource\", \"company\", \"billingCode\"}",
                )
            })?,
        "timeEntry",
    );
    let id = entry.id("id")?;
    let date = match entry.opt_calendar_date("dateWorked")? {
        Some(d) => d,
        None => entry
            .opt_local_date("startDateTime", settings)?
            .ok_or_else(|| entry.error("dateWorked", "is missing, and so is startDateTime"))?,
    };
    let billable = !entry.flag("isNonBillable");
    let hours = match (billable, entry.opt_amount("hoursToBill")?) {
        (true, Some(h)) => h,
        _ => entry.amount("hoursWorked")?,
    };
    let (vendor_req, vendor_name) = resource_vendor(record, "the resource who worked")?;
    let company = Rec::new(
        record
            .get("company")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                MapError::field(
                    "company",
                    "is missing; the time entry needs its company (Companies row)",
                )
            })?,
        "company",
    );
    let (mut requests, customer_name) = customer_requests(company)?;
    let code = Rec::new(
        record
            .get("billingCode")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                MapError::field(
                    "billingCode",
                    "is missing; the time entry needs its work type (BillingCodes row)",
                )
            })?,
        "billingCode",
    );
    let item = Item::new(
        code.str("name", "the work type's name")?,
        ItemKind::Service,
        code.path_of("name"),
    );
    let mut depends_on = vec![
        vendor_req.key.clone(),
        format!("customer:{}", company.id("id")?),
        item.key.clone(),
    ];
    depends_on.dedup();
    requests.push(vendor_req);
    requests.push(item.request(settings)?);

    let marker = memo_marker(&format!("autotask:time_entry:{id}"));
    let add = TimeTrackingAdd::new(date, Ref::full_name(&vendor_name), hours)
        .customer_ref(Ref::full_name(&customer_name))
        .item_service_ref(Ref::full_name(&item.name))
        .notes(memo(entry.opt_str("summaryNotes").unwrap_or(""), &marker))
        .billable_status(if billable {
            BillableStatus::Billable
        } else {
            BillableStatus::NotBillable
        })
        .external_guid(external_guid("autotask:time_entry", &id));
    let mut req = request(add.build(), &format!("time_entry:{id}"), "timeEntry")?;
    req.depends_on = depends_on;
    let mut probe = TxnQuery::new(TxnKind::TimeTracking).txn_date_range(date, date);
    for element in ["TxnID", "Notes", "ExternalGUID"] {
        probe = probe.include_ret_element(element);
    }
    req.probe = Some(request(probe.build(), "probe", "timeEntry")?.qbxml);
    requests.push(req);
    Ok(requests)
}
