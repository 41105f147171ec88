//! Reading ids out of QuickBooks' answers, and the line kinds of an Add, so the engine can
//! pair an Add's lines with the lines QuickBooks holds.

use super::ChangeError;
use super::convert::{add_element, line_kind};
use super::tree::{Node, parse};

/// The `*Ret` element: the root, or the first one inside (a whole `*Rs` may be passed).
fn ret_element(root: &Node) -> Option<&Node> {
    if root.name.ends_with("Ret") {
        return Some(root);
    }
    root.children.iter().find_map(ret_element)
}

/// Parse `xml` and find its `*Ret`.
pub(super) fn parse_ret(xml: &str) -> Option<Node> {
    let root = parse(xml).ok()?;
    if root.name.ends_with("Ret") {
        return Some(root);
    }
    ret_element(&root).cloned()
}

/// The `ListID` or `TxnID`, and `EditSequence`, of a `*Ret` (or of the first `*Ret` in a
/// response); `None` when it has neither id or no EditSequence, or is not XML.
///
/// ```
/// use qbridge_sdk::qbxml::change::ret_identity;
/// let ret = "<CustomerRet><ListID>80000001-1700000000</ListID><TimeCreated>2025-01-01T10:00:00</TimeCreated>\
///     <EditSequence>1700000002</EditSequence><Name>Acme</Name></CustomerRet>";
/// assert_eq!(
///     ret_identity(ret),
///     Some(("80000001-1700000000".to_owned(), "1700000002".to_owned()))
/// );
/// ```
pub fn ret_identity(ret_xml: &str) -> Option<(String, String)> {
    let ret = parse_ret(ret_xml)?;
    let id = ret
        .child_text("TxnID")
        .or_else(|| ret.child_text("ListID"))?;
    let sequence = ret.child_text("EditSequence")?;
    Some((id.to_owned(), sequence.to_owned()))
}

/// The kind of a line of a `*Ret` (`InvoiceLineRet` → `InvoiceLine`; journal lines keep
/// their name), `None` for other children.
pub(super) fn ret_line_kind(name: &str) -> Option<&str> {
    match name {
        "JournalDebitLine" | "JournalCreditLine" => Some(name),
        _ if name.ends_with("LineRet") || name.ends_with("LineGroupRet") => {
            name.strip_suffix("Ret")
        }
        _ => None,
    }
}

/// `(line kind, TxnLineID)` of every line of a `*Ret` in document order: the top-level
/// `*LineRet` and `*LineGroupRet` (and journal entries' debit and credit lines), e.g.
/// `("InvoiceLine", "1C-1700000000")`. Lines inside a group are the group's, not listed.
/// Empty when the text is not a `*Ret`.
pub fn ret_line_ids(ret_xml: &str) -> Vec<(String, String)> {
    let Some(ret) = parse_ret(ret_xml) else {
        return Vec::new();
    };
    ret.children
        .iter()
        .filter_map(|line| {
            let kind = ret_line_kind(&line.name)?;
            let id = line.child_text("TxnLineID")?;
            Some((kind.to_owned(), id.to_owned()))
        })
        .collect()
}

/// The kind of each line of an Add in document order (`InvoiceLine`, `InvoiceLineGroup`,
/// `ExpenseLine`, `ItemLine`, `JournalDebitLine` …): the lines [`super::Identity::line_ids`]
/// numbers. Lines no Mod can carry (`DiscountLineAdd`, `SalesTaxLineAdd` …) are not counted.
pub fn add_line_kinds(add_rq: &str) -> Result<Vec<String>, ChangeError> {
    let root = parse(add_rq)?;
    let add = add_element(&root)?;
    Ok(add
        .children
        .iter()
        .filter_map(|c| line_kind(&c.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_kinds_of_an_add_count_only_lines_a_mod_carries() {
        let add = "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>A</FullName></CustomerRef><InvoiceLineAdd><Amount>1.00</Amount></InvoiceLineAdd><InvoiceLineGroupAdd><ItemGroupRef><FullName>G</FullName></ItemGroupRef></InvoiceLineGroupAdd><InvoiceLineAdd><Amount>2.00</Amount></InvoiceLineAdd><DiscountLineAdd><Amount>1.00</Amount></DiscountLineAdd></InvoiceAdd></InvoiceAddRq>";
        assert_eq!(
            add_line_kinds(add).unwrap(),
            ["InvoiceLine", "InvoiceLineGroup", "InvoiceLine"]
        );
        assert!(add_line_kinds("<A>").is_err());
    }

    #[test]
    fn identity_is_read_from_a_whole_response_too() {
        let rs = r#"<InvoiceAddRs statusCode="0"><InvoiceRet><TxnID>1A-1</TxnID><EditSequence>17</EditSequence></InvoiceRet></InvoiceAddRs>"#;
        assert_eq!(ret_identity(rs), Some(("1A-1".into(), "17".into())));
        assert_eq!(
            ret_identity("<InvoiceRet><TxnID>1A-1</TxnID></InvoiceRet>"),
            None
        );
        assert_eq!(ret_identity("not xml"), None);
    }
}
