//! Property tests over generated Ramp records: any Unicode text, odd and negative amounts,
//! splits, missing optionals. Mapping never panics and never produces invalid qbXML, the
//! lines always sum to the header exactly, and every refusal names the field at fault.

#[path = "../../autotask/tests/support/mod.rs"]
mod support;

use proptest::prelude::*;
use qbridge_plugin_ramp::map::{REQUEST_TYPES, map};
use qbridge_plugin_ramp::response::on_response;
use serde_json::{Value, json};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z][\\PC]{0,50}",
        1 => "\\PC{0,12}",
        1 => "[A-Za-z :'&<>-]{1,60}",
        1 => "\\PC{30,120}",
    ]
}

/// An accounting field selection of `kind`: a ListID, or only a name.
fn selection(kind: &'static str) -> impl Strategy<Value = Value> {
    (text(), proptest::option::of("8[0-9A-F]{7}-[0-9]{10}")).prop_map(
        move |(name, id)| json!({"id": "x", "name": name, "type": kind, "external_id": id}),
    )
}

prop_compose! {
    fn line()(
        cents in prop_oneof![-1_000_000i64..1_000_000, -100_000_000_000i64..100_000_000_000],
        memo in proptest::option::of(text()),
        gl in selection("GL_ACCOUNT"),
        customer in proptest::option::of(selection("CUSTOMERS_JOBS")),
        class in proptest::option::of(selection("CLASS")),
    ) -> (Value, i64) {
        let selections: Vec<Value> = std::iter::once(gl).chain(customer).chain(class).collect();
        (json!({
            "amount": {"amount": cents, "currency_code": "USD", "minor_unit_conversion_rate": 100},
            "memo": memo,
            "accounting_field_selections": selections,
        }), cents)
    }
}

prop_compose! {
    fn transaction()(
        lines in proptest::collection::vec(line(), 0..5),
        header_cents in -1_000_000i64..1_000_000,
        merchant in proptest::option::of(text()),
        memo in proptest::option::of(text()),
        off_by in prop_oneof![8 => Just(0i64), 1 => -3i64..3],
        dated in any::<bool>(),
    ) -> (Value, bool) {
        let split = !lines.is_empty();
        let sum: i64 = if split { lines.iter().map(|(_, c)| c).sum() } else { header_cents };
        let amount = sum + if split { off_by } else { 0 };
        (json!({
            "_qbridge": {"timezone": "+09:00"},
            "id": "t-1",
            "amount": amount as f64 / 100.0,
            "currency_code": "USD",
            "state": "CLEARED",
            "accounting_date": if dated { json!("2025-05-03T00:00:00+00:00") } else { Value::Null },
            "user_transaction_time": "2025-05-02T23:48:13+00:00",
            "merchant_name": merchant,
            "memo": memo,
            "accounting_field_selections": [{"name": "Meals", "type": "GL_ACCOUNT"}],
            "line_items": lines.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
        }), split && off_by != 0 && amount != 0)
    }
}

prop_compose! {
    fn bill()(
        lines in proptest::collection::vec(line(), 1..4),
        vendor in text(),
        number in proptest::option::of(text()),
        memo in proptest::option::of(text()),
        payments in proptest::collection::vec(
            (0i64..10_000_000, prop_oneof![Just("ACH"), Just("CARD"), Just("CHECK"), Just("VENDOR_CREDIT")], proptest::option::of("[A-Z0-9]{10}")),
            0..4),
    ) -> Value {
        let sum: i64 = lines.iter().map(|(_, c)| c).sum();
        json!({
            "id": "b-1",
            "invoice_number": number,
            "amount": {"amount": sum, "currency_code": "USD", "minor_unit_conversion_rate": 100},
            "memo": memo,
            "issued_at": "2025-03-31T00:00:00+00:00",
            "vendor": {"name": vendor},
            "line_items": lines.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
            "payments": payments.into_iter().map(|(c, m, r)| json!({
                "amount": {"amount": c, "currency_code": "USD"},
                "payment_date": "2025-04-25T00:00:00+00:00",
                "payment_method": m,
                "customer_friendly_payment_id": r,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The element text between `<tag>` and `</tag>`, still escaped.
fn raw<'a>(xml: &'a str, tag: &str) -> &'a str {
    let start = xml
        .find(&format!("<{tag}>"))
        .map_or(0, |s| s + tag.len() + 2);
    let end = xml[start..]
        .find(&format!("</{tag}>"))
        .map_or(start, |e| start + e);
    &xml[start..end]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn transactions_map_to_valid_qbxml_or_a_named_error((record, unbalanced) in transaction()) {
        match map("transaction", &record) {
            Ok(requests) => {
                prop_assert!(!unbalanced, "an unbalanced split was accepted");
                support::assert_valid(&requests, REQUEST_TYPES);
            }
            // An unbalanced split is refused (as `transaction.amount`, unless a line's coding
            // is refused first).
            Err(e) => prop_assert!(e.field.is_some(), "{}", e),
        }
    }

    #[test]
    fn bills_and_their_payments_are_valid_qbxml_or_a_named_error(record in bill()) {
        match map("bill", &record) {
            Ok(requests) => {
                support::assert_valid(&requests, REQUEST_TYPES);
                let bill = requests.last().unwrap();
                let ret = format!(
                    "<BillRet><TxnID>12-34</TxnID><VendorRef><ListID>80-1</ListID></VendorRef><Memo>{}</Memo></BillRet>",
                    raw(&bill.qbxml, "Memo")
                );
                let payments = on_response(&bill.key, &ret).unwrap();
                support::assert_valid(&payments, REQUEST_TYPES);
                let expected = record["payments"].as_array().unwrap().iter()
                    .filter(|p| p["payment_method"] != "VENDOR_CREDIT").count();
                prop_assert_eq!(payments.len(), expected);
            }
            Err(e) => prop_assert!(e.field.is_some(), "{}", e),
        }
    }
}
