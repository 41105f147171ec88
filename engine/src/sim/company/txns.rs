//! Transaction adds, mods, voids and deletes, and the balances they move.
//!
//! Balances: an invoice raises what its customer owes and a bill what we owe its vendor,
//! by the total; a credit memo or vendor credit lowers them; a bill payment lowers the
//! vendor's balance and the open amount of each bill it pays. A Mod, void or delete first takes the transaction's old effect back, then
//! applies the new one (none for a void or delete).

use super::handlers::{Handled, Reply, check_len, object_not_found};
use super::lines::amount;
use super::model::{TxnKind, TxnLine, TxnRecord, fmt_cents, iso_date, iso_time, txn_id};
use super::rets::Shape;
use super::tree::Node;
use super::{Access, Company};
use crate::qbxml::permission_area;
use crate::qbxml::text::escape;

/// Longest transaction memo QuickBooks accepts.
const MAX_MEMO: usize = 4095;

/// What QuickBooks puts before the memo of a voided transaction.
const VOID_PREFIX: &str = "VOID:";

impl Company {
    pub(super) fn txn_add(&mut self, kind: TxnKind, add: &Node) -> Handled {
        self.check_refs(add, kind.tag())?;
        let ref_number = add.text_of("RefNumber").map(str::to_string);
        if let Some(r) = &ref_number {
            check_len(r, "RefNumber", kind.max_ref())?;
        }
        let memo = add.text_of("Memo").map(str::to_string);
        if let Some(m) = &memo {
            check_len(m, "Memo", MAX_MEMO)?;
        }
        let entity = self.header_ref(add, kind.entity_ref());
        let account = self.header_ref(add, kind.account_ref());
        let mut lines = self.add_lines(kind, add)?;
        let (total, applied) = match kind {
            TxnKind::BillPaymentCheck | TxnKind::BillPaymentCreditCard => {
                let applied = self.bill_payments(add)?;
                (applied.iter().map(|(_, a)| a).sum(), applied)
            }
            TxnKind::JournalEntry => (journal_total(add)?, Vec::new()),
            _ => (lines_total(&lines), Vec::new()),
        };
        let now = self.tick();
        self.data.next_txn += 1;
        let txn_number = self.data.next_txn;
        self.assign_line_ids(&mut lines, now);
        let record = TxnRecord {
            kind,
            txn_id: txn_id(txn_number, now),
            txn_number,
            edit_sequence: now.to_string(),
            created: now,
            modified: now,
            entity,
            account,
            txn_date: add
                .text_of("TxnDate")
                .map_or_else(|| iso_date(now), str::to_string),
            ref_number,
            memo,
            total,
            open: if kind.has_open_amount() { total } else { 0 },
            applied,
            lines,
            voided: false,
        };
        self.apply_effect(&record, 1);
        let shown = record.ref_number.clone().unwrap_or_default();
        self.log_write(kind.tag(), &record.txn_id, &shown);
        let ret = self.txn_ret(&record, &Shape::full());
        self.data.txns.push(record);
        Ok(Reply::ok(ret))
    }

    /// A `…Mod` of a transaction type that keeps lines. A bill cannot drop below what its
    /// payments already cover: 3210, as for paying more than is due (QuickBooks' own
    /// answer is not documented).
    pub(super) fn txn_mod(&mut self, kind: TxnKind, m: &Node) -> Handled {
        let id = m.text_of("TxnID").unwrap_or("");
        let i = self.txn_position(kind, id)?;
        let given = m.text_of("EditSequence").unwrap_or("");
        if given != self.data.txns[i].edit_sequence {
            return Err(Reply::error(
                3200,
                format!("The provided edit sequence \"{given}\" is out-of-date."),
            ));
        }
        self.check_refs(m, kind.tag())?;
        let old = self.data.txns[i].clone();
        let ref_number = replaced(m.text_of("RefNumber"), &old.ref_number);
        if let Some(r) = &ref_number {
            check_len(r, "RefNumber", kind.max_ref())?;
        }
        let memo = replaced(m.text_of("Memo"), &old.memo);
        if let Some(v) = &memo {
            check_len(v, "Memo", MAX_MEMO)?;
        }
        let mut lines = self.mod_lines(&old, m)?;
        let total = lines_total(&lines);
        // What payments cover (bills; the simulator keeps no received payments and applies
        // no credits, so for the others this is zero).
        let paid = if kind.has_open_amount() {
            old.total - old.open
        } else {
            0
        };
        if total < paid {
            return Err(Reply::error(
                3210,
                format!(
                    "The transaction total {} cannot be less than the {} already paid on it.",
                    fmt_cents(total),
                    fmt_cents(paid)
                ),
            ));
        }
        let now = self.tick();
        self.assign_line_ids(&mut lines, now);
        self.apply_effect(&old, -1);
        let mut rec = old;
        rec.entity = self.header_ref(m, kind.entity_ref()).or(rec.entity);
        rec.account = self.header_ref(m, kind.account_ref()).or(rec.account);
        if let Some(d) = m.text_of("TxnDate") {
            rec.txn_date = d.to_string();
        }
        rec.ref_number = ref_number;
        rec.memo = memo;
        rec.lines = lines;
        rec.total = total;
        rec.open = if kind.has_open_amount() {
            total - paid
        } else {
            0
        };
        // Entering amounts on a voided transaction brings it back, as in QuickBooks' UI.
        rec.voided = rec.voided && total == 0;
        rec.edit_sequence = now.to_string();
        rec.modified = now;
        self.apply_effect(&rec, 1);
        let shown = rec.ref_number.clone().unwrap_or_default();
        self.log_write(&format!("{}Mod", kind.tag()), &rec.txn_id, &shown);
        let ret = self.txn_ret(&rec, &Shape::full());
        self.data.txns[i] = rec;
        Ok(Reply::ok(ret))
    }

