//! `GET /metrics`: the engine's figures in the Prometheus text format (version 0.0.4).
//!
//! On the main address it needs a read token that is not fenced (the figures cover every
//! connection); ingest-only and fenced tokens are refused. With `metrics.listen` set it is
//! also served on that second address, alone and without a token — for a scraper on a
//! private network that cannot hold a secret; the operator keeps that address private.
//!
//! A scrape reads counters, never jobs: per connection the `job_count` rows, an index seek
//! for the oldest waiting job and the last contact, open sessions from their partial index,
//! plus the process's own counters (`crate::metrics`). So it costs the same with 100k jobs.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::auth::{Actor, ApiError};
use crate::metrics::{global, header as family, label_value};
use crate::state::AppState;
use crate::store::audit::now_ms;
use crate::store::queue::JobState;
use crate::store::tokens::Scope;
use crate::store::{Store, StoreError};

/// Scrapers served at once on the separate address; more wait in the accept queue.
const MAX_SCRAPERS: usize = 8;

/// The route on the main address (token required).
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(actor: Actor, State(state): State<AppState>) -> Result<Response, ApiError> {
    actor.require(Scope::Read)?;
    Ok(answer(&state.store).await)
}

async fn open_scrape(State(state): State<AppState>) -> Response {
    answer(&state.store).await
}

async fn answer(store: &Store) -> Response {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || render(&store)).await {
        Ok(Ok(text)) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics could not be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("metrics unavailable: {e}\n"),
            )
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// The whole exposition: the store's figures, then the process counters.
pub fn render(store: &Store) -> Result<String, StoreError> {
    let lines = store.connection_lines(None)?;
    let live = store.live_sessions()?;
    let now = now_ms();
    let mut out = String::with_capacity(4096 + lines.len() * 1024);
    family(
        &mut out,
        "qbridge_connections",
        "gauge",
        "Connections (company files).",
    );
    let _ = writeln!(out, "qbridge_connections {}", lines.len());
    family(
        &mut out,
        "qbridge_jobs",
        "gauge",
        "Jobs by state, per connection.",
    );
    for l in &lines {
        let name = label_value(&l.name);
        // Every state, 0 included, so a series never disappears when a state empties.
        for state in JobState::ALL.map(JobState::as_str) {
            let n = l.counts.get(state).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "qbridge_jobs{{connection=\"{name}\",state=\"{state}\"}} {n}"
            );
        }
    }
    family(
        &mut out,
        "qbridge_jobs_in_doubt",
        "gauge",
        "Jobs sent whose outcome QuickBooks has not confirmed yet (verified before any re-send), per connection.",
    );
    for l in &lines {
        let n = l.counts.get("in_doubt").copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "qbridge_jobs_in_doubt{{connection=\"{}\"}} {n}",
            label_value(&l.name)
        );
    }
    family(
        &mut out,
        "qbridge_oldest_waiting_seconds",
        "gauge",
        "Age of the oldest job still waiting (available, retryable, held or in doubt); 0 when none waits.",
    );
    for l in &lines {
        let age = l
            .oldest_waiting_at
            .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
        let _ = writeln!(
            out,
            "qbridge_oldest_waiting_seconds{{connection=\"{}\"}} {age}",
            label_value(&l.name)
        );
    }
    family(
        &mut out,
        "qbridge_qbwc_last_contact_timestamp_seconds",
        "gauge",
        "When a Web Connector last called for the connection (Unix time); absent when it never did.",
    );
    for l in &lines {
        if let Some(at) = l.last_contact_at {
            let _ = writeln!(
                out,
                "qbridge_qbwc_last_contact_timestamp_seconds{{connection=\"{}\"}} {}",
                label_value(&l.name),
                at as f64 / 1000.0
            );
        }
    }
    family(
        &mut out,
        "qbridge_qbwc_sessions_live",
        "gauge",
        "Web Connector sessions open with a running lease, per connection.",
    );
    for l in &lines {
        let n = live.get(&l.id).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "qbridge_qbwc_sessions_live{{connection=\"{}\"}} {n}",
            label_value(&l.name)
        );
    }
    let pruned = store.prune_totals()?;
    family(
        &mut out,
        "qbridge_pruned_jobs_total",
        "counter",
        "Completed jobs whose request and response were pruned (by the server or `qbridge prune`).",
    );
    let _ = writeln!(out, "qbridge_pruned_jobs_total {}", pruned.jobs);
    family(
        &mut out,
        "qbridge_pruned_records_total",
        "counter",
        "Source records whose payload was pruned.",
    );
    let _ = writeln!(out, "qbridge_pruned_records_total {}", pruned.records);
    family(
        &mut out,
        "qbridge_last_prune_timestamp_seconds",
        "gauge",
        "When a pruning run last pruned something (Unix time); absent before the first.",
    );
    if let Some(at) = pruned.last_at {
        let _ = writeln!(
            out,
            "qbridge_last_prune_timestamp_seconds {}",
            at as f64 / 1000.0
        );
    }
    global().render(&mut out);
    Ok(out)
}

/// Serves `/metrics` alone, without a token, on `listener` (`metrics.listen`) until the task
/// is aborted. Plain HTTP with the server's header-read and request timeouts; at most
/// [`MAX_SCRAPERS`] connections at once.
pub async fn serve_separately(listener: TcpListener, state: AppState) {
    let header_timeout = state.config.header_read_timeout;
    let request_timeout = state.config.request_timeout;
    let app = Router::new()
        .route("/metrics", get(open_scrape))
        .with_state(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPERS));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(address = %addr, "metrics are served here without a token");
    }
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let req = req.map(axum::body::Body::new);
                        match tokio::time::timeout(request_timeout, app.oneshot(req)).await {
                            Ok(Ok(resp)) => Ok::<_, std::convert::Infallible>(resp),
                            Ok(Err(never)) => match never {},
                            Err(_) => Ok(StatusCode::REQUEST_TIMEOUT.into_response()),
                        }
                    }
                });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
