//! The dashboard for many firms: one compact, filterable table of connections by name (state,
//! last contact, waiting, in doubt, failed, last error), jobs finished per day over the last
//! 14 days as an inline SVG chart, and a page per connection.
//!
//! Filtering is a plain GET form (`?q=` part of the name, `?show=` a verdict), so it works
//! without script and a filtered view can be bookmarked. The figures come from
//! `admin::overview`, which reads counters and indexes only.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use super::html::{esc, time, url_part};
use super::signed::{PageResult, Signed};
use crate::admin::api::human_duration;
use crate::admin::auth::ApiError;
use crate::admin::overview::{self, ACTIVITY_DAYS, ConnectionRow, Verdict};
use crate::state::AppState;
use crate::store::activity::DayActivity;
use crate::store::audit::now_ms;

/// Dashboard routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/connections/{id}", get(connection_page))
}

#[derive(Deserialize)]
struct DashboardQuery {
    q: Option<String>,
    show: Option<String>,
}

async fn dashboard(
    s: Signed,
    State(state): State<AppState>,
    Query(query): Query<DashboardQuery>,
) -> PageResult {
    let find = query.q.as_deref().unwrap_or("").trim().to_string();
    let show = match query.show.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(key) => Some(Verdict::from_key(key).ok_or_else(|| {
            s.failed(
                "/",
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "show must be one of {}",
                        Verdict::ALL.map(Verdict::key).join(", ")
                    ),
                ),
            )
        })?),
    };
    let rows = overview::connection_rows(&state, &s.actor, None)
        .await
        .map_err(|e| s.failed("/", e))?;
    let activity = overview::activity(&state, rows.iter().map(|r| r.id).collect())
        .await
        .map_err(|e| s.failed("/", e))?;
    let mut c = String::new();
    if rows.is_empty() {
        c.push_str("<p class=\"lead\">No connections yet. Add one (<code>qbridge connection add</code>) and its line appears here with a plain verdict on whether the sync works.</p>");
        return Ok(s.show("/", "Dashboard", None, &c));
    }
    summary(&mut c, &rows);
    let _ = write!(
        c,
        "<figure class=\"activity\"><figcaption>Jobs finished per day, last {ACTIVITY_DAYS} days (all connections shown)</figcaption>{}</figure>",
        chart(&activity)
    );
    filters(&mut c, &find, show);
    let needle = find.to_lowercase();
    let shown: Vec<&ConnectionRow> = rows
        .iter()
        .filter(|r| needle.is_empty() || r.name.to_lowercase().contains(&needle))
        .filter(|r| show.is_none_or(|v| r.verdict == v))
        .collect();
    if shown.is_empty() {
        c.push_str("<p>No connection matches.</p>");
    } else {
        connections_table(&mut c, &shown, rows.len());
    }
    Ok(s.show("/", "Dashboard", None, &c))
}

/// One line of counts by verdict, each a link to the filtered table.
fn summary(c: &mut String, rows: &[ConnectionRow]) {
    c.push_str("<p class=\"verdicts\">");
    for v in Verdict::ALL {
        let n = rows.iter().filter(|r| r.verdict == v).count();
        let _ = write!(
            c,
            "<a class=\"badge {key}\" href=\"/?show={key}\">{} {n}</a> ",
            v.label(),
            key = v.key()
        );
    }
    c.push_str("</p>");
}

fn filters(c: &mut String, find: &str, show: Option<Verdict>) {
    let _ = write!(
        c,
        "<form method=\"get\" action=\"/\" class=\"filters\" role=\"search\"><label for=\"q\">Find a connection</label><input id=\"q\" name=\"q\" type=\"search\" value=\"{}\"><label for=\"show\">Show</label><select id=\"show\" name=\"show\"><option value=\"\">all</option>",
        esc(find)
    );
    for v in Verdict::ALL {
        let sel = if show == Some(v) { " selected" } else { "" };
        let _ = write!(
            c,
            "<option value=\"{}\"{sel}>{}</option>",
            v.key(),
            v.label()
        );
    }
    c.push_str("</select><button type=\"submit\">Filter</button></form>");
}

