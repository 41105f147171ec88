//! The signed-in pages: dashboard, jobs, Web Connector setup (connections, `.qwc` downloads,
//! the QuickBooks user checklist), plugins (permissions, approval, rollback, upload), support
//! access, audit log, tokens and secrets (the Alerts page is `alerts.rs`).
//!
//! Each page performs the same `api::` operation as the JSON API, so scope checks and audit
//! rows are identical. Writes answer 303 to the page with a fixed notice key (so a reload never
//! repeats a post), except creating a token or grant, whose secret is shown once in place.

use std::fmt::Write;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::html::{Frame, countdown, esc, page, post_form, time, url_part};
use super::{active_grants, html_response, refusal};
use crate::admin::api::{self, GrantView, JobAction, JobQuery, NewGrant, NewToken};
use crate::admin::audit_api;
use crate::admin::auth::{Actor, ApiError};
use crate::admin::plugins_api::{self, AreaView, PluginView, list_plugins};
use crate::admin::setup_api::{SetupOverview, setup_overview};
use crate::logging::Redacted;
use crate::state::AppState;
use crate::store::queue::{STATES, cancel_applies, retry_applies};
use crate::store::secrets::{ClientCredentials, SecretKind};
use crate::store::tokens::Scope;

/// Page routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(jobs))
        .route("/jobs/{id}", get(job_detail))
        .route("/jobs/{id}/retry", post(retry))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/support", get(support).post(grant))
        .route("/support/{id}/revoke", post(revoke_grant))
        .route("/support/revoke-all", post(revoke_all))
        .route("/audit", get(audit))
        .route("/audit/verify", get(audit_verify))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
        .route("/secrets", get(secrets).post(set_secret))
        .route("/secrets/grant", post(set_secret_grant))
        .route("/secrets/{plugin}/{name}/delete", post(delete_secret))
        .route("/connections", get(connections))
        .route("/plugins", get(plugins))
        .route(
            "/plugins/{name}/versions/{version}/approve",
            post(approve_plugin),
        )
        .route("/plugins/{name}/rollback", post(rollback_plugin))
        .route("/plugins/{name}/remove", post(remove_plugin))
}

/// A signed-in request: who, and the banner's grants.
pub(super) struct Signed {
    pub(super) actor: Actor,
    grants: Vec<GrantView>,
}

pub(super) type PageResult = Result<Response, Response>;

/// The one extractor of every signed-in page: a session (or token) with at least read
/// scope, and the banner's grants. Anything else is answered with the sign-in form (401) or
/// the reason, so no page handler repeats the check.
impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        // The UI is for people: an ingest-only token (a source pushing records) gets no pages.
        // A fenced token may sign in; each page's operation applies its fence.
        let actor = Actor::from_request_parts(parts, state)
            .await
            .and_then(|a| a.require_scope(Scope::Read).map(|()| a))
            .map_err(|e| refusal(e, &path))?;
        // The support-access banner is about the whole instance: not for a tenant's token.
        let grants = if actor.fence().is_fenced() {
            Vec::new()
        } else {
            active_grants(state).await.map_err(|e| refusal(e, &path))?
        };
        Ok(Signed { actor, grants })
    }
}

impl Signed {
    pub(super) fn show(
        &self,
        nav: &str,
        title: &str,
        notice: Option<&str>,
        content: &str,
    ) -> Response {
        self.render(StatusCode::OK, nav, title, notice, content)
    }

    fn render(
        &self,
        status: StatusCode,
        nav: &str,
        title: &str,
        notice: Option<&str>,
        content: &str,
    ) -> Response {
        let frame = Frame {
            actor: &self.actor,
            active_grants: &self.grants,
            nav,
            notice,
        };
        html_response(status, page(&frame, title, content))
    }

    /// An operation failed: say so on a page of the same section.
    pub(super) fn failed(&self, nav: &str, e: ApiError) -> Response {
        let content = format!(
            "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"{}\">Back</a></p>",
            esc(&e.message),
            esc(nav)
        );
        self.render(e.status, nav, "That did not work", None, &content)
    }
}

