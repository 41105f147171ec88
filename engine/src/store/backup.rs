//! Online backup and restore of the database file.
//!
//! A backup is `VACUUM INTO` a new file: one read transaction, so the copy is a consistent
//! snapshot taken while the engine keeps writing (WAL readers never block the writer). The
//! copy carries the time it was taken (`meta` key [`TAKEN_AT_KEY`]), which is what a restore
//! needs: everything QuickBooks received after that time is unknown to the copy.
//!
//! Restoring an old copy is the dangerous direction. Jobs that were waiting or sent at backup
//! time may have been applied since; records the source delivered after the backup come
//! again (pull cursors went back with the copy) and their jobs look new. So a restore records
//! a *restore generation* and, in the same transaction, sends every unfinished job to its
//! probe (`verify=1`) — or, without a probe, to `in_doubt` for an admin — and until the
//! generation's `verify_until` every newly enqueued job is probed first too
//! (`queue::enqueue`). The probe finds what QuickBooks already has and completes the job with
//! its mapping instead of writing it twice.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::sql::{OptionalExt, params};

use super::audit::{AuditEntry, append_in, now_ms};
use super::queue::RESTORED_WITHOUT_PROBE;
use super::{
    DATABASE_FILE, InstanceLock, Store, StoreError, StoreOptions, migrations, pragma_check,
    prepare_data_dir, raw_open,
};

/// The `meta` key holding a backup's time (Unix ms) inside the copy.
pub const TAKEN_AT_KEY: &str = "backup.taken_at";

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    /// The copy's size in bytes.
    pub bytes: u64,
    /// When the snapshot was taken (Unix ms).
    pub taken_at: i64,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// When the restored backup was taken (Unix ms).
    pub backup_taken_at: i64,
    /// Where the replaced database was kept (`None` when there was none).
    pub kept_as: Option<PathBuf>,
    /// Unfinished jobs that will be verified by their probe before anything is sent.
    pub to_probe: usize,
    /// Unfinished writes without a probe, now `in_doubt` for an admin.
    pub without_probe: usize,
    /// New jobs are probed first until this time (Unix ms).
    pub verify_until: i64,
}

/// The newest restore, as `qbridge status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreGeneration {
    /// When the restore ran (Unix ms).
    pub restored_at: i64,
    /// When the restored backup was taken (Unix ms).
    pub backup_taken_at: i64,
    /// New jobs are probed first until this time (Unix ms).
    pub verify_until: i64,
}

