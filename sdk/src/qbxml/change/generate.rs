//! Writes `mod_order.rs` from Intuit's qbXML 16.0 schema (test only).
//!
//! Each `*Mod` element's content is flattened into its children in schema order: `ref`s and
//! inline `name`s are elements, `xsd:group ref` is expanded, a sequence numbers its items
//! one after the other, and the alternatives of a choice start at the same slot (only one
//! of them is present, or a repeated choice mixes them in any order). A child is required
//! when neither it nor anything around it is optional.
//!
//! `QBRIDGE_REGENERATE=1 cargo test -p qbridge-sdk generated_table` rewrites the file after
//! a schema update; without it the test fails when the checked-in table and the schema differ.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::tree::{Node, parse, parse_within};

const XSD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/qbxml/16.0");
const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/qbxml/change/mod_order.rs");

/// Simple types compared as decimals (`100` = `100.00`).
const NUMERIC_TYPES: [&str; 6] = [
    "AMTTYPE",
    "PRICETYPE",
    "QUANTYPE",
    "PERCENTTYPE",
    "FLOATTYPE",
    "INTTYPE",
];

/// The global elements and groups of one schema file.
struct Schema {
    elements: BTreeMap<String, Node>,
    groups: BTreeMap<String, Node>,
    types: BTreeMap<String, Node>,
}

impl Schema {
    fn read(file: &str) -> Schema {
        let text = std::fs::read_to_string(format!("{XSD_DIR}/{file}"))
            .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
        // The schema files are larger than the bound requests are read with.
        let root = parse_within(&text, text.len()).expect("a well-formed schema");
        let mut schema = Schema {
            elements: BTreeMap::new(),
            groups: BTreeMap::new(),
            types: BTreeMap::new(),
        };
        for node in root.children {
            let name = node.attr("name").unwrap_or_default().to_owned();
            match node.name.as_str() {
                "xsd:element" => schema.elements.insert(name, node),
                "xsd:group" => schema.groups.insert(name, node),
                "xsd:complexType" => schema.types.insert(name, node),
                _ => None,
            };
        }
        schema
    }
}

/// One flattened child: name, slot, required.
type Child = (String, u16, bool);

fn flatten(schema: &Schema, node: &Node, slot: &mut u16, optional: bool, out: &mut Vec<Child>) {
    let optional = optional || node.attr("minOccurs") == Some("0");
    match node.name.as_str() {
        "xsd:element" => {
            let name = node
                .attr("ref")
                .or(node.attr("name"))
                .expect("element name");
            out.push((name.to_owned(), *slot, !optional));
            *slot += 1;
        }
        "xsd:group" => {
            let name = node.attr("ref").expect("group ref");
            let group = &schema.groups[name];
            for part in &group.children {
                flatten(schema, part, slot, optional, out);
            }
        }
        "xsd:sequence" | "xsd:complexType" => {
            for part in &node.children {
                flatten(schema, part, slot, optional, out);
            }
        }
        "xsd:choice" => {
            let base = *slot;
            let mut end = base;
            for alternative in &node.children {
                let mut s = base;
                flatten(schema, alternative, &mut s, true, out);
                end = end.max(s);
            }
            *slot = end;
        }
        // Attributes, annotations and simple content hold no child elements.
        _ => {}
    }
}

fn children(schema: &Schema, element: &Node) -> Vec<Child> {
    let mut out = Vec::new();
    let mut slot = 0;
    for part in &element.children {
        flatten(schema, part, &mut slot, false, &mut out);
    }
    out
}

fn enumeration(schema: &Schema, element: &str) -> Vec<String> {
    let mut values = Vec::new();
    collect_enumeration(&schema.elements[element], &mut values);
    values
}

fn collect_enumeration(node: &Node, out: &mut Vec<String>) {
    if node.name == "xsd:enumeration" {
        out.extend(node.attr("value").map(str::to_owned));
    }
    for c in &node.children {
        collect_enumeration(c, out);
    }
}

