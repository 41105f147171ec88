//! Add → Mod, following the generated schema table.
//!
//! For each child of the Add, in this order of preference: a `XxxAdd` whose `XxxMod` the Mod
//! takes is converted (lines, `AppliedToTxnAdd`); a `Xxx` whose `XxxMod` the Mod takes is
//! converted (`SalesOrPurchase` → `SalesOrPurchaseMod`); a child the Mod takes under the same
//! name is copied as it is (refs, addresses, plain values); anything else is dropped and
//! reported. Children are then put in the Mod's order, and the Mod's required children are
//! checked.

use super::mod_order::{Children, MODS};
use super::tree::{Node, parse};
use super::{ChangeError, Changed, EDIT_SEQUENCE_MAX, ID_MAX, Identity, check_id, object_name};

/// The new-line marker of `TxnLineID`.
const NEW_LINE: &str = "-1";

pub(super) fn def(name: &str) -> Option<Children> {
    MODS.binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| MODS[i].1)
}

fn slot(def: Children, child: &str) -> Option<u16> {
    def.iter().find(|(n, _, _)| *n == child).map(|(_, s, _)| *s)
}

/// The Mod aggregate a line's Add form becomes, when it is a line (its Mod carries a
/// `TxnLineID`): `InvoiceLineAdd` → `InvoiceLineMod`. Journal lines are the exception the
/// names do not follow: `JournalDebitLine` and `JournalCreditLine` both become
/// `JournalLineMod`, told apart by `JournalLineType`.
fn line_mod(add_child: &str) -> Option<String> {
    let target = match add_child {
        "JournalDebitLine" | "JournalCreditLine" => "JournalLineMod".to_owned(),
        _ => {
            let base = add_child
                .strip_suffix("LineAdd")
                .map(|b| format!("{b}Line"))
                .or_else(|| {
                    add_child
                        .strip_suffix("LineGroupAdd")
                        .map(|b| format!("{b}LineGroup"))
                })?;
            format!("{base}Mod")
        }
    };
    def(&target)
        .is_some_and(|d| slot(d, "TxnLineID").is_some())
        .then_some(target)
}

/// The kind of a line of an Add (`InvoiceLineAdd` → `InvoiceLine`), `None` for other
/// children (and for lines no Mod can carry, such as `DiscountLineAdd`).
pub(super) fn line_kind(add_child: &str) -> Option<String> {
    line_mod(add_child)?;
    Some(
        add_child
            .strip_suffix("Add")
            .unwrap_or(add_child)
            .to_owned(),
    )
}

/// What a child of an Add becomes in the Mod `def`.
enum Target {
    Convert(String, Children, u16),
    Copy(u16),
    Drop,
}

fn target(parent: Children, child: &str) -> Target {
    let candidates = [
        line_mod(child),
        child.strip_suffix("Add").map(|b| format!("{b}Mod")),
        Some(format!("{child}Mod")),
    ];
    for name in candidates.into_iter().flatten() {
        if let (Some(s), Some(def)) = (slot(parent, &name), def(&name)) {
            return Target::Convert(name, def, s);
        }
    }
    match slot(parent, child) {
        Some(s) => Target::Copy(s),
        None => Target::Drop,
    }
}

/// The Add element of a request: `<XAddRq><XAdd>` or a bare `<XAdd>`.
pub(super) fn add_element(root: &Node) -> Result<&Node, ChangeError> {
    let add = match root.name.strip_suffix("Rq") {
        Some(inner) => root.child(inner).ok_or_else(|| ChangeError::NotAnAdd {
            root: root.name.clone(),
        })?,
        None => root,
    };
    if !add.name.ends_with("Add") {
        return Err(ChangeError::NotAnAdd {
            root: add.name.clone(),
        });
    }
    Ok(add)
}

struct Conversion<'a> {
    line_ids: &'a [Option<String>],
    next_line: usize,
    dropped: Vec<String>,
}

