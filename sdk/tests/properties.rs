//! Property tests of the SDK's money, names and builders, on the inputs sources really send:
//! numbers produced by `f64` arithmetic and written with their artefacts, any Unicode, markup
//! and control characters, 10,000-character strings. Fixed seed; `PROPTEST_CASES` for more.
//! Run with `cargo test --release -p qbridge-sdk --features schema`.
#![cfg(feature = "schema")]

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use qbridge_sdk::amount::Amount;
use qbridge_sdk::id::distinct_name;
use qbridge_sdk::qbxml::{
    BillAdd, BuildError, CustomerAdd, ExpenseLine, InvoiceAdd, InvoiceLine, Ref, VendorAdd,
};
use qbridge_sdk::reconcile::{Check, Part, reconcile};
use qbridge_sdk::schema::{QbxmlVersion, validate};
use qbridge_sdk::text::transliterate;

fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        rng_seed: RngSeed::Fixed(0x5EED_2025),
        failure_persistence: None,
        ..Config::default()
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,40}",
        1 => "[\u{4e00}-\u{9fff}\u{1F300}-\u{1F6FF}\u{05d0}-\u{05ea}]{1,20}",
        1 => "[<>&'\"\u{0}-\u{1f}\u{7f}-\u{9f}a ]{1,20}",
        1 => "[a-z ]{10000}",
    ]
}

const CENTS: Check = Check {
    parts: "lines",
    total: "total",
    decimals: 2,
};

/// `cents / 100` summed in `parts` float steps and written as a float serialiser would.
fn noisy(cents: i64, parts: i64) -> Amount {
    let share = cents / parts;
    let mut sum = 0.0f64;
    for i in 0..parts {
        let part = if i == 0 {
            cents - share * (parts - 1)
        } else {
            share
        };
        sum += part as f64 / 100.0;
    }
    Amount::from_json_text(&format!("{sum:?}")).unwrap()
}

fn valid(qbxml: &str) -> Result<(), TestCaseError> {
    for version in QbxmlVersion::ALL {
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><?qbxml version=\"{version}\"?><QBXML>\
             <QBXMLMsgsRq onError=\"stopOnError\">{qbxml}</QBXMLMsgsRq></QBXML>"
        );
        validate(version, &doc).map_err(|e| TestCaseError::fail(format!("{e}\n{qbxml}")))?;
    }
    Ok(())
}

/// A build either yields schema-valid qbXML or a typed error; nothing else.
fn built_or_refused(
    result: Result<qbridge_sdk::qbxml::Built, BuildError>,
) -> Result<(), TestCaseError> {
    match result {
        Ok(built) => valid(&built.qbxml),
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_float_text_parses_exactly_or_is_refused_never_panics(f in any::<f64>()) {
        for text in [format!("{f:?}"), format!("{f:e}"), format!("{f:.17e}")] {
            if let Ok(a) = Amount::from_json_text(&text) {
                // Exact: the decimal reads back as the same double.
                prop_assert_eq!(a.to_string().parse::<f64>().unwrap(), text.parse::<f64>().unwrap());
            }
        }
    }

    #[test]
    fn lines_and_total_that_agree_in_cents_reconcile_whatever_the_float_noise(
        lines in proptest::collection::vec((-10_000_000i64..10_000_000, 1i64..6), 1..40),
        total_parts in 1i64..6,
    ) {
        let parts: Vec<Part> = lines
            .iter()
            .enumerate()
            .map(|(i, (c, n))| Part::new(format!("lines[{i}]"), noisy(*c, *n)))
            .collect();
        let cents: i64 = lines.iter().map(|(c, _)| c).sum();
        let r = reconcile(&parts, noisy(cents, total_parts), CENTS).unwrap();
        let sum = r.amounts.iter().fold(Amount::ZERO, |s, a| s.checked_add(*a).unwrap());
        prop_assert_eq!(sum, Amount::from_cents(cents));
        prop_assert_eq!(r.total, Amount::from_cents(cents));
    }

    #[test]
    fn a_missing_line_is_refused_with_both_figures(
        lines in proptest::collection::vec(-10_000_000i64..10_000_000, 2..40),
        missing in 1i64..1_000_000,
    ) {
        let parts: Vec<Part> = lines
            .iter()
            .enumerate()
            .map(|(i, c)| Part::new(format!("lines[{i}]"), noisy(*c, 3)))
            .collect();
        let cents: i64 = lines.iter().sum::<i64>() + missing;
        let err = reconcile(&parts, noisy(cents, 2), CENTS).unwrap_err().to_string();
        let total = Amount::from_cents(cents).to_qb_amount().unwrap();
        prop_assert!(err.contains(&total), "{} not in {}", total, err);
    }

    #[test]
    fn distinct_names_fit_and_never_merge(a in text(), b in text(), max in 5usize..42) {
        let (x, _) = distinct_name(&a, max.max(8));
        let (y, _) = distinct_name(&b, max.max(8));
        prop_assert!(transliterate(&x).chars().count() <= max.max(8) || x == a.trim());
        if a.trim() != b.trim() && (x != a.trim() || y != b.trim()) {
            prop_assert_ne!(x, y);
        }
    }

    #[test]
    fn any_text_builds_valid_qbxml_or_a_typed_error(name in text(), memo in text(), desc in text(), cents in any::<i64>()) {
        let amount = Amount::from_cents(cents);
        built_or_refused(CustomerAdd::new(name.clone()).notes(memo.clone()).build())?;
        built_or_refused(VendorAdd::new(name.clone()).build())?;
        built_or_refused(
            InvoiceAdd::new(Ref::full_name(name.clone()))
                .memo(memo.clone())
                .line(InvoiceLine::new(Ref::full_name("Labor")).desc(desc.clone()).amount(amount))
                .build(),
        )?;
        built_or_refused(
            BillAdd::vendor_credit(Ref::full_name(name))
                .memo(memo)
                .expense_line(ExpenseLine::new(Ref::full_name("Returns"), amount).memo(desc))
                .build(),
        )?;
    }
}
