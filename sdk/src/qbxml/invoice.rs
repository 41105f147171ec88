//! `InvoiceAdd` and `CreditMemoAdd` (the same body) and their lines.

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::common::{Address, BuildError, Built, Date, Ref, setters};
use super::xml::Writer;

/// One `InvoiceLineAdd` (or `CreditMemoLineAdd`: the same fields).
#[derive(Debug, Clone, Default)]
pub struct InvoiceLine {
    item_ref: Option<Ref>,
    desc: Option<String>,
    quantity: Option<Amount>,
    unit_of_measure: Option<String>,
    rate: Option<Amount>,
    class_ref: Option<Ref>,
    amount: Option<Amount>,
    service_date: Option<Date>,
    sales_tax_code_ref: Option<Ref>,
    override_item_account_ref: Option<Ref>,
    other1: Option<String>,
    other2: Option<String>,
}

impl InvoiceLine {
    /// A line selling `item_ref`; give an amount, or a quantity and rate (QuickBooks then
    /// computes the amount).
    pub fn new(item_ref: Ref) -> Self {
        InvoiceLine {
            item_ref: Some(item_ref),
            ..InvoiceLine::default()
        }
    }

    /// A description-only line (no item, no amount), e.g. a comment.
    pub fn text(desc: impl Into<String>) -> Self {
        InvoiceLine {
            desc: Some(desc.into()),
            ..InvoiceLine::default()
        }
    }

    setters! {
        /// Description (4095 characters).
        desc: String,
        /// Quantity (up to 5 decimals).
        quantity: Amount,
        /// Unit of measure (31 characters).
        unit_of_measure: String,
        /// Price per unit (up to 5 decimals).
        rate: Amount,
        /// Class.
        class_ref: Ref,
        /// Line amount (rounded to cents).
        amount: Amount,
        /// Date the service was performed.
        service_date: Date,
        /// Sales tax code (`Tax`, `Non`).
        sales_tax_code_ref: Ref,
        /// Post to this account instead of the item's.
        override_item_account_ref: Ref,
        /// Custom field Other1 (29 characters).
        other1: String,
        /// Custom field Other2 (29 characters).
        other2: String,
    }

    fn write(&self, w: &mut Writer) {
        w.reference("ItemRef", self.item_ref.as_ref());
        w.text("Desc", self.desc.as_deref(), 4095);
        w.price("Quantity", self.quantity);
        w.text("UnitOfMeasure", self.unit_of_measure.as_deref(), 31);
        w.price("Rate", self.rate);
        w.reference("ClassRef", self.class_ref.as_ref());
        w.amount("Amount", self.amount);
        w.date("ServiceDate", self.service_date);
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        w.reference(
            "OverrideItemAccountRef",
            self.override_item_account_ref.as_ref(),
        );
        w.text("Other1", self.other1.as_deref(), 29);
        w.text("Other2", self.other2.as_deref(), 29);
    }
}

/// `InvoiceAdd`: a sales invoice (accounts receivable); or, made with
/// [`credit_memo`](Self::credit_memo), `CreditMemoAdd`, which has the same fields (use it for
/// a negative total: QuickBooks' handling of negative invoices is not documented).
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{Date, InvoiceAdd, InvoiceLine, Ref};
/// let built = InvoiceAdd::new(Ref::full_name("Acme Corp"))
///     .ref_number("10457")
///     .txn_date(Date::parse("2025-03-01T00:00:00Z").unwrap())
///     .line(
///         InvoiceLine::new(Ref::full_name("Labor:Remote Support"))
///             .quantity(Amount::parse("12.5").unwrap())
///             .rate(Amount::parse("140").unwrap())
///             .amount(Amount::parse("1750").unwrap()),
///     )
///     .build()
///     .unwrap();
/// assert!(built.qbxml.contains("<TxnDate>2025-03-01</TxnDate><RefNumber>10457</RefNumber>"));
/// ```
#[derive(Debug, Clone)]
pub struct InvoiceAdd {
    request: &'static str,
    customer_ref: Ref,
    class_ref: Option<Ref>,
    ar_account_ref: Option<Ref>,
    template_ref: Option<Ref>,
    txn_date: Option<Date>,
    ref_number: Option<String>,
    bill_address: Option<Address>,
    ship_address: Option<Address>,
    is_pending: Option<bool>,
    po_number: Option<String>,
    terms_ref: Option<Ref>,
    due_date: Option<Date>,
    sales_rep_ref: Option<Ref>,
    fob: Option<String>,
    ship_date: Option<Date>,
    ship_method_ref: Option<Ref>,
    item_sales_tax_ref: Option<Ref>,
    memo: Option<String>,
    customer_msg_ref: Option<Ref>,
    is_to_be_printed: Option<bool>,
    is_to_be_emailed: Option<bool>,
    is_tax_included: Option<bool>,
    customer_sales_tax_code_ref: Option<Ref>,
    other: Option<String>,
    external_guid: Option<String>,
    lines: Vec<InvoiceLine>,
    policy: TextPolicy,
}

impl InvoiceAdd {
    /// An invoice to `customer_ref`; add at least one line.
    pub fn new(customer_ref: Ref) -> Self {
        Self::with_request("InvoiceAdd", customer_ref)
    }

