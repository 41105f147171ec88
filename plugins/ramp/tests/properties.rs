//! Property tests over generated Ramp records (generators in the Autotask tests'
//! `support/arb.rs`): any Unicode, markup and control characters and 10,000-character text;
//! header amounts written with float artefacts; cents zero and negative; every optional field
//! absent, `null` or set; dates at DST changes and year ends. Each record maps to qbXML valid
//! against 13.0 and 16.0 or is refused naming the field; a split that agrees with its header
//! up to float noise always maps, one that misses by a cent never does.

#[path = "../../autotask/tests/support/mod.rs"]
mod support;

use proptest::prelude::*;
use qbridge_plugin_ramp::map::{REQUEST_TYPES, map};
use qbridge_plugin_ramp::response::on_response;
use serde_json::{Value, json};
use support::arb::{cents, config, day, instant, money, noise, opt, put, text, timezone};

/// An accounting field selection of `kind`: a ListID, or only a name.
fn selection(kind: &'static str) -> impl Strategy<Value = Value> {
    (text(), proptest::option::of("8[0-9A-F]{7}-[0-9]{10}")).prop_map(
        move |(name, id)| json!({"id": "x", "name": name, "type": kind, "external_id": id}),
    )
}

prop_compose! {
    fn line()(
        cents in prop_oneof![-1_000_000i64..1_000_000, -100_000_000_000i64..100_000_000_000],
        memo in opt(text()),
        gl in selection("GL_ACCOUNT"),
        customer in proptest::option::of(selection("CUSTOMERS_JOBS")),
        class in proptest::option::of(selection("CLASS")),
    ) -> (Value, i64) {
        let selections: Vec<Value> = std::iter::once(gl).chain(customer).chain(class).collect();
        let mut line = json!({
            "amount": {"amount": cents, "currency_code": "USD", "minor_unit_conversion_rate": 100},
            "accounting_field_selections": selections,
        });
        put(&mut line, "memo", memo);
        (line, cents)
    }
}

prop_compose! {
    fn transaction()(
        lines in proptest::collection::vec(line(), 0..5),
        header_cents in cents(),
        header_noise in noise(),
        merchant in opt(text()),
        memo in opt(text()),
        off_by in prop_oneof![8 => Just(0i64), 1 => prop_oneof![-3i64..0, 1i64..4]],
        accounting_date in opt(day()),
        time in opt(instant()),
        tz in timezone(),
        receipts in opt(proptest::collection::vec("[a-f0-9-]{8,36}", 0..3)),
        state in opt(prop_oneof![Just("CLEARED"), Just("PENDING"), Just("DECLINED"), Just("COMPLETION")]),
    ) -> (Value, bool) {
        let split = !lines.is_empty();
        let sum: i64 = if split { lines.iter().map(|(_, c)| c).sum() } else { header_cents };
        let amount = sum + if split { off_by } else { 0 };
        let mut t = json!({
            "_qbridge": {"timezone": tz},
            "id": "t-1",
            "amount": money(amount, header_noise),
            "currency_code": "USD",
            "accounting_field_selections": [{"name": "Meals", "type": "GL_ACCOUNT"}],
            "line_items": lines.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
        });
        // Declined charges map to nothing; only a booked split can be caught unbalanced.
        let booked = !matches!(state, support::arb::Opt::Set("DECLINED" | "PENDING"));
        put(&mut t, "state", state);
        put(&mut t, "accounting_date", accounting_date);
        put(&mut t, "user_transaction_time", time);
        put(&mut t, "merchant_name", merchant);
        put(&mut t, "memo", memo);
        put(&mut t, "receipts", receipts);
        (t, booked && split && off_by != 0 && amount != 0)
    }
}

fn currency(cents: i64) -> Value {
    json!({"amount": cents, "currency_code": "USD", "minor_unit_conversion_rate": 100})
}

prop_compose! {
    fn transfer()(
        amount in cents(),
        status in opt(prop_oneof![Just("COMPLETED"), Just("ACH_CONFIRMED"), Just("CANCELED"), Just("INITIATED")]),
        created in opt(instant()),
        payment_id in opt(text()),
    ) -> Value {
        let mut t = json!({"id": "tr-1", "amount": currency(amount)});
        put(&mut t, "status", status);
        put(&mut t, "created_at", created);
        put(&mut t, "payment_id", payment_id);
        t
    }
}

