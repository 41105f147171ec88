//! Queries: list queries (customers, vendors, items, accounts, classes), transaction queries
//! (the idempotency probes: by RefNumber, TxnID, or customer + date; bill payments too, for
//! duplicate checks), `HostQuery` and `CompanyQuery`.

use crate::text::TextPolicy;

use super::common::{BuildError, Built, Date, ID_MAX, Ref, setters};
use super::xml::Writer;

/// `IncludeRetElement` names are at most 50 characters.
const RET_ELEMENT_MAX: usize = 50;

/// Which list [`ListQuery`] searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `CustomerQuery` (customers and jobs).
    Customer,
    /// `VendorQuery`.
    Vendor,
    /// `ItemQuery` (every item type).
    Item,
    /// `AccountQuery` (chart of accounts).
    Account,
    /// `ClassQuery`.
    Class,
}

impl ListKind {
    fn request(self) -> &'static str {
        match self {
            ListKind::Customer => "CustomerQuery",
            ListKind::Vendor => "VendorQuery",
            ListKind::Item => "ItemQuery",
            ListKind::Account => "AccountQuery",
            ListKind::Class => "ClassQuery",
        }
    }

    /// Whether the query takes `iterator` (qbXML 13.0 and 16.0: not accounts, not classes).
    fn iterates(self) -> bool {
        matches!(self, ListKind::Customer | ListKind::Vendor | ListKind::Item)
    }

    /// Name limit of one `:` part of this list's full names.
    fn name_max(self) -> usize {
        match self {
            ListKind::Customer | ListKind::Vendor => 41,
            _ => 31,
        }
    }
}

/// Which records a list query returns by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveStatus {
    /// Active records only (QuickBooks' default).
    ActiveOnly,
    /// Inactive records only.
    InactiveOnly,
    /// Both.
    All,
}

/// How a `NameFilter` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchCriterion {
    /// Names starting with the text.
    StartsWith,
    /// Names containing the text.
    Contains,
    /// Names ending with the text.
    EndsWith,
}

/// A list query: by ListIDs, by full names, or by filter (max returned, status, name).
/// Choose one way; mixing them is an error.
///
/// ```
/// use qbridge_sdk::qbxml::{ListKind, ListQuery};
/// let q = ListQuery::new(ListKind::Customer).full_name("Acme Corp").build().unwrap();
/// assert_eq!(
///     q.qbxml,
///     "<CustomerQueryRq><FullName>Acme Corp</FullName></CustomerQueryRq>"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct ListQuery {
    kind: ListKind,
    list_ids: Vec<String>,
    full_names: Vec<String>,
    max_returned: Option<u32>,
    active_status: Option<ActiveStatus>,
    name_filter: Option<(MatchCriterion, String)>,
    include_ret_elements: Vec<String>,
    policy: TextPolicy,
    iterate: bool,
}

impl ListQuery {
    /// Every active record of `kind`, until narrowed.
    pub fn new(kind: ListKind) -> Self {
        ListQuery {
            kind,
            list_ids: Vec::new(),
            full_names: Vec::new(),
            max_returned: None,
            active_status: None,
            name_filter: None,
            include_ret_elements: Vec::new(),
            policy: TextPolicy::default(),
            iterate: false,
        }
    }

    /// Page through every matching record, `page` at a time, with a QuickBooks iterator
    /// (`iterator="Start"`; customers, vendors and items only — the others build an error). The engine sends the following pages itself, in the same
    /// QuickBooks session, and hands each page to the plugin's `on_response` under the key
    /// `<key>#<n>` (the first page under the request's own key).
    pub fn iterate(mut self, page: u32) -> Self {
        self.max_returned = Some(page.max(1));
        self.iterate = true;
        self
    }

    /// Return the record with this ListID (repeatable).
    pub fn list_id(mut self, id: impl Into<String>) -> Self {
        self.list_ids.push(id.into());
        self
    }

    /// Return the record with this full name, `Parent:Child` (repeatable). The name is
    /// fitted the way the add builders fit names, so it finds what they added.
    pub fn full_name(mut self, name: impl Into<String>) -> Self {
        self.full_names.push(name.into());
        self
    }

    /// Return at most this many records.
    pub fn max_returned(mut self, max: u32) -> Self {
        self.max_returned = Some(max);
        self
    }

    setters! {
        /// Filter by active status.
        active_status: ActiveStatus,
    }

