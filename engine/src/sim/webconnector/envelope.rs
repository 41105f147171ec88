//! The SOAP framing of the simulated Web Connector: request envelopes built exactly as QBWC 2.x
//! writes them, and lenient parsing of the server's answers the way the .NET client reads them.
//!
//! No session logic lives here. The request shape is taken from a real QBWC 2.0.0.116 wire log
//! (one line, `soap`/`xsi`/`xsd` prefixes, the method element in `http://developer.intuit.com/`,
//! parameters in WSDL order, empty strings as `<name />`, qbXML escaped as text). Parsing accepts
//! any prefix, like .NET, but insists on the namespace and the `<method>Result` element name,
//! because the real client fails without them.

use std::borrow::Cow;
use std::fmt;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

/// The namespace of every QBWC method, parameter and result element.
pub const QBWC_NS: &str = "http://developer.intuit.com/";
const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const ENVELOPE_OPEN: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#,
    r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>"#
);
const ENVELOPE_CLOSE: &str = "</soap:Body></soap:Envelope>";

/// The QBWC methods, by their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    ServerVersion,
    ClientVersion,
    Authenticate,
    SendRequestXml,
    ReceiveResponseXml,
    ConnectionError,
    GetLastError,
    CloseConnection,
    GetInteractiveUrl,
    InteractiveRejected,
}

impl Method {
    /// The element name on the wire (also the last segment of the SOAPAction).
    pub fn wire_name(self) -> &'static str {
        match self {
            Method::ServerVersion => "serverVersion",
            Method::ClientVersion => "clientVersion",
            Method::Authenticate => "authenticate",
            Method::SendRequestXml => "sendRequestXML",
            Method::ReceiveResponseXml => "receiveResponseXML",
            Method::ConnectionError => "connectionError",
            Method::GetLastError => "getLastError",
            Method::CloseConnection => "closeConnection",
            Method::GetInteractiveUrl => "getInteractiveURL",
            Method::InteractiveRejected => "interactiveRejected",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

/// One QBWC call with its parameters, in the order the WSDL declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    ServerVersion,
    ClientVersion {
        version: &'a str,
    },
    Authenticate {
        user: &'a str,
        password: &'a str,
    },
    SendRequestXml {
        ticket: &'a str,
        hcp_response: &'a str,
        company_file: &'a str,
        country: &'a str,
        major: u32,
        minor: u32,
    },
    ReceiveResponseXml {
        ticket: &'a str,
        response: &'a str,
        hresult: &'a str,
        message: &'a str,
    },
    ConnectionError {
        ticket: &'a str,
        hresult: &'a str,
        message: &'a str,
    },
    GetLastError {
        ticket: &'a str,
    },
    CloseConnection {
        ticket: &'a str,
    },
    GetInteractiveUrl {
        ticket: &'a str,
        session_id: &'a str,
    },
    InteractiveRejected {
        ticket: &'a str,
        reason: &'a str,
    },
}

impl<'a> Request<'a> {
    /// Which method this call is.
    pub fn method(&self) -> Method {
        match self {
            Request::ServerVersion => Method::ServerVersion,
            Request::ClientVersion { .. } => Method::ClientVersion,
            Request::Authenticate { .. } => Method::Authenticate,
            Request::SendRequestXml { .. } => Method::SendRequestXml,
            Request::ReceiveResponseXml { .. } => Method::ReceiveResponseXml,
            Request::ConnectionError { .. } => Method::ConnectionError,
            Request::GetLastError { .. } => Method::GetLastError,
            Request::CloseConnection { .. } => Method::CloseConnection,
            Request::GetInteractiveUrl { .. } => Method::GetInteractiveUrl,
            Request::InteractiveRejected { .. } => Method::InteractiveRejected,
        }
    }

