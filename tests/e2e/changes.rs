//! Changes after the first sync, end to end: records pushed over HTTP into the real binary
//! (bundled example plugin, interface 0.3.0), written into the simulated QuickBooks by the
//! simulated Web Connector; then the source renames a customer, edits an invoice's lines and
//! voids an invoice, and a bookkeeper edits QuickBooks in between. The company file must end
//! equal to the source, every version applied once, nothing written twice.

use qbridge::sim::company::{Company, ListKind, TxnKind};
use serde_json::json;

use crate::pipeline::{Deployment, company_with_items, ingest, sync_until_idle};
use crate::support::{Server, run, stderr};

fn customer(id: u32, name: &str, email: &str) -> serde_json::Value {
    json!({"id": id, "name": name, "email": email})
}

fn invoice(customer: &str, number: &str, lines: &[(&str, &str, &str)]) -> serde_json::Value {
    json!({
        "id": 7, "customer_id": 1, "customer_name": customer, "number": number,
        "lines": lines.iter().map(|(id, item, amount)| json!({"id": id, "item": item, "amount": amount})).collect::<Vec<_>>(),
    })
}

fn push(server: &Server, d: &Deployment, kind: &str, record: &serde_json::Value) {
    let (status, body) = ingest(server, &d.token, "example", kind, record);
    assert_eq!(status, 202, "{body}");
}

/// Writes of each request type in the company's write log.
fn writes(company: &Company, request: &str) -> usize {
    company
        .write_log()
        .iter()
        .filter(|w| w.request == request)
        .count()
}

fn first_sync(server: &Server, d: &Deployment) -> Company {
    let mut company = company_with_items(&["Consulting", "Support", "Travel"]);
    push(server, d, "customer", &customer(1, "Acme", "ap@acme.test"));
    push(
        server,
        d,
        "invoice",
        &invoice(
            "Acme",
            "INV7",
            &[("a", "Consulting", "100.00"), ("b", "Support", "25.50")],
        ),
    );
    sync_until_idle(server, d, &mut company, 10);
    assert_eq!(writes(&company, "Customer"), 1);
    assert_eq!(writes(&company, "Invoice"), 1);
    company
}

#[test]
fn a_rename_an_edited_invoice_and_a_void_reach_quickbooks_once_each() {
    let d = Deployment::new();
    let server = d.start();
    let mut company = first_sync(&server, &d);
    let before = company.find_txn(TxnKind::Invoice, "INV7").expect("invoice");
    let kept_line = before.lines[0].txn_line_id.clone();

    // The source renames the customer and edits the invoice: line a changes, b goes, c is new.
    push(
        &server,
        &d,
        "customer",
        &customer(1, "Acme Holdings", "ap@acme.test"),
    );
    push(
        &server,
        &d,
        "invoice",
        &invoice(
            "Acme Holdings",
            "INV7",
            &[("a", "Consulting", "120.00"), ("c", "Travel", "30.00")],
        ),
    );
    // The same versions again change nothing.
    push(
        &server,
        &d,
        "customer",
        &customer(1, "Acme Holdings", "ap@acme.test"),
    );
    sync_until_idle(&server, &d, &mut company, 10);

    assert_eq!(
        writes(&company, "CustomerMod"),
        1,
        "{:?}\n{}",
        company.write_log(),
        d.cli(&["jobs", "--limit", "50"])
    );
    assert_eq!(
        writes(&company, "InvoiceMod"),
        1,
        "{}",
        d.cli(&["jobs", "--limit", "50"])
    );
    assert!(company.find(ListKind::Customer, "Acme").is_none());
    assert!(company.find(ListKind::Customer, "Acme Holdings").is_some());
    let after = company.find_txn(TxnKind::Invoice, "INV7").expect("invoice");
    assert_eq!(after.txn_id, before.txn_id, "modified, not added again");
    assert_eq!(after.total_cents, 15_000);
    let amounts: Vec<i64> = after.lines.iter().map(|l| l.amount_cents).collect();
    assert_eq!(amounts, vec![12_000, 3_000]);
    assert_eq!(
        after.lines[0].txn_line_id, kept_line,
        "the kept line keeps its TxnLineID"
    );

    // Voided at the source.
    let mut voided = invoice(
        "Acme Holdings",
        "INV7",
        &[("a", "Consulting", "120.00"), ("c", "Travel", "30.00")],
    );
    voided["voided"] = json!(true);
    push(&server, &d, "invoice", &voided);
    sync_until_idle(&server, &d, &mut company, 10);
    assert_eq!(writes(&company, "TxnVoid"), 1);
    let gone = company
        .find_txn(TxnKind::Invoice, "INV7")
        .expect("a void keeps the record");
    assert!(gone.is_voided);
    assert_eq!(gone.total_cents, 0);
    assert_eq!(writes(&company, "Invoice"), 1, "never added twice");
}

