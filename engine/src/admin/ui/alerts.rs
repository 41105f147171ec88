//! The Alerts page: webhook and email destinations (add, test, delete) and the recent alert events with
//! where each delivery stands. Every action is the `alerts_api` operation the JSON API runs, so
//! scopes, the fence refusal and audit rows are the same.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;

use super::html::{esc, post_form, time};
use super::signed::{NoticeQuery, PageResult, Signed, notice_text, see_other};
use crate::admin::alerts_api::{self, EmailRequest, WebhookRequest};
use crate::admin::api::blocking;
use crate::admin::auth::ApiError;
use crate::state::AppState;
use crate::store::alerts::{AlertEvent, AlertKind, DeliveryState, DestinationKind};
use crate::store::tokens::Scope;

/// Events shown on the page.
const RECENT: u32 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(alerts).post(add_webhook))
        .route("/alerts/email", post(add_email))
        .route("/alerts/{id}/test", post(test_webhook))
        .route("/alerts/{id}/delete", post(delete_webhook))
}

/// A plain-language label for each kind.
fn label(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::ConnectionSilent => "No Web Connector contact for too long",
        AlertKind::JobFailed => "Job failed for good",
        AlertKind::ConnectionError => "Connection error",
        AlertKind::PluginCallGivenUp => "Deferred plugin call given up",
        AlertKind::PluginStaged => "Plugin waiting for approval",
        AlertKind::Test => "Test",
    }
}

/// One line on what an event is about, from its data (escaped; links to the job or plugin).
fn details(e: &AlertEvent) -> String {
    let text = |key: &str| esc(e.data[key].as_str().unwrap_or(""));
    let job = e.data["job_id"].as_i64().unwrap_or(0);
    match e.kind {
        AlertKind::ConnectionSilent => format!(
            "last contact {}",
            time(e.data["last_contact_at"].as_i64().unwrap_or(0))
        ),
        AlertKind::JobFailed => format!(
            "<a href=\"/jobs/{job}\">job {job}</a> ({} {}): {}",
            text("request_type"),
            text("key"),
            text("advice")
        ),
        AlertKind::ConnectionError => text("error"),
        AlertKind::PluginCallGivenUp => format!(
            "{} for <a href=\"/jobs/{job}\">job {job}</a>: {}",
            text("call"),
            text("error")
        ),
        AlertKind::PluginStaged => format!(
            "<a href=\"/plugins\">{} {}</a> waits for approval",
            text("plugin"),
            text("version")
        ),
        AlertKind::Test => format!("requested by {}", text("requested_by")),
    }
}

/// The connection select and one checkbox per kind, shared by both add forms (`prefix` keeps
/// their element ids apart).
fn choices(
    c: &mut String,
    prefix: &str,
    connections: &[crate::store::connections::ConnectionInfo],
) {
    let _ = write!(
        c,
        "<label for=\"{prefix}connection\">Connection</label><select id=\"{prefix}connection\" name=\"connection\"><option value=\"\">Every connection</option>"
    );
    for conn in connections {
        let _ = write!(
            c,
            "<option value=\"{}\">{}</option>",
            conn.id,
            esc(&conn.name)
        );
    }
    c.push_str("</select><fieldset><legend>Alerts</legend>");
    for kind in AlertKind::SUBSCRIBABLE {
        let field = kind.as_str().replace('.', "_");
        let _ = write!(
            c,
            "<label><input type=\"checkbox\" name=\"{field}\" value=\"on\" checked> {}</label>",
            label(kind)
        );
    }
    c.push_str("</fieldset>");
}

