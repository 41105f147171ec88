//! The `*Ret` elements responses carry, in the qbXML schema's element order.

use super::Company;
use super::model::{
    LineKind, ListKind, ListRecord, TxnKind, TxnLine, TxnRecord, fmt_cents, iso_time,
};
use crate::qbxml::text::escape;

/// What a transaction Ret shows: only the `include` elements when any are named
/// (`IncludeRetElement`), and its lines only when asked (`IncludeLineItems`; Add and Mod
/// responses always carry them, as QuickBooks' do).
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    pub(crate) include: Vec<String>,
    pub(crate) lines: bool,
}

impl Shape {
    /// Every element and every line: what an Add or Mod returns.
    pub(crate) fn full() -> Shape {
        Shape {
            include: Vec::new(),
            lines: true,
        }
    }
}

impl Company {
    fn list_full_name(&self, list_id: &str) -> Option<&str> {
        self.data
            .lists
            .iter()
            .find(|l| l.list_id == list_id)
            .map(|l| l.full_name.as_str())
    }

    pub(super) fn ref_xml(&self, element: &str, list_id: &str) -> (String, String) {
        let full = self.list_full_name(list_id).unwrap_or("");
        (
            element.to_string(),
            format!(
                "<{element}><ListID>{}</ListID><FullName>{}</FullName></{element}>",
                escape(list_id),
                escape(full)
            ),
        )
    }

    /// The `*Ret` for a list record, keeping only `include` elements when given.
    pub(super) fn list_ret(&self, r: &ListRecord, include: &[String]) -> String {
        let mut parts: Vec<(String, String)> = Vec::new();
        let el = push_element;
        el(&mut parts, "ListID", &r.list_id);
        el(&mut parts, "TimeCreated", &iso_time(r.created));
        el(&mut parts, "TimeModified", &iso_time(r.modified));
        el(&mut parts, "EditSequence", &r.edit_sequence);
        el(&mut parts, "Name", &r.name);
        if r.kind.hierarchical() {
            el(&mut parts, "FullName", &r.full_name);
        }
        el(
            &mut parts,
            "IsActive",
            if r.active { "true" } else { "false" },
        );
        if let Some(p) = &r.parent {
            parts.push(self.ref_xml("ParentRef", p));
        }
        if r.kind.hierarchical() {
            el(&mut parts, "Sublevel", &r.sublevel.to_string());
        }
        if let Some(t) = &r.account_type {
            el(&mut parts, "AccountType", t);
        }
        for (field, _) in r.kind.fields() {
            if let Some(v) = r.fields.get(*field) {
                el(&mut parts, field, v);
            }
        }
        match r.kind {
            ListKind::Customer | ListKind::Account => {
                el(&mut parts, "Balance", &fmt_cents(r.balance));
                el(&mut parts, "TotalBalance", &fmt_cents(r.balance));
            }
            ListKind::Vendor => el(&mut parts, "Balance", &fmt_cents(r.balance)),
            _ => {}
        }
        ret_element(&format!("{}Ret", r.kind.tag()), parts, include)
    }

