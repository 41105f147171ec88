//! [`Amount`]: exact decimal numbers for qbXML money, prices and quantities.
//!
//! Money must never pass through binary floating point: `0.1 + 0.2` is not `0.3` in f64, and a
//! cent lost in a line makes an invoice total disagree with the source. `Amount` wraps
//! `rust_decimal::Decimal` (28 significant digits, exact base-10 arithmetic).
//!
//! qbXML has two numeric text types:
//! - AMTTYPE (`Amount`, `OpenBalance`, `PaymentAmount` …): at most 13 integer digits and exactly
//!   2 decimals (`1234.50`).
//! - PRICETYPE / QUANTYPE (`Rate`, `Cost`, `Price`, `Quantity`): at most 10 integer digits and
//!   at most 5 decimals.
//!
//! Values with more decimals are rounded **half away from zero** (`2.345` → `2.35`,
//! `-2.345` → `-2.35`), the way invoices are rounded by hand; builders report each rounding as a
//! note. Values with too many integer digits are an error, never silently changed.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

/// Longest text [`Amount::parse`] reads; anything longer is not a plausible amount.
const MAX_INPUT_LEN: usize = 64;

/// An exact decimal number.
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// let a: Amount = "2228.00".parse().unwrap();
/// let b = Amount::from_minor_units(-15050, 100).unwrap();
/// assert_eq!(a.checked_add(b).unwrap().to_qb_amount().unwrap(), "2077.50");
/// assert_eq!(Amount::from_json_text("1234.5700000000001").unwrap().to_qb_amount().unwrap(), "1234.57");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(Decimal);

