//! `PurchaseOrderAdd` and its lines.

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::common::{Address, BuildError, Built, Date, Ref, setters};
use super::xml::Writer;

/// One `PurchaseOrderLineAdd`.
#[derive(Debug, Clone, Default)]
pub struct PurchaseOrderLine {
    item_ref: Option<Ref>,
    manufacturer_part_number: Option<String>,
    desc: Option<String>,
    quantity: Option<Amount>,
    unit_of_measure: Option<String>,
    rate: Option<Amount>,
    class_ref: Option<Ref>,
    amount: Option<Amount>,
    customer_ref: Option<Ref>,
    service_date: Option<Date>,
    sales_tax_code_ref: Option<Ref>,
    override_item_account_ref: Option<Ref>,
    other1: Option<String>,
    other2: Option<String>,
}

impl PurchaseOrderLine {
    /// A line ordering `item_ref`; give a quantity and rate, or an amount.
    pub fn new(item_ref: Ref) -> Self {
        PurchaseOrderLine {
            item_ref: Some(item_ref),
            ..PurchaseOrderLine::default()
        }
    }

    setters! {
        /// Manufacturer's part number (31 characters).
        manufacturer_part_number: String,
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
        /// The customer:job the goods are for.
        customer_ref: Ref,
        /// Service date.
        service_date: Date,
        /// Sales tax code.
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
        w.text(
            "ManufacturerPartNumber",
            self.manufacturer_part_number.as_deref(),
            31,
        );
        w.text("Desc", self.desc.as_deref(), 4095);
        w.price("Quantity", self.quantity);
        w.text("UnitOfMeasure", self.unit_of_measure.as_deref(), 31);
        w.price("Rate", self.rate);
        w.reference("ClassRef", self.class_ref.as_ref());
        w.amount("Amount", self.amount);
        w.reference("CustomerRef", self.customer_ref.as_ref());
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

/// `PurchaseOrderAdd`: an order to a vendor (no accounting effect until billed).
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{PurchaseOrderAdd, PurchaseOrderLine, Ref};
/// let built = PurchaseOrderAdd::new(Ref::full_name("Ingram Micro"))
///     .line(
///         PurchaseOrderLine::new(Ref::full_name("Hardware:Switch 24p"))
///             .quantity(Amount::parse("2").unwrap())
///             .rate(Amount::parse("349.99").unwrap()),
///     )
///     .build()
///     .unwrap();
/// assert!(built.qbxml.contains("<Quantity>2</Quantity><Rate>349.99</Rate>"));
/// ```
#[derive(Debug, Clone)]
pub struct PurchaseOrderAdd {
    vendor_ref: Ref,
    class_ref: Option<Ref>,
    ship_to_entity_ref: Option<Ref>,
    template_ref: Option<Ref>,
    txn_date: Option<Date>,
    ref_number: Option<String>,
    vendor_address: Option<Address>,
    ship_address: Option<Address>,
    terms_ref: Option<Ref>,
    due_date: Option<Date>,
    expected_date: Option<Date>,
    ship_method_ref: Option<Ref>,
    fob: Option<String>,
    memo: Option<String>,
    vendor_msg: Option<String>,
    is_to_be_printed: Option<bool>,
    is_to_be_emailed: Option<bool>,
    is_tax_included: Option<bool>,
    sales_tax_code_ref: Option<Ref>,
    other1: Option<String>,
    other2: Option<String>,
    external_guid: Option<String>,
    lines: Vec<PurchaseOrderLine>,
    policy: TextPolicy,
}

impl PurchaseOrderAdd {
    /// A purchase order to `vendor_ref`; add at least one line.
    pub fn new(vendor_ref: Ref) -> Self {
        PurchaseOrderAdd {
            vendor_ref,
            class_ref: None,
            ship_to_entity_ref: None,
            template_ref: None,
            txn_date: None,
            ref_number: None,
            vendor_address: None,
            ship_address: None,
            terms_ref: None,
            due_date: None,
            expected_date: None,
            ship_method_ref: None,
            fob: None,
            memo: None,
            vendor_msg: None,
            is_to_be_printed: None,
            is_to_be_emailed: None,
            is_tax_included: None,
            sales_tax_code_ref: None,
            other1: None,
            other2: None,
            external_guid: None,
            lines: Vec::new(),
            policy: TextPolicy::default(),
        }
    }

    setters! {
        /// Class.
        class_ref: Ref,
        /// Customer (or other name) the goods ship to (drop-ship).
        ship_to_entity_ref: Ref,
        /// Form template.
        template_ref: Ref,
        /// Order date.
        txn_date: Date,
        /// PO number (11 characters; see [`crate::id::ref_number`]).
        ref_number: String,
        /// Vendor address.
        vendor_address: Address,
        /// Ship-to address.
        ship_address: Address,
        /// Payment terms.
        terms_ref: Ref,
        /// Due date.
        due_date: Date,
        /// Expected delivery date.
        expected_date: Date,
        /// Ship method.
        ship_method_ref: Ref,
        /// FOB (13 characters).
        fob: String,
        /// Memo (4095 characters).
        memo: String,
        /// Message to the vendor (99 characters).
        vendor_msg: String,
        /// Whether the order is queued for printing.
        is_to_be_printed: bool,
        /// Whether the order is queued for e-mailing.
        is_to_be_emailed: bool,
        /// Whether amounts include tax (non-US editions).
        is_tax_included: bool,
        /// Sales tax code.
        sales_tax_code_ref: Ref,
        /// Custom field Other1 (25 characters).
        other1: String,
        /// Custom field Other2 (29 characters).
        other2: String,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
    }

    /// Add a line.
    pub fn line(mut self, line: PurchaseOrderLine) -> Self {
        self.lines.push(line);
        self
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<PurchaseOrderAddRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add("PurchaseOrderAdd", self.policy);
        w.reference("VendorRef", Some(&self.vendor_ref));
        w.reference("ClassRef", self.class_ref.as_ref());
        w.reference("ShipToEntityRef", self.ship_to_entity_ref.as_ref());
        w.reference("TemplateRef", self.template_ref.as_ref());
        w.date("TxnDate", self.txn_date);
        w.text("RefNumber", self.ref_number.as_deref(), 11);
        w.address("VendorAddress", self.vendor_address.as_ref());
        w.address("ShipAddress", self.ship_address.as_ref());
        w.reference("TermsRef", self.terms_ref.as_ref());
        w.date("DueDate", self.due_date);
        w.date("ExpectedDate", self.expected_date);
        w.reference("ShipMethodRef", self.ship_method_ref.as_ref());
        w.text("FOB", self.fob.as_deref(), 13);
        w.text("Memo", self.memo.as_deref(), 4095);
        w.text("VendorMsg", self.vendor_msg.as_deref(), 99);
        w.boolean("IsToBePrinted", self.is_to_be_printed);
        w.boolean("IsToBeEmailed", self.is_to_be_emailed);
        w.boolean("IsTaxIncluded", self.is_tax_included);
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        w.text("Other1", self.other1.as_deref(), 25);
        w.text("Other2", self.other2.as_deref(), 29);
        w.guid("ExternalGUID", self.external_guid.as_deref());
        let before = w.written();
        for (i, line) in self.lines.iter().enumerate() {
            w.item("PurchaseOrderLineAdd", i, |w| line.write(w));
        }
        // The schema requires at least one line element.
        if w.written() == before {
            w.fail(BuildError::Missing {
                request: "PurchaseOrderAdd".to_owned(),
                what: "at least one line",
            });
        }
        w.finish()
    }
}
