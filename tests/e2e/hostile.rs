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
/// key, advice), read with the server stopped so the queue holds still between two reads.
/// The age column is left out: it changes with the clock, not with the queue.
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

// ---- Bounded before authenticated (issue 15, item 2) and Web Connector login (item 3) ----

/// Sends `head` and then `filler` until `total` bytes (the declared Content-Length) or until
/// the server stops reading; returns (what the server answered, bytes written). The answer
/// is read while still writing: a server that refuses early closes the connection, and the
/// reset that follows would discard an answer read only afterwards.
fn stream_body(server: &Server, head: &str, filler: &[u8], total: usize) -> (String, usize) {
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /qbwc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {total}\r\n\r\n{head}"
    )
    .unwrap();
    let reader = {
        let mut r = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut answer = Vec::new();
            let _ = r.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
    };
    let mut written = head.len();
    while written < total {
        let n = filler.len().min(total - written);
        if s.write_all(&filler[..n]).is_err() {
            break;
        }
        written += n;
    }
    (reader.join().unwrap(), written)
}

#[test]
fn a_32_mib_body_of_empty_elements_without_a_valid_ticket_is_refused() {
    let (d, before) = deployment_with_queued_work();
    let mut server = start(&d, &[]);
    let total = 32 << 20;
    let filler = "<a/>".repeat(16 * 1024);
    // Empty elements where the parameters go: refused by name in the first 16 KiB.
    let head =
        format!(r#"{ENVELOPE_HEAD}<receiveResponseXML xmlns="http://developer.intuit.com/">"#);
    let (answer, written) = stream_body(&server, &head, filler.as_bytes(), total);
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(answer.contains("soap:Client"), "{answer}");
    assert!(
        answer.contains("`receiveResponseXML` has no parameter `a`"),
        "{answer}"
    );
    assert!(written < total, "the server read all {written} bytes");
    healthy(&server);
    // Inside the response, after a ticket no session has: only 16 KiB are ever accepted.
    let head = format!(
        r#"{ENVELOPE_HEAD}<receiveResponseXML xmlns="http://developer.intuit.com/"><ticket>{}</ticket><response>"#,
        "0".repeat(64)
    );
    let (answer, written) = stream_body(&server, &head, filler.as_bytes(), total);
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(
        answer.contains("ticket of a live session expecting that call"),
        "{answer}"
    );
    assert!(written < total, "the server read all {written} bytes");
    healthy(&server);
    // A real session may send more than 16 KiB once its ticket shows it is owed the call:
    // the first sendRequestXML with a 100 KiB strHCPResponse gets its work.
    let ticket = ticket_of(&soap(
        &server,
        &Request::Authenticate {
            user: &d.user,
            password: &d.password,
        },
    ));
    let hcp = format!(
        r#"<?xml version="1.0"?><QBXML><QBXMLMsgsRs>{}</QBXMLMsgsRs></QBXML>"#,
        "<Pad/>".repeat(20_000)
    );
    let body = soap(
        &server,
        &Request::SendRequestXml {
            ticket: &ticket,
            hcp_response: &hcp,
            company_file: "",
            country: "US",
            major: 13,
            minor: 0,
        },
    );
    assert!(body.contains("CustomerAdd"), "{body}");
    // The same session's next sendRequestXML is not owed (a response is due): small limit.
    let (status, body) = post_soap(
        &server,
        "text/xml",
        build(&Request::SendRequestXml {
            ticket: &ticket,
            hcp_response: &hcp,
            company_file: "",
            country: "US",
            major: 13,
            minor: 0,
        })
        .as_bytes(),
    );
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("expecting that call"), "{body}");
    soap(&server, &Request::CloseConnection { ticket: &ticket });
    server.terminate();
    // The session that took the jobs ended without answering: they are in doubt, and the next
    // sessions resolve them; nothing is lost or doubled.
    let server = start(&d, &[]);
    assert_queued_work_lands_once(&server, &d);
    drop(before);
}

