//! List adds and mods: names (one name space per `NameSpace`), parents and the
//! `Parent:Child` full names that follow them, and the plain fields each list keeps.

use std::collections::BTreeMap;

use super::Company;
use super::handlers::{Handled, Reply, check_len, object_not_found};
use super::model::{ListKind, ListRecord, NameSpace, list_id};
use super::tree::Node;

fn same_tree(a: ListKind, b: ListKind) -> bool {
    a == b || (a.namespace() == NameSpace::Items && b.namespace() == NameSpace::Items)
}

impl Company {
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

    pub(super) fn list_add(&mut self, kind: ListKind, add: &Node) -> Handled {
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

    pub(super) fn list_mod(&mut self, kind: ListKind, m: &Node) -> Handled {
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
}
