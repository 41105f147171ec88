//! `/api/v1/plugins/{name}/config`: the settings of a plugin installation — the keys it
//! declares and the values set, plugin-wide or per connection. Documented in `openapi.json`.
//!
//! Reading needs scope `read`; a caller fenced to a connection sees the plugin-wide values and
//! its own connection's only, one fenced to another plugin nothing (404). Setting and removing
//! need scope `admin` — a value can complete a host template, and setting it is the admin's
//! approval of that host — and a fenced admin changes only its own connection's values
//! (plugin-wide values concern every connection: 403). The operations themselves are
//! `plugins::config_admin`'s; the web UI calls the functions here, so scopes and audit rows
//! are the same.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::{get, put};
use serde::Deserialize;

use super::api::blocking;
use super::auth::{Actor, ApiError};
use crate::plugins::config_admin::{self, ConfigError, ConfigView};
use crate::state::AppState;
use crate::store::audit::AuditEntry;
use crate::store::tokens::Scope;

/// The configuration routes (state: [`AppState`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/plugins/{name}/config", get(view_route))
        .route(
            "/api/v1/plugins/{name}/config/{key}",
            put(set_route).delete(unset_route),
        )
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
            ConfigError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            ConfigError::Store(e) => e.into(),
        }
    }
}

/// 404 for a caller fenced to another plugin, as if `plugin` were not installed.
fn require_plugin(actor: &Actor, plugin: &str) -> Result<(), ApiError> {
    match &actor.fence().plugin {
        Some(mine) if mine != plugin => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no plugin named {plugin} is installed"),
        )),
        _ => Ok(()),
    }
}

/// Who the audit row of a change names: the caller, its address and agent.
fn who(actor: &Actor) -> AuditEntry {
    AuditEntry {
        actor: actor.token.actor(),
        ip: actor.ip.clone(),
        user_agent: actor.user_agent.clone(),
        ..Default::default()
    }
}

/// The connection a change is for (`None`: plugin-wide), after the admin scope and the fence.
async fn changed_connection(
    state: &AppState,
    actor: &Actor,
    plugin: &str,
    connection: Option<String>,
) -> Result<Option<i64>, ApiError> {
    actor.require_scope(Scope::Admin)?;
    require_plugin(actor, plugin)?;
    let Some(name) = connection.filter(|c| !c.is_empty()) else {
        actor.require(Scope::Admin)?;
        return Ok(None);
    };
    let store = state.store.clone();
    let not_found = format!("connection {name:?} not found");
    let id = blocking(move || Ok(store.connection(&name).ok().map(|c| c.id)))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, not_found))?;
    actor.require_in(Scope::Admin, id, Some(plugin), "connection")?;
    Ok(Some(id))
}

/// The keys and values of `plugin` the caller may see (read scope).
pub(crate) async fn plugin_config(
    state: &AppState,
    actor: &Actor,
    plugin: String,
) -> Result<ConfigView, ApiError> {
    actor.require_scope(Scope::Read)?;
    require_plugin(actor, &plugin)?;
    let only = actor.fence().connection_id;
    let store = state.store.clone();
    blocking(move || Ok(config_admin::view(&store, &plugin, only)?)).await
}

/// Sets a value (admin); returns the hosts it completes.
pub(crate) async fn set_plugin_config(
    state: &AppState,
    actor: &Actor,
    plugin: String,
    key: String,
    connection: Option<String>,
    value: String,
) -> Result<Vec<String>, ApiError> {
    let connection = changed_connection(state, actor, &plugin, connection).await?;
    let store = state.store.clone();
    let who = who(actor);
    blocking(move || {
        Ok(config_admin::set(
            &store, &plugin, &key, connection, &value, who,
        )?)
    })
    .await
}

/// Removes a value (admin).
pub(crate) async fn unset_plugin_config(
    state: &AppState,
    actor: &Actor,
    plugin: String,
    key: String,
    connection: Option<String>,
) -> Result<(), ApiError> {
    let connection = changed_connection(state, actor, &plugin, connection).await?;
    let store = state.store.clone();
    let who = who(actor);
    blocking(move || Ok(config_admin::unset(&store, &plugin, &key, connection, who)?)).await
}

async fn view_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ConfigView>, ApiError> {
    Ok(Json(plugin_config(&state, &actor, name).await?))
}

/// `PUT …/config/{key}`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    /// The value.
    value: String,
    /// The connection's name; absent or null: plugin-wide.
    #[serde(default)]
    connection: Option<String>,
}

async fn set_route(
    actor: Actor,
    State(state): State<AppState>,
    Path((name, key)): Path<(String, String)>,
    Json(body): Json<SetBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let hosts = set_plugin_config(&state, &actor, name, key, body.connection, body.value).await?;
    Ok(Json(serde_json::json!({ "hosts": hosts })))
}

/// `?connection=NAME` on `DELETE …/config/{key}`.
#[derive(Debug, Default, Deserialize)]
struct UnsetQuery {
    connection: Option<String>,
}

async fn unset_route(
    actor: Actor,
    State(state): State<AppState>,
    Path((name, key)): Path<(String, String)>,
    Query(q): Query<UnsetQuery>,
) -> Result<StatusCode, ApiError> {
    unset_plugin_config(&state, &actor, name, key, q.connection).await?;
    Ok(StatusCode::NO_CONTENT)
}