    /// The parameters as (element name, text), in wire order. Numbers are written in decimal;
    /// strings are borrowed, so a large qbXML document is not copied.
    fn params(&self) -> Vec<(&'static str, Cow<'a, str>)> {
        let s = Cow::Borrowed;
        match *self {
            Request::ServerVersion => vec![],
            Request::ClientVersion { version } => vec![("strVersion", s(version))],
            Request::Authenticate { user, password } => {
                vec![("strUserName", s(user)), ("strPassword", s(password))]
            }
            Request::SendRequestXml {
                ticket,
                hcp_response,
                company_file,
                country,
                major,
                minor,
            } => vec![
                ("ticket", s(ticket)),
                ("strHCPResponse", s(hcp_response)),
                ("strCompanyFileName", s(company_file)),
                ("qbXMLCountry", s(country)),
                ("qbXMLMajorVers", Cow::Owned(major.to_string())),
                ("qbXMLMinorVers", Cow::Owned(minor.to_string())),
            ],
            Request::ReceiveResponseXml {
                ticket,
                response,
                hresult,
                message,
            } => vec![
                ("ticket", s(ticket)),
                ("response", s(response)),
                ("hresult", s(hresult)),
                ("message", s(message)),
            ],
            Request::ConnectionError {
                ticket,
                hresult,
                message,
            } => vec![
                ("ticket", s(ticket)),
                ("hresult", s(hresult)),
                ("message", s(message)),
            ],
            Request::GetLastError { ticket } | Request::CloseConnection { ticket } => {
                vec![("ticket", s(ticket))]
            }
            Request::GetInteractiveUrl { ticket, session_id } => {
                vec![("wcTicket", s(ticket)), ("sessionID", s(session_id))]
            }
            Request::InteractiveRejected { ticket, reason } => {
                vec![("wcTicket", s(ticket)), ("reason", s(reason))]
            }
        }
    }
}

/// The complete HTTP body QBWC sends for `request`: one line, no SOAP header.
pub fn build(request: &Request<'_>) -> String {
    let name = request.method().wire_name();
    let params = request.params();
    let mut body = String::with_capacity(
        ENVELOPE_OPEN.len()
            + ENVELOPE_CLOSE.len()
            + 128
            + params.iter().map(|(_, v)| v.len() + 40).sum::<usize>(),
    );
    body.push_str(ENVELOPE_OPEN);
    body.push('<');
    body.push_str(name);
    body.push_str(&format!(r#" xmlns="{QBWC_NS}""#));
    if params.is_empty() {
        body.push_str(" />");
    } else {
        body.push('>');
        for (param, value) in &params {
            if value.is_empty() {
                // .NET writes an empty string as a self-closing element (`<hresult />`).
                body.push_str(&format!("<{param} />"));
            } else {
                body.push_str(&format!("<{param}>{}</{param}>", escape_text(value)));
            }
        }
        body.push_str(&format!("</{name}>"));
    }
    body.push_str(ENVELOPE_CLOSE);
    body
}

/// Escapes element text as the .NET XmlSerializer does: `&`, `<` and `>` only (quotes stay
/// literal, which is why the capture shows `&lt;?xml version="1.0" ?&gt;`).
fn escape_text(text: &str) -> Cow<'_, str> {
    quick_xml::escape::partial_escape(text)
}

/// What the server's answer to one call turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `<methodResult>` found: its text, and its `<string>` items (used by authenticate).
    Result { text: String, items: Vec<String> },
    /// A SOAP Fault.
    Fault { code: String, message: String },
    /// Well-formed XML without the expected result element.
    NoResult,
}

/// Why a body could not be read as XML at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotXml(pub String);

/// Parses a response body for `method`. Element prefixes are free; the result element must be
/// `<{method}Result>` in [`QBWC_NS`] and array items `<string>` in the same namespace (items in
/// another namespace are ignored, which is how .NET ends up with "Index out of range").
pub(crate) fn parse_reply(method: Method, body: &str) -> Result<Reply, NotXml> {
    let root = parse_tree(body)?;
    let result_name = format!("{}Result", method.wire_name());
    if let Some(result) = root.find(QBWC_NS, &result_name) {
        let items = result
            .children
            .iter()
            .filter(|c| c.is(QBWC_NS, "string"))
            .map(|c| c.text.clone())
            .collect();
        return Ok(Reply::Result {
            text: result.text.clone(),
            items,
        });
    }
    if let Some(fault) = root.find(SOAP_ENV_NS, "Fault") {
        // SOAP 1.1 puts faultcode/faultstring unqualified; match by local name only.
        let field = |name: &str| {
            fault
                .children
                .iter()
                .find(|c| c.local == name)
                .map(|c| c.text.trim().to_string())
                .unwrap_or_default()
        };
        return Ok(Reply::Fault {
            code: field("faultcode"),
            message: field("faultstring"),
        });
    }
    Ok(Reply::NoResult)
}

/// A minimal element tree: enough to look results up by namespace and local name.
#[derive(Debug, Default)]
struct Node {
    ns: Option<String>,
    local: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn is(&self, ns: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.local == local
    }