/// `?notice=` keys: fixed texts, so a link cannot put words in qbridge's mouth.
#[derive(Deserialize)]
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

pub(super) fn notice_text(q: &NoticeQuery) -> Option<&'static str> {
    Some(match q.notice.as_deref()? {
        "retried" => "The job will be sent again on the next sync.",
        "cancelled" => "The job was cancelled; jobs that depend on it are held.",
        "grant-revoked" => "Support access revoked; it is refused from its next request on.",
        "grants-revoked" => "Every active support grant was revoked.",
        "token-revoked" => "Token revoked; it is refused from its next request on.",
        "secret-set" => "Secret stored (encrypted). Its value is never shown again.",
        "secret-deleted" => "Secret deleted.",
        "plugin-approved" => "Approved: the new version serves the next call.",
        "plugin-rolled-back" => "Rolled back: the previous version serves the next call.",
        "plugin-removed" => "Plugin removed; it no longer maps records.",
        "plugin-activated" => "Installed: the new version serves the next call.",
        "plugin-staged" => {
            "Installed and staged: it asks for more than the running version, which keeps running until you approve."
        }
        "plugin-unchanged" => "That exact component is already running.",
        "alert-test-queued" => "A test alert is queued; its delivery appears under Recent alerts.",
        "webhook-deleted" => "Webhook deleted; it receives no more alerts.",
        _ => return None,
    })
}

pub(super) fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

// ---- jobs ---------------------------------------------------------------------------------

fn job_buttons(actor: &Actor, id: i64, state: &str) -> String {
    if !actor.token.scope.allows(Scope::Operator) {
        return String::new();
    }
    let mut out = String::new();
    if retry_applies(state) {
        out.push_str(&post_form(
            &format!("/jobs/{id}/retry"),
            "inline",
            &format!("<button type=\"submit\" aria-label=\"Retry job {id}\">Retry</button>"),
        ));
    }
    if cancel_applies(state) {
        out.push_str(&post_form(
            &format!("/jobs/{id}/cancel"),
            "inline",
            &format!(
                "<button type=\"submit\" class=\"secondary\" aria-label=\"Cancel job {id}\">Cancel</button>"
            ),
        ));
    }
    out
}

#[derive(Deserialize)]
struct JobsQuery {
    state: Option<String>,
    connection: Option<String>,
    notice: Option<String>,
}

async fn jobs(s: Signed, State(state): State<AppState>, Query(q): Query<JobsQuery>) -> PageResult {
    let connection = q
        .connection
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| c.parse::<i64>())
        .transpose()
        .map_err(|_| {
            s.failed(
                "/jobs",
                ApiError::new(StatusCode::BAD_REQUEST, "the connection must be a number"),
            )
        })?;
    let query = JobQuery {
        state: q.state.clone(),
        connection,
        limit: Some(200),
    };
    let list = api::jobs(&state, &s.actor, &query)
        .await
        .map_err(|e| s.failed("/jobs", e))?;
    let selected = q.state.as_deref().unwrap_or("");
    let mut c = String::from(
        "<form method=\"get\" action=\"/jobs\" class=\"filters\"><label for=\"state\">State</label><select id=\"state\" name=\"state\"><option value=\"\">any</option>",
    );
    for st in STATES {
        let sel = if *st == selected { " selected" } else { "" };
        let _ = write!(c, "<option value=\"{st}\"{sel}>{st}</option>");
    }
    let _ = write!(
        c,
        "</select><label for=\"connection\">Connection</label><input id=\"connection\" name=\"connection\" inputmode=\"numeric\" size=\"6\" value=\"{}\"><button type=\"submit\">Filter</button></form>",
        connection.map(|c| c.to_string()).unwrap_or_default()
    );
    if list.is_empty() {
        c.push_str("<p>No jobs match.</p>");
    } else {
        c.push_str("<table class=\"jobs\"><caption>Newest first (at most 200)</caption><thead><tr><th scope=\"col\">Job</th><th scope=\"col\">Connection</th><th scope=\"col\">Plugin</th><th scope=\"col\">Request</th><th scope=\"col\">Key</th><th scope=\"col\">State</th><th scope=\"col\">Attempts</th><th scope=\"col\">Updated</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
        for j in &list {
            let _ = write!(
                c,
                "<tr><td><a href=\"/jobs/{id}\">#{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"state s-{}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                j.connection_id,
                esc(&j.plugin),
                esc(&j.request_type),
                esc(&j.key),
                esc(&j.state),
                esc(&j.state),
                j.attempt,
                time(j.updated_at),
                job_buttons(&s.actor, j.id, &j.state),
                id = j.id,
            );
            if let Some(advice) = &j.advice {
                let _ = write!(
                    c,
                    "<tr class=\"advice-row\"><td colspan=\"9\"><p class=\"advice\"><strong>What to do:</strong> {}</p></td></tr>",
                    esc(advice)
                );
            }
        }
        c.push_str("</tbody></table>");
    }
    let notice = notice_text(&NoticeQuery { notice: q.notice });
    Ok(s.show("/jobs", "Jobs", notice, &c))
}

