//! Pulled records the plugin refused. A pull keeps each one (`store::rejected`) before its
//! cursor moves past it, so nothing pulled is lost silently; `qbridge status`,
//! `qbridge jobs rejected`, the API and the UI list them. They are tried again when another
//! version of the plugin runs (checked on every scheduler tick: an upgrade that fixes the
//! mapping queues them without anyone asking), when the source sends the record again, and on
//! demand (`qbridge jobs retry-rejected`, `POST /api/v1/rejected/{id}/retry`).

use super::ingest::{IngestError, ingest, source_id_of};
use crate::plugins::PluginManager;
use crate::store::queue::Origin;
use crate::store::rejected::{Rejection, fingerprint};
use crate::store::{Store, StoreError};

/// Most refused records one scheduler tick tries again per plugin (the rest on later ticks).
const RETRY_BATCH: u32 = 200;

/// The reason to keep for a refusal: the plugin's words, without the engine's preamble.
pub fn reason_of(e: &IngestError) -> String {
    match e {
        IngestError::Rejected { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Whether an ingest error is the record's fault (kept and listed) rather than the engine's
/// or the plugin's (which stop the pull, so the cursor stays before the record).
pub fn is_refusal(e: &IngestError) -> bool {
    matches!(
        e,
        IngestError::Rejected { .. } | IngestError::BadJson(_) | IngestError::TooLarge(_)
    )
}

/// Keeps a refused pulled record; returns its row id.
pub fn keep(
    store: &Store,
    plugins: &PluginManager,
    connection_id: i64,
    plugin: &str,
    kind: &str,
    payload: &str,
    reason: &str,
) -> Result<i64, StoreError> {
    let version = plugins
        .manifest(plugin)
        .map_or_else(|| "unknown".to_string(), |m| m.version);
    let source_id = source_id_of(payload);
    let fp = fingerprint(kind, source_id.as_deref(), payload);
    store.keep_rejected(&Rejection {
        connection_id,
        plugin,
        plugin_version: &version,
        kind,
        source_id: source_id.as_deref(),
        fingerprint: &fp,
        payload,
        reason,
    })
}

/// A pulled record mapped: a refusal kept for it earlier is resolved. Cheap when none is
/// open (one indexed update).
pub fn mapped(
    store: &Store,
    connection_id: i64,
    plugin: &str,
    kind: &str,
    payload: &str,
    record_id: i64,
) -> Result<(), StoreError> {
    let fp = fingerprint(kind, source_id_of(payload).as_deref(), payload);
    store.resolve_rejected(connection_id, plugin, &fp, Some(record_id))?;
    Ok(())
}

/// What trying a refused record again did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// It mapped: queued as this record.
    Queued(i64),
    /// The plugin refuses it still, for this reason.
    StillRefused(String),
    /// It was too large to keep, so it cannot be tried again here: the source must send it.
    NotKept,
    /// It was resolved already.
    AlreadyResolved,
}

/// Tries kept refusal `id` again with the running plugin version.
pub fn retry(store: &Store, plugins: &PluginManager, id: i64) -> Result<Retried, IngestError> {
    let (row, payload) = store.rejected_record(id)?;
    if row.resolved_at.is_some() {
        return Ok(Retried::AlreadyResolved);
    }
    let Some(payload) = payload else {
        return Ok(Retried::NotKept);
    };
    match ingest(
        Origin::Pull,
        store,
        plugins,
        row.connection_id,
        &row.plugin,
        &row.kind,
        &payload,
    ) {
        Ok(ingested) => {
            let fp = fingerprint(&row.kind, row.source_id.as_deref(), &payload);
            store.resolve_rejected(
                row.connection_id,
                &row.plugin,
                &fp,
                Some(ingested.record_id),
            )?;
            Ok(Retried::Queued(ingested.record_id))
        }
        Err(e) if is_refusal(&e) => {
            let reason = reason_of(&e);
            keep(
                store,
                plugins,
                row.connection_id,
                &row.plugin,
                &row.kind,
                &payload,
                &reason,
            )?;
            Ok(Retried::StillRefused(reason))
        }
        Err(e) => Err(e),
    }
}

/// Tries again the refusals of every plugin whose running version is not the one that
/// refused them; returns how many were queued.
pub fn retry_after_upgrades(store: &Store, plugins: &PluginManager) -> Result<usize, IngestError> {
    let mut queued = 0;
    for plugin in store.plugins_with_rejected()? {
        let Some(manifest) = plugins.manifest(&plugin) else {
            continue;
        };
        for id in store.rejected_by_other_versions(&plugin, &manifest.version, RETRY_BATCH)? {
            match retry(store, plugins, id)? {
                Retried::Queued(record) => {
                    queued += 1;
                    tracing::info!(%plugin, version = %manifest.version, rejected = id, record, "a refused pulled record maps with the new plugin version");
                }
                Retried::StillRefused(reason) => {
                    tracing::info!(%plugin, version = %manifest.version, rejected = id, %reason, "a refused pulled record is still refused by the new plugin version");
                }
                Retried::NotKept | Retried::AlreadyResolved => {}
            }
        }
    }
    Ok(queued)
}
