//! Changing what is already in QuickBooks: an `*Add` request (the desired state a plugin
//! wrote) turned into the matching `*Mod` with the object's current identity, voids and
//! deletes, deactivation of list objects, the ids read back from QuickBooks' `*Ret`s, the
//! fields that differ between what was written and what QuickBooks holds, and the query that
//! refreshes a stale `EditSequence`.
//!
//! Nothing here is written per type: which children a Mod takes, in which order, which ones
//! it requires, which transactions can be voided or deleted and which queries select by id
//! all come from Intuit's qbXML 16.0 schema, flattened into `mod_order.rs` by a generator that
//! a test re-runs (the table cannot drift from the schema). Every input is read with bounds
//! (1 MiB, 64 levels, no DOCTYPE, only the predefined entities and character references).

mod compare;
mod convert;
#[cfg(test)]
mod generate;
mod mod_order;
mod ret;
mod tree;

use std::fmt;

pub use compare::{FieldDiff, compare};
pub use convert::{deactivate, to_mod};
pub use ret::{add_line_kinds, ret_identity, ret_line_ids};

use mod_order::{QUERIES, TXN_DEL_TYPES, TXN_VOID_TYPES};

/// Longest `ListID`, `TxnID` or `TxnLineID` accepted (QuickBooks' ids are about 20
/// characters; the schema's IDTYPE has no limit of its own).
const ID_MAX: usize = 36;
/// Longest `EditSequence` (the schema's limit).
const EDIT_SEQUENCE_MAX: usize = 16;

/// Who an object is in QuickBooks now: what a Mod must name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// `ListID` (lists) or `TxnID` (transactions).
    pub id: String,
    /// The `EditSequence` QuickBooks returned last; a Mod with an older one is refused.
    pub edit_sequence: String,
    /// `TxnLineID` of the Add's lines in document order (see [`add_line_kinds`]); `None`, or
    /// no entry, makes the line new (`-1`); entries beyond the Add's lines are not used.
    /// Lines QuickBooks has but the Add does not are removed by the Mod.
    pub line_ids: Vec<Option<String>>,
}

/// A request ready to send, made from an Add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The request's type, e.g. `InvoiceMod`, `TxnVoid`, `TxnDel`.
    pub request_type: String,
    /// The request element, e.g. `<InvoiceModRq><InvoiceMod>…</InvoiceMod></InvoiceModRq>`.
    pub qbxml: String,
    /// What the Add had that the Mod cannot change (`OpenBalance`, `ExternalGUID`,
    /// `InvoiceLine/LinkToTxn` …), left out, each named once.
    pub dropped: Vec<String>,
}

/// How a transaction leaves QuickBooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// `TxnVoidRq`: the transaction stays, with zero amounts, "VOID" in its memo.
    Void,
    /// `TxnDelRq`: the transaction is gone.
    Delete,
}

impl fmt::Display for Removal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Removal::Void => "voided",
            Removal::Delete => "deleted",
        })
    }
}

/// Why a change cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The input is not XML this module reads.
    #[error("cannot read the qbXML: {reason}")]
    Parse {
        /// What is wrong, with the byte position when known.
        reason: String,
    },
    /// The request is not an `*Add` (or `*AddRq`).
    #[error("<{root}> is not an Add request: expected e.g. <InvoiceAddRq><InvoiceAdd>…")]
    NotAnAdd {
        /// The element found.
        root: String,
    },
    /// QuickBooks has no Mod for this type.
    #[error("{add} cannot be changed once in QuickBooks: qbXML has no Mod for it")]
    NoMod {
        /// The Add, e.g. `BillPaymentCreditCardAdd`.
        add: String,
    },
    /// An id is empty, too long or not printable ASCII.
    #[error(
        "{field} {value:?} is not a QuickBooks id (1 to {max} printable ASCII characters expected)"
    )]
    InvalidId {
        /// `ListID`, `TxnID`, `EditSequence` or `TxnLineID`.
        field: &'static str,
        /// The value, cut to 40 characters.
        value: String,
        /// Its length limit.
        max: usize,
    },
    /// The Add lacks a child the Mod requires.
    #[error("{element} requires <{child}>, which the Add does not have")]
    MissingRequired {
        /// The Mod element, e.g. `TimeTrackingMod`.
        element: String,
        /// The missing child.
        child: String,
    },
    /// The list type cannot be made inactive.
    #[error("{element} has no IsActive: this list object cannot be made inactive")]
    NoIsActive {
        /// The Mod element.
        element: String,
    },
    /// The transaction type cannot be voided or deleted.
    #[error("{object} cannot be {how} with qbXML")]
    NotRemovable {
        /// The object, e.g. `TimeTracking`.
        object: String,
        /// What was asked.
        how: Removal,
    },
    /// No query selects this type by id.
    #[error("{object} has no query by ListID or TxnID in qbXML")]
    NoQuery {
        /// The object, e.g. `JournalEntry`.
        object: String,
    },
}

/// `Invoice` from `InvoiceAddRq`, `InvoiceAdd` or `Invoice`.
fn object_name(add_type: &str) -> &str {
    let t = add_type.strip_suffix("Rq").unwrap_or(add_type);
    t.strip_suffix("Add").unwrap_or(t)
}

