//! Autotask records → qbXML requests: pure functions over the JSON the Autotask REST API
//! returns (bundled the way [`crate::pull`] assembles them), natively testable.
//!
//! Record kinds and shapes (a kind's main object may also be given bare, without the bundle):
//!
//! | kind | record | requests |
//! |---|---|---|
//! | `company` | a Companies row (or `{"company": …}`), with `parentCompany` (object) or `parentCompanyName` when `parentCompanyID` is set | parent `CustomerAdd` (when embedded) + `CustomerAdd` |
//! | `invoice` | `{"invoice", "company", "billingItems": […]}` | `CustomerAdd` + one item add per distinct item + `InvoiceAdd` (or `CreditMemoAdd` for a negative total) |
//! | `purchase_order` | `{"purchaseOrder", "vendor": <Companies row>, "items": [{…, "product": {"name", …}}]}` | `VendorAdd` + item adds + `PurchaseOrderAdd` |
//! | `expense_report` | `{"expenseReport", "resource": {"id", "firstName", "lastName"}, "items": […]}` | `VendorAdd` (`v-Lastname, Firstname`) + `BillAdd` |
//! | `time_entry` | `{"timeEntry", "resource", "company", "billingCode": {"name"}}` | when `_qbridge.time_tracking` is true: `VendorAdd` + `CustomerAdd` + `ItemServiceAdd` + `TimeTrackingAdd` (see [`crate::time_entry`]) |
//!
//! Mapping decisions (an accountant's checklist):
//! - Customers are matched by exact name like Autotask's own extension: `CustomerAdd` with
//!   `adopt_existing`, key `customer:<company id>`; a child company is the job
//!   `Parent:Child` and depends on `customer:<parent id>`. Tax-exempt → sales tax code `Non`
//!   (and the tax id as resale number), else `Tax`.
//! - Items: `itemName` with `~` → `:` (Autotask's sub-item convention), 31 characters per
//!   part. Kind: a line from an expense item (`expenseItemID`, or `billingItemType` 2) is an
//!   Other Charge, a product (`productID`, or type 3) Non-inventory, everything else (labor,
//!   recurring services, milestones, credits) a Service. The key `item:<uuid of the name>`
//!   depends only on the name, so every invoice refers to the same item job.
//! - Item accounts (`_qbridge.accounts`): `income` (default **"Autotask Other"**, as
//!   Autotask's extension) for every item, overridden per kind by `service_income`,
//!   `product_income`, `expense_income`; non-inventory and other-charge items are also
//!   bought, through `product_cost` (default **"Cost of Goods Sold"**). Accounts must exist.
//! - Invoice lines: billing items sharing a `lineItemID` are one line (amounts and, for one
//!   item, quantities summed; QuickBooks computes the rate); the line sum must equal
//!   `invoiceTotal − totalTaxValue` when both are given, else the record is refused (lines are
//!   missing). QuickBooks computes sales tax (Autotask's default); a note says so when
//!   Autotask had tax.
//! - RefNumber = `invoiceNumber` when it fits 11 characters. A longer one becomes a stable
//!   hashed number (`~` + 10 characters, [`ref_number`]) rather than a QuickBooks-assigned
//!   one, so the idempotency probe (`InvoiceQuery` by RefNumber) still finds it; the full
//!   number is in the memo and a note says so.
//! - A negative line sum makes a `CreditMemoAdd` with every line negated (same key
//!   `invoice:<id>`).
//! - Changes after the sync: transactions carry line keys (an invoice line's is its first
//!   billing item's `id`, the tax line's `tax`; PO and expense lines their item `id`, freight
//!   `freight`), so the engine's Mod keeps QuickBooks' lines; customers are adopted by name
//!   only when `Name` and `CompanyName` agree, items and vendors on the name alone. A voided
//!   invoice (`isVoided`) is only its invoice request with action void (its header and a text
//!   line when Autotask already released the billing items); a cancelled purchase order
//!   (`cancelDateTime`) is deleted, since QuickBooks cannot void one. Autotask has no void
//!   of expense reports.
//! - Memo: comments, the Autotask number and the marker `src:autotask:invoice:<id>`;
//!   ExternalGUID = UUIDv5 of the id. PO number over 25 characters is truncated with a note.
//! - Dates: `invoiceDateTime`, `dueDate`, `weekEnding` are calendar dates (taken as they are);
//!   `itemDate`, `submitDateTime`, `expenseDate` are instants, converted to the firm's date
//!   (`_qbridge.timezone`).
//! - Expense reports: a bill to vendor `v-Lastname, Firstname` (Autotask's convention),
//!   RefNumber `ER<id>`; reimbursable items only (others were paid by the company, a note
//!   lists them); account `_qbridge.accounts["expense_category.<n>"]`, else `expense`
//!   (default **"Autotask Expenses"**).

