//! The bundled Autotask and Ramp plugins end to end: real-shaped source records pushed into
//! the real binary land in the simulated QuickBooks as an accountant expects — and pushing
//! them again creates nothing new.

use std::path::Path;

use qbridge::demo;

use crate::pipeline::{Deployment, ingest, sync_until_idle};

/// A sample record from `tests/fixtures/sources`, as `qbridge demo` feeds it to the plugin.
fn fixture(name: &str, key: Option<&str>) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sources")
        .join(name);
    demo::sample_record(&std::fs::read_to_string(path).unwrap(), key).unwrap()
}

fn push_all(
    server: &crate::support::Server,
    d: &Deployment,
    records: &[(&str, &str, serde_json::Value)],
) {
    for (plugin, kind, r) in records {
        let (status, body) = ingest(server, &d.token, plugin, kind, r);
        assert_eq!(status, 202, "{plugin} {kind}: {body}");
    }
}

#[test]
fn autotask_and_ramp_records_land_correctly_and_reingesting_creates_nothing() {
    let d = Deployment::new();
    let server = d.start();
    let records = vec![
        (
            "autotask",
            "invoice",
            fixture("autotask-invoice-1-basic.json", None),
        ),
        (
            "ramp",
            "transaction",
            fixture("ramp-transaction-1-card-split.json", Some("transaction")),
        ),
        (
            "ramp",
            "transaction",
            fixture("ramp-transaction-2-refund.json", Some("transaction")),
        ),
        (
            "ramp",
            "bill",
            fixture("ramp-bill-3-partial-payments.json", Some("bill")),
        ),
    ];
    push_all(&server, &d, &records);

    let mut company = demo::firm_company(r"C:\Company Files\firm.qbw").unwrap();
    let writes_before = company.write_log().len();
    sync_until_idle(&server, &d, &mut company, 30);
    drop(server);
    let failed = d.cli(&["jobs", "--state", "discarded"]);
    let details: Vec<String> = failed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|id| d.cli(&["jobs", "show", id]))
        .collect();
    assert!(
        failed.trim().is_empty(),
        "no job may fail:\n{}",
        details.join("\n")
    );
    let held = d.cli(&["jobs", "--state", "held"]);
    assert!(held.trim().is_empty(), "no job may wait: {held}");

    // Autotask: the customer, one item per billing code, the invoice with its lines.
    assert!(
        company
            .find_customer("Hudson Valley Dental Group")
            .is_some()
    );
    assert_eq!(company.count("Invoice"), 1);
    let invoice = &company.invoices()[0];
    assert_eq!(invoice.ref_number.as_deref(), Some("10457"));
    // Ramp: one charge, one credit (the refund), the bill and one payment per payment made.
    assert_eq!(company.count("CreditCardCharge"), 1);
    assert_eq!(company.count("CreditCardCredit"), 1);
    assert_eq!(company.count("Bill"), 1);
    assert_eq!(
        company.count("BillPaymentCheck") + company.count("BillPaymentCreditCard"),
        2,
        "the bill's two partial payments"
    );

    // Everything again: nothing new in QuickBooks.
    let writes = company.write_log().len();
    assert!(writes > writes_before);
    let server = d.start();
    push_all(&server, &d, &records);
    sync_until_idle(&server, &d, &mut company, 5);
    assert_eq!(
        company.write_log().len(),
        writes,
        "re-ingesting wrote nothing"
    );
}

/// `qbridge demo` boots the engine as `serve` does: a schedule made due in the demo's engine
/// is run by its scheduler loop (before `Engine::boot`, the demo started no loops and this
/// schedule never ran).
#[test]
fn demo_engine_runs_the_scheduler_loop_as_serve_does() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = demo::DemoEngine::start(&tmp.path().join("data")).unwrap();
    let store = engine.store.clone();
    let id = store
        .add_schedule(
            engine.connection,
            "example",
            "0 0 1 1 *",
            "UTC",
            None,
            None,
            &[],
            "test",
        )
        .unwrap();
    store.run_schedule_now(id, "test").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let ran = loop {
        let row = store.schedule(id).unwrap();
        if row.last_run_at.is_some() || std::time::Instant::now() > deadline {
            break row;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    engine.stop().unwrap();
    assert!(
        ran.last_run_at.is_some(),
        "the demo's scheduler never ran the due schedule: {ran:?}"
    );
    assert!(ran.last_result.is_some(), "{ran:?}");
}

#[test]
fn demo_runs_the_whole_product_and_its_counts_match_the_company() {
    let tmp = tempfile::tempdir().unwrap();
    let out = crate::support::run(tmp.path(), &["demo", "--log-level", "warn"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        crate::support::stderr(&out)
    );
    let summary = text
        .lines()
        .find(|l| l.starts_with("Summary:"))
        .expect("summary line");
    // "Summary: 5 records → N requests → M QuickBooks objects created; 0 failed"
    assert!(
        summary.contains("5 records") && summary.ends_with("0 failed"),
        "{summary}"
    );
    let created: usize = text
        .lines()
        .skip_while(|l| !l.starts_with("Created in QuickBooks"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            l.split_whitespace()
                .last()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert!(
        summary.contains(&format!("{created} QuickBooks objects created")),
        "{summary} vs {created}"
    );
    assert!(
        text.contains("non-Latin-1 replaced"),
        "warnings such as transliterated names are shown"
    );
    // After the first sync the source renames the customer, then voids the invoice: each
    // reaches QuickBooks once, as a Mod and a void of what is there.
    let changes: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Changes after the first sync"))
        .filter(|l| l.starts_with("  QuickBooks: "))
        .collect();
    let kinds: Vec<&str> = changes
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(kinds, ["CustomerMod", "InvoiceMod", "TxnVoid"], "{text}");
    let now = text
        .lines()
        .skip_while(|l| !l.starts_with("The invoice now"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        now.contains("PLLC") && now.contains("total 0.00") && now.ends_with("(voided)"),
        "{now}"
    );
}

#[test]
fn a_missing_permission_holds_only_what_depends_on_it_and_other_work_flows() {
    use qbridge::qbxml::PermissionArea;
    use qbridge::sim::company::{Access, Role};

    let d = Deployment::new();
    let server = d.start();
    let records = vec![
        (
            "ramp",
            "transaction",
            fixture("ramp-transaction-1-card-split.json", Some("transaction")),
        ),
        (
            "autotask",
            "invoice",
            fixture("autotask-invoice-1-basic.json", None),
        ),
    ];
    push_all(&server, &d, &records);
    let mut company = demo::firm_company(r"C:\Company Files\firm.qbw").unwrap();
    // The "Login as" user may bill customers but has no Vendors & Payables access.
    company.add_user(
        "ar-clerk",
        Role::new(
            "Receivables clerk",
            &[
                (PermissionArea::CustomersReceivables, Access::Full),
                (PermissionArea::Lists, Access::Full),
            ],
        ),
    );
    company.set_login_as("ar-clerk").unwrap();
    sync_until_idle(&server, &d, &mut company, 30);
    drop(server);

    assert_eq!(
        company.count("Invoice"),
        1,
        "the Autotask invoice went through"
    );
    assert_eq!(company.count("CreditCardCharge"), 0);
    let failed = d.cli(&["jobs", "--state", "discarded"]);
    assert!(
        failed.contains("VendorAdd") && failed.contains("Vendors & Payables"),
        "{failed}"
    );
    assert!(failed.contains("plugin ramp"), "{failed}");
    let held = d.cli(&["jobs", "--state", "held"]);
    assert!(
        held.contains("CreditCardChargeAdd"),
        "the charge waits for its vendor: {held}"
    );
}
