//! Configuration: embedded defaults, then an optional TOML file, then `QBRIDGE_*`
//! environment variables, then command-line flags — each layer overrides the one before.
//!
//! Every setting is declared once in [`SETTINGS`] with its key, what it accepts and a parser.
//! All layers go through the same parser, so a bad value gets the same message whether it came
//! from the file, the environment or a flag: the key, the value, where it came from, and what
//! is allowed. Unknown keys are errors, never silently ignored — a typo in a config file
//! must not leave the server running on a default the admin did not want.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::pipeline::names::OnConflict;
use crate::pipeline::policy::{Choice, OnEdit};

mod log_filter;
mod settings;
use settings::SETTINGS;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The effective configuration of one engine process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder that holds the database, the instance lock and compiled plugin caches.
    pub data_dir: PathBuf,
    /// Address the HTTP(S) server listens on.
    pub listen: SocketAddr,
    /// Public base URL the Web Connector reaches this server at (used in QWC files).
    /// `None` means "derive it from `listen`", which is only valid for localhost.
    pub public_url: Option<String>,
    /// PEM certificate chain for serving HTTPS directly.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for serving HTTPS directly.
    pub tls_key: Option<PathBuf>,
    /// Log line format.
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `qbridge=debug`.
    pub log_level: String,
    /// PostgreSQL instead of the embedded SQLite file (`database.url`).
    pub database_url: Option<crate::store::sql::PgTarget>,
    /// SQLite busy timeout; on PostgreSQL, how long a call waits for a pooled connection.
    pub db_busy_timeout: Duration,
    /// Number of read-only SQLite connections kept open beside the single writer.
    pub db_readers: usize,
    /// Path of the QBWC SOAP endpoint.
    pub qbwc_path: String,
    /// Longest time a client may take to send its request headers (slow-loris guard).
    pub header_read_timeout: Duration,
    /// Longest time one request may take, body and handling included.
    pub request_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed: behind one, the client address
    /// (rate limits, audit) comes from that header instead of the proxy's own address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Oldest Web Connector version accepted (`clientVersion` answers `O:` below it).
    pub qbwc_min_client_version: String,
    /// A QBWC session with no call for this long is expired (its company file is free again).
    pub qbwc_session_idle: Duration,
    /// A QBWC session is expired this long after `authenticate`, whatever its activity.
    pub qbwc_session_max: Duration,
    /// `connectionError` calls per session answered with a retry before `done`.
    pub qbwc_connection_error_retries: u32,
    /// Largest SOAP body accepted for `sendRequestXML` and `receiveResponseXML`.
    pub qbwc_max_body_bytes: usize,
    /// Largest qbXML document accepted inside a SOAP string, after unescaping.
    pub qbwc_max_qbxml_bytes: usize,
    /// Failed login attempts allowed per Web Connector user per minute.
    pub qbwc_auth_per_user_per_minute: u32,
    /// Failed login attempts allowed per client address (IPv6: per /64) per minute.
    pub qbwc_auth_per_ip_per_minute: u32,
    /// Request-body bytes all `/qbwc` requests together may hold in memory at once; beyond
    /// it requests are answered 503 with `Retry-After`.
    pub qbwc_body_budget_bytes: usize,
    /// Longest pause between two pieces of a `/qbwc` request body.
    pub qbwc_body_idle_timeout: Duration,
    /// Slowest average rate a `/qbwc` body may arrive at after its first
    /// `qbwc_body_idle_timeout` (0: no minimum).
    pub qbwc_min_body_bytes_per_sec: u64,
    /// Open client connections allowed at once (also bounded by the open-files limit).
    pub max_connections: usize,
    /// Open client connections allowed at once from one address (IPv6: one /64); trusted
    /// proxies are exempt.
    pub max_connections_per_address: usize,
    /// `RunEveryNMinutes` written into QWC files.
    pub qbwc_run_every_minutes: u32,
    /// Key file for source secrets; `None` = `<data_dir>/secrets.key`. Admins may keep it
    /// outside the data dir so backups of the database alone do not reveal the secrets.
    pub secrets_key_file: Option<PathBuf>,
    /// `qbwc.password_key_file`: where the Web Connector password key is; `None`: the data dir.
    pub password_key_file: Option<PathBuf>,
    /// Requests per qbXML message set (fewer Web Connector round trips vs smaller sets).
    pub batch_max_requests: usize,
    /// Bytes of request XML per message set.
    pub batch_max_bytes: usize,
    /// Sends of a job's request without QuickBooks applying it, after which it is held.
    pub max_sends: i64,
    /// What to do when another list of QuickBooks' shared name space holds a name.
    pub names: crate::pipeline::names::NamePolicy,
    /// What to do when an object qbridge wrote was changed in QuickBooks since.
    pub edits: crate::pipeline::policy::PerPlugin<crate::pipeline::policy::OnEdit>,
    /// The firm's IANA timezone: schedules fire in it.
    pub firm_timezone: String,
    /// How often the scheduler looks for due pulls.
    pub schedule_check_every: Duration,
    /// A connection without Web Connector contact for this long raises a `connection.silent`
    /// alert (once per silence).
    pub alerts_silence: Duration,
    /// How often the alert loop looks for silent connections and due deliveries.
    pub alerts_check_every: Duration,
    /// Largest linear memory one plugin instance may use, in MiB.
    pub plugin_memory_limit_mb: u64,
    /// Longest one plugin call may run.
    pub plugin_call_timeout: Duration,
    /// minisign public keys (base64); when any is set, only plugins signed by one install.
    pub plugin_trusted_keys: Vec<String>,
    /// Source hosts whose plugin requests go to a local plain-HTTP fake instead (testing only).
    pub source_endpoints: crate::plugins::endpoints::SourceEndpoints,
    /// A web UI session ends after this long without a request.
    pub ui_session_idle: Duration,
    /// A web UI session ends this long after sign-in, whatever its activity.
    pub ui_session_max: Duration,
    /// Completed jobs' requests, responses and record payloads are pruned this many days
    /// after they finished; 0 keeps them forever.
    pub retention_completed_days: u64,
    /// A second address serving only `/metrics`, without a token (`None`: `/metrics` is served
    /// on `listen` to read tokens only).
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Config {
    /// The embedded defaults: each setting's declared default, applied through its own
    /// parser, so a default is written in exactly one place ([`SETTINGS`]).
    fn default() -> Self {
        let mut config = Config::blank();
        for setting in SETTINGS {
            if let settings::DefaultValue::Value(value) = setting.default
                && let Err(expected) = setting.set(&mut config, value)
            {
                panic!(
                    "the declared default of `{}` is refused: expected {expected}",
                    setting.key
                );
            }
        }
        config
    }
}

