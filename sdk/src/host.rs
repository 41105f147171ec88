//! What the engine lets a plugin do besides mapping: log, read the clock, read the
//! installation's settings, and make HTTP requests through the engine (which checks the host
//! and injects secrets).
//!
//! Inside the engine these call the WIT imports; in native tests they log to stderr, read
//! the system clock, return the settings the test gave [`crate::testing::set_config`], and
//! answer HTTP from a [`crate::testing::FakeHost`] the test installed (refused without one:
//! tests must not depend on the network).

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong but mapping continues.
    Warn,
    /// Normal progress.
    Info,
    /// Detail for troubleshooting.
    Debug,
    /// Very verbose detail.
    Trace,
}

/// An HTTP request made through the engine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// Absolute `https://` URL; its host must be in the manifest's `allowed_hosts`.
    pub url: String,
    /// Headers. A value may contain `{{secret:NAME}}` for a secret declared in the manifest;
    /// the engine substitutes it. Authorization headers must use a secret placeholder.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
}

/// The response to an [`HttpRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body (bounded by the engine).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// `Ok` when the status is 2xx; otherwise an error naming `what`, the status and the start
    /// of the body (usually the source's reason).
    pub fn ok(&self, what: &str) -> Result<(), String> {
        if (200..300).contains(&self.status) {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.body);
        Err(format!(
            "{what}: HTTP {} {}",
            self.status,
            text.chars().take(300).collect::<String>()
        ))
    }

    /// The body as JSON when the status is 2xx; otherwise the error of [`ok`](Self::ok).
    pub fn json(&self, what: &str) -> Result<serde_json::Value, String> {
        self.ok(what)?;
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("{what}: the answer is not JSON: {e}"))
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::mapper::__private::qbridge::plugin::{
        clock, config as wit_config, http, log as wit_log,
    };

    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Error => wit_log::Level::Error,
            Level::Warn => wit_log::Level::Warn,
            Level::Info => wit_log::Level::Info,
            Level::Debug => wit_log::Level::Debug,
            Level::Trace => wit_log::Level::Trace,
        };
        wit_log::log(level, message);
    }

    pub fn now() -> String {
        clock::now()
    }

    pub fn config(name: &str) -> Option<String> {
        wit_config::get(name)
    }

    pub fn fetch(request: HttpRequest) -> Result<HttpResponse, String> {
        let response = http::fetch(&http::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        })?;
        Ok(HttpResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod imp {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    thread_local! {
        /// The settings a native test gave (`testing::set_config`); per thread, because
        /// `cargo test` runs tests on several threads at once.
        pub(crate) static CONFIG: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub fn config(name: &str) -> Option<String> {
        CONFIG.with(|c| c.borrow().get(name).cloned())
    }

    pub fn log(level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
    }

    pub fn now() -> String {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        rfc3339(secs)
    }

    pub fn fetch(request: HttpRequest) -> Result<HttpResponse, String> {
        if let Some(answer) = crate::fake_host::answer(&request) {
            return answer;
        }
        Err(format!(
            "HTTP is only available inside the qbridge engine (native test asked for {} {}); install a `testing::FakeHost` to answer it",
            request.method, request.url
        ))
    }

    /// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
    pub(super) fn rfc3339(secs: u64) -> String {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3_600,
            rem % 3_600 / 60,
            rem % 60
        )
    }
}

/// Writes a line to the engine's log, tagged with the plugin's name and version.
pub fn log(level: Level, message: &str) {
    imp::log(level, message)
}

/// The current time as RFC 3339 UTC, e.g. `2026-11-23T04:05:06Z`.
pub fn now() -> String {
    imp::now()
}

/// The value of the setting `name` (a [`ConfigKey`](crate::ConfigKey) the manifest declares)
/// for the connection the current call runs for: the admin's value for that connection, else
/// the plugin-wide one, else the declared default. `None` when there is none of these, or the
/// manifest does not declare `name`.
pub fn config(name: &str) -> Option<String> {
    imp::config(name)
}

/// Makes an HTTP request through the engine. The host must be declared in the manifest's
/// `allowed_hosts`; secrets are referred to by name (`{{secret:NAME}}`) in header values.
pub fn fetch(request: HttpRequest) -> Result<HttpResponse, String> {
    imp::fetch(request)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #[test]
    fn rfc3339_formats_utc_dates() {
        assert_eq!(super::imp::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::imp::rfc3339(1_795_400_706), "2026-11-23T02:25:06Z");
        assert_eq!(super::imp::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn config_returns_what_the_test_set_on_its_thread_only() {
        assert_eq!(super::config("tenant"), None);
        crate::testing::set_config("tenant", Some("acme"));
        assert_eq!(super::config("tenant").as_deref(), Some("acme"));
        let elsewhere = std::thread::spawn(|| super::config("tenant"))
            .join()
            .unwrap();
        assert_eq!(elsewhere, None);
        crate::testing::set_config("tenant", None);
        assert_eq!(super::config("tenant"), None);
    }
}
