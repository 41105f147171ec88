//! The simulated QuickBooks Web Connector: a real SOAP client that drives any QBWC server URL
//! over HTTP(S) exactly as QBWC 2.x does, against any [`QuickBooks`] implementation.
//!
//! [`WebConnector::run_session`] plays one update: serverVersion → clientVersion → authenticate
//! → (open the company file, connectionError on failure) → sendRequestXML/receiveResponseXML
//! until the server reports 100 % → closeConnection, with QBWC's reactions to `none`, `nvu`,
//! `busy`, `W:`/`E:`/`O:`, `NoOp`, `Interactive mode`, negative progress and lost responses.
//! [`WebConnector::run_every`] repeats sessions like QBWC's "Auto-Run every N minutes".
//! The wire format lives in [`envelope`]; this file holds the state machine and the transport.
//!
//! Like .NET, the client sends `Expect: 100-continue` and waits (up to one second, ureq's
//! default) for the interim `100 Continue`; servers that never send it still get the body.

pub mod echo;
pub mod envelope;

use std::fmt;
use std::time::Duration;

use crate::logging::Redacted;
use crate::sim::{QbFailure, QuickBooks};

use envelope::{Method, NotXml, Reply, Request};

/// The user agent of the QBWC build we imitate (.NET 2.0 SOAP client).
pub const USER_AGENT: &str =
    "Mozilla/4.0 (compatible; MSIE 6.0; MS Web Services Client Protocol 2.0.50727.8806)";
/// The QBWC version reported in `clientVersion` unless overridden.
pub const DEFAULT_CLIENT_VERSION: &str = "2.3.0.215";
/// Response bodies larger than this are refused (qbXML requests are rarely above a few MB).
const MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
/// How much of an unexpected body an error message quotes.
const EXCERPT_CHARS: usize = 300;
/// How much of a result the transcript line shows.
const SUMMARY_CHARS: usize = 80;
/// Upper bound on a server-requested delay between scheduled sessions.
const MAX_SERVER_DELAY: Duration = Duration::from_secs(24 * 3600);

/// How the `SOAPAction` header is sent; servers should accept all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SoapActionStyle {
    /// `SOAPAction: "http://developer.intuit.com/<method>"`, as QBWC sends it.
    #[default]
    Quoted,
    /// `SOAPAction: http://developer.intuit.com/<method>`.
    Unquoted,
    /// No SOAPAction header at all.
    Missing,
}

/// Settings of the simulated Web Connector.
#[derive(Debug, Clone)]
pub struct WcOptions {
    /// Sent as `strVersion` in clientVersion.
    pub client_version: String,
    /// How the SOAPAction header is written.
    pub soap_action: SoapActionStyle,
    /// Pause after a `NoOp` from getLastError before the next sendRequestXML (QBWC: 5 s).
    pub noop_wait: Duration,
    /// Re-opens of the company file after a failed open before giving up (QBWC retries only a
    /// couple of times); each failure is reported through connectionError.
    pub max_connection_error_retries: u32,
    /// Upper bound on SOAP calls in one session, so a server that never ends a session (e.g.
    /// endless NoOps) cannot hold the simulator forever.
    pub max_calls_per_session: u32,
    /// Timeout of one HTTP exchange (connect, send, receive).
    pub http_timeout: Duration,
    /// Accept any TLS certificate (self-signed test servers). Never for production use.
    pub insecure_tls: bool,
}

impl Default for WcOptions {
    fn default() -> Self {
        WcOptions {
            client_version: DEFAULT_CLIENT_VERSION.to_string(),
            soap_action: SoapActionStyle::Quoted,
            noop_wait: Duration::from_secs(5),
            max_connection_error_retries: 2,
            max_calls_per_session: 10_000,
            http_timeout: Duration::from_secs(120),
            insecure_tls: false,
        }
    }
}

