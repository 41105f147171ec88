//! Building request message sets: the envelope, requestIDs, error-recovery ids, iterators.
//!
//! Plugins produce each `<XxxRq>` element; this module only wraps them, so it never needs to
//! know the shape of a particular request.

use qbridge_sdk::schema::QbxmlVersion;

use super::QbxmlError;
use super::text::escape;

/// Longest requestID QuickBooks accepts (longer ones get status 1060).
pub const MAX_REQUEST_ID_LEN: usize = 50;
/// Longest newMessageSetID/oldMessageSetID QuickBooks accepts.
pub const MAX_MESSAGE_SET_ID_LEN: usize = 23;

/// What QuickBooks does when a request in the message set fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Stop at the first error; later requests are not processed.
    Stop,
    /// Process every request whatever happens to the others.
    Continue,
    /// Stop and undo the set's earlier writes (whether real QuickBooks honours this is
    /// unverified; prefer one write per message set).
    Rollback,
}

impl OnError {
    /// The attribute value, e.g. `stopOnError`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Stop => "stopOnError",
            OnError::Continue => "continueOnError",
            OnError::Rollback => "rollbackOnError",
        }
    }

    /// Parses the attribute value.
    pub fn parse(s: &str) -> Option<OnError> {
        match s {
            "stopOnError" => Some(OnError::Stop),
            "continueOnError" => Some(OnError::Continue),
            "rollbackOnError" => Some(OnError::Rollback),
            _ => None,
        }
    }
}

/// qbXML error recovery for a message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// No error recovery.
    None,
    /// `newMessageSetID`: QuickBooks keeps this set's response so it can be asked for later.
    New(String),
    /// `oldMessageSetID`: ask QuickBooks what became of an earlier set whose response was lost.
    Old(String),
}

/// The envelope version to send to a client that reports `client` as its highest qbXML
/// version: 16.0 or 13.0 when the client supports them (the schemas we validate against),
/// otherwise the client's own version — QuickBooks as old as 2006 reports 5.0, and such
/// requests simply cannot be schema-checked (see [`schema_for`]).
pub fn envelope_version(client: (u32, u32)) -> (u32, u32) {
    QbxmlVersion::highest_supported(client.0, client.1)
        .map(QbxmlVersion::number)
        .unwrap_or(client)
}

/// The schema to validate a message set of `version` against: the newest shipped schema not
/// above it, or `None` below 13.0.
pub fn schema_for(version: (u32, u32)) -> Option<QbxmlVersion> {
    QbxmlVersion::highest_supported(version.0, version.1)
}

/// Builds a complete request message set.
///
/// `requests` are `(requestID, element)` pairs where `element` is one complete `<XxxRq>…`
/// element *without* a requestID attribute; the id is inserted into its start tag.
pub fn build_message_set(
    version: (u32, u32),
    on_error: OnError,
    recovery: &Recovery,
    requests: &[(&str, &str)],
) -> Result<String, QbxmlError> {
    let body_len: usize = requests
        .iter()
        .map(|(id, rq)| id.len() + rq.len() + 16)
        .sum();
    let mut out = String::with_capacity(body_len + 160);
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    out.push_str(&format!(
        r#"<?qbxml version="{}.{}"?><QBXML><QBXMLMsgsRq onError="{}""#,
        version.0,
        version.1,
        on_error.as_str()
    ));
    match recovery {
        Recovery::None => {}
        Recovery::New(id) => push_set_id(&mut out, "newMessageSetID", id)?,
        Recovery::Old(id) => push_set_id(&mut out, "oldMessageSetID", id)?,
    }
    out.push('>');
    for (index, (id, rq)) in requests.iter().enumerate() {
        push_request(&mut out, index, id, rq)?;
    }
    out.push_str("</QBXMLMsgsRq></QBXML>");
    Ok(out)
}

