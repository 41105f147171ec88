//! The admin JSON API under `/api/v1/`: tokens, support grants, jobs and queue status (the
//! other areas' routes are in their own `*_api.rs` files, merged here). Documented in `openapi.json` (served at `/api/v1/openapi.json`).
//!
//! Every route takes an [`Actor`] first, so an unauthenticated caller gets 401 before anything
//! else is looked at; writes check the scope and are audited. The operations are functions of
//! their own (`pub(crate)`) because the web UI performs exactly the same ones.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::auth::{Actor, ApiError};
use super::cli::{grant_rules, parse_duration};
use crate::state::AppState;
use crate::store::audit::now_ms;
use crate::store::queue::{JobFilter, JobState, JobView, QueueStatus};
use crate::store::secrets::SecretError;
use crate::store::tokens::{Fence, Scope, TokenInfo};

/// The OpenAPI 3 description of every route below.
const OPENAPI: &str = include_str!("openapi.json");
/// Most rows one page of jobs or audit rows may hold.
pub(crate) const MAX_PAGE: u32 = 1000;

/// The API routes (state: [`AppState`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/tokens", get(list_tokens).post(create_token_route))
        .route(
            "/api/v1/tokens/{id}",
            axum::routing::delete(revoke_token_route),
        )
        .route(
            "/api/v1/grants",
            get(list_grants)
                .post(create_grant_route)
                .delete(revoke_all_grants_route),
        )
        .route(
            "/api/v1/grants/{id}",
            axum::routing::delete(revoke_grant_route),
        )
        .route("/api/v1/jobs", get(list_jobs_route))
        .route("/api/v1/jobs/{id}", get(show_job))
        .route("/api/v1/jobs/{id}/retry", post(retry_job_route))
        .route("/api/v1/jobs/{id}/cancel", post(cancel_job_route))
        .route("/api/v1/queue", get(queue_route))
        .merge(super::secrets_api::routes())
        .merge(super::audit_api::routes())
        .merge(super::plugins_api::routes())
        .merge(super::plugin_config_api::routes())
        .merge(super::setup_api::routes())
        .merge(super::connections_api::routes())
        .merge(super::rejected_api::routes())
        .merge(super::alerts_api::routes())
}

/// Runs store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal task failed; see the server log",
        )
    })?
}

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Store(e) => e.into(),
            SecretError::Invalid(m) => bad_request(m),
            other => {
                tracing::error!(error = %other, "source secrets unavailable");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

async fn openapi(_actor: Actor) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

// ---- tokens -------------------------------------------------------------------------------

/// A new token's request body.
#[derive(Debug, Deserialize)]
pub(crate) struct NewToken {
    /// Label.
    pub name: String,
    /// admin, operator, read or ingest.
    pub scope: String,
    /// Lifetime such as `30d`; absent = no expiry.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// Only this connection's data (its name); absent or empty = every connection.
    #[serde(default)]
    pub connection: Option<String>,
    /// Only this plugin's records and jobs; absent or empty = every plugin.
    #[serde(default)]
    pub plugin: Option<String>,
}

/// A token or grant just created: the only time its secret is shown.
#[derive(Debug, Serialize)]
pub(crate) struct Created {
    /// Row id.
    pub id: i64,
    /// The secret, shown once.
    pub token: String,
    /// Unix ms, if it expires.
    pub expires_at: Option<i64>,
}

fn scope_in(s: &str, allowed: &[Scope]) -> Result<Scope, ApiError> {
    Scope::parse(s)
        .filter(|scope| allowed.contains(scope))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            bad_request(format!(
                "invalid scope {s:?}: expected one of {}",
                names.join(", ")
            ))
        })
}

/// The fence a new token or grant asks for, with the connection named by the admin resolved
/// to its id (an unknown name is a 400, not a token fenced to nothing).
async fn fence_for(
    state: &AppState,
    connection: Option<String>,
    plugin: Option<String>,
) -> Result<Fence, ApiError> {
    let connection = connection
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let plugin = plugin
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    if plugin.as_ref().is_some_and(|p| p.chars().count() > 100) {
        return Err(bad_request("a plugin name has at most 100 characters"));
    }
    let connection_id = match connection {
        None => None,
        Some(name) => {
            let store = state.store.clone();
            let found = blocking(move || match store.connection(&name) {
                Ok(c) => Ok(Ok(c.id)),
                Err(crate::store::StoreError::NotFound(_)) => Ok(Err(name)),
                Err(e) => Err(e.into()),
            })
            .await?;
            Some(found.map_err(|name| {
                bad_request(format!(
                    "there is no connection named {name:?} to limit the token to"
                ))
            })?)
        }
    };
    Ok(Fence {
        connection_id,
        plugin,
    })
}

fn duration(s: &str) -> Result<i64, ApiError> {
    parse_duration(s).map_err(|e| bad_request(e.to_string()))
}