async fn job_detail(
    s: Signed,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    let j = api::job(&state, &s.actor, id)
        .await
        .map_err(|e| s.failed("/jobs", e))?;
    let mut c = String::new();
    if let Some(advice) = &j.advice {
        let _ = write!(
            c,
            "<p class=\"advice\"><strong>What to do:</strong> {}</p>",
            esc(advice)
        );
    }
    let _ = write!(
        c,
        "<dl class=\"facts\"><dt>State</dt><dd><span class=\"state s-{st}\">{st}</span></dd><dt>Connection</dt><dd>{}</dd><dt>Plugin</dt><dd>{}</dd><dt>Key</dt><dd>{}</dd><dt>Request type</dt><dd>{}</dd><dt>Attempts</dt><dd>{}</dd><dt>Last status code</dt><dd>{}</dd><dt>QuickBooks id</dt><dd>{}</dd><dt>Depends on</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd><dt>Updated</dt><dd>{}</dd></dl>{}",
        j.connection_id,
        esc(&j.plugin),
        esc(&j.key),
        esc(&j.request_type),
        j.attempt,
        j.last_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "—".into()),
        esc(j.object_id.as_deref().unwrap_or("—")),
        esc(&if j.depends_on.is_empty() {
            "nothing".to_string()
        } else {
            j.depends_on.join(", ")
        }),
        time(j.created_at),
        time(j.updated_at),
        job_buttons(&s.actor, j.id, &j.state),
        st = esc(&j.state),
    );
    if !j.notes.is_empty() {
        c.push_str("<h2>Adjustments made to fit QuickBooks</h2><ul>");
        for n in &j.notes {
            let _ = write!(c, "<li>{}</li>", esc(n));
        }
        c.push_str("</ul>");
    }
    c.push_str("<h2>History</h2>");
    match j.errors.as_array().filter(|a| !a.is_empty()) {
        None => c.push_str("<p>No errors so far.</p>"),
        Some(errors) => {
            c.push_str("<table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Attempt</th><th scope=\"col\">Code</th><th scope=\"col\">Message</th></tr></thead><tbody>");
            for e in errors {
                let field = |k: &str| {
                    e.get(k)
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .unwrap_or_default()
                };
                let when = e
                    .get("at")
                    .and_then(|v| v.as_i64())
                    .map(time)
                    .unwrap_or_default();
                let _ = write!(
                    c,
                    "<tr><td>{when}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&field("attempt")),
                    esc(&field("code")),
                    esc(&field("message"))
                );
            }
            c.push_str("</tbody></table>");
        }
    }
    let _ = write!(
        c,
        "<h2>Request sent</h2><pre class=\"xml\">{}</pre><h2>Last response</h2><pre class=\"xml\">{}</pre>",
        esc(j.qbxml.as_deref().unwrap_or("(none)")),
        esc(j.response.as_deref().unwrap_or("(no response yet)"))
    );
    Ok(s.show("/jobs", &format!("Job #{id}"), notice_text(&nq), &c))
}

