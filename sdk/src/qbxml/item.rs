//! `ItemServiceAdd`, `ItemNonInventoryAdd`, `ItemOtherChargeAdd`: the items invoice, bill and
//! purchase-order lines refer to.

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::common::{BuildError, Built, Ref, setters};
use super::xml::Writer;

/// Item names may be 31 characters (each `:` part of a full name).
const NAME_MAX: usize = 31;

/// Which item request [`ItemAdd`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// `ItemServiceAdd`: labour, subscriptions, fees.
    Service,
    /// `ItemNonInventoryAdd`: goods bought or sold without stock tracking.
    NonInventory,
    /// `ItemOtherChargeAdd`: shipping, reimbursable expenses, surcharges.
    OtherCharge,
}

impl ItemKind {
    fn request(self) -> &'static str {
        match self {
            ItemKind::Service => "ItemServiceAdd",
            ItemKind::NonInventory => "ItemNonInventoryAdd",
            ItemKind::OtherCharge => "ItemOtherChargeAdd",
        }
    }
}

/// A service, non-inventory or other-charge item.
///
/// With [`account_ref`](Self::account_ref) the item is sold *or* bought through one account
/// (`SalesOrPurchase`); with [`income_account_ref`](Self::income_account_ref) and/or
/// [`expense_account_ref`](Self::expense_account_ref) it is both sold and bought
/// (`SalesAndPurchase`). One of the two is required.
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{ItemAdd, ItemKind, Ref};
/// let built = ItemAdd::new(ItemKind::Service, "Labor:Remote Support")
///     .account_ref(Ref::full_name("Services Income"))
///     .price(Amount::parse("125.00").unwrap())
///     .build()
///     .unwrap();
/// assert!(built.qbxml.contains("<Name>Remote Support</Name>"));
/// assert!(built.qbxml.contains("<Price>125</Price>"));
/// ```
#[derive(Debug, Clone)]
pub struct ItemAdd {
    kind: ItemKind,
    name: String,
    is_active: Option<bool>,
    class_ref: Option<Ref>,
    parent_ref: Option<Ref>,
    manufacturer_part_number: Option<String>,
    is_tax_included: Option<bool>,
    sales_tax_code_ref: Option<Ref>,
    desc: Option<String>,
    price: Option<Amount>,
    account_ref: Option<Ref>,
    income_account_ref: Option<Ref>,
    purchase_desc: Option<String>,
    purchase_cost: Option<Amount>,
    expense_account_ref: Option<Ref>,
    pref_vendor_ref: Option<Ref>,
    external_guid: Option<String>,
    policy: TextPolicy,
}

impl ItemAdd {
    /// An item of `kind` named `name` (31 characters); `Parent:Sub` adds `Sub` under `Parent`.
    pub fn new(kind: ItemKind, name: impl Into<String>) -> Self {
        ItemAdd {
            kind,
            name: name.into(),
            is_active: None,
            class_ref: None,
            parent_ref: None,
            manufacturer_part_number: None,
            is_tax_included: None,
            sales_tax_code_ref: None,
            desc: None,
            price: None,
            account_ref: None,
            income_account_ref: None,
            purchase_desc: None,
            purchase_cost: None,
            expense_account_ref: None,
            pref_vendor_ref: None,
            external_guid: None,
            policy: TextPolicy::default(),
        }
    }

    setters! {
        /// Whether the item is active.
        is_active: bool,
        /// The item's class.
        class_ref: Ref,
        /// The parent item. Alternatively write the name as `Parent:Sub`.
        parent_ref: Ref,
        /// Manufacturer's part number (31 characters; non-inventory items only, ignored
        /// for the other kinds, whose schema has no such field).
        manufacturer_part_number: String,
        /// Whether prices include tax (non-US editions).
        is_tax_included: bool,
        /// Sales tax code (`Tax`, `Non`).
        sales_tax_code_ref: Ref,
        /// Description on sales (4095 characters).
        desc: String,
        /// Sales price (up to 5 decimals).
        price: Amount,
        /// The one account the item posts to (`SalesOrPurchase`).
        account_ref: Ref,
        /// Income account when the item is both sold and bought (`SalesAndPurchase`).
        income_account_ref: Ref,
        /// Description on purchases (4095 characters; `SalesAndPurchase`).
        purchase_desc: String,
        /// Purchase cost (`SalesAndPurchase`).
        purchase_cost: Amount,
        /// Expense account when the item is both sold and bought (`SalesAndPurchase`).
        expense_account_ref: Ref,
        /// Preferred vendor (`SalesAndPurchase`).
        pref_vendor_ref: Ref,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<ItemServiceAddRq>` (or non-inventory / other-charge) element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let request = self.kind.request();
        let mut w = Writer::add(request, self.policy);
        let parent = w.list_name(Some(&self.name), self.parent_ref.as_ref(), NAME_MAX);
        let parent = parent.as_ref();
        w.boolean("IsActive", self.is_active);
        // Non-inventory items list ParentRef before ClassRef; the other kinds the reverse.
        if self.kind == ItemKind::NonInventory {
            w.reference_with("ParentRef", parent, 159, Some(NAME_MAX));
            w.reference("ClassRef", self.class_ref.as_ref());
            w.text(
                "ManufacturerPartNumber",
                self.manufacturer_part_number.as_deref(),
                31,
            );
        } else {
            w.reference("ClassRef", self.class_ref.as_ref());
            w.reference_with("ParentRef", parent, 159, Some(NAME_MAX));
        }
        w.boolean("IsTaxIncluded", self.is_tax_included);
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        let both = self.income_account_ref.is_some() || self.expense_account_ref.is_some();
        match (&self.account_ref, both) {
            (Some(account), false) => w.element("SalesOrPurchase", |w| {
                w.text("Desc", self.desc.as_deref(), 4095);
                w.price("Price", self.price);
                w.reference("AccountRef", Some(account));
            }),
            (None, true) => w.element("SalesAndPurchase", |w| {
                w.text("SalesDesc", self.desc.as_deref(), 4095);
                w.price("SalesPrice", self.price);
                w.reference("IncomeAccountRef", self.income_account_ref.as_ref());
                w.text("PurchaseDesc", self.purchase_desc.as_deref(), 4095);
                w.price("PurchaseCost", self.purchase_cost);
                w.reference("ExpenseAccountRef", self.expense_account_ref.as_ref());
                w.reference("PrefVendorRef", self.pref_vendor_ref.as_ref());
            }),
            _ => w.fail(BuildError::Missing {
                request: request.to_owned(),
                what: "either account_ref, or income_account_ref and/or expense_account_ref (not both)",
            }),
        }
        w.guid("ExternalGUID", self.external_guid.as_deref());
        w.finish()
    }
}
