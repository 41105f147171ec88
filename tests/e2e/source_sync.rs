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

use crate::fake_source::{FakeSource, Recorded, Reply};
use crate::pipeline::{Deployment, assert_no_duplicate_writes, sync_until_idle};
use crate::support::{Server, agent, run_with_stdin};

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

/// Autotask (zone 5): invoices queried by id after the cursor, companies, billing items in
/// pages, and `PATCH /Invoices` for the acknowledgement.
fn fake_autotask() -> FakeSource {
    let recorded = answers("autotask-pull-1-invoices-page.json")["answers"].clone();
    let base = "https://webservices5.autotask.net/atservicesrest/v1.0";
    FakeSource::start(move |req: &Recorded| {
        if req.header("secret") != Some(AUTOTASK_SECRET)
            || req.header("apiintegrationcode") != Some("AT-CODE")
            || req.header("username") != Some("api@firm.example")
        {
            return Reply::json(401, json!({"errors": ["bad credentials"]}));
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let mut key = format!(
            "{} https://webservices5.autotask.net{}",
            req.method, req.target
        );
        match (req.method.as_str(), req.path()) {
            ("POST", "/atservicesrest/v1.0/Invoices/query") => {
                let after = body["filter"][0]["value"].as_i64().unwrap_or(0);
                let mut items = recorded[format!("POST {base}/Invoices/query")]["items"].clone();
                if let Some(items) = items.as_array_mut() {
                    items.retain(|i| i["id"].as_i64().unwrap_or(0) > after);
                }
                return Reply::json(
                    200,
                    json!({"items": items, "pageDetails": {"count": items.as_array().map_or(0, Vec::len), "nextPageUrl": null}}),
                );
            }
            ("POST", "/atservicesrest/v1.0/BillingItems/query") => {
                key = format!("{key}#{}", body["filter"][0]["value"]);
            }
            ("PATCH", "/atservicesrest/v1.0/Invoices") => {
                return Reply::json(200, json!({"itemId": body["id"]}));
            }
            _ => {}
        }
        match recorded.get(&key) {
            Some(answer) => Reply::json(200, answer.clone()),
            None => Reply::json(404, json!({"errors": [format!("not recorded: {key}")]})),
        }
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
    let autotask = fake_autotask();
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
