//! Alert delivery: the loop `Engine::run` starts, which records silent connections and sends
//! due alert events as signed webhooks (see `store::alerts` for the events and their states).
//!
//! A delivery is a JSON POST with `X-Qbridge-Event: <event id>` (the same on every attempt, so
//! a receiver can drop duplicates) and `X-Qbridge-Signature: t=<unix secs>,v1=<hex
//! HMAC-SHA-256(secret, "<t>.<body>")>`: the timestamp inside the signed bytes lets a receiver
//! refuse replays of an old delivery. Any 2xx is delivered; anything else (or no answer in
//! [`TIMEOUT`]) is retried with back-off until `store::alerts::MAX_ATTEMPTS`. Redirects are
//! not followed (a 3xx is a failure the admin sees), and at most [`MAX_ERROR_BODY`] bytes of
//! an answer are read.
//!
//! An email destination gets the same facts as a plain-text message through its SMTP relay
//! (`smtp.rs` holds the client and its TLS rules): `Subject: [qbridge] <kind> <connection>`,
//! the same `X-Qbridge-Event` header and a `Message-ID` that is the same on every attempt. Any
//! reply other than the expected one — a 4xx, and a 5xx on RCPT or DATA too — is a failed
//! attempt, retried with the same back-off as a webhook's 500.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;

use crate::crypto::hmac_sha256;
use crate::smtp::{Message, SmtpUrl, header_text};
use crate::store::Store;
use crate::store::alerts::{Attempt, DeliveryState, DueDelivery, Target};
use crate::store::audit::hex;
use crate::store::secrets::SecretKey;

/// Longest wait for a receiver, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a failed answer kept as the delivery's error.
const MAX_ERROR_BODY: u64 = 512;
/// Deliveries attempted per tick: a slow receiver delays the next tick, not the server.
const PER_TICK: usize = 20;
/// Shortest and longest signing secret an admin may choose.
const SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=256;

/// Why a webhook destination is refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL is not one qbridge will post alerts to.
    #[error("{0}")]
    Url(String),
    /// The chosen secret is too short or too long.
    #[error(
        "the signing secret must be 16 to 256 printable characters; leave it out and qbridge generates one"
    )]
    Secret,
}

/// Checks a webhook URL: `https://`, or `http://` to a loopback address (a receiver on the
/// same machine, or a test), without credentials in it.
pub fn check_url(url: &str) -> Result<(), WebhookError> {
    let refuse = |why: &str| Err(WebhookError::Url(format!("webhook URL {url:?}: {why}")));
    if url.len() > 2048 {
        return refuse("longer than 2048 characters");
    }
    let Ok(uri) = url.parse::<Uri>() else {
        return refuse("not a URL");
    };
    let Some(host) = uri.host() else {
        return refuse("no host");
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return refuse("credentials do not belong in the URL; receivers check the signature");
    }
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        Some("http") => refuse("use https:// (plain http only to a loopback address)"),
        _ => refuse("only https:// URLs are accepted"),
    }
}

/// The signing secret for a new webhook: the admin's own, checked, or 32 random bytes in hex
/// behind `whsec_`. The flag says whether it was generated (and must be shown once).
pub fn signing_secret(chosen: Option<String>) -> Result<(String, bool), WebhookError> {
    match chosen {
        Some(s) => {
            let ok = SECRET_CHARS.contains(&s.chars().count())
                && s.chars().all(|c| c.is_ascii_graphic());
            if ok {
                Ok((s, false))
            } else {
                Err(WebhookError::Secret)
            }
        }
        None => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|e| WebhookError::Url(format!("no random source: {e}")))?;
            Ok((format!("whsec_{}", hex(&bytes)), true))
        }
    }
}

/// `X-Qbridge-Signature` for `body` sent at unix second `t`.
pub fn signature(secret: &str, t: u64, body: &str) -> String {
    let t = t.to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body.as_bytes()]);
    format!("t={t},v1={}", hex(&mac))
}

