//! Ramp bills: a `BillAdd` to the vendor, its payments carried to [`crate::response`] in the
//! bill's memo (see there) — or, for a bill paid after it synced (`sync_status`
//! `BILL_SYNCED`), made at once against the TxnID Ramp holds (`remote_id`) — and removal when
//! Ramp archives (deletes) the bill.

use qbridge_sdk::id::{external_guid, memo_marker, ref_number};
use qbridge_sdk::qbxml::{BillAdd, ItemLine, Ref, TxnKind};
use qbridge_sdk::reconcile::{Check, Part, reconcile};
use qbridge_sdk::{Action, Request};

use crate::map::{
    CENT_DECIMALS, Coding, bank_account, card_account, checked, currency_amount, line_ids, memo,
    probe, vendor,
};
use crate::response::{PaymentPlan, PlannedPayment};
use qbridge_sdk::MapError;
use qbridge_sdk::record::{Entry, Rec, Settings, removal, request};

/// The payments of a bill that QuickBooks should record, and notes on those it should not.
fn bill_payments(
    b: Rec,
    currency: Option<&str>,
) -> Result<(Vec<PlannedPayment>, Vec<String>), MapError> {
    let mut entries: Vec<Entry> = b.entries("payments")?;
    if entries.is_empty() {
        // The legacy single `payment` object.
        if let Some(v) = b.value().get("payment").filter(|p| p.is_object()) {
            entries.push(Entry {
                value: v,
                path: b.path_of("payment"),
            });
        }
    }
    let mut planned = Vec::new();
    let mut notes = Vec::new();
    for entry in &entries {
        let p = entry.rec();
        let amount = currency_amount(p, "amount", currency)?;
        let method = p.opt_str("payment_method").unwrap_or("ACH");
        let by_card = match method {
            "CARD" | "ONE_TIME_CARD" => true,
            "VENDOR_CREDIT" | "PAID_MANUALLY" => {
                notes.push(format!(
                    "{} ({amount}, {method}) is not a Ramp payment: record it in QuickBooks where it was made",
                    entry.path
                ));
                continue;
            }
            _ => false, // ACH, CHECK, INTERNATIONAL, SWIFT, wires: from the bank account.
        };
        let date = p
            .opt_calendar_date("payment_date")?
            .or(p.opt_calendar_date("effective_date")?)
            .ok_or_else(|| p.error("payment_date", "is missing; a payment needs its date"))?;
        planned.push(PlannedPayment {
            by_card,
            date,
            amount,
            reference: p
                .opt_str("customer_friendly_payment_id")
                .map(str::to_string),
        });
    }
    if planned.len() > crate::response::MAX_PAYMENTS {
        return Err(b.error(
            "payments",
            format!(
                "has {} payments; at most {} are recorded per bill: record the rest by hand",
                planned.len(),
                crate::response::MAX_PAYMENTS
            ),
        ));
    }
    Ok((planned, notes))
}

