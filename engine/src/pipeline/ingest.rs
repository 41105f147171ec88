//! Ingest: a source record enters through its plugin's `map` and lands in the queue.
//!
//! The record and every request the plugin made of it are committed in one transaction
//! before the caller is answered, so a `202 Accepted` (or the CLI's "queued") means the
//! record can no longer be lost. A record the plugin rejects is not queued: a pushed one is
//! refused to its sender, a pulled one kept by `pipeline::rejected`.

use qbridge_sdk::{Action, Manifest, Request};

use crate::plugins::{PluginError, PluginManager};
use crate::store::queue::{Ingested, NewJob, NewRecord, Origin, Versioning};
use crate::store::{Store, StoreError};

/// Largest record accepted (JSON text). Source APIs return records of a few KiB; anything
/// near this is a mistake or an attack.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Why a record was not queued.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not one JSON value.
    #[error("the record is not valid JSON: {0}")]
    BadJson(String),
    /// Over [`MAX_RECORD_BYTES`].
    #[error("the record is {0} bytes; at most {MAX_RECORD_BYTES} are accepted")]
    TooLarge(usize),
    /// The plugin looked at the record and refused it (422).
    #[error("plugin {plugin} cannot map this {kind} record: {reason}")]
    Rejected {
        /// Plugin name.
        plugin: String,
        /// Record kind.
        kind: String,
        /// The plugin's reason, naming the field when it can.
        reason: String,
    },
    /// The plugin failed (trap, limit, invalid output) or does not exist.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The store failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The queue's view of a plugin request.
pub fn to_new_job(r: &Request, manifest: &Manifest) -> NewJob {
    let request_type = r.request_type().unwrap_or("unknown").to_string();
    // A later version becomes a Mod only for a plugin that declared one (interface 0.3.0 on);
    // a void or delete was checked against the manifest's removals already.
    let modifies = r.action != Action::Write
        || request_type.strip_suffix("Add").is_some_and(|object| {
            let wanted = format!("{object}Mod");
            manifest.request_types.contains(&wanted)
        });
    NewJob {
        key: r.key.clone(),
        depends_on: r.depends_on.clone(),
        request_type,
        qbxml: r.qbxml.clone(),
        probe: r.probe.clone(),
        adopt_existing: r.adopt_existing,
        notes: r.notes.clone(),
        versioning: Versioning {
            action: r.action,
            line_keys: r.line_keys.clone(),
            significant: r.significant.clone(),
            modifies,
        },
    }
}

/// The connection records are for: the one named, or the only one there is.
pub fn connection_for(
    store: &Store,
    name: Option<&str>,
    plugin: &str,
    kind: &str,
) -> Result<i64, IngestError> {
    if let Some(name) = name {
        return Ok(store.connection(name)?.id);
    }
    let all = store.connections()?;
    match all.as_slice() {
        [only] => Ok(only.id),
        _ => Err(IngestError::Rejected {
            plugin: plugin.to_string(),
            kind: kind.to_string(),
            reason: format!(
                "name the connection with ?connection= (there are {} connections)",
                all.len()
            ),
        }),
    }
}

/// A record the plugin mapped, not yet stored.
#[derive(Debug)]
pub struct Mapped {
    source_id: Option<String>,
    jobs: Vec<NewJob>,
}

/// The source's id of a record: its top-level `id` (or `Id`, `ID`).
fn source_id_in(value: &serde_json::Value) -> Option<String> {
    ["id", "Id", "ID"]
        .iter()
        .find_map(|k| value.get(*k))
        .map(|v| v.to_string().trim_matches('"').to_string())
}

/// [`source_id_in`] of a record's JSON text; `None` when it is not JSON.
pub fn source_id_of(record_json: &str) -> Option<String> {
    serde_json::from_str(record_json)
        .ok()
        .and_then(|v| source_id_in(&v))
}