    fn find(&self, ns: &str, local: &str) -> Option<&Node> {
        if self.is(ns, local) {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(ns, local))
    }
}

/// Parses `body` into a tree under a synthetic root. Bodies are bounded by the HTTP reader, so
/// holding the whole tree is fine; the depth is bounded here against hostile nesting.
fn parse_tree(body: &str) -> Result<Node, NotXml> {
    const MAX_DEPTH: usize = 64;
    let mut reader = NsReader::from_str(body);
    // `<x/>` arrives as a start and an end, so empty results need no special case.
    reader.config_mut().expand_empty_elements = true;
    let mut stack = vec![Node::default()];
    let mut saw_element = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| NotXml(e.to_string()))?;
        let ns = match ns {
            ResolveResult::Bound(Namespace(n)) => Some(n.to_string()),
            _ => None,
        };
        match event {
            Event::Start(e) => {
                saw_element = true;
                if stack.len() > MAX_DEPTH {
                    return Err(NotXml(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                let node = Node {
                    ns,
                    local: e.local_name().as_ref().to_string(),
                    ..Node::default()
                };
                stack.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().filter(|_| !stack.is_empty());
                match node {
                    Some(node) => push_child(&mut stack, node),
                    None => return Err(NotXml("an end tag without a start tag".into())),
                }
            }
            Event::Text(t) => append_text(&mut stack, &t.xml10_content()),
            Event::CData(c) => append_text(&mut stack, &c.xml10_content()),
            Event::GeneralRef(r) => append_text(&mut stack, &resolve_ref(&r)?),
            Event::Eof => {
                if !saw_element {
                    return Err(NotXml("the body holds no XML element".into()));
                }
                if stack.len() != 1 {
                    return Err(NotXml("the document ends inside an element".into()));
                }
                return Ok(stack.pop().unwrap_or_default());
            }
            _ => {}
        }
    }
}

fn push_child(stack: &mut [Node], node: Node) {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(node);
    }
}

fn append_text(stack: &mut [Node], piece: &str) {
    if let Some(node) = stack.last_mut() {
        node.text.push_str(piece);
    }
}

/// Resolves `&lt;`-style and numeric references inside text.
fn resolve_ref(r: &quick_xml::events::BytesRef<'_>) -> Result<String, NotXml> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            Ok(None) | Err(_) => Err(NotXml(format!(
                "invalid character reference &{};",
                r.xml10_content()
            ))),
        };
    }
    let name = r.xml10_content();
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_string)
        .ok_or_else(|| NotXml(format!("unknown entity &{name};")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(method: Method, body: &str) -> (String, Vec<String>) {
        match parse_reply(method, body) {
            Ok(Reply::Result { text, items }) => (text, items),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn php_soapserver_prefixes_are_accepted_like_dotnet_does() {
        // Verbatim shape of the PHP server's answer in the QBWC 2.0.0.116 capture.
        let body = r#"<?xml version="1.0" encoding="UTF-8"?> <SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns1="http://developer.intuit.com/"><SOAP-ENV:Body><ns1:authenticateResponse><ns1:authenticateResult><ns1:string>c94c84b3d59fe7a1603b765dd734e481</ns1:string><ns1:string></ns1:string></ns1:authenticateResult></ns1:authenticateResponse></SOAP-ENV:Body></SOAP-ENV:Envelope> "#;
        let (_, items) = result(Method::Authenticate, body);
        assert_eq!(
            items,
            vec![
                "c94c84b3d59fe7a1603b765dd734e481".to_string(),
                String::new()
            ]
        );
    }

    #[test]
    fn string_items_in_the_wcf_arrays_namespace_do_not_count() {
        let body = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><authenticateResponse xmlns="http://developer.intuit.com/"><authenticateResult xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>T</a:string><a:string/></authenticateResult></authenticateResponse></s:Body></s:Envelope>"#;
        assert!(result(Method::Authenticate, body).1.is_empty());
    }

    #[test]
    fn escaped_qbxml_and_character_references_are_unescaped() {
        let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><sendRequestXMLResponse xmlns="http://developer.intuit.com/"><sendRequestXMLResult>&lt;?xml version="1.0" encoding="utf-8"?&gt;&#13; &lt;Name&gt;A &amp;amp; B&lt;/Name&gt;</sendRequestXMLResult></sendRequestXMLResponse></soap:Body></soap:Envelope>"#;
        let (text, _) = result(Method::SendRequestXml, body);
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r <Name>A &amp; B</Name>"
        );
    }

    #[test]
    fn empty_result_element_is_an_empty_string() {
        let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><x:clientVersionResponse xmlns:x="http://developer.intuit.com/"><x:clientVersionResult/></x:clientVersionResponse></soap:Body></soap:Envelope>"#;
        assert_eq!(result(Method::ClientVersion, body).0, "");
    }

    #[test]
    fn result_in_another_namespace_is_not_a_result() {
        let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><closeConnectionResponse xmlns="http://localhost:8000//"><closeConnectionResult>OK</closeConnectionResult></closeConnectionResponse></soap:Body></soap:Envelope>"#;
        assert_eq!(
            parse_reply(Method::CloseConnection, body),
            Ok(Reply::NoResult)
        );
    }

    #[test]
    fn soap_fault_gives_code_and_message() {
        let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>Unknown ticket &amp; more</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
        assert_eq!(
            parse_reply(Method::GetLastError, body),
            Ok(Reply::Fault {
                code: "soap:Client".into(),
                message: "Unknown ticket & more".into()
            })
        );
    }

    #[test]
    fn broken_or_empty_bodies_are_not_xml() {
        assert!(parse_reply(Method::ServerVersion, "").is_err());
        assert!(parse_reply(Method::ServerVersion, "Warning: PHP notice").is_err());
        assert!(parse_reply(Method::ServerVersion, "<a><b></a>").is_err());
        assert!(parse_reply(Method::ServerVersion, "<a><b>").is_err());
    }
}
