//! The HTTP server: routes, the accept loop (plain http or HTTPS), timeouts and graceful
//! shutdown.
//!
//! This file only wires things together; what each route means lives with its module
//! (`qbwc` for the SOAP endpoint, `admin` for the API and UI). The accept loop is our own
//! (hyper directly, not `axum::serve`) so that one loop serves both plain http (behind a
//! reverse proxy, or localhost) and HTTPS with rustls, and so that it can bound how long a
//! client may take to send its headers (slow-loris) and how long any request may take.
//!
//! It also bounds how many connections are open: `server.max_connections` in total (and no
//! more than the open-files limit allows, which `serve` first raises to its hard maximum)
//! and `server.max_connections_per_address` from one client address (an IPv6 client by its
//! /64; trusted proxies are exempt). A connection over a cap is answered `503` with
//! `Retry-After` and closed without being served, so one client cannot take every file
//! descriptor. Slow request *bodies* are bounded by the endpoint that reads them (`qbwc`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tower::ServiceExt;

use crate::admin::auth::{Actor, ApiError};
use crate::config::Config;
use crate::qbwc;
use crate::state::AppState;

/// Builds the router with every route the engine serves.
pub fn router(state: AppState) -> Router {
    let soap = qbwc::router(
        state.store.clone(),
        state.config.clone(),
        state.work.clone(),
    );
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/whoami", get(whoami))
        .route(
            "/api/v1/ingest/{plugin}",
            axum::routing::post(crate::pipeline::http::ingest_route),
        )
        .route(
            "/api/v1/ingest/{plugin}/batch",
            axum::routing::post(crate::pipeline::http::ingest_batch_route).layer(
                axum::extract::DefaultBodyLimit::max(crate::pipeline::http::MAX_BATCH_BYTES),
            ),
        )
        .merge(crate::admin::api::routes())
        .merge(crate::admin::metrics_api::routes())
        .merge(crate::admin::ui::routes())
        // Anything else needs a token: unauthenticated callers learn nothing about which
        // routes exist (401), authenticated ones get a plain 404.
        .fallback(not_found)
        .with_state(state)
        .merge(soap)
}

async fn whoami(actor: Actor) -> impl IntoResponse {
    Json(serde_json::json!({
        "id": actor.token.id,
        "kind": actor.token.kind,
        "name": actor.token.name,
        "scope": actor.token.scope,
        "expires_at": actor.token.expires_at,
    }))
}

async fn not_found(_actor: Actor) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "no such route; the API is under /api/v1/",
    )
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "boot_id": state.store.boot_id(),
    }))
}

/// A TLS certificate/key pair that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file has no usable PEM certificate.
    #[error(
        "tls.cert {path}: {message}. Point tls.cert at a PEM file with the certificate chain (-----BEGIN CERTIFICATE-----), server certificate first"
    )]
    Cert { path: String, message: String },
    /// The key file has no usable PEM private key.
    #[error(
        "tls.key {path}: {message}. Point tls.key at the PEM private key (-----BEGIN PRIVATE KEY----- or RSA/EC PRIVATE KEY) of the certificate"
    )]
    Key { path: String, message: String },
    /// Both parse but do not belong together, or rustls refuses them.
    #[error(
        "tls.cert and tls.key cannot be used together: {0}. Check that the key is the one the certificate was issued for"
    )]
    Pair(String),
}

