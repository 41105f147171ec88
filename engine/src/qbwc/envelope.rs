//! SOAP 1.1 in and out, and nothing else: which method a body calls with which parameters,
//! and the ASMX-shaped bytes that answer it. No business logic lives here.
//!
//! Parsing is a streaming pass with quick-xml over a body that is already size-capped. It
//! refuses what QBWC never sends and attackers like: a DOCTYPE (entity bombs, XXE), nesting
//! deeper than [`MAX_DEPTH`], entities other than the five predefined ones, a parameter the
//! method does not declare (or declares once and gets twice), and a parameter longer than its
//! cap in [`params_of`] (the escaped qbXML: the caller's cap). Responses are written by hand in the
//! exact shape an ASP.NET `.asmx` service produces, because that is what the .NET client in
//! QBWC was built against: default namespace `http://developer.intuit.com/` on the
//! `…Response` element, `<string>` items for arrays, and empty values as empty elements.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Deepest element nesting accepted (a QBWC body is 4 deep).
pub(crate) const MAX_DEPTH: usize = 64;

const ENVELOPE_OPEN: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#,
    r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>"#
);
const ENVELOPE_CLOSE: &str = "</soap:Body></soap:Envelope>";

/// The Web Connector methods this endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ServerVersion,
    /// The name the Programmer's Guide documents for `serverVersion`.
    GetServerVersion,
    ClientVersion,
    Authenticate,
    SendRequestXml,
    ReceiveResponseXml,
    ConnectionError,
    GetLastError,
    CloseConnection,
    GetInteractiveUrl,
    InteractiveDone,
    InteractiveRejected,
}

const METHODS: &[(Method, &str)] = &[
    (Method::ServerVersion, "serverVersion"),
    (Method::GetServerVersion, "getServerVersion"),
    (Method::ClientVersion, "clientVersion"),
    (Method::Authenticate, "authenticate"),
    (Method::SendRequestXml, "sendRequestXML"),
    (Method::ReceiveResponseXml, "receiveResponseXML"),
    (Method::ConnectionError, "connectionError"),
    (Method::GetLastError, "getLastError"),
    (Method::CloseConnection, "closeConnection"),
    (Method::GetInteractiveUrl, "getInteractiveURL"),
    (Method::InteractiveDone, "interactiveDone"),
    (Method::InteractiveRejected, "interactiveRejected"),
];

impl Method {
    /// The method whose wire name is `name` (exact case, as the WSDL defines it).
    pub(crate) fn from_name(name: &str) -> Option<Method> {
        METHODS.iter().find(|(_, n)| *n == name).map(|(m, _)| *m)
    }

    /// The wire name.
    pub(crate) fn name(self) -> &'static str {
        METHODS
            .iter()
            .find(|(m, _)| *m == self)
            .map(|(_, n)| *n)
            .unwrap_or("serverVersion")
    }

    /// Whether the method carries a qbXML document and so gets the large body limit.
    pub(crate) fn carries_qbxml(self) -> bool {
        matches!(self, Method::SendRequestXml | Method::ReceiveResponseXml)
    }
}

/// Every wire name, for error messages.
pub(crate) fn method_names() -> String {
    METHODS
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long one parameter may be, after unescaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cap {
    /// At most this many bytes.
    Bytes(usize),
    /// An embedded qbXML document: the caller's `max_text` (`qbwc.max_qbxml_bytes`).
    Qbxml,
}

/// Longest ticket accepted (ours are 64 hex characters).
pub(crate) const MAX_TICKET: usize = 256;
/// Longest user name or password accepted.
pub(crate) const MAX_CREDENTIAL: usize = 1024;
/// Longest company-file path (Windows long paths are far shorter in practice).
pub(crate) const MAX_PATH: usize = 1024;
/// Longest free-text message (QuickBooks error texts, a rejection reason).
pub(crate) const MAX_MESSAGE: usize = 8192;

const TICKET: (&str, Cap) = ("ticket", Cap::Bytes(MAX_TICKET));
const WC_TICKET: (&str, Cap) = ("wcTicket", Cap::Bytes(MAX_TICKET));
const HRESULT: (&str, Cap) = ("hresult", Cap::Bytes(64));
const MESSAGE: (&str, Cap) = ("message", Cap::Bytes(MAX_MESSAGE));

/// The parameters each method declares (WSDL order, every one optional), with their caps.
/// Anything else in a request is refused: the count is fixed and the names are known.
pub(crate) fn params_of(method: Method) -> &'static [(&'static str, Cap)] {
    match method {
        // QBWC sends none; the guide documents `getServerVersion(ticket)` and a popular WSDL
        // gives `serverVersion` a `strVersion`: both are accepted (and ignored).
        Method::ServerVersion | Method::GetServerVersion => {
            &[TICKET, ("strVersion", Cap::Bytes(64))]
        }
        Method::ClientVersion => &[("strVersion", Cap::Bytes(64))],
        Method::Authenticate => &[
            ("strUserName", Cap::Bytes(MAX_CREDENTIAL)),
            ("strPassword", Cap::Bytes(MAX_CREDENTIAL)),
        ],
        Method::SendRequestXml => &[
            TICKET,
            ("strHCPResponse", Cap::Qbxml),
            ("strCompanyFileName", Cap::Bytes(MAX_PATH)),
            ("qbXMLCountry", Cap::Bytes(16)),
            ("qbXMLMajorVers", Cap::Bytes(16)),
            ("qbXMLMinorVers", Cap::Bytes(16)),
        ],
        Method::ReceiveResponseXml => &[TICKET, ("response", Cap::Qbxml), HRESULT, MESSAGE],
        Method::ConnectionError => &[TICKET, HRESULT, MESSAGE],
        Method::GetLastError | Method::CloseConnection => &[TICKET],
        Method::GetInteractiveUrl => &[WC_TICKET, ("sessionID", Cap::Bytes(MAX_TICKET))],
        Method::InteractiveDone => &[WC_TICKET],
        Method::InteractiveRejected => &[WC_TICKET, ("reason", Cap::Bytes(MAX_MESSAGE))],
    }
}