#[test]
fn unknown_duplicate_and_extra_parameters_get_a_soap_fault_naming_them() {
    let server = Server::start();
    let call = |inner: &str| {
        post_soap(
            &server,
            "text/xml",
            format!("{ENVELOPE_HEAD}{inner}{ENVELOPE_TAIL}").as_bytes(),
        )
    };
    assert_fault(
        call(
            r#"<authenticate xmlns="http://developer.intuit.com/"><strUserName>u</strUserName><strPassword>p</strPassword><strRole>admin</strRole></authenticate>"#,
        ),
        "`authenticate` has no parameter `strRole`; it takes strUserName, strPassword",
    );
    assert_fault(
        call(
            r#"<closeConnection xmlns="http://developer.intuit.com/"><ticket>a</ticket><ticket>b</ticket></closeConnection>"#,
        ),
        "parameter `ticket` appears more than once in `closeConnection`",
    );
    assert_fault(
        call(&format!(
            r#"<sendRequestXML xmlns="http://developer.intuit.com/"><ticket>t</ticket><qbXMLCountry>{}</qbXMLCountry></sendRequestXML>"#,
            "U".repeat(100)
        )),
        "parameter `qbXMLCountry` is longer than its 16-byte limit",
    );
    healthy(&server);
    // Missing parameters are allowed (the WSDL makes each optional).
    let (status, body) = call(r#"<closeConnection xmlns="http://developer.intuit.com/" />"#);
    assert_eq!(status, 200, "{body}");
}

/// A plain TCP connection from `source` (any 127.x.y.z: all of 127/8 is loopback).
async fn connect_from(source: &str, server: &str) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket.connect(server.parse().unwrap()).await
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn two_thousand_slow_bodies_do_not_stop_a_real_session() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = qbridge::server::raise_open_files_limit();
    let (d, _) = deployment_with_queued_work();
    let server = start(&d, &[]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let rt = runtime();
    const SLOW: usize = 2_000;
    // 20 client addresses with 100 connections each (under the per-address cap, so it is the
    // body-rate defence that has to deal with them), each sending one byte every 2 s of a
    // 1 MiB receiveResponseXML: within the idle timeout, far below the minimum rate.
    let started = Instant::now();
    let slow: Vec<_> = (0..SLOW)
        .map(|i| {
            let (addr, source) = (addr.clone(), format!("127.0.1.{}", 1 + i % 20));
            rt.spawn(async move {
                let s = connect_from(&source, &addr).await.expect("slow connection");
                let (mut rd, mut wr) = s.into_split();
                let head = format!(
                    "POST /qbwc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: 1048576\r\n\r\n{ENVELOPE_HEAD}<receiveResponseXML xmlns=\"http://developer.intuit.com/\"><ticket>"
                );
                wr.write_all(head.as_bytes()).await.unwrap();
                let reader = tokio::spawn(async move {
                    let mut answer = Vec::new();
                    let _ = rd.read_to_end(&mut answer).await;
                    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
                });
                while !reader.is_finished() && started.elapsed() < Duration::from_secs(90) {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    if wr.write_all(b"0").await.is_err() {
                        break;
                    }
                }
                match tokio::time::timeout(Duration::from_secs(30), reader).await {
                    Ok(Ok(done)) => done,
                    _ => (String::new(), started.elapsed()),
                }
            })
        })
        .collect();
    // Let them all connect and start trickling.
    std::thread::sleep(Duration::from_secs(3));
    healthy(&server);
    // A real Web Connector session from 127.0.0.1 completes while they hang on.
    let mut company = company_with_items(&[]);
    let mut wc = qbridge::sim::webconnector::WebConnector::new(
        &format!("{}/qbwc", server.base),
        &d.user,
        &d.password,
        qbridge::sim::webconnector::WcOptions::default(),
    );
    let t = wc
        .run_session(&mut company)
        .unwrap_or_else(|e| panic!("the real session failed: {e}\n{}", wc.transcript()));
    assert_eq!(
        t.outcome,
        Some(qbridge::sim::webconnector::Outcome::Completed),
        "{t}"
    );
    assert_eq!(company.count("Customer"), 5, "{t}");
    let session_done = started.elapsed();
    // Every slow body is cut off (408) once it falls below the minimum rate.
    let results: Vec<(String, Duration)> = rt.block_on(async {
        let mut out = Vec::new();
        for h in slow {
            out.push(h.await.unwrap());
        }
        out
    });
    let cut = results
        .iter()
        .filter(|(a, _)| a.starts_with("HTTP/1.1 408"))
        .count();
    assert_eq!(cut, SLOW, "slow bodies answered 408: {cut} of {SLOW}");
    let first = results.iter().map(|(_, t)| *t).min().unwrap();
    let last = results.iter().map(|(_, t)| *t).max().unwrap();
    assert!(
        first > session_done,
        "the real session ({session_done:?}) finished while every slow body was still open (first cut at {first:?})"
    );
    assert!(
        last < Duration::from_secs(40),
        "the last slow body was cut after {last:?}"
    );
    healthy(&server);
}

#[test]
fn connections_over_the_per_address_and_total_caps_get_503_and_others_still_connect() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        tmp.path(),
        &tmp.path().join("data"),
        &[
            // Idle connections stay open for the whole test, however slow the machine.
            "--set",
            "server.header_read_timeout_secs=120",
            "--set",
            "server.max_connections_per_address=8",
            "--set",
            "server.max_connections=16",
        ],
    );
    let addr = server.base.trim_start_matches("http://").to_string();
    let rt = runtime();
    rt.block_on(async {
        let healthz = |source: &'static str| {
            let addr = addr.clone();
            async move {
                let mut s = connect_from(source, &addr).await.unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let mut out = Vec::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
                String::from_utf8_lossy(&out).into_owned()
            }
        };
        // Eight idle connections from 127.0.0.1 fill its share.
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(connect_from("127.0.0.1", &addr).await.unwrap());
        }
        // The server counts a connection once it accepted it; on a loaded machine that may
        // take longer than a moment, so ask until the cap answers (or 10 s have passed).
        let refused = |source: &'static str| async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let answer = healthz(source).await;
                if answer.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
                    return answer;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        let answer = refused("127.0.0.1").await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("Retry-After: 5"), "{answer}");
        assert!(
            answer.contains("server.max_connections_per_address"),
            "{answer}"
        );
        // Another address still gets in.
        let answer = healthz("127.0.0.2").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // Eight more from other addresses reach the total cap: nobody new gets in.
        for i in 0..8 {
            held.push(connect_from(&format!("127.0.2.{i}"), &addr).await.unwrap());
        }
        let answer = refused("127.0.0.3").await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("(server.max_connections)"), "{answer}");
        // Closing them frees the places.
        drop(held);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = healthz("127.0.0.1").await;
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "{answer}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

