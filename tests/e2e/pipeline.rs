//! The sync pipeline end to end: records pushed over HTTP into the real binary, mapped by a
//! bundled plugin, queued in SQLite, and written into a simulated QuickBooks by the simulated
//! Web Connector over real SOAP — exactly once, in dependency order, with plain advice when
//! QuickBooks refuses.

use std::path::PathBuf;

use qbridge::qbxml::PermissionArea;
use qbridge::sim::QuickBooks;
use qbridge::sim::company::{Access, Company, Faults, Role};
use qbridge::sim::webconnector::{Outcome, WcOptions, WebConnector};

use crate::support::{Server, agent, run, stderr};

/// A data dir with one connection, one Web Connector user and an ingest token.
pub struct Deployment {
    pub tmp: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub user: String,
    pub password: String,
    pub token: String,
}

impl Deployment {
    pub fn new() -> Deployment {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let dd = data_dir.to_str().unwrap().to_string();
        let ok = |args: &[&str]| {
            let out = run(tmp.path(), args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        ok(&["connection", "add", "--data-dir", &dd, "acme"]);
        let out = ok(&[
            "user",
            "add",
            "--data-dir",
            &dd,
            "--connection",
            "acme",
            "qbridge-sync",
        ]);
        let password = crate::support::printed_password(&out);
        let out = ok(&[
            "token",
            "create",
            "--data-dir",
            &dd,
            "--scope",
            "ingest",
            "--name",
            "crm",
        ]);
        let token = out.lines().last().unwrap().trim().to_string();
        Deployment {
            tmp,
            data_dir,
            user: "qbridge-sync".into(),
            password,
            token,
        }
    }

    pub fn start(&self) -> Server {
        Server::start_in(self.tmp.path(), &self.data_dir, &[])
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let mut all: Vec<&str> = args.to_vec();
        let dd = self.data_dir.to_str().unwrap();
        all.extend(["--data-dir", dd]);
        let out = run(self.tmp.path(), &all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// POSTs one record; returns (status, body).
pub fn ingest(
    server: &Server,
    token: &str,
    plugin: &str,
    kind: &str,
    record: &serde_json::Value,
) -> (u16, String) {
    let mut resp = agent()
        .post(format!(
            "{}/api/v1/ingest/{plugin}?kind={kind}",
            server.base
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(record.to_string())
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

/// A simulated company file (which starts with a standard chart of accounts) that already has
/// the service items the example plugin uses.
pub fn company_with_items(items: &[&str]) -> Company {
    let mut c = Company::new(r"C:\Company Files\acme.qbw");
    let adds: String = items
        .iter()
        .map(|i| {
            format!(
                "<ItemServiceAddRq><ItemServiceAdd><Name>{i}</Name><SalesOrPurchase><AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>"
            )
        })
        .collect();
    let xml = format!(
        r#"<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">{adds}</QBXMLMsgsRq></QBXML>"#
    );
    c.open("").unwrap();
    let out = c.process(&xml).unwrap();
    assert!(
        !out.contains("statusSeverity=\"Error\""),
        "seeding failed: {out}"
    );
    c.close();
    c
}

/// Runs Web Connector sessions until the server says there is no work (or `max` sessions).
pub fn sync_until_idle(
    server: &Server,
    d: &Deployment,
    company: &mut Company,
    max: usize,
) -> usize {
    sync_as_until_idle(server, &d.user, &d.password, company, max)
}

/// As [`sync_until_idle`], as the Web Connector user `user` (of another connection).
pub fn sync_as_until_idle(
    server: &Server,
    user: &str,
    password: &str,
    company: &mut Company,
    max: usize,
) -> usize {
    let mut wc = WebConnector::new(
        &format!("{}/qbwc", server.base),
        user,
        password,
        WcOptions::default(),
    );
    for n in 0..max {
        let transcript = match wc.run_session(company) {
            Ok(t) => t,
            Err(e) => panic!("session {n} failed: {e}\n{}", wc.transcript()),
        };
        match transcript.outcome {
            Some(Outcome::NoWork) => return n,
            // A Web Connector that vanished mid-session holds the company file until its
            // lease expires, as a crashed QBWC does; wait and log in again.
            Some(Outcome::Busy) => std::thread::sleep(std::time::Duration::from_millis(400)),
            _ => {}
        }
    }
    panic!("still work after {max} sessions")
}

pub fn customer(id: u32) -> serde_json::Value {
    serde_json::json!({"id": id, "name": format!("Customer {id:04}"), "email": format!("c{id}@example.com")})
}

pub fn invoice(id: u32, customer_id: u32) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "customer_id": customer_id,
        "customer_name": format!("Customer {customer_id:04}"),
        "number": format!("INV{id}"),
        "lines": [{"item": "Consulting", "amount": 100.0 + id as f64}, {"item": "Support", "amount": 25.5}]
    })
}

pub fn assert_no_duplicate_writes(company: &Company) {
    let mut seen = std::collections::HashSet::new();
    for w in company.write_log() {
        assert!(
            seen.insert((w.request.clone(), w.name.clone())),
            "written twice: {} {}",
            w.request,
            w.name
        );
    }
}

#[test]
fn a_thousand_records_land_exactly_once_in_dependency_order() {
    let d = Deployment::new();
    let server = d.start();
    // Invoices arrive before their customers: dependency order must come from the queue.
    let mut records = Vec::new();
    for i in 0..800 {
        records.push(("invoice", invoice(10_000 + i, i % 200)));
    }
    for c in 0..200 {
        records.push(("customer", customer(c)));
    }
    for (kind, r) in &records {
        let (status, body) = ingest(&server, &d.token, "example", kind, r);
        assert_eq!(status, 202, "{body}");
    }
    // Re-sending a record is harmless.
    let (status, _) = ingest(&server, &d.token, "example", "customer", &customer(7));
    assert_eq!(status, 202);

    let mut company = company_with_items(&["Consulting", "Support"]);
    sync_until_idle(&server, &d, &mut company, 200);
    assert_eq!(company.count("Customer"), 200);
    assert_eq!(company.count("Invoice"), 800);
    assert_no_duplicate_writes(&company);

    // Re-ingesting everything after the sync creates nothing new.
    for (kind, r) in records.iter().take(50) {
        assert_eq!(ingest(&server, &d.token, "example", kind, r).0, 202);
    }
    let sessions = sync_until_idle(&server, &d, &mut company, 5);
    assert_eq!(sessions, 0, "nothing left to do");
    assert_eq!(company.count("Invoice"), 800);
}

#[test]
fn a_rejected_record_gets_422_with_the_plugins_reason_and_nothing_is_stored() {
    let d = Deployment::new();
    let server = d.start();
    let (status, body) = ingest(
        &server,
        &d.token,
        "example",
        "invoice",
        &serde_json::json!({"id": 1, "customer_id": 2}),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("customer_name"),
        "the reason names the field: {body}"
    );
    let (status, body) = ingest(
        &server,
        &d.token,
        "nosuch",
        "invoice",
        &serde_json::json!({}),
    );
    assert_eq!(status, 404, "{body}");
    let mut company = company_with_items(&["Consulting"]);
    assert_eq!(
        sync_until_idle(&server, &d, &mut company, 3),
        0,
        "no work was queued"
    );
}

#[test]
fn a_lost_response_is_resolved_by_error_recovery_without_a_second_add() {
    let d = Deployment::new();
    // The Web Connector that lost the response abandons its session; a short idle lease lets
    // the next login take over the company file quickly.
    let server = Server::start_in(
        d.tmp.path(),
        &d.data_dir,
        &["--set", "qbwc.session_idle_secs=1"],
    );
    for c in 0..5 {
        assert_eq!(
            ingest(&server, &d.token, "example", "customer", &customer(c)).0,
            202
        );
    }
    let mut company = company_with_items(&[]);
    company.set_faults(Faults {
        lose_response_after_apply: Some(1),
        ..Faults::default()
    });
    sync_until_idle(&server, &d, &mut company, 30);
    assert_eq!(company.count("Customer"), 5);
    assert_no_duplicate_writes(&company);
    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
    drop(server);
    for state in ["sent", "in_doubt", "available", "retryable"] {
        let left = d.cli(&["jobs", "--state", state]);
        assert!(left.trim().is_empty(), "no job may be left {state}: {left}");
    }
    assert_eq!(d.cli(&["jobs", "--state", "completed"]).lines().count(), 5);
}

#[test]
fn missing_permission_gets_advice_naming_area_request_type_and_plugin() {
    let d = Deployment::new();
    let server = d.start();
    assert_eq!(
        ingest(&server, &d.token, "example", "customer", &customer(1)).0,
        202
    );
    assert_eq!(
        ingest(&server, &d.token, "example", "invoice", &invoice(500, 1)).0,
        202
    );
    let mut company = company_with_items(&["Consulting", "Support"]);
    // The "Login as" user may manage customers but not invoices.
    company.add_user(
        "sales-clerk",
        Role::new(
            "Customers only",
            &[
                (PermissionArea::CustomersReceivables, Access::View),
                (PermissionArea::Lists, Access::Full),
            ],
        ),
    );
    company.set_login_as("sales-clerk").unwrap();
    sync_until_idle(&server, &d, &mut company, 10);
    drop(server);
    let jobs = d.cli(&["jobs", "--state", "discarded"]);
    assert!(jobs.contains("CustomerAdd"), "{jobs}");
    assert!(
        jobs.contains("Customers & Receivables"),
        "area named: {jobs}"
    );
    assert!(jobs.contains("plugin example"), "plugin named: {jobs}");
    assert!(jobs.contains("qbridge-sync"), "user named: {jobs}");
    let held = d.cli(&["jobs", "--state", "held"]);
    assert!(
        held.contains("InvoiceAdd") && held.contains("which failed"),
        "the invoice waits, with the reason: {held}"
    );
}

#[test]
fn sim_run_completes_a_full_session_against_a_running_serve_from_the_command_line() {
    let d = Deployment::new();
    let server = d.start();
    assert_eq!(
        ingest(&server, &d.token, "example", "customer", &customer(1)).0,
        202
    );
    let url = format!("{}/qbwc", server.base);
    let out = run(
        d.tmp.path(),
        &[
            "sim",
            "run",
            "--url",
            &url,
            "--user",
            &d.user,
            "--password",
            &d.password,
        ],
    );
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{transcript}{}", stderr(&out));
    for call in [
        "serverVersion",
        "clientVersion",
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ] {
        assert!(
            transcript.contains(call),
            "{call} missing from:\n{transcript}"
        );
    }
    // The work is done: the next session finds nothing to do.
    let out = run(
        d.tmp.path(),
        &[
            "sim",
            "run",
            "--url",
            &url,
            "--user",
            &d.user,
            "--password",
            &d.password,
        ],
    );
    let again = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !again.contains("sendRequestXML"),
        "{again}"
    );
}
