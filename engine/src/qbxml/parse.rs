//! Streaming parse of a response message set.
//!
//! QuickBooks answers a big query with tens of megabytes. The reader walks events with a
//! reused buffer and keeps only what the queue needs per response (status, first record's
//! ids, counts) plus the raw `*Ret` elements up to [`RET_XML_CAP`], so memory stays near the
//! size of that cap, not of the document. Parsing is lenient on content (unknown elements
//! and enum values are fine — real QuickBooks sends values its own XSD lacks) and strict on
//! structure (well-formed, no DOCTYPE, bounded depth).

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::QbxmlError;
use super::status::{Outcome, classify};
use super::text::resolve_ref;

/// Raw `*Ret` XML kept per response. Whole `*Ret` elements that would pass it are dropped
/// (and [`Response::ret_xml_truncated`] set); callers that need every record of a large
/// query page through it with an iterator instead.
pub const RET_XML_CAP: usize = 1 << 20;
/// Deepest element nesting accepted (qbXML needs about 10).
pub const MAX_DEPTH: usize = 64;
/// Most responses accepted in one message set.
pub const MAX_RESPONSES: usize = 100_000;
/// Longest text kept for one summary field (ListID, FullName, …).
const MAX_FIELD: usize = 4096;

/// `QBXMLMsgsRs` error-recovery attributes, present when QuickBooks answered an
/// `oldMessageSetID` (or echoed a `newMessageSetID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSetStatus {
    /// `messageSetStatusCode`, when present.
    pub code: Option<i32>,
    /// `newMessageSetID`, when present.
    pub message_set_id: Option<String>,
}

/// A parsed response message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSet {
    /// Error-recovery status of the whole set, if QuickBooks sent one.
    pub message_set_status: Option<MessageSetStatus>,
    /// One entry per `*Rs`, in document order.
    pub responses: Vec<Response>,
}

/// One `*Rs` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The echoed requestID.
    pub request_id: Option<String>,
    /// Element name, e.g. `CustomerAddRs`.
    pub kind: String,
    /// `statusCode`.
    pub status_code: i32,
    /// `statusSeverity` (`Info`, `Warn`, `Error`).
    pub severity: String,
    /// `statusMessage`.
    pub message: String,
    /// What the status means for the job.
    pub outcome: Outcome,
    /// First `*Ret`'s ListID.
    pub list_id: Option<String>,
    /// First `*Ret`'s TxnID.
    pub txn_id: Option<String>,
    /// First `*Ret`'s EditSequence.
    pub edit_sequence: Option<String>,
    /// First `*Ret`'s FullName.
    pub full_name: Option<String>,
    /// First `*Ret`'s RefNumber.
    pub ref_number: Option<String>,
    /// Number of `*Ret` elements.
    pub ret_count: u32,
    /// `iteratorID`, on iterated queries.
    pub iterator_id: Option<String>,
    /// `iteratorRemainingCount`, on iterated queries.
    pub iterator_remaining: Option<u32>,
    /// The raw `*Ret` elements, concatenated, up to [`RET_XML_CAP`] bytes.
    pub ret_xml: Option<String>,
    /// Whether some `*Ret` elements were left out of `ret_xml` because of the cap.
    pub ret_xml_truncated: bool,
}

impl Response {
    /// The iteratorID to continue with, when the iterator has records left.
    pub fn next_page(&self) -> Option<&str> {
        match self.iterator_remaining {
            Some(n) if n > 0 => self.iterator_id.as_deref(),
            _ => None,
        }
    }