/// A failure that ends a session abnormally: the server could not be reached or answered
/// something QBWC itself would fail on.
#[derive(Debug, thiserror::Error)]
pub enum WcError {
    #[error(
        "{method}: cannot reach the QBWC server at {url}: {reason}; check the URL and that the server is running"
    )]
    Transport {
        method: Method,
        url: String,
        reason: String,
    },
    #[error("{method}: the server answered HTTP {status} instead of a SOAP response: {body:?}")]
    Status {
        method: Method,
        status: u16,
        body: String,
    },
    #[error(
        "{method}: client found response content type of {content_type:?}, but expected 'text/xml' (as the .NET client of QBWC does): {body:?}"
    )]
    ContentType {
        method: Method,
        content_type: String,
        body: String,
    },
    #[error("QBWC1042: {method} failed: response is not well-formed XML ({reason}): {body:?}")]
    NotXml {
        method: Method,
        reason: String,
        body: String,
    },
    #[error("{method}: the server answered with a SOAP fault ({code}): {message}")]
    Fault {
        method: Method,
        code: String,
        message: String,
    },
    #[error(
        "{method}: the response holds no <{method}Result> in namespace http://developer.intuit.com/; the server must answer in that namespace: {body:?}"
    )]
    MissingResult { method: Method, body: String },
    #[error(
        "QBWC1012: Authentication failed: Index was outside the bounds of the array (authenticateResult holds {} <string> item(s) in http://developer.intuit.com/, at least 2 are needed: {found:?})",
        found.len()
    )]
    BadAuthenticate { found: Vec<String> },
    #[error("receiveResponseXML: the result {value:?} is not an integer percentage")]
    BadProgress { value: String },
    #[error("the session went over {limit} SOAP calls; the server never ends it (endless NoOp?)")]
    TooManyCalls { limit: u32 },
}

/// Whether one call went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    Ok,
    Failed(String),
}

/// One SOAP call as the transcript shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: Method,
    /// The parameters, summarised (qbXML by size; the password never appears).
    pub request: String,
    /// The result, summarised on one line.
    pub result: String,
    pub status: CallStatus,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            CallStatus::Ok => write!(f, "{}({}) -> {}", self.method, self.request, self.result),
            CallStatus::Failed(e) => write!(f, "{}({}) FAILED: {e}", self.method, self.request),
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server reported 100 % (or had nothing to say at the end) and the connection closed.
    Completed,
    /// authenticate said `none`: no work, QuickBooks was not opened.
    NoWork,
    /// authenticate said `nvu`.
    InvalidUser,
    /// authenticate said `busy`.
    Busy,
    /// clientVersion answered `E:` or `O:`; the update was cancelled.
    VersionRejected(String),
    /// The server reported an error through getLastError (after `""` or negative progress).
    ServerError(String),
    /// The company file could not be opened and the server said `done` (or retries ran out).
    ConnectionFailed { hresult: String, message: String },
    /// The server asked for interactive mode; the simulator has no browser and declined.
    InteractiveDeclined { url: String },
    /// A response was lost: the Web Connector stopped without another call, as if it crashed.
    Abandoned,
}

impl Outcome {
    /// True when the session ended the way a healthy server ends it.
    pub fn is_normal(&self) -> bool {
        matches!(self, Outcome::Completed | Outcome::NoWork)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed => f.write_str("completed"),
            Outcome::NoWork => f.write_str("no work (authenticate: none)"),
            Outcome::InvalidUser => f.write_str("invalid user (authenticate: nvu)"),
            Outcome::Busy => f.write_str("server busy (authenticate: busy)"),
            Outcome::VersionRejected(r) => write!(f, "update cancelled by clientVersion: {r}"),
            Outcome::ServerError(m) => write!(f, "server error: {m}"),
            Outcome::ConnectionFailed { hresult, message } => {
                write!(f, "could not open the company file: {hresult} {message}")
            }
            Outcome::InteractiveDeclined { url } => {
                write!(f, "interactive mode declined (no browser): {url}")
            }
            Outcome::Abandoned => f.write_str("abandoned: response lost"),
        }
    }
}

