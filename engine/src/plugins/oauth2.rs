//! OAuth2 client-credentials access tokens the plugin host keeps current (RFC 6749 §4.4).
//!
//! A plugin may not put a token it fetched itself into a credential header, so for a secret
//! stored as a grant the host obtains the token and substitutes it: this module builds the
//! token request, reads the answer, and caches tokens in memory per (plugin, secret) until
//! shortly before they expire. The cache is shared by every plugin instance of a manager and
//! fetches at most one token per secret at a time: callers for the same secret wait for the
//! fetch in flight instead of each asking the token endpoint.
//!
//! Nothing here ever formats a client secret or a token into an error or a log line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::logging::Redacted;
use crate::store::secrets::ClientCredentials;

/// Tokens are renewed this long before the source says they expire (or at half their lifetime,
/// when that is shorter), so a request never leaves with a token about to lapse.
const RENEW_MARGIN: Duration = Duration::from_secs(60);
/// How long a token whose answer gave no `expires_in` is used (a 401 renews it earlier).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Longest lifetime honoured, whatever the source says.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Largest token-endpoint answer read.
pub(crate) const MAX_TOKEN_RESPONSE_BYTES: u64 = 64 * 1024;
/// Longest access token accepted (it goes into a header).
const MAX_TOKEN_CHARS: usize = 16 * 1024;

/// A token as the endpoint issued it (its Debug shows `[redacted]`).
#[derive(Debug)]
pub(crate) struct Issued {
    pub token: Redacted<String>,
    /// Seconds until it expires, if the endpoint said.
    pub expires_in: Option<u64>,
}

/// How long an issued token may be used: `expires_in` less the renewal margin; `None` when it
/// must not be reused at all.
fn fresh_for(expires_in: Option<u64>) -> Option<Duration> {
    let Some(secs) = expires_in else {
        return Some(DEFAULT_LIFETIME);
    };
    let lifetime = Duration::from_secs(secs).min(MAX_LIFETIME);
    let usable = lifetime - RENEW_MARGIN.min(lifetime / 2);
    (!usable.is_zero()).then_some(usable)
}

/// Identifies a grant's content: a token obtained with an older grant (the admin replaced
/// the client secret or the URL) is never handed out for the new one.
fn fingerprint(grant: &ClientCredentials) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        grant.token_url.as_str(),
        grant.client_id.as_str(),
        grant.client_secret.0.as_str(),
        grant.scope.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

struct Cached {
    fingerprint: [u8; 32],
    token: Redacted<String>,
    fresh_until: Instant,
}

type Slot = Arc<Mutex<Option<Cached>>>;
/// Plugin, secret name and connection (`None`: the plugin-wide secret).
type SlotKey = (String, String, Option<i64>);

/// Access tokens per (plugin, secret name).
#[derive(Default)]
pub(crate) struct TokenCache {
    /// Per plugin, secret name and connection (`None`: the plugin-wide secret): each firm's
    /// own source account gets its own token.
    slots: Mutex<HashMap<SlotKey, Slot>>,
}

impl TokenCache {
    fn slot(&self, plugin: &str, name: &str, connection: Option<i64>) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry((plugin.to_string(), name.to_string(), connection))
            .or_default()
            .clone()
    }

    /// A current token for the grant `plugin`/`name` as `connection` sees it: the cached one
    /// while fresh at `now`, else one from `fetch` (cached unless it must not be reused).
    pub(crate) fn token(
        &self,
        plugin: &str,
        name: &str,
        connection: Option<i64>,
        grant: &ClientCredentials,
        now: Instant,
        fetch: impl FnOnce() -> Result<Issued, String>,
    ) -> Result<Redacted<String>, String> {
        let slot = self.slot(plugin, name, connection);
        // Held across the fetch on purpose: one token request per secret at a time.
        let mut cached = slot.lock().unwrap_or_else(|p| p.into_inner());
        let fp = fingerprint(grant);
        if let Some(c) = cached.as_ref()
            && c.fingerprint == fp
            && now < c.fresh_until
        {
            return Ok(c.token.clone());
        }
        let issued = fetch()?;
        *cached = fresh_for(issued.expires_in).map(|d| Cached {
            fingerprint: fp,
            token: issued.token.clone(),
            fresh_until: now + d,
        });
        Ok(issued.token)
    }

    /// Forgets the token `used` for `plugin`/`name` after the source refused it. A newer token
    /// another request already fetched is kept.
    pub(crate) fn forget(&self, plugin: &str, name: &str, connection: Option<i64>, used: &str) {
        let slot = self.slot(plugin, name, connection);
        let mut cached = slot.lock().unwrap_or_else(|p| p.into_inner());
        if cached.as_ref().is_some_and(|c| c.token.0 == used) {
            *cached = None;
        }
    }
}