/// Loads a PEM certificate chain and private key and checks that they match.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_err = |message: String| TlsError::Cert {
        path: cert.display().to_string(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no certificate found".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Pair(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Pair(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Raises the open-files limit and binds `server.listen` (what `serve` listens on).
pub async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    match raise_open_files_limit() {
        Ok((before, after)) if before != after => {
            tracing::info!(before, after, "raised the open-files limit (RLIMIT_NOFILE)")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
    }
    TcpListener::bind(config.listen)
        .await
        .with_context(|| bind_hint(config.listen))
}

/// Serves on `listener` until `shutdown` completes, then lets in-flight requests finish.
/// Tests use this to run the real server in-process with their own [`WorkProvider`].
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = state.config.clone();
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(TlsAcceptor::from(load_tls(cert, key)?)),
        _ => None,
    };
    // Logins need the Web Connector password key: refuse to start without it.
    qbwc::AuthKey::for_store(&state.store)?;
    let local = listener.local_addr()?;
    let limits = Arc::new(ConnLimits::new(&config));
    tracing::info!(
        address = %local,
        scheme = if tls.is_some() { "https" } else { "http" },
        data_dir = %config.data_dir.display(),
        max_connections = limits.max_total,
        max_connections_per_address = limits.max_per_address,
        "qbridge is listening"
    );
    let app = router(state);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let exempt = config.trusted_proxies.contains(&remote.ip());
        let permit = match limits.admit(remote.ip(), exempt) {
            Ok(permit) => permit,
            Err(over) => {
                refuse(stream, remote, over, tls.is_none(), &limits);
                continue;
            }
        };
        let watcher = graceful.watcher();
        let app = app.clone();
        let tls = tls.clone();
        let config = config.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(config.header_read_timeout);
            let timeout = config.request_timeout;
            let trusted: Arc<[IpAddr]> = config.trusted_proxies.clone().into();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                handle(app.clone(), req, remote, timeout, trusted.clone())
            });
            let result = match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    // The handshake gets the same deadline as the headers.
                    let handshake =
                        tokio::time::timeout(config.header_read_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(tls_stream)) => {
                            let conn = http.serve_connection(TokioIo::new(tls_stream), service);
                            watcher.watch(conn).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%remote, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    graceful.shutdown().await;
    tracing::info!("qbridge stopped cleanly");
    Ok(())
}

/// Which cap a refused connection was over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Over {
    Total,
    Address,
}

/// Open connections, in total and per client address.
struct ConnLimits {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    /// Refusal tasks running (each holds a socket for a moment); beyond a few, just close.
    refusing: std::sync::atomic::AtomicUsize,
    /// When a refusal was last logged at WARN (ms since `epoch`), so floods log once a minute.
    last_warned: AtomicU64,
    epoch: Instant,
}

/// One admitted connection; frees its place when dropped.
struct ConnPermit {
    limits: Arc<ConnLimits>,
    key: Option<IpAddr>,
}

impl ConnLimits {
    fn new(config: &Config) -> Self {
        // Keep some descriptors for the database, plugin caches and logs.
        let by_files = open_files_limit()
            .map(|n| (n.saturating_sub(128) as usize).max(16))
            .unwrap_or(usize::MAX);
        ConnLimits {
            max_total: config.max_connections.min(by_files),
            max_per_address: config.max_connections_per_address,
            open: Mutex::new((0, HashMap::new())),
            refusing: std::sync::atomic::AtomicUsize::new(0),
            last_warned: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// A permit for a connection from `ip`, or the cap it is over. `exempt` (a trusted
    /// proxy) skips the per-address cap.
    fn admit(self: &Arc<Self>, ip: IpAddr, exempt: bool) -> Result<ConnPermit, Over> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.0 >= self.max_total {
            return Err(Over::Total);
        }
        let key = (!exempt).then(|| qbwc::address_key(ip));
        if let Some(key) = key {
            let n = open.1.entry(key).or_insert(0);
            if *n >= self.max_per_address {
                return Err(Over::Address);
            }
            *n += 1;
        }
        open.0 += 1;
        Ok(ConnPermit {
            limits: self.clone(),
            key,
        })
    }

    /// True at most once a minute: whether this refusal is logged at WARN.
    fn warn_now(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64 + 60_000;
        let last = self.last_warned.load(Ordering::Relaxed);
        now >= last + 60_000
            && self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(key) = self.key
            && let Some(n) = open.1.get_mut(&key)
        {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&key);
            }
        }
    }
}

