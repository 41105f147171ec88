//! The scale curve: what one SOAP call costs as the queue and the history grow.
//!
//! One Web Connector drains one company file, 50 requests per message set, while 1k … 1M
//! jobs wait in the queue ("queued") or have already been completed ("completed": the
//! history a firm accumulates). The queue is seeded through `qbridge ingest` (so ingest
//! records/s is measured on the way) in the shape of a first sync of a firm's history:
//! invoices first, each waiting for its customer, then the customers. Measured per point:
//! SOAP call latency p50/p99 (sendRequestXML and receiveResponseXML), requests/s (wall clock,
//! simulated QuickBooks included, and server time only), the server's CPU time per request
//! (steady when the machine is busy), its peak RSS and the database bytes per job. `--baseline BIN` measures another build (e.g. the previous
//! release) the same way in the same run, so the comparison shares the machine's noise.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::soap::{ServerProcess, agent, cli_of, printed_password};
use super::{Row, percentile_ms, proc_cpu_time, proc_status_kib, row};
use crate::config::Config;
use crate::sim::QuickBooks;
use crate::sim::company::Company;
use crate::sim::webconnector::envelope::{self, Request};
use crate::store::queue::{AnswerTo, Answered, Answering, Claim, JobResult};
use crate::store::{DATABASE_FILE, Store, StoreOptions};

/// Requests measured per point: 40 message sets of 50 (or the whole queue, if smaller).
const MEASURED_REQUESTS: usize = 2_000;
/// Records per `qbridge ingest` transaction while seeding.
const SEED_BATCH: &str = "1000";

/// What waits in the database while the measured session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backlog {
    /// `n` jobs queued, none sent yet.
    Queued,
    /// `n` jobs already completed (history), plus the measured ones queued.
    Completed,
}

impl Backlog {
    fn label(self) -> &'static str {
        match self {
            Backlog::Queued => "queued",
            Backlog::Completed => "completed",
        }
    }
}

/// One binary to measure.
pub(crate) struct Build<'a> {
    /// Shown in the table (`this build`, `baseline`).
    pub label: &'static str,
    /// Its executable.
    pub exe: &'a Path,
    /// Whether it has `ingest --batch` (older builds store one record per transaction).
    pub batch_ingest: bool,
}

/// Runs the curve for `build` over `sizes` (jobs) and both backlogs (`Completed` needs this
/// build's schema: it is seeded in-process).
pub(crate) fn curve(
    work: &Path,
    build: &Build<'_>,
    sizes: &[usize],
    backlogs: &[Backlog],
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &backlog in backlogs {
        for &jobs in sizes {
            let dir = work.join(format!(
                "scale-{}-{}-{jobs}",
                build.label.replace(' ', "-"),
                backlog.label()
            ));
            let point = measure(&dir, build, backlog, jobs)
                .with_context(|| format!("{} with {jobs} jobs {}", build.label, backlog.label()))?;
            let _ = std::fs::remove_dir_all(&dir);
            let name = format!("{}, {jobs} jobs {}", build.label, backlog.label());
            rows.push(row(
                "scale",
                format!("{name}: SOAP call p50 / p99"),
                format!("{:.2} / {:.2} ms", point.p50_ms, point.p99_ms),
            ));
            rows.push(row(
                "scale",
                format!("{name}: requests/s (wall, with simulated QuickBooks / server time)"),
                format!("{:.0} / {:.0}", point.wall_rps, point.server_rps),
            ));
            rows.push(row(
                "scale",
                format!("{name}: server CPU per request"),
                format!("{:.0} µs", point.cpu_us_per_request),
            ));
            rows.push(row(
                "scale",
                format!("{name}: ingest records/s while seeding"),
                format!("{:.0}", point.ingest_rps),
            ));
            rows.push(row(
                "scale",
                format!("{name}: server peak RSS, database bytes per job"),
                format!(
                    "{:.1} MiB, {:.0} B",
                    point.peak_rss_kib as f64 / 1024.0,
                    point.db_bytes_per_job
                ),
            ));
        }
    }
    Ok(rows)
}

struct Point {
    p50_ms: f64,
    p99_ms: f64,
    wall_rps: f64,
    server_rps: f64,
    ingest_rps: f64,
    cpu_us_per_request: f64,
    peak_rss_kib: u64,
    db_bytes_per_job: f64,
}