    /// A credit memo (`CreditMemoAdd`) for `customer_ref`, with positive line amounts for
    /// what is credited; add at least one line.
    pub fn credit_memo(customer_ref: Ref) -> Self {
        Self::with_request("CreditMemoAdd", customer_ref)
    }

    fn with_request(request: &'static str, customer_ref: Ref) -> Self {
        InvoiceAdd {
            request,
            customer_ref,
            class_ref: None,
            ar_account_ref: None,
            template_ref: None,
            txn_date: None,
            ref_number: None,
            bill_address: None,
            ship_address: None,
            is_pending: None,
            po_number: None,
            terms_ref: None,
            due_date: None,
            sales_rep_ref: None,
            fob: None,
            ship_date: None,
            ship_method_ref: None,
            item_sales_tax_ref: None,
            memo: None,
            customer_msg_ref: None,
            is_to_be_printed: None,
            is_to_be_emailed: None,
            is_tax_included: None,
            customer_sales_tax_code_ref: None,
            other: None,
            external_guid: None,
            lines: Vec::new(),
            policy: TextPolicy::default(),
        }
    }

    setters! {
        /// Class.
        class_ref: Ref,
        /// Accounts-receivable account (default: QuickBooks' A/R).
        ar_account_ref: Ref,
        /// Invoice template.
        template_ref: Ref,
        /// Invoice date.
        txn_date: Date,
        /// Invoice number (11 characters; see [`crate::id::ref_number`]).
        ref_number: String,
        /// Billing address.
        bill_address: Address,
        /// Shipping address.
        ship_address: Address,
        /// Whether the invoice is pending (not posted).
        is_pending: bool,
        /// The customer's purchase-order number (25 characters).
        po_number: String,
        /// Payment terms.
        terms_ref: Ref,
        /// Due date.
        due_date: Date,
        /// Sales rep.
        sales_rep_ref: Ref,
        /// FOB (13 characters).
        fob: String,
        /// Ship date.
        ship_date: Date,
        /// Ship method.
        ship_method_ref: Ref,
        /// Sales tax item (US editions).
        item_sales_tax_ref: Ref,
        /// Memo (4095 characters).
        memo: String,
        /// Customer message.
        customer_msg_ref: Ref,
        /// Whether the invoice is queued for printing.
        is_to_be_printed: bool,
        /// Whether the invoice is queued for e-mailing.
        is_to_be_emailed: bool,
        /// Whether amounts include tax (non-US editions).
        is_tax_included: bool,
        /// The customer's sales tax code for this invoice.
        customer_sales_tax_code_ref: Ref,
        /// Custom field Other (29 characters).
        other: String,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
    }

    /// Add a line.
    pub fn line(mut self, line: InvoiceLine) -> Self {
        self.lines.push(line);
        self
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<InvoiceAddRq>` (or `<CreditMemoAddRq>`) element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add(self.request, self.policy);
        w.reference("CustomerRef", Some(&self.customer_ref));
        w.reference("ClassRef", self.class_ref.as_ref());
        w.reference("ARAccountRef", self.ar_account_ref.as_ref());
        w.reference("TemplateRef", self.template_ref.as_ref());
        w.date("TxnDate", self.txn_date);
        w.text("RefNumber", self.ref_number.as_deref(), 11);
        w.address("BillAddress", self.bill_address.as_ref());
        w.address("ShipAddress", self.ship_address.as_ref());
        w.boolean("IsPending", self.is_pending);
        w.text("PONumber", self.po_number.as_deref(), 25);
        w.reference("TermsRef", self.terms_ref.as_ref());
        w.date("DueDate", self.due_date);
        w.reference("SalesRepRef", self.sales_rep_ref.as_ref());
        w.text("FOB", self.fob.as_deref(), 13);
        w.date("ShipDate", self.ship_date);
        w.reference("ShipMethodRef", self.ship_method_ref.as_ref());
        w.reference("ItemSalesTaxRef", self.item_sales_tax_ref.as_ref());
        w.text("Memo", self.memo.as_deref(), 4095);
        w.reference("CustomerMsgRef", self.customer_msg_ref.as_ref());
        w.boolean("IsToBePrinted", self.is_to_be_printed);
        w.boolean("IsToBeEmailed", self.is_to_be_emailed);
        w.boolean("IsTaxIncluded", self.is_tax_included);
        w.reference(
            "CustomerSalesTaxCodeRef",
            self.customer_sales_tax_code_ref.as_ref(),
        );
        w.text("Other", self.other.as_deref(), 29);
        w.guid("ExternalGUID", self.external_guid.as_deref());
        let line_tag = if self.request == "CreditMemoAdd" {
            "CreditMemoLineAdd"
        } else {
            "InvoiceLineAdd"
        };
        let before = w.written();
        for (i, line) in self.lines.iter().enumerate() {
            w.item(line_tag, i, |w| line.write(w));
        }
        // A credit memo's schema requires a line element; an invoice needs one in practice.
        if w.written() == before {
            w.fail(BuildError::Missing {
                request: self.request.to_owned(),
                what: "at least one line",
            });
        }
        w.finish()
    }
}
