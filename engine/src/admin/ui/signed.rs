//! What every signed-in page shares: the one extractor ([`Signed`]) that checks the session
//! and fetches the support banner's grants, the page frame, the failure page, and the fixed
//! `?notice=` texts a write redirects to (so a reload never repeats a post and a link cannot
//! put words in qbridge's mouth).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::{Frame, esc, page};
use super::{active_grants, html_response, refusal};
use crate::admin::api::GrantView;
use crate::admin::auth::{Actor, ApiError};
use crate::admin::overview::connection_rows;
use crate::state::AppState;
use crate::store::tokens::Scope;

/// A signed-in request: who, and the banner's grants.
pub(super) struct Signed {
    pub(super) actor: Actor,
    pub(super) grants: Vec<GrantView>,
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

    /// The connections this caller may see as `(id, name)`, by name (a token fenced to a
    /// plugin sees none); when that fails, the failure page of section `nav`.
    pub(super) async fn connection_names(
        &self,
        state: &AppState,
        nav: &str,
    ) -> Result<Vec<(i64, String)>, Response> {
        Ok(connection_rows(state, &self.actor, None)
            .await
            .map_err(|e| self.failed(nav, e))?
            .into_iter()
            .map(|row| (row.id, row.name))
            .collect())
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
    pub(super) notice: Option<String>,
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
        "plugin-config-set" => "Setting saved: the plugin's next call uses it.",
        "plugin-config-unset" => "Setting removed: the plugin's next call no longer sees it.",
        "rejected-queued" => "The record mapped with the running plugin version and is queued.",
        "rejected-still-refused" => {
            "The running plugin version still refuses the record; its reason is updated below."
        }
        "rejected-not-kept" => "That record was too large to keep: have the source send it again.",
        "rejected-already-mapped" => "That record has mapped already.",
        "alert-test-queued" => "A test alert is queued; its delivery appears under Recent alerts.",
        "webhook-deleted" => "Destination deleted; it receives no more alerts.",
        "schedule-added" => "Schedule added; it pulls at its next run.",
        "schedule-due" => "The schedule pulls at the scheduler's next check.",
        "schedule-deleted" => "Schedule deleted; it pulls no more.",
        _ => return None,
    })
}

pub(super) fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}
