//! The QuickBooks Web Connector SOAP endpoint: reads a bounded body, hands the parsed call
//! to the session state machine, and writes the answer.
//!
//! - `envelope` — SOAP in/out (no business logic)
//! - `session` — the protocol state machine
//! - `auth` — passwords, rate limits
//! - `hcp` — the HostQuery/CompanyQuery answers and version negotiation
//! - `advice` — HRESULT → what to do
//! - `qwc` — `.qwc` files
//! - `work` — the [`WorkProvider`] seam to the pipeline
//! - `cli` — `connection`, `user` and `qwc` subcommands
//!
//! Bounded before authenticated. Until a request has shown a ticket that names a live
//! session, it is a stranger's, and everything it can make the server hold is small:
//! - the body may not exceed [`SMALL_BODY`] unless it is a `sendRequestXML` or
//!   `receiveResponseXML` whose *first* parameter is the ticket of a live session that is owed
//!   that call (a response is due for `receiveResponseXML`, a request for `sendRequestXML`);
//!   only then may it grow to `qbwc.max_body_bytes`. The ticket is read from the first
//!   16 KiB as they stream in; a declared Content-Length above the large limit is refused
//!   before any of the body is read (so `Expect: 100-continue` clients never send it);
//! - every method has a fixed set of known parameters with a length cap each (`envelope`);
//! - all bodies together may hold at most `qbwc.body_budget_bytes` (503 + `Retry-After`);
//! - a body must keep arriving: no pause over `qbwc.body_idle_timeout_secs`, and at least
//!   `qbwc.min_body_bytes_per_sec` on average after that first interval (408);
//! - connections are capped in total and per address by the accept loop (`server`).

pub mod accounts;
mod advice;
mod auth;
pub mod cli;
pub mod envelope;
mod hcp;
mod qwc;
mod session;
mod work;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;

pub use advice::advice;
pub use auth::{AuthKey, KeyError, address_key, generate_password, hash_password};
pub use hcp::MAX_QBXML;
pub use qwc::{QwcError, app_url, new_guid, qwc_for_user};
pub use work::{NoWork, SessionContext, SessionEnd, WorkError, WorkProvider};

use crate::config::Config;
use crate::store::Store;
use envelope::{EnvelopeError, FaultCode, Method};

/// Body limit for every method until it is known, and for all but the two qbXML carriers.
pub const SMALL_BODY: usize = 16 * 1024;

/// Seconds a client is asked to wait when the server is saturated.
const RETRY_AFTER_SECS: u64 = 5;

/// What the endpoint needs, shared by every request.
pub(crate) struct Service {
    store: Store,
    config: Arc<Config>,
    work: Arc<dyn WorkProvider>,
    guard: auth::Guard,
    /// The Web Connector password key, or why it cannot be used (logins then fail with a
    /// server fault; `serve` checks it before listening).
    key: Result<Arc<AuthKey>, String>,
    budget: Arc<BodyBudget>,
}

/// The router serving the SOAP endpoint at `qbwc.path`.
pub fn router(store: Store, config: Arc<Config>, work: Arc<dyn WorkProvider>) -> Router {
    let path = config.qbwc_path.clone();
    let guard = auth::Guard::new(
        config.qbwc_auth_per_user_per_minute,
        config.qbwc_auth_per_ip_per_minute,
    );
    let key = AuthKey::for_store(&store)
        .map(Arc::new)
        .map_err(|e| e.to_string());
    if let Err(e) = &key {
        tracing::error!(error = %e, "Web Connector logins will fail");
    }
    let budget = Arc::new(BodyBudget::new(config.qbwc_body_budget_bytes));
    let svc = Arc::new(Service {
        store,
        config,
        work,
        guard,
        key,
        budget,
    });
    Router::new()
        .route(&path, post(endpoint).get(describe))
        .with_state(svc)
}

/// A browser (or a curious admin) GETting the endpoint learns what it is.
async fn describe() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This is the qbridge QuickBooks Web Connector endpoint. Add it to the Web Connector with a .qwc file from `qbridge qwc --user NAME`.\n",
    )
        .into_response()
}

fn xml(status: StatusCode, body: String, close: bool) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    if close {
        // The rest of the body is not read: the connection cannot be reused.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn client_fault(text: &str, close: bool) -> Response {
    crate::metrics::global().soap_refused();
    tracing::info!(fault = text, "QBWC request refused");
    xml(
        StatusCode::INTERNAL_SERVER_ERROR,
        envelope::fault(FaultCode::Client, text),
        close,
    )
}

