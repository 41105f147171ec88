//! Pulling invoices, purchase orders and expense reports from the Autotask REST API and
//! acknowledging them: pure builders of the HTTP requests, parsers of the answers, and
//! [`pull_page`], which runs one page through any `fetch` function (the host's `http.fetch`
//! in WASM, recorded answers in tests).
//!
//! - Authentication: the headers `ApiIntegrationCode`, `UserName` and `Secret` carry the
//!   placeholders `{{secret:autotask.integration_code}}`, `{{secret:autotask.username}}` and
//!   `{{secret:autotask.secret}}`; the host substitutes them.
//! - Zone: the database's API root is `https://webservicesN.autotask.net/atservicesrest/v1.0`
//!   for the plugin's `zone` config N (per connection: an MSP's firms live in different
//!   zones); the manifest allows exactly that host through the template
//!   `webservices{zone}.autotask.net`, so the admin's value is the approval of the host.
//! - Cursor ([`Cursor`], see `cursor.rs`): the highest invoice id already pulled (ids only
//!   grow) and one date mark per other kind of change. A page runs one
//!   `POST /{Entity}/query` per part, at most [`PAGE_SIZE`] rows each: new invoices (`id >
//!   after_id`, not voided), invoices voided since the last pull, purchase orders submitted
//!   and cancelled since, expense reports approved since. The next cursor holds the page's
//!   marks — also on the last page, so the next run resumes there (the engine stops a run
//!   when the cursor stops moving). Filtering on ids and dates rather than following
//!   `pageDetails.nextPageUrl` keeps the cursor valid across restarts (Autotask's next-page
//!   URLs are tied to one query). Autotask's invoices have no last-modified field: an invoice
//!   changed in Autotask is voided and issued again under a new id, which the pull sees as a
//!   void and a new invoice.
//! - Bundles, with line queries following
//!   `nextPageUrl` up to [`MAX_ITEM_PAGES`] pages: an `invoice` is `GET /Companies/{companyID}`
//!   (and its parent, embedded as `parentCompany`) and `POST /BillingItems/query` on
//!   `invoiceID`; a `purchase_order` its vendor (`GET /Companies/{vendorID}`),
//!   `PurchaseOrderItems` on `orderID`, each with its `GET /Products/{productID}`; an
//!   `expense_report` its submitter (`GET /Resources/{submitterID}`) and `ExpenseItems` on
//!   `expenseReportID`.
//! - Acknowledgement ([`acknowledgement`]: [`acknowledge_invoice`],
//!   [`acknowledge_expense_report`]): after QuickBooks accepted the write, mark the record as
//!   processed in Autotask.

use serde_json::{Value, json};

pub use crate::cursor::{Cursor, Scan};
use qbridge_sdk::host::{HttpRequest, HttpResponse};
use qbridge_sdk::qbxml::element_text as element;
use qbridge_sdk::record::Records;

/// Invoices per page (Autotask returns at most 500 per query).
pub const PAGE_SIZE: u32 = 50;
/// Most billing-item pages followed for one invoice (500 items each).
pub const MAX_ITEM_PAGES: usize = 10;
/// The API root when no zone is configured (the zone-less host).
pub const DEFAULT_BASE: &str = "https://webservices.autotask.net/atservicesrest/v1.0";
/// The config key naming the database's zone: `N` of `webservicesN.autotask.net`.
pub const ZONE_KEY: &str = "zone";
/// The hosts the manifest declares: the zone-less host, and the one zone host the admin's
/// `zone` value completes for a connection (the zone is only known per database).
pub const ALLOWED_HOSTS: &[&str] = &["webservices.autotask.net", "webservices{zone}.autotask.net"];

