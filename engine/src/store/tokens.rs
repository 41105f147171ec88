//! API tokens and temporary support grants.
//!
//! A token is shown once and stored only as its SHA-256 (a fast hash is right for 256-bit
//! random secrets; argon2 is for human passwords). Support grants are tokens with a grantee,
//! a reason and a mandatory expiry; expiry and revocation are checked on every request.
//!
//! A token or grant may also be fenced ([`Fence`]) to one connection (company file) and/or one
//! plugin: an ingest token made for one firm's webhook feeds only that firm's company file
//! through that plugin, and a fenced operator sees only that firm's jobs. The admin surface
//! enforces the fence (`admin::auth::Actor`); routes that are not about one tenant (tokens,
//! audit, secrets, plugin management) refuse fenced callers.

use crate::store::sql::{OptionalExt, params};

use super::audit::{AuditEntry, append_in, now_ms};
use super::{Store, StoreError};

/// What a token may do. Each scope includes the ones below it, except `Ingest`, which may
/// only push records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Push source records (`POST /api/v1/ingest/…`) and nothing else.
    Ingest,
    /// Read everything except secrets.
    Read,
    /// Read, plus retry and cancel jobs.
    Operator,
    /// Everything.
    Admin,
}

impl Scope {
    /// Parses `admin`, `operator`/`operate`, `read`/`read-only`, `ingest`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "admin" => Some(Scope::Admin),
            "operator" | "operate" => Some(Scope::Operator),
            "read" | "read-only" | "readonly" => Some(Scope::Read),
            "ingest" => Some(Scope::Ingest),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Operator => "operator",
            Scope::Admin => "admin",
        }
    }

    /// True when a holder of `self` may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        match (self, needed) {
            (Scope::Ingest, Scope::Ingest) | (Scope::Admin, _) => true,
            (Scope::Ingest, _) | (_, Scope::Ingest) => false,
            (have, need) => have >= need,
        }
    }
}

/// The tenant a token is limited to; both `None` = unfenced (the whole instance).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Fence {
    /// Only this connection's (company file's) data.
    pub connection_id: Option<i64>,
    /// Only this plugin's records and jobs.
    pub plugin: Option<String>,
}

impl Fence {
    /// True when the token is limited to a connection or a plugin.
    pub fn is_fenced(&self) -> bool {
        self.connection_id.is_some() || self.plugin.is_some()
    }

    /// True when data of `connection_id` (and, when given, `plugin`) is inside the fence.
    pub fn admits(&self, connection_id: i64, plugin: Option<&str>) -> bool {
        self.connection_id.is_none_or(|c| c == connection_id)
            && match (&self.plugin, plugin) {
                (Some(mine), Some(theirs)) => mine == theirs,
                _ => true,
            }
    }
}

/// `connection 3, plugin ramp`; `everything` when unfenced.
impl std::fmt::Display for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.connection_id, &self.plugin) {
            (Some(c), Some(p)) => write!(f, "connection {c}, plugin {p}"),
            (Some(c), None) => write!(f, "connection {c}"),
            (None, Some(p)) => write!(f, "plugin {p}"),
            (None, None) => f.write_str("everything"),
        }
    }
}

/// A token or grant as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Row id.
    pub id: i64,
    /// `token` or `grant`.
    pub kind: String,
    /// Scope.
    pub scope: Scope,
    /// Free-text label (token) or the support engineer's name (grant).
    pub name: String,
    /// Why a grant was given.
    pub reason: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; `None` = no expiry (tokens only).
    pub expires_at: Option<i64>,
    /// Unix ms when revoked.
    pub revoked_at: Option<i64>,
    /// First characters of the token, to recognise it (`qbr_AbC1…`).
    pub prefix: String,
    /// The tenant it is limited to.
    pub fence: Fence,
}

impl TokenInfo {
    /// Live at `now`: not revoked, not expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    /// How the audit log names the holder.
    pub fn actor(&self) -> String {
        match self.kind.as_str() {
            "grant" => format!("grant:{} ({})", self.id, self.name),
            _ => format!("token:{} ({})", self.id, self.name),
        }
    }
}