async fn endpoint(State(svc): State<Arc<Service>>, req: Request) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    // The Content-Type is not checked: QBWC always sends text/xml, and a wrong one is
    // tolerated as long as the body is XML (checked below).
    let (parts, mut body) = req.into_parts();
    let large = svc.config.qbwc_max_body_bytes.max(SMALL_BODY);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > large as u64) {
        return client_fault(&too_large(large), true);
    }
    // Held until the answer is built: the body and what is parsed from it stay in memory.
    let mut held = Held::new(svc.budget.clone());
    let result = read_body(&svc, &mut body, &mut held).await;
    if let Err(BodyProblem::TooLarge(_) | BodyProblem::NotOwed | BodyProblem::Envelope(_)) = &result
    {
        // Refused early: read (and drop) a little more of what the client is still sending,
        // so that closing does not reset the connection before it has read the fault.
        drain(&mut body, DRAIN_BYTES, DRAIN_TIME).await;
    }
    drop(body);
    let body = match result {
        Ok(b) => b,
        Err(BodyProblem::TooLarge(limit)) => return client_fault(&too_large(limit), true),
        Err(BodyProblem::NotOwed) => return client_fault(NOT_OWED, true),
        Err(BodyProblem::Envelope(e)) => return client_fault(&e.to_string(), true),
        Err(BodyProblem::Transport(e)) => {
            return client_fault(&format!("the request body could not be read: {e}"), true);
        }
        Err(BodyProblem::Saturated) => return saturated(),
        Err(BodyProblem::TooSlow) => return too_slow(&svc.config),
        Err(BodyProblem::Server(text)) => {
            return xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                envelope::fault(FaultCode::Server, &text),
                true,
            );
        }
    };
    if std::str::from_utf8(&body).is_err() {
        return client_fault(&EnvelopeError::NotUtf8.to_string(), false);
    }
    if !looks_like_xml(&body) {
        return client_fault(
            "the request body is not XML; expected a SOAP 1.1 envelope (Content-Type: text/xml)",
            false,
        );
    }
    let request = match envelope::parse(&body, svc.config.qbwc_max_qbxml_bytes) {
        Ok(r) => r,
        Err(e) => return client_fault(&e.to_string(), false),
    };
    drop(body);
    let method = request.method;
    let started = Instant::now();
    let reply = session::handle(&svc, request, ip).await;
    drop(held);
    crate::metrics::global().soap_call(method.name(), started.elapsed(), reply.is_err());
    match reply {
        Ok(reply) => xml(StatusCode::OK, envelope::response(method, &reply), false),
        Err(session::Failure::Server(text)) => xml(
            StatusCode::INTERNAL_SERVER_ERROR,
            envelope::fault(FaultCode::Server, &text),
            false,
        ),
    }
}

fn too_large(limit: usize) -> String {
    format!(
        "the request body is larger than the {limit}-byte limit for this method (qbwc.max_body_bytes applies to sendRequestXML and receiveResponseXML of a live session, {SMALL_BODY} bytes to everything else); ask for fewer records per request (MaxReturned, iterators)"
    )
}

const NOT_OWED: &str = "the request body is larger than 16384 bytes, and only a sendRequestXML or receiveResponseXML whose first parameter is the ticket of a live session expecting that call may be larger. Start a new session (authenticate) and send the ticket first";

/// 503 with `Retry-After`: too many request bodies in memory at once.
fn saturated() -> Response {
    crate::metrics::global().soap_refused();
    tracing::warn!(
        "QBWC request refused: qbwc.body_budget_bytes of request bodies are already in memory"
    );
    let mut resp = xml(
        StatusCode::SERVICE_UNAVAILABLE,
        envelope::fault(
            FaultCode::Server,
            "qbridge is receiving too much data at once; retry in a few seconds",
        ),
        true,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    resp
}

/// 408: the body stalled or trickled in below the minimum rate.
fn too_slow(config: &Config) -> Response {
    crate::metrics::global().soap_refused();
    tracing::info!("QBWC request refused: its body arrived too slowly");
    xml(
        StatusCode::REQUEST_TIMEOUT,
        envelope::fault(
            FaultCode::Client,
            &format!(
                "the request body arrived too slowly (a pause over {} s, or under {} bytes/s on average); the connection is closed",
                config.qbwc_body_idle_timeout.as_secs(),
                config.qbwc_min_body_bytes_per_sec
            ),
        ),
        true,
    )
}

fn looks_like_xml(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_none_or(|b| *b == b'<')
}

enum BodyProblem {
    TooLarge(usize),
    /// Over the small limit without the ticket of a session owed this call.
    NotOwed,
    Envelope(EnvelopeError),
    Transport(String),
    /// The global body budget is spent.
    Saturated,
    /// Idle too long, or below the minimum rate.
    TooSlow,
    Server(String),
}

/// The request-body bytes all `/qbwc` requests hold, against `qbwc.body_budget_bytes`.
pub(crate) struct BodyBudget {
    used: AtomicUsize,
    cap: usize,
}

impl BodyBudget {
    pub(crate) fn new(cap: usize) -> Self {
        BodyBudget {
            used: AtomicUsize::new(0),
            cap,
        }
    }

    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.cap)
            })
            .is_ok()
    }
}