async fn job_action(s: Signed, state: AppState, id: i64, action: JobAction) -> PageResult {
    api::act_on_job(&state, &s.actor, id, action)
        .await
        .map_err(|e| s.failed("/jobs", e))?;
    let key = match action {
        JobAction::Retry => "retried",
        JobAction::Cancel => "cancelled",
    };
    Ok(see_other(&format!("/jobs/{id}?notice={key}")))
}

async fn retry(s: Signed, State(state): State<AppState>, Path(id): Path<i64>) -> PageResult {
    job_action(s, state, id, JobAction::Retry).await
}

async fn cancel(s: Signed, State(state): State<AppState>, Path(id): Path<i64>) -> PageResult {
    job_action(s, state, id, JobAction::Cancel).await
}

// ---- support access -----------------------------------------------------------------------

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
        c.push_str("<table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Who</th><th scope=\"col\">Access</th><th scope=\"col\">Reason</th><th scope=\"col\">Given</th><th scope=\"col\">Status</th><th scope=\"col\">Action</th></tr></thead><tbody>");
        for g in &list {
            let status = if g.active {
                format!("active, ends in {}", countdown(g.remaining_ms.unwrap_or(0)))
            } else if g.grant.revoked_at.is_some() {
                "revoked".to_string()
            } else {
                "expired".to_string()
            };
            let action = if g.active {
                post_form(
                    &format!("/support/{}/revoke", g.grant.id),
                    "inline",
                    &format!(
                        "<button type=\"submit\" class=\"danger\" aria-label=\"Revoke grant {} for {}\">Revoke</button>",
                        g.grant.id,
                        esc(&g.grant.name)
                    ),
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

// ---- audit --------------------------------------------------------------------------------

/// Audit rows per page.
const AUDIT_PAGE: u32 = 50;

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    after: i64,
}

async fn audit_page(
    s: &Signed,
    state: &AppState,
    after: i64,
    verdict: Option<String>,
) -> PageResult {
    let rows = audit_api::audit_rows(state, &s.actor, after, AUDIT_PAGE)
        .await
        .map_err(|e| s.failed("/audit", e))?;
    let mut c = verdict.unwrap_or_default();
    c.push_str("<p class=\"lead\">Every change and every request under a support grant, oldest first. Each row is chained to the one before it by a hash, so an edited or removed row is detected.</p>\
<form method=\"get\" action=\"/audit/verify\"><button type=\"submit\">Verify chain</button></form>");
    if rows.is_empty() {
        c.push_str("<p>No more rows.</p>");
    } else {
        c.push_str("<div class=\"table-wrap\"><table class=\"audit\"><thead><tr><th scope=\"col\">#</th><th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">Action</th><th scope=\"col\">Target</th><th scope=\"col\">Detail</th><th scope=\"col\">From</th></tr></thead><tbody>");
        for r in &rows {
            let detail = if r.entry.detail.is_null() {
                String::new()
            } else {
                r.entry.detail.to_string()
            };
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                r.id,
                time(r.at),
                esc(&r.entry.actor),
                esc(&r.entry.action),
                esc(&r.entry.target),
                esc(&detail),
                esc(r.entry.ip.as_deref().unwrap_or(""))
            );
        }
        c.push_str("</tbody></table></div>");
    }
    c.push_str("<nav class=\"pager\" aria-label=\"Audit pages\">");
    if after > 0 {
        c.push_str("<a href=\"/audit\">First page</a> ");
    }
    if let Some(last) = rows.last().filter(|_| rows.len() as u32 == AUDIT_PAGE) {
        let _ = write!(c, "<a href=\"/audit?after={}\">Next page</a>", last.id);
    }
    c.push_str("</nav>");
    Ok(s.show("/audit", "Audit log", None, &c))
}

async fn audit(
    s: Signed,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    audit_page(&s, &state, q.after.max(0), None).await
}

async fn audit_verify(s: Signed, State(state): State<AppState>) -> PageResult {
    let v = audit_api::verify_audit(&state, &s.actor)
        .await
        .map_err(|e| s.failed("/audit", e))?;
    let class = if v.intact { "verdict-ok" } else { "error" };
    let verdict = format!(
        "<p class=\"{class}\" role=\"status\">{}</p>",
        esc(&v.message)
    );
    audit_page(&s, &state, 0, Some(verdict)).await
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
    c.push_str("<table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Starts with</th><th scope=\"col\">Name</th><th scope=\"col\">Scope</th><th scope=\"col\">Limited to</th><th scope=\"col\">Created</th><th scope=\"col\">Status</th><th scope=\"col\">Action</th></tr></thead><tbody>");
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
            post_form(
                &format!("/tokens/{}/revoke", t.id),
                "inline",
                &format!(
                    "<button type=\"submit\" class=\"danger\" aria-label=\"Revoke token {}\">Revoke</button>",
                    t.id
                ),
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

async fn secrets(
    s: Signed,
    State(state): State<AppState>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    let list = api::secret_names(&state, &s.actor)
        .await
        .map_err(|e| s.failed("/secrets", e))?;
    let mut c = String::from(
        "<p class=\"lead\">Credentials plugins use to reach their sources (API keys, passwords). Values are encrypted at rest and can be replaced or deleted, never shown again.</p>\
<form method=\"post\" action=\"/secrets\" class=\"stack\" autocomplete=\"off\"><h2>Set a secret</h2>\
<label for=\"plugin\">Plugin</label><input id=\"plugin\" name=\"plugin\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_.\\-]+\">\
<label for=\"name\">Name</label><input id=\"name\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_.\\-]+\" placeholder=\"api_key\">\
<label for=\"value\">Value</label><input id=\"value\" name=\"value\" type=\"password\" required autocomplete=\"new-password\">\
<button type=\"submit\">Store secret</button></form>\
<form method=\"post\" action=\"/secrets/grant\" class=\"stack\" autocomplete=\"off\"><h2>Set an OAuth2 client-credentials grant</h2>\
<p>For sources that issue access tokens (Ramp): qbridge requests and renews the token itself and puts it where the plugin names this secret.</p>\
<label for=\"g-plugin\">Plugin</label><input id=\"g-plugin\" name=\"plugin\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_.\\-]+\">\
<label for=\"g-name\">Name</label><input id=\"g-name\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_.\\-]+\" placeholder=\"ramp.access_token\">\
<label for=\"g-url\">Token URL</label><input id=\"g-url\" name=\"token_url\" type=\"url\" required maxlength=\"2048\" placeholder=\"https://api.ramp.com/developer/v1/token\">\
<label for=\"g-id\">Client id</label><input id=\"g-id\" name=\"client_id\" required maxlength=\"512\">\
<label for=\"g-secret\">Client secret</label><input id=\"g-secret\" name=\"client_secret\" type=\"password\" required autocomplete=\"new-password\">\
<label for=\"g-scope\">Scope (optional)</label><input id=\"g-scope\" name=\"scope\" maxlength=\"1024\" placeholder=\"transactions:read bills:read\">\
<button type=\"submit\">Store grant</button></form><h2>Stored secrets</h2>",
    );
    if list.is_empty() {
        c.push_str("<p>No secrets stored.</p>");
    } else {
        c.push_str("<table><thead><tr><th scope=\"col\">Plugin</th><th scope=\"col\">Name</th><th scope=\"col\">Kind</th><th scope=\"col\">Set</th><th scope=\"col\">By</th><th scope=\"col\">Action</th></tr></thead><tbody>");
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
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&sn.plugin),
                esc(&sn.name),
                time(sn.set_at),
                esc(&sn.set_by),
                post_form(
                    &format!(
                        "/secrets/{}/{}/delete",
                        url_part(&sn.plugin),
                        url_part(&sn.name)
                    ),
                    "inline",
                    &format!(
                        "<button type=\"submit\" class=\"danger\" aria-label=\"Delete secret {} of {}\">Delete</button>",
                        esc(&sn.name),
                        esc(&sn.plugin)
                    )
                )
            );
        }
        c.push_str("</tbody></table>");
    }
    Ok(s.show("/secrets", "Secrets", notice_text(&nq), &c))
}

