//! The Jobs pages: the queue filtered by state and connection (named), one job with its
//! history, request and response, and Retry/Cancel only where they apply.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;

use super::html::{Button, action_button, esc, table_head, time};
use super::signed::{NoticeQuery, PageResult, Signed, notice_text, see_other};
use crate::admin::api::{self, JobAction, JobQuery};
use crate::admin::auth::{Actor, ApiError};
use crate::admin::rejected_api::{self, RejectedQuery, RetryOutcome};
use crate::state::AppState;
use crate::store::queue::{JobState, cancel_applies, retry_applies};
use crate::store::tokens::Scope;

/// The Jobs pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(jobs))
        .route("/jobs/{id}", get(job_detail))
        .route("/jobs/{id}/retry", post(retry))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/rejected", get(rejected_page))
        .route("/rejected/{id}/retry", post(retry_rejected))
}

fn job_buttons(actor: &Actor, id: i64, state: JobState) -> String {
    if !actor.token.scope.allows(Scope::Operator) {
        return String::new();
    }
    let mut out = String::new();
    if retry_applies(state) {
        out.push_str(&action_button(
            &format!("/jobs/{id}/retry"),
            Button::Primary,
            "Retry",
            Some(&format!("Retry job {id}")),
        ));
    }
    if cancel_applies(state) {
        out.push_str(&action_button(
            &format!("/jobs/{id}/cancel"),
            Button::Secondary,
            "Cancel",
            Some(&format!("Cancel job {id}")),
        ));
    }
    out
}

