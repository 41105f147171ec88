//! Autotask invoices: billing items → invoice lines (grouped by `lineItemID`, classed by
//! Line of Business), checked against the invoice total with the SDK's tolerant
//! [`reconcile`], and Autotask's sales tax kept as Autotask computed it (see [`TaxMode`]).

use std::collections::BTreeMap;

use qbridge_sdk::amount::Amount;
use qbridge_sdk::id::{external_guid, memo_marker, ref_number};
use qbridge_sdk::qbxml::{InvoiceAdd, InvoiceLine, ItemKind, Ref, TxnKind};
use qbridge_sdk::reconcile::{Check, Part, reconcile};
use qbridge_sdk::{Action, Request};
use serde_json::Value;

use crate::map::{Item, customer_requests, memo, probe};
use qbridge_sdk::MapError;
use qbridge_sdk::record::{Entry, Rec, Settings, line_keys, removal, request};

/// The class of a billing item's Line of Business (Autotask's Division > Line of Business,
/// the QuickBooks class in Autotask's own extension): `lineOfBusiness` when the bundle names
/// it, else `_qbridge.classes[<organizationalLevelAssociationID>]`. An association without a
/// configured class is booked without one, with a note.
fn line_class(item: Rec, settings: &Settings, notes: &mut Vec<String>) -> Option<String> {
    if let Some(name) = item.opt_str("lineOfBusiness") {
        return Some(name.trim().to_string());
    }
    let association = item.opt_id("organizationalLevelAssociationID")?;
    let class = settings.lookup("classes", &association);
    if class.is_none() {
        let note = format!(
            "no class for Line of Business {association} (organizationalLevelAssociationID): set _qbridge.classes[\"{association}\"] to book it to a class"
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    class.map(str::to_string)
}

/// The item kind of a billing item (see the module docs).
fn billing_item_kind(item: Rec) -> ItemKind {
    let billing_type = item.opt_id("billingItemType");
    if item.opt_id("expenseItemID").is_some() || billing_type.as_deref() == Some("2") {
        ItemKind::OtherCharge
    } else if item.opt_id("productID").is_some() || billing_type.as_deref() == Some("3") {
        ItemKind::NonInventory
    } else {
        ItemKind::Service
    }
}

/// Invoice lines: billing items grouped by `lineItemID`, in order of first appearance.
struct Line {
    /// Path of the line's (first) billing item, for notes and refusals.
    path: String,
    /// The line key: the (first) billing item's id.
    id: Option<String>,
    item: Item,
    /// The QuickBooks class of the line's Line of Business, if any.
    class: Option<String>,
    desc: Option<String>,
    quantity: Option<Amount>,
    rate: Option<Amount>,
    amount: Amount,
    service_date: Option<qbridge_sdk::qbxml::Date>,
}

fn add_amounts(a: Amount, b: Amount, field: &str) -> Result<Amount, MapError> {
    a.checked_add(b)
        .map_err(|e| MapError::field(field, e.to_string()))
}

fn invoice_lines(
    items: &[Entry],
    settings: &Settings,
    notes: &mut Vec<String>,
) -> Result<Vec<Line>, MapError> {
    let mut lines: Vec<Line> = Vec::new();
    let mut group_of: BTreeMap<String, usize> = BTreeMap::new();
    for entry in items {
        let item = entry.rec();
        let name = item.str("itemName", "the item name of the line")?;
        let it = Item::new(name, billing_item_kind(item), item.path_of("itemName"));
        let amount = item.amount("extendedPrice")?;
        let quantity = item.opt_amount("quantity")?;
        let desc = item.opt_str("description").map(str::to_string);
        let service_date = item.opt_local_date("itemDate", settings)?;
        let group = item.opt_id("lineItemID");
        if let Some(&at) = group.as_ref().and_then(|g| group_of.get(g)) {
            let line = &mut lines[at];
            line.amount = add_amounts(line.amount, amount, &item.path_of("extendedPrice"))?;
            line.quantity = match (line.quantity, quantity, line.item.key == it.key) {
                (Some(a), Some(b), true) => Some(add_amounts(a, b, &item.path_of("quantity"))?),
                _ => None,
            };
            line.rate = None; // QuickBooks computes amount / quantity, as Autotask's extension.
            if let Some(d) = desc {
                line.desc = Some(match line.desc.take() {
                    Some(prev) => format!("{prev}\n{d}"),
                    None => d,
                });
            }
            continue;
        }
        if let Some(g) = group {
            group_of.insert(g, lines.len());
        }
        lines.push(Line {
            path: item.path_of("extendedPrice"),
            id: item.opt_id("id"),
            class: line_class(item, settings, notes),
            desc: item
                .opt_str("lineItemFullDescription")
                .map(str::to_string)
                .or(desc),
            rate: item.opt_amount("rate")?,
            item: it,
            quantity,
            amount,
            service_date,
        });
    }
    Ok(lines)
}

/// How Autotask's sales tax reaches QuickBooks: `_qbridge.tax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaxMode {
    /// `autotask` (default): the tax Autotask computed is one line of the invoice, every line
    /// non-taxable, so QuickBooks' total is Autotask's to the cent and QuickBooks adds no tax
    /// of its own (Autotask warns never to compute tax in both systems).
    Autotask,
    /// `quickbooks`: lines only; QuickBooks computes the tax from its own tax codes (the
    /// default of Autotask's own extension), and a note gives Autotask's figure to compare.
    QuickBooks,
}

impl TaxMode {
    fn read(settings: &Settings) -> Result<TaxMode, MapError> {
        match settings.text("tax").map(str::trim) {
            None | Some("autotask") => Ok(TaxMode::Autotask),
            Some("quickbooks") => Ok(TaxMode::QuickBooks),
            Some(other) => Err(MapError::field(
                "_qbridge.tax",
                format!(
                    "{:?} is not a tax mode: write \"autotask\" (keep Autotask's tax) or \"quickbooks\" (QuickBooks computes it)",
                    other.chars().take(40).collect::<String>()
                ),
            )),
        }
    }
}

/// The invoice's sales tax: `totalTaxValue`, checked against the lines' `taxDollars` when they
/// carry any; `None` when there is none.
fn invoice_tax(inv: Rec, items: &[Entry]) -> Result<Option<Amount>, MapError> {
    let mut line_taxes = Vec::new();
    for entry in items {
        if let Some(tax) = entry.rec().opt_amount("taxDollars")? {
            line_taxes.push(Part::new(entry.rec().path_of("taxDollars"), tax));
        }
    }
    let header = inv.opt_amount("totalTaxValue")?;
    let tax = match header {
        Some(total) if !line_taxes.is_empty() => {
            let check = Check {
                parts: "taxDollars values",
                total: "totalTaxValue",
                decimals: CENT_DECIMALS,
            };
            reconcile(&line_taxes, total, check)
                .map_err(|e| inv.error("totalTaxValue", e.to_string()))?;
            Some(total)
        }
        Some(total) => Some(total),
        None => {
            let mut sum = Amount::ZERO;
            for part in &line_taxes {
                sum = add_amounts(sum, part.amount, &part.path)?;
            }
            (!line_taxes.is_empty()).then_some(sum)
        }
    };
    Ok(tax.filter(|t| !t.rounded(CENT_DECIMALS).is_zero()))
}

/// QuickBooks amounts have two decimals; Autotask's customer currencies are cents-based.
const CENT_DECIMALS: u32 = 2;

/// Default name of the item Autotask's tax is booked through (`_qbridge.tax_item`).
pub const DEFAULT_TAX_ITEM: &str = "Autotask Sales Tax";
/// Default account of that item (`_qbridge.accounts.sales_tax`): the tax is owed, not earned.
pub const DEFAULT_TAX_ACCOUNT: &str = "Sales Tax Payable";

pub(crate) fn invoice(record: &Value, settings: &Settings) -> Result<Vec<Request>, MapError> {
    let inv = Rec::new(
        record
            .get("invoice")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                MapError::field(
                    "invoice",
                    "is missing; an invoice record is {\"invoice\", \"company\", \"billingItems\"}",
                )
            })?,
        "invoice",
    );
    let id = inv.id("id")?;
    let voided = inv.flag("isVoided");
    let tax_mode = TaxMode::read(settings)?;
    let company_id = inv.id("companyID")?;
    let company_value = record
        .get("company")
        .filter(|v| v.is_object())
        .ok_or_else(|| {
            MapError::field(
                "company",
                "is missing; the invoice needs its company (Companies row) to name the customer",
            )
        })?;
    let company = Rec::new(company_value, "company");
    if company.id("id")? != company_id {
        return Err(company.error(
            "id",
            format!("is not the invoice's companyID {company_id}: the bundle mixes records"),
        ));
    }
    let txn_date = inv
        .opt_calendar_date("invoiceDateTime")?
        .ok_or_else(|| inv.error("invoiceDateTime", "is missing; the invoice needs its date"))?;
    let items = Rec::new(record, "").entries("billingItems")?;
    if voided && items.is_empty() {
        // Autotask returns a voided invoice's billing items to "Items to Invoice", so its
        // bundle usually has none: the void needs only the invoice's type and key.
        return voided_header(inv, &id, company, txn_date);
    }
    if items.is_empty() {
        return Err(MapError::field(
            "billingItems",
            "is empty; an invoice needs at least one billing item",
        ));
    }
    let mut notes = Vec::new();
    let mut lines = invoice_lines(&items, settings, &mut notes)?;
    let tax = invoice_tax(inv, &items)?;
    let parts: Vec<Part> = lines.iter().map(|l| Part::new(&l.path, l.amount)).collect();
    // The lines must come to the invoice total less its tax; without a total, each line is
    // rounded on its own.
    let expected = match inv.opt_amount("invoiceTotal")? {
        Some(invoice_total) => invoice_total
            .checked_sub(tax.unwrap_or(Amount::ZERO))
            .map_err(|e| inv.error("invoiceTotal", e.to_string()))?,
        None => parts
            .iter()
            .try_fold(Amount::ZERO, |sum, p| add_amounts(sum, p.amount, &p.path))?,
    };
    let check = Check {
        parts: "extendedPrice values",
        total: "invoiceTotal − totalTaxValue",
        decimals: CENT_DECIMALS,
    };
    let reconciled = reconcile(&parts, expected, check).map_err(|e| {
        MapError::field(
            "billingItems",
            format!("{e}: billing items are missing from the record, or the total is wrong"),
        )
    })?;
    for (line, amount) in lines.iter_mut().zip(&reconciled.amounts) {
        line.amount = *amount;
    }
    notes.extend(reconciled.note);
    let tax = tax.map(|t| t.rounded(CENT_DECIMALS));
    let grand_total = add_amounts(reconciled.total, tax.unwrap_or(Amount::ZERO), "invoice")?;

    let (mut requests, customer_name) = customer_requests(company)?;
    let customer_key = format!("customer:{company_id}");
    let mut depends_on = vec![customer_key];
    let tax_item = match (tax, tax_mode) {
        (Some(_), TaxMode::Autotask) => {
            let name = settings.text("tax_item").unwrap_or(DEFAULT_TAX_ITEM);
            let mut item = Item::new(name, ItemKind::OtherCharge, "_qbridge.tax_item".into());
            item.sole_account = Some(("sales_tax", DEFAULT_TAX_ACCOUNT));
            Some(item)
        }
        _ => None,
    };
    for item in lines.iter().map(|l| &l.item).chain(tax_item.as_ref()) {
        if !depends_on.contains(&item.key) {
            requests.push(item.request(settings)?);
            depends_on.push(item.key.clone());
        }
    }

    let credit = grand_total.is_negative();
    let (ref_no, number) = invoice_ref(inv, &id)?;
    if ref_no != number {
        notes.push(format!(
            "RefNumber: Autotask invoice number {number:?} does not fit QuickBooks' 11 characters; used {ref_no:?} (the full number is in the memo)"
        ));
    }
    match (tax, tax_mode) {
        (Some(tax), TaxMode::Autotask) => notes.push(format!(
            "sales tax: Autotask computed {tax}; it is the invoice's last line (item {:?}) and every line is non-taxable, so QuickBooks' total is Autotask's {grand_total}",
            tax_item.as_ref().map(|i| i.name.as_str()).unwrap_or_default()
        )),
        (Some(tax), TaxMode::QuickBooks) => notes.push(format!(
            "sales tax: Autotask computed {tax}; QuickBooks computes the tax itself from the customer's and items' tax codes (_qbridge.tax = \"quickbooks\"): check the totals agree"
        )),
        (None, _) => {}
    }
    let marker = memo_marker(&format!("autotask:invoice:{id}"));
    let text = format!(
        "{} Autotask invoice {number}",
        inv.opt_str("comments").unwrap_or("")
    );
    let customer_ref = Ref::full_name(&customer_name);
    let mut add = if credit {
        InvoiceAdd::credit_memo(customer_ref)
    } else {
        InvoiceAdd::new(customer_ref)
    }
    .txn_date(txn_date)
    .ref_number(ref_no.clone())
    .memo(memo(&text, &marker))
    .external_guid(external_guid("autotask:invoice", &id));
    // A credit memo has no due date.
    if let (Some(due), false) = (inv.opt_calendar_date("dueDate")?, credit) {
        add = add.due_date(due);
    }
    if let Some(po) = inv.opt_str("orderNumber") {
        add = add.po_number(po);
    }
    if company.flag("isTaxExempt") {
        add = add.customer_sales_tax_code_ref(Ref::full_name("Non"));
    }
    let sign = |a: Amount| if credit { -a } else { a };
    let keep_tax = tax_item.is_some();
    let mut line_ids = Vec::new();
    for line in lines {
        line_ids.push(line.id);
        let mut l = InvoiceLine::new(Ref::full_name(&line.item.name)).amount(sign(line.amount));
        if let Some(desc) = line.desc {
            l = l.desc(desc);
        }
        if let Some(q) = line.quantity {
            l = l.quantity(q);
        }
        if let Some(r) = line.rate {
            l = l.rate(sign(r));
        }
        if let Some(class) = line.class {
            l = l.class_ref(Ref::full_name(class));
        }
        if let Some(d) = line.service_date {
            l = l.service_date(d);
        }
        if keep_tax {
            l = l.sales_tax_code_ref(Ref::full_name("Non"));
        }
        add = add.line(l);
    }
    if let (Some(item), Some(tax)) = (&tax_item, tax) {
        let desc = match inv.opt_str("taxRegionName") {
            Some(region) => format!("Sales tax ({region}), as computed by Autotask"),
            None => "Sales tax, as computed by Autotask".to_string(),
        };
        line_ids.push(Some(TAX_LINE_KEY.to_string()));
        add = add.line(
            InvoiceLine::new(Ref::full_name(&item.name))
                .desc(desc)
                .amount(sign(tax))
                .sales_tax_code_ref(Ref::full_name("Non")),
        );
    }
    let key = format!("invoice:{id}");
    let mut req = request(add.build(), &key, "invoice")?;
    req.notes.extend(notes);
    req.depends_on = depends_on;
    req.line_keys = line_keys(line_ids);
    req.probe = Some(probe(txn_kind(credit), &ref_no)?);
    requests.push(req);
    if voided {
        return Ok(removal(requests, &key, Action::Void));
    }
    Ok(requests)
}

