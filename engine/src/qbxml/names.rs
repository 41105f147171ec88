//! QuickBooks' shared name space, as request text. Customers, vendors, employees and other
//! names share one name space: `CustomerAdd` of a name a vendor holds fails with 3100 while a
//! `CustomerQuery` for it finds nothing. This module knows which Adds create such a name, the
//! name they create, the queries that find who holds a name, and how to rewrite a name where
//! a request creates or refers to it. Pure text functions: no SQL, no policy.

use super::text::escape;

/// Longest name QuickBooks accepts for customers, vendors, employees and other names.
pub const MAX_NAME: usize = 41;

/// A list of the shared name space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameList {
    /// Customers (and their jobs).
    Customer,
    /// Vendors.
    Vendor,
    /// Employees.
    Employee,
    /// Other names.
    OtherName,
}

impl NameList {
    /// Every list of the name space, in the order they are looked up.
    pub const ALL: [NameList; 4] = [
        NameList::Customer,
        NameList::Vendor,
        NameList::Employee,
        NameList::OtherName,
    ];

    /// The qbXML object name, e.g. `Vendor`.
    pub fn tag(self) -> &'static str {
        match self {
            NameList::Customer => "Customer",
            NameList::Vendor => "Vendor",
            NameList::Employee => "Employee",
            NameList::OtherName => "OtherName",
        }
    }

    /// The list as QuickBooks' menus name it, for advice.
    pub fn menu_name(self) -> &'static str {
        match self {
            NameList::Customer => "Customer:Job list",
            NameList::Vendor => "Vendor list",
            NameList::Employee => "Employee list",
            NameList::OtherName => "Other Names list",
        }
    }

    /// One letter for disambiguating suffixes: C, V, E, O.
    pub fn initial(self) -> char {
        match self {
            NameList::Customer => 'C',
            NameList::Vendor => 'V',
            NameList::Employee => 'E',
            NameList::OtherName => 'O',
        }
    }

    /// The list an Add request type creates a record in (`CustomerAdd` → customer).
    pub fn of_add(request_type: &str) -> Option<NameList> {
        let tag = request_type.strip_suffix("Add")?;
        Self::ALL.into_iter().find(|l| l.tag() == tag)
    }

    /// Parses [`NameList::tag`].
    pub fn from_tag(tag: &str) -> Option<NameList> {
        Self::ALL.into_iter().find(|l| l.tag() == tag)
    }

    /// Elements whose `FullName` may name a record of this list: its own reference, the
    /// entity references that point into the whole name space, a customer's jobs' parent,
    /// the entity filter of transaction queries, and the list's own query (a probe).
    fn referring_elements(self) -> Vec<String> {
        let own: &[&str] = match self {
            NameList::Customer => &["CustomerRef", "ParentRef"],
            NameList::Vendor => &["VendorRef"],
            NameList::Employee => &["EmployeeRef"],
            NameList::OtherName => &[],
        };
        own.iter()
            .chain(&[
                "EntityRef",
                "PayeeEntityRef",
                "ShipToEntityRef",
                "EntityFilter",
            ])
            .map(|s| s.to_string())
            .chain([format!("{}QueryRq", self.tag())])
            .collect()
    }

    /// A query for the record of this list named `name` (one `<XxxQueryRq>` element).
    pub fn lookup(self, name: &str) -> String {
        let tag = self.tag();
        format!(
            "<{tag}QueryRq><FullName>{}</FullName></{tag}QueryRq>",
            escape(name)
        )
    }
}

/// The name a name-list Add creates, when it creates a top-level record: a customer's job
/// (with a `ParentRef`) is named under its parent and cannot collide with another list.
/// The first `<Name>` of the Add is its own: `Name` comes first in every one of these Adds.
pub fn added_name(add_xml: &str) -> Option<String> {
    if add_xml.contains("<ParentRef>") {
        return None;
    }
    let (start, end) = text_span(add_xml, "Name", 0)?;
    unescape(&add_xml[start..end])
}

