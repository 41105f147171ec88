//! The bundled Autotask and Ramp plugins end to end: real-shaped source records pushed into
//! the real binary land in the simulated QuickBooks as an accountant expects — and pushing
//! them again creates nothing new.

use std::path::Path;

use qbridge::sim::QuickBooks;
use qbridge::sim::company::Company;

use crate::pipeline::{Deployment, ingest, sync_until_idle};

/// A sample record from `tests/fixtures/sources`, without its `_meta` notes and with Ramp's
/// ERP ids removed: the simulated company cannot have QuickBooks' ListIDs of someone else's
/// file, so references go by full name (which the plugins fall back to).
fn fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sources")
        .join(name);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    strip(&mut v);
    v
}

fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("external_id");
            map.remove("_meta");
            map.values_mut().for_each(strip);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// The record a plugin maps: Ramp samples wrap it under one key, Autotask bundles are whole.
fn record(sample: &serde_json::Value, key: Option<&str>) -> serde_json::Value {
    match key {
        Some(k) => sample[k].clone(),
        None => sample.clone(),
    }
}

/// The accounts, customer:jobs and classes a firm set up before turning the sync on.
fn firm_company() -> Company {
    let mut c = Company::new(r"C:\Company Files\firm.qbw");
    let account = |name: &str, kind: &str| {
        format!(
            "<AccountAddRq><AccountAdd><Name>{name}</Name><AccountType>{kind}</AccountType></AccountAdd></AccountAddRq>"
        )
    };
    let sub_account = |parent: &str, name: &str, kind: &str| {
        format!(
            "<AccountAddRq><AccountAdd><Name>{name}</Name><ParentRef><FullName>{parent}</FullName></ParentRef><AccountType>{kind}</AccountType></AccountAdd></AccountAddRq>"
        )
    };
    let mut rq = String::new();
    for (name, kind) in [
        ("Autotask Other", "Income"),
        ("Autotask Expenses", "Expense"),
        ("Cost of Goods Sold", "CostOfGoodsSold"),
        ("Ramp Card", "CreditCard"),
        ("Ramp Bill Pay", "Bank"),
        ("Meals", "Expense"),
        ("Software", "Expense"),
        ("Travel", "Expense"),
        ("Freight &amp; Delivery", "Expense"),
        ("Computer Equipment", "Expense"),
    ] {
        rq.push_str(&account(name, kind));
    }
    rq.push_str(&sub_account("Meals", "Client Entertainment", "Expense"));
    rq.push_str(&sub_account("Meals", "Staff Meals", "Expense"));
    rq.push_str(&sub_account("Freight &amp; Delivery", "Duties", "Expense"));
    rq.push_str("<ItemNonInventoryAddRq><ItemNonInventoryAdd><Name>Pallet - EUR 1200x800</Name><SalesOrPurchase><AccountRef><FullName>Cost of Goods Sold</FullName></AccountRef></SalesOrPurchase></ItemNonInventoryAdd></ItemNonInventoryAddRq>");
    rq.push_str(
        "<CustomerAddRq><CustomerAdd><Name>Acme Holdings</Name></CustomerAdd></CustomerAddRq>",
    );
    rq.push_str("<CustomerAddRq><CustomerAdd><Name>EMEA Rollout</Name><ParentRef><FullName>Acme Holdings</FullName></ParentRef></CustomerAdd></CustomerAddRq>");
    rq.push_str("<ClassAddRq><ClassAdd><Name>Sales</Name></ClassAdd></ClassAddRq>");
    rq.push_str("<ClassAddRq><ClassAdd><Name>EMEA</Name><ParentRef><FullName>Sales</FullName></ParentRef></ClassAdd></ClassAddRq>");
    let xml = format!(
        r#"<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError">{rq}</QBXMLMsgsRq></QBXML>"#
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
    let ramp_txn = fixture("ramp-transaction-1-card-split.json");
    let ramp_refund = fixture("ramp-transaction-2-refund.json");
    let ramp_bill = fixture("ramp-bill-3-partial-payments.json");
    let records = vec![
        (
            "autotask",
            "invoice",
            fixture("autotask-invoice-1-basic.json"),
        ),
        (
            "ramp",
            "transaction",
            record(&ramp_txn, Some("transaction")),
        ),
        (
            "ramp",
            "transaction",
            record(&ramp_refund, Some("transaction")),
        ),
        ("ramp", "bill", record(&ramp_bill, Some("bill"))),
    ];
    push_all(&server, &d, &records);

    let mut company = firm_company();
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
