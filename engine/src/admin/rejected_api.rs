//! `/api/v1/rejected`: pulled records the plugin refused (see `pipeline::rejected`) — listed
//! with the plugin's reason (read) and mapped again on demand (operator, audited). A fenced
//! token sees and retries only its own connection's and plugin's.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::api::{MAX_PAGE, blocking};
use super::auth::{Actor, ApiError};
use crate::pipeline::ingest::IngestError;
use crate::pipeline::rejected::{self, Retried};
use crate::state::AppState;
use crate::store::rejected::RejectedRecord;
use crate::store::tokens::Scope;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rejected", get(list_route))
        .route("/api/v1/rejected/{id}/retry", post(retry_route))
}

/// `?connection=&plugin=&all=&limit=` for the list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RejectedQuery {
    /// Only this connection id.
    pub connection: Option<i64>,
    /// Only this plugin.
    pub plugin: Option<String>,
    /// Also those that mapped since.
    #[serde(default)]
    pub all: bool,
    /// At most this many, newest first.
    pub limit: Option<u32>,
}

/// Refused pulled records of the caller's tenant, newest first (read).
pub(crate) async fn list(
    state: &AppState,
    actor: &Actor,
    q: RejectedQuery,
) -> Result<Vec<RejectedRecord>, ApiError> {
    actor.require_scope(Scope::Read)?;
    let fence = actor.fence().clone();
    // A fenced token asking for another connection or plugin finds none.
    if fence
        .connection_id
        .zip(q.connection)
        .is_some_and(|(mine, asked)| mine != asked)
        || fence
            .plugin
            .as_deref()
            .zip(q.plugin.as_deref())
            .is_some_and(|(mine, asked)| mine != asked)
    {
        return Ok(Vec::new());
    }
    let connection = fence.connection_id.or(q.connection);
    let plugin = fence.plugin.clone().or(q.plugin);
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let store = state.store.clone();
    blocking(move || Ok(store.rejected_records(connection, plugin.as_deref(), q.all, limit)?)).await
}

/// What a retry did (`queued`, `still_refused`, `not_kept` or `already_mapped` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RetryOutcome {
    /// It mapped and its jobs are queued.
    Queued,
    /// The running version refuses it too.
    StillRefused,
    /// Too large to have been kept.
    NotKept,
    /// It had mapped before.
    AlreadyMapped,
}

/// What a retry did.
#[derive(Debug, Serialize)]
pub(crate) struct RetryView {
    pub outcome: RetryOutcome,
    /// The record it became, when queued.
    pub record_id: Option<i64>,
    /// The plugin's reason, when still refused.
    pub reason: Option<String>,
}

/// Maps refused record `id` again with the running plugin version (operator); audited.
pub(crate) async fn retry(state: &AppState, actor: &Actor, id: i64) -> Result<RetryView, ApiError> {
    actor.require_scope(Scope::Operator)?;
    let store = state.store.clone();
    let (row, _) = blocking(move || Ok(store.rejected_record(id)?)).await?;
    actor.require_in(
        Scope::Operator,
        row.connection_id,
        Some(&row.plugin),
        &format!("refused record {id}"),
    )?;
    let entry = actor.audit(
        "record.retry_rejected",
        &format!("rejected:{id}"),
        serde_json::Value::Null,
    );
    let (store, plugins) = (state.store.clone(), state.plugins.clone());
    let permit = plugins.try_reserve_call().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "every plugin call slot is busy; try again in a moment",
        )
    })?;
    blocking(move || {
        let _call = permit.bind();
        store.audit_rejected_retry(&entry)?;
        let retried = rejected::retry(&store, &plugins, id).map_err(|e| match e {
            IngestError::Store(e) => ApiError::from(e),
            other => ApiError::new(StatusCode::BAD_GATEWAY, other.to_string()),
        })?;
        Ok(match retried {
            Retried::Queued(record) => RetryView {
                outcome: RetryOutcome::Queued,
                record_id: Some(record),
                reason: None,
            },
            Retried::StillRefused(reason) => RetryView {
                outcome: RetryOutcome::StillRefused,
                record_id: None,
                reason: Some(reason),
            },
            Retried::NotKept => RetryView {
                outcome: RetryOutcome::NotKept,
                record_id: None,
                reason: Some("too large to have been kept: have the source send it again".into()),
            },
            Retried::AlreadyResolved => RetryView {
                outcome: RetryOutcome::AlreadyMapped,
                record_id: None,
                reason: None,
            },
        })
    })
    .await
}

async fn list_route(
    actor: Actor,
    State(state): State<AppState>,
    Query(q): Query<RejectedQuery>,
) -> Result<Json<Vec<RejectedRecord>>, ApiError> {
    Ok(Json(list(&state, &actor, q).await?))
}

async fn retry_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<RetryView>, ApiError> {
    Ok(Json(retry(&state, &actor, id).await?))
}
