//! Request authentication for the admin API: `Authorization: Bearer qbr_…` (or `qbs_…` for
//! support grants), or the web UI's session cookie. The cookie holds a server-side session id
//! (`store::admin_sessions`), never the token: sign-out, idle and absolute expiry and the
//! token's revocation all end it.
//!
//! Tenant fences: [`Actor::require`] is for routes about the whole instance and refuses a
//! token fenced to a connection or plugin; routes about one tenant's data use
//! [`Actor::require_in`] (one object: 404 outside the fence, as if it did not exist) or filter
//! their lists with [`Actor::fence`]. So a route that only calls `require` is closed to
//! fenced tokens by default.
//!
//! The cookie is `HttpOnly; SameSite=Strict`; on top of that, a state-changing request that
//! authenticates by cookie must come from a page of this server (`Origin`, or `Referer` when a
//! browser omits it, names the request's own host), so no other site can post forms with it.
//!
//! Tokens are never logged; refusals say only whether a token was missing, malformed,
//! unknown, expired or revoked, so a support engineer knows to ask for a new grant.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::Store;
use crate::store::audit::AuditEntry;
use crate::store::tokens::{Fence, Scope, TokenCheck, TokenInfo};

/// The authenticated caller of an admin request.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The token or grant used.
    pub token: TokenInfo,
    /// Client address, for the audit log.
    pub ip: Option<String>,
    /// Client user agent, for the audit log.
    pub user_agent: Option<String>,
}

impl Actor {
    /// Refuses with 403 unless the caller's scope allows `needed` and the caller is not
    /// fenced to one tenant: for routes whose data spans every connection and plugin.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        self.require_scope(needed)?;
        if self.token.fence.is_fenced() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this {} is limited to {}; this action concerns the whole instance",
                    self.token.kind, self.token.fence
                ),
            ));
        }
        Ok(())
    }

    /// Refuses unless the scope allows `needed` and the data of `connection_id` (and
    /// `plugin`, when the object has one) lies inside the caller's fence. Outside it the
    /// answer is 404, the same as for an id that does not exist, so ids of other tenants
    /// cannot be probed.
    pub fn require_in(
        &self,
        needed: Scope,
        connection_id: i64,
        plugin: Option<&str>,
        what: &str,
    ) -> Result<(), ApiError> {
        self.require_scope(needed)?;
        if self.token.fence.admits(connection_id, plugin) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{what} not found"),
            ))
        }
    }

    /// The tenant this caller is limited to (lists filter with it).
    pub fn fence(&self) -> &Fence {
        &self.token.fence
    }

    /// Refuses with 403 unless the caller's scope allows `needed`, fence not considered: only
    /// for operations that then apply [`Actor::fence`] or [`Actor::require_in`] themselves.
    pub(crate) fn require_scope(&self, needed: Scope) -> Result<(), ApiError> {
        if self.token.scope.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this {} has scope `{}`; this action needs `{}`",
                    self.token.kind,
                    self.token.scope.as_str(),
                    needed.as_str()
                ),
            ))
        }
    }

    /// An audit entry for an action by this caller.
    pub fn audit(&self, action: &str, target: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            actor: self.token.actor(),
            action: action.to_string(),
            target: target.to_string(),
            detail,
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// A JSON error: `{"error": "…"}` with a status code.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            axum::Json(serde_json::json!({"error": self.message})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"qbridge\""),
            );
        }
        resp
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        let status = match &e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "store error in admin API");
        }
        ApiError::new(status, e.to_string())
    }
}

/// Name of the web UI's session cookie (its value is a session id, `qbc_…`).
pub(crate) const SESSION_COOKIE: &str = "qbridge_session";

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The session cookie's value, if the request carries one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// True when `Origin` (or, without it, `Referer`) names this request's own `Host`: the form
/// was posted by one of our pages, not by another site.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    source
        .and_then(|s| s.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
}

impl<S> FromRequestParts<S> for Actor
where
    Store: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let store = Store::from_ref(state);
        let unauthorized = |why: &str| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "{why}: send `Authorization: Bearer <token>` (create one with `qbridge token create`)"
                ),
            )
        };
        let (presented, by_cookie) = match bearer(&parts.headers) {
            Some(t) => (t.to_owned(), false),
            None => match session_cookie(&parts.headers) {
                Some(t) => (t.to_owned(), true),
                None => return Err(unauthorized("no token")),
            },
        };
        if by_cookie && !parts.method.is_safe() && !same_origin(&parts.headers) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-site request refused: submit the form from qbridge's own pages",
            ));
        }
        let check = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                if by_cookie {
                    store.check_admin_session(&presented)
                } else {
                    store.check_token(&presented)
                }
            })
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "token check failed"))??
        };
        let token = match check {
            TokenCheck::Valid(t) => *t,
            TokenCheck::Refused(why) => return Err(unauthorized(why)),
        };
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect());
        let actor = Actor {
            token,
            ip,
            user_agent,
        };
        if actor.token.kind == "grant" {
            // Every request made under a support grant is audited as that grant.
            let entry = actor.audit(
                "http.request",
                &format!("{} {}", parts.method, parts.uri.path()),
                serde_json::Value::Null,
            );
            tokio::task::spawn_blocking(move || store.audit(&entry))
                .await
                .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "audit failed"))??;
        }
        Ok(actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_posts_from_our_own_host_count_as_same_origin() {
        let host = (header::HOST, "qb.example.com:8443");
        assert!(same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "https://qb.example.com:8443")
        ])));
        assert!(same_origin(&headers(&[
            host.clone(),
            (header::REFERER, "https://qb.example.com:8443/jobs?x=1")
        ])));
        for evil in [
            "https://evil.example",
            "https://qb.example.com:8443.evil.example",
            "https://qb.example.com",
            "null",
        ] {
            assert!(
                !same_origin(&headers(&[host.clone(), (header::ORIGIN, evil)])),
                "{evil}"
            );
        }
        assert!(
            !same_origin(&headers(&[host])),
            "neither Origin nor Referer"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[(
            header::COOKIE,
            "theme=dark; qbridge_session=qbc_abc ; other=1",
        )]);
        assert_eq!(session_cookie(&h), Some("qbc_abc"));
        assert_eq!(
            session_cookie(&headers(&[(header::COOKIE, "qbridge_sessionx=1")])),
            None
        );
    }
}
