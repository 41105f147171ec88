//! Admin API for connections (company files), Web Connector users and pull schedules.
//!
//! Reads need `read` and list only the caller's tenant (a fenced token sees its connection);
//! changes need an unfenced `admin` and are audited as the API caller. Passwords
//! are returned once, by the call that creates or rotates them; they are never readable again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::api::blocking;
use super::auth::{Actor, ApiError};
use crate::qbwc::accounts::{self, AccountError};
use crate::schedule::Schedule;
use crate::state::AppState;
use crate::store::Store;
use crate::store::secrets::SecretKey;
use crate::store::source_accounts::shared_account_refusal;
use crate::store::tokens::Scope;

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/connections",
            get(list_connections).post(add_connection),
        )
        .route("/api/v1/connections/{name}/users", post(add_user))
        .route(
            "/api/v1/users/{username}/rotate-password",
            post(rotate_password),
        )
        .route("/api/v1/users/{username}/disable", post(disable_user))
        .route("/api/v1/schedules", get(list_schedules).post(add_schedule))
        .route("/api/v1/schedules/{id}", delete(remove_schedule))
        .route("/api/v1/schedules/{id}/run", post(run_schedule_now))
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(s) => s.into(),
            AccountError::InvalidName { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            }
            AccountError::Password(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

/// Runs a change on the blocking pool for a caller with scope `admin`, passing the audit
/// actor the store records it under.
async fn as_admin<T: Send + 'static>(
    state: &AppState,
    actor: &Actor,
    change: impl FnOnce(&Store, &str) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    actor.require(Scope::Admin)?;
    let store = state.store.clone();
    let who = actor.token.actor();
    blocking(move || change(&store, &who)).await
}

/// A Web Connector user as listed (never its password hash).
#[derive(serde::Serialize)]
struct UserView {
    username: String,
    disabled: bool,
    reported_path: Option<String>,
}

/// A connection as listed.
#[derive(serde::Serialize)]
struct ConnectionView {
    name: String,
    file_id: String,
    company_file: String,
    path_warning: Option<String>,
    last_error: Option<String>,
    users: Vec<UserView>,
}

async fn list_connections(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    actor.require_scope(Scope::Read)?;
    let fence = actor.fence().clone();
    let store = state.store.clone();
    let views = blocking(move || {
        let users = store.qbwc_users()?;
        Ok(store
            .connections()?
            .into_iter()
            .filter(|c| fence.admits(c.id, None))
            .map(|c| ConnectionView {
                users: users
                    .iter()
                    .filter(|u| u.connection_id == c.id)
                    .map(|u| UserView {
                        username: u.username.clone(),
                        disabled: u.disabled,
                        reported_path: u.reported_path.clone(),
                    })
                    .collect(),
                name: c.name,
                file_id: c.file_id,
                company_file: c.company_file,
                path_warning: c.path_warning,
                last_error: c.last_error.map(|(e, _)| e),
            })
            .collect())
    })
    .await?;
    Ok(Json(views))
}

#[derive(serde::Deserialize)]
struct NewConnection {
    name: String,
    #[serde(default)]
    company_file: String,
}

async fn add_connection(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<NewConnection>,
) -> Result<Response, ApiError> {
    let c = as_admin(&state, &actor, move |store, who| {
        Ok(accounts::add_connection(
            store,
            &body.name,
            &body.company_file,
            who,
        )?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"name": c.name, "file_id": c.file_id})),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
struct NewUser {
    username: String,
}

async fn add_user(
    State(state): State<AppState>,
    actor: Actor,
    Path(connection): Path<String>,
    Json(body): Json<NewUser>,
) -> Result<Response, ApiError> {
    let username = body.username.clone();
    let password = as_admin(&state, &actor, move |store, who| {
        Ok(accounts::add_user(store, &connection, &body.username, who)?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"username": username, "password": password, "shown_once": true})),
    )
        .into_response())
}

async fn rotate_password(
    State(state): State<AppState>,
    actor: Actor,
    Path(username): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = username.clone();
    let password = as_admin(&state, &actor, move |store, who| {
        Ok(accounts::rotate_password(store, &name, who)?)
    })
    .await?;
    Ok(Json(
        serde_json::json!({"username": username, "password": password, "shown_once": true}),
    ))
}