#[derive(Deserialize)]
struct SecretForm {
    plugin: String,
    name: String,
    value: String,
}

async fn set_secret(
    s: Signed,
    State(state): State<AppState>,
    Form(f): Form<SecretForm>,
) -> PageResult {
    api::set_secret(&state, &s.actor, f.plugin, f.name, None, f.value)
        .await
        .map_err(|e| s.failed("/secrets", e))?;
    Ok(see_other("/secrets?notice=secret-set"))
}

#[derive(Deserialize)]
struct OauthGrantForm {
    plugin: String,
    name: String,
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
    let scope = f.scope.trim();
    let grant = ClientCredentials {
        token_url: f.token_url.trim().to_string(),
        client_id: f.client_id.trim().to_string(),
        client_secret: Redacted(f.client_secret),
        scope: (!scope.is_empty()).then(|| scope.to_string()),
    };
    api::set_secret_grant(&state, &s.actor, f.plugin, f.name, None, grant)
        .await
        .map_err(|e| s.failed("/secrets", e))?;
    Ok(see_other("/secrets?notice=secret-set"))
}

async fn delete_secret(
    s: Signed,
    State(state): State<AppState>,
    Path((plugin, name)): Path<(String, String)>,
) -> PageResult {
    api::delete_secret(&state, &s.actor, plugin, name, None)
        .await
        .map_err(|e| s.failed("/secrets", e))?;
    Ok(see_other("/secrets?notice=secret-deleted"))
}

