//! Pull and acknowledgement: the HTTP requests the plugin asks the host to make, run against
//! recorded Autotask answers (`tests/fixtures/sources/autotask-pull-1-invoices-page.json`);
//! the bundles a page yields map to valid requests.

mod support;

use qbridge_plugin_autotask::map::{REQUEST_TYPES, map};
use qbridge_plugin_autotask::pull::{
    Cursor, DEFAULT_BASE, PAGE_SIZE, acknowledge_expense_report, acknowledge_invoice,
    acknowledgement, base_for_zone, pull_page,
};
use qbridge_sdk::host::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

/// The pull's clock in these tests.
const NOW: &str = "2026-12-05T12:00:00Z";
/// The API root of zone 5, where the recorded database lives (the `zone` config `5`).
const ZONE5: &str = "https://webservices5.autotask.net/atservicesrest/v1.0";

/// Answers from the recording; a query's answer is chosen by the invoice it filters on. The
/// recording has new invoices only: every other query (voids, purchase orders, expense
/// reports) finds nothing.
fn recorded(answers: &Value, request: &HttpRequest, log: &mut Vec<String>) -> HttpResponse {
    let mut key = format!("{} {}", request.method, request.url);
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    if request.url.ends_with("/BillingItems/query") {
        key = format!("{key}#{}", body["filter"][0]["value"]);
    } else if request.url.ends_with("/query") && body["filter"][0]["field"] != "id" {
        key = format!("{key}#{}", body["filter"][0]["field"]);
    }
    log.push(key.clone());
    let nothing = json!({"items": [], "pageDetails": {"count": 0, "nextPageUrl": null}});
    let answer = answers
        .get(&key)
        .or((key.contains("/query#") && !key.contains("BillingItems")).then_some(&nothing));
    match answer {
        Some(body) => HttpResponse {
            status: 200,
            body: body.to_string().into_bytes(),
            ..Default::default()
        },
        None => HttpResponse {
            status: 404,
            body: b"{\"errors\":[\"not recorded\"]}".to_vec(),
            ..Default::default()
        },
    }
}

#[test]
fn a_page_bundles_each_invoice_with_its_company_and_all_billing_items() {
    let recording = support::fixture("autotask-pull-1-invoices-page.json");
    let cursor = recording["cursor"].to_string();
    let mut log = Vec::new();
    let mut sent = Vec::new();
    let page = pull_page(Some(&cursor), NOW, ZONE5, |request| {
        sent.push(request.clone());
        Ok(recorded(&recording["answers"], &request, &mut log))
    })
    .unwrap();

    // The queries: voids of invoices pulled before (the cursor is in the first format: its
    // date parts start now), new invoices after the cursor, not voided, then purchase orders
    // and expense reports, one page each.
    let queries: Vec<(String, Value)> = sent
        .iter()
        .filter(|r| r.method == "POST" && !r.url.ends_with("/BillingItems/query"))
        .map(|r| {
            let entity = r.url.rsplit('/').nth(1).unwrap().to_string();
            (entity, serde_json::from_slice(&r.body).unwrap())
        })
        .collect();
    let entities: Vec<&str> = queries.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        entities,
        [
            "Invoices",
            "Invoices",
            "PurchaseOrders",
            "PurchaseOrders",
            "ExpenseReports"
        ]
    );
    assert_eq!(
        queries[0].1,
        json!({"MaxRecords": PAGE_SIZE, "filter": [
            {"op": "gt", "field": "voidedDate", "value": NOW},
            {"op": "gt", "field": "id", "value": 0},
            {"op": "eq", "field": "isVoided", "value": true},
            {"op": "lte", "field": "id", "value": 29684000}]})
    );
    assert_eq!(
        queries[1].1,
        json!({"MaxRecords": PAGE_SIZE, "filter": [
            {"op": "gt", "field": "id", "value": 29684000},
            {"op": "eq", "field": "isVoided", "value": false}]})
    );
    assert_eq!(
        queries[3].1["filter"][2],
        json!({"op": "lte", "field": "submitDateTime", "value": NOW}),
        "cancellations only of purchase orders already pulled"
    );
    assert!(sent.iter().all(|r| {
        r.headers
            .iter()
            .any(|(k, v)| k == "Secret" && v == "{{secret:autotask.secret}}")
    }));
    assert!(log.contains(&"GET https://webservices5.autotask.net/atservicesrest/v1.0/BillingItems/query/next?paging=p2".to_string()));

    assert_eq!(page.records.len(), 2);
    let (kind, second) = &page.records[1];
    assert_eq!(kind, "invoice");
    assert_eq!(
        second["billingItems"].as_array().unwrap().len(),
        2,
        "both item pages"
    );
    assert_eq!(
        second["company"]["parentCompany"]["companyName"],
        "Hudson Valley Dental Group"
    );
    // The next cursor continues after the last id of this page (whether or not more exist:
    // it is also where the next scheduled run resumes).
    let next = Cursor::parse(page.next_cursor.as_deref(), "later", ZONE5).unwrap();
    assert_eq!(next.after_id, 29684600);
    let text = page.next_cursor.as_deref().unwrap();
    assert!(
        !text.contains("autotask.net"),
        "the zone is config, not cursor: {text}"
    );

    // A page with nothing new hands back the cursor it was given: the run ends there.
    let empty = pull_page(page.next_cursor.as_deref(), "later", ZONE5, |_| {
        Ok(HttpResponse {
            status: 200,
            body: br#"{"items": [], "pageDetails": {"count": 0, "nextPageUrl": null}}"#.to_vec(),
            ..Default::default()
        })
    })
    .unwrap();
    assert!(empty.records.is_empty());
    assert_eq!(empty.next_cursor, page.next_cursor);

    for (kind, record) in &page.records {
        let requests = map(kind, record).unwrap_or_else(|e| panic!("{e}"));
        support::assert_valid(&requests, REQUEST_TYPES);
    }
    let child = map("invoice", second).unwrap();
    assert_eq!(
        support::keys(&child)[..2],
        ["customer:29683501", "customer:29684100"]
    );
}