impl Store {
    /// The newest restore generation, if the database was ever restored.
    pub fn latest_restore(&self) -> Result<Option<RestoreGeneration>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT restored_at, backup_taken_at, verify_until FROM restore_generation
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(RestoreGeneration {
                        restored_at: r.get(0)?,
                        backup_taken_at: r.get(1)?,
                        verify_until: r.get(2)?,
                    })
                },
            )
            .optional()
        })
        .map_err(StoreError::from)
    }

    /// Writes a consistent copy of the database to `dest` while the engine may be running.
    /// An existing `dest` is refused unless `force`. The copy is made in `<dest>.partial`
    /// (0600: it holds token hashes and sealed secrets), stamped with its time, checked with
    /// `quick_check`, and only then renamed to `dest`.
    pub fn backup_to(&self, dest: &Path, force: bool) -> Result<BackupInfo, StoreError> {
        let fail = |message: String| StoreError::Backup {
            path: dest.to_path_buf(),
            message,
        };
        if dest.exists() && !force {
            return Err(fail(
                "the file exists; choose another name or pass --force to replace it".into(),
            ));
        }
        let partial = PathBuf::from(format!("{}.partial", dest.display()));
        let _ = std::fs::remove_file(&partial);
        create_private(&partial).map_err(|e| fail(format!("cannot create it: {e}")))?;
        // Taken before the snapshot starts: whatever completed before this time is in the copy.
        let taken_at = now_ms();
        let Some(path) = self.path() else {
            return Err(fail(
                "this store is in PostgreSQL: back it up with the database's own tools (pg_dump, or continuous archiving), see docs/operations.md".into(),
            ));
        };
        let copied = (|| -> Result<(), StoreError> {
            let source = raw_open(path, false, &self.inner.opts)?;
            source.execute("VACUUM INTO ?1", [partial.to_string_lossy()])?;
            drop(source);
            let copy = Connection::open_with_flags(&partial, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            // One self-contained file: no WAL beside it to forget when the copy is moved.
            copy.pragma_update(None, "journal_mode", "DELETE")?;
            copy.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                rusqlite::params![TAKEN_AT_KEY, taken_at.to_string()],
            )?;
            let problems = pragma_check(&copy, "quick_check")?;
            if !problems.is_empty() {
                return Err(fail(format!("the copy fails quick_check: {problems}")));
            }
            Ok(())
        })();
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, dest).map_err(|e| fail(format!("cannot rename: {e}")))?;
        let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        Ok(BackupInfo { bytes, taken_at })
    }

    /// Records a restore generation and sends every unfinished job to be verified (see the
    /// module doc). Returns `(to_probe, without_probe)`.
    fn record_restore(
        &self,
        backup_taken_at: i64,
        verify_until: i64,
        source: &str,
        actor: &str,
    ) -> Result<(usize, usize), StoreError> {
        self.write(|tx| {
            let now = now_ms();
            // The live database is no backup: a later restore must not take it for one.
            tx.execute("DELETE FROM meta WHERE key=?1", [TAKEN_AT_KEY])?;
            tx.execute(
                "INSERT INTO restore_generation(restored_at, backup_taken_at, verify_until, source)
                 VALUES (?1, ?2, ?3, ?4)",
                params![now, backup_taken_at, verify_until, source],
            )?;
            // The probe answers for every unfinished job with one; no message set of the
            // copy is recovered (QuickBooks may have answered others since).
            let to_probe = tx.execute(
                "UPDATE job SET state='available', verify=1, message_set_id=NULL, run_at=?1, updated_at=?1
                 WHERE state IN ('available','retryable','sent','in_doubt') AND COALESCE(refresh_query, probe) IS NOT NULL",
                [now],
            )?;
            tx.execute(
                "UPDATE job SET verify=1, updated_at=?1 WHERE state='held' AND COALESCE(refresh_query, probe) IS NOT NULL",
                [now],
            )?;
            let without_probe = tx.execute(
                "UPDATE job SET state='in_doubt', message_set_id=NULL, advice=?2, updated_at=?1
                 WHERE state IN ('available','retryable','sent','in_doubt') AND COALESCE(refresh_query, probe) IS NULL
                   AND request_type NOT LIKE '%Query'",
                params![now, RESTORED_WITHOUT_PROBE],
            )?;
            tx.execute(
                "UPDATE job SET state='available', message_set_id=NULL, run_at=?1, updated_at=?1
                 WHERE state IN ('sent','in_doubt') AND COALESCE(refresh_query, probe) IS NULL AND request_type LIKE '%Query'",
                [now],
            )?;
            tx.execute(
                "UPDATE message_set SET state='resolved' WHERE state IN ('sent','recovering','in_doubt')",
                [],
            )?;
            append_in(
                tx,
                &AuditEntry {
                    actor: actor.to_string(),
                    action: "store.restore".into(),
                    target: format!("backup:{source}"),
                    detail: serde_json::json!({
                        "backup_taken_at": backup_taken_at,
                        "verify_until": verify_until,
                        "jobs_to_probe": to_probe,
                        "jobs_in_doubt": without_probe,
                    }),
                    ip: None,
                    user_agent: None,
                },
            )?;
            Ok((to_probe, without_probe))
        })
    }
}

