//! What each request does to the company file: adds, mods and queries of lists and
//! transactions, host/company/preferences queries, and the `*Ret` elements they return.
//!
//! Every check QuickBooks makes before writing runs before anything is changed, so a
//! refused request leaves the file as it was.

use std::collections::BTreeMap;

use super::model::{
    ListKind, ListRecord, NameSpace, TxnKind, TxnRecord, fmt_cents, iso_date, iso_time, list_id,
    parse_cents, times, txn_id,
};
use super::tree::Node;
use super::{Company, IteratorState, WriteLogEntry};
use crate::qbxml::text::escape;

/// A request's answer: its status and the XML inside its `*Rs`.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) code: i32,
    pub(crate) severity: &'static str,
    pub(crate) message: String,
    pub(crate) body: String,
    /// `(iteratorID, iteratorRemainingCount)` for iterated queries.
    pub(crate) iterator: Option<(String, usize)>,
}

impl Reply {
    pub(crate) fn ok(body: String) -> Reply {
        Reply {
            code: 0,
            severity: "Info",
            message: "Status OK".into(),
            body,
            iterator: None,
        }
    }

    pub(crate) fn error(code: i32, message: impl Into<String>) -> Reply {
        Reply {
            code,
            severity: "Error",
            message: message.into(),
            body: String::new(),
            iterator: None,
        }
    }

    fn status(code: i32, severity: &'static str, message: impl Into<String>) -> Reply {
        Reply {
            severity,
            ..Reply::error(code, message)
        }
    }
}

type Handled = Result<Reply, Reply>;

const NOT_FOUND: &str = "A query request did not find a matching object in QuickBooks";

fn too_long(value: &str, field: &str) -> Reply {
    Reply::error(
        3070,
        format!("The string \"{value}\" in the field \"{field}\" is too long."),
    )
}

fn object_not_found(id: &str) -> Reply {
    Reply::error(
        3120,
        format!("Object \"{id}\" specified in the request cannot be found."),
    )
}

fn check_len(value: &str, field: &str, max: usize) -> Result<(), Reply> {
    if value.chars().count() > max {
        Err(too_long(value, field))
    } else {
        Ok(())
    }
}

/// The lists a `*Ref` element points into, and the word QuickBooks uses for them in 3140
/// messages. References to lists the simulator does not keep (terms, templates, sales tax
/// codes…) are accepted unchecked.
fn ref_target(name: &str) -> Option<(&'static [ListKind], &'static str)> {
    const ITEMS: &[ListKind] = &[
        ListKind::ItemService,
        ListKind::ItemNonInventory,
        ListKind::ItemOtherCharge,
    ];
    const NAMES: &[ListKind] = &[
        ListKind::Customer,
        ListKind::Vendor,
        ListKind::Employee,
        ListKind::OtherName,
    ];
    match name {
        "CustomerRef" => Some((&[ListKind::Customer], "Customer")),
        "VendorRef" => Some((&[ListKind::Vendor], "Vendor")),
        "ItemRef" => Some((ITEMS, "Item")),
        "ClassRef" => Some((&[ListKind::Class], "Class")),
        "PayeeEntityRef" | "EntityRef" | "ShipToEntityRef" => Some((NAMES, "Entity")),
        n if n.ends_with("AccountRef") => Some((&[ListKind::Account], "Account")),
        _ => None,
    }
}

fn same_tree(a: ListKind, b: ListKind) -> bool {
    a == b || (a.namespace() == NameSpace::Items && b.namespace() == NameSpace::Items)
}

