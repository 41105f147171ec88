//! Pulling invoices from the Autotask REST API and acknowledging them: pure builders of the
//! HTTP requests, parsers of the answers, and [`pull_page`], which runs one page through any
//! `fetch` function (the host's `http.fetch` in WASM, recorded answers in tests).
//!
//! - Authentication: the headers `ApiIntegrationCode`, `UserName` and `Secret` carry the
//!   placeholders `{{secret:autotask.integration_code}}`, `{{secret:autotask.username}}` and
//!   `{{secret:autotask.secret}}`; the host substitutes them.
//! - Cursor: the highest invoice id already pulled (ids only grow), optionally with the zone
//!   URL: `{"after_id": 29684512, "base": "https://webservices5.autotask.net/atservicesrest/v1.0"}`.
//!   A page is `POST /Invoices/query` with `id > after_id` and `isVoided = false`, at most
//!   [`PAGE_SIZE`] invoices; the next cursor is the page's last id — also on the last page, so
//!   the next run resumes there (the engine stops a run when the cursor stops moving).
//!   Filtering on the id rather than following `pageDetails.nextPageUrl` keeps the cursor
//!   valid across restarts (Autotask's next-page URLs are tied to one query).
//! - Each invoice becomes an `invoice` bundle: `GET /Companies/{companyID}` (and its parent,
//!   embedded as `parentCompany`) and `POST /BillingItems/query` on `invoiceID`, following
//!   `nextPageUrl` up to [`MAX_ITEM_PAGES`] pages.
//!   The bundle also carries `"_source": {"base": …}`, the zone it came from, so that its
//!   acknowledgement goes back to the same database.
//! - Acknowledgement ([`acknowledgement`]: [`acknowledge_invoice`],
//!   [`acknowledge_expense_report`]): after QuickBooks accepted the write, mark the record as
//!   processed in Autotask.

use serde_json::{Value, json};

use crate::record::{HttpRequest, HttpResponse, Page, element};

/// Invoices per page (Autotask returns at most 500 per query).
pub const PAGE_SIZE: u32 = 50;
/// Most billing-item pages followed for one invoice (500 items each).
pub const MAX_ITEM_PAGES: usize = 10;
/// The API root used when the cursor names no zone.
pub const DEFAULT_BASE: &str = "https://webservices.autotask.net/atservicesrest/v1.0";
/// Highest Autotask zone number (`webservicesN.autotask.net`) the manifest allows.
pub const MAX_ZONE: u8 = 30;

/// The hosts the manifest declares: the zone-less host and every zone host up to
/// [`MAX_ZONE`], since the database's zone is only known per connection.
pub fn allowed_hosts() -> Vec<String> {
    std::iter::once("webservices.autotask.net".to_string())
        .chain((1..=MAX_ZONE).map(|n| format!("webservices{n}.autotask.net")))
        .collect()
}
/// Secret names the manifest declares.
pub const SECRETS: &[&str] = &[
    "autotask.integration_code",
    "autotask.username",
    "autotask.secret",
];

/// Where the pull stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Highest invoice id already pulled (0: none).
    pub after_id: i64,
    /// API root of the database's zone, `https://webservicesN.autotask.net/atservicesrest/v1.0`.
    pub base: String,
}

