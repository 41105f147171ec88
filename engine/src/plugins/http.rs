//! Host-mediated HTTP for plugins (`qbridge:plugin/http.fetch`): the only network a plugin has.
//!
//! The engine checks every request against the manifest — `https` only, the host must be in
//! `allowed_hosts` — and substitutes `{{secret:NAME}}` in header values with secrets the
//! plugin only *names* (declared in `secrets`), so secret values never enter the sandbox.
//! Authorization-like headers must come from a secret: a plugin cannot smuggle its own
//! credentials past the admin's review. Bodies are bounded both ways.
//!
//! A secret stored as an OAuth2 client-credentials grant is substituted with a current access
//! token the host obtains from the grant's token endpoint (see `oauth2`); when the source
//! answers 401 the token is renewed and the request retried once. The token endpoint must be
//! one of the plugin's `allowed_hosts` too, so a plugin cannot have the client secret sent
//! anywhere the admin did not approve. Hosts listed in `source_endpoints` are reached over
//! plain HTTP on loopback instead (see `endpoints`): for tests only, nothing else changes.
//!
//! An `allowed_hosts` entry may be a host template (`{tenant}.halopsa.com`, see
//! `plugin_config`): it allows the host the admin's value of its key completes for the
//! connection the call is for (its own value, else the plugin-wide one), token endpoints
//! included, and nothing while the key has no value.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::endpoints::SourceEndpoints;
use super::oauth2::{self, TokenCache};
use super::plugin_config::{AllowedHosts, ConfigSource};
use crate::logging::Redacted;
use crate::store::secrets::{ClientCredentials, Secret};

/// Largest response body handed to a plugin.
const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest request body a plugin may send.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Headers whose value must be a secret placeholder.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Where plugin secrets come from (the admin's secret store). The engine asks for a secret
/// only when a plugin that declared it makes a request naming it.
pub trait SecretSource: Send + Sync {
    /// Secret `name` of plugin `plugin` for a call made for `connection` (its own secret, else
    /// the plugin-wide one), if configured.
    fn secret(&self, plugin: &str, name: &str, connection: Option<i64>) -> Option<Secret>;
}

/// The secrets an admin stored (`qbridge secret set`, `PUT /api/v1/secrets/…`), decrypted
/// on demand. The key file is opened on first use, so a server whose plugins never ask for a
/// secret never creates one.
pub struct StoredSecrets {
    store: crate::store::Store,
    key_path: std::path::PathBuf,
    key: std::sync::OnceLock<Option<crate::store::secrets::SecretKey>>,
}

impl StoredSecrets {
    /// Secrets from `store`, decrypted with the key file at `key_path`.
    pub fn new(store: crate::store::Store, key_path: std::path::PathBuf) -> StoredSecrets {
        StoredSecrets {
            store,
            key_path,
            key: std::sync::OnceLock::new(),
        }
    }
}

impl SecretSource for StoredSecrets {
    fn secret(&self, plugin: &str, name: &str, connection: Option<i64>) -> Option<Secret> {
        let key = self.key.get_or_init(|| match crate::store::secrets::SecretKey::open(&self.key_path) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the secrets key file; plugins get no secrets");
                None
            }
        });
        match self.store.secret(key.as_ref()?, plugin, name, connection) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(plugin, name, error = %e, "cannot read a stored secret");
                None
            }
        }
    }
}

/// The default: no secrets configured.
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn secret(&self, _plugin: &str, _name: &str, _connection: Option<i64>) -> Option<Secret> {
        None
    }
}

/// What every plugin's HTTP shares: the secret and configuration sources, the
/// `source_endpoints` redirects, the access-token cache and one connection pool. One per
/// [`PluginManager`](super::PluginManager).
pub(crate) struct SourceHttp {
    secrets: Arc<dyn SecretSource>,
    config: Arc<dyn ConfigSource>,
    endpoints: SourceEndpoints,
    tokens: TokenCache,
    agent: ureq::Agent,
}

