//! Pulled records end to end: the real binary pulls from fake Ramp and Autotask APIs (their
//! recorded answer shapes, served on 127.0.0.1 and reached through `source_endpoints`) with the
//! bundled plugins, the simulated Web Connector writes them into the simulated QuickBooks, and
//! the engine then tells each source what QuickBooks holds — Ramp the TxnIDs through
//! `POST /accounting/syncs`, Autotask by marking its invoices — retrying when the source
//! fails. Pulling again afterwards creates nothing.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use qbridge::demo;

use crate::fake_source::{AutotaskDb, FakeSource, Recorded, Reply};
use crate::pipeline::{Deployment, assert_no_duplicate_writes, sync_until_idle};
use crate::support::{Server, agent, run_with_stdin};

#[path = "source_sync_payments.rs"]
mod payments;

const RAMP_CLIENT_SECRET: &str = "ramp-client-secret-e2e";
const AUTOTASK_SECRET: &str = "at-secret-e2e";

/// Recorded answers of Autotask's API, keyed `METHOD https://host/path?query`, and the
/// cursor they start after.
fn answers(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sources")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A Ramp sample record (`tests/fixtures/sources`), as the list endpoints return it.
fn ramp_record(file: &str, key: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sources")
        .join(file);
    demo::sample_record(&std::fs::read_to_string(path).unwrap(), Some(key)).unwrap()
}

/// Ramp: the OAuth2 token endpoint; `sync_ready` lists in Ramp's `{data, page.next}` shape
/// (two card transactions on a first page followed by an empty one, one bill with partial
/// payments, no reimbursements) that drop what was acknowledged; and `accounting/syncs`, whose
/// first call fails (the engine must retry it).
fn fake_ramp() -> FakeSource {
    let transactions = vec![
        ramp_record("ramp-transaction-1-card-split.json", "transaction"),
        ramp_record("ramp-transaction-2-refund.json", "transaction"),
    ];
    let bills = vec![ramp_record("ramp-bill-3-partial-payments.json", "bill")];
    let synced = Arc::new(Mutex::new(HashSet::<String>::new()));
    let syncs_seen = Arc::new(Mutex::new(0usize));
    // Every run's first page carries the day's QuickBooks lists refresh: Ramp takes them.
    let lists = Arc::default();
    FakeSource::start(move |req: &Recorded| {
        let bearer_ok = req
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer tok-"));
        if bearer_ok && let Some(reply) = crate::ramp_lists::accounting(&lists, req) {
            return reply;
        }
        let ready = |records: &[Value]| -> Vec<Value> {
            let synced = synced.lock().unwrap();
            records
                .iter()
                .filter(|r| !synced.contains(r["id"].as_str().unwrap_or("")))
                .cloned()
                .collect()
        };
        let list = |data: Vec<Value>, next: Option<String>| {
            Reply::json(200, json!({"data": data, "page": {"next": next}}))
        };
        match (req.method.as_str(), req.path()) {
            ("POST", "/developer/v1/token") => Reply::json(
                200,
                json!({"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"}),
            ),
            _ if !bearer_ok => Reply::json(401, json!({"error": "invalid_token"})),
            ("GET", "/developer/v1/transactions") if req.target.contains("&start=") => {
                list(vec![], None)
            }
            ("GET", "/developer/v1/transactions") => list(
                ready(&transactions),
                Some(
                    "https://api.ramp.com/developer/v1/transactions?sync_ready=true&page_size=100&start=p2"
                        .into(),
                ),
            ),
            ("GET", "/developer/v1/bills") => list(ready(&bills), None),
            ("GET", "/developer/v1/reimbursements") => list(vec![], None),
            ("POST", "/developer/v1/accounting/syncs") => {
                let mut n = syncs_seen.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    return Reply::json(503, json!({"error": "try again later"}));
                }
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                // A bill leaves the ready list with its BILL_SYNC; payments are its second phase.
                if body["sync_type"] != "BILL_PAYMENT_SYNC" {
                    let mut synced = synced.lock().unwrap();
                    for s in body["successful_syncs"].as_array().into_iter().flatten() {
                        synced.insert(s["id"].as_str().unwrap_or("").to_string());
                    }
                }
                Reply::json(201, json!({"id": format!("sync-{n}")}))
            }
            _ => Reply::json(404, json!({"error": "not_found"})),
        }
    })
}