use qbridge_sdk::id::{distinct_name, external_guid, memo_marker, ref_number};
use qbridge_sdk::qbxml::{
    Address, BillAdd, CustomerAdd, ExpenseLine, ItemAdd, ItemKind, ListKind, ListQuery,
    PurchaseOrderAdd, PurchaseOrderLine, Ref, TxnKind, TxnQuery, VendorAdd,
};
use qbridge_sdk::{Action, Request};
use serde_json::Value;

use qbridge_sdk::MapError;
use qbridge_sdk::record::{Rec, Settings, key_part, line_keys, removal, request, unwrap};

/// Every qbXML request type [`map`] emits (requests and probes), and the Mods, voids and
/// deletes the engine makes of them when a record changes at the source (it changes an object
/// only if its Mod is declared); the manifest declares these.
pub const REQUEST_TYPES: &[&str] = &[
    "CustomerAdd",
    "CustomerMod",
    "CustomerQuery",
    "ItemServiceAdd",
    "ItemServiceMod",
    "ItemNonInventoryAdd",
    "ItemNonInventoryMod",
    "ItemOtherChargeAdd",
    "ItemOtherChargeMod",
    "ItemQuery",
    "InvoiceAdd",
    "InvoiceMod",
    "InvoiceQuery",
    "CreditMemoAdd",
    "CreditMemoMod",
    "CreditMemoQuery",
    "VendorAdd",
    "VendorMod",
    "VendorQuery",
    "PurchaseOrderAdd",
    "PurchaseOrderMod",
    "PurchaseOrderQuery",
    "BillAdd",
    "BillMod",
    "BillQuery",
    "TimeTrackingAdd",
    "TimeTrackingMod",
    "TimeTrackingQuery",
    // Voided invoices; purchase orders (which QuickBooks cannot void) are deleted.
    "TxnVoid",
    "TxnDel",
];

/// Default income account of created items (Autotask's extension uses the same name).
pub const DEFAULT_INCOME_ACCOUNT: &str = "Autotask Other";
/// Default purchase (cost) account of created non-inventory and other-charge items.
pub const DEFAULT_COST_ACCOUNT: &str = "Cost of Goods Sold";
/// Default account of expense-report lines.
pub const DEFAULT_EXPENSE_ACCOUNT: &str = "Autotask Expenses";

/// Room kept for the free text of a memo, so the source marker after it always survives
/// QuickBooks' 4095-character limit.
const MEMO_TEXT_MAX: usize = 3_000;

/// Maps one Autotask record of `kind` to requests, in dependency order.
pub fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
    let settings = Settings::read(record)?;
    match kind {
        "company" => customer(Rec::new(unwrap(record, "company"), "company")),
        "invoice" => crate::invoice::invoice(record, &settings),
        "purchase_order" => purchase_order(record, &settings),
        "expense_report" => expense_report(record, &settings),
        "time_entry" => crate::time_entry::time_entry(record, &settings),
        other => Err(MapError::new(format!(
            "unknown record kind {other:?}; the Autotask plugin maps company, invoice, purchase_order, expense_report and time_entry"
        ))),
    }
}

/// Longest customer or vendor name QuickBooks keeps.
const NAME_MAX: usize = 41;
/// Longest item name (each `Parent:Child` part).
const ITEM_NAME_MAX: usize = 31;

/// A customer or vendor name for QuickBooks: `:` replaced, for list records whose names are
/// not hierarchical in the source (QuickBooks reads `:` as Parent:Child), and a name that
/// would be cut or lose characters made distinct ([`distinct_name`]); a note on each change.
fn flat_name(name: &str, notes: &mut Vec<String>) -> String {
    let flat = if name.contains(':') {
        let flat = name.replace(':', "-");
        notes.push(format!(
            "name {name:?} → {flat:?} (':' separates parent and child names in QuickBooks)"
        ));
        flat
    } else {
        name.trim().to_string()
    };
    let (name, note) = distinct_name(&flat, NAME_MAX);
    notes.extend(note);
    name
}

/// Free text followed by the source marker, the text cut so the marker always fits.
pub(crate) fn memo(text: &str, marker: &str) -> String {
    let text: String = text.trim().chars().take(MEMO_TEXT_MAX).collect();
    if text.is_empty() {
        marker.to_string()
    } else {
        format!("{text} {marker}")
    }
}

