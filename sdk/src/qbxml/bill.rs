//! `BillAdd`, and the expense and item lines that bills, checks and credit-card charges and
//! credits share.

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::common::{Address, BuildError, Built, Date, Ref, setters};
use super::xml::Writer;

/// Whether a line's cost can be passed on to the customer it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillableStatus {
    /// Billable to the customer, not yet invoiced.
    Billable,
    /// Not billable.
    NotBillable,
    /// Already invoiced.
    HasBeenBilled,
}

impl BillableStatus {
    fn as_str(self) -> &'static str {
        match self {
            BillableStatus::Billable => "Billable",
            BillableStatus::NotBillable => "NotBillable",
            BillableStatus::HasBeenBilled => "HasBeenBilled",
        }
    }
}

/// An expense line (`ExpenseLineAdd`): an amount posted straight to an account, optionally
/// for a customer:job and class. Used by [`BillAdd`], [`crate::qbxml::CheckAdd`] and the
/// credit-card builders.
#[derive(Debug, Clone)]
pub struct ExpenseLine {
    account_ref: Ref,
    amount: Amount,
    memo: Option<String>,
    customer_ref: Option<Ref>,
    class_ref: Option<Ref>,
    sales_tax_code_ref: Option<Ref>,
    billable_status: Option<BillableStatus>,
}

impl ExpenseLine {
    /// `amount` (rounded to cents) posted to `account_ref`.
    pub fn new(account_ref: Ref, amount: Amount) -> Self {
        ExpenseLine {
            account_ref,
            amount,
            memo: None,
            customer_ref: None,
            class_ref: None,
            sales_tax_code_ref: None,
            billable_status: None,
        }
    }

    setters! {
        /// Line memo (4095 characters).
        memo: String,
        /// The customer:job the expense is for.
        customer_ref: Ref,
        /// Class.
        class_ref: Ref,
        /// Sales tax code.
        sales_tax_code_ref: Ref,
        /// Whether the expense can be billed to the customer.
        billable_status: BillableStatus,
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.reference("AccountRef", Some(&self.account_ref));
        w.amount("Amount", Some(self.amount));
        w.text("Memo", self.memo.as_deref(), 4095);
        w.reference("CustomerRef", self.customer_ref.as_ref());
        w.reference("ClassRef", self.class_ref.as_ref());
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        billable(w, self.billable_status);
    }
}

/// An item line (`ItemLineAdd`) of a bill, check or credit-card charge or credit.
#[derive(Debug, Clone)]
pub struct ItemLine {
    item_ref: Ref,
    desc: Option<String>,
    quantity: Option<Amount>,
    unit_of_measure: Option<String>,
    cost: Option<Amount>,
    amount: Option<Amount>,
    customer_ref: Option<Ref>,
    class_ref: Option<Ref>,
    sales_tax_code_ref: Option<Ref>,
    billable_status: Option<BillableStatus>,
    override_item_account_ref: Option<Ref>,
}

impl ItemLine {
    /// A line for `item_ref`; give an amount, or a quantity and cost.
    pub fn new(item_ref: Ref) -> Self {
        ItemLine {
            item_ref,
            desc: None,
            quantity: None,
            unit_of_measure: None,
            cost: None,
            amount: None,
            customer_ref: None,
            class_ref: None,
            sales_tax_code_ref: None,
            billable_status: None,
            override_item_account_ref: None,
        }
    }

    setters! {
        /// Description (4095 characters).
        desc: String,
        /// Quantity (up to 5 decimals).
        quantity: Amount,
        /// Unit of measure (31 characters).
        unit_of_measure: String,
        /// Cost per unit (up to 5 decimals).
        cost: Amount,
        /// Line amount (rounded to cents).
        amount: Amount,
        /// The customer:job the cost is for.
        customer_ref: Ref,
        /// Class.
        class_ref: Ref,
        /// Sales tax code.
        sales_tax_code_ref: Ref,
        /// Whether the cost can be billed to the customer.
        billable_status: BillableStatus,
        /// Post to this account instead of the item's.
        override_item_account_ref: Ref,
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.reference("ItemRef", Some(&self.item_ref));
        w.text("Desc", self.desc.as_deref(), 4095);
        w.price("Quantity", self.quantity);
        w.text("UnitOfMeasure", self.unit_of_measure.as_deref(), 31);
        w.price("Cost", self.cost);
        w.amount("Amount", self.amount);
        w.reference("CustomerRef", self.customer_ref.as_ref());
        w.reference("ClassRef", self.class_ref.as_ref());
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        billable(w, self.billable_status);
        w.reference(
            "OverrideItemAccountRef",
            self.override_item_account_ref.as_ref(),
        );
    }
}

pub(crate) fn billable(w: &mut Writer, status: Option<BillableStatus>) {
    if let Some(s) = status {
        w.raw("BillableStatus", s.as_str());
    }
}

