//! The plugins admin API: list every installed version with its QuickBooks permission areas,
//! install a component into the running server (hot swap, or staged when it asks for more),
//! approve a staged version, roll back, remove. Documented in `openapi.json`.
//!
//! The [`PluginManager`](crate::plugins::PluginManager) writes the audit row of every change
//! itself (in the same transaction as the change); these routes hand it the API actor so the
//! row names the token that made it. Installing compiles the component, so it runs on a
//! blocking thread.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Json;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::api::blocking;
use super::auth::{Actor, ApiError};
use crate::plugins::{Escalation, InstallOutcome, PermissionArea, PluginError, permission_areas};
use crate::state::AppState;
use crate::store::PluginStatus;
use crate::store::tokens::Scope;

/// Largest component body accepted by `POST /api/v1/plugins`.
pub(crate) const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Header carrying the text of the component's minisign `.minisig` file.
pub(crate) const SIGNATURE_HEADER: &str = "x-qbridge-signature";
/// Longest signature header accepted (a minisign file is about 300 bytes).
const MAX_SIGNATURE_BYTES: usize = 4096;

/// The plugin routes (state: [`AppState`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/plugins",
            get(list_route)
                .post(install_route)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            "/api/v1/plugins/{name}/versions/{version}/approve",
            post(approve_route),
        )
        .route("/api/v1/plugins/{name}/rollback", post(rollback_route))
        .route(
            "/api/v1/plugins/{name}",
            axum::routing::delete(remove_route),
        )
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::Store(e) => e.into(),
            PluginError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            e @ (PluginError::Invalid(_)
            | PluginError::Signature(_)
            | PluginError::UnsupportedInterface { .. }
            | PluginError::BadOutput { .. }
            | PluginError::Failed { .. }
            | PluginError::Trap { .. }
            | PluginError::Panic { .. }
            | PluginError::Timeout { .. }
            | PluginError::Memory { .. }) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            e @ PluginError::Host(_) => {
                tracing::error!(error = %e, "plugin host failed in admin API");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

/// A QuickBooks permission area, with its Enterprise and Pro/Premier names.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AreaView {
    /// Enterprise role area.
    pub name: String,
    /// Pro/Premier "Set Up User" area.
    pub pro_name: String,
}

/// The QuickBooks areas a list of request types needs.
pub(crate) fn areas<'a>(request_types: impl IntoIterator<Item = &'a str>) -> Vec<AreaView> {
    permission_areas(request_types)
        .into_iter()
        .map(area_view)
        .collect()
}

fn area_view(a: PermissionArea) -> AreaView {
    AreaView {
        name: a.to_string(),
        pro_name: a.pro_name().to_string(),
    }
}

/// What a staged version asks for beyond the running one.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EscalationView {
    /// Request types not declared before.
    pub request_types: Vec<String>,
    /// Hosts not declared before.
    pub allowed_hosts: Vec<String>,
    /// Secrets not declared before.
    pub secrets: Vec<String>,
    /// QuickBooks areas the new request types need.
    pub permission_areas: Vec<AreaView>,
}

impl From<Escalation> for EscalationView {
    fn from(e: Escalation) -> Self {
        EscalationView {
            permission_areas: areas(e.request_types.iter().map(String::as_str)),
            request_types: e.request_types,
            allowed_hosts: e.allowed_hosts,
            secrets: e.secrets,
        }
    }
}

/// One installed version.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PluginView {
    /// Plugin name.
    pub name: String,
    /// Version.
    pub version: String,
    /// active, staged, previous or removed.
    pub status: String,
    /// SHA-256 of the component (hex).
    pub sha256: String,
    /// Who installed it.
    pub installed_by: String,
    /// Unix ms.
    pub installed_at: i64,
    /// Request types it declares.
    pub request_types: Vec<String>,
    /// Hosts it may call.
    pub allowed_hosts: Vec<String>,
    /// Secrets it reads.
    pub secrets: Vec<String>,
    /// Settings it declares (values: `/api/v1/plugins/{name}/config`).
    pub config: Vec<qbridge_sdk::ConfigKey>,
    /// QuickBooks areas its request types need.
    pub permission_areas: Vec<AreaView>,
    /// For a staged version: what it adds to the running one.
    pub escalation: Option<EscalationView>,
}