/// An Autotask address (`address1`, `address2`, `city`, `state`, `postalCode` by default).
fn address(rec: Rec, keys: [&str; 5]) -> Option<Address> {
    let [a1, a2, city, state, zip] = keys.map(|k| rec.opt_str(k).map(str::to_string));
    (a1.is_some() || a2.is_some() || city.is_some() || state.is_some() || zip.is_some()).then(
        || Address {
            addr1: a1,
            addr2: a2,
            city,
            state,
            postal_code: zip,
            ..Address::default()
        },
    )
}

const MAIN_ADDRESS: [&str; 5] = ["address1", "address2", "city", "state", "postalCode"];
const BILLING_ADDRESS: [&str; 5] = [
    "billingAddress1",
    "billingAddress2",
    "billToCity",
    "billToState",
    "billToZipCode",
];

/// The customer of a company (key `customer:<id>`), preceded by its parent's when the parent
/// is embedded; returns the requests and the customer's full name.
pub(crate) fn customer_requests(company: Rec) -> Result<(Vec<Request>, String), MapError> {
    let id = company.id("id")?;
    let mut notes = Vec::new();
    let name = flat_name(
        company.str("companyName", "the customer's name")?,
        &mut notes,
    );
    let mut requests = Vec::new();
    let mut depends_on = Vec::new();
    let full_name = match company.opt_id("parentCompanyID") {
        None => name.clone(),
        Some(parent_id) => {
            let parent_name = match company.opt_obj("parentCompany") {
                Some(parent) => {
                    let path = company.path_of("parentCompany");
                    let (parent_requests, parent_name) =
                        customer_requests(Rec::new(parent, &path))?;
                    requests.extend(parent_requests);
                    parent_name
                }
                None => flat_name(
                    company.str(
                        "parentCompanyName",
                        "the parent company's name (or an embedded parentCompany object), since parentCompanyID is set",
                    )?,
                    &mut notes,
                ),
            };
            if parent_name.contains(':') {
                return Err(company.error(
                    "parentCompanyID",
                    "the parent company has a parent itself; QuickBooks jobs here are one level deep (Parent:Child): move the company under the top-level company in Autotask or map it without a parent",
                ));
            }
            depends_on.push(format!("customer:{parent_id}"));
            format!("{parent_name}:{name}")
        }
    };
    let exempt = company.flag("isTaxExempt");
    let mut add = CustomerAdd::new(full_name.clone())
        .company_name(name)
        .sales_tax_code_ref(Ref::full_name(if exempt { "Non" } else { "Tax" }))
        .external_guid(external_guid("autotask:company", &id));
    if let Some(number) = company.opt_str("companyNumber") {
        add = add.account_number(number);
    }
    if let Some(phone) = company.opt_str("phone") {
        add = add.phone(phone);
    }
    if let Some(fax) = company.opt_str("fax") {
        add = add.fax(fax);
    }
    if let (true, Some(tax_id)) = (exempt, company.opt_str("taxID")) {
        add = add.resale_number(tax_id);
    }
    if company.value().get("isActive") == Some(&Value::Bool(false)) {
        add = add.is_active(false);
    }
    let main = address(company, MAIN_ADDRESS);
    // Autotask's extension sends the billing address only when it differs from the main one.
    if let Some(bill) = address(company, BILLING_ADDRESS).or_else(|| main.clone()) {
        add = add.bill_address(bill);
    }
    if let Some(ship) = main {
        add = add.ship_address(ship);
    }
    let what = company.path_of("companyName");
    let mut req = request(add.build(), &format!("customer:{id}"), &what)?;
    req.notes.extend(notes);
    req.depends_on = depends_on;
    req.adopt_existing = true;
    // A customer found by name is adopted as it is when its names agree; other fields
    // (addresses, phone) are then the source's to change.
    req.significant = CUSTOMER_SIGNIFICANT.iter().map(|f| f.to_string()).collect();
    req.probe = Some(
        request(
            ListQuery::new(ListKind::Customer)
                .full_name(&full_name)
                .build(),
            "probe",
            &what,
        )?
        .qbxml,
    );
    requests.push(req);
    Ok((requests, full_name))
}

/// The fields that decide whether a customer QuickBooks already has is this company.
const CUSTOMER_SIGNIFICANT: [&str; 2] = ["Name", "CompanyName"];