    /// `TxnVoidRq`: every amount becomes zero, the memo gets QuickBooks' `VOID:` prefix, the
    /// balances lose the transaction's effect (a voided bill payment no longer pays its
    /// bills). Voiding a voided transaction answers OK and changes nothing.
    pub(super) fn txn_void(&mut self, rq: &Node) -> Handled {
        let (kind, i) = self.target(rq, "TxnVoidType")?;
        if !self.data.txns[i].voided {
            self.refuse_if_paid(&self.data.txns[i])?;
            let now = self.tick();
            let old = self.data.txns[i].clone();
            self.apply_effect(&old, -1);
            let t = &mut self.data.txns[i];
            t.voided = true;
            t.total = 0;
            t.open = 0;
            t.applied.clear();
            for l in &mut t.lines {
                l.amount = 0;
            }
            t.memo = Some(match t.memo.take() {
                Some(m) => format!("{VOID_PREFIX} {m}"),
                None => VOID_PREFIX.to_string(),
            });
            t.edit_sequence = now.to_string();
            t.modified = now;
            let (id, shown) = (t.txn_id.clone(), t.ref_number.clone().unwrap_or_default());
            self.log_write("TxnVoid", &id, &shown);
        }
        let t = &self.data.txns[i];
        let mut body = format!(
            "<TxnVoidType>{}</TxnVoidType><TxnID>{}</TxnID><TimeCreated>{}</TimeCreated><TimeModified>{}</TimeModified>",
            kind.tag(),
            escape(&t.txn_id),
            iso_time(t.created),
            iso_time(t.modified)
        );
        push_ref_number(&mut body, t);
        Ok(Reply::ok(body))
    }

    /// `TxnDelRq`: the transaction is gone and the balances lose its effect (a deleted bill
    /// payment no longer pays its bills).
    pub(super) fn txn_del(&mut self, rq: &Node) -> Handled {
        let (kind, i) = self.target(rq, "TxnDelType")?;
        self.refuse_if_paid(&self.data.txns[i])?;
        let now = self.tick();
        let t = self.data.txns.remove(i);
        self.apply_effect(&t, -1);
        self.log_write("TxnDel", &t.txn_id, t.ref_number.as_deref().unwrap_or(""));
        let mut body = format!(
            "<TxnDelType>{}</TxnDelType><TxnID>{}</TxnID><TimeDeleted>{}</TimeDeleted>",
            kind.tag(),
            escape(&t.txn_id),
            iso_time(now)
        );
        push_ref_number(&mut body, &t);
        Ok(Reply::ok(body))
    }

    /// The transaction a void or delete names: 3120 when the file has no transaction of
    /// that type with that TxnID, 3260 when the "Login as" user may not write the type.
    fn target(&self, rq: &Node, type_element: &str) -> Result<(TxnKind, usize), Reply> {
        let id = rq.text_of("TxnID").unwrap_or("");
        let kind = rq
            .text_of(type_element)
            .and_then(TxnKind::from_tag)
            .ok_or_else(|| object_not_found(id))?;
        let i = self.txn_position(kind, id)?;
        // The void and delete requests name no area themselves; QuickBooks checks the
        // transaction type's.
        if let Some(area) = permission_area(kind.tag())
            && self.role().map_or(Access::None, |r| r.access(area)) < Access::Full
        {
            return Err(Reply::error(
                3260,
                "Insufficient permission level to perform this action.",
            ));
        }
        Ok((kind, i))
    }