async fn disable_user(
    State(state): State<AppState>,
    actor: Actor,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    as_admin(&state, &actor, move |store, who| {
        Ok(store.disable_qbwc_user(&username, who)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_schedules(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    Ok(Json(schedules(&state, &actor).await?))
}

/// The pull schedules inside the caller's fence, each with the other connections (inside the
/// fence too) whose schedule pulls the same source account. Needs `read`.
pub(crate) async fn schedules(
    state: &AppState,
    actor: &Actor,
) -> Result<Vec<ScheduleView>, ApiError> {
    actor.require_scope(Scope::Read)?;
    let fence = actor.fence().clone();
    let store = state.store.clone();
    let key_path = state.config.secrets_key_path();
    let (list, shared) = blocking(move || {
        // Without a key file no secret is readable: no account is shared.
        let shared = if key_path.exists() {
            store.shared_source_accounts(&SecretKey::open(&key_path)?)?
        } else {
            Vec::new()
        };
        Ok((store.schedules()?, shared))
    })
    .await?;
    let views = list
        .into_iter()
        .filter(|s| fence.admits(s.connection_id, Some(&s.plugin)))
        .map(|row| {
            // Only connections inside the caller's fence are named: a tenant's token must not
            // learn other tenants' names.
            let shares_account_with = shared
                .iter()
                .filter(|a| a.plugin == row.plugin)
                .filter(|a| a.connections.iter().any(|(_, id)| *id == row.connection_id))
                .flat_map(|a| &a.connections)
                .filter(|(_, id)| *id != row.connection_id && fence.admits(*id, None))
                .map(|(name, _)| name.clone())
                .collect();
            ScheduleView {
                row,
                shares_account_with,
            }
        })
        .collect();
    Ok(views)
}

/// A schedule as the API lists it.
#[derive(serde::Serialize)]
pub(crate) struct ScheduleView {
    #[serde(flatten)]
    pub row: crate::store::schedules::ScheduleRow,
    /// Other connections whose schedule of the same plugin pulls the same source account
    /// (`store::source_accounts`), confirmed or come about through a later secret change.
    pub shares_account_with: Vec<String>,
}

/// A schedule to add (the API's JSON body; the Schedules page's form).
#[derive(serde::Deserialize)]
pub(crate) struct NewSchedule {
    pub connection: String,
    pub plugin: String,
    pub cron: String,
    pub timezone: Option<String>,
    /// Where the pull starts, in the plugin's cursor format.
    pub cursor: Option<String>,
    /// Confirms pulling the same source account as another connection's schedule.
    #[serde(default)]
    pub shared_account: bool,
}

async fn add_schedule(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<NewSchedule>,
) -> Result<Response, ApiError> {
    let (id, next) = add_schedule_op(&state, &actor, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"id": id, "next_run_at": next})),
    )
        .into_response())
}

/// Adds a pull schedule (unfenced admin): the cron expression and timezone checked, the
/// plugin able to pull, and a source account another connection's schedule already pulls
/// refused (409) unless `shared_account` confirms it. Returns the id and the next run.
pub(crate) async fn add_schedule_op(
    state: &AppState,
    actor: &Actor,
    body: NewSchedule,
) -> Result<(i64, Option<i64>), ApiError> {
    actor.require(Scope::Admin)?;
    let tz = body
        .timezone
        .unwrap_or_else(|| state.config.firm_timezone.clone());
    let schedule = Schedule::parse(&body.cron, &tz)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    if state
        .plugins
        .manifest(&body.plugin)
        .is_none_or(|m| !m.supports_pull)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "plugin {} is not running or cannot pull records",
                body.plugin
            ),
        ));
    }
    let store = state.store.clone();
    let who = actor.token.actor();
    let next = schedule
        .next_after(chrono::Utc::now())
        .map(|t| t.timestamp_millis());
    let key_path = state.config.secrets_key_path();
    let id = blocking(move || {
        let connection = store.connection(&body.connection)?;
        // Without a key file no secret is readable: there is no account to compare.
        let shared_with = if key_path.exists() {
            let key = SecretKey::open(&key_path)?;
            store.connections_sharing_account(&key, &body.plugin, connection.id)?
        } else {
            Vec::new()
        };
        if !shared_with.is_empty() && !body.shared_account {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                shared_account_refusal(
                    &body.plugin,
                    &connection.name,
                    &shared_with,
                    r#""shared_account": true"#,
                ),
            ));
        }
        Ok(store.add_schedule(
            connection.id,
            &body.plugin,
            schedule.expression(),
            &tz,
            next,
            body.cursor.as_deref(),
            &shared_with,
            &who,
        )?)
    })
    .await?;
    Ok((id, next))
}

async fn remove_schedule(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    remove_schedule_op(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a schedule (unfenced admin, audited).
pub(crate) async fn remove_schedule_op(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<(), ApiError> {
    as_admin(state, actor, move |store, who| {
        Ok(store.remove_schedule(id, who)?)
    })
    .await
}

async fn run_schedule_now(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    run_schedule_op(&state, &actor, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// "Pull now" (unfenced admin, audited): the scheduler runs the schedule at its next check
/// (within `pipeline.schedule_check_secs`).
pub(crate) async fn run_schedule_op(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<(), ApiError> {
    as_admin(state, actor, move |store, who| {
        Ok(store.run_schedule_now(id, who)?)
    })
    .await
}
