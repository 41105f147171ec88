//! `GET /metrics`: scraped from the real `qbridge serve` after real SOAP traffic from the
//! simulated Web Connector, parsed by a strict Prometheus text-format parser, and compared
//! with the queue as `/api/v1/queue` reports it. Who may scrape: a read token, not an
//! ingest-only or fenced one; on `metrics.listen`, anyone who reaches that address.

use std::collections::{BTreeMap, BTreeSet};

use qbridge::sim::webconnector::{Outcome, WcOptions, WebConnector};

use crate::admin_api::{api, call, json};
use crate::pipeline::{Deployment, company_with_items, customer, ingest, invoice, sync_until_idle};
use crate::support::{Server, free_port, get};

/// One sample: metric name, labels, value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition: family name → type, and every sample in order.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the one sample named `name` whose labels include `labels`.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert!(
            found.len() <= 1,
            "{name} {labels:?} matches {} samples",
            found.len()
        );
        found.first().map(|s| s.value)
    }
}

/// Parses the Prometheus text format (0.0.4) strictly: every line is a `# HELP`, a `# TYPE`
/// or a sample; names and label names are valid; label values are quoted with only the three
/// escapes; a family's `TYPE` comes before its samples and its samples are contiguous; no
/// series appears twice; histogram buckets are cumulative and `+Inf` equals `_count`.
/// Panics with the offending line.
pub(crate) fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut seen: BTreeSet<(String, BTreeMap<String, String>)> = BTreeSet::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(valid_name(name), "bad metric name in {line:?}");
            match kind {
                "HELP" => assert!(
                    parts.next().is_some_and(|h| !h.is_empty()),
                    "empty HELP: {line:?}"
                ),
                "TYPE" => {
                    let t = parts.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "bad type in {line:?}"
                    );
                    assert!(
                        out.types.insert(name.to_string(), t.to_string()).is_none(),
                        "TYPE given twice: {line:?}"
                    );
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        assert!(
            !line.is_empty() && !line.starts_with('#'),
            "stray line {line:?}"
        );
        let (name, labels, value) = sample(line);
        let family = family_of(&name, &out.types)
            .unwrap_or_else(|| panic!("sample before its TYPE: {line:?}"));
        if current.as_deref() != Some(family.as_str()) {
            assert!(
                !finished.contains(&family),
                "family {family} is not contiguous"
            );
            if let Some(prev) = current.replace(family.clone()) {
                finished.insert(prev);
            }
        }
        assert!(
            seen.insert((name.clone(), labels.clone())),
            "series given twice: {line:?}"
        );
        out.samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    check_histograms(&out);
    out
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{k="v",…} value` (no timestamps: qbridge never writes them).
fn sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line:?}"));
    let name = &line[..name_end];
    assert!(valid_name(name), "bad name in {line:?}");
    let bytes = line.as_bytes();
    let mut labels = BTreeMap::new();
    let mut i = name_end;
    if bytes[i] == b'{' {
        i += 1;
        loop {
            if bytes.get(i) == Some(&b'}') {
                i += 1;
                break;
            }
            let eq = i + line[i..]
                .find('=')
                .unwrap_or_else(|| panic!("label without =: {line:?}"));
            let key = &line[i..eq];
            assert!(
                valid_name(key) && !key.contains(':'),
                "bad label name in {line:?}"
            );
            i = eq + 1;
            assert_eq!(bytes.get(i), Some(&b'"'), "unquoted label value: {line:?}");
            i += 1;
            let mut value = String::new();
            let mut chars = line[i..].char_indices();
            loop {
                let (at, c) = chars
                    .next()
                    .unwrap_or_else(|| panic!("unterminated value: {line:?}"));
                match c {
                    '"' => {
                        i += at + 1;
                        break;
                    }
                    '\\' => match chars.next().map(|c| c.1) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    c => value.push(c),
                }
            }
            assert!(
                labels.insert(key.to_string(), value).is_none(),
                "label twice: {line:?}"
            );
            match bytes.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                other => panic!("expected , or }} after a label, got {other:?}: {line:?}"),
            }
        }
    }
    let value = line[i..]
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("one space before the value: {line:?}"));
    assert!(
        !value.contains(' '),
        "a timestamp or junk after the value: {line:?}"
    );
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    (name.to_string(), labels, value)
}

/// The family a sample belongs to (a histogram's `_bucket`, `_sum`, `_count` included).
fn family_of(name: &str, types: &BTreeMap<String, String>) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_string());
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (types.get(base).map(String::as_str) == Some("histogram")).then(|| base.to_string())
    })
}

fn check_histograms(e: &Exposition) {
    for (family, t) in &e.types {
        if t != "histogram" {
            continue;
        }
        let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for s in e
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let mut labels = s.labels.clone();
            let le = labels.remove("le").expect("a bucket has le");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            series.entry(labels).or_default().push((le, s.value));
        }
        for (labels, buckets) in series {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{family} {labels:?}: buckets not cumulative"
            );
            let (le, inf) = *buckets.last().unwrap();
            assert!(le.is_infinite(), "{family} {labels:?} has no +Inf bucket");
            let count = e
                .samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                .unwrap_or_else(|| panic!("{family} {labels:?} has no _count"));
            assert_eq!(
                count.value, inf,
                "{family} {labels:?}: +Inf bucket != _count"
            );
        }
    }
}

/// A token made with `qbridge token create` while the server is stopped (the deployment's
/// ingest token means no bootstrap admin token is written).
pub(crate) fn cli_token(d: &Deployment, scope: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", "--scope", scope, "--name", scope];
    args.extend(extra);
    let out = d.cli(&args);
    out.lines().last().unwrap().trim().to_string()
}

/// GET /metrics with `auth` (a bearer token), returning (status, body).
fn scrape(server: &Server, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    call(server, "get", "/metrics", &headers, None)
}

#[test]
fn metrics_match_the_queue_after_real_soap_traffic() {
    let d = Deployment::new();
    let admin = cli_token(&d, "admin", &[]);
    let reader = cli_token(&d, "read", &[]);
    let server = d.start();
    for c in 1..=6 {
        assert_eq!(
            ingest(&server, &d.token, "example", "customer", &customer(c)).0,
            202
        );
    }
    for i in 1..=4 {
        assert_eq!(
            ingest(
                &server,
                &d.token,
                "example",
                "invoice",
                &invoice(100 + i, i)
            )
            .0,
            202
        );
    }
    let mut company = company_with_items(&["Consulting", "Support"]);
    sync_until_idle(&server, &d, &mut company, 20);
    // After the sync: more work waiting, one job cancelled, and a refused login.
    for c in 7..=9 {
        assert_eq!(
            ingest(&server, &d.token, "example", "customer", &customer(c)).0,
            202
        );
    }
    let (_, body) = ingest(&server, &d.token, "example", "customer", &customer(10));
    let cancelled = json(&body)["jobs"][0][1]["created"]
        .as_i64()
        .expect("a new job");
    let (s, body) = api(
        &server,
        &admin,
        "post",
        &format!("/api/v1/jobs/{cancelled}/cancel"),
        None,
    );
    assert_eq!(s, 200, "{body}");
    let mut intruder = WebConnector::new(
        &format!("{}/qbwc", server.base),
        &d.user,
        "not-the-password",
        WcOptions::default(),
    );
    let t = intruder.run_session(&mut company).unwrap();
    assert_eq!(t.outcome, Some(Outcome::InvalidUser));

    let (s, text) = scrape(&server, Some(&reader));
    assert_eq!(s, 200, "{text}");
    let m = parse(&text);

    // Jobs by state per connection: the same figures as the queue API.
    let (_, queue) = api(&server, &admin, "get", "/api/v1/queue", None);
    let queue = json(&queue);
    let acme = &queue.as_array().unwrap()[0];
    let mut states = 0;
    for state in [
        "available",
        "held",
        "sent",
        "in_doubt",
        "retryable",
        "completed",
        "discarded",
        "cancelled",
    ] {
        let expected = acme["counts"][state].as_i64().unwrap_or(0) as f64;
        let got = m.value("qbridge_jobs", &[("connection", "acme"), ("state", state)]);
        assert_eq!(got, Some(expected), "jobs {state}");
        states += usize::from(expected > 0.0);
    }
    assert!(states >= 3, "jobs in several states: {acme}");
    assert_eq!(
        m.value("qbridge_jobs", &[("state", "completed")]),
        Some(10.0)
    );
    assert_eq!(
        m.value("qbridge_jobs", &[("state", "available")]),
        Some(3.0)
    );
    assert_eq!(
        m.value("qbridge_jobs", &[("state", "cancelled")]),
        Some(1.0)
    );
    assert_eq!(
        m.value("qbridge_jobs_in_doubt", &[("connection", "acme")]),
        Some(acme["in_doubt"].as_i64().unwrap() as f64)
    );
    let oldest = m
        .value("qbridge_oldest_waiting_seconds", &[("connection", "acme")])
        .unwrap();
    let api_oldest = acme["oldest_waiting_ms"].as_i64().unwrap() as f64 / 1000.0;
    assert!(
        oldest > 0.0 && (oldest - api_oldest).abs() < 5.0,
        "{oldest} vs {api_oldest}"
    );
    assert_eq!(m.value("qbridge_connections", &[]), Some(1.0));
    assert_eq!(
        m.value("qbridge_qbwc_sessions_live", &[("connection", "acme")]),
        Some(0.0),
        "every session closed"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let contact = m
        .value(
            "qbridge_qbwc_last_contact_timestamp_seconds",
            &[("connection", "acme")],
        )
        .expect("the Web Connector called");
    assert!(
        (now - contact).abs() < 120.0,
        "last contact {contact}, now {now}"
    );

    // SOAP calls: every session authenticated and exchanged requests; each histogram counts
    // exactly the calls of its method.
    let calls = |method: &str| {
        m.value("qbridge_soap_calls_total", &[("method", method)])
            .unwrap_or(0.0)
    };
    assert!(calls("authenticate") >= 2.0, "{text}");
    assert!(calls("sendRequestXML") >= 1.0 && calls("receiveResponseXML") >= 1.0);
    for method in [
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ] {
        assert_eq!(
            m.value(
                "qbridge_soap_call_duration_seconds_count",
                &[("method", method)]
            ),
            Some(calls(method)),
            "{method}"
        );
    }
    assert_eq!(m.types["qbridge_soap_call_duration_seconds"], "histogram");
    // Plugin calls: one map per ingested record, none failed.
    assert_eq!(
        m.value(
            "qbridge_plugin_call_duration_seconds_count",
            &[("plugin", "example"), ("function", "map")]
        ),
        Some(14.0)
    );
    assert_eq!(
        m.value(
            "qbridge_plugin_call_failures_total",
            &[("plugin", "example"), ("function", "map")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m.value(
            "qbridge_qbwc_logins_refused_total",
            &[("reason", "bad_credentials")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.value(
            "qbridge_qbwc_logins_refused_total",
            &[("reason", "throttled")]
        ),
        Some(0.0)
    );
    assert_eq!(m.value("qbridge_pruned_jobs_total", &[]), Some(0.0));
}

#[test]
fn metrics_need_an_unfenced_read_token() {
    let d = Deployment::new();
    let fenced = cli_token(&d, "read", &["--connection", "acme"]);
    let reader = cli_token(&d, "read", &[]);
    let server = d.start();
    assert_eq!(scrape(&server, None).0, 401);
    let (s, body) = scrape(&server, Some(&d.token));
    assert_eq!(s, 403, "an ingest-only token: {body}");
    let (s, body) = scrape(&server, Some(&fenced));
    assert_eq!(s, 403, "a fenced token: {body}");
    assert!(body.contains("whole instance"), "{body}");
    let (s, body) = scrape(&server, Some(&reader));
    assert_eq!(s, 200);
    parse(&body);
}

#[test]
fn metrics_listen_serves_metrics_alone_and_without_a_token() {
    let d = Deployment::new();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start_in(
        d.tmp.path(),
        &d.data_dir,
        &["--set", &format!("metrics.listen={addr}")],
    );
    let (s, body) = get(&format!("http://{addr}/metrics")).unwrap();
    assert_eq!(s, 200, "{body}");
    let m = parse(&body);
    assert_eq!(m.value("qbridge_connections", &[]), Some(1.0));
    // Only /metrics lives there: not the API, not the UI.
    assert_eq!(get(&format!("http://{addr}/api/v1/queue")).unwrap().0, 404);
    assert_eq!(get(&format!("http://{addr}/")).unwrap().0, 404);
    // The main address still wants a token.
    assert_eq!(scrape(&server, None).0, 401);
}