/// The Add with its name replaced by `name`.
pub fn rename_add(add_xml: &str, name: &str) -> Option<String> {
    let (start, end) = text_span(add_xml, "Name", 0)?;
    Some(format!(
        "{}{}{}",
        &add_xml[..start],
        escape(name),
        &add_xml[end..]
    ))
}

/// `name` with the disambiguating suffix for `list` (`template` with `{initial}` replaced by
/// the list's letter), the name shortened first if both would not fit [`MAX_NAME`].
pub fn disambiguated(name: &str, list: NameList, template: &str) -> String {
    let suffix = template.replace("{initial}", &list.initial().to_string());
    let room = MAX_NAME.saturating_sub(suffix.chars().count());
    let base: String = name.chars().take(room).collect();
    format!("{}{suffix}", base.trim_end())
}

/// Rewrites every reference in `xml` to the `list` record once named `from` (compared as
/// QuickBooks compares names, ignoring ASCII case) so it names `to`; a customer's jobs
/// (`from:Job`) follow their parent. `None` when nothing refers to it.
pub fn retarget(xml: &str, list: NameList, from: &str, to: &str) -> Option<String> {
    let mut text = xml.to_string();
    let mut changed = false;
    for container in list.referring_elements() {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        while let Some((start, end)) = element_span(&text, &container, at) {
            out.push_str(&text[at..start]);
            let segment = &text[start..end];
            match rename_full_names(segment, from, to) {
                Some(renamed) => {
                    out.push_str(&renamed);
                    changed = true;
                }
                None => out.push_str(segment),
            }
            at = end;
        }
        out.push_str(&text[at..]);
        text = out;
    }
    changed.then_some(text)
}

/// `segment` with every `FullName` that names `from` (or one of its jobs) renamed.
fn rename_full_names(segment: &str, from: &str, to: &str) -> Option<String> {
    let mut out = String::with_capacity(segment.len());
    let mut at = 0;
    let mut changed = false;
    while let Some((start, end)) = text_span(segment, "FullName", at) {
        out.push_str(&segment[at..start]);
        match unescape(&segment[start..end]).and_then(|old| follow(&old, from, to)) {
            Some(new) => {
                out.push_str(&escape(&new));
                changed = true;
            }
            None => out.push_str(&segment[start..end]),
        }
        at = end;
    }
    out.push_str(&segment[at..]);
    changed.then_some(out)
}

/// The new full name for `old` when the record `from` became `to`.
fn follow(old: &str, from: &str, to: &str) -> Option<String> {
    if old.eq_ignore_ascii_case(from) {
        return Some(to.to_string());
    }
    let head = old.get(..from.len())?;
    let rest = old[from.len()..].strip_prefix(':')?;
    head.eq_ignore_ascii_case(from)
        .then(|| format!("{to}:{rest}"))
}

/// Byte range of the text of the first `<tag>…</tag>` at or after `from`.
fn text_span(xml: &str, tag: &str, from: usize) -> Option<(usize, usize)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.get(from..)?.find(&open)? + from + open.len();
    let end = xml[start..].find(&close)? + start;
    Some((start, end))
}

/// Byte range (start tag to end of end tag) of the first `<tag>` or `<tag …>` element at or
/// after `from`; self-closing elements have no text to rewrite and are stepped over.
fn element_span(xml: &str, tag: &str, from: usize) -> Option<(usize, usize)> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut at = from;
    loop {
        let start = xml.get(at..)?.find(&open)? + at;
        let after = &xml[start + open.len()..];
        match after.chars().next() {
            Some('>') | Some(' ') => {
                let end = xml[start..].find(&close)? + start + close.len();
                return Some((start, end));
            }
            _ => at = start + open.len(),
        }
    }
}

