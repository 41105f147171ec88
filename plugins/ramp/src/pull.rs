//! Pulling records from Ramp's Developer API and acknowledging them: pure builders of the HTTP
//! requests, parsers of the answers, and [`pull_page`], which runs one page through any
//! `fetch` function (the host's `http.fetch` in WASM, recorded answers in tests).
//!
//! - Lists: `GET /developer/v1/{transactions,bills,reimbursements}?sync_ready=true&page_size=…`
//!   with Ramp's `start` cursor; records stay in the ready queue until acknowledged, so a
//!   re-pull maps them again and the engine's idempotency keys drop the repeats.
//! - Cursor: `{"resource": "bills", "start": "<Ramp's start>"}`; the resources are walked in
//!   the order transactions, bills, reimbursements; `None` after the last page of the last.
//! - Authentication: every call sends `Authorization: Bearer {{secret:ramp.access_token}}`.
//!   Ramp issues that token by OAuth2 client credentials; the admin stores `ramp.access_token`
//!   as an OAuth2 client-credentials secret (`qbridge secret set ramp ramp.access_token
//!   --oauth2-token-url https://api.ramp.com/developer/v1/token --oauth2-client-id …`) and
//!   the engine fetches and renews the token: the plugin never sees a credential.
//! - Acknowledgement ([`acknowledgement`]): once QuickBooks accepted a pulled record's
//!   transaction, `POST /developer/v1/accounting/syncs` with the QuickBooks TxnID as
//!   `reference_id` and a deterministic idempotency key, so a retry is recognised by Ramp and
//!   the record leaves Ramp's ready-to-sync list.

use qbridge_sdk::id::external_guid;
use serde_json::{Value, json};

use qbridge_sdk::host::{HttpRequest, HttpResponse};
use qbridge_sdk::qbxml::element_text as element;
use qbridge_sdk::record::Records;

/// The only host the plugin reaches.
pub const HOST: &str = "api.ramp.com";
/// API root.
pub const BASE: &str = "https://api.ramp.com/developer/v1";
/// Secret names the manifest declares.
pub const SECRETS: &[&str] = &["ramp.access_token"];
/// Records per page.
pub const PAGE_SIZE: u32 = 100;
/// Ramp list resources and the record kind each yields, in pull order.
pub const RESOURCES: &[(&str, &str)] = &[
    ("transactions", "transaction"),
    ("bills", "bill"),
    ("reimbursements", "reimbursement"),
];

/// What Ramp is told was synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncType {
    /// A card transaction.
    Transaction,
    /// A bill (first phase).
    Bill,
    /// A bill's payment (second phase).
    BillPayment,
    /// A reimbursement.
    Reimbursement,
}

impl SyncType {
    fn name(self) -> &'static str {
        match self {
            SyncType::Transaction => "TRANSACTION_SYNC",
            SyncType::Bill => "BILL_SYNC",
            SyncType::BillPayment => "BILL_PAYMENT_SYNC",
            SyncType::Reimbursement => "REIMBURSEMENT_SYNC",
        }
    }
}

