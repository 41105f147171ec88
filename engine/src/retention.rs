//! Retention: the pruning loop `serve` runs (`Engine::run`) and `qbridge prune`.
//!
//! What is pruned and what stays is the store's business (`store::retention`); this module
//! decides when: every [`EVERY`] in the server, for jobs completed more than
//! `retention.completed_days` ago (0 turns the loop off), compacting the file once
//! [`COMPACT_AFTER_JOBS`] have been pruned since the last time; or once from the command line
//! with any age (`--compact` to compact too). The command line works beside a running server — it takes no instance lock and
//! writes through its own connection, waiting on SQLite's busy timeout
//! (`database.busy_timeout_ms`) for the server's short transactions.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::store::Store;
use crate::store::audit::now_ms;
use crate::store::retention::{PruneReport, prune_beside};

/// How often the server looks for jobs past the retention age.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Jobs pruned by the loop between two compactions. Pruning shrinks rows inside pages shared
/// with others, which only a full `VACUUM` gives back (`store::retention`); it stalls the
/// server's writes while it copies the file (0.1–0.25 s for 44 MB in `qbridge bench`), so it runs
/// once this much has been pruned rather than every hour.
const COMPACT_AFTER_JOBS: u64 = 10_000;

const DAY_MS: i64 = 86_400_000;

/// `qbridge prune` arguments.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Prune jobs completed longer ago than this (`0`, `90m`, `12h`, `30d`); default:
    /// `retention.completed_days`.
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Also rewrite the database file (SQLite `VACUUM`) to give back the space freed inside
    /// pages. The server's writes wait while it runs (about as long as copying the file):
    /// use it at a quiet time.
    #[arg(long)]
    pub compact: bool,
}

/// The server's loop: prunes at start and then every [`EVERY`] (each run is counted in the
/// store, where `/metrics` reads it). Never returns; aborted when the server stops.
pub async fn run(store: Store, days: u64) {
    if days == 0 {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    let mut since_compaction = 0;
    loop {
        tick.tick().await;
        let cutoff = now_ms() - days as i64 * DAY_MS;
        let s = store.clone();
        let compact = since_compaction >= COMPACT_AFTER_JOBS;
        match tokio::task::spawn_blocking(move || s.prune_completed(cutoff, "system", compact))
            .await
        {
            Ok(Ok(report)) => {
                since_compaction = if compact {
                    0
                } else {
                    since_compaction + report.jobs
                };
                if report.jobs > 0 || compact {
                    tracing::info!(
                        jobs = report.jobs,
                        records = report.records,
                        bytes_before = report.bytes_before,
                        bytes_after = report.bytes_after,
                        compacted = compact,
                        "pruned completed jobs past retention.completed_days"
                    );
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pruning failed; it is tried again in an hour")
            }
            Err(e) => tracing::warn!(error = %e, "pruning task failed"),
        }
    }
}

/// `qbridge prune`: one run, beside the server or without it. Prints what was done.
pub fn cli(config: &Config, args: &PruneArgs) -> anyhow::Result<()> {
    let age_ms = match &args.older_than {
        Some(text) => older_than(text)?,
        None if config.retention_completed_days == 0 => bail!(
            "retention.completed_days is 0 (keep forever); say how old a completed job must be with --older-than, e.g. --older-than 90d"
        ),
        None => config.retention_completed_days as i64 * DAY_MS,
    };
    let opts = crate::store::StoreOptions {
        busy_timeout: config.db_busy_timeout,
        readers: 0,
        postgres: config.database_url.clone(),
        password_key_file: config.password_key_file.clone(),
    };
    let report = prune_beside(
        &config.data_dir,
        &opts,
        now_ms() - age_ms,
        "cli:prune",
        args.compact,
    )
    .context("pruning failed")?;
    print_report(&report);
    Ok(())
}

fn print_report(r: &PruneReport) {
    println!(
        "pruned {} completed job(s) and {} record(s)",
        r.jobs, r.records
    );
    println!(
        "database: {} bytes before, {} bytes after",
        r.bytes_before, r.bytes_after
    );
}

/// A duration in milliseconds: `0` (everything completed until now) or what
/// `parse_duration` accepts.
fn older_than(text: &str) -> anyhow::Result<i64> {
    let digits = text.trim().trim_end_matches(['m', 'h', 'd']);
    if !digits.is_empty() && digits.bytes().all(|b| b == b'0') {
        return Ok(0);
    }
    crate::admin::cli::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_than_accepts_zero_and_the_token_durations() {
        assert_eq!(older_than("0").unwrap(), 0);
        assert_eq!(older_than("0d").unwrap(), 0);
        assert_eq!(older_than("12h").unwrap(), 12 * 3_600_000);
        assert!(older_than("-1d").is_err());
        assert!(older_than("d").is_err());
    }
}
