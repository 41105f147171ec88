//! A Ramp bill paid after it synced: the first pull books it unpaid; Ramp then lists it again
//! as `BILL_SYNCED` with its payments and the TxnID qbridge reported (`remote_id`); the next
//! pull makes each payment exactly once, and a pull that sees the bill yet again makes none.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use qbridge::demo;
use qbridge::sim::company::Company;

use super::{RAMP_CLIENT_SECRET, api, pull_now, ramp_record, result_of};
use crate::fake_source::{FakeSource, Recorded, Reply};
use crate::pipeline::{Deployment, assert_no_duplicate_writes, sync_until_idle};
use crate::support::{Server, run_with_stdin};

/// Ramp with one bill in its ready list (as `bill` holds it now), no card transactions or
/// reimbursements; `accounting/syncs` answers and is recorded.
fn fake_ramp(bill: Arc<Mutex<Value>>) -> FakeSource {
    let lists = Arc::default();
    FakeSource::start(move |req: &Recorded| {
        let bearer_ok = req
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer tok-"));
        if bearer_ok && let Some(reply) = crate::ramp_lists::accounting(&lists, req) {
            return reply;
        }
        let list =
            |data: Vec<Value>| Reply::json(200, json!({"data": data, "page": {"next": null}}));
        match (req.method.as_str(), req.path()) {
            ("POST", "/developer/v1/token") => Reply::json(
                200,
                json!({"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"}),
            ),
            _ if !bearer_ok => Reply::json(401, json!({"error": "invalid_token"})),
            ("GET", "/developer/v1/bills") => list(vec![bill.lock().unwrap().clone()]),
            ("GET", "/developer/v1/transactions" | "/developer/v1/reimbursements") => list(vec![]),
            ("POST", "/developer/v1/accounting/syncs") => Reply::json(201, json!({"id": "sync"})),
            _ => Reply::json(404, json!({"error": "not_found"})),
        }
    })
}

/// The TxnID qbridge reported to Ramp for the bill (its `BILL_SYNC`), once it has.
fn reported_bill_txn(fake: &FakeSource) -> Option<String> {
    fake.requests()
        .iter()
        .filter(|r| r.path() == "/developer/v1/accounting/syncs")
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .find(|b| b["sync_type"] == "BILL_SYNC")
        .map(|b| {
            b["successful_syncs"][0]["reference_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
}

fn bill_payments(company: &Company) -> usize {
    company
        .write_log()
        .iter()
        .filter(|w| w.request.starts_with("BillPayment"))
        .count()
}

#[test]
fn a_ramp_bill_paid_after_it_synced_gets_each_payment_once() {
    let paid = ramp_record("ramp-bill-3-partial-payments.json", "bill");
    let mut unpaid = paid.clone();
    unpaid["payments"] = json!([]);
    unpaid.as_object_mut().unwrap().remove("payment");
    let bill = Arc::new(Mutex::new(unpaid));
    let fake = fake_ramp(bill.clone());
    let d = Deployment::new();
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    run_with_stdin(
        d.tmp.path(),
        &d.data_dir,
        &[
            "secret",
            "set",
            "ramp",
            "ramp.access_token",
            "--oauth2-token-url",
            "https://api.ramp.com/developer/v1/token",
            "--oauth2-client-id",
            "ramp-client",
        ],
        RAMP_CLIENT_SECRET,
    );
    d.cli(&[
        "schedule",
        "add",
        "--connection",
        "acme",
        "--plugin",
        "ramp",
        "--cron",
        "0 0 1 1 *",
    ]);
    let endpoints = format!("api.ramp.com={}", fake.base_addr());
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            ("QBRIDGE_SOURCE_ENDPOINTS", endpoints.as_str()),
            ("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1"),
        ],
    );
    pull_now(&server, &admin);
    let mut company = demo::firm_company(r"C:\Company Files\firm.qbw").unwrap();
    sync_until_idle(&server, &d, &mut company, 30);
    assert_eq!(bill_payments(&company), 0, "booked unpaid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let txn_id = loop {
        if let Some(txn_id) = reported_bill_txn(&fake) {
            break txn_id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no BILL_SYNC\n{}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };

    // Paid in Ramp: the bill comes back synced, with its two payments (ACH and card).
    let mut synced = paid.clone();
    synced["sync_status"] = json!("BILL_SYNCED");
    synced["remote_id"] = json!(txn_id);
    *bill.lock().unwrap() = synced;
    let runs = pull_now(&server, &admin);
    assert!(result_of(&runs, "ramp").contains(" 0 rejected"), "{runs:?}");
    let writes = company.write_log().len();
    sync_until_idle(&server, &d, &mut company, 30);
    assert_no_duplicate_writes(&company);
    let new: Vec<&str> = company.write_log()[writes..]
        .iter()
        .map(|w| w.request.as_str())
        .collect();
    assert_eq!(
        new,
        ["BillPaymentCheck", "BillPaymentCreditCard"],
        "the payments only, not the bill again; jobs {}",
        api(&server, &admin, "GET", "/api/v1/jobs?limit=100")
    );

    // Ramp still lists it (the payment sync not yet seen): nothing is paid twice.
    pull_now(&server, &admin);
    sync_until_idle(&server, &d, &mut company, 30);
    assert_eq!(bill_payments(&company), 2);
}