/// Items and vendors found by name are adopted as they are: they are shared with the rest of
/// the books (other invoices, other sources), so their accounts are not overwritten.
fn name_significant() -> Vec<String> {
    vec!["Name".to_string()]
}

fn customer(company: Rec) -> Result<Vec<Request>, MapError> {
    customer_requests(company).map(|(requests, _)| requests)
}

/// One item to add: its QuickBooks full name, kind and key, and the source field it came
/// from (for errors).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) name: String,
    pub(crate) kind: ItemKind,
    pub(crate) key: String,
    pub(crate) source: String,
    /// What was changed to make the name fit ([`distinct_name`] per part).
    pub(crate) notes: Vec<String>,
    /// The one account of an item sold only (`_qbridge.accounts` key and default), instead
    /// of the income/cost accounts its kind gets: the sales tax item posts to the liability.
    pub(crate) sole_account: Option<(&'static str, &'static str)>,
}

impl Item {
    /// `~` in Autotask names is the sub-item separator (Autotask's own convention).
    pub(crate) fn new(name: &str, kind: ItemKind, source: String) -> Item {
        let mut notes = Vec::new();
        let name = name
            .trim()
            .split('~')
            .map(|part| {
                let (part, note) = distinct_name(part, ITEM_NAME_MAX);
                notes.extend(note);
                part
            })
            .collect::<Vec<_>>()
            .join(":");
        let key = format!("item:{}", key_part("autotask:item", &name));
        Item {
            name,
            kind,
            key,
            source,
            notes,
            sole_account: None,
        }
    }

    pub(crate) fn request(&self, settings: &Settings) -> Result<Request, MapError> {
        let what = self.source.as_str();
        let (income_key, bought) = match self.kind {
            ItemKind::Service => ("service_income", false),
            ItemKind::NonInventory => ("product_income", true),
            ItemKind::OtherCharge => ("expense_income", true),
        };
        let income = settings.account(
            income_key,
            settings
                .account_name("income")
                .unwrap_or(DEFAULT_INCOME_ACCOUNT),
        );
        // Items are shared by name across invoices, so the GUID derives from the name.
        let add = ItemAdd::new(self.kind, self.name.clone())
            .external_guid(external_guid("autotask:item", &self.name));
        let add = if let Some((key, default)) = self.sole_account {
            add.account_ref(settings.account(key, default))
        } else if bought {
            add.income_account_ref(income)
                .expense_account_ref(settings.account("product_cost", DEFAULT_COST_ACCOUNT))
        } else {
            add.account_ref(income)
        };
        let mut req = request(add.build(), &self.key, what)?;
        req.notes.extend(self.notes.iter().cloned());
        req.adopt_existing = true;
        req.significant = name_significant();
        req.probe = Some(
            request(
                ListQuery::new(ListKind::Item).full_name(&self.name).build(),
                "probe",
                what,
            )?
            .qbxml,
        );
        Ok(req)
    }
}

/// The idempotency probe of a transaction: a query by its RefNumber returning what a match
/// is confirmed with (ExternalGUID, memo marker).
pub(crate) fn probe(kind: TxnKind, ref_no: &str) -> Result<String, MapError> {
    let mut query = TxnQuery::new(kind).ref_number(ref_no);
    for element in ["TxnID", "RefNumber", "Memo", "ExternalGUID"] {
        query = query.include_ret_element(element);
    }
    request(query.build(), "probe", "RefNumber").map(|r| r.qbxml)
}

/// A vendor add with `adopt_existing` (vendors are matched by name) and a name probe.
fn vendor_request(
    key: String,
    vendor: VendorAdd,
    name: &str,
    what: &str,
) -> Result<Request, MapError> {
    let mut req = request(vendor.build(), &key, what)?;
    req.adopt_existing = true;
    req.significant = name_significant();
    req.probe = Some(
        request(
            ListQuery::new(ListKind::Vendor).full_name(name).build(),
            "probe",
            what,
        )?
        .qbxml,
    );
    Ok(req)
}