fn param_list(method: Method) -> String {
    let names: Vec<&str> = params_of(method).iter().map(|(n, _)| *n).collect();
    if names.is_empty() {
        "no parameters".into()
    } else {
        names.join(", ")
    }
}

/// A parsed request: the method and its parameters by local name, in body order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapRequest {
    pub method: Method,
    pub params: Vec<(String, String)>,
}

impl SoapRequest {
    /// The text of parameter `name`, or "" when absent (QBWC sends empty ones as `<x />`).
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// Why a body is not an acceptable SOAP request. Each message says what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("the request body is not UTF-8 text; the Web Connector sends UTF-8 SOAP")]
    NotUtf8,
    #[error("the request body is empty; expected a SOAP envelope")]
    Empty,
    #[error("DOCTYPE declarations are not accepted in SOAP requests")]
    Doctype,
    #[error("the XML is nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error(
        "the entity &{0}; is not allowed; only &lt; &gt; &amp; &apos; &quot; and character references are"
    )]
    Entity(String),
    #[error("a parameter is longer than the {0}-byte limit for embedded qbXML")]
    TextTooLong(usize),
    #[error("parameter `{name}` is longer than its {limit}-byte limit")]
    ParamTooLong { name: &'static str, limit: usize },
    #[error("`{method}` has no parameter `{name}`; it takes {allowed}", method = method.name(), allowed = param_list(*method))]
    UnknownParam { method: Method, name: String },
    #[error("parameter `{name}` appears more than once in `{method}`", method = method.name())]
    DuplicateParam { method: Method, name: &'static str },
    #[error("the XML is not well-formed: {0}")]
    Malformed(String),
    #[error("the body is not a SOAP 1.1 envelope with a soap:Body")]
    NotSoap,
    #[error("the soap:Body holds no method element")]
    NoMethod,
    #[error("unknown method `{0}`; this endpoint serves the QuickBooks Web Connector methods: {names}", names = method_names())]
    UnknownMethod(String),
}

/// Parses a whole (size-capped) body. `max_text` caps every parameter after unescaping.
pub fn parse(body: &[u8], max_text: usize) -> Result<SoapRequest, EnvelopeError> {
    let text = std::str::from_utf8(body).map_err(|_| EnvelopeError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(EnvelopeError::Empty);
    }
    let mut walker = Walker::new(text, max_text);
    walker.run(false)?;
    let method = walker.method.ok_or(EnvelopeError::NoMethod)?;
    Ok(SoapRequest {
        method,
        params: walker.params,
    })
}

/// What the first bytes of a body tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sniffed {
    /// The method, once its element has started.
    pub method: Option<Method>,
    /// The ticket, when the method's first parameter is a complete `ticket` (or `wcTicket`).
    pub ticket: Option<String>,
}

