//! Retention: what a completed job keeps once it is old enough, and the space it gives back.
//!
//! Pruning clears the bulky text of completed jobs — the request (`qbxml`), the probe and
//! QuickBooks' response — and the payload of a source record once every one of its jobs is
//! pruned. It keeps what identifies and proves the work: job ids, keys, states, QuickBooks
//! ids (`job.object_id` and the `mapping` table, which is what makes a re-sent record
//! "already in QuickBooks"), the record's content hash (SHA-256 of the payload, filled in
//! before the payload goes) and the audit log, to which one row per run is appended.
//!
//! Jobs with a deferred plugin call not done — pending, or failed and waiting for `qbridge
//! jobs retry-deferred` — keep their text (the call needs the record and the response);
//! failed (`discarded`) and cancelled jobs are never pruned (an admin may retry them).
//!
//! Work is done in batches of [`BATCH`] jobs, one short `BEGIN IMMEDIATE` each, so a running
//! server's sessions wait at most one batch. The same steps run on the server's writer (the
//! pruning loop) or on a connection of their own ([`prune_beside`], `qbridge prune` next to a
//! running server): SQLite's WAL lets both processes write, each write waiting up to the busy
//! timeout for the other's transaction — no instance lock is needed.
//!
//! Space: new databases are created with `auto_vacuum=INCREMENTAL`, so pages pruning empties
//! (large payloads and responses live in overflow pages of their own) are handed back with
//! `PRAGMA incremental_vacuum` after each run. Rows that merely shrank leave room inside pages
//! shared with other rows, which only a full `VACUUM` gives back (`compact`, asked for with
//! `qbridge prune --compact`: it holds the write lock while it copies the database). A
//! database created before auto-vacuum was set runs one full `VACUUM` the first time something
//! is pruned, which switches it over. On PostgreSQL the batches run as ordinary write
//! transactions and the server's autovacuum reuses the space; `compact` has no meaning there.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::sql::{OptionalExt, Tx, params};
use sha2::Digest;

use super::audit::{AuditEntry, append_in, hex, now_ms};
use super::{DATABASE_FILE, Store, StoreError, StoreOptions};

/// Jobs pruned per write transaction.
const BATCH: usize = 500;

/// What one pruning run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Completed jobs whose request and response were cleared.
    pub jobs: u64,
    /// Source records whose payload was cleared.
    pub records: u64,
    /// Database size before (pages × page size, WAL included).
    pub bytes_before: u64,
    /// Database size after the space was reclaimed.
    pub bytes_after: u64,
}

/// Completed, unpruned jobs finished before ?1 whose deferred calls are all done
/// (`job_unpruned`; a failed call may be retried and needs the record).
const DUE: &str = "SELECT id, record_id FROM job
    WHERE state='completed' AND pruned_at IS NULL AND finalized_at < ?1
      AND NOT EXISTS (SELECT 1 FROM plugin_call p WHERE p.job_id = job.id AND p.state != 'done')
    LIMIT ?2";
const CLEAR_JOB: &str = "UPDATE job SET qbxml = '', probe = NULL, response = NULL, sent_qbxml = NULL, pruned_at = ?2 WHERE id = ?1";
/// A record all of whose jobs are pruned (`job_record`), not yet pruned itself.
const RECORD_DUE: &str = "SELECT payload, content_hash FROM record
    WHERE id = ?1 AND pruned_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM job WHERE record_id = ?1 AND pruned_at IS NULL)";
const CLEAR_RECORD: &str =
    "UPDATE record SET payload = '', content_hash = ?2, pruned_at = ?3 WHERE id = ?1";
/// Adds ?2 to the running total `meta.key = ?1` (the table holds text).
const ADD_TO_TOTAL: &str = "INSERT INTO meta(key, value) VALUES (?1, CAST(?2 AS TEXT))
    ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ?2 AS TEXT)";
const SET_META: &str = "INSERT INTO meta(key, value) VALUES (?1, CAST(?2 AS TEXT))
    ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/// Everything pruned in this database so far, by any process (the server's loop or
/// `qbridge prune`), for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneTotals {
    /// Completed jobs whose request and response were cleared.
    pub jobs: u64,
    /// Source records whose payload was cleared.
    pub records: u64,
    /// When a run last pruned something (Unix ms).
    pub last_at: Option<i64>,
}

/// Keys of the running totals in `meta`.
const TOTAL_JOBS: &str = "retention.pruned_jobs";
const TOTAL_RECORDS: &str = "retention.pruned_records";
const LAST_AT: &str = "retention.last_pruned_at";