/// The recorded Autotask database (zone 5): the invoices of the recorded page, their
/// companies and billing items.
fn autotask_db() -> AutotaskDb {
    let recorded = answers("autotask-pull-1-invoices-page.json")["answers"].clone();
    let base = "https://webservices5.autotask.net/atservicesrest/v1.0";
    let mut db = AutotaskDb::default();
    for (key, answer) in recorded.as_object().unwrap() {
        if key.starts_with(&format!("GET {base}/Companies/")) {
            db.insert("Companies", answer["item"].clone());
            continue;
        }
        let entity = if key.contains("/BillingItems/") {
            "BillingItems"
        } else {
            "Invoices"
        };
        for row in answer["items"].as_array().unwrap() {
            db.insert(entity, row.clone());
        }
    }
    db
}

/// Autotask (zone 5) answering from `db` to the connection's credentials only.
fn fake_autotask(db: Arc<Mutex<AutotaskDb>>) -> FakeSource {
    FakeSource::start(move |req: &Recorded| {
        if req.header("secret") != Some(AUTOTASK_SECRET)
            || req.header("apiintegrationcode") != Some("AT-CODE")
            || req.header("username") != Some("api@firm.example")
        {
            return Reply::json(401, json!({"errors": ["bad credentials"]}));
        }
        db.lock().unwrap().answer(req)
    })
}

