//! Alerts: the real `qbridge serve` posts signed webhooks to a real HTTP receiver when a
//! simulated Web Connector stops calling and when QuickBooks refuses a job for good, retries a
//! delivery the receiver answered 500 (same event id), and audits every attempt. The webhook
//! API is admin-only, refuses fenced tokens and plain http off loopback, and shows a generated
//! secret once.
//! An email destination gets the same alerts through a fake SMTP relay on loopback: a 451 at
//! DATA is retried, every attempt audited, and the relay's password is never shown.

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

/// One message the fake SMTP server took (or refused at DATA).
#[derive(Debug)]
struct Mail {
    auth: Option<String>,
    from: String,
    to: Vec<String>,
    /// The message as the receiver reads it (dot-stuffing undone).
    data: String,
    answered: u16,
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        self.data
            .split("\r\n\r\n")
            .next()?
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
    }
}

/// A fake SMTP relay on loopback that offers no STARTTLS (plain is allowed to loopback):
/// answers 451 to the first `fail_first` DATA commands, then takes each message.
fn smtp_server(fail_first: usize) -> (u16, mpsc::Receiver<Mail>) {
    use base64::Engine as _;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut datas = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut mail = Mail {
                auth: None,
                from: String::new(),
                to: Vec::new(),
                data: String::new(),
                answered: 0,
            };
            let _ = write!(stream, "220 fake.test ESMTP\r\n");
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                let reply = if line.starts_with("EHLO ") {
                    "250-fake.test\r\n250-AUTH PLAIN\r\n250 8BITMIME".to_string()
                } else if let Some(token) = line.strip_prefix("AUTH PLAIN ") {
                    let plain = base64::engine::general_purpose::STANDARD
                        .decode(token)
                        .unwrap();
                    mail.auth = Some(String::from_utf8(plain).unwrap());
                    "235 2.7.0 accepted".to_string()
                } else if let Some(rest) = line.strip_prefix("MAIL FROM:<") {
                    mail.from = rest.split('>').next().unwrap().to_string();
                    "250 2.1.0 ok".to_string()
                } else if let Some(rest) = line.strip_prefix("RCPT TO:<") {
                    mail.to.push(rest.trim_end_matches('>').to_string());
                    "250 2.1.5 ok".to_string()
                } else if line == "DATA" {
                    datas += 1;
                    if datas <= fail_first {
                        mail.answered = 451;
                        "451 4.3.0 try again later".to_string()
                    } else {
                        let _ = write!(stream, "354 go ahead\r\n");
                        loop {
                            let mut l = String::new();
                            reader.read_line(&mut l).unwrap();
                            if l == ".\r\n" {
                                break;
                            }
                            mail.data.push_str(l.strip_prefix('.').unwrap_or(&l));
                        }
                        mail.answered = 250;
                        "250 2.0.0 queued".to_string()
                    }
                } else if line == "QUIT" {
                    let _ = write!(stream, "221 bye\r\n");
                    break;
                } else {
                    "500 5.5.1 what".to_string()
                };
                let _ = write!(stream, "{reply}\r\n");
                if mail.answered == 451 {
                    break;
                }
            }
            if mail.answered != 0 && tx.send(mail).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