impl Config {
    /// Every field empty or zero — overwritten by the declared defaults in `default()`;
    /// the fields whose settings default to "unset" keep these values.
    fn blank() -> Config {
        Config {
            data_dir: PathBuf::new(),
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            public_url: None,
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Human,
            log_level: String::new(),
            database_url: None,
            db_busy_timeout: Duration::ZERO,
            db_readers: 0,
            qbwc_path: String::new(),
            header_read_timeout: Duration::ZERO,
            request_timeout: Duration::ZERO,
            trusted_proxies: Vec::new(),
            qbwc_min_client_version: String::new(),
            qbwc_session_idle: Duration::ZERO,
            qbwc_session_max: Duration::ZERO,
            qbwc_connection_error_retries: 0,
            qbwc_max_body_bytes: 0,
            qbwc_max_qbxml_bytes: 0,
            qbwc_auth_per_user_per_minute: 0,
            qbwc_auth_per_ip_per_minute: 0,
            qbwc_body_budget_bytes: 0,
            qbwc_body_idle_timeout: Duration::ZERO,
            qbwc_min_body_bytes_per_sec: 0,
            max_connections: 0,
            max_connections_per_address: 0,
            qbwc_run_every_minutes: 0,
            secrets_key_file: None,
            password_key_file: None,
            batch_max_requests: 0,
            batch_max_bytes: 0,
            max_sends: 0,
            names: Default::default(),
            edits: crate::pipeline::policy::PerPlugin::new(
                crate::pipeline::policy::OnEdit::SourceWins,
            ),
            firm_timezone: String::new(),
            schedule_check_every: Duration::ZERO,
            alerts_silence: Duration::ZERO,
            alerts_check_every: Duration::ZERO,
            plugin_memory_limit_mb: 0,
            plugin_call_timeout: Duration::ZERO,
            plugin_trusted_keys: Vec::new(),
            source_endpoints: Default::default(),
            ui_session_idle: Duration::ZERO,
            ui_session_max: Duration::ZERO,
            retention_completed_days: 0,
            metrics_listen: None,
        }
    }
}

