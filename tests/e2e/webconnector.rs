//! The simulated Web Connector: its requests are QBWC's requests byte for byte, and it reacts
//! to every server answer the way QBWC 2.x does. It is driven here against a small scripted
//! QBWC server (axum, in-process, real HTTP) that records every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

use qbridge::sim::webconnector::echo::EchoQuickBooks;
use qbridge::sim::webconnector::envelope::{self, Method, QBWC_NS, Request};
use qbridge::sim::webconnector::{
    CallStatus, Outcome, SoapActionStyle, USER_AGENT, WcError, WcOptions, WebConnector,
};
use qbridge::sim::{QbFailure, QuickBooks};

use crate::support::{run, stderr};

// ---------------------------------------------------------------------------------------------
// The scripted QBWC server.

/// How the test server answers.
#[derive(Clone)]
struct Script {
    client_version_reply: String,
    /// authenticate item [1]: "" (open file), "none", "nvu", "busy" or a path.
    auth_status: String,
    /// qbXML requests handed out by sendRequestXML, in order.
    requests: Vec<String>,
    connection_error_reply: String,
    /// When set, receiveResponseXML answers this instead of the percentage done.
    progress_override: Option<&'static str>,
    /// When set, the inner XML of authenticateResult (replacing ticket + `auth_status`).
    auth_result_xml: Option<&'static str>,
    /// sendRequestXML answers "" and getLastError "NoOp" this many times first.
    noops: u32,
    /// getLastError's text when there is nothing left to send.
    last_error: String,
    /// A method answered with HTTP 500 and a SOAP Fault.
    fault_on: Option<&'static str>,
    /// A method answered with HTTP 200 and an HTML page.
    html_on: Option<&'static str>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            client_version_reply: String::new(),
            auth_status: String::new(),
            requests: vec![qbxml_request("CustomerAddRq", "1")],
            connection_error_reply: "done".into(),
            progress_override: None,
            auth_result_xml: None,
            noops: 0,
            last_error: String::new(),
            fault_on: None,
            html_on: None,
        }
    }
}

/// One call as the server received it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: String,
}

struct ServerState {
    script: Script,
    calls: Vec<Received>,
    sent: usize,
    noops_left: u32,
    noop_pending: bool,
}

/// The test server: a tokio runtime of its own, dropped with it.
struct QbwcServer {
    url: String,
    state: Arc<Mutex<ServerState>>,
    _rt: tokio::runtime::Runtime,
}

impl QbwcServer {
    fn start(script: Script) -> QbwcServer {
        let state = Arc::new(Mutex::new(ServerState {
            noops_left: script.noops,
            script,
            calls: Vec::new(),
            sent: 0,
            noop_pending: false,
        }));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/qbwc", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/qbwc", axum::routing::post(handle))
            .with_state(state.clone());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        QbwcServer {
            url,
            state,
            _rt: rt,
        }
    }

    fn calls(&self) -> Vec<Received> {
        self.state.lock().unwrap().calls.clone()
    }

    fn methods(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.method).collect()
    }

    fn call(&self, method: &str) -> Received {
        self.calls()
            .into_iter()
            .find(|c| c.method == method)
            .unwrap_or_else(|| panic!("no {method} call"))
    }
}

async fn handle(
    State(state): State<Arc<Mutex<ServerState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (method, params) = parse_request(&body);
    let mut s = state.lock().unwrap();
    s.calls.push(Received {
        method: method.clone(),
        params: params.clone(),
        headers,
        body: body.clone(),
    });
    if s.script.fault_on == Some(method.as_str()) {
        return soap_fault("Server was unable to process request. ---> boom in the server");
    }
    if s.script.html_on == Some(method.as_str()) {
        return (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Bad gateway</body></html>",
        )
            .into_response();
    }
    let result = match method.as_str() {
        "serverVersion" => text("scripted test server 1.0"),
        "clientVersion" => text(&s.script.client_version_reply.clone()),
        "authenticate" => match s.script.auth_result_xml {
            Some(xml) => xml.to_string(),
            None => format!(
                "<string>TICKET-1</string><string>{}</string>",
                escape(&s.script.auth_status)
            ),
        },
        "sendRequestXML" => {
            if s.noops_left > 0 {
                s.noops_left -= 1;
                s.noop_pending = true;
                String::new()
            } else if let Some(request) = s.script.requests.get(s.sent).cloned() {
                s.sent += 1;
                text(&request)
            } else {
                String::new()
            }
        }
        "receiveResponseXML" => {
            let done = s.sent * 100 / s.script.requests.len().max(1);
            match s.script.progress_override {
                Some(progress) => progress.to_string(),
                None => done.to_string(),
            }
        }
        "getLastError" => {
            if std::mem::take(&mut s.noop_pending) {
                "NoOp".into()
            } else {
                text(&s.script.last_error.clone())
            }
        }
        "connectionError" => text(&s.script.connection_error_reply.clone()),
        "closeConnection" => "OK".into(),
        "getInteractiveURL" => text("https://sync.example.test/interactive?t=1&x=2"),
        "interactiveRejected" => "OK".into(),
        other => panic!("unexpected method {other}"),
    };
    soap_ok(&method, &result)
}