/// Everything one session did, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    pub calls: Vec<Call>,
    /// `None` while running or when the session failed with a [`WcError`].
    pub outcome: Option<Outcome>,
    /// The ticket from authenticate.
    pub ticket: Option<String>,
    /// authenticate item [2]: seconds to postpone the update.
    pub postpone: Option<Duration>,
    /// authenticate item [3]: the MinimumRunEveryNSeconds floor.
    pub min_run_every: Option<Duration>,
    /// sendRequestXML calls.
    pub exchanges: u32,
    /// Requests handed to QuickBooks.
    pub requests_to_quickbooks: u32,
    /// receiveResponseXML calls (responses or HRESULTs returned to the server).
    pub responses_returned: u32,
    /// Every progress receiveResponseXML reported, in order.
    pub progress: Vec<i32>,
}

impl Transcript {
    /// The last progress reported by receiveResponseXML.
    pub fn last_progress(&self) -> Option<i32> {
        self.progress.last().copied()
    }

    /// The methods called, in order (what tests compare).
    pub fn methods(&self) -> Vec<Method> {
        self.calls.iter().map(|c| c.method).collect()
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for call in &self.calls {
            writeln!(f, "{call}")?;
        }
        let outcome = self
            .outcome
            .as_ref()
            .map_or_else(|| "failed".to_string(), Outcome::to_string);
        write!(
            f,
            "session {outcome}: {} call(s), {} exchange(s), {} request(s) to QuickBooks, {} response(s) returned",
            self.calls.len(),
            self.exchanges,
            self.requests_to_quickbooks,
            self.responses_returned
        )
    }
}

/// One session of [`WebConnector::run_every`].
#[derive(Debug)]
pub struct ScheduledRun {
    /// What the session did (up to the failing call when `error` is set).
    pub transcript: Transcript,
    pub error: Option<WcError>,
}

impl ScheduledRun {
    /// True when the session ran without error and ended normally.
    pub fn is_normal(&self) -> bool {
        self.error.is_none()
            && self
                .transcript
                .outcome
                .as_ref()
                .is_some_and(Outcome::is_normal)
    }
}

/// The simulated Web Connector for one server URL and user.
pub struct WebConnector {
    url: String,
    username: String,
    password: Redacted<String>,
    options: WcOptions,
    agent: ureq::Agent,
    transcript: Transcript,
}

impl WebConnector {
    /// A Web Connector that will talk to `url` (the QWC file's AppURL) as `username`.
    pub fn new(url: &str, username: &str, password: &str, options: WcOptions) -> WebConnector {
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(options.insecure_tls)
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .accept(ureq::config::AutoHeaderValue::None)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .timeout_global(Some(options.http_timeout))
            .max_redirects(0)
            .tls_config(tls)
            .build()
            .into();
        WebConnector {
            url: url.to_string(),
            username: username.to_string(),
            password: Redacted(password.to_string()),
            options,
            agent,
            transcript: Transcript::default(),
        }
    }

    /// The transcript of the last (or current) session, also when it failed with an error.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Runs one update session against `qb`, as QBWC does when the user clicks "Update".
    pub fn run_session(&mut self, qb: &mut dyn QuickBooks) -> Result<Transcript, WcError> {
        self.transcript = Transcript::default();
        let outcome = self.session(qb)?;
        self.transcript.outcome = Some(outcome);
        Ok(self.transcript.clone())
    }

    /// Runs `runs` sessions, `interval` apart (or further apart when authenticate asked to
    /// postpone or set a minimum interval), like QBWC's Auto-Run, which keeps its schedule after
    /// a failed update too.
    pub fn run_every(
        &mut self,
        qb: &mut dyn QuickBooks,
        interval: Duration,
        runs: u32,
    ) -> Vec<ScheduledRun> {
        let mut done = Vec::new();
        for run in 0..runs {
            if run > 0 {
                let floor = [self.transcript.postpone, self.transcript.min_run_every]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or_default()
                    .min(MAX_SERVER_DELAY);
                std::thread::sleep(interval.max(floor));
            }
            let error = self.run_session(qb).err();
            done.push(ScheduledRun {
                transcript: self.transcript.clone(),
                error,
            });
        }
        done
    }

