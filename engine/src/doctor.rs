//! `qbridge doctor`: checks the installation and says what is wrong and how to fix it.
//!
//! Doctor only reads: it never takes the instance lock, never migrates, never binds for longer
//! than the check takes — so it is safe to run beside a running server.

use std::fmt;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::store::{self, InstanceLock};
use crate::{qbwc, server};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// All good.
    Ok,
    /// Works, but an admin should look.
    Warn,
    /// Will not work until fixed.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// Which check produced it (`data dir`, `database`, …).
    pub check: &'static str,
    /// What was found.
    pub message: String,
    /// What to do about it, if anything.
    pub fix: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        write!(f, "{tag} {:<10} {}", self.check, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n     {:<10} fix: {fix}", "")?;
        }
        Ok(())
    }
}

fn finding(
    level: Level,
    check: &'static str,
    message: impl Into<String>,
    fix: Option<String>,
) -> Finding {
    Finding {
        level,
        check,
        message: message.into(),
        fix,
    }
}

/// Runs every check.
pub fn run(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let data_dir = config.data_dir.as_path();
    check_data_dir(data_dir, &mut out);
    let running = InstanceLock::is_held(data_dir);
    check_database(data_dir, &mut out);
    check_listen(config, running.as_deref(), &mut out);
    check_tls(config, &mut out);
    check_app_url(config, running.is_some(), &mut out);
    check_source_endpoints(config, &mut out);
    out
}

/// `source_endpoints` sends source credentials to local plain-HTTP fakes: fine in a test
/// set-up, never in production, so it is always worth a warning.
fn check_source_endpoints(config: &Config, out: &mut Vec<Finding>) {
    if !config.source_endpoints.is_empty() {
        out.push(finding(
            Level::Warn,
            "sources",
            format!(
                "source_endpoints redirects plugin requests to local fakes: {}",
                config.source_endpoints.describe()
            ),
            Some("this is for testing only; unset source_endpoints (QBRIDGE_SOURCE_ENDPOINTS) in production".into()),
        ));
    }
}

fn check_data_dir(data_dir: &Path, out: &mut Vec<Finding>) {
    const CHECK: &str = "data dir";
    match std::fs::metadata(data_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.push(finding(
            Level::Ok,
            CHECK,
            format!(
                "{} does not exist yet; `qbridge serve` will create it",
                data_dir.display()
            ),
            None,
        )),
        Err(e) => out.push(finding(
            Level::Fail,
            CHECK,
            format!("cannot read {}: {e}", data_dir.display()),
            Some(
                "give the user running qbridge access to it, or choose another with --data-dir"
                    .into(),
            ),
        )),
        Ok(m) if !m.is_dir() => out.push(finding(
            Level::Fail,
            CHECK,
            format!("{} is a file, not a folder", data_dir.display()),
            Some("point --data-dir at a folder".into()),
        )),
        Ok(m) if m.permissions().readonly() => out.push(finding(
            Level::Fail,
            CHECK,
            format!("{} is read-only", data_dir.display()),
            Some("make it writable for the user running qbridge".into()),
        )),
        Ok(_) if store::data_dir_mode_problem(data_dir).is_some() => out.push(finding(
            Level::Fail,
            CHECK,
            format!(
                "{} is open to other users of this machine ({}); `qbridge serve` refuses to start on it",
                data_dir.display(),
                mode_text(data_dir)
            ),
            Some(format!(
                "chmod 700 {} (it holds the database with every job and token hash, the secrets key and the bootstrap token; only the user running qbridge needs it)",
                data_dir.display()
            )),
        )),
        Ok(_) => {
            let probe = data_dir.join(".doctor-write-test");
            match std::fs::write(&probe, b"ok") {
                Ok(()) => {
                    let _ = std::fs::remove_file(probe);
                    out.push(finding(
                        Level::Ok,
                        CHECK,
                        format!("{} is writable", data_dir.display()),
                        None,
                    ));
                }
                Err(e) => out.push(finding(
                    Level::Fail,
                    CHECK,
                    format!("cannot write into {}: {e}", data_dir.display()),
                    Some("give the user running qbridge write access".into()),
                )),
            }
        }
    }
}

/// `mode 0755` for the doctor's message.
fn mode_text(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| format!("mode {:04o}", m.permissions().mode() & 0o777))
            .unwrap_or_else(|e| e.to_string())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        "permissions not checked on this platform".to_string()
    }
}