/// Reads the start of a body whose first bytes are `prefix`: the method and, when the first
/// parameter is the ticket (WSDL order, as QBWC sends it), the ticket. Parameter names and
/// caps are checked as far as the prefix goes, so a body of unknown elements is refused here.
/// An error means the prefix is already unacceptable.
pub(crate) fn sniff(prefix: &[u8]) -> Result<Sniffed, EnvelopeError> {
    // Cut at the last whole UTF-8 character: the prefix may end mid-sequence.
    let text = match std::str::from_utf8(prefix) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&prefix[..e.valid_up_to()]).map_err(|_| EnvelopeError::NotUtf8)?
        }
        Err(_) => return Err(EnvelopeError::NotUtf8),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut walker = Walker::new(text, usize::MAX);
    let result = walker.run(true);
    let sniffed = |w: &Walker<'_>| Sniffed {
        method: w.method,
        ticket: w
            .params
            .first()
            .filter(|(n, _)| w.first_param_closed && (n == "ticket" || n == "wcTicket"))
            .map(|(_, v)| v.clone()),
    };
    match result {
        Ok(()) => Ok(sniffed(&walker)),
        // A truncated prefix ends in a parse error; what was seen before it still counts.
        Err(EnvelopeError::Malformed(_)) => Ok(sniffed(&walker)),
        Err(e) => Err(e),
    }
}

/// Where the walker is in the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Outside,
    Envelope,
    Body,
    Method,
    Param,
    AfterMethod,
}

struct Walker<'a> {
    reader: Reader<&'a [u8]>,
    max_text: usize,
    depth: usize,
    place: Place,
    /// Depth at which the current place was entered (to know when it closes).
    method_depth: usize,
    method: Option<Method>,
    params: Vec<(String, String)>,
    /// Cap of the parameter being read.
    cap: Cap,
    /// True once the first parameter's element has closed.
    first_param_closed: bool,
}

impl<'a> Walker<'a> {
    fn new(text: &'a str, max_text: usize) -> Self {
        let mut reader = Reader::from_str(text);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = true;
        Walker {
            reader,
            max_text,
            depth: 0,
            place: Place::Outside,
            method_depth: 0,
            method: None,
            params: Vec::new(),
            cap: Cap::Bytes(0),
            first_param_closed: false,
        }
    }

    /// Walks the document; `sniffing` a prefix, a missing method is not an error.
    fn run(&mut self, sniffing: bool) -> Result<(), EnvelopeError> {
        loop {
            let event = self
                .reader
                .read_event()
                .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
            match event {
                Event::DocType(_) => return Err(EnvelopeError::Doctype),
                Event::Start(e) => {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(EnvelopeError::TooDeep);
                    }
                    let local = e.local_name();
                    let local: &str = local.as_ref();
                    self.place = match (self.place, local) {
                        (Place::Outside, "Envelope") => Place::Envelope,
                        (Place::Outside, _) => return Err(EnvelopeError::NotSoap),
                        (Place::Envelope, "Body") => Place::Body,
                        (Place::Body, name) => {
                            let method = Method::from_name(name)
                                .ok_or_else(|| EnvelopeError::UnknownMethod(bounded(name)))?;
                            self.method = Some(method);
                            self.method_depth = self.depth;
                            Place::Method
                        }
                        (Place::Method, name) => {
                            let method = self.method.unwrap_or(Method::ServerVersion);
                            let Some((known, cap)) =
                                params_of(method).iter().find(|(n, _)| *n == name)
                            else {
                                return Err(EnvelopeError::UnknownParam {
                                    method,
                                    name: bounded(name),
                                });
                            };
                            if self.params.iter().any(|(n, _)| n == known) {
                                return Err(EnvelopeError::DuplicateParam {
                                    method,
                                    name: known,
                                });
                            }
                            self.params.push((name.to_string(), String::new()));
                            self.cap = *cap;
                            Place::Param
                        }
                        (other, _) => other,
                    };
                }
                Event::End(_) => {
                    if self.place == Place::Param && self.depth == self.method_depth + 1 {
                        self.place = Place::Method;
                        self.first_param_closed = true;
                    } else if self.place == Place::Method && self.depth == self.method_depth {
                        self.place = Place::AfterMethod;
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                Event::Text(t) => self.push_text(&t.xml10_content())?,
                Event::CData(t) => self.push_text(&t.xml10_content())?,
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(ch)) => ch.to_string(),
                        Ok(None) => {
                            let name: &str = &r;
                            predefined(name)
                                .ok_or_else(|| EnvelopeError::Entity(bounded(name)))?
                                .to_string()
                        }
                        Err(e) => return Err(EnvelopeError::Malformed(e.to_string())),
                    };
                    self.push_text(&resolved)?;
                }
                Event::Eof => {
                    if self.depth != 0 {
                        return Err(EnvelopeError::Malformed("the document ends early".into()));
                    }
                    if self.method.is_none() && !sniffing {
                        return Err(if self.place == Place::Outside {
                            EnvelopeError::NotSoap
                        } else {
                            EnvelopeError::NoMethod
                        });
                    }
                    return Ok(());
                }
                Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            }
        }
    }

    fn push_text(&mut self, text: &str) -> Result<(), EnvelopeError> {
        if self.place != Place::Param {
            return Ok(());
        }
        let cap = self.cap;
        if let Some((name, value)) = self.params.last_mut() {
            match cap {
                Cap::Qbxml if value.len() + text.len() > self.max_text => {
                    return Err(EnvelopeError::TextTooLong(self.max_text));
                }
                Cap::Bytes(limit) if value.len() + text.len() > limit => {
                    let name = params_of(self.method.unwrap_or(Method::ServerVersion))
                        .iter()
                        .map(|(n, _)| *n)
                        .find(|n| n == name)
                        .unwrap_or("?");
                    return Err(EnvelopeError::ParamTooLong { name, limit });
                }
                _ => {}
            }
            value.push_str(text);
        }
        Ok(())
    }
}