/// Creates an API token (admin).
pub(crate) async fn create_token(
    state: &AppState,
    actor: &Actor,
    req: NewToken,
) -> Result<Created, ApiError> {
    actor.require(Scope::Admin)?;
    let scope = scope_in(
        &req.scope,
        &[Scope::Admin, Scope::Operator, Scope::Read, Scope::Ingest],
    )?;
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(bad_request("a token needs a name of 1 to 100 characters"));
    }
    let expires_at = match req.expires_in.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => Some(now_ms() + duration(e)?),
    };
    let fence = fence_for(state, req.connection, req.plugin).await?;
    let store = state.store.clone();
    let who = actor.token.actor();
    let (id, token) = blocking(move || {
        Ok(store.create_fenced_token(false, scope, &name, None, expires_at, &fence, &who)?)
    })
    .await?;
    Ok(Created {
        id,
        token,
        expires_at,
    })
}

/// Revokes a token (admin); it is refused from its next request on.
pub(crate) async fn revoke_token(state: &AppState, actor: &Actor, id: i64) -> Result<(), ApiError> {
    actor.require(Scope::Admin)?;
    let store = state.store.clone();
    let who = actor.token.actor();
    blocking(move || Ok(store.revoke_tokens(Some(id), &who)?)).await?;
    Ok(())
}

async fn list_tokens(
    actor: Actor,
    State(state): State<AppState>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    actor.require(Scope::Admin)?;
    let store = state.store.clone();
    Ok(Json(
        blocking(move || Ok(store.list_tokens(Some(false))?)).await?,
    ))
}

async fn create_token_route(
    actor: Actor,
    State(state): State<AppState>,
    Json(req): Json<NewToken>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(create_token(&state, &actor, req).await?),
    ))
}

async fn revoke_token_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    revoke_token(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- support grants -----------------------------------------------------------------------

/// A support grant as listed, with its remaining time.
#[derive(Debug, Serialize)]
pub(crate) struct GrantView {
    /// The grant (never its secret).
    #[serde(flatten)]
    pub grant: TokenInfo,
    /// Usable now.
    pub active: bool,
    /// Milliseconds left while active.
    pub remaining_ms: Option<i64>,
}

/// A new grant's request body (the CLI's rules: at most 72 h, a reason).
#[derive(Debug, Deserialize)]
pub(crate) struct NewGrant {
    /// Who receives it.
    pub to: String,
    /// read or operator.
    pub scope: String,
    /// Lifetime such as `8h`.
    pub expires_in: String,
    /// Why (ticket number).
    pub reason: String,
    /// Only this connection's data (its name); absent or empty = every connection.
    #[serde(default)]
    pub connection: Option<String>,
    /// Only this plugin's records and jobs; absent or empty = every plugin.
    #[serde(default)]
    pub plugin: Option<String>,
}

/// Every grant, newest first.
pub(crate) async fn grants(state: &AppState) -> Result<Vec<GrantView>, ApiError> {
    let store = state.store.clone();
    let list = blocking(move || Ok(store.list_tokens(Some(true))?)).await?;
    let now = now_ms();
    Ok(list
        .into_iter()
        .map(|grant| {
            let active = grant.is_active(now);
            GrantView {
                remaining_ms: grant.expires_at.filter(|_| active).map(|e| e - now),
                active,
                grant,
            }
        })
        .collect())
}

/// Gives temporary support access (admin).
pub(crate) async fn create_grant(
    state: &AppState,
    actor: &Actor,
    req: NewGrant,
) -> Result<Created, ApiError> {
    actor.require(Scope::Admin)?;
    let scope = scope_in(&req.scope, &[Scope::Read, Scope::Operator])?;
    let ttl = duration(&req.expires_in)?;
    grant_rules(ttl, &req.expires_in, &req.reason).map_err(|e| bad_request(e.to_string()))?;
    let to = req.to.trim().to_string();
    if to.is_empty() || to.chars().count() > 100 {
        return Err(bad_request(
            "say who receives the access (1 to 100 characters), e.g. \"Jane Doe (Acme support)\"",
        ));
    }
    let reason = req.reason.trim().chars().take(500).collect::<String>();
    let expires_at = now_ms() + ttl;
    let fence = fence_for(state, req.connection, req.plugin).await?;
    let store = state.store.clone();
    let who = actor.token.actor();
    let (id, token) = blocking(move || {
        Ok(store.create_fenced_token(
            true,
            scope,
            &to,
            Some(&reason),
            Some(expires_at),
            &fence,
            &who,
        )?)
    })
    .await?;
    Ok(Created {
        id,
        token,
        expires_at: Some(expires_at),
    })
}

/// Revokes one grant, or every active grant with `None` (admin). Returns how many.
pub(crate) async fn revoke_grants(
    state: &AppState,
    actor: &Actor,
    id: Option<i64>,
) -> Result<usize, ApiError> {
    actor.require(Scope::Admin)?;
    if let Some(id) = id
        && !grants(state).await?.iter().any(|g| g.grant.id == id)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("support grant {id} not found"),
        ));
    }
    let store = state.store.clone();
    let who = actor.token.actor();
    blocking(move || Ok(store.revoke_tokens(id, &who)?)).await
}

