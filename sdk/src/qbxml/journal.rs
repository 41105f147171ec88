//! `JournalEntryAdd`: balanced general-journal entries.

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::bill::{BillableStatus, billable};
use super::common::{BuildError, Built, Date, Ref, setters};
use super::xml::Writer;

/// One debit or credit line of a journal entry.
#[derive(Debug, Clone)]
pub struct JournalLine {
    debit: bool,
    account_ref: Ref,
    amount: Amount,
    memo: Option<String>,
    entity_ref: Option<Ref>,
    class_ref: Option<Ref>,
    billable_status: Option<BillableStatus>,
}

impl JournalLine {
    /// Debit `amount` to `account_ref`.
    pub fn debit(account_ref: Ref, amount: Amount) -> Self {
        Self::new(true, account_ref, amount)
    }

    /// Credit `amount` to `account_ref`.
    pub fn credit(account_ref: Ref, amount: Amount) -> Self {
        Self::new(false, account_ref, amount)
    }

    fn new(debit: bool, account_ref: Ref, amount: Amount) -> Self {
        JournalLine {
            debit,
            account_ref,
            amount,
            memo: None,
            entity_ref: None,
            class_ref: None,
            billable_status: None,
        }
    }

    setters! {
        /// Line memo (4095 characters).
        memo: String,
        /// Customer, vendor, employee or other name (required by QuickBooks on A/R and A/P
        /// lines).
        entity_ref: Ref,
        /// Class.
        class_ref: Ref,
        /// Whether the line can be billed to the customer.
        billable_status: BillableStatus,
    }

    fn write(&self, w: &mut Writer) {
        w.reference("AccountRef", Some(&self.account_ref));
        w.amount("Amount", Some(self.amount));
        w.text("Memo", self.memo.as_deref(), 4095);
        w.reference("EntityRef", self.entity_ref.as_ref());
        w.reference("ClassRef", self.class_ref.as_ref());
        billable(w, self.billable_status);
    }
}

/// `JournalEntryAdd`. The debit and credit lines must balance to the cent (after each amount
/// is rounded as it is sent); an unbalanced entry is refused by [`build`](Self::build).
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{JournalEntryAdd, JournalLine, Ref};
/// let hundred = Amount::parse("100").unwrap();
/// let entry = JournalEntryAdd::new()
///     .line(JournalLine::debit(Ref::full_name("Prepaid Expenses"), hundred))
///     .line(JournalLine::credit(Ref::full_name("Checking"), hundred));
/// assert!(entry.build().is_ok());
/// let unbalanced = entry.line(JournalLine::credit(Ref::full_name("Checking"), Amount::from_cents(1)));
/// assert!(unbalanced.build().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct JournalEntryAdd {
    txn_date: Option<Date>,
    ref_number: Option<String>,
    memo: Option<String>,
    is_adjustment: Option<bool>,
    external_guid: Option<String>,
    lines: Vec<JournalLine>,
    policy: TextPolicy,
}

impl JournalEntryAdd {
    /// An empty journal entry; add balanced lines.
    pub fn new() -> Self {
        JournalEntryAdd::default()
    }

    setters! {
        /// Entry date.
        txn_date: Date,
        /// Entry number (11 characters).
        ref_number: String,
        /// Memo (4095 characters).
        memo: String,
        /// Whether this is an adjusting entry.
        is_adjustment: bool,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
    }

    /// Add a debit or credit line; lines are sent in the order added.
    pub fn line(mut self, line: JournalLine) -> Self {
        self.lines.push(line);
        self
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<JournalEntryAddRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add("JournalEntryAdd", self.policy);
        w.date("TxnDate", self.txn_date);
        w.text("RefNumber", self.ref_number.as_deref(), 11);
        // The XSD sets no limit on the header memo; 4095 is the limit of every other memo.
        w.text("Memo", self.memo.as_deref(), 4095);
        w.boolean("IsAdjustment", self.is_adjustment);
        w.guid("ExternalGUID", self.external_guid.as_deref());
        if let Err(e) = self.check_balance() {
            w.fail(e);
        }
        for (i, line) in self.lines.iter().enumerate() {
            let tag = if line.debit {
                "JournalDebitLine"
            } else {
                "JournalCreditLine"
            };
            w.item(tag, i, |w| line.write(w));
        }
        w.finish()
    }

    fn check_balance(&self) -> Result<(), BuildError> {
        let total = |debit: bool| {
            self.lines
                .iter()
                .filter(|l| l.debit == debit)
                .try_fold(Amount::ZERO, |sum, l| sum.checked_add(l.amount.rounded(2)))
        };
        let amount_error = |source| BuildError::Amount {
            field: "JournalEntryAdd lines".to_owned(),
            source,
        };
        let debits = total(true).map_err(amount_error)?;
        let credits = total(false).map_err(amount_error)?;
        let has_both = self.lines.iter().any(|l| l.debit) && self.lines.iter().any(|l| !l.debit);
        if !has_both {
            return Err(BuildError::Missing {
                request: "JournalEntryAdd".to_owned(),
                what: "at least one debit line and one credit line",
            });
        }
        if debits != credits {
            return Err(BuildError::Unbalanced {
                debits: debits.to_string(),
                credits: credits.to_string(),
            });
        }
        Ok(())
    }
}
