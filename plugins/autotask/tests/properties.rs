//! Property tests over generated Autotask records: whatever the text (any Unicode, any
//! length), amounts and optional fields, mapping never panics and never produces invalid
//! qbXML; every refusal names the field at fault.

mod support;

use proptest::prelude::*;
use qbridge_plugin_autotask::map::{REQUEST_TYPES, map};
use serde_json::{Value, json};

/// Text as sources produce it: any printable Unicode, sometimes long, sometimes blank.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[A-Za-z ~:'&<>-]{1,60}",
        "\\PC{30,120}",
        Just(String::new()),
    ]
}

/// A name: mostly usable (a letter first), sometimes anything [`text`] gives.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[A-Za-z][\\PC]{0,50}", 1 => text()]
}

/// A JSON number of cents, as Autotask's doubles arrive (sometimes negative).
fn money() -> impl Strategy<Value = i64> {
    prop_oneof![-100_000i64..100_000, -10_000_000_000i64..10_000_000_000]
}

fn cents(c: i64) -> Value {
    json!(c as f64 / 100.0)
}

prop_compose! {
    fn billing_item()(
        name in name(),
        desc in proptest::option::of(text()),
        qty in proptest::option::of(0i64..10_000),
        price in money(),
        group in proptest::option::of(0i64..3),
        kind in 1i64..6,
        expense in any::<bool>(),
        date in proptest::option::of("20[0-9]{2}-0[1-9]-1[0-9]T[01][0-9]:[0-5][0-9]:00Z"),
    ) -> (Value, i64) {
        (json!({
            "itemName": name,
            "description": desc,
            "quantity": qty.map(|q| json!(q as f64 / 4.0)),
            "rate": cents(price),
            "extendedPrice": cents(price),
            "lineItemID": group,
            "billingItemType": kind,
            "expenseItemID": if expense { json!(77) } else { Value::Null },
            "itemDate": date,
        }), price)
    }
}

prop_compose! {
    fn invoice_record()(
        company in name(),
        parent in proptest::option::of(name()),
        number in proptest::option::of(text()),
        po in proptest::option::of(text()),
        comments in proptest::option::of(text()),
        exempt in any::<bool>(),
        with_total in any::<bool>(),
        items in proptest::collection::vec(billing_item(), 1..6),
        tz in prop_oneof![Just("UTC"), Just("+14:00"), Just("-12:00"), Just("+05:30")],
    ) -> Value {
        let total: i64 = items.iter().map(|(_, c)| c).sum();
        json!({
            "_qbridge": {"timezone": tz},
            "invoice": {
                "id": 5, "companyID": 9, "invoiceDateTime": "2025-03-01T00:00:00Z",
                "invoiceNumber": number, "orderNumber": po, "comments": comments,
                "invoiceTotal": if with_total { cents(total) } else { Value::Null },
                "totalTaxValue": if with_total { json!(0) } else { Value::Null },
            },
            "company": {
                "id": 9, "companyName": company, "isTaxExempt": exempt,
                "parentCompanyID": parent.as_ref().map(|_| 3), "parentCompanyName": parent,
                "address1": "1 Main St", "city": "Albany",
            },
            "billingItems": items.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn invoices_map_to_valid_qbxml_or_a_named_error(record in invoice_record()) {
        match map("invoice", &record) {
            Ok(requests) => {
                support::assert_valid(&requests, REQUEST_TYPES);
                let invoice = requests.last().unwrap();
                prop_assert_eq!(&invoice.key, "invoice:5");
                prop_assert!(invoice.depends_on.contains(&"customer:9".to_string()));
            }
            Err(e) => prop_assert!(e.field.is_some(), "{}", e),
        }
    }

    #[test]
    fn companies_map_to_valid_qbxml_or_a_named_error(
        name in text(), phone in proptest::option::of(text()), city in proptest::option::of(text()),
    ) {
        let record = json!({"id": 1, "companyName": name, "phone": phone, "city": city});
        match map("company", &record) {
            Ok(requests) => support::assert_valid(&requests, REQUEST_TYPES),
            Err(e) => prop_assert_eq!(e.field.as_deref(), Some("company.companyName")),
        }
    }

    #[test]
    fn a_missing_required_field_is_named(which in 0usize..5) {
        let (object, field, path) = [
            ("invoice", "id", "invoice.id"),
            ("invoice", "companyID", "invoice.companyID"),
            ("invoice", "invoiceDateTime", "invoice.invoiceDateTime"),
            ("company", "companyName", "company.companyName"),
            ("company", "id", "company.id"),
        ][which];
        let mut record = support::fixture("autotask-invoice-1-basic.json");
        record[object].as_object_mut().unwrap().remove(field);
        let err = map("invoice", &record).unwrap_err();
        prop_assert_eq!(err.field.as_deref(), Some(path));
    }
}