fn purchase_order(record: &Value, settings: &Settings) -> Result<Vec<Request>, MapError> {
    let po = Rec::new(
        record
            .get("purchaseOrder")
            .filter(|v| v.is_object())
            .ok_or_else(|| MapError::field("purchaseOrder", "is missing; a purchase order record is {\"purchaseOrder\", \"vendor\", \"items\"}"))?,
        "purchaseOrder",
    );
    let id = po.id("id")?;
    let vendor_value = record
        .get("vendor")
        .filter(|v| v.is_object())
        .ok_or_else(|| {
            MapError::field(
                "vendor",
                "is missing; the purchase order needs its vendor (Companies row)",
            )
        })?;
    let vendor = Rec::new(vendor_value, "vendor");
    let vendor_id = vendor.id("id")?;
    let mut notes = Vec::new();
    let vendor_name = flat_name(vendor.str("companyName", "the vendor's name")?, &mut notes);
    let mut vendor_add = VendorAdd::new(vendor_name.clone())
        .company_name(vendor_name.clone())
        .external_guid(external_guid("autotask:company", &vendor_id));
    if let Some(a) = address(vendor, MAIN_ADDRESS) {
        vendor_add = vendor_add.vendor_address(a);
    }
    if let Some(phone) = vendor.opt_str("phone") {
        vendor_add = vendor_add.phone(phone);
    }
    let vendor_key = format!("vendor:{vendor_id}");
    let mut vendor_req = vendor_request(
        vendor_key.clone(),
        vendor_add,
        &vendor_name,
        "vendor.companyName",
    )?;
    vendor_req.notes.append(&mut notes);
    let mut requests = vec![vendor_req];
    let mut depends_on = vec![vendor_key];

    let entries = Rec::new(record, "").entries("items")?;
    if entries.is_empty() {
        return Err(MapError::field(
            "items",
            "is empty; a purchase order needs at least one item",
        ));
    }
    // Autotask's "External P.O. #" is the P.O. No. in QuickBooks.
    let number = po
        .opt_str("externalPONumber")
        .or(po.opt_str("purchaseOrderNumber"))
        .unwrap_or(&id);
    let ref_no =
        ref_number("", number, 11).map_err(|e| po.error("externalPONumber", e.to_string()))?;
    let marker = memo_marker(&format!("autotask:purchase_order:{id}"));
    let mut add = PurchaseOrderAdd::new(Ref::full_name(&vendor_name))
        .ref_number(ref_no.clone())
        .memo(memo(&format!("Autotask PO {number}"), &marker))
        .external_guid(external_guid("autotask:purchase_order", &id));
    if let Some(date) = po.opt_local_date("submitDateTime", settings)? {
        add = add.txn_date(date);
    }
    if let Some(msg) = po.opt_str("generalMemo") {
        add = add.vendor_msg(msg);
    }
    if let Some(ship) = address(
        po,
        [
            "shipToAddress1",
            "shipToAddress2",
            "shipToCity",
            "shipToState",
            "shipToPostalCode",
        ],
    ) {
        // The recipient's name goes on the first line, as on a printed PO.
        let ship = match po.opt_str("shipToName") {
            Some(name) => Address {
                addr1: Some(name.to_string()),
                addr2: ship.addr1.clone(),
                addr3: ship.addr2.clone(),
                ..ship
            },
            None => ship,
        };
        add = add.ship_address(ship);
    }
    let mut line_ids = Vec::new();
    for entry in &entries {
        let item = entry.rec();
        let name = match item.opt_obj("product") {
            Some(product) => Rec::new(product, &item.path_of("product"))
                .str("name", "the product name")?
                .to_string(),
            None => item
                .str(
                    "productName",
                    "the product name (or an embedded product object)",
                )?
                .to_string(),
        };
        let it = Item::new(&name, ItemKind::NonInventory, item.path_of("product"));
        if !depends_on.contains(&it.key) {
            requests.push(it.request(settings)?);
            depends_on.push(it.key.clone());
        }
        line_ids.push(item.opt_id("id"));
        let mut line = PurchaseOrderLine::new(Ref::full_name(&it.name))
            .quantity(item.amount("quantity")?)
            .rate(item.amount("unitCost")?);
        if let Some(m) = item.opt_str("memo") {
            line = line.desc(m);
        }
        add = add.line(line);
    }
    if let Some(freight) = po.opt_amount("freight")?.filter(|f| !f.is_zero()) {
        let it = Item::new("Freight", ItemKind::OtherCharge, po.path_of("freight"));
        if !depends_on.contains(&it.key) {
            requests.push(it.request(settings)?);
            depends_on.push(it.key.clone());
        }
        line_ids.push(Some("freight".to_string()));
        add = add.line(
            PurchaseOrderLine::new(Ref::full_name(&it.name))
                .desc("Freight")
                .amount(freight),
        );
    }
    let key = format!("purchase_order:{id}");
    let mut req = request(add.build(), &key, "purchaseOrder")?;
    req.depends_on = depends_on;
    req.line_keys = line_keys(line_ids);
    req.probe = Some(probe(TxnKind::PurchaseOrder, &ref_no)?);
    requests.push(req);
    if po.opt_str("cancelDateTime").is_some() {
        // Cancelled in Autotask: QuickBooks cannot void a purchase order, only delete it.
        return Ok(removal(requests, &key, Action::Delete));
    }
    Ok(requests)
}