fn predefined(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

/// Attacker-chosen names end up in messages: keep them short.
fn bounded(s: &str) -> String {
    s.chars().take(64).collect()
}

/// What a method returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Text(String),
    Int(i32),
    Strings(Vec<String>),
}

/// The ASMX-shaped response envelope for `method` returning `reply`.
pub(crate) fn response(method: Method, reply: &Reply) -> String {
    let name = method.name();
    let mut out = String::with_capacity(ENVELOPE_OPEN.len() + 256);
    out.push_str(ENVELOPE_OPEN);
    out.push_str(&format!(
        r#"<{name}Response xmlns="http://developer.intuit.com/"><{name}Result>"#
    ));
    match reply {
        Reply::Text(t) => out.push_str(&escape(t)),
        Reply::Int(n) => out.push_str(&n.to_string()),
        Reply::Strings(items) => {
            for item in items {
                out.push_str("<string>");
                out.push_str(&escape(item));
                out.push_str("</string>");
            }
        }
    }
    out.push_str(&format!("</{name}Result></{name}Response>"));
    out.push_str(ENVELOPE_CLOSE);
    out
}

/// Who is at fault, in SOAP 1.1 terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultCode {
    /// The request was wrong.
    Client,
    /// The server could not answer a valid request.
    Server,
}

/// A SOAP 1.1 Fault envelope.
pub(crate) fn fault(code: FaultCode, text: &str) -> String {
    let code = match code {
        FaultCode::Client => "soap:Client",
        FaultCode::Server => "soap:Server",
    };
    format!(
        "{ENVELOPE_OPEN}<soap:Fault><faultcode>{code}</faultcode><faultstring>{}</faultstring></soap:Fault>{ENVELOPE_CLOSE}",
        escape(text)
    )
}