// ---- Web Connector setup -------------------------------------------------------------------

async fn connections(s: Signed, State(state): State<AppState>) -> PageResult {
    let overview = setup_overview(&state, &s.actor)
        .await
        .map_err(|e| s.failed("/connections", e))?;
    let mut c = String::from(
        "<p class=\"lead\">Each connection is one QuickBooks company file. On the computer where QuickBooks runs, open the Web Connector, choose <em>Add an application</em> and pick the user's <code>.qwc</code> file, then enter that user's password (shown once by <code>qbridge user add</code>; a lost one is replaced with <code>qbridge user rotate-password</code>).</p>",
    );
    if overview.connections.is_empty() {
        c.push_str("<p>No connection yet. Create one with <code>qbridge connection add NAME</code> and a Web Connector user with <code>qbridge user add</code>.</p>");
    }
    for cs in &overview.connections {
        let conn = &cs.connection;
        let _ = write!(
            c,
            "<section class=\"connection\"><h2>{}</h2><p>Company file: {}</p>",
            esc(&conn.name),
            if conn.company_file.is_empty() {
                "whichever file is open in QuickBooks".to_string()
            } else {
                format!("<code>{}</code>", esc(&conn.company_file))
            }
        );
        if let Some(host) = &conn.host {
            let _ = write!(
                c,
                "<p>Last seen: {} {} ({}), qbXML {}.{}</p>",
                esc(&host.product_name),
                esc(&host.edition),
                esc(&host.country),
                host.qbxml_version.0,
                host.qbxml_version.1
            );
        }
        if let Some(w) = &conn.path_warning {
            let _ = write!(
                c,
                "<p class=\"error\" role=\"alert\">Company file path: {}</p>",
                esc(w)
            );
        }
        if let Some((advice, at)) = &conn.last_error {
            let _ = write!(
                c,
                "<p class=\"error\" role=\"alert\">Last error ({}): {}</p>",
                time(*at),
                esc(advice)
            );
        }
        if cs.users.is_empty() {
            c.push_str("<p>No Web Connector user. Add one with <code>qbridge user add</code>.</p>");
        } else {
            c.push_str("<table><thead><tr><th scope=\"col\">Web Connector user</th><th scope=\"col\">State</th><th scope=\"col\">Company file it reported</th><th scope=\"col\">QWC file</th></tr></thead><tbody>");
            for u in &cs.users {
                let _ = write!(
                    c,
                    "<tr><td>{name}</td><td>{state}</td><td>{path}</td><td><a href=\"/qwc/{link}\" download=\"{name}.qwc\">Download {name}.qwc</a></td></tr>",
                    name = esc(&u.username),
                    link = url_part(&u.username),
                    state = if u.disabled { "disabled" } else { "enabled" },
                    path = u
                        .reported_path
                        .as_deref()
                        .map_or_else(|| "not connected yet".to_string(), esc),
                );
            }
            c.push_str("</tbody></table>");
        }
        c.push_str("</section>");
    }
    c.push_str(&quickbooks_checklist(&overview));
    Ok(s.show("/connections", "Web Connector setup", None, &c))
}

