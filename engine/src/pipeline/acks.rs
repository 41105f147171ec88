//! The acknowledger: tells source systems which pulled records QuickBooks now holds.
//!
//! Rows come from `store::acks` (written when a pulled record's request completed). Each due
//! one is handed to its plugin's `acknowledge` (which calls the source through the host's
//! HTTP); success marks it done, failure schedules another attempt with back-off, so a source
//! that is down for hours catches up on its own. It runs on the scheduler's interval, next to
//! pulls, and never holds up QuickBooks sessions.

use std::sync::Arc;
use std::time::Duration;

use crate::plugins::PluginManager;
use crate::store::audit::now_ms;
use crate::store::{Store, StoreError};

/// Acknowledgements attempted per round (the rest wait for the next tick).
const BATCH: usize = 100;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Accepted by the source.
    pub done: usize,
    /// Failed; tried again later.
    pub retrying: usize,
    /// Failed for the last time.
    pub given_up: usize,
}

/// Attempts every due acknowledgement once. `base` is the first back-off after a failure.
pub fn run_due(
    store: &Store,
    plugins: &PluginManager,
    base: Duration,
) -> Result<Round, StoreError> {
    let mut round = Round::default();
    for ack in store.due_acks(now_ms(), BATCH)? {
        let outcome = plugins
            .acknowledge(
                &ack.plugin,
                &ack.kind,
                &ack.record_json,
                &ack.key,
                &ack.response_xml,
            )
            .map_err(|e| e.to_string())
            .and_then(|verdict| verdict);
        match outcome {
            Ok(()) => {
                store.ack_done(ack.job_id)?;
                round.done += 1;
            }
            Err(reason) => {
                let given_up =
                    store.ack_attempt_failed(ack.job_id, &reason, base.as_millis() as i64)?;
                if given_up {
                    round.given_up += 1;
                    tracing::error!(job = ack.job_id, plugin = %ack.plugin, key = %ack.key, attempts = ack.attempts + 1, %reason,
                        "gave up telling the source system that this record is in QuickBooks; fix the cause, then `qbridge jobs retry-acks`");
                } else {
                    round.retrying += 1;
                    tracing::warn!(job = ack.job_id, plugin = %ack.plugin, key = %ack.key, %reason,
                        "could not acknowledge to the source system yet; will retry");
                }
            }
        }
    }
    Ok(round)
}

/// Runs [`run_due`] every `every` until the process stops.
pub async fn run_acknowledger(store: Store, plugins: Arc<PluginManager>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (store, plugins) = (store.clone(), plugins.clone());
        match tokio::task::spawn_blocking(move || run_due(&store, &plugins, every)).await {
            Ok(Ok(round)) if round != Round::default() => {
                tracing::info!(
                    done = round.done,
                    retrying = round.retrying,
                    given_up = round.given_up,
                    "source acknowledgements sent"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "acknowledger could not read the queue"),
            Err(e) => tracing::error!(error = %e, "acknowledger task failed"),
        }
    }
}