/// Expense lines then item lines, as every purchase transaction orders them; at least one.
pub(crate) fn write_lines(w: &mut Writer, expenses: &[ExpenseLine], items: &[ItemLine]) {
    if expenses.is_empty() && items.is_empty() {
        let request = w.field("");
        w.fail(BuildError::Missing {
            request,
            what: "at least one expense or item line",
        });
    }
    for (i, line) in expenses.iter().enumerate() {
        w.item("ExpenseLineAdd", i, |w| line.write(w));
    }
    for (i, line) in items.iter().enumerate() {
        w.item("ItemLineAdd", i, |w| line.write(w));
    }
}

/// `BillAdd`: a vendor bill (accounts payable).
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{BillAdd, ExpenseLine, Ref};
/// let built = BillAdd::new(Ref::full_name("Northwind Supplies"))
///     .ref_number("INV-2025-0042")
///     .expense_line(ExpenseLine::new(
///         Ref::full_name("Office Supplies"),
///         Amount::from_cents(12_500_00),
///     ))
///     .build()
///     .unwrap();
/// assert!(built.qbxml.contains("<Amount>12500.00</Amount>"));
/// ```
///
/// Made with [`vendor_credit`](Self::vendor_credit) it is `VendorCreditAdd`: money a vendor
/// owes back (a refund or credit note), with the same lines.
#[derive(Debug, Clone)]
pub struct BillAdd {
    request: &'static str,
    vendor_ref: Ref,
    vendor_address: Option<Address>,
    ap_account_ref: Option<Ref>,
    txn_date: Option<Date>,
    due_date: Option<Date>,
    ref_number: Option<String>,
    terms_ref: Option<Ref>,
    memo: Option<String>,
    is_tax_included: Option<bool>,
    sales_tax_code_ref: Option<Ref>,
    external_guid: Option<String>,
    expense_lines: Vec<ExpenseLine>,
    item_lines: Vec<ItemLine>,
    policy: TextPolicy,
}

impl BillAdd {
    /// A bill from `vendor_ref`; add at least one line.
    pub fn new(vendor_ref: Ref) -> Self {
        BillAdd {
            request: "BillAdd",
            vendor_ref,
            vendor_address: None,
            ap_account_ref: None,
            txn_date: None,
            due_date: None,
            ref_number: None,
            terms_ref: None,
            memo: None,
            is_tax_included: None,
            sales_tax_code_ref: None,
            external_guid: None,
            expense_lines: Vec::new(),
            item_lines: Vec::new(),
            policy: TextPolicy::default(),
        }
    }

    /// A `VendorCreditAdd` from `vendor_ref`: positive amounts the vendor credits back. It has
    /// no vendor address, due date or terms; setting them makes [`build`](Self::build) fail.
    pub fn vendor_credit(vendor_ref: Ref) -> Self {
        BillAdd {
            request: "VendorCreditAdd",
            ..BillAdd::new(vendor_ref)
        }
    }

    setters! {
        /// Vendor address for this bill.
        vendor_address: Address,
        /// Accounts-payable account (default: QuickBooks' A/P).
        ap_account_ref: Ref,
        /// Bill date.
        txn_date: Date,
        /// Due date.
        due_date: Date,
        /// The vendor's invoice number (20 characters; see [`crate::id::ref_number`]).
        ref_number: String,
        /// Payment terms.
        terms_ref: Ref,
        /// Memo (4095 characters).
        memo: String,
        /// Whether amounts include tax (non-US editions).
        is_tax_included: bool,
        /// Sales tax code.
        sales_tax_code_ref: Ref,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
    }

    /// Add an expense line (expense lines come before item lines in the request).
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

    /// The `<BillAddRq>` (or `<VendorCreditAddRq>`) element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add(self.request, self.policy);
        if self.request == "VendorCreditAdd"
            && (self.vendor_address.is_some()
                || self.due_date.is_some()
                || self.terms_ref.is_some())
        {
            let request = w.field("");
            w.fail(BuildError::Missing {
                request,
                what: "no vendor address, due date or terms (a vendor credit has none)",
            });
        }
        w.reference("VendorRef", Some(&self.vendor_ref));
        w.address("VendorAddress", self.vendor_address.as_ref());
        w.reference("APAccountRef", self.ap_account_ref.as_ref());
        w.date("TxnDate", self.txn_date);
        w.date("DueDate", self.due_date);
        w.text("RefNumber", self.ref_number.as_deref(), 20);
        w.reference("TermsRef", self.terms_ref.as_ref());
        w.text("Memo", self.memo.as_deref(), 4095);
        w.boolean("IsTaxIncluded", self.is_tax_included);
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        w.guid("ExternalGUID", self.external_guid.as_deref());
        write_lines(&mut w, &self.expense_lines, &self.item_lines);
        w.finish()
    }
}
