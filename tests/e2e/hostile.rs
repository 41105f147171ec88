//! Hostile input over real HTTP against the real binary: every attack gets a clear error,
//! `/healthz` answers after each one, and the queue is the same before and after (no data
//! lost, nothing queued by the attacker). The records queued before the attacks still land
//! exactly once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use qbridge::sim::webconnector::envelope::{Request, build};

use crate::pipeline::{Deployment, company_with_items, ingest, sync_until_idle};
use crate::support::{Server, agent, get};

/// The queue as the operator sees it (`qbridge jobs`, every state: id, state, request type,
/// key, advice), read with the server stopped because the CLI takes the data-dir lock. The
/// age column is left out: it changes with the clock, not with the queue.
pub fn queue_snapshot(d: &Deployment) -> String {
    d.cli(&["jobs", "--limit", "10000"])
        .lines()
        .map(|line| {
            line.split_whitespace()
                .enumerate()
                .filter(|(i, _)| *i != 4)
                .map(|(_, t)| t)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn customer(id: u32) -> serde_json::Value {
    serde_json::json!({"id": id, "name": format!("Hostile Test {id}"), "email": format!("h{id}@example.com")})
}

/// A deployment with five customers queued, stopped; returns it with the queue snapshot.
fn deployment_with_queued_work() -> (Deployment, String) {
    let d = Deployment::new();
    let mut server = d.start();
    for id in 0..5 {
        let (status, body) = ingest(&server, &d.token, "example", "customer", &customer(id));
        assert_eq!(status, 202, "{body}");
    }
    server.terminate();
    let before = queue_snapshot(&d);
    assert!(before.contains("CustomerAdd"), "{before}");
    (d, before)
}

fn start(d: &Deployment, extra: &[&str]) -> Server {
    Server::start_in(d.tmp.path(), &d.data_dir, extra)
}

fn healthy(server: &Server) {
    let (status, _) = get(&format!("{}/healthz", server.base)).expect("the server still answers");
    assert_eq!(status, 200);
}

/// POSTs `body` to /qbwc with `content_type`; returns (status, body).
fn post_soap(server: &Server, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut resp = agent()
        .post(format!("{}/qbwc", server.base))
        .header("Content-Type", content_type)
        .send(body)
        .expect("HTTP round trip");
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn soap(server: &Server, request: &Request<'_>) -> String {
    let (status, body) = post_soap(server, "text/xml; charset=utf-8", build(request).as_bytes());
    assert_eq!(status, 200, "{body}");
    body
}

/// A SOAP fault from the client side that says `needle`.
fn assert_fault((status, body): (u16, String), needle: &str) {
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("soap:Client"), "{body}");
    assert!(body.contains(needle), "expected {needle:?} in {body}");
}

/// Syncs everything and checks each queued customer landed exactly once.
fn assert_queued_work_lands_once(server: &Server, d: &Deployment) {
    let mut company = company_with_items(&[]);
    sync_until_idle(server, d, &mut company, 20);
    assert_eq!(company.count("Customer"), 5);
    let mut names: Vec<&str> = company
        .write_log()
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    let all = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all, "nothing written twice");
}

const ENVELOPE_HEAD: &str = r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#;
const ENVELOPE_TAIL: &str = "</soap:Body></soap:Envelope>";

#[test]
fn soap_attacks_get_faults_the_server_keeps_serving_and_the_queue_is_unchanged() {
    let (d, before) = deployment_with_queued_work();
    let mut server = start(&d, &["--set", "server.header_read_timeout_secs=1"]);

    let external = format!(
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>{ENVELOPE_HEAD}<authenticate xmlns="http://developer.intuit.com/"><strUserName>&xxe;</strUserName></authenticate>{ENVELOPE_TAIL}"#
    );
    assert_fault(
        post_soap(&server, "text/xml", external.as_bytes()),
        "DOCTYPE",
    );
    healthy(&server);

    // An undeclared entity without a DOCTYPE: refused by name, never expanded.
    let entity = format!(
        r#"{ENVELOPE_HEAD}<authenticate xmlns="http://developer.intuit.com/"><strUserName>&lol9;</strUserName></authenticate>{ENVELOPE_TAIL}"#
    );
    assert_fault(
        post_soap(&server, "text/xml", entity.as_bytes()),
        "the entity &amp;lol9; is not allowed",
    );
    healthy(&server);

    let deep = format!(
        r#"{ENVELOPE_HEAD}<receiveResponseXML xmlns="http://developer.intuit.com/"><ticket>t</ticket><response>{}{}</response></receiveResponseXML>{ENVELOPE_TAIL}"#,
        "<x>".repeat(20_000),
        "</x>".repeat(20_000)
    );
    assert_fault(
        post_soap(&server, "text/xml", deep.as_bytes()),
        "nested deeper",
    );
    healthy(&server);

    let (status, body) = post_soap(&server, "text/xml", &[0xff, 0xfe, 0x00, 0x3c]);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("UTF-8"), "{body}");
    healthy(&server);

    // Wrong content types: a JSON or form body is refused as not being a SOAP envelope.
    assert_fault(
        post_soap(
            &server,
            "application/json",
            br#"{"method": "authenticate"}"#,
        ),
        "not XML",
    );
    assert_fault(
        post_soap(
            &server,
            "application/x-www-form-urlencoded",
            b"strUserName=a&strPassword=b",
        ),
        "not XML",
    );
    healthy(&server);

    // A declared 64 MB body is refused without reading it.
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /qbwc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        64 << 20
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(answer.contains("limit"), "{answer}");
    healthy(&server);

    // Slow-loris: ten connections dribbling headers are cut off; real clients get through.
    let mut loris: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /qbwc HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    healthy(&server);
    let cut_off_by = Instant::now() + Duration::from_secs(30);
    for s in &mut loris {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = Vec::new();
        // Keep dribbling until the server hangs up (a closed socket ends the read).
        let _ = s.write_all(b"X-Slow: 1\r\n");
        let _ = s.read_to_end(&mut buf);
        assert!(
            Instant::now() < cut_off_by,
            "slow-loris connection still open"
        );
        assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    }
    healthy(&server);

    server.terminate();
    assert_eq!(queue_snapshot(&d), before, "the attacks changed the queue");
    let server = start(&d, &[]);
    assert_queued_work_lands_once(&server, &d);
}

#[test]
fn brute_force_logins_hit_the_rate_limit_and_the_real_user_still_logs_in_after() {
    let (d, before) = deployment_with_queued_work();
    let mut server = start(
        &d,
        &[
            "--set",
            "qbwc.auth_per_user_per_minute=30",
            "--set",
            "qbwc.auth_per_ip_per_minute=30",
        ],
    );
    for n in 0..40 {
        let guess = format!("guess-{n:04}-guess-guess");
        let body = soap(
            &server,
            &Request::Authenticate {
                user: &d.user,
                password: &guess,
            },
        );
        assert!(body.contains("<string>nvu</string>"), "{body}");
    }
    // The limit is engaged: even the right password is refused before any hashing.
    let body = soap(
        &server,
        &Request::Authenticate {
            user: &d.user,
            password: &d.password,
        },
    );
    assert!(body.contains("<string>nvu</string>"), "{body}");
    healthy(&server);
    // The bucket refills (0.5 logins/s here): the legitimate user gets in again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = soap(
            &server,
            &Request::Authenticate {
                user: &d.user,
                password: &d.password,
            },
        );
        if !body.contains("<string>nvu</string>") {
            assert!(
                !body.contains("<string>none</string>"),
                "work is queued: {body}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the real user never got back in");
        std::thread::sleep(Duration::from_millis(500));
    }
    server.terminate();
    assert_eq!(queue_snapshot(&d), before);
}

