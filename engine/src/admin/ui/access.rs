//! Who may reach qbridge: support access grants (temporary, audited), API tokens, and the
//! source secrets plugins use. A new token's or grant's secret is shown once, in place.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::active_grants;
use super::html::{Button, action_button, countdown, esc, post_form, table_head, time, url_part};
use super::signed::{NoticeQuery, PageResult, Signed, notice_text, see_other};
use crate::admin::api::{self, NewGrant, NewToken};
use crate::admin::auth::ApiError;
use crate::admin::secrets_api;
use crate::logging::Redacted;
use crate::state::AppState;
use crate::store::secrets::{ClientCredentials, SecretKind};
use crate::store::tokens::Scope;

/// Support, token and secret pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/support", get(support).post(grant))
        .route("/support/{id}/revoke", post(revoke_grant))
        .route("/support/revoke-all", post(revoke_all))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
        .route("/secrets", get(secrets).post(set_secret))
        .route("/secrets/grant", post(set_secret_grant))
        .route("/secrets/{plugin}/{name}/delete", post(delete_secret))
}

// ---- support access ---------------------------------------------------------------------

/// A secret shown once after creation.
fn shown_once(what: &str, secret: &str) -> String {
    format!(
        "<div class=\"secret-once\" role=\"status\"><p><strong>{}</strong> It is shown only now; copy it and hand it over through a safe channel.</p><label for=\"new-secret\">Token</label><input id=\"new-secret\" readonly value=\"{}\" spellcheck=\"false\"></div>",
        esc(what),
        esc(secret)
    )
}

async fn support_page(
    s: &Signed,
    state: &AppState,
    created: Option<String>,
    notice: Option<&str>,
) -> PageResult {
    s.actor
        .require(Scope::Admin)
        .map_err(|e| s.failed("/support", e))?;
    let list = api::grants(state)
        .await
        .map_err(|e| s.failed("/support", e))?;
    let mut c = created.unwrap_or_default();
    c.push_str("<p class=\"lead\">Give a vendor's support engineer temporary access. Every request they make is written to the audit log; access ends by itself (at most 72 hours) and can be revoked at any time.</p>");
    c.push_str("<form method=\"post\" action=\"/support\" class=\"stack\"><h2>Grant access</h2>\
<label for=\"to\">Who receives it</label><input id=\"to\" name=\"to\" required maxlength=\"100\" placeholder=\"Jane Doe (Acme support)\">\
<label for=\"scope\">Access</label><select id=\"scope\" name=\"scope\"><option value=\"read\">read: look at jobs and the audit log</option><option value=\"operator\">operator: also retry and cancel jobs</option></select>\
<label for=\"expires_in\">For</label><select id=\"expires_in\" name=\"expires_in\"><option value=\"1h\">1 hour</option><option value=\"4h\">4 hours</option><option value=\"8h\" selected>8 hours</option><option value=\"24h\">24 hours</option><option value=\"72h\">72 hours (longest)</option></select>\
<label for=\"reason\">Reason (ticket number, problem)</label><input id=\"reason\" name=\"reason\" required maxlength=\"500\">\
<label for=\"grant-connection\">Only this connection (name; empty = every connection)</label><input id=\"grant-connection\" name=\"connection\" maxlength=\"100\">\
<button type=\"submit\">Grant access</button></form>");
    c.push_str("<h2>Grants</h2>");
    if list.is_empty() {
        c.push_str("<p>No support access was ever given.</p>");
    } else {
        c.push_str(&table_head(
            "",
            None,
            &["Id", "Who", "Access", "Reason", "Given", "Status", "Action"],
        ));
        for g in &list {
            let status = if g.active {
                format!("active, ends in {}", countdown(g.remaining_ms.unwrap_or(0)))
            } else if g.grant.revoked_at.is_some() {
                "revoked".to_string()
            } else {
                "expired".to_string()
            };
            let action = if g.active {
                action_button(
                    &format!("/support/{}/revoke", g.grant.id),
                    Button::Danger,
                    "Revoke",
                    Some(&format!("Revoke grant {} for {}", g.grant.id, g.grant.name)),
                )
            } else {
                String::new()
            };
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{action}</td></tr>",
                g.grant.id,
                esc(&g.grant.name),
                esc(g.grant.scope.as_str()),
                esc(g.grant.reason.as_deref().unwrap_or("")),
                time(g.grant.created_at)
            );
        }
        c.push_str("</tbody></table>");
        if list.iter().any(|g| g.active) {
            c.push_str(&post_form(
                "/support/revoke-all",
                "",
                "<button type=\"submit\" class=\"danger\">Revoke all support access now</button>",
            ));
        }
    }
    Ok(s.show("/support", "Support access", notice, &c))
}