pub(crate) fn bill(b: Rec, settings: &Settings) -> Result<Vec<Request>, MapError> {
    let id = b.id("id")?;
    let currency = b
        .opt_obj("amount")
        .and_then(|a| a["currency_code"].as_str().map(str::to_string));
    let total = currency_amount(b, "amount", None)?;
    let vendor_value = b
        .opt_obj("vendor")
        .ok_or_else(|| b.error("vendor", "is missing; a bill needs its vendor"))?;
    let vendor_path = b.path_of("vendor");
    let v = Rec::new(vendor_value, &vendor_path);
    let vendor_name = v.str("name", "the vendor's name")?;
    let mut requests = Vec::new();
    let mut depends_on = Vec::new();
    let vendor_ref = match v.opt_str("remote_id") {
        // Ramp already holds the vendor's QuickBooks ListID.
        Some(list_id) => Ref::list_id(list_id),
        None => {
            let (req, vendor_ref) = vendor(
                vendor_name,
                v.opt_str("id").unwrap_or(vendor_name),
                "bill.vendor.name",
            )?;
            depends_on.push(req.key.clone());
            requests.push(req);
            vendor_ref
        }
    };

    let mut notes = Vec::new();
    let number = b.opt_str("invoice_number");
    let ref_no = ref_number("", number.unwrap_or(&id), 20)
        .map_err(|e| b.error("invoice_number", e.to_string()))?;
    if let Some(n) = number.filter(|n| *n != ref_no) {
        notes.push(format!(
            "RefNumber: invoice number {n:?} does not fit QuickBooks' 20 characters; used {ref_no:?} (the full number is in the memo)"
        ));
    }
    let (payments, payment_notes) = bill_payments(b, currency.as_deref())?;
    notes.extend(payment_notes);
    let plan = PaymentPlan {
        bank_account: bank_account(settings),
        card_account: card_account(settings),
        payments,
    };
    let key = format!("bill:{id}");
    // Paid after it synced: the bill stays as QuickBooks has it (no plan in its memo, so no
    // new version) and its payments are made here, applied to the TxnID Ramp holds for it.
    let synced = b.opt_str("sync_status") == Some("BILL_SYNCED");
    let memo_text = memo(
        &[number, b.opt_str("memo")],
        &memo_marker(&format!("ramp:bill:{id}")),
    );
    let (memo_text, payments) = if synced {
        let payments = paid_after_sync(b, &key, &id, &plan, &vendor_ref)?;
        // The memo the bill had when it synced unpaid (a plan tag in the text defused).
        let unpaid = PaymentPlan {
            payments: Vec::new(),
            ..plan.clone()
        };
        (unpaid.append_to(&memo_text), payments)
    } else {
        (plan.append_to(&memo_text), Vec::new())
    };
    let mut add = BillAdd::new(vendor_ref)
        .ref_number(ref_no.clone())
        .memo(memo_text)
        .external_guid(external_guid("ramp:bill", &id));
    if let Some(date) = b
        .opt_calendar_date("issued_at")?
        .or(b.opt_calendar_date("accounting_date")?)
    {
        add = add.txn_date(date);
    }
    if let Some(due) = b.opt_calendar_date("due_at")? {
        add = add.due_date(due);
    }

    let mut parts = Vec::new();
    for entry in &b.entries("line_items")? {
        let line = entry.rec();
        let amount = currency_amount(line, "amount", currency.as_deref())?;
        parts.push(Part::new(line.path_of("amount"), amount));
        add = add.expense_line(Coding::new(line, b).expense_line(
            amount,
            line.opt_str("memo"),
            line,
        )?);
    }
    for entry in &b.entries("inventory_line_items")? {
        let line = entry.rec();
        let amount = currency_amount(line, "amount", currency.as_deref())?;
        parts.push(Part::new(line.path_of("amount"), amount));
        let item = Coding::new(line, line).item().ok_or_else(|| {
            line.error(
                "accounting_field_selections",
                "has no INVENTORY_ITEM selection: code the item in Ramp",
            )
        })?;
        let item = checked(item, "INVENTORY_ITEM", line)?;
        let mut l = ItemLine::new(item).amount(amount);
        if let Some(q) = line.opt_amount("quantity")? {
            l = l.quantity(q);
        }
        if line.opt_obj("unit_price").is_some() {
            l = l.cost(currency_amount(line, "unit_price", currency.as_deref())?);
        }
        if let Some(m) = line.opt_str("memo") {
            l = l.desc(m);
        }
        add = add.item_line(l);
    }
    // Minor units on both sides: nothing is rounded, so they must agree exactly.
    let check = Check {
        parts: "line_items and inventory_line_items amounts",
        total: "amount",
        decimals: CENT_DECIMALS,
    };
    reconcile(&parts, total, check)
        .map_err(|e| b.error("amount", format!("{e}: the bill does not add up")))?;
    let mut req = request(add.build(), &key, "bill")?;
    req.notes.extend(notes);
    req.depends_on = depends_on;
    req.line_keys = line_ids(b, &["line_items", "inventory_line_items"])?;
    req.probe = Some(probe(TxnKind::Bill, &ref_no)?);
    requests.push(req);
    if b.flag("is_archived") {
        // Archived is how Ramp deletes a bill; QuickBooks keeps a voided bill's trail.
        return Ok(removal(requests, &key, Action::Void));
    }
    requests.extend(payments);
    Ok(requests)
}

/// The payments of a bill QuickBooks already has (`sync_status` `BILL_SYNCED`): applied to
/// `remote_id`, the TxnID qbridge reported to Ramp when the bill synced.
fn paid_after_sync(
    b: Rec,
    key: &str,
    id: &str,
    plan: &PaymentPlan,
    vendor: &Ref,
) -> Result<Vec<Request>, MapError> {
    if plan.payments.is_empty() {
        return Ok(Vec::new());
    }
    let txn_id = b.str(
        "remote_id",
        "the bill's QuickBooks TxnID (Ramp keeps the reference_id of the bill's sync), which its payments are applied to",
    )?;
    plan.requests(key, "bill-payment", id, vendor, txn_id)
}