/// The ticket of an authenticate answer (the first `<string>`).
fn ticket_of(body: &str) -> String {
    let start = body.find("<string>").expect("a ticket") + "<string>".len();
    let end = start + body[start..].find("</string>").expect("closed");
    body[start..end].to_string()
}

#[test]
fn replayed_and_expired_tickets_get_the_protocols_error_path_and_lose_nothing() {
    let (d, before) = deployment_with_queued_work();
    let mut server = start(&d, &["--set", "qbwc.session_idle_secs=1"]);
    let send = |ticket: &str| {
        soap(
            &server,
            &Request::SendRequestXml {
                ticket,
                hcp_response: "",
                company_file: "",
                country: "US",
                major: 13,
                minor: 0,
            },
        )
    };
    // Replayed: a ticket used after closeConnection is no longer valid.
    let ticket = ticket_of(&soap(
        &server,
        &Request::Authenticate {
            user: &d.user,
            password: &d.password,
        },
    ));
    soap(&server, &Request::CloseConnection { ticket: &ticket });
    let replayed = send(&ticket);
    assert!(
        replayed.contains("<sendRequestXMLResult></sendRequestXMLResult>"),
        "a replayed ticket gets no request: {replayed}"
    );
    let last = soap(&server, &Request::GetLastError { ticket: &ticket });
    assert!(last.contains("no longer valid"), "{last}");
    healthy(&server);

    // Expired: idle past qbwc.session_idle_secs.
    let ticket = ticket_of(&soap(
        &server,
        &Request::Authenticate {
            user: &d.user,
            password: &d.password,
        },
    ));
    std::thread::sleep(Duration::from_millis(2_500));
    let body = send(&ticket);
    assert!(
        !body.contains("CustomerAdd"),
        "an expired ticket gets no work: {body}"
    );
    healthy(&server);

    server.terminate();
    assert_eq!(
        queue_snapshot(&d),
        before,
        "no job was lost to the dead sessions"
    );
    let server = start(&d, &[]);
    assert_queued_work_lands_once(&server, &d);
}