    /// Only records whose name matches `name` by `criterion`.
    pub fn name_filter(mut self, criterion: MatchCriterion, name: impl Into<String>) -> Self {
        self.name_filter = Some((criterion, name.into()));
        self
    }

    /// Return only this element of each record, e.g. `ListID`, `EditSequence` (repeatable).
    pub fn include_ret_element(mut self, name: impl Into<String>) -> Self {
        self.include_ret_elements.push(name.into());
        self
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<CustomerQueryRq>` (or vendor, item, account, class) element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let request = self.kind.request();
        let mut w = Writer::query(request, self.policy);
        let filtered = self.max_returned.is_some()
            || self.active_status.is_some()
            || self.name_filter.is_some();
        let ways = [
            !self.list_ids.is_empty(),
            !self.full_names.is_empty(),
            filtered,
        ];
        if self.iterate && !self.kind.iterates() {
            w.fail(BuildError::Missing {
                request: request.to_owned(),
                what: "no iterator: only CustomerQuery, VendorQuery and ItemQuery page with one; AccountQuery and ClassQuery return every record at once",
            });
        }
        if ways.iter().filter(|&&w| w).count() > 1 {
            w.fail(BuildError::Missing {
                request: request.to_owned(),
                what: "one way of selecting: ListIDs, or full names, or filters, not several",
            });
        }
        let segment = self.kind.name_max();
        for id in &self.list_ids {
            w.id("ListID", id, ID_MAX);
        }
        for name in &self.full_names {
            w.full_name("FullName", name, 209, segment);
        }
        if let Some(n) = self.max_returned {
            w.raw("MaxReturned", &n.to_string());
        }
        if let Some(status) = self.active_status {
            w.raw("ActiveStatus", active_status(status));
        }
        if let Some((criterion, name)) = &self.name_filter {
            w.element("NameFilter", |w| {
                w.raw("MatchCriterion", match_criterion(*criterion));
                w.required_text("Name", name, 209);
            });
        }
        write_ret_elements(&mut w, &self.include_ret_elements);
        let mut built = w.finish()?;
        if self.iterate {
            let open = format!("<{request}Rq>");
            built.qbxml =
                built
                    .qbxml
                    .replacen(&open, &format!(r#"<{request}Rq iterator="Start">"#), 1);
        }
        Ok(built)
    }
}

fn active_status(s: ActiveStatus) -> &'static str {
    match s {
        ActiveStatus::ActiveOnly => "ActiveOnly",
        ActiveStatus::InactiveOnly => "InactiveOnly",
        ActiveStatus::All => "All",
    }
}

fn match_criterion(c: MatchCriterion) -> &'static str {
    match c {
        MatchCriterion::StartsWith => "StartsWith",
        MatchCriterion::Contains => "Contains",
        MatchCriterion::EndsWith => "EndsWith",
    }
}

fn write_ret_elements(w: &mut Writer, names: &[String]) {
    for name in names {
        w.required_text("IncludeRetElement", name, RET_ELEMENT_MAX);
    }
}

/// Which transactions [`TxnQuery`] searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    /// `InvoiceQuery`.
    Invoice,
    /// `CreditMemoQuery`.
    CreditMemo,
    /// `BillQuery`.
    Bill,
    /// `PurchaseOrderQuery`.
    PurchaseOrder,
    /// `CheckQuery`.
    Check,
    /// `CreditCardChargeQuery`.
    CreditCardCharge,
    /// `CreditCardCreditQuery`.
    CreditCardCredit,
    /// `JournalEntryQuery`.
    JournalEntry,
    /// `VendorCreditQuery`.
    VendorCredit,
    /// `TimeTrackingQuery` (no RefNumber: probe by date range).
    TimeTracking,
    /// `BillPaymentCheckQuery` (bills paid by check).
    BillPaymentCheck,
    /// `BillPaymentCreditCardQuery` (bills paid by credit card).
    BillPaymentCreditCard,
}

impl TxnKind {
    fn request(self) -> &'static str {
        match self {
            TxnKind::Invoice => "InvoiceQuery",
            TxnKind::CreditMemo => "CreditMemoQuery",
            TxnKind::Bill => "BillQuery",
            TxnKind::PurchaseOrder => "PurchaseOrderQuery",
            TxnKind::Check => "CheckQuery",
            TxnKind::CreditCardCharge => "CreditCardChargeQuery",
            TxnKind::CreditCardCredit => "CreditCardCreditQuery",
            TxnKind::JournalEntry => "JournalEntryQuery",
            TxnKind::VendorCredit => "VendorCreditQuery",
            TxnKind::TimeTracking => "TimeTrackingQuery",
            TxnKind::BillPaymentCheck => "BillPaymentCheckQuery",
            TxnKind::BillPaymentCreditCard => "BillPaymentCreditCardQuery",
        }
    }

    fn has_paid_status(self) -> bool {
        matches!(self, TxnKind::Invoice | TxnKind::Bill)
    }

    fn has_linked_txns(self) -> bool {
        matches!(
            self,
            TxnKind::Invoice
                | TxnKind::CreditMemo
                | TxnKind::Bill
                | TxnKind::PurchaseOrder
                | TxnKind::Check
                | TxnKind::VendorCredit
        )
    }
}

/// Filter of invoice and bill queries by payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidStatus {
    /// Paid and open.
    All,
    /// Fully paid only.
    PaidOnly,
    /// Open only.
    NotPaidOnly,
}

/// A transaction query, typically the idempotency probe of an add: by RefNumber, by TxnID, or
/// by entity and a date range (for transactions without a usable RefNumber). Choose one way;
/// mixing them is an error.
///
/// ```
/// use qbridge_sdk::qbxml::{Date, Ref, TxnKind, TxnQuery};
/// let day = Date::parse("2025-03-01").unwrap();
/// let probe = TxnQuery::new(TxnKind::Invoice)
///     .entity(Ref::full_name("Acme Corp"))
///     .txn_date_range(day, day)
///     .include_ret_element("TxnID")
///     .include_ret_element("ExternalGUID")
///     .build()
///     .unwrap();
/// assert!(probe.qbxml.starts_with("<InvoiceQueryRq><TxnDateRangeFilter>"));
/// ```
#[derive(Debug, Clone)]
pub struct TxnQuery {
    kind: TxnKind,
    txn_ids: Vec<String>,
    ref_numbers: Vec<String>,
    max_returned: Option<u32>,
    txn_date_range: Option<(Date, Date)>,
    entity: Option<Ref>,
    paid_status: Option<PaidStatus>,
    include_line_items: Option<bool>,
    include_linked_txns: Option<bool>,
    include_ret_elements: Vec<String>,
    policy: TextPolicy,
}

impl TxnQuery {
    /// Every transaction of `kind`, until narrowed.
    pub fn new(kind: TxnKind) -> Self {
        TxnQuery {
            kind,
            txn_ids: Vec::new(),
            ref_numbers: Vec::new(),
            max_returned: None,
            txn_date_range: None,
            entity: None,
            paid_status: None,
            include_line_items: None,
            include_linked_txns: None,
            include_ret_elements: Vec::new(),
            policy: TextPolicy::default(),
        }
    }

    /// The transaction with this TxnID (repeatable).
    pub fn txn_id(mut self, id: impl Into<String>) -> Self {
        self.txn_ids.push(id.into());
        self
    }

    /// Transactions with this RefNumber, case-insensitive (repeatable). QuickBooks allows
    /// duplicate RefNumbers, so match the results on more than the number.
    pub fn ref_number(mut self, number: impl Into<String>) -> Self {
        self.ref_numbers.push(number.into());
        self
    }

    /// Transactions dated from `from` to `to`, inclusive.
    pub fn txn_date_range(mut self, from: Date, to: Date) -> Self {
        self.txn_date_range = Some((from, to));
        self
    }

    /// Return at most this many transactions.
    pub fn max_returned(mut self, max: u32) -> Self {
        self.max_returned = Some(max);
        self
    }

    setters! {
        /// Transactions of this customer, vendor or other name.
        entity: Ref,
        /// Filter by payment (invoice and bill queries only).
        paid_status: PaidStatus,
        /// Return the lines too.
        include_line_items: bool,
        /// Return linked transactions (payments of an invoice …; invoice, bill, purchase-order
        /// and check queries only).
        include_linked_txns: bool,
    }

    /// Return only this element of each transaction, e.g. `TxnID`, `RefNumber`, `Memo`
    /// (repeatable).
    pub fn include_ret_element(mut self, name: impl Into<String>) -> Self {
        self.include_ret_elements.push(name.into());
        self
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<InvoiceQueryRq>` (or other) element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let request = self.kind.request();
        let mut w = Writer::query(request, self.policy);
        let filtered = self.max_returned.is_some()
            || self.txn_date_range.is_some()
            || self.entity.is_some()
            || self.paid_status.is_some();
        let ways = [
            !self.txn_ids.is_empty(),
            !self.ref_numbers.is_empty(),
            filtered,
        ];
        if ways.iter().filter(|&&w| w).count() > 1 {
            w.fail(BuildError::Missing {
                request: request.to_owned(),
                what: "one way of selecting: TxnIDs, or RefNumbers, or filters, not several",
            });
        }
        let unsupported = |what| BuildError::Missing {
            request: request.to_owned(),
            what,
        };
        if self.paid_status.is_some() && !self.kind.has_paid_status() {
            w.fail(unsupported(
                "no PaidStatus filter (only invoice and bill queries have one)",
            ));
        }
        if self.include_linked_txns.is_some() && !self.kind.has_linked_txns() {
            w.fail(unsupported(
                "no IncludeLinkedTxns (this query type has none)",
            ));
        }
        for id in &self.txn_ids {
            w.id("TxnID", id, ID_MAX);
        }
        for number in &self.ref_numbers {
            w.required_text("RefNumber", number, 20);
        }
        if let Some(n) = self.max_returned {
            w.raw("MaxReturned", &n.to_string());
        }
        if let Some((from, to)) = self.txn_date_range {
            w.element("TxnDateRangeFilter", |w| {
                w.date("FromTxnDate", Some(from));
                w.date("ToTxnDate", Some(to));
            });
        }
        if let Some(entity) = &self.entity {
            w.element("EntityFilter", |w| match entity {
                Ref::ListId(id) => w.id("ListID", id, ID_MAX),
                Ref::FullName(name) => w.full_name("FullName", name, 209, 41),
            });
        }
        if let Some(status) = self.paid_status {
            w.raw(
                "PaidStatus",
                match status {
                    PaidStatus::All => "All",
                    PaidStatus::PaidOnly => "PaidOnly",
                    PaidStatus::NotPaidOnly => "NotPaidOnly",
                },
            );
        }
        w.boolean("IncludeLineItems", self.include_line_items);
        w.boolean("IncludeLinkedTxns", self.include_linked_txns);
        write_ret_elements(&mut w, &self.include_ret_elements);
        w.finish()
    }
}

/// `HostQuery`: the QuickBooks product, version and the qbXML versions it supports.
///
/// ```
/// use qbridge_sdk::qbxml::HostQuery;
/// assert_eq!(HostQuery::new().build().unwrap().qbxml, "<HostQueryRq></HostQueryRq>");
/// ```
#[derive(Debug, Clone, Default)]
pub struct HostQuery {
    include_ret_elements: Vec<String>,
}

impl HostQuery {
    /// The whole host record.
    pub fn new() -> Self {
        HostQuery::default()
    }

    /// Return only this element (repeatable).
    pub fn include_ret_element(mut self, name: impl Into<String>) -> Self {
        self.include_ret_elements.push(name.into());
        self
    }

    /// The `<HostQueryRq>` element.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::query("HostQuery", TextPolicy::Reject);
        write_ret_elements(&mut w, &self.include_ret_elements);
        w.finish()
    }
}

/// `CompanyQuery`: the company file's name, address and settings.
#[derive(Debug, Clone, Default)]
pub struct CompanyQuery {
    include_ret_elements: Vec<String>,
    owner_ids: Vec<String>,
}

impl CompanyQuery {
    /// The whole company record.
    pub fn new() -> Self {
        CompanyQuery::default()
    }

    /// Return only this element (repeatable).
    pub fn include_ret_element(mut self, name: impl Into<String>) -> Self {
        self.include_ret_elements.push(name.into());
        self
    }

    /// Also return custom fields of this owner: `0` for the public ones, or an application's
    /// GUID (repeatable).
    pub fn owner_id(mut self, owner: impl Into<String>) -> Self {
        self.owner_ids.push(owner.into());
        self
    }

    /// The `<CompanyQueryRq>` element.
    pub fn build(&self) -> Result<Built, BuildError> {
        let mut w = Writer::query("CompanyQuery", TextPolicy::Reject);
        write_ret_elements(&mut w, &self.include_ret_elements);
        for owner in &self.owner_ids {
            w.guid("OwnerID", Some(owner));
        }
        w.finish()
    }
}