impl Conversion<'_> {
    /// `add` converted into the Mod aggregate `mod_name` (children `def`), after `head`;
    /// `path` names it in `dropped`.
    fn convert(
        &mut self,
        add: &Node,
        (mod_name, def): (&str, Children),
        path: &str,
        head: Vec<Node>,
    ) -> Result<Node, ChangeError> {
        let mut placed: Vec<(u16, Node)> = Vec::new();
        for child in &add.children {
            if head.iter().any(|h| h.name == child.name) {
                continue;
            }
            match target(def, &child.name) {
                Target::Copy(s) => placed.push((s, child.clone())),
                Target::Convert(name, def, s) => {
                    let converted = self.convert_child(child, (&name, def), path)?;
                    placed.push((s, converted));
                }
                Target::Drop => {
                    let what = if path.is_empty() {
                        child.name.clone()
                    } else {
                        format!("{path}/{}", child.name)
                    };
                    if !self.dropped.contains(&what) {
                        self.dropped.push(what);
                    }
                }
            }
        }
        placed.sort_by_key(|(s, _)| *s);
        let mut children = head;
        children.extend(placed.into_iter().map(|(_, n)| n));
        for (name, _, required) in def {
            if *required && !children.iter().any(|c| c.name == *name) {
                return Err(ChangeError::MissingRequired {
                    element: mod_name.to_owned(),
                    child: (*name).to_owned(),
                });
            }
        }
        Ok(Node {
            name: mod_name.to_owned(),
            children,
            ..Node::default()
        })
    }

    /// A nested aggregate: lines get their `TxnLineID` first (and journal lines their
    /// `JournalLineType`); only the transaction's own lines consume `line_ids`.
    fn convert_child(
        &mut self,
        child: &Node,
        (mod_name, def): (&str, Children),
        path: &str,
    ) -> Result<Node, ChangeError> {
        let mut head = Vec::new();
        if slot(def, "TxnLineID").is_some() {
            let id = if path.is_empty() {
                let id = self.line_ids.get(self.next_line).cloned().flatten();
                self.next_line += 1;
                id
            } else {
                None
            };
            let id = id.unwrap_or_else(|| NEW_LINE.to_owned());
            if id != NEW_LINE {
                check_id("TxnLineID", &id, ID_MAX)?;
            }
            head.push(Node::leaf("TxnLineID", &id));
        }
        if let Some(kind) = child
            .name
            .strip_prefix("Journal")
            .and_then(|k| k.strip_suffix("Line"))
            .filter(|_| mod_name == "JournalLineMod")
        {
            head.push(Node::leaf("JournalLineType", kind));
        }
        let name = child.name.strip_suffix("Add").unwrap_or(&child.name);
        let inner_path = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}/{name}")
        };
        self.convert(child, (mod_name, def), &inner_path, head)
    }
}

/// The Mod of an Add, its children and its identity elements, e.g. `("InvoiceMod", …,
/// [TxnID, EditSequence])`.
fn top_level(
    add: &Node,
    identity: &Identity,
) -> Result<(String, Children, Vec<Node>), ChangeError> {
    let object = object_name(&add.name);
    let mod_name = format!("{object}Mod");
    let no_mod = || ChangeError::NoMod {
        add: add.name.clone(),
    };
    let def = def(&mod_name).ok_or_else(no_mod)?;
    // An object Mod starts with the object's id and EditSequence; other `*Mod`s (DataExtMod,
    // PreferencesMod …) change no object the engine tracks.
    let id_field = match (def.first(), def.get(1)) {
        (Some(("ListID", ..)), Some(("EditSequence", ..))) => "ListID",
        (Some(("TxnID", ..)), Some(("EditSequence", ..))) => "TxnID",
        _ => return Err(no_mod()),
    };
    check_id(id_field, &identity.id, ID_MAX)?;
    check_id("EditSequence", &identity.edit_sequence, EDIT_SEQUENCE_MAX)?;
    let head = vec![
        Node::leaf(id_field, &identity.id),
        Node::leaf("EditSequence", &identity.edit_sequence),
    ];
    Ok((mod_name, def, head))
}

fn finish(node: &Node, dropped: Vec<String>) -> Changed {
    let mut qbxml = format!("<{}Rq>", node.name);
    node.write(&mut qbxml);
    qbxml.push_str(&format!("</{}Rq>", node.name));
    Changed {
        request_type: node.name.clone(),
        qbxml,
        dropped,
    }
}

