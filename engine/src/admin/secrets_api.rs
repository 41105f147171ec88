//! Write-only source secrets under `/api/v1/secrets`: plain values and OAuth2
//! client-credentials grants, plugin-wide or for one connection; names and kinds are listed,
//! values never leave the engine.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::{get, put};
use serde::Deserialize;

use super::api::{bad_request, blocking};
use super::auth::{Actor, ApiError};
use crate::logging::Redacted;
use crate::state::AppState;
use crate::store::secrets::{ClientCredentials, SecretKey, SecretName};
use crate::store::tokens::Scope;

/// The secrets routes (state: [`AppState`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/secrets", get(list_secrets_route))
        .route(
            "/api/v1/secrets/{plugin}/{name}",
            put(set_secret_route).delete(delete_secret_route),
        )
}

/// A secret's request body: a plain `value`, or an OAuth2 client-credentials grant the host
/// turns into access tokens. Exactly one of the two.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretBody {
    /// The value; stored encrypted, never returned.
    #[serde(default)]
    pub value: Option<String>,
    /// The grant; stored encrypted, never returned.
    #[serde(default)]
    pub oauth2_client_credentials: Option<GrantBody>,
}

/// An OAuth2 client-credentials grant as the API accepts it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    /// The source's token endpoint (https).
    pub token_url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Space-separated scopes, if the source wants them named.
    #[serde(default)]
    pub scope: Option<String>,
}

/// Names and kinds of stored secrets (admin); never values.
pub(crate) async fn secret_names(
    state: &AppState,
    actor: &Actor,
) -> Result<Vec<SecretName>, ApiError> {
    actor.require(Scope::Admin)?;
    let store = state.store.clone();
    let key_path = state.config.secrets_key_path();
    blocking(move || {
        let key = SecretKey::open(&key_path)?;
        Ok(store.secret_names(&key, None)?)
    })
    .await
}

/// Stores a plain secret value (admin); the key file is opened (or created) on use.
pub(crate) async fn set_secret(
    state: &AppState,
    actor: &Actor,
    plugin: String,
    name: String,
    connection: Option<i64>,
    value: String,
) -> Result<(), ApiError> {
    actor.require(Scope::Admin)?;
    let store = state.store.clone();
    let key_path = state.config.secrets_key_path();
    let who = actor.token.actor();
    blocking(move || {
        let key = SecretKey::open(&key_path)?;
        Ok(store.set_secret(&key, &plugin, &name, connection, &value, &who)?)
    })
    .await
}

/// Stores an OAuth2 client-credentials grant (admin). Its token URL must be https (or name a
/// host listed in `source_endpoints`).
pub(crate) async fn set_secret_grant(
    state: &AppState,
    actor: &Actor,
    plugin: String,
    name: String,
    connection: Option<i64>,
    grant: ClientCredentials,
) -> Result<(), ApiError> {
    actor.require(Scope::Admin)?;
    state
        .config
        .source_endpoints
        .check_token_url(&grant.token_url)
        .map_err(bad_request)?;
    let store = state.store.clone();
    let key_path = state.config.secrets_key_path();
    let who = actor.token.actor();
    blocking(move || {
        let key = SecretKey::open(&key_path)?;
        Ok(store.set_secret_grant(&key, &plugin, &name, connection, &grant, &who)?)
    })
    .await
}

/// Deletes a secret (admin).
pub(crate) async fn delete_secret(
    state: &AppState,
    actor: &Actor,
    plugin: String,
    name: String,
    connection: Option<i64>,
) -> Result<(), ApiError> {
    actor.require(Scope::Admin)?;
    let store = state.store.clone();
    let who = actor.token.actor();
    blocking(move || Ok(store.delete_secret(&plugin, &name, connection, &who)?)).await
}

/// `?connection=NAME` on the secret routes: that connection's own secret.
#[derive(Debug, Default, Deserialize)]
struct SecretQuery {
    connection: Option<String>,
}

/// The id of the connection a secret route names (admin checked first), if it names one.
async fn secret_connection(
    state: &AppState,
    actor: &Actor,
    q: SecretQuery,
) -> Result<Option<i64>, ApiError> {
    actor.require(Scope::Admin)?;
    let Some(name) = q.connection else {
        return Ok(None);
    };
    let store = state.store.clone();
    blocking(move || {
        store
            .connection(&name)
            .map(|c| Some(c.id))
            .map_err(|_| bad_request(format!("no connection {name:?}")))
    })
    .await
}

async fn list_secrets_route(
    actor: Actor,
    State(state): State<AppState>,
) -> Result<Json<Vec<SecretName>>, ApiError> {
    Ok(Json(secret_names(&state, &actor).await?))
}

async fn set_secret_route(
    actor: Actor,
    State(state): State<AppState>,
    Path((plugin, name)): Path<(String, String)>,
    Query(q): Query<SecretQuery>,
    Json(body): Json<SecretBody>,
) -> Result<StatusCode, ApiError> {
    let connection = secret_connection(&state, &actor, q).await?;
    match (body.value, body.oauth2_client_credentials) {
        (Some(value), None) => set_secret(&state, &actor, plugin, name, connection, value).await?,
        (None, Some(g)) => {
            let grant = ClientCredentials {
                token_url: g.token_url,
                client_id: g.client_id,
                client_secret: Redacted(g.client_secret),
                scope: g.scope.filter(|s| !s.is_empty()),
            };
            set_secret_grant(&state, &actor, plugin, name, connection, grant).await?
        }
        _ => {
            // Scope first: a caller without admin rights learns nothing about the body.
            actor.require(Scope::Admin)?;
            return Err(bad_request(
                "give exactly one of `value` (a plain secret) or `oauth2_client_credentials` ({token_url, client_id, client_secret, scope})",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_secret_route(
    actor: Actor,
    State(state): State<AppState>,
    Path((plugin, name)): Path<(String, String)>,
    Query(q): Query<SecretQuery>,
) -> Result<StatusCode, ApiError> {
    let connection = secret_connection(&state, &actor, q).await?;
    delete_secret(&state, &actor, plugin, name, connection).await?;
    Ok(StatusCode::NO_CONTENT)
}