    /// The `*Ret` for a transaction, shaped by `shape`.
    pub(super) fn txn_ret(&self, t: &TxnRecord, shape: &Shape) -> String {
        let mut parts: Vec<(String, String)> = Vec::new();
        let el = push_element;
        el(&mut parts, "TxnID", &t.txn_id);
        el(&mut parts, "TimeCreated", &iso_time(t.created));
        el(&mut parts, "TimeModified", &iso_time(t.modified));
        el(&mut parts, "EditSequence", &t.edit_sequence);
        el(&mut parts, "TxnNumber", &t.txn_number.to_string());
        let entity = |parts: &mut Vec<(String, String)>| {
            if let (Some(e), Some(name)) = (&t.entity, t.kind.entity_ref()) {
                parts.push(self.ref_xml(name, e));
            }
        };
        let account = |parts: &mut Vec<(String, String)>| {
            if let (Some(a), Some(name)) = (&t.account, t.kind.account_ref()) {
                parts.push(self.ref_xml(name, a));
            }
        };
        let date = |parts: &mut Vec<(String, String)>| el(parts, "TxnDate", &t.txn_date);
        let refn = |parts: &mut Vec<(String, String)>| {
            if let Some(r) = &t.ref_number {
                el(parts, "RefNumber", r);
            }
        };
        let memo = |parts: &mut Vec<(String, String)>| {
            if let Some(m) = &t.memo {
                el(parts, "Memo", m);
            }
        };
        let lines = |parts: &mut Vec<(String, String)>| {
            if shape.lines {
                for line in [LineKind::Expense, LineKind::Item] {
                    for l in t.lines.iter().filter(|l| l.kind == line) {
                        parts.push(self.line_ret(t.kind, l));
                    }
                }
            }
        };
        let total = fmt_cents(t.total);
        let paid = if t.open == 0 { "true" } else { "false" };
        // Each arm follows the element order of the type's Ret in the qbXML schema.
        match t.kind {
            TxnKind::Invoice => {
                entity(&mut parts);
                date(&mut parts);
                refn(&mut parts);
                el(&mut parts, "Subtotal", &total);
                el(&mut parts, "BalanceRemaining", &fmt_cents(t.open));
                memo(&mut parts);
                el(&mut parts, "IsPaid", paid);
                lines(&mut parts);
            }
            TxnKind::Bill => {
                entity(&mut parts);
                date(&mut parts);
                el(&mut parts, "AmountDue", &total);
                refn(&mut parts);
                memo(&mut parts);
                el(&mut parts, "IsPaid", paid);
                lines(&mut parts);
                el(&mut parts, "OpenAmount", &fmt_cents(t.open));
            }
            TxnKind::BillPaymentCheck | TxnKind::BillPaymentCreditCard => {
                entity(&mut parts);
                date(&mut parts);
                account(&mut parts);
                el(&mut parts, "Amount", &total);
                refn(&mut parts);
                memo(&mut parts);
                for (bill, amount) in &t.applied {
                    parts.push((
                        "AppliedToTxnRet".into(),
                        format!(
                            "<AppliedToTxnRet><TxnID>{}</TxnID><TxnType>Bill</TxnType><Amount>{}</Amount></AppliedToTxnRet>",
                            escape(bill),
                            fmt_cents(*amount)
                        ),
                    ));
                }
            }
            TxnKind::CreditCardCharge | TxnKind::CreditCardCredit => {
                account(&mut parts);
                entity(&mut parts);
                date(&mut parts);
                el(&mut parts, "Amount", &total);
                refn(&mut parts);
                memo(&mut parts);
                lines(&mut parts);
            }
            TxnKind::Check => {
                account(&mut parts);
                entity(&mut parts);
                refn(&mut parts);
                date(&mut parts);
                el(&mut parts, "Amount", &total);
                memo(&mut parts);
                lines(&mut parts);
            }
            TxnKind::PurchaseOrder => {
                entity(&mut parts);
                date(&mut parts);
                refn(&mut parts);
                el(&mut parts, "TotalAmount", &total);
                memo(&mut parts);
                lines(&mut parts);
            }
            TxnKind::JournalEntry => {
                date(&mut parts);
                refn(&mut parts);
                memo(&mut parts);
            }
            TxnKind::CreditMemo
            | TxnKind::SalesReceipt
            | TxnKind::Estimate
            | TxnKind::SalesOrder => {
                entity(&mut parts);
                date(&mut parts);
                refn(&mut parts);
                el(&mut parts, "Subtotal", &total);
                el(&mut parts, "TotalAmount", &total);
                if t.kind == TxnKind::CreditMemo {
                    el(&mut parts, "CreditRemaining", &fmt_cents(t.open));
                }
                memo(&mut parts);
                lines(&mut parts);
            }
            TxnKind::VendorCredit => {
                entity(&mut parts);
                date(&mut parts);
                el(&mut parts, "CreditAmount", &total);
                refn(&mut parts);
                memo(&mut parts);
                lines(&mut parts);
                el(&mut parts, "OpenAmount", &fmt_cents(t.open));
            }
        }
        ret_element(&format!("{}Ret", t.kind.tag()), parts, &shape.include)
    }