fn check_database(data_dir: &Path, out: &mut Vec<Finding>) {
    const CHECK: &str = "database";
    match store::inspect(data_dir) {
        Ok(i) if !i.exists => out.push(finding(Level::Ok, CHECK, "not created yet", None)),
        Ok(i) if i.schema_version > i.latest_version => out.push(finding(
            Level::Fail,
            CHECK,
            format!(
                "schema version {} is newer than this qbridge ({})",
                i.schema_version, i.latest_version
            ),
            Some("run the newer qbridge that wrote it, or restore a backup".into()),
        )),
        Ok(i) => out.push(finding(
            Level::Ok,
            CHECK,
            format!(
                "passes quick_check, schema version {}{}",
                i.schema_version,
                if i.schema_version < i.latest_version {
                    " (will be upgraded at next start)"
                } else {
                    ""
                }
            ),
            None,
        )),
        Err(e @ store::StoreError::Corrupt { .. }) => {
            out.push(finding(Level::Fail, CHECK, e.to_string(), None))
        }
        Err(e) => out.push(finding(Level::Fail, CHECK, e.to_string(), None)),
    }
}

fn check_listen(config: &Config, running: Option<&str>, out: &mut Vec<Finding>) {
    const CHECK: &str = "listen";
    let addr = config.listen;
    if let Some(holder) = running {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(_) => out.push(finding(
                Level::Ok,
                CHECK,
                format!("a qbridge server is running on this data dir ({holder}) and answers on {addr}"),
                None,
            )),
            Err(e) => out.push(finding(
                Level::Warn,
                CHECK,
                format!("a qbridge server holds this data dir ({holder}) but {addr} does not answer: {e}"),
                Some("check that the server was started with the same --listen address".into()),
            )),
        }
        return;
    }
    match TcpListener::bind(addr) {
        Ok(_) => out.push(finding(Level::Ok, CHECK, format!("{addr} is free"), None)),
        Err(e) => out.push(finding(
            Level::Fail,
            CHECK,
            format!("cannot listen on {addr}: {e}"),
            Some("stop the program using the port, or choose another with --listen".into()),
        )),
    }
    if !addr.ip().is_loopback()
        && !config.serves_tls()
        && config
            .public_url
            .as_deref()
            .is_none_or(|u| !u.starts_with("https://"))
    {
        out.push(finding(
            Level::Warn,
            CHECK,
            format!("{addr} is reachable from other machines over plain http"),
            Some("the Web Connector only accepts https except for localhost: set tls.cert/tls.key, or run behind an HTTPS reverse proxy and set server.public_url".into()),
        ));
    }
}

fn check_tls(config: &Config, out: &mut Vec<Finding>) {
    const CHECK: &str = "tls";
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        out.push(finding(
            Level::Ok,
            CHECK,
            "not configured: serving plain http (fine for localhost or behind an HTTPS reverse proxy)",
            None,
        ));
        return;
    };
    // The same loader `serve` uses: PEM parsing, then rustls checks the key matches.
    match server::load_tls(cert, key) {
        Ok(_) => out.push(finding(
            Level::Ok,
            CHECK,
            format!(
                "certificate {} and private key {} parse and belong together",
                cert.display(),
                key.display()
            ),
            None,
        )),
        Err(e) => out.push(finding(Level::Fail, CHECK, e.to_string(), None)),
    }
}

/// The AppURL written into QWC files must be one the Web Connector accepts, and (when the
/// server runs) must really reach it.
fn check_app_url(config: &Config, running: bool, out: &mut Vec<Finding>) {
    const CHECK: &str = "app url";
    let url = match qbwc::app_url(config) {
        Ok(u) => u,
        Err(e) => {
            out.push(finding(Level::Fail, CHECK, e.to_string(), None));
            return;
        }
    };
    if !running {
        out.push(finding(
            Level::Ok,
            CHECK,
            format!("QWC files send the Web Connector to {url} (not reachable-checked: the server is not running)"),
            None,
        ));
        return;
    }
    let base = url.strip_suffix(&config.qbwc_path).unwrap_or(&url);
    let health = format!("{base}/healthz");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    match agent.get(&health).call() {
        Ok(_) => out.push(finding(
            Level::Ok,
            CHECK,
            format!("{health} answers: the Web Connector can reach {url} from here"),
            None,
        )),
        Err(e) => out.push(finding(
            Level::Warn,
            CHECK,
            format!("QWC files send the Web Connector to {url}, but {health} does not answer from this machine: {e}"),
            Some("check server.public_url, DNS, the firewall and (behind a proxy) that it forwards to server.listen; a self-signed certificate is refused by the Web Connector too".into()),
        )),
    }
}