/// Replaces the database in `data_dir` with the backup `file` while no engine runs (the
/// instance lock is taken for the whole swap). The file must be a qbridge backup of a schema
/// this binary supports; the replaced database is kept as `qbridge.db.before-restore-<ms>`.
/// New jobs are verified by their probe for `verify_window` after the restore. Tokens and
/// grants revoked in the replaced database stay revoked. Returns the restored store, opened
/// as the engine of the data dir.
pub fn restore(
    data_dir: &Path,
    file: &Path,
    opts: StoreOptions,
    verify_window: Duration,
    actor: &str,
) -> Result<(Store, Restored), StoreError> {
    if opts.postgres.is_some() {
        return Err(StoreError::RestoreRefused(
            "this store is in PostgreSQL (database.url is set): restore the database with its own tools (pg_restore, point-in-time recovery), then run `qbridge store restored` before starting any node".into(),
        ));
    }
    prepare_data_dir(data_dir)?;
    let lock = InstanceLock::acquire(data_dir)?;
    let backup_taken_at = check_backup(file)?;
    let fail = |message: String| StoreError::Backup {
        path: file.to_path_buf(),
        message,
    };
    let db = data_dir.join(DATABASE_FILE);
    let incoming = data_dir.join(format!("{DATABASE_FILE}.restoring"));
    std::fs::copy(file, &incoming).map_err(|e| fail(format!("cannot copy it: {e}")))?;
    std::fs::File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail(format!("cannot sync the copy: {e}")))?;
    let now = now_ms();
    let kept_as = if db.exists() {
        let kept = data_dir.join(format!("{DATABASE_FILE}.before-restore-{now}"));
        // The WAL and its index move with the file, so the kept copy opens as it was.
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", db.display()));
            if from.exists() {
                let to = PathBuf::from(format!("{}{suffix}", kept.display()));
                std::fs::rename(&from, &to)
                    .map_err(|e| fail(format!("cannot move {} aside: {e}", from.display())))?;
            }
        }
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&incoming, &db).map_err(|e| fail(format!("cannot move it into place: {e}")))?;
    if let Some(kept) = &kept_as {
        carry_revocations(&db, kept)?;
    }
    let store = Store::open_locked(data_dir, lock, opts)?;
    let verify_until = now + verify_window.as_millis() as i64;
    let (to_probe, without_probe) = store.record_restore(
        backup_taken_at,
        verify_until,
        &file.display().to_string(),
        actor,
    )?;
    Ok((
        store,
        Restored {
            backup_taken_at,
            kept_as,
            to_probe,
            without_probe,
            verify_until,
        },
    ))
}

/// How long `mark_restored` watches the heartbeats of nodes whose rows look fresh: three
/// heartbeats, so a running node has surely written one.
const WATCH_NODES: Duration = Duration::from_millis(3 * super::nodes::HEARTBEAT_MS as u64);

/// The bookkeeping of [`restore`] for a database put back by other means — PostgreSQL's
/// `pg_restore` or point-in-time recovery, a VM or file-system snapshot of the data dir — run
/// on `store` opened as the engine, with every node stopped: a restore generation, every
/// unfinished job to its probe (or in doubt), new jobs probed first for `verify_window`.
/// Such a copy carries no backup time, so its newest activity stands for it (the latest
/// heartbeat, audit row or job change in it): nothing after that can be in it.
pub fn mark_restored(
    store: &Store,
    verify_window: Duration,
    source: &str,
    actor: &str,
) -> Result<Restored, StoreError> {
    let running = store.running_nodes(WATCH_NODES)?;
    if !running.is_empty() {
        return Err(StoreError::RestoreRefused(format!(
            "qbridge still runs on this database ({}): stop every node, then run this again before starting any",
            running.join(", ")
        )));
    }
    let newest: Option<i64> = store.read(|t| {
        t.query_row(
            "SELECT MAX(at) FROM (SELECT MAX(last_seen_at) AS at FROM node
               UNION ALL SELECT MAX(at) FROM audit UNION ALL SELECT MAX(updated_at) FROM job) AS times",
            [],
            |r| r.get(0),
        )
    })?;
    let now = now_ms();
    let backup_taken_at = newest.unwrap_or(now).min(now);
    let verify_until = now + verify_window.as_millis() as i64;
    let (to_probe, without_probe) =
        store.record_restore(backup_taken_at, verify_until, source, actor)?;
    Ok(Restored {
        backup_taken_at,
        kept_as: None,
        to_probe,
        without_probe,
        verify_until,
    })
}

/// A token or support grant revoked since the backup stays revoked: restoring an old copy
/// must not bring back access an admin took away.
fn carry_revocations(db: &Path, replaced: &Path) -> Result<(), StoreError> {
    let conn = Connection::open(db)?;
    conn.execute(
        "ATTACH DATABASE ?1 AS replaced",
        [replaced.to_string_lossy()],
    )?;
    conn.execute(
        "UPDATE token SET revoked_at=(SELECT r.revoked_at FROM replaced.token r WHERE r.hash=token.hash)
         WHERE revoked_at IS NULL
           AND hash IN (SELECT hash FROM replaced.token WHERE revoked_at IS NOT NULL)",
        [],
    )?;
    conn.execute("DETACH DATABASE replaced", [])?;
    Ok(())
}

