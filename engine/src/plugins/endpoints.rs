//! Local source endpoints (setting `source_endpoints`): plugin requests to a listed source host
//! are sent over plain HTTP to a loopback address instead, so tests and the demo can run the
//! real plugins' `pull` through the real host HTTP against a local fake of the source's API.
//!
//! Only the transport changes: the plugin still names `https://<host>/…`, the host must still
//! be in its manifest's `allowed_hosts`, and secrets are substituted exactly as in production.
//! Targets must be loopback so the setting cannot be used to send a source's credentials over
//! plain HTTP to another machine.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Source hosts redirected to local fakes, from `source_endpoints`
/// (`api.ramp.com=127.0.0.1:8123,webservices5.autotask.net=127.0.0.1:8124`). Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceEndpoints {
    /// lowercase host → loopback `ADDR:PORT`.
    targets: BTreeMap<String, String>,
}

/// Where one request really goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// The URL the transport connects to.
    pub url: String,
    /// For a redirected request, the `Host` header naming the original host.
    pub host_header: Option<String>,
}

impl SourceEndpoints {
    /// Parses the setting; the error names the bad entry and what is accepted (it becomes the
    /// `expected …` part of the one-line config error).
    pub fn parse(text: &str) -> Result<SourceEndpoints, String> {
        let mut targets = BTreeMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why: &str| {
                format!(
                    "comma-separated host=ADDR pairs such as api.ramp.com=127.0.0.1:8123; entry {entry:?} {why}"
                )
            };
            let (host, addr) = entry.split_once('=').ok_or_else(|| bad("has no `=`"))?;
            let host = host.trim().to_ascii_lowercase();
            if host.is_empty()
                || host.len() > 253
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                return Err(bad("does not start with a host name"));
            }
            let addr = addr.trim();
            if !is_loopback_with_port(addr) {
                return Err(bad(
                    "is not a loopback address with a port: only 127.x.x.x:PORT, [::1]:PORT or localhost:PORT are accepted, because this setting exists for testing against a local fake",
                ));
            }
            if targets.insert(host, addr.to_string()).is_some() {
                return Err(bad("names a host listed before"));
            }
        }
        Ok(SourceEndpoints { targets })
    }

    /// True when nothing is redirected (production).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// `host → ADDR` pairs, for the start-up warning and `qbridge doctor`.
    pub fn describe(&self) -> String {
        self.targets
            .iter()
            .map(|(h, a)| format!("{h} → http://{a}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Where a request to `url` goes: `https://` URLs of listed hosts go to `http://ADDR` with
    /// the same path and query, others unchanged. A plain `http://` URL is only allowed for a
    /// listed host (a token endpoint set up against a local fake); anything else is refused.
    pub(crate) fn route(&self, url: &str) -> Result<Route, String> {
        let (https, rest) = match url.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (
                false,
                url.strip_prefix("http://").ok_or_else(|| {
                    format!("{url:?} is not an https:// URL; only HTTPS is allowed")
                })?,
            ),
        };
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let host = authority
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match self.targets.get(&host) {
            Some(addr) => {
                // The fragment never goes on the wire.
                let path = path.split('#').next().unwrap_or("");
                let path = if path.starts_with('/') {
                    path.to_string()
                } else {
                    format!("/{path}")
                };
                Ok(Route {
                    url: format!("http://{addr}{path}"),
                    host_header: Some(authority.to_string()),
                })
            }
            None if https => Ok(Route {
                url: url.to_string(),
                host_header: None,
            }),
            None => Err(format!(
                "{url:?} is plain http and its host is not listed in source_endpoints; only HTTPS is allowed"
            )),
        }
    }

    /// Checks a grant's token endpoint before it is stored: `https://`, or `http://` for a
    /// host listed here (which is redirected to a local fake anyway).
    pub fn check_token_url(&self, url: &str) -> Result<(), String> {
        if url.starts_with("http://") && self.route(url).is_err() {
            return Err(format!(
                "token URL {url:?} is plain http: use the source's https:// token endpoint (http:// is only accepted for hosts listed in source_endpoints)"
            ));
        }
        Ok(())
    }
}

/// `127.x.x.x:port`, `[::1]:port` or `localhost:port`, with a port other than 0.
fn is_loopback_with_port(addr: &str) -> bool {
    if let Some(port) = addr.strip_prefix("localhost:") {
        return port.parse::<u16>().is_ok_and(|p| p != 0);
    }
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback() && a.port() != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_with_ports_are_accepted_and_hosts_lowercased() {
        let e = SourceEndpoints::parse(
            " API.ramp.com=127.0.0.1:8123, webservices5.autotask.net=[::1]:9,x.example=localhost:80,",
        )
        .unwrap();
        assert_eq!(
            e.route("https://X.EXAMPLE/a").unwrap().url,
            "http://localhost:80/a"
        );
        assert_eq!(e.route("https://ramp.com/a").unwrap().host_header, None);
        assert_eq!(
            e.describe(),
            "api.ramp.com → http://127.0.0.1:8123, webservices5.autotask.net → http://[::1]:9, x.example → http://localhost:80"
        );
        assert!(SourceEndpoints::parse("").unwrap().is_empty());
    }

    #[test]
    fn anything_but_loopback_with_a_port_is_refused_naming_the_entry() {
        for (text, entry) in [
            ("api.ramp.com=10.0.0.5:80", "api.ramp.com=10.0.0.5:80"),
            ("api.ramp.com=example.com:80", "api.ramp.com=example.com:80"),
            ("api.ramp.com=127.0.0.1", "api.ramp.com=127.0.0.1"),
            ("api.ramp.com=localhost", "api.ramp.com=localhost"),
            ("api.ramp.com=127.0.0.1:0", "api.ramp.com=127.0.0.1:0"),
            ("a.com=[::1]:8,b.com=0.0.0.0:9", "b.com=0.0.0.0:9"),
        ] {
            let err = SourceEndpoints::parse(text).unwrap_err();
            assert!(err.contains(&format!("{entry:?}")), "{err}");
            assert!(err.contains("only 127.x.x.x:PORT"), "{err}");
        }
        for (text, why) in [
            ("api.ramp.com", "has no `=`"),
            ("=127.0.0.1:1", "host name"),
            ("a b=127.0.0.1:1", "host name"),
            ("a.com=127.0.0.1:1,A.com=127.0.0.1:2", "listed before"),
        ] {
            let err = SourceEndpoints::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn listed_hosts_go_to_their_fake_with_path_query_and_host_kept() {
        let e = SourceEndpoints::parse("api.ramp.com=127.0.0.1:8123").unwrap();
        assert_eq!(
            e.route("https://API.ramp.com/developer/v1/bills?start=a%20b#frag")
                .unwrap(),
            Route {
                url: "http://127.0.0.1:8123/developer/v1/bills?start=a%20b".into(),
                host_header: Some("API.ramp.com".into()),
            }
        );
        assert_eq!(
            e.route("https://api.ramp.com:443?x=1").unwrap().url,
            "http://127.0.0.1:8123/?x=1"
        );
        assert_eq!(
            e.route("http://api.ramp.com/token").unwrap().url,
            "http://127.0.0.1:8123/token"
        );
    }

    #[test]
    fn other_hosts_are_not_redirected_and_plain_http_stays_refused() {
        let e = SourceEndpoints::parse("api.ramp.com=127.0.0.1:8123").unwrap();
        assert_eq!(
            e.route("https://webservices.autotask.net/a").unwrap(),
            Route {
                url: "https://webservices.autotask.net/a".into(),
                host_header: None,
            }
        );
        assert!(e.route("http://webservices.autotask.net/a").is_err());
        assert!(
            SourceEndpoints::default()
                .route("http://api.ramp.com/")
                .is_err()
        );
        assert!(e.check_token_url("http://api.ramp.com/token").is_ok());
        let err = SourceEndpoints::default()
            .check_token_url("http://api.ramp.com/token")
            .unwrap_err();
        assert!(
            err.contains("only accepted for hosts listed in source_endpoints"),
            "{err}"
        );
        assert!(
            SourceEndpoints::default()
                .check_token_url("https://api.ramp.com/token")
                .is_ok()
        );
    }
}