/// Every element name declared with a numeric simple type, globally or inline.
fn numeric_names(node: &Node, out: &mut BTreeSet<String>) {
    if node.name == "xsd:element"
        && let Some(name) = node.attr("name")
    {
        let typed = node
            .attr("type")
            .is_some_and(|t| NUMERIC_TYPES.contains(&t));
        let restricted = node.children.iter().any(|c| {
            c.name == "xsd:simpleType"
                && c.children
                    .iter()
                    .any(|r| r.attr("base").is_some_and(|b| NUMERIC_TYPES.contains(&b)))
        });
        if typed || restricted {
            out.insert(name.to_owned());
        }
    }
    for c in &node.children {
        numeric_names(c, out);
    }
}

/// The text of `mod_order.rs`.
pub(super) fn generate() -> String {
    let data = Schema::read("qbxml160.xsd");
    let ops = Schema::read("qbxmlops160.xsd");
    let mut out = String::from(
        "//! Generated from Intuit's qbXML 16.0 schema (`sdk/schemas/qbxml/16.0`) by `generate.rs`: do\n\
         //! not edit. The test `generated_table_equals_the_schema` fails when this file and the\n\
         //! schema differ; `QBRIDGE_REGENERATE=1 cargo test -p qbridge-sdk generated_table` rewrites it.\n\n",
    );
    out.push_str(
        "/// A Mod aggregate's children in schema order: `(name, slot, required)`; the\n\
         /// alternatives of a choice share a slot.\n\
         pub(super) type Children = &'static [(&'static str, u16, bool)];\n\n\
         /// Every `*Mod` aggregate, by name.\n\
         #[rustfmt::skip]\n\
         pub(super) static MODS: &[(&str, Children)] = &[\n",
    );
    for (name, element) in &data.elements {
        if !name.ends_with("Mod") {
            continue;
        }
        let kids = children(&data, element);
        if kids.is_empty() {
            continue;
        }
        let _ = write!(out, "(\"{name}\", &[");
        for (i, (child, slot, required)) in kids.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}(\"{child}\", {slot}, {required})");
        }
        out.push_str("]),\n");
    }
    out.push_str("];\n\n");
    for (what, element) in [
        ("TXN_VOID_TYPES", "TxnVoidType"),
        ("TXN_DEL_TYPES", "TxnDelType"),
    ] {
        let values = enumeration(&data, element);
        let _ = write!(
            out,
            "/// The `{element}` enumeration.\n#[rustfmt::skip]\npub(super) static {what}: &[&str] = &[{}];\n\n",
            quoted(&values)
        );
    }
    out.push_str(
        "/// Queries by id: `(object, id element, IncludeLineItems allowed)` for every `*QueryRq`\n\
         /// that selects by `TxnID` or `ListID` and whose object has an `*Add`.\n\
         #[rustfmt::skip]\n\
         pub(super) static QUERIES: &[(&str, &str, bool)] = &[\n",
    );
    for (name, rq_type) in &ops.types {
        let Some(object) = name.strip_suffix("QueryRqType") else {
            continue;
        };
        if !data.elements.contains_key(&format!("{object}Add")) {
            continue;
        }
        let kids = children(&data, rq_type);
        let has = |n: &str| kids.iter().any(|(c, _, _)| c == n);
        let id = if has("TxnID") {
            "TxnID"
        } else if has("ListID") {
            "ListID"
        } else {
            continue;
        };
        let _ = writeln!(
            out,
            "(\"{object}\", \"{id}\", {}),",
            has("IncludeLineItems")
        );
    }
    out.push_str("];\n\n");
    let mut numeric = BTreeSet::new();
    for element in data.elements.values() {
        numeric_names(element, &mut numeric);
    }
    for group in data.groups.values() {
        numeric_names(group, &mut numeric);
    }
    let numeric: Vec<String> = numeric.into_iter().collect();
    let _ = write!(
        out,
        "/// Elements of a numeric type (amounts, prices, quantities, percentages), compared as\n\
         /// decimals.\n#[rustfmt::skip]\npub(super) static NUMERIC: &[&str] = &[{}];\n",
        quoted(&numeric)
    );
    out
}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where `checked_in` departs from `fresh`, as a message; `None` when they are equal.
fn first_difference(checked_in: &str, fresh: &str) -> Option<String> {
    let mut a = checked_in.lines();
    let mut b = fresh.lines();
    for n in 1.. {
        match (a.next(), b.next()) {
            (None, None) => return None,
            (x, y) if x == y => {}
            (x, y) => {
                return Some(format!(
                    "mod_order.rs line {n} differs from the schema:\n  file:   {}\n  schema: {}\n\
                     regenerate with QBRIDGE_REGENERATE=1",
                    x.unwrap_or("(end of file)"),
                    y.unwrap_or("(end of file)")
                ));
            }
        }
    }
    unreachable!("the loop returns at the end of both texts")
}