    fn from_start(e: &BytesStart<'_>, kind: String, position: u64) -> Result<Response, QbxmlError> {
        let mut r = Response {
            request_id: None,
            kind,
            status_code: 0,
            severity: String::new(),
            message: String::new(),
            outcome: Outcome::Success,
            list_id: None,
            txn_id: None,
            edit_sequence: None,
            full_name: None,
            ref_number: None,
            ret_count: 0,
            iterator_id: None,
            iterator_remaining: None,
            ret_xml: None,
            ret_xml_truncated: false,
        };
        let mut code = None;
        for (key, value) in attributes(e, position)? {
            match key.as_str() {
                "requestID" => r.request_id = Some(value),
                "statusCode" => code = value.trim().parse().ok(),
                "statusSeverity" => r.severity = value,
                "statusMessage" => r.message = value,
                "iteratorID" => r.iterator_id = Some(value),
                "iteratorRemainingCount" => r.iterator_remaining = value.trim().parse().ok(),
                _ => {}
            }
        }
        r.status_code = code.ok_or_else(|| QbxmlError::MissingStatus {
            kind: r.kind.clone(),
        })?;
        r.outcome = classify(r.status_code, &r.severity);
        Ok(r)
    }
}

/// The element's attributes, unescaped; `position` locates errors.
fn attributes(e: &BytesStart<'_>, position: u64) -> Result<Vec<(String, String)>, QbxmlError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| QbxmlError::Malformed {
            position,
            message: err.to_string(),
        })?;
        let key = a.key.as_ref().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| QbxmlError::Malformed {
                position,
                message: err.to_string(),
            })?;
        out.push((key, value.into_owned()));
    }
    Ok(out)
}

fn local_name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_string()
}

/// Where the reader is relative to the current `*Rs`.
struct RsState {
    response: Response,
    /// Depth of the `*Rs` element.
    depth: usize,
    /// The `*Ret` being read, serialised raw, while under the cap.
    ret_buf: Option<String>,
    /// Depth of the open `*Ret`, if any.
    ret_depth: Option<usize>,
    /// The summary field of the first `*Ret` being read, with its text so far.
    field: Option<(String, String)>,
    kept: String,
}

impl RsState {
    fn in_first_ret(&self) -> bool {
        self.ret_depth.is_some() && self.response.ret_count == 1
    }

    fn raw(&mut self, s: &str) {
        if let Some(buf) = &mut self.ret_buf {
            if self.kept.len() + buf.len() + s.len() > RET_XML_CAP {
                self.ret_buf = None;
                self.response.ret_xml_truncated = true;
            } else {
                buf.push_str(s);
            }
        }
    }

    fn text(&mut self, s: &str) {
        if let Some((_, t)) = &mut self.field
            && t.len() + s.len() <= MAX_FIELD
        {
            t.push_str(s);
        }
    }

    fn finish(mut self) -> Response {
        if self.response.ret_count > 0 {
            self.response.ret_xml = Some(self.kept);
        }
        self.response
    }
}

