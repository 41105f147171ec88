//! Web Connector logins and the unauthenticated-body guard, against a real `qbridge serve`.
//!
//! - **login**: 1 and 64 simulated Web Connectors (one company file and user each, all from
//!   127.0.0.1, as on an MSP's terminal server) log in at once, `rounds` times each:
//!   `authenticate` latency p50/p99 and authenticate calls/s with the login limits lifted,
//!   then the same load under the *default* limits, counting refusals (`nvu`, `busy`,
//!   transport errors). Nothing is queued, so every login answers `none` after the password
//!   check — the cost measured is the login itself.
//! - **hostile body**: one 32 MiB `receiveResponseXML` of empty elements with a ticket that
//!   names no session, streamed at full speed on one connection: how much the server read
//!   before refusing, and its RSS growth (VmRSS sampled every 2 ms, and VmHWM).
//!
//! `--server-exe FILE` runs the same code against another build (e.g. the commit before this
//! change) to measure "before".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::soap::{ServerProcess, agent, deploy};
use super::{Row, percentile_ms, proc_status_kib, row};
use crate::sim::webconnector::envelope::{self, Method, Reply, Request};

const LIFTED: &[&str] = &[
    "--set",
    "qbwc.auth_per_user_per_minute=10000",
    "--set",
    "qbwc.auth_per_ip_per_minute=100000",
];

/// What one login answered.
enum Answer {
    /// A ticket for a session, `none` or a company-file path: the password was accepted.
    Accepted,
    /// `nvu` or `busy`.
    Refused,
    /// HTTP or SOAP failure.
    Failed,
}

fn login(agent: &ureq::Agent, url: &str, user: &str, password: &str) -> Answer {
    let body = envelope::build(&Request::Authenticate { user, password });
    let Ok(mut resp) = agent
        .post(url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"http://developer.intuit.com/authenticate\"")
        .send(body)
    else {
        return Answer::Failed;
    };
    let Ok(text) = resp.body_mut().read_to_string() else {
        return Answer::Failed;
    };
    match envelope::parse_reply(Method::Authenticate, &text) {
        Ok(Reply::Result { items, .. }) if items.len() >= 2 => {
            match items[1].to_ascii_lowercase().as_str() {
                "nvu" | "busy" => Answer::Refused,
                status => {
                    if status != "none" {
                        // A session was granted (work appeared): give the company file back.
                        let close =
                            envelope::build(&Request::CloseConnection { ticket: &items[0] });
                        let _ = agent
                            .post(url)
                            .header("Content-Type", "text/xml; charset=utf-8")
                            .send(close);
                    }
                    Answer::Accepted
                }
            }
        }
        _ => Answer::Failed,
    }
}

