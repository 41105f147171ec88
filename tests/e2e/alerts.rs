//! Alerts: the real `qbridge serve` posts signed webhooks to a real HTTP receiver when a
//! simulated Web Connector stops calling and when QuickBooks refuses a job for good, retries a
//! delivery the receiver answered 500 (same event id), and audits every attempt. The webhook
//! API is admin-only, refuses fenced tokens and plain http off loopback, and shows a generated
//! secret once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qbridge::qbxml::PermissionArea;
use qbridge::sim::company::{Access, Role};
use sha2::{Digest, Sha256};

use crate::admin_api::{api, bootstrap_token, call, json, new_token};
use crate::admin_sessions::sign_in;
use crate::pipeline::{Deployment, company_with_items, customer, ingest, invoice, sync_until_idle};
use crate::support::Server;

/// One request the receiver got, and the status it answered.
#[derive(Debug)]
struct Received {
    event: String,
    signature: String,
    body: String,
    answered: u16,
}

/// A webhook receiver on loopback: answers 500 to the first `fail_first` requests, then 200.
fn receiver(fail_first: usize) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/path-token-7f3a", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut event, mut signature, mut length) = (String::new(), String::new(), 0);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                let value = value.trim().to_string();
                match name.to_ascii_lowercase().as_str() {
                    "x-qbridge-event" => event = value,
                    "x-qbridge-signature" => signature = value,
                    "content-length" => length = value.parse().unwrap(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let answered = if n < fail_first { 500 } else { 200 };
            let _ = write!(
                stream,
                "HTTP/1.1 {answered} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
            let received = Received {
                event,
                signature,
                body: String::from_utf8(body).unwrap(),
                answered,
            };
            if tx.send(received).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// HMAC-SHA-256 written here from RFC 2104, independently of the engine's.
fn hmac(key: &[u8], msg: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `t=…,v1=…` the way a receiver should: the HMAC of `t.body`, and a fresh `t`.
fn assert_signed(r: &Received, secret: &str) {
    let (t, v1) = r
        .signature
        .split_once(",v1=")
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1)))
        .unwrap_or_else(|| panic!("signature header {:?}", r.signature));
    assert_eq!(
        v1,
        hmac(secret.as_bytes(), format!("{t}.{}", r.body).as_bytes()),
        "signature of {}",
        r.body
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(t.parse().unwrap()) < 300, "timestamp {t}");
}

fn add_webhook(server: &Server, admin: &str, body: &str) -> serde_json::Value {
    let (s, resp) = api(server, admin, "post", "/api/v1/alerts/webhooks", Some(body));
    assert_eq!(s, 201, "{resp}");
    json(&resp)
}

#[test]
fn a_silent_web_connector_and_a_failed_job_reach_a_signed_webhook_and_a_500_is_retried() {
    let d = Deployment::new();
    // The deployment made its ingest token with the CLI, so there is no bootstrap token.
    let admin = d.cli(&["token", "create", "--scope", "admin", "--name", "ops"]);
    let admin = admin.lines().last().unwrap().trim();
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            ("QBRIDGE_ALERTS_SILENCE_SECS", "3"),
            ("QBRIDGE_ALERTS_CHECK_SECS", "1"),
        ],
    );
    let (url, deliveries) = receiver(1);
    let created = add_webhook(&server, admin, &format!(r#"{{"url":"{url}"}}"#));
    let secret = created["secret"]
        .as_str()
        .expect("generated secret shown once");
    assert!(secret.starts_with("whsec_"));

    // The clerk QuickBooks logs in as may only view customers: the customer fails for good.
    assert_eq!(
        ingest(&server, &d.token, "example", "customer", &customer(1)).0,
        202
    );
    assert_eq!(
        ingest(&server, &d.token, "example", "invoice", &invoice(7, 1)).0,
        202
    );
    let mut company = company_with_items(&["Consulting", "Support"]);
    company.add_user(
        "sales-clerk",
        Role::new(
            "Customers only",
            &[
                (PermissionArea::CustomersReceivables, Access::View),
                (PermissionArea::Lists, Access::Full),
            ],
        ),
    );
    company.set_login_as("sales-clerk").unwrap();
    sync_until_idle(&server, &d, &mut company, 10);
    // …then the Web Connector stops calling.

    let mut got: Vec<Received> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = |got: &[Received]| {
        ["job.failed", "connection.silent"].iter().all(|kind| {
            got.iter()
                .any(|r| r.answered == 200 && r.body.contains(&format!("\"kind\":\"{kind}\"")))
        })
    };
    while !done(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        match deliveries.recv_timeout(left) {
            Ok(r) => got.push(r),
            Err(_) => panic!(
                "alerts not delivered in time; got {got:#?}\n{}",
                server.log_text()
            ),
        }
    }
    for r in &got {
        assert_signed(r, secret);
        let body = json(&r.body);
        assert_eq!(
            body["id"],
            r.event.as_str(),
            "header and body name one event"
        );
        assert_eq!(body["connection"]["name"], "acme");
    }
    // The first delivery was answered 500 and came again, same event id and body.
    let first = &got[0];
    assert_eq!(first.answered, 500);
    let again = got[1..]
        .iter()
        .find(|r| r.event == first.event)
        .unwrap_or_else(|| panic!("event {} retried: {got:#?}", first.event));
    assert_eq!((again.answered, &again.body), (200, &first.body));

    let failed = got.iter().find(|r| r.body.contains("job.failed")).unwrap();
    let body = json(&failed.body);
    assert_eq!(body["data"]["request_type"], "CustomerAdd");
    assert_eq!(body["data"]["plugin"], "example");
    assert!(
        body["data"]["advice"]
            .as_str()
            .unwrap()
            .contains("Customers & Receivables"),
        "{body}"
    );
    let silent = got
        .iter()
        .find(|r| r.body.contains("connection.silent"))
        .unwrap();
    assert!(
        json(&silent.body)["data"]["silent_for_ms"]
            .as_i64()
            .unwrap()
            >= 3000
    );
    // Once per silence: the loop keeps looking every second, no second silence alert.
    std::thread::sleep(Duration::from_secs(3));
    let late: Vec<Received> = deliveries.try_iter().collect();
    assert!(
        !late.iter().any(|r| r.body.contains("connection.silent")),
        "{late:#?}"
    );

    // The API shows each event delivered; the audit log has every attempt.
    let (s, events) = api(&server, admin, "get", "/api/v1/alerts/events", None);
    assert_eq!(s, 200, "{events}");
    let events = json(&events);
    let retried = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == first.event.as_str())
        .unwrap();
    assert_eq!(retried["deliveries"][0]["state"], "delivered");
    assert_eq!(retried["deliveries"][0]["attempts"], 2);
    let (_, audit) = api(&server, admin, "get", "/api/v1/audit?limit=1000", None);
    let attempts = json(&audit)
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "alert.delivery" && r["detail"]["event"] == first.event.as_str())
        .map(|r| r["detail"]["status"].as_u64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(attempts, [500, 200], "every attempt audited, in order");
}

