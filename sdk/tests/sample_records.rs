//! The sample Autotask and Ramp records (tests/fixtures, copied from the project's shared
//! research) mapped with the builders the way the bundled plugins will, and validated against
//! qbXML 13.0 and 16.0. Run with `cargo test --release -p qbridge-sdk --features schema`.
#![cfg(feature = "schema")]

use qbridge_sdk::amount::Amount;
use qbridge_sdk::id::{external_guid, memo_marker, ref_number};
use qbridge_sdk::qbxml::*;
use qbridge_sdk::schema::{QbxmlVersion, validate};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn valid(built: Built) -> Built {
    for version in QbxmlVersion::ALL {
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><?qbxml version=\"{version}\"?><QBXML>\
             <QBXMLMsgsRq onError=\"stopOnError\">{}</QBXMLMsgsRq></QBXML>",
            built.qbxml
        );
        if let Err(e) = validate(version, &doc) {
            panic!("{e}\n{}", built.qbxml);
        }
    }
    built
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

/// A JSON number as the exact decimal it was written as.
fn json_amount(v: &Value, key: &str) -> Amount {
    let n = match &v[key] {
        Value::Number(n) => n,
        _ => panic!("{key} is not a number"),
    };
    Amount::from_json_number(n).unwrap()
}

/// A Ramp `CurrencyAmount` (minor units and their factor).
fn minor(v: &Value) -> Amount {
    Amount::from_minor_units(
        v["amount"].as_i64().unwrap(),
        v["minor_unit_conversion_rate"].as_u64().unwrap(),
    )
    .unwrap()
}

fn date(v: &Value, key: &str) -> Date {
    Date::parse(str_of(v, key)).unwrap()
}

/// The ListID Ramp holds for the accounting field of `kind` on a line.
fn selection(line: &Value, kind: &str) -> Option<Ref> {
    line["accounting_field_selections"]
        .as_array()?
        .iter()
        .find(|s| s["type"] == kind)
        .map(|s| Ref::list_id(str_of(s, "external_id")))
}

#[test]
fn autotask_basic_invoice_maps_to_a_valid_customer_and_invoice() {
    let f = fixture("autotask-invoice-1-basic.json");
    let (invoice, company) = (&f["invoice"], &f["company"]);
    let customer = valid(
        CustomerAdd::new(str_of(company, "companyName"))
            .account_number(str_of(company, "companyNumber"))
            .phone(str_of(company, "phone"))
            .bill_address(Address {
                addr1: Some(str_of(company, "address1").into()),
                addr2: Some(str_of(company, "address2").into()),
                city: Some(str_of(company, "city").into()),
                state: Some(str_of(company, "state").into()),
                postal_code: Some(str_of(company, "postalCode").into()),
                ..Address::default()
            })
            .external_guid(external_guid(
                "autotask:company",
                &company["id"].to_string(),
            ))
            .build()
            .unwrap(),
    );
    assert!(customer.notes.is_empty(), "{:?}", customer.notes);

    let mut add = InvoiceAdd::new(Ref::full_name(str_of(company, "companyName")))
        .txn_date(date(invoice, "invoiceDateTime"))
        .due_date(date(invoice, "dueDate"))
        .ref_number(ref_number("", str_of(invoice, "invoiceNumber"), 11).unwrap())
        .po_number(str_of(invoice, "orderNumber"))
        .memo(memo_marker(&invoice["id"].to_string()))
        .external_guid(external_guid(
            "autotask:invoice",
            &invoice["id"].to_string(),
        ));
    let mut sum = Amount::ZERO;
    for item in f["billingItems"].as_array().unwrap() {
        let extended = json_amount(item, "extendedPrice");
        sum = sum.checked_add(extended).unwrap();
        add = add.line(
            InvoiceLine::new(Ref::full_name(str_of(item, "itemName")))
                .desc(str_of(item, "description"))
                .quantity(json_amount(item, "quantity"))
                .rate(json_amount(item, "rate"))
                .amount(extended)
                .service_date(date(item, "itemDate")),
        );
    }
    let built = valid(add.build().unwrap());
    assert_eq!(sum.to_qb_amount().unwrap(), "2200.00");
    assert!(built.qbxml.contains("<RefNumber>10457</RefNumber>"));
    assert!(built.qbxml.contains(
        "<Quantity>1.5</Quantity><Rate>150</Rate><Amount>225.00</Amount><ServiceDate>2025-02-14</ServiceDate>"
    ));
    assert!(built.notes.is_empty(), "{:?}", built.notes);
}

#[test]
fn autotask_credit_invoice_keeps_negative_amounts_and_notes_the_long_po_number() {
    let f = fixture("autotask-invoice-3-credit-expense.json");
    let invoice = &f["invoice"];
    let mut add = InvoiceAdd::new(Ref::full_name(str_of(&f["company"], "companyName")))
        .po_number(str_of(invoice, "orderNumber"))
        .customer_sales_tax_code_ref(Ref::full_name("Non"));
    for item in f["billingItems"].as_array().unwrap() {
        add = add.line(
            InvoiceLine::new(Ref::full_name(str_of(item, "itemName")))
                .quantity(json_amount(item, "quantity"))
                .rate(json_amount(item, "rate"))
                .amount(json_amount(item, "extendedPrice")),
        );
    }
    let built = valid(add.build().unwrap());
    assert!(
        built
            .qbxml
            .contains("<Rate>-500</Rate><Amount>-500.00</Amount>")
    );
    assert!(
        built
            .qbxml
            .contains("<Rate>0.7</Rate><Amount>87.50</Amount>")
    );
    assert_eq!(built.notes.len(), 1);
    assert!(
        built.notes[0].starts_with("InvoiceAdd PONumber:")
            && built.notes[0].ends_with("(truncated to 25 characters)"),
        "{}",
        built.notes[0]
    );
    // The customer's name holds an apostrophe: escaped, not a problem.
    assert!(built.qbxml.contains("St. Brigid&apos;s Parish School"));
}