/// The vendor of an Autotask resource (`record.resource`): `v-Lastname, Firstname`, as
/// Autotask's own extension names it, key `vendor:resource-<id>`; and its name.
pub(crate) fn resource_vendor(record: &Value, whose: &str) -> Result<(Request, String), MapError> {
    let resource_value = record
        .get("resource")
        .filter(|v| v.is_object())
        .ok_or_else(|| {
            MapError::field(
                "resource",
                format!("is missing; the record needs {whose} (Resources row) to name the vendor"),
            )
        })?;
    let resource = Rec::new(resource_value, "resource");
    let resource_id = resource.id("id")?;
    let mut notes = Vec::new();
    let vendor_name = flat_name(
        &format!(
            "v-{}, {}",
            resource.str("lastName", "the resource's last name")?,
            resource.str("firstName", "the resource's first name")?
        ),
        &mut notes,
    );
    let mut vendor_req = vendor_request(
        format!("vendor:resource-{resource_id}"),
        VendorAdd::new(vendor_name.clone())
            .external_guid(external_guid("autotask:resource", &resource_id)),
        &vendor_name,
        "resource.lastName",
    )?;
    vendor_req.notes.append(&mut notes);
    Ok((vendor_req, vendor_name))
}

fn expense_report(record: &Value, settings: &Settings) -> Result<Vec<Request>, MapError> {
    let report = Rec::new(
        record
            .get("expenseReport")
            .filter(|v| v.is_object())
            .ok_or_else(|| MapError::field("expenseReport", "is missing; an expense report record is {\"expenseReport\", \"resource\", \"items\"}"))?,
        "expenseReport",
    );
    let id = report.id("id")?;
    let (vendor_req, vendor_name) = resource_vendor(record, "the expense report's submitter")?;
    let vendor_key = vendor_req.key.clone();

    let entries = Rec::new(record, "").entries("items")?;
    let ref_no = ref_number("ER", &id, 20).map_err(|e| report.error("id", e.to_string()))?;
    let marker = memo_marker(&format!("autotask:expense_report:{id}"));
    let mut add = BillAdd::new(Ref::full_name(&vendor_name))
        .ref_number(ref_no.clone())
        .memo(memo(report.opt_str("name").unwrap_or(""), &marker))
        .external_guid(external_guid("autotask:expense_report", &id));
    if let Some(date) = report.opt_calendar_date("weekEnding")? {
        add = add.txn_date(date);
    }
    let mut company_paid = Vec::new();
    let mut line_ids = Vec::new();
    for entry in &entries {
        let item = entry.rec();
        let amount = item.amount("internalCurrencyExpenseAmount")?;
        if item.value().get("isReimbursable") == Some(&Value::Bool(false)) {
            company_paid.push(format!("{} ({amount})", entry.path));
            continue;
        }
        let account = match item.opt_id("expenseCategory") {
            Some(category) => settings.account(
                &format!("expense_category.{category}"),
                settings
                    .account_name("expense")
                    .unwrap_or(DEFAULT_EXPENSE_ACCOUNT),
            ),
            None => settings.account("expense", DEFAULT_EXPENSE_ACCOUNT),
        };
        let date = item.opt_local_date("expenseDate", settings)?;
        let text = [
            date.map(|d| d.to_string()),
            item.opt_str("description").map(str::to_string),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let mut line = ExpenseLine::new(account, amount);
        if !text.is_empty() {
            line = line.memo(text);
        }
        add = add.expense_line(line);
        line_ids.push(item.opt_id("id"));
    }
    if line_ids.is_empty() {
        // Nothing the company owes the employee: no bill.
        return Ok(Vec::new());
    }
    let mut req = request(
        add.build(),
        &format!("expense_report:{id}"),
        "expenseReport",
    )?;
    if !company_paid.is_empty() {
        req.notes.push(format!(
            "not reimbursable (paid by the company), left off the bill: {}",
            company_paid.join(", ")
        ));
    }
    req.depends_on = vec![vendor_key];
    req.line_keys = line_keys(line_ids);
    req.probe = Some(probe(TxnKind::Bill, &ref_no)?);
    Ok(vec![vendor_req, req])
}
