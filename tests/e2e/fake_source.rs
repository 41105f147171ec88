//! A fake source system (Ramp, Autotask, …) for tests: a plain-HTTP server on 127.0.0.1 that
//! answers every request with a route closure and records what it received. The engine reaches
//! it through `source_endpoints` (`QBRIDGE_SOURCE_ENDPOINTS=api.ramp.com=<base_addr>`), so the
//! real plugins' requests arrive here exactly as they would at the source. [`AutotaskDb`] is a
//! fake Autotask database that answers the REST queries by their filters.
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

/// A fake Autotask database behind the REST API's shapes (zone 5): rows per entity, which a
/// test changes between pulls (void an invoice, add a purchase order …).
///
/// - `POST /{Entity}/query` applies every condition of the body's `filter` (`eq`, `noteq`,
///   `gt`, `gte`, `lt`, `lte`; ids compare as numbers, dates to the second, as Autotask
///   writes them with or without a zone suffix) and answers at most `MaxRecords` rows in id
///   order, in one page;
/// - `GET /{Entity}/{id}` answers `{item}`; `PATCH /{Entity}` acknowledges `{itemId}`.
#[derive(Debug, Default)]
pub(crate) struct AutotaskDb {
    /// Rows by entity name (`Invoices`, `BillingItems`, `Companies`, `PurchaseOrders` …).
    pub entities: std::collections::BTreeMap<String, Vec<serde_json::Value>>,
}

impl AutotaskDb {
    /// Adds `row` to `entity`.
    pub(crate) fn insert(&mut self, entity: &str, row: serde_json::Value) {
        self.entities
            .entry(entity.to_string())
            .or_default()
            .push(row);
    }

    /// The row of `entity` with `id`, to change it.
    pub(crate) fn row_mut(&mut self, entity: &str, id: i64) -> &mut serde_json::Value {
        self.entities
            .get_mut(entity)
            .and_then(|rows| rows.iter_mut().find(|r| r["id"].as_i64() == Some(id)))
            .unwrap_or_else(|| panic!("no {entity} row {id}"))
    }

    /// The answer to one request of the REST API (under `/atservicesrest/v1.0`).
    pub(crate) fn answer(&self, req: &Recorded) -> Reply {
        use serde_json::{Value, json};
        let path = req.path().trim_start_matches("/atservicesrest/v1.0/");
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let parts: Vec<&str> = path.split('/').collect();
        let rows = |entity: &str| self.entities.get(entity).cloned().unwrap_or_default();
        match (req.method.as_str(), parts.as_slice()) {
            ("POST", [entity, "query"]) => {
                let filter = body["filter"].as_array().cloned().unwrap_or_default();
                let max = body["MaxRecords"].as_u64().unwrap_or(500) as usize;
                let mut found: Vec<Value> = rows(entity)
                    .into_iter()
                    .filter(|row| filter.iter().all(|c| matches(row, c)))
                    .collect();
                found.sort_by_key(|r| r["id"].as_i64());
                found.truncate(max);
                let count = found.len();
                Reply::json(
                    200,
                    json!({"items": found, "pageDetails": {"count": count, "nextPageUrl": null}}),
                )
            }
            ("GET", [entity, id]) => {
                match rows(entity)
                    .into_iter()
                    .find(|r| id.parse::<serde_json::Value>().is_ok_and(|v| r["id"] == v))
                {
                    Some(item) => Reply::json(200, json!({"item": item})),
                    None => Reply::json(404, json!({"errors": [format!("no {entity} {id}")]})),
                }
            }
            ("PATCH", [_]) => Reply::json(200, json!({"itemId": body["id"]})),
            _ => Reply::json(404, json!({"errors": [format!("not served: {path}")]})),
        }
    }
}

/// Whether `row` meets one filter condition `{op, field, value}`.
fn matches(row: &serde_json::Value, condition: &serde_json::Value) -> bool {
    use std::cmp::Ordering;
    let (op, field, value) = (
        condition["op"].as_str().unwrap_or(""),
        condition["field"].as_str().unwrap_or(""),
        &condition["value"],
    );
    let have = &row[field];
    let order = match (have, value) {
        (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
            a.as_f64().partial_cmp(&b.as_f64())
        }
        (serde_json::Value::String(a), serde_json::Value::String(b)) => {
            let second = |s: &str| s.get(..19).unwrap_or(s).to_string();
            Some(second(a).cmp(&second(b)))
        }
        (serde_json::Value::Bool(a), serde_json::Value::Bool(b)) => Some(a.cmp(b)),
        _ => None, // null or absent: no comparison holds, as in a database
    };
    match (op, order) {
        ("eq", Some(o)) => o == Ordering::Equal,
        ("noteq", Some(o)) => o != Ordering::Equal,
        ("gt", Some(o)) => o == Ordering::Greater,
        ("gte", Some(o)) => o != Ordering::Less,
        ("lt", Some(o)) => o == Ordering::Less,
        ("lte", Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}
