//! Transaction lines: reading `…LineAdd` and `…LineMod` elements, and QuickBooks' rule for
//! the lines of a Mod.
//!
//! The rule ("Modify delete and void requests" in the SDK guide): a Mod that lists any line
//! of a line list (expense lines, item lines) replaces that list by exactly the lines it
//! lists — `TxnLineID` of an existing line: that line, the fields given replaced, the others
//! kept; `TxnLineID` `-1`: a new line; lines not listed are deleted. A Mod that lists none
//! of a list's lines leaves that list as it was (unless `ClearExpenseLines` /
//! `ClearItemLines` empties it).

use std::collections::HashSet;

use super::Company;
use super::handlers::{Reply, check_len, object_not_found};
use super::model::{LineKind, TxnKind, TxnLine, TxnRecord, parse_cents, times, txn_id};
use super::tree::Node;

/// The line lists, in the order a Ret lists them.
const LINE_KINDS: [LineKind; 2] = [LineKind::Expense, LineKind::Item];

/// The `TxnLineID` that asks a Mod for a new line.
const NEW_LINE: &str = "-1";

/// Longest line description and memo QuickBooks accepts.
const MAX_LINE_TEXT: usize = 4095;

/// What one line element gives; `None`: not given.
#[derive(Debug, Default)]
struct LineFields {
    target: Option<String>,
    desc: Option<String>,
    quantity: Option<String>,
    rate: Option<String>,
    amount: Option<i64>,
    memo: Option<String>,
    customer: Option<String>,
    class: Option<String>,
}

impl Company {
    /// The lines of an Add, without ids yet ([`Company::assign_line_ids`] gives them once
    /// every check has passed).
    pub(super) fn add_lines(&self, kind: TxnKind, add: &Node) -> Result<Vec<TxnLine>, Reply> {
        refuse_groups(kind, add, "Add")?;
        let mut lines = Vec::new();
        for line in LINE_KINDS {
            let Some(element) = kind.line_element(line) else {
                continue;
            };
            for n in add.children_named(&format!("{element}Add")) {
                lines.push(new_line(line, self.line_fields(kind, line, n)?)?);
            }
        }
        Ok(lines)
    }

    /// The lines `t` has after the Mod `m` (new lines without ids yet).
    pub(super) fn mod_lines(&self, t: &TxnRecord, m: &Node) -> Result<Vec<TxnLine>, Reply> {
        refuse_groups(t.kind, m, "Mod")?;
        let mut lines = Vec::new();
        for line in LINE_KINDS {
            let Some(element) = t.kind.line_element(line) else {
                continue;
            };
            let mod_element = format!("{element}Mod");
            let listed: Vec<&Node> = m.children_named(&mod_element).collect();
            let clear = match line {
                LineKind::Expense => "ClearExpenseLines",
                LineKind::Item => "ClearItemLines",
            };
            if listed.is_empty() && m.text_of(clear) != Some("true") {
                lines.extend(t.lines.iter().filter(|l| l.kind == line).cloned());
                continue;
            }
            let mut seen = HashSet::new();
            for n in listed {
                let id = n.text_of("TxnLineID").unwrap_or("");
                let fields = self.line_fields(t.kind, line, n)?;
                if id == NEW_LINE {
                    lines.push(new_line(line, fields)?);
                    continue;
                }
                let old = t
                    .lines
                    .iter()
                    .find(|l| l.kind == line && l.txn_line_id == id)
                    .ok_or_else(|| object_not_found(id))?;
                if !seen.insert(id) {
                    return Err(Reply::error(
                        3000,
                        format!(
                            "The line \"{id}\" is listed more than once in the {element}Mod elements."
                        ),
                    ));
                }
                lines.push(modified_line(old, fields)?);
            }
        }
        Ok(lines)
    }

    /// Gives every line without an id the next TxnLineID.
    pub(super) fn assign_line_ids(&mut self, lines: &mut [TxnLine], now: i64) {
        for l in lines.iter_mut().filter(|l| l.txn_line_id.is_empty()) {
            self.data.next_txn += 1;
            l.txn_line_id = txn_id(self.data.next_txn, now);
        }
    }