/// The Mod that makes the object `identity` names equal to `add_rq` (an `*AddRq` or bare
/// `*Add`): its id and `EditSequence` first, every child the Mod can change in the Mod's
/// order, every line (`TxnLineID` from `identity.line_ids`, `-1` for new ones: lines left out
/// are deleted by QuickBooks), and what the Mod cannot change listed in
/// [`Changed::dropped`].
///
/// ```
/// use qbridge_sdk::qbxml::change::{Identity, to_mod};
/// let add = "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Acme</FullName></CustomerRef>\
///     <Memo>March</Memo><ExternalGUID>{8A4E3C2B-1D0F-5A6B-9C8D-7E6F5A4B3C2D}</ExternalGUID>\
///     <InvoiceLineAdd><Desc>Work</Desc><Amount>10.00</Amount></InvoiceLineAdd>\
///     </InvoiceAdd></InvoiceAddRq>";
/// let identity = Identity {
///     id: "1A-1700000000".into(),
///     edit_sequence: "1700000001".into(),
///     line_ids: vec![Some("1C-1700000000".into())],
/// };
/// let changed = to_mod(add, &identity).unwrap();
/// assert_eq!(changed.request_type, "InvoiceMod");
/// assert_eq!(
///     changed.qbxml,
///     "<InvoiceModRq><InvoiceMod><TxnID>1A-1700000000</TxnID><EditSequence>1700000001</EditSequence>\
///      <CustomerRef><FullName>Acme</FullName></CustomerRef><Memo>March</Memo><InvoiceLineMod>\
///      <TxnLineID>1C-1700000000</TxnLineID><Desc>Work</Desc><Amount>10.00</Amount>\
///      </InvoiceLineMod></InvoiceMod></InvoiceModRq>"
/// );
/// assert_eq!(changed.dropped, ["ExternalGUID"]);
/// ```
pub fn to_mod(add_rq: &str, identity: &Identity) -> Result<Changed, ChangeError> {
    let root = parse(add_rq)?;
    let add = add_element(&root)?;
    let (mod_name, def, head) = top_level(add, identity)?;
    let mut conversion = Conversion {
        line_ids: &identity.line_ids,
        next_line: 0,
        dropped: Vec::new(),
    };
    let node = conversion.convert(add, (&mod_name, def), "", head)?;
    Ok(finish(&node, conversion.dropped))
}