/// POSTs raw bytes to the ingest API; returns (status, body).
fn post_ingest(
    server: &Server,
    token: &str,
    plugin: &str,
    kind: &str,
    ct: &str,
    body: &[u8],
) -> (u16, String) {
    let mut resp = agent()
        .post(format!(
            "{}/api/v1/ingest/{plugin}?kind={kind}",
            server.base
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", ct)
        .send(body)
        .expect("HTTP round trip");
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn hostile_ingest_bodies_and_garbage_plugin_output_store_nothing() {
    let (d, before) = deployment_with_queued_work();
    let rogue = std::path::Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join("rogue.wasm");
    d.cli(&["plugin", "install", rogue.to_str().unwrap()]);
    let before_with_rogue = queue_snapshot(&d);
    assert_eq!(
        before_with_rogue, before,
        "installing a plugin queues nothing"
    );
    let mut server = start(&d, &[]);
    let json = "application/json";
    let post = |plugin: &str, kind: &str, ct: &str, body: &[u8]| {
        post_ingest(&server, &d.token, plugin, kind, ct, body)
    };

    let huge = format!(r#"{{"id": 1, "name": "{}"}}"#, "x".repeat(2 << 20));
    let (status, body) = post("example", "customer", json, huge.as_bytes());
    assert_eq!(status, 413, "{body}");
    healthy(&server);

    let (status, body) = post("example", "customer", json, br#"{"id": 1, "name": "#);
    assert_eq!(status, 400, "{body}");
    assert!(body.to_lowercase().contains("json"), "{body}");
    let (status, _) = post("example", "customer", json, &[0xff, 0xfe, b'{', b'}']);
    assert_eq!(status, 400);
    let nested = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let (status, body) = post("example", "customer", json, nested.as_bytes());
    assert!((400..500).contains(&status), "{status}: {body}");
    healthy(&server);

    // Wrong token or none: refused before the body is looked at.
    let (status, _) = post_ingest(
        &server,
        "qbt_not-a-token",
        "example",
        "customer",
        json,
        b"{}",
    );
    assert_eq!(status, 401);

    // A plugin that returns garbage qbXML is refused with its name and what was wrong.
    for (kind, expected) in [
        ("malformed", "not well-formed XML"),
        ("undeclared", "does not declare"),
        ("bad-key", "the key is empty"),
        ("panic", "panicked"),
    ] {
        let (status, body) = post("rogue", kind, json, b"{}");
        assert_eq!(status, 422, "{kind}: {body}");
        assert!(
            body.contains("rogue") && body.contains(expected),
            "{kind}: {body}"
        );
        healthy(&server);
    }

    server.terminate();
    assert_eq!(
        queue_snapshot(&d),
        before,
        "no attack queued or lost anything"
    );
    let server = start(&d, &[]);
    assert_queued_work_lands_once(&server, &d);
}
