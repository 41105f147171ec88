//! Host-mediated HTTP for plugins (`qbridge:plugin/http.fetch`): the only network a plugin has.
//!
//! The engine checks every request against the manifest — `https` only, the host must be in
//! `allowed_hosts` — and substitutes `{{secret:NAME}}` in header values with secrets the
//! plugin only *names* (declared in `secrets`), so secret values never enter the sandbox.
//! Authorization-like headers must come from a secret: a plugin cannot smuggle its own
//! credentials past the admin's review. Bodies are bounded both ways.

use std::sync::Arc;
use std::time::Duration;

/// Largest response body handed to a plugin.
const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest request body a plugin may send.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Headers whose value must be a secret placeholder.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Where plugin secrets come from (the admin's secret store). The engine asks for a secret
/// only when a plugin that declared it makes a request naming it.
pub trait SecretSource: Send + Sync {
    /// The value of secret `name` for plugin `plugin`, if configured.
    fn secret(&self, plugin: &str, name: &str) -> Option<String>;
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
    fn secret(&self, plugin: &str, name: &str) -> Option<String> {
        let key = self.key.get_or_init(|| match crate::store::secrets::SecretKey::open(&self.key_path) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the secrets key file; plugins get no secrets");
                None
            }
        });
        match self.store.secret_value(key.as_ref()?, plugin, name) {
            Ok(v) => v.map(|r| r.0),
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
    fn secret(&self, _plugin: &str, _name: &str) -> Option<String> {
        None
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

/// What one plugin version may reach, from its manifest.
#[derive(Clone)]
pub(crate) struct HttpPolicy {
    plugin: String,
    allowed_hosts: Vec<String>,
    secrets: Vec<String>,
    source: Arc<dyn SecretSource>,
}

impl HttpPolicy {
    pub(crate) fn new(manifest: &qbridge_sdk::Manifest, source: Arc<dyn SecretSource>) -> Self {
        HttpPolicy {
            plugin: manifest.name.clone(),
            allowed_hosts: manifest
                .allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            secrets: manifest.secrets.clone(),
            source,
        }
    }

    /// Checks the request, injects secrets and performs it. Errors are phrased for the plugin
    /// author and never contain a secret value.
    pub(crate) fn fetch(&self, request: Request) -> Result<Response, String> {
        let prepared = self.check(request)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .max_redirects(0)
            .build()
            .into();
        let mut builder = ureq::http::Request::builder()
            .method(prepared.method.as_str())
            .uri(&prepared.url);
        for (name, value) in &prepared.headers {
            builder = builder.header(name, value);
        }
        let req = builder
            .body(prepared.body)
            .map_err(|e| format!("invalid request: {e}"))?;
        let mut resp = agent
            .run(req)
            .map_err(|e| format!("{} {} failed: {e}", prepared.method, prepared.url))?;
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
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| format!("reading the response of {} failed: {e}", prepared.url))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// The policy part of [`fetch`](Self::fetch): validates and substitutes, no I/O.
    fn check(&self, mut request: Request) -> Result<Request, String> {
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
        if !self.allowed_hosts.contains(&host) {
            return Err(format!(
                "host {host} is not in the manifest's allowed_hosts ({}); declare it and have the admin approve the new version",
                self.allowed_hosts.join(", ")
            ));
        }
        for (name, value) in &mut request.headers {
            let has_secret = value.contains("{{secret:");
            if CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str()) && !has_secret {
                return Err(format!(
                    "header {name} must refer to a declared secret ({{{{secret:NAME}}}}), not carry a literal value"
                ));
            }
            if has_secret {
                *value = self.substitute(value)?;
            }
        }
        Ok(request)
    }

    fn substitute(&self, value: &str) -> Result<String, String> {
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
            let secret = self.source.secret(&self.plugin, name).ok_or_else(|| {
                format!(
                    "secret {name:?} is not configured for plugin {}; ask the admin to set it",
                    self.plugin
                )
            })?;
            out.push_str(&secret);
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

    struct OneSecret;
    impl SecretSource for OneSecret {
        fn secret(&self, _plugin: &str, name: &str) -> Option<String> {
            (name == "api.key").then(|| "s3cr3t".to_string())
        }
    }

    fn policy() -> HttpPolicy {
        let manifest = qbridge_sdk::Manifest::new("demo", "1.0.0", "Demo")
            .allowed_hosts(&["api.example.com"])
            .secrets(&["api.key"]);
        HttpPolicy::new(&manifest, Arc::new(OneSecret))
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
        let checked = policy()
            .check(get(
                "https://API.example.com:443/v1?x=1",
                &[("Authorization", "Bearer {{secret:api.key}}")],
            ))
            .unwrap();
        assert_eq!(checked.method, "GET");
        assert_eq!(checked.headers[0].1, "Bearer s3cr3t");
    }

    #[test]
    fn other_hosts_plain_http_and_literal_credentials_are_refused() {
        let p = policy();
        let err = p
            .check(get("https://evil.example.net/", &[]))
            .err()
            .unwrap();
        assert!(
            err.contains("evil.example.net is not in the manifest's allowed_hosts"),
            "{err}"
        );
        assert!(p.check(get("http://api.example.com/", &[])).is_err());
        assert!(p.check(get("https://x@api.example.com/", &[])).is_err());
        let err = p
            .check(get(
                "https://api.example.com/",
                &[("authorization", "Bearer abc")],
            ))
            .err()
            .unwrap();
        assert!(err.contains("must refer to a declared secret"), "{err}");
    }

    #[test]
    fn undeclared_secrets_are_refused_without_revealing_values() {
        let err = policy()
            .check(get(
                "https://api.example.com/",
                &[("X-Key", "{{secret:other}}")],
            ))
            .err()
            .unwrap();
        assert!(err.contains("\"other\" is not declared"), "{err}");
        assert!(!err.contains("s3cr3t"));
    }
}