/// Runs `plugin`'s `map` on one record (size and JSON checked first). Nothing is stored.
pub fn map_record(
    plugins: &PluginManager,
    connection_id: i64,
    plugin: &str,
    kind: &str,
    record_json: &str,
) -> Result<Mapped, IngestError> {
    if record_json.len() > MAX_RECORD_BYTES {
        return Err(IngestError::TooLarge(record_json.len()));
    }
    let value: serde_json::Value =
        serde_json::from_str(record_json).map_err(|e| IngestError::BadJson(e.to_string()))?;
    let manifest = plugins
        .manifest(plugin)
        .ok_or_else(|| PluginError::NotFound(format!("plugin {plugin} is not installed")))?;
    let requests = plugins
        .map(plugin, Some(connection_id), kind, record_json)?
        .map_err(|e| IngestError::Rejected {
            plugin: plugin.to_string(),
            kind: kind.to_string(),
            reason: e.to_string(),
        })?;
    let source_id = source_id_in(&value);
    Ok(Mapped {
        source_id,
        jobs: requests.iter().map(|r| to_new_job(r, &manifest)).collect(),
    })
}

/// Maps `record_json` with `plugin` and queues the result for `connection_id`; `origin` says
/// whether it was pushed to qbridge or pulled (pulled records are acknowledged to the source).
pub fn ingest(
    origin: Origin,
    store: &Store,
    plugins: &PluginManager,
    connection_id: i64,
    plugin: &str,
    kind: &str,
    record_json: &str,
) -> Result<Ingested, IngestError> {
    let mapped = map_record(plugins, connection_id, plugin, kind, record_json)?;
    Ok(store.enqueue_record(&NewRecord {
        origin,
        connection_id,
        plugin,
        kind,
        source_id: mapped.source_id.as_deref(),
        payload: record_json,
        jobs: &mapped.jobs,
    })?)
}

/// [`ingest`] for many records of one kind: each is mapped on its own (a refused record does
/// not stop the others), then every accepted one is stored in ONE transaction. The outer
/// error means the store failed and nothing of the batch was stored; otherwise one result
/// per record, in order.
pub fn ingest_batch(
    origin: Origin,
    store: &Store,
    plugins: &PluginManager,
    connection_id: i64,
    plugin: &str,
    kind: &str,
    records: &[&str],
) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
    let mapped: Vec<Result<Mapped, IngestError>> = records
        .iter()
        .map(|r| map_record(plugins, connection_id, plugin, kind, r))
        .collect();
    let accepted: Vec<NewRecord<'_>> = mapped
        .iter()
        .zip(records)
        .filter_map(|(m, payload)| {
            let m = m.as_ref().ok()?;
            Some(NewRecord {
                origin,
                connection_id,
                plugin,
                kind,
                source_id: m.source_id.as_deref(),
                payload,
                jobs: &m.jobs,
            })
        })
        .collect();
    let mut stored = store.enqueue_records(&accepted)?.into_iter();
    Ok(mapped
        .into_iter()
        .map(|m| match m {
            Ok(_) => Ok(stored.next().expect("one stored record per accepted one")),
            Err(e) => Err(e),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_version_becomes_a_mod_only_for_a_plugin_that_declared_one() {
        let add = Request::new(
            "customer:1",
            "<CustomerAddRq><CustomerAdd><Name>A</Name></CustomerAdd></CustomerAddRq>",
        );
        let before_0_3 = Manifest::new("old", "1.0.0", "T").request_types(&["CustomerAdd"]);
        let now = Manifest::new("new", "1.0.0", "T").request_types(&["CustomerAdd", "CustomerMod"]);
        assert!(!to_new_job(&add, &before_0_3).versioning.modifies);
        assert!(to_new_job(&add, &now).versioning.modifies);
        let void = add.clone().action(Action::Void);
        assert!(
            to_new_job(&void, &before_0_3).versioning.modifies,
            "a void always changes"
        );
    }
}