#[test]
fn a_spent_body_budget_answers_503_with_retry_after_until_bodies_finish() {
    use tokio::io::AsyncWriteExt;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        tmp.path(),
        &tmp.path().join("data"),
        &[
            "--set",
            "qbwc.body_budget_bytes=1048576",
            "--set",
            "qbwc.max_body_bytes=1048576",
            "--set",
            "qbwc.body_idle_timeout_secs=4",
        ],
    );
    let addr = server.base.trim_start_matches("http://").to_string();
    let rt = runtime();
    // 70 unfinished bodies of 16,000 bytes each: more than the 1 MiB budget together, which
    // is left with less than 16,000 bytes free.
    let held: Vec<tokio::net::TcpStream> = rt.block_on(async {
        let mut held = Vec::new();
        for i in 0..70 {
            let mut s = connect_from(&format!("127.0.3.{}", i % 10), &addr)
                .await
                .unwrap();
            let mut body = format!(
                "{ENVELOPE_HEAD}<closeConnection xmlns=\"http://developer.intuit.com/\"><ticket>"
            );
            while body.len() < 16_000 {
                body.push('0');
            }
            let request = format!(
                "POST /qbwc HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 20000\r\n\r\n{body}"
            );
            s.write_all(request.as_bytes()).await.unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        held
    });
    // A 16,100-byte call (padded with a comment): more than what is left of the budget.
    let mut probe = format!(
        r#"{ENVELOPE_HEAD}<serverVersion xmlns="http://developer.intuit.com/" />{ENVELOPE_TAIL}"#
    );
    probe.insert_str(
        ENVELOPE_HEAD.len(),
        &format!("<!--{}-->", " ".repeat(16_100 - probe.len() - 7)),
    );
    assert_eq!(probe.len(), 16_100);
    let mut resp = agent()
        .post(format!("{}/qbwc", server.base))
        .header("Content-Type", "text/xml")
        .send(probe.as_bytes())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(text.contains("too much data at once"), "{text}");
    // The stalled bodies are cut off by the idle timeout, which gives the budget back.
    std::thread::sleep(Duration::from_secs(5));
    let (status, body) = post_soap(&server, "text/xml", probe.as_bytes());
    assert_eq!(status, 200, "{body}");
    drop(held);
}