async fn list_grants(
    actor: Actor,
    State(state): State<AppState>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    actor.require(Scope::Admin)?;
    Ok(Json(grants(&state).await?))
}

async fn create_grant_route(
    actor: Actor,
    State(state): State<AppState>,
    Json(req): Json<NewGrant>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(create_grant(&state, &actor, req).await?),
    ))
}

async fn revoke_grant_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = revoke_grants(&state, &actor, Some(id)).await?;
    Ok(Json(serde_json::json!({ "revoked": n })))
}

async fn revoke_all_grants_route(
    actor: Actor,
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = revoke_grants(&state, &actor, None).await?;
    Ok(Json(serde_json::json!({ "revoked": n })))
}

// ---- jobs and queue -----------------------------------------------------------------------

/// `?state=&connection=&limit=` for the job list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct JobQuery {
    /// Only this state.
    pub state: Option<String>,
    /// Only this connection id.
    pub connection: Option<i64>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
}

/// Jobs matching the query, newest first (read); only the caller's tenant's jobs.
pub(crate) async fn jobs(
    state: &AppState,
    actor: &Actor,
    q: &JobQuery,
) -> Result<Vec<JobView>, ApiError> {
    actor.require_scope(Scope::Read)?;
    let fence = actor.fence().clone();
    let connection = match (fence.connection_id, q.connection) {
        // Asking a fenced token for another connection's jobs finds none.
        (Some(mine), Some(asked)) if mine != asked => return Ok(Vec::new()),
        (Some(mine), _) => Some(mine),
        (None, asked) => asked,
    };
    let wanted = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(JobState::parse)
        .transpose()
        .map_err(|e| bad_request(format!("job {e}")))?;
    let filter = JobFilter {
        state: wanted,
        connection_id: connection,
        plugin: fence.plugin.clone(),
        limit: q.limit.unwrap_or(100).clamp(1, MAX_PAGE),
    };
    let store = state.store.clone();
    let mut list = blocking(move || Ok(store.list_jobs(&filter)?)).await?;
    // The store applied the fence; this only guards against a filter that forgot it.
    list.retain(|j| fence.admits(j.connection_id, Some(&j.plugin)));
    Ok(list)
}

/// One job with request, response and history (read); 404 outside the caller's tenant.
pub(crate) async fn job(state: &AppState, actor: &Actor, id: i64) -> Result<JobView, ApiError> {
    actor.require_scope(Scope::Read)?;
    let store = state.store.clone();
    let j = blocking(move || Ok(store.job(id)?)).await?;
    actor.require_in(
        Scope::Read,
        j.connection_id,
        Some(&j.plugin),
        &format!("job {id}"),
    )?;
    Ok(j)
}

/// What an operator may do to a job.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JobAction {
    /// Send it again.
    Retry,
    /// Stop it.
    Cancel,
}

/// Retries or cancels a job (operator); audited.
pub(crate) async fn act_on_job(
    state: &AppState,
    actor: &Actor,
    id: i64,
    action: JobAction,
) -> Result<(), ApiError> {
    actor.require_scope(Scope::Operator)?;
    let owner = job(state, actor, id).await?;
    actor.require_in(
        Scope::Operator,
        owner.connection_id,
        Some(&owner.plugin),
        &format!("job {id}"),
    )?;
    let store = state.store.clone();
    let entry = actor.audit(
        match action {
            JobAction::Retry => "job.retry",
            JobAction::Cancel => "job.cancel",
        },
        &format!("job:{id}"),
        serde_json::Value::Null,
    );
    blocking(move || {
        match action {
            JobAction::Retry => store.retry_job(id)?,
            JobAction::Cancel => store.cancel_job(id)?,
        }
        store.audit(&entry)?;
        Ok(())
    })
    .await
}

/// One connection's queue, counted and judged in plain language.
#[derive(Debug, Serialize)]
pub(crate) struct ConnectionHealth {
    /// Connection id.
    pub connection_id: i64,
    /// Jobs per state.
    pub counts: std::collections::BTreeMap<String, i64>,
    /// Age in ms of the oldest job waiting to be sent.
    pub oldest_waiting_ms: Option<i64>,
    /// Jobs whose outcome in QuickBooks is not known yet.
    pub in_doubt: i64,
    /// True when nothing needs an admin.
    pub healthy: bool,
    /// One sentence: does the sync work?
    pub summary: String,
    /// What needs attention, and what to do.
    pub warnings: Vec<String>,
}