/// Records silences and sends due deliveries every `every`, until the task is aborted.
pub async fn run(store: Store, key_path: PathBuf, silence: Duration, every: Duration) {
    let key = match tokio::task::spawn_blocking(move || SecretKey::open(&key_path)).await {
        Ok(Ok(key)) => Arc::new(key),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "alerts are not sent: the secrets key is unusable");
            return;
        }
        Err(_) => return,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .max_redirects(0)
        .build()
        .into();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (store, key, agent) = (store.clone(), key.clone(), agent.clone());
        let done =
            tokio::task::spawn_blocking(move || check_once(&store, &key, &agent, silence)).await;
        if let Ok(Err(e)) = done {
            tracing::error!(error = %e, "alert check failed; trying again next tick");
        }
    }
}

fn check_once(
    store: &Store,
    key: &SecretKey,
    agent: &ureq::Agent,
    silence: Duration,
) -> Result<(), crate::store::StoreError> {
    let silent = store.record_silences(silence.as_millis() as i64)?;
    if silent > 0 {
        tracing::warn!(
            connections = silent,
            "no Web Connector contact for longer than alerts.silence_secs"
        );
    }
    // A receiver that just failed is not tried again this tick: its other alerts wait for the
    // next one instead of each spending the timeout while other destinations wait.
    let mut failing = std::collections::HashSet::new();
    for due in store.claim_due_deliveries(key, PER_TICK)? {
        if failing.contains(&due.webhook_id) {
            store.release_delivery(&due)?;
            continue;
        }
        let outcome = match &due.target {
            Target::Webhook { url, secret } => post(agent, &due, &url.0, &secret.0),
            Target::Email { smtp_url, from, to } => mail(&due, &smtp_url.0, from, to),
        };
        if matches!(outcome, Attempt::Failed(..)) {
            failing.insert(due.webhook_id);
        }
        match store.delivery_attempted(&due, &outcome)? {
            DeliveryState::Delivered => {
                tracing::info!(event = %due.event_id, webhook = due.webhook_id, "alert delivered")
            }
            DeliveryState::Pending => {
                tracing::warn!(event = %due.event_id, webhook = due.webhook_id, outcome = ?outcome, "alert delivery failed; it will be retried")
            }
            DeliveryState::Failed => {
                tracing::error!(event = %due.event_id, webhook = due.webhook_id, outcome = ?outcome, "alert delivery given up")
            }
        }
    }
    Ok(())
}

/// One attempt. Only the shown part of the URL is stored and logged, never its path, the
/// secret or the signature.
fn post(agent: &ureq::Agent, due: &DueDelivery, url: &str, secret: &str) -> Attempt {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let sent = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("qbridge/", env!("CARGO_PKG_VERSION")))
        .header("X-Qbridge-Event", &due.event_id)
        .header("X-Qbridge-Signature", &signature(secret, t, &due.body))
        .send(due.body.as_bytes());
    let mut resp = match sent {
        Ok(r) => r,
        // ureq's error may quote the URL: name the host only, the path may hold a token.
        Err(e) => {
            let why = e.to_string().replace(url, &due.url_shown);
            return Attempt::Failed(None, format!("no answer from {}: {why}", due.url_shown));
        }
    };
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Attempt::Delivered(status);
    }
    let mut text = String::new();
    let _ = resp
        .body_mut()
        .as_reader()
        .take(MAX_ERROR_BODY)
        .read_to_string(&mut text);
    Attempt::Failed(Some(status), format!("HTTP {status}: {}", text.trim()))
}

/// One email attempt. The stored URL was checked when the destination was added; the errors
/// name the shown URL only.
fn mail(due: &DueDelivery, smtp_url: &str, from: &str, to: &[String]) -> Attempt {
    let url = match SmtpUrl::parse(smtp_url) {
        Ok(url) => url,
        Err(e) => return Attempt::Failed(None, e.to_string()),
    };
    match crate::smtp::send(&url, from, to, &message(due, from, to), TIMEOUT) {
        Ok(()) => Attempt::Delivered(250),
        Err(e) => Attempt::Failed(e.code(), format!("{}: {e}", due.url_shown)),
    }
}

