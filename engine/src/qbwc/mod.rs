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
//! Body limits are enforced while the body streams in: a request may not exceed
//! [`SMALL_BODY`] until its method is known, and only `sendRequestXML`/`receiveResponseXML`
//! may then grow to `qbwc.max_body_bytes`. A declared Content-Length above the limit is
//! refused before any of the body is read (so `Expect: 100-continue` clients never send it).

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

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;

pub use advice::advice;
pub use auth::{generate_password, hash_password};
pub use hcp::MAX_QBXML;
pub use qwc::{QwcError, app_url, new_guid, qwc_for_user};
pub use work::{NoWork, SessionContext, SessionEnd, WorkError, WorkProvider};

use crate::config::Config;
use crate::store::Store;
use envelope::{EnvelopeError, FaultCode, Method};

/// Body limit for every method until it is known, and for all but the two qbXML carriers.
pub const SMALL_BODY: usize = 16 * 1024;

/// What the endpoint needs, shared by every request.
pub(crate) struct Service {
    store: Store,
    config: Arc<Config>,
    work: Arc<dyn WorkProvider>,
    guard: auth::Guard,
}

/// The router serving the SOAP endpoint at `qbwc.path`.
pub fn router(store: Store, config: Arc<Config>, work: Arc<dyn WorkProvider>) -> Router {
    let path = config.qbwc_path.clone();
    let guard = auth::Guard::new(
        config.qbwc_auth_per_user_per_minute,
        config.qbwc_auth_per_ip_per_minute,
    );
    let svc = Arc::new(Service {
        store,
        config,
        work,
        guard,
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
    let (parts, body) = req.into_parts();
    let large = svc.config.qbwc_max_body_bytes.max(SMALL_BODY);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > large as u64) {
        return client_fault(&too_large(large), true);
    }
    let body = match read_bounded(body, large).await {
        Ok(b) => b,
        Err(BodyProblem::TooLarge(limit)) => return client_fault(&too_large(limit), true),
        Err(BodyProblem::Envelope(e)) => return client_fault(&e.to_string(), true),
        Err(BodyProblem::Transport(e)) => {
            return client_fault(&format!("the request body could not be read: {e}"), true);
        }
    };
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
    let method = request.method;
    match session::handle(&svc, request, ip).await {
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
        "the request body is larger than the {limit}-byte limit for this method (qbwc.max_body_bytes applies to sendRequestXML and receiveResponseXML, {SMALL_BODY} bytes to the others); ask for fewer records per request (MaxReturned, iterators)"
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
    Envelope(EnvelopeError),
    Transport(String),
}

/// Reads the body frame by frame: at most [`SMALL_BODY`] until the method is known, then up
/// to `large` for the qbXML carriers. Nothing beyond the limit is ever buffered.
async fn read_bounded(mut body: Body, large: usize) -> Result<Vec<u8>, BodyProblem> {
    let mut buf: Vec<u8> = Vec::new();
    let mut method: Option<Method> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyProblem::Transport(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let limit = match method {
            Some(m) if m.carries_qbxml() => large,
            Some(_) => SMALL_BODY,
            None => usize::MAX,
        };
        if buf.len() + data.len() > limit {
            return Err(BodyProblem::TooLarge(limit));
        }
        buf.extend_from_slice(&data);
        if method.is_none() {
            method = envelope::sniff_method(&buf).map_err(BodyProblem::Envelope)?;
            if method.is_none() && buf.len() > SMALL_BODY {
                // Sixteen KiB without reaching the method element is no Web Connector.
                return Err(BodyProblem::TooLarge(SMALL_BODY));
            }
            if let Some(m) = method {
                let limit = if m.carries_qbxml() { large } else { SMALL_BODY };
                if buf.len() > limit {
                    return Err(BodyProblem::TooLarge(limit));
                }
            }
        }
    }
    Ok(buf)
}