    fn txn_position(&self, kind: TxnKind, id: &str) -> Result<usize, Reply> {
        self.data
            .txns
            .iter()
            .position(|t| t.kind == kind && t.txn_id == id)
            .ok_or_else(|| object_not_found(id))
    }

    /// A bill that payments are applied to stays as it is: voiding or deleting it would
    /// leave those payments pointing at nothing. 3210, as for other amounts QuickBooks
    /// refuses; void or delete the payments first.
    fn refuse_if_paid(&self, t: &TxnRecord) -> Result<(), Reply> {
        if t.kind == TxnKind::Bill && t.total != t.open {
            return Err(Reply::error(
                3210,
                format!(
                    "The bill \"{}\" has payments applied to it; void or delete the bill payments first.",
                    t.ref_number.as_deref().unwrap_or(&t.txn_id)
                ),
            ));
        }
        Ok(())
    }

    /// The ListID a header reference (`CustomerRef`, `AccountRef`, …) names, if given.
    fn header_ref(&self, node: &Node, element: Option<&str>) -> Option<String> {
        self.ref_id(node.child(element?)?)
    }

    /// Adds (`sign` 1) or takes back (`sign` -1) what `t` does to balances and bills.
    fn apply_effect(&mut self, t: &TxnRecord, sign: i64) {
        let delta = t.kind.balance_sign() * t.total;
        if let Some(e) = &t.entity
            && let Some(l) = self.data.lists.iter_mut().find(|l| &l.list_id == e)
        {
            l.balance += sign * delta;
        }
        for (bill, amount) in &t.applied {
            if let Some(b) = self.data.txns.iter_mut().find(|b| &b.txn_id == bill) {
                b.open -= sign * amount;
            }
        }
    }

    /// The bills a payment applies to, with 3120 for an unknown bill and 3210 for paying
    /// more than is due.
    fn bill_payments(&self, add: &Node) -> Result<Vec<(String, i64)>, Reply> {
        let mut out: Vec<(String, i64)> = Vec::new();
        for a in add.children_named("AppliedToTxnAdd") {
            let id = a.text_of("TxnID").unwrap_or("");
            let bill = self
                .data
                .txns
                .iter()
                .find(|t| t.kind == TxnKind::Bill && t.txn_id == id)
                .ok_or_else(|| object_not_found(id))?;
            let amount = a.text_of("PaymentAmount").map_or(Ok(bill.open), amount)?;
            let already: i64 = out.iter().filter(|(b, _)| b == id).map(|(_, a)| a).sum();
            if amount + already > bill.open {
                return Err(Reply::error(
                    3210,
                    "You cannot pay more than the amount due.",
                ));
            }
            out.push((id.to_string(), amount));
        }
        Ok(out)
    }
}

/// A Mod's value for a text field: the one given, none when sent empty (QuickBooks clears
/// a field sent empty), else the old one.
fn replaced(given: Option<&str>, old: &Option<String>) -> Option<String> {
    match given {
        Some("") => None,
        Some(v) => Some(v.to_string()),
        None => old.clone(),
    }
}

fn push_ref_number(body: &mut String, t: &TxnRecord) {
    if let Some(r) = &t.ref_number {
        body.push_str(&format!("<RefNumber>{}</RefNumber>", escape(r)));
    }
}

fn lines_total(lines: &[TxnLine]) -> i64 {
    lines
        .iter()
        .fold(0i64, |acc, l| acc.saturating_add(l.amount))
}

/// A journal entry's total; its debits and credits must balance. Journal lines are not
/// kept (see the module documentation).
fn journal_total(add: &Node) -> Result<i64, Reply> {
    let sum = |name: &str| -> Result<i64, Reply> {
        add.children_named(name)
            .map(|l| l.text_of("Amount").map_or(Ok(0), amount))
            .try_fold(0i64, |acc, a| Ok(acc.saturating_add(a?)))
    };
    let (debits, credits) = (sum("JournalDebitLine")?, sum("JournalCreditLine")?);
    if debits != credits {
        return Err(Reply::error(
            3210,
            "The transaction is not in balance.  Make sure the amounts in the debit column equal the amounts in the credit column.",
        ));
    }
    Ok(debits)
}