/// One request's share of the budget, given back when dropped.
struct Held {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Held {
    fn new(budget: Arc<BodyBudget>) -> Self {
        Held { budget, bytes: 0 }
    }

    fn take(&mut self, n: usize) -> bool {
        let ok = self.budget.try_take(n);
        if ok {
            self.bytes += n;
        }
        ok
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Reads the body frame by frame: at most [`SMALL_BODY`] unless the first 16 KiB show a
/// qbXML carrier whose leading ticket names a live session owed that call, then up to
/// `qbwc.max_body_bytes`. Nothing beyond the limit is ever buffered, every buffered byte is
/// taken from the global budget first, and the body must keep arriving.
async fn read_body(
    svc: &Arc<Service>,
    body: &mut Body,
    held: &mut Held,
) -> Result<Vec<u8>, BodyProblem> {
    let config = &svc.config;
    let large = config.qbwc_max_body_bytes.max(SMALL_BODY);
    let idle = config.qbwc_body_idle_timeout;
    let rate = config.qbwc_min_body_bytes_per_sec;
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut limit = SMALL_BODY;
    let mut decided = false;
    loop {
        // The next piece must come within `idle`, and soon enough that the average since the
        // first `idle` seconds stays at or above `rate`.
        let mut deadline = Instant::now() + idle;
        if rate > 0 {
            let earned = Duration::from_secs_f64(buf.len() as f64 / rate as f64);
            deadline = deadline.min(started + idle + earned);
        }
        let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
            Err(_) => return Err(BodyProblem::TooSlow),
            Ok(None) => break,
            Ok(Some(frame)) => frame.map_err(|e| BodyProblem::Transport(e.to_string()))?,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit && !decided {
            decided = true;
            // The first 16 KiB decide: the method, its parameters so far, and the ticket.
            let mut prefix = buf.clone();
            prefix.extend_from_slice(&data[..(SMALL_BODY - buf.len()).min(data.len())]);
            let sniffed = envelope::sniff(&prefix).map_err(BodyProblem::Envelope)?;
            match (sniffed.method, sniffed.ticket) {
                (None, _) => return Err(BodyProblem::TooLarge(SMALL_BODY)),
                (Some(m), Some(ticket)) if m.carries_qbxml() => {
                    if owed(svc, m, &ticket).await? {
                        limit = large;
                    } else {
                        return Err(BodyProblem::NotOwed);
                    }
                }
                (Some(m), _) if m.carries_qbxml() => return Err(BodyProblem::NotOwed),
                (Some(_), _) => return Err(BodyProblem::TooLarge(SMALL_BODY)),
            }
        }
        if buf.len() + data.len() > limit {
            return Err(BodyProblem::TooLarge(limit));
        }
        if !held.take(data.len()) {
            return Err(BodyProblem::Saturated);
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf)
}

/// Most bytes and time spent draining a refused body before the connection is closed.
const DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads and discards up to `bytes` more of `body` within `time`; nothing is kept.
async fn drain(body: &mut Body, bytes: usize, time: Duration) {
    let _ = tokio::time::timeout(time, async {
        let mut left = bytes;
        while left > 0 {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        left = left.saturating_sub(data.len());
                    }
                }
                _ => break,
            }
        }
    })
    .await;
}

/// Whether `ticket` names a live session that expects `method` now: a response is due for
/// `receiveResponseXML`, the next request for `sendRequestXML`. Reads only.
async fn owed(svc: &Arc<Service>, method: Method, ticket: &str) -> Result<bool, BodyProblem> {
    if ticket.is_empty() || ticket.len() > envelope::MAX_TICKET {
        return Ok(false);
    }
    let hash = session::ticket_hash(ticket);
    let rules = session::rules(svc);
    let store = svc.store.clone();
    let awaiting = match tokio::task::spawn_blocking(move || {
        store.qbwc_session_awaiting(&hash, rules)
    })
    .await
    {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "QBWC session look-up failed");
            return Err(BodyProblem::Server(format!(
                "qbridge could not read its database ({e}); the Web Connector will retry at its next run"
            )));
        }
        Err(e) => return Err(BodyProblem::Server(format!("internal error: {e}"))),
    };
    Ok(match awaiting {
        None => false,
        Some(awaiting) => awaiting == (method == Method::ReceiveResponseXml),
    })
}