/// The steps for the QuickBooks user the Web Connector logs in as
/// (research/qbwc-protocol.md §6), with the areas the active plugins need.
fn quickbooks_checklist(overview: &SetupOverview) -> String {
    let mut c = String::from(
        "<section class=\"checklist\"><h2>QuickBooks user checklist</h2><ol>\
<li>In QuickBooks, signed in as the Admin, create a dedicated user for qbridge, for example <code>qbridge-sync</code> (Enterprise: Company &gt; Users &gt; Set Up Users and Roles; Pro/Premier: Company &gt; Set Up Users and Passwords). A dedicated user avoids collisions with a person signed in under their own login.</li>",
    );
    if overview.areas.is_empty() {
        c.push_str("<li>Give it <strong>Full Access</strong>. No active plugin declares request types yet, so no narrower list can be given.</li>");
    } else {
        let _ = write!(
            c,
            "<li>Give it <strong>Full Access</strong>, or at least create and edit rights in these areas (needed by {}):<table><thead><tr><th scope=\"col\">Enterprise role area</th><th scope=\"col\">Pro/Premier area</th></tr></thead><tbody>",
            esc(&overview.plugins.join(", "))
        );
        for a in &overview.areas {
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&a.name),
                esc(&a.pro_name)
            );
        }
        c.push_str("</tbody></table></li>");
    }
    c.push_str(
        "<li>Switch QuickBooks to single-user mode, signed in as the Admin, for the first sync: QuickBooks asks whether to let the application access the company file. Choose <em>Yes, always; allow access even if QuickBooks is not running</em>.</li>\
<li>Then in Edit &gt; Preferences &gt; Integrated Applications &gt; Company Preferences, select qbridge, click Properties, tick <strong>Allow this application to log in automatically</strong> and set <strong>Login as</strong> to the dedicated user.</li>\
<li>When the Web Connector syncs several company files, leave QuickBooks at <strong>No Company Open</strong> between syncs, so it can open each file in turn.</li>\
</ol></section>",
    );
    c
}

// ---- plugins ------------------------------------------------------------------------------

fn list_items(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.iter().map(|i| esc(i)).collect::<Vec<_>>().join(", ")
    }
}

