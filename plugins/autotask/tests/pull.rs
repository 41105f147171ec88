//! Pull and acknowledgement: the HTTP requests the plugin asks the host to make, run against
//! recorded Autotask answers (`tests/fixtures/sources/autotask-pull-1-invoices-page.json`);
//! the bundles a page yields map to valid requests.

mod support;

use qbridge_plugin_autotask::map::{REQUEST_TYPES, map};
use qbridge_plugin_autotask::pull::{
    Cursor, PAGE_SIZE, acknowledge_expense_report, acknowledge_invoice, acknowledgement, pull_page,
};
use qbridge_plugin_autotask::record::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

/// Answers from the recording; a query's answer is chosen by the invoice it filters on.
fn recorded(answers: &Value, request: &HttpRequest, log: &mut Vec<String>) -> HttpResponse {
    let mut key = format!("{} {}", request.method, request.url);
    if request.url.ends_with("/BillingItems/query") {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        key = format!("{key}#{}", body["filter"][0]["value"]);
    }
    log.push(key.clone());
    match answers.get(&key) {
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
    let page = pull_page(Some(&cursor), |request| {
        sent.push(request.clone());
        Ok(recorded(&recording["answers"], &request, &mut log))
    })
    .unwrap();

    // The query: invoices after the cursor, not voided, one page.
    let query: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(sent[0].method, "POST");
    assert_eq!(
        query,
        json!({"MaxRecords": PAGE_SIZE, "filter": [
            {"op": "gt", "field": "id", "value": 29684000},
            {"op": "eq", "field": "isVoided", "value": false}]})
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
    let next = Cursor::parse(page.next_cursor.as_deref()).unwrap();
    assert_eq!(next.after_id, 29684600);
    assert_eq!(
        next.base,
        "https://webservices5.autotask.net/atservicesrest/v1.0"
    );

    // A page with nothing new hands back the cursor it was given: the run ends there.
    let empty = pull_page(page.next_cursor.as_deref(), |_| {
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
fn an_http_failure_fails_the_page_with_the_status() {
    let err = pull_page(None, |_| {
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

#[test]
fn cursors_outside_autotask_are_refused() {
    let evil =
        json!({"after_id": 1, "base": "https://evil.example/atservicesrest/v1.0"}).to_string();
    assert!(Cursor::parse(Some(&evil)).is_err());
    assert!(Cursor::parse(Some("12")).is_err());
    let far =
        json!({"after_id": 1, "base": "https://webservices99.autotask.net/atservicesrest/v1.0"});
    assert!(
        Cursor::parse(Some(&far.to_string())).is_err(),
        "not a declared host"
    );
    assert_eq!(Cursor::parse(None).unwrap().after_id, 0);
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

#[test]
fn a_pulled_invoice_is_acknowledged_in_the_zone_it_came_from() {
    let base = "https://webservices5.autotask.net/atservicesrest/v1.0";
    let record = json!({"invoice": {"id": 29684512}, "_source": {"base": base}});
    let now = "2025-03-02T10:00:00Z";
    let ack = acknowledgement("invoice", &record, "invoice:29684512", "<InvoiceRet/>", now)
        .unwrap()
        .unwrap();
    assert_eq!(ack, acknowledge_invoice(base, 29684512, now));
    // The customer and items an invoice needed are not Autotask's to track.
    assert_eq!(
        acknowledgement(
            "invoice",
            &record,
            "customer:29683501",
            "<CustomerRet/>",
            now
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
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        ack,
        acknowledge_expense_report(
            "https://webservices.autotask.net/atservicesrest/v1.0",
            8801,
            "1A2B-1234567890"
        )
    );
    // A record cannot redirect the acknowledgement elsewhere.
    let evil = json!({"_source": {"base": "https://evil.example/atservicesrest/v1.0"}});
    assert!(acknowledgement("invoice", &evil, "invoice:1", "", now).is_err());
}