/// Every installed version, by plugin name then install order (read scope).
pub(crate) async fn list_plugins(
    state: &AppState,
    actor: &Actor,
) -> Result<Vec<PluginView>, ApiError> {
    actor.require(Scope::Read)?;
    let manager = state.plugins.clone();
    let versions = blocking(move || Ok(manager.list()?)).await?;
    Ok(versions
        .iter()
        .map(|v| {
            let escalation = (v.status == PluginStatus::Staged).then(|| {
                let running = versions
                    .iter()
                    .find(|a| a.name == v.name && a.status == PluginStatus::Active);
                match running {
                    Some(a) => Escalation::between(&a.manifest, &v.manifest),
                    None => Escalation {
                        request_types: v.manifest.request_types.clone(),
                        allowed_hosts: v.manifest.allowed_hosts.clone(),
                        secrets: v.manifest.secrets.clone(),
                    },
                }
                .into()
            });
            PluginView {
                name: v.name.clone(),
                version: v.version.clone(),
                status: v.status.to_string(),
                sha256: v.sha256.clone(),
                installed_by: v.installed_by.clone(),
                installed_at: v.installed_at,
                request_types: v.manifest.request_types.clone(),
                allowed_hosts: v.manifest.allowed_hosts.clone(),
                secrets: v.manifest.secrets.clone(),
                config: v.manifest.config.clone(),
                permission_areas: areas(v.manifest.request_types.iter().map(String::as_str)),
                escalation,
            }
        })
        .collect())
}

/// What an install did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum InstallView {
    /// The version runs now.
    Activated {
        name: String,
        version: String,
        replaced: Option<String>,
    },
    /// The version waits for approval of what it adds.
    Staged {
        name: String,
        version: String,
        escalation: EscalationView,
    },
    /// Exactly this component already runs.
    AlreadyActive { name: String, version: String },
    /// A `-dev` build replaced its version in place (`?dev=true`); `approved` is what it
    /// asks for beyond the running version, approved with the install.
    DevInstalled {
        name: String,
        version: String,
        replaced: Option<String>,
        approved: EscalationView,
    },
}

impl From<InstallOutcome> for InstallView {
    fn from(o: InstallOutcome) -> Self {
        match o {
            InstallOutcome::Activated {
                name,
                version,
                replaced,
            } => InstallView::Activated {
                name,
                version,
                replaced,
            },
            InstallOutcome::Staged {
                name,
                version,
                escalation,
            } => InstallView::Staged {
                name,
                version,
                escalation: escalation.into(),
            },
            InstallOutcome::AlreadyActive { name, version } => {
                InstallView::AlreadyActive { name, version }
            }
            InstallOutcome::DevInstalled {
                name,
                version,
                replaced,
                approved,
            } => InstallView::DevInstalled {
                name,
                version,
                replaced,
                approved: approved.into(),
            },
        }
    }
}

/// Installs a component into the running server (admin): the new version serves the next
/// call, or is staged when it asks for more than the running one. With `dev`, a `-dev`
/// build replaces its version in place and its permission growth is approved with it: only
/// an admin can install at all, and an admin could approve the growth anyway.
pub(crate) async fn install_plugin(
    state: &AppState,
    actor: &Actor,
    wasm: Bytes,
    signature: Option<String>,
    dev: bool,
) -> Result<InstallView, ApiError> {
    actor.require(Scope::Admin)?;
    if wasm.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request body is empty: send the component's .wasm bytes",
        ));
    }
    let manager = state.plugins.clone();
    let who = actor.token.actor();
    let outcome = blocking(move || {
        Ok(if dev {
            manager.install_dev(&wasm, signature.as_deref(), &who)?
        } else {
            manager.install(&wasm, signature.as_deref(), &who)?
        })
    })
    .await?;
    Ok(outcome.into())
}