/// The API root of `zone` (`None`: the zone-less host): 1 to 3 digits, as Autotask numbers
/// its zones.
pub fn base_for_zone(zone: Option<&str>) -> Result<String, String> {
    match zone {
        None => Ok(DEFAULT_BASE.to_string()),
        Some(z) if (1..=3).contains(&z.len()) && z.bytes().all(|b| b.is_ascii_digit()) => Ok(
            format!("https://webservices{z}.autotask.net/atservicesrest/v1.0"),
        ),
        Some(z) => Err(format!(
            "the config key `{ZONE_KEY}` is {z:?}; set it to the zone number N of your database's https://webservicesN.autotask.net (Autotask's zoneInformation call names it)"
        )),
    }
}

/// Earlier versions carried the zone's API root inside cursors and records; such a root must
/// be the configured one, or the pull and its acknowledgements would go to another database.
pub(crate) fn check_legacy_base(what: &str, legacy: &str, base: &str) -> Result<(), String> {
    if legacy.trim_end_matches('/').eq_ignore_ascii_case(base) {
        return Ok(());
    }
    Err(format!(
        "the {what} was written for {legacy}, but the plugin's `{ZONE_KEY}` config points at {base}; set it to that database's zone (`qbridge plugin config autotask set {ZONE_KEY} N`, N as in webservicesN.autotask.net)"
    ))
}
/// Secret names the manifest declares.
pub const SECRETS: &[&str] = &[
    "autotask.integration_code",
    "autotask.username",
    "autotask.secret",
];

