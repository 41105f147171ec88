//! The Jobs pages: the queue filtered by state and connection (named), one job with its
//! history, request and response, and Retry/Cancel only where they apply.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;

use super::html::{esc, post_form, time};
use super::signed::{NoticeQuery, PageResult, Signed, notice_text, see_other};
use crate::admin::api::{self, JobAction, JobQuery};
use crate::admin::auth::{Actor, ApiError};
use crate::state::AppState;
use crate::store::queue::{STATES, cancel_applies, retry_applies};
use crate::store::tokens::Scope;

/// The Jobs pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(jobs))
        .route("/jobs/{id}", get(job_detail))
        .route("/jobs/{id}/retry", post(retry))
        .route("/jobs/{id}/cancel", post(cancel))
}

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