    fn session(&mut self, qb: &mut dyn QuickBooks) -> Result<Outcome, WcError> {
        self.call(&Request::ServerVersion, String::new())?;
        let version = self.options.client_version.clone();
        let reply = self
            .call(
                &Request::ClientVersion { version: &version },
                format!("strVersion={version}"),
            )?
            .text;
        // W: is a warning the user may accept; we accept it. E: and O: cancel the update.
        if reply.starts_with("E:") || reply.starts_with("O:") {
            return Ok(Outcome::VersionRejected(reply));
        }

        let (user, password) = (self.username.clone(), self.password.0.clone());
        let auth = self.call(
            &Request::Authenticate {
                user: &user,
                password: &password,
            },
            format!("strUserName={user}, strPassword=[redacted]"),
        )?;
        if auth.items.len() < 2 {
            return Err(WcError::BadAuthenticate { found: auth.items });
        }
        let ticket = auth.items[0].clone();
        let status = auth.items[1].clone();
        let seconds = |i: usize| {
            auth.items
                .get(i)
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        };
        self.transcript.ticket = Some(ticket.clone());
        self.transcript.postpone = seconds(2);
        self.transcript.min_run_every = seconds(3);
        let stop = match status.to_ascii_lowercase().as_str() {
            "none" => Some(Outcome::NoWork),
            "nvu" => Some(Outcome::InvalidUser),
            "busy" => Some(Outcome::Busy),
            _ => None,
        };
        if let Some(outcome) = stop {
            // The guide (ch.2) says QBWC closes the connection after none/nvu/busy.
            self.close(&ticket)?;
            return Ok(outcome);
        }

        if let Some(outcome) = self.open_company(qb, &ticket, &status)? {
            return Ok(outcome);
        }
        let result = self.exchange_loop(qb, &ticket);
        qb.close();
        result
    }

    /// Opens the company file, reporting failures through connectionError. `Some` ends the
    /// session with that outcome.
    fn open_company(
        &mut self,
        qb: &mut dyn QuickBooks,
        ticket: &str,
        first_path: &str,
    ) -> Result<Option<Outcome>, WcError> {
        let mut path = first_path.to_string();
        let mut retries = 0;
        loop {
            let (hresult, message) = match qb.open(&path) {
                Ok(()) => return Ok(None),
                Err(QbFailure::ResponseLost) => return Ok(Some(Outcome::Abandoned)),
                Err(QbFailure::Hresult { hresult, message }) => (hresult, message),
            };
            let reply = self
                .call(
                    &Request::ConnectionError {
                        ticket,
                        hresult: &hresult,
                        message: &message,
                    },
                    format!("hresult={hresult}, message={}", one_line(&message)),
                )?
                .text;
            if reply.eq_ignore_ascii_case("done")
                || retries >= self.options.max_connection_error_retries
            {
                return Ok(Some(Outcome::ConnectionFailed { hresult, message }));
            }
            retries += 1;
            path = reply;
        }
    }

