//! The audit log over HTTP: `GET /api/v1/audit` (pages), `/audit/export` (JSON lines) and
//! `/audit/verify` (the hash chain and the signed anchors of its newest rows). Read scope,
//! unfenced: the log spans every tenant.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::api::{MAX_PAGE, blocking};
use super::auth::{Actor, ApiError};
use crate::state::AppState;
use crate::store::audit::{AuditRecord, AuditVerdict};
use crate::store::audit_anchor::AnchorVerdict;
use crate::store::tokens::Scope;

/// Most rows one audit export call returns; callers continue with `after`.
const MAX_EXPORT: u32 = 10_000;

/// The audit routes (state: [`AppState`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(audit_page))
        .route("/api/v1/audit/export", get(audit_export))
        .route("/api/v1/audit/verify", get(audit_verify_route))
}

/// `?after=&limit=` paging.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    /// Rows with a larger id than this.
    #[serde(default)]
    pub after: i64,
    /// At most this many.
    pub limit: Option<u32>,
}

/// Audit rows after `after`, oldest first (read; the log spans every tenant, so a fenced
/// caller is refused).
pub(crate) async fn audit_rows(
    state: &AppState,
    actor: &Actor,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditRecord>, ApiError> {
    actor.require(Scope::Read)?;
    let store = state.store.clone();
    blocking(move || Ok(store.audit_rows(after, limit)?)).await
}

/// Result of a chain check, as the API and UI report it.
#[derive(Debug, Serialize)]
pub(crate) struct Verification {
    /// True when every row matches the hash chain.
    pub intact: bool,
    /// Rows checked (when intact).
    pub rows: Option<u64>,
    /// First row that does not match (when broken).
    pub broken_at: Option<i64>,
    /// Plain-language verdict.
    pub message: String,
}

/// Recomputes the audit hash chain and checks the signed anchors of its newest rows (read,
/// unfenced).
pub(crate) async fn verify_audit(
    state: &AppState,
    actor: &Actor,
) -> Result<Verification, ApiError> {
    actor.require(Scope::Read)?;
    let store = state.store.clone();
    let key_path = state.config.secrets_key_path();
    let (chain, anchors) = blocking(move || {
        let anchors = store.check_audit_anchors_with(&key_path).map_err(|e| {
            tracing::error!(error = %e, "audit anchors cannot be checked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        })?;
        Ok((store.verify_audit()?, anchors))
    })
    .await?;
    Ok(match chain {
        AuditVerdict::Intact(n) if anchors.is_sound() => Verification {
            intact: true,
            rows: Some(n),
            broken_at: None,
            message: format!(
                "Audit log intact: {n} rows, hash chain verified. {}",
                anchors.describe()
            ),
        },
        AuditVerdict::Intact(_) => Verification {
            intact: false,
            rows: None,
            broken_at: match anchors {
                AnchorVerdict::RowsRemoved { from_id } => Some(from_id),
                _ => None,
            },
            message: format!("The audit log was tampered with: {}", anchors.describe()),
        },
        AuditVerdict::Broken { id } => Verification {
            intact: false,
            rows: None,
            broken_at: Some(id),
            message: format!(
                "The audit log was tampered with: row {id} does not match the hash chain (edited, inserted, or a row before it removed)."
            ),
        },
    })
}

async fn audit_page(
    actor: Actor,
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    Ok(Json(audit_rows(&state, &actor, page.after, limit).await?))
}

async fn audit_export(
    actor: Actor,
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Response, ApiError> {
    let limit = page.limit.unwrap_or(MAX_EXPORT).clamp(1, MAX_EXPORT);
    let rows = audit_rows(&state, &actor, page.after, limit).await?;
    let mut body = String::new();
    for r in &rows {
        let line = serde_json::to_string(r)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        body.push_str(&line);
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

async fn audit_verify_route(
    actor: Actor,
    State(state): State<AppState>,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(verify_audit(&state, &actor).await?))
}
