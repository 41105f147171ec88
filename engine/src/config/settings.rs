//! Every configuration key, declared once: its dotted key, the flag that sets it (if any),
//! its default, what it accepts (type and range), a line of help and the one parser every
//! layer (TOML, `QBRIDGE_*`, flags) uses — so a value is refused with the same words wherever
//! it came from, [`Config::default`] is built from these defaults, and the README's
//! configuration table is rendered from this list (a test keeps the two equal).

use super::*;

/// What a setting accepts: the type and range, shown in the README and in every refusal.
pub(super) enum Accepts {
    /// A whole number in `min..=max`, in `unit` (empty when the number is a count).
    Whole {
        min: u64,
        max: u64,
        unit: &'static str,
    },
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Text of this shape.
    Text(&'static str),
}

impl Accepts {
    /// The `expected …` part of a refusal.
    pub(super) fn expected(&self) -> String {
        match self {
            Accepts::Whole { min, max, unit: "" } => {
                format!("a whole number from {min} to {max}")
            }
            Accepts::Whole { min, max, unit } => {
                format!("a whole number of {unit} from {min} to {max}")
            }
            Accepts::OneOf(words) => {
                let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                quoted.join(" or ")
            }
            Accepts::Text(shape) => (*shape).to_string(),
        }
    }