fn text(s: &str) -> String {
    escape(s)
}

fn escape(s: &str) -> String {
    quick_xml::escape::partial_escape(s).into_owned()
}

/// The ASMX answer shape (Intuit's own sample server).
fn soap_ok(method: &str, result_inner: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body><{method}Response xmlns="http://developer.intuit.com/"><{method}Result>{result_inner}</{method}Result></{method}Response></soap:Body></soap:Envelope>"#
    );
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

fn soap_fault(message: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>{message}</faultstring><detail /></soap:Fault></soap:Body></soap:Envelope>"#
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The method element under soap:Body (must be in the QBWC namespace) and its parameters.
fn parse_request(body: &str) -> (String, HashMap<String, String>) {
    let mut reader = NsReader::from_str(body);
    reader.config_mut().expand_empty_elements = true;
    let mut depth = 0;
    let mut method = String::new();
    let mut params = HashMap::new();
    let mut current: Option<(String, String)> = None;
    loop {
        let (ns, event) = reader.read_resolved_event().unwrap();
        let in_qbwc = matches!(ns, ResolveResult::Bound(Namespace(n)) if n == QBWC_NS);
        match event {
            Event::Start(e) => {
                depth += 1;
                let name = e.local_name().as_ref().to_string();
                if depth == 3 {
                    assert!(in_qbwc, "method element {name} not in {QBWC_NS}");
                    method = name;
                } else if depth == 4 {
                    assert!(in_qbwc, "parameter {name} not in {QBWC_NS}");
                    current = Some((name, String::new()));
                }
            }
            Event::End(_) => {
                if depth == 4
                    && let Some((k, v)) = current.take()
                {
                    params.insert(k, v);
                }
                depth -= 1;
            }
            Event::Text(t) => {
                if let Some((_, v)) = current.as_mut() {
                    v.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, v)) = current.as_mut() {
                    let name = r.xml10_content();
                    v.push_str(quick_xml::escape::resolve_predefined_entity(&name).unwrap());
                }
            }
            Event::Eof => return (method, params),
            _ => {}
        }
    }
}

fn qbxml_request(rq: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<?qbxml version=\"13.0\"?>\n<QBXML><QBXMLMsgsRq onError=\"stopOnError\"><{rq} requestID=\"{request_id}\"><CustomerAdd><Name>Smith &amp; Sons \"Ltd\"</Name></CustomerAdd></{rq}></QBXMLMsgsRq></QBXML>"
    )
}

// ---------------------------------------------------------------------------------------------
// A scripted QuickBooks.

/// QuickBooks that answers like [`EchoQuickBooks`] but can fail on purpose, and remembers what
/// it was asked.
#[derive(Default)]
struct ScriptedQuickBooks {
    echo: EchoQuickBooks,
    open_fails_with: Option<(String, String)>,
    lose_response_of_request: Option<usize>,
    hresult_for_request: Option<usize>,
    opened: Vec<String>,
    processed: Vec<String>,
    closed: bool,
}

impl QuickBooks for ScriptedQuickBooks {
    fn open(&mut self, requested_path: &str) -> Result<(), QbFailure> {
        self.opened.push(requested_path.to_string());
        match &self.open_fails_with {
            Some((hresult, message)) => Err(QbFailure::Hresult {
                hresult: hresult.clone(),
                message: message.clone(),
            }),
            None => self.echo.open(requested_path),
        }
    }
    fn company_file(&self) -> String {
        self.echo.company_file()
    }
    fn country(&self) -> String {
        self.echo.country()
    }
    fn qbxml_version(&self) -> (u32, u32) {
        self.echo.qbxml_version()
    }
    fn hcp_response(&mut self) -> String {
        self.echo.hcp_response()
    }
    fn process(&mut self, request: &str) -> Result<String, QbFailure> {
        self.processed.push(request.to_string());
        let n = self.processed.len();
        if self.lose_response_of_request == Some(n) {
            return Err(QbFailure::ResponseLost);
        }
        if self.hresult_for_request == Some(n) {
            return Err(QbFailure::Hresult {
                hresult: "0x80040400".into(),
                message: "QuickBooks found an error when parsing the provided XML text stream."
                    .into(),
            });
        }
        self.echo.process(request)
    }
    fn close(&mut self) {
        self.closed = true;
    }
}

