//! Generators for property tests of the mappers: source data the way real APIs produce it.
//!
//! - text: accents, CJK, emoji, right-to-left scripts, markup, control characters, blanks,
//!   and 10,000-character strings;
//! - money: values produced by `f64` arithmetic (`0.1 + 0.2`), written with the artefacts a
//!   float serialiser leaves (`2199.99999999999914`), zero and negative;
//! - optional fields: absent, `null` or a value, each independently;
//! - dates: the days clocks change (US and EU), year ends and leap days, at awkward times.
//!
//! Runs use a fixed seed and a modest case count so CI is repeatable and quick; set
//! `PROPTEST_CASES` (e.g. 5000, nightly) for more and `QBRIDGE_PROPTEST_SEED` for another
//! seed.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{Map, Value};

/// Cases per property when `PROPTEST_CASES` is not set.
pub const DEFAULT_CASES: u32 = 48;

/// The proptest configuration every property uses: fixed seed, no failure files.
pub fn config() -> Config {
    fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
        std::env::var(name).ok().and_then(|v| v.parse().ok())
    }
    Config {
        cases: env("PROPTEST_CASES").unwrap_or(DEFAULT_CASES),
        rng_seed: RngSeed::Fixed(env("QBRIDGE_PROPTEST_SEED").unwrap_or(0x5EED_2025)),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Text as sources produce it.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[A-Za-z][A-Za-z0-9 .,'&-]{0,40}",
        2 => "\\PC{0,30}",
        1 => "[àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿŁőšœ€–—“”…]{1,30}",
        1 => "[\u{4e00}-\u{9fff}]{1,12}",
        1 => "[\u{1F300}-\u{1F6FF}a-z ]{1,12}",
        1 => "[\u{05d0}-\u{05ea}\u{0627}-\u{064a} ]{1,24}",
        1 => Just("<b>Fish & \"Chips\"</b> <![CDATA[x]]> &amp; 'q'".to_string()),
        1 => "[\u{0}-\u{1f}\u{7f}-\u{9f}\u{200b}\u{feff}a]{1,12}",
        1 => Just(String::new()),
        1 => Just("   ".to_string()),
        1 => "[a-z ]{10000}",
    ]
}

/// A name: usually usable, sometimes anything [`text`] gives, sometimes two long names that
/// agree on their first 41 characters.
pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[A-Za-z][A-Za-z0-9 .,'&-]{0,30}",
        2 => text(),
        1 => "[A-Z]{1}".prop_map(|c| format!("Northwind Traders International Holdings {c} Division")),
    ]
}

/// An optional field: absent, `null`, or a value.
#[derive(Debug, Clone)]
pub enum Opt<T> {
    Absent,
    Null,
    Set(T),
}

/// [`Opt`] of `inner`, each variant about equally likely.
pub fn opt<S: Strategy>(inner: S) -> impl Strategy<Value = Opt<S::Value>>
where
    S::Value: Clone + std::fmt::Debug,
{
    prop_oneof![
        1 => Just(Opt::Absent),
        1 => Just(Opt::Null),
        2 => inner.prop_map(Opt::Set),
    ]
}

/// Sets `key` on `object` as `field` says (absent: not at all).
pub fn put<T: Into<Value>>(object: &mut Value, key: &str, field: Opt<T>) {
    let map: &mut Map<String, Value> = object.as_object_mut().expect("an object");
    match field {
        Opt::Absent => {}
        Opt::Null => {
            map.insert(key.to_string(), Value::Null);
        }
        Opt::Set(v) => {
            map.insert(key.to_string(), v.into());
        }
    }
}

/// How a money value is written: exact, or carrying the artefacts of `f64` arithmetic.
#[derive(Debug, Clone, Copy)]
pub enum Noise {
    /// `cents / 100` exactly (`2200`, `12.5`).
    Exact,
    /// The sum of `parts` float terms, as a float serialiser writes it (`2199.9999999999995`).
    Summed(u8),
    /// 17 significant digits, the way some serialisers write every double.
    Digits17,
}

/// A [`Noise`].
pub fn noise() -> impl Strategy<Value = Noise> {
    prop_oneof![
        2 => Just(Noise::Exact),
        2 => (2u8..7).prop_map(Noise::Summed),
        1 => Just(Noise::Digits17),
    ]
}

/// `cents / 100` as a JSON number written with `noise`. The JSON text is what reaches the
/// mapper (the plugins read numbers from their text), so the artefacts do too.
pub fn money(cents: i64, noise: Noise) -> Value {
    let text = match noise {
        Noise::Exact => {
            let sign = if cents < 0 { "-" } else { "" };
            format!(
                "{sign}{}.{:02}",
                cents.unsigned_abs() / 100,
                cents.unsigned_abs() % 100
            )
        }
        Noise::Summed(parts) => {
            // Float addition of the parts, as a source computing a total would.
            let parts = i64::from(parts);
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
            format!("{sum:?}")
        }
        Noise::Digits17 => format!("{:.17e}", cents as f64 / 100.0),
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Amounts in cents: small, large, zero and negative.
pub fn cents() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => -100_000i64..1_000_000,
        1 => Just(0i64),
        1 => -100_000_000_000i64..100_000_000_000,
    ]
}

/// Timestamps where dates go wrong: DST changes (US 2025-03-09 / 11-02, EU 03-30 / 10-26),
/// year ends, leap days, with and without an offset or fraction.
pub fn instant() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2025-03-09T06:59:59Z".to_string()),
        Just("2025-03-09T07:00:00Z".to_string()),
        Just("2025-11-02T05:30:00Z".to_string()),
        Just("2025-03-30T00:59:59.999Z".to_string()),
        Just("2025-10-26T01:00:00+00:00".to_string()),
        Just("2024-12-31T23:59:59Z".to_string()),
        Just("2025-01-01T00:00:00-05:00".to_string()),
        Just("2024-02-29T23:30:00.113Z".to_string()),
        Just("2025-12-31T20:00:00-08:00".to_string()),
        "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T[01][0-9]:[0-5][0-9]:[0-5][0-9]Z",
    ]
}

/// A calendar date, sometimes with a time part, around the same awkward days.
pub fn day() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2024-02-29".to_string()),
        Just("2024-12-31".to_string()),
        Just("2025-01-01T00:00:00".to_string()),
        Just("2025-03-09".to_string()),
        Just("2025-11-02T00:00:00Z".to_string()),
        "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])",
    ]
}

/// The firm's UTC offset, from the far east to the far west.
pub fn timezone() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("UTC"),
        Just("+14:00"),
        Just("-12:00"),
        Just("+05:30"),
        Just("-05:00")
    ]
}