    /// The README's "accepts" cell.
    fn markdown(&self) -> String {
        match self {
            Accepts::Whole { min, max, unit } => {
                format!(
                    "{min}–{max}{}{unit}",
                    if unit.is_empty() { "" } else { " " }
                )
            }
            _ => self.expected(),
        }
    }
}

/// The value a setting has when no layer sets it.
pub(super) enum DefaultValue {
    /// This text, applied through the setting's own parser when [`Config::default`] is built.
    Value(&'static str),
    /// No value; the text says what happens then.
    Unset(&'static str),
}

/// Why a parser refused a value.
pub(super) enum Refused {
    /// The value does not have the shape [`Accepts`] describes.
    Shape,
    /// A more specific reason (it replaces the generic description).
    Because(String),
}

impl From<String> for Refused {
    fn from(why: String) -> Self {
        Refused::Because(why)
    }
}

/// How a value reaches the [`Config`].
pub(super) enum Apply {
    /// A whole number, checked against [`Accepts::Whole`] before the function sees it.
    Whole(fn(&mut Config, u64)),
    /// Any text, parsed by the function.
    Text(fn(&mut Config, &str) -> Result<(), Refused>),
}

/// One configurable key.
pub(super) struct Setting {
    /// Dotted key as written in the TOML file (`server.listen` is `[server] listen = …`).
    pub(super) key: &'static str,
    /// The command-line flag that sets it besides `--set KEY=VALUE`.
    pub(super) flag: Option<&'static str>,
    pub(super) default: DefaultValue,
    pub(super) accepts: Accepts,
    /// One line for the README: what the setting changes.
    pub(super) help: &'static str,
    pub(super) apply: Apply,
}

impl Setting {
    /// Parses `value` into `config`; the error is the `expected …` text.
    pub(super) fn set(&self, config: &mut Config, value: &str) -> Result<(), String> {
        let refused = match (&self.apply, &self.accepts) {
            (Apply::Whole(apply), Accepts::Whole { min, max, .. }) => {
                match value.trim().parse::<u64>() {
                    Ok(n) if (*min..=*max).contains(&n) => {
                        apply(config, n);
                        return Ok(());
                    }
                    _ => Refused::Shape,
                }
            }
            (Apply::Whole(_), _) => {
                unreachable!("{}: a whole-number setting accepts Whole", self.key)
            }
            (Apply::Text(apply), _) => match apply(config, value) {
                Ok(()) => return Ok(()),
                Err(refused) => refused,
            },
        };
        Err(match refused {
            Refused::Shape => self.accepts.expected(),
            Refused::Because(why) => why,
        })
    }

    /// This setting's row of the README's configuration table.
    fn markdown_row(&self) -> String {
        let flag = self.flag.map(|f| format!("`{f}`")).unwrap_or_default();
        let default = match self.default {
            DefaultValue::Value(v) => format!("`{v}`"),
            DefaultValue::Unset(what) => what.to_string(),
        };
        format!(
            "| `{}` | `{}` | {flag} | {default} | {} | {} |",
            self.key,
            env_var_for(self.key),
            self.accepts.markdown(),
            self.help
        )
    }
}

/// The README's configuration table, header included.
pub(super) fn markdown_table() -> String {
    let mut table = String::from(
        "| key (TOML) | environment | flag | default | accepts | what it changes |\n|---|---|---|---|---|---|\n",
    );
    for setting in SETTINGS {
        table.push_str(&setting.markdown_row());
        table.push('\n');
    }
    table
}

const SECS: &str = "seconds";

pub(super) const SETTINGS: &[Setting] = &[
    Setting {
        key: "data_dir",
        flag: Some("--data-dir"),
        default: DefaultValue::Value("./qbridge-data"),
        accepts: Accepts::Text("a folder path"),
        help: "the folder of the database, the instance lock, the key files and compiled plugins (created 0700)",
        apply: Apply::Text(|c, v| {
            if v.trim().is_empty() {
                return Err(Refused::Shape);
            }
            c.data_dir = PathBuf::from(v);
            Ok(())
        }),
    },
    Setting {
        key: "server.listen",
        flag: Some("--listen"),
        default: DefaultValue::Value("127.0.0.1:8080"),
        accepts: Accepts::Text("an IP address and port such as 127.0.0.1:8080"),
        help: "the address the HTTP(S) server listens on",
        apply: Apply::Text(|c, v| {
            c.listen = v.parse().map_err(|_| Refused::Shape)?;
            Ok(())
        }),
    },
    Setting {
        key: "server.public_url",
        flag: None,
        default: DefaultValue::Unset("derived from `server.listen` (localhost only)"),
        accepts: Accepts::Text("an absolute URL such as https://sync.example.com"),
        help: "the URL Web Connectors reach qbridge at, written into QWC files",
        apply: Apply::Text(|c, v| {
            let ok = (v.starts_with("https://") || v.starts_with("http://"))
                && v.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
            if !ok {
                return Err(Refused::Shape);
            }
            c.public_url = Some(v.trim_end_matches('/').to_string());
            Ok(())
        }),
    },
    Setting {
        key: "tls.cert",
        flag: None,
        default: DefaultValue::Unset("none (plain http)"),
        accepts: Accepts::Text("a file path"),
        help: "PEM certificate chain for serving HTTPS directly; set together with `tls.key`",
        apply: Apply::Text(|c, v| {
            c.tls_cert = Some(non_empty_path(v)?);
            Ok(())
        }),
    },
    Setting {
        key: "tls.key",
        flag: None,
        default: DefaultValue::Unset("none (plain http)"),
        accepts: Accepts::Text("a file path"),
        help: "PEM private key of `tls.cert`",
        apply: Apply::Text(|c, v| {
            c.tls_key = Some(non_empty_path(v)?);
            Ok(())
        }),
    },
    Setting {
        key: "log.format",
        flag: Some("--log-format"),
        default: DefaultValue::Value("human"),
        accepts: Accepts::OneOf(&["human", "json"]),
        help: "log lines on stderr: readable, or one JSON object per line for log shippers",
        apply: Apply::Text(|c, v| {
            c.log_format = match v {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                _ => return Err(Refused::Shape),
            };
            Ok(())
        }),
    },
    Setting {
        key: "log.level",
        flag: Some("--log-level"),
        default: DefaultValue::Value("info"),
        accepts: Accepts::Text(
            "a level (off, error, warn, info, debug, trace) or comma-separated target=level pairs such as qbridge=debug,hyper=warn (at most 256 characters)",
        ),
        help: "which log lines are written",
        apply: Apply::Text(|c, v| {
            if !super::log_filter::is_valid(v) {
                return Err(Refused::Shape);
            }
            tracing_subscriber::EnvFilter::try_new(v).map_err(|_| Refused::Shape)?;
            c.log_level = v.to_string();
            Ok(())
        }),
    },
    Setting {
        key: "database.url",
        flag: None,
        default: DefaultValue::Unset("none (SQLite in the data dir)"),
        accepts: Accepts::Text(
            "a PostgreSQL URL such as postgres://qbridge@db.internal:5432/qbridge?sslmode=verify-full&sslrootcert=/etc/qbridge/db-ca.pem (libpq's sslmode, sslrootcert, sslcert, sslkey)",
        ),
        help: "keep the store in PostgreSQL, shared by every node of a cluster, instead of SQLite in the data dir",
        apply: Apply::Text(|c, v| {
            c.database_url = Some(crate::store::sql::PgTarget::parse(v)?);
            Ok(())
        }),
    },
    Setting {
        key: "database.busy_timeout_ms",
        flag: None,
        default: DefaultValue::Value("5000"),
        accepts: Accepts::Whole {
            min: 1,
            max: 600_000,
            unit: "ms",
        },
        help: "how long a database call waits for another writer",
        apply: Apply::Whole(|c, n| c.db_busy_timeout = Duration::from_millis(n)),
    },
    Setting {
        key: "database.readers",
        flag: None,
        default: DefaultValue::Value("4"),
        accepts: Accepts::Whole {
            min: 1,
            max: 64,
            unit: "",
        },
        help: "read-only database connections kept open beside the one writer",
        apply: Apply::Whole(|c, n| c.db_readers = n as usize),
    },
    Setting {
        key: "qbwc.path",
        flag: None,
        default: DefaultValue::Value("/qbwc"),
        accepts: Accepts::Text("a URL path such as /qbwc (letters, digits, / - _ .)"),
        help: "the path of the Web Connector's SOAP endpoint",
        apply: Apply::Text(|c, v| {
            let ok = v.starts_with('/')
                && v.len() > 1
                && v.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "/-_.".contains(ch));
            if !ok {
                return Err(Refused::Shape);
            }
            c.qbwc_path = v.to_string();
            Ok(())
        }),
    },
    Setting {
        key: "server.header_read_timeout_secs",
        flag: None,
        default: DefaultValue::Value("10"),
        accepts: Accepts::Whole {
            min: 1,
            max: 300,
            unit: SECS,
        },
        help: "a client slower than this to send its request headers is cut off",
        apply: Apply::Whole(|c, n| c.header_read_timeout = Duration::from_secs(n)),
    },
    Setting {
        key: "server.request_timeout_secs",
        flag: None,
        default: DefaultValue::Value("300"),
        accepts: Accepts::Whole {
            min: 1,
            max: 3600,
            unit: SECS,
        },
        help: "the longest one request may take, body and handling included",
        apply: Apply::Whole(|c, n| c.request_timeout = Duration::from_secs(n)),
    },
    Setting {
        key: "server.trusted_proxies",
        flag: None,
        default: DefaultValue::Unset("none"),
        accepts: Accepts::Text(
            "comma-separated IP addresses of the reverse proxies in front of qbridge (e.g. 127.0.0.1,10.0.0.5)",
        ),
        help: "from these, the client address (login rate limits, audit) is the nearest `X-Forwarded-For` entry that is not a listed proxy",
        apply: Apply::Text(|c, v| {
            c.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse())
                .collect::<Result<_, _>>()
                .map_err(|_| Refused::Shape)?;
            Ok(())
        }),
    },
    Setting {
        key: "server.max_connections",
        flag: None,
        default: DefaultValue::Value("4096"),
        accepts: Accepts::Whole {
            min: 16,
            max: 1_000_000,
            unit: "",
        },
        help: "open client connections at once (also kept under the open-files limit, which `serve` raises to its hard maximum)",
        apply: Apply::Whole(|c, n| c.max_connections = n as usize),
    },
    Setting {
        key: "server.max_connections_per_address",
        flag: None,
        default: DefaultValue::Value("256"),
        accepts: Accepts::Whole {
            min: 1,
            max: 1_000_000,
            unit: "",
        },
        help: "open connections from one client address (IPv6: one /64; trusted proxies exempt); over it: 503 with `Retry-After`",
        apply: Apply::Whole(|c, n| c.max_connections_per_address = n as usize),
    },
    Setting {
        key: "qbwc.min_client_version",
        flag: None,
        default: DefaultValue::Value("2.0.0.0"),
        accepts: Accepts::Text("a Web Connector version such as 2.3.0.215"),
        help: "older Web Connectors are asked to update",
        apply: Apply::Text(|c, v| {
            let ok = !v.is_empty()
                && v.split('.').count() <= 4
                && v.split('.').all(|p| {
                    !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit())
                });
            if !ok {
                return Err(Refused::Shape);
            }
            c.qbwc_min_client_version = v.to_string();
            Ok(())
        }),
    },
    Setting {
        key: "qbwc.session_idle_secs",
        flag: None,
        default: DefaultValue::Value("600"),
        accepts: Accepts::Whole {
            min: 1,
            max: 86_400,
            unit: SECS,
        },
        help: "a Web Connector session silent this long ends and frees its company file",
        apply: Apply::Whole(|c, n| c.qbwc_session_idle = Duration::from_secs(n)),
    },
    Setting {
        key: "qbwc.session_max_secs",
        flag: None,
        default: DefaultValue::Value("7200"),
        accepts: Accepts::Whole {
            min: 1,
            max: 7 * 86_400,
            unit: SECS,
        },
        help: "a Web Connector session ends this long after its login, whatever its activity",
        apply: Apply::Whole(|c, n| c.qbwc_session_max = Duration::from_secs(n)),
    },
    Setting {
        key: "qbwc.connection_error_retries",
        flag: None,
        default: DefaultValue::Value("2"),
        accepts: Accepts::Whole {
            min: 0,
            max: 10,
            unit: "",
        },
        help: "`connectionError` calls per session answered with a retry before `done`",
        apply: Apply::Whole(|c, n| c.qbwc_connection_error_retries = n as u32),
    },
    Setting {
        key: "qbwc.max_body_bytes",
        flag: None,
        default: DefaultValue::Value("33554432"),
        accepts: Accepts::Whole {
            min: 65_536,
            max: 1 << 30,
            unit: "bytes",
        },
        help: "largest `sendRequestXML`/`receiveResponseXML` body whose first parameter is the ticket of a live session owed that call; everything else: 16 KiB",
        apply: Apply::Whole(|c, n| c.qbwc_max_body_bytes = n as usize),
    },
    Setting {
        key: "qbwc.max_qbxml_bytes",
        flag: None,
        default: DefaultValue::Value("33554432"),
        accepts: Accepts::Whole {
            min: 65_536,
            max: 1 << 30,
            unit: "bytes",
        },
        help: "largest qbXML document inside a SOAP string, after unescaping",
        apply: Apply::Whole(|c, n| c.qbwc_max_qbxml_bytes = n as usize),
    },
    Setting {
        key: "qbwc.body_budget_bytes",
        flag: None,
        default: DefaultValue::Value("268435456"),
        accepts: Accepts::Whole {
            min: 1 << 20,
            max: 1 << 36,
            unit: "bytes",
        },
        help: "request-body bytes all `/qbwc` requests may hold at once; beyond it: 503 with `Retry-After`",
        apply: Apply::Whole(|c, n| c.qbwc_body_budget_bytes = n as usize),
    },
    Setting {
        key: "qbwc.body_idle_timeout_secs",
        flag: None,
        default: DefaultValue::Value("10"),
        accepts: Accepts::Whole {
            min: 1,
            max: 600,
            unit: SECS,
        },
        help: "longest pause inside a `/qbwc` request body (then 408)",
        apply: Apply::Whole(|c, n| c.qbwc_body_idle_timeout = Duration::from_secs(n)),
    },
    Setting {
        key: "qbwc.min_body_bytes_per_sec",
        flag: None,
        default: DefaultValue::Value("1024"),
        accepts: Accepts::Whole {
            min: 0,
            max: 100 << 20,
            unit: "bytes per second",
        },
        help: "slowest average `/qbwc` body rate after the first idle-timeout interval; 0 = none",
        apply: Apply::Whole(|c, n| c.qbwc_min_body_bytes_per_sec = n),
    },
    Setting {
        key: "qbwc.auth_per_user_per_minute",
        flag: None,
        default: DefaultValue::Value("10"),
        accepts: Accepts::Whole {
            min: 1,
            max: 10_000,
            unit: "",
        },
        help: "failed logins allowed per Web Connector user per minute (successful ones are not counted)",
        apply: Apply::Whole(|c, n| c.qbwc_auth_per_user_per_minute = n as u32),
    },
    Setting {
        key: "qbwc.auth_per_ip_per_minute",
        flag: None,
        default: DefaultValue::Value("60"),
        accepts: Accepts::Whole {
            min: 1,
            max: 100_000,
            unit: "",
        },
        help: "failed logins allowed per client address (IPv6: per /64) per minute",
        apply: Apply::Whole(|c, n| c.qbwc_auth_per_ip_per_minute = n as u32),
    },
    Setting {
        key: "qbwc.run_every_minutes",
        flag: None,
        default: DefaultValue::Value("15"),
        accepts: Accepts::Whole {
            min: 1,
            max: 10_080,
            unit: "minutes",
        },
        help: "`RunEveryNMinutes` written into QWC files",
        apply: Apply::Whole(|c, n| c.qbwc_run_every_minutes = n as u32),
    },
    Setting {
        key: "ui.session_idle_secs",
        flag: None,
        default: DefaultValue::Value("1800"),
        accepts: Accepts::Whole {
            min: 60,
            max: 86_400,
            unit: SECS,
        },
        help: "a web UI session unused this long ends",
        apply: Apply::Whole(|c, n| c.ui_session_idle = Duration::from_secs(n)),
    },
    Setting {
        key: "ui.session_max_secs",
        flag: None,
        default: DefaultValue::Value("43200"),
        accepts: Accepts::Whole {
            min: 60,
            max: 7 * 86_400,
            unit: SECS,
        },
        help: "a web UI session ends this long after sign-in",
        apply: Apply::Whole(|c, n| c.ui_session_max = Duration::from_secs(n)),
    },
    Setting {
        key: "secrets.key_file",
        flag: None,
        default: DefaultValue::Unset("`<data_dir>/secrets.key`"),
        accepts: Accepts::Text("a file path"),
        help: "the key that seals source secrets; kept outside the data dir, a backup of the database alone does not reveal them",
        apply: Apply::Text(|c, v| {
            c.secrets_key_file = Some(non_empty_path(v)?);
            Ok(())
        }),
    },
    Setting {
        key: "qbwc.password_key_file",
        flag: None,
        default: DefaultValue::Unset("`<data_dir>/qbwc-auth.key`"),
        accepts: Accepts::Text("a file path"),
        help: "the key Web Connector passwords are hashed under; the nodes of a cluster must share it (and secrets.key_file)",
        apply: Apply::Text(|c, v| {
            c.password_key_file = Some(non_empty_path(v)?);
            Ok(())
        }),
    },
    Setting {
        key: "plugins.memory_limit_mb",
        flag: None,
        default: DefaultValue::Value("64"),
        accepts: Accepts::Whole {
            min: 1,
            max: 4096,
            unit: "MiB",
        },
        help: "memory one plugin instance may use",
        apply: Apply::Whole(|c, n| c.plugin_memory_limit_mb = n),
    },
    Setting {
        key: "plugins.call_timeout_ms",
        flag: None,
        default: DefaultValue::Value("1000"),
        accepts: Accepts::Whole {
            min: 10,
            max: 600_000,
            unit: "ms",
        },
        help: "the longest one plugin call may run, its host calls included",
        apply: Apply::Whole(|c, n| c.plugin_call_timeout = Duration::from_millis(n)),
    },
    Setting {
        key: "plugins.trusted_keys",
        flag: None,
        default: DefaultValue::Unset("none"),
        accepts: Accepts::Text(
            "comma-separated minisign public keys (the 56-character base64 line of a .pub file)",
        ),
        help: "when set, only plugins signed by one of these keys install",
        apply: Apply::Text(|c, v| {
            // Comma-separated, so the same text works in TOML, the environment and --set.
            let keys: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect();
            if keys.iter().any(|k| k.len() != 56) {
                return Err(Refused::Shape);
            }
            c.plugin_trusted_keys = keys;
            Ok(())
        }),
    },
    Setting {
        key: "pipeline.max_sends",
        flag: None,
        default: DefaultValue::Value("3"),
        accepts: Accepts::Whole {
            min: 1,
            max: 100,
            unit: "",
        },
        help: "sends of a request QuickBooks does not apply before the job is held with its answers and advice",
        apply: Apply::Whole(|c, n| c.max_sends = n as i64),
    },
    Setting {
        key: "pipeline.batch_max_requests",
        flag: None,
        default: DefaultValue::Value("50"),
        accepts: Accepts::Whole {
            min: 1,
            max: 1000,
            unit: "",
        },
        help: "requests per qbXML message set (fewer Web Connector round trips vs smaller sets)",
        apply: Apply::Whole(|c, n| c.batch_max_requests = n as usize),
    },
    Setting {
        key: "pipeline.batch_max_bytes",
        flag: None,
        default: DefaultValue::Value("1048576"),
        accepts: Accepts::Whole {
            min: 1024,
            max: 64 * 1024 * 1024,
            unit: "bytes",
        },
        help: "bytes of request qbXML per message set",
        apply: Apply::Whole(|c, n| c.batch_max_bytes = n as usize),
    },
    Setting {
        key: "pipeline.schedule_check_secs",
        flag: None,
        default: DefaultValue::Value("30"),
        accepts: Accepts::Whole {
            min: 1,
            max: 3600,
            unit: SECS,
        },
        help: "how often due pull schedules and deferred plugin calls are checked",
        apply: Apply::Whole(|c, n| c.schedule_check_every = Duration::from_secs(n)),
    },
    Setting {
        key: "alerts.silence_secs",
        flag: None,
        default: DefaultValue::Value("21600"),
        accepts: Accepts::Whole {
            min: 1,
            max: 30 * 86_400,
            unit: SECS,
        },
        help: "a connection whose Web Connector has not called for this long raises one `connection.silent` alert per silence",
        apply: Apply::Whole(|c, n| c.alerts_silence = Duration::from_secs(n)),
    },
    Setting {
        key: "alerts.check_secs",
        flag: None,
        default: DefaultValue::Value("15"),
        accepts: Accepts::Whole {
            min: 1,
            max: 3600,
            unit: SECS,
        },
        help: "how often silences are checked and due alert deliveries are sent",
        apply: Apply::Whole(|c, n| c.alerts_check_every = Duration::from_secs(n)),
    },
    Setting {
        key: "firm.timezone",
        flag: None,
        default: DefaultValue::Value("UTC"),
        accepts: Accepts::Text("an IANA timezone name such as America/New_York"),
        help: "pull schedules fire in it",
        apply: Apply::Text(|c, v| {
            v.parse::<chrono_tz::Tz>().map_err(|_| Refused::Shape)?;
            c.firm_timezone = v.to_string();
            Ok(())
        }),
    },
    Setting {
        key: "names.conflict",
        flag: None,
        default: DefaultValue::Value("disambiguate"),
        accepts: Accepts::OneOf(&["disambiguate", "hold"]),
        help: "a customer whose name a vendor, employee or other name holds is created as `Name (C)`; or `hold`: the job waits with advice",
        apply: Apply::Text(|c, v| {
            c.names.on_conflict.default = OnConflict::parse(v).ok_or(Refused::Shape)?;
            Ok(())
        }),
    },
    Setting {
        key: "names.conflict_plugins",
        flag: None,
        default: DefaultValue::Unset("none"),
        accepts: Accepts::Text(
            "comma-separated plugin=policy pairs such as ramp=hold,autotask=disambiguate",
        ),
        help: "`names.conflict` per plugin",
        apply: Apply::Text(|c, v| Ok(c.names.on_conflict.set_per_plugin(v)?)),
    },
    Setting {
        key: "edits.conflict",
        flag: None,
        default: DefaultValue::Value("source-wins"),
        accepts: Accepts::OneOf(&["source-wins", "hold"]),
        help: "an object changed in QuickBooks since qbridge wrote it gets the source's new version; or `hold`: the job waits with a field-by-field diff",
        apply: Apply::Text(|c, v| {
            c.edits.default = OnEdit::parse(v).ok_or(Refused::Shape)?;
            Ok(())
        }),
    },
    Setting {
        key: "edits.conflict_plugins",
        flag: None,
        default: DefaultValue::Unset("none"),
        accepts: Accepts::Text("comma-separated plugin=policy pairs such as ramp=hold"),
        help: "`edits.conflict` per plugin",
        apply: Apply::Text(|c, v| Ok(c.edits.set_per_plugin(v)?)),
    },
    Setting {
        key: "names.suffix",
        flag: None,
        default: DefaultValue::Value(" ({initial})"),
        accepts: Accepts::Text("text of at most 10 characters containing {initial}"),
        help: "`{initial}`: C, V, E or O for the record's own list; the name is shortened so both fit 41 characters",
        apply: Apply::Text(|c, v| Ok(c.names.set_suffix(v)?)),
    },
    Setting {
        key: "retention.completed_days",
        flag: None,
        default: DefaultValue::Value("90"),
        accepts: Accepts::Whole {
            min: 0,
            max: 36_500,
            unit: "days",
        },
        help: "completed jobs' request, response and payload text is pruned after this many days (ids, keys, QuickBooks ids and the audit log stay; `qbridge prune` runs it now); 0 = never",
        apply: Apply::Whole(|c, n| c.retention_completed_days = n),
    },
    Setting {
        key: "metrics.listen",
        flag: None,
        default: DefaultValue::Unset("none (`/metrics` on `server.listen` with a read token)"),
        accepts: Accepts::Text("an IP address and port such as 127.0.0.1:9464"),
        help: "a second address serving only `/metrics`, without a token: keep it on a private network",
        apply: Apply::Text(|c, v| {
            c.metrics_listen = Some(v.parse().map_err(|_| Refused::Shape)?);
            Ok(())
        }),
    },
    Setting {
        key: "source_endpoints",
        flag: None,
        default: DefaultValue::Unset("none"),
        accepts: Accepts::Text(
            "comma-separated host=ADDR pairs, ADDR a loopback address with a port",
        ),
        help: "**testing only**: plugin requests to `https://host/…` go over plain HTTP to `http://ADDR/…` (manifest and secret rules unchanged; logged as a WARN at start and by `qbridge doctor`)",
        apply: Apply::Text(|c, v| {
            c.source_endpoints = crate::plugins::endpoints::SourceEndpoints::parse(v)?;
            Ok(())
        }),
    },
];

fn non_empty_path(v: &str) -> Result<PathBuf, Refused> {
    if v.trim().is_empty() {
        Err(Refused::Shape)
    } else {
        Ok(PathBuf::from(v))
    }
}