#[test]
fn webhooks_are_admin_only_https_or_loopback_tested_on_demand_and_never_show_their_secret_again() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        tmp.path(),
        &tmp.path().join("data"),
        &[],
        &[("QBRIDGE_ALERTS_CHECK_SECS", "1")],
    );
    let admin = bootstrap_token(&server);
    let reader = new_token(&server, &admin, "read");
    let (s, _) = api(
        &server,
        &admin,
        "post",
        "/api/v1/connections",
        Some(r#"{"name":"firm-a"}"#),
    );
    assert_eq!(s, 201);
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/tokens",
        Some(r#"{"name":"a","scope":"admin","connection":"firm-a"}"#),
    );
    assert_eq!(s, 201, "{body}");
    let fenced = json(&body)["token"].as_str().unwrap().to_string();

    for (bad, why) in [
        (r#"{"url":"http://hooks.example.com/x"}"#, "https"),
        (r#"{"url":"ftp://127.0.0.1/x"}"#, "https"),
        (r#"{"url":"https://u:p@hooks.example.com/"}"#, "credentials"),
        (
            r#"{"url":"https://hooks.example.com/","kinds":["job.exploded"]}"#,
            "unknown alert kind",
        ),
        (
            r#"{"url":"https://hooks.example.com/","secret":"short"}"#,
            "16 to 256",
        ),
    ] {
        let (s, resp) = api(
            &server,
            &admin,
            "post",
            "/api/v1/alerts/webhooks",
            Some(bad),
        );
        assert_eq!(s, 400, "{bad}: {resp}");
        assert!(resp.contains(why), "{bad}: {resp}");
    }
    let ok = r#"{"url":"https://hooks.example.com/"}"#;
    for token in [&reader, &fenced] {
        let (s, _) = api(&server, token, "post", "/api/v1/alerts/webhooks", Some(ok));
        assert_eq!(s, 403);
    }
    let (s, _) = api(&server, &fenced, "get", "/api/v1/alerts/webhooks", None);
    assert_eq!(
        s, 403,
        "a tenant's token does not see instance-wide destinations"
    );
    let (s, _) = api(&server, &fenced, "get", "/api/v1/alerts/events", None);
    assert_eq!(s, 403);

    let (url, deliveries) = receiver(0);
    let chosen = "receiver-chosen-secret-0123";
    let created = add_webhook(
        &server,
        &admin,
        &format!(r#"{{"url":"{url}","kinds":["job.failed"],"secret":"{chosen}"}}"#),
    );
    assert!(
        created.get("secret").is_none(),
        "a chosen secret is not echoed"
    );
    let id = created["id"].as_i64().unwrap();
    let (s, list) = api(&server, &reader, "get", "/api/v1/alerts/webhooks", None);
    assert_eq!(s, 200);
    let shown = url.replace("/path-token-7f3a", "/…");
    assert_eq!(json(&list)[0]["url_shown"], shown.as_str());
    assert!(
        !list.contains("path-token-7f3a") && !list.contains(chosen),
        "the URL's path and the secret are never shown: {list}"
    );

    let (s, resp) = api(
        &server,
        &admin,
        "post",
        &format!("/api/v1/alerts/webhooks/{id}/test"),
        None,
    );
    assert_eq!(s, 202, "{resp}");
    let event = json(&resp)["event_id"].as_str().unwrap().to_string();
    let r = deliveries
        .recv_timeout(Duration::from_secs(30))
        .expect("the test alert is delivered");
    assert_eq!(r.event, event);
    assert_signed(&r, chosen);
    assert_eq!(json(&r.body)["kind"], "test");

    let path = format!("/api/v1/alerts/webhooks/{id}");
    assert_eq!(api(&server, &reader, "delete", &path, None).0, 403);
    assert_eq!(api(&server, &admin, "delete", &path, None).0, 204);
    assert_eq!(api(&server, &admin, "delete", &path, None).0, 404);
    let (_, list) = api(&server, &admin, "get", "/api/v1/alerts/webhooks", None);
    assert_eq!(json(&list), serde_json::json!([]));
    let (_, audit) = api(&server, &admin, "get", "/api/v1/audit?limit=1000", None);
    for action in [
        "alert.webhook_add",
        "alert.webhook_test",
        "alert.webhook_delete",
    ] {
        assert!(audit.contains(action), "{action} audited");
    }
    assert!(
        !audit.contains(chosen) && !audit.contains("path-token-7f3a"),
        "neither the secret nor the URL's path is audited"
    );
    let log = server.log_text();
    assert!(
        !log.contains(chosen) && !log.contains("path-token-7f3a"),
        "nor logged: {log}"
    );
}

#[test]
fn the_alerts_page_adds_tests_and_deletes_a_webhook_showing_its_secret_once() {
    let server = Server::start();
    let admin = bootstrap_token(&server);
    let reader = new_token(&server, &admin, "read");
    let cookie = sign_in(&server, &admin);
    let browser = |method: &str, path: &str, body: Option<&str>| {
        let form = ("Content-Type", "application/x-www-form-urlencoded");
        call(
            &server,
            method,
            path,
            &[("Cookie", &cookie), ("Origin", &server.base), form],
            body,
        )
    };
    let (s, page) = browser("get", "/alerts", None);
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("href=\"/alerts\" aria-current=\"page\""),
        "in the nav"
    );
    assert!(page.contains("Add a webhook") && page.contains("No destinations"));

    let (url, deliveries) = receiver(0);
    let form = format!(
        "url={}&connection=&job_failed=on&secret=",
        url.replace(':', "%3A").replace('/', "%2F")
    );
    let (s, page) = browser("post", "/alerts", Some(&form));
    assert_eq!(s, 200, "{page}");
    let secret = page
        .split("value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|v| v.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("secret shown once: {page}"))
        .to_string();
    let shown = url.replace("/path-token-7f3a", "/…");
    assert!(
        page.contains(&shown)
            && !page.contains("path-token-7f3a")
            && page.contains("Job failed for good")
    );
    let (_, again) = browser("get", "/alerts", None);
    assert!(!again.contains(&secret), "shown only once");

    let (s, _) = browser("post", "/alerts/1/test", Some(""));
    assert_eq!(s, 303);
    let r = deliveries
        .recv_timeout(Duration::from_secs(30))
        .expect("the test alert is delivered");
    assert_signed(&r, &secret);

    // A reader sees destinations and alerts but no forms to change them.
    let reader_cookie = sign_in(&server, &reader);
    let (s, page) = call(
        &server,
        "get",
        "/alerts",
        &[("Cookie", &reader_cookie)],
        None,
    );
    assert_eq!(s, 200);
    assert!(
        page.contains(&shown)
            && !page.contains("Add a webhook")
            && !page.contains("/alerts/1/delete")
    );

    let (s, _) = browser("post", "/alerts/1/delete", Some(""));
    assert_eq!(s, 303);
    let (_, page) = browser("get", "/alerts", None);
    assert!(
        page.contains("No destinations")
            && page.contains(&r.event)
            && page.contains("requested by token:"),
        "{page}"
    );
}