async fn support(
    s: Signed,
    State(state): State<AppState>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    support_page(&s, &state, None, notice_text(&nq)).await
}

#[derive(Deserialize)]
struct GrantForm {
    to: String,
    scope: String,
    expires_in: String,
    reason: String,
    #[serde(default)]
    connection: String,
}

async fn grant(
    mut s: Signed,
    State(state): State<AppState>,
    Form(f): Form<GrantForm>,
) -> PageResult {
    let to = f.to.clone();
    let created = api::create_grant(
        &state,
        &s.actor,
        NewGrant {
            to: f.to,
            scope: f.scope,
            expires_in: f.expires_in,
            reason: f.reason,
            connection: Some(f.connection),
            plugin: None,
        },
    )
    .await
    .map_err(|e| s.failed("/support", e))?;
    // The banner must show the grant just made.
    s.grants = active_grants(&state)
        .await
        .map_err(|e| s.failed("/support", e))?;
    let shown = shown_once(&format!("Support access for {to} created."), &created.token);
    support_page(&s, &state, Some(shown), None).await
}

async fn revoke_grant(s: Signed, State(state): State<AppState>, Path(id): Path<i64>) -> PageResult {
    api::revoke_grants(&state, &s.actor, Some(id))
        .await
        .map_err(|e| s.failed("/support", e))?;
    Ok(see_other("/support?notice=grant-revoked"))
}

async fn revoke_all(s: Signed, State(state): State<AppState>) -> PageResult {
    api::revoke_grants(&state, &s.actor, None)
        .await
        .map_err(|e| s.failed("/support", e))?;
    Ok(see_other("/support?notice=grants-revoked"))
}

// ---- tokens -------------------------------------------------------------------------------

async fn tokens_page(
    s: &Signed,
    state: &AppState,
    created: Option<String>,
    notice: Option<&str>,
) -> PageResult {
    s.actor
        .require(Scope::Admin)
        .map_err(|e| s.failed("/tokens", e))?;
    let store = state.store.clone();
    let list = api::blocking(move || Ok(store.list_tokens(Some(false))?))
        .await
        .map_err(|e| s.failed("/tokens", e))?;
    let now = crate::store::audit::now_ms();
    let mut c = created.unwrap_or_default();
    c.push_str("<form method=\"post\" action=\"/tokens\" class=\"stack\"><h2>Create a token</h2>\
<label for=\"name\">Name</label><input id=\"name\" name=\"name\" required maxlength=\"100\" placeholder=\"monitoring\">\
<label for=\"scope\">Scope</label><select id=\"scope\" name=\"scope\"><option value=\"read\">read</option><option value=\"operator\">operator (retry, cancel)</option><option value=\"admin\">admin (everything)</option><option value=\"ingest\">ingest (push records only)</option></select>\
<label for=\"expires_in\">Expires after (e.g. 30d; empty = never)</label><input id=\"expires_in\" name=\"expires_in\" maxlength=\"12\">\
<label for=\"connection\">Only this connection (name; empty = every connection)</label><input id=\"connection\" name=\"connection\" maxlength=\"100\">\
<label for=\"plugin\">Only this plugin (empty = every plugin)</label><input id=\"plugin\" name=\"plugin\" maxlength=\"100\">\
<button type=\"submit\">Create token</button></form><h2>Tokens</h2>");
    c.push_str(&table_head(
        "",
        None,
        &[
            "Id",
            "Starts with",
            "Name",
            "Scope",
            "Limited to",
            "Created",
            "Status",
            "Action",
        ],
    ));
    for t in &list {
        let status = if t.revoked_at.is_some() {
            "revoked".to_string()
        } else if !t.is_active(now) {
            "expired".to_string()
        } else {
            t.expires_at.map_or("active, no expiry".to_string(), |e| {
                format!("active, expires {}", time(e))
            })
        };
        let action = if t.is_active(now) {
            action_button(
                &format!("/tokens/{}/revoke", t.id),
                Button::Danger,
                "Revoke",
                Some(&format!("Revoke token {}", t.id)),
            )
        } else {
            String::new()
        };
        let _ = write!(
            c,
            "<tr><td>{}</td><td><code>{}…</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{action}</td></tr>",
            t.id,
            esc(&t.prefix),
            esc(&t.name),
            esc(t.scope.as_str()),
            esc(&t.fence.to_string()),
            time(t.created_at)
        );
    }
    c.push_str("</tbody></table>");
    Ok(s.show("/tokens", "Tokens", notice, &c))
}