fn measure(dir: &Path, build: &Build<'_>, backlog: Backlog, jobs: usize) -> anyhow::Result<Point> {
    let cli = |args: &[&str]| cli_of(build.exe, dir, args);
    cli(&["connection", "add", "firm"])?;
    let password = printed_password(&cli(&["user", "add", "--connection", "firm", "sync"])?)?;
    // A first sync of a firm's history: every invoice arrives before its customer.
    let pairs = jobs / 2;
    let started = Instant::now();
    seed(dir, build, 0..pairs)?;
    let ingest_rps = (pairs * 2) as f64 / started.elapsed().as_secs_f64();
    let mut total_jobs = pairs * 2;
    if backlog == Backlog::Completed {
        complete_everything(dir, None)?;
        let fresh = MEASURED_REQUESTS / 2;
        seed(dir, build, pairs..pairs + fresh)?;
        total_jobs += fresh * 2;
    }
    let (server, _) = ServerProcess::start_exe(build.exe, dir, &[])?;
    // A queue smaller than the measured session is drained whole.
    let cpu_before = proc_cpu_time(server.pid()).unwrap_or_default();
    let session = drain(&server.base, &password, MEASURED_REQUESTS.min(total_jobs))?;
    let cpu = proc_cpu_time(server.pid())
        .unwrap_or_default()
        .saturating_sub(cpu_before);
    let peak_rss_kib = proc_status_kib(server.pid(), "VmHWM").unwrap_or(0);
    drop(server);
    let db: u64 = [DATABASE_FILE.to_string(), format!("{DATABASE_FILE}-wal")]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    let mut calls = session.calls;
    calls.sort();
    let server_time: f64 = calls.iter().map(Duration::as_secs_f64).sum();
    Ok(Point {
        p50_ms: percentile_ms(&calls, 50),
        p99_ms: percentile_ms(&calls, 99),
        wall_rps: session.requests as f64 / session.wall.as_secs_f64(),
        server_rps: session.requests as f64 / server_time,
        ingest_rps,
        cpu_us_per_request: cpu.as_secs_f64() * 1e6 / session.requests as f64,
        peak_rss_kib,
        db_bytes_per_job: db as f64 / total_jobs as f64,
    })
}

/// Queues the invoices of `ids`, then their customers, through `qbridge ingest`.
pub(crate) fn seed(
    dir: &Path,
    build: &Build<'_>,
    ids: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let invoices: Vec<serde_json::Value> = ids
        .clone()
        .map(|i| {
            serde_json::json!({
                "id": i, "customer_id": i, "customer_name": format!("Customer {i:07}"),
                "number": format!("INV{i}"),
                "lines": [{"item": "Consulting", "amount": 150}, {"item": "Support", "amount": 25.5}]
            })
        })
        .collect();
    let customers: Vec<serde_json::Value> = ids
        .map(|i| serde_json::json!({"id": i, "name": format!("Customer {i:07}"), "email": format!("c{i}@example.com")}))
        .collect();
    for (kind, records) in [("invoice", invoices), ("customer", customers)] {
        let file = dir.join(format!("{kind}s.json"));
        std::fs::write(&file, serde_json::to_vec(&records)?)?;
        let file = file.to_str().context("a UTF-8 scratch path")?;
        let mut args = vec!["ingest", "--plugin", "example", "--kind", kind];
        if build.batch_ingest {
            args.extend(["--batch", SEED_BATCH]);
        }
        args.push(file);
        cli_of(build.exe, dir, &args)?;
        std::fs::remove_file(file)?;
    }
    Ok(())
}

/// Turns the whole queue into history, through the same claims and results a session makes
/// (message sets of 50, a mapping per key), in process: nothing QuickBooks-side is simulated.
/// `response` is stored as every job's QuickBooks answer (`None`: none kept).
pub(crate) fn complete_everything(dir: &Path, response: Option<&str>) -> anyhow::Result<()> {
    let store = Store::open(dir, StoreOptions::default())?;
    let connection = store.connection("firm")?.id;
    let limits = Config::default().batch_limits();
    while let Some(claim) = store.claim(connection, 1, limits)? {
        let Claim::Send {
            message_set_id,
            jobs,
        } = claim
        else {
            bail!("a fresh queue has nothing to recover");
        };
        let answers: Vec<Answered> = jobs
            .iter()
            .map(|j| Answered {
                request_id: j.request_id.clone(),
                job_id: j.job_id,
                result: JobResult::Completed {
                    object_id: Some(format!("{}-1", j.job_id)),
                    edit_sequence: Some("1".into()),
                    follow_ups: vec![],
                    acknowledge: false,
                    retry_on_response: false,
                },
                response: response.map(str::to_string),
            })
            .collect();
        let to = AnswerTo {
            connection_id: connection,
            session_id: 1,
            set: Answering::Sent(message_set_id.as_deref()),
        };
        store.record_results(&to, &answers)?;
    }
    Ok(())
}

