//! `POST /api/v1/ingest/{plugin}`: push a source record (scope `ingest` or higher). A token
//! fenced to a connection and/or plugin feeds only that company file through that plugin;
//! without `?connection=` it feeds its own connection.
//!
//! The answer is `202 Accepted` with the job ids only after the record and its jobs are
//! committed; a record the plugin rejects gets `422` with the plugin's reason and nothing is
//! stored. `POST /api/v1/ingest/{plugin}/batch` takes many records, one per line. When as
//! many plugin calls run as there are CPUs the answer is `503` with `Retry-After`, given
//! before the request takes a blocking thread (which the QBWC sessions need too).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ingest::{IngestError, MAX_RECORD_BYTES, connection_for, ingest, ingest_batch};
use crate::admin::auth::{Actor, ApiError};
use crate::plugins::PluginError;
use crate::state::AppState;
use crate::store::queue::Origin;
use crate::store::tokens::{Fence, Scope};
use crate::store::{Store, StoreError};

/// Query parameters of the ingest route.
#[derive(Debug, serde::Deserialize)]
pub struct IngestQuery {
    /// Record kind the plugin expects (`invoice`, `transaction`, …).
    pub(super) kind: String,
    /// Connection name; optional when only one exists.
    pub(super) connection: Option<String>,
}

/// Seconds a source is asked to wait when every plugin-call permit is taken: calls last at
/// most their deadline (a second by default), so one is likely free by then.
const RETRY_AFTER_SECS: &str = "1";

/// `503` with `Retry-After`: every plugin-call permit is taken.
fn busy(pool: usize) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECS)],
        Json(serde_json::json!({
            "error": format!("{pool} plugin calls are running (one per CPU); send the record again after {RETRY_AFTER_SECS} s")
        })),
    )
        .into_response()
}

/// Refuses a plugin outside the token's fence as if it did not exist.
fn plugin_in_fence(actor: &Actor, plugin: &str) -> Result<Fence, ApiError> {
    actor.require_scope(Scope::Ingest)?;
    if actor.fence().plugin.as_deref().is_some_and(|p| p != plugin) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("plugin {plugin} not found"),
        ));
    }
    Ok(actor.fence().clone())
}

/// The connection the records are for: the one named, else the token's own, else the only
/// one; another firm's company file answers as if it did not exist.
fn connection_in_fence(
    store: &Store,
    fence: &Fence,
    name: Option<&str>,
    plugin: &str,
    kind: &str,
) -> Result<i64, IngestError> {
    let id = match (name, fence.connection_id) {
        (None, Some(mine)) => mine,
        (name, _) => connection_for(store, name, plugin, kind)?,
    };
    if !fence.admits(id, Some(plugin)) {
        return Err(IngestError::Store(StoreError::NotFound(format!(
            "connection {}",
            name.unwrap_or("")
        ))));
    }
    Ok(id)
}

/// The ingest handler.
pub async fn ingest_route(
    State(state): State<AppState>,
    actor: Actor,
    Path(plugin): Path<String>,
    Query(q): Query<IngestQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fence = plugin_in_fence(&actor, &plugin)?;
    if body.len() > MAX_RECORD_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the record is {} bytes; at most {MAX_RECORD_BYTES} are accepted",
                body.len()
            ),
        ));
    }
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the record must be UTF-8 JSON"))?;
    let Some(permit) = state.plugins.try_reserve_call() else {
        return Ok(busy(state.plugins.call_pool_size()));
    };
    let store = state.store.clone();
    let plugins = state.plugins.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _call = permit.bind();
        let connection_id =
            connection_in_fence(&store, &fence, q.connection.as_deref(), &plugin, &q.kind)?;
        ingest(
            Origin::Push,
            &store,
            &plugins,
            connection_id,
            &plugin,
            &q.kind,
            &text,
        )
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "ingest task failed"))?;
    match result {
        Ok(done) => Ok((StatusCode::ACCEPTED, Json(done)).into_response()),
        Err(e) => Err(ApiError::new(status_of(&e), e.to_string())),
    }
}