fn area_items(areas: &[AreaView]) -> String {
    if areas.is_empty() {
        return "none".to_string();
    }
    areas
        .iter()
        .map(|a| format!("{} ({})", esc(&a.name), esc(&a.pro_name)))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn plugins(
    s: Signed,
    State(state): State<AppState>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    let versions = list_plugins(&state, &s.actor)
        .await
        .map_err(|e| s.failed("/plugins", e))?;
    let mut c = String::from(
        "<p class=\"lead\">Plugins turn source records into QuickBooks requests. A new version that asks for no more than the running one replaces it for the next call; one that asks for more request types, hosts or secrets waits here for approval. Plugin credentials are on the <a href=\"/secrets\">Secrets</a> page.</p>\
<form id=\"plugin-upload\" class=\"stack\" method=\"post\" action=\"/api/v1/plugins\" enctype=\"application/octet-stream\"><h2>Install a plugin</h2>\
<label for=\"plugin-file\">Component (.wasm)</label><input id=\"plugin-file\" name=\"file\" type=\"file\" accept=\".wasm,application/wasm\" required>\
<label for=\"plugin-signature\">Signature (.minisig, when trusted keys are configured)</label><input id=\"plugin-signature\" name=\"signature\" type=\"file\" accept=\".minisig\">\
<button type=\"submit\">Install</button><noscript><p>Installing from this page needs JavaScript; without it use <code>qbridge plugin install FILE.wasm --url</code>.</p></noscript><p id=\"plugin-upload-status\" role=\"status\"></p></form>",
    );
    let mut names: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
    names.dedup();
    if names.is_empty() {
        c.push_str("<p>No plugins installed.</p>");
    }
    for name in names {
        let of: Vec<&PluginView> = versions.iter().filter(|v| v.name == name).collect();
        let _ = write!(c, "<section class=\"plugin\"><h2>{}</h2>", esc(name));
        for (v, e) in of
            .iter()
            .filter_map(|v| v.escalation.as_ref().map(|e| (v, e)))
        {
            let _ = write!(
                c,
                "<div class=\"staged\" role=\"region\" aria-label=\"Staged version {ver}\"><h3>Version {ver} waits for approval</h3><p>Approving lets it use, beyond the running version:</p><ul>\
<li>Request types: {rt}</li><li>QuickBooks areas those request types use: {areas}</li><li>Hosts: {hosts}</li><li>Secrets: {secrets}</li></ul>\
<p>Give the dedicated QuickBooks user the new areas before approving, or its requests fail with a permission error.</p>{form}</div>",
                ver = esc(&v.version),
                rt = list_items(&e.request_types),
                areas = area_items(&e.permission_areas),
                hosts = list_items(&e.allowed_hosts),
                secrets = list_items(&e.secrets),
                form = post_form(
                    &format!(
                        "/plugins/{}/versions/{}/approve",
                        url_part(&v.name),
                        url_part(&v.version)
                    ),
                    "inline",
                    &format!(
                        "<button type=\"submit\">Approve {} {}</button>",
                        esc(&v.name),
                        esc(&v.version)
                    )
                )
            );
        }
        c.push_str("<div class=\"table-wrap\"><table><thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Status</th><th scope=\"col\">Installed</th><th scope=\"col\">Request types</th><th scope=\"col\">QuickBooks areas</th><th scope=\"col\">Hosts</th><th scope=\"col\">SHA-256</th></tr></thead><tbody>");
        for v in &of {
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td><td>{} by {}</td><td>{}</td><td>{}</td><td>{}</td><td><code title=\"{sha}\">{short}</code></td></tr>",
                esc(&v.version),
                esc(&v.status),
                time(v.installed_at),
                esc(&v.installed_by),
                list_items(&v.request_types),
                area_items(&v.permission_areas),
                list_items(&v.allowed_hosts),
                sha = esc(&v.sha256),
                short = esc(&v.sha256[..12.min(v.sha256.len())]),
            );
        }
        c.push_str("</tbody></table></div>");
        let running = of.iter().any(|v| v.status == "active");
        if of.iter().any(|v| v.status == "previous") {
            c.push_str(&post_form(
                &format!("/plugins/{}/rollback", url_part(name)),
                "inline",
                &format!(
                    "<button type=\"submit\" class=\"secondary\">Roll {} back to the previous version</button> ",
                    esc(name)
                ),
            ));
        }
        if running {
            c.push_str(&post_form(
                &format!("/plugins/{}/remove", url_part(name)),
                "inline",
                &format!(
                    "<button type=\"submit\" class=\"danger\">Remove {}</button>",
                    esc(name)
                ),
            ));
        }
        c.push_str("</section>");
    }
    Ok(s.show("/plugins", "Plugins", notice_text(&nq), &c))
}

async fn approve_plugin(
    s: Signed,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> PageResult {
    plugins_api::approve_plugin(&state, &s.actor, name, version)
        .await
        .map_err(|e| s.failed("/plugins", e))?;
    Ok(see_other("/plugins?notice=plugin-approved"))
}

async fn rollback_plugin(
    s: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> PageResult {
    plugins_api::rollback_plugin(&state, &s.actor, name)
        .await
        .map_err(|e| s.failed("/plugins", e))?;
    Ok(see_other("/plugins?notice=plugin-rolled-back"))
}

async fn remove_plugin(
    s: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> PageResult {
    plugins_api::remove_plugin(&state, &s.actor, name)
        .await
        .map_err(|e| s.failed("/plugins", e))?;
    Ok(see_other("/plugins?notice=plugin-removed"))
}