impl Company {
    /// Runs one request element.
    pub(crate) fn handle(&mut self, rq: &Node) -> Handled {
        let op = rq.name.strip_suffix("Rq").unwrap_or(&rq.name);
        match op {
            "HostQuery" => return Ok(Reply::ok(self.host_ret())),
            "CompanyQuery" => return Ok(Reply::ok(self.company_ret())),
            "PreferencesQuery" => return Ok(Reply::ok(preferences_ret())),
            _ => {}
        }
        if let Some(obj) = op.strip_suffix("Add") {
            let add = rq
                .child(op)
                .ok_or_else(|| Reply::error(3000, "The request has no Add element."))?;
            if let Some(kind) = ListKind::from_tag(obj) {
                return self.list_add(kind, add);
            }
            if let Some(kind) = TxnKind::from_tag(obj) {
                return self.txn_add(kind, add);
            }
        } else if let Some(obj) = op.strip_suffix("Mod")
            && let Some(kind) = ListKind::from_tag(obj)
            && let Some(m) = rq.child(op)
        {
            return self.list_mod(kind, m);
        } else if let Some(obj) = op.strip_suffix("Query") {
            if obj == "Item" {
                return self.query(Table::Items, rq);
            }
            if let Some(kind) = ListKind::from_tag(obj) {
                return self.query(Table::List(kind), rq);
            }
            if let Some(kind) = TxnKind::from_tag(obj) {
                return self.query(Table::Txn(kind), rq);
            }
        }
        Err(Reply::error(
            1000,
            format!("The simulated company file does not implement {op}Rq."),
        ))
    }

    fn tick(&mut self) -> i64 {
        self.data.clock += 1;
        self.data.clock
    }

    fn find_ref(&self, kinds: &[ListKind], r: &Node) -> Option<usize> {
        if let Some(id) = r.text_of("ListID") {
            return self
                .data
                .lists
                .iter()
                .position(|l| kinds.contains(&l.kind) && l.list_id == id);
        }
        let name = r.text_of("FullName")?;
        self.data
            .lists
            .iter()
            .position(|l| kinds.contains(&l.kind) && l.full_name.eq_ignore_ascii_case(name))
    }

    /// 3140 for the first reference (at any depth) to a record that does not exist.
    fn check_refs(&self, node: &Node, in_what: &str) -> Result<(), Reply> {
        for c in &node.children {
            if c.name != "ParentRef"
                && let Some((kinds, label)) = ref_target(&c.name)
            {
                if self.find_ref(kinds, c).is_none() {
                    let shown = c.text_of("FullName").or(c.text_of("ListID")).unwrap_or("");
                    return Err(Reply::error(
                        3140,
                        format!(
                            "There is an invalid reference to QuickBooks {label} \"{shown}\" in the {in_what}.  QuickBooks error message: Invalid argument.  The specified record does not exist in the list."
                        ),
                    ));
                }
            } else {
                self.check_refs(c, in_what)?;
            }
        }
        Ok(())
    }

    fn name_taken(&self, kind: ListKind, full_name: &str, except: Option<usize>) -> bool {
        self.data.lists.iter().enumerate().any(|(i, l)| {
            Some(i) != except
                && l.kind.namespace() == kind.namespace()
                && l.full_name.eq_ignore_ascii_case(full_name)
        })
    }

    /// The record a `ParentRef` names, or 3130. A customer's parent is a customer, an item's
    /// any item, an account's an account, a class's a class.
    fn resolve_parent(&self, kind: ListKind, p: &Node) -> Result<usize, Reply> {
        let kinds: Vec<ListKind> = ListKind::ALL
            .into_iter()
            .filter(|k| same_tree(kind, *k))
            .collect();
        self.find_ref(&kinds, p).ok_or_else(|| {
            let shown = p.text_of("FullName").or(p.text_of("ListID")).unwrap_or("");
            Reply::error(
                3130,
                format!(
                    "There is an invalid reference to a parent \"{shown}\" in the {}s list.",
                    kind.tag()
                ),
            )
        })
    }

    /// Parent ListID, full name and sublevel for a record named `name` under the record at
    /// `parent`, with QuickBooks' length and uniqueness checks (`except`: the record being
    /// modified, which may keep its own name).
    fn placement(
        &self,
        kind: ListKind,
        name: &str,
        parent: Option<usize>,
        except: Option<usize>,
    ) -> Result<(Option<String>, String, u32), Reply> {
        check_len(name, "Name", kind.max_name())?;
        let (parent, full_name, sublevel) = match parent.map(|i| &self.data.lists[i]) {
            Some(p) => (
                Some(p.list_id.clone()),
                format!("{}:{name}", p.full_name),
                p.sublevel + 1,
            ),
            None => (None, name.to_string(), 0),
        };
        if self.name_taken(kind, &full_name, except) {
            return Err(Reply::error(
                3100,
                format!("The name \"{full_name}\" of the list element is already in use."),
            ));
        }
        Ok((parent, full_name, sublevel))
    }