pub(crate) fn bearer() -> Vec<(String, String)> {
    vec![
        (
            "Authorization".into(),
            "Bearer {{secret:ramp.access_token}}".into(),
        ),
        ("Accept".into(), "application/json".into()),
    ]
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub(crate) fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /{resource}?sync_ready=true&page_size=…[&start=…]`.
pub fn list_request(resource: &str, start: Option<&str>) -> HttpRequest {
    let mut url = format!("{BASE}/{resource}?sync_ready=true&page_size={PAGE_SIZE}");
    if let Some(start) = start {
        url.push_str(&format!("&start={}", query_value(start)));
    }
    HttpRequest {
        method: "GET".into(),
        url,
        headers: bearer(),
        body: Vec::new(),
    }
}

/// `{data, page.next}` of a list answer: the records and the `start` of the next page.
pub fn parse_list(
    response: &HttpResponse,
    what: &str,
) -> Result<(Vec<Value>, Option<String>), String> {
    let body = response.json(what)?;
    let data = body["data"]
        .as_array()
        .ok_or_else(|| format!("{what}: the answer has no data array"))?
        .clone();
    let next = body["page"]["next"]
        .as_str()
        .and_then(|url| url.split_once('?'))
        .and_then(|(_, query)| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("start="))
                .map(percent_decode)
        })
        .filter(|s| !s.is_empty());
    Ok((data, next))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One page of the resource the cursor names.
pub fn pull_page(
    cursor: Option<&str>,
    mut fetch: impl FnMut(HttpRequest) -> Result<HttpResponse, String>,
) -> Result<Records, String> {
    let (index, start) = match cursor {
        None => (0, None),
        Some(text) => {
            let v: Value = serde_json::from_str(text).map_err(|e| {
                format!("cursor {text:?} is not JSON like {{\"resource\": \"bills\"}}: {e}")
            })?;
            let resource = v["resource"].as_str().unwrap_or("");
            let index = RESOURCES
                .iter()
                .position(|(r, _)| *r == resource)
                .ok_or_else(|| format!("cursor resource {resource:?} is not one of transactions, bills, reimbursements"))?;
            (index, v["start"].as_str().map(str::to_string))
        }
    };
    let (resource, kind) = RESOURCES[index];
    let (data, next) = parse_list(&fetch(list_request(resource, start.as_deref()))?, resource)?;
    let records = data
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|record| (kind.to_string(), record))
        .collect();
    let next_cursor = match next {
        Some(start) => Some(json!({"resource": resource, "start": start}).to_string()),
        None => RESOURCES
            .get(index + 1)
            .map(|(r, _)| json!({"resource": r}).to_string()),
    };
    Ok(Records {
        records,
        next_cursor,
    })
}

/// `POST /accounting/syncs` telling Ramp that record `id` is in QuickBooks as `txn_id`. The
/// idempotency key is a UUIDv5 of the three, so a retried acknowledgement is the same call.
pub fn acknowledge(sync_type: SyncType, id: &str, txn_id: &str) -> HttpRequest {
    let key = external_guid(
        "ramp:accounting-sync",
        &format!("{}:{id}:{txn_id}", sync_type.name()),
    );
    let mut headers = bearer();
    headers.push(("Content-Type".into(), "application/json".into()));
    HttpRequest {
        method: "POST".into(),
        url: format!("{BASE}/accounting/syncs"),
        headers,
        body: json!({
            "idempotency_key": key.trim_matches(['{', '}']).to_ascii_lowercase(),
            "sync_type": sync_type.name(),
            "successful_syncs": [{"id": id, "reference_id": txn_id}],
        })
        .to_string()
        .into_bytes(),
    }
}

/// The acknowledgement of the completed request `key`, whose QuickBooks `…Ret` is
/// `response_xml`: a card transaction, a bill, one of a bill's payments, or a reimbursement.
/// `None` for requests Ramp does not track (vendors, reimbursement payments).
pub fn acknowledgement(key: &str, response_xml: &str) -> Result<Option<HttpRequest>, String> {
    let (sync_type, id) = match key.split_once(':') {
        Some(("transaction", id)) => (SyncType::Transaction, id),
        Some(("bill", id)) => (SyncType::Bill, id),
        // `bill-payment:<bill id>:<payment id>`: Ramp records payments against the bill.
        Some(("bill-payment", rest)) => (
            SyncType::BillPayment,
            rest.rsplit_once(':').map_or(rest, |(bill, _)| bill),
        ),
        Some(("reimbursement", id)) => (SyncType::Reimbursement, id),
        _ => return Ok(None),
    };
    let txn_id = element(response_xml, "TxnID")
        .ok_or_else(|| format!("QuickBooks' answer to {key} has no TxnID to report to Ramp"))?;
    Ok(Some(acknowledge(sync_type, id, &txn_id)))
}