/// Approves a staged version (admin); it starts running.
pub(crate) async fn approve_plugin(
    state: &AppState,
    actor: &Actor,
    name: String,
    version: String,
) -> Result<(), ApiError> {
    actor.require(Scope::Admin)?;
    let manager = state.plugins.clone();
    let who = actor.token.actor();
    blocking(move || Ok(manager.approve(&name, &version, &who)?)).await
}

/// Goes back to the previous version (admin); returns the version now running.
pub(crate) async fn rollback_plugin(
    state: &AppState,
    actor: &Actor,
    name: String,
) -> Result<String, ApiError> {
    actor.require(Scope::Admin)?;
    let manager = state.plugins.clone();
    let who = actor.token.actor();
    blocking(move || Ok(manager.rollback(&name, &who)?)).await
}

/// Stops and removes a plugin (admin).
pub(crate) async fn remove_plugin(
    state: &AppState,
    actor: &Actor,
    name: String,
) -> Result<(), ApiError> {
    actor.require(Scope::Admin)?;
    let manager = state.plugins.clone();
    let who = actor.token.actor();
    blocking(move || Ok(manager.remove(&name, &who)?)).await
}

async fn list_route(
    actor: Actor,
    State(state): State<AppState>,
) -> Result<Json<Vec<PluginView>>, ApiError> {
    Ok(Json(list_plugins(&state, &actor).await?))
}

/// The query of `POST /api/v1/plugins`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallQuery {
    /// The dev loop: replace a `-dev` version in place.
    #[serde(default)]
    dev: bool,
}

async fn install_route(
    actor: Actor,
    State(state): State<AppState>,
    Query(query): Query<InstallQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<InstallView>), ApiError> {
    actor.require(Scope::Admin)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/wasm")
        && !media.eq_ignore_ascii_case("application/octet-stream")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "send the component as the raw body with `Content-Type: application/wasm` (got {content_type:?})"
            ),
        ));
    }
    let signature = match headers.get(SIGNATURE_HEADER) {
        None => None,
        Some(v) if v.len() > MAX_SIGNATURE_BYTES => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the {SIGNATURE_HEADER} header is longer than {MAX_SIGNATURE_BYTES} bytes; send the text of the .minisig file"),
            ));
        }
        Some(v) => Some(decode_signature(v.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the {SIGNATURE_HEADER} header is not text; send the .minisig file with its newlines escaped as \\n"),
            )
        })?)),
    };
    let view = install_plugin(&state, &actor, body, signature, query.dev).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A `.minisig` file spans several lines, which a header cannot carry: clients send it with
/// each newline written as the two characters `\n`.
pub(crate) fn decode_signature(header: &str) -> String {
    header.replace("\\n", "\n")
}

/// The inverse of [`decode_signature`], for clients.
pub(crate) fn encode_signature(minisig: &str) -> String {
    minisig.replace("\r\n", "\n").replace('\n', "\\n")
}

async fn approve_route(
    actor: Actor,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    approve_plugin(&state, &actor, name.clone(), version.clone()).await?;
    Ok(Json(
        serde_json::json!({"name": name, "version": version, "status": "active"}),
    ))
}

async fn rollback_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let version = rollback_plugin(&state, &actor, name.clone()).await?;
    Ok(Json(
        serde_json::json!({"name": name, "version": version, "status": "active"}),
    ))
}

async fn remove_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    remove_plugin(&state, &actor, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_line_signature_survives_the_header_round_trip() {
        let minisig = "untrusted comment: signature\nRWQ+abc\ntrusted comment: t\nxyz\n";
        let header = encode_signature(minisig);
        assert!(!header.contains('\n'));
        assert_eq!(decode_signature(&header), minisig);
    }
}