impl SourceHttp {
    /// Logs one WARN line when `endpoints` redirects anything: that is for tests only.
    pub(crate) fn new(
        secrets: Arc<dyn SecretSource>,
        config: Arc<dyn ConfigSource>,
        endpoints: SourceEndpoints,
    ) -> SourceHttp {
        if !endpoints.is_empty() {
            tracing::warn!(
                redirects = %endpoints.describe(),
                "source_endpoints sends plugin requests for these hosts to local plain-HTTP endpoints, for testing against a local fake; never set in production"
            );
        }
        SourceHttp {
            secrets,
            config,
            endpoints,
            tokens: TokenCache::default(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .max_redirects(0)
                .build()
                .into(),
        }
    }

    /// Sends a checked, substituted request (to its `source_endpoints` fake, if listed) and
    /// reads at most `limit` bytes of the answer, all of it before `deadline` (the plugin
    /// call's): a slow source cannot hold the call past it.
    fn send(&self, request: Request, limit: u64, deadline: Instant) -> Result<Response, String> {
        let remaining = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "{} {} not sent: the plugin call's deadline has passed",
                    request.method, request.url
                )
            })?;
        let route = self.endpoints.route(&request.url)?;
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(&route.url);
        for (name, value) in &request.headers {
            // A redirected request names the original host; the plugin's own Host header
            // would make two.
            if route.host_header.is_some() && name.eq_ignore_ascii_case("host") {
                continue;
            }
            builder = builder.header(name, value);
        }
        if let Some(host) = &route.host_header {
            builder = builder.header("Host", host);
        }
        let req = builder
            .body(request.body)
            .map_err(|e| format!("invalid request: {e}"))?;
        let req = self
            .agent
            .configure_request(req)
            .timeout_global(Some(remaining))
            .build();
        let mut resp = self
            .agent
            .run(req)
            .map_err(|e| format!("{} {} failed: {e}", request.method, request.url))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| format!("reading the response of {} failed: {e}", request.url))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Asks the grant's token endpoint for a new access token.
    fn fetch_token(
        &self,
        name: &str,
        grant: &ClientCredentials,
        allowed: impl Fn(&str) -> Result<(), String>,
        deadline: Instant,
    ) -> Result<oauth2::Issued, String> {
        let host = grant.token_host().unwrap_or_default();
        if allowed(&host).is_err() {
            return Err(format!(
                "secret {name:?} is an OAuth2 grant whose token endpoint host {host} is not in the manifest's allowed_hosts; the admin must store the source's own token URL"
            ));
        }
        self.endpoints
            .check_token_url(&grant.token_url)
            .map_err(|e| format!("secret {name:?}: {e}"))?;
        let (headers, body) = oauth2::token_request(grant);
        let request = Request {
            method: "POST".into(),
            url: grant.token_url.clone(),
            headers,
            body,
        };
        // The transport error names the URL only; it never carries the request's headers.
        let response = self
            .send(request, oauth2::MAX_TOKEN_RESPONSE_BYTES, deadline)
            .map_err(|e| format!("secret {name:?}: the token request failed: {e}"))?;
        oauth2::read_token_response(name, &host, response.status, &response.body)
    }
}

/// A request as the plugin made it.
pub(crate) struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A response as the plugin sees it.
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What one plugin version may reach, from its manifest, and the settings it declares.
#[derive(Clone)]
pub(crate) struct HttpPolicy {
    plugin: String,
    allowed_hosts: AllowedHosts,
    secrets: Vec<String>,
    config_keys: Vec<qbridge_sdk::ConfigKey>,
    http: Arc<SourceHttp>,
}

/// Access tokens substituted into one request: (secret name, token).
type UsedTokens = Vec<(String, Redacted<String>)>;

impl HttpPolicy {
    pub(crate) fn new(manifest: &qbridge_sdk::Manifest, http: Arc<SourceHttp>) -> Self {
        HttpPolicy {
            plugin: manifest.name.clone(),
            allowed_hosts: AllowedHosts::new(manifest),
            secrets: manifest.secrets.clone(),
            config_keys: manifest.config.clone(),
            http,
        }
    }

    /// What `config.get(name)` answers a call made for `connection`: the admin's value (the
    /// connection's own, else the plugin-wide one), else the declared default; `None` for a
    /// key the manifest does not declare.
    pub(crate) fn config_value(&self, name: &str, connection: Option<i64>) -> Option<String> {
        let key = self.config_keys.iter().find(|k| k.name == name)?;
        self.http
            .config
            .value(&self.plugin, name, connection)
            .or_else(|| key.default_value.clone())
    }

    /// The required keys a call for `connection` has no value for (nor a default).
    pub(crate) fn missing_required(&self, connection: Option<i64>) -> Vec<String> {
        super::plugin_config::missing_required(&self.config_keys, |name| {
            self.http.config.value(&self.plugin, name, connection)
        })
    }

