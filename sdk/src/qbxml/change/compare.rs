//! What differs between the request qbridge wrote and what QuickBooks holds now.
//!
//! Both sides are read as trees of leaves addressed by paths relative to the object:
//! `Memo`, `BillAddress/City`, `InvoiceLine[2]/Amount`. Aggregate names lose their
//! `Add`/`Mod`/`Ret` suffix so the Add's `InvoiceLineAdd`, the Mod's `InvoiceLineMod` and the
//! Ret's `InvoiceLineRet` are the same `InvoiceLine`; a Mod's `JournalLineMod` is the
//! `JournalDebitLine` or `JournalCreditLine` its `JournalLineType` says.

use std::fmt;

use rust_decimal::Decimal;

use super::mod_order::NUMERIC;
use super::ret::parse_ret;
use super::tree::{Node, parse};

/// One field whose value differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    /// The path, e.g. `Memo`, `InvoiceLine[2]/Amount`.
    pub field: String,
    /// What qbridge wrote (`None`: the request did not have the field).
    pub written: Option<String>,
    /// What QuickBooks has (`None`: its answer does not have the field).
    pub current: Option<String>,
}

impl fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(v) => format!("{v:?}"),
            None => "nothing".to_owned(),
        };
        write!(
            f,
            "{}: QuickBooks has {}, qbridge wrote {}",
            self.field,
            show(&self.current),
            show(&self.written)
        )
    }
}

/// Leaves that identify rather than describe: never compared.
const IDENTITY_LEAVES: [&str; 4] = ["ListID", "TxnID", "EditSequence", "TxnLineID"];

/// The name an element is compared under.
fn normal_name(node: &Node) -> String {
    if node.is_leaf() {
        return node.name.clone();
    }
    if node.name == "JournalLineMod" {
        let kind = node.child_text("JournalLineType").unwrap_or_default();
        return format!("Journal{kind}Line");
    }
    ["Add", "Mod", "Ret"]
        .iter()
        .find_map(|s| node.name.strip_suffix(s).filter(|b| !b.is_empty()))
        .unwrap_or(&node.name)
        .to_owned()
}

fn is_line(name: &str) -> bool {
    name.ends_with("Line") || name.ends_with("LineGroup")
}

/// Every leaf under `node` with its path, in document order.
fn leaves(node: &Node, prefix: &str, top: bool, out: &mut Vec<(String, String, String)>) {
    let names: Vec<String> = node.children.iter().map(normal_name).collect();
    for (i, child) in node.children.iter().enumerate() {
        let name = &names[i];
        let before = names[..i].iter().filter(|n| *n == name).count();
        let total = before + names[i + 1..].iter().filter(|n| *n == name).count() + 1;
        let segment = if (!child.is_leaf() && is_line(name)) || total > 1 {
            format!("{name}[{}]", before + 1)
        } else {
            name.clone()
        };
        let path = if prefix.is_empty() {
            segment
        } else {
            format!("{prefix}/{segment}")
        };
        if child.is_leaf() {
            let identity = child.name == "TxnLineID"
                || (top && IDENTITY_LEAVES.contains(&child.name.as_str()));
            if !identity {
                out.push((path, child.name.clone(), child.text.trim().to_owned()));
            }
        } else {
            leaves(child, &path, false, out);
        }
    }
}

/// The leaf at `path` (`A/B[2]/C`; no index means the first).
fn lookup<'a>(node: &'a Node, path: &str) -> Option<&'a Node> {
    lookup_node(node, path).filter(|n| n.is_leaf())
}

/// Whether the field is worth comparing when the caller named none: QuickBooks has it, or
/// QuickBooks lacks the whole line it belongs to (a line missing is a difference; a field a
/// Ret does not echo is not).
fn comparable(current: &Node, path: &str) -> bool {
    if lookup(current, path).is_some() {
        return true;
    }
    let top = path.split('/').next().unwrap_or(path);
    let name = top.split('[').next().unwrap_or(top);
    top != path && is_line(name) && lookup_node(current, top).is_none()
}

/// The element at `path`, leaf or not.
fn lookup_node<'a>(node: &'a Node, path: &str) -> Option<&'a Node> {
    let mut at = node;
    for segment in path.split('/') {
        let (name, index) = match segment.strip_suffix(']').and_then(|s| s.split_once('[')) {
            Some((name, n)) => (name, n.parse::<usize>().ok().filter(|&n| n > 0)?),
            None => (segment, 1),
        };
        at = at
            .children
            .iter()
            .filter(|c| normal_name(c) == name)
            .nth(index - 1)?;
    }
    Some(at)
}

/// Whether two values of the leaf `leaf` mean the same to QuickBooks.
fn same(leaf: &str, a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a == b {
        return true;
    }
    if NUMERIC.binary_search(&leaf).is_ok()
        && let (Ok(x), Ok(y)) = (a.parse::<Decimal>(), b.parse::<Decimal>())
    {
        return x == y;
    }
    let boolean = |v: &str| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false");
    if boolean(a) && boolean(b) {
        return a.eq_ignore_ascii_case(b);
    }
    // QuickBooks names are case-insensitive: "ACME" finds "Acme".
    matches!(leaf, "Name" | "FullName") && a.to_lowercase() == b.to_lowercase()
}