/// Why a number cannot be an [`Amount`] or cannot be sent as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The text is not a plain decimal number.
    #[error(
        "{0:?} is not a decimal number: write digits with an optional sign and decimal point, e.g. -150.50"
    )]
    NotANumber(String),
    /// The number has more integer digits than the qbXML type allows.
    #[error(
        "{value} has more than {max_digits} digits before the decimal point, which QuickBooks cannot store"
    )]
    TooLarge {
        /// The value, as text.
        value: String,
        /// Integer digits the type allows (13 for amounts, 10 for prices and quantities).
        max_digits: u32,
    },
    /// A minor-unit factor that is not 1, 10, 100, … (e.g. Ramp's `minor_unit_conversion_rate`).
    #[error(
        "minor-unit factor {0} is not a power of ten (1, 10, 100, 1000): cannot convert minor units"
    )]
    MinorUnitFactor(u64),
    /// The number needs more than the 28 significant digits an exact decimal holds.
    #[error("{0} needs more than 28 significant digits: it cannot be held exactly")]
    Precision(String),
    /// Adding or subtracting overflowed the 28-digit range.
    #[error("the sum is out of range")]
    Overflow,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Parse a plain decimal: `2228.00`, `-150.5`, `+12.345`, `.5`. Surrounding whitespace is
    /// ignored; exponents, thousands separators and currency signs are refused.
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let bad = || AmountError::NotANumber(text.chars().take(MAX_INPUT_LEN).collect());
        let t = text.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        let plain = !digits.is_empty()
            && digits != "."
            && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            && digits.matches('.').count() <= 1;
        if !plain || t.len() > MAX_INPUT_LEN {
            return Err(bad());
        }
        Decimal::from_str_exact(t).map(Amount).map_err(|_| bad())
    }

    /// The exact decimal a JSON number's text stands for: `2199.99999999999914`, `-0.5`,
    /// `1.5e3`, `12E-2`. Unlike [`Amount::parse`] this takes JSON's exponent form, and it never
    /// goes through `f64`, so the float artefacts sources write (`2199.99999999999914`) are kept
    /// digit for digit until the one rounding to the currency's minor unit.
    pub fn from_json_text(text: &str) -> Result<Amount, AmountError> {
        let bad = || AmountError::NotANumber(text.chars().take(MAX_INPUT_LEN).collect());
        let t = text.trim();
        if t.len() > MAX_INPUT_LEN {
            return Err(bad());
        }
        let (mantissa, exponent) = match t.find(['e', 'E']) {
            Some(at) => {
                let exp = &t[at + 1..];
                let exp_digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if exp_digits.is_empty() || !exp_digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                // More than 28 places either way cannot be an exact 28-digit decimal.
                let exp: i32 = exp.parse().map_err(|_| AmountError::Precision(t.into()))?;
                (&t[..at], exp)
            }
            None => (t, 0),
        };
        let mut value = Amount::parse(mantissa).map_err(|_| bad())?.0;
        let ten = Decimal::TEN;
        for _ in 0..exponent.unsigned_abs().min(64) {
            value = if exponent > 0 {
                value.checked_mul(ten)
            } else {
                value.checked_div(ten).filter(|v| v * ten == value)
            }
            .ok_or_else(|| AmountError::Precision(t.into()))?;
        }
        if exponent.unsigned_abs() > 64 && !value.is_zero() {
            return Err(AmountError::Precision(t.into()));
        }
        Ok(Amount(value))
    }

    /// The exact decimal of a parsed JSON number, read from its text
    /// ([`Amount::from_json_text`]).
    ///
    /// Exact for every number only when serde_json keeps the source text, i.e. with its
    /// `arbitrary_precision` feature, which this crate's feature `exact-json` turns on (every
    /// plugin that reads money from JSON should enable it). Without it serde_json has already
    /// stored a non-integer as an `f64`, and its text is the shortest that round-trips to that
    /// `f64`: right for up to 15 significant digits, not for `2199.99999999999914`.
    pub fn from_json_number(number: &serde_json::Number) -> Result<Amount, AmountError> {
        Amount::from_json_text(&number.to_string())
    }

    /// An amount given in minor units (cents), with `per_major` minor units per major unit:
    /// 100 for USD/EUR, 1 for JPY, 1000 for KWD (Ramp's `minor_unit_conversion_rate`).
    pub fn from_minor_units(units: i64, per_major: u64) -> Result<Amount, AmountError> {
        let mut scale = 0;
        let mut factor = 1u64;
        while factor < per_major {
            factor = factor.saturating_mul(10);
            scale += 1;
        }
        if factor != per_major || scale > 18 {
            return Err(AmountError::MinorUnitFactor(per_major));
        }
        Ok(Amount(Decimal::new(units, scale)))
    }

    /// `units / 100`: cents of a two-decimal currency.
    pub fn from_cents(cents: i64) -> Amount {
        Amount(Decimal::new(cents, 2))
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// `self + other`, or an error past 28 digits.
    pub fn checked_add(self, other: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_add(other.0)
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// `self - other`, or an error past 28 digits.
    pub fn checked_sub(self, other: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_sub(other.0)
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// The absolute value.
    pub fn abs(self) -> Amount {
        Amount(self.0.abs())
    }

    /// `self × n`, or an error past 28 digits (a quantity of whole units, a count of lines).
    pub fn times_integer(self, n: i64) -> Result<Amount, AmountError> {
        self.0
            .checked_mul(Decimal::from(n))
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// `self × other`, exact, or an error past 28 digits (quantity × rate).
    pub fn checked_mul(self, other: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_mul(other.0)
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// The value in minor units with `decimals` places (cents: 2), rounded half away from
    /// zero: `12.345` → `1235`.
    pub fn to_minor_units(self, decimals: u32) -> Result<i64, AmountError> {
        use rust_decimal::prelude::ToPrimitive;
        let scale = Decimal::from(10u64.checked_pow(decimals).ok_or(AmountError::Overflow)?);
        self.0
            .checked_mul(scale)
            .map(|v| v.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
            .and_then(|v| v.to_i64())
            .ok_or(AmountError::Overflow)
    }

    /// The value rounded half away from zero to `decimals` places, and written with that
    /// many (`20.0` rounded to 2 places shows as `20.00`).
    pub fn rounded(self, decimals: u32) -> Amount {
        let mut value = self
            .0
            .round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero);
        value.rescale(decimals);
        Amount(value)
    }

    /// The AMTTYPE text QuickBooks takes: rounded to 2 decimals, always written with 2
    /// (`1234.50`), at most 13 integer digits.
    pub fn to_qb_amount(&self) -> Result<String, AmountError> {
        self.qb_text(2, 13, true)
    }

    /// The PRICETYPE/QUANTYPE text QuickBooks takes: rounded to at most 5 decimals, trailing
    /// zeros dropped (`25`, `0.12345`), at most 10 integer digits.
    pub fn to_qb_price(&self) -> Result<String, AmountError> {
        self.qb_text(5, 10, false)
    }

    fn qb_text(&self, decimals: u32, max_digits: u32, fixed: bool) -> Result<String, AmountError> {
        let mut value = self.rounded(decimals).0;
        if value.is_zero() {
            value = Decimal::ZERO; // never "-0.00"
        }
        let limit = Decimal::from(10u64.pow(max_digits));
        if value.abs() >= limit {
            return Err(AmountError::TooLarge {
                value: self.to_string(),
                max_digits,
            });
        }
        if fixed {
            value.rescale(decimals);
        } else {
            value = value.normalize();
        }
        Ok(value.to_string())
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse(s)
    }
}

impl fmt::Display for Amount {
    /// The exact value, as many decimals as it has.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::ops::Neg for Amount {
    type Output = Amount;
    fn neg(self) -> Amount {
        Amount(-self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amt(s: &str) -> String {
        Amount::parse(s).unwrap().to_qb_amount().unwrap()
    }

    #[test]
    fn amounts_are_written_with_two_decimals() {
        assert_eq!(amt("2228"), "2228.00");
        assert_eq!(amt("-150.5"), "-150.50");
        assert_eq!(amt("+.5"), "0.50");
        assert_eq!(amt(" 1234.50 "), "1234.50");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(amt("12.345"), "12.35");
        assert_eq!(amt("-12.345"), "-12.35");
        assert_eq!(amt("12.344999"), "12.34");
        assert_eq!(amt("-0.001"), "0.00");
    }

    #[test]
    fn prices_keep_up_to_five_decimals() {
        let p = |s: &str| Amount::parse(s).unwrap().to_qb_price().unwrap();
        assert_eq!(p("25.00"), "25");
        assert_eq!(p("0.123456"), "0.12346");
        assert_eq!(p("-3.5"), "-3.5");
    }

    #[test]
    fn too_many_integer_digits_is_an_error() {
        assert!(
            Amount::parse("9999999999999.99")
                .unwrap()
                .to_qb_amount()
                .is_ok()
        );
        assert!(matches!(
            Amount::parse("10000000000000").unwrap().to_qb_amount(),
            Err(AmountError::TooLarge { max_digits: 13, .. })
        ));
        assert!(Amount::parse("10000000000").unwrap().to_qb_price().is_err());
        // 9999999999999.995 rounds up past 13 digits: refused, not wrapped.
        assert!(
            Amount::parse("9999999999999.995")
                .unwrap()
                .to_qb_amount()
                .is_err()
        );
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            "", "-", ".", "1e3", "1,000.00", "$5", "1.2.3", "12a", "NaN", "--1",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn json_numbers_are_read_from_their_text_digit_for_digit() {
        let j = |t: &str| Amount::from_json_text(t).unwrap().to_string();
        assert_eq!(j("2199.99999999999914"), "2199.99999999999914");
        assert_eq!(j("0.30000000000000004"), "0.30000000000000004");
        assert_eq!(j("1.5e3"), "1500.0");
        assert_eq!(j("12E-2"), "0.12");
        assert_eq!(j("-2.5E+1"), "-25.0");
        assert_eq!(j("0e400"), "0");
        for bad in ["1e", "1e+", "e5", "1.2.3e4", "NaN", "Infinity", "1e5.5"] {
            assert!(Amount::from_json_text(bad).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            Amount::from_json_text("1e300"),
            Err(AmountError::Precision(_))
        ));
        assert!(matches!(
            Amount::from_json_text("1e-300"),
            Err(AmountError::Precision(_))
        ));
        let n: serde_json::Number = serde_json::from_str("1234.57").unwrap();
        assert_eq!(
            Amount::from_json_number(&n)
                .unwrap()
                .to_qb_amount()
                .unwrap(),
            "1234.57"
        );
    }

    #[test]
    fn minor_units_use_the_currency_factor() {
        assert_eq!(
            Amount::from_minor_units(113456, 100)
                .unwrap()
                .to_qb_amount()
                .unwrap(),
            "1134.56"
        );
        assert_eq!(Amount::from_minor_units(500, 1).unwrap().to_string(), "500");
        assert_eq!(
            Amount::from_minor_units(1234, 1000).unwrap().to_string(),
            "1.234"
        );
        assert_eq!(
            Amount::from_minor_units(1, 3),
            Err(AmountError::MinorUnitFactor(3))
        );
        assert_eq!(
            Amount::from_cents(-15050).to_qb_amount().unwrap(),
            "-150.50"
        );
    }

    #[test]
    fn products_and_minor_units_are_exact() {
        let q = Amount::parse("2.5").unwrap();
        let r = Amount::parse("10.01").unwrap();
        assert_eq!(q.checked_mul(r).unwrap().to_string(), "25.025");
        assert_eq!(q.checked_mul(r).unwrap().to_minor_units(2), Ok(2503));
        assert_eq!(
            Amount::parse("-12.345").unwrap().to_minor_units(2),
            Ok(-1235)
        );
        assert_eq!(Amount::parse("1e20").ok(), None);
        assert!(
            Amount::from_json_text("1e20")
                .unwrap()
                .to_minor_units(2)
                .is_err()
        );
    }

    #[test]
    fn sums_are_exact() {
        let tenth = Amount::parse("0.1").unwrap();
        let sum = tenth.checked_add(Amount::parse("0.2").unwrap()).unwrap();
        assert_eq!(sum, Amount::parse("0.3").unwrap());
    }
}
