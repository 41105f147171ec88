//! Consistency checks between a record's lines and its stated total, tolerant of the float
//! artefacts source APIs write.
//!
//! Sources serialise money as binary floats: Autotask writes `2199.99999999999914` for an
//! invoice whose lines come to 2200.00, and its `invoiceTotal − totalTaxValue` may come out as
//! `2199.999999999999004`. Comparing such sums exactly refuses good records, and comparing
//! with a loose threshold lets a missing line through. [`reconcile`] does what a bookkeeper
//! does: round every figure once, to the currency's minor unit (half away from zero), then
//! compare, allowing what rounding alone can explain — **half a minor unit for every figure
//! rounding changed** (each line and the total that had more decimals than the minor unit).
//! Figures already in whole minor units (Ramp's cents) therefore must agree exactly. Within that tolerance the lines are made to add up to
//! the rounded total exactly (the difference goes to the largest line) and the adjustment is
//! described in a note for the job; beyond it the record is refused with both figures and the
//! lines.

use std::fmt;

use crate::amount::{Amount, AmountError};

/// Lines listed in a refusal; a 500-line invoice names the first ones and counts the rest.
const LINES_SHOWN: usize = 12;

/// One figure that should add up to the total: where it is in the record and its exact value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Field path, e.g. `billingItems[2].extendedPrice`.
    pub path: String,
    /// The exact value the source wrote.
    pub amount: Amount,
}

impl Part {
    /// A part at `path`.
    pub fn new(path: impl Into<String>, amount: Amount) -> Part {
        Part {
            path: path.into(),
            amount,
        }
    }
}

/// What is being compared, in the record's words, for notes and refusals.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The parts, e.g. `extendedPrice values`.
    pub parts: &'a str,
    /// The total, e.g. `invoiceTotal − totalTaxValue`.
    pub total: &'a str,
    /// Decimals of the currency's minor unit: 2 for cents, 0 for yen, 3 for fils.
    pub decimals: u32,
}

/// The outcome of a successful check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Every part rounded to the minor unit, in the given order; they sum exactly to
    /// [`Reconciled::total`].
    pub amounts: Vec<Amount>,
    /// The total rounded to the minor unit.
    pub total: Amount,
    /// What was adjusted, for the job's notes; `None` when the figures agreed exactly.
    pub note: Option<String>,
}

/// Lines that miss their total by more than rounding can explain: both figures, the
/// difference, the tolerance and the lines, so the source record can be fixed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{parts} sum to {parts_sum}, but {total} is {total_value}: they differ by {difference}, {}; lines: {lines}",
    explain(.tolerance)
)]
pub struct Mismatch {
    /// The parts, as named in [`Check::parts`].
    pub parts: String,
    /// The total, as named in [`Check::total`].
    pub total: String,
    /// Sum of the rounded parts.
    pub parts_sum: Amount,
    /// The rounded total.
    pub total_value: Amount,
    /// `total_value − parts_sum`.
    pub difference: Amount,
    /// The tolerance applied.
    pub tolerance: Amount,
    /// `path amount` of each part (the first few of a long list).
    pub lines: LineList,
}

/// Why [`reconcile`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The figures disagree beyond rounding (boxed: it carries the lines).
    #[error(transparent)]
    Mismatch(Box<Mismatch>),
    /// A sum left the range of exact decimals.
    #[error("the {0} cannot be added up: {1}")]
    Overflow(String, AmountError),
}

/// Why the difference counts, for the refusal message.
fn explain(tolerance: &Amount) -> String {
    if tolerance.is_zero() {
        "and no figure needed rounding, so they must agree exactly".to_string()
    } else {
        format!(
            "more than the {tolerance} rounding can explain (half a minor unit per figure rounding changed)"
        )
    }
}

/// The parts of a refused record, as listed in its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineList(pub Vec<(String, Amount)>, pub usize);

impl fmt::Display for LineList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let shown: Vec<String> = self.0.iter().map(|(p, a)| format!("{p} {a}")).collect();
        f.write_str(&shown.join(", "))?;
        if self.1 > 0 {
            write!(f, " and {} more", self.1)?;
        }
        Ok(())
    }
}