fn connections_table(c: &mut String, rows: &[&ConnectionRow], total: usize) {
    let _ = write!(
        c,
        "<table class=\"connections\"><caption>{} of {total} connections, by name</caption><thead><tr><th scope=\"col\">Connection</th><th scope=\"col\">State</th><th scope=\"col\">Last contact</th><th scope=\"col\">Waiting</th><th scope=\"col\">In doubt</th><th scope=\"col\">Failed</th><th scope=\"col\">Last error</th></tr></thead><tbody>",
        rows.len()
    );
    for r in rows {
        let _ = write!(
            c,
            "<tr><th scope=\"row\"><a href=\"/connections/{id}\">{}</a></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"last-error\">{}</td></tr>",
            esc(&r.name),
            verdict_badge(r.verdict),
            last_contact(r.last_contact_at),
            if r.waiting == 0 {
                "0".to_string()
            } else {
                // Waiting spans several states: the connection's page breaks it down.
                format!("<a href=\"/connections/{}\">{}</a>", r.id, r.waiting)
            },
            count_link(r.id, "in_doubt", r.in_doubt),
            count_link(r.id, "discarded", r.failed),
            r.last_error.as_ref().map_or_else(
                || "—".to_string(),
                |(e, at)| format!("{} <span class=\"when\">{}</span>", esc(e), time(*at))
            ),
            id = r.id,
        );
    }
    c.push_str("</tbody></table>");
}

fn verdict_badge(v: Verdict) -> String {
    format!("<span class=\"badge {}\">{}</span>", v.key(), v.label())
}

fn last_contact(at: Option<i64>) -> String {
    at.map_or_else(
        || "never".to_string(),
        |t| format!("{} ago", human_duration((now_ms() - t).max(0))),
    )
}

/// A count that links to the connection's jobs in that state (plain 0 when none).
fn count_link(connection: i64, state: &str, n: i64) -> String {
    if n == 0 {
        "0".to_string()
    } else {
        format!(
            "<a href=\"/jobs?connection={connection}&amp;state={}\">{n}</a>",
            url_part(state)
        )
    }
}

