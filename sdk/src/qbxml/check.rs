//! `CheckAdd`: a check (or other bank payment) written straight to expense or item lines.

use crate::text::TextPolicy;

use super::bill::{ExpenseLine, ItemLine, write_lines};
use super::common::{Address, BuildError, Built, Date, Ref, setters};
use super::xml::Writer;

/// `CheckAdd` from the bank account `account_ref`.
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{CheckAdd, ExpenseLine, Ref};
/// let built = CheckAdd::new(Ref::full_name("Checking"))
///     .payee_entity_ref(Ref::full_name("City Water"))
///     .ref_number("1042")
///     .expense_line(ExpenseLine::new(Ref::full_name("Utilities"), Amount::from_cents(8_990)))
///     .build()
///     .unwrap();
/// assert!(built.qbxml.contains("<RefNumber>1042</RefNumber>"));
/// ```
#[derive(Debug, Clone)]
pub struct CheckAdd {
    account_ref: Ref,
    payee_entity_ref: Option<Ref>,
    ref_number: Option<String>,
    txn_date: Option<Date>,
    memo: Option<String>,
    address: Option<Address>,
    is_to_be_printed: Option<bool>,
    is_tax_included: Option<bool>,
    sales_tax_code_ref: Option<Ref>,
    external_guid: Option<String>,
    expense_lines: Vec<ExpenseLine>,
    item_lines: Vec<ItemLine>,
    policy: TextPolicy,
}

impl CheckAdd {
    /// A check drawn on `account_ref`; add at least one line.
    pub fn new(account_ref: Ref) -> Self {
        CheckAdd {
            account_ref,
            payee_entity_ref: None,
            ref_number: None,
            txn_date: None,
            memo: None,
            address: None,
            is_to_be_printed: None,
            is_tax_included: None,
            sales_tax_code_ref: None,
            external_guid: None,
            expense_lines: Vec::new(),
            item_lines: Vec::new(),
            policy: TextPolicy::default(),
        }
    }

    setters! {
        /// The payee.
        payee_entity_ref: Ref,
        /// Check number (11 characters).
        ref_number: String,
        /// Check date.
        txn_date: Date,
        /// Memo (4095 characters).
        memo: String,
        /// Payee address printed on the check.
        address: Address,
        /// Whether the check is queued for printing.
        is_to_be_printed: bool,
        /// Whether amounts include tax (non-US editions).
        is_tax_included: bool,
        /// Sales tax code.
        sales_tax_code_ref: Ref,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
    }

    /// Add an expense line.
    pub fn expense_line(mut self, line: ExpenseLine) -> Self {
        self.expense_lines.push(line);
        self
    }

    /// Add an item line.
    pub fn item_line(mut self, line: ItemLine) -> Self {
        self.item_lines.push(line);
        self
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<CheckAddRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add("CheckAdd", self.policy);
        w.reference("AccountRef", Some(&self.account_ref));
        w.reference("PayeeEntityRef", self.payee_entity_ref.as_ref());
        w.text("RefNumber", self.ref_number.as_deref(), 11);
        w.date("TxnDate", self.txn_date);
        w.text("Memo", self.memo.as_deref(), 4095);
        w.address("Address", self.address.as_ref());
        w.boolean("IsToBePrinted", self.is_to_be_printed);
        w.boolean("IsTaxIncluded", self.is_tax_included);
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        w.guid("ExternalGUID", self.external_guid.as_deref());
        write_lines(&mut w, &self.expense_lines, &self.item_lines);
        w.finish()
    }
}
