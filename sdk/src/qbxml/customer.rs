//! `CustomerAdd` and `CustomerMod`: customers and jobs (`Parent:Child`).

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::common::{Address, BuildError, Built, Date, ID_MAX, Ref, setters};
use super::xml::Writer;

/// Customer and job names may be 41 characters (each `:` part of a full name).
const NAME_MAX: usize = 41;

/// The fields CustomerAdd and CustomerMod share, in one place so both write the same order.
#[derive(Debug, Clone, Default)]
struct Customer {
    name: Option<String>,
    is_active: Option<bool>,
    class_ref: Option<Ref>,
    parent_ref: Option<Ref>,
    company_name: Option<String>,
    salutation: Option<String>,
    first_name: Option<String>,
    middle_name: Option<String>,
    last_name: Option<String>,
    job_title: Option<String>,
    bill_address: Option<Address>,
    ship_address: Option<Address>,
    print_as: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    alt_phone: Option<String>,
    fax: Option<String>,
    email: Option<String>,
    cc: Option<String>,
    contact: Option<String>,
    alt_contact: Option<String>,
    customer_type_ref: Option<Ref>,
    terms_ref: Option<Ref>,
    sales_rep_ref: Option<Ref>,
    open_balance: Option<Amount>,
    open_balance_date: Option<Date>,
    sales_tax_code_ref: Option<Ref>,
    item_sales_tax_ref: Option<Ref>,
    resale_number: Option<String>,
    account_number: Option<String>,
    credit_limit: Option<Amount>,
    job_start_date: Option<Date>,
    job_projected_end_date: Option<Date>,
    job_end_date: Option<Date>,
    job_desc: Option<String>,
    job_type_ref: Option<Ref>,
    notes: Option<String>,
    price_level_ref: Option<Ref>,
    external_guid: Option<String>,
    currency_ref: Option<Ref>,
}

impl Customer {
    /// The body in XSD order (qbXML 13.0 and 16.0 agree); OpenBalance, OpenBalanceDate and
    /// ExternalGUID exist on add only (the mod builder has no setters for them).
    fn write(&self, w: &mut Writer) {
        let parent = w.list_name(self.name.as_deref(), self.parent_ref.as_ref(), NAME_MAX);
        w.boolean("IsActive", self.is_active);
        w.reference("ClassRef", self.class_ref.as_ref());
        w.reference_with("ParentRef", parent.as_ref(), 209, Some(NAME_MAX));
        w.text("CompanyName", self.company_name.as_deref(), 41);
        w.text("Salutation", self.salutation.as_deref(), 15);
        w.text("FirstName", self.first_name.as_deref(), 25);
        w.text("MiddleName", self.middle_name.as_deref(), 5);
        w.text("LastName", self.last_name.as_deref(), 25);
        w.text("JobTitle", self.job_title.as_deref(), 41);
        w.address("BillAddress", self.bill_address.as_ref());
        w.address("ShipAddress", self.ship_address.as_ref());
        w.text("PrintAs", self.print_as.as_deref(), 41);
        w.text("Phone", self.phone.as_deref(), 21);
        w.text("Mobile", self.mobile.as_deref(), 21);
        w.text("AltPhone", self.alt_phone.as_deref(), 21);
        w.text("Fax", self.fax.as_deref(), 21);
        w.text("Email", self.email.as_deref(), 1023);
        w.text("Cc", self.cc.as_deref(), 1023);
        w.text("Contact", self.contact.as_deref(), 41);
        w.text("AltContact", self.alt_contact.as_deref(), 41);
        w.reference("CustomerTypeRef", self.customer_type_ref.as_ref());
        w.reference("TermsRef", self.terms_ref.as_ref());
        w.reference("SalesRepRef", self.sales_rep_ref.as_ref());
        w.amount("OpenBalance", self.open_balance);
        w.date("OpenBalanceDate", self.open_balance_date);
        w.reference("SalesTaxCodeRef", self.sales_tax_code_ref.as_ref());
        w.reference("ItemSalesTaxRef", self.item_sales_tax_ref.as_ref());
        w.text("ResaleNumber", self.resale_number.as_deref(), 15);
        w.text("AccountNumber", self.account_number.as_deref(), 99);
        w.amount("CreditLimit", self.credit_limit);
        w.date("JobStartDate", self.job_start_date);
        w.date("JobProjectedEndDate", self.job_projected_end_date);
        w.date("JobEndDate", self.job_end_date);
        w.text("JobDesc", self.job_desc.as_deref(), 99);
        w.reference("JobTypeRef", self.job_type_ref.as_ref());
        w.text("Notes", self.notes.as_deref(), 4095);
        w.reference("PriceLevelRef", self.price_level_ref.as_ref());
        w.guid("ExternalGUID", self.external_guid.as_deref());
        w.reference("CurrencyRef", self.currency_ref.as_ref());
    }
}