/// Jobs finished per day as a bar chart: completed in green, failed stacked in red above,
/// each bar with its figures as a tooltip; the chart's text alternative sums them up.
fn chart(days: &[DayActivity]) -> String {
    const W: i64 = 14;
    const GAP: i64 = 4;
    const H: i64 = 60;
    let max = days
        .iter()
        .map(|d| d.completed + d.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let (completed, failed): (i64, i64) = days
        .iter()
        .fold((0, 0), |(c, f), d| (c + d.completed, f + d.failed));
    let width = days.len() as i64 * (W + GAP);
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {width} {}\" width=\"{width}\" height=\"{}\" aria-label=\"{completed} jobs completed and {failed} failed over the last {} days\">",
        H + 12,
        H + 12,
        days.len()
    );
    for (i, d) in days.iter().enumerate() {
        let x = i as i64 * (W + GAP);
        let ok = d.completed * H / max;
        let bad = d.failed * H / max;
        let date = chrono::DateTime::from_timestamp(d.day * 86_400, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let _ = write!(
            svg,
            "<g class=\"day\"><title>{}: {} completed, {} failed</title><rect class=\"completed\" x=\"{x}\" y=\"{}\" width=\"{W}\" height=\"{ok}\"></rect><rect class=\"failed\" x=\"{x}\" y=\"{}\" width=\"{W}\" height=\"{bad}\"></rect><rect class=\"base\" x=\"{x}\" y=\"{H}\" width=\"{W}\" height=\"2\"></rect></g>",
            esc(&date),
            d.completed,
            d.failed,
            H - ok,
            H - ok - bad,
        );
    }
    svg.push_str("</svg>");
    svg
}

async fn connection_page(
    s: Signed,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> PageResult {
    let row = overview::connection_rows(&state, &s.actor, Some(id))
        .await
        .and_then(|rows| {
            rows.into_iter()
                .next()
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such connection"))
        })
        .map_err(|e| s.failed("/", e))?;
    let activity = overview::activity(&state, vec![row.id])
        .await
        .map_err(|e| s.failed("/", e))?;
    let mut c = String::new();
    let _ = write!(
        c,
        "<p class=\"verdict\">{}</p><dl class=\"facts\"><dt>Last contact</dt><dd>{}</dd><dt>Oldest waiting job</dt><dd>{}</dd><dt>Last error</dt><dd>{}</dd></dl>",
        verdict_badge(row.verdict),
        last_contact(row.last_contact_at),
        row.oldest_waiting_ms
            .map_or("none waiting".to_string(), |a| format!(
                "waiting {}",
                human_duration(a)
            )),
        row.last_error.as_ref().map_or_else(
            || "none".to_string(),
            |(e, at)| format!("{} ({})", esc(e), time(*at))
        ),
    );
    let n = |st: &str| row.counts.get(st).copied().unwrap_or(0);
    let mut warnings = Vec::new();
    if n("discarded") > 0 {
        warnings.push(format!("{} job(s) failed and will not be retried automatically: read the advice on each, fix the cause, then retry or cancel it.", n("discarded")));
    }
    if n("held") > 0 {
        warnings.push(format!("{} job(s) are held because a job they depend on failed or was cancelled, or QuickBooks kept refusing them.", n("held")));
    }
    if n("in_doubt") > 0 {
        warnings.push(format!("{} job(s) were sent but QuickBooks' answer never arrived; qbridge checks with QuickBooks on the next sync before sending anything again.", n("in_doubt")));
    }
    if !warnings.is_empty() {
        c.push_str("<ul class=\"warnings\">");
        for w in &warnings {
            let _ = write!(c, "<li>{}</li>", esc(w));
        }
        c.push_str("</ul>");
    }
    let _ = write!(
        c,
        "<figure class=\"activity\"><figcaption>Jobs finished per day, last {ACTIVITY_DAYS} days</figcaption>{}</figure>",
        chart(&activity)
    );
    if row.counts.is_empty() {
        c.push_str("<p>No jobs yet.</p>");
    } else {
        c.push_str("<table><caption>Jobs by state</caption><thead><tr><th scope=\"col\">State</th><th scope=\"col\">Jobs</th></tr></thead><tbody>");
        for (st, count) in &row.counts {
            let _ = write!(
                c,
                "<tr><td><a href=\"/jobs?connection={}&amp;state={}\">{}</a></td><td>{count}</td></tr>",
                row.id,
                url_part(st),
                esc(st)
            );
        }
        c.push_str("</tbody></table>");
    }
    let _ = write!(
        c,
        "<p><a href=\"/jobs?connection={}\">All jobs of {}</a> · <a href=\"/connections\">Web Connector setup</a></p>",
        row.id,
        esc(&row.name)
    );
    Ok(s.show("/", &row.name, None, &c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_day_scaled_to_the_busiest() {
        let days: Vec<DayActivity> = (0..14)
            .map(|i| DayActivity {
                day: 20_000 + i,
                completed: i,
                failed: i64::from(i == 13),
            })
            .collect();
        let svg = chart(&days);
        assert_eq!(svg.matches("<g class=\"day\">").count(), 14);
        assert!(
            svg.contains("aria-label=\"91 jobs completed and 1 failed over the last 14 days\""),
            "{svg}"
        );
        // The busiest day (13 + 1) fills the height; an empty day has no bar.
        assert!(svg.contains("13 completed, 1 failed"), "{svg}");
        assert!(
            svg.contains("class=\"completed\" x=\"0\" y=\"60\" width=\"14\" height=\"0\""),
            "{svg}"
        );
        assert!(svg.contains("height=\"55\"></rect><rect class=\"failed\" x=\"234\" y=\"1\" width=\"14\" height=\"4\""), "{svg}");
    }
}