async fn tokens(
    s: Signed,
    State(state): State<AppState>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    tokens_page(&s, &state, None, notice_text(&nq)).await
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    scope: String,
    #[serde(default)]
    expires_in: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    plugin: String,
}

async fn create_token(
    s: Signed,
    State(state): State<AppState>,
    Form(f): Form<TokenForm>,
) -> PageResult {
    let name = f.name.clone();
    let created = api::create_token(
        &state,
        &s.actor,
        NewToken {
            name: f.name,
            scope: f.scope,
            expires_in: Some(f.expires_in),
            connection: Some(f.connection),
            plugin: Some(f.plugin),
        },
    )
    .await
    .map_err(|e| s.failed("/tokens", e))?;
    let shown = shown_once(
        &format!("Token \u{201c}{name}\u{201d} created."),
        &created.token,
    );
    tokens_page(&s, &state, Some(shown), None).await
}

async fn revoke_token(s: Signed, State(state): State<AppState>, Path(id): Path<i64>) -> PageResult {
    api::revoke_token(&state, &s.actor, id)
        .await
        .map_err(|e| s.failed("/tokens", e))?;
    Ok(see_other("/tokens?notice=token-revoked"))
}

// ---- secrets ------------------------------------------------------------------------------

/// The "For" select of the secret forms: every connection of the plugin, or one.
fn connection_select(id: &str, connections: &[(i64, String)]) -> String {
    let mut out = format!(
        "<label for=\"{id}\">For</label><select id=\"{id}\" name=\"connection\"><option value=\"\">every connection of the plugin (unless one has its own)</option>"
    );
    for (cid, name) in connections {
        let _ = write!(out, "<option value=\"{cid}\">{} only</option>", esc(name));
    }
    out.push_str("</select>");
    out
}

async fn secrets(
    s: Signed,
    State(state): State<AppState>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    let list = secrets_api::secret_names(&state, &s.actor)
        .await
        .map_err(|e| s.failed("/secrets", e))?;
    let connections = s.connection_names(&state, "/secrets").await?;
    let mut c = String::from(
        "<p class=\"lead\">Credentials plugins use to reach their sources (API keys, passwords). Values are encrypted at rest and can be replaced or deleted, never shown again. A secret set for one connection wins over the plugin-wide one, so two firms can use two accounts of the same source.</p>\
<form method=\"post\" action=\"/secrets\" class=\"stack\" autocomplete=\"off\"><h2>Set a secret</h2>\
<label for=\"plugin\">Plugin</label><input id=\"plugin\" name=\"plugin\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_.\\-]+\">\
<label for=\"name\">Name</label><input id=\"name\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_.\\-]+\" placeholder=\"api_key\">",
    );
    c.push_str(&connection_select("connection", &connections));
    c.push_str(
        "<label for=\"value\">Value</label><input id=\"value\" name=\"value\" type=\"password\" required autocomplete=\"new-password\">\
<button type=\"submit\">Store secret</button></form>\
<form method=\"post\" action=\"/secrets/grant\" class=\"stack\" autocomplete=\"off\"><h2>Set an OAuth2 client-credentials grant</h2>\
<p>For sources that issue access tokens (Ramp): qbridge requests and renews the token itself and puts it where the plugin names this secret.</p>\
<label for=\"g-plugin\">Plugin</label><input id=\"g-plugin\" name=\"plugin\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_.\\-]+\">\
<label for=\"g-name\">Name</label><input id=\"g-name\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_.\\-]+\" placeholder=\"ramp.access_token\">",
    );
    c.push_str(&connection_select("g-connection", &connections));
    c.push_str(
        "<label for=\"g-url\">Token URL</label><input id=\"g-url\" name=\"token_url\" type=\"url\" required maxlength=\"2048\" placeholder=\"https://api.ramp.com/developer/v1/token\">\
<label for=\"g-id\">Client id</label><input id=\"g-id\" name=\"client_id\" required maxlength=\"512\">\
<label for=\"g-secret\">Client secret</label><input id=\"g-secret\" name=\"client_secret\" type=\"password\" required autocomplete=\"new-password\">\
<label for=\"g-scope\">Scope (optional)</label><input id=\"g-scope\" name=\"scope\" maxlength=\"1024\" placeholder=\"transactions:read bills:read\">\
<button type=\"submit\">Store grant</button></form><h2>Stored secrets</h2>",
    );
    if list.is_empty() {
        c.push_str("<p>No secrets stored.</p>");
    } else {
        c.push_str(&table_head(
            "",
            None,
            &["Plugin", "Name", "For", "Kind", "Set", "By", "Action"],
        ));
        for sn in &list {
            let kind = match (sn.kind, &sn.token_host) {
                (SecretKind::Value, _) => "value".to_string(),
                (SecretKind::Oauth2ClientCredentials, Some(host)) => {
                    format!("OAuth2 grant ({})", esc(host))
                }
                (SecretKind::Oauth2ClientCredentials, None) => "OAuth2 grant".to_string(),
                (SecretKind::Unreadable, _) => {
                    "<strong>unreadable with this key: set it again</strong>".to_string()
                }
            };
            let (scope, delete_query, aria_scope) = match sn.connection_id {
                None => ("every connection".to_string(), String::new(), String::new()),
                Some(cid) => {
                    let name = connections
                        .iter()
                        .find(|(id, _)| *id == cid)
                        .map_or_else(|| format!("connection {cid}"), |(_, n)| n.clone());
                    let aria = format!(" for {name}");
                    (esc(&name), format!("?connection={cid}"), aria)
                }
            };
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td><td>{scope}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&sn.plugin),
                esc(&sn.name),
                time(sn.set_at),
                esc(&sn.set_by),
                action_button(
                    &format!(
                        "/secrets/{}/{}/delete{delete_query}",
                        url_part(&sn.plugin),
                        url_part(&sn.name)
                    ),
                    Button::Danger,
                    "Delete",
                    Some(&format!(
                        "Delete secret {} of {}{aria_scope}",
                        sn.name, sn.plugin
                    )),
                )
            );
        }
        c.push_str("</tbody></table>");
    }
    Ok(s.show("/secrets", "Secrets", notice_text(&nq), &c))
}