/// Setters CustomerAdd and CustomerMod share.
macro_rules! customer_setters {
    () => {
        setters! { c;
            /// Whether the customer is active (QuickBooks' default: true).
            is_active: bool,
            /// The customer's class (needs class tracking turned on).
            class_ref: Ref,
            /// The parent customer of a job. Alternatively write the name as `Parent:Child`.
            parent_ref: Ref,
            /// Company name (41 characters).
            company_name: String,
            /// Mr., Ms. … (15 characters).
            salutation: String,
            /// First name (25 characters).
            first_name: String,
            /// Middle name (5 characters).
            middle_name: String,
            /// Last name (25 characters).
            last_name: String,
            /// Job title (41 characters).
            job_title: String,
            /// Billing address.
            bill_address: Address,
            /// Shipping address.
            ship_address: Address,
            /// Name printed on forms (41 characters).
            print_as: String,
            /// Phone (21 characters).
            phone: String,
            /// Mobile phone (21 characters).
            mobile: String,
            /// Alternative phone (21 characters).
            alt_phone: String,
            /// Fax (21 characters).
            fax: String,
            /// E-mail address(es) (1023 characters).
            email: String,
            /// Cc e-mail address(es) (1023 characters).
            cc: String,
            /// Contact person (41 characters).
            contact: String,
            /// Alternative contact (41 characters).
            alt_contact: String,
            /// Customer type.
            customer_type_ref: Ref,
            /// Payment terms (e.g. `Net 30`).
            terms_ref: Ref,
            /// Sales rep (initials, 5 characters).
            sales_rep_ref: Ref,
            /// Sales tax code (`Tax`, `Non`; 3 characters).
            sales_tax_code_ref: Ref,
            /// Sales tax item.
            item_sales_tax_ref: Ref,
            /// Resale number (15 characters).
            resale_number: String,
            /// Account number (99 characters).
            account_number: String,
            /// Credit limit.
            credit_limit: Amount,
            /// Job start date.
            job_start_date: Date,
            /// Projected job end date.
            job_projected_end_date: Date,
            /// Job end date.
            job_end_date: Date,
            /// Job description (99 characters).
            job_desc: String,
            /// Job type.
            job_type_ref: Ref,
            /// Notes (4095 characters).
            notes: String,
            /// Price level.
            price_level_ref: Ref,
            /// Currency (multicurrency files).
            currency_ref: Ref,
        }

        /// How text that does not fit is handled (default: transliterate and truncate, noted).
        pub fn policy(mut self, policy: TextPolicy) -> Self {
            self.policy = policy;
            self
        }
    };
}

/// `CustomerAdd`: a new customer, or a job when the name is `Parent:Child`.
///
/// ```
/// use qbridge_sdk::qbxml::{Address, CustomerAdd, Ref};
/// let built = CustomerAdd::new("Acme Corp:Website rebuild")
///     .phone("+1 212 555 0100")
///     .sales_tax_code_ref(Ref::full_name("Tax"))
///     .bill_address(Address { city: Some("Albany".into()), ..Address::default() })
///     .build()
///     .unwrap();
/// assert!(built.qbxml.starts_with(
///     "<CustomerAddRq><CustomerAdd><Name>Website rebuild</Name>\
///      <ParentRef><FullName>Acme Corp</FullName></ParentRef>"
/// ));
/// ```
#[derive(Debug, Clone)]
pub struct CustomerAdd {
    c: Customer,
    policy: TextPolicy,
}

impl CustomerAdd {
    /// A customer named `name` (41 characters); `Parent:Child` adds job `Child` under
    /// customer `Parent`.
    pub fn new(name: impl Into<String>) -> Self {
        CustomerAdd {
            c: Customer {
                name: Some(name.into()),
                ..Customer::default()
            },
            policy: TextPolicy::default(),
        }
    }

    customer_setters!();

    setters! { c;
        /// Opening balance (add only).
        open_balance: Amount,
        /// Date of the opening balance (add only).
        open_balance_date: Date,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`] (add only; not queryable).
        external_guid: String,
    }

    /// The `<CustomerAddRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add("CustomerAdd", self.policy);
        self.c.write(&mut w);
        w.finish()
    }
}

/// `CustomerMod`: change fields of an existing customer, identified by ListID and the
/// EditSequence QuickBooks last returned (a stale one is answered with status 3200).
#[derive(Debug, Clone)]
pub struct CustomerMod {
    list_id: String,
    edit_sequence: String,
    c: Customer,
    policy: TextPolicy,
}

impl CustomerMod {
    /// Modify the customer `list_id` at `edit_sequence`.
    pub fn new(list_id: impl Into<String>, edit_sequence: impl Into<String>) -> Self {
        CustomerMod {
            list_id: list_id.into(),
            edit_sequence: edit_sequence.into(),
            c: Customer::default(),
            policy: TextPolicy::default(),
        }
    }

    setters! { c;
        /// New name (41 characters); `Parent:Child` also moves the customer under `Parent`.
        name: String,
    }

    customer_setters!();

    /// The `<CustomerModRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add("CustomerMod", self.policy);
        w.id("ListID", &self.list_id, ID_MAX);
        w.id("EditSequence", &self.edit_sequence, 16);
        self.c.write(&mut w);
        w.finish()
    }
}