/// Why a presented token was refused. Deliberately coarse toward the client.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// Valid.
    Valid(Box<TokenInfo>),
    /// Unknown, malformed, expired or revoked.
    Refused(&'static str),
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new random secret: prefix, 43 base62 characters (≈ 256 bits, rejection-sampled so every
/// character is uniform) and a CRC32 check suffix, so leaked tokens can be recognised by
/// scanners and typos are rejected before any database lookup.
pub fn generate(prefix: &str) -> String {
    let mut body = String::with_capacity(43);
    let mut buf = [0u8; 64];
    while body.len() < 43 {
        getrandom::fill(&mut buf).expect("the OS random source is available");
        for b in buf {
            // 248 = 4 × 62: bytes above it would bias the first characters of the alphabet.
            if (b as usize) < 4 * ALPHABET.len() && body.len() < 43 {
                body.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    format!("{prefix}{body}_{:08x}", crc32(body.as_bytes()))
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in data {
        crc ^= *b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Checks the shape and checksum of a token or grant without touching the database.
pub fn well_formed(token: &str) -> bool {
    well_formed_with(token, "qbr_") || well_formed_with(token, "qbs_")
}

/// Checks the shape and checksum of a secret made by [`generate`] with `prefix`.
pub(crate) fn well_formed_with(token: &str, prefix: &str) -> bool {
    let Some((head, check)) = token.rsplit_once('_') else {
        return false;
    };
    match head.strip_prefix(prefix) {
        Some(body) if body.len() == 43 && check.len() == 8 => {
            format!("{:08x}", crc32(body.as_bytes())) == check
        }
        _ => false,
    }
}

fn digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    super::audit::hex(&Sha256::digest(token.as_bytes()))
}

fn info(r: &crate::store::sql::Row<'_>) -> crate::store::sql::Result<TokenInfo> {
    info_at(r, 0)
}

/// A [`TokenInfo`] from [`COLUMNS`] starting at column `at` of a row.
pub(crate) fn info_at(
    r: &crate::store::sql::Row<'_>,
    at: usize,
) -> crate::store::sql::Result<TokenInfo> {
    let scope: String = r.get(at + 2)?;
    Ok(TokenInfo {
        id: r.get(at)?,
        kind: r.get(at + 1)?,
        // An unknown stored scope reads as the narrowest one rather than failing the request.
        scope: Scope::parse(&scope).unwrap_or(Scope::Ingest),
        name: r.get(at + 3)?,
        reason: r.get(at + 4)?,
        created_at: r.get(at + 5)?,
        expires_at: r.get(at + 6)?,
        revoked_at: r.get(at + 7)?,
        prefix: r.get(at + 8)?,
        fence: Fence {
            connection_id: r.get(at + 9)?,
            plugin: r.get(at + 10)?,
        },
    })
}

const COLUMNS: &str = "id, kind, scope, name, reason, created_at, expires_at, revoked_at, prefix, fence_connection, fence_plugin";
/// [`COLUMNS`] of the token table aliased `t`, for joins.
pub(crate) const COLUMNS_AS_T: &str = "t.id, t.kind, t.scope, t.name, t.reason, t.created_at, t.expires_at, t.revoked_at, t.prefix, t.fence_connection, t.fence_plugin";

impl Store {
    /// Creates an unfenced token or grant and returns `(id, secret)`; the secret is never
    /// stored.
    pub fn create_token(
        &self,
        kind_grant: bool,
        scope: Scope,
        name: &str,
        reason: Option<&str>,
        expires_at: Option<i64>,
        actor: &str,
    ) -> Result<(i64, String), StoreError> {
        self.create_fenced_token(
            kind_grant,
            scope,
            name,
            reason,
            expires_at,
            &Fence::default(),
            actor,
        )
    }

    /// [`Store::create_token`] limited to `fence`. A fence naming a connection that does not
    /// exist is refused (`NotFound`).
    #[allow(clippy::too_many_arguments)] // one argument per column, as `create_token`
    pub fn create_fenced_token(
        &self,
        kind_grant: bool,
        scope: Scope,
        name: &str,
        reason: Option<&str>,
        expires_at: Option<i64>,
        fence: &Fence,
        actor: &str,
    ) -> Result<(i64, String), StoreError> {
        let secret = generate(if kind_grant { "qbs_" } else { "qbr_" });
        let kind = if kind_grant { "grant" } else { "token" };
        self.write(|tx| {
            let now = now_ms();
            if let Some(c) = fence.connection_id {
                let exists: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM qbwc_connection WHERE id=?1)",
                    [c],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Err(StoreError::NotFound(format!("connection {c}")));
                }
            }
            let id = tx.insert(
                "INSERT INTO token(kind, scope, name, reason, hash, prefix, created_at, expires_at, fence_connection, fence_plugin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
                params![kind, scope.as_str(), name, reason, digest(&secret), &secret[..8], now, expires_at, fence.connection_id, fence.plugin],
            )?;
            append_in(
                tx,
                &AuditEntry {
                    actor: actor.to_string(),
                    action: format!("{kind}.create"),
                    target: format!("{kind}:{id}"),
                    detail: serde_json::json!({"scope": scope.as_str(), "name": name, "reason": reason, "expires_at": expires_at, "fence": fence}),
                    ..Default::default()
                },
            )?;
            Ok((id, secret))
        })
    }

    /// Looks a presented secret up; expiry and revocation are checked here, on every call.
    pub fn check_token(&self, presented: &str) -> Result<TokenCheck, StoreError> {
        if !well_formed(presented) {
            return Ok(TokenCheck::Refused("malformed token"));
        }
        let hash = digest(presented);
        let found = self.read(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS}, hash FROM token WHERE hash=?1"),
                [&hash],
                |r| Ok((info(r)?, r.get::<_, String>(11)?)),
            )
            .optional()
        })?;
        let Some((t, stored)) = found else {
            return Ok(TokenCheck::Refused("unknown token"));
        };
        // The lookup was by hash; compare again in constant time so equality of the stored
        // value is never decided by an early-exit comparison.
        use subtle::ConstantTimeEq;
        if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
            return Ok(TokenCheck::Refused("unknown token"));
        }
        let now = now_ms();
        if t.revoked_at.is_some() {
            return Ok(TokenCheck::Refused("token revoked"));
        }
        if t.expires_at.is_some_and(|e| e <= now) {
            return Ok(TokenCheck::Refused("token expired"));
        }
        Ok(TokenCheck::Valid(Box::new(t)))
    }

    /// Tokens and grants, newest first.
    pub fn list_tokens(&self, kind_grant: Option<bool>) -> Result<Vec<TokenInfo>, StoreError> {
        let kind = kind_grant.map(|g| if g { "grant" } else { "token" });
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM token WHERE kind=?1 OR ?1 IS NULL ORDER BY id DESC"
            ))?;
            let rows = stmt
                .query_map([kind], info)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Revokes one token/grant (`Some(id)`) or every active grant (`None`, break-glass).
    /// Returns how many were revoked.
    pub fn revoke_tokens(&self, id: Option<i64>, actor: &str) -> Result<usize, StoreError> {
        self.write(|tx| {
            let now = now_ms();
            let n = match id {
                Some(id) => {
                    let exists: bool =
                        tx.query_row("SELECT EXISTS(SELECT 1 FROM token WHERE id=?1)", [id], |r| r.get(0))?;
                    if !exists {
                        return Err(StoreError::NotFound(format!("token or grant {id}")));
                    }
                    tx.execute("UPDATE token SET revoked_at=?2 WHERE id=?1 AND revoked_at IS NULL", params![id, now])?
                }
                None => tx.execute(
                    "UPDATE token SET revoked_at=?1 WHERE kind='grant' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)",
                    [now],
                )?,
            };
            // The UI sessions signed in with a revoked token end with it (the session check
            // also reads the token, this makes the end visible in the session rows).
            tx.execute(
                "UPDATE admin_session SET revoked_at=?1 WHERE revoked_at IS NULL
                 AND token_id IN (SELECT id FROM token WHERE revoked_at IS NOT NULL)",
                [now],
            )?;
            append_in(
                tx,
                &AuditEntry {
                    actor: actor.to_string(),
                    action: "token.revoke".into(),
                    target: id.map_or("grant:all".to_string(), |i| format!("token:{i}")),
                    detail: serde_json::json!({"revoked": n}),
                    ..Default::default()
                },
            )?;
            Ok(n)
        })
    }

    /// Revokes every live token called `name` (the local admin tokens of engines that are
    /// gone). Returns how many were revoked.
    pub fn revoke_tokens_named(&self, name: &str, actor: &str) -> Result<usize, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE token SET revoked_at=?2 WHERE kind='token' AND name=?1 AND revoked_at IS NULL",
                params![name, now_ms()],
            )?;
            if n > 0 {
                append_in(
                    tx,
                    &AuditEntry {
                        actor: actor.to_string(),
                        action: "token.revoke".into(),
                        target: format!("token:name={name}"),
                        detail: serde_json::json!({"revoked": n}),
                        ..Default::default()
                    },
                )?;
            }
            Ok(n)
        })
    }

    /// True when no token or grant was ever created (first start).
    pub fn no_tokens_yet(&self) -> Result<bool, StoreError> {
        self.read(|c| Ok(c.query_row("SELECT NOT EXISTS(SELECT 1 FROM token)", [], |r| r.get(0))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_checksummed_and_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        let (id, secret) = s
            .create_token(false, Scope::Operator, "ci", None, None, "cli")
            .unwrap();
        assert!(
            secret.starts_with("qbr_") && well_formed(&secret),
            "{secret}"
        );
        let mut typo = secret.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert!(!well_formed(std::str::from_utf8(&typo).unwrap()));
        match s.check_token(&secret).unwrap() {
            TokenCheck::Valid(t) => assert_eq!((t.id, t.scope), (id, Scope::Operator)),
            other => panic!("{other:?}"),
        }
        let needle = secret.as_bytes();
        let bytes = crate::store::testing::bytes_at_rest(&s);
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "secret stored in clear"
        );
    }

    #[test]
    fn expiry_and_revocation_are_checked_on_every_call() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        let (_, expired) = s
            .create_token(
                true,
                Scope::Read,
                "Jane",
                Some("T-1"),
                Some(now_ms() - 1),
                "cli",
            )
            .unwrap();
        assert_eq!(
            s.check_token(&expired).unwrap(),
            TokenCheck::Refused("token expired")
        );
        let (id, live) = s
            .create_token(
                true,
                Scope::Read,
                "Jane",
                Some("T-2"),
                Some(now_ms() + 60_000),
                "cli",
            )
            .unwrap();
        assert!(matches!(
            s.check_token(&live).unwrap(),
            TokenCheck::Valid(_)
        ));
        s.revoke_tokens(Some(id), "cli").unwrap();
        assert_eq!(
            s.check_token(&live).unwrap(),
            TokenCheck::Refused("token revoked")
        );
        let actions: Vec<String> = s
            .audit_rows(0, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.entry.action)
            .collect();
        assert_eq!(actions, ["grant.create", "grant.create", "token.revoke"]);
    }

    #[test]
    fn scopes_nest_except_ingest() {
        assert!(Scope::Admin.allows(Scope::Operator) && Scope::Admin.allows(Scope::Ingest));
        assert!(Scope::Operator.allows(Scope::Read) && !Scope::Read.allows(Scope::Operator));
        assert!(!Scope::Ingest.allows(Scope::Read) && !Scope::Read.allows(Scope::Ingest));
    }
}
