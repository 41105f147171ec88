//! The deferred-call loop: the plugin calls still owed after QuickBooks accepted a write
//! (`store::plugin_calls`), made until they succeed.
//!
//! - `acknowledge`: tells the source system which pulled records QuickBooks now holds (the
//!   plugin calls the source through the host's HTTP).
//! - `on_response`: produces follow-ups the plugin failed to produce at first; they join the
//!   queue in the same transaction that marks the call done.
//!
//! Success marks the call done; failure schedules another attempt with back-off, so a source
//! that is down for hours — or a plugin that needs a fix — catches up on its own. It runs on
//! the scheduler's interval, next to pulls, and never holds up QuickBooks sessions.

use std::sync::Arc;
use std::time::Duration;

use super::ingest::to_new_job;
use crate::plugins::PluginManager;
use crate::store::audit::now_ms;
use crate::store::plugin_calls::{CallKind, DueCall};
use crate::store::{Store, StoreError};

/// Calls attempted per round (the rest wait for the next tick).
const BATCH: usize = 100;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Succeeded.
    pub done: usize,
    /// Failed; tried again later.
    pub retrying: usize,
    /// Failed for the last time.
    pub given_up: usize,
}

/// Makes one due call; the error is the plugin's (or the source's) reason.
fn make(store: &Store, plugins: &PluginManager, due: &DueCall) -> Result<(), CallError> {
    match due.call {
        CallKind::Acknowledge => {
            plugins
                .acknowledge(
                    &due.plugin,
                    Some(due.connection_id),
                    &due.kind,
                    &due.record_json,
                    &due.key,
                    &due.response_xml,
                )
                .map_err(|e| e.to_string())??;
            Ok(store.call_done(due.job_id, due.call, &[])?)
        }
        CallKind::OnResponse => {
            let requests = plugins
                .on_response(
                    &due.plugin,
                    Some(due.connection_id),
                    &due.key,
                    &due.response_xml,
                )
                .map_err(|e| e.to_string())?;
            let manifest = plugins
                .manifest(&due.plugin)
                .ok_or_else(|| format!("plugin {} is no longer installed", due.plugin))?;
            let jobs: Vec<_> = requests.iter().map(|r| to_new_job(r, &manifest)).collect();
            Ok(store.call_done(due.job_id, due.call, &jobs)?)
        }
    }
}

/// Why a call did not go through: the plugin's side (retried) or the store (stops the round).
enum CallError {
    Plugin(String),
    Store(StoreError),
}

impl From<String> for CallError {
    fn from(reason: String) -> Self {
        CallError::Plugin(reason)
    }
}

impl From<StoreError> for CallError {
    fn from(e: StoreError) -> Self {
        CallError::Store(e)
    }
}

/// Attempts every due call once. `base` is the first back-off after a failure.
pub fn run_due(
    store: &Store,
    plugins: &PluginManager,
    base: Duration,
) -> Result<Round, StoreError> {
    let mut round = Round::default();
    for due in store.claim_due_calls(now_ms(), BATCH)? {
        let reason = match make(store, plugins, &due) {
            Ok(()) => {
                round.done += 1;
                continue;
            }
            Err(CallError::Store(e)) => return Err(e),
            Err(CallError::Plugin(reason)) => reason,
        };
        let given_up = store.call_failed(due.job_id, due.call, &reason, base.as_millis() as i64)?;
        let what = match due.call {
            CallKind::Acknowledge => "telling the source system that this record is in QuickBooks",
            CallKind::OnResponse => "getting the plugin's follow-up requests for this job",
        };
        if given_up {
            round.given_up += 1;
            tracing::error!(job = due.job_id, plugin = %due.plugin, key = %due.key, attempts = due.attempts + 1, %reason,
                "gave up {what}; fix the cause, then `qbridge jobs retry-deferred`");
        } else {
            round.retrying += 1;
            tracing::warn!(job = due.job_id, plugin = %due.plugin, key = %due.key, %reason, "{what} failed; will retry");
        }
    }
    Ok(round)
}

/// Runs [`run_due`] every `every` until the process stops.
pub async fn run_deferred_calls(store: Store, plugins: Arc<PluginManager>, every: Duration) {
    super::run_every(every, "deferred plugin calls", move || {
        let round = run_due(&store, &plugins, every)?;
        if round != Round::default() {
            tracing::info!(
                done = round.done,
                retrying = round.retrying,
                given_up = round.given_up,
                "deferred plugin calls made"
            );
        }
        Ok(())
    })
    .await
}