    fn line_fields(&self, kind: TxnKind, line: LineKind, n: &Node) -> Result<LineFields, Reply> {
        let target = match line {
            LineKind::Expense => "AccountRef",
            LineKind::Item => "ItemRef",
        };
        let text = |name: &str| -> Result<Option<String>, Reply> {
            match n.text_of(name) {
                Some(v) => {
                    check_len(v, name, MAX_LINE_TEXT)?;
                    Ok(Some(v.to_string()))
                }
                None => Ok(None),
            }
        };
        let rate = match line {
            LineKind::Expense => None,
            LineKind::Item => n.text_of(kind.rate_element()).map(str::to_string),
        };
        Ok(LineFields {
            target: n.child(target).and_then(|r| self.ref_id(r)),
            desc: text("Desc")?,
            quantity: n.text_of("Quantity").map(str::to_string),
            rate,
            amount: n.text_of("Amount").map(amount).transpose()?,
            memo: text("Memo")?,
            customer: n.child("CustomerRef").and_then(|r| self.ref_id(r)),
            class: n.child("ClassRef").and_then(|r| self.ref_id(r)),
        })
    }
}

/// Line groups expand an item group into its items, which the simulator does not model;
/// refusing them says so instead of dropping their amounts silently.
fn refuse_groups(kind: TxnKind, node: &Node, op: &str) -> Result<(), Reply> {
    let Some(group) = kind.line_group() else {
        return Ok(());
    };
    let element = format!("{group}{op}");
    if node.child(&element).is_some() {
        return Err(Reply::error(
            1000,
            format!("The simulated company file does not implement {element} (line groups)."),
        ));
    }
    Ok(())
}

fn new_line(kind: LineKind, f: LineFields) -> Result<TxnLine, Reply> {
    let amount = match f.amount {
        Some(a) => a,
        None => derived_amount(f.quantity.as_deref(), f.rate.as_deref())?.unwrap_or(0),
    };
    Ok(TxnLine {
        kind,
        txn_line_id: String::new(),
        target: f.target,
        desc: f.desc,
        quantity: f.quantity,
        rate: f.rate,
        amount,
        memo: f.memo,
        customer: f.customer,
        class: f.class,
    })
}

/// `old` with the fields given replaced. A new quantity or rate without an amount
/// recomputes the amount, as QuickBooks does when either is edited.
fn modified_line(old: &TxnLine, f: LineFields) -> Result<TxnLine, Reply> {
    let repriced = f.quantity.is_some() || f.rate.is_some();
    let mut l = old.clone();
    l.target = f.target.or(l.target);
    l.desc = merged(f.desc, l.desc);
    l.quantity = f.quantity.or(l.quantity);
    l.rate = f.rate.or(l.rate);
    l.memo = merged(f.memo, l.memo);
    l.customer = f.customer.or(l.customer);
    l.class = f.class.or(l.class);
    l.amount = match f.amount {
        Some(a) => a,
        None if repriced => {
            derived_amount(l.quantity.as_deref(), l.rate.as_deref())?.unwrap_or(l.amount)
        }
        None => l.amount,
    };
    Ok(l)
}

/// A text field after a Mod: the value given, none when sent empty (QuickBooks clears a
/// field sent empty), else the old value.
fn merged(given: Option<String>, old: Option<String>) -> Option<String> {
    match given {
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v),
        None => old,
    }
}

/// Quantity × rate, or the rate alone (a quantity of one); `None` without a rate.
fn derived_amount(quantity: Option<&str>, rate: Option<&str>) -> Result<Option<i64>, Reply> {
    match (quantity, rate) {
        (Some(q), Some(r)) => times(q, r).map(Some).ok_or_else(|| {
            Reply::error(
                3020,
                format!("There was an error when converting the quantity \"{q}\" or rate \"{r}\"."),
            )
        }),
        (None, Some(r)) => amount(r).map(Some),
        _ => Ok(None),
    }
}

/// A qbXML amount in cents, or 3020.
pub(super) fn amount(s: &str) -> Result<i64, Reply> {
    parse_cents(s).ok_or_else(|| {
        Reply::error(
            3020,
            format!(
                "There was an error when converting the amount \"{s}\" in the field \"Amount\"."
            ),
        )
    })
}
