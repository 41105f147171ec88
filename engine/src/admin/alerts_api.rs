//! `/api/v1/alerts/…`: webhook destinations (listed with read scope; added, deleted and
//! tested with admin scope, audited) and the recent alert events with their deliveries. Alerts
//! span every connection and their destinations receive data of all of them, so a token fenced
//! to one tenant is refused on every route here. An email destination is added on the same
//! route (`{"email": {...}}` instead of `url`) and deleted and tested like a webhook.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use super::api::{MAX_PAGE, blocking};
use super::auth::{Actor, ApiError};
use crate::alerts::{check_url, signing_secret};
use crate::logging::Redacted;
use crate::smtp::{MAX_RECIPIENTS, SmtpUrl, check_address};
use crate::state::AppState;
use crate::store::alerts::{AlertEvent, AlertKind, NewEmail, NewWebhook, Webhook};
use crate::store::secrets::SecretKey;
use crate::store::tokens::Scope;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/alerts/webhooks",
            get(list_route).post(create_route),
        )
        .route("/api/v1/alerts/webhooks/{id}", delete(delete_route))
        .route("/api/v1/alerts/webhooks/{id}/test", post(test_route))
        .route("/api/v1/alerts/events", get(events_route))
}

/// A new webhook's request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookRequest {
    /// `https://…` (plain http only to loopback); absent for an email destination.
    pub url: Option<String>,
    /// An email destination instead of a webhook.
    pub email: Option<EmailRequest>,
    /// Only this connection's alerts.
    pub connection_id: Option<i64>,
    /// Kinds to receive; absent: every kind.
    pub kinds: Option<Vec<String>>,
    /// The signing secret; absent: generated and returned once.
    pub secret: Option<String>,
}

/// The destination a request adds, checked.
enum Adding {
    /// A webhook and its signing secret.
    Webhook(NewWebhook, Redacted<String>),
    /// An email destination.
    Email(NewEmail),
}

/// An email destination: the relay, the sender and the recipients.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailRequest {
    /// `smtp://[user:password@]host[:port]` or `smtps://…`.
    pub smtp_url: String,
    /// The sender address.
    pub from: String,
    /// One or more recipient addresses.
    pub to: Vec<String>,
}

/// A created webhook: the generated secret appears here once and never again.
#[derive(Debug, Serialize)]
pub(crate) struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The generated signing secret (absent when the caller chose one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Every webhook destination, never their secrets (read, unfenced).
pub(crate) async fn webhooks(state: &AppState, actor: &Actor) -> Result<Vec<Webhook>, ApiError> {
    actor.require(Scope::Read)?;
    let store = state.store.clone();
    blocking(move || Ok(store.webhooks()?)).await
}

/// Adds a webhook destination (admin); audited.
pub(crate) async fn create_webhook(
    state: &AppState,
    actor: &Actor,
    req: WebhookRequest,
) -> Result<CreatedWebhook, ApiError> {
    actor.require(Scope::Admin)?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let kinds = match req.kinds {
        None => AlertKind::SUBSCRIBABLE.to_vec(),
        Some(names) => {
            let mut kinds = Vec::new();
            for name in names.iter().take(AlertKind::SUBSCRIBABLE.len() + 1) {
                let kind = AlertKind::parse(name)
                    .filter(|k| AlertKind::SUBSCRIBABLE.contains(k))
                    .ok_or_else(|| {
                        bad(format!(
                            "unknown alert kind {:?}; the kinds are {}",
                            name.chars().take(64).collect::<String>(),
                            AlertKind::SUBSCRIBABLE.map(AlertKind::as_str).join(", ")
                        ))
                    })?;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            kinds
        }
    };
    let (adding, shown_secret) = match (req.url, req.email) {
        (Some(url), None) => {
            let url = url.trim().to_string();
            check_url(&url).map_err(|e| bad(e.to_string()))?;
            let (secret, generated) = signing_secret(req.secret).map_err(|e| bad(e.to_string()))?;
            let new = NewWebhook {
                url: Redacted(url),
                connection_id: req.connection_id,
                kinds,
            };
            let shown = generated.then(|| secret.clone());
            (Adding::Webhook(new, Redacted(secret)), shown)
        }
        (None, Some(email)) => {
            if req.secret.is_some() {
                return Err(bad(
                    "an email destination has no signing secret; leave `secret` out".into(),
                ));
            }
            let new = email_destination(email, req.connection_id, kinds)
                .map_err(|e| bad(e.to_string()))?;
            (Adding::Email(new), None)
        }
        _ => {
            return Err(bad(
                "give either `url` (a webhook) or `email` (an email destination)".into(),
            ));
        }
    };
    let audit = actor.audit("alert.webhook_add", "webhook", serde_json::Value::Null);
    let store = state.store.clone();
    let key_path = state.config.secrets_key_path();
    let webhook = blocking(move || {
        let key = SecretKey::open(&key_path)?;
        let id = match &adding {
            Adding::Webhook(new, secret) => store.add_webhook(&key, new, &secret.0, &audit)?,
            Adding::Email(new) => store.add_email(&key, new, &audit)?,
        };
        let webhook = store
            .webhooks()?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "webhook vanished"))?;
        Ok((webhook, shown_secret))
    })
    .await?;
    Ok(CreatedWebhook {
        webhook: webhook.0,
        secret: webhook.1,
    })
}