    fn exchange_loop(&mut self, qb: &mut dyn QuickBooks, ticket: &str) -> Result<Outcome, WcError> {
        let company_file = qb.company_file();
        let country = qb.country();
        let (major, minor) = qb.qbxml_version();
        let mut hcp = Some(qb.hcp_response());
        loop {
            // strHCPResponse goes with the first sendRequestXML of the session only.
            let hcp_response = hcp.take().unwrap_or_default();
            self.transcript.exchanges += 1;
            let request = self
                .call(
                    &Request::SendRequestXml {
                        ticket,
                        hcp_response: &hcp_response,
                        company_file: &company_file,
                        country: &country,
                        major,
                        minor,
                    },
                    format!(
                        "strHCPResponse={} chars, strCompanyFileName={company_file}, qbXML {country} {major}.{minor}",
                        hcp_response.len()
                    ),
                )?
                .text;
            if request.is_empty() {
                let text = self.last_error(ticket)?;
                match text.as_str() {
                    "NoOp" => {
                        std::thread::sleep(self.options.noop_wait);
                        continue;
                    }
                    "Interactive mode" => return self.decline_interactive(ticket),
                    _ => {
                        self.close(ticket)?;
                        return Ok(if text.is_empty() {
                            Outcome::Completed
                        } else {
                            Outcome::ServerError(text)
                        });
                    }
                }
            }

            self.transcript.requests_to_quickbooks += 1;
            let (response, hresult, message) = match qb.process(&request) {
                Ok(response) => (response, String::new(), String::new()),
                Err(QbFailure::Hresult { hresult, message }) => (String::new(), hresult, message),
                Err(QbFailure::ResponseLost) => return Ok(Outcome::Abandoned),
            };
            self.transcript.responses_returned += 1;
            let summary = if hresult.is_empty() {
                format!("response={}", qbxml_summary(&response))
            } else {
                format!("hresult={hresult}, message={}", one_line(&message))
            };
            let progress_text = self
                .call(
                    &Request::ReceiveResponseXml {
                        ticket,
                        response: &response,
                        hresult: &hresult,
                        message: &message,
                    },
                    summary,
                )?
                .text;
            let progress: i32 = progress_text
                .trim()
                .parse()
                .map_err(|_| WcError::BadProgress {
                    value: progress_text.clone(),
                })?;
            self.transcript.progress.push(progress);
            if progress < 0 {
                let text = self.last_error(ticket)?;
                self.close(ticket)?;
                return Ok(Outcome::ServerError(text));
            }
            if progress >= 100 {
                self.close(ticket)?;
                return Ok(Outcome::Completed);
            }
        }
    }

    /// Interactive mode needs a browser the simulator does not have: fetch the URL (so the
    /// server sees the call), decline it, and close.
    fn decline_interactive(&mut self, ticket: &str) -> Result<Outcome, WcError> {
        let url = self
            .call(
                &Request::GetInteractiveUrl {
                    ticket,
                    session_id: ticket,
                },
                format!("wcTicket={ticket}, sessionID={ticket}"),
            )?
            .text;
        let reason = "The simulated Web Connector cannot open a browser.";
        self.call(
            &Request::InteractiveRejected { ticket, reason },
            format!("wcTicket={ticket}, reason={reason}"),
        )?;
        self.close(ticket)?;
        Ok(Outcome::InteractiveDeclined { url })
    }

    fn last_error(&mut self, ticket: &str) -> Result<String, WcError> {
        Ok(self
            .call(
                &Request::GetLastError { ticket },
                format!("ticket={ticket}"),
            )?
            .text)
    }

    fn close(&mut self, ticket: &str) -> Result<(), WcError> {
        self.call(
            &Request::CloseConnection { ticket },
            format!("ticket={ticket}"),
        )?;
        Ok(())
    }

    /// One SOAP call: send, check, parse, and record it in the transcript either way.
    fn call(&mut self, request: &Request<'_>, summary: String) -> Result<Answer, WcError> {
        let method = request.method();
        let outcome = if self.transcript.calls.len() >= self.options.max_calls_per_session as usize
        {
            Err(WcError::TooManyCalls {
                limit: self.options.max_calls_per_session,
            })
        } else {
            self.post(request)
        };
        let (result, status) = match &outcome {
            Ok(answer) if method == Method::Authenticate => {
                (format!("{:?}", answer.items), CallStatus::Ok)
            }
            Ok(answer) => (summarise(&answer.text), CallStatus::Ok),
            Err(e) => (String::new(), CallStatus::Failed(e.to_string())),
        };
        self.transcript.calls.push(Call {
            method,
            request: summary,
            result,
            status,
        });
        outcome
    }