/// The backup's time, after checking the file is a sound qbridge backup of a schema this
/// binary can migrate.
fn check_backup(file: &Path) -> Result<i64, StoreError> {
    let fail = |message: String| StoreError::Backup {
        path: file.to_path_buf(),
        message,
    };
    if !file.is_file() {
        return Err(fail("no such file".into()));
    }
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| fail(format!("cannot open it: {e}")))?;
    let problems = pragma_check(&conn, "quick_check")
        .map_err(|e| fail(format!("it is not a readable SQLite database ({e})")))?;
    if !problems.is_empty() {
        return Err(fail(format!("it fails quick_check: {problems}")));
    }
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app_id != migrations::APPLICATION_ID {
        return Err(StoreError::Foreign);
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > migrations::latest() {
        return Err(StoreError::TooNew {
            found: version,
            supported: migrations::latest(),
        });
    }
    let taken_at: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key=?1", [TAKEN_AT_KEY], |r| {
            r.get(0)
        })
        .map_err(super::sql::Error::from)
        .optional()?;
    taken_at.and_then(|t| t.parse().ok()).ok_or_else(|| {
        fail("it was not made by `qbridge backup` (it has no backup time); a restore must know when the copy was taken".into())
    })
}

/// Creates an empty file only its owner can read.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queue::{BatchLimits, Claim, NewJob, NewRecord, Origin};

    const LIMITS: BatchLimits = BatchLimits {
        max_requests: 10,
        max_bytes: 1 << 20,
    };

    #[test]
    fn backup_refuses_an_existing_file_without_force_and_restore_puts_the_copy_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data, StoreOptions::default()).unwrap();
        let dest = dir.path().join("copy.db");
        std::fs::write(&dest, b"keep me").unwrap();
        let err = store.backup_to(&dest, false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"keep me");
        let info = store.backup_to(&dest, true).unwrap();
        assert!(info.bytes > 0);
        drop(store);

        let (store, restored) = restore(
            &data,
            &dest,
            StoreOptions::default(),
            Duration::from_secs(3600),
            "cli:test",
        )
        .unwrap();
        assert_eq!(restored.backup_taken_at, info.taken_at);
        assert!(restored.kept_as.as_ref().unwrap().exists());
        let taken: Option<String> = store
            .read(|c| {
                c.query_row("SELECT value FROM meta WHERE key=?1", [TAKEN_AT_KEY], |r| {
                    r.get(0)
                })
                .optional()
            })
            .unwrap();
        assert_eq!(taken, None, "the live database is no backup");
    }

    #[test]
    fn a_token_revoked_after_the_backup_stays_revoked_after_the_restore() {
        use crate::store::tokens::{Scope, TokenCheck};
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data, StoreOptions::default()).unwrap();
        let (id, secret) = store
            .create_token(false, Scope::Admin, "leaked", None, None, "cli:test")
            .unwrap();
        let dest = dir.path().join("copy.db");
        store.backup_to(&dest, false).unwrap();
        store.revoke_tokens(Some(id), "cli:test").unwrap();
        drop(store);
        let (store, _) = restore(
            &data,
            &dest,
            StoreOptions::default(),
            Duration::from_secs(60),
            "cli:test",
        )
        .unwrap();
        assert!(matches!(
            store.check_token(&secret).unwrap(),
            TokenCheck::Refused(_)
        ));
    }

    /// `(state, verify, advice)` of the job with `key`.
    fn job_state(store: &Store, key: &str) -> (String, bool, Option<String>) {
        store
            .read(|c| {
                c.query_row(
                    "SELECT state, verify, advice FROM job WHERE key=?1",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .unwrap()
    }

    fn enqueue(store: &Store, jobs: &[NewJob]) {
        store
            .enqueue_record(&NewRecord {
                origin: Origin::Push,
                connection_id: 1,
                plugin: "p",
                kind: "customer",
                source_id: None,
                payload: "{}",
                jobs,
            })
            .unwrap();
    }

    fn new_job(key: &str, request_type: &str, probe: bool) -> NewJob {
        NewJob {
            key: key.into(),
            depends_on: vec![],
            request_type: request_type.into(),
            qbxml: format!("<{request_type}Rq/>"),
            probe: probe.then(|| "<CustomerQueryRq/>".to_string()),
            adopt_existing: false,
            notes: vec![],
            versioning: Default::default(),
        }
    }

    #[test]
    fn after_a_restore_unfinished_and_new_writes_are_probed_or_wait_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data, StoreOptions::default()).unwrap();
        enqueue(
            &store,
            &[
                new_job("probed", "CustomerAdd", true),
                new_job("blind", "CustomerAdd", false),
                new_job("query", "CustomerQuery", false),
            ],
        );
        let copy = dir.path().join("copy.db");
        store.backup_to(&copy, false).unwrap();
        drop(store);
        let (store, restored) = restore(
            &data,
            &copy,
            StoreOptions::default(),
            Duration::from_secs(3600),
            "cli:test",
        )
        .unwrap();
        assert_eq!((restored.to_probe, restored.without_probe), (1, 1));
        let generation = store.latest_restore().unwrap().unwrap();
        assert_eq!(generation.verify_until, restored.verify_until);
        assert_eq!(
            job_state(&store, "probed"),
            ("available".into(), true, None)
        );
        let (state, verify, advice) = job_state(&store, "blind");
        assert_eq!((state.as_str(), verify), ("in_doubt", false));
        assert!(advice.unwrap().contains("restored from a backup"));
        assert_eq!(
            job_state(&store, "query"),
            ("available".into(), false, None)
        );

        // Within the window, what the source sends again is probed first too.
        enqueue(
            &store,
            &[
                new_job("again", "InvoiceAdd", true),
                new_job("again-blind", "InvoiceAdd", false),
            ],
        );
        assert_eq!(job_state(&store, "again"), ("available".into(), true, None));
        assert_eq!(job_state(&store, "again-blind").0, "in_doubt");
        let Some(Claim::Send { jobs, .. }) = store.claim(1, 7, LIMITS).unwrap() else {
            panic!("work to claim")
        };
        assert!(jobs.iter().all(|j| j.probing), "probes go first: {jobs:?}");
    }

    #[test]
    fn a_database_put_back_by_other_means_is_marked_restored_unless_a_node_runs() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = crate::store::testing::open(&data);
        let copied_at = now_ms() - 1_000;
        // A node that ran until the copy was taken: its row looks live, but nothing moves it.
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO node(boot_id, host, data_dir, started_at, last_seen_at)
                     VALUES ('copied', 'old-host', '/srv/qbridge', ?1, ?1)",
                    [copied_at],
                )
            })
            .unwrap();
        enqueue(
            &store,
            &[
                new_job("probed", "CustomerAdd", true),
                new_job("blind", "CustomerAdd", false),
                new_job("query", "CustomerQuery", false),
            ],
        );
        let before = now_ms();
        let restored =
            mark_restored(&store, Duration::from_secs(3600), "dump", "cli:test").unwrap();
        assert_eq!((restored.to_probe, restored.without_probe), (1, 1));
        assert!(
            (copied_at..=before).contains(&restored.backup_taken_at),
            "the newest activity stands for the backup's time: {restored:?}"
        );
        assert_eq!(
            store.latest_restore().unwrap().unwrap().verify_until,
            restored.verify_until
        );
        assert_eq!(
            job_state(&store, "probed"),
            ("available".into(), true, None)
        );
        assert_eq!(job_state(&store, "blind").0, "in_doubt");
        enqueue(&store, &[new_job("again", "InvoiceAdd", true)]);
        assert_eq!(job_state(&store, "again"), ("available".into(), true, None));

        // PostgreSQL: a node that still heartbeats on the database stops it.
        let other = tempfile::tempdir().unwrap();
        let Some(node) = crate::store::testing::open_node(&data, other.path()) else {
            return;
        };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let err = std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    node.heartbeat().unwrap();
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            let err = mark_restored(&store, Duration::from_secs(60), "dump", "cli:test");
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            err.unwrap_err().to_string()
        });
        assert!(err.contains("stop every node"), "{err}");
        let place = other.path().canonicalize().unwrap();
        assert!(err.contains(&place.display().to_string()), "{err}");
        assert!(!err.contains("old-host"), "{err}");
    }

    #[test]
    fn restore_of_a_file_is_refused_when_the_store_is_in_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            postgres: Some(
                crate::store::sql::PgTarget::parse("postgres://qbridge@127.0.0.1:1/qbridge")
                    .unwrap(),
            ),
            ..StoreOptions::default()
        };
        let file = dir.path().join("copy.db");
        let err = restore(dir.path(), &file, opts, Duration::from_secs(1), "cli:test")
            .err()
            .unwrap();
        assert!(err.to_string().contains("qbridge store restored"), "{err}");
        assert!(
            !dir.path().join(DATABASE_FILE).exists(),
            "nothing put in place"
        );
    }

    #[test]
    fn restore_refuses_a_file_that_is_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        drop(Store::open(&data, StoreOptions::default()).unwrap());
        let plain = dir.path().join("plain.db");
        std::fs::copy(data.join(DATABASE_FILE), &plain).unwrap();
        let err = restore(
            &data,
            &plain,
            StoreOptions::default(),
            Duration::from_secs(1),
            "cli:test",
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("not made by `qbridge backup`"),
            "{err}"
        );
    }
}