/// An admin API call with a bearer token; returns the status and body.
fn admin_post(server: &Server, token: &str, path: &str) -> (u16, String) {
    let mut resp = agent()
        .post(format!("{}{path}", server.base))
        .header("Authorization", &format!("Bearer {token}"))
        .send_empty()
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn a_disabled_or_rotated_users_live_session_is_refused_on_its_next_call() {
    use qbridge::sim::QuickBooks;
    let (d, _) = deployment_with_queued_work();
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "ops"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    // A second Web Connector user of the same company file, to finish the work later.
    let printed = d.cli(&["user", "add", "--connection", "acme", "second"]);
    let second = crate::support::printed_password(&printed);
    let server = start(&d, &[]);
    let login =
        |user: &str, password: &str| soap(&server, &Request::Authenticate { user, password });
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

    // Rotation: the session that logged in with the old password is refused at once.
    let ticket = ticket_of(&login("second", &second));
    let (status, body) = admin_post(&server, &admin, "/api/v1/users/second/rotate-password");
    assert_eq!(status, 200, "{body}");
    let fresh: serde_json::Value = serde_json::from_str(&body).unwrap();
    let fresh = fresh["password"].as_str().unwrap().to_string();
    let body = send(&ticket);
    assert!(
        body.contains("<sendRequestXMLResult></sendRequestXMLResult>"),
        "a revoked session gets no work: {body}"
    );
    let last = soap(&server, &Request::GetLastError { ticket: &ticket });
    assert!(last.contains("no longer valid"), "{last}");
    assert!(login("second", &second).contains("<string>nvu</string>"));

    // Disabling: a session holding sent work is refused on its next call, and the work it
    // held is recovered by the next session of the company file.
    let ticket = ticket_of(&login(&d.user, &d.password));
    let request = send(&ticket);
    assert!(request.contains("CustomerAdd"), "{request}");
    let (status, body) = admin_post(
        &server,
        &admin,
        &format!("/api/v1/users/{}/disable", d.user),
    );
    assert_eq!(status, 204, "{body}");
    let mut company = company_with_items(&[]);
    company.open("").unwrap();
    let response = company
        .process(&extract_result(&request, "sendRequestXML"))
        .unwrap();
    company.close();
    let body = soap(
        &server,
        &Request::ReceiveResponseXml {
            ticket: &ticket,
            response: &response,
            hresult: "",
            message: "",
        },
    );
    assert!(
        body.contains("<receiveResponseXMLResult>-1</receiveResponseXMLResult>"),
        "{body}"
    );
    assert!(login(&d.user, &d.password).contains("<string>nvu</string>"));
    // The other user (new password) takes over: the revoked session freed the company file,
    // and its unanswered requests are verified rather than written twice.
    let mut wc = qbridge::sim::webconnector::WebConnector::new(
        &format!("{}/qbwc", server.base),
        "second",
        &fresh,
        qbridge::sim::webconnector::WcOptions::default(),
    );
    for _ in 0..20 {
        let t = wc.run_session(&mut company).unwrap();
        if t.outcome == Some(qbridge::sim::webconnector::Outcome::NoWork) {
            break;
        }
        assert_ne!(
            t.outcome,
            Some(qbridge::sim::webconnector::Outcome::Busy),
            "{t}"
        );
    }
    assert_eq!(company.count("Customer"), 5);
    crate::pipeline::assert_no_duplicate_writes(&company);
}

/// The unescaped text of `<{method}Result>` in a SOAP answer.
fn extract_result(body: &str, method: &str) -> String {
    let open = format!("<{method}Result>");
    let start = body.find(&open).unwrap() + open.len();
    let end = body.find(&format!("</{method}Result>")).unwrap();
    body[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#13;", "\r")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