/// Parses a response message set from any buffered reader (`xml.as_bytes()` for a string).
pub fn parse_response(input: impl BufRead) -> Result<ResponseSet, QbxmlError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut depth = 0usize;
    let mut msgs_depth: Option<usize> = None;
    let mut set = ResponseSet {
        message_set_status: None,
        responses: Vec::new(),
    };
    let mut rs: Option<RsState> = None;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|err| QbxmlError::Malformed {
                position: reader.buffer_position(),
                message: err.to_string(),
            })?;
        match event {
            Event::DocType(_) => return Err(QbxmlError::Doctype),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(QbxmlError::TooDeep);
                }
                let name = local_name(e);
                match (&mut rs, msgs_depth) {
                    (None, None) if name == "QBXMLMsgsRs" => {
                        msgs_depth = Some(depth);
                        set.message_set_status = message_set_status(e, reader.buffer_position())?;
                    }
                    (None, Some(md)) if depth == md + 1 => {
                        if set.responses.len() >= MAX_RESPONSES {
                            return Err(QbxmlError::TooManyResponses);
                        }
                        let state = RsState {
                            response: Response::from_start(e, name, reader.buffer_position())?,
                            depth,
                            ret_buf: None,
                            ret_depth: None,
                            field: None,
                            kept: String::new(),
                        };
                        if empty {
                            set.responses.push(state.finish());
                        } else {
                            rs = Some(state);
                        }
                    }
                    (Some(st), _) => {
                        if depth == st.depth + 1 && name.ends_with("Ret") {
                            st.response.ret_count += 1;
                            st.ret_depth = Some(depth);
                            st.ret_buf = (!st.response.ret_xml_truncated).then(String::new);
                        } else if depth == st.depth + 2 && st.in_first_ret() {
                            st.field = summary_field(&name).then(|| (name.clone(), String::new()));
                        }
                        let raw: &str = e;
                        let tag = if empty {
                            format!("<{raw}/>")
                        } else {
                            format!("<{raw}>")
                        };
                        st.raw(&tag);
                        if empty {
                            close(st, depth);
                        }
                    }
                    _ => {}
                }
                if empty {
                    depth -= 1;
                }
            }
            Event::End(e) => {
                if let Some(st) = &mut rs {
                    if depth == st.depth {
                        if let Some(st) = rs.take() {
                            set.responses.push(st.finish());
                        }
                    } else {
                        st.raw(&format!("</{}>", e.name().as_ref()));
                        close(st, depth);
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if let Some(st) = &mut rs {
                    let raw = t.xml10_content();
                    st.raw(&raw);
                    // Entity references arrive as separate `GeneralRef` events, so the raw
                    // text holds none and is already the plain text.
                    st.text(&raw);
                }
            }
            Event::CData(c) => {
                if let Some(st) = &mut rs {
                    let text: &str = &c;
                    st.raw(&format!("<![CDATA[{text}]]>"));
                    st.text(text);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(st) = &mut rs {
                    let ch = resolve_ref(&r).ok_or_else(|| QbxmlError::Malformed {
                        position: reader.buffer_position(),
                        message: format!("unknown entity &{};", r.xml10_content()),
                    })?;
                    st.raw(&format!("&{};", r.xml10_content()));
                    st.text(ch.encode_utf8(&mut [0; 4]));
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
        buf.clear();
    }
    if msgs_depth.is_none() {
        return Err(QbxmlError::NotAResponse);
    }
    if rs.is_some() || depth != 0 {
        return Err(QbxmlError::Malformed {
            position: reader.buffer_position(),
            message: "the document ends inside an element".into(),
        });
    }
    Ok(set)
}

/// Handles the end of an element at `depth` inside a `*Rs`: a finished summary field or
/// a finished `*Ret`.
fn close(st: &mut RsState, depth: usize) {
    if depth == st.depth + 2
        && let Some((name, text)) = st.field.take()
    {
        let slot = match name.as_str() {
            "ListID" => &mut st.response.list_id,
            "TxnID" => &mut st.response.txn_id,
            "EditSequence" => &mut st.response.edit_sequence,
            "FullName" => &mut st.response.full_name,
            _ => &mut st.response.ref_number,
        };
        slot.get_or_insert(text);
    }
    if st.ret_depth == Some(depth) {
        st.ret_depth = None;
        if let Some(ret) = st.ret_buf.take() {
            st.kept.push_str(&ret);
        }
    }
}

fn summary_field(name: &str) -> bool {
    matches!(
        name,
        "ListID" | "TxnID" | "EditSequence" | "FullName" | "RefNumber"
    )
}

fn message_set_status(
    e: &BytesStart<'_>,
    position: u64,
) -> Result<Option<MessageSetStatus>, QbxmlError> {
    let mut status = MessageSetStatus {
        code: None,
        message_set_id: None,
    };
    for (key, value) in attributes(e, position)? {
        match key.as_str() {
            "messageSetStatusCode" => status.code = value.trim().parse().ok(),
            "newMessageSetID" => status.message_set_id = Some(value),
            _ => {}
        }
    }
    Ok((status.code.is_some() || status.message_set_id.is_some()).then_some(status))
}

/// Writes a `CustomerQueryRs` message set with `records` customers, for memory benchmarks
/// of the streaming parser (about 560 bytes per record; 100 000 records ≈ 50 MB). Written
/// to a writer so a benchmark can produce a file without holding it in memory.
pub fn write_large_customer_query_response(
    mut out: impl std::io::Write,
    records: usize,
) -> std::io::Result<()> {
    out.write_all(br#"<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerQueryRs requestID="bench" statusCode="0" statusSeverity="Info" statusMessage="Status OK">"#)?;
    for i in 0..records {
        write!(
            out,
            "<CustomerRet><ListID>{:X}-1700000000</ListID><TimeCreated>2023-11-14T22:13:20+00:00</TimeCreated>\
             <TimeModified>2023-11-14T22:13:20+00:00</TimeModified><EditSequence>1700000000</EditSequence>\
             <Name>Customer {i} &amp; Co</Name><FullName>Customer {i} &amp; Co</FullName><IsActive>true</IsActive>\
             <Sublevel>0</Sublevel><CompanyName>Company number {i}</CompanyName><Phone>555-0100</Phone>\
             <Email>customer{i}@example.com</Email><Balance>0.00</Balance><TotalBalance>0.00</TotalBalance></CustomerRet>",
            0x8000_0000u64 + i as u64
        )?;
    }
    out.write_all(b"</CustomerQueryRs></QBXMLMsgsRs></QBXML>")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = r#"<?xml version="1.0" ?>
<QBXML><QBXMLMsgsRs>
<CustomerQueryRs requestID="q1" statusCode="1" statusSeverity="Info" statusMessage="A query request did not find a matching object in QuickBooks"/>
<CustomerAddRs requestID="a&amp;1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<CustomerRet><ListID>80000001-1700000000</ListID><EditSequence>1700000000</EditSequence>
<Name>Smith &amp; Sons</Name><FullName>Smith &amp; Sons&#x3A;Job &#233;</FullName><Unknown><Deep>x</Deep></Unknown></CustomerRet>
</CustomerAddRs>
<InvoiceAddRs requestID="i1" statusCode="3140" statusSeverity="Error" statusMessage="There is an invalid reference to QuickBooks Customer &quot;Nobody&quot; in the Invoice."/>
</QBXMLMsgsRs></QBXML>"#;

    #[test]
    fn mixed_response_set_parses_into_outcomes_and_summary_fields() {
        let set = parse_response(MIXED.as_bytes()).unwrap();
        assert_eq!(set.message_set_status, None);
        assert_eq!(set.responses.len(), 3);
        assert_eq!(set.responses[0].outcome, Outcome::NoMatch);
        let add = &set.responses[1];
        assert_eq!(add.request_id.as_deref(), Some("a&1"));
        assert_eq!(add.outcome, Outcome::Success);
        assert_eq!(add.list_id.as_deref(), Some("80000001-1700000000"));
        assert_eq!(add.edit_sequence.as_deref(), Some("1700000000"));
        assert_eq!(add.full_name.as_deref(), Some("Smith & Sons:Job é"));
        assert_eq!(add.ret_count, 1);
        let ret = add.ret_xml.as_deref().unwrap();
        assert!(
            ret.starts_with("<CustomerRet><ListID>") && ret.ends_with("</CustomerRet>"),
            "{ret}"
        );
        assert!(
            ret.contains("Smith &amp; Sons"),
            "raw XML stays escaped: {ret}"
        );
        let inv = &set.responses[2];
        assert!(matches!(inv.outcome, Outcome::Permanent { code: 3140, .. }));
        assert!(inv.message.contains("\"Nobody\""));
        assert_eq!(inv.ret_xml, None);
    }

    #[test]
    fn error_recovery_attributes_are_read() {
        let xml = r#"<QBXML><QBXMLMsgsRs newMessageSetID="set-7" messageSetStatusCode="0"></QBXMLMsgsRs></QBXML>"#;
        let set = parse_response(xml.as_bytes()).unwrap();
        assert_eq!(
            set.message_set_status,
            Some(MessageSetStatus {
                code: Some(0),
                message_set_id: Some("set-7".into())
            })
        );
    }

    #[test]
    fn iterator_attributes_are_read() {
        let xml = r#"<QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode="0" statusSeverity="Info" statusMessage="Status OK" iteratorRemainingCount="900" iteratorID="{abc}"><CustomerRet><ListID>1</ListID></CustomerRet><CustomerRet><ListID>2</ListID></CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>"#;
        let r = &parse_response(xml.as_bytes()).unwrap().responses[0];
        assert_eq!(r.ret_count, 2);
        assert_eq!(
            r.list_id.as_deref(),
            Some("1"),
            "summary comes from the first Ret"
        );
        assert_eq!(r.next_page(), Some("{abc}"));
    }

    #[test]
    fn doctype_deep_nesting_and_non_responses_are_refused() {
        let doctype =
            r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><QBXML><QBXMLMsgsRs/></QBXML>"#;
        assert!(matches!(
            parse_response(doctype.as_bytes()),
            Err(QbxmlError::Doctype)
        ));
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(
            parse_response(deep.as_bytes()),
            Err(QbxmlError::TooDeep)
        ));
        assert!(matches!(
            parse_response("<QBXML/>".as_bytes()),
            Err(QbxmlError::NotAResponse)
        ));
        assert!(matches!(
            parse_response("<QBXML><QBXMLMsgsRs><CustomerAddRs>".as_bytes()),
            Err(QbxmlError::MissingStatus { .. })
        ));
        assert!(matches!(
            parse_response("<QBXML><QBXMLMsgsRs></QBXML>".as_bytes()),
            Err(QbxmlError::Malformed { .. })
        ));
    }

    fn large(records: usize) -> String {
        let mut out = Vec::new();
        write_large_customer_query_response(&mut out, records).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Peak resident memory of this process in KiB (Linux).
    fn peak_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Benchmark, run alone: `cargo test --release -p qbridge --lib
    /// streaming_parse_of_50_mb_stays_small -- --ignored --nocapture`. Parses a ~50 MB
    /// response from a file and checks that the process's peak memory grew by far less
    /// than the document's size.
    #[test]
    #[ignore = "benchmark; run alone with --ignored --nocapture"]
    fn streaming_parse_of_50_mb_stays_small() {
        let dir = std::env::temp_dir().join(format!("qbridge-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("customers.xml");
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        write_large_customer_query_response(file, 100_000).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let before = peak_rss_kib();
        let reader = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
        let set = parse_response(reader).unwrap();
        let grown = peak_rss_kib().saturating_sub(before);
        std::fs::remove_dir_all(&dir).unwrap();
        println!(
            "parsed {size} bytes, {} records; peak RSS grew {grown} KiB",
            set.responses[0].ret_count
        );
        assert_eq!(set.responses[0].ret_count, 100_000);
        assert!(
            size > 45_000_000,
            "the document must be about 50 MB, got {size}"
        );
        assert!(
            grown * 1024 < size / 4,
            "peak memory grew {grown} KiB for a {size}-byte document"
        );
    }

    #[test]
    fn ret_xml_is_capped_at_whole_records() {
        let xml = large(5_000);
        assert!(xml.len() > RET_XML_CAP, "the fixture must exceed the cap");
        let r = &parse_response(xml.as_bytes()).unwrap().responses[0];
        assert_eq!(r.ret_count, 5_000);
        assert!(r.ret_xml_truncated);
        let kept = r.ret_xml.as_deref().unwrap();
        assert!(kept.len() <= RET_XML_CAP);
        assert!(kept.ends_with("</CustomerRet>"));
    }

    #[test]
    fn generated_large_response_validates() {
        let xml = large(3);
        for v in qbridge_sdk::schema::QbxmlVersion::ALL {
            qbridge_sdk::schema::validate(v, &xml).unwrap();
        }
    }
}