impl Store {
    /// The running totals of pruning (three primary-key reads of `meta`).
    pub fn prune_totals(&self) -> Result<PruneTotals, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?;
            let mut get = |key: &str| -> Result<Option<i64>, StoreError> {
                Ok(stmt.query_row([key], |r| r.get(0)).optional()?)
            };
            Ok(PruneTotals {
                jobs: get(TOTAL_JOBS)?.unwrap_or(0).max(0) as u64,
                records: get(TOTAL_RECORDS)?.unwrap_or(0).max(0) as u64,
                last_at: get(LAST_AT)?,
            })
        })
    }

    /// Prunes completed jobs finished before `cutoff_ms` (Unix ms) on this store's writer,
    /// one batch per lock of the writer, then reclaims the space: free pages, or with
    /// `compact` every byte (a full `VACUUM`, see [`compact_on`]). `actor` names who asked in
    /// the audit row (`system` for the loop).
    pub fn prune_completed(
        &self,
        cutoff_ms: i64,
        actor: &str,
        compact: bool,
    ) -> Result<PruneReport, StoreError> {
        let Some(conn) = self.sqlite_writer() else {
            return self.prune_postgres(cutoff_ms, actor);
        };
        let before = database_bytes(&conn)?;
        drop(conn);
        let mut report = PruneReport {
            bytes_before: before,
            ..PruneReport::default()
        };
        loop {
            let mut conn = self.sqlite_writer().expect("a SQLite store");
            let (jobs, records) = in_immediate(&mut conn, |tx| prune_batch(tx, cutoff_ms))?;
            drop(conn);
            report.jobs += jobs;
            report.records += records;
            if jobs < BATCH as u64 {
                break;
            }
        }
        let mut conn = self.sqlite_writer().expect("a SQLite store");
        finish(&mut conn, &mut report, cutoff_ms, actor, compact)?;
        Ok(report)
    }

    fn prune_postgres(&self, cutoff_ms: i64, actor: &str) -> Result<PruneReport, StoreError> {
        let size = |s: &Store| -> Result<u64, StoreError> {
            s.read(|t| {
                let bytes: i64 =
                    t.query_row("SELECT pg_database_size(current_database())", [], |r| {
                        r.get(0)
                    })?;
                Ok(bytes.max(0) as u64)
            })
        };
        let mut report = PruneReport {
            bytes_before: size(self)?,
            ..PruneReport::default()
        };
        loop {
            let (jobs, records) = self.write(|tx| prune_batch(tx, cutoff_ms))?;
            report.jobs += jobs;
            report.records += records;
            if jobs < BATCH as u64 {
                break;
            }
        }
        if report.jobs > 0 {
            self.write(|tx| audit_run(tx, &report, cutoff_ms, actor))?;
        }
        report.bytes_after = size(self)?;
        Ok(report)
    }
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction on a SQLite connection.
fn in_immediate<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = f(&Tx::Sqlite(&tx))?;
    tx.commit()?;
    Ok(value)
}

/// `qbridge prune` beside a running server: the same run on a connection of its own, without
/// the instance lock (see the module doc). Refuses a database whose schema is not this
/// binary's (the server migrates it; a pruner must not).
pub fn prune_beside(
    data_dir: &Path,
    opts: &StoreOptions,
    cutoff_ms: i64,
    actor: &str,
    compact: bool,
) -> Result<PruneReport, StoreError> {
    if opts.postgres.is_some() {
        // Every node and command shares the database; its own checks refuse another schema.
        return Store::open_beside(data_dir, opts.clone())?
            .prune_completed(cutoff_ms, actor, compact);
    }
    let path = data_dir.join(DATABASE_FILE);
    if !path.exists() {
        return Err(StoreError::NotFound(format!(
            "the database {} (check --data-dir)",
            path.display()
        )));
    }
    let mut conn = super::open_connection(&path, false, opts)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != super::migrations::latest() {
        return Err(StoreError::Conflict(format!(
            "the database has schema version {version} and this qbridge writes {}: start this version of `qbridge serve` once (it migrates the database), then prune",
            super::migrations::latest()
        )));
    }
    let mut report = PruneReport {
        bytes_before: database_bytes(&conn)?,
        ..PruneReport::default()
    };
    loop {
        let (jobs, records) = in_immediate(&mut conn, |tx| prune_batch(tx, cutoff_ms))?;
        report.jobs += jobs;
        report.records += records;
        if jobs < BATCH as u64 {
            break;
        }
    }
    finish(&mut conn, &mut report, cutoff_ms, actor, compact)?;
    Ok(report)
}