/// Where a value came from; named in error messages so the admin knows what to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The TOML file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "config file {}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(n) => write!(f, "flag {n}"),
        }
    }
}

/// A configuration problem, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A known key with a value it does not accept.
    #[error("invalid value {value:?} for `{key}` ({origin}): expected {expected}")]
    Invalid {
        key: String,
        value: String,
        origin: Origin,
        expected: String,
    },
    /// A key no setting is declared for.
    #[error("unknown setting `{key}` ({origin}); known settings: {known}")]
    Unknown {
        key: String,
        origin: Origin,
        known: String,
    },
    /// The file given with `--config` cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// Settings that are each valid but do not fit together.
    #[error("{0}")]
    Inconsistent(String),
}

/// `QBRIDGE_*` variables that are not settings, so they are neither applied nor refused:
/// the CLI's API token (`qbridge plugin … --url`), the crash-test failpoints, and the
/// switches of the test and benchmark harnesses, which CI exports for the whole run.
const NOT_SETTINGS: &[&str] = &[
    "QBRIDGE_TOKEN",
    crate::failpoint::ENV,
    "QBRIDGE_REQUIRE_BROWSER",
    "QBRIDGE_LOAD_CONNECTIONS",
    "QBRIDGE_FUZZ_ITERATIONS",
    "QBRIDGE_PLUGIN_FIXTURES",
];

/// Every setting as a Markdown table (`qbridge settings`; the README's table is this text).
pub fn settings_reference() -> String {
    settings::markdown_table()
}

/// `(key, flag)` of every setting that has its own command-line flag (the CLI's test checks
/// each flag exists).
pub fn setting_flags() -> impl Iterator<Item = (&'static str, &'static str)> {
    SETTINGS.iter().filter_map(|s| s.flag.map(|f| (s.key, f)))
}

/// The environment variable that sets `key`: `server.listen` → `QBRIDGE_SERVER_LISTEN`.
pub fn env_var_for(key: &str) -> String {
    format!("QBRIDGE_{}", key.replace('.', "_").to_ascii_uppercase())
}

