//! `POST /api/v1/ingest/{plugin}`: push a source record (scope `ingest` or higher). A token
//! fenced to a connection and/or plugin feeds only that company file through that plugin;
//! without `?connection=` it feeds its own connection.
//!
//! The answer is `202 Accepted` with the job ids only after the record and its jobs are
//! committed; a record the plugin rejects gets `422` with the plugin's reason and nothing is
//! stored. When as many plugin calls run as there are CPUs the answer is `503` with
//! `Retry-After`, given before the request takes a blocking thread (which the QBWC sessions
//! need too).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ingest::{IngestError, MAX_RECORD_BYTES, ingest};
use crate::admin::auth::{Actor, ApiError};
use crate::plugins::PluginError;
use crate::server::AppState;
use crate::store::queue::Origin;
use crate::store::tokens::Scope;

/// Query parameters of the ingest route.
#[derive(Debug, serde::Deserialize)]
pub struct IngestQuery {
    /// Record kind the plugin expects (`invoice`, `transaction`, …).
    kind: String,
    /// Connection name; optional when only one exists.
    connection: Option<String>,
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

/// The ingest handler.
pub async fn ingest_route(
    State(state): State<AppState>,
    actor: Actor,
    Path(plugin): Path<String>,
    Query(q): Query<IngestQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    actor.require_scope(Scope::Ingest)?;
    if actor.fence().plugin.as_deref().is_some_and(|p| p != plugin) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("plugin {plugin} not found"),
        ));
    }
    let fence = actor.fence().clone();
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
        let connection_id = match (q.connection.as_deref(), fence.connection_id) {
            (Some(name), _) => store
                .connection(name)
                .map(|c| c.id)
                .map_err(IngestError::Store)?,
            (None, Some(mine)) => mine,
            (None, None) => {
                let all = store.connections().map_err(IngestError::Store)?;
                match all.as_slice() {
                    [only] => only.id,
                    _ => {
                        return Err(IngestError::Rejected {
                            plugin: plugin.clone(),
                            kind: q.kind.clone(),
                            reason: format!(
                                "name the connection with ?connection= (there are {} connections)",
                                all.len()
                            ),
                        });
                    }
                }
            }
        };
        if !fence.admits(connection_id, Some(&plugin)) {
            // Another firm's company file answers as if it did not exist.
            return Err(IngestError::Store(crate::store::StoreError::NotFound(
                format!("connection {}", q.connection.as_deref().unwrap_or("")),
            )));
        }
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
        Err(e) => {
            let status = match &e {
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
            Err(ApiError::new(status, e.to_string()))
        }
    }
}