async fn page(
    s: &Signed,
    state: &AppState,
    shown: Option<String>,
    notice: Option<&str>,
) -> PageResult {
    let hooks = alerts_api::webhooks(state, &s.actor)
        .await
        .map_err(|e| s.failed("/alerts", e))?;
    let events = alerts_api::events(
        state,
        &s.actor,
        alerts_api::EventsQuery {
            connection: None,
            limit: Some(RECENT),
        },
    )
    .await
    .map_err(|e| s.failed("/alerts", e))?;
    let store = state.store.clone();
    let connections = blocking(move || Ok(store.connections()?))
        .await
        .map_err(|e| s.failed("/alerts", e))?;
    let name_of = |id: Option<i64>| match id {
        None => "every connection".to_string(),
        Some(id) => connections
            .iter()
            .find(|c| c.id == id)
            .map_or(format!("connection {id}"), |c| esc(&c.name)),
    };
    let admin = s.actor.token.scope.allows(Scope::Admin);
    let mut c = String::from(
        "<p class=\"lead\">qbridge sends an alert to each destination when a connection's Web Connector stops calling, a job fails for good, a connection reports an error, a deferred plugin call is given up or a plugin version waits for approval. Webhooks are signed (HMAC-SHA-256, header <code>X-Qbridge-Signature</code>); email goes as plain text through your SMTP relay. Each delivery is retried with back-off and recorded in the audit log.</p>",
    );
    if let Some(shown) = shown {
        c.push_str(&shown);
    }
    if admin {
        c.push_str("<form method=\"post\" action=\"/alerts\" class=\"stack\" autocomplete=\"off\"><h2>Add a webhook</h2>\
<label for=\"url\">URL</label><input id=\"url\" name=\"url\" type=\"url\" required maxlength=\"2048\" placeholder=\"https://hooks.example.com/qbridge\">");
        choices(&mut c, "", &connections);
        c.push_str("<label for=\"secret\">Signing secret (optional: leave empty and qbridge generates one)</label>\
<input id=\"secret\" name=\"secret\" type=\"password\" maxlength=\"256\" autocomplete=\"new-password\">\
<button type=\"submit\">Add webhook</button></form>");
        c.push_str("<form method=\"post\" action=\"/alerts/email\" class=\"stack\" autocomplete=\"off\"><h2>Add an email destination</h2>\
<p>Alerts are mailed through your SMTP relay: <code>smtps://</code> (TLS, port 465), or <code>smtp://</code> (port 25) which must offer STARTTLS unless the relay is on this machine. Put the relay's user name and password in the URL; they are sealed and never shown again.</p>\
<label for=\"smtp_url\">SMTP URL</label><input id=\"smtp_url\" name=\"smtp_url\" type=\"password\" required maxlength=\"2048\" autocomplete=\"new-password\" placeholder=\"smtps://user:password@mail.example.com\">\
<label for=\"from\">From</label><input id=\"from\" name=\"from\" type=\"email\" required maxlength=\"254\" placeholder=\"qbridge@example.com\">\
<label for=\"to\">To (one or more, separated by commas)</label><input id=\"to\" name=\"to\" type=\"text\" required maxlength=\"5200\" placeholder=\"ops@example.com, owner@example.com\">");
        choices(&mut c, "email-", &connections);
        c.push_str("<button type=\"submit\">Add email destination</button></form>");
    }
    c.push_str("<h2>Destinations</h2>");
    if hooks.is_empty() {
        c.push_str("<p>No destinations: alerts are recorded below but sent nowhere.</p>");
    } else {
        c.push_str("<table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Kind</th><th scope=\"col\">URL</th><th scope=\"col\">Connection</th><th scope=\"col\">Alerts</th><th scope=\"col\">Added</th><th scope=\"col\">Action</th></tr></thead><tbody>");
        for h in &hooks {
            let kinds: Vec<&str> = h.kinds.iter().map(|k| label(*k)).collect();
            let actions = if admin {
                format!(
                    "{}{}",
                    post_form(
                        &format!("/alerts/{}/test", h.id),
                        "inline",
                        &format!(
                            "<button type=\"submit\" aria-label=\"Send a test alert to destination {}\">Test</button>",
                            h.id
                        )
                    ),
                    post_form(
                        &format!("/alerts/{}/delete", h.id),
                        "inline",
                        &format!(
                            "<button type=\"submit\" class=\"danger\" aria-label=\"Delete destination {}\">Delete</button>",
                            h.id
                        )
                    )
                )
            } else {
                String::new()
            };
            let kind = match h.kind {
                DestinationKind::Webhook => "webhook",
                DestinationKind::Email => "email",
            };
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td><td>{} by {}</td><td>{actions}</td></tr>",
                h.id,
                esc(&h.url_shown),
                name_of(h.connection_id),
                esc(&kinds.join(", ")),
                time(h.created_at),
                esc(&h.created_by)
            );
        }
        c.push_str("</tbody></table>");
    }
    c.push_str("<h2>Recent alerts</h2>");
    if events.is_empty() {
        c.push_str("<p>No alerts yet.</p>");
    } else {
        c.push_str("<table><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\">Details</th><th scope=\"col\">Connection</th><th scope=\"col\">Deliveries</th></tr></thead><tbody>");
        for e in &events {
            let deliveries: Vec<String> = e
                .deliveries
                .iter()
                .map(|d| {
                    let state = match d.state {
                        DeliveryState::Pending => "pending",
                        DeliveryState::Delivered => "delivered",
                        DeliveryState::Failed => "failed",
                    };
                    let error = d
                        .last_error
                        .as_deref()
                        .filter(|_| d.state != DeliveryState::Delivered)
                        .map(|e| format!(" — {}", esc(e)))
                        .unwrap_or_default();
                    format!(
                        "destination {}: {state} after {} attempt(s){error}",
                        d.webhook_id, d.attempts
                    )
                })
                .collect();
            let deliveries = if deliveries.is_empty() {
                "none".to_string()
            } else {
                deliveries.join("<br>")
            };
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{deliveries}</td></tr>",
                esc(&e.id),
                time(e.at),
                label(e.kind),
                details(e),
                if e.connection_id.is_some() {
                    name_of(e.connection_id)
                } else {
                    "—".to_string()
                },
            );
        }
        c.push_str("</tbody></table>");
    }
    Ok(s.show("/alerts", "Alerts", notice, &c))
}

