//! Ramp records → qbXML requests: pure functions over the JSON of Ramp's Developer API,
//! natively testable.
//!
//! | kind | record (bare, or wrapped as `{"transaction": …}` …) | requests |
//! |---|---|---|
//! | `transaction` | a Transaction | `VendorAdd` (merchant) + `CreditCardChargeAdd` (amount > 0) or `CreditCardCreditAdd` (amount < 0, absolute amounts) |
//! | `bill` | a Bill | `VendorAdd` (unless `vendor.remote_id` is the ListID) + `BillAdd` (see `bill.rs`); payments follow in [`crate::response`] |
//! | `reimbursement` | a Reimbursement | `VendorAdd` (the employee) + `BillAdd`; when `REIMBURSED`, its payment follows in [`crate::response`] |
//!
//! Mapping decisions:
//! - Units: `Transaction.amount` and `Reimbursement.amount` are decimals; every line, bill and
//!   payment amount is a CurrencyAmount in minor units (`minor_unit_conversion_rate`, default
//!   100). Lines must add up to the header amount after rounding it to cents (the SDK's
//!   `reconcile`: a header written with float artefacts maps with a note; minor units on both
//!   sides must agree exactly), else the record is refused naming the field, both figures and
//!   the lines; every line must be in the header's currency.
//! - Coding (`accounting_field_selections`, a line's override the header's per type):
//!   `GL_ACCOUNT` → the line's account, `CUSTOMERS_JOBS` → CustomerRef, `CLASS` (or `OTHER`
//!   whose category is "Class") → ClassRef, `BILLABLE` → BillableStatus, `INVENTORY_ITEM` →
//!   ItemRef. `external_id` is used as the ListID when it looks like one (`80000031-…`), else
//!   the name as FullName. A line without a GL account is refused: nothing is booked to a
//!   guessed account.
//! - Accounts (`_qbridge`): the card liability account `_qbridge.card_account` (or
//!   `accounts.card`), default **"Ramp Card"**; bill payments by ACH, check or wire come from
//!   `accounts.bank`, default **"Ramp Bill Pay"**.
//! - Vendors are matched by name (`adopt_existing`, probe `VendorQuery` by name), key
//!   `vendor:<name key>`, shared by merchants and bill vendors; a reimbursed employee is the
//!   vendor `<full name> - Ramp` (QuickBooks names are unique across customers, vendors and
//!   employees, so the employee's own name would clash with their employee record).
//! - Dates: `accounting_date`, `issued_at`, `due_at`, `payment_date`, `transaction_date` are
//!   calendar dates; `user_transaction_time` (used when there is no accounting date) is an
//!   instant, converted to the firm's date (`_qbridge.timezone`).
//! - RefNumber: a card transaction's is a stable hash of its id (11 characters); a bill's is
//!   `invoice_number` when it fits 20 characters, else a stable hash (the number stays in the
//!   memo). ExternalGUID = UUIDv5 of the id; memo ends with `src:ramp:<kind>:<id>`.
//! - Skipped (an empty result, nothing to book): reimbursements of type `PAYBACK_*` or
//!   direction `USER_TO_BUSINESS` (an employee paying the company back is recorded against the
//!   card spend it repays, not as a new bill).
//! - Removed at the source: a card transaction `DECLINED` or `ERROR`, and a bill Ramp archived
//!   (`is_archived`, how Ramp deletes bills), map to their own request only, with action void
//!   (the engine voids it if it reached QuickBooks, else sends nothing).
//! - Line keys: the `id` of each `line_items` (then `inventory_line_items`) entry when every
//!   line has one, so an edited record keeps QuickBooks' TxnLineIDs.
//!   Pending card transactions are refused (`transaction.state`): map them once cleared.
//! - Receipts: qbXML cannot attach files; a transaction with `receipts` gets "N receipts in
//!   Ramp: <link>" in its memo (never the expiring pre-signed `receipt_url`).
//! - Transfers, cashbacks and vendor credits: see [`crate::statement`].

use qbridge_sdk::amount::Amount;
use qbridge_sdk::id::{distinct_name, external_guid, memo_marker, ref_number};
use qbridge_sdk::qbxml::{
    BillAdd, BillableStatus, CreditCardAdd, Date, ExpenseLine, ListKind, ListQuery, Ref, TxnKind,
    TxnQuery, VendorAdd,
};
use qbridge_sdk::reconcile::{Check, Part, reconcile};
use qbridge_sdk::{Action, Request};
use serde_json::Value;

