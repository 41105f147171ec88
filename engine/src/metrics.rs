//! In-process counters for `GET /metrics`: SOAP calls and their latency, plugin calls and
//! their durations and failures, Web Connector login refusals.
//!
//! Figures that live in the database (jobs per state, last contact, sessions, pruning totals —
//! kept there so a `qbridge prune` run beside the server counts too) are read by
//! `admin::metrics_api` from counters the store keeps; the ones here exist only in this
//! process and start at zero with it, as Prometheus counters do.
//!
//! They are one process-wide set ([`global`]) rather than a value threaded through every
//! layer: a counter belongs to the process the way a log line does, and the SOAP endpoint
//! and the plugin host add to the same figures. Recording is a few
//! relaxed atomic adds (plus one short map lock for labelled series), so it never slows a call.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets; `+Inf` is implied. Fixed so a
/// scrape never allocates per bucket and dashboards can rely on the same `le` labels.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// A Prometheus histogram with the fixed [`BUCKETS`] (counts per bucket are not cumulative
/// here; rendering sums them).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    over: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        match BUCKETS.iter().position(|le| secs <= *le) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets
            .iter()
            .chain([&self.over])
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }

    /// Writes `<name>_bucket`, `_sum` and `_count` lines with `labels` (`a="b",…`, may be empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (le, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Calls of one kind: how long each took and how many failed.
#[derive(Debug, Default)]
struct CallStats {
    duration: Histogram,
    failures: AtomicU64,
}

/// The plugin functions the engine calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PluginFunction {
    Map,
    OnResponse,
    Pull,
    Acknowledge,
}

impl PluginFunction {
    fn as_str(self) -> &'static str {
        match self {
            PluginFunction::Map => "map",
            PluginFunction::OnResponse => "on_response",
            PluginFunction::Pull => "pull",
            PluginFunction::Acknowledge => "acknowledge",
        }
    }
}

/// Why a Web Connector login was refused (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown user, wrong password, disabled user, or credentials empty or too long.
    BadCredentials,
    /// Too many failed attempts from the address or for the user.
    Throttled,
    /// The password verification queue was full (`busy`).
    Busy,
}

impl LoginRefusal {
    const ALL: [LoginRefusal; 3] = [
        LoginRefusal::BadCredentials,
        LoginRefusal::Throttled,
        LoginRefusal::Busy,
    ];

    fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::BadCredentials => "bad_credentials",
            LoginRefusal::Throttled => "throttled",
            LoginRefusal::Busy => "busy",
        }
    }
}

/// The process's counters (see the module doc).
#[derive(Debug)]
pub struct Metrics {
    /// Per SOAP method (wire name); a failure is a SOAP fault answered after parsing.
    soap: Mutex<BTreeMap<&'static str, CallStats>>,
    /// SOAP requests refused before their method was known (size, envelope, rate).
    soap_refused: AtomicU64,
    /// Per (plugin, function); a failure is a crash, limit or invalid output.
    plugins: Mutex<BTreeMap<(String, PluginFunction), CallStats>>,
    logins_refused: [AtomicU64; 3],
}

static METRICS: Metrics = Metrics {
    soap: Mutex::new(BTreeMap::new()),
    soap_refused: AtomicU64::new(0),
    plugins: Mutex::new(BTreeMap::new()),
    logins_refused: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
};