#[test]
fn a_bookkeepers_edit_is_re_read_and_overwritten_once_under_source_wins() {
    let d = Deployment::new();
    let server = d.start();
    let mut company = first_sync(&server, &d);
    company
        .edit_list_as_bookkeeper(ListKind::Customer, "Acme", "Email", "books@acme.test")
        .unwrap();
    push(
        &server,
        &d,
        "customer",
        &customer(1, "Acme", "billing@acme.test"),
    );
    sync_until_idle(&server, &d, &mut company, 10);
    assert_eq!(
        writes(&company, "CustomerMod"),
        1,
        "one Mod after the re-read: {:?}",
        company.write_log()
    );
    let out = d.cli(&["jobs", "--state", "completed"]);
    assert!(out.contains("customer:1"), "{out}");
    let job = last_job_of(&d, "customer:1");
    let shown = d.cli(&["jobs", "show", &job]);
    assert!(shown.contains("version 2"), "{shown}");
    assert!(
        shown.contains("source's version was written over it"),
        "the overwrite is noted: {shown}"
    );
    assert!(shown.contains("books@acme.test"), "{shown}");
}

#[test]
fn under_hold_a_bookkeepers_edit_waits_with_the_diff_and_retry_lets_the_source_win() {
    let d = Deployment::new();
    let server = crate::support::Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[("QBRIDGE_EDITS_CONFLICT", "hold")],
    );
    let mut company = first_sync(&server, &d);
    company
        .edit_list_as_bookkeeper(ListKind::Customer, "Acme", "Email", "books@acme.test")
        .unwrap();
    push(
        &server,
        &d,
        "customer",
        &customer(1, "Acme", "billing@acme.test"),
    );
    sync_until_idle(&server, &d, &mut company, 10);
    assert_eq!(writes(&company, "CustomerMod"), 0, "held, not written");
    let job = last_job_of(&d, "customer:1");
    let shown = d.cli(&["jobs", "show", &job]);
    assert!(shown.contains("(held"), "{shown}");
    assert!(
        shown.contains("edited in QuickBooks since qbridge wrote it")
            && shown.contains("books@acme.test")
            && shown.contains("billing@acme.test"),
        "a readable diff: {shown}"
    );
    let mut resp = crate::support::agent()
        .get(format!("{}/api/v1/jobs/{job}", server.base))
        .header("Authorization", &format!("Bearer {}", admin_token(&d)))
        .call()
        .unwrap();
    let api: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert!(
        api["conflict"].as_array().is_some_and(|c| !c.is_empty()),
        "{api}"
    );
    let out = run(
        d.tmp.path(),
        &[
            "jobs",
            "retry",
            &job,
            "--data-dir",
            d.data_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    sync_until_idle(&server, &d, &mut company, 10);
    assert_eq!(writes(&company, "CustomerMod"), 1);
}

/// The newest job of `key`, as `jobs list` shows it.
fn last_job_of(d: &Deployment, key: &str) -> String {
    let out = d.cli(&["jobs", "--limit", "500"]);
    out.lines()
        .find(|l| l.split_whitespace().any(|w| w == key))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no job for {key} in:\n{out}"))
        .trim_start_matches('#')
        .to_string()
}

fn admin_token(d: &Deployment) -> String {
    let out = d.cli(&["token", "create", "--scope", "admin", "--name", "t"]);
    out.lines().last().unwrap().trim().to_string()
}