async fn alerts(
    s: Signed,
    State(state): State<AppState>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    page(&s, &state, None, notice_text(&nq)).await
}

/// The add form: one checkbox per kind (a form cannot send a list under one name to serde).
#[derive(Deserialize)]
struct WebhookForm {
    url: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    secret: String,
    #[serde(flatten)]
    ticked: Ticked,
}

/// The email form: recipients separated by commas.
#[derive(Deserialize)]
struct EmailForm {
    smtp_url: String,
    from: String,
    to: String,
    #[serde(default)]
    connection: String,
    #[serde(flatten)]
    ticked: Ticked,
}

/// The kinds ticked on an add form.
#[derive(Deserialize)]
struct Ticked {
    connection_silent: Option<String>,
    job_failed: Option<String>,
    connection_error: Option<String>,
    plugin_call_given_up: Option<String>,
    plugin_staged: Option<String>,
}

impl Ticked {
    fn kinds(&self) -> Vec<String> {
        [
            (AlertKind::ConnectionSilent, &self.connection_silent),
            (AlertKind::JobFailed, &self.job_failed),
            (AlertKind::ConnectionError, &self.connection_error),
            (AlertKind::PluginCallGivenUp, &self.plugin_call_given_up),
            (AlertKind::PluginStaged, &self.plugin_staged),
        ]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.as_str().to_string())
        .collect()
    }
}

/// The connection chosen on an add form.
fn chosen_connection(field: &str) -> Result<Option<i64>, ApiError> {
    match field.trim() {
        "" => Ok(None),
        id => id.parse::<i64>().map(Some).map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "choose a connection from the list",
            )
        }),
    }
}

async fn add_webhook(
    s: Signed,
    State(state): State<AppState>,
    Form(f): Form<WebhookForm>,
) -> PageResult {
    let kinds = f.ticked.kinds();
    let connection_id = chosen_connection(&f.connection).map_err(|e| s.failed("/alerts", e))?;
    let secret = f.secret.trim();
    let created = alerts_api::create_webhook(
        &state,
        &s.actor,
        WebhookRequest {
            url: Some(f.url),
            email: None,
            connection_id,
            kinds: Some(kinds),
            secret: (!secret.is_empty()).then(|| secret.to_string()),
        },
    )
    .await
    .map_err(|e| s.failed("/alerts", e))?;
    let shown = match created.secret {
        Some(secret) => format!(
            "<div class=\"secret-once\" role=\"status\"><p><strong>Webhook {} added.</strong> Its signing secret is shown only now; give it to the receiver so it can check each alert's signature.</p><label for=\"new-secret\">Signing secret</label><input id=\"new-secret\" readonly value=\"{}\" spellcheck=\"false\"></div>",
            created.webhook.id,
            esc(&secret)
        ),
        None => format!(
            "<p class=\"notice\" role=\"status\">Webhook {} added with the signing secret you chose.</p>",
            created.webhook.id
        ),
    };
    page(&s, &state, Some(shown), None).await
}

async fn add_email(
    s: Signed,
    State(state): State<AppState>,
    Form(f): Form<EmailForm>,
) -> PageResult {
    let kinds = f.ticked.kinds();
    let connection_id = chosen_connection(&f.connection).map_err(|e| s.failed("/alerts", e))?;
    let to =
        f.to.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
    let created = alerts_api::create_webhook(
        &state,
        &s.actor,
        WebhookRequest {
            url: None,
            email: Some(EmailRequest {
                smtp_url: f.smtp_url,
                from: f.from,
                to,
            }),
            connection_id,
            kinds: Some(kinds),
            secret: None,
        },
    )
    .await
    .map_err(|e| s.failed("/alerts", e))?;
    let shown = format!(
        "<p class=\"notice\" role=\"status\">Email destination {} added; send it a test alert to check the relay.</p>",
        created.webhook.id
    );
    page(&s, &state, Some(shown), None).await
}

async fn test_webhook(s: Signed, State(state): State<AppState>, Path(id): Path<i64>) -> PageResult {
    alerts_api::test_webhook(&state, &s.actor, id)
        .await
        .map_err(|e| s.failed("/alerts", e))?;
    Ok(see_other("/alerts?notice=alert-test-queued"))
}

async fn delete_webhook(
    s: Signed,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> PageResult {
    alerts_api::delete_webhook(&state, &s.actor, id)
        .await
        .map_err(|e| s.failed("/alerts", e))?;
    Ok(see_other("/alerts?notice=webhook-deleted"))
}
