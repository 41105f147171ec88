//! Many firms on one instance: two connections (company files), each pulling its own Ramp
//! account with its own OAuth2 client, through one `qbridge serve`. A fake Ramp that tells
//! the accounts apart by bearer token — as the real one does — proves each company file
//! receives only its own account's records, once, and each account is told only about its
//! own records. The shared-account guard refuses to schedule one source account into two
//! company files unless the admin confirms it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use qbridge::demo;
use qbridge::sim::company::Company;

use crate::fake_source::{FakeSource, Recorded, Reply};
use crate::pipeline::{Deployment, assert_no_duplicate_writes, sync_as_until_idle};
use crate::support::{Server, agent, run, run_with_stdin, stderr};

const TOKEN_URL: &str = "https://api.ramp.com/developer/v1/token";

/// What QuickBooks writes for a pulled Ramp record (customers, items and accounts are the
/// lists the records need, not records of either account).
const RAMP_WRITES: [&str; 5] = [
    "CreditCardCharge",
    "CreditCardCredit",
    "Bill",
    "BillPaymentCheck",
    "BillPaymentCreditCard",
];

/// One Ramp account as the fake holds it.
struct Account {
    client_id: &'static str,
    client_secret: &'static str,
    /// The access token the fake issues to this account's client.
    token: &'static str,
    transactions: Vec<Value>,
    bills: Vec<Value>,
    /// Ids this account was told are synced (they leave its ready lists).
    synced: Mutex<BTreeSet<String>>,
    /// The account's accounting lists (the daily QuickBooks lists refresh lands here).
    lists: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Account {
    fn ids(&self) -> BTreeSet<String> {
        self.transactions
            .iter()
            .chain(&self.bills)
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// A Ramp sample record (`tests/fixtures/sources`), as the list endpoints return it.
fn ramp_record(file: &str, key: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sources")
        .join(file);
    demo::sample_record(&std::fs::read_to_string(path).unwrap(), Some(key)).unwrap()
}

/// acme's account holds a card charge and a bill with payments; globex's a card refund.
fn accounts() -> Arc<Vec<Account>> {
    let account = |client_id, client_secret, token, transactions, bills| Account {
        client_id,
        client_secret,
        token,
        transactions,
        bills,
        synced: Mutex::default(),
        lists: Arc::default(),
    };
    Arc::new(vec![
        account(
            "acme-client",
            "acme-client-secret",
            "tok-acme",
            vec![ramp_record(
                "ramp-transaction-1-card-split.json",
                "transaction",
            )],
            vec![ramp_record("ramp-bill-3-partial-payments.json", "bill")],
        ),
        account(
            "globex-client",
            "globex-client-secret",
            "tok-globex",
            vec![ramp_record("ramp-transaction-2-refund.json", "transaction")],
            vec![],
        ),
    ])
}

/// Ramp, per account: the token endpoint issues each client its own token; every data call
/// answers with the account the bearer token belongs to (an unknown token gets 401), and a
/// sync naming a record the account does not hold is refused as Ramp refuses it.
fn fake_ramp(accounts: Arc<Vec<Account>>) -> FakeSource {
    FakeSource::start(move |req: &Recorded| {
        let auth = req.header("authorization").unwrap_or("");
        if (req.method.as_str(), req.path()) == ("POST", "/developer/v1/token") {
            let client = accounts.iter().find(|a| {
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", a.client_id, a.client_secret));
                auth == format!("Basic {basic}")
            });
            return match client {
                Some(a) => Reply::json(
                    200,
                    json!({"access_token": a.token, "expires_in": 3600, "token_type": "Bearer"}),
                ),
                None => Reply::json(401, json!({"error": "invalid_client"})),
            };
        }
        let Some(account) = accounts
            .iter()
            .find(|a| auth == format!("Bearer {}", a.token))
        else {
            return Reply::json(401, json!({"error": "invalid_token"}));
        };
        if let Some(reply) = crate::ramp_lists::accounting(&account.lists, req) {
            return reply;
        }
        let ready = |records: &[Value]| -> Vec<Value> {
            let synced = account.synced.lock().unwrap();
            records
                .iter()
                .filter(|r| !synced.contains(r["id"].as_str().unwrap_or("")))
                .cloned()
                .collect()
        };
        let list =
            |data: Vec<Value>| Reply::json(200, json!({"data": data, "page": {"next": null}}));
        match (req.method.as_str(), req.path()) {
            ("GET", "/developer/v1/transactions") => list(ready(&account.transactions)),
            ("GET", "/developer/v1/bills") => list(ready(&account.bills)),
            ("GET", "/developer/v1/reimbursements") => list(vec![]),
            ("POST", "/developer/v1/accounting/syncs") => {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let ids: Vec<String> = body["successful_syncs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| s["id"].as_str().unwrap_or("").to_string())
                    .collect();
                let held = account.ids();
                // Bill payments are acknowledged under their own ids; every other sync names
                // a record of this account.
                if body["sync_type"] != "BILL_PAYMENT_SYNC" {
                    if let Some(foreign) = ids.iter().find(|id| !held.contains(*id)) {
                        return Reply::json(
                            422,
                            json!({"error": format!("{foreign} is not in this business")}),
                        );
                    }
                    account.synced.lock().unwrap().extend(ids);
                }
                Reply::json(201, json!({"id": "sync"}))
            }
            _ => Reply::json(404, json!({"error": "not_found"})),
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

/// "Pull now" for every schedule and waits until each has run; the last results, in the
/// order the schedules were added.
fn pull_all(server: &Server, admin: &str) -> Vec<String> {
    let before = api(server, admin, "GET", "/api/v1/schedules");
    for r in before.as_array().unwrap() {
        api(
            server,
            admin,
            "POST",
            &format!("/api/v1/schedules/{}/run", r["id"]),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = api(server, admin, "GET", "/api/v1/schedules");
        // Listed by id, so in the order added.
        let done: Vec<String> = now
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["last_run_at"] != last_run_of(&before, &r["id"]))
            .filter(|r| r["last_result"] != "running")
            .map(|r| r["last_result"].as_str().unwrap_or("").to_string())
            .collect();
        if done.len() == before.as_array().unwrap().len() {
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

/// `last_run_at` of schedule `id` in the listing `rows`.
fn last_run_of(rows: &Value, id: &Value) -> Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| &r["id"] == id)
        .map_or(Value::Null, |r| r["last_run_at"].clone())
}

/// Sets `connection`'s own Ramp grant (client secret on stdin).
fn set_ramp_grant(d: &Deployment, connection: &str, client_id: &str, client_secret: &str) {
    run_with_stdin(
        d.tmp.path(),
        &d.data_dir,
        &[
            "secret",
            "set",
            "ramp",
            "ramp.access_token",
            "--connection",
            connection,
            "--oauth2-token-url",
            TOKEN_URL,
            "--oauth2-client-id",
            client_id,
        ],
        client_secret,
    );
}

/// (Ramp id, TxnID) pairs the account holding `token` was told about (all sync types).
fn told(fake: &FakeSource, token: &str) -> BTreeSet<(String, String)> {
    fake.requests()
        .iter()
        .filter(|r| r.path() == "/developer/v1/accounting/syncs")
        .filter(|r| r.header("authorization") == Some(format!("Bearer {token}").as_str()))
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["successful_syncs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["id"].as_str().unwrap().to_string(),
                        s["reference_id"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The kinds and TxnIDs of what QuickBooks wrote for pulled Ramp records.
fn ramp_writes(company: &Company) -> (BTreeSet<String>, BTreeSet<String>) {
    let writes: Vec<_> = company
        .write_log()
        .iter()
        .filter(|w| RAMP_WRITES.contains(&w.request.as_str()))
        .collect();
    (
        writes.iter().map(|w| w.request.clone()).collect(),
        writes.iter().map(|w| w.id.clone()).collect(),
    )
}

#[test]
fn two_connections_with_their_own_ramp_accounts_each_receive_only_their_own_records() {
    let accounts = accounts();
    let ramp = fake_ramp(accounts.clone());
    let d = Deployment::new();
    d.cli(&["connection", "add", "globex"]);
    let globex_password = crate::support::printed_password(&d.cli(&[
        "user",
        "add",
        "--connection",
        "globex",
        "globex-sync",
    ]));
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    for (connection, a) in ["acme", "globex"].iter().zip(accounts.iter()) {
        set_ramp_grant(&d, connection, a.client_id, a.client_secret);
        // Far-future cron times: the test pulls on demand.
        d.cli(&[
            "schedule",
            "add",
            "--connection",
            connection,
            "--plugin",
            "ramp",
            "--cron",
            "0 0 1 1 *",
        ]);
    }
    let endpoints = format!("api.ramp.com={}", ramp.base_addr());
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            ("QBRIDGE_SOURCE_ENDPOINTS", endpoints.as_str()),
            ("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1"),
        ],
    );
    // Each pull used its own connection's token: the lists refresh plus the account's records.
    let runs = pull_all(&server, &admin);
    assert!(
        runs[0].starts_with("3 records queued, 0 rejected"),
        "acme: {runs:?}"
    );
    assert!(
        runs[1].starts_with("2 records queued, 0 rejected"),
        "globex: {runs:?}"
    );
    let refused = ramp
        .requests()
        .iter()
        .filter(|r| r.path() != "/developer/v1/token")
        .filter(|r| {
            !accounts
                .iter()
                .any(|a| r.header("authorization") == Some(format!("Bearer {}", a.token).as_str()))
        })
        .count();
    assert_eq!(
        refused, 0,
        "every data call carried one of the two accounts' tokens"
    );

    let mut acme = demo::firm_company(r"C:\Company Files\acme.qbw").unwrap();
    let mut globex = demo::firm_company(r"C:\Company Files\globex.qbw").unwrap();
    sync_as_until_idle(&server, &d.user, &d.password, &mut acme, 30);
    sync_as_until_idle(&server, "globex-sync", &globex_password, &mut globex, 30);
    assert_no_duplicate_writes(&acme);
    assert_no_duplicate_writes(&globex);

    // acme's company file holds its charge and its bill, never globex's refund; globex's
    // holds the refund alone.
    let (acme_kinds, acme_txns) = ramp_writes(&acme);
    let (globex_kinds, globex_txns) = ramp_writes(&globex);
    assert!(
        acme_kinds.contains("CreditCardCharge") && acme_kinds.contains("Bill"),
        "{acme_kinds:?}"
    );
    assert!(!acme_kinds.contains("CreditCardCredit"), "{acme_kinds:?}");
    assert_eq!(
        globex_kinds,
        BTreeSet::from(["CreditCardCredit".to_string()])
    );

    // Each account is told about its own records, with the TxnIDs of its own company file.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acme_told = told(&ramp, "tok-acme");
        let globex_told = told(&ramp, "tok-globex");
        let txns = |t: &BTreeSet<(String, String)>| -> BTreeSet<String> {
            t.iter().map(|(_, txn)| txn.clone()).collect()
        };
        if txns(&acme_told) == acme_txns && txns(&globex_told) == globex_txns {
            let ids = |t: &BTreeSet<(String, String)>| -> BTreeSet<String> {
                t.iter().map(|(id, _)| id.clone()).collect()
            };
            assert!(
                ids(&acme_told).is_superset(&accounts[0].ids()),
                "{acme_told:?}"
            );
            assert_eq!(ids(&globex_told), accounts[1].ids(), "{globex_told:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledgements: acme told {acme_told:?} of {acme_txns:?}, globex told {globex_told:?} of {globex_txns:?}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Pulling again: both ready lists are empty, nothing new reaches either company file.
    let (acme_before, globex_before) = (acme.write_log().len(), globex.write_log().len());
    pull_all(&server, &admin);
    sync_as_until_idle(&server, &d.user, &d.password, &mut acme, 5);
    sync_as_until_idle(&server, "globex-sync", &globex_password, &mut globex, 5);
    assert_eq!(acme.write_log().len(), acme_before);
    assert_eq!(globex.write_log().len(), globex_before);
}

/// A deployment with acme and globex and one plugin-wide Ramp grant both fall back to.
fn two_firms_one_plugin_wide_grant() -> Deployment {
    let d = Deployment::new();
    d.cli(&["connection", "add", "globex"]);
    run_with_stdin(
        d.tmp.path(),
        &d.data_dir,
        &[
            "secret",
            "set",
            "ramp",
            "ramp.access_token",
            "--oauth2-token-url",
            TOKEN_URL,
            "--oauth2-client-id",
            "firm-client",
        ],
        "firm-client-secret",
    );
    d
}

fn schedule_args(connection: &str) -> Vec<&str> {
    vec![
        "schedule",
        "add",
        "--connection",
        connection,
        "--plugin",
        "ramp",
        "--cron",
        "0 0 1 1 *",
    ]
}

/// The `schedule.set` audit rows' details, as the admin API lists them.
fn schedule_audit(server: &Server, admin: &str) -> Vec<Value> {
    api(server, admin, "GET", "/api/v1/audit?limit=1000")
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "schedule.set")
        .map(|r| r["detail"].clone())
        .collect()
}

#[test]
fn cli_refuses_to_schedule_one_source_account_into_two_company_files_unless_confirmed() {
    let d = two_firms_one_plugin_wide_grant();
    d.cli(&schedule_args("acme"));

    // globex falls back to the same plugin-wide grant: the same Ramp account.
    let dd = d.data_dir.to_str().unwrap();
    let mut args = schedule_args("globex");
    args.extend(["--data-dir", dd]);
    let out = run(d.tmp.path(), &args);
    assert!(!out.status.success(), "a shared account was scheduled");
    let err = stderr(&out);
    assert!(
        err.contains(
            "ramp for globex would pull the same source account as the ramp schedule of acme"
        ) && err.contains("--shared-account")
            && err.contains("qbridge secret set ramp NAME --connection globex"),
        "{err}"
    );
    assert_eq!(
        d.cli(&["schedule", "list"])
            .lines()
            .filter(|l| l.contains("ramp"))
            .count(),
        1
    );

    // Confirmed: scheduled, both listings say so, and the audit row keeps the confirmation.
    let mut confirmed = schedule_args("globex");
    confirmed.push("--shared-account");
    d.cli(&confirmed);
    let warning = "warning: acme and globex pull the same ramp account";
    let list = d.cli(&["schedule", "list"]);
    assert!(list.contains(warning), "{list}");
    let status = d.cli(&["status"]);
    assert!(status.contains(warning), "{status}");
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let server = d.start();
    let audit = schedule_audit(&server, &admin);
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(
        audit[0].get("shared_account_confirmed_with").is_none(),
        "{audit:?}"
    );
    assert_eq!(audit[1]["shared_account_confirmed_with"], json!(["acme"]));
    drop(server);

    // globex's own client: its own account, no warning any more. A secret set later that
    // makes them share again brings the warning back.
    let set_globex = |client_id: &str| {
        run_with_stdin(
            d.tmp.path(),
            &d.data_dir,
            &[
                "secret",
                "set",
                "ramp",
                "ramp.access_token",
                "--connection",
                "globex",
                "--oauth2-token-url",
                TOKEN_URL,
                "--oauth2-client-id",
                client_id,
            ],
            "another-secret",
        )
    };
    set_globex("globex-client");
    assert!(!d.cli(&["status"]).contains(warning));
    set_globex("firm-client");
    assert!(d.cli(&["status"]).contains(warning));
}

#[test]
fn api_refuses_to_schedule_one_source_account_into_two_company_files_unless_confirmed() {
    let d = two_firms_one_plugin_wide_grant();
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let server = d.start();
    let post = |body: Value| {
        let mut resp = agent()
            .post(&format!("{}/api/v1/schedules", server.base))
            .header("Authorization", &format!("Bearer {admin}"))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, text)
    };
    let schedule =
        |connection: &str| json!({"connection": connection, "plugin": "ramp", "cron": "0 0 1 1 *"});
    let (status, text) = post(schedule("acme"));
    assert_eq!(status, 201, "{text}");

    let (status, text) = post(schedule("globex"));
    assert_eq!(status, 409, "{text}");
    assert!(
        text.contains("the ramp schedule of acme") && text.contains(r#"\"shared_account\": true"#),
        "{text}"
    );
    let listed = api(&server, &admin, "GET", "/api/v1/schedules");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    let mut confirmed = schedule("globex");
    confirmed["shared_account"] = json!(true);
    let (status, text) = post(confirmed);
    assert_eq!(status, 201, "{text}");
    let audit = schedule_audit(&server, &admin);
    assert_eq!(
        audit.last().unwrap()["shared_account_confirmed_with"],
        json!(["acme"]),
        "{audit:?}"
    );

    // The listing names the sharing on both schedules — but a token fenced to acme does not
    // learn globex's name.
    let shares = |token: &str| -> Vec<Value> {
        api(&server, token, "GET", "/api/v1/schedules")
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["shares_account_with"].clone())
            .collect()
    };
    assert_eq!(shares(&admin), [json!(["globex"]), json!(["acme"])]);
    let fenced = d
        .cli(&[
            "token",
            "create",
            "--scope",
            "read",
            "--name",
            "acme-only",
            "--connection",
            "acme",
        ])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(shares(&fenced), [json!([])]);

    // Replacing acme's own schedule is no sharing with itself, but globex's still is.
    let (status, text) = post(schedule("acme"));
    assert_eq!(status, 409, "{text}");
}

#[test]
fn the_schedules_page_adds_confirms_a_shared_account_pulls_now_and_deletes_per_connection() {
    use crate::admin_api::{call, new_token};
    use crate::admin_sessions::sign_in;

    let d = two_firms_one_plugin_wide_grant();
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let server = d.start();
    let cookie = sign_in(&server, &admin);
    let browser = |method: &str, path: &str, body: Option<&str>| {
        call(
            &server,
            method,
            path,
            &[
                ("Cookie", &cookie),
                ("Origin", &server.base),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body,
        )
    };
    let (s, page) = browser("get", "/schedules", None);
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("href=\"/schedules\" aria-current=\"page\""),
        "in the nav"
    );
    assert!(page.contains("No schedules yet") && page.contains("Add a schedule"));
    assert!(
        page.contains("<option value=\"ramp\">ramp</option>"),
        "pull-capable plugins are offered: {page}"
    );

    let form = |connection: &str, shared: bool| {
        format!(
            "connection={connection}&plugin=ramp&cron=0+0+1+1+*&timezone=UTC&cursor={}",
            if shared { "&shared_account=on" } else { "" }
        )
    };
    let (s, _) = browser("post", "/schedules", Some(&form("acme", false)));
    assert_eq!(s, 303);
    // globex would pull the same Ramp account: refused until confirmed.
    let (s, page) = browser("post", "/schedules", Some(&form("globex", false)));
    assert_eq!(s, 409, "{page}");
    assert!(page.contains("the ramp schedule of acme"), "{page}");
    let (s, _) = browser("post", "/schedules", Some(&form("globex", true)));
    assert_eq!(s, 303);
    let (_, page) = browser("get", "/schedules?notice=schedule-added", None);
    assert!(page.contains("Schedule added"), "{page}");
    assert!(
        page.contains("<strong class=\"warning\">globex</strong>")
            && page.contains("<strong class=\"warning\">acme</strong>"),
        "each schedule names the connection it shares its account with: {page}"
    );

    let rows = api(&server, &admin, "GET", "/api/v1/schedules");
    let acme = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["connection_id"] == json!(1))
        .unwrap()
        .clone();
    let id = acme["id"].as_i64().unwrap();
    let (s, _) = browser("post", &format!("/schedules/{id}/run"), Some(""));
    assert_eq!(s, 303);
    let due = api(&server, &admin, "GET", "/api/v1/schedules");
    let next = due
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(id))
        .unwrap()["next_run_at"]
        .as_i64()
        .unwrap();
    assert!(
        next < acme["next_run_at"].as_i64().unwrap(),
        "pull now makes it due"
    );

    // A reader sees the schedules but no way to change them; the API refuses it too.
    let reader = new_token(&server, &admin, "read");
    let reader_cookie = sign_in(&server, &reader);
    let (s, page) = call(
        &server,
        "get",
        "/schedules",
        &[("Cookie", &reader_cookie)],
        None,
    );
    assert_eq!(s, 200);
    assert!(!page.contains("Add a schedule") && !page.contains(&format!("/schedules/{id}/delete")));
    let (s, _) = call(
        &server,
        "post",
        &format!("/schedules/{id}/delete"),
        &[("Cookie", &reader_cookie), ("Origin", &server.base)],
        Some(""),
    );
    assert_eq!(s, 403);

    let (s, _) = browser("post", &format!("/schedules/{id}/delete"), Some(""));
    assert_eq!(s, 303);
    let left = api(&server, &admin, "GET", "/api/v1/schedules");
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
}