    fn read_fields(
        kind: ListKind,
        node: &Node,
        into: &mut BTreeMap<String, String>,
    ) -> Result<(), Reply> {
        for (field, max) in kind.fields() {
            if let Some(v) = node.text_of(field) {
                check_len(v, field, *max)?;
                into.insert((*field).to_string(), v.to_string());
            }
        }
        Ok(())
    }

    fn list_add(&mut self, kind: ListKind, add: &Node) -> Handled {
        let name = match add.text_of("Name") {
            Some(n) => n.to_string(),
            // EmployeeAdd may leave Name out; QuickBooks builds it from the person's name.
            None => [add.text_of("FirstName"), add.text_of("LastName")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        };
        if name.is_empty() {
            return Err(Reply::error(
                3000,
                format!("The {} has no name.", kind.tag()),
            ));
        }
        let parent = match add.child("ParentRef") {
            Some(p) if kind.hierarchical() => Some(self.resolve_parent(kind, p)?),
            _ => None,
        };
        let (parent, full_name, sublevel) = self.placement(kind, &name, parent, None)?;
        self.check_refs(add, kind.tag())?;
        let mut fields = BTreeMap::new();
        Self::read_fields(kind, add, &mut fields)?;
        let now = self.tick();
        self.data.next_list += 1;
        let record = ListRecord {
            kind,
            list_id: list_id(self.data.next_list, now),
            edit_sequence: now.to_string(),
            created: now,
            modified: now,
            name,
            full_name,
            parent,
            sublevel,
            active: add.text_of("IsActive") != Some("false"),
            account_type: add.text_of("AccountType").map(str::to_string),
            fields,
            balance: 0,
        };
        self.log_write(kind.tag(), &record.list_id, &record.full_name);
        let ret = self.list_ret(&record, &[]);
        self.data.lists.push(record);
        Ok(Reply::ok(ret))
    }

    fn list_mod(&mut self, kind: ListKind, m: &Node) -> Handled {
        let id = m.text_of("ListID").unwrap_or("");
        let i = self
            .data
            .lists
            .iter()
            .position(|l| l.kind == kind && l.list_id == id)
            .ok_or_else(|| object_not_found(id))?;
        let given = m.text_of("EditSequence").unwrap_or("");
        if given != self.data.lists[i].edit_sequence {
            return Err(Reply::error(
                3200,
                format!("The provided edit sequence \"{given}\" is out-of-date."),
            ));
        }
        let name = m
            .text_of("Name")
            .unwrap_or(&self.data.lists[i].name)
            .to_string();
        let old = &self.data.lists[i];
        let parent = match m.child("ParentRef") {
            Some(p) if kind.hierarchical() => Some(self.resolve_parent(kind, p)?),
            _ => old
                .parent
                .as_ref()
                .and_then(|id| self.data.lists.iter().position(|l| &l.list_id == id)),
        };
        let own_subtree = format!("{}:", old.full_name);
        if let Some(p) = parent
            && (p == i || self.data.lists[p].full_name.starts_with(&own_subtree))
        {
            return Err(Reply::error(
                3130,
                format!(
                    "There is an invalid reference to a parent \"{}\" in the {}s list.",
                    self.data.lists[p].full_name,
                    kind.tag()
                ),
            ));
        }
        let (parent, full_name, sublevel) = self.placement(kind, &name, parent, Some(i))?;
        self.check_refs(m, kind.tag())?;
        let mut fields = old.fields.clone();
        Self::read_fields(kind, m, &mut fields)?;
        let now = self.tick();
        let rec = &mut self.data.lists[i];
        rec.name = name;
        rec.parent = parent;
        rec.sublevel = sublevel;
        rec.fields = fields;
        if let Some(active) = m.text_of("IsActive") {
            rec.active = active == "true";
        }
        rec.edit_sequence = now.to_string();
        rec.modified = now;
        if rec.full_name != full_name {
            let old_prefix = format!("{}:", rec.full_name);
            rec.full_name = full_name.clone();
            // Jobs and sub-items carry their parent's name in theirs.
            for l in &mut self.data.lists {
                if same_tree(l.kind, kind) && l.full_name.starts_with(&old_prefix) {
                    l.full_name = format!("{full_name}:{}", &l.full_name[old_prefix.len()..]);
                }
            }
        }
        let rec = self.data.lists[i].clone();
        self.log_write(&format!("{}Mod", kind.tag()), &rec.list_id, &rec.full_name);
        Ok(Reply::ok(self.list_ret(&rec, &[])))
    }

    fn txn_add(&mut self, kind: TxnKind, add: &Node) -> Handled {
        self.check_refs(add, kind.tag())?;
        let ref_number = add.text_of("RefNumber").map(str::to_string);
        if let Some(r) = &ref_number {
            check_len(r, "RefNumber", kind.max_ref())?;
        }
        let memo = add.text_of("Memo").map(str::to_string);
        if let Some(m) = &memo {
            check_len(m, "Memo", 4095)?;
        }
        let entity = kind
            .entity_ref()
            .and_then(|r| add.child(r))
            .and_then(|r| self.find_ref(ref_target(&r.name).map_or(&[], |t| t.0), r))
            .map(|i| self.data.lists[i].list_id.clone());
        let account = kind
            .account_ref()
            .and_then(|r| add.child(r))
            .and_then(|r| self.find_ref(&[ListKind::Account], r))
            .map(|i| self.data.lists[i].list_id.clone());
        let (total, applied) = match kind {
            TxnKind::BillPaymentCheck | TxnKind::BillPaymentCreditCard => {
                let applied = self.bill_payments(add)?;
                (applied.iter().map(|(_, a)| a).sum(), applied)
            }
            TxnKind::JournalEntry => (journal_total(add)?, Vec::new()),
            _ => (lines_total(add)?, Vec::new()),
        };
        let now = self.tick();
        self.data.next_txn += 1;
        let open = if matches!(kind, TxnKind::Invoice | TxnKind::Bill) {
            total
        } else {
            0
        };
        let record = TxnRecord {
            kind,
            txn_id: txn_id(self.data.next_txn, now),
            txn_number: self.data.next_txn,
            edit_sequence: now.to_string(),
            created: now,
            modified: now,
            entity,
            account,
            txn_date: add
                .text_of("TxnDate")
                .map_or_else(|| iso_date(now), str::to_string),
            ref_number,
            memo,
            total,
            open,
            applied,
        };
        // Balances: invoices raise what the customer owes, bills what we owe the vendor,
        // bill payments lower both the bills and the vendor's balance.
        let delta = match kind {
            TxnKind::Invoice | TxnKind::Bill => total,
            TxnKind::BillPaymentCheck | TxnKind::BillPaymentCreditCard => -total,
            _ => 0,
        };
        if let Some(e) = &record.entity
            && let Some(l) = self.data.lists.iter_mut().find(|l| &l.list_id == e)
        {
            l.balance += delta;
        }
        for (bill, amount) in &record.applied {
            if let Some(b) = self.data.txns.iter_mut().find(|t| &t.txn_id == bill) {
                b.open -= amount;
            }
        }
        let shown = record.ref_number.clone().unwrap_or_default();
        self.log_write(kind.tag(), &record.txn_id, &shown);
        let ret = self.txn_ret(&record, &[]);
        self.data.txns.push(record);
        Ok(Reply::ok(ret))
    }

    /// The bills a payment applies to, with 3120 for an unknown bill and 3210 for paying
    /// more than is due.
    fn bill_payments(&self, add: &Node) -> Result<Vec<(String, i64)>, Reply> {
        let mut out: Vec<(String, i64)> = Vec::new();
        for a in add.children_named("AppliedToTxnAdd") {
            let id = a.text_of("TxnID").unwrap_or("");
            let bill = self
                .data
                .txns
                .iter()
                .find(|t| t.kind == TxnKind::Bill && t.txn_id == id)
                .ok_or_else(|| object_not_found(id))?;
            let amount = a.text_of("PaymentAmount").map_or(Ok(bill.open), amount)?;
            let already: i64 = out.iter().filter(|(b, _)| b == id).map(|(_, a)| a).sum();
            if amount + already > bill.open {
                return Err(Reply::error(
                    3210,
                    "You cannot pay more than the amount due.",
                ));
            }
            out.push((id.to_string(), amount));
        }
        Ok(out)
    }

    fn log_write(&mut self, request: &str, id: &str, name: &str) {
        let entry = WriteLogEntry {
            message_set_id: self.current_set_id.clone(),
            request: request.to_string(),
            id: id.to_string(),
            name: name.to_string(),
        };
        self.data.write_log.push(entry);
    }

    fn list_full_name(&self, list_id: &str) -> Option<&str> {
        self.data
            .lists
            .iter()
            .find(|l| l.list_id == list_id)
            .map(|l| l.full_name.as_str())
    }

    fn ref_xml(&self, element: &str, list_id: &str) -> (String, String) {
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
    fn list_ret(&self, r: &ListRecord, include: &[String]) -> String {
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

    /// The `*Ret` for a transaction (header only: the simulator does not return lines).
    fn txn_ret(&self, t: &TxnRecord, include: &[String]) -> String {
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
            }
            TxnKind::Bill => {
                entity(&mut parts);
                date(&mut parts);
                el(&mut parts, "AmountDue", &total);
                refn(&mut parts);
                memo(&mut parts);
                el(&mut parts, "IsPaid", paid);
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
            }
            TxnKind::Check => {
                account(&mut parts);
                entity(&mut parts);
                refn(&mut parts);
                date(&mut parts);
                el(&mut parts, "Amount", &total);
                memo(&mut parts);
            }
            TxnKind::PurchaseOrder => {
                entity(&mut parts);
                date(&mut parts);
                refn(&mut parts);
                el(&mut parts, "TotalAmount", &total);
                memo(&mut parts);
            }
            TxnKind::JournalEntry => {
                date(&mut parts);
                refn(&mut parts);
                memo(&mut parts);
            }
        }
        ret_element(&format!("{}Ret", t.kind.tag()), parts, include)
    }

    fn host_ret(&self) -> String {
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

    fn company_ret(&self) -> String {
        let name = std::path::Path::new(&self.file.replace('\\', "/"))
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "<CompanyRet><IsSampleCompany>false</IsSampleCompany><CompanyName>{}</CompanyName></CompanyRet>",
            escape(&name)
        )
    }

    fn query(&mut self, table: Table, rq: &Node) -> Handled {
        let include: Vec<String> = rq
            .children_named("IncludeRetElement")
            .map(|n| n.text.trim().to_string())
            .collect();
        let max = rq
            .text_of("MaxReturned")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
            .max(1);
        let (ids, missing) = match rq.attr("iterator") {
            Some("Continue") | Some("Stop") => {
                let id = rq.attr("iteratorID").unwrap_or("");
                let state = self
                    .session
                    .iterators
                    .get_mut(id)
                    .filter(|s| s.table == table)
                    .ok_or_else(|| object_not_found(id))?;
                if rq.attr("iterator") == Some("Stop") {
                    self.session.iterators.remove(id);
                    return Ok(Reply::ok(String::new()));
                }
                let page: Vec<String> = state
                    .remaining
                    .drain(..max.min(state.remaining.len()))
                    .collect();
                let left = state.remaining.len();
                let include = state.include.clone();
                let mut reply = Reply::ok(self.render(table, &page, &include));
                reply.iterator = Some((id.to_string(), left));
                return Ok(reply);
            }
            _ => self.select(table, rq),
        };
        if rq.attr("iterator") == Some("Start") {
            let mut remaining = ids;
            let page: Vec<String> = remaining.drain(..max.min(remaining.len())).collect();
            self.session.iterator_seq += 1;
            let id = format!(
                "{{{:08x}-0000-4000-8000-{:012x}}}",
                self.data.clock, self.session.iterator_seq
            );
            let left = remaining.len();
            self.session.iterators.insert(
                id.clone(),
                IteratorState {
                    table,
                    remaining,
                    include: include.clone(),
                },
            );
            let mut reply = if page.is_empty() {
                Reply::status(1, "Info", NOT_FOUND)
            } else {
                Reply::ok(self.render(table, &page, &include))
            };
            reply.iterator = Some((id, left));
            return Ok(reply);
        }
        let page: Vec<String> = ids.into_iter().take(max).collect();
        let body = self.render(table, &page, &include);
        if let Some(first) = missing.first() {
            let mut reply = Reply::status(
                500,
                "Warn",
                format!(
                    "The query request has not been fully completed. There was a required element (\"{first}\") that could not be found in QuickBooks."
                ),
            );
            reply.body = body;
            return Ok(reply);
        }
        if page.is_empty() {
            return Ok(Reply::status(1, "Info", NOT_FOUND));
        }
        Ok(Reply::ok(body))
    }

    /// The ids a query matches, and the explicitly requested ids that do not exist.
    fn select(&self, table: Table, rq: &Node) -> (Vec<String>, Vec<String>) {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        match table {
            Table::List(_) | Table::Items => {
                let of_kind = || self.data.lists.iter().filter(move |l| table.holds(l.kind));
                let explicit: Vec<&Node> = rq
                    .children
                    .iter()
                    .filter(|c| c.name == "ListID" || c.name == "FullName")
                    .collect();
                if !explicit.is_empty() {
                    for c in explicit {
                        let v = c.text.trim();
                        match of_kind().find(|l| {
                            if c.name == "ListID" {
                                l.list_id == v
                            } else {
                                l.full_name.eq_ignore_ascii_case(v)
                            }
                        }) {
                            Some(l) => found.push(l.list_id.clone()),
                            None => missing.push(v.to_string()),
                        }
                    }
                    return (found, missing);
                }
                let active = rq.text_of("ActiveStatus").unwrap_or("ActiveOnly");
                let name_filter = rq.child("NameFilter").map(|f| {
                    (
                        f.text_of("MatchCriterion")
                            .unwrap_or("StartsWith")
                            .to_string(),
                        f.text_of("Name").unwrap_or("").to_lowercase(),
                    )
                });
                let account_type = rq.text_of("AccountType");
                for l in of_kind() {
                    let active_ok = match active {
                        "All" => true,
                        "InactiveOnly" => !l.active,
                        _ => l.active,
                    };
                    let name_ok = name_filter.as_ref().is_none_or(|(how, n)| {
                        let full = l.full_name.to_lowercase();
                        match how.as_str() {
                            "Contains" => full.contains(n.as_str()),
                            "EndsWith" => full.ends_with(n.as_str()),
                            _ => full.starts_with(n.as_str()),
                        }
                    });
                    let type_ok = account_type.is_none_or(|t| l.account_type.as_deref() == Some(t));
                    if active_ok && name_ok && type_ok {
                        found.push(l.list_id.clone());
                    }
                }
            }
            Table::Txn(kind) => {
                let of_kind = || self.data.txns.iter().filter(move |t| t.kind == kind);
                let explicit: Vec<&Node> = rq
                    .children
                    .iter()
                    .filter(|c| c.name == "TxnID" || c.name == "RefNumber")
                    .collect();
                if !explicit.is_empty() {
                    for c in explicit {
                        let v = c.text.trim();
                        let hits: Vec<String> = of_kind()
                            .filter(|t| {
                                if c.name == "TxnID" {
                                    t.txn_id == v
                                } else {
                                    t.ref_number.as_deref() == Some(v)
                                }
                            })
                            .map(|t| t.txn_id.clone())
                            .collect();
                        if hits.is_empty() {
                            missing.push(v.to_string());
                        }
                        found.extend(hits);
                    }
                    return (found, missing);
                }
                // EntityFilter names a customer, vendor, employee or other name, like EntityRef.
                let names = ref_target("EntityRef").map_or(&[][..], |t| t.0);
                let entity = rq.child("EntityFilter").map(|f| {
                    self.find_ref(names, f)
                        .map(|i| self.data.lists[i].list_id.clone())
                });
                let range = rq.child("TxnDateRangeFilter");
                let from = range.and_then(|r| r.text_of("FromTxnDate"));
                let to = range.and_then(|r| r.text_of("ToTxnDate"));
                for t in of_kind() {
                    let entity_ok = entity
                        .as_ref()
                        .is_none_or(|e| e.is_some() && t.entity == *e);
                    let from_ok = from.is_none_or(|f| t.txn_date.as_str() >= f);
                    let to_ok = to.is_none_or(|x| t.txn_date.as_str() <= x);
                    if entity_ok && from_ok && to_ok {
                        found.push(t.txn_id.clone());
                    }
                }
            }
        }
        (found, missing)
    }

    fn render(&self, table: Table, ids: &[String], include: &[String]) -> String {
        let mut out = String::new();
        for id in ids {
            match table {
                Table::List(_) | Table::Items => {
                    if let Some(l) = self.data.lists.iter().find(|l| &l.list_id == id) {
                        out.push_str(&self.list_ret(l, include));
                    }
                }
                Table::Txn(_) => {
                    if let Some(t) = self.data.txns.iter().find(|t| &t.txn_id == id) {
                        out.push_str(&self.txn_ret(t, include));
                    }
                }
            }
        }
        out
    }
}

/// What a query or iterator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    List(ListKind),
    /// `ItemQuery`: every item type at once.
    Items,
    Txn(TxnKind),
}

