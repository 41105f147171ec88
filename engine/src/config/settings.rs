//! Every configuration key, declared once: its dotted key and the one parser every layer
//! (TOML, `QBRIDGE_*`, flags) uses, so a value is refused with the same words wherever it came
//! from. The README's configuration table is checked against this list by a test.

use super::*;

pub(super) type Parser = fn(&mut Config, &str) -> Result<(), String>;

/// One configurable key.
pub(super) struct Setting {
    /// Dotted key as written in the TOML file (`server.listen` is `[server] listen = …`).
    pub(super) key: &'static str,
    pub(super) parse: Parser,
}

pub(super) const SETTINGS: &[Setting] = &[
    Setting {
        key: "data_dir",
        parse: |c, v| {
            if v.trim().is_empty() {
                return Err("a folder path".into());
            }
            c.data_dir = PathBuf::from(v);
            Ok(())
        },
    },
    Setting {
        key: "server.listen",
        parse: |c, v| {
            c.listen = v
                .parse()
                .map_err(|_| "an IP address and port such as 127.0.0.1:8080".to_string())?;
            Ok(())
        },
    },
    Setting {
        key: "server.public_url",
        parse: |c, v| {
            let ok = (v.starts_with("https://") || v.starts_with("http://"))
                && v.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
            if !ok {
                return Err("an absolute URL such as https://sync.example.com".into());
            }
            c.public_url = Some(v.trim_end_matches('/').to_string());
            Ok(())
        },
    },
    Setting {
        key: "tls.cert",
        parse: |c, v| {
            c.tls_cert = non_empty_path(v)?;
            Ok(())
        },
    },
    Setting {
        key: "tls.key",
        parse: |c, v| {
            c.tls_key = non_empty_path(v)?;
            Ok(())
        },
    },
    Setting {
        key: "log.format",
        parse: |c, v| {
            c.log_format = match v {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                _ => return Err("`human` or `json`".into()),
            };
            Ok(())
        },
    },
    Setting {
        key: "log.level",
        parse: |c, v| {
            tracing_subscriber::EnvFilter::try_new(v).map_err(|_| {
                "a level (error, warn, info, debug, trace) or a filter such as qbridge=debug"
                    .to_string()
            })?;
            c.log_level = v.to_string();
            Ok(())
        },
    },
    Setting {
        key: "database.busy_timeout_ms",
        parse: |c, v| {
            let ms = parse_in_range(v, 1, 600_000)?;
            c.db_busy_timeout = Duration::from_millis(ms);
            Ok(())
        },
    },
    Setting {
        key: "database.readers",
        parse: |c, v| {
            c.db_readers = parse_in_range(v, 1, 64)? as usize;
            Ok(())
        },
    },
    Setting {
        key: "qbwc.path",
        parse: |c, v| {
            let ok = v.starts_with('/')
                && v.len() > 1
                && v.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "/-_.".contains(ch));
            if !ok {
                return Err("a URL path such as /qbwc (letters, digits, / - _ .)".into());
            }
            c.qbwc_path = v.to_string();
            Ok(())
        },
    },
    Setting {
        key: "server.header_read_timeout_secs",
        parse: |c, v| {
            c.header_read_timeout = Duration::from_secs(parse_in_range(v, 1, 300)?);
            Ok(())
        },
    },
    Setting {
        key: "plugins.memory_limit_mb",
        parse: |c, v| {
            c.plugin_memory_limit_mb = parse_in_range(v, 1, 4096)?;
            Ok(())
        },
    },
    Setting {
        key: "server.trusted_proxies",
        parse: |c, v| {
            c.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    "comma-separated IP addresses of the reverse proxies in front of qbridge (e.g. 127.0.0.1,10.0.0.5)".to_string()
                })?;
            Ok(())
        },
    },
    Setting {
        key: "server.request_timeout_secs",
        parse: |c, v| {
            c.request_timeout = Duration::from_secs(parse_in_range(v, 1, 3600)?);
            Ok(())
        },
    },
    Setting {
        key: "plugins.call_timeout_ms",
        parse: |c, v| {
            c.plugin_call_timeout = Duration::from_millis(parse_in_range(v, 10, 600_000)?);
            Ok(())
        },
    },
    Setting {
        key: "qbwc.min_client_version",
        parse: |c, v| {
            let ok = !v.is_empty()
                && v.split('.').count() <= 4
                && v.split('.').all(|p| {
                    !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit())
                });
            if !ok {
                return Err("a Web Connector version such as 2.3.0.215".into());
            }
            c.qbwc_min_client_version = v.to_string();
            Ok(())
        },
    },
    Setting {
        key: "qbwc.session_idle_secs",
        parse: |c, v| {
            c.qbwc_session_idle = Duration::from_secs(parse_in_range(v, 1, 86_400)?);
            Ok(())
        },
    },
    Setting {
        key: "qbwc.session_max_secs",
        parse: |c, v| {
            c.qbwc_session_max = Duration::from_secs(parse_in_range(v, 1, 7 * 86_400)?);
            Ok(())
        },
    },
    Setting {
        key: "ui.session_idle_secs",
        parse: |c, v| {
            c.ui_session_idle = Duration::from_secs(parse_in_range(v, 60, 86_400)?);
            Ok(())
        },
    },
    Setting {
        key: "ui.session_max_secs",
        parse: |c, v| {
            c.ui_session_max = Duration::from_secs(parse_in_range(v, 60, 7 * 86_400)?);
            Ok(())
        },
    },
    Setting {
        key: "qbwc.connection_error_retries",
        parse: |c, v| {
            c.qbwc_connection_error_retries = parse_in_range(v, 0, 10)? as u32;
            Ok(())
        },
    },
    Setting {
        key: "qbwc.max_body_bytes",
        parse: |c, v| {
            c.qbwc_max_body_bytes = parse_in_range(v, 65_536, 1 << 30)? as usize;
            Ok(())
        },
    },
    Setting {
        key: "qbwc.max_qbxml_bytes",
        parse: |c, v| {
            c.qbwc_max_qbxml_bytes = parse_in_range(v, 65_536, 1 << 30)? as usize;
            Ok(())
        },
    },
    Setting {
        key: "qbwc.auth_per_user_per_minute",
        parse: |c, v| {
            c.qbwc_auth_per_user_per_minute = parse_in_range(v, 1, 10_000)? as u32;
            Ok(())
        },
    },
    Setting {
        key: "qbwc.auth_per_ip_per_minute",
        parse: |c, v| {
            c.qbwc_auth_per_ip_per_minute = parse_in_range(v, 1, 100_000)? as u32;
            Ok(())
        },
    },
    Setting {
        key: "qbwc.body_budget_bytes",
        parse: |c, v| {
            c.qbwc_body_budget_bytes = parse_in_range(v, 1 << 20, 1 << 36)? as usize;
            Ok(())
        },
    },
    Setting {
        key: "qbwc.body_idle_timeout_secs",
        parse: |c, v| {
            c.qbwc_body_idle_timeout = Duration::from_secs(parse_in_range(v, 1, 600)?);
            Ok(())
        },
    },
    Setting {
        key: "qbwc.min_body_bytes_per_sec",
        parse: |c, v| {
            c.qbwc_min_body_bytes_per_sec = parse_in_range(v, 0, 100 << 20)?;
            Ok(())
        },
    },
    Setting {
        key: "server.max_connections",
        parse: |c, v| {
            c.max_connections = parse_in_range(v, 16, 1_000_000)? as usize;
            Ok(())
        },
    },
    Setting {
        key: "server.max_connections_per_address",
        parse: |c, v| {
            c.max_connections_per_address = parse_in_range(v, 1, 1_000_000)? as usize;
            Ok(())
        },
    },
    Setting {
        key: "qbwc.run_every_minutes",
        parse: |c, v| {
            c.qbwc_run_every_minutes = parse_in_range(v, 1, 10_080)? as u32;
            Ok(())
        },
    },
    Setting {
        key: "pipeline.batch_max_requests",
        parse: |c, v| {
            c.batch_max_requests = parse_in_range(v, 1, 1000)? as usize;
            Ok(())
        },
    },
    Setting {
        key: "pipeline.batch_max_bytes",
        parse: |c, v| {
            c.batch_max_bytes = parse_in_range(v, 1024, 64 * 1024 * 1024)? as usize;
            Ok(())
        },
    },
    Setting {
        key: "pipeline.max_sends",
        parse: |c, v| {
            c.max_sends = parse_in_range(v, 1, 100)? as i64;
            Ok(())
        },
    },
    Setting {
        key: "names.conflict",
        parse: |c, v| {
            c.names.default = OnConflict::parse(v).ok_or("`disambiguate` or `hold`")?;
            Ok(())
        },
    },
    Setting {
        key: "names.conflict_plugins",
        parse: |c, v| c.names.set_per_plugin(v),
    },
    Setting {
        key: "names.suffix",
        parse: |c, v| c.names.set_suffix(v),
    },
    Setting {
        key: "pipeline.schedule_check_secs",
        parse: |c, v| {
            c.schedule_check_every = Duration::from_secs(parse_in_range(v, 1, 3600)?);
            Ok(())
        },
    },
    Setting {
        key: "alerts.silence_secs",
        parse: |c, v| {
            c.alerts_silence = Duration::from_secs(parse_in_range(v, 1, 30 * 86_400)?);
            Ok(())
        },
    },
    Setting {
        key: "alerts.check_secs",
        parse: |c, v| {
            c.alerts_check_every = Duration::from_secs(parse_in_range(v, 1, 3600)?);
            Ok(())
        },
    },
    Setting {
        key: "firm.timezone",
        parse: |c, v| {
            v.parse::<chrono_tz::Tz>()
                .map_err(|_| "an IANA timezone name such as America/New_York".to_string())?;
            c.firm_timezone = v.to_string();
            Ok(())
        },
    },
    Setting {
        key: "secrets.key_file",
        parse: |c, v| {
            c.secrets_key_file = non_empty_path(v)?;
            Ok(())
        },
    },
    Setting {
        key: "plugins.trusted_keys",
        parse: |c, v| {
            // Comma-separated, so the same text works in TOML, the environment and --set.
            let keys: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect();
            if keys.iter().any(|k| k.len() != 56) {
                return Err(
                    "comma-separated minisign public keys (the 56-character base64 line of a .pub file)"
                        .into(),
                );
            }
            c.plugin_trusted_keys = keys;
            Ok(())
        },
    },
    Setting {
        key: "source_endpoints",
        parse: |c, v| {
            c.source_endpoints = crate::plugins::endpoints::SourceEndpoints::parse(v)?;
            Ok(())
        },
    },
];

fn non_empty_path(v: &str) -> Result<Option<PathBuf>, String> {
    if v.trim().is_empty() {
        Err("a file path".into())
    } else {
        Ok(Some(PathBuf::from(v)))
    }
}

fn parse_in_range(v: &str, min: u64, max: u64) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("a whole number from {min} to {max}")),
    }
}