    /// `Ok` when a call for `connection` may reach `host`: a plain allowed host, or the host
    /// a template's configured value completes.
    fn host_allowed(&self, host: &str, connection: Option<i64>) -> Result<(), String> {
        self.allowed_hosts.allows(host, |key| {
            self.http.config.value(&self.plugin, key, connection)
        })
    }

    /// Checks the request, injects secrets and performs it. A 401 to a request that carried
    /// a host-obtained access token renews the token and retries once. Everything — token
    /// requests, the request, the retry — finishes before `deadline`, the plugin call's.
    /// Errors are phrased for the plugin author and never contain a secret value.
    ///
    /// Secrets are those of `connection`, the connection the plugin call is made for (its own
    /// source account), else the plugin-wide ones.
    pub(crate) fn fetch(
        &self,
        request: Request,
        deadline: Instant,
        connection: Option<i64>,
    ) -> Result<Response, String> {
        let checked = self.check(request, connection)?;
        let (ready, used) = self.substitute_all(&checked, deadline, connection)?;
        let response = self.http.send(ready, MAX_RESPONSE_BYTES, deadline)?;
        if response.status != 401 || used.is_empty() {
            return Ok(response);
        }
        for (name, token) in &used {
            self.http
                .tokens
                .forget(&self.plugin, name, connection, &token.0);
        }
        let (ready, _) = self.substitute_all(&checked, deadline, connection)?;
        self.http.send(ready, MAX_RESPONSE_BYTES, deadline)
    }