impl Table {
    fn holds(self, kind: ListKind) -> bool {
        match self {
            Table::List(k) => k == kind,
            Table::Items => kind.namespace() == NameSpace::Items,
            Table::Txn(_) => false,
        }
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

fn preferences_ret() -> String {
    "<PreferencesRet><AccountingPreferences><IsUsingAccountNumbers>false</IsUsingAccountNumbers>\
     <IsRequiringAccounts>true</IsRequiringAccounts><IsUsingClassTracking>true</IsUsingClassTracking>\
     <IsUsingAuditTrail>true</IsUsingAuditTrail><IsAssigningJournalEntryNumbers>true</IsAssigningJournalEntryNumbers>\
     </AccountingPreferences></PreferencesRet>"
        .into()
}

fn amount(s: &str) -> Result<i64, Reply> {
    parse_cents(s).ok_or_else(|| {
        Reply::error(
            3020,
            format!(
                "There was an error when converting the amount \"{s}\" in the field \"Amount\"."
            ),
        )
    })
}

/// A line's amount: `Amount`, else quantity × rate (or cost), else zero.
fn line_amount(line: &Node) -> Result<i64, Reply> {
    if let Some(a) = line.text_of("Amount") {
        return amount(a);
    }
    let rate = line.text_of("Rate").or(line.text_of("Cost"));
    match (line.text_of("Quantity"), rate) {
        (Some(q), Some(r)) => times(q, r).ok_or_else(|| {
            Reply::error(
                3020,
                format!("There was an error when converting the quantity \"{q}\" or rate \"{r}\"."),
            )
        }),
        (None, Some(r)) => amount(r),
        _ => Ok(0),
    }
}

fn lines_total(add: &Node) -> Result<i64, Reply> {
    let mut total = 0i64;
    for line in &add.children {
        if matches!(
            line.name.as_str(),
            "InvoiceLineAdd" | "ExpenseLineAdd" | "ItemLineAdd" | "PurchaseOrderLineAdd"
        ) {
            total = total.saturating_add(line_amount(line)?);
        }
    }
    Ok(total)
}

/// A journal entry's total; its debits and credits must balance.
fn journal_total(add: &Node) -> Result<i64, Reply> {
    let sum = |name: &str| -> Result<i64, Reply> {
        add.children_named(name)
            .map(line_amount)
            .try_fold(0i64, |acc, a| Ok(acc.saturating_add(a?)))
    };
    let (debits, credits) = (sum("JournalDebitLine")?, sum("JournalCreditLine")?);
    if debits != credits {
        return Err(Reply::error(
            3210,
            "The transaction is not in balance.  Make sure the amounts in the debit column equal the amounts in the credit column.",
        ));
    }
    Ok(debits)
}