prop_compose! {
    fn vendor_credit()(
        lines in proptest::collection::vec(line(), 0..4),
        vendor in text(),
        remote in opt("8[0-9A-F]{7}-[0-9]{10}"),
        number in opt(text()),
        memo in opt(text()),
        issued in opt(day()),
    ) -> Value {
        let sum: i64 = lines.iter().map(|(_, c)| c).sum();
        let mut vendor = json!({"name": vendor});
        put(&mut vendor, "remote_id", remote);
        let mut v = json!({
            "id": "vc-1",
            "amount": currency(sum),
            "vendor": vendor,
            "accounting_field_selections": [{"name": "Returns", "type": "GL_ACCOUNT"}],
            "line_items": lines.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
        });
        put(&mut v, "credit_number", number);
        put(&mut v, "memo", memo);
        put(&mut v, "issued_at", issued);
        v
    }
}

prop_compose! {
    fn reimbursement()(
        lines in proptest::collection::vec(line(), 0..4),
        amount_cents in cents(),
        amount_noise in noise(),
        user in text(),
        merchant in opt(text()),
        date in opt(day()),
        state in opt(prop_oneof![Just("APPROVED"), Just("REIMBURSED")]),
        kind in opt(prop_oneof![Just("OUT_OF_POCKET"), Just("MILEAGE"), Just("PAYBACK_FULL")]),
    ) -> Value {
        let sum: i64 = if lines.is_empty() { amount_cents } else { lines.iter().map(|(_, c)| c).sum() };
        let mut r = json!({
            "id": "r-1",
            "amount": money(sum, amount_noise),
            "currency": "USD",
            "user_full_name": user,
            "accounting_field_selections": [{"name": "Travel", "type": "GL_ACCOUNT"}],
            "line_items": lines.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
        });
        put(&mut r, "merchant", merchant);
        put(&mut r, "transaction_date", date);
        put(&mut r, "state", state);
        put(&mut r, "type", kind);
        r
    }
}

/// Valid qbXML, or a refusal naming a field.
fn valid_or_named(kind: &str, record: &Value) -> Result<(), TestCaseError> {
    match map(kind, record) {
        Ok(requests) => support::check_valid(&requests, REQUEST_TYPES).map_err(TestCaseError::fail),
        Err(e) => {
            prop_assert!(e.field.is_some(), "refusal without a field: {}", e);
            Ok(())
        }
    }
}

prop_compose! {
    fn bill()(
        lines in proptest::collection::vec(line(), 1..4),
        vendor in text(),
        number in proptest::option::of(text()),
        memo in proptest::option::of(text()),
        issued in opt(day()),
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
            "issued_at": match issued { support::arb::Opt::Set(d) => json!(d), _ => Value::Null },
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
    #![proptest_config(config())]

    #[test]
    fn transactions_map_to_valid_qbxml_or_a_named_error((record, unbalanced) in transaction()) {
        match map("transaction", &record) {
            Ok(requests) => {
                prop_assert!(!unbalanced, "an unbalanced split was accepted");
                support::check_valid(&requests, REQUEST_TYPES).map_err(TestCaseError::fail)?;
            }
            // An unbalanced split is refused (as `transaction.amount`, unless a line's coding
            // is refused first); a balanced one never for its sums, whatever the noise.
            Err(e) => {
                prop_assert!(e.field.is_some(), "{}", e);
                prop_assert!(unbalanced || !e.message.contains(" sum to "), "refused for float noise: {}", e);
            }
        }
    }

    #[test]
    fn transfers_and_cashbacks_map_to_valid_qbxml_or_a_named_error(record in transfer()) {
        valid_or_named("transfer", &record)?;
        valid_or_named("cashback", &record)?;
    }

    #[test]
    fn vendor_credits_map_to_valid_qbxml_or_a_named_error(record in vendor_credit()) {
        valid_or_named("vendor_credit", &record)?;
    }

    #[test]
    fn reimbursements_map_to_valid_qbxml_or_a_named_error(record in reimbursement()) {
        valid_or_named("reimbursement", &record)?;
    }

    #[test]
    fn bills_and_their_payments_are_valid_qbxml_or_a_named_error(record in bill()) {
        match map("bill", &record) {
            Ok(requests) => {
                support::check_valid(&requests, REQUEST_TYPES).map_err(TestCaseError::fail)?;
                let bill = requests.last().unwrap();
                let ret = format!(
                    "<BillRet><TxnID>12-34</TxnID><VendorRef><ListID>80-1</ListID></VendorRef><Memo>{}</Memo></BillRet>",
                    raw(&bill.qbxml, "Memo")
                );
                let payments = on_response(&bill.key, &ret).unwrap();
                support::check_valid(&payments, REQUEST_TYPES).map_err(TestCaseError::fail)?;
                let expected = record["payments"].as_array().unwrap().iter()
                    .filter(|p| p["payment_method"] != "VENDOR_CREDIT").count();
                prop_assert_eq!(payments.len(), expected);
            }
            Err(e) => prop_assert!(e.field.is_some(), "{}", e),
        }
    }
}
