//! `VendorAdd`: a new vendor (payee of bills, checks and card charges).

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::common::{Address, BuildError, Built, Date, Ref, setters};
use super::xml::Writer;

/// `VendorAdd`. Vendors have no parent, so the name may not contain `:`.
///
/// ```
/// use qbridge_sdk::qbxml::VendorAdd;
/// let built = VendorAdd::new("Délice Café – Paris").email("ap@delice.example").build().unwrap();
/// assert!(built.qbxml.contains("<Name>Délice Café - Paris</Name>"));
/// assert_eq!(built.notes.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct VendorAdd {
    name: String,
    is_active: Option<bool>,
    class_ref: Option<Ref>,
    company_name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    vendor_address: Option<Address>,
    phone: Option<String>,
    fax: Option<String>,
    email: Option<String>,
    contact: Option<String>,
    name_on_check: Option<String>,
    account_number: Option<String>,
    notes: Option<String>,
    vendor_type_ref: Option<Ref>,
    terms_ref: Option<Ref>,
    credit_limit: Option<Amount>,
    vendor_tax_ident: Option<String>,
    is_vendor_eligible_for_1099: Option<bool>,
    open_balance: Option<Amount>,
    open_balance_date: Option<Date>,
    external_guid: Option<String>,
    currency_ref: Option<Ref>,
    policy: TextPolicy,
}

impl VendorAdd {
    /// A vendor named `name` (41 characters, no `:`).
    pub fn new(name: impl Into<String>) -> Self {
        VendorAdd {
            name: name.into(),
            ..VendorAdd::default()
        }
    }

    setters! {
        /// Whether the vendor is active.
        is_active: bool,
        /// The vendor's class.
        class_ref: Ref,
        /// Company name (41 characters).
        company_name: String,
        /// First name (25 characters).
        first_name: String,
        /// Last name (25 characters).
        last_name: String,
        /// Address printed on checks.
        vendor_address: Address,
        /// Phone (21 characters).
        phone: String,
        /// Fax (21 characters).
        fax: String,
        /// E-mail (1023 characters).
        email: String,
        /// Contact person (41 characters).
        contact: String,
        /// Name printed on checks (41 characters).
        name_on_check: String,
        /// Our account number with the vendor (99 characters).
        account_number: String,
        /// Notes (4095 characters).
        notes: String,
        /// Vendor type.
        vendor_type_ref: Ref,
        /// Payment terms.
        terms_ref: Ref,
        /// Credit limit.
        credit_limit: Amount,
        /// Tax id (15 characters).
        vendor_tax_ident: String,
        /// Whether the vendor gets a 1099.
        is_vendor_eligible_for_1099: bool,
        /// Opening balance.
        open_balance: Amount,
        /// Date of the opening balance.
        open_balance_date: Date,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
        /// Currency (multicurrency files).
        currency_ref: Ref,
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<VendorAddRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::add("VendorAdd", self.policy);
        if self.name.contains(':') {
            let field = w.field("Name");
            w.fail(BuildError::Colon {
                field,
                value: self.name.chars().take(60).collect(),
            });
        }
        w.required_text("Name", &self.name, 41);
        w.boolean("IsActive", self.is_active);
        w.reference("ClassRef", self.class_ref.as_ref());
        w.text("CompanyName", self.company_name.as_deref(), 41);
        w.text("FirstName", self.first_name.as_deref(), 25);
        w.text("LastName", self.last_name.as_deref(), 25);
        w.address("VendorAddress", self.vendor_address.as_ref());
        w.text("Phone", self.phone.as_deref(), 21);
        w.text("Fax", self.fax.as_deref(), 21);
        w.text("Email", self.email.as_deref(), 1023);
        w.text("Contact", self.contact.as_deref(), 41);
        w.text("NameOnCheck", self.name_on_check.as_deref(), 41);
        w.text("AccountNumber", self.account_number.as_deref(), 99);
        w.text("Notes", self.notes.as_deref(), 4095);
        w.reference("VendorTypeRef", self.vendor_type_ref.as_ref());
        w.reference("TermsRef", self.terms_ref.as_ref());
        w.amount("CreditLimit", self.credit_limit);
        w.text("VendorTaxIdent", self.vendor_tax_ident.as_deref(), 15);
        w.boolean("IsVendorEligibleFor1099", self.is_vendor_eligible_for_1099);
        w.amount("OpenBalance", self.open_balance);
        w.date("OpenBalanceDate", self.open_balance_date);
        w.guid("ExternalGUID", self.external_guid.as_deref());
        w.reference("CurrencyRef", self.currency_ref.as_ref());
        w.finish()
    }
}
