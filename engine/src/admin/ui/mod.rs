//! The web UI: server-rendered pages over the same operations as the JSON API, plus three
//! embedded static files (CSS, an icon and a small script for the countdowns). No build chain, no CDN.
//!
//! Signing in with a pasted token starts a server-side session (`store::admin_sessions`) and
//! puts only its random id in an `HttpOnly; SameSite=Strict` cookie (`Secure` when qbridge
//! serves HTTPS or its public URL is HTTPS): the token itself never goes into the browser's
//! cookie jar. The `Actor` extractor accepts the session and refuses cross-site form posts;
//! signing out ends the session on the server, so a copied cookie stops working at once. A
//! page requested without a valid session answers 401 with the sign-in form, so nothing but
//! that form is shown to strangers.

mod access;
mod alerts;
mod audit;
mod dashboard;
mod html;
mod jobs;
mod schedules;
mod setup;
mod signed;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{self, GrantView, blocking};
use super::auth::{ApiError, SESSION_COOKIE, same_origin, session_cookie as presented_session};
use crate::state::AppState;
use crate::store::audit::AuditEntry;
use crate::store::tokens::TokenCheck;

const CSS: &str = include_str!("static/app.css");
const JS: &str = include_str!("static/app.js");
const ICON: &str = include_str!("static/favicon.svg");

/// The UI routes (state: [`AppState`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/app.css", get(|| async { asset("text/css", CSS) }))
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript", JS) }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .merge(jobs::routes())
        .merge(access::routes())
        .merge(audit::routes())
        .merge(setup::routes())
        .merge(dashboard::routes())
        .merge(alerts::routes())
        .merge(schedules::routes())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Security headers for every HTML page: no framing, no inline or foreign scripts.
fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(body),
    )
        .into_response()
}

/// Only local paths: a `next` of `//evil.example` or `https://…` would send the admin away.
fn local_path(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

/// What a page request without a usable session gets.
fn refusal(err: ApiError, path: &str) -> Response {
    if err.status == StatusCode::UNAUTHORIZED {
        html_response(
            StatusCode::UNAUTHORIZED,
            html::login(local_path(path), None),
        )
    } else {
        html_response(
            err.status,
            html::login(local_path(path), Some(&err.message)),
        )
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(axum::extract::Query(q): axum::extract::Query<NextQuery>) -> Response {
    html_response(
        StatusCode::OK,
        html::login(local_path(q.next.as_deref().unwrap_or("/")), None),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
}

fn session_cookie(state: &AppState, value: &str, max_age: Option<i64>) -> HeaderValue {
    let https = state.config.serves_tls()
        || state
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
    let mut c = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if https {
        c.push_str("; Secure");
    }
    // Session ids are base62 and `_`, always a valid header value.
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(&form.next).to_string();
    if !same_origin(&headers) {
        return html_response(
            StatusCode::FORBIDDEN,
            html::login(&next, Some("Sign in from qbridge's own page.")),
        );
    }
    let presented = form.token.trim().to_string();
    let store = state.store.clone();
    let check = blocking(move || Ok(store.check_token(&presented)?)).await;
    let info = match check {
        Ok(TokenCheck::Valid(info)) => info,
        Ok(TokenCheck::Refused(why)) => {
            return html_response(
                StatusCode::UNAUTHORIZED,
                html::login(
                    &next,
                    Some(&format!(
                        "Not signed in: {why}. Check the token and try again."
                    )),
                ),
            );
        }
        Err(e) => return refusal(e, &next),
    };
    let store = state.store.clone();
    let limits = state.config.ui_session_limits();
    let signed_in = (*info).clone();
    let session = match blocking(move || Ok(store.create_admin_session(&signed_in, limits)?)).await
    {
        Ok(s) => s,
        Err(e) => return refusal(e, &next),
    };
    let store = state.store.clone();
    let entry = AuditEntry {
        actor: info.actor(),
        action: "ui.login".into(),
        target: "ui".into(),
        detail: serde_json::Value::Null,
        ip: extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect()),
    };
    if let Err(e) = blocking(move || Ok(store.audit(&entry)?)).await {
        return refusal(e, &next);
    }
    // The cookie need not outlive the session (which never outlives a grant).
    let max_age = ((session.expires_at - crate::store::audit::now_ms()) / 1000).max(0);
    let mut resp = Redirect::to(&next).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &session.id, Some(max_age)),
    );
    resp
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
) -> Response {
    if !same_origin(&headers) {
        return html_response(
            StatusCode::FORBIDDEN,
            html::login("/", Some("Sign out from qbridge's own page.")),
        );
    }
    // End the session on the server: clearing the cookie alone would leave a copy of it
    // (a stolen cookie) working until it expired.
    if let Some(id) = presented_session(&headers).map(str::to_owned) {
        let store = state.store.clone();
        let ip = extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let ended = blocking(move || {
            if let Some(token) = store.end_admin_session(&id)? {
                store.audit(&AuditEntry {
                    actor: token.actor(),
                    action: "ui.logout".into(),
                    target: "ui".into(),
                    ip,
                    ..Default::default()
                })?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = ended {
            return refusal(e, "/");
        }
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", Some(0)));
    resp
}

/// Active grants for the banner.
async fn active_grants(state: &AppState) -> Result<Vec<GrantView>, ApiError> {
    Ok(api::grants(state)
        .await?
        .into_iter()
        .filter(|g| g.active)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/jobs?state=discarded"), "/jobs?state=discarded");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "jobs"] {
            assert_eq!(local_path(bad), "/", "{bad}");
        }
    }
}