/// A connection's name linked to its page, or its number when the caller cannot see it.
fn connection_label(names: &[(i64, String)], id: i64) -> String {
    match names.iter().find(|(cid, _)| *cid == id) {
        Some((_, name)) => format!("<a href=\"/connections/{id}\">{}</a>", esc(name)),
        None => format!("connection {id}"),
    }
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
    let names = s.connection_names(&state, "/jobs").await?;
    let selected = q.state.as_deref().unwrap_or("");
    let mut c = String::from(
        "<form method=\"get\" action=\"/jobs\" class=\"filters\"><label for=\"state\">State</label><select id=\"state\" name=\"state\"><option value=\"\">any</option>",
    );
    for st in JobState::ALL.map(JobState::as_str) {
        let sel = if st == selected { " selected" } else { "" };
        let _ = write!(c, "<option value=\"{st}\"{sel}>{st}</option>");
    }
    c.push_str("</select><label for=\"connection\">Connection</label><select id=\"connection\" name=\"connection\"><option value=\"\">any</option>");
    for (id, name) in &names {
        let sel = if Some(*id) == connection {
            " selected"
        } else {
            ""
        };
        let _ = write!(c, "<option value=\"{id}\"{sel}>{}</option>", esc(name));
    }
    c.push_str("</select><button type=\"submit\">Filter</button></form>");
    if list.is_empty() {
        c.push_str("<p>No jobs match.</p>");
    } else {
        c.push_str(&table_head(
            "jobs",
            Some("Newest first (at most 200)"),
            &[
                "Job",
                "Connection",
                "Plugin",
                "Request",
                "Key",
                "State",
                "Attempts",
                "Updated",
                "Actions",
            ],
        ));
        for j in &list {
            let _ = write!(
                c,
                "<tr><td><a href=\"/jobs/{id}\">#{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"state s-{}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                connection_label(&names, j.connection_id),
                esc(&j.plugin),
                esc(&j.request_type),
                esc(&j.key),
                j.state,
                j.state,
                j.attempt,
                time(j.updated_at),
                job_buttons(&s.actor, j.id, j.state),
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
    let names = s.connection_names(&state, "/jobs").await?;
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
        "<dl class=\"facts\"><dt>State</dt><dd><span class=\"state s-{st}\">{st}</span></dd><dt>Connection</dt><dd>{}</dd><dt>Plugin</dt><dd>{}</dd><dt>Key</dt><dd>{}</dd><dt>Request type</dt><dd>{}</dd><dt>Version</dt><dd>{} ({})</dd><dt>Attempts</dt><dd>{}</dd><dt>Last status code</dt><dd>{}</dd><dt>QuickBooks id</dt><dd>{}</dd><dt>Depends on</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd><dt>Updated</dt><dd>{}</dd></dl>{}",
        connection_label(&names, j.connection_id),
        esc(&j.plugin),
        esc(&j.key),
        esc(&j.request_type),
        j.version,
        esc(&j.action),
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
        job_buttons(&s.actor, j.id, j.state),
        st = j.state,
    );
    if !j.conflict.is_empty() {
        c.push_str("<h2>Edited in QuickBooks since qbridge wrote it</h2><ul class=\"conflict\">");
        for line in &j.conflict {
            let _ = write!(c, "<li>{}</li>", esc(line));
        }
        c.push_str("</ul><p>Retry writes the source's version over the edit; Cancel keeps QuickBooks' version.</p>");
    }
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
            c.push_str(&table_head(
                "",
                None,
                &["When", "Attempt", "Code", "Message"],
            ));
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
        "<h2>Request</h2><pre class=\"xml\">{}</pre>",
        esc(j.qbxml.as_deref().unwrap_or("(none)"))
    );
    if let Some(sent) = &j.sent_qbxml {
        let _ = write!(
            c,
            "<h2>Sent as (the object is in QuickBooks)</h2><pre class=\"xml\">{}</pre>",
            esc(sent)
        );
    }
    let _ = write!(
        c,
        "<h2>Last response</h2><pre class=\"xml\">{}</pre>",
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

// ---- refused records ----------------------------------------------------------------------

#[derive(Deserialize)]
struct RejectedPageQuery {
    #[serde(default)]
    all: bool,
    notice: Option<String>,
}

/// Pulled records the plugin refused: kept with the reason, never lost behind a cursor.
async fn rejected_page(
    s: Signed,
    State(state): State<AppState>,
    Query(q): Query<RejectedPageQuery>,
) -> PageResult {
    let list = rejected_api::list(
        &state,
        &s.actor,
        RejectedQuery {
            all: q.all,
            limit: Some(200),
            ..RejectedQuery::default()
        },
    )
    .await
    .map_err(|e| s.failed("/rejected", e))?;
    let names = s.connection_names(&state, "/rejected").await?;
    let mut c = String::from(
        "<p class=\"lead\">Records a scheduled pull brought that the plugin refused. They are kept with the plugin's reason before the pull moves on, mapped again when a new plugin version runs or the source sends them again, or now with Retry.</p>",
    );
    c.push_str(if q.all {
        "<p><a href=\"/rejected\">Show only those still refused</a></p>"
    } else {
        "<p><a href=\"/rejected?all=true\">Also show those mapped since</a></p>"
    });
    if list.is_empty() {
        c.push_str("<p>No refused records.</p>");
    } else {
        c.push_str(&table_head(
            "rejected",
            Some("Newest first (at most 200)"),
            &[
                "Connection",
                "Plugin",
                "Record",
                "Reason",
                "Refused",
                "Last",
                "Action",
            ],
        ));
        let operator = s.actor.token.scope.allows(Scope::Operator);
        for r in &list {
            let record = match &r.source_id {
                Some(id) => format!("{} {}", r.kind, id),
                None => r.kind.clone(),
            };
            let action = match (r.resolved_at, r.record_id) {
                (Some(_), Some(_)) => "mapped".to_string(),
                _ if !r.retriable => "too large to keep: have the source send it again".into(),
                _ if operator => action_button(
                    &format!("/rejected/{}/retry", r.id),
                    Button::Primary,
                    "Retry",
                    Some(&format!("Retry refused record {record}")),
                ),
                _ => String::new(),
            };
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}×</td><td>{}</td><td>{action}</td></tr>",
                connection_label(&names, r.connection_id),
                esc(&r.plugin),
                esc(&r.plugin_version),
                esc(&record),
                esc(&r.reason),
                r.attempts,
                time(r.last_at),
            );
        }
        c.push_str("</tbody></table>");
    }
    let notice = notice_text(&NoticeQuery { notice: q.notice });
    Ok(s.show("/rejected", "Refused records", notice, &c))
}

async fn retry_rejected(
    s: Signed,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> PageResult {
    let retried = rejected_api::retry(&state, &s.actor, id)
        .await
        .map_err(|e| s.failed("/rejected", e))?;
    let key = match retried.outcome {
        RetryOutcome::Queued => "rejected-queued",
        RetryOutcome::StillRefused => "rejected-still-refused",
        RetryOutcome::NotKept => "rejected-not-kept",
        RetryOutcome::AlreadyMapped => "rejected-already-mapped",
    };
    Ok(see_other(&format!("/rejected?notice={key}")))
}