/// The Mod that makes the list object `identity` names inactive (`IsActive` false), with the
/// children the Mod requires taken from `add_rq`. Types whose Mod has no `IsActive`
/// (transactions, some lists) are refused.
pub fn deactivate(add_rq: &str, identity: &Identity) -> Result<Changed, ChangeError> {
    let root = parse(add_rq)?;
    let add = add_element(&root)?;
    let (mod_name, def, head) = top_level(add, identity)?;
    let Some(active_slot) = slot(def, "IsActive") else {
        return Err(ChangeError::NoIsActive { element: mod_name });
    };
    let mut conversion = Conversion {
        line_ids: &[],
        next_line: 0,
        dropped: Vec::new(),
    };
    let full = conversion.convert(add, (&mod_name, def), "", head)?;
    let required = |name: &str| def.iter().any(|(n, _, r)| *r && *n == name);
    let mut placed: Vec<(u16, Node)> = full
        .children
        .into_iter()
        .filter(|c| required(&c.name))
        .map(|c| (slot(def, &c.name).unwrap_or(0), c))
        .collect();
    placed.push((active_slot, Node::leaf("IsActive", "false")));
    placed.sort_by_key(|(s, _)| *s);
    let node = Node {
        name: mod_name,
        children: placed.into_iter().map(|(_, n)| n).collect(),
        ..Node::default()
    };
    Ok(finish(&node, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(lines: &[Option<&str>]) -> Identity {
        Identity {
            id: "80000001-1700000000".into(),
            edit_sequence: "1700000005".into(),
            line_ids: lines.iter().map(|l| l.map(str::to_owned)).collect(),
        }
    }

    #[test]
    fn nested_aggregates_with_a_mod_form_are_converted() {
        let add = "<ItemServiceAdd><Name>Labor</Name><SalesOrPurchase><Desc>Work</Desc><AccountRef><FullName>Income</FullName></AccountRef></SalesOrPurchase><ExternalGUID>{8A4E3C2B-1D0F-5A6B-9C8D-7E6F5A4B3C2D}</ExternalGUID></ItemServiceAdd>";
        let changed = to_mod(add, &identity(&[])).unwrap();
        assert_eq!(
            changed.qbxml,
            "<ItemServiceModRq><ItemServiceMod><ListID>80000001-1700000000</ListID><EditSequence>1700000005</EditSequence><Name>Labor</Name><SalesOrPurchaseMod><Desc>Work</Desc><AccountRef><FullName>Income</FullName></AccountRef></SalesOrPurchaseMod></ItemServiceMod></ItemServiceModRq>"
        );
        assert_eq!(changed.dropped, ["ExternalGUID"]);
    }

    #[test]
    fn journal_lines_become_journal_line_mods_with_their_type() {
        let add = "<JournalEntryAddRq><JournalEntryAdd><TxnDate>2025-03-01</TxnDate><Memo>M</Memo><JournalDebitLine><AccountRef><FullName>Bank</FullName></AccountRef><Amount>5.00</Amount></JournalDebitLine><JournalCreditLine><AccountRef><FullName>Sales</FullName></AccountRef><Amount>5.00</Amount></JournalCreditLine></JournalEntryAdd></JournalEntryAddRq>";
        let changed = to_mod(add, &identity(&[Some("2A-1"), None])).unwrap();
        assert!(changed.qbxml.contains("<JournalLineMod><TxnLineID>2A-1</TxnLineID><JournalLineType>Debit</JournalLineType><AccountRef><FullName>Bank</FullName></AccountRef><Amount>5.00</Amount></JournalLineMod><JournalLineMod><TxnLineID>-1</TxnLineID><JournalLineType>Credit</JournalLineType>"), "{}", changed.qbxml);
        assert_eq!(changed.dropped, ["Memo"]);
    }

    #[test]
    fn mods_are_refused_for_types_without_one_and_for_bad_identities() {
        let e = to_mod(
            "<BillPaymentCreditCardAdd><TxnDate>2025-01-01</TxnDate></BillPaymentCreditCardAdd>",
            &identity(&[]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            ChangeError::NoMod {
                add: "BillPaymentCreditCardAdd".into()
            }
        );
        let mut bad = identity(&[]);
        bad.edit_sequence = "x".repeat(17);
        let e = to_mod("<CustomerAdd><Name>A</Name></CustomerAdd>", &bad).unwrap_err();
        assert!(matches!(
            e,
            ChangeError::InvalidId {
                field: "EditSequence",
                ..
            }
        ));
        let e = to_mod("<CustomerQueryRq></CustomerQueryRq>", &identity(&[])).unwrap_err();
        assert!(matches!(e, ChangeError::NotAnAdd { .. }), "{e}");
    }

    #[test]
    fn a_required_child_the_add_lacks_is_named() {
        let e = to_mod(
            "<TimeTrackingAdd><TxnDate>2025-01-01</TxnDate></TimeTrackingAdd>",
            &identity(&[]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "TimeTrackingMod requires <EntityRef>, which the Add does not have"
        );
    }

    #[test]
    fn deactivation_keeps_only_identity_and_is_active() {
        let changed = deactivate(
            "<CustomerAddRq><CustomerAdd><Name>Acme</Name><Phone>1</Phone></CustomerAdd></CustomerAddRq>",
            &identity(&[]),
        )
        .unwrap();
        assert_eq!(
            changed.qbxml,
            "<CustomerModRq><CustomerMod><ListID>80000001-1700000000</ListID><EditSequence>1700000005</EditSequence><IsActive>false</IsActive></CustomerMod></CustomerModRq>"
        );
        let e = deactivate(
            "<InvoiceAdd><CustomerRef><FullName>A</FullName></CustomerRef></InvoiceAdd>",
            &identity(&[]),
        )
        .unwrap_err();
        assert!(matches!(e, ChangeError::NoIsActive { .. }), "{e}");
    }
}