/// The line key of the sales tax line (billing item ids are numbers, so it cannot clash).
const TAX_LINE_KEY: &str = "tax";

fn txn_kind(credit: bool) -> TxnKind {
    if credit {
        TxnKind::CreditMemo
    } else {
        TxnKind::Invoice
    }
}

/// The RefNumber of an invoice and the Autotask number it stands for.
fn invoice_ref<'a>(inv: Rec<'a>, id: &'a str) -> Result<(String, &'a str), MapError> {
    let number = inv.opt_str("invoiceNumber").unwrap_or(id);
    let ref_no =
        ref_number("", number, 11).map_err(|e| inv.error("invoiceNumber", e.to_string()))?;
    Ok((ref_no, number))
}

/// The void of an invoice whose billing items Autotask released: its header, an `InvoiceAdd`
/// (a `CreditMemoAdd` when `invoiceTotal` is negative) under the same key, with the same
/// RefNumber, memo marker and ExternalGUID as the invoice that was written, and one text line
/// (the schema wants a line; the engine sends only the void, never this Add).
fn voided_header(
    inv: Rec,
    id: &str,
    company: Rec,
    txn_date: qbridge_sdk::qbxml::Date,
) -> Result<Vec<Request>, MapError> {
    let (_, customer_name) = customer_requests(company)?;
    let credit = inv
        .opt_amount("invoiceTotal")?
        .is_some_and(|t| t.is_negative());
    let (ref_no, number) = invoice_ref(inv, id)?;
    let customer_ref = Ref::full_name(&customer_name);
    let add = if credit {
        InvoiceAdd::credit_memo(customer_ref)
    } else {
        InvoiceAdd::new(customer_ref)
    }
    .txn_date(txn_date)
    .ref_number(ref_no.clone())
    .memo(memo(
        &format!(
            "{} Autotask invoice {number}",
            inv.opt_str("comments").unwrap_or("")
        ),
        &memo_marker(&format!("autotask:invoice:{id}")),
    ))
    .external_guid(external_guid("autotask:invoice", id))
    .line(InvoiceLine::text(format!(
        "Voided in Autotask{}; its billing items went back to Items to Invoice",
        inv.opt_str("voidedDate")
            .map(|d| format!(" on {}", d.get(..10).unwrap_or(d)))
            .unwrap_or_default()
    )));
    let req = request(add.build(), &format!("invoice:{id}"), "invoice")?
        .probe(probe(txn_kind(credit), &ref_no)?)
        .action(Action::Void);
    Ok(vec![req])
}