/// The token request's headers and form body: `grant_type=client_credentials` (and `scope`),
/// the client authenticated by HTTP Basic with the form-encoded id and secret (§2.3.1).
pub(crate) fn token_request(grant: &ClientCredentials) -> (Vec<(String, String)>, Vec<u8>) {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encode(&grant.client_id),
        encode(&grant.client_secret.0)
    ));
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(scope) = &grant.scope {
        form.append_pair("scope", scope);
    }
    let headers = vec![
        ("Authorization".to_string(), format!("Basic {basic}")),
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    (headers, form.finish().into_bytes())
}

/// Reads the token endpoint's answer. Errors name the secret, the endpoint's host and the
/// status, and say what to check — never any secret material (an RFC 6749 §5.2 error code
/// such as `invalid_client` is included; it is a fixed word, not a credential).
pub(crate) fn read_token_response(
    secret: &str,
    host: &str,
    status: u16,
    body: &[u8],
) -> Result<Issued, String> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let code = json
            .as_ref()
            .and_then(|j| j["error"].as_str())
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let check = match status {
            400 | 401 | 403 => {
                "check the client id, client secret and scope the admin stored (`qbridge secret set … --oauth2-…`)"
            }
            _ => "the token endpoint may be down; check its URL and try again later",
        };
        return Err(format!(
            "secret {secret:?}: the token endpoint {host} answered HTTP {status}{code}; {check}"
        ));
    }
    let malformed = |what: &str| {
        format!(
            "secret {secret:?}: the token endpoint {host} answered HTTP {status} without {what}; check that the secret's token URL is the source's OAuth2 token endpoint"
        )
    };
    let json = json.ok_or_else(|| malformed("a JSON body"))?;
    let token = json["access_token"]
        .as_str()
        .filter(|t| {
            !t.is_empty()
                && t.len() <= MAX_TOKEN_CHARS
                && t.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
        .ok_or_else(|| malformed("a usable access_token"))?;
    // Some endpoints send the number as a string.
    let expires_in = match &json["expires_in"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    };
    Ok(Issued {
        token: Redacted(token.to_string()),
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(secret: &str) -> ClientCredentials {
        ClientCredentials {
            token_url: "https://api.ramp.com/developer/v1/token".into(),
            client_id: "id:1".into(),
            client_secret: Redacted(secret.into()),
            scope: Some("bills:read transactions:read".into()),
        }
    }

    fn issued(token: &str, expires_in: Option<u64>) -> Result<Issued, String> {
        Ok(Issued {
            token: Redacted(token.into()),
            expires_in,
        })
    }

    #[test]
    fn tokens_are_renewed_a_minute_early_or_at_half_life_and_zero_is_not_reused() {
        assert_eq!(fresh_for(Some(864_000)), Some(Duration::from_secs(863_940)));
        assert_eq!(fresh_for(Some(60)), Some(Duration::from_secs(30)));
        assert_eq!(fresh_for(Some(1)), Some(Duration::from_millis(500)));
        assert_eq!(fresh_for(Some(0)), None);
        assert_eq!(fresh_for(None), Some(DEFAULT_LIFETIME));
        assert_eq!(fresh_for(Some(u64::MAX)), Some(MAX_LIFETIME - RENEW_MARGIN));
    }

    #[test]
    fn a_fresh_token_is_reused_and_a_stale_one_fetched_again() {
        let cache = TokenCache::default();
        let g = grant("s");
        let t0 = Instant::now();
        let first = cache
            .token("ramp", "t", None, &g, t0, || issued("A", Some(120)))
            .unwrap();
        assert_eq!(first.0, "A");
        let again = cache
            .token("ramp", "t", None, &g, t0 + Duration::from_secs(59), || {
                panic!("a fresh token must not be fetched again")
            })
            .unwrap();
        assert_eq!(again.0, "A");
        let renewed = cache
            .token("ramp", "t", None, &g, t0 + Duration::from_secs(60), || {
                issued("B", Some(120))
            })
            .unwrap();
        assert_eq!(renewed.0, "B");
    }

    #[test]
    fn tokens_are_kept_per_plugin_secret_connection_and_grant_content() {
        let cache = TokenCache::default();
        let t0 = Instant::now();
        cache
            .token("ramp", "t", None, &grant("s"), t0, || issued("A", None))
            .unwrap();
        let other_plugin = cache
            .token("other", "t", None, &grant("s"), t0, || issued("B", None))
            .unwrap();
        assert_eq!(other_plugin.0, "B");
        let other_firm = cache
            .token("ramp", "t", Some(7), &grant("firm-7"), t0, || {
                issued("F", None)
            })
            .unwrap();
        assert_eq!(
            other_firm.0, "F",
            "a connection's own account gets its own token"
        );
        let back = cache
            .token("ramp", "t", None, &grant("s"), t0, || {
                panic!("still cached")
            })
            .unwrap();
        assert_eq!(back.0, "A", "and leaves the plugin-wide token in place");
        let new_secret = cache
            .token("ramp", "t", None, &grant("rotated"), t0, || {
                issued("C", None)
            })
            .unwrap();
        assert_eq!(new_secret.0, "C", "a replaced grant gets its own token");
    }

    #[test]
    fn forgetting_drops_only_the_refused_token() {
        let cache = TokenCache::default();
        let g = grant("s");
        let t0 = Instant::now();
        cache
            .token("ramp", "t", None, &g, t0, || issued("A", None))
            .unwrap();
        cache.forget("ramp", "t", None, "older-token");
        let kept = cache
            .token("ramp", "t", None, &g, t0, || panic!("still cached"))
            .unwrap();
        assert_eq!(kept.0, "A");
        cache.forget("ramp", "t", None, "A");
        let fetched = cache
            .token("ramp", "t", None, &g, t0, || issued("B", None))
            .unwrap();
        assert_eq!(fetched.0, "B");
    }

    #[test]
    fn a_failed_fetch_caches_nothing_and_concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::default());
        let g = grant("s");
        let t0 = Instant::now();
        assert!(
            cache
                .token("ramp", "t", None, &g, t0, || Err("down".into()))
                .is_err()
        );
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, g, fetches) = (cache.clone(), g.clone(), fetches.clone());
                std::thread::spawn(move || {
                    cache
                        .token("ramp", "t", None, &g, t0, || {
                            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            issued("A", None)
                        })
                        .unwrap()
                        .0
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), "A");
        }
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn the_token_request_uses_basic_client_authentication_and_a_form_body() {
        let (headers, body) = token_request(&grant("p@ss word"));
        // RFC 6749 §2.3.1: id and secret are form-encoded before Base64.
        let expected = base64::engine::general_purpose::STANDARD.encode("id%3A1:p%40ss+word");
        assert_eq!(
            headers[0],
            ("Authorization".into(), format!("Basic {expected}"))
        );
        assert_eq!(headers[1].1, "application/x-www-form-urlencoded");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "grant_type=client_credentials&scope=bills%3Aread+transactions%3Aread"
        );
        let (_, body) = token_request(&ClientCredentials {
            scope: None,
            ..grant("s")
        });
        assert_eq!(body, b"grant_type=client_credentials");
    }

    #[test]
    fn token_answers_are_read_and_failures_say_what_to_check_without_secrets() {
        let ok = read_token_response(
            "ramp.access_token",
            "api.ramp.com",
            200,
            br#"{"access_token":"tok","expires_in":864000,"token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!((ok.token.0.as_str(), ok.expires_in), ("tok", Some(864_000)));
        let as_text = read_token_response(
            "t",
            "h",
            200,
            br#"{"access_token":"tok","expires_in":"30"}"#,
        )
        .unwrap();
        assert_eq!(as_text.expires_in, Some(30));
        let err = read_token_response(
            "ramp.access_token",
            "api.ramp.com",
            401,
            br#"{"error":"invalid_client","error_description":"client SECRET-ECHO unknown"}"#,
        )
        .unwrap_err();
        assert!(
            err.contains("\"ramp.access_token\"")
                && err.contains("api.ramp.com answered HTTP 401 (invalid_client)")
                && err.contains("check the client id, client secret and scope"),
            "{err}"
        );
        assert!(!err.contains("SECRET-ECHO"), "{err}");
        let err = read_token_response("t", "h", 503, b"busy").unwrap_err();
        assert!(
            err.contains("HTTP 503") && err.contains("try again later"),
            "{err}"
        );
        let err = read_token_response("t", "h", 200, br#"{"token":"x"}"#).unwrap_err();
        assert!(err.contains("without a usable access_token"), "{err}");
        assert!(read_token_response("t", "h", 200, b"{\"access_token\":\"a\\nb\"}").is_err());
    }
}
