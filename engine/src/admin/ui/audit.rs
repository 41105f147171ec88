//! The audit log pages: newest first, paged, and the chain's verification.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

use super::html::{esc, time};
use super::signed::{PageResult, Signed};
use crate::admin::audit_api;
use crate::state::AppState;

/// The audit pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit))
        .route("/audit/verify", get(audit_verify))
}

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
