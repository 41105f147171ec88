//! Pull and acknowledgement: the HTTP requests the plugin asks the host to make, run against
//! recorded Ramp answers (`tests/fixtures/sources/ramp-pull-1-pages.json`).

#[path = "../../autotask/tests/support/mod.rs"]
mod support;

use qbridge_plugin_ramp::map::{REQUEST_TYPES, map};
use qbridge_plugin_ramp::pull::{SyncType, acknowledge, acknowledgement, pull_page};
use qbridge_sdk::host::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

fn recorded(request: &HttpRequest) -> Result<HttpResponse, String> {
    let recording = support::fixture("ramp-pull-1-pages.json");
    let key = format!("{} {}", request.method, request.url);
    let body = recording["answers"]
        .get(&key)
        .ok_or_else(|| format!("not recorded: {key}"))?;
    assert_eq!(
        request.headers[0],
        (
            "Authorization".into(),
            "Bearer {{secret:ramp.access_token}}".into()
        )
    );
    Ok(HttpResponse {
        status: 200,
        body: body.to_string().into_bytes(),
        ..Default::default()
    })
}

#[test]
fn pages_walk_transactions_then_bills_then_reimbursements() {
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let page = pull_page(cursor.as_deref(), |r| recorded(&r)).unwrap();
        for (kind, record) in &page.records {
            seen.push(kind.clone());
            let requests = map(kind, record).unwrap_or_else(|e| panic!("{e}"));
            support::assert_valid(&requests, REQUEST_TYPES);
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["transaction", "bill"]);
    assert_eq!(cursor, None, "the walk ends after reimbursements");
}

#[test]
fn ramp_start_cursors_are_carried_encoded() {
    let page = pull_page(None, |r| recorded(&r)).unwrap();
    let next: Value = serde_json::from_str(page.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!(
        next,
        json!({"resource": "transactions", "start": "3f1b6a0e+1"})
    );
}

#[test]
fn acknowledgement_reports_the_txn_id_with_a_stable_idempotency_key() {
    let ack = acknowledge(SyncType::Bill, "6e3816e3", "1A2B-1234567890");
    assert_eq!(
        ack.url,
        "https://api.ramp.com/developer/v1/accounting/syncs"
    );
    let body: Value = serde_json::from_slice(&ack.body).unwrap();
    assert_eq!(body["sync_type"], "BILL_SYNC");
    assert_eq!(
        body["successful_syncs"],
        json!([{"id": "6e3816e3", "reference_id": "1A2B-1234567890"}])
    );
    let again: Value =
        serde_json::from_slice(&acknowledge(SyncType::Bill, "6e3816e3", "1A2B-1234567890").body)
            .unwrap();
    assert_eq!(body["idempotency_key"], again["idempotency_key"]);
    let other: Value = serde_json::from_slice(
        &acknowledge(SyncType::BillPayment, "6e3816e3", "1A2B-1234567890").body,
    )
    .unwrap();
    assert_ne!(body["idempotency_key"], other["idempotency_key"]);
}

#[test]
fn each_synced_kind_is_acknowledged_with_its_txn_id_and_others_are_not() {
    let ret = "<BillRet><TxnID>1A2B-1234567890</TxnID><ExpenseLineRet><TxnLineID>9-1</TxnLineID></ExpenseLineRet></BillRet>";
    let body = |key: &str| -> Value {
        serde_json::from_slice(&acknowledgement(key, ret).unwrap().unwrap().body).unwrap()
    };
    for (key, sync_type, id) in [
        ("transaction:3f1b6a0e", "TRANSACTION_SYNC", "3f1b6a0e"),
        ("bill:6e3816e3", "BILL_SYNC", "6e3816e3"),
        ("bill-payment:6e3816e3:2", "BILL_PAYMENT_SYNC", "6e3816e3"),
        ("reimbursement:77aa", "REIMBURSEMENT_SYNC", "77aa"),
    ] {
        let b = body(key);
        assert_eq!(b["sync_type"], sync_type, "{key}");
        assert_eq!(
            b["successful_syncs"],
            json!([{"id": id, "reference_id": "1A2B-1234567890"}]),
            "{key}"
        );
    }
    assert_eq!(acknowledgement("vendor:acme", ret).unwrap(), None);
    assert_eq!(
        acknowledgement("reimbursement-payment:77aa:1", ret).unwrap(),
        None
    );
    let err = acknowledgement("bill:6e3816e3", "<BillRet></BillRet>").unwrap_err();
    assert!(err.contains("no TxnID"), "{err}");
}
