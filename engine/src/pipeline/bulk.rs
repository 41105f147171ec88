//! `qbridge ingest FILE`: many records at once — a first sync of a firm's history is tens of
//! thousands of invoices. Records are read without building a JSON tree of the whole file,
//! mapped one by one, and stored a batch per transaction; progress goes to a terminal.
//!
//! With no server running the command maps and stores the records itself; while a server
//! runs it sends them to `POST /api/v1/ingest/{plugin}/batch` through the local admin
//! credential (the server's plugins map them, its store keeps them), and says which.

use std::io::{IsTerminal, Read, Write};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::value::RawValue;

use super::cli::{IngestArgs, connection_id};
use super::http::{MAX_BATCH_BYTES, MAX_BATCH_RECORDS};
use super::ingest::ingest_batch;
use crate::admin::local::{LocalAdmin, LocalAdminError, segment};
use crate::cli::Way;
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

/// Runs `qbridge ingest …` the way `way` says, then says which way it went.
pub fn ingest(way: Way, config: &Config, args: IngestArgs) -> anyhow::Result<()> {
    match &way {
        Way::Direct(store) => ingest_file(store, config, args)?,
        Way::Api(api) => ingest_through(api, args)?,
    }
    eprintln!("{}", way.note());
    Ok(())
}

/// The text of the ingest file (or standard input).
fn read_input(args: &IngestArgs) -> anyhow::Result<String> {
    if args.file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read standard input")?;
        Ok(s)
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file))
    }
}

/// One record's JSON text on one line: whitespace outside strings is dropped (it means
/// nothing in JSON), everything else — numbers' digits included — is kept as written.
fn one_line(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
            in_string = c == '"';
        }
    }
    out
}

/// How many times a batch is offered again while every plugin call of the server is taken.
const BUSY_RETRIES: u32 = 120;

/// `qbridge ingest` beside a running server: the records go to its batch route as NDJSON,
/// as many per request as the route takes.
fn ingest_through(api: &LocalAdmin, args: IngestArgs) -> anyhow::Result<()> {
    let text = read_input(&args)?;
    let records = records(&text).with_context(|| {
        format!(
            "{} is not JSON: give one record, an array of records, or one record per line",
            args.file
        )
    })?;
    let mut path = format!(
        "/api/v1/ingest/{}/batch?kind={}",
        segment(&args.plugin),
        segment(&args.kind)
    );
    if let Some(c) = &args.connection {
        path.push_str(&format!("&connection={}", segment(c)));
    }
    let started = Instant::now();
    let (mut queued, mut new_jobs, mut refused) = (0usize, 0usize, Vec::new());
    let mut first = 0;
    while first < records.len() {
        // A request: up to the route's record and byte limits.
        let (mut body, mut end) = (String::new(), first);
        while end < records.len() && end - first < MAX_BATCH_RECORDS {
            let line = one_line(records[end].get());
            if end > first && body.len() + line.len() + 1 > MAX_BATCH_BYTES {
                break;
            }
            body.push_str(&line);
            body.push('\n');
            end += 1;
        }
        let mut tries = 0;
        let answer = loop {
            match api.post_accepting(&path, "application/x-ndjson", body.as_bytes(), &[422]) {
                Err(LocalAdminError::Refused { status: 503, .. }) if tries < BUSY_RETRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                other => break other,
            }
        }
        .with_context(|| {
            format!(
                "records {first} to {} were not queued; the {queued} before them are",
                end - 1
            )
        })?
        .1;
        for r in answer["results"].as_array().into_iter().flatten() {
            let index = first + r["line"].as_u64().unwrap_or(1).saturating_sub(1) as usize;
            match r.get("error").and_then(|e| e.as_str()) {
                Some(e) => refused.push((index, e.to_string())),
                None => {
                    queued += 1;
                    new_jobs += r["jobs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|j| j[1].get("created").is_some())
                        .count();
                }
            }
        }
        first = end;
    }
    summarise(records.len(), queued, new_jobs, &refused, started)
}

/// The closing lines of an ingest: each refusal, the counts, and failure when any was refused.
fn summarise(
    total: usize,
    queued: usize,
    new_jobs: usize,
    refused: &[(usize, impl std::fmt::Display)],
    started: Instant,
) -> anyhow::Result<()> {
    for (i, e) in refused {
        eprintln!("record {i}: {e}");
    }
    println!(
        "{queued} of {total} record(s) queued ({new_jobs} new job(s)) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !refused.is_empty() {
        bail!(
            "{} of {total} record(s) were not queued (see above); {queued} were",
            refused.len()
        );
    }
    Ok(())
}

/// Runs `qbridge ingest …` as the engine: maps and queues the records, a batch per
/// transaction; refused records are listed with their position and reason, and make the
/// command fail at the end (the others stay queued).
fn ingest_file(store: &Store, config: &Config, args: IngestArgs) -> anyhow::Result<()> {
    let text = read_input(&args)?;
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
    summarise(records.len(), queued, new_jobs, &refused, progress.started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_drops_whitespace_outside_strings_only() {
        let pretty = "{\n  \"name\": \"A  \\\"b\\\"\\n c\",\n  \"amount\": 10.10\n}";
        assert_eq!(
            one_line(pretty),
            r#"{"name":"A  \"b\"\n c","amount":10.10}"#
        );
    }
}