/// The `connection` field of a secret form or the delete button's query: empty for the
/// plugin-wide secret, else a connection the caller can see.
async fn chosen_connection(
    s: &Signed,
    state: &AppState,
    field: Option<&str>,
) -> Result<Option<i64>, Response> {
    let Some(text) = field.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let unknown = || {
        s.failed(
            "/secrets",
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "no such connection: choose one from the list",
            ),
        )
    };
    let id: i64 = text.parse().map_err(|_| unknown())?;
    if s.connection_names(state, "/secrets")
        .await?
        .iter()
        .any(|(cid, _)| *cid == id)
    {
        Ok(Some(id))
    } else {
        Err(unknown())
    }
}

#[derive(Deserialize)]
struct SecretForm {
    plugin: String,
    name: String,
    #[serde(default)]
    connection: Option<String>,
    value: String,
}

async fn set_secret(
    s: Signed,
    State(state): State<AppState>,
    Form(f): Form<SecretForm>,
) -> PageResult {
    let connection = chosen_connection(&s, &state, f.connection.as_deref()).await?;
    secrets_api::set_secret(&state, &s.actor, f.plugin, f.name, connection, f.value)
        .await
        .map_err(|e| s.failed("/secrets", e))?;
    Ok(see_other("/secrets?notice=secret-set"))
}

#[derive(Deserialize)]
struct OauthGrantForm {
    plugin: String,
    name: String,
    #[serde(default)]
    connection: Option<String>,
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: String,
}

async fn set_secret_grant(
    s: Signed,
    State(state): State<AppState>,
    Form(f): Form<OauthGrantForm>,
) -> PageResult {
    let connection = chosen_connection(&s, &state, f.connection.as_deref()).await?;
    let scope = f.scope.trim();
    let grant = ClientCredentials {
        token_url: f.token_url.trim().to_string(),
        client_id: f.client_id.trim().to_string(),
        client_secret: Redacted(f.client_secret),
        scope: (!scope.is_empty()).then(|| scope.to_string()),
    };
    secrets_api::set_secret_grant(&state, &s.actor, f.plugin, f.name, connection, grant)
        .await
        .map_err(|e| s.failed("/secrets", e))?;
    Ok(see_other("/secrets?notice=secret-set"))
}

#[derive(Deserialize)]
struct DeleteSecretQuery {
    connection: Option<String>,
}

async fn delete_secret(
    s: Signed,
    State(state): State<AppState>,
    Path((plugin, name)): Path<(String, String)>,
    Query(q): Query<DeleteSecretQuery>,
) -> PageResult {
    let connection = chosen_connection(&s, &state, q.connection.as_deref()).await?;
    secrets_api::delete_secret(&state, &s.actor, plugin, name, connection)
        .await
        .map_err(|e| s.failed("/secrets", e))?;
    Ok(see_other("/secrets?notice=secret-deleted"))
}
