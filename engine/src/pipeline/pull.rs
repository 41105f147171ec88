//! Scheduled pulls: every due schedule asks its plugin for pages of source records (through
//! the host-mediated HTTP the plugin was granted) and ingests them.
//!
//! Each page's records are committed — queued, or kept as refused (`pipeline::rejected`) —
//! before the cursor advances, so a crash repeats at most one page, the queue's unique keys
//! turn the repeat into a no-op, and no pulled record is skipped unseen.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ingest::ingest;
use super::rejected;
use crate::plugins::PluginManager;
use crate::schedule::Schedule;
use crate::store::Store;
use crate::store::audit::now_ms;
use crate::store::queue::Origin;
use crate::store::schedules::ScheduleRow;

/// Most pages one run may fetch: a runaway cursor must not pull forever.
const MAX_PAGES_PER_RUN: usize = 1_000;

/// The next fire instant of a stored schedule after `now` (unix ms), or `None` when the
/// expression no longer parses or never fires again.
pub fn next_fire(row: &ScheduleRow, now: i64) -> Option<i64> {
    let schedule = Schedule::parse(&row.cron, &row.timezone).ok()?;
    let after = DateTime::<Utc>::from_timestamp_millis(now)?;
    schedule.next_after(after).map(|t| t.timestamp_millis())
}

/// Runs one schedule to the end of its source's pages; returns a one-line summary.
pub fn run_once(store: &Store, plugins: &PluginManager, row: &ScheduleRow) -> String {
    let mut cursor = row.cursor.clone();
    let (mut records, mut rejected, mut pages) = (0usize, 0usize, 0usize);
    // Refusals kept earlier for this connection and plugin are resolved when their record
    // comes back mappable (the source fixed it); without any, no per-record check.
    let open_refusals =
        match store.rejected_records(Some(row.connection_id), Some(&row.plugin), false, 1) {
            Ok(open) => !open.is_empty(),
            Err(e) => return format!("pull not started: {e}"),
        };
    while pages < MAX_PAGES_PER_RUN {
        let page = match plugins.pull(&row.plugin, Some(row.connection_id), cursor.as_deref()) {
            Ok(Ok(page)) => page,
            Ok(Err(reason)) => return format!("pull failed after {records} records: {reason}"),
            Err(e) => return format!("plugin failed after {records} records: {e}"),
        };
        pages += 1;
        for (kind, record_json) in &page.records {
            match ingest(
                Origin::Pull,
                store,
                plugins,
                row.connection_id,
                &row.plugin,
                kind,
                record_json,
            ) {
                Ok(ingested) => {
                    records += 1;
                    if open_refusals
                        && let Err(e) = rejected::mapped(
                            store,
                            row.connection_id,
                            &row.plugin,
                            kind,
                            record_json,
                            ingested.record_id,
                        )
                    {
                        return format!("stopped after {records} records: {e}");
                    }
                }
                Err(e) if rejected::is_refusal(&e) => {
                    rejected += 1;
                    tracing::warn!(plugin = %row.plugin, kind = %kind, error = %e, "pulled record refused; kept with the reason");
                    // Kept before the cursor moves past it, or the run stops here.
                    if let Err(kept) = rejected::keep(
                        store,
                        plugins,
                        row.connection_id,
                        &row.plugin,
                        kind,
                        record_json,
                        &rejected::reason_of(&e),
                    ) {
                        return format!(
                            "stopped after {records} records: a refused record could not be kept: {kept}"
                        );
                    }
                }
                Err(e) => return format!("stopped after {records} records: {e}"),
            }
        }
        // `None` means the source is exhausted and the next run starts from the beginning (a
        // sweep, like Ramp's ready lists); a plugin that resumes from a high-water mark
        // returns it even on its last page, and the run ends when the cursor stops moving.
        if let Err(e) = store.save_pull_cursor(row.id, page.next_cursor.as_deref()) {
            return format!("stopped after {records} records: {e}");
        }
        match page.next_cursor {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => break,
        }
    }
    format!("{records} records queued, {rejected} rejected, {pages} page(s)")
}

/// Checks for due schedules every `every` until the process stops.
pub async fn run_scheduler(store: Store, plugins: Arc<PluginManager>, every: Duration) {
    super::run_every(every, "scheduler", move || {
        // A new plugin version may map what the last one refused.
        if let Err(e) = rejected::retry_after_upgrades(&store, &plugins) {
            tracing::error!(error = %e, "trying refused pulled records again failed");
        }
        for row in store.claim_due_schedules(now_ms(), next_fire)? {
            let summary = run_once(&store, &plugins, &row);
            tracing::info!(schedule = row.id, plugin = %row.plugin, %summary, "scheduled pull finished");
            store.finish_schedule_run(row.id, &summary)?;
        }
        Ok(())
    })
    .await
}