/// Logins of `concurrency` Web Connectors, `rounds` each: (latencies, refused, failed, s).
fn storm(
    base: &str,
    conns: &[super::soap::Conn],
    rounds: usize,
) -> (Vec<Duration>, usize, usize, f64) {
    let url = format!("{base}/qbwc");
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .iter()
            .map(|c| {
                let url = url.clone();
                s.spawn(move || {
                    let agent = agent();
                    let mut out = (Vec::new(), 0, 0);
                    for _ in 0..rounds {
                        let t = Instant::now();
                        match login(&agent, &url, &c.user, &c.password) {
                            Answer::Accepted => out.0.push(t.elapsed()),
                            Answer::Refused => out.1 += 1,
                            Answer::Failed => out.2 += 1,
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    let (mut refused, mut failed) = (0, 0);
    for (l, r, f) in results {
        lat.extend(l);
        refused += r;
        failed += f;
    }
    lat.sort();
    (lat, refused, failed, elapsed)
}

/// Login latency and refusals at 1 and 64 concurrent Web Connectors.
pub(crate) fn logins(work: &Path, rounds: usize) -> anyhow::Result<Vec<Row>> {
    let data_dir = work.join("login");
    let (conns, _token) = deploy(&data_dir, 64)?;
    let mut rows = Vec::new();
    {
        let (server, _) = ServerProcess::start(&data_dir, LIFTED)?;
        for c in [1usize, 64] {
            let (lat, refused, failed, secs) = storm(&server.base, &conns[..c], rounds);
            let label = format!("{c} Web Connector{}", if c == 1 { "" } else { "s" });
            rows.push(row(
                "login",
                format!(
                    "{label} at once, {rounds} logins each, limits lifted: authenticate p50 / p99"
                ),
                format!(
                    "{:.1} / {:.1} ms ({} logins, {} refused, {} failed)",
                    percentile_ms(&lat, 50),
                    percentile_ms(&lat, 99),
                    lat.len(),
                    refused,
                    failed
                ),
            ));
            rows.push(row(
                "login",
                format!("{label} at once, limits lifted: authenticate calls/s"),
                format!("{:.0}", (lat.len() + refused + failed) as f64 / secs),
            ));
        }
    }
    // The same 64 from one address under the default limits, on a fresh server.
    let (server, _) = ServerProcess::start(&data_dir, &[])?;
    let (lat, refused, failed, _) = storm(&server.base, &conns, rounds);
    rows.push(row(
        "login",
        format!("64 Web Connectors from one address, {rounds} logins each, default limits: refused"),
        format!(
            "{refused} refused, {failed} failed of {} (p50 / p99 of the accepted: {:.1} / {:.1} ms)",
            lat.len() + refused + failed,
            percentile_ms(&lat, 50),
            percentile_ms(&lat, 99)
        ),
    ));
    Ok(rows)
}

/// A 32 MiB body of empty elements without a valid ticket: bytes read, RSS growth.
pub(crate) fn hostile_body(work: &Path) -> anyhow::Result<Vec<Row>> {
    const TOTAL: usize = 32 << 20;
    let (server, _) = ServerProcess::start(&work.join("hostile"), &[])?;
    let pid = server.pid();
    // Let start-up allocations settle.
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = proc_status_kib(pid, "VmRSS").unwrap_or(0);
    let hwm_before = proc_status_kib(pid, "VmHWM").unwrap_or(0);
    let peak = Arc::new(AtomicU64::new(rss_before));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(
                    proc_status_kib(pid, "VmRSS").unwrap_or(0),
                    Ordering::Relaxed,
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).context("connecting to the bench server")?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = concat!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
        r#"<receiveResponseXML xmlns="http://developer.intuit.com/"><ticket>0000000000000000000000000000000000000000000000000000000000000000</ticket><response>"#
    );
    write!(
        s,
        "POST /qbwc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {TOTAL}\r\n\r\n"
    )?;
    s.write_all(head.as_bytes())?;
    // Read the answer while still sending: a server that refuses early closes the connection,
    // and the reset that follows would discard an answer read only afterwards.
    let reader = {
        let mut r = s.try_clone()?;
        std::thread::spawn(move || {
            let mut answer = Vec::new();
            let _ = r.read_to_end(&mut answer);
            answer
        })
    };
    let chunk = "<a/>".repeat(16 * 1024);
    let mut sent = head.len();
    let started = Instant::now();
    while sent < TOTAL {
        let n = chunk.len().min(TOTAL - sent);
        if s.write_all(&chunk.as_bytes()[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let answer = reader.join().unwrap_or_default();
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let status = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("(no answer)")
        .to_string();
    let hwm_after = proc_status_kib(pid, "VmHWM").unwrap_or(0);
    let growth = peak.load(Ordering::Relaxed).saturating_sub(rss_before);
    Ok(vec![
        row(
            "hostile body",
            "32 MiB receiveResponseXML of empty elements, unknown ticket: answer",
            format!("{status} after {:.0} ms", took.as_secs_f64() * 1000.0),
        ),
        row(
            "hostile body",
            "bytes the client got onto the socket before the server closed it",
            format!("{:.2} MiB", sent as f64 / 1048576.0),
        ),
        row(
            "hostile body",
            "server RSS growth: peak VmRSS (sampled every 2 ms) − before / VmHWM after − before",
            format!(
                "{:.2} MiB / {:.2} MiB",
                growth as f64 / 1024.0,
                hwm_after.saturating_sub(hwm_before) as f64 / 1024.0
            ),
        ),
    ])
}