/// One batch in one transaction: clears up to [`BATCH`] jobs and the records they complete.
fn prune_batch(tx: &Tx<'_>, cutoff_ms: i64) -> Result<(u64, u64), StoreError> {
    let now = now_ms();
    let due: Vec<(i64, Option<i64>)> = tx
        .prepare_cached(DUE)?
        .query_map(params![cutoff_ms, BATCH as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut records: Vec<i64> = Vec::new();
    for (job, record) in &due {
        tx.prepare_cached(CLEAR_JOB)?.execute(params![job, now])?;
        records.extend(record);
    }
    records.sort_unstable();
    records.dedup();
    let mut cleared: i64 = 0;
    for record in records {
        let row: Option<(String, Option<String>)> = tx
            .prepare_cached(RECORD_DUE)?
            .query_row([record], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((payload, hash)) = row else { continue };
        let hash = hash.unwrap_or_else(|| content_hash(&payload));
        tx.prepare_cached(CLEAR_RECORD)?
            .execute(params![record, hash, now])?;
        cleared += 1;
    }
    if !due.is_empty() {
        tx.prepare_cached(ADD_TO_TOTAL)?
            .execute(params![TOTAL_JOBS, due.len() as i64])?;
        tx.prepare_cached(ADD_TO_TOTAL)?
            .execute(params![TOTAL_RECORDS, cleared])?;
        tx.prepare_cached(SET_META)?
            .execute(params![LAST_AT, now])?;
    }
    Ok((due.len() as u64, cleared as u64))
}

/// Audits the run, gives the freed pages back to the file system and measures the result.
fn finish(
    conn: &mut Connection,
    report: &mut PruneReport,
    cutoff_ms: i64,
    actor: &str,
    compact: bool,
) -> Result<(), StoreError> {
    if report.jobs > 0 {
        in_immediate(conn, |tx| audit_run(tx, report, cutoff_ms, actor))?;
    }
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if compact || (report.jobs > 0 && mode != 2) {
        if !compact {
            tracing::info!(
                "switching the database to incremental vacuum (one full VACUUM; later runs reclaim space incrementally)"
            );
        }
        compact_on(conn)?;
    } else if report.jobs > 0 {
        // The pragma frees one page per step: step it to the end.
        let mut stmt = conn.prepare("PRAGMA incremental_vacuum")?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
        drop(rows);
        drop(stmt);
        // Best effort: copies the WAL back so the file itself shrinks; readers of another
        // process may hold it back, which only delays the shrink to a later checkpoint.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
    report.bytes_after = database_bytes(conn)?;
    Ok(())
}

/// The audit row of one pruning run.
fn audit_run(
    tx: &Tx<'_>,
    report: &PruneReport,
    cutoff_ms: i64,
    actor: &str,
) -> Result<(), StoreError> {
    append_in(
        tx,
        &AuditEntry {
            actor: actor.to_string(),
            action: "retention.prune".into(),
            target: "jobs".into(),
            detail: serde_json::json!({
                "completed_before": cutoff_ms,
                "jobs": report.jobs,
                "records": report.records,
            }),
            ..AuditEntry::default()
        },
    )?;
    Ok(())
}

/// A full `VACUUM` (switching the file to incremental auto-vacuum on the way): rewrites every
/// page, so the space pruning freed *inside* pages — rows that shrank but share their page
/// with others — is given back too, which `incremental_vacuum` (whole free pages only) cannot
/// do. It holds the write lock for as long as copying the database takes.
fn compact_on(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("PRAGMA auto_vacuum=INCREMENTAL; VACUUM;")?;
    // Best effort, as after an incremental vacuum.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    Ok(())
}

/// Pages × page size: the size of the database file as SQLite sees it (committed WAL frames
/// included), free pages counted — they are what reclaiming gives back.
pub(crate) fn database_bytes(conn: &Connection) -> Result<u64, StoreError> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok((pages.max(0) * size) as u64)
}

/// The SHA-256 (hex) of a record's payload, as stored in `record.content_hash`.
pub fn content_hash(payload: &str) -> String {
    hex(&sha2::Sha256::digest(payload.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queue::{NewJob, NewRecord, Origin};

    const DAY: i64 = 86_400_000;

    fn job(key: &str) -> NewJob {
        NewJob {
            key: key.into(),
            depends_on: vec![],
            request_type: "CustomerAdd".into(),
            qbxml: format!(
                "<CustomerAddRq><CustomerAdd><Name>{key}</Name></CustomerAdd></CustomerAddRq>"
            ),
            probe: Some(format!(
                "<CustomerQueryRq><FullName>{key}</FullName></CustomerQueryRq>"
            )),
            adopt_existing: false,
            notes: vec![],
            versioning: Default::default(),
        }
    }

    /// Stores a record with `keys` as jobs and a payload of about `size` bytes.
    fn record(s: &Store, conn: i64, name: &str, keys: &[&str], size: usize) -> String {
        let payload = serde_json::json!({"name": name, "notes": "x".repeat(size)}).to_string();
        let jobs: Vec<NewJob> = keys.iter().map(|k| job(k)).collect();
        s.enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: conn,
            plugin: "example",
            kind: "customer",
            source_id: None,
            payload: &payload,
            jobs: &jobs,
        })
        .unwrap();
        payload
    }

    /// Finishes job `key` in `state` at `at`, with a response.
    fn finish_job(s: &Store, key: &str, state: &str, at: i64) {
        s.write(|tx| {
            tx.execute(
                "UPDATE job SET state=?2, finalized_at=?3, response='<CustomerRet/>' WHERE key=?1",
                params![key, state, at],
            )
        })
        .unwrap();
    }

    #[test]
    fn prunes_old_completed_jobs_only_and_switches_an_old_database_to_incremental_vacuum() {
        let dir = tempfile::tempdir().unwrap();
        // SQLite's space reclaiming (PostgreSQL's autovacuum is the server's business).
        let s = Store::open(dir.path(), StoreOptions::default()).unwrap();
        // A database made before auto_vacuum was set: none.
        s.sqlite_writer()
            .unwrap()
            .execute_batch("PRAGMA auto_vacuum=NONE; VACUUM;")
            .unwrap();
        let c = s.add_connection("acme", "{a}", "", "test").unwrap().id;
        let old = now_ms() - 10 * DAY;
        let a = record(&s, c, "a", &["a1", "a2"], 300_000);
        record(&s, c, "b", &["b1"], 300_000);
        record(&s, c, "d", &["d1"], 300_000);
        record(&s, c, "n", &["n1"], 10);
        record(&s, c, "e", &["e1"], 10);
        for key in ["a1", "a2", "b1", "e1"] {
            finish_job(&s, key, "completed", old);
        }
        finish_job(&s, "d1", "discarded", old);
        finish_job(&s, "n1", "completed", now_ms());
        // b1's acknowledgement to its source is still owed, e1's failed and may be retried:
        // both need the record.
        s.write(|tx| {
            tx.execute(
                "INSERT INTO plugin_call(job_id, call, state, next_at, created_at)
                 SELECT id, 'acknowledge', CASE key WHEN 'b1' THEN 'pending' ELSE 'failed' END, 0, 0
                 FROM job WHERE key IN ('b1', 'e1')",
                [],
            )
        })
        .unwrap();

        let report = s.prune_completed(now_ms() - DAY, "test", false).unwrap();
        assert_eq!((report.jobs, report.records), (2, 1));
        assert!(
            report.bytes_after + 250_000 < report.bytes_before,
            "{report:?}"
        );
        let pruned: Vec<(String, String, Option<String>)> = s
            .read(|c| {
                c.prepare(
                    "SELECT key, qbxml, response FROM job WHERE pruned_at IS NOT NULL ORDER BY key",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()
            })
            .unwrap();
        assert_eq!(
            pruned,
            vec![
                ("a1".into(), String::new(), None),
                ("a2".into(), String::new(), None)
            ]
        );
        let records: Vec<(i64, Option<String>, bool)> = s
            .read(|c| {
                c.prepare("SELECT length(payload), content_hash, pruned_at IS NOT NULL FROM record ORDER BY id")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()
            })
            .unwrap();
        assert_eq!(records[0], (0, Some(content_hash(&a)), true));
        assert!(
            records[1..]
                .iter()
                .all(|(len, hash, pruned)| *len > 0 && hash.is_some() && !pruned)
        );
        let mode: i64 = s
            .read(|c| c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(mode, 2, "switched to incremental");
        assert_eq!(
            s.prune_totals().unwrap(),
            PruneTotals {
                jobs: 2,
                records: 1,
                last_at: s.prune_totals().unwrap().last_at
            }
        );
        assert!(s.prune_totals().unwrap().last_at.is_some());

        // Nothing more is due; the totals stay.
        let again = s.prune_completed(now_ms() - DAY, "test", false).unwrap();
        assert_eq!((again.jobs, again.records), (0, 0));
        assert_eq!(s.prune_totals().unwrap().jobs, 2);
    }

    #[test]
    fn due_jobs_are_found_through_the_unpruned_index() {
        let dir = tempfile::tempdir().unwrap();
        // SQLite's planner (PostgreSQL's plans depend on its statistics).
        let s = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let plan: String = s
            .read(|c| {
                c.query_row(&format!("EXPLAIN QUERY PLAN {DUE}"), params![0, 1], |r| {
                    r.get(3)
                })
            })
            .unwrap();
        assert!(plan.contains("job_unpruned"), "{plan}");
    }
}