use crate::response::{PaymentPlan, PlannedPayment};
use crate::statement;
use qbridge_sdk::MapError;
use qbridge_sdk::record::{Rec, Settings, key_part, line_keys, removal, request, unwrap};

/// Every qbXML request type this plugin emits (requests, probes and follow-ups), and the Mods,
/// voids and deletes the engine makes of them when a record changes at the source (it changes
/// an object only if its Mod is declared; QuickBooks has no `BillPaymentCreditCardMod`).
pub const REQUEST_TYPES: &[&str] = &[
    "VendorAdd",
    "VendorMod",
    "VendorQuery",
    "AccountQuery",
    "ClassQuery",
    "CustomerQuery",
    "CreditCardChargeAdd",
    "CreditCardChargeMod",
    "CreditCardChargeQuery",
    "CreditCardCreditAdd",
    "CreditCardCreditMod",
    "CreditCardCreditQuery",
    "BillAdd",
    "BillMod",
    "BillQuery",
    "BillPaymentCheckAdd",
    "BillPaymentCheckMod",
    "BillPaymentCheckQuery",
    "BillPaymentCreditCardAdd",
    "BillPaymentCreditCardQuery",
    "CheckAdd",
    "CheckMod",
    "CheckQuery",
    "VendorCreditAdd",
    "VendorCreditMod",
    "VendorCreditQuery",
    // Declined card transactions and archived (deleted) bills are voided.
    "TxnVoid",
    "TxnDel",
];

/// Default card liability account (type Credit Card in QuickBooks).
pub const DEFAULT_CARD_ACCOUNT: &str = "Ramp Card";
/// Default bank account bill payments by ACH, check or wire come from.
pub const DEFAULT_BANK_ACCOUNT: &str = "Ramp Bill Pay";

/// Characters of free memo text kept, so the marker and payment plan after it always fit
/// QuickBooks' 4095-character memo.
const MEMO_TEXT_MAX: usize = 1_000;

/// Maps one Ramp record of `kind` to requests, in dependency order.
pub fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
    let settings = Settings::read(record)?;
    match kind {
        "transaction" => transaction(
            Rec::new(unwrap(record, "transaction"), "transaction"),
            &settings,
        ),
        "bill" => crate::bill::bill(Rec::new(unwrap(record, "bill"), "bill"), &settings),
        "reimbursement" => reimbursement(
            Rec::new(unwrap(record, "reimbursement"), "reimbursement"),
            &settings,
        ),
        "transfer" => {
            statement::transfer(Rec::new(unwrap(record, "transfer"), "transfer"), &settings)
        }
        "cashback" => {
            statement::cashback(Rec::new(unwrap(record, "cashback"), "cashback"), &settings)
        }
        "vendor_credit" => {
            statement::vendor_credit(Rec::new(unwrap(record, "vendor_credit"), "vendor_credit"))
        }
        crate::lists::KIND => crate::lists::map(record),
        other => Err(MapError::new(format!(
            "unknown record kind {other:?}; the Ramp plugin maps transaction, bill, reimbursement, transfer, cashback, vendor_credit and quickbooks-lists"
        ))),
    }
}

/// The card account: `_qbridge.card_account`, `_qbridge.accounts.card`, or the default.
pub fn card_account(settings: &Settings) -> String {
    settings
        .text("card_account")
        .or(settings.account_name("card"))
        .unwrap_or(DEFAULT_CARD_ACCOUNT)
        .to_string()
}

/// The bank account of bill payments: `_qbridge.accounts.bank`, or the default.
pub fn bank_account(settings: &Settings) -> String {
    settings
        .account_name("bank")
        .unwrap_or(DEFAULT_BANK_ACCOUNT)
        .to_string()
}

