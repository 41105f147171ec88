//! What tests see of the company file (views of lists and transactions, counts), and the
//! bookkeeper who edits it in QuickBooks between sessions.
//!
//! A bookkeeper's edit runs through the same rules as a Mod request (so it gets a new
//! EditSequence and TimeModified, and QuickBooks' refusals) but is not in the write log,
//! which records only what integrated applications wrote.

use super::handlers::Reply;
use super::model::{ListKind, TxnKind, TxnRecord};
use super::tree::Node;
use super::{Company, CompanyError, WriteLogEntry};

/// A list record as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListView {
    /// Which list.
    pub kind: ListKind,
    /// ListID.
    pub list_id: String,
    /// FullName (`Parent:Child`).
    pub full_name: String,
    /// Current EditSequence.
    pub edit_sequence: String,
    /// IsActive.
    pub is_active: bool,
    /// Open balance in cents.
    pub balance_cents: i64,
}

/// A transaction as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnView {
    /// Which transaction type.
    pub kind: TxnKind,
    /// TxnID.
    pub txn_id: String,
    /// RefNumber.
    pub ref_number: Option<String>,
    /// FullName of the customer, vendor or payee.
    pub entity: Option<String>,
    /// Total in cents, computed from the lines.
    pub total_cents: i64,
    /// Amount still due in cents (invoices, bills).
    pub open_cents: i64,
    /// Current EditSequence.
    pub edit_sequence: String,
    /// Voided (kept, every amount zero).
    pub is_voided: bool,
    /// Memo (a voided transaction's starts with `VOID:`).
    pub memo: Option<String>,
    /// The lines, expense lines first, in the order QuickBooks returns them.
    pub lines: Vec<LineView>,
}

/// A transaction line as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineView {
    /// TxnLineID.
    pub txn_line_id: String,
    /// FullName of the line's item (item lines) or account (expense lines).
    pub item_or_account: Option<String>,
    /// Desc.
    pub desc: Option<String>,
    /// Amount in cents.
    pub amount_cents: i64,
}

/// List fields a bookkeeper's edit may change besides each list's own (`ListKind::fields`).
const LIST_FIELDS: [&str; 2] = ["Name", "IsActive"];

/// Transaction header fields a bookkeeper's edit may change.
const TXN_FIELDS: [&str; 3] = ["Memo", "RefNumber", "TxnDate"];

impl Company {
    /// How many records of an object type (`Customer`, `Invoice`, …) the file holds.
    pub fn count(&self, object: &str) -> usize {
        if let Some(kind) = ListKind::from_tag(object) {
            self.data.lists.iter().filter(|l| l.kind == kind).count()
        } else if let Some(kind) = TxnKind::from_tag(object) {
            self.data.txns.iter().filter(|t| t.kind == kind).count()
        } else {
            0
        }
    }

    /// A list record by kind and FullName (case-insensitive, as QuickBooks compares names).
    pub fn find(&self, kind: ListKind, full_name: &str) -> Option<ListView> {
        self.data
            .lists
            .iter()
            .find(|l| l.kind == kind && l.full_name.eq_ignore_ascii_case(full_name))
            .map(|l| ListView {
                kind: l.kind,
                list_id: l.list_id.clone(),
                full_name: l.full_name.clone(),
                edit_sequence: l.edit_sequence.clone(),
                is_active: l.active,
                balance_cents: l.balance,
            })
    }

    /// A customer (or job) by FullName.
    pub fn find_customer(&self, full_name: &str) -> Option<ListView> {
        self.find(ListKind::Customer, full_name)
    }