fn known_keys() -> String {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Config {
    /// Builds the configuration from all layers.
    ///
    /// `file` is the `--config` path, `env` the process environment (only `QBRIDGE_*`
    /// variables are looked at), and `flags` the `(key, value, flag name)` overrides from the
    /// command line, applied last.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &[(&str, String, String)],
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(path) = file {
            config.apply_file(path)?;
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("QBRIDGE_") && !NOT_SETTINGS.contains(&k.as_str()))
            .collect();
        env.sort();
        for (var, value) in env {
            let Some(setting) = SETTINGS.iter().find(|s| env_var_for(s.key) == var) else {
                return Err(ConfigError::Unknown {
                    key: var.clone(),
                    origin: Origin::Env(var),
                    known: SETTINGS
                        .iter()
                        .map(|s| env_var_for(s.key))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            config.apply(setting.key, &value, Origin::Env(var))?;
        }
        for (key, value, flag) in flags {
            config.apply(key, value, Origin::Flag(flag.clone()))?;
        }
        config.check()?;
        Ok(config)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: e.message().to_string(),
                })?;
        let mut flat = Vec::new();
        flatten("", &table, &mut flat);
        for (key, value) in flat {
            let origin = Origin::File(path.to_path_buf());
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    // Arrays and dates are never valid for any current setting.
                    if SETTINGS.iter().any(|s| s.key == key) {
                        return Err(self.invalid(&key, &other.to_string(), origin, None));
                    }
                    other.to_string()
                }
            };
            self.apply(&key, &text, origin)?;
        }
        Ok(())
    }

    /// Sets one key from its textual value.
    pub fn apply(&mut self, key: &str, value: &str, origin: Origin) -> Result<(), ConfigError> {
        let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else {
            return Err(ConfigError::Unknown {
                key: key.to_string(),
                origin,
                known: known_keys(),
            });
        };
        setting
            .set(self, value)
            .map_err(|expected| self.invalid(key, value, origin, Some(expected)))
    }

    fn invalid(
        &self,
        key: &str,
        value: &str,
        origin: Origin,
        expected: Option<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            origin,
            expected: expected.unwrap_or_else(|| "a single value".to_string()),
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Inconsistent(
                "`tls.cert` and `tls.key` must be set together (HTTPS needs both the certificate chain and its private key)"
                    .into(),
            ));
        }
        if self.qbwc_body_budget_bytes < self.qbwc_max_body_bytes {
            return Err(ConfigError::Inconsistent(format!(
                "`qbwc.body_budget_bytes` ({}) is smaller than `qbwc.max_body_bytes` ({}): a largest allowed request could never be received. Raise the budget or lower the body limit",
                self.qbwc_body_budget_bytes, self.qbwc_max_body_bytes
            )));
        }
        Ok(())
    }

    /// True when the server terminates TLS itself.
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The source-secrets key file (`secrets.key_file`, default `<data_dir>/secrets.key`).
    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secrets.key"))
    }

    /// How long web UI sessions may live.
    pub fn ui_session_limits(&self) -> crate::store::admin_sessions::SessionLimits {
        crate::store::admin_sessions::SessionLimits {
            idle_ms: self.ui_session_idle.as_millis() as i64,
            max_ms: self.ui_session_max.as_millis() as i64,
        }
    }

    /// Message-set limits for the queue.
    pub fn batch_limits(&self) -> crate::store::queue::BatchLimits {
        crate::store::queue::BatchLimits {
            max_requests: self.batch_max_requests,
            max_bytes: self.batch_max_bytes,
        }
    }

    /// How the pipeline judges answers that could otherwise repeat forever.
    pub fn pipeline_rules(&self) -> crate::pipeline::Rules {
        crate::pipeline::Rules {
            max_sends: self.max_sends,
            names: self.names.clone(),
            edits: self.edits.clone(),
        }
    }

    /// Path of the SQLite database inside the data dir.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("qbridge.db")
    }
}