/// A Ramp CurrencyAmount (`{amount, currency_code, minor_unit_conversion_rate}`) at `key`,
/// checked to be in `currency` when both are known.
pub(crate) fn currency_amount(
    rec: Rec,
    key: &str,
    currency: Option<&str>,
) -> Result<Amount, MapError> {
    let obj = rec.opt_obj(key).ok_or_else(|| {
        rec.error(
            key,
            "is missing; expected {amount (minor units), currency_code}",
        )
    })?;
    let path = rec.path_of(key);
    let amount = Rec::new(obj, &path);
    let units = obj["amount"]
        .as_i64()
        .ok_or_else(|| amount.error("amount", "is not an integer number of minor units (cents)"))?;
    let factor = match obj.get("minor_unit_conversion_rate") {
        None | Some(Value::Null) => 100,
        Some(v) => v.as_u64().ok_or_else(|| {
            amount.error(
                "minor_unit_conversion_rate",
                "is not a positive integer (100 for cents)",
            )
        })?,
    };
    if let (Some(expected), Some(found)) = (currency, amount.opt_str("currency_code"))
        && !expected.eq_ignore_ascii_case(found)
    {
        return Err(amount.error(
            "currency_code",
            format!(
                "is {found} but the record is in {expected}; lines must be in the record's currency"
            ),
        ));
    }
    Amount::from_minor_units(units, factor).map_err(|e| amount.error("amount", e.to_string()))
}

/// A reference from a selection: its `external_id` as ListID when it looks like one (hex,
/// `-`, at most 36 characters), else its name as FullName.
fn selection_ref(selection: &Value) -> Option<Ref> {
    let external = selection["external_id"]
        .as_str()
        .map(str::trim)
        .unwrap_or("");
    if !external.is_empty()
        && external.len() <= 36
        && external.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    {
        return Some(Ref::list_id(external));
    }
    selection["name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .map(|n| Ref::full_name(n.trim()))
}

/// The coding of a line: its own selections, falling back per type to the header's.
pub(crate) struct Coding<'a> {
    line: Vec<&'a Value>,
    header: Vec<&'a Value>,
}