    /// Every transaction of a kind, oldest first (deleted ones are gone).
    pub fn transactions(&self, kind: TxnKind) -> Vec<TxnView> {
        self.data
            .txns
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| self.txn_view(t))
            .collect()
    }

    /// The oldest transaction of a kind with this RefNumber.
    pub fn find_txn(&self, kind: TxnKind, ref_number: &str) -> Option<TxnView> {
        self.data
            .txns
            .iter()
            .find(|t| t.kind == kind && t.ref_number.as_deref() == Some(ref_number))
            .map(|t| self.txn_view(t))
    }

    /// Every invoice, oldest first.
    pub fn invoices(&self) -> Vec<TxnView> {
        self.transactions(TxnKind::Invoice)
    }

    /// Every Add, Mod, void and delete an integrated application applied, in order.
    pub fn write_log(&self) -> &[WriteLogEntry] {
        &self.data.write_log
    }

    /// A bookkeeper changes `field` (`Name`, `IsActive`, or one the list keeps such as
    /// `Phone`) of the list record `full_name` to `value` in QuickBooks.
    pub fn edit_list_as_bookkeeper(
        &mut self,
        kind: ListKind,
        full_name: &str,
        field: &str,
        value: &str,
    ) -> Result<(), CompanyError> {
        let editable: Vec<&str> = LIST_FIELDS
            .into_iter()
            .chain(kind.fields().iter().map(|(f, _)| *f))
            .collect();
        if !editable.contains(&field) {
            return Err(CompanyError::UnknownField {
                kind: kind.tag(),
                field: field.into(),
                editable: editable.join(", "),
            });
        }
        let record = self
            .find(kind, full_name)
            .ok_or(CompanyError::NoSuchRecord {
                kind: kind.tag(),
                name: full_name.into(),
            })?;
        let m = element(
            &format!("{}Mod", kind.tag()),
            vec![
                leaf("ListID", &record.list_id),
                leaf("EditSequence", &record.edit_sequence),
                leaf(field, value),
            ],
        );
        self.unlogged(|c| c.list_mod(kind, &m))
    }

    /// A bookkeeper changes `field` (`Memo`, `RefNumber` or `TxnDate`) of the transaction
    /// with RefNumber `ref_number` to `value` in QuickBooks.
    pub fn edit_txn_as_bookkeeper(
        &mut self,
        kind: TxnKind,
        ref_number: &str,
        field: &str,
        value: &str,
    ) -> Result<(), CompanyError> {
        if !TXN_FIELDS.contains(&field) {
            return Err(CompanyError::UnknownField {
                kind: kind.tag(),
                field: field.into(),
                editable: TXN_FIELDS.join(", "),
            });
        }
        let txn = self
            .find_txn(kind, ref_number)
            .ok_or(CompanyError::NoSuchRecord {
                kind: kind.tag(),
                name: ref_number.into(),
            })?;
        // Requests reach txn_mod schema-checked; a bookkeeper's value has not been.
        if field == "TxnDate" && !is_iso_date(value) {
            return Err(CompanyError::Refused {
                code: 3020,
                message: format!("\"{value}\" is not a date (YYYY-MM-DD)."),
            });
        }
        if kind.item_line().is_none() {
            return Err(CompanyError::Refused {
                code: 1000,
                message: format!(
                    "The simulated company file does not implement {}Mod.",
                    kind.tag()
                ),
            });
        }
        let m = element(
            &format!("{}Mod", kind.tag()),
            vec![
                leaf("TxnID", &txn.txn_id),
                leaf("EditSequence", &txn.edit_sequence),
                leaf(field, value),
            ],
        );
        self.unlogged(|c| c.txn_mod(kind, &m))
    }

    /// Runs a write without leaving it in the write log.
    fn unlogged(
        &mut self,
        write: impl FnOnce(&mut Company) -> Result<Reply, Reply>,
    ) -> Result<(), CompanyError> {
        let logged = self.data.write_log.len();
        let result = write(self);
        self.data.write_log.truncate(logged);
        result.map(|_| ()).map_err(|r| CompanyError::Refused {
            code: r.code,
            message: r.message,
        })
    }

    fn txn_view(&self, t: &TxnRecord) -> TxnView {
        let full_name = |id: &Option<String>| {
            id.as_ref()
                .and_then(|e| self.data.lists.iter().find(|l| &l.list_id == e))
                .map(|l| l.full_name.clone())
        };
        TxnView {
            kind: t.kind,
            txn_id: t.txn_id.clone(),
            ref_number: t.ref_number.clone(),
            entity: full_name(&t.entity),
            total_cents: t.total,
            open_cents: t.open,
            edit_sequence: t.edit_sequence.clone(),
            is_voided: t.voided,
            memo: t.memo.clone(),
            lines: t
                .lines
                .iter()
                .map(|l| LineView {
                    txn_line_id: l.txn_line_id.clone(),
                    item_or_account: full_name(&l.target),
                    desc: l.desc.clone(),
                    amount_cents: l.amount,
                })
                .collect(),
        }
    }
}

/// `YYYY-MM-DD` with a month and day in range.
fn is_iso_date(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let number = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    match parts.as_slice() {
        [y, m, d] => {
            number(y, 4).is_some()
                && number(m, 2).is_some_and(|m| (1..=12).contains(&m))
                && number(d, 2).is_some_and(|d| (1..=31).contains(&d))
        }
        _ => false,
    }
}

fn element(name: &str, children: Vec<Node>) -> Node {
    Node {
        name: name.into(),
        children,
        ..Node::default()
    }
}

fn leaf(name: &str, text: &str) -> Node {
    Node {
        name: name.into(),
        text: text.into(),
        ..Node::default()
    }
}
