//! A fake source system (Ramp, Autotask, …) for tests: a plain-HTTP server on 127.0.0.1 that
//! answers every request with a route closure and records what it received. The engine reaches
//! it through `source_endpoints` (`QBRIDGE_SOURCE_ENDPOINTS=api.ramp.com=<base_addr>`), so the
//! real plugins' requests arrive here exactly as they would at the source.
//!
//! ```ignore
//! let fake = FakeSource::start(|req| match req.path() {
//!     "/developer/v1/transactions" => Reply::json(200, json!({"data": [], "page": {"next": null}})),
//!     _ => Reply::json(404, json!({"error": "not_found"})),
//! });
//! // … QBRIDGE_SOURCE_ENDPOINTS=format!("api.ramp.com={}", fake.base_addr()) …
//! assert_eq!(fake.requests()[0].header("authorization"), Some("Bearer tok-1"));
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest request head or body the fake accepts (plugins send far less).
const MAX_BYTES: usize = 1024 * 1024;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, e.g. `/developer/v1/bills?sync_ready=true`.
    pub target: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first header called `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The body as text.
    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Waits this long before answering (to let a short-lived token go stale in between).
    pub delay: Duration,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    /// The same answer after `delay`.
    pub(crate) fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Route = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// A running fake; stops when dropped.
pub(crate) struct FakeSource {
    addr: std::net::SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

impl FakeSource {
    /// Starts on a free loopback port; `route` answers each request (it may keep state, e.g.
    /// counters, through interior mutability). Requests are recorded before `route` runs.
    pub(crate) fn start(route: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeSource {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let route: Arc<Route> = Arc::new(route);
        let (log2, stop2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (log, route) = (log2.clone(), route.clone());
                std::thread::spawn(move || serve(stream, &log, &*route));
            }
        });
        FakeSource { addr, log, stop }
    }

    /// `127.0.0.1:PORT`, the value for `source_endpoints`.
    pub(crate) fn base_addr(&self) -> String {
        self.addr.to_string()
    }

    /// Every request received so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FakeSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request (Content-Length bodies only; the engine's client sends no chunked
/// requests), records it, answers it and closes the connection.
fn serve(stream: TcpStream, log: &Mutex<Vec<Recorded>>, route: &Route) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the Drop wake-up, or a client that gave up
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    let mut head_bytes = line.len();
    loop {
        let mut h = String::new();
        let n = reader.read_line(&mut h).unwrap_or(0);
        head_bytes += n;
        if n == 0 || head_bytes > MAX_BYTES {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BYTES);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Recorded {
        method,
        target,
        headers,
        body,
    };
    log.lock().unwrap().push(request.clone());
    let reply = route(&request);
    std::thread::sleep(reply.delay);
    let mut stream = reader.into_inner();
    let head = format!(
        "HTTP/1.1 {} Fake\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
    let _ = stream.flush();
}
