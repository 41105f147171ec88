//! Ramp records that move money on the card account itself rather than buy something:
//! transfers (the business paying its Ramp statement), cashbacks (Ramp crediting rewards to
//! the card balance) and vendor credits (a vendor owing the business money back).
//!
//! | kind | record (bare or wrapped) | requests |
//! |---|---|---|
//! | `transfer` | a Transfer `{id, amount: CurrencyAmount, status, created_at, …}` | `CheckAdd` from the bank account to the card account |
//! | `cashback` | a Cashback `{id, amount: CurrencyAmount, created_at, …}` | `CreditCardCreditAdd` on the card account, to the cashback income account |
//! | `vendor_credit` | a vendor credit `{id, vendor, amount: CurrencyAmount, line_items, credit_number, issued_at, memo}` | `VendorAdd` (unless `vendor.remote_id`) + `VendorCreditAdd` |

use qbridge_sdk::Request;
use qbridge_sdk::amount::Amount;
use qbridge_sdk::id::{external_guid, memo_marker, ref_number};
use qbridge_sdk::qbxml::{BillAdd, CheckAdd, CreditCardAdd, Date, ExpenseLine, Ref, TxnKind};

use crate::map::{
    Coding, bank_account, card_account, currency_amount, expense_lines, memo, probe, vendor,
};
use qbridge_sdk::MapError;
use qbridge_sdk::record::{Rec, Settings, request};

/// Default income account cashback is booked to (`_qbridge.accounts.cashback`).
pub const DEFAULT_CASHBACK_ACCOUNT: &str = "Ramp Cashback";

/// What a transfer's `status` means for the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferState {
    /// The money left the bank: book it.
    Settled,
    /// Cancelled, refused or returned, or not needed: nothing moved.
    Void,
    /// Still in flight: refused for now, mapped once settled.
    InFlight,
}

fn transfer_state(status: Option<&str>) -> TransferState {
    match status {
        None | Some("COMPLETED" | "ACH_CONFIRMED") => TransferState::Settled,
        Some(
            "CANCELED" | "ERROR" | "INSUFFICIENT_FUNDS" | "REJECTED_BY_ODFI" | "RETURNED_BY_RDFI"
            | "UNNECESSARY",
        ) => TransferState::Void,
        Some(_) => TransferState::InFlight,
    }
}

/// The record's date: `accounting_date` (a calendar date), else `created_at` (an instant) in
/// the firm's time zone.
fn date_of(r: Rec, settings: &Settings) -> Result<Date, MapError> {
    match r.opt_calendar_date("accounting_date")? {
        Some(d) => Ok(d),
        None => r.opt_local_date("created_at", settings)?.ok_or_else(|| {
            r.error(
                "created_at",
                "is missing, and so is accounting_date: the record needs a date",
            )
        }),
    }
}

/// A transfer: the business paid its Ramp card statement from the bank. In QuickBooks that is
/// a check from the bank account whose one line is the card (liability) account, which is
/// how QuickBooks records paying a credit card bill.
pub fn transfer(t: Rec, settings: &Settings) -> Result<Vec<Request>, MapError> {
    let id = t.id("id")?;
    match transfer_state(t.opt_str("status")) {
        TransferState::Void => return Ok(Vec::new()),
        TransferState::InFlight => {
            return Err(t.error(
                "status",
                format!(
                    "is {}: the payment has not settled; map it once it is COMPLETED",
                    t.opt_str("status").unwrap_or_default()
                ),
            ));
        }
        TransferState::Settled => {}
    }
    let amount = currency_amount(t, "amount", None)?;
    if amount.is_zero() {
        return Ok(Vec::new());
    }
    let bank = settings
        .account_name("statement_bank")
        .map(str::to_string)
        .unwrap_or_else(|| bank_account(settings));
    let ref_no = ref_number("", &id, 11).map_err(|e| t.error("id", e.to_string()))?;
    let marker = memo_marker(&format!("ramp:transfer:{id}"));
    let add = CheckAdd::new(Ref::full_name(bank))
        .txn_date(date_of(t, settings)?)
        .ref_number(ref_no.clone())
        .memo(memo(
            &[Some("Ramp card statement payment"), t.opt_str("payment_id")],
            &marker,
        ))
        .external_guid(external_guid("ramp:transfer", &id))
        .expense_line(ExpenseLine::new(
            Ref::full_name(card_account(settings)),
            amount,
        ));
    let mut req = request(add.build(), &format!("transfer:{id}"), "transfer")?;
    req.probe = Some(probe(TxnKind::Check, &ref_no)?);
    Ok(vec![req])
}

