//! In-process figures: plugin records/s against a native build of the same mapper, peak
//! memory of the streaming qbXML parser, and plugin hot-swap latency under load.

use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use qbridge_sdk::Mapper;

use super::{Row, percentile_ms, proc_status_kib, row};
use crate::config::Config;
use crate::plugins::{InstallOutcome, PluginManager};
use crate::store::queue::{NewRecord, Origin};
use crate::store::{Store, StoreOptions};

/// The bundled example plugin's own source, compiled natively: the baseline the WASM
/// plugin is compared with (its `export_mapper!` glue only exists on wasm32).
/// Formatted by the plugins workspace, not ours.
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../../plugins/example/src/lib.rs"]
mod example_native;

/// A plugin manager on a fresh data dir (the bundled plugins install on open).
fn manager(dir: &Path) -> anyhow::Result<(PluginManager, Store)> {
    let config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    let store = Store::open(dir, StoreOptions::default())?;
    Ok((PluginManager::open(store.clone(), &config)?, store))
}

fn customer(i: usize) -> String {
    format!(r#"{{"id": {i}, "name": "Customer {i}", "email": "c{i}@example.com"}}"#)
}

/// Records/s through each bundled plugin (warm instance, `PluginManager::map`, which
/// includes the host's output checks) and through the example mapper compiled natively
/// (JSON parse + `Mapper::map`, no sandbox, no checks).
pub(crate) fn plugins(work: &Path, calls: usize) -> anyhow::Result<Vec<Row>> {
    let (m, _store) = manager(&work.join("plugins"))?;
    let mut rows = Vec::new();
    let mut wasm_rate = None;
    for p in m.list()? {
        if p.status != crate::store::PluginStatus::Active {
            continue;
        }
        // Each bundled plugin on the records it exists for: the example on generated
        // customers, Autotask and Ramp on their sample invoice bundle and card transaction.
        let (kind, sample) = match p.name.as_str() {
            "example" => ("customer", None),
            "autotask" => (
                "invoice",
                Some(crate::demo::sample("autotask-invoice-1-basic.json", None)?),
            ),
            "ramp" => (
                "transaction",
                Some(crate::demo::sample(
                    "ramp-transaction-1-card-split.json",
                    Some("transaction"),
                )?),
            ),
            _ => continue,
        };
        let record = |i: usize| sample.clone().unwrap_or_else(|| customer(i));
        // Warm up: the first call instantiates the component.
        m.map(&p.name, None, kind, &record(0))??;
        let started = Instant::now();
        for i in 0..calls {
            m.map(&p.name, None, kind, &record(i))??;
        }
        let rate = calls as f64 / started.elapsed().as_secs_f64();
        if p.name == "example" {
            wasm_rate = Some(rate);
        }
        rows.push(row(
            "plugins",
            format!("{} {} (WASM, warm): {kind} records/s", p.name, p.version),
            format!("{rate:.0}"),
        ));
    }
    let started = Instant::now();
    for i in 0..calls {
        let value: serde_json::Value = serde_json::from_str(&customer(i))?;
        example_native::ExampleMapper::map("customer", &value)
            .map_err(|e| anyhow::anyhow!("native mapper refused a record: {e:?}"))?;
    }
    let native = calls as f64 / started.elapsed().as_secs_f64();
    rows.push(row(
        "plugins",
        "example mapper compiled natively: customer records/s",
        format!("{native:.0}"),
    ));
    if let Some(wasm) = wasm_rate {
        rows.push(row(
            "plugins",
            "WASM / native throughput ratio (example)",
            format!("{:.2}", wasm / native),
        ));
    }
    Ok(rows)
}

/// Peak memory of `parse_response` on 1/10/50 MB bodies, each parsed in a child process.
pub(crate) fn parse_memory(work: &Path, sizes_mb: &[usize]) -> anyhow::Result<Vec<Row>> {
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for &mb in sizes_mb {
        let path = work.join(format!("response-{mb}mb.xml"));
        {
            let file = std::fs::File::create(&path)?;
            // About 560 bytes per customer (see write_large_customer_query_response).
            crate::qbxml::write_large_customer_query_response(
                BufWriter::new(file),
                mb * 1_000_000 / 560,
            )?;
        }
        let size = std::fs::metadata(&path)?.len();
        let out = std::process::Command::new(&exe)
            .args(["bench", "--parse-child"])
            .arg(&path)
            .output()
            .context("running the parse child")?;
        if !out.status.success() {
            bail!(
                "parsing the {mb} MB body failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let delta_kib: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("the parse child printed no number")?;
        std::fs::remove_file(&path)?;
        rows.push(row(
            "parse memory",
            format!("{mb} MB receiveResponseXML body: peak memory / body size"),
            format!(
                "{:.2} ({:.1} MiB for {:.1} MiB)",
                delta_kib as f64 * 1024.0 / size as f64,
                delta_kib as f64 / 1024.0,
                size as f64 / 1048576.0
            ),
        ));
    }
    Ok(rows)
}

/// The child side of [`parse_memory`]: prints the VmHWM growth (KiB) caused by the parse.
pub(crate) fn parse_child(path: &Path) -> anyhow::Result<()> {
    let pid = std::process::id();
    let before = proc_status_kib(pid, "VmHWM").context("reading /proc/self/status")?;
    let file = std::fs::File::open(path)?;
    let set = crate::qbxml::parse_response(BufReader::new(file))?;
    let after = proc_status_kib(pid, "VmHWM").context("reading /proc/self/status")?;
    // Keep the result alive until after the measurement.
    std::hint::black_box(&set);
    println!("{}", after.saturating_sub(before));
    Ok(())
}

/// `swaps` installs alternating echo 1.0.0 and 2.0.0 while two threads keep mapping.
pub(crate) fn hot_swap(work: &Path, swaps: usize) -> anyhow::Result<Vec<Row>> {
    let fixtures = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES"));
    let v1 = std::fs::read(fixtures.join("echo_v1.wasm"))?;
    let v2 = std::fs::read(fixtures.join("echo_v2.wasm"))?;
    let (m, _store) = manager(&work.join("hotswap"))?;
    let m = Arc::new(m);
    m.install(&v1, None, "bench")?;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let callers: Vec<_> = (0..2u64)
        .map(|t| {
            let (m, stop, ok, failed) = (m.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let record = format!(r#"{{"id": {}}}"#, t * 1_000_000_000 + n);
                    match m.map("echo", None, "customer", &record) {
                        Ok(Ok(_)) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(swaps);
    let mut result = Ok(());
    for swap in 0..swaps {
        let wasm = if swap % 2 == 0 { &v2 } else { &v1 };
        let started = Instant::now();
        match m.install(wasm, None, "bench") {
            Ok(InstallOutcome::Activated { .. }) => latencies.push(started.elapsed()),
            Ok(other) => {
                result = Err(anyhow::anyhow!("swap {swap} did not activate: {other:?}"));
                break;
            }
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        let _ = c.join();
    }
    result?;
    latencies.sort();
    Ok(vec![
        row(
            "hot swap",
            format!("{swaps} swaps under load: install→active p50 / p99"),
            format!(
                "{:.1} / {:.1} ms",
                percentile_ms(&latencies, 50),
                percentile_ms(&latencies, 99)
            ),
        ),
        row(
            "hot swap",
            "calls during the swaps: succeeded / failed",
            format!(
                "{} / {}",
                ok.load(Ordering::Relaxed),
                failed.load(Ordering::Relaxed)
            ),
        ),
    ])
}

/// SQLite write transactions per job on the queue's own path: enqueue each record with its
/// two jobs (customer, then an invoice that depends on it), then claim message sets and record
/// QuickBooks' answers until everything is completed — the same store calls the pipeline
/// makes per Web Connector round trip. A count, so it is exact on any machine.
pub(crate) fn queue_transactions(work: &Path, records: usize) -> anyhow::Result<Vec<Row>> {
    use crate::store::queue::{
        AnswerTo, Answered, Answering, BatchLimits, Claim, JobResult, NewJob,
    };
    let store = Store::open(&work.join("queue"), StoreOptions::default())?;
    let job = |key: String, deps: Vec<String>| NewJob {
        request_type: "CustomerAdd".into(),
        qbxml: format!(
            "<CustomerAddRq><CustomerAdd><Name>{key}</Name></CustomerAdd></CustomerAddRq>"
        ),
        probe: None,
        adopt_existing: false,
        notes: vec![],
        key,
        depends_on: deps,
        versioning: Default::default(),
    };
    let before = store.write_transactions();
    let started = Instant::now();
    for i in 0..records {
        let jobs = [
            job(format!("customer:{i}"), vec![]),
            job(format!("invoice:{i}"), vec![format!("customer:{i}")]),
        ];
        store.enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 1,
            plugin: "bench",
            kind: "invoice",
            source_id: None,
            payload: "{}",
            jobs: &jobs,
        })?;
    }
    let enqueued = store.write_transactions() - before;
    let limits = BatchLimits {
        max_requests: 50,
        max_bytes: 1 << 20,
    };
    let mut round_trips = 0;
    while let Some(claim) = store.claim(1, 1, limits)? {
        let Claim::Send {
            message_set_id,
            jobs,
        } = claim
        else {
            bail!("unexpected recovery claim in a fresh queue")
        };
        round_trips += 1;
        let results: Vec<_> = jobs
            .iter()
            .map(|j| {
                let done = JobResult::Completed {
                    object_id: Some(format!("{}-1", j.job_id)),
                    edit_sequence: Some("1".into()),
                    follow_ups: vec![],
                    acknowledge: false,
                    retry_on_response: false,
                };
                Answered {
                    request_id: j.request_id.clone(),
                    job_id: j.job_id,
                    result: done,
                    response: None,
                }
            })
            .collect();
        let to = AnswerTo {
            connection_id: 1,
            session_id: 1,
            set: Answering::Sent(message_set_id.as_deref()),
        };
        store.record_results(&to, &results)?;
    }
    let elapsed = started.elapsed();
    let jobs = (records * 2) as f64;
    let total = (store.write_transactions() - before) as f64;
    Ok(vec![
        row(
            "queue",
            format!("write transactions per job ({records} records × 2 jobs, sets of 50)"),
            format!("{:.3}", total / jobs),
        ),
        row(
            "queue",
            "  of which enqueue (one per record)",
            format!("{:.3}", enqueued as f64 / jobs),
        ),
        row(
            "queue",
            "message sets (Web Connector round trips) per 1,000 jobs",
            format!("{:.0}", round_trips as f64 * 1000.0 / jobs),
        ),
        row(
            "queue",
            "jobs/s enqueue→complete, store only (fsync-bound)",
            format!("{:.0}", jobs / elapsed.as_secs_f64()),
        ),
    ])
}