#[test]
fn a_later_page_brings_voids_purchase_orders_and_expense_reports_and_moves_each_mark() {
    let base = ZONE5;
    let cursor = json!({"after_id": 29684600}).to_string();
    let voided = json!({"id": 29684512, "companyID": 29683501, "isVoided": true,
        "voidedDate": "2026-12-06T09:00:00", "invoiceDateTime": "2025-03-01T00:00:00Z"});
    let order = json!({"id": 3301, "vendorID": 29683990, "submitDateTime": "2026-12-06T10:00:00Z"});
    let report =
        json!({"id": 8801, "submitterID": 29682885, "approvedDate": "2026-12-06T11:00:00Z"});
    let mut sent = Vec::new();
    let page = pull_page(Some(&cursor), NOW, base, |request| {
        sent.push(format!("{} {}", request.method, request.url));
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let first = body["filter"][0]["field"].as_str().unwrap_or("");
        let items = |rows: Value| json!({"items": rows, "pageDetails": {"nextPageUrl": null}});
        let answer = match (request.url.rsplit('/').nth(1).unwrap(), first) {
            ("Invoices", "voidedDate") => items(json!([voided])),
            ("PurchaseOrders", "submitDateTime") => items(json!([order])),
            ("ExpenseReports", _) => items(json!([report])),
            ("PurchaseOrderItems", _) => items(json!([{"id": 88001, "orderID": 3301,
                "productID": 501, "quantity": 2, "unitCost": 298.4}])),
            ("ExpenseItems", _) => items(json!([{"id": 1, "internalCurrencyExpenseAmount": 10}])),
            ("BillingItems", _) | (_, "id" | "cancelDateTime") => items(json!([])),
            _ => json!({"item": {"id": 1, "companyName": "Ingram Micro", "name": "Dell OptiPlex",
                "firstName": "Jim", "lastName": "Halpert"}}),
        };
        Ok(HttpResponse {
            status: 200,
            body: answer.to_string().into_bytes(),
            ..Default::default()
        })
    })
    .unwrap();
    let kinds: Vec<&str> = page.records.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["invoice", "purchase_order", "expense_report"]);
    let (_, po) = &page.records[1];
    assert_eq!(po["vendor"]["companyName"], "Ingram Micro");
    assert_eq!(po["items"][0]["product"]["name"], "Dell OptiPlex");
    assert!(po.get("_source").is_none(), "records carry no zone URL");
    assert_eq!(page.records[2].1["resource"]["lastName"], "Halpert");
    assert!(sent.contains(&format!("GET {base}/Products/501")));
    assert!(sent.contains(&format!("GET {base}/Resources/29682885")));

    let next = Cursor::parse(page.next_cursor.as_deref(), "later", base).unwrap();
    assert_eq!(next.after_id, 29684600, "no new invoice");
    assert_eq!(next.voided_invoices.after, "2026-12-06T09:00:00");
    assert_eq!(next.purchase_orders.after, "2026-12-06T10:00:00Z");
    assert_eq!(
        next.cancelled_purchase_orders.after, NOW,
        "nothing cancelled"
    );
    assert_eq!(next.expense_reports.after, "2026-12-06T11:00:00Z");
}