/// What the measured session did.
struct Session {
    requests: usize,
    wall: Duration,
    /// Every sendRequestXML and receiveResponseXML round trip.
    calls: Vec<Duration>,
}

/// One Web Connector session against a simulated company file, until `requests` requests
/// were answered (or the server has nothing more).
fn drain(base: &str, password: &str, requests: usize) -> anyhow::Result<Session> {
    let url = format!("{base}/qbwc");
    let agent = agent();
    let call = |request: &Request<'_>| -> anyhow::Result<(String, Duration)> {
        let method = request.method();
        let started = Instant::now();
        let mut resp = agent
            .post(&url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                &format!("\"http://developer.intuit.com/{method}\""),
            )
            .send(envelope::build(request))?;
        let body = resp.body_mut().read_to_string()?;
        let took = started.elapsed();
        Ok((result_text(&body, &method.to_string())?, took))
    };
    let mut company = Company::new(r"C:\Company Files\firm.qbw");
    company.open("").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    seed_items(&mut company)?;
    let hcp = company.hcp_response();
    let (auth, _) = call(&Request::Authenticate {
        user: "sync",
        password,
    })?;
    let ticket = auth
        .split("</string>")
        .next()
        .and_then(|s| s.rsplit('>').next())
        .context("authenticate answered no ticket")?
        .to_string();
    let started = Instant::now();
    let (mut done, mut calls, mut first) = (0, Vec::new(), true);
    while done < requests {
        let (xml, took) = call(&Request::SendRequestXml {
            ticket: &ticket,
            hcp_response: if first { &hcp } else { "" },
            company_file: r"C:\Company Files\firm.qbw",
            country: "US",
            major: 13,
            minor: 0,
        })?;
        first = false;
        calls.push(took);
        if xml.is_empty() {
            break;
        }
        let xml = unescape(&xml);
        let answer = company
            .process(&xml)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let (percent, took) = call(&Request::ReceiveResponseXml {
            ticket: &ticket,
            response: &answer,
            hresult: "",
            message: "",
        })?;
        calls.push(took);
        done += xml.matches("requestID=\"").count();
        if percent.trim().parse::<i32>().unwrap_or(-1) < 0 {
            bail!("receiveResponseXML reported an error after {done} requests");
        }
    }
    let wall = started.elapsed();
    call(&Request::CloseConnection { ticket: &ticket })?;
    if done < requests {
        bail!("the server ran out of work after {done} of {requests} requests");
    }
    Ok(Session {
        requests: done,
        wall,
        calls,
    })
}

/// The items the example plugin's invoices name.
fn seed_items(company: &mut Company) -> anyhow::Result<()> {
    let adds: String = ["Consulting", "Support"]
        .iter()
        .map(|i| format!("<ItemServiceAddRq><ItemServiceAdd><Name>{i}</Name><SalesOrPurchase><AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>"))
        .collect();
    let out = company
        .process(&format!(
            r#"<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">{adds}</QBXMLMsgsRq></QBXML>"#
        ))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    if out.contains("statusSeverity=\"Error\"") {
        bail!("the simulated company refused the bench's items: {out}");
    }
    Ok(())
}

/// The text of `<{method}Result>` (still escaped).
fn result_text(body: &str, method: &str) -> anyhow::Result<String> {
    let open = format!("<{method}Result>");
    let Some(start) = body.find(&open) else {
        if body.contains(&format!("<{method}Result />"))
            || body.contains(&format!("<{method}Result/>"))
        {
            return Ok(String::new());
        }
        bail!("{method}: no result in {body:.300}");
    };
    let rest = &body[start + open.len()..];
    let end = rest
        .find(&format!("</{method}Result>"))
        .context("unterminated result")?;
    Ok(rest[..end].to_string())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}