/// Checks an email destination's URL and addresses; errors never quote the URL's password.
fn email_destination(
    req: EmailRequest,
    connection_id: Option<i64>,
    kinds: Vec<AlertKind>,
) -> Result<NewEmail, crate::smtp::SmtpError> {
    let invalid = |m: &str| crate::smtp::SmtpError::Invalid(m.to_string());
    let smtp_url = req.smtp_url.trim().to_string();
    let parsed = SmtpUrl::parse(&smtp_url)?;
    let from = req.from.trim().to_string();
    check_address(&from)?;
    if req.to.is_empty() {
        return Err(invalid("give at least one recipient in `to`"));
    }
    if req.to.len() > MAX_RECIPIENTS {
        return Err(invalid("at most 20 recipients"));
    }
    let mut to: Vec<String> = Vec::new();
    for address in &req.to {
        let address = address.trim().to_string();
        check_address(&address)?;
        if !to.contains(&address) {
            to.push(address);
        }
    }
    Ok(NewEmail {
        url_shown: parsed.shown(),
        smtp_url: Redacted(smtp_url),
        from,
        to,
        connection_id,
        kinds,
    })
}

/// Deletes a webhook destination (admin); audited.
pub(crate) async fn delete_webhook(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<(), ApiError> {
    actor.require(Scope::Admin)?;
    let audit = actor.audit(
        "alert.webhook_delete",
        &format!("webhook:{id}"),
        serde_json::Value::Null,
    );
    let store = state.store.clone();
    blocking(move || Ok(store.delete_webhook(id, &audit)?)).await
}

/// What a test request queued.
#[derive(Debug, Serialize)]
pub(crate) struct TestQueued {
    /// The test event's id (`X-Qbridge-Event`).
    pub event_id: String,
}

/// Queues a `test` event for one webhook (admin); audited. The alert loop sends it.
pub(crate) async fn test_webhook(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<TestQueued, ApiError> {
    actor.require(Scope::Admin)?;
    let audit = actor.audit(
        "alert.webhook_test",
        &format!("webhook:{id}"),
        serde_json::Value::Null,
    );
    let store = state.store.clone();
    let event_id = blocking(move || Ok(store.queue_test_alert(id, &audit)?)).await?;
    Ok(TestQueued { event_id })
}

/// `?connection=&limit=` for the events.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    /// Only this connection's events.
    pub connection: Option<i64>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
}

/// Recent alert events and where each delivery stands (read, unfenced).
pub(crate) async fn events(
    state: &AppState,
    actor: &Actor,
    q: EventsQuery,
) -> Result<Vec<AlertEvent>, ApiError> {
    actor.require(Scope::Read)?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE) as usize;
    let store = state.store.clone();
    blocking(move || Ok(store.alert_events(q.connection, limit)?)).await
}

async fn list_route(
    actor: Actor,
    State(state): State<AppState>,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    Ok(Json(webhooks(&state, &actor).await?))
}

async fn create_route(
    actor: Actor,
    State(state): State<AppState>,
    Json(req): Json<WebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(create_webhook(&state, &actor, req).await?),
    ))
}

async fn delete_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    delete_webhook(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test_route(
    actor: Actor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<TestQueued>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(test_webhook(&state, &actor, id).await?),
    ))
}

async fn events_route(
    actor: Actor,
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<AlertEvent>>, ApiError> {
    Ok(Json(events(&state, &actor, q).await?))
}