impl<'a> Coding<'a> {
    pub(crate) fn new(line: Rec<'a>, header: Rec<'a>) -> Coding<'a> {
        let of = |rec: Rec<'a>| -> Vec<&'a Value> {
            rec.value()
                .get("accounting_field_selections")
                .and_then(Value::as_array)
                .map(|a| a.iter().take(qbridge_sdk::record::MAX_ENTRIES).collect())
                .unwrap_or_default()
        };
        Coding {
            line: of(line),
            header: of(header),
        }
    }

    fn find(&self, matches: impl Fn(&Value) -> bool) -> Option<&'a Value> {
        self.line
            .iter()
            .chain(self.header.iter())
            .find(|s| matches(s))
            .copied()
    }

    fn of_type(&self, kind: &str) -> Option<&'a Value> {
        self.find(|s| s["type"].as_str() == Some(kind))
    }

    fn account(&self) -> Option<Ref> {
        self.of_type("GL_ACCOUNT").and_then(selection_ref)
    }

    fn customer(&self) -> Option<Ref> {
        self.of_type("CUSTOMERS_JOBS").and_then(selection_ref)
    }

    fn class(&self) -> Option<Ref> {
        self.find(|s| {
            s["type"].as_str() == Some("CLASS")
                || (s["type"].as_str() == Some("OTHER")
                    && s["category_info"]["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case("class")))
        })
        .and_then(selection_ref)
    }

    fn billable(&self) -> Option<BillableStatus> {
        let name = self.of_type("BILLABLE")?["name"]
            .as_str()?
            .to_ascii_lowercase();
        Some(if name.contains("not") || name == "false" || name == "no" {
            BillableStatus::NotBillable
        } else {
            BillableStatus::Billable
        })
    }

    pub(crate) fn item(&self) -> Option<Ref> {
        self.of_type("INVENTORY_ITEM").and_then(selection_ref)
    }

    /// An expense line for `amount`, coded; refused without a GL account.
    pub(crate) fn expense_line(
        &self,
        amount: Amount,
        memo: Option<&str>,
        at: Rec,
    ) -> Result<ExpenseLine, MapError> {
        let account = self.account().ok_or_else(|| {
            at.error(
                "accounting_field_selections",
                "has no GL_ACCOUNT selection (nor has the record): code the GL account in Ramp",
            )
        })?;
        let mut line = ExpenseLine::new(checked(account, "GL_ACCOUNT", at)?, amount);
        if let Some(m) = memo {
            line = line.memo(m);
        }
        if let Some(c) = self.customer() {
            line = line.customer_ref(checked(c, "CUSTOMERS_JOBS", at)?);
        }
        if let Some(c) = self.class() {
            line = line.class_ref(checked(c, "CLASS", at)?);
        }
        if let Some(b) = self.billable() {
            line = line.billable_status(b);
        }
        Ok(line)
    }
}

/// `r` when it is a ListID or a usable `Parent:Child` name; a selection whose name has an
/// empty part (`Meals:`, `::`) is refused at the line's selections.
pub(crate) fn checked(r: Ref, kind: &str, at: Rec) -> Result<Ref, MapError> {
    if let Ref::FullName(name) = &r
        && name.split(':').any(|part| part.trim().is_empty())
    {
        return Err(at.error(
                "accounting_field_selections",
                format!(
                    "the {kind} name {:?} has an empty part; ':' separates parent and child names: fix the name in Ramp or give its ListID as external_id",
                    name.chars().take(60).collect::<String>()
                ),
            ));
    }
    Ok(r)
}

/// Expense lines from `line_items` (minor units), or one line for the whole `total` when
/// there are none; they must add up to `total` after rounding it to the minor unit (the SDK's
/// [`reconcile`]: a decimal header written with float artefacts maps, with a note in `notes`).
/// `negate` writes every amount with the opposite sign (a refund is a card credit of absolute
/// amounts).
pub(crate) fn expense_lines(
    header: Rec,
    total: Amount,
    total_field: &str,
    currency: Option<&str>,
    negate: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<ExpenseLine>, MapError> {
    let sign = |a: Amount| if negate { -a } else { a };
    let entries = header.entries("line_items")?;
    if entries.is_empty() {
        return Ok(vec![Coding::new(header, header).expense_line(
            sign(total),
            None,
            header,
        )?]);
    }
    let mut parts = Vec::new();
    for entry in &entries {
        let line = entry.rec();
        parts.push(Part::new(
            line.path_of("amount"),
            currency_amount(line, "amount", currency)?,
        ));
    }
    let check = Check {
        parts: "line_items amounts",
        total: total_field,
        decimals: CENT_DECIMALS,
    };
    let reconciled = reconcile(&parts, total, check).map_err(|e| {
        header.error(
            total_field,
            format!("{e}: the split does not add up; fix it in Ramp"),
        )
    })?;
    notes.extend(reconciled.note);
    let mut lines = Vec::new();
    for (entry, amount) in entries.iter().zip(reconciled.amounts) {
        let line = entry.rec();
        lines.push(Coding::new(line, header).expense_line(
            sign(amount),
            line.opt_str("memo"),
            line,
        )?);
    }
    Ok(lines)
}

/// QuickBooks amounts have two decimals.
pub(crate) const CENT_DECIMALS: u32 = 2;

/// Free text and the source marker.
pub(crate) fn memo(parts: &[Option<&str>], marker: &str) -> String {
    let text: String = parts
        .iter()
        .flatten()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MEMO_TEXT_MAX)
        .collect();
    if text.is_empty() {
        marker.to_string()
    } else {
        format!("{text} {marker}")
    }
}

/// A vendor matched by name: its `VendorAdd` (adopt, probe by name) and its reference.
pub(crate) fn vendor(
    name: &str,
    guid_source: &str,
    what: &str,
) -> Result<(Request, Ref), MapError> {
    let mut notes = Vec::new();
    let flat = if name.contains(':') {
        let flat = name.replace(':', "-");
        notes.push(format!(
            "vendor name {name:?} → {flat:?} (':' separates parent and child names in QuickBooks)"
        ));
        flat
    } else {
        name.trim().to_string()
    };
    // A name that would be cut to 41 characters (or lose characters) gets a hash of the whole
    // name, so two merchants that begin alike stay two vendors.
    let (flat, note) = distinct_name(&flat, 41);
    notes.extend(note);
    let key = format!("vendor:{}", key_part("ramp:vendor", &flat));
    let mut req = request(
        VendorAdd::new(flat.clone())
            .external_guid(external_guid("ramp:vendor", guid_source))
            .build(),
        &key,
        what,
    )?;
    req.notes.extend(notes);
    req.adopt_existing = true;
    // A vendor found by name is adopted as it is: it is the bookkeeper's record.
    req.significant = vec!["Name".to_string()];
    req.probe = Some(
        request(
            ListQuery::new(ListKind::Vendor).full_name(&flat).build(),
            "probe",
            what,
        )?
        .qbxml,
    );
    Ok((req, Ref::full_name(flat)))
}

/// The idempotency probe of a transaction: a query by RefNumber.
pub(crate) fn probe(kind: TxnKind, ref_no: &str) -> Result<String, MapError> {
    let mut query = TxnQuery::new(kind).ref_number(ref_no);
    for element in ["TxnID", "RefNumber", "Memo", "ExternalGUID"] {
        query = query.include_ret_element(element);
    }
    request(query.build(), "probe", "RefNumber").map(|r| r.qbxml)
}

fn transaction(t: Rec, settings: &Settings) -> Result<Vec<Request>, MapError> {
    let id = t.id("id")?;
    // Declined after all: if the charge reached QuickBooks, it is voided there.
    let declined = matches!(t.opt_str("state"), Some("DECLINED" | "ERROR"));
    if let Some(state @ ("PENDING" | "PENDING_INITIATION")) = t.opt_str("state") {
        return Err(t.error(
            "state",
            format!("is {state}: the charge has not settled; map it once it is CLEARED"),
        ));
    }
    let amount = t.amount("amount")?;
    if amount.is_zero() {
        return Ok(Vec::new()); // Nothing moved on the card.
    }
    let refund = amount.is_negative();
    let date = match t.opt_calendar_date("accounting_date")? {
        Some(d) => d,
        None => t
            .opt_local_date("user_transaction_time", settings)?
            .ok_or_else(|| {
                t.error(
                    "accounting_date",
                    "is missing, and so is user_transaction_time: the charge needs a date",
                )
            })?,
    };
    let mut notes = Vec::new();
    let lines = expense_lines(
        t,
        amount,
        "amount",
        t.opt_str("currency_code"),
        refund,
        &mut notes,
    )?;
    let ref_no = ref_number("", &id, 11).map_err(|e| t.error("id", e.to_string()))?;
    let holder = t.opt_obj("card_holder").map(|h| {
        format!(
            "Card: {} {}",
            h["first_name"].as_str().unwrap_or(""),
            h["last_name"].as_str().unwrap_or("")
        )
    });
    // A foreign-currency purchase: keep what was charged abroad visible to the accountant.
    let original = t
        .opt_obj("original_transaction_amount")
        .map(|o| Rec::new(o, ""))
        .filter(|o| o.opt_str("currency_code") != t.opt_str("currency_code"))
        .and_then(|o| {
            let amount = currency_amount(t, "original_transaction_amount", None).ok()?;
            Some(format!(
                "(original {amount} {})",
                o.opt_str("currency_code")?
            ))
        });
    let receipts = receipts_note(t, &id);
    let marker = memo_marker(&format!("ramp:transaction:{id}"));
    let account = Ref::full_name(card_account(settings));
    let mut add = if refund {
        CreditCardAdd::credit(account)
    } else {
        CreditCardAdd::charge(account)
    }
    .txn_date(date)
    .ref_number(ref_no.clone())
    .memo(memo(
        &[
            t.opt_str("memo"),
            original.as_deref(),
            holder.as_deref(),
            receipts.as_deref(),
        ],
        &marker,
    ))
    .external_guid(external_guid("ramp:transaction", &id));
    let mut requests = Vec::new();
    let mut depends_on = Vec::new();
    if let Some(merchant) = t.opt_str("merchant_name") {
        let (vendor_req, vendor_ref) = vendor(merchant, merchant, "transaction.merchant_name")?;
        depends_on.push(vendor_req.key.clone());
        requests.push(vendor_req);
        add = add.payee_entity_ref(vendor_ref);
    }
    for line in lines {
        add = add.expense_line(line);
    }
    let key = format!("transaction:{id}");
    let mut req = request(add.build(), &key, "transaction")?;
    req.notes.extend(notes);
    req.depends_on = depends_on;
    req.line_keys = line_ids(t, &["line_items"])?;
    let kind = if refund {
        TxnKind::CreditCardCredit
    } else {
        TxnKind::CreditCardCharge
    };
    req.probe = Some(probe(kind, &ref_no)?);
    requests.push(req);
    if declined {
        return Ok(removal(requests, &key, Action::Void));
    }
    Ok(requests)
}

/// Line keys of a record: the `id`s of its entries under `fields`, in document order (an
/// expense table before an item table, as the Add writes them); none unless every line has
/// one (see [`line_keys`]).
pub(crate) fn line_ids(header: Rec, fields: &[&str]) -> Result<Vec<String>, MapError> {
    let mut ids = Vec::new();
    for field in fields {
        ids.extend(header.entries(field)?.iter().map(|e| e.rec().opt_id("id")));
    }
    Ok(line_keys(ids))
}

/// Where the receipts are: qbXML cannot attach files, and Ramp's `receipt_url`s are pre-signed
/// and expire, so the memo names how many receipts Ramp holds and links the transaction in
/// Ramp (`deep_link_url` when given, else Ramp's transaction page).
fn receipts_note(t: Rec, id: &str) -> Option<String> {
    let count = t
        .value()
        .get("receipts")
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    if count == 0 {
        return None;
    }
    let link = t
        .opt_str("deep_link_url")
        .filter(|u| u.starts_with("https://"))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{RAMP_APP_URL}/transactions/{id}"));
    let noun = if count == 1 { "receipt" } else { "receipts" };
    Some(format!("{count} {noun} in Ramp: {link}"))
}

/// Ramp's web app, for links to a record in memos.
const RAMP_APP_URL: &str = "https://app.ramp.com";

fn reimbursement(r: Rec, settings: &Settings) -> Result<Vec<Request>, MapError> {
    let id = r.id("id")?;
    let kind = r.opt_str("type").unwrap_or("");
    if kind.starts_with("PAYBACK") || r.opt_str("direction") == Some("USER_TO_BUSINESS") {
        return Ok(Vec::new());
    }
    let amount = r.amount("amount")?;
    let currency = r.opt_str("currency");
    let user = r.str("user_full_name", "the employee's name")?;
    let user_id = r.opt_id("user_id").unwrap_or_else(|| user.to_string());
    let (vendor_req, vendor_ref) = vendor(
        &format!("{user} - Ramp"),
        &user_id,
        "reimbursement.user_full_name",
    )?;
    let date: Date = r.opt_calendar_date("transaction_date")?.ok_or_else(|| {
        r.error(
            "transaction_date",
            "is missing; the reimbursement needs its date",
        )
    })?;
    let mut notes = Vec::new();
    let lines = expense_lines(r, amount, "amount", currency, false, &mut notes)?;
    let ref_no = ref_number("R", &id, 20).map_err(|e| r.error("id", e.to_string()))?;
    let mut payments = Vec::new();
    if r.opt_str("state") == Some("REIMBURSED") {
        let paid = r.opt_calendar_date("accounting_date")?.unwrap_or(date);
        notes.push(format!(
            "Ramp gives no payment date for reimbursements: the payment is dated {paid} (accounting_date, else transaction_date)"
        ));
        payments.push(PlannedPayment {
            by_card: false,
            date: paid,
            amount,
            reference: r.opt_str("payment_id").map(str::to_string),
        });
    }
    let plan = PaymentPlan {
        bank_account: bank_account(settings),
        card_account: card_account(settings),
        payments,
    };
    let marker = memo_marker(&format!("ramp:reimbursement:{id}"));
    let mut add = BillAdd::new(vendor_ref)
        .txn_date(date)
        .ref_number(ref_no.clone())
        .memo(plan.append_to(&memo(&[r.opt_str("merchant"), r.opt_str("memo")], &marker)))
        .external_guid(external_guid("ramp:reimbursement", &id));
    for line in lines {
        add = add.expense_line(line);
    }
    let mut req = request(add.build(), &format!("reimbursement:{id}"), "reimbursement")?;
    req.notes.extend(notes);
    req.line_keys = line_ids(r, &["line_items"])?;
    req.depends_on = vec![vendor_req.key.clone()];
    req.probe = Some(probe(TxnKind::Bill, &ref_no)?);
    Ok(vec![vendor_req, req])
}
