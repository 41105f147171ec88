//! `CreditCardChargeAdd` and `CreditCardCreditAdd`: card spend and card refunds (Ramp card
//! transactions). Both requests have the same body, so one builder makes either.

use crate::text::TextPolicy;

use super::bill::{ExpenseLine, ItemLine, write_lines};
use super::common::{BuildError, Built, Date, Ref, setters};
use super::xml::Writer;

/// A credit-card charge or credit.
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{BillableStatus, CreditCardAdd, ExpenseLine, Ref};
/// let built = CreditCardAdd::charge(Ref::full_name("Ramp Card"))
///     .payee_entity_ref(Ref::full_name("Hôtel Lutetia"))
///     .expense_line(
///         ExpenseLine::new(Ref::full_name("Travel:Lodging"), Amount::parse("1134.56").unwrap())
///             .customer_ref(Ref::full_name("Acme Corp:Website rebuild"))
///             .billable_status(BillableStatus::Billable),
///     )
///     .build()
///     .unwrap();
/// assert!(built.qbxml.starts_with("<CreditCardChargeAddRq><CreditCardChargeAdd>"));
/// ```
#[derive(Debug, Clone)]
pub struct CreditCardAdd {
    request: &'static str,
    account_ref: Ref,
    payee_entity_ref: Option<Ref>,
    txn_date: Option<Date>,
    ref_number: Option<String>,
    memo: Option<String>,
    is_tax_included: Option<bool>,
    sales_tax_code_ref: Option<Ref>,
    external_guid: Option<String>,
    expense_lines: Vec<ExpenseLine>,
    item_lines: Vec<ItemLine>,
    policy: TextPolicy,
}

impl CreditCardAdd {
    /// `CreditCardChargeAdd`: spend on the credit-card account `account_ref`.
    pub fn charge(account_ref: Ref) -> Self {
        Self::new("CreditCardChargeAdd", account_ref)
    }

    /// `CreditCardCreditAdd`: a refund to the credit-card account `account_ref`.
    pub fn credit(account_ref: Ref) -> Self {
        Self::new("CreditCardCreditAdd", account_ref)
    }

    fn new(request: &'static str, account_ref: Ref) -> Self {
        CreditCardAdd {
            request,
            account_ref,
            payee_entity_ref: None,
            txn_date: None,
            ref_number: None,
            memo: None,
            is_tax_included: None,
            sales_tax_code_ref: None,
            external_guid: None,
            expense_lines: Vec::new(),
            item_lines: Vec::new(),
            policy: TextPolicy::default(),
        }
    }

    setters! {
        /// The merchant (vendor or other name).
        payee_entity_ref: Ref,
        /// Transaction date.
        txn_date: Date,
        /// Reference number (11 characters; see [`crate::id::ref_number`]).
        ref_number: String,
        /// Memo (4095 characters).
        memo: String,
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

    /// The `<CreditCardChargeAddRq>` or `<CreditCardCreditAddRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add(self.request, self.policy);
        w.reference("AccountRef", Some(&self.account_ref));
        w.reference("PayeeEntityRef", self.payee_entity_ref.as_ref());
        w.date("TxnDate", self.txn_date);
        w.text("RefNumber", self.ref_number.as_deref(), 11);
        w.text("Memo", self.memo.as_deref(), 4095);
        w.boolean("IsTaxIncluded", self.is_tax_included);
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        w.guid("ExternalGUID", self.external_guid.as_deref());
        write_lines(&mut w, &self.expense_lines, &self.item_lines);
        w.finish()
    }
}
