//! The node loop every engine runs: its heartbeat every [`HEARTBEAT_MS`], and the rescue of
//! the work of nodes that stopped heartbeating (their sent jobs become in doubt, to be
//! verified with QuickBooks before anything is sent again). On one SQLite engine the rescue
//! finds nothing after the one at start; in a cluster it is how a killed node's work is taken
//! over within [`NODE_TTL_MS`], not after a long timeout. What "dead" means is
//! `store::nodes`' business. Beside it, [`follow_plugins`] brings plugin changes made on
//! other nodes to this one.

use std::sync::Arc;
use std::time::Duration;

use crate::plugins::PluginManager;
use crate::store::Store;
use crate::store::nodes::{HEARTBEAT_MS, NODE_TTL_MS};

/// Heartbeats and rescues until aborted.
pub async fn run(store: Store) {
    let mut tick = tokio::time::interval(Duration::from_millis(HEARTBEAT_MS as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Rescue about twice per TTL: a dead node's work waits at most ~1.5 TTL.
    let rescue_every = (NODE_TTL_MS / HEARTBEAT_MS / 2).max(1) as u64;
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        let s = store.clone();
        let rescue = n.is_multiple_of(rescue_every);
        let done =
            tokio::task::spawn_blocking(move || -> Result<usize, crate::store::StoreError> {
                s.heartbeat()?;
                if rescue { s.rescue_orphans() } else { Ok(0) }
            })
            .await;
        match done {
            Ok(Ok(0)) => {}
            Ok(Ok(jobs)) => tracing::warn!(
                jobs,
                "a node stopped without answering for requests it had sent; they will be verified with QuickBooks before anything is re-sent"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "node heartbeat failed; retrying"),
            Err(e) => tracing::warn!(error = %e, "node heartbeat task failed"),
        }
    }
}

/// Polls the plugin registry every [`HEARTBEAT_MS`] and runs what other nodes installed,
/// approved, swapped or removed ([`PluginManager::sync_with_store`]). A poll rather than
/// LISTEN/NOTIFY: it works the same on both backends, costs one small read, and a node that
/// missed a notification while its connection was down still catches up.
pub async fn follow_plugins(plugins: Arc<PluginManager>) {
    let mut tick = tokio::time::interval(Duration::from_millis(HEARTBEAT_MS as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let p = plugins.clone();
        match tokio::task::spawn_blocking(move || p.sync_with_store()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the plugin registry; retrying"),
            Err(e) => tracing::warn!(error = %e, "plugin registry poll failed"),
        }
    }
}