#[test]
fn a_test_alert_and_a_failed_job_arrive_by_email_a_451_is_retried_and_the_smtp_password_never_shows()
 {
    let d = Deployment::new();
    let admin = d.cli(&["token", "create", "--scope", "admin", "--name", "ops"]);
    let admin = admin.lines().last().unwrap().trim();
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[("QBRIDGE_ALERTS_CHECK_SECS", "1")],
    );
    let (port, mails) = smtp_server(1);
    let password = "smtp-pw-5e9b1c";
    let smtp_url = format!("smtp://alerts:{password}@127.0.0.1:{port}");

    for (bad, why) in [
        (
            format!(
                r#"{{"email":{{"smtp_url":"{smtp_url}","from":"q@firm.example","to":["ops@firm.example\r\nBcc: x@evil.example"]}}}}"#
            ),
            "line breaks",
        ),
        (
            format!(
                r#"{{"email":{{"smtp_url":"https://u:{password}@mail.example/","from":"q@firm.example","to":["ops@firm.example"]}}}}"#
            ),
            "smtp://",
        ),
        (
            format!(r#"{{"email":{{"smtp_url":"{smtp_url}","from":"q@firm.example","to":[]}}}}"#),
            "at least one recipient",
        ),
        (
            format!(
                r#"{{"url":"https://hooks.example.com/","email":{{"smtp_url":"{smtp_url}","from":"q@firm.example","to":["ops@firm.example"]}}}}"#
            ),
            "either",
        ),
    ] {
        let (s, resp) = api(
            &server,
            admin,
            "post",
            "/api/v1/alerts/webhooks",
            Some(&bad),
        );
        assert_eq!(s, 400, "{bad}: {resp}");
        assert!(
            resp.contains(why) && !resp.contains(password),
            "{bad}: {resp}"
        );
    }

    let add = format!(
        r#"{{"email":{{"smtp_url":"{smtp_url}","from":"qbridge@firm.example","to":["ops@firm.example","owner@firm.example"]}},"kinds":["job.failed"]}}"#
    );
    let (s, body) = api(
        &server,
        admin,
        "post",
        "/api/v1/tokens",
        Some(r#"{"name":"tenant","scope":"admin","connection":"acme"}"#),
    );
    assert_eq!(s, 201, "{body}");
    let fenced = json(&body)["token"].as_str().unwrap().to_string();
    let (s, _) = api(
        &server,
        &fenced,
        "post",
        "/api/v1/alerts/webhooks",
        Some(&add),
    );
    assert_eq!(s, 403, "a tenant's token cannot mail every tenant's alerts");
    let (s, created) = api(
        &server,
        admin,
        "post",
        "/api/v1/alerts/webhooks",
        Some(&add),
    );
    assert_eq!(s, 201, "{created}");
    let mut shown_anywhere = created.clone();
    let created = json(&created);
    assert_eq!(created["kind"], "email");
    assert_eq!(created["url_shown"], format!("smtp://127.0.0.1:{port}"));
    assert!(created.get("secret").is_none());
    let id = created["id"].as_i64().unwrap();
    let (s, resp) = api(
        &server,
        admin,
        "post",
        &format!("/api/v1/alerts/webhooks/{id}/test"),
        None,
    );
    assert_eq!(s, 202, "{resp}");
    let test_event = json(&resp)["event_id"].as_str().unwrap().to_string();

    // The clerk QuickBooks logs in as may only view customers: the customer fails for good.
    assert_eq!(
        ingest(&server, &d.token, "example", "customer", &customer(1)).0,
        202
    );
    let mut company = company_with_items(&["Consulting"]);
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

    let mut got: Vec<Mail> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let taken = |got: &[Mail], subject: &str| {
        got.iter()
            .any(|m| m.answered == 250 && m.header("Subject") == Some(subject))
    };
    while !(taken(&got, "[qbridge] test") && taken(&got, "[qbridge] job.failed acme")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match mails.recv_timeout(left) {
            Ok(m) => got.push(m),
            Err(_) => panic!(
                "alerts not mailed in time; got {got:#?}\n{}",
                server.log_text()
            ),
        }
    }
    // The first DATA was answered 451: nothing reached the receiver, and the same event came
    // again (same Message-ID) on a later attempt.
    assert_eq!(got[0].answered, 451);
    let taken_mails: Vec<&Mail> = got.iter().filter(|m| m.answered == 250).collect();
    for m in &taken_mails {
        assert_eq!(m.auth.as_deref(), Some(&*format!("\0alerts\0{password}")));
        assert_eq!(m.from, "qbridge@firm.example");
        assert_eq!(m.to, ["ops@firm.example", "owner@firm.example"]);
        assert_eq!(m.header("From"), Some("qbridge@firm.example"));
        assert_eq!(m.header("To"), Some("ops@firm.example, owner@firm.example"));
        assert!(m.header("Date").is_some() && m.header("Message-ID").is_some());
    }
    let test_mail = taken_mails
        .iter()
        .find(|m| m.header("X-Qbridge-Event") == Some(&test_event))
        .unwrap();
    assert!(test_mail.data.contains("Alert: test"), "{}", test_mail.data);
    let failed = taken_mails
        .iter()
        .find(|m| m.header("Subject") == Some("[qbridge] job.failed acme"))
        .unwrap();
    for fact in [
        "Alert: job.failed",
        "Connection: acme (id ",
        "request_type: CustomerAdd",
        "plugin: example",
        "Customers & Receivables",
    ] {
        assert!(failed.data.contains(fact), "{fact} in {}", failed.data);
    }
    // Which alert met the 451 depends on timing; find it by the event the audit log names. The
    // relay's 250 reaches us before the server records it: wait until both are delivered.
    let deadline = Instant::now() + Duration::from_secs(30);
    let events = loop {
        let (_, events) = api(&server, admin, "get", "/api/v1/alerts/events", None);
        let all_delivered = json(&events).as_array().unwrap().iter().all(|e| {
            e["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["state"] == "delivered")
        });
        if all_delivered {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "not recorded delivered: {events}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let (_, audit) = api(&server, admin, "get", "/api/v1/audit?limit=1000", None);
    let rows = json(&audit);
    let deliveries: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "alert.delivery")
        .collect();
    let retried = deliveries
        .iter()
        .find(|r| r["detail"]["status"] == 451)
        .unwrap_or_else(|| panic!("{deliveries:#?}"))["detail"]["event"]
        .as_str()
        .unwrap()
        .to_string();
    let attempts: Vec<u64> = deliveries
        .iter()
        .filter(|r| r["detail"]["event"] == retried.as_str())
        .map(|r| r["detail"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [451, 250], "every attempt audited, in order");
    let again = taken_mails
        .iter()
        .find(|m| m.header("X-Qbridge-Event") == Some(&retried))
        .unwrap();
    assert!(
        again
            .header("Message-ID")
            .unwrap()
            .starts_with(&format!("<{retried}."))
    );
    let retried_event = json(&events)
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == retried.as_str())
        .cloned()
        .unwrap();
    assert_eq!(retried_event["deliveries"][0]["state"], "delivered");
    assert_eq!(retried_event["deliveries"][0]["attempts"], 2);

    // The Alerts page lists it by host and port and adds another one from its form.
    let cookie = sign_in(&server, admin);
    let form = format!(
        "smtp_url={}&from=qbridge%40firm.example&to=ops%40firm.example%2C+owner%40firm.example&connection=&job_failed=on",
        smtp_url
            .replace(':', "%3A")
            .replace('/', "%2F")
            .replace('@', "%40")
    );
    let (s, page) = call(
        &server,
        "post",
        "/alerts/email",
        &[
            ("Cookie", &cookie),
            ("Origin", &server.base),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(&form),
    );
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("Email destination 2 added")
            && page.contains(&format!("smtp://127.0.0.1:{port}"))
            && page.contains("Add an email destination"),
        "{page}"
    );
    let (s, list) = api(&server, admin, "get", "/api/v1/alerts/webhooks", None);
    assert_eq!(s, 200);
    assert_eq!(json(&list).as_array().unwrap().len(), 2);
    // Its Test button mails a test alert through the relay.
    let (s, _) = call(
        &server,
        "post",
        "/alerts/2/test",
        &[
            ("Cookie", &cookie),
            ("Origin", &server.base),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(""),
    );
    assert_eq!(s, 303);
    let tested = mails
        .recv_timeout(Duration::from_secs(30))
        .expect("the page's test alert is mailed");
    assert_eq!(
        (tested.answered, tested.header("Subject")),
        (250, Some("[qbridge] test"))
    );

    for text in [list, events, page] {
        shown_anywhere.push_str(&text);
    }
    let (_, audit) = api(&server, admin, "get", "/api/v1/audit?limit=1000", None);
    shown_anywhere.push_str(&audit);
    shown_anywhere.push_str(&server.log_text());
    assert!(
        !shown_anywhere.contains(password),
        "the SMTP password is never listed, shown, audited or logged"
    );
}
