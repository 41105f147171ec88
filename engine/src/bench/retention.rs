//! Retention: database bytes per completed job before and after pruning, and what a
//! `/metrics` scrape costs with many connections.
//!
//! A firm's history is seeded the way the scale curve seeds it (`qbridge ingest`, then every
//! job completed through the store's claims and results) with a QuickBooks answer of a
//! realistic size stored for every job, then pruned with an age of zero. The scrape is timed
//! with 60 connections before the history is seeded and after: it reads counters, so the
//! history's size should not show in it.

use std::path::Path;
use std::time::Instant;

use super::scale::{Build, complete_everything, seed};
use super::soap::cli_of;
use super::{Row, row};
use crate::store::audit::now_ms;
use crate::store::{Store, StoreOptions};

/// A customer's answer as QuickBooks returns it (about 700 bytes, the size of a real
/// `CustomerRet` with an address and balances).
const RESPONSE: &str = r#"<CustomerAddRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK"><CustomerRet><ListID>80000001-1700000000</ListID><TimeCreated>2026-01-05T10:00:00-05:00</TimeCreated><TimeModified>2026-01-05T10:00:00-05:00</TimeModified><EditSequence>1700000000</EditSequence><Name>Customer 0000001</Name><FullName>Customer 0000001</FullName><IsActive>true</IsActive><Sublevel>0</Sublevel><CompanyName>Customer 0000001 LLC</CompanyName><BillAddress><Addr1>Customer 0000001 LLC</Addr1><Addr2>100 Main Street</Addr2><City>Springfield</City><State>IL</State><PostalCode>62701</PostalCode></BillAddress><Email>c1@example.com</Email><Balance>0.00</Balance><TotalBalance>0.00</TotalBalance><JobStatus>None</JobStatus><PreferredDeliveryMethod>None</PreferredDeliveryMethod></CustomerRet></CustomerAddRs>"#;

/// Scrapes timed per measurement.
const SCRAPES: u32 = 200;

/// Seeds `jobs` completed jobs, prunes them all and times `/metrics` at 60 connections.
pub(crate) fn retention(dir: &Path, jobs: usize) -> anyhow::Result<Vec<Row>> {
    let this = std::env::current_exe()?;
    let build = Build {
        label: "this build",
        exe: &this,
        batch_ingest: true,
    };
    // The same scrape over an empty queue, in a data dir of its own.
    let empty = Store::open(
        &dir.with_file_name("retention-empty"),
        StoreOptions::default(),
    )?;
    add_connections(&empty, 60)?;
    let empty_us = scrape_us(&empty)?;
    drop(empty);
    cli_of(&this, dir, &["connection", "add", "firm"])?;
    seed(dir, &build, 0..jobs / 2)?;
    complete_everything(dir, Some(RESPONSE))?;
    let store = Store::open(dir, StoreOptions::default())?;
    add_connections(&store, 59)?;
    let full_us = scrape_us(&store)?;
    let started = Instant::now();
    let report = store.prune_completed(now_ms() + 1, "bench", false)?;
    let prune_s = started.elapsed().as_secs_f64();
    // Everything is pruned already: this run only compacts.
    let started = Instant::now();
    let compacted = store.prune_completed(now_ms() + 1, "bench", true)?;
    let compact_s = started.elapsed().as_secs_f64();
    let per_job = |bytes: u64| format!("{:.0}", bytes as f64 / jobs as f64);
    Ok(vec![
        row("retention", "completed jobs", jobs.to_string()),
        row(
            "retention",
            "database bytes per completed job, before pruning",
            per_job(report.bytes_before),
        ),
        row(
            "retention",
            "database bytes per completed job, after pruning (incremental vacuum)",
            per_job(report.bytes_after),
        ),
        row(
            "retention",
            "database bytes per completed job, after `prune --compact` (VACUUM)",
            per_job(compacted.bytes_after),
        ),
        row(
            "retention",
            "jobs / records pruned",
            format!("{} / {}", report.jobs, report.records),
        ),
        row("retention", "prune run (s)", format!("{prune_s:.2}")),
        row("retention", "compaction (s)", format!("{compact_s:.2}")),
        row(
            "retention",
            "/metrics render, 60 connections: no jobs / these jobs (µs per scrape)",
            format!("{empty_us:.0} / {full_us:.0}"),
        ),
    ])
}

fn add_connections(store: &Store, n: usize) -> anyhow::Result<()> {
    for i in 1..=n {
        store.add_connection(
            &format!("firm {i:02}"),
            &format!("{{bench-{i}}}"),
            "",
            "bench",
        )?;
    }
    Ok(())
}

/// Mean time of one `/metrics` render over [`SCRAPES`], in µs.
fn scrape_us(store: &Store) -> anyhow::Result<f64> {
    let started = Instant::now();
    for _ in 0..SCRAPES {
        crate::admin::metrics_api::render(store)?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(SCRAPES))
}
