//! The server's anchoring of the audit log: every few minutes while it runs, and once more at
//! shutdown, the newest audit row is signed (`store::audit_anchor`), so `qbridge audit verify`
//! detects rows removed from the end of the log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::store::Store;

/// How often the head is anchored: rows newer than the last anchor are the ones a cut could
/// remove unnoticed, so this bounds that window.
pub const ANCHOR_EVERY: Duration = Duration::from_secs(300);

/// Anchors the head now; a failure is logged (with the fix), never fatal: the log itself is
/// unaffected, only its end is not vouched for until the next anchor succeeds.
pub fn anchor_once(store: &Store, key_path: &Path) {
    if let Err(e) = store.anchor_audit_with(key_path) {
        tracing::error!(error = %e, "cannot anchor the audit log");
    }
}

/// Anchors every [`ANCHOR_EVERY`] until aborted (the first tick at once, so a restart is
/// anchored too).
pub async fn run(store: Store, key_path: PathBuf) {
    let mut tick = tokio::time::interval(ANCHOR_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (store, key_path) = (store.clone(), key_path.clone());
        // SQLite and the key file are blocking work.
        let _ = tokio::task::spawn_blocking(move || anchor_once(&store, &key_path)).await;
    }
}