fn api(server: &Server, admin: &str, method: &str, path: &str) -> Value {
    let url = format!("{}{path}", server.base);
    let auth = format!("Bearer {admin}");
    let mut resp = match method {
        "GET" => agent().get(&url).header("Authorization", &auth).call(),
        _ => agent()
            .post(&url)
            .header("Authorization", &auth)
            .send_empty(),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(status < 300, "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// "Pull now" for every schedule, then waits until each has run since (claimed, and no
/// longer `running`); returns plugin → last result.
pub(crate) fn pull_now(server: &Server, admin: &str) -> Vec<(String, String)> {
    pull_now_rows(server, admin)
        .iter()
        .filter_map(|r| {
            Some((
                r["plugin"].as_str()?.into(),
                r["last_result"].as_str()?.into(),
            ))
        })
        .collect()
}

/// [`pull_now`], returning every schedule's row as the API lists it once all have run.
pub(crate) fn pull_now_rows(server: &Server, admin: &str) -> Vec<Value> {
    let before = api(server, admin, "GET", "/api/v1/schedules");
    let rows = before.as_array().unwrap();
    for r in rows {
        api(
            server,
            admin,
            "POST",
            &format!("/api/v1/schedules/{}/run", r["id"]),
        );
    }
    let ran_before = |id: &Value| {
        rows.iter()
            .find(|r| &r["id"] == id)
            .and_then(|r| r["last_run_at"].as_i64())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = api(server, admin, "GET", "/api/v1/schedules");
        let done: Vec<Value> = now
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["last_run_at"].as_i64() != ran_before(&r["id"]))
            .filter(|r| r["last_result"] != "running" && r["last_result"].is_string())
            .cloned()
            .collect();
        if done.len() == rows.len() {
            return done;
        }
        assert!(
            Instant::now() < deadline,
            "pulls did not run: {now}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn result_of<'a>(runs: &'a [(String, String)], plugin: &str) -> &'a str {
    &runs.iter().find(|(p, _)| p == plugin).unwrap().1
}

/// (sync type, Ramp id, TxnID) of the syncs Ramp accepted (all but the first call, which the
/// fake refuses).
fn ramp_syncs(fake: &FakeSource) -> BTreeSet<(String, String, String)> {
    fake.requests()
        .iter()
        .filter(|r| r.path() == "/developer/v1/accounting/syncs")
        .skip(1)
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let sync_type = body["sync_type"].as_str().unwrap().to_string();
            body["successful_syncs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        sync_type.clone(),
                        s["id"].as_str().unwrap().to_string(),
                        s["reference_id"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn pulled_records_land_once_and_each_source_is_told_what_quickbooks_holds() {
    let ramp = fake_ramp();
    let autotask = fake_autotask(Arc::new(Mutex::new(autotask_db())));
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
    for (name, value) in [
        ("autotask.integration_code", "AT-CODE"),
        ("autotask.username", "api@firm.example"),
        ("autotask.secret", AUTOTASK_SECRET),
    ] {
        run_with_stdin(
            d.tmp.path(),
            &d.data_dir,
            &["secret", "set", "autotask", name],
            value,
        );
    }
    // The recorded database is in zone 5: the admin's value approves webservices5 (the
    // recorded cursor still names it, as cursors did before the zone was config).
    d.cli(&["plugin", "config", "autotask", "set", "zone", "5"]);
    // Far-future cron times: the test pulls on demand.
    let cursor = answers("autotask-pull-1-invoices-page.json")["cursor"].to_string();
    for (plugin, cursor) in [("ramp", None), ("autotask", Some(cursor.as_str()))] {
        let mut args = vec![
            "schedule",
            "add",
            "--connection",
            "acme",
            "--plugin",
            plugin,
            "--cron",
            "0 0 1 1 *",
        ];
        args.extend(cursor.iter().flat_map(|c| ["--cursor", *c]));
        d.cli(&args);
    }
    let endpoints = format!(
        "api.ramp.com={},webservices5.autotask.net={}",
        ramp.base_addr(),
        autotask.base_addr()
    );
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            ("QBRIDGE_SOURCE_ENDPOINTS", endpoints.as_str()),
            ("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1"),
        ],
    );

    let runs = pull_now(&server, &admin);
    assert_eq!(
        result_of(&runs, "ramp"),
        "4 records queued, 0 rejected, 4 page(s)",
        "{runs:?}"
    );
    assert_eq!(
        result_of(&runs, "autotask"),
        "2 records queued, 0 rejected, 2 page(s)",
        "{runs:?}"
    );

    let mut company = demo::firm_company(r"C:\Company Files\firm.qbw").unwrap();
    sync_until_idle(&server, &d, &mut company, 30);
    assert_no_duplicate_writes(&company);
    // Autotask's taxes survive to QuickBooks' total to the cent: the taxed invoice is its
    // invoiceTotal (lines 2200.00 + Autotask's 28.00 tax), the untaxed one its 228.00.
    let totals: BTreeSet<(Option<String>, i64)> = company
        .invoices()
        .into_iter()
        .map(|i| (i.ref_number, i.total_cents))
        .collect();
    let pulled = answers("autotask-pull-1-invoices-page.json");
    let expected: BTreeSet<(Option<String>, i64)> = pulled["answers"]
        ["POST https://webservices5.autotask.net/atservicesrest/v1.0/Invoices/query"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let total = i["invoiceTotal"].to_string();
            let cents = qbridge_sdk::amount::Amount::from_json_text(&total)
                .unwrap()
                .to_minor_units(2)
                .unwrap();
            (i["invoiceNumber"].as_str().map(str::to_string), cents)
        })
        .collect();
    assert_eq!(
        totals,
        expected,
        "QuickBooks invoice totals vs Autotask's invoiceTotal; writes {:?}; jobs {}",
        company.write_log(),
        api(&server, &admin, "GET", "/api/v1/jobs")
    );
    let in_quickbooks = |kinds: &[&str]| -> BTreeSet<String> {
        company
            .write_log()
            .iter()
            .filter(|w| kinds.contains(&w.request.as_str()))
            .map(|w| w.id.clone())
            .collect()
    };
    let ramp_txns = in_quickbooks(&[
        "CreditCardCharge",
        "CreditCardCredit",
        "Bill",
        "BillPaymentCheck",
        "BillPaymentCreditCard",
    ]);
    assert!(
        ramp_txns.len() >= 3,
        "a charge, a bill and its payments: {ramp_txns:?}; jobs {}; in {:?}",
        api(&server, &admin, "GET", "/api/v1/jobs"),
        company
            .write_log()
            .iter()
            .map(|w| &w.request)
            .collect::<Vec<_>>()
    );

    // The acknowledger reports every Ramp transaction's TxnID (after one 503) and marks both
    // Autotask invoices.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let told: BTreeSet<String> = ramp_syncs(&ramp).into_iter().map(|(_, _, t)| t).collect();
        let marked = autotask
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count();
        if told == ramp_txns && marked >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledgements missing: told {told:?} of {ramp_txns:?}, {marked} invoices marked\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let syncs = ramp_syncs(&ramp);
    let types: BTreeSet<&str> = syncs.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        types,
        BTreeSet::from(["BILL_PAYMENT_SYNC", "BILL_SYNC", "TRANSACTION_SYNC"])
    );
    let sync_calls = ramp
        .requests()
        .iter()
        .filter(|r| r.path() == "/developer/v1/accounting/syncs")
        .count();
    assert_eq!(
        sync_calls,
        syncs.len() + 1,
        "one refused call, retried; nothing sent again once accepted"
    );
    let patched: BTreeSet<i64> = autotask
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| {
            assert_eq!(r.path(), "/atservicesrest/v1.0/Invoices");
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert!(body["webServiceDate"].as_str().is_some(), "{body}");
            body["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(patched, BTreeSet::from([29684512, 29684600]));

    // Pulling again: Ramp's ready lists are empty now and Autotask's cursor is past both
    // invoices, so nothing is queued and QuickBooks sees no new write. (Ramp's one record is
    // the day's lists refresh again: its queries are done already, so it adds no job.)
    let writes = company.write_log().len();
    let runs = pull_now(&server, &admin);
    assert!(
        result_of(&runs, "ramp").starts_with("1 records queued"),
        "{runs:?}"
    );
    assert!(
        result_of(&runs, "autotask").starts_with("0 records queued"),
        "{runs:?}"
    );
    assert_eq!(sync_until_idle(&server, &d, &mut company, 5), 0);
    assert_eq!(company.write_log().len(), writes);
    drop(server);

    // Every QuickBooks write of a pulled record was offered to its plugin (customers and
    // items need nothing from the source) and none is left over.
    let status = d.cli(&["status"]);
    let line = status
        .lines()
        .find(|l| l.starts_with("source acknowledgements:"))
        .unwrap_or_else(|| panic!("{status}"));
    let done: usize = line
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(done >= syncs.len() + patched.len(), "{line}");
    assert!(line.ends_with("0 pending, 0 failed"), "{line}");
}

/// A deployment whose one schedule pulls Autotask from `fake`, starting at the recorded
/// page's cursor (the first cursor format, naming zone 5), with the plugin's `zone` set to
/// `zone`; returns it, an admin token and the server. Both zone 5 and the zone-less host
/// lead to `fake`, so only the plugin and the engine decide which one is asked.
fn autotask_deployment(fake: &FakeSource, zone: Option<&str>) -> (Deployment, String, Server) {
    let d = Deployment::new();
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    for (name, value) in [
        ("autotask.integration_code", "AT-CODE"),
        ("autotask.username", "api@firm.example"),
        ("autotask.secret", AUTOTASK_SECRET),
    ] {
        run_with_stdin(
            d.tmp.path(),
            &d.data_dir,
            &["secret", "set", "autotask", name],
            value,
        );
    }
    if let Some(zone) = zone {
        d.cli(&["plugin", "config", "autotask", "set", "zone", zone]);
    }
    let cursor = answers("autotask-pull-1-invoices-page.json")["cursor"].to_string();
    d.cli(&[
        "schedule",
        "add",
        "--connection",
        "acme",
        "--plugin",
        "autotask",
        "--cron",
        "0 0 1 1 *",
        "--cursor",
        &cursor,
    ]);
    let endpoints = format!(
        "webservices5.autotask.net={0},webservices.autotask.net={0}",
        fake.base_addr()
    );
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            ("QBRIDGE_SOURCE_ENDPOINTS", endpoints.as_str()),
            ("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1"),
        ],
    );
    (d, admin, server)
}

/// What Autotask does after the first sync: invoice 10457 is voided; 10460 is voided and
/// issued again as 10461 for 300.00 (Autotask does not edit an invoice in place: voiding
/// returns its billing items to "Items to Invoice" and they are invoiced again); a purchase
/// order is submitted and an expense report approved (the sample records').
fn change_autotask(db: &mut AutotaskDb) {
    let later = "2099-01-02T09:00:00Z";
    for id in [29684512, 29684600] {
        let invoice = db.row_mut("Invoices", id);
        invoice["isVoided"] = json!(true);
        invoice["voidedDate"] = json!("2099-01-02T08:00:00");
    }
    let mut reissued = db.row_mut("Invoices", 29684600).clone();
    reissued["id"] = json!(29684700);
    reissued["invoiceNumber"] = json!("10461");
    reissued["invoiceTotal"] = json!(300.0);
    reissued["totalTaxValue"] = json!(0);
    reissued["isVoided"] = json!(false);
    reissued["voidedDate"] = Value::Null;
    reissued["createDateTime"] = json!(later);
    db.insert("Invoices", reissued);
    let items = db.entities.get_mut("BillingItems").unwrap();
    let mut item = items
        .iter()
        .find(|i| i["invoiceID"] == 29684600)
        .unwrap()
        .clone();
    for released in items.iter_mut().filter(|i| i["invoiceID"] == 29684600) {
        released["invoiceID"] = Value::Null;
    }
    item["id"] = json!(7100500);
    item["invoiceID"] = json!(29684700);
    item["quantity"] = json!(2);
    item["extendedPrice"] = json!(300.0);
    db.insert("BillingItems", item);

    let po = answers("autotask-purchase-order-1.json");
    let mut order = po["purchaseOrder"].clone();
    order["submitDateTime"] = json!(later);
    db.insert("PurchaseOrders", order);
    db.insert("Companies", po["vendor"].clone());
    // Its first item only: the second is a sub-item whose parent item QuickBooks lacks.
    for item in po["items"].as_array().unwrap().iter().take(1) {
        let mut item = item.clone();
        db.insert("Products", item["product"].take());
        item.as_object_mut().unwrap().remove("product");
        db.insert("PurchaseOrderItems", item);
    }
    let er = answers("autotask-expense-report-1.json");
    let mut report = er["expenseReport"].clone();
    report["approvedDate"] = json!(later);
    db.insert("ExpenseReports", report);
    db.insert("Resources", er["resource"].clone());
    for item in er["items"].as_array().unwrap() {
        db.insert("ExpenseItems", item.clone());
    }
}

#[test]
fn autotask_voids_reissues_purchase_orders_and_expense_reports_reach_the_next_pull() {
    let db = Arc::new(Mutex::new(autotask_db()));
    let fake = fake_autotask(db.clone());
    let (d, admin, server) = autotask_deployment(&fake, Some("5"));
    let runs = pull_now(&server, &admin);
    assert_eq!(
        result_of(&runs, "autotask"),
        "2 records queued, 0 rejected, 2 page(s)"
    );
    let mut company = demo::firm_company(r"C:\Company Files\firm.qbw").unwrap();
    sync_until_idle(&server, &d, &mut company, 30);
    assert_eq!(company.invoices().len(), 2);

    change_autotask(&mut db.lock().unwrap());
    let runs = pull_now(&server, &admin);
    assert_eq!(
        result_of(&runs, "autotask"),
        "5 records queued, 0 rejected, 2 page(s)",
        "two voids, the re-issued invoice, the purchase order and the expense report"
    );
    sync_until_idle(&server, &d, &mut company, 30);
    assert_no_duplicate_writes(&company);
    let totals: BTreeSet<(Option<String>, i64)> = company
        .invoices()
        .into_iter()
        .map(|i| (i.ref_number, i.total_cents))
        .collect();
    assert!(
        totals.contains(&(Some("10461".into()), 30000)),
        "the re-issued invoice at its new amount: {totals:?}"
    );
    let written: BTreeSet<String> = company
        .write_log()
        .iter()
        .map(|w| w.request.clone())
        .collect();
    assert!(
        written.contains("PurchaseOrder") && written.contains("Bill"),
        "{written:?}; jobs {}",
        api(&server, &admin, "GET", "/api/v1/jobs?limit=500")
    );

    // Each voided invoice is a second job of its key, which voided it in QuickBooks.
    let voided: BTreeSet<Option<String>> = company
        .invoices()
        .into_iter()
        .filter(|i| i.is_voided && i.total_cents == 0)
        .map(|i| i.ref_number)
        .collect();
    assert_eq!(voided.len(), 2, "both voids landed: {totals:?}");
    assert_eq!(
        company
            .write_log()
            .iter()
            .filter(|w| w.request == "TxnVoid")
            .count(),
        2
    );
    let jobs = api(&server, &admin, "GET", "/api/v1/jobs?limit=500");
    for key in ["invoice:29684512", "invoice:29684600"] {
        let of_key: Vec<&Value> = jobs
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["key"] == key)
            .collect();
        assert_eq!(of_key.len(), 2, "the invoice and its void: {jobs}");
        let void = api(
            &server,
            &admin,
            "GET",
            &format!("/api/v1/jobs/{}", of_key[0]["id"]),
        );
        assert!(void.to_string().contains("TxnVoid"), "{void}");
        assert_eq!(void["state"], "completed", "{void}");
    }

    // Nothing changed since: the next pull queues nothing.
    let runs = pull_now(&server, &admin);
    assert!(
        result_of(&runs, "autotask").starts_with("0 records queued"),
        "{runs:?}"
    );
}

/// The Autotask zone is the admin's `zone` config, not something a cursor or record carries:
/// a cursor written for zone 5 pulls nothing while the zone is unset (the failure names the
/// command that sets it); once the admin sets `5` over the API, every call goes to zone 5.
#[test]
fn autotask_pulls_from_its_zone_only_once_the_admin_sets_it() {
    let db = Arc::new(Mutex::new(autotask_db()));
    let fake = fake_autotask(db);
    let (_d, admin, server) = autotask_deployment(&fake, None);
    let runs = pull_now(&server, &admin);
    let refused = result_of(&runs, "autotask");
    assert!(
        refused.contains("qbridge plugin config autotask set zone"),
        "{refused}"
    );
    assert!(fake.requests().is_empty(), "nothing reached Autotask");

    let (status, body) = crate::admin_api::api(
        &server,
        &admin,
        "put",
        "/api/v1/plugins/autotask/config/zone",
        Some(r#"{"value": "5"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let runs = pull_now(&server, &admin);
    assert_eq!(
        result_of(&runs, "autotask"),
        "2 records queued, 0 rejected, 2 page(s)"
    );
    let hosts: BTreeSet<String> = fake
        .requests()
        .iter()
        .map(|r| r.header("host").unwrap_or("").to_string())
        .collect();
    assert_eq!(
        hosts,
        BTreeSet::from(["webservices5.autotask.net".to_string()])
    );
}
