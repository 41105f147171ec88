//! The QuickBooks Web Connector endpoint: real Web Connector requests answered in the shape
//! the .NET client expects, full sessions over HTTP, one session per company file, leases
//! that expire, hostile input that never takes the server down, and the CLI that sets up
//! connections, users and QWC files.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qbridge::config::Config;
use qbridge::qbwc::{SessionContext, SessionEnd, WorkError, WorkProvider, hash_password};
use qbridge::server::serve_with;
use qbridge::state::AppState;
use qbridge::store::{Store, StoreOptions};

use crate::support::{self, Server, run, stderr};

const NS: &str = r#"xmlns="http://developer.intuit.com/""#;

/// The 14 request envelopes a real QBWC 2.0.0.116 sent (two sessions), verbatim.
fn captured_requests() -> Vec<String> {
    include_str!("fixtures/qbwc-2.0.0.116-requests.txt")
        .lines()
        .map(str::to_string)
        .collect()
}

fn envelope(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>{inner}</soap:Body></soap:Envelope>"#
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn unesc(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

/// A minimal SOAP client, as the Web Connector posts.
struct Soap {
    url: String,
    agent: ureq::Agent,
}

/// An HTTP answer: status, Content-Type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Soap {
    fn new(base: &str) -> Soap {
        Soap {
            url: format!("{base}/qbwc"),
            agent: support::agent(),
        }
    }

    fn post(&self, action: Option<&str>, body: &str) -> Answer {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8");
        if let Some(a) = action {
            req = req.header("SOAPAction", a);
        }
        let mut resp = req.send(body).expect("HTTP round trip");
        Answer {
            status: resp.status().as_u16(),
            content_type: resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// Calls `method` with `(name, value)` parameters; returns the raw result element text.
    fn call(&self, method: &str, params: &[(&str, &str)]) -> String {
        let inner: String = params
            .iter()
            .map(|(n, v)| format!("<{n}>{}</{n}>", esc(v)))
            .collect();
        let a = self.post(
            Some(&format!("\"http://developer.intuit.com/{method}\"")),
            &envelope(&format!("<{method} {NS}>{inner}</{method}>")),
        );
        assert_eq!(a.status, 200, "{method}: {}", a.body);
        result_of(&a.body, method)
    }

    fn authenticate(&self, user: &str, password: &str) -> (String, String) {
        let raw = self.call(
            "authenticate",
            &[("strUserName", user), ("strPassword", password)],
        );
        let items = strings(&raw);
        assert!(
            items.len() >= 2,
            "authenticate returns ticket and status: {raw}"
        );
        (items[0].clone(), items[1].clone())
    }

    fn send_request(&self, ticket: &str, hcp: &str, file: &str) -> String {
        unesc(&self.call(
            "sendRequestXML",
            &[
                ("ticket", ticket),
                ("strHCPResponse", hcp),
                ("strCompanyFileName", file),
                ("qbXMLCountry", "US"),
                ("qbXMLMajorVers", "13"),
                ("qbXMLMinorVers", "0"),
            ],
        ))
    }

    fn receive_response(&self, ticket: &str, response: &str) -> i32 {
        self.call(
            "receiveResponseXML",
            &[
                ("ticket", ticket),
                ("response", response),
                ("hresult", ""),
                ("message", ""),
            ],
        )
        .parse()
        .expect("an int result")
    }

    fn text(&self, method: &str, ticket: &str) -> String {
        unesc(&self.call(method, &[("ticket", ticket)]))
    }
}

/// The text of `<{method}Result>` in an ASMX-shaped response, checking the shape on the way.
fn result_of(body: &str, method: &str) -> String {
    assert!(
        body.starts_with(r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/""#),
        "{body}"
    );
    let open = format!(r#"<{method}Response {NS}><{method}Result>"#);
    let close = format!("</{method}Result></{method}Response></soap:Body></soap:Envelope>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} in {body}"))
        + open.len();
    let end = body
        .rfind(&close)
        .unwrap_or_else(|| panic!("no {close} in {body}"));
    body[start..end].to_string()
}

fn strings(raw: &str) -> Vec<String> {
    raw.split("</string>")
        .filter_map(|p| p.strip_prefix("<string>"))
        .map(unesc)
        .collect()
}

fn assert_fault(a: &Answer, needle: &str) {
    assert_eq!(a.status, 500, "{}", a.body);
    assert!(a.content_type.starts_with("text/xml"), "{}", a.content_type);
    assert!(
        a.body.contains("<faultcode>soap:Client</faultcode>"),
        "{}",
        a.body
    );
    assert!(a.body.contains(needle), "expected {needle:?} in {}", a.body);
}

fn healthy(base: &str) {
    let (status, _) = support::get(&format!("{base}/healthz")).expect("server still answers");
    assert_eq!(status, 200);
}

#[test]
fn captured_qbwc_requests_get_asmx_shaped_answers_with_the_right_meaning() {
    let server = Server::start();
    let soap = Soap::new(&server.base);
    for body in captured_requests() {
        let method = body
            .split("<soap:Body><")
            .nth(1)
            .and_then(|r| r.split([' ', '>', '/']).next())
            .unwrap()
            .to_string();
        let a = soap.post(
            Some(&format!("\"http://developer.intuit.com/{method}\"")),
            &body,
        );
        assert_eq!(a.status, 200, "{method}: {}", a.body);
        assert_eq!(a.content_type, "text/xml; charset=utf-8");
        let result = result_of(&a.body, &method);
        match method.as_str() {
            "serverVersion" => assert!(result.starts_with("qbridge "), "{result}"),
            "clientVersion" => assert_eq!(result, "", "2.0.0.116 is accepted"),
            "authenticate" => {
                let items = strings(&result);
                assert_eq!(items.len(), 2, "{result}");
                assert_eq!(items[0].len(), 64, "a ticket even when refusing");
                assert_eq!(items[1], "nvu", "user `api` does not exist here");
            }
            // The captured tickets were never issued by this server.
            "sendRequestXML" => assert_eq!(result, ""),
            "receiveResponseXML" => assert_eq!(result, "-1"),
            "getLastError" => assert!(result.contains("no longer valid"), "{result}"),
            "closeConnection" => assert!(!result.is_empty()),
            other => panic!("unexpected method {other}"),
        }
    }
    // SOAPAction is only a hint: missing or wrong, the body decides.
    let body = &captured_requests()[0];
    for action in [
        None,
        Some("\"http://developer.intuit.com/closeConnection\""),
        Some("x"),
    ] {
        let a = soap.post(action, body);
        assert!(result_of(&a.body, "serverVersion").starts_with("qbridge"));
    }
    let a = soap.post(
        None,
        &envelope(&format!(
            "<getServerVersion {NS}><ticket /></getServerVersion>"
        )),
    );
    assert!(result_of(&a.body, "getServerVersion").starts_with("qbridge"));
    for (method, expect) in [("getInteractiveURL", ""), ("interactiveDone", "Done")] {
        let a = soap.post(
            None,
            &envelope(&format!("<{method} {NS}><wcTicket>x</wcTicket></{method}>")),
        );
        assert_eq!(result_of(&a.body, method), expect);
    }
    let a = soap.post(
        None,
        &envelope(&format!(
            "<clientVersion {NS}><strVersion>1.5.0.0</strVersion></clientVersion>"
        )),
    );
    assert_eq!(
        result_of(&a.body, "clientVersion"),
        "O:2.0.0.0",
        "older than qbwc.min_client_version: ask for an update"
    );
}

/// A pipeline for tests: `per_connection` requests for each connection, each naming it.
struct Scripted {
    per_connection: u32,
    sent: Mutex<Vec<(String, u32)>>,
    received: Mutex<Vec<(String, String)>>,
    ended: Mutex<Vec<(String, SessionEnd)>>,
}

impl Scripted {
    fn new(per_connection: u32) -> Arc<Scripted> {
        Arc::new(Scripted {
            per_connection,
            sent: Mutex::default(),
            received: Mutex::default(),
            ended: Mutex::default(),
        })
    }

    fn done(&self, connection: &str) -> u32 {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == connection)
            .count() as u32
    }
}

impl WorkProvider for Scripted {
    fn has_work(&self, _connection_id: i64) -> Result<bool, WorkError> {
        Ok(true)
    }

    fn next_request(&self, ctx: &SessionContext) -> Result<Option<String>, WorkError> {
        let n = self.done(&ctx.connection);
        if n >= self.per_connection {
            return Ok(None);
        }
        self.sent.lock().unwrap().push((ctx.connection.clone(), n));
        let (major, minor) = ctx.qbxml_version;
        Ok(Some(format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><?qbxml version=\"{major}.{minor}\"?><QBXML><QBXMLMsgsRq onError=\"stopOnError\"><CustomerQueryRq requestID=\"{}-{n}\"><MaxReturned>1</MaxReturned></CustomerQueryRq></QBXMLMsgsRq></QBXML>",
            ctx.connection
        )))
    }

    fn receive_response(&self, ctx: &SessionContext, response_xml: &str) -> Result<u8, WorkError> {
        if !response_xml.contains(&format!("requestID=\"{}-", ctx.connection)) {
            return Err(WorkError(format!(
                "connection {} got a response that is not its own",
                ctx.connection
            )));
        }
        self.received
            .lock()
            .unwrap()
            .push((ctx.connection.clone(), response_xml.to_string()));
        Ok((self.done(&ctx.connection) * 100 / self.per_connection) as u8)
    }

    fn receive_error(&self, _ctx: &SessionContext, _h: &str, _m: &str) -> Result<(), WorkError> {
        Ok(())
    }

    fn session_ended(&self, ctx: &SessionContext, how: SessionEnd) {
        self.ended
            .lock()
            .unwrap()
            .push((ctx.connection.clone(), how));
    }
}

/// The real server (router, accept loop, store) in this process with a test pipeline.
struct InProcess {
    base: String,
    store: Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _tmp: tempfile::TempDir,
}

impl InProcess {
    fn start(work: Arc<dyn WorkProvider>, tweak: impl FnOnce(&mut Config)) -> InProcess {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: tmp.path().join("data"),
            ..Config::default()
        };
        tweak(&mut config);
        let store = Store::open(&config.data_dir, StoreOptions::default()).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let plugins =
            Arc::new(qbridge::plugins::PluginManager::open(store.clone(), &config).unwrap());
        let state = AppState {
            config: Arc::new(config),
            store: store.clone(),
            work,
            plugins,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                serve_with(listener, state, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        healthy_soon(&base);
        InProcess {
            base,
            store,
            stop: Some(stop),
            thread: Some(thread),
            _tmp: tmp,
        }
    }

    fn user(&self, connection: &str, username: &str, password: &str) {
        if self.store.connection(connection).is_err() {
            self.store
                .add_connection(connection, &qbridge::qbwc::new_guid(), "", "test")
                .unwrap();
        }
        self.store
            .add_qbwc_user(
                connection,
                username,
                &qbridge::qbwc::new_guid(),
                &hash_password(password).unwrap(),
                "test",
            )
            .unwrap();
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn healthy_soon(base: &str) {
    for _ in 0..200 {
        if support::get(&format!("{base}/healthz")).is_ok_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("in-process server did not come up");
}

/// The first sendRequestXML of the capture carries a real HostQuery/CompanyQuery answer.
fn captured_hcp() -> String {
    let body = &captured_requests()[3];
    let start = body.find("<strHCPResponse>").unwrap() + "<strHCPResponse>".len();
    let end = body.find("</strHCPResponse>").unwrap();
    unesc(&body[start..end])
}

fn answer_to(request: &str) -> String {
    let id = request
        .split("requestID=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("request has an id");
    format!(
        "<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs>\n<CustomerQueryRs requestID=\"{id}\" statusCode=\"1\" statusSeverity=\"Info\" statusMessage=\"A query request did not find a matching object in QuickBooks\" />\n</QBXMLMsgsRs>\n</QBXML>\n"
    )
}

#[test]
fn full_session_sends_every_request_negotiates_the_version_and_closes() {
    let work = Scripted::new(2);
    let srv = InProcess::start(work.clone(), |_| {});
    srv.user("acme", "alice", "correct horse battery staple");
    let soap = Soap::new(&srv.base);
    assert!(soap.call("serverVersion", &[]).starts_with("qbridge"));
    assert_eq!(
        soap.call("clientVersion", &[("strVersion", "2.3.0.215")]),
        ""
    );
    let (ticket, file) = soap.authenticate("alice", "correct horse battery staple");
    assert_eq!(file, "", "no company file configured: use the open one");
    // The capture's QuickBooks Pro 2006 supports up to qbXML 5.0; QBWC claims 13.0.
    let first = soap.send_request(&ticket, &captured_hcp(), r"C:\Books\acme.qbw");
    assert!(first.contains("<?qbxml version=\"5.0\"?>"), "{first}");
    assert_eq!(soap.receive_response(&ticket, &answer_to(&first)), 50);
    let second = soap.send_request(&ticket, "", r"C:\Books\acme.qbw");
    assert!(second.contains("requestID=\"acme-1\""), "{second}");
    assert_eq!(soap.receive_response(&ticket, &answer_to(&second)), 100);
    assert_eq!(
        soap.send_request(&ticket, "", ""),
        "",
        "nothing more to send"
    );
    assert_eq!(soap.text("getLastError", &ticket), "No more work.");
    assert_eq!(soap.text("closeConnection", &ticket), "OK");
    // The ticket is dead after closeConnection.
    assert_eq!(soap.send_request(&ticket, "", ""), "");
    assert!(
        soap.text("getLastError", &ticket)
            .contains("no longer valid")
    );

    let conn = srv.store.connection("acme").unwrap();
    let host = conn.host.expect("host info stored");
    assert_eq!(host.product_name, "QuickBooks Pro 2006");
    assert_eq!(host.qbxml_version, (5, 0));
    assert_eq!(host.country, "US");
    assert_eq!(work.received.lock().unwrap().len(), 2);
    assert_eq!(
        *work.ended.lock().unwrap(),
        vec![("acme".to_string(), SessionEnd::Closed)]
    );
}

#[test]
fn concurrent_sessions_for_two_connections_never_see_each_others_requests() {
    let work = Scripted::new(5);
    let srv = InProcess::start(work.clone(), |_| {});
    srv.user("north", "n-user", "pw-north-0123456789");
    srv.user("south", "s-user", "pw-south-0123456789");
    let clients: Vec<_> = [
        ("north", "n-user", "pw-north-0123456789"),
        ("south", "s-user", "pw-south-0123456789"),
    ]
    .into_iter()
    .map(|(conn, user, pw)| {
        let base = srv.base.clone();
        std::thread::spawn(move || {
            let soap = Soap::new(&base);
            let (ticket, _) = soap.authenticate(user, pw);
            let mut seen = Vec::new();
            loop {
                let req = soap.send_request(&ticket, "", &format!(r"C:\{conn}.qbw"));
                if req.is_empty() {
                    break;
                }
                seen.push(req.clone());
                if soap.receive_response(&ticket, &answer_to(&req)) >= 100 {
                    break;
                }
            }
            assert_eq!(soap.text("closeConnection", &ticket), "OK");
            (conn, seen)
        })
    })
    .collect();
    for c in clients {
        let (conn, seen) = c.join().unwrap();
        assert_eq!(seen.len(), 5, "{conn} got all its requests");
        for req in seen {
            assert!(
                req.contains(&format!("requestID=\"{conn}-")),
                "{conn} saw {req}"
            );
        }
    }
}

#[test]
fn second_login_to_a_busy_company_file_gets_busy_until_the_lease_expires() {
    let work = Scripted::new(1);
    let srv = InProcess::start(work.clone(), |c| {
        c.qbwc_session_idle = Duration::from_secs(1);
    });
    srv.user("acme", "pc1", "pw-one-0123456789");
    srv.user("acme", "pc2", "pw-two-0123456789");
    let soap = Soap::new(&srv.base);
    let (first, status) = soap.authenticate("pc1", "pw-one-0123456789");
    assert_eq!(status, "");
    let (_, status) = soap.authenticate("pc2", "pw-two-0123456789");
    assert_eq!(status, "busy");
    // pc1's Web Connector crashes: after the idle lease the company file is free again.
    std::thread::sleep(Duration::from_millis(1500));
    let (second, status) = soap.authenticate("pc2", "pw-two-0123456789");
    assert_eq!(status, "", "an expired lease never locks the company file");
    assert_eq!(
        soap.send_request(&first, "", ""),
        "",
        "the crashed session is gone"
    );
    assert!(
        soap.text("getLastError", &first)
            .contains("no longer valid")
    );
    assert!(
        work.ended
            .lock()
            .unwrap()
            .contains(&("acme".to_string(), SessionEnd::Expired))
    );
    // The two Windows users report the company file through different paths.
    assert!(
        !soap
            .send_request(&second, "", r"\\server\Books\acme.qbw")
            .is_empty()
    );
    drop(soap);
    let warning = srv.store.connection("acme").unwrap().path_warning;
    assert!(warning.is_none(), "one path reported so far");
    let soap = Soap::new(&srv.base);
    soap.text("closeConnection", &second);
    let (third, _) = soap.authenticate("pc1", "pw-one-0123456789");
    soap.send_request(&third, "", r"Q:\Books\acme.qbw");
    let warning = srv.store.connection("acme").unwrap().path_warning.unwrap();
    assert!(
        warning.contains("UNC path") && warning.contains("clear-path"),
        "{warning}"
    );
}

#[test]
fn request_processor_errors_and_out_of_order_responses_take_the_error_path() {
    let work = Scripted::new(1);
    let srv = InProcess::start(work.clone(), |_| {});
    srv.user("acme", "alice", "pw-alice-0123456789");
    let soap = Soap::new(&srv.base);
    let (ticket, _) = soap.authenticate("alice", "pw-alice-0123456789");
    let request = soap.send_request(&ticket, "", "");
    assert!(!request.is_empty());
    let result = soap.call(
        "receiveResponseXML",
        &[
            ("ticket", &ticket),
            ("response", ""),
            ("hresult", "0x80040400"),
            (
                "message",
                "QuickBooks found an error when parsing the provided XML text stream.",
            ),
        ],
    );
    assert!(result.parse::<i32>().unwrap() < 0, "{result}");
    let text = soap.text("getLastError", &ticket);
    assert!(
        text.contains("qbXML") && text.contains("0x80040400"),
        "{text}"
    );
    // A response nobody asked for is refused, not handed to the pipeline.
    assert!(soap.receive_response(&ticket, &answer_to(&request)) < 0);
    assert!(
        soap.text("getLastError", &ticket)
            .contains("without a request outstanding")
    );
    assert!(work.received.lock().unwrap().is_empty());
    let stored = srv.store.connection("acme").unwrap().last_error.unwrap().0;
    assert!(stored.contains("qbXML"), "{stored}");
}

#[test]
fn logins_beyond_the_rate_limit_get_nvu_even_with_the_right_password() {
    let srv = InProcess::start(Scripted::new(1), |c| c.qbwc_auth_per_user_per_minute = 3);
    srv.user("acme", "alice", "pw-alice-0123456789");
    let soap = Soap::new(&srv.base);
    for _ in 0..3 {
        assert_eq!(soap.authenticate("alice", "guess-guess-guess").1, "nvu");
    }
    assert_eq!(
        soap.authenticate("alice", "pw-alice-0123456789").1,
        "nvu",
        "no tokens left: refused before any hashing"
    );
}

#[test]
fn connection_errors_give_advice_and_done_after_the_retries() {
    let work = Scripted::new(1);
    let srv = InProcess::start(work.clone(), |c| c.qbwc_connection_error_retries = 1);
    srv.user("acme", "alice", "pw-alice-0123456789");
    let soap = Soap::new(&srv.base);
    let (ticket, _) = soap.authenticate("alice", "pw-alice-0123456789");
    let err = |soap: &Soap| {
        soap.call(
            "connectionError",
            &[
                ("ticket", &ticket),
                ("hresult", "0x80040408"),
                ("message", "Could not start QuickBooks."),
            ],
        )
    };
    assert_eq!(err(&soap), "", "first failure: retry with the open file");
    assert!(
        soap.text("getLastError", &ticket)
            .contains("dedicated QuickBooks user")
    );
    assert_eq!(err(&soap), "done", "bounded retries");
    let last = srv.store.connection("acme").unwrap().last_error.unwrap().0;
    assert!(last.contains("dedicated QuickBooks user"), "{last}");
}

/// Writes raw bytes and reads whatever comes back; also says whether the server closed the
/// connection (as opposed to our 20 s read timeout giving up).
fn raw_exchange(base: &str, request: &[u8]) -> (String, bool) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let closed = match s.read_to_end(&mut out) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let server = Server::start();
    let body = &captured_requests()[1];
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /qbwc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"http://developer.intuit.com/clientVersion\"\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: Close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("HTTP/1.1 100 Continue"));
    s.write_all(body.as_bytes()).unwrap();
    let mut rest = String::new();
    let _ = s.read_to_string(&mut rest);
    assert!(rest.contains("HTTP/1.1 200 OK"), "{rest}");
    assert!(
        rest.contains("<clientVersionResult></clientVersionResult>"),
        "{rest}"
    );
}

#[test]
fn hostile_inputs_get_clear_faults_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        tmp.path(),
        &tmp.path().join("data"),
        &[
            "--set",
            "server.header_read_timeout_secs=1",
            "--set",
            "qbwc.max_body_bytes=1048576",
        ],
    );
    let soap = Soap::new(&server.base);

    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><authenticate xmlns="http://developer.intuit.com/"><strUserName>&lol2;</strUserName></authenticate></soap:Body></soap:Envelope>"#;
    assert_fault(&soap.post(None, bomb), "DOCTYPE");
    healthy(&server.base);

    let deep = envelope(&format!(
        "<receiveResponseXML {NS}><ticket>t</ticket><response>{}{}</response></receiveResponseXML>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    ));
    assert_fault(&soap.post(None, &deep), "nested deeper than 64");
    healthy(&server.base);

    let full = &captured_requests()[2];
    assert_fault(&soap.post(None, &full[..full.len() / 2]), "not well-formed");
    healthy(&server.base);

    assert_fault(
        &soap.post(None, &envelope(&format!("<dropTables {NS}/>"))),
        "unknown method `dropTables`",
    );
    healthy(&server.base);

    let mut latin1 = envelope(&format!(
        "<authenticate {NS}><strUserName>Jos</strUserName></authenticate>"
    ))
    .into_bytes();
    let at = latin1.windows(3).position(|w| w == b"Jos").unwrap() + 3;
    latin1.insert(at, 0xe9);
    let resp = support::agent()
        .post(&soap.url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .send(&latin1[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    healthy(&server.base);

    assert_fault(&soap.post(None, "username=admin&password=x"), "not XML");
    healthy(&server.base);
    // A wrong Content-Type is tolerated when the body is XML.
    let mut r = support::agent()
        .post(&soap.url)
        .header("Content-Type", "application/octet-stream")
        .send(&captured_requests()[0])
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        result_of(&r.body_mut().read_to_string().unwrap(), "serverVersion").starts_with("qbridge")
    );

    // Wrong ticket: the protocol's own error paths, not a fault.
    assert_eq!(soap.send_request("not-a-ticket", "", ""), "");
    assert!(
        soap.text("getLastError", "not-a-ticket")
            .contains("no longer valid")
    );
    healthy(&server.base);

    // 100 MB of password: refused after the first 16 KiB, long before 100 MB are read.
    let head = envelope(&format!(
        "<authenticate {NS}><strUserName>a</strUserName><strPassword>"
    ));
    let addr = server.base.trim_start_matches("http://").to_string();
    let total = 100 * 1024 * 1024;
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /qbwc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: {total}\r\n\r\n{head}"
    )
    .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = head.len();
    while written < total {
        if s.write_all(&chunk).is_err() {
            break;
        }
        written += chunk.len();
    }
    assert!(
        written < total,
        "the server stopped reading early ({written} bytes written)"
    );
    healthy(&server.base);

    // A chunked receiveResponseXML (no declared length) is cut off at qbwc.max_body_bytes.
    let head = envelope(&format!(
        "<receiveResponseXML {NS}><ticket>t</ticket><response>"
    ));
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /qbwc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{head}\r\n",
        head.len()
    )
    .unwrap();
    let mut written = head.len();
    while written < total {
        if write!(s, "{:x}\r\n", chunk.len()).is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
        written += chunk.len();
    }
    assert!(
        written < total,
        "streamed body refused early ({written} bytes written)"
    );
    healthy(&server.base);

    // A declared Content-Length over the limit is refused without reading the body.
    let (answer, _) = raw_exchange(
        &server.base,
        format!("POST /qbwc HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {total}0\r\nExpect: 100-continue\r\n\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("limit"), "{answer}");
    healthy(&server.base);

    // Slow-loris: headers that never finish are cut off by the header-read timeout.
    let (answer, closed) =
        raw_exchange(&server.base, b"POST /qbwc HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    assert!(closed, "the server hung up on headers that never finish");
    assert!(!answer.contains("200 OK"), "{answer}");
    healthy(&server.base);
}

/// The password printed by `user add` / `user rotate-password`.
fn printed_password(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .skip_while(|l| !l.contains("shown only this once"))
        .find(|l| l.starts_with("    "))
        .unwrap_or_else(|| panic!("no password in {text}"));
    line.trim().to_string()
}

fn cli_ok(cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = run(cwd, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

#[test]
fn cli_users_log_in_with_their_printed_password_until_rotated_or_disabled() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dd = data.to_str().unwrap();
    cli_ok(tmp.path(), &["connection", "add", "acme", "--data-dir", dd]);
    let out = cli_ok(
        tmp.path(),
        &[
            "user",
            "add",
            "--connection",
            "acme",
            "alice",
            "--data-dir",
            dd,
        ],
    );
    let password = printed_password(&out.stdout);
    assert!(password.len() >= 20, "{password}");
    let out = cli_ok(tmp.path(), &["user", "list", "--data-dir", dd]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice"));

    let never_in_clear = |password: &str| {
        for entry in std::fs::read_dir(&data).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
            assert!(
                !bytes
                    .windows(password.len())
                    .any(|w| w == password.as_bytes()),
                "the password is stored in clear"
            );
        }
    };
    never_in_clear(&password);

    let mut server = Server::start_in(tmp.path(), &data, &[]);
    let soap = Soap::new(&server.base);
    // `none`: the password is right and there is no work (the default pipeline has none).
    assert_eq!(soap.authenticate("alice", &password).1, "none");
    assert_eq!(
        soap.authenticate("alice", "wrong-password-xxxxxxxx").1,
        "nvu"
    );
    assert_eq!(soap.authenticate("mallory", &password).1, "nvu");
    assert!(server.terminate().success());
    assert!(
        !server.log_text().contains(&password),
        "the password reached the log"
    );

    let out = cli_ok(
        tmp.path(),
        &["user", "rotate-password", "alice", "--data-dir", dd],
    );
    let rotated = printed_password(&out.stdout);
    assert_ne!(rotated, password);
    never_in_clear(&rotated);
    let mut server = Server::start_in(tmp.path(), &data, &[]);
    let soap = Soap::new(&server.base);
    assert_eq!(
        soap.authenticate("alice", &password).1,
        "nvu",
        "old password"
    );
    assert_eq!(
        soap.authenticate("alice", &rotated).1,
        "none",
        "new password"
    );
    assert!(server.terminate().success());

    cli_ok(tmp.path(), &["user", "disable", "alice", "--data-dir", dd]);
    let server = Server::start_in(tmp.path(), &data, &[]);
    let soap = Soap::new(&server.base);
    assert_eq!(soap.authenticate("alice", &rotated).1, "nvu", "disabled");
}

#[test]
fn qwc_files_are_well_formed_distinct_per_user_and_refuse_plain_http_off_localhost() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    cli_ok(
        tmp.path(),
        &[
            "connection",
            "add",
            "acme",
            "--company-file",
            r"\\server\Books\acme.qbw",
            "--data-dir",
            dd,
        ],
    );
    cli_ok(
        tmp.path(),
        &[
            "user",
            "add",
            "--connection",
            "acme",
            "alice",
            "--data-dir",
            dd,
        ],
    );
    cli_ok(
        tmp.path(),
        &[
            "user",
            "add",
            "--connection",
            "acme",
            "bob",
            "--data-dir",
            dd,
        ],
    );
    let mut files = Vec::new();
    for user in ["alice", "bob"] {
        let path = tmp.path().join(format!("{user}.qwc"));
        cli_ok(
            tmp.path(),
            &[
                "qwc",
                "--user",
                user,
                "--out",
                path.to_str().unwrap(),
                "--data-dir",
                dd,
                "--set",
                "server.public_url=https://sync.example.com",
            ],
        );
        files.push(fields(&std::fs::read_to_string(path).unwrap()));
    }
    let get = |f: &Vec<(String, String)>, k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    for k in ["FileID", "UserName", "AppName"] {
        assert_ne!(get(&files[0], k), get(&files[1], k), "{k} is per user");
    }
    assert_eq!(
        get(&files[0], "OwnerID"),
        get(&files[1], "OwnerID"),
        "one OwnerID per installation"
    );
    assert_eq!(get(&files[0], "AppURL"), "https://sync.example.com/qbwc");
    assert!(get(&files[0], "AppSupport").starts_with("https://sync.example.com/"));
    assert!(get(&files[0], "AppDescription").len() < 80);
    assert_eq!(get(&files[0], "QBType"), "QBFS");
    assert_eq!(get(&files[0], "RunEveryNMinutes"), "15");
    assert_eq!(get(&files[0], "IsReadOnly"), "false");
    assert_eq!(get(&files[0], "UnattendedModePref"), "umpRequired");
    assert_eq!(get(&files[0], "AuthFlags"), "0xF");
    let fid = get(&files[0], "FileID");
    assert!(
        fid.starts_with('{') && fid.ends_with('}') && fid.len() == 38,
        "{fid}"
    );

    let out = run(
        tmp.path(),
        &[
            "qwc",
            "--user",
            "alice",
            "--data-dir",
            dd,
            "--set",
            "server.public_url=http://sync.example.com",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("only connects over https") && err.contains("server.public_url"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = cli_ok(tmp.path(), &["connection", "list", "--data-dir", dd]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("acme") && text.contains("alice, bob"),
        "{text}"
    );
}

/// Leaf elements of a QWC file, checking well-formedness with a real XML parser.
pub(crate) fn fields(xml: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let (mut out, mut name, mut text) = (Vec::new(), String::new(), String::new());
    loop {
        match reader.read_event().expect("QWC is well-formed XML") {
            Event::Start(e) => {
                let local = e.local_name();
                name = AsRef::<str>::as_ref(&local).to_string();
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::End(e) => {
                let local = e.local_name();
                if AsRef::<str>::as_ref(&local) == name {
                    out.push((name.clone(), text.clone()));
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../tests/e2e/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// An agent that accepts the self-signed test certificate.
fn insecure_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .build()
        .into()
}

#[test]
fn https_is_served_directly_and_doctor_checks_the_certificate_pair() {
    // tls-*.pem are a throw-away self-signed pair for localhost, made for these tests only.
    let (cert, key, other) = (
        fixture("tls-cert.pem"),
        fixture("tls-key.pem"),
        fixture("tls-other-key.pem"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    let set_cert = format!("tls.cert={cert}");
    let out = run(
        tmp.path(),
        &[
            "doctor",
            "--data-dir",
            dd,
            "--set",
            &set_cert,
            "--set",
            &format!("tls.key={other}"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("cannot be used together"), "{text}");

    let set_key = format!("tls.key={key}");
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = tmp.path().join("tls.log");
    let child = support::qbridge(tmp.path())
        .args([
            "serve",
            "--listen",
            &listen,
            "--data-dir",
            dd,
            "--set",
            &set_cert,
            "--set",
            &set_key,
        ])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("https://localhost:{port}"),
        data_dir: tmp.path().join("data"),
        log,
        _tmp: None,
    };
    let agent = insecure_agent();
    let mut up = false;
    for _ in 0..400 {
        if let Ok(mut r) = agent.get(&format!("{}/healthz", server.base)).call() {
            up = r.status().as_u16() == 200
                && r.body_mut().read_to_string().unwrap().contains("\"ok\"");
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(up, "HTTPS healthz: {}", server.log_text());
    let mut r = agent
        .post(&format!("{}/qbwc", server.base))
        .header("Content-Type", "text/xml; charset=utf-8")
        .send(&captured_requests()[0])
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        result_of(&r.body_mut().read_to_string().unwrap(), "serverVersion").starts_with("qbridge")
    );

    let out = run(
        tmp.path(),
        &[
            "doctor",
            "--data-dir",
            dd,
            "--listen",
            &listen,
            "--set",
            &set_cert,
            "--set",
            &set_key,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("belong together"), "{text}");
    assert!(
        text.contains(&format!("https://localhost:{port}/qbwc")),
        "{text}"
    );
}

#[test]
fn a_legacy_argon2_hash_is_upgraded_to_hmac_at_the_next_successful_login_only() {
    let srv = InProcess::start(Scripted::new(1), |_| {});
    // `user` stores an argon2id hash, as versions before the HMAC form did.
    srv.user("acme", "alice", "pw-alice-0123456789");
    let hash = |srv: &InProcess| srv.store.qbwc_user("alice").unwrap().unwrap().password_hash;
    assert!(hash(&srv).starts_with("$argon2id$"));
    let soap = Soap::new(&srv.base);
    assert_eq!(soap.authenticate("alice", "wrong-password-xxxxx").1, "nvu");
    assert!(
        hash(&srv).starts_with("$argon2id$"),
        "a failed login changes nothing"
    );
    let (ticket, status) = soap.authenticate("alice", "pw-alice-0123456789");
    assert_ne!(status, "nvu");
    soap.text("closeConnection", &ticket);
    let upgraded = hash(&srv);
    assert!(upgraded.starts_with("$qbr-hmac-sha256$v=1$"), "{upgraded}");
    // The same password still logs in, now against the HMAC form; a wrong one does not.
    assert_ne!(soap.authenticate("alice", "pw-alice-0123456789").1, "nvu");
    assert_eq!(soap.authenticate("alice", "wrong-password-xxxxx").1, "nvu");
}
