//! [`Request`]: one qbXML request a plugin asks the engine to send to QuickBooks.
//!
//! This is the contract between a mapper and the engine's queue. The engine adds the
//! envelope, the `requestID` and the message-set ids; the plugin supplies the request
//! element, how to recognise it (its key) and how to find it again (its probe).

/// What a request does to the QuickBooks object its key names (interface 0.3.0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Action {
    /// Make QuickBooks hold this version of the object: `qbxml` is its Add (the desired
    /// state), sent as the Add the first time and as the matching Mod once QuickBooks has it.
    #[default]
    Write,
    /// Voided at the source: a transaction is voided (or deleted where QuickBooks cannot void
    /// its type), a list object made inactive; never sent if it had not reached QuickBooks.
    Void,
    /// Deleted at the source: a transaction is deleted, a list object made inactive.
    Delete,
}

impl Action {
    /// The name used in the engine's store and API (`write`, `void`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Write => "write",
            Action::Void => "void",
            Action::Delete => "delete",
        }
    }

    /// The inverse of [`Action::as_str`].
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "write" => Some(Action::Write),
            "void" => Some(Action::Void),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// One request for QuickBooks, produced by a mapper.
///
/// Built with [`Request::new`] (or a typed builder's `into_request`) and the chained setters;
/// the struct is `#[non_exhaustive]` so later interface versions can add fields without
/// breaking plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// Idempotency key, stable across re-runs of the same source record, e.g.
    /// `customer:29683501` or `invoice:29684512`. The engine never runs two requests with
    /// the same key of the same plugin and connection twice.
    pub key: String,
    /// Keys that must have completed in QuickBooks before this request is sent (an invoice
    /// depends on its customer and items). A failed dependency holds this request.
    pub depends_on: Vec<String>,
    /// Exactly one qbXML request element, e.g. `<CustomerAddRq><CustomerAdd>…</CustomerAdd>
    /// </CustomerAddRq>`, without `requestID` (the engine assigns it).
    pub qbxml: String,
    /// A query request (e.g. `<InvoiceQueryRq>` by RefNumber) that finds the object if an
    /// earlier attempt landed although its response was lost. Used before any re-send.
    pub probe: Option<String>,
    /// For list adds: when QuickBooks answers 3100 (name already in use), adopt the existing
    /// record as this one instead of failing (set only when the name identifies the entity).
    pub adopt_existing: bool,
    /// What the SDK changed to make the data fit QuickBooks (transliterated or truncated
    /// text), shown to the admin on the job.
    pub notes: Vec<String>,
    /// What the request does to the object [`Request::key`] names.
    pub action: Action,
    /// A stable id per line of `qbxml` in document order (e.g. the source's line ids), so an
    /// edit keeps QuickBooks' TxnLineIDs; empty: lines are paired by position.
    pub line_keys: Vec<String>,
    /// Paths of the fields a probe compares before adopting an object it finds (`Name`,
    /// `BillAddress/City`); empty: every field QuickBooks returns.
    pub significant: Vec<String>,
}

impl Request {
    /// A request to write `qbxml` under `key`, with no dependencies, probe or notes.
    pub fn new(key: impl Into<String>, qbxml: impl Into<String>) -> Request {
        Request {
            key: key.into(),
            depends_on: Vec::new(),
            qbxml: qbxml.into(),
            probe: None,
            adopt_existing: false,
            notes: Vec::new(),
            action: Action::Write,
            line_keys: Vec::new(),
            significant: Vec::new(),
        }
    }

    /// Sets the keys that must be in QuickBooks first.
    pub fn depends_on<I, S>(mut self, keys: I) -> Request
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.depends_on = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the query that finds the object if an earlier attempt landed unseen.
    pub fn probe(mut self, probe: impl Into<String>) -> Request {
        self.probe = Some(probe.into());
        self
    }

    /// On 3100 (name in use), adopt the existing list record (see [`Request::adopt_existing`]).
    pub fn adopt_existing(mut self) -> Request {
        self.adopt_existing = true;
        self
    }

    /// Adds a note for the admin.
    pub fn note(mut self, note: impl Into<String>) -> Request {
        self.notes.push(note.into());
        self
    }

    /// Sets what the request does (see [`Action`]).
    pub fn action(mut self, action: Action) -> Request {
        self.action = action;
        self
    }

    /// Sets one stable id per line, in document order.
    pub fn line_keys<I, S>(mut self, keys: I) -> Request
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.line_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the fields a probe compares before adopting (see [`Request::significant`]).
    pub fn significant<I, S>(mut self, fields: I) -> Request
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.significant = fields.into_iter().map(Into::into).collect();
        self
    }

    /// The request type, taken from the root element: `CustomerAddRq` → `CustomerAdd`.
    pub fn request_type(&self) -> Option<&str> {
        root_element(&self.qbxml).map(|name| name.strip_suffix("Rq").unwrap_or(name))
    }
}

/// Name of the first element of an XML fragment.
pub fn root_element(xml: &str) -> Option<&str> {
    let start = xml.find('<')? + 1;
    let rest = &xml[start..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    let name = &rest[..end];
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_type_comes_from_the_root_element() {
        let r = Request::new(
            "k",
            "<CustomerAddRq><CustomerAdd><Name>A</Name></CustomerAdd></CustomerAddRq>",
        )
        .adopt_existing();
        assert_eq!(r.request_type(), Some("CustomerAdd"));
        assert_eq!(root_element("  <HostQueryRq/>"), Some("HostQueryRq"));
        assert_eq!(root_element("<?xml?>"), None);
    }
}
