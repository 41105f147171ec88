//! The Schedules page: each connection's pull schedules (plugin, crontab, timezone, next and
//! last run, the source account it shares with another connection), with "Pull now", delete
//! and an add form for admins. Every action is the `connections_api` operation the JSON API
//! runs, so scopes, the fence, the shared-account confirmation and audit rows are the same.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;

use super::html::{Button, action_button, esc, post_form, table_head, time};
use super::signed::{NoticeQuery, PageResult, Signed, notice_text, see_other};
use crate::admin::connections_api::{self, NewSchedule};
use crate::state::AppState;
use crate::store::tokens::Scope;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/schedules", get(schedules).post(add_schedule))
        .route("/schedules/{id}/run", post(run_now))
        .route("/schedules/{id}/delete", post(delete_schedule))
}

async fn schedules(
    s: Signed,
    State(state): State<AppState>,
    Query(nq): Query<NoticeQuery>,
) -> PageResult {
    let list = connections_api::schedules(&state, &s.actor)
        .await
        .map_err(|e| s.failed("/schedules", e))?;
    let names = s.connection_names(&state, "/schedules").await?;
    let name_of = |id: i64| {
        names
            .iter()
            .find(|(i, _)| *i == id)
            .map_or_else(|| format!("#{id}"), |(_, n)| n.clone())
    };
    let admin = s.actor.token.scope.allows(Scope::Admin) && !s.actor.fence().is_fenced();
    let mut c = String::from(
        "<p class=\"lead\">Scheduled pulls bring records from a source system into one company file. Each connection has its own schedules, so two firms on one plugin pull their own accounts.</p>",
    );
    if list.is_empty() {
        c.push_str("<p>No schedules yet.</p>");
    } else {
        c.push_str(&table_head(
            "",
            Some("Pull schedules"),
            &[
                "Connection",
                "Plugin",
                "When",
                "Next run",
                "Last run",
                "Shares its source account with",
                "",
            ],
        ));
        for v in &list {
            let r = &v.row;
            let last = match (&r.last_run_at, &r.last_result) {
                (Some(at), Some(result)) => format!("{} — {}", time(*at), esc(result)),
                (Some(at), None) => time(*at),
                _ => "never".into(),
            };
            let shared = if v.shares_account_with.is_empty() {
                "—".to_string()
            } else {
                format!(
                    "<strong class=\"warning\">{}</strong>",
                    esc(&v.shares_account_with.join(", "))
                )
            };
            let buttons = if admin {
                format!(
                    "{}{}",
                    action_button(
                        &format!("/schedules/{}/run", r.id),
                        Button::Secondary,
                        "Pull now",
                        Some(&format!("Pull now: schedule {}", r.id)),
                    ),
                    action_button(
                        &format!("/schedules/{}/delete", r.id),
                        Button::Danger,
                        "Delete",
                        Some(&format!("Delete schedule {}", r.id)),
                    )
                )
            } else {
                String::new()
            };
            let _ = write!(
                c,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code> ({})</td><td>{}</td><td>{last}</td><td>{shared}</td><td>{buttons}</td></tr>",
                esc(&name_of(r.connection_id)),
                esc(&r.plugin),
                esc(&r.cron),
                esc(&r.timezone),
                r.next_run_at.map_or_else(|| "never".into(), time),
            );
        }
        c.push_str("</tbody></table>");
    }
    if admin {
        let pullers: Vec<String> = state
            .plugins
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v.manifest.supports_pull)
            .map(|v| v.manifest.name)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let options = |items: &[String]| -> String {
            items
                .iter()
                .map(|n| format!("<option value=\"{0}\">{0}</option>", esc(n)))
                .collect()
        };
        let connection_names: Vec<String> = names.iter().map(|(_, n)| n.clone()).collect();
        let inner = format!(
            "<h2>Add a schedule</h2>\
             <label for=\"s-connection\">Connection</label><select id=\"s-connection\" name=\"connection\" required>{}</select>\
             <label for=\"s-plugin\">Plugin</label><select id=\"s-plugin\" name=\"plugin\" required>{}</select>\
             <label for=\"s-cron\">When (crontab: minute hour day month weekday)</label><input id=\"s-cron\" name=\"cron\" required placeholder=\"*/15 * * * *\">\
             <label for=\"s-tz\">Timezone</label><input id=\"s-tz\" name=\"timezone\" value=\"{}\">\
             <label for=\"s-cursor\">Start cursor (optional, in the plugin's format)</label><input id=\"s-cursor\" name=\"cursor\">\
             <label class=\"check\"><input type=\"checkbox\" name=\"shared_account\" value=\"on\"> This connection may pull a source account another connection's schedule pulls</label>\
             <button type=\"submit\">Add schedule</button>",
            options(&connection_names),
            options(&pullers),
            esc(&state.config.firm_timezone),
        );
        c.push_str(&post_form("/schedules", "stack", &inner));
    }
    Ok(s.show("/schedules", "Schedules", notice_text(&nq), &c))
}

/// The add form (a checkbox sends `on` only when ticked).
#[derive(Deserialize)]
struct ScheduleForm {
    connection: String,
    plugin: String,
    cron: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    shared_account: Option<String>,
}

async fn add_schedule(
    s: Signed,
    State(state): State<AppState>,
    Form(f): Form<ScheduleForm>,
) -> PageResult {
    let given = |v: String| {
        let v = v.trim().to_string();
        (!v.is_empty()).then_some(v)
    };
    let body = NewSchedule {
        connection: f.connection,
        plugin: f.plugin,
        cron: f.cron.trim().to_string(),
        timezone: given(f.timezone),
        cursor: given(f.cursor),
        shared_account: f.shared_account.is_some(),
    };
    connections_api::add_schedule_op(&state, &s.actor, body)
        .await
        .map_err(|e| s.failed("/schedules", e))?;
    Ok(see_other("/schedules?notice=schedule-added"))
}

async fn run_now(s: Signed, State(state): State<AppState>, Path(id): Path<i64>) -> PageResult {
    connections_api::run_schedule_op(&state, &s.actor, id)
        .await
        .map_err(|e| s.failed("/schedules", e))?;
    Ok(see_other("/schedules?notice=schedule-due"))
}

async fn delete_schedule(
    s: Signed,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> PageResult {
    connections_api::remove_schedule_op(&state, &s.actor, id)
        .await
        .map_err(|e| s.failed("/schedules", e))?;
    Ok(see_other("/schedules?notice=schedule-deleted"))
}