/// Answers a connection over a cap with `503` and `Retry-After` (plain http; a TLS client
/// is simply closed) and closes it, within two seconds. At most 64 such answers are in
/// flight; beyond that a refused connection is closed at once.
fn refuse(
    stream: TcpStream,
    remote: SocketAddr,
    over: Over,
    plain: bool,
    limits: &Arc<ConnLimits>,
) {
    let what = match over {
        Over::Total => "server.max_connections",
        Over::Address => "server.max_connections_per_address",
    };
    if limits.warn_now() {
        tracing::warn!(%remote, cap = what, "connection refused: too many open connections (logged once a minute)");
    } else {
        tracing::debug!(%remote, cap = what, "connection refused: too many open connections");
    }
    if !plain || limits.refusing.fetch_add(1, Ordering::AcqRel) >= 64 {
        if plain {
            limits.refusing.fetch_sub(1, Ordering::AcqRel);
        }
        return;
    }
    let body = format!("too many open connections ({what}); retry in a few seconds\n");
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let limits = limits.clone();
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
            // Read what the client sent, so that closing does not reset the connection
            // before the client has read the answer.
            let mut sink = [0u8; 4096];
            let mut left = 64 * 1024usize;
            while left > 0 {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        })
        .await;
        limits.refusing.fetch_sub(1, Ordering::AcqRel);
    });
}

/// The soft open-files limit, if the platform tells (`None` also for "unlimited").
fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    None
}

/// Raises the soft open-files limit to the hard one (every connection is a descriptor; the
/// usual soft default of 1024 is far below what a server needs). Returns (before, after).
pub fn raise_open_files_limit() -> std::io::Result<(u64, u64)> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let lim = getrlimit(Resource::Nofile);
        let Some(before) = lim.current else {
            return Ok((u64::MAX, u64::MAX));
        };
        // An unlimited hard limit is not a valid soft one for NOFILE; a million is plenty.
        let target = lim.maximum.unwrap_or(1 << 20);
        if before >= target {
            return Ok((before, before));
        }
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: lim.maximum,
            },
        )?;
        Ok((before, target))
    }
    #[cfg(not(unix))]
    Ok((0, 0))
}

/// Runs one request through the router within the per-request deadline.
async fn handle(
    app: Router,
    mut req: Request<Incoming>,
    remote: SocketAddr,
    timeout: Duration,
    trusted_proxies: Arc<[IpAddr]>,
) -> Result<Response, Infallible> {
    let client = client_addr(remote, req.headers(), &trusted_proxies);
    req.extensions_mut().insert(ConnectInfo(client));
    let req = req.map(axum::body::Body::new);
    match tokio::time::timeout(timeout, app.oneshot(req)).await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::warn!(%remote, "request exceeded server.request_timeout_secs");
            let mut resp = (
                StatusCode::REQUEST_TIMEOUT,
                "the request took longer than server.request_timeout_secs\n",
            )
                .into_response();
            resp.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            Ok(resp)
        }
    }
}

/// The client's address: the peer's, unless the peer is a trusted reverse proxy — then the
/// nearest `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left
/// were written by the client and can be forged).
fn client_addr(
    remote: SocketAddr,
    headers: &axum::http::HeaderMap,
    trusted_proxies: &[IpAddr],
) -> SocketAddr {
    if !trusted_proxies.contains(&remote.ip()) {
        return remote;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .map(|entry| entry.parse::<IpAddr>())
        .find(|ip| !matches!(ip, Ok(ip) if trusted_proxies.contains(ip)))
        .and_then(Result::ok)
        .map_or(remote, |ip| SocketAddr::new(ip, 0))
}

/// What to tell the admin when the listening address is not available.
pub fn bind_hint(listen: SocketAddr) -> String {
    format!(
        "cannot listen on {listen}: another program (or another qbridge) may be using the port. \
         Stop it, or choose another address with --listen / QBRIDGE_SERVER_LISTEN"
    )
}

/// Completes at Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies_and_only_its_own_entry() {
        let proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let trusted: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap()];
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "1.2.3.4, 203.0.113.9, 10.0.0.6".parse().unwrap(),
        );
        // The client forged 1.2.3.4; the proxies appended the real client and themselves.
        assert_eq!(
            client_addr(proxy, &headers, &trusted).ip().to_string(),
            "203.0.113.9"
        );
        // From anyone else the header means nothing.
        let direct: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        assert_eq!(client_addr(direct, &headers, &trusted), direct);
        // Garbage or no header: the proxy's own address.
        headers.insert("x-forwarded-for", "not-an-ip".parse().unwrap());
        assert_eq!(client_addr(proxy, &headers, &trusted), proxy);
        assert_eq!(
            client_addr(proxy, &axum::http::HeaderMap::new(), &trusted),
            proxy
        );
    }
}