impl Cursor {
    /// Reads a cursor (`None`: from the start, default zone).
    pub fn parse(cursor: Option<&str>) -> Result<Cursor, String> {
        let Some(text) = cursor else {
            return Ok(Cursor {
                after_id: 0,
                base: DEFAULT_BASE.to_string(),
            });
        };
        let v: Value = serde_json::from_str(text)
            .map_err(|e| format!("cursor {text:?} is not JSON like {{\"after_id\": 123}}: {e}"))?;
        let after_id = v["after_id"]
            .as_i64()
            .ok_or_else(|| format!("cursor {text:?} has no integer after_id"))?;
        let base = v["base"].as_str().unwrap_or(DEFAULT_BASE);
        if !is_autotask_base(base) {
            return Err(format!(
                "cursor base {base:?} is not https://webservicesN.autotask.net/atservicesrest/v1.0"
            ));
        }
        Ok(Cursor {
            after_id,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The cursor as text.
    pub fn to_text(&self) -> String {
        json!({"after_id": self.after_id, "base": self.base}).to_string()
    }
}

fn is_autotask_base(url: &str) -> bool {
    url.strip_prefix("https://")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(host, path)| {
            allowed_hosts().iter().any(|h| h == host)
                && path
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case("atservicesrest/v1.0")
        })
}

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

/// `POST /Invoices/query`: the next [`PAGE_SIZE`] unvoided invoices after the cursor.
pub fn invoices_query(cursor: &Cursor) -> HttpRequest {
    http(
        "POST",
        format!("{}/Invoices/query", cursor.base),
        Some(json!({
            "MaxRecords": PAGE_SIZE,
            "filter": [
                {"op": "gt", "field": "id", "value": cursor.after_id},
                {"op": "eq", "field": "isVoided", "value": false}
            ]
        })),
    )
}

/// `GET /Companies/{id}`.
pub fn company_request(base: &str, id: i64) -> HttpRequest {
    http("GET", format!("{base}/Companies/{id}"), None)
}

/// `POST /BillingItems/query` for the lines of one invoice.
pub fn billing_items_query(base: &str, invoice_id: i64) -> HttpRequest {
    http(
        "POST",
        format!("{base}/BillingItems/query"),
        Some(json!({"filter": [{"op": "eq", "field": "invoiceID", "value": invoice_id}]})),
    )
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

/// One page: invoices after the cursor, each bundled with its company and billing items.
pub fn pull_page(
    cursor: Option<&str>,
    mut fetch: impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
) -> Result<Page, String> {
    let given = cursor;
    let cursor = Cursor::parse(cursor)?;
    let (invoices, _) = parse_items(&fetch(invoices_query(&cursor))?, "Invoices/query")?;
    let mut records = Vec::new();
    let mut last = cursor.after_id;
    for invoice in invoices.into_iter().take(PAGE_SIZE as usize) {
        let id = invoice["id"]
            .as_i64()
            .ok_or("Invoices/query: an invoice has no integer id")?;
        let company_id = invoice["companyID"]
            .as_i64()
            .ok_or_else(|| format!("invoice {id} has no integer companyID"))?;
        let mut company = parse_item(
            &fetch(company_request(&cursor.base, company_id))?,
            &format!("Companies/{company_id}"),
        )?;
        if let Some(parent_id) = company["parentCompanyID"].as_i64() {
            let parent = parse_item(
                &fetch(company_request(&cursor.base, parent_id))?,
                &format!("Companies/{parent_id}"),
            )?;
            company["parentCompany"] = parent;
        }
        let mut items = Vec::new();
        let mut request = billing_items_query(&cursor.base, id);
        for page in 0.. {
            let (mut page_items, next) = parse_items(
                &fetch(request.clone())?,
                &format!("BillingItems of invoice {id}"),
            )?;
            items.append(&mut page_items);
            match next {
                None => break,
                Some(_) if page + 1 >= MAX_ITEM_PAGES => {
                    return Err(format!(
                        "invoice {id} has more than {} billing-item pages; map it by hand",
                        MAX_ITEM_PAGES
                    ));
                }
                Some(url) if url.starts_with(&cursor.base) => {
                    request = HttpRequest {
                        method: "GET".into(),
                        body: Vec::new(),
                        url,
                        ..request
                    };
                }
                Some(url) => return Err(format!("next page URL {url:?} leaves {}", cursor.base)),
            }
        }
        last = last.max(id);
        records.push((
            "invoice".to_string(),
            json!({"invoice": invoice, "company": company, "billingItems": items, "_source": {"base": cursor.base}}),
        ));
    }
    // The high-water mark, also on the last page, so the next run resumes after it; a page
    // with nothing new hands back the cursor it got, which ends the run.
    let next_cursor = if records.is_empty() {
        given.map(str::to_string)
    } else {
        Some(
            Cursor {
                after_id: last,
                base: cursor.base.clone(),
            }
            .to_text(),
        )
    };
    Ok(Page {
        records,
        next_cursor,
    })
}

/// The acknowledgement of the completed request `key` made from the pulled `record` of
/// `kind`, at `now` (RFC 3339 UTC): the invoice itself (`invoice:<id>`) or an expense
/// report's bill (`expense_report:<id>`, with its TxnID). `None` for the customers and items
/// an invoice needed. The zone is the record's `_source.base` (the default zone otherwise).
pub fn acknowledgement(
    kind: &str,
    record: &Value,
    key: &str,
    response_xml: &str,
    now: &str,
) -> Result<Option<HttpRequest>, String> {
    let base = match record["_source"]["base"].as_str() {
        Some(base) if is_autotask_base(base) => base.trim_end_matches('/'),
        Some(base) => {
            return Err(format!(
                "the record's _source.base {base:?} is not an Autotask zone URL"
            ));
        }
        None => DEFAULT_BASE,
    };
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
