//! Dispatch: which handler runs a request, the checks every write shares (references,
//! lengths), and queries with their iterators. The writes live in `lists.rs` and `txns.rs`,
//! the `*Ret` elements in `rets.rs`.
//!
//! Every check QuickBooks makes before writing runs before anything is changed, so a
//! refused request leaves the file as it was.

use super::model::{ListKind, NameSpace, TxnKind};
use super::rets::{Shape, preferences_ret};
use super::tree::Node;
use super::{Company, IteratorState, WriteLogEntry};

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

    pub(super) fn status(code: i32, severity: &'static str, message: impl Into<String>) -> Reply {
        Reply {
            severity,
            ..Reply::error(code, message)
        }
    }
}

pub(super) type Handled = Result<Reply, Reply>;

const NOT_FOUND: &str = "A query request did not find a matching object in QuickBooks";

fn too_long(value: &str, field: &str) -> Reply {
    Reply::error(
        3070,
        format!("The string \"{value}\" in the field \"{field}\" is too long."),
    )
}

pub(super) fn object_not_found(id: &str) -> Reply {
    Reply::error(
        3120,
        format!("Object \"{id}\" specified in the request cannot be found."),
    )
}

pub(super) fn check_len(value: &str, field: &str, max: usize) -> Result<(), Reply> {
    if value.chars().count() > max {
        Err(too_long(value, field))
    } else {
        Ok(())
    }
}

/// The lists a `*Ref` element points into, and the word QuickBooks uses for them in 3140
/// messages. References to lists the simulator does not keep (terms, templates, sales tax
/// codes…) are accepted unchecked.
pub(super) fn ref_target(name: &str) -> Option<(&'static [ListKind], &'static str)> {
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
            && let Some(m) = rq.child(op)
        {
            if let Some(kind) = ListKind::from_tag(obj) {
                return self.list_mod(kind, m);
            }
            if let Some(kind) = TxnKind::from_tag(obj)
                && kind.item_line().is_some()
            {
                return self.txn_mod(kind, m);
            }
        } else if op == "TxnVoid" {
            return self.txn_void(rq);
        } else if op == "TxnDel" {
            return self.txn_del(rq);
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

    pub(super) fn tick(&mut self) -> i64 {
        self.data.clock += 1;
        self.data.clock
    }

    pub(super) fn find_ref(&self, kinds: &[ListKind], r: &Node) -> Option<usize> {
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

    /// The ListID a `*Ref` element names, if it names a record of the lists it points into.
    pub(super) fn ref_id(&self, r: &Node) -> Option<String> {
        let (kinds, _) = ref_target(&r.name)?;
        self.find_ref(kinds, r)
            .map(|i| self.data.lists[i].list_id.clone())
    }

    /// 3140 for the first reference (at any depth) to a record that does not exist.
    pub(super) fn check_refs(&self, node: &Node, in_what: &str) -> Result<(), Reply> {
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

    pub(super) fn log_write(&mut self, request: &str, id: &str, name: &str) {
        let entry = WriteLogEntry {
            message_set_id: self.current_set_id.clone(),
            request: request.to_string(),
            id: id.to_string(),
            name: name.to_string(),
        };
        self.data.write_log.push(entry);
    }

    fn query(&mut self, table: Table, rq: &Node) -> Handled {
        let shape = Shape {
            include: rq
                .children_named("IncludeRetElement")
                .map(|n| n.text.trim().to_string())
                .collect(),
            lines: rq.text_of("IncludeLineItems") == Some("true"),
        };
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
                let shape = state.shape.clone();
                let mut reply = Reply::ok(self.render(table, &page, &shape));
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
                    shape: shape.clone(),
                },
            );
            let mut reply = if page.is_empty() {
                Reply::status(1, "Info", NOT_FOUND)
            } else {
                Reply::ok(self.render(table, &page, &shape))
            };
            reply.iterator = Some((id, left));
            return Ok(reply);
        }
        let page: Vec<String> = ids.into_iter().take(max).collect();
        let body = self.render(table, &page, &shape);
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

    fn render(&self, table: Table, ids: &[String], shape: &Shape) -> String {
        let mut out = String::new();
        for id in ids {
            match table {
                Table::List(_) | Table::Items => {
                    if let Some(l) = self.data.lists.iter().find(|l| &l.list_id == id) {
                        out.push_str(&self.list_ret(l, &shape.include));
                    }
                }
                Table::Txn(_) => {
                    if let Some(t) = self.data.txns.iter().find(|t| &t.txn_id == id) {
                        out.push_str(&self.txn_ret(t, shape));
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