/// Escapes text content; drops characters XML 1.0 cannot carry, keeps CR as `&#13;` so it
/// survives the client's end-of-line normalisation.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(inner: &str) -> String {
        format!("{ENVELOPE_OPEN}{inner}{ENVELOPE_CLOSE}")
    }

    #[test]
    fn server_version_without_children_parses() {
        let r = parse(
            wrap(r#"<serverVersion xmlns="http://developer.intuit.com/" />"#).as_bytes(),
            1024,
        )
        .unwrap();
        assert_eq!(r.method, Method::ServerVersion);
        assert!(r.params.is_empty());
    }

    #[test]
    fn escaped_qbxml_is_unescaped_and_empty_params_are_empty() {
        let r = parse(
            wrap(r#"<receiveResponseXML xmlns="http://developer.intuit.com/"><ticket>t</ticket><response>&lt;QBXML a="&amp;quot;"/&gt;&#13;</response><hresult /><message /></receiveResponseXML>"#).as_bytes(),
            1024,
        )
        .unwrap();
        assert_eq!(r.param("response"), "<QBXML a=\"&quot;\"/>\r");
        assert_eq!(r.param("hresult"), "");
        assert_eq!(r.param("missing"), "");
    }

    #[test]
    fn doctype_unknown_entities_depth_and_size_are_refused() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#;
        assert_eq!(parse(bomb.as_bytes(), 1024), Err(EnvelopeError::Doctype));
        let ent = wrap(r#"<getLastError><ticket>&a;</ticket></getLastError>"#);
        assert_eq!(
            parse(ent.as_bytes(), 1024),
            Err(EnvelopeError::Entity("a".into()))
        );
        let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
        assert_eq!(parse(deep.as_bytes(), 1024), Err(EnvelopeError::NotSoap));
        let deep = wrap(&format!(
            "<getLastError><ticket>{}{}</ticket></getLastError>",
            "<a>".repeat(10_000),
            "</a>".repeat(10_000)
        ));
        assert_eq!(parse(deep.as_bytes(), 1024), Err(EnvelopeError::TooDeep));
        let long = wrap(&format!(
            "<getLastError><ticket>{}</ticket></getLastError>",
            "x".repeat(2000)
        ));
        assert_eq!(
            parse(long.as_bytes(), 1024),
            Err(EnvelopeError::ParamTooLong {
                name: "ticket",
                limit: MAX_TICKET
            })
        );
        let long = wrap(&format!(
            "<receiveResponseXML><ticket>t</ticket><response>{}</response></receiveResponseXML>",
            "x".repeat(2000)
        ));
        assert_eq!(
            parse(long.as_bytes(), 1024),
            Err(EnvelopeError::TextTooLong(1024))
        );
        assert_eq!(
            parse(&[0xff, 0xfe, 0x3c], 1024),
            Err(EnvelopeError::NotUtf8)
        );
    }

    #[test]
    fn sniff_names_the_method_and_the_leading_ticket_from_a_prefix() {
        let body = format!(
            r#"{ENVELOPE_OPEN}<receiveResponseXML xmlns="http://developer.intuit.com/"><ticket>t&amp;1</ticket><response>&lt;QBX"#,
        );
        let cut = body.find("</ticket>").unwrap() + 3;
        let s = sniff(&body.as_bytes()[..cut]).unwrap();
        assert_eq!(s.method, Some(Method::ReceiveResponseXml));
        assert_eq!(s.ticket, None, "the ticket is not complete yet");
        let s = sniff(body.as_bytes()).unwrap();
        assert_eq!(s.ticket.as_deref(), Some("t&1"));
        assert_eq!(sniff(b"<?xml version").unwrap(), Sniffed::default());
        // A ticket that is not the first parameter does not count.
        let late = wrap(r#"<receiveResponseXML><hresult /><ticket>t</ticket><response>"#);
        assert_eq!(sniff(late.as_bytes()).unwrap().ticket, None);
        // Empty elements that are no parameter of the method are refused at once.
        let junk = wrap(&format!("<receiveResponseXML>{}", "<a/>".repeat(100)));
        assert!(matches!(
            sniff(junk.as_bytes()),
            Err(EnvelopeError::UnknownParam { .. })
        ));
    }

    #[test]
    fn unknown_duplicate_and_extra_parameters_are_refused_by_name() {
        let unknown = wrap(
            r#"<authenticate xmlns="http://developer.intuit.com/"><strUserName>u</strUserName><strPassword>p</strPassword><isAdmin>1</isAdmin></authenticate>"#,
        );
        let e = parse(unknown.as_bytes(), 1024).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`authenticate` has no parameter `isAdmin`; it takes strUserName, strPassword"
        );
        let dup = wrap(r#"<getLastError><ticket>a</ticket><ticket>b</ticket></getLastError>"#);
        assert_eq!(
            parse(dup.as_bytes(), 1024),
            Err(EnvelopeError::DuplicateParam {
                method: Method::GetLastError,
                name: "ticket"
            })
        );
        let extra = wrap(r#"<clientVersion><strVersion>1</strVersion><b/></clientVersion>"#);
        assert_eq!(
            parse(extra.as_bytes(), 1024).unwrap_err().to_string(),
            "`clientVersion` has no parameter `b`; it takes strVersion"
        );
        // Missing parameters are allowed (the WSDL makes each optional) and read as empty.
        let r = parse(wrap("<closeConnection />").as_bytes(), 1024).unwrap();
        assert_eq!(r.param("ticket"), "");
        // Every parameter of every method has a cap.
        for (m, _) in METHODS {
            for (name, cap) in params_of(*m) {
                assert!(matches!(cap, Cap::Qbxml | Cap::Bytes(1..=8192)), "{name}");
            }
        }
    }

    #[test]
    fn responses_have_the_asmx_shape() {
        let r = response(
            Method::Authenticate,
            &Reply::Strings(vec!["T".into(), String::new()]),
        );
        assert!(r.starts_with(r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/""#));
        assert!(r.contains(r#"<authenticateResponse xmlns="http://developer.intuit.com/"><authenticateResult><string>T</string><string></string></authenticateResult></authenticateResponse>"#), "{r}");
        let f = fault(FaultCode::Client, "bad <thing>");
        assert!(
            f.contains(
                "<faultcode>soap:Client</faultcode><faultstring>bad &lt;thing&gt;</faultstring>"
            ),
            "{f}"
        );
    }
}