fn fast_options() -> WcOptions {
    WcOptions {
        noop_wait: Duration::from_millis(10),
        http_timeout: Duration::from_secs(30),
        ..WcOptions::default()
    }
}

fn connector(server: &QbwcServer) -> WebConnector {
    WebConnector::new(&server.url, "acme", "s3cret", fast_options())
}

fn names(methods: &[&str]) -> Vec<String> {
    methods.iter().map(|m| m.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// The wire format, compared with the real QBWC 2.0.0.116 capture.

const CAPTURE: &str = include_str!("../fixtures/qbwc-2.0.0.116-requests.txt");

#[test]
fn every_request_envelope_is_byte_identical_to_the_real_qbwc_capture() {
    let mut checked = HashMap::new();
    for line in CAPTURE.lines() {
        let Some(captured) = line.strip_prefix("Incoming SOAP Request: ") else {
            continue;
        };
        let (method, p) = parse_request(captured);
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        let number = |k: &str| get(k).parse::<u32>().unwrap();
        let request = match method.as_str() {
            "serverVersion" => Request::ServerVersion,
            "clientVersion" => Request::ClientVersion {
                version: get("strVersion"),
            },
            "authenticate" => Request::Authenticate {
                user: get("strUserName"),
                password: get("strPassword"),
            },
            "sendRequestXML" => Request::SendRequestXml {
                ticket: get("ticket"),
                hcp_response: get("strHCPResponse"),
                company_file: get("strCompanyFileName"),
                country: get("qbXMLCountry"),
                major: number("qbXMLMajorVers"),
                minor: number("qbXMLMinorVers"),
            },
            "receiveResponseXML" => Request::ReceiveResponseXml {
                ticket: get("ticket"),
                response: get("response"),
                hresult: get("hresult"),
                message: get("message"),
            },
            "getLastError" => Request::GetLastError {
                ticket: get("ticket"),
            },
            "closeConnection" => Request::CloseConnection {
                ticket: get("ticket"),
            },
            other => panic!("capture holds an unexpected method {other}"),
        };
        assert_eq!(envelope::build(&request), captured, "{method}");
        *checked.entry(method).or_insert(0) += 1;
    }
    // Both sessions of the capture: every method QBWC sent, including a first sendRequestXML
    // with strHCPResponse, a later one with an empty one, and receiveResponseXML with
    // `<hresult /><message />`.
    assert_eq!(checked.len(), 7, "{checked:?}");
    assert_eq!(checked["sendRequestXML"], 3);
}

#[test]
fn constructed_envelopes_follow_the_wsdl_parameter_order() {
    let body = envelope::build(&Request::ConnectionError {
        ticket: "T",
        hresult: "0x80040408",
        message: "Could not start QuickBooks.",
    });
    assert!(body.ends_with(r#"<soap:Body><connectionError xmlns="http://developer.intuit.com/"><ticket>T</ticket><hresult>0x80040408</hresult><message>Could not start QuickBooks.</message></connectionError></soap:Body></soap:Envelope>"#), "{body}");
    let body = envelope::build(&Request::ReceiveResponseXml {
        ticket: "T",
        response: "",
        hresult: "0x80040400",
        message: "a < b & c",
    });
    assert!(
        body.contains("<ticket>T</ticket><response /><hresult>0x80040400</hresult><message>a &lt; b &amp; c</message>"),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// Sessions.

#[test]
fn full_session_calls_methods_in_qbwc_order_with_hcp_only_on_the_first_send() {
    let server = QbwcServer::start(Script {
        requests: vec![
            qbxml_request("CustomerAddRq", "1"),
            qbxml_request("CustomerAddRq", "2"),
            qbxml_request("CustomerAddRq", "3"),
        ],
        ..Script::default()
    });
    let mut qb = ScriptedQuickBooks::default();
    let transcript = connector(&server).run_session(&mut qb).unwrap();

    assert_eq!(
        server.methods(),
        names(&[
            "serverVersion",
            "clientVersion",
            "authenticate",
            "sendRequestXML",
            "receiveResponseXML",
            "sendRequestXML",
            "receiveResponseXML",
            "sendRequestXML",
            "receiveResponseXML",
            "closeConnection",
        ])
    );
    assert_eq!(transcript.outcome, Some(Outcome::Completed));
    assert_eq!(transcript.ticket.as_deref(), Some("TICKET-1"));
    assert_eq!(
        (
            transcript.exchanges,
            transcript.requests_to_quickbooks,
            transcript.responses_returned
        ),
        (3, 3, 3)
    );
    assert_eq!(transcript.last_progress(), Some(100));
    assert!(transcript.calls.iter().all(|c| c.status == CallStatus::Ok));

    let calls = server.calls();
    assert_eq!(calls[1].params["strVersion"], "2.3.0.215");
    assert_eq!(calls[2].params["strUserName"], "acme");
    assert_eq!(calls[2].params["strPassword"], "s3cret");
    let sends: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "sendRequestXML")
        .collect();
    assert!(sends[0].params["strHCPResponse"].contains("<HostQueryRs requestID=\"0\""));
    assert_eq!(sends[1].params["strHCPResponse"], "");
    assert!(
        sends[1].body.contains("<strHCPResponse />"),
        "{}",
        sends[1].body
    );
    assert_eq!(sends[0].params["ticket"], "TICKET-1");
    assert_eq!(sends[0].params["qbXMLCountry"], "US");
    assert_eq!(sends[0].params["qbXMLMajorVers"], "13");
    assert_eq!(sends[0].params["qbXMLMinorVers"], "0");

    // qbXML crosses the wire as escaped text and arrives unchanged on both sides.
    assert_eq!(qb.processed, server.state.lock().unwrap().script.requests);
    let receive = server.call("receiveResponseXML");
    assert!(receive.params["response"].contains("<CustomerAddRs requestID=\"1\" statusCode=\"0\""));
    assert!(
        receive.body.contains("&lt;CustomerAddRs requestID=\"1\""),
        "{}",
        receive.body
    );
    assert!(
        receive.body.contains("<hresult /><message />"),
        "{}",
        receive.body
    );
    assert_eq!(qb.opened, vec![String::new()]);
    assert!(qb.closed, "the QuickBooks session ends with the update");
}

#[test]
fn http_headers_are_the_ones_qbwc_sends() {
    let server = QbwcServer::start(Script::default());
    connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    for call in server.calls() {
        let h = |name: &str| {
            call.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(
            h("soapaction"),
            Some(format!("\"http://developer.intuit.com/{}\"", call.method))
        );
        assert_eq!(
            h("content-type").as_deref(),
            Some("text/xml; charset=utf-8")
        );
        assert_eq!(h("user-agent").as_deref(), Some(USER_AGENT));
        assert_eq!(
            h("expect").as_deref(),
            Some("100-continue"),
            "{:?}",
            call.headers
        );
        assert!(
            call.body
                .starts_with(r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope"#)
        );
        // One line of framing; only the qbXML inside a parameter carries its own newlines.
        let framing = call.body.split("&lt;").next().unwrap();
        assert!(!framing.contains('\n'), "one-line envelope: {}", call.body);
        assert!(call.body.ends_with("</soap:Body></soap:Envelope>"));
    }
    let server_version = server.call("serverVersion");
    assert!(
        server_version
            .body
            .contains(r#"<serverVersion xmlns="http://developer.intuit.com/" />"#)
    );
}

#[test]
fn soap_action_can_be_sent_unquoted_or_left_out() {
    for (style, expected) in [
        (
            SoapActionStyle::Unquoted,
            Some("http://developer.intuit.com/serverVersion"),
        ),
        (SoapActionStyle::Missing, None),
    ] {
        let server = QbwcServer::start(Script::default());
        let options = WcOptions {
            soap_action: style,
            ..fast_options()
        };
        WebConnector::new(&server.url, "acme", "s3cret", options)
            .run_session(&mut ScriptedQuickBooks::default())
            .unwrap();
        let call = server.call("serverVersion");
        assert_eq!(
            call.headers.get("soapaction").map(|v| v.to_str().unwrap()),
            expected
        );
    }
}

#[test]
fn authenticate_none_stops_without_opening_quickbooks() {
    let server = QbwcServer::start(Script {
        auth_status: "none".into(),
        ..Script::default()
    });
    let mut qb = ScriptedQuickBooks::default();
    let transcript = connector(&server).run_session(&mut qb).unwrap();
    assert_eq!(transcript.outcome, Some(Outcome::NoWork));
    assert!(transcript.outcome.unwrap().is_normal());
    assert_eq!(
        server.methods(),
        names(&[
            "serverVersion",
            "clientVersion",
            "authenticate",
            "closeConnection"
        ])
    );
    assert!(qb.opened.is_empty(), "QuickBooks must not be opened");
}

#[test]
fn authenticate_nvu_stops_as_an_invalid_user() {
    let server = QbwcServer::start(Script {
        auth_status: "nvu".into(),
        ..Script::default()
    });
    let mut qb = ScriptedQuickBooks::default();
    let transcript = connector(&server).run_session(&mut qb).unwrap();
    assert_eq!(transcript.outcome, Some(Outcome::InvalidUser));
    assert!(!transcript.outcome.unwrap().is_normal());
    assert!(!server.methods().contains(&"sendRequestXML".to_string()));
    assert!(qb.opened.is_empty());
}

#[test]
fn authenticate_path_is_the_company_file_to_open() {
    let path = r"C:\Company Files\Acme & Co.QBW";
    let server = QbwcServer::start(Script {
        auth_status: path.into(),
        ..Script::default()
    });
    let mut qb = ScriptedQuickBooks::default();
    connector(&server).run_session(&mut qb).unwrap();
    assert_eq!(qb.opened, vec![path.to_string()]);
    assert_eq!(
        server.call("sendRequestXML").params["strCompanyFileName"],
        path
    );
}

#[test]
fn client_version_e_reply_cancels_before_authenticate() {
    let server = QbwcServer::start(Script {
        client_version_reply: "E:Please upgrade your Web Connector.".into(),
        ..Script::default()
    });
    let transcript = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    assert_eq!(
        transcript.outcome,
        Some(Outcome::VersionRejected(
            "E:Please upgrade your Web Connector.".into()
        ))
    );
    assert_eq!(server.methods(), names(&["serverVersion", "clientVersion"]));
}

#[test]
fn client_version_warning_is_accepted_and_the_update_goes_on() {
    let server = QbwcServer::start(Script {
        client_version_reply: "W:A newer Web Connector is available.".into(),
        ..Script::default()
    });
    let transcript = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    assert_eq!(transcript.outcome, Some(Outcome::Completed));
}

#[test]
fn open_failure_calls_connection_error_and_done_ends_the_session() {
    let server = QbwcServer::start(Script::default());
    let mut qb = ScriptedQuickBooks {
        open_fails_with: Some(("0x80040408".into(), "Could not start QuickBooks.".into())),
        ..ScriptedQuickBooks::default()
    };
    let transcript = connector(&server).run_session(&mut qb).unwrap();
    assert_eq!(
        server.methods(),
        names(&[
            "serverVersion",
            "clientVersion",
            "authenticate",
            "connectionError"
        ])
    );
    let call = server.call("connectionError");
    assert_eq!(call.params["ticket"], "TICKET-1");
    assert_eq!(call.params["hresult"], "0x80040408");
    assert_eq!(call.params["message"], "Could not start QuickBooks.");
    assert_eq!(
        transcript.outcome,
        Some(Outcome::ConnectionFailed {
            hresult: "0x80040408".into(),
            message: "Could not start QuickBooks.".into()
        })
    );
    assert!(qb.processed.is_empty());
}

#[test]
fn connection_error_path_reply_is_retried_a_bounded_number_of_times() {
    let other = r"C:\Company Files\Other.QBW";
    let server = QbwcServer::start(Script {
        connection_error_reply: other.into(),
        ..Script::default()
    });
    let mut qb = ScriptedQuickBooks {
        open_fails_with: Some((
            "0x8004040A".into(),
            "A different company file is open.".into(),
        )),
        ..ScriptedQuickBooks::default()
    };
    let options = WcOptions {
        max_connection_error_retries: 2,
        ..fast_options()
    };
    let transcript = WebConnector::new(&server.url, "acme", "s3cret", options)
        .run_session(&mut qb)
        .unwrap();
    assert_eq!(qb.opened, vec![String::new(), other.into(), other.into()]);
    let errors = server
        .methods()
        .into_iter()
        .filter(|m| m == "connectionError")
        .count();
    assert_eq!(errors, 3, "one connectionError per failed open");
    assert!(matches!(
        transcript.outcome,
        Some(Outcome::ConnectionFailed { .. })
    ));
}

#[test]
fn lost_response_abandons_the_session_without_receive_or_close() {
    let server = QbwcServer::start(Script::default());
    let mut qb = ScriptedQuickBooks {
        lose_response_of_request: Some(1),
        ..ScriptedQuickBooks::default()
    };
    let transcript = connector(&server).run_session(&mut qb).unwrap();
    assert_eq!(transcript.outcome, Some(Outcome::Abandoned));
    assert_eq!(
        server.methods(),
        names(&[
            "serverVersion",
            "clientVersion",
            "authenticate",
            "sendRequestXML"
        ])
    );
    assert_eq!(qb.processed.len(), 1, "QuickBooks did apply the request");
    assert_eq!(transcript.responses_returned, 0);
}

#[test]
fn processing_failure_is_returned_as_hresult_and_message_with_an_empty_response() {
    let server = QbwcServer::start(Script::default());
    let mut qb = ScriptedQuickBooks {
        hresult_for_request: Some(1),
        ..ScriptedQuickBooks::default()
    };
    connector(&server).run_session(&mut qb).unwrap();
    let receive = server.call("receiveResponseXML");
    assert_eq!(receive.params["response"], "");
    assert_eq!(receive.params["hresult"], "0x80040400");
    assert!(receive.params["message"].starts_with("QuickBooks found an error"));
    assert!(
        receive
            .body
            .contains("<response /><hresult>0x80040400</hresult>")
    );
}

#[test]
fn negative_progress_leads_to_get_last_error_then_close_connection() {
    let server = QbwcServer::start(Script {
        progress_override: Some("-3"),
        last_error: "Mapping failed for invoice 42".into(),
        ..Script::default()
    });
    let transcript = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    assert_eq!(
        server.methods(),
        names(&[
            "serverVersion",
            "clientVersion",
            "authenticate",
            "sendRequestXML",
            "receiveResponseXML",
            "getLastError",
            "closeConnection",
        ])
    );
    assert_eq!(
        transcript.outcome,
        Some(Outcome::ServerError("Mapping failed for invoice 42".into()))
    );
    assert_eq!(transcript.last_progress(), Some(-3));
}

#[test]
fn empty_send_with_an_error_text_shows_it_and_closes() {
    let server = QbwcServer::start(Script {
        requests: vec![],
        last_error: "No registered functions for action: ItemServiceQuery".into(),
        ..Script::default()
    });
    let transcript = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    assert_eq!(
        server.methods()[3..],
        names(&["sendRequestXML", "getLastError", "closeConnection"])
    );
    assert_eq!(
        transcript.outcome,
        Some(Outcome::ServerError(
            "No registered functions for action: ItemServiceQuery".into()
        ))
    );
}

#[test]
fn noop_pauses_and_asks_for_work_again() {
    let server = QbwcServer::start(Script {
        noops: 2,
        ..Script::default()
    });
    let transcript = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    assert_eq!(
        server.methods()[3..],
        names(&[
            "sendRequestXML",
            "getLastError",
            "sendRequestXML",
            "getLastError",
            "sendRequestXML",
            "receiveResponseXML",
            "closeConnection",
        ])
    );
    assert_eq!(transcript.outcome, Some(Outcome::Completed));
    let sends: Vec<_> = server
        .calls()
        .into_iter()
        .filter(|c| c.method == "sendRequestXML")
        .collect();
    assert!(!sends[0].params["strHCPResponse"].is_empty());
    assert_eq!(
        sends[1].params["strHCPResponse"], "",
        "HCP goes with the first call only"
    );
}

#[test]
fn soap_fault_from_the_server_is_a_clear_error_quoting_it() {
    let server = QbwcServer::start(Script {
        fault_on: Some("authenticate"),
        ..Script::default()
    });
    let mut wc = connector(&server);
    let err = wc
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap_err();
    assert!(
        matches!(&err, WcError::Fault { method: Method::Authenticate, code, .. } if code == "soap:Server"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("authenticate"), "{text}");
    assert!(text.contains("boom in the server"), "{text}");
    // The partial transcript shows the failed call.
    let last = wc.transcript().calls.last().unwrap();
    assert_eq!(last.method, Method::Authenticate);
    assert!(matches!(&last.status, CallStatus::Failed(m) if m.contains("boom")));
}

#[test]
fn html_answer_is_an_error_quoting_the_body() {
    let server = QbwcServer::start(Script {
        html_on: Some("serverVersion"),
        ..Script::default()
    });
    let err = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, WcError::ContentType { .. }), "{text}");
    assert!(
        text.contains("text/html") && text.contains("Bad gateway"),
        "{text}"
    );
}

#[test]
fn unreachable_server_is_a_transport_error_naming_the_url() {
    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}/qbwc");
    let err = WebConnector::new(&url, "acme", "s3cret", fast_options())
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap_err();
    assert!(matches!(
        err,
        WcError::Transport {
            method: Method::ServerVersion,
            ..
        }
    ));
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn run_every_repeats_whole_sessions() {
    let server = QbwcServer::start(Script {
        auth_status: "none".into(),
        ..Script::default()
    });
    let runs = connector(&server).run_every(
        &mut ScriptedQuickBooks::default(),
        Duration::from_millis(10),
        3,
    );
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.is_normal()));
    assert!(
        runs.iter()
            .all(|r| r.transcript.outcome == Some(Outcome::NoWork))
    );
    let versions = server
        .methods()
        .into_iter()
        .filter(|m| m == "serverVersion")
        .count();
    assert_eq!(versions, 3);
}

// ---------------------------------------------------------------------------------------------
// The command line.

#[test]
fn sim_run_from_the_command_line_completes_sessions_and_prints_the_transcript() {
    let server = QbwcServer::start(Script::default());
    let cwd = tempfile::tempdir().unwrap();
    let out = run(
        cwd.path(),
        &[
            "sim",
            "run",
            "--url",
            &server.url,
            "--user",
            "acme",
            "--password",
            "s3cret",
            "--times",
            "2",
            "--every",
            "0",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", stderr(&out));
    assert!(stdout.contains("== session 2 of 2 =="), "{stdout}");
    assert!(stdout.contains("sendRequestXML("), "{stdout}");
    assert!(stdout.contains("session completed"), "{stdout}");
    assert!(!stdout.contains("s3cret"), "the password is never printed");
    let versions = server
        .methods()
        .into_iter()
        .filter(|m| m == "serverVersion")
        .count();
    assert_eq!(versions, 2);
}

#[test]
fn sim_run_exits_1_when_the_server_refuses_the_user() {
    let server = QbwcServer::start(Script {
        auth_status: "nvu".into(),
        ..Script::default()
    });
    let cwd = tempfile::tempdir().unwrap();
    let out = run(
        cwd.path(),
        &[
            "sim",
            "run",
            "--url",
            &server.url,
            "--user",
            "x",
            "--password",
            "y",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("invalid user"));
}

#[test]
fn sim_run_exits_1_with_the_fault_on_stderr() {
    let server = QbwcServer::start(Script {
        fault_on: Some("sendRequestXML"),
        ..Script::default()
    });
    let cwd = tempfile::tempdir().unwrap();
    let out = run(
        cwd.path(),
        &[
            "sim",
            "run",
            "--url",
            &server.url,
            "--user",
            "x",
            "--password",
            "y",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("sendRequestXML") && err.contains("boom in the server"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("authenticate("));
}

// ---------------------------------------------------------------------------------------------
// HTTPS.

/// A blocking HTTPS server with a self-signed certificate (tests/fixtures/tls, CN=localhost)
/// that answers every QBWC method with `E:stop`, so a session ends after clientVersion.
fn start_self_signed_https_server() -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{BufRead, BufReader, Read, Write};

    let certs =
        CertificateDer::pem_slice_iter(include_bytes!("../fixtures/tls/localhost.cert.pem"))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
    let key =
        PrivateKeyDer::from_pem_slice(include_bytes!("../fixtures/tls/localhost.key.pem")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://localhost:{}/qbwc",
        listener.local_addr().unwrap().port()
    );
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let tls = rustls::ServerConnection::new(config).unwrap();
                let mut stream = BufReader::new(rustls::StreamOwned::new(tls, tcp));
                // Keep-alive: answer requests until the client goes away.
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if lower.starts_with("expect: 100-continue") {
                            let _ = stream.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                        }
                    }
                    let mut body = vec![0; length];
                    if stream.read_exact(&mut body).is_err() {
                        return;
                    }
                    let (method, _) = parse_request(std::str::from_utf8(&body).unwrap());
                    let answer = format!(
                        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><{method}Response xmlns="http://developer.intuit.com/"><{method}Result>E:stop</{method}Result></{method}Response></soap:Body></soap:Envelope>"#
                    );
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                        answer.len()
                    );
                    let out = stream.get_mut();
                    if out.write_all(head.as_bytes()).is_err()
                        || out.write_all(answer.as_bytes()).is_err()
                        || out.flush().is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn self_signed_https_is_refused_unless_insecure() {
    let url = start_self_signed_https_server();

    let err = WebConnector::new(&url, "acme", "s3cret", fast_options())
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap_err();
    assert!(matches!(err, WcError::Transport { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    let options = WcOptions {
        insecure_tls: true,
        ..fast_options()
    };
    let transcript = WebConnector::new(&url, "acme", "s3cret", options)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    assert_eq!(
        transcript.outcome,
        Some(Outcome::VersionRejected("E:stop".into()))
    );
}

#[test]
fn sim_run_insecure_reaches_a_self_signed_https_server() {
    let url = start_self_signed_https_server();
    let cwd = tempfile::tempdir().unwrap();
    let args = [
        "sim",
        "run",
        "--url",
        &url,
        "--user",
        "x",
        "--password",
        "y",
    ];
    let refused = run(cwd.path(), &args);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).to_lowercase().contains("certificate"),
        "{}",
        stderr(&refused)
    );

    let insecure = run(cwd.path(), &[&args[..], &["--insecure"]].concat());
    let stdout = String::from_utf8_lossy(&insecure.stdout);
    assert!(
        stdout.contains("update cancelled by clientVersion: E:stop"),
        "{stdout}\n{}",
        stderr(&insecure)
    );
}

#[test]
fn endless_noop_is_cut_off_at_the_call_limit() {
    let server = QbwcServer::start(Script {
        noops: u32::MAX,
        ..Script::default()
    });
    let options = WcOptions {
        max_calls_per_session: 12,
        noop_wait: Duration::ZERO,
        ..fast_options()
    };
    let err = WebConnector::new(&server.url, "acme", "s3cret", options)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap_err();
    assert!(matches!(err, WcError::TooManyCalls { limit: 12 }), "{err}");
    assert_eq!(server.calls().len(), 12);
}

#[test]
fn auto_run_keeps_its_schedule_after_a_failed_session() {
    let server = QbwcServer::start(Script {
        fault_on: Some("authenticate"),
        ..Script::default()
    });
    let runs = connector(&server).run_every(
        &mut ScriptedQuickBooks::default(),
        Duration::from_millis(10),
        2,
    );
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert!(matches!(run.error, Some(WcError::Fault { .. })), "{run:?}");
        assert!(!run.is_normal());
        assert_eq!(
            run.transcript.methods(),
            vec![
                Method::ServerVersion,
                Method::ClientVersion,
                Method::Authenticate
            ]
        );
    }
}

#[test]
fn authenticate_busy_stops_without_opening_quickbooks() {
    let server = QbwcServer::start(Script {
        auth_status: "busy".into(),
        ..Script::default()
    });
    let mut qb = ScriptedQuickBooks::default();
    let transcript = connector(&server).run_session(&mut qb).unwrap();
    assert_eq!(transcript.outcome, Some(Outcome::Busy));
    assert!(qb.opened.is_empty());
}

#[test]
fn authenticate_postpone_and_minimum_interval_are_recorded() {
    let server = QbwcServer::start(Script {
        auth_result_xml: Some(
            "<string>T</string><string>none</string><string>30</string><string>600</string>",
        ),
        ..Script::default()
    });
    let transcript = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    assert_eq!(transcript.postpone, Some(Duration::from_secs(30)));
    assert_eq!(transcript.min_run_every, Some(Duration::from_secs(600)));
}

#[test]
fn authenticate_items_in_the_wcf_arrays_namespace_fail_like_qbwc1012() {
    let server = QbwcServer::start(Script {
        auth_result_xml: Some(
            r#"<a:string xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays">T</a:string><a:string xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"></a:string>"#,
        ),
        ..Script::default()
    });
    let err = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap_err();
    assert!(
        matches!(&err, WcError::BadAuthenticate { found } if found.is_empty()),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("QBWC1012: Authentication failed"),
        "{err}"
    );
}

#[test]
fn non_numeric_progress_is_an_error() {
    let server = QbwcServer::start(Script {
        progress_override: Some("fifty"),
        ..Script::default()
    });
    let err = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap_err();
    assert!(
        matches!(&err, WcError::BadProgress { value } if value == "fifty"),
        "{err}"
    );
}

#[test]
fn interactive_mode_is_declined_for_want_of_a_browser() {
    let server = QbwcServer::start(Script {
        requests: vec![],
        last_error: "Interactive mode".into(),
        ..Script::default()
    });
    let transcript = connector(&server)
        .run_session(&mut ScriptedQuickBooks::default())
        .unwrap();
    assert_eq!(
        server.methods()[3..],
        names(&[
            "sendRequestXML",
            "getLastError",
            "getInteractiveURL",
            "interactiveRejected",
            "closeConnection",
        ])
    );
    assert_eq!(
        server.call("getInteractiveURL").params["wcTicket"],
        "TICKET-1"
    );
    assert_eq!(
        transcript.outcome,
        Some(Outcome::InteractiveDeclined {
            url: "https://sync.example.test/interactive?t=1&x=2".into()
        })
    );
}