/// The process-wide counters.
pub fn global() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// One answered SOAP call of `method` (wire name) that took `took`.
    pub fn soap_call(&self, method: &'static str, took: Duration, fault: bool) {
        let mut map = self.soap.lock().unwrap_or_else(|p| p.into_inner());
        let stats = map.entry(method).or_default();
        stats.duration.observe(took);
        if fault {
            stats.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A SOAP request refused before its method was read.
    pub fn soap_refused(&self) {
        self.soap_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// One call of `function` of plugin `plugin`.
    pub fn plugin_call(&self, plugin: &str, function: PluginFunction, took: Duration, ok: bool) {
        let mut map = self.plugins.lock().unwrap_or_else(|p| p.into_inner());
        // Keyed by owned name: plugins are few and installed by an admin, so the map stays small.
        let stats = match map.get_mut(&(plugin.to_string(), function)) {
            Some(s) => s,
            None => map.entry((plugin.to_string(), function)).or_default(),
        };
        stats.duration.observe(took);
        if !ok {
            stats.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A refused Web Connector login.
    pub fn login_refused(&self, why: LoginRefusal) {
        let i = LoginRefusal::ALL
            .iter()
            .position(|r| *r == why)
            .unwrap_or(0);
        self.logins_refused[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Appends these counters in the Prometheus text format (version 0.0.4).
    pub fn render(&self, out: &mut String) {
        let map = self.soap.lock().unwrap_or_else(|p| p.into_inner());
        header(
            out,
            "qbridge_soap_calls_total",
            "counter",
            "Web Connector SOAP calls answered, by method.",
        );
        for (method, s) in map.iter() {
            let n = s.duration.count();
            let _ = writeln!(out, "qbridge_soap_calls_total{{method=\"{method}\"}} {n}");
        }
        header(
            out,
            "qbridge_soap_faults_total",
            "counter",
            "Web Connector SOAP calls answered with a server fault, by method.",
        );
        for (method, s) in map.iter() {
            let n = s.failures.load(Ordering::Relaxed);
            let _ = writeln!(out, "qbridge_soap_faults_total{{method=\"{method}\"}} {n}");
        }
        header(
            out,
            "qbridge_soap_call_duration_seconds",
            "histogram",
            "Time to answer a Web Connector SOAP call, by method (parsed request to answer).",
        );
        for (method, s) in map.iter() {
            let labels = format!("method=\"{method}\"");
            s.duration
                .render(out, "qbridge_soap_call_duration_seconds", &labels);
        }
        drop(map);
        header(
            out,
            "qbridge_soap_refused_total",
            "counter",
            "SOAP requests refused before their method was read (too large, not owed, malformed, too slow, server saturated).",
        );
        let _ = writeln!(
            out,
            "qbridge_soap_refused_total {}",
            self.soap_refused.load(Ordering::Relaxed)
        );

        let map = self.plugins.lock().unwrap_or_else(|p| p.into_inner());
        header(
            out,
            "qbridge_plugin_call_duration_seconds",
            "histogram",
            "Duration of plugin calls, by plugin and function.",
        );
        for ((plugin, function), s) in map.iter() {
            let labels = format!(
                "plugin=\"{}\",function=\"{}\"",
                label_value(plugin),
                function.as_str()
            );
            s.duration
                .render(out, "qbridge_plugin_call_duration_seconds", &labels);
        }
        header(
            out,
            "qbridge_plugin_call_failures_total",
            "counter",
            "Plugin calls that crashed, hit a limit or returned invalid output, by plugin and function.",
        );
        for ((plugin, function), s) in map.iter() {
            let _ = writeln!(
                out,
                "qbridge_plugin_call_failures_total{{plugin=\"{}\",function=\"{}\"}} {}",
                label_value(plugin),
                function.as_str(),
                s.failures.load(Ordering::Relaxed)
            );
        }
        drop(map);

        header(
            out,
            "qbridge_qbwc_logins_refused_total",
            "counter",
            "Web Connector logins refused, by reason.",
        );
        for (why, n) in LoginRefusal::ALL.iter().zip(&self.logins_refused) {
            let _ = writeln!(
                out,
                "qbridge_qbwc_logins_refused_total{{reason=\"{}\"}} {}",
                why.as_str(),
                n.load(Ordering::Relaxed)
            );
        }
    }
}

/// `# HELP` and `# TYPE` lines of a metric family.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the text format requires (backslash, quote, newline).
pub fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_the_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(120));
        let mut out = String::new();
        h.render(&mut out, "x", "m=\"a\"");
        assert!(out.contains("x_bucket{m=\"a\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"60\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{m=\"a\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{m=\"a\"} 120.0305\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