fn unescape(text: &str) -> Option<String> {
    quick_xml::escape::unescape(text)
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_of_a_top_level_add_is_read_and_replaced() {
        let add = "<CustomerAddRq><CustomerAdd><Name>Smith &amp; Sons</Name><CompanyName>Smith &amp; Sons</CompanyName></CustomerAdd></CustomerAddRq>";
        assert_eq!(added_name(add).as_deref(), Some("Smith & Sons"));
        let renamed = rename_add(add, "Smith & Sons (C)").unwrap();
        assert!(
            renamed.contains(
                "<Name>Smith &amp; Sons (C)</Name><CompanyName>Smith &amp; Sons</CompanyName>"
            ),
            "{renamed}"
        );
        let job = "<CustomerAddRq><CustomerAdd><Name>Roof</Name><ParentRef><FullName>Smith</FullName></ParentRef></CustomerAdd></CustomerAddRq>";
        assert_eq!(added_name(job), None, "a job cannot collide with a vendor");
    }

    #[test]
    fn disambiguated_names_fit_forty_one_characters() {
        assert_eq!(
            disambiguated("Acme Supply", NameList::Customer, " ({initial})"),
            "Acme Supply (C)"
        );
        let long = "A".repeat(41);
        let d = disambiguated(&long, NameList::Vendor, " ({initial})");
        assert_eq!(d.chars().count(), MAX_NAME);
        assert!(d.ends_with("AAA (V)"));
        assert_eq!(
            disambiguated(&long, NameList::Vendor, " ({initial})"),
            d,
            "deterministic"
        );
    }

    #[test]
    fn references_follow_a_renamed_customer_and_nothing_else_changes() {
        let invoice = "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>acme supply</FullName></CustomerRef><RefNumber>1</RefNumber><InvoiceLineAdd><ItemRef><FullName>Acme Supply</FullName></ItemRef></InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>";
        let out = retarget(
            invoice,
            NameList::Customer,
            "Acme Supply",
            "Acme Supply (C)",
        )
        .unwrap();
        assert!(
            out.contains("<CustomerRef><FullName>Acme Supply (C)</FullName></CustomerRef>"),
            "{out}"
        );
        assert!(
            out.contains("<ItemRef><FullName>Acme Supply</FullName></ItemRef>"),
            "items are another name space: {out}"
        );
        let job = "<CustomerAddRq><CustomerAdd><Name>Roof</Name><ParentRef><FullName>Acme Supply</FullName></ParentRef></CustomerAdd></CustomerAddRq>";
        assert!(
            retarget(job, NameList::Customer, "Acme Supply", "Acme Supply (C)")
                .unwrap()
                .contains("<ParentRef><FullName>Acme Supply (C)</FullName>")
        );
        let sub = "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Acme Supply:Roof</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq>";
        assert!(
            retarget(sub, NameList::Customer, "Acme Supply", "Acme Supply (C)")
                .unwrap()
                .contains("Acme Supply (C):Roof")
        );
        let probe = "<CustomerQueryRq><FullName>Acme Supply</FullName></CustomerQueryRq>";
        assert_eq!(
            retarget(probe, NameList::Customer, "Acme Supply", "Acme Supply (C)").as_deref(),
            Some("<CustomerQueryRq><FullName>Acme Supply (C)</FullName></CustomerQueryRq>")
        );
        let bill = "<BillAddRq><BillAdd><VendorRef><FullName>Acme Supply</FullName></VendorRef></BillAdd></BillAddRq>";
        assert_eq!(
            retarget(bill, NameList::Customer, "Acme Supply", "Acme Supply (C)"),
            None,
            "the vendor keeps its name"
        );
    }

    #[test]
    fn several_references_in_one_request_all_follow() {
        let check = "<CheckAddRq><CheckAdd><PayeeEntityRef><FullName>X</FullName></PayeeEntityRef><ExpenseLineAdd><CustomerRef><FullName>X</FullName></CustomerRef></ExpenseLineAdd><ExpenseLineAdd><CustomerRef><FullName>X</FullName></CustomerRef></ExpenseLineAdd></CheckAdd></CheckAddRq>";
        let out = retarget(check, NameList::Customer, "X", "X (C)").unwrap();
        assert_eq!(
            out.matches("<FullName>X (C)</FullName>").count(),
            3,
            "{out}"
        );
    }
}