    fn post(&self, request: &Request<'_>) -> Result<Answer, WcError> {
        let method = request.method();
        let transport = |reason: String| WcError::Transport {
            method,
            url: self.url.clone(),
            reason,
        };
        let action = format!("{}{}", envelope::QBWC_NS, method.wire_name());
        let mut http = self
            .agent
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("Expect", "100-continue");
        match self.options.soap_action {
            SoapActionStyle::Quoted => http = http.header("SOAPAction", format!("\"{action}\"")),
            SoapActionStyle::Unquoted => http = http.header("SOAPAction", action),
            SoapActionStyle::Missing => {}
        }
        let mut response = http
            .send(envelope::build(request))
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(|e| transport(format!("reading the response failed: {e}")))?;
        let excerpt = || excerpt(&body);
        let is_xml = content_type.to_ascii_lowercase().contains("xml");
        let parsed = if is_xml {
            envelope::parse_reply(method, &body)
        } else {
            Err(NotXml("not XML".into()))
        };
        // .NET turns a SOAP Fault into an exception whatever the status (servers send 500).
        if let Ok(Reply::Fault { code, message }) = &parsed {
            return Err(WcError::Fault {
                method,
                code: code.clone(),
                message: message.clone(),
            });
        }
        if status != 200 {
            return Err(WcError::Status {
                method,
                status,
                body: excerpt(),
            });
        }
        if !is_xml {
            return Err(WcError::ContentType {
                method,
                content_type,
                body: excerpt(),
            });
        }
        match parsed {
            Ok(Reply::Result { text, items }) => Ok(Answer { text, items }),
            Ok(Reply::Fault { .. }) | Ok(Reply::NoResult) => Err(WcError::MissingResult {
                method,
                body: excerpt(),
            }),
            Err(NotXml(reason)) => Err(WcError::NotXml {
                method,
                reason,
                body: excerpt(),
            }),
        }
    }
}

/// A parsed result: its text and, for arrays, its `<string>` items.
struct Answer {
    text: String,
    items: Vec<String>,
}

fn excerpt(body: &str) -> String {
    let mut s: String = body.chars().take(EXCERPT_CHARS).collect();
    if body.chars().count() > EXCERPT_CHARS {
        s.push('…');
    }
    s
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A result on one line: qbXML by its messages, short text quoted.
fn summarise(text: &str) -> String {
    let flat = one_line(text);
    if flat.starts_with('<') {
        qbxml_summary(text)
    } else if flat.chars().count() > SUMMARY_CHARS {
        format!(
            "{:?}…",
            flat.chars().take(SUMMARY_CHARS).collect::<String>()
        )
    } else {
        format!("{flat:?}")
    }
}

/// `qbXML CustomerAddRq x2, InvoiceAddRq (1234 chars)`: the request or response messages in a
/// qbXML message set, counted, for the one-line transcript.
fn qbxml_summary(qbxml: &str) -> String {
    const MAX_NAMES: usize = 5;
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for tag in qbxml.split('<').skip(1) {
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("");
        if !(name.ends_with("Rq") || name.ends_with("Rs")) || name.starts_with("QBXMLMsgs") {
            continue;
        }
        match counted.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counted.push((name, 1)),
        }
    }
    let mut names: Vec<String> = counted
        .iter()
        .take(MAX_NAMES)
        .map(|(name, count)| match count {
            1 => name.to_string(),
            n => format!("{name} x{n}"),
        })
        .collect();
    if counted.len() > MAX_NAMES {
        names.push("…".into());
    }
    format!("qbXML {} ({} chars)", names.join(", "), qbxml.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qbxml_is_summarised_by_its_messages() {
        let rq = r#"<?xml version="1.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerAddRq requestID="1"><CustomerAdd/></CustomerAddRq><CustomerAddRq/><InvoiceAddRq/></QBXMLMsgsRq></QBXML>"#;
        assert_eq!(
            summarise(rq),
            format!("qbXML CustomerAddRq x2, InvoiceAddRq ({} chars)", rq.len())
        );
    }

    #[test]
    fn long_text_is_cut_to_one_line() {
        let text = format!("first line\n{}", "x".repeat(200));
        let summary = summarise(&text);
        assert!(summary.starts_with("\"first line xxx"), "{summary}");
        assert!(
            summary.ends_with('…') && !summary.contains('\n'),
            "{summary}"
        );
    }
}
