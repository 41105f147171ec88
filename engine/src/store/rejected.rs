//! Pulled records the plugin refused (`rejected_record`): kept with the plugin's reason so
//! nothing pulled is lost silently. One row per source record (connection, plugin and a
//! fingerprint: the kind and source id, else a hash of the payload); pulling it again while it
//! is still refused updates the row. A row is resolved when the record maps — pulled again,
//! retried after a plugin upgrade (`pipeline::rejected`), or retried on demand.

use crate::store::sql::{OptionalExt, params};
use serde::Serialize;

use super::audit::{AuditEntry, now_ms};
use super::{Store, StoreError};

/// Largest payload kept (the `record` table's own bound); a larger one is listed without it
/// and cannot be retried.
pub const MAX_KEPT_PAYLOAD: usize = 4 * 1024 * 1024;

/// A refusal to keep.
#[derive(Debug, Clone)]
pub struct Rejection<'a> {
    /// Connection the pull ran for.
    pub connection_id: i64,
    /// Plugin that refused it.
    pub plugin: &'a str,
    /// The plugin version that refused it (a newer one is tried automatically).
    pub plugin_version: &'a str,
    /// Record kind.
    pub kind: &'a str,
    /// The source's id of the record, when it has one.
    pub source_id: Option<&'a str>,
    /// Identifies the record across pulls (see [`fingerprint`]).
    pub fingerprint: &'a str,
    /// The record as pulled.
    pub payload: &'a str,
    /// The plugin's reason.
    pub reason: &'a str,
}

/// A kept refusal.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedRecord {
    /// Row id.
    pub id: i64,
    /// Connection.
    pub connection_id: i64,
    /// Plugin.
    pub plugin: String,
    /// The plugin version that refused it last.
    pub plugin_version: String,
    /// Record kind.
    pub kind: String,
    /// Source id, when the record has one.
    pub source_id: Option<String>,
    /// The plugin's last reason.
    pub reason: String,
    /// How many times it was refused.
    pub attempts: i64,
    /// First refusal, unix ms.
    pub first_at: i64,
    /// Last refusal, unix ms.
    pub last_at: i64,
    /// When it mapped at last (`None`: still refused).
    pub resolved_at: Option<i64>,
    /// The record it became, once resolved.
    pub record_id: Option<i64>,
    /// Whether the payload was kept (a larger one cannot be retried).
    pub retriable: bool,
}

/// The identity of a pulled record across pulls: `kind:source id`, or `kind#sha256` of the
/// payload when the record carries no id.
pub fn fingerprint(kind: &str, source_id: Option<&str>, payload: &str) -> String {
    match source_id {
        Some(id) => format!("{kind}:{id}"),
        None => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(payload.as_bytes());
            format!("{kind}#{}", super::audit::hex(&digest))
        }
    }
}

const COLUMNS: &str =
    "id, connection_id, plugin, plugin_version, kind, source_id, reason, attempts,
    first_at, last_at, resolved_at, record_id, payload IS NOT NULL";

fn row(r: &crate::store::sql::Row<'_>) -> crate::store::sql::Result<RejectedRecord> {
    Ok(RejectedRecord {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        plugin: r.get(2)?,
        plugin_version: r.get(3)?,
        kind: r.get(4)?,
        source_id: r.get(5)?,
        reason: r.get(6)?,
        attempts: r.get(7)?,
        first_at: r.get(8)?,
        last_at: r.get(9)?,
        resolved_at: r.get(10)?,
        record_id: r.get(11)?,
        retriable: r.get(12)?,
    })
}

