//! Web UI sessions: what the UI's cookie names instead of the API token.
//!
//! Signing in with a token creates a row here and gives the browser a fresh random session id
//! (`qbc_…`, the token format with its own prefix); only the id's SHA-256 is stored. The
//! cookie therefore never holds the API token: a stolen cookie is worth one session, which
//! ends at sign-out, after `idle_ms` without a request, at `expires_at` (the absolute limit,
//! never later than the token's own expiry), and when the token is revoked.

use crate::store::sql::{OptionalExt, params};

use super::audit::now_ms;
use super::tokens::{self, TokenCheck, TokenInfo};
use super::{Store, StoreError};

/// Prefix of a UI session id (`c` for cookie), so a leaked one is recognisable.
pub const SESSION_PREFIX: &str = "qbc_";

/// A session's last activity is written at most this often: a page full of requests does not
/// turn into a write per request, and idle expiry stays accurate to a minute.
const TOUCH_EVERY_MS: i64 = 60_000;

/// How long a UI session may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends after this long without a request.
    pub idle_ms: i64,
    /// Ends this long after sign-in, whatever the activity.
    pub max_ms: i64,
}

/// A session just created: the id for the cookie (shown once) and when it ends at the latest.
#[derive(Debug)]
pub struct NewSession {
    /// The cookie value; never stored.
    pub id: String,
    /// Unix ms of the absolute expiry.
    pub expires_at: i64,
}

fn digest(id: &str) -> String {
    use sha2::{Digest, Sha256};
    super::audit::hex(&Sha256::digest(id.as_bytes()))
}

impl Store {
    /// Starts a UI session for a valid token. Also forgets sessions that ended more than a day
    /// ago, so the table does not grow with every sign-in.
    pub fn create_admin_session(
        &self,
        token: &TokenInfo,
        limits: SessionLimits,
    ) -> Result<NewSession, StoreError> {
        let id = tokens::generate(SESSION_PREFIX);
        let now = now_ms();
        let expires_at = token
            .expires_at
            .map_or(now + limits.max_ms, |e| e.min(now + limits.max_ms));
        self.write(|tx| {
            tx.execute(
                "DELETE FROM admin_session WHERE expires_at < ?1 OR revoked_at < ?1",
                [now - 86_400_000],
            )?;
            tx.execute(
                "INSERT INTO admin_session(hash, token_id, created_at, last_seen_at, idle_ms, expires_at)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
                params![digest(&id), token.id, now, limits.idle_ms, expires_at],
            )?;
            Ok::<_, StoreError>(())
        })?;
        Ok(NewSession { id, expires_at })
    }