/// Checks that `parts` add up to `total` after rounding to the minor unit (see the module
/// docs for the rule), and returns the rounded parts adjusted to the rounded total.
pub fn reconcile(
    parts: &[Part],
    total: Amount,
    check: Check,
) -> Result<Reconciled, ReconcileError> {
    let overflow = |e| ReconcileError::Overflow(check.parts.to_string(), e);
    let mut amounts: Vec<Amount> = parts
        .iter()
        .map(|p| p.amount.rounded(check.decimals))
        .collect();
    let rounded_total = total.rounded(check.decimals);
    let mut raw_sum = Amount::ZERO;
    let mut sum = Amount::ZERO;
    for (part, rounded) in parts.iter().zip(&amounts) {
        raw_sum = raw_sum.checked_add(part.amount).map_err(overflow)?;
        sum = sum.checked_add(*rounded).map_err(overflow)?;
    }
    let difference = rounded_total.checked_sub(sum).map_err(overflow)?;
    let half_unit = Amount::from_minor_units(5, 10u64.pow(check.decimals + 1))
        .map_err(|e| ReconcileError::Overflow(check.parts.to_string(), e))?;
    let rounded_figures = parts
        .iter()
        .zip(&amounts)
        .filter(|(p, r)| p.amount != **r)
        .count()
        + usize::from(rounded_total != total);
    let figures = i64::try_from(rounded_figures).unwrap_or(i64::MAX);
    let tolerance = half_unit.times_integer(figures).map_err(overflow)?;
    if difference.abs() > tolerance || (parts.is_empty() && !difference.is_zero()) {
        let shown = parts
            .iter()
            .take(LINES_SHOWN)
            .map(|p| (p.path.clone(), p.amount))
            .collect();
        return Err(ReconcileError::Mismatch(Box::new(Mismatch {
            parts: check.parts.to_string(),
            total: check.total.to_string(),
            parts_sum: sum,
            total_value: rounded_total,
            difference,
            tolerance,
            lines: LineList(shown, parts.len().saturating_sub(LINES_SHOWN)),
        })));
    }
    let note = if !difference.is_zero() {
        // The largest line absorbs the difference: proportionally the smallest change.
        let at = (0..amounts.len())
            .max_by_key(|&i| (amounts[i].abs(), std::cmp::Reverse(i)))
            .unwrap_or(0);
        let before = amounts[at];
        amounts[at] = before.checked_add(difference).map_err(overflow)?;
        Some(format!(
            "rounding: {} sum to {raw_sum} ({sum} rounded line by line), {} is {total} ({rounded_total} rounded); {} changed from {before} to {} so the lines add up to {rounded_total}",
            check.parts, check.total, parts[at].path, amounts[at]
        ))
    } else if raw_sum != total {
        Some(format!(
            "rounding: {} sum to {raw_sum} and {} is {total}; both are {rounded_total} rounded to {} decimals (float artefacts in the source)",
            check.parts, check.total, check.decimals
        ))
    } else {
        None
    };
    Ok(Reconciled {
        amounts,
        total: rounded_total,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        Amount::from_json_text(s).unwrap()
    }

    const CENTS: Check = Check {
        parts: "extendedPrice values",
        total: "invoiceTotal − totalTaxValue",
        decimals: 2,
    };

    fn parts(values: &[&str]) -> Vec<Part> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Part::new(format!("billingItems[{i}].extendedPrice"), a(v)))
            .collect()
    }

    #[test]
    fn float_noise_in_the_sums_maps_with_a_note() {
        let p = parts(&[
            "224.99999999999997",
            "1625.0000000000002",
            "349.99999999999914",
        ]);
        let r = reconcile(&p, a("2199.999999999999004"), CENTS).unwrap();
        assert_eq!(r.amounts, [a("225.00"), a("1625.00"), a("350.00")]);
        assert_eq!(r.total, a("2200.00"));
        let note = r.note.unwrap();
        assert!(
            note.contains("2199.999999999999004") && note.contains("2200.00"),
            "{note}"
        );
    }

    #[test]
    fn exact_figures_need_no_note() {
        let r = reconcile(&parts(&["1.10", "2.20"]), a("3.3"), CENTS).unwrap();
        assert_eq!(r.note, None);
    }

    #[test]
    fn a_rounding_cent_goes_to_the_largest_line_and_is_noted() {
        // Thirds of 100.00 written as 33.335, 33.335 and 33.33: rounded line by line, 100.01.
        let p = parts(&["33.335", "33.335", "33.33"]);
        let r = reconcile(&p, a("100.00"), CENTS).unwrap();
        assert_eq!(r.amounts, [a("33.33"), a("33.34"), a("33.33")]);
        let sum = r
            .amounts
            .iter()
            .fold(Amount::ZERO, |s, x| s.checked_add(*x).unwrap());
        assert_eq!(sum, r.total);
        assert!(
            r.note
                .unwrap()
                .contains("billingItems[0].extendedPrice changed from 33.34 to 33.33")
        );
    }

    #[test]
    fn a_missing_line_is_refused_with_both_figures_and_the_lines() {
        let err = reconcile(&parts(&["225.001", "1625.001"]), a("2200.00"), CENTS).unwrap_err();
        let text = err.to_string();
        for needle in [
            "sum to 1850.00",
            "is 2200.00",
            "differ by 350.00",
            "than the 0.010 rounding",
            "billingItems[1].extendedPrice 1625.001",
        ] {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }
    }

    #[test]
    fn a_long_invoice_lists_the_first_lines_and_counts_the_rest() {
        let many: Vec<String> = (0..500).map(|_| "1.0000000000001".to_string()).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let err = reconcile(&parts(&refs), a("600"), CENTS).unwrap_err();
        assert!(err.to_string().ends_with("and 488 more"), "{err}");
        // 500 rounded lines and a rounded total tolerate at most 2.505: 501 half cents.
        assert!(reconcile(&parts(&refs), a("502.5000001"), CENTS).is_ok());
        assert!(reconcile(&parts(&refs), a("502.5100001"), CENTS).is_err());
    }

    #[test]
    fn figures_already_in_minor_units_must_agree_exactly() {
        // Ramp's cents: nothing was rounded, so a one-cent difference is a real one.
        let err = reconcile(&parts(&["10.00", "20.00"]), a("30.01"), CENTS).unwrap_err();
        assert!(
            err.to_string().contains("differ by 0.01, and no figure"),
            "{err}"
        );
    }

    #[test]
    fn no_lines_must_mean_a_zero_total() {
        assert!(reconcile(&[], Amount::ZERO, CENTS).is_ok());
        assert!(reconcile(&[], a("0.01"), CENTS).is_err());
    }

    #[test]
    fn whole_unit_currencies_round_to_whole_units() {
        let yen = Check {
            decimals: 0,
            ..CENTS
        };
        let r = reconcile(&parts(&["1000.4", "2000.4"]), a("3001.2"), yen).unwrap();
        assert_eq!(r.amounts, [a("1000"), a("2001")]);
    }
}