impl Store {
    /// Keeps a refused pulled record (or counts another refusal of one kept already, with
    /// the newest payload and reason). Returns its row id.
    pub fn keep_rejected(&self, r: &Rejection<'_>) -> Result<i64, StoreError> {
        let payload = (r.payload.len() <= MAX_KEPT_PAYLOAD).then_some(r.payload);
        let now = now_ms();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO rejected_record(connection_id, plugin, plugin_version, kind, source_id,
                    fingerprint, payload, reason, attempts, first_at, last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)
                 ON CONFLICT(connection_id, plugin, fingerprint) DO UPDATE SET
                    plugin_version=excluded.plugin_version, payload=excluded.payload,
                    reason=excluded.reason, attempts=rejected_record.attempts+1, last_at=excluded.last_at,
                    resolved_at=NULL, record_id=NULL",
                params![
                    r.connection_id,
                    r.plugin,
                    r.plugin_version,
                    r.kind,
                    r.source_id,
                    r.fingerprint,
                    payload,
                    r.reason,
                    now
                ],
            )?;
            Ok(tx.query_row(
                "SELECT id FROM rejected_record WHERE connection_id=?1 AND plugin=?2 AND fingerprint=?3",
                params![r.connection_id, r.plugin, r.fingerprint],
                |row| row.get(0),
            )?)
        })
    }

    /// A kept refusal mapped at last (as record `record_id`): resolved. `false` when none was
    /// open under that fingerprint.
    pub fn resolve_rejected(
        &self,
        connection_id: i64,
        plugin: &str,
        fingerprint: &str,
        record_id: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE rejected_record SET resolved_at=?4, record_id=?5
                 WHERE connection_id=?1 AND plugin=?2 AND fingerprint=?3 AND resolved_at IS NULL",
                params![connection_id, plugin, fingerprint, now, record_id],
            )? == 1)
        })
    }

    /// Kept refusals, newest first: open ones only unless `include_resolved`; of one
    /// connection and/or plugin when given.
    pub fn rejected_records(
        &self,
        connection_id: Option<i64>,
        plugin: Option<&str>,
        include_resolved: bool,
        limit: u32,
    ) -> Result<Vec<RejectedRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM rejected_record
                 WHERE (connection_id=?1 OR ?1 IS NULL) AND (plugin=?2 OR ?2 IS NULL)
                   AND (?3 OR resolved_at IS NULL)
                 ORDER BY id DESC LIMIT ?4"
            ))?;
            let rows = stmt
                .query_map(params![connection_id, plugin, include_resolved, limit], row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// One kept refusal with its payload (`None` when too large to keep).
    pub fn rejected_record(&self, id: i64) -> Result<(RejectedRecord, Option<String>), StoreError> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS}, payload FROM rejected_record WHERE id=?1"),
                [id],
                |r| Ok((row(r)?, r.get(13)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("rejected record {id}")))
        })
    }

    /// Open refusals of `plugin` made by a version other than `version` (the one now
    /// running): what a plugin upgrade should try again, at most `limit`.
    pub fn rejected_by_other_versions(
        &self,
        plugin: &str,
        version: &str,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id FROM rejected_record
                 WHERE plugin=?1 AND resolved_at IS NULL AND plugin_version<>?2
                   AND payload IS NOT NULL
                 ORDER BY id LIMIT ?3",
            )?;
            let ids = stmt
                .query_map(params![plugin, version, limit], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids)
        })
    }

    /// Plugins with open refusals (for the upgrade check).
    pub fn plugins_with_rejected(&self) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT plugin FROM rejected_record WHERE resolved_at IS NULL",
            )?;
            let names = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(names)
        })
    }

    /// Open refusals per connection (for `status` and the queue view).
    pub fn open_rejected_counts(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT connection_id, COUNT(*) FROM rejected_record
                 WHERE resolved_at IS NULL GROUP BY connection_id",
            )?;
            let counts = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(counts)
        })
    }

    /// Audits an admin's request to try refused records again (`entry` names who and which).
    pub fn audit_rejected_retry(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.write(|tx| super::audit::append_in(tx, entry).map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal<'a>(payload: &'a str, version: &'a str, fp: &'a str) -> Rejection<'a> {
        Rejection {
            connection_id: 1,
            plugin: "ramp",
            plugin_version: version,
            kind: "bill",
            source_id: Some("b-1"),
            fingerprint: fp,
            payload,
            reason: "line_items[0]: no GL account",
        }
    }

    #[test]
    fn a_record_refused_again_is_one_row_until_it_maps() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        let fp = fingerprint("bill", Some("b-1"), "{}");
        assert_eq!(fp, "bill:b-1");
        let id = s
            .keep_rejected(&refusal(r#"{"id":"b-1"}"#, "1.0.0", &fp))
            .unwrap();
        let again = s
            .keep_rejected(&refusal(r#"{"id":"b-1","v":2}"#, "1.0.0", &fp))
            .unwrap();
        assert_eq!(id, again);
        let open = s.rejected_records(Some(1), None, false, 10).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].attempts, 2);
        assert_eq!(s.open_rejected_counts().unwrap(), vec![(1, 1)]);
        let (_, payload) = s.rejected_record(id).unwrap();
        assert_eq!(
            payload.as_deref(),
            Some(r#"{"id":"b-1","v":2}"#),
            "the newest payload is kept"
        );
        // Only a refusal made by another version is tried after an upgrade.
        assert!(
            s.rejected_by_other_versions("ramp", "1.0.0", 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.rejected_by_other_versions("ramp", "1.1.0", 10).unwrap(),
            vec![id]
        );
        assert!(s.resolve_rejected(1, "ramp", &fp, None).unwrap());
        assert!(
            !s.resolve_rejected(1, "ramp", &fp, None).unwrap(),
            "resolved once"
        );
        assert!(
            s.rejected_records(None, None, false, 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.rejected_records(None, None, true, 10).unwrap().len(), 1);
        assert!(s.plugins_with_rejected().unwrap().is_empty());
    }

    #[test]
    fn records_without_an_id_are_told_apart_by_their_content() {
        assert_ne!(
            fingerprint("bill", None, "{\"a\":1}"),
            fingerprint("bill", None, "{\"a\":2}")
        );
        assert!(fingerprint("bill", None, "{}").starts_with("bill#"));
    }
}