/// The HTTP status for a record that was not queued.
pub(super) fn status_of(e: &IngestError) -> StatusCode {
    let status = match e {
        IngestError::BadJson(_) => StatusCode::BAD_REQUEST,
        IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        IngestError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        IngestError::Plugin(PluginError::NotFound(_)) => StatusCode::NOT_FOUND,
        IngestError::Plugin(_) => StatusCode::UNPROCESSABLE_ENTITY,
        IngestError::Store(crate::store::StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
        IngestError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::error!(error = %e, "ingest failed in the store");
    }
    status
}

/// At most this many records in one batch request (about a second of mapping).
pub const MAX_BATCH_RECORDS: usize = 10_000;
/// At most this many bytes in one batch request.
pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;
/// Records stored per transaction within a batch request.
const BATCH_TRANSACTION: usize = 500;

/// `POST /api/v1/ingest/{plugin}/batch`: many records, one JSON record per line (NDJSON),
/// each mapped on its own and stored [`BATCH_TRANSACTION`] per transaction. The answer lists
/// every line's fate: `202` when all were queued, `207` when some were refused (the others
/// are queued), `422` when none was.
pub async fn ingest_batch_route(
    State(state): State<AppState>,
    actor: Actor,
    Path(plugin): Path<String>,
    Query(q): Query<IngestQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fence = plugin_in_fence(&actor, &plugin)?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "the records must be UTF-8 JSON, one per line",
        )
    })?;
    let count = text.lines().filter(|l| !l.trim().is_empty()).count();
    if count == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no records: send one JSON record per line",
        ));
    }
    if count > MAX_BATCH_RECORDS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{count} records in one request; send at most {MAX_BATCH_RECORDS} per request"),
        ));
    }
    // One permit for the whole batch: its records are mapped one after the other.
    let Some(permit) = state.plugins.try_reserve_call() else {
        return Ok(busy(state.plugins.call_pool_size()));
    };
    let store = state.store.clone();
    let plugins = state.plugins.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let _call = permit.bind();
        let connection_id =
            connection_in_fence(&store, &fence, q.connection.as_deref(), &plugin, &q.kind)
                .map_err(|e| ApiError::new(status_of(&e), e.to_string()))?;
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, l))
            .collect();
        let (mut queued, mut refused, mut results) = (0, 0, Vec::with_capacity(lines.len()));
        for chunk in lines.chunks(BATCH_TRANSACTION) {
            let texts: Vec<&str> = chunk.iter().map(|(_, l)| *l).collect();
            let outcome =
                ingest_batch(Origin::Push, &store, &plugins, connection_id, &plugin, &q.kind, &texts)
                    .map_err(|e| {
                        tracing::error!(error = %e, "batch ingest failed in the store");
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!(
                                "the store failed at line {}: {e}. The {queued} record(s) before it are queued; send the rest again",
                                chunk[0].0
                            ),
                        )
                    })?;
            for ((line, _), result) in chunk.iter().zip(outcome) {
                results.push(match result {
                    Ok(done) => {
                        queued += 1;
                        serde_json::json!({"line": line, "record_id": done.record_id, "jobs": done.jobs})
                    }
                    Err(e) => {
                        refused += 1;
                        serde_json::json!({"line": line, "status": status_of(&e).as_u16(), "error": e.to_string()})
                    }
                });
            }
        }
        Ok(serde_json::json!({"queued": queued, "refused": refused, "results": results}))
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "ingest task failed"))??;
    let status = match (answer["queued"].as_u64(), answer["refused"].as_u64()) {
        (_, Some(0)) => StatusCode::ACCEPTED,
        (Some(0), _) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::MULTI_STATUS,
    };
    Ok((status, Json(answer)).into_response())
}