fn headers() -> Vec<(String, String)> {
    [
        ("ApiIntegrationCode", "{{secret:autotask.integration_code}}"),
        ("UserName", "{{secret:autotask.username}}"),
        ("Secret", "{{secret:autotask.secret}}"),
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn http(method: &str, url: String, body: Option<Value>) -> HttpRequest {
    HttpRequest {
        method: method.to_string(),
        url,
        headers: headers(),
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    }
}

/// `POST /{entity}/query` with `filter`, at most [`PAGE_SIZE`] records.
fn query(base: &str, entity: &str, filter: Vec<Value>) -> HttpRequest {
    http(
        "POST",
        format!("{base}/{entity}/query"),
        Some(json!({"MaxRecords": PAGE_SIZE, "filter": filter})),
    )
}

/// `POST /Invoices/query`: the next [`PAGE_SIZE`] unvoided invoices after the cursor (one
/// voided before it was pulled never reached QuickBooks: nothing to book or void).
pub fn invoices_query(cursor: &Cursor) -> HttpRequest {
    query(
        &cursor.base,
        "Invoices",
        vec![
            json!({"op": "gt", "field": "id", "value": cursor.after_id}),
            json!({"op": "eq", "field": "isVoided", "value": false}),
        ],
    )
}

/// `POST /Invoices/query`: invoices already pulled (`id <= after_id`) voided since the mark.
pub fn voided_invoices_query(cursor: &Cursor) -> HttpRequest {
    let mut filter = cursor.voided_invoices.filter("voidedDate");
    filter.push(json!({"op": "eq", "field": "isVoided", "value": true}));
    filter.push(json!({"op": "lte", "field": "id", "value": cursor.after_id}));
    query(&cursor.base, "Invoices", filter)
}

/// `POST /PurchaseOrders/query`: purchase orders submitted since the mark.
pub fn purchase_orders_query(cursor: &Cursor) -> HttpRequest {
    query(
        &cursor.base,
        "PurchaseOrders",
        cursor.purchase_orders.filter("submitDateTime"),
    )
}

/// `POST /PurchaseOrders/query`: purchase orders cancelled since the mark, among those
/// already pulled (submitted before the purchase-order mark).
pub fn cancelled_purchase_orders_query(cursor: &Cursor) -> HttpRequest {
    let mut filter = cursor.cancelled_purchase_orders.filter("cancelDateTime");
    filter.push(
        json!({"op": "lte", "field": "submitDateTime", "value": cursor.purchase_orders.after}),
    );
    query(&cursor.base, "PurchaseOrders", filter)
}

/// `POST /ExpenseReports/query`: expense reports approved since the mark.
pub fn expense_reports_query(cursor: &Cursor) -> HttpRequest {
    query(
        &cursor.base,
        "ExpenseReports",
        cursor.expense_reports.filter("approvedDate"),
    )
}

/// `POST /{entity}/query` of the rows whose `field` is `id` (lines of one record).
fn lines_query(base: &str, entity: &str, field: &str, id: i64) -> HttpRequest {
    http(
        "POST",
        format!("{base}/{entity}/query"),
        Some(json!({"filter": [{"op": "eq", "field": field, "value": id}]})),
    )
}

/// `GET /Companies/{id}`.
pub fn company_request(base: &str, id: i64) -> HttpRequest {
    http("GET", format!("{base}/Companies/{id}"), None)
}

/// `POST /BillingItems/query` for the lines of one invoice.
pub fn billing_items_query(base: &str, invoice_id: i64) -> HttpRequest {
    lines_query(base, "BillingItems", "invoiceID", invoice_id)
}

/// Acknowledges an invoice booked in QuickBooks: `PATCH /Invoices` setting `webServiceDate`
/// (Autotask's "processed by an external application" field) to `now` (RFC 3339 UTC).
/// Whether Invoices accept this update over REST is unverified (see the research notes);
/// billing items do.
pub fn acknowledge_invoice(base: &str, invoice_id: i64, now: &str) -> HttpRequest {
    http(
        "PATCH",
        format!("{base}/Invoices"),
        Some(json!({"id": invoice_id, "webServiceDate": now})),
    )
}

/// Acknowledges an expense report: `PATCH /ExpenseReports` writing the bill's TxnID into
/// `quickBooksReferenceNumber`, the field Autotask's own integration uses.
pub fn acknowledge_expense_report(base: &str, report_id: i64, txn_id: &str) -> HttpRequest {
    http(
        "PATCH",
        format!("{base}/ExpenseReports"),
        Some(json!({"id": report_id, "quickBooksReferenceNumber": txn_id})),
    )
}

/// `{items, pageDetails.nextPageUrl}` of a query answer.
pub fn parse_items(
    response: &HttpResponse,
    what: &str,
) -> Result<(Vec<Value>, Option<String>), String> {
    let body = response.json(what)?;
    let items = body["items"]
        .as_array()
        .ok_or_else(|| format!("{what}: the answer has no items array"))?
        .clone();
    let next = body["pageDetails"]["nextPageUrl"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    Ok((items, next))
}

/// `{item}` of a `GET /{Entity}/{id}` answer.
pub fn parse_item(response: &HttpResponse, what: &str) -> Result<Value, String> {
    let body = response.json(what)?;
    match body.get("item") {
        Some(item) if item.is_object() => Ok(item.clone()),
        _ => Err(format!("{what}: the answer has no item object")),
    }
}

/// Follows `nextPageUrl` from `request` (at most [`MAX_ITEM_PAGES`] pages, never off the
/// zone): every row of a line query.
fn all_rows(
    fetch: &mut impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
    base: &str,
    mut request: HttpRequest,
    what: &str,
) -> Result<Vec<Value>, String> {
    let mut rows = Vec::new();
    for page in 0.. {
        let (mut page_rows, next) = parse_items(&fetch(request.clone())?, what)?;
        rows.append(&mut page_rows);
        match next {
            None => break,
            Some(_) if page + 1 >= MAX_ITEM_PAGES => {
                return Err(format!(
                    "{what}: more than {MAX_ITEM_PAGES} pages; map it by hand"
                ));
            }
            Some(url) if url.starts_with(base) => {
                request = HttpRequest {
                    method: "GET".into(),
                    body: Vec::new(),
                    url,
                    ..request
                };
            }
            Some(url) => return Err(format!("next page URL {url:?} leaves {base}")),
        }
    }
    Ok(rows)
}

/// `row[field]` as an id, or what is wrong, naming the entity.
fn id_of(row: &Value, field: &str, what: &str) -> Result<i64, String> {
    row[field]
        .as_i64()
        .ok_or_else(|| format!("{what} has no integer {field}"))
}

/// `GET /{entity}/{id}`'s item.
fn get(
    fetch: &mut impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
    base: &str,
    entity: &str,
    id: i64,
) -> Result<Value, String> {
    parse_item(
        &fetch(http("GET", format!("{base}/{entity}/{id}"), None))?,
        &format!("{entity}/{id}"),
    )
}

/// An `invoice` bundle: the invoice, its company (with its parent embedded) and billing items.
fn invoice_bundle(
    fetch: &mut impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
    base: &str,
    invoice: Value,
) -> Result<Value, String> {
    let id = id_of(&invoice, "id", "an invoice")?;
    let company_id = id_of(&invoice, "companyID", &format!("invoice {id}"))?;
    let mut company = get(fetch, base, "Companies", company_id)?;
    if let Some(parent_id) = company["parentCompanyID"].as_i64() {
        company["parentCompany"] = get(fetch, base, "Companies", parent_id)?;
    }
    let items = all_rows(
        fetch,
        base,
        billing_items_query(base, id),
        &format!("BillingItems of invoice {id}"),
    )?;
    Ok(json!({"invoice": invoice, "company": company, "billingItems": items}))
}

/// A `purchase_order` bundle: the order, its vendor (Companies row) and its items, each with
/// its product embedded (one `GET /Products` per product).
fn purchase_order_bundle(
    fetch: &mut impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
    base: &str,
    order: Value,
) -> Result<Value, String> {
    let id = id_of(&order, "id", "a purchase order")?;
    let vendor = get(
        fetch,
        base,
        "Companies",
        id_of(&order, "vendorID", &format!("purchase order {id}"))?,
    )?;
    let mut items = all_rows(
        fetch,
        base,
        lines_query(base, "PurchaseOrderItems", "orderID", id),
        &format!("PurchaseOrderItems of purchase order {id}"),
    )?;
    let mut products: Vec<(i64, Value)> = Vec::new();
    for item in &mut items {
        let product_id = id_of(
            item,
            "productID",
            &format!("an item of purchase order {id}"),
        )?;
        let product = match products.iter().find(|(p, _)| *p == product_id) {
            Some((_, product)) => product.clone(),
            None => {
                let product = get(fetch, base, "Products", product_id)?;
                products.push((product_id, product.clone()));
                product
            }
        };
        item["product"] = product;
    }
    Ok(json!({"purchaseOrder": order, "vendor": vendor, "items": items}))
}

/// An `expense_report` bundle: the report, its submitter (Resources row) and its items.
fn expense_report_bundle(
    fetch: &mut impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
    base: &str,
    report: Value,
) -> Result<Value, String> {
    let id = id_of(&report, "id", "an expense report")?;
    let resource = get(
        fetch,
        base,
        "Resources",
        id_of(&report, "submitterID", &format!("expense report {id}"))?,
    )?;
    let items = all_rows(
        fetch,
        base,
        lines_query(base, "ExpenseItems", "expenseReportID", id),
        &format!("ExpenseItems of expense report {id}"),
    )?;
    Ok(json!({"expenseReport": report, "resource": resource, "items": items}))
}

/// The rows of one query of the page.
fn rows(
    fetch: &mut impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
    request: HttpRequest,
    what: &str,
) -> Result<Vec<Value>, String> {
    let (mut rows, _) = parse_items(&fetch(request)?, what)?;
    rows.truncate(PAGE_SIZE as usize);
    Ok(rows)
}

/// One page: what changed since each part of the cursor (see [`crate::cursor`]) — voids of
/// invoices already pulled, new invoices, submitted and cancelled purchase orders, approved
/// expense reports — each bundled as [`crate::map`] reads it. `now` (RFC 3339 UTC) starts
/// the parts an older cursor lacks.
pub fn pull_page(
    cursor: Option<&str>,
    now: &str,
    base: &str,
    mut fetch: impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
) -> Result<Records, String> {
    let given = cursor;
    let cursor = Cursor::parse(cursor, now, base)?;
    let size = PAGE_SIZE as usize;
    let f = &mut fetch;
    let mut records = Vec::new();

    // Voids first, judged against the invoices pulled before this page.
    let voided = if cursor.after_id > 0 {
        rows(f, voided_invoices_query(&cursor), "Invoices/query (voided)")?
    } else {
        Vec::new()
    };
    let new = rows(f, invoices_query(&cursor), "Invoices/query")?;
    let orders = rows(f, purchase_orders_query(&cursor), "PurchaseOrders/query")?;
    let cancelled = rows(
        f,
        cancelled_purchase_orders_query(&cursor),
        "PurchaseOrders/query (cancelled)",
    )?;
    let reports = rows(f, expense_reports_query(&cursor), "ExpenseReports/query")?;

    let next = Cursor {
        after_id: new
            .iter()
            .filter_map(|i| i["id"].as_i64())
            .fold(cursor.after_id, i64::max),
        base: cursor.base.clone(),
        voided_invoices: cursor.voided_invoices.advance(&voided, "voidedDate", size),
        purchase_orders: cursor
            .purchase_orders
            .advance(&orders, "submitDateTime", size),
        cancelled_purchase_orders: cursor.cancelled_purchase_orders.advance(
            &cancelled,
            "cancelDateTime",
            size,
        ),
        expense_reports: cursor
            .expense_reports
            .advance(&reports, "approvedDate", size),
    };
    for invoice in voided.into_iter().chain(new) {
        records.push(("invoice".to_string(), invoice_bundle(f, base, invoice)?));
    }
    // A purchase order cancelled before it was pulled never reached QuickBooks.
    let live = orders
        .into_iter()
        .filter(|o| o["cancelDateTime"].as_str().is_none());
    for order in live.chain(cancelled) {
        records.push((
            "purchase_order".to_string(),
            purchase_order_bundle(f, base, order)?,
        ));
    }
    for report in reports {
        records.push((
            "expense_report".to_string(),
            expense_report_bundle(f, base, report)?,
        ));
    }
    // The high-water marks, also on the last page, so the next run resumes after them; a page
    // with nothing new hands back the cursor it got, which ends the run.
    // (An older cursor's text differs from the same cursor written now: it is rewritten once,
    // so the parts it lacked keep the time they started at. A first pull that found nothing
    // has nothing to remember: the next one starts afresh just the same.)
    let next_cursor = (given.is_some() || !records.is_empty()).then(|| next.to_text());
    Ok(Records {
        records,
        next_cursor,
    })
}

/// The acknowledgement of the completed request `key` made from the pulled `record` of
/// `kind`, at `now` (RFC 3339 UTC), sent to the configured zone's `base`: the invoice itself
/// (`invoice:<id>`) or an expense report's bill (`expense_report:<id>`, with its TxnID).
/// `None` for the customers and items an invoice needed.
pub fn acknowledgement(
    kind: &str,
    record: &Value,
    key: &str,
    response_xml: &str,
    now: &str,
    base: &str,
) -> Result<Option<HttpRequest>, String> {
    if let Some(legacy) = record["_source"]["base"].as_str() {
        check_legacy_base("record", legacy, base)?;
    }
    let id = |rest: &str| {
        rest.parse::<i64>()
            .map_err(|_| format!("{key}: {rest:?} is not an Autotask id"))
    };
    match (kind, key.split_once(':')) {
        ("invoice", Some(("invoice", rest))) => Ok(Some(acknowledge_invoice(base, id(rest)?, now))),
        ("expense_report", Some(("expense_report", rest))) => {
            let txn_id = element(response_xml, "TxnID")
                .ok_or_else(|| format!("QuickBooks' answer to {key} has no TxnID to write back"))?;
            Ok(Some(acknowledge_expense_report(base, id(rest)?, &txn_id)))
        }
        _ => Ok(None),
    }
}
