//! `qbridge ingest FILE`: many records at once — a first sync of a firm's history is tens of
//! thousands of invoices. Records are read without building a JSON tree of the whole file,
//! mapped one by one, and stored a batch per transaction; progress goes to a terminal.

use std::io::{IsTerminal, Read, Write};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::value::RawValue;

use super::cli::{IngestArgs, connection_id};
use super::ingest::ingest_batch;
use crate::config::Config;
use crate::plugins::PluginManager;
use crate::store::Store;
use crate::store::queue::{Enqueued, Origin};

/// The records of an ingest file: one JSON value, an array of them, or one per line.
fn records(text: &str) -> serde_json::Result<Vec<&RawValue>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str(text);
    }
    serde_json::Deserializer::from_str(text)
        .into_iter::<&RawValue>()
        .collect()
}

/// Progress on standard error: a line redrawn in place on a terminal; elsewhere (a log, a
/// pipe) nothing until the summary, so scripts get no control characters.
struct Progress {
    total: usize,
    started: Instant,
    terminal: bool,
}

impl Progress {
    fn show(&self, done: usize, failed: usize) {
        if !self.terminal {
            return;
        }
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{done} / {} records ({}%), {failed} refused, {rate:.0} records/s ",
            self.total,
            done * 100 / self.total.max(1)
        );
        let _ = err.flush();
    }
}

/// Runs `qbridge ingest …`: maps and queues the records, a batch per transaction; refused
/// records are listed with their position and reason, and make the command fail at the end
/// (the others stay queued).
pub fn ingest_file(store: &Store, config: &Config, args: IngestArgs) -> anyhow::Result<()> {
    let text = if args.file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read standard input")?;
        s
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file))?
    };
    let records = records(&text).with_context(|| {
        format!(
            "{} is not JSON: give one record, an array of records, or one record per line",
            args.file
        )
    })?;
    let connection = connection_id(store, args.connection.as_deref())?;
    let plugins = PluginManager::open(store.clone(), config)?;
    let progress = Progress {
        total: records.len(),
        started: Instant::now(),
        terminal: std::io::stderr().is_terminal(),
    };
    let (mut queued, mut new_jobs, mut refused) = (0usize, 0usize, Vec::new());
    for (n, batch) in records.chunks(args.batch as usize).enumerate() {
        let texts: Vec<&str> = batch.iter().map(|r| r.get()).collect();
        let results = ingest_batch(
            Origin::Push,
            store,
            &plugins,
            connection,
            &args.plugin,
            &args.kind,
            &texts,
        )
        .with_context(|| {
            format!(
                "records {} to {} could not be stored; the {queued} before them are queued",
                n * args.batch as usize,
                n * args.batch as usize + batch.len() - 1
            )
        })?;
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(r) => {
                    queued += 1;
                    new_jobs += r
                        .jobs
                        .iter()
                        .filter(|(_, e)| matches!(e, Enqueued::Created(_)))
                        .count();
                }
                Err(e) => refused.push((n * args.batch as usize + i, e)),
            }
        }
        progress.show(queued + refused.len(), refused.len());
    }
    if progress.terminal {
        eprintln!();
    }
    for (i, e) in &refused {
        eprintln!("record {i}: {e}");
    }
    println!(
        "{queued} of {} record(s) queued ({new_jobs} new job(s)) in {:.1} s",
        records.len(),
        progress.started.elapsed().as_secs_f64()
    );
    if !refused.is_empty() {
        bail!(
            "{} of {} record(s) were not queued (see above); {queued} were",
            refused.len(),
            records.len()
        );
    }
    Ok(())
}