    /// One line's `*LineRet`: `TxnLineID` first, then the fields in the schema's order for
    /// that line element.
    fn line_ret(&self, kind: TxnKind, l: &TxnLine) -> (String, String) {
        let element = kind.line_element(l.kind).unwrap_or("ExpenseLine");
        let mut parts: Vec<(String, String)> = Vec::new();
        let el = push_element;
        let text = |parts: &mut Vec<(String, String)>, name: &str, v: &Option<String>| {
            if let Some(v) = v {
                el(parts, name, v);
            }
        };
        let reference = |parts: &mut Vec<(String, String)>, name: &str, id: &Option<String>| {
            if let Some(id) = id {
                parts.push(self.ref_xml(name, id));
            }
        };
        let amount = fmt_cents(l.amount);
        el(&mut parts, "TxnLineID", &l.txn_line_id);
        match element {
            "ExpenseLine" => {
                reference(&mut parts, "AccountRef", &l.target);
                el(&mut parts, "Amount", &amount);
                text(&mut parts, "Memo", &l.memo);
                reference(&mut parts, "CustomerRef", &l.customer);
                reference(&mut parts, "ClassRef", &l.class);
            }
            "ItemLine" => {
                reference(&mut parts, "ItemRef", &l.target);
                text(&mut parts, "Desc", &l.desc);
                text(&mut parts, "Quantity", &l.quantity);
                text(&mut parts, "Cost", &l.rate);
                el(&mut parts, "Amount", &amount);
                reference(&mut parts, "CustomerRef", &l.customer);
                reference(&mut parts, "ClassRef", &l.class);
            }
            // The sales lines (TxnLineCore) and PurchaseOrderLine share their first fields.
            _ => {
                reference(&mut parts, "ItemRef", &l.target);
                text(&mut parts, "Desc", &l.desc);
                text(&mut parts, "Quantity", &l.quantity);
                text(&mut parts, "Rate", &l.rate);
                reference(&mut parts, "ClassRef", &l.class);
                el(&mut parts, "Amount", &amount);
                if element == "PurchaseOrderLine" {
                    reference(&mut parts, "CustomerRef", &l.customer);
                }
            }
        }
        let name = format!("{element}Ret");
        let xml = ret_element(&name, parts, &[]);
        (name, xml)
    }

    pub(super) fn host_ret(&self) -> String {
        let (major, minor) = self.version;
        let mut versions = String::new();
        for v in [
            (1, 0),
            (1, 1),
            (2, 0),
            (2, 1),
            (3, 0),
            (4, 0),
            (4, 1),
            (5, 0),
            (6, 0),
            (7, 0),
            (8, 0),
            (9, 0),
            (10, 0),
            (11, 0),
            (12, 0),
            (13, 0),
            (14, 0),
            (15, 0),
            (16, 0),
        ] {
            if v <= (major, minor) {
                versions.push_str(&format!(
                    "<SupportedQBXMLVersion>{}.{}</SupportedQBXMLVersion>",
                    v.0, v.1
                ));
            }
        }
        format!(
            "<HostRet><ProductName>{}</ProductName><MajorVersion>34</MajorVersion><MinorVersion>0</MinorVersion>\
             <Country>{}</Country>{versions}<IsAutomaticLogin>true</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode></HostRet>",
            escape(&self.product),
            escape(&self.country)
        )
    }

    pub(super) fn company_ret(&self) -> String {
        let name = std::path::Path::new(&self.file.replace('\\', "/"))
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "<CompanyRet><IsSampleCompany>false</IsSampleCompany><CompanyName>{}</CompanyName></CompanyRet>",
            escape(&name)
        )
    }
}

/// Appends `<name>value</name>` to a Ret's parts.
fn push_element(parts: &mut Vec<(String, String)>, name: &str, value: &str) {
    parts.push((
        name.to_string(),
        format!("<{name}>{}</{name}>", escape(value)),
    ));
}

fn ret_element(name: &str, parts: Vec<(String, String)>, include: &[String]) -> String {
    let mut out = format!("<{name}>");
    for (el, xml) in parts {
        if include.is_empty() || include.contains(&el) {
            out.push_str(&xml);
        }
    }
    out.push_str(&format!("</{name}>"));
    out
}

pub(super) fn preferences_ret() -> String {
    "<PreferencesRet><AccountingPreferences><IsUsingAccountNumbers>false</IsUsingAccountNumbers>\
     <IsRequiringAccounts>true</IsRequiringAccounts><IsUsingClassTracking>true</IsUsingClassTracking>\
     <IsUsingAuditTrail>true</IsUsingAuditTrail><IsAssigningJournalEntryNumbers>true</IsAssigningJournalEntryNumbers>\
     </AccountingPreferences></PreferencesRet>"
        .into()
}