/// Refuse ids QuickBooks could not have issued: they would make an invalid request.
fn check_id(field: &'static str, value: &str, max: usize) -> Result<(), ChangeError> {
    if value.is_empty() || value.len() > max || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ChangeError::InvalidId {
            field,
            value: value.chars().take(40).collect(),
            max,
        });
    }
    Ok(())
}

/// The element `<tag>text</tag>`, escaped.
fn leaf(tag: &str, text: &str, out: &mut String) {
    tree::Node::leaf(tag, text).write(out);
}

/// How a transaction of this type leaves QuickBooks: [`Removal::Void`] when qbXML can void it
/// (the schema's `TxnVoidType`), else [`Removal::Delete`] when it can delete it
/// (`TxnDelType`), else `None`. `add_type` is `InvoiceAdd` or `Invoice`.
pub fn removal_for(add_type: &str) -> Option<Removal> {
    let object = object_name(add_type);
    if TXN_VOID_TYPES.contains(&object) {
        Some(Removal::Void)
    } else if TXN_DEL_TYPES.contains(&object) {
        Some(Removal::Delete)
    } else {
        None
    }
}

/// `<TxnVoidRq>` or `<TxnDelRq>` for the transaction `txn_id` of this type (`InvoiceAdd` or
/// `Invoice`).
///
/// ```
/// use qbridge_sdk::qbxml::change::{Removal, remove_txn};
/// let void = remove_txn("InvoiceAdd", "1A2B-1700000000", Removal::Void).unwrap();
/// assert_eq!(
///     void.qbxml,
///     "<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>1A2B-1700000000</TxnID></TxnVoidRq>"
/// );
/// ```
pub fn remove_txn(add_type: &str, txn_id: &str, how: Removal) -> Result<Changed, ChangeError> {
    let object = object_name(add_type);
    let (request, types) = match how {
        Removal::Void => ("TxnVoid", TXN_VOID_TYPES),
        Removal::Delete => ("TxnDel", TXN_DEL_TYPES),
    };
    if !types.contains(&object) {
        return Err(ChangeError::NotRemovable {
            object: object.to_owned(),
            how,
        });
    }
    check_id("TxnID", txn_id, ID_MAX)?;
    let mut qbxml = format!("<{request}Rq>");
    leaf(&format!("{request}Type"), object, &mut qbxml);
    leaf("TxnID", txn_id, &mut qbxml);
    qbxml.push_str(&format!("</{request}Rq>"));
    Ok(Changed {
        request_type: request.to_owned(),
        qbxml,
        dropped: Vec::new(),
    })
}

/// The query returning the object with this ListID or TxnID, lines included, e.g.
/// `<InvoiceQueryRq><TxnID>…</TxnID><IncludeLineItems>true</IncludeLineItems></InvoiceQueryRq>`
/// or `<ItemServiceQueryRq><ListID>…</ListID></ItemServiceQueryRq>`: how a stale
/// `EditSequence` is refreshed. `add_type` is `InvoiceAdd` or `Invoice`.
pub fn query_by_id(add_type: &str, id: &str) -> Result<String, ChangeError> {
    let object = object_name(add_type);
    let Some(&(_, id_element, lines)) = QUERIES.iter().find(|(o, _, _)| *o == object) else {
        return Err(ChangeError::NoQuery {
            object: object.to_owned(),
        });
    };
    let field = if id_element == "TxnID" {
        "TxnID"
    } else {
        "ListID"
    };
    check_id(field, id, ID_MAX)?;
    let mut qbxml = format!("<{object}QueryRq>");
    leaf(id_element, id, &mut qbxml);
    if lines {
        leaf("IncludeLineItems", "true", &mut qbxml);
    }
    qbxml.push_str(&format!("</{object}QueryRq>"));
    Ok(qbxml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_follows_the_schema_enumerations() {
        assert_eq!(removal_for("InvoiceAdd"), Some(Removal::Void));
        assert_eq!(removal_for("BillPaymentCheck"), Some(Removal::Void));
        assert_eq!(removal_for("EstimateAdd"), Some(Removal::Delete));
        assert_eq!(removal_for("TimeTrackingAddRq"), Some(Removal::Delete));
        assert_eq!(removal_for("CustomerAdd"), None);
        let e = remove_txn("TimeTracking", "1-2", Removal::Void).unwrap_err();
        assert_eq!(e.to_string(), "TimeTracking cannot be voided with qbXML");
    }

    #[test]
    fn removal_refuses_ids_quickbooks_cannot_have_issued() {
        let e = remove_txn("Invoice", "12 34", Removal::Delete).unwrap_err();
        assert!(
            matches!(e, ChangeError::InvalidId { field: "TxnID", .. }),
            "{e}"
        );
        assert!(remove_txn("Invoice", "", Removal::Delete).is_err());
    }

    #[test]
    fn query_by_id_selects_by_txn_id_or_list_id_from_the_schema() {
        assert_eq!(
            query_by_id("CustomerAdd", "80000001-1700000000").unwrap(),
            "<CustomerQueryRq><ListID>80000001-1700000000</ListID></CustomerQueryRq>"
        );
        assert_eq!(
            query_by_id("BillAdd", "1F-1700000000").unwrap(),
            "<BillQueryRq><TxnID>1F-1700000000</TxnID><IncludeLineItems>true</IncludeLineItems></BillQueryRq>"
        );
        assert!(matches!(
            query_by_id("NoSuchThingAdd", "1-1"),
            Err(ChangeError::NoQuery { .. })
        ));
    }
}