/// The alert as a plain-text message: built from the webhook body, so both carry the same
/// facts, and the same on every attempt but for `Date`.
fn message(due: &DueDelivery, from: &str, to: &[String]) -> Message {
    let body: serde_json::Value = serde_json::from_str(&due.body).unwrap_or_default();
    let kind = body["kind"].as_str().unwrap_or("alert");
    let connection = body["connection"]["name"].as_str();
    let subject = match connection {
        Some(name) => format!("[qbridge] {kind} {}", header_text(name)),
        None => format!("[qbridge] {kind}"),
    };
    let domain = from.rsplit_once('@').map_or("qbridge", |(_, d)| d);
    let at = body["at"].as_i64().unwrap_or(0);
    let when = chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let mut text = format!("Alert: {kind}\nEvent: {}\nAt: {when}\n", due.event_id);
    if let Some(name) = connection {
        text.push_str(&format!(
            "Connection: {name} (id {})\n",
            body["connection"]["id"]
        ));
    }
    if let Some(data) = body["data"].as_object() {
        text.push('\n');
        for (key, value) in data {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            text.push_str(&format!("{key}: {value}\n"));
        }
    }
    text.push_str("\nSent by qbridge. The same alert as JSON, as webhooks receive it:\n");
    text.push_str(&due.body);
    text.push('\n');
    Message {
        headers: vec![
            ("Date", chrono::Utc::now().to_rfc2822()),
            ("From", from.to_string()),
            ("To", to.join(", ")),
            ("Subject", subject),
            ("Message-ID", format!("<{}.{at}@{domain}>", due.event_id)),
            ("X-Qbridge-Event", due.event_id.clone()),
            ("MIME-Version", "1.0".to_string()),
            ("Content-Type", "text/plain; charset=utf-8".to_string()),
            ("Content-Transfer-Encoding", "8bit".to_string()),
        ],
        body: text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::store::alerts::{AlertKind, NewWebhook};
    use crate::store::audit::AuditEntry;

    /// A receiver that answers every request 500 and counts them.
    fn failing_receiver() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = std::io::Write::write_all(
                    &mut stream,
                    b"HTTP/1.1 500 X\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown",
                );
            }
        });
        (url, count)
    }

    #[test]
    fn a_failing_receiver_is_tried_once_per_tick_not_once_per_alert() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data"), StoreOptions::default()).unwrap();
        let key = SecretKey::open(&dir.path().join("secrets.key")).unwrap();
        let (url, requests) = failing_receiver();
        let admin = AuditEntry {
            actor: "cli:test".into(),
            action: "alert.webhook_add".into(),
            ..Default::default()
        };
        let new = NewWebhook {
            url: crate::logging::Redacted(url),
            connection_id: None,
            kinds: AlertKind::SUBSCRIBABLE.to_vec(),
        };
        let id = store
            .add_webhook(&key, &new, "0123456789abcdef", &admin)
            .unwrap();
        for _ in 0..3 {
            store.queue_test_alert(id, &admin).unwrap();
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        check_once(&store, &key, &agent, Duration::from_secs(3600)).unwrap();
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
        let attempts: Vec<i64> = store
            .alert_events(None, 10)
            .unwrap()
            .iter()
            .map(|e| e.deliveries[0].attempts)
            .collect();
        assert_eq!(attempts.iter().sum::<i64>(), 1, "{attempts:?}");
    }

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        for ok in [
            "https://hooks.example.com/qbridge",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:8080/",
        ] {
            check_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://hooks.example.com/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
            "https://user:pw@hooks.example.com/",
            "not a url",
            "/relative",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac k
        assert_eq!(
            signature("k", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=1b6ad1bc9bf48c52ce01939866d5877c6cc4e87ddad27e16673cb8c4964394a3"
        );
        assert_ne!(
            signature("k", 1_700_000_001, r#"{"a":1}"#),
            signature("k", 1_700_000_000, r#"{"a":1}"#)
        );
    }

    #[test]
    fn generated_secrets_are_random_and_chosen_ones_are_checked() {
        let (a, generated) = signing_secret(None).unwrap();
        assert!(generated && a.starts_with("whsec_") && a.len() == 70);
        assert_ne!(a, signing_secret(None).unwrap().0);
        assert_eq!(
            signing_secret(Some("0123456789abcdef".into())).unwrap(),
            ("0123456789abcdef".into(), false)
        );
        assert!(signing_secret(Some("short".into())).is_err());
        assert!(signing_secret(Some("has a space in it ok".into())).is_err());
    }
}