#[test]
fn an_http_failure_fails_the_page_with_the_status() {
    let err = pull_page(None, NOW, DEFAULT_BASE, |_| {
        Ok(HttpResponse {
            status: 401,
            body: b"bad credentials".to_vec(),
            ..Default::default()
        })
    })
    .unwrap_err();
    assert!(
        err.contains("401") && err.contains("bad credentials"),
        "{err}"
    );
}

/// The zone is the admin's `zone` config: 1 to 3 digits completing webservicesN.autotask.net.
#[test]
fn the_zone_config_names_the_api_root() {
    assert_eq!(base_for_zone(Some("5")).unwrap(), ZONE5);
    assert_eq!(base_for_zone(None).unwrap(), DEFAULT_BASE);
    for bad in ["", "five", "1234", "5.evil.example/x", "-1"] {
        let err = base_for_zone(Some(bad)).unwrap_err();
        assert!(err.contains("zone number"), "{bad:?}: {err}");
    }
}

/// Cursors written before the zone was config carry the API root; it must be the configured
/// one (another zone, or another host, is refused rather than pulled from).
#[test]
fn a_cursor_of_another_zone_or_host_is_refused() {
    let evil =
        json!({"after_id": 1, "base": "https://evil.example/atservicesrest/v1.0"}).to_string();
    assert!(Cursor::parse(Some(&evil), NOW, ZONE5).is_err());
    assert!(Cursor::parse(Some("12"), NOW, ZONE5).is_err());
    let legacy = json!({"after_id": 7, "base": ZONE5}).to_string();
    assert_eq!(
        Cursor::parse(Some(&legacy), NOW, ZONE5).unwrap().after_id,
        7
    );
    let zone7 = base_for_zone(Some("7")).unwrap();
    let err = Cursor::parse(Some(&legacy), NOW, &zone7).unwrap_err();
    assert!(
        err.contains("plugin config autotask set zone"),
        "the fix is named: {err}"
    );
    assert_eq!(Cursor::parse(None, NOW, ZONE5).unwrap().after_id, 0);
}

#[test]
fn acknowledgements_mark_the_source_records() {
    let base = "https://webservices5.autotask.net/atservicesrest/v1.0";
    let ack = acknowledge_invoice(base, 29684512, "2025-03-02T10:00:00Z");
    assert_eq!(
        (ack.method.as_str(), ack.url.as_str()),
        (
            "PATCH",
            "https://webservices5.autotask.net/atservicesrest/v1.0/Invoices"
        )
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&ack.body).unwrap(),
        json!({"id": 29684512, "webServiceDate": "2025-03-02T10:00:00Z"})
    );
    let ack = acknowledge_expense_report(base, 8801, "1A2B-1234567890");
    assert_eq!(
        serde_json::from_slice::<Value>(&ack.body).unwrap(),
        json!({"id": 8801, "quickBooksReferenceNumber": "1A2B-1234567890"})
    );
}

/// Acknowledgements go to the configured zone; a record pulled by an earlier version names
/// its zone, which must be that one.
#[test]
fn a_pulled_invoice_is_acknowledged_in_the_configured_zone() {
    let record = json!({"invoice": {"id": 29684512}});
    let now = "2025-03-02T10:00:00Z";
    let ack = acknowledgement(
        "invoice",
        &record,
        "invoice:29684512",
        "<InvoiceRet/>",
        now,
        ZONE5,
    )
    .unwrap()
    .unwrap();
    assert_eq!(ack, acknowledge_invoice(ZONE5, 29684512, now));
    let legacy = json!({"invoice": {"id": 29684512}, "_source": {"base": ZONE5}});
    let ack = acknowledgement("invoice", &legacy, "invoice:29684512", "", now, ZONE5);
    assert_eq!(ack.unwrap().unwrap().url, format!("{ZONE5}/Invoices"));
    // The customer and items an invoice needed are not Autotask's to track.
    assert_eq!(
        acknowledgement(
            "invoice",
            &record,
            "customer:29683501",
            "<CustomerRet/>",
            now,
            ZONE5
        )
        .unwrap(),
        None
    );
    // An expense report's bill writes its TxnID back.
    let ack = acknowledgement(
        "expense_report",
        &json!({}),
        "expense_report:8801",
        "<BillRet><TxnID>1A2B-1234567890</TxnID></BillRet>",
        now,
        DEFAULT_BASE,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        ack,
        acknowledge_expense_report(DEFAULT_BASE, 8801, "1A2B-1234567890")
    );
    // A record cannot redirect the acknowledgement elsewhere, nor to another zone.
    let evil = json!({"_source": {"base": "https://evil.example/atservicesrest/v1.0"}});
    assert!(acknowledgement("invoice", &evil, "invoice:1", "", now, ZONE5).is_err());
    let zone7 = base_for_zone(Some("7")).unwrap();
    assert!(acknowledgement("invoice", &legacy, "invoice:1", "", now, &zone7).is_err());
}