#[test]
fn ramp_card_split_maps_to_a_valid_credit_card_charge_whose_lines_sum_exactly() {
    let f = fixture("ramp-transaction-1-card-split.json");
    let t = &f["transaction"];
    let id = str_of(t, "id");
    let mut charge = CreditCardAdd::charge(Ref::full_name("Ramp Card"))
        .payee_entity_ref(Ref::full_name(str_of(t, "merchant_name")))
        .txn_date(date(t, "accounting_date"))
        .ref_number(ref_number("", id, 11).unwrap())
        .memo(str_of(t, "memo"))
        .external_guid(external_guid("ramp:transaction", id));
    let mut sum = Amount::ZERO;
    for line in t["line_items"].as_array().unwrap() {
        let amount = minor(&line["amount"]);
        sum = sum.checked_add(amount).unwrap();
        let mut expense = ExpenseLine::new(selection(line, "GL_ACCOUNT").unwrap(), amount)
            .memo(str_of(line, "memo"));
        if let Some(customer) = selection(line, "CUSTOMERS_JOBS") {
            expense = expense
                .customer_ref(customer)
                .billable_status(BillableStatus::Billable);
        }
        if let Some(class) = selection(line, "OTHER") {
            expense = expense.class_ref(class);
        }
        charge = charge.expense_line(expense);
    }
    assert_eq!(
        sum,
        json_amount(t, "amount"),
        "800.00 + 434.57 == 1234.57 exactly"
    );
    let built = valid(charge.build().unwrap());
    assert!(built.qbxml.contains(
        "<PayeeEntityRef><FullName>Café Déjà Vu - Zürich Flughafen</FullName></PayeeEntityRef>"
    ));
    assert!(built.qbxml.contains("<TxnDate>2025-05-03</TxnDate>"));
    assert!(built.qbxml.contains("<Amount>434.57</Amount>"));
    assert_eq!(built.notes.len(), 1, "{:?}", built.notes);
    assert!(built.notes[0].starts_with("CreditCardChargeAdd PayeeEntityRef FullName:"));
}

#[test]
fn ramp_bill_with_partial_payments_maps_to_a_valid_bill_and_two_payments() {
    let f = fixture("ramp-bill-3-partial-payments.json");
    let bill = &f["bill"];
    let id = str_of(bill, "id");
    let vendor = Ref::full_name(str_of(&bill["vendor"], "name"));
    let number = ref_number("", str_of(bill, "invoice_number"), 20).unwrap();
    assert!(number.len() <= 20 && number.starts_with('~'), "{number}");

    let mut add = BillAdd::new(vendor.clone())
        .txn_date(date(bill, "issued_at"))
        .due_date(date(bill, "due_at"))
        .ref_number(number)
        .memo(format!(
            "{} {} {}",
            str_of(bill, "invoice_number"),
            str_of(bill, "memo"),
            memo_marker(id)
        ))
        .external_guid(external_guid("ramp:bill", id));
    let mut sum = Amount::ZERO;
    for line in bill["line_items"].as_array().unwrap() {
        let amount = minor(&line["amount"]);
        sum = sum.checked_add(amount).unwrap();
        add = add.expense_line(
            ExpenseLine::new(selection(line, "GL_ACCOUNT").unwrap(), amount)
                .memo(str_of(line, "memo")),
        );
    }
    for line in bill["inventory_line_items"].as_array().unwrap() {
        let amount = minor(&line["amount"]);
        sum = sum.checked_add(amount).unwrap();
        add = add.item_line(
            ItemLine::new(selection(line, "INVENTORY_ITEM").unwrap())
                .quantity(json_amount(line, "quantity"))
                .cost(minor(&line["unit_price"]))
                .amount(amount)
                .desc(str_of(line, "memo")),
        );
    }
    assert_eq!(
        sum,
        minor(&bill["amount"]),
        "9999.99 + 1500.01 + 1000.00 == 12500.00"
    );
    let built = valid(add.build().unwrap());
    assert!(
        built
            .qbxml
            .contains("<Quantity>40</Quantity><Cost>25</Cost><Amount>1000.00</Amount>")
    );
    // The emoji in the bill memo and in a line memo are removed, each with a note.
    assert_eq!(built.notes.len(), 2, "{:?}", built.notes);
    assert!(!built.qbxml.contains('🚚') && !built.qbxml.contains('🚢'));

    for payment in bill["payments"].as_array().unwrap() {
        let method = str_of(payment, "payment_method");
        let paid = if method == "ACH" {
            BillPaymentAdd::check(vendor.clone(), Ref::full_name("Checking"))
        } else {
            BillPaymentAdd::credit_card(vendor.clone(), Ref::full_name("Ramp Card"))
        };
        valid(
            paid.txn_date(date(payment, "payment_date"))
                .ref_number(str_of(payment, "customer_friendly_payment_id"))
                .external_guid(external_guid(
                    "ramp:bill-payment",
                    str_of(payment, "customer_friendly_payment_id"),
                ))
                .applied_to(AppliedToTxn::new(
                    "1A2B-1234567890",
                    minor(&payment["amount"]),
                ))
                .build()
                .unwrap(),
        );
    }
}
