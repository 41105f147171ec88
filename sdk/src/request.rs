//! [`Request`]: one qbXML request a plugin asks the engine to send to QuickBooks.
//!
//! This is the contract between a mapper and the engine's queue. The engine adds the
//! envelope, the `requestID` and the message-set ids; the plugin supplies the request
//! element, how to recognise it (its key) and how to find it again (its probe).

/// One request for QuickBooks, produced by a mapper.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl Request {
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
        let r = Request {
            key: "k".into(),
            depends_on: vec![],
            qbxml: "<CustomerAddRq><CustomerAdd><Name>A</Name></CustomerAdd></CustomerAddRq>"
                .into(),
            probe: None,
            adopt_existing: true,
            notes: vec![],
        };
        assert_eq!(r.request_type(), Some("CustomerAdd"));
        assert_eq!(root_element("  <HostQueryRq/>"), Some("HostQueryRq"));
        assert_eq!(root_element("<?xml?>"), None);
    }
}