/// A cashback: Ramp credited rewards to the card balance — a card credit whose line is the
/// cashback income account.
pub fn cashback(c: Rec, settings: &Settings) -> Result<Vec<Request>, MapError> {
    let id = c.id("id")?;
    let amount = currency_amount(c, "amount", None)?;
    if amount.is_zero() {
        return Ok(Vec::new());
    }
    // A negative cashback would be a clawback: a card charge, not a credit.
    let (add, kind) = if amount.is_negative() {
        (
            CreditCardAdd::charge(Ref::full_name(card_account(settings))),
            TxnKind::CreditCardCharge,
        )
    } else {
        (
            CreditCardAdd::credit(Ref::full_name(card_account(settings))),
            TxnKind::CreditCardCredit,
        )
    };
    let ref_no = ref_number("", &id, 11).map_err(|e| c.error("id", e.to_string()))?;
    let marker = memo_marker(&format!("ramp:cashback:{id}"));
    let add = add
        .txn_date(date_of(c, settings)?)
        .ref_number(ref_no.clone())
        .memo(memo(&[Some("Ramp cashback")], &marker))
        .external_guid(external_guid("ramp:cashback", &id))
        .expense_line(ExpenseLine::new(
            settings.account("cashback", DEFAULT_CASHBACK_ACCOUNT),
            amount.abs(),
        ));
    let mut req = request(add.build(), &format!("cashback:{id}"), "cashback")?;
    req.probe = Some(probe(kind, &ref_no)?);
    Ok(vec![req])
}

/// A vendor credit: a `VendorCreditAdd` with the credit's coded lines (or one line coded by
/// the header), reconciled with its amount like a bill's.
pub fn vendor_credit(v: Rec) -> Result<Vec<Request>, MapError> {
    let id = v.id("id")?;
    let currency = v
        .opt_obj("amount")
        .and_then(|a| a["currency_code"].as_str().map(str::to_string));
    let total: Amount = currency_amount(v, "amount", None)?;
    if total.is_negative() {
        return Err(v.error(
            "amount",
            "is negative; a vendor credit is money the vendor owes back, given as a positive amount",
        ));
    }
    let vendor_value = v
        .opt_obj("vendor")
        .ok_or_else(|| v.error("vendor", "is missing; a vendor credit needs its vendor"))?;
    let vendor_path = v.path_of("vendor");
    let vendor_rec = Rec::new(vendor_value, &vendor_path);
    let mut requests = Vec::new();
    let mut depends_on = Vec::new();
    let vendor_ref = match vendor_rec.opt_str("remote_id") {
        Some(list_id) => Ref::list_id(list_id),
        None => {
            let name = vendor_rec.str("name", "the vendor's name")?;
            let (req, vendor_ref) = vendor(
                name,
                vendor_rec.opt_str("id").unwrap_or(name),
                "vendor_credit.vendor.name",
            )?;
            depends_on.push(req.key.clone());
            requests.push(req);
            vendor_ref
        }
    };
    let mut notes = Vec::new();
    let lines = if v.entries("line_items")?.is_empty() {
        vec![Coding::new(v, v).expense_line(total, None, v)?]
    } else {
        expense_lines(v, total, "amount", currency.as_deref(), false, &mut notes)?
    };
    let number = v.opt_str("credit_number").or(v.opt_str("invoice_number"));
    let ref_no = ref_number("", number.unwrap_or(&id), 20)
        .map_err(|e| v.error("credit_number", e.to_string()))?;
    let marker = memo_marker(&format!("ramp:vendor_credit:{id}"));
    let mut add = BillAdd::vendor_credit(vendor_ref)
        .ref_number(ref_no.clone())
        .memo(memo(&[number, v.opt_str("memo")], &marker))
        .external_guid(external_guid("ramp:vendor_credit", &id));
    if let Some(date) = v
        .opt_calendar_date("issued_at")?
        .or(v.opt_calendar_date("accounting_date")?)
    {
        add = add.txn_date(date);
    }
    for line in lines {
        add = add.expense_line(line);
    }
    let mut req = request(add.build(), &format!("vendor_credit:{id}"), "vendor_credit")?;
    req.notes.extend(notes);
    req.depends_on = depends_on;
    req.probe = Some(probe(TxnKind::VendorCredit, &ref_no)?);
    requests.push(req);
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_states_settle_void_or_wait() {
        assert_eq!(transfer_state(Some("COMPLETED")), TransferState::Settled);
        assert_eq!(transfer_state(None), TransferState::Settled);
        assert_eq!(
            transfer_state(Some("RETURNED_BY_RDFI")),
            TransferState::Void
        );
        assert_eq!(transfer_state(Some("INITIATED")), TransferState::InFlight);
    }
}
