//! Property tests of the example plugin with the generators the bundled plugins use (any
//! Unicode, markup, control characters, 10,000-character text, amounts with float artefacts,
//! absent and `null` fields): every customer and invoice maps to qbXML that is valid against
//! its manifest and Intuit's schema, or is refused naming the field.

#[path = "../../autotask/tests/support/mod.rs"]
mod support;

use proptest::prelude::*;
use qbridge_plugin_example::ExampleMapper;
use qbridge_sdk::testing;
use serde_json::{Value, json};
use support::arb::{cents, config, money, name, noise, opt, put, text};

fn customer() -> impl Strategy<Value = Value> {
    (
        opt(name()),
        opt(text()),
        opt(prop_oneof![
            Just(json!(5)),
            Just(json!("c5")),
            Just(json!(-1))
        ]),
    )
        .prop_map(|(n, email, id)| {
            let mut c = json!({});
            put(&mut c, "id", id);
            put(&mut c, "name", n);
            put(&mut c, "email", email);
            c
        })
}

fn invoice() -> impl Strategy<Value = Value> {
    (
        (
            name(),
            opt(text()),
            prop_oneof![3 => "[A-Z0-9-]{1,11}", 1 => text()],
        ),
        proptest::collection::vec((opt(name()), cents(), noise()), 0..6),
    )
        .prop_map(|((customer, _memo, number), lines)| {
            let lines: Vec<Value> = lines
                .into_iter()
                .map(|(item, c, n)| {
                    let mut l = json!({"amount": money(c, n)});
                    put(&mut l, "item", item);
                    l
                })
                .collect();
            json!({"id": 9, "customer_id": 5, "customer_name": customer, "number": number,
                   "lines": lines})
        })
}

fn valid_or_named(kind: &str, record: &Value) -> Result<(), TestCaseError> {
    match testing::map::<ExampleMapper>(kind, &record.to_string()) {
        Ok(requests) => testing::check::<ExampleMapper>(&requests).map_err(TestCaseError::fail),
        Err(e) => {
            prop_assert!(e.field.is_some(), "refusal without a field: {}", e);
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn customers_map_to_valid_qbxml_or_a_named_refusal(record in customer()) {
        valid_or_named("customer", &record)?;
    }

    #[test]
    fn invoices_map_to_valid_qbxml_or_a_named_refusal(record in invoice()) {
        valid_or_named("invoice", &record)?;
    }
}

#[test]
fn amounts_are_exact_decimals_from_the_json_text() {
    let requests = testing::map::<ExampleMapper>(
        "invoice",
        r#"{"id": 9, "customer_id": 5, "customer_name": "Acme", "number": "INV-9",
            "lines": [{"item": "Consulting", "amount": 1.005}, {"item": "Travel", "amount": 2199.99999999999914}]}"#,
    )
    .unwrap();
    testing::assert_valid::<ExampleMapper>(&requests);
    // 1.005 is 1.00499999999999989… as an f64, which would round down to 1.00.
    assert!(
        requests[0].qbxml.contains("<Amount>1.01</Amount>"),
        "{}",
        requests[0].qbxml
    );
    assert!(requests[0].qbxml.contains("<Amount>2200.00</Amount>"));
}