fn push_set_id(out: &mut String, attr: &str, id: &str) -> Result<(), QbxmlError> {
    let len = id.chars().count();
    if len > MAX_MESSAGE_SET_ID_LEN {
        return Err(QbxmlError::MessageSetIdTooLong { id: id.into(), len });
    }
    out.push_str(&format!(r#" {attr}="{}""#, escape(id)));
    Ok(())
}

fn push_request(out: &mut String, index: usize, id: &str, rq: &str) -> Result<(), QbxmlError> {
    let len = id.chars().count();
    if len > MAX_REQUEST_ID_LEN {
        return Err(QbxmlError::RequestIdTooLong { id: id.into(), len });
    }
    let bad = |reason: &str| QbxmlError::BadRequestElement {
        index,
        reason: reason.into(),
    };
    let rq = rq.trim();
    let rest = rq
        .strip_prefix('<')
        .ok_or_else(|| bad("it does not start with '<'"))?;
    let name_len = rest
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .ok_or_else(|| bad("its start tag never closes"))?;
    let name = &rest[..name_len];
    if !name.ends_with("Rq") || name.is_empty() {
        return Err(bad("its element name does not end in \"Rq\""));
    }
    let start_tag_end = rest
        .find('>')
        .ok_or_else(|| bad("its start tag never closes"))?;
    if rest[..start_tag_end].contains("requestID") {
        return Err(bad("it already has a requestID attribute"));
    }
    let closes = rest.ends_with(&format!("</{name}>")) || rest[..=start_tag_end].ends_with("/>");
    if !closes || !rq.ends_with('>') {
        return Err(bad(&format!("it does not end with </{name}>")));
    }
    out.push('<');
    out.push_str(name);
    out.push_str(&format!(r#" requestID="{}""#, escape(id)));
    out.push_str(&rest[name_len..]);
    Ok(())
}

/// One page of an iterated query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iteration<'a> {
    /// The first page.
    Start {
        /// Page size (at least 1).
        max_returned: u32,
    },
    /// A later page of the iterator QuickBooks returned.
    Continue {
        /// The `iteratorID` of the previous response.
        iterator_id: &'a str,
        /// Page size (at least 1).
        max_returned: u32,
    },
}

/// Builds an iterated query element, e.g. `iterator_query("CustomerQuery", Start{100}, "")`
/// → `<CustomerQueryRq iterator="Start"><MaxReturned>100</MaxReturned></CustomerQueryRq>`.
///
/// `filters` are the elements that follow `MaxReturned` in the query's schema order (e.g.
/// `<ActiveStatus>All</ActiveStatus>`, then `IncludeRetElement`s). A Continue page must send
/// the same filters as its Start page.
pub fn iterator_query(query: &str, iteration: Iteration<'_>, filters: &str) -> String {
    let (attrs, max) = match iteration {
        Iteration::Start { max_returned } => (r#"iterator="Start""#.to_string(), max_returned),
        Iteration::Continue {
            iterator_id,
            max_returned,
        } => (
            format!(
                r#"iterator="Continue" iteratorID="{}""#,
                escape(iterator_id)
            ),
            max_returned,
        ),
    };
    format!(
        "<{query}Rq {attrs}><MaxReturned>{}</MaxReturned>{filters}</{query}Rq>",
        max.max(1)
    )
}

/// The iterator attribute of a query request: `Start`, `Continue` or `Stop`; `None` for a
/// request that is not an iterated query.
fn iterator_of(request: &str) -> Option<&str> {
    let head = &request[..request.find('>')?];
    let at = head.find(r#" iterator=""#)? + r#" iterator=""#.len();
    head[at..].split('"').next()
}

/// The next page of an iterated query: the same request (filters, `MaxReturned`) with
/// `iterator="Continue"` and QuickBooks' `iteratorID`. `None` when `request` is not an
/// iterated query.
pub fn continue_iteration(request: &str, iterator_id: &str) -> Option<String> {
    iterator_of(request)?;
    Some(with_iterator_attrs(
        request,
        &format!(
            r#"iterator="Continue" iteratorID="{}""#,
            escape(iterator_id)
        ),
    ))
}

/// An iterated query started afresh (`iterator="Start"`): iterators live only as long as the
/// QuickBooks session that opened them, so a page left over from an earlier session starts
/// over. `None` when `request` is not a Continue page.
pub fn restart_iteration(request: &str) -> Option<String> {
    (iterator_of(request)? == "Continue")
        .then(|| with_iterator_attrs(request, r#"iterator="Start""#))
}

/// `request` with its start tag's `iterator`/`iteratorID` attributes replaced by `attrs`.
fn with_iterator_attrs(request: &str, attrs: &str) -> String {
    let end = request.find('>').unwrap_or(request.len());
    let (head, rest) = request.split_at(end);
    let head = head.trim_end_matches('/');
    let slash = &request[head.len()..end];
    let mut kept = String::with_capacity(head.len() + attrs.len() + 1);
    let mut parts = head.split(' ');
    kept.push_str(parts.next().unwrap_or(""));
    // Attribute values never contain a space here: requestID is ours, iteratorIDs are GUIDs.
    for part in parts.filter(|p| !p.is_empty()) {
        if !part.starts_with("iterator=") && !part.starts_with("iteratorID=") {
            kept.push(' ');
            kept.push_str(part);
        }
    }
    kept.push(' ');
    kept.push_str(attrs);
    kept.push_str(slash);
    kept.push_str(rest);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbridge_sdk::schema::validate;

    const CUSTOMER_ADD: &str =
        "<CustomerAddRq><CustomerAdd><Name>Acme &amp; Sons</Name></CustomerAdd></CustomerAddRq>";

    #[test]
    fn message_set_inserts_request_ids_and_validates_in_both_schemas() {
        let xml = build_message_set(
            (13, 0),
            OnError::Stop,
            &Recovery::New("job-1-a1".into()),
            &[("op-1", CUSTOMER_ADD), ("op-2", "<HostQueryRq/>")],
        )
        .unwrap();
        assert!(xml.contains(r#"<CustomerAddRq requestID="op-1"><CustomerAdd>"#));
        assert!(xml.contains(r#"<HostQueryRq requestID="op-2"/>"#));
        assert!(xml.contains(r#"onError="stopOnError" newMessageSetID="job-1-a1""#));
        for v in QbxmlVersion::ALL {
            validate(v, &xml).unwrap();
        }
    }

    #[test]
    fn request_id_over_50_chars_is_refused() {
        let long = "x".repeat(51);
        let err = build_message_set(
            (13, 0),
            OnError::Stop,
            &Recovery::None,
            &[(&long, CUSTOMER_ADD)],
        )
        .unwrap_err();
        assert!(
            matches!(err, QbxmlError::RequestIdTooLong { len: 51, .. }),
            "{err}"
        );
    }

    #[test]
    fn message_set_id_over_23_chars_is_refused() {
        let err = build_message_set(
            (13, 0),
            OnError::Continue,
            &Recovery::Old("123456789012345678901234".into()),
            &[],
        )
        .unwrap_err();
        assert!(matches!(
            err,
            QbxmlError::MessageSetIdTooLong { len: 24, .. }
        ));
    }

    #[test]
    fn request_that_already_has_an_id_or_is_not_an_rq_is_refused() {
        for bad in [
            r#"<HostQueryRq requestID="1"/>"#,
            "<CustomerAdd><Name>A</Name></CustomerAdd>",
            "<HostQueryRq>",
            "HostQueryRq",
        ] {
            let err = build_message_set((13, 0), OnError::Stop, &Recovery::None, &[("1", bad)])
                .unwrap_err();
            assert!(
                matches!(err, QbxmlError::BadRequestElement { index: 0, .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn envelope_version_is_highest_shipped_not_above_client() {
        assert_eq!(envelope_version((16, 0)), (16, 0));
        assert_eq!(envelope_version((17, 0)), (16, 0));
        assert_eq!(envelope_version((15, 0)), (13, 0));
        assert_eq!(envelope_version((5, 0)), (5, 0));
        assert_eq!(schema_for((5, 0)), None);
        assert_eq!(schema_for((14, 0)), Some(QbxmlVersion::V13_0));
    }

    #[test]
    fn iterator_pages_validate() {
        let start = iterator_query(
            "CustomerQuery",
            Iteration::Start { max_returned: 100 },
            "<ActiveStatus>All</ActiveStatus>",
        );
        let next = iterator_query(
            "CustomerQuery",
            Iteration::Continue {
                iterator_id: "{5d1e-77}",
                max_returned: 100,
            },
            "",
        );
        let xml = build_message_set(
            (13, 0),
            OnError::Stop,
            &Recovery::None,
            &[("1", &start), ("2", &next)],
        )
        .unwrap();
        assert!(xml.contains(r#"iterator="Continue" iteratorID="{5d1e-77}""#));
        for v in QbxmlVersion::ALL {
            validate(v, &xml).unwrap();
        }
    }

    #[test]
    fn iterator_pages_continue_and_restart_keep_the_filters() {
        let start = iterator_query(
            "AccountQuery",
            Iteration::Start { max_returned: 2 },
            "<ActiveStatus>All</ActiveStatus>",
        );
        let next = continue_iteration(&start, "{ab-1}").unwrap();
        assert_eq!(
            next,
            r#"<AccountQueryRq iterator="Continue" iteratorID="{ab-1}"><MaxReturned>2</MaxReturned><ActiveStatus>All</ActiveStatus></AccountQueryRq>"#
        );
        let later = continue_iteration(&next, "{ab-2}").unwrap();
        assert!(later.contains(r#"iteratorID="{ab-2}""#) && !later.contains("ab-1"));
        assert_eq!(restart_iteration(&later).unwrap(), start);
        assert_eq!(
            restart_iteration(&start),
            None,
            "a Start page is already fresh"
        );
        let plain = "<AccountQueryRq><MaxReturned>2</MaxReturned></AccountQueryRq>";
        assert_eq!(continue_iteration(plain, "{x}"), None);
        assert_eq!(restart_iteration(plain), None);
    }
}