    /// The policy part of [`fetch`](Self::fetch): validates, no I/O. Placeholders stay in
    /// place (a retry substitutes them again).
    fn check(&self, mut request: Request, connection: Option<i64>) -> Result<Request, String> {
        request.method = request.method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&request.method.as_str()) {
            return Err(format!("method {:?} is not allowed", request.method));
        }
        if request.body.len() > MAX_REQUEST_BYTES {
            return Err(format!(
                "the request body is {} bytes; at most {MAX_REQUEST_BYTES} are allowed",
                request.body.len()
            ));
        }
        let host = https_host(&request.url)?;
        self.host_allowed(&host, connection)?;
        for (name, value) in &request.headers {
            if CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                && !value.contains("{{secret:")
            {
                return Err(format!(
                    "header {name} must refer to a declared secret ({{{{secret:NAME}}}}), not carry a literal value"
                ));
            }
        }
        Ok(request)
    }

    /// A copy of `request` with every placeholder substituted, and the access tokens used.
    fn substitute_all(
        &self,
        request: &Request,
        deadline: Instant,
        connection: Option<i64>,
    ) -> Result<(Request, UsedTokens), String> {
        let mut used = Vec::new();
        let mut headers = Vec::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            let value = if value.contains("{{secret:") {
                self.substitute(value, &mut used, deadline, connection)?
            } else {
                value.clone()
            };
            headers.push((name.clone(), value));
        }
        let ready = Request {
            method: request.method.clone(),
            url: request.url.clone(),
            headers,
            body: request.body.clone(),
        };
        Ok((ready, used))
    }

    fn substitute(
        &self,
        value: &str,
        used: &mut UsedTokens,
        deadline: Instant,
        connection: Option<i64>,
    ) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find("{{secret:") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "{{secret:".len()..];
            let end = after
                .find("}}")
                .ok_or("unterminated {{secret:NAME}} placeholder")?;
            let name = &after[..end];
            if !self.secrets.iter().any(|s| s == name) {
                return Err(format!(
                    "secret {name:?} is not declared in the manifest's secrets"
                ));
            }
            let secret = self
                .http
                .secrets
                .secret(&self.plugin, name, connection)
                .ok_or_else(|| {
                    format!(
                        "secret {name:?} is not configured for plugin {}; ask the admin to set it",
                        self.plugin
                    )
                })?;
            match secret {
                Secret::Value(v) => out.push_str(&v.0),
                Secret::Oauth2ClientCredentials(grant) => {
                    let token = self.http.tokens.token(
                        &self.plugin,
                        name,
                        connection,
                        &grant,
                        Instant::now(),
                        || {
                            self.http.fetch_token(
                                name,
                                &grant,
                                |host| self.host_allowed(host, connection),
                                deadline,
                            )
                        },
                    )?;
                    out.push_str(&token.0);
                    used.push((name.to_string(), token));
                }
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The lowercase host of an `https://` URL.
fn https_host(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url:?} is not an https:// URL; only HTTPS is allowed"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "{url:?} carries credentials; use a declared secret instead"
        ));
    }
    let host = authority.split(':').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Configured values: `tenant` is `acme` for connection 1 and plugin-wide `globex`.
    struct Tenants;
    impl ConfigSource for Tenants {
        fn value(&self, _plugin: &str, name: &str, connection: Option<i64>) -> Option<String> {
            (name == "tenant").then(|| {
                if connection == Some(1) {
                    "acme"
                } else {
                    "globex"
                }
                .to_string()
            })
        }
    }

    fn no_config() -> Arc<dyn ConfigSource> {
        struct NoConfig;
        impl ConfigSource for NoConfig {
            fn value(&self, _: &str, _: &str, _: Option<i64>) -> Option<String> {
                None
            }
        }
        Arc::new(NoConfig)
    }

    struct OneSecret;
    impl SecretSource for OneSecret {
        fn secret(&self, _plugin: &str, name: &str, _connection: Option<i64>) -> Option<Secret> {
            (name == "api.key").then(|| Secret::Value(Redacted("s3cr3t".to_string())))
        }
    }

    fn policy() -> HttpPolicy {
        let manifest = qbridge_sdk::Manifest::new("demo", "1.0.0", "Demo")
            .allowed_hosts(&["api.example.com"])
            .secrets(&["api.key"]);
        let http = SourceHttp::new(Arc::new(OneSecret), no_config(), SourceEndpoints::default());
        HttpPolicy::new(&manifest, Arc::new(http))
    }

    /// A source that accepts connections and never answers: a fetch to it ends at the
    /// plugin call's deadline, not at the transport's own 30 s timeout.
    #[test]
    fn fetch_ends_at_the_call_deadline_and_is_not_sent_after_it() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let endpoints = SourceEndpoints::parse(&format!("api.example.com={addr}")).unwrap();
        let manifest = qbridge_sdk::Manifest::new("demo", "1.0.0", "Demo")
            .allowed_hosts(&["api.example.com"])
            .secrets(&["api.key"]);
        let http = SourceHttp::new(Arc::new(OneSecret), no_config(), endpoints);
        let p = HttpPolicy::new(&manifest, Arc::new(http));
        let started = Instant::now();
        let err = p
            .fetch(
                get("https://api.example.com/slow", &[]),
                started + std::time::Duration::from_millis(300),
                None,
            )
            .err()
            .expect("the silent source times out");
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(3),
            "took {took:?}: {err}"
        );
        let err = p
            .fetch(
                get("https://api.example.com/late", &[]),
                Instant::now(),
                None,
            )
            .err()
            .unwrap();
        assert!(err.contains("deadline has passed"), "{err}");
        drop(silent);
    }

    /// What would go on the wire: checked and substituted.
    fn prepare(p: &HttpPolicy, request: Request) -> Result<Request, String> {
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        p.substitute_all(&p.check(request, None)?, deadline, None)
            .map(|(r, _)| r)
    }

    fn get(url: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "get".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: vec![],
        }
    }

    #[test]
    fn declared_secret_is_injected_into_an_allowed_host_request() {
        let checked = prepare(
            &policy(),
            get(
                "https://API.example.com:443/v1?x=1",
                &[("Authorization", "Bearer {{secret:api.key}}")],
            ),
        )
        .unwrap();
        assert_eq!(checked.method, "GET");
        assert_eq!(checked.headers[0].1, "Bearer s3cr3t");
    }

    #[test]
    fn other_hosts_plain_http_and_literal_credentials_are_refused() {
        let p = policy();
        let err = p
            .check(get("https://evil.example.net/", &[]), None)
            .err()
            .unwrap();
        assert!(
            err.contains("evil.example.net is not in the manifest's allowed_hosts"),
            "{err}"
        );
        assert!(p.check(get("http://api.example.com/", &[]), None).is_err());
        assert!(
            p.check(get("https://x@api.example.com/", &[]), None)
                .is_err()
        );
        let err = p
            .check(
                get(
                    "https://api.example.com/",
                    &[("authorization", "Bearer abc")],
                ),
                None,
            )
            .err()
            .unwrap();
        assert!(err.contains("must refer to a declared secret"), "{err}");
    }

    #[test]
    fn a_host_template_allows_the_host_of_the_calls_connection_only() {
        let manifest = qbridge_sdk::Manifest::new("demo", "1.0.0", "Demo")
            .config_key("tenant", "", true, None)
            .allowed_hosts(&["{tenant}.echo.test"]);
        let http = SourceHttp::new(
            Arc::new(OneSecret),
            Arc::new(Tenants),
            SourceEndpoints::default(),
        );
        let p = HttpPolicy::new(&manifest, Arc::new(http));
        assert!(
            p.check(get("https://acme.echo.test/r", &[]), Some(1))
                .is_ok()
        );
        assert!(
            p.check(get("https://globex.echo.test/r", &[]), Some(2))
                .is_ok()
        );
        assert!(
            p.check(get("https://globex.echo.test/r", &[]), None)
                .is_ok()
        );
        for (url, connection) in [
            ("https://globex.echo.test/r", Some(1)),
            ("https://acme.echo.test/r", Some(2)),
            ("https://evil.echo.test/r", Some(1)),
            ("https://acme.evil.test/r", Some(1)),
        ] {
            let err = p.check(get(url, &[]), connection).err().unwrap();
            assert!(
                err.contains("not in the manifest's allowed_hosts"),
                "{url}: {err}"
            );
        }
        assert_eq!(p.config_value("tenant", Some(1)).as_deref(), Some("acme"));
        assert_eq!(p.config_value("other", Some(1)), None, "undeclared");
        assert!(p.missing_required(Some(1)).is_empty());
    }

    /// A grant's token endpoint on a template host is used only by the connection whose value
    /// completes that host.
    #[test]
    fn a_token_endpoint_on_a_template_host_follows_the_calls_connection() {
        let manifest = qbridge_sdk::Manifest::new("demo", "1.0.0", "Demo")
            .config_key("tenant", "", true, None)
            .allowed_hosts(&["{tenant}.echo.test"])
            .secrets(&["api.key"]);
        // Nothing listens on port 1: a token request that passes the check fails to connect.
        let endpoints =
            SourceEndpoints::parse("acme.echo.test=127.0.0.1:1,globex.echo.test=127.0.0.1:1")
                .unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let auth = [("Authorization", "Bearer {{secret:api.key}}")];
        for (token_url, passes) in [
            ("https://acme.echo.test/token", true),
            ("https://globex.echo.test/token", false),
        ] {
            let http = SourceHttp::new(
                Arc::new(GrantTo(token_url)),
                Arc::new(Tenants),
                endpoints.clone(),
            );
            let p = HttpPolicy::new(&manifest, Arc::new(http));
            let checked = p
                .check(get("https://acme.echo.test/v1", &auth), Some(1))
                .unwrap();
            let err = p.substitute_all(&checked, deadline, Some(1)).err().unwrap();
            assert_eq!(
                err.contains("the token request failed"),
                passes,
                "{token_url}: {err}"
            );
            assert_eq!(
                err.contains("not in the manifest's allowed_hosts"),
                !passes,
                "{err}"
            );
        }
    }

    #[test]
    fn undeclared_secrets_are_refused_without_revealing_values() {
        let err = prepare(
            &policy(),
            get("https://api.example.com/", &[("X-Key", "{{secret:other}}")]),
        )
        .err()
        .unwrap();
        assert!(err.contains("\"other\" is not declared"), "{err}");
        assert!(!err.contains("s3cr3t"));
    }

    struct GrantTo(&'static str);
    impl SecretSource for GrantTo {
        fn secret(&self, _plugin: &str, _name: &str, _connection: Option<i64>) -> Option<Secret> {
            Some(Secret::Oauth2ClientCredentials(ClientCredentials {
                token_url: self.0.into(),
                client_id: "id".into(),
                client_secret: Redacted("CLIENT-SECRET".into()),
                scope: None,
            }))
        }
    }

    #[test]
    fn a_grant_is_never_sent_to_a_token_endpoint_outside_allowed_hosts() {
        let manifest = qbridge_sdk::Manifest::new("demo", "1.0.0", "Demo")
            .allowed_hosts(&["api.example.com"])
            .secrets(&["api.key"]);
        for url in [
            "https://collector.example.net/token",
            "http://api.example.com/token",
        ] {
            let http = SourceHttp::new(
                Arc::new(GrantTo(url)),
                no_config(),
                SourceEndpoints::default(),
            );
            let p = HttpPolicy::new(&manifest, Arc::new(http));
            let err = prepare(
                &p,
                get(
                    "https://api.example.com/v1",
                    &[("Authorization", "Bearer {{secret:api.key}}")],
                ),
            )
            .err()
            .unwrap();
            assert!(err.starts_with("secret \"api.key\""), "{err}");
            assert!(
                err.contains("not in the manifest's allowed_hosts") || err.contains("plain http"),
                "{err}"
            );
            assert!(!err.contains("CLIENT-SECRET"), "{err}");
        }
    }
}