#[test]
fn generated_table_equals_the_schema() {
    let fresh = generate();
    if std::env::var_os("QBRIDGE_REGENERATE").is_some() {
        std::fs::write(TABLE, &fresh).expect("write mod_order.rs");
    }
    let checked_in = std::fs::read_to_string(TABLE).expect("read mod_order.rs");
    if let Some(difference) = first_difference(&checked_in, &fresh) {
        panic!("{difference}");
    }
}

#[test]
fn an_edited_table_is_told_apart_from_the_schema() {
    let fresh = generate();
    // Memo and CustomerMsgRef swapped in InvoiceMod only.
    let swapped: String = fresh
        .lines()
        .map(|line| {
            let line = if line.starts_with("(\"InvoiceMod\"") {
                line.replacen(
                    "(\"Memo\", 19, false), (\"CustomerMsgRef\", 20, false)",
                    "(\"CustomerMsgRef\", 19, false), (\"Memo\", 20, false)",
                    1,
                )
            } else {
                line.to_owned()
            };
            format!("{line}\n")
        })
        .collect();
    assert_ne!(swapped, fresh, "the edit applies to InvoiceMod");
    let message = first_difference(&swapped, &fresh).expect("an edit is found");
    assert!(message.contains("(\"InvoiceMod\""), "{message}");
    let shortened = fresh.replacen("(\"InvoiceMod\"", "(\"InvoiceModX\"", 1);
    assert!(first_difference(&shortened, &fresh).is_some());
    let cut: String = fresh.lines().take(10).map(|l| format!("{l}\n")).collect();
    assert!(first_difference(&cut, &fresh).is_some());
    assert_eq!(first_difference(&fresh, &fresh), None);
}

#[test]
fn flattening_numbers_sequences_and_shares_choice_slots() {
    let schema = Schema {
        elements: BTreeMap::new(),
        groups: BTreeMap::from([(
            "Core".to_owned(),
            parse(r#"<xsd:group name="Core"><xsd:sequence><xsd:element ref="TxnID"/><xsd:element name="EditSequence"/></xsd:sequence></xsd:group>"#).unwrap(),
        )]),
        types: BTreeMap::new(),
    };
    let element = parse(
        r#"<xsd:element name="XMod"><xsd:complexType><xsd:sequence>
            <xsd:group ref="Core"/>
            <xsd:element ref="Memo" minOccurs="0"/>
            <xsd:choice minOccurs="0" maxOccurs="unbounded">
                <xsd:element ref="LineMod"/>
                <xsd:sequence><xsd:element ref="A"/><xsd:element ref="B"/></xsd:sequence>
            </xsd:choice>
            <xsd:element ref="Last"/>
        </xsd:sequence></xsd:complexType></xsd:element>"#,
    )
    .unwrap();
    let got = children(&schema, &element);
    let want: Vec<Child> = [
        ("TxnID", 0, true),
        ("EditSequence", 1, true),
        ("Memo", 2, false),
        ("LineMod", 3, false),
        ("A", 3, false),
        ("B", 4, false),
        ("Last", 5, true),
    ]
    .into_iter()
    .map(|(n, s, r)| (n.to_owned(), s, r))
    .collect();
    assert_eq!(got, want);
}