/// A waiting job older than this suggests the Web Connector is not running.
pub(crate) const STALE_WAIT_MS: i64 = 3_600_000;

/// `3h 05m`, `12m`, `40s`.
pub(crate) fn human_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match (s / 3600, (s % 3600) / 60) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, m) => format!("{h}h {m:02}m"),
    }
}

fn assess(q: QueueStatus) -> ConnectionHealth {
    let counts: std::collections::BTreeMap<String, i64> = q.counts.into_iter().collect();
    let n = |s: &str| counts.get(s).copied().unwrap_or(0);
    let mut warnings = Vec::new();
    if n("discarded") > 0 {
        warnings.push(format!(
            "{} job(s) failed and will not be retried automatically: read the advice on each, fix the cause, then retry or cancel it.",
            n("discarded")
        ));
    }
    if n("held") > 0 {
        warnings.push(format!(
            "{} job(s) are held because a job they depend on failed or was cancelled.",
            n("held")
        ));
    }
    if n("in_doubt") > 0 {
        warnings.push(format!(
            "{} job(s) were sent but QuickBooks' answer never arrived; qbridge checks with QuickBooks on the next sync before sending anything again.",
            n("in_doubt")
        ));
    }
    if let Some(age) = q.oldest_waiting_ms.filter(|a| *a > STALE_WAIT_MS) {
        warnings.push(format!(
            "The oldest waiting job has waited {}: check that the Web Connector is running and its schedule is on.",
            human_duration(age)
        ));
    }
    let waiting = n("available") + n("retryable") + n("sent");
    let summary = if warnings.is_empty() {
        format!(
            "Syncing normally: {} completed, {waiting} on the way to QuickBooks.",
            n("completed")
        )
    } else {
        format!(
            "{} problem(s) below; {} completed so far.",
            warnings.len(),
            n("completed")
        )
    };
    ConnectionHealth {
        connection_id: q.connection_id,
        in_doubt: n("in_doubt"),
        healthy: warnings.is_empty(),
        oldest_waiting_ms: q.oldest_waiting_ms,
        counts,
        summary,
        warnings,
    }
}

/// Every connection's queue health (read); a fenced caller sees its connection only.
pub(crate) async fn queue_health(
    state: &AppState,
    actor: &Actor,
) -> Result<Vec<ConnectionHealth>, ApiError> {
    actor.require_scope(Scope::Read)?;
    let store = state.store.clone();
    let status = blocking(move || Ok(store.queue_status()?)).await?;
    let fence = actor.fence();
    // Counts mix every plugin of a connection, so a plugin-only fence sees none of them.
    Ok(status
        .into_iter()
        .filter(|q| fence.plugin.is_none() && fence.admits(q.connection_id, None))
        .map(assess)
        .collect())
}

async fn list_jobs_route(
    actor: Actor,
    State(state): State<AppState>,
    Query(q): Query<JobQuery>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    Ok(Json(jobs(&state, &actor, &q).await?))
}

async fn show_job(
    actor: Actor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(job(&state, &actor, id).await?))
}

async fn retry_job_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<JobView>, ApiError> {
    act_on_job(&state, &actor, id, JobAction::Retry).await?;
    Ok(Json(job(&state, &actor, id).await?))
}

async fn cancel_job_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<JobView>, ApiError> {
    act_on_job(&state, &actor, id, JobAction::Cancel).await?;
    Ok(Json(job(&state, &actor, id).await?))
}

async fn queue_route(
    actor: Actor,
    State(state): State<AppState>,
) -> Result<Json<Vec<ConnectionHealth>>, ApiError> {
    Ok(Json(queue_health(&state, &actor).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_and_minutes() {
        assert_eq!(human_duration(40_000), "40s");
        assert_eq!(human_duration(12 * 60_000), "12m");
        assert_eq!(human_duration(3 * 3_600_000 + 5 * 60_000), "3h 05m");
    }

    #[test]
    fn a_queue_with_failures_needs_attention_and_says_what_to_do() {
        let h = assess(QueueStatus {
            connection_id: 1,
            counts: vec![("completed".into(), 4), ("discarded".into(), 1)],
            oldest_waiting_ms: Some(2 * STALE_WAIT_MS),
            outcome_unknown: 0,
        });
        assert!(!h.healthy);
        assert_eq!(h.warnings.len(), 2, "{:?}", h.warnings);
        assert!(h.warnings[0].contains("retry or cancel"));
        assert!(h.warnings[1].contains("Web Connector is running"));
        let ok = assess(QueueStatus {
            connection_id: 1,
            counts: vec![("completed".into(), 4)],
            oldest_waiting_ms: None,
            outcome_unknown: 0,
        });
        assert!(ok.healthy && ok.summary.starts_with("Syncing normally"));
    }
}