fn flatten<'a>(prefix: &str, table: &'a toml::Table, out: &mut Vec<(String, &'a toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            other => out.push((key, other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's configuration table and [`SETTINGS`] list the same keys, each with its
    /// environment variable: a key added, renamed or removed on one side fails here.
    #[test]
    fn readme_configuration_table_is_the_declared_settings() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("## Configuration")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README has a ## Configuration section");
        let documented: String = section
            .lines()
            .filter(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        let declared = settings::markdown_table();
        assert!(
            documented == declared,
            "the README's configuration table differs from SETTINGS (config/settings.rs); replace it with:\n{declared}"
        );
    }

    #[test]
    fn every_setting_has_help_and_a_default_its_parser_accepts() {
        let defaults = Config::default();
        assert_eq!(defaults.listen.to_string(), "127.0.0.1:8080");
        for setting in SETTINGS {
            assert!(
                !setting.help.trim().is_empty(),
                "{} has no help",
                setting.key
            );
            if let settings::DefaultValue::Value(v) = setting.default {
                let mut c = Config::default();
                setting.set(&mut c, v).unwrap();
            }
        }
    }

    #[test]
    fn refusals_name_the_declared_range() {
        let err = Config::load(None, env(&[("QBRIDGE_DATABASE_READERS", "65")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("a whole number from 1 to 64"), "{err}");
        let err = Config::load(None, env(&[("QBRIDGE_PLUGINS_CALL_TIMEOUT_MS", "5")]), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a whole number of ms from 10 to 600000"),
            "{err}"
        );
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, env(&[("PATH", "/bin")]), &[]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./qbridge-data"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.qbwc_path, "/qbwc");
    }

    #[test]
    fn flags_override_env_which_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("q.toml");
        std::fs::write(&file, "data_dir = \"/from-file\"\n[server]\nlisten = \"127.0.0.1:1000\"\n[log]\nformat = \"json\"\n").unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("QBRIDGE_SERVER_LISTEN", "127.0.0.1:2000"),
                ("QBRIDGE_DATA_DIR", "/from-env"),
            ]),
            &[("data_dir", "/from-flag".into(), "--data-dir".into())],
        )
        .unwrap();
        assert_eq!(c.listen.port(), 2000);
        assert_eq!(c.data_dir, PathBuf::from("/from-flag"));
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn invalid_value_names_key_value_origin_and_allowed() {
        let err = Config::load(None, env(&[("QBRIDGE_SERVER_LISTEN", "localhost")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`server.listen`"), "{err}");
        assert!(err.contains("\"localhost\""), "{err}");
        assert!(err.contains("QBRIDGE_SERVER_LISTEN"), "{err}");
        assert!(err.contains("127.0.0.1:8080"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_in_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("q.toml");
        std::fs::write(&file, "[server]\nlisten_port = 9\n").unwrap();
        let err = Config::load(Some(&file), env(&[]), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown setting `server.listen_port`"),
            "{err}"
        );
        assert!(err.contains("server.listen"), "{err}");
        let err = Config::load(None, env(&[("QBRIDGE_LISTN", "x")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("QBRIDGE_LISTN"), "{err}");
    }

    #[test]
    fn tool_variables_are_not_mistaken_for_settings() {
        let c = Config::load(
            None,
            env(&[
                ("QBRIDGE_REQUIRE_BROWSER", "1"),
                ("QBRIDGE_TOKEN", "qbr_x"),
                ("QBRIDGE_SERVER_LISTEN", "127.0.0.1:9"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9);
    }

    #[test]
    fn tls_needs_both_halves() {
        let err = Config::load(None, env(&[("QBRIDGE_TLS_CERT", "/c.pem")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls.key"), "{err}");
    }

    #[test]
    fn numbers_are_range_checked() {
        let err = Config::load(None, env(&[("QBRIDGE_DATABASE_READERS", "0")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("from 1 to 64"), "{err}");
    }

    #[test]
    fn source_endpoints_default_to_none_and_accept_only_loopback_fakes() {
        assert!(Config::default().source_endpoints.is_empty());
        let c = Config::load(
            None,
            env(&[("QBRIDGE_SOURCE_ENDPOINTS", "api.ramp.com=127.0.0.1:8123")]),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.source_endpoints
                .route("https://api.ramp.com/developer/v1/token")
                .unwrap()
                .url,
            "http://127.0.0.1:8123/developer/v1/token"
        );
        let err = Config::load(
            None,
            env(&[("QBRIDGE_SOURCE_ENDPOINTS", "api.ramp.com=192.168.1.9:80")]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`source_endpoints` (environment variable QBRIDGE_SOURCE_ENDPOINTS)")
                && err.contains("entry \"api.ramp.com=192.168.1.9:80\" is not a loopback address")
                && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn secrets_key_file_defaults_into_the_data_dir_and_can_move_out() {
        let c = Config::load(None, env(&[("QBRIDGE_DATA_DIR", "/var/lib/qb")]), &[]).unwrap();
        assert_eq!(
            c.secrets_key_path(),
            PathBuf::from("/var/lib/qb/secrets.key")
        );
        let c = Config::load(
            None,
            env(&[("QBRIDGE_SECRETS_KEY_FILE", "/etc/qbridge/secrets.key")]),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.secrets_key_path(),
            PathBuf::from("/etc/qbridge/secrets.key")
        );
    }
}