/// The object element of a request: the `*Add`/`*Mod` inside an `*Rq`, or the element itself.
fn object(mut root: Node) -> Node {
    if root.name.ends_with("Rq") && !root.children.is_empty() {
        return root.children.swap_remove(0);
    }
    root
}

/// The fields whose value differs between `written` (an Add or Mod request, or its inner
/// element) and `current_ret` (QuickBooks' `*Ret`), in the written request's order.
///
/// `fields` are leaf paths (`Memo`, `BillAddress/City`, `CustomerRef/FullName`,
/// `InvoiceLine[2]/Amount`, lines 1-based per kind); empty means every leaf the request
/// wrote that the Ret also has (ids and `EditSequence` are never compared, and QuickBooks
/// does not echo every field), and every field of a line the Ret lacks altogether. Values are compared trimmed, numbers as decimals (`100` =
/// `100.00`), `true`/`false` and names without regard to case. Unreadable input compares as
/// empty.
///
/// ```
/// use qbridge_sdk::qbxml::change::compare;
/// let written = "<CustomerAddRq><CustomerAdd><Name>Acme</Name><Notes>VIP</Notes>\
///     <CreditLimit>100</CreditLimit></CustomerAdd></CustomerAddRq>";
/// let ret = "<CustomerRet><ListID>1-1</ListID><Name>ACME</Name><Notes>Regular</Notes>\
///     <CreditLimit>100.00</CreditLimit></CustomerRet>";
/// let diffs = compare(written, ret, &[]);
/// assert_eq!(diffs.len(), 1);
/// assert_eq!(diffs[0].to_string(), r#"Notes: QuickBooks has "Regular", qbridge wrote "VIP""#);
/// ```
pub fn compare(written: &str, current_ret: &str, fields: &[&str]) -> Vec<FieldDiff> {
    let written = parse(written).map(object).unwrap_or_default();
    let current = parse_ret(current_ret).unwrap_or_default();
    let mut wrote = Vec::new();
    leaves(&written, "", true, &mut wrote);
    let mut paths: Vec<(String, String)> = if fields.is_empty() {
        wrote
            .iter()
            .filter(|(path, _, _)| comparable(&current, path))
            .map(|(path, leaf, _)| (path.clone(), leaf.clone()))
            .collect()
    } else {
        fields
            .iter()
            .map(|f| {
                let leaf = f.rsplit('/').next().unwrap_or(f);
                let leaf = leaf.split('[').next().unwrap_or(leaf);
                ((*f).to_owned(), leaf.to_owned())
            })
            .collect()
    };
    // The written request's order; fields it does not have come last, as asked.
    let position = |path: &str| {
        wrote
            .iter()
            .position(|(p, _, _)| p == path)
            .unwrap_or(usize::MAX)
    };
    paths.sort_by_key(|(p, _)| position(p));
    paths
        .into_iter()
        .filter_map(|(path, leaf)| {
            let w = lookup(&written, &path).map(|n| n.text.trim().to_owned());
            let c = lookup(&current, &path).map(|n| n.text.trim().to_owned());
            let equal = match (&w, &c) {
                (Some(a), Some(b)) => same(&leaf, a, b),
                (None, None) => true,
                _ => false,
            };
            (!equal).then_some(FieldDiff {
                field: path,
                written: w,
                current: c,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_line_mods_compare_as_debit_and_credit_lines() {
        let written = "<JournalEntryMod><TxnID>1</TxnID><JournalLineMod><TxnLineID>2</TxnLineID><JournalLineType>Credit</JournalLineType><Amount>5</Amount></JournalLineMod></JournalEntryMod>";
        let ret = "<JournalEntryRet><TxnID>1</TxnID><JournalCreditLine><TxnLineID>2</TxnLineID><Amount>6.00</Amount></JournalCreditLine></JournalEntryRet>";
        let diffs = compare(written, ret, &[]);
        assert_eq!(
            diffs,
            [FieldDiff {
                field: "JournalCreditLine[1]/Amount".into(),
                written: Some("5".into()),
                current: Some("6.00".into()),
            }]
        );
    }

    #[test]
    fn explicit_fields_report_missing_values_and_keep_the_written_order() {
        let written =
            "<VendorAdd><Name>V</Name><CompanyName>V Co</CompanyName><Phone>1</Phone></VendorAdd>";
        let ret = "<VendorRet><Name>V</Name><CompanyName>V Company</CompanyName></VendorRet>";
        let diffs = compare(written, ret, &["Phone", "Fax", "CompanyName"]);
        let fields: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["CompanyName", "Phone"]);
        assert_eq!(
            diffs[1].to_string(),
            r#"Phone: QuickBooks has nothing, qbridge wrote "1""#
        );
    }

    #[test]
    fn numbers_compare_as_decimals_only_where_the_schema_says_numeric() {
        assert!(same("Amount", "100", "100.00"));
        assert!(!same("RefNumber", "0012", "12"));
        assert!(same("IsActive", "TRUE", "true"));
        assert!(same("FullName", "acme corp", "Acme Corp"));
        assert!(!same("Memo", "acme", "Acme"));
    }
}
