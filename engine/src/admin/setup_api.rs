//! Web Connector setup: `GET /qwc/{user}` (the `.qwc` file the Web Connector adds an
//! application from) and the overview the setup page shows — each connection with its users,
//! path warnings and last error, and the QuickBooks permission areas the active plugins need
//! (research/qbwc-protocol.md §6: the dedicated QuickBooks user's checklist).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::api::blocking;
use super::auth::{Actor, ApiError};
use super::plugins_api::{AreaView, areas};
use crate::qbwc::{QwcError, qwc_for_user};
use crate::state::AppState;
use crate::store::PluginStatus;
use crate::store::connections::{ConnectionInfo, QbwcUser};
use crate::store::tokens::Scope;

/// The setup routes (state: [`AppState`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/qwc/{user}", get(qwc_route))
}

impl From<QwcError> for ApiError {
    fn from(e: QwcError) -> Self {
        match e {
            QwcError::Store(e) => e.into(),
            e @ QwcError::UnknownUser(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            // The server's configuration, not the request, is what must change.
            e @ (QwcError::Insecure(_) | QwcError::NoPublicUrl(_)) => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
        }
    }
}

/// The `.qwc` file of Web Connector user `username` (admin; audited as `qwc.download`).
pub(crate) async fn qwc_file(
    state: &AppState,
    actor: &Actor,
    username: String,
) -> Result<String, ApiError> {
    actor.require(Scope::Admin)?;
    let store = state.store.clone();
    let config = state.config.clone();
    let entry = actor.audit(
        "qwc.download",
        &format!("qbwc_user:{username}"),
        serde_json::Value::Null,
    );
    blocking(move || {
        let qwc = qwc_for_user(&store, &config, &username)?;
        store.audit(&entry)?;
        Ok(qwc)
    })
    .await
}

/// A file name for the download: the user name with anything but `[A-Za-z0-9_.-]` replaced,
/// so the header stays valid whatever the name holds.
fn file_name(username: &str) -> String {
    let safe: String = username
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.qwc")
}

async fn qwc_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let name = file_name(&user);
    let qwc = qwc_file(&state, &actor, user).await?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "bad file name"))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        qwc,
    )
        .into_response())
}

/// One connection and its Web Connector users.
pub(crate) struct ConnectionSetup {
    /// The connection.
    pub connection: ConnectionInfo,
    /// Its users, by name.
    pub users: Vec<QbwcUser>,
}

/// Everything the setup page shows.
pub(crate) struct SetupOverview {
    /// Connections by name.
    pub connections: Vec<ConnectionSetup>,
    /// QuickBooks areas the active plugins need together.
    pub areas: Vec<AreaView>,
    /// Names of the active plugins the areas come from.
    pub plugins: Vec<String>,
}

/// The setup overview (read scope).
pub(crate) async fn setup_overview(
    state: &AppState,
    actor: &Actor,
) -> Result<SetupOverview, ApiError> {
    // A fenced caller sees its own connection (the plugins' areas are instance-wide facts
    // the dedicated QuickBooks user's checklist needs, not another tenant's data).
    actor.require_scope(Scope::Read)?;
    let fence = actor.fence().clone();
    let store = state.store.clone();
    let manager = state.plugins.clone();
    blocking(move || {
        let users = store.qbwc_users()?;
        let connections = store
            .connections()?
            .into_iter()
            .filter(|c| fence.admits(c.id, None))
            .map(|connection| ConnectionSetup {
                users: users
                    .iter()
                    .filter(|u| u.connection_id == connection.id)
                    .cloned()
                    .collect(),
                connection,
            })
            .collect();
        let active: Vec<_> = manager
            .list()?
            .into_iter()
            .filter(|v| v.status == PluginStatus::Active)
            .collect();
        Ok(SetupOverview {
            connections,
            areas: areas(
                active
                    .iter()
                    .flat_map(|v| v.manifest.request_types.iter().map(String::as_str)),
            ),
            plugins: active.into_iter().map(|v| v.name).collect(),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_keep_only_safe_characters() {
        assert_eq!(file_name("acme-sync_1"), "acme-sync_1.qwc");
        assert_eq!(file_name("a\"b\r\n/c"), "a_b___c.qwc");
    }
}