    /// Checks a session id from a cookie and returns its token. Refused when the session was
    /// ended, has been idle too long, is past its absolute expiry, or its token is no longer
    /// valid (revoked or expired).
    pub fn check_admin_session(&self, presented: &str) -> Result<TokenCheck, StoreError> {
        if !tokens::well_formed_with(presented, SESSION_PREFIX) {
            return Ok(TokenCheck::Refused("malformed session"));
        }
        let hash = digest(presented);
        let found = self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT s.id, s.hash, s.last_seen_at, s.idle_ms, s.expires_at, s.revoked_at, {}
                     FROM admin_session s JOIN token t ON t.id = s.token_id WHERE s.hash = ?1",
                    tokens::COLUMNS_AS_T
                ),
                [&hash],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        tokens::info_at(r, 6)?,
                    ))
                },
            )
            .optional()
        })?;
        let Some((row, stored, last_seen, idle_ms, expires_at, revoked_at, token)) = found else {
            return Ok(TokenCheck::Refused("unknown session"));
        };
        use subtle::ConstantTimeEq;
        if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
            return Ok(TokenCheck::Refused("unknown session"));
        }
        let now = now_ms();
        if revoked_at.is_some() {
            return Ok(TokenCheck::Refused("signed out"));
        }
        if now >= expires_at || now - last_seen >= idle_ms {
            return Ok(TokenCheck::Refused("session expired"));
        }
        if token.revoked_at.is_some() {
            return Ok(TokenCheck::Refused("token revoked"));
        }
        if token.expires_at.is_some_and(|e| e <= now) {
            return Ok(TokenCheck::Refused("token expired"));
        }
        if now - last_seen >= TOUCH_EVERY_MS {
            self.write(|tx| {
                tx.execute(
                    "UPDATE admin_session SET last_seen_at = ?2 WHERE id = ?1",
                    params![row, now],
                )?;
                Ok::<_, StoreError>(())
            })?;
        }
        Ok(TokenCheck::Valid(Box::new(token)))
    }

    /// Ends a session (sign-out). Returns the token it belonged to, if the id named a live
    /// session; an unknown or already ended id is not an error (signing out twice is fine).
    pub fn end_admin_session(&self, presented: &str) -> Result<Option<TokenInfo>, StoreError> {
        let token = match self.check_admin_session(presented)? {
            TokenCheck::Valid(t) => Some(*t),
            TokenCheck::Refused(_) => None,
        };
        if tokens::well_formed_with(presented, SESSION_PREFIX) {
            let hash = digest(presented);
            self.write(|tx| {
                tx.execute(
                    "UPDATE admin_session SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL",
                    params![hash, now_ms()],
                )?;
                Ok::<_, StoreError>(())
            })?;
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tokens::Scope;

    const LIMITS: SessionLimits = SessionLimits {
        idle_ms: 60 * 60_000,
        max_ms: 12 * 60 * 60_000,
    };

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        (dir, s)
    }

    fn token(s: &Store) -> (TokenInfo, String) {
        let (_, secret) = s
            .create_token(false, Scope::Admin, "ui", None, None, "test")
            .unwrap();
        match s.check_token(&secret).unwrap() {
            TokenCheck::Valid(t) => (*t, secret),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_session_id_is_not_the_token_and_is_stored_hashed() {
        let (dir, s) = store();
        let (info, secret) = token(&s);
        let session = s.create_admin_session(&info, LIMITS).unwrap();
        assert!(session.id.starts_with(SESSION_PREFIX) && session.id != secret);
        assert!(matches!(
            s.check_admin_session(&session.id).unwrap(),
            TokenCheck::Valid(t) if t.id == info.id
        ));
        assert_eq!(
            s.check_token(&session.id).unwrap(),
            TokenCheck::Refused("malformed token"),
            "a session id is no API token"
        );
        assert_eq!(
            s.check_admin_session(&secret).unwrap(),
            TokenCheck::Refused("malformed session"),
            "an API token is no session id"
        );
        drop(s);
        for file in ["qbridge.db", "qbridge.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            let needle = session.id.as_bytes();
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn sign_out_and_token_revocation_end_the_session() {
        let (_dir, s) = store();
        let (info, _) = token(&s);
        let first = s.create_admin_session(&info, LIMITS).unwrap();
        let second = s.create_admin_session(&info, LIMITS).unwrap();
        assert_eq!(
            s.end_admin_session(&first.id).unwrap().map(|t| t.id),
            Some(info.id)
        );
        assert_eq!(
            s.check_admin_session(&first.id).unwrap(),
            TokenCheck::Refused("signed out")
        );
        assert!(matches!(
            s.check_admin_session(&second.id).unwrap(),
            TokenCheck::Valid(_)
        ));
        s.revoke_tokens(Some(info.id), "test").unwrap();
        assert_eq!(
            s.check_admin_session(&second.id).unwrap(),
            TokenCheck::Refused("signed out"),
            "revoking the token ends its sessions"
        );
    }

    #[test]
    fn idle_and_absolute_expiry_end_the_session() {
        let (_dir, s) = store();
        let (info, _) = token(&s);
        let idle = s
            .create_admin_session(
                &info,
                SessionLimits {
                    idle_ms: 0,
                    max_ms: LIMITS.max_ms,
                },
            )
            .unwrap();
        assert_eq!(
            s.check_admin_session(&idle.id).unwrap(),
            TokenCheck::Refused("session expired")
        );
        let short = s
            .create_admin_session(
                &info,
                SessionLimits {
                    idle_ms: LIMITS.idle_ms,
                    max_ms: 0,
                },
            )
            .unwrap();
        assert_eq!(
            s.check_admin_session(&short.id).unwrap(),
            TokenCheck::Refused("session expired")
        );
    }

    #[test]
    fn a_grant_session_ends_with_the_grant() {
        let (_dir, s) = store();
        let expiry = now_ms() + 60_000;
        let (_, secret) = s
            .create_token(true, Scope::Read, "Jane", Some("T-1"), Some(expiry), "test")
            .unwrap();
        let TokenCheck::Valid(info) = s.check_token(&secret).unwrap() else {
            panic!("grant refused")
        };
        let session = s.create_admin_session(&info, LIMITS).unwrap();
        assert_eq!(session.expires_at, expiry);
    }
}
