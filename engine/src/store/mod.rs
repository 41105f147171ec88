//! The durable store: SQLite, embedded, one file in the data dir (the default); or
//! PostgreSQL, shared by several engine nodes (`database.url`). Both run the same queries
//! through [`sql`].
//!
//! Invariants this module keeps:
//! - **One writer at a time.** On SQLite every write goes through the single writer
//!   connection inside `BEGIN IMMEDIATE`, so writers queue on a mutex instead of racing
//!   SQLite's busy handler (which polls and starves) and no transaction can hit
//!   `SQLITE_BUSY_SNAPSHOT` on upgrade. On PostgreSQL a write transaction takes one
//!   transaction-level advisory lock first, so the queries keep the meaning they have on
//!   SQLite across every node of a cluster.
//! - **Durable commits.** SQLite: WAL with `synchronous=FULL`: a committed `sent` or `completed` job
//!   survives power loss, because rolling one back would mean a second write to QuickBooks.
//! - **One engine per data dir** ([`lock::InstanceLock`]), and a refusal to start on a SQLite
//!   file that fails `PRAGMA quick_check`.
//! - **Nothing SQL leaks out.** Callers see domain methods (queue, mapping, connections,
//!   audit) and domain types only.

pub mod activity;
pub mod admin_sessions;
pub mod alerts;
pub mod audit;
pub mod audit_anchor;
pub mod backup;
pub mod connections;
pub mod copy;
pub mod lock;
pub mod logins;
mod migrations;
pub mod nodes;
pub mod plugin_cache;
pub mod plugin_calls;
pub mod plugin_config;
mod plugins;
pub mod queue;
pub mod rejected;
pub mod retention;
pub mod schedules;
pub mod secrets;
pub mod source_accounts;
pub mod sql;
#[cfg(test)]
pub(crate) mod testing;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use sql::{PgPool, PgTarget, Tx};

pub use lock::InstanceLock;
pub use plugins::{NewPluginVersion, PluginStatus, PluginVersion};

/// Everything that can go wrong opening or using the store, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `qbridge store copy` found something that keeps the copy from being complete.
    #[error("store copy refused: {0}")]
    Copy(String),
    /// The data dir cannot be created, read or written.
    #[error(
        "data dir {path} is not usable: {message}. Fix: create it or give this user write access, or choose another with --data-dir"
    )]
    DataDir { path: PathBuf, message: String },
    /// Another engine already runs on this data dir.
    #[error(
        "another qbridge engine is already using the data dir {data_dir} ({holder}). Stop it first, or start this one with a different --data-dir"
    )]
    Locked { data_dir: PathBuf, holder: String },
    /// The database file is damaged.
    #[error(
        "the database {path} is corrupt ({detail}). qbridge will not start on a damaged queue. Fix: stop qbridge and restore the latest backup with `qbridge restore BACKUP` (it keeps the damaged file beside it for support, and verifies with QuickBooks whatever may have been sent since the backup)"
    )]
    Corrupt { path: PathBuf, detail: String },
    /// The file is some other application's SQLite database.
    #[error(
        "the database file is not a qbridge database (unknown application_id). Check --data-dir"
    )]
    Foreign,
    /// A newer qbridge wrote this database.
    #[error(
        "the database has schema version {found} but this qbridge supports up to {supported}. Upgrade qbridge, or restore a backup taken before the upgrade"
    )]
    TooNew { found: i64, supported: i64 },
    /// A command beside the server found the database at another schema version than its own.
    #[error(
        "the database has schema version {found} but this qbridge binary uses {supported}: the running server is another qbridge version. Run the command with the server's qbridge binary"
    )]
    SchemaMismatch { found: i64, supported: i64 },
    /// A migration failed; the database stays at the previous version.
    #[error("schema migration to version {version} failed: {message}")]
    Migration { version: i64, message: String },
    /// A backup could not be written, or a file given to restore is not a usable backup.
    #[error("backup {path}: {message}")]
    Backup { path: PathBuf, message: String },
    /// The restore bookkeeping cannot run now (a node still runs, or the wrong command).
    #[error("restore refused: {0}")]
    RestoreRefused(String),
    /// A row the caller named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness or validity rule of the data model was violated.
    #[error("{0}")]
    Conflict(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sql::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.into())
    }
}

/// Options for [`Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a connection waits on a lock before failing.
    pub busy_timeout: Duration,
    /// Read-only connections kept open beside the writer (SQLite); the most connections
    /// held at once (PostgreSQL).
    pub readers: usize,
    /// PostgreSQL instead of the data dir's SQLite file (`database.url`).
    pub postgres: Option<PgTarget>,
    /// The key Web Connector passwords are hashed under (`qbwc.password_key_file`); `None`:
    /// `qbwc-auth.key` in the data dir. The nodes of a cluster share one.
    pub password_key_file: Option<PathBuf>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(5),
            readers: 4,
            postgres: None,
            password_key_file: None,
        }
    }
}

/// Handle to the store; cheap to clone, shareable across threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    data_dir: PathBuf,
    /// Write transactions begun since open (for `qbridge bench`: transactions per job).
    writes: std::sync::atomic::AtomicU64,
    opts: StoreOptions,
    owner: Owner,
    /// Where this process runs among a cluster's nodes, found at its first heartbeat.
    place: std::sync::OnceLock<nodes::Place>,
}

/// The database behind a handle. One per process, so the pool's size difference to the
/// SQLite variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Db {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

struct SqliteDb {
    path: PathBuf,
    // Field order is drop order: the read-only connections must close before the writer, so
    // that the writer is the last connection and checkpoints the WAL into the main file.
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Connection>,
}

/// The transaction-level advisory lock every PostgreSQL write takes first ("qbrW"):
/// exclusively by [`Store::write`], shared by [`Store::write_connection`].
const PG_WRITE_LOCK: i64 = 0x7162_7257;

/// The class of the per-company-file advisory locks ("qbrC"; the second key is the
/// connection id). Two-key advisory locks never collide with the one-key [`PG_WRITE_LOCK`].
const PG_CONNECTION_LOCK: i64 = 0x7162_7243;

/// How this handle stands to the instance lock.
enum Owner {
    /// This process is the engine: it holds the lock and hands out leases with its boot id.
    Engine(InstanceLock),
    /// A command beside a running engine (or none): no lock, no migrations, no leases. It
    /// judges leases by the running engine's boot id, so that engine's `sent` jobs are live,
    /// not orphaned.
    Beside { boot_id: String },
}

/// File name of the database inside the data dir.
pub const DATABASE_FILE: &str = "qbridge.db";

impl Store {
    /// Opens (creating if needed) the store in `data_dir`: takes the instance lock, checks the
    /// file's integrity, applies migrations and prepares the connections.
    pub fn open(data_dir: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        prepare_data_dir(data_dir)?;
        let lock = InstanceLock::acquire(data_dir)?;
        Store::open_locked(data_dir, lock, opts)
    }

    /// [`Store::open`] with the instance lock already taken (restore swaps the file under it).
    pub(crate) fn open_locked(
        data_dir: &Path,
        lock: InstanceLock,
        opts: StoreOptions,
    ) -> Result<Store, StoreError> {
        let db = match &opts.postgres {
            Some(target) => {
                let pool = PgPool::new(target.clone(), opts.readers + 2, opts.busy_timeout);
                sql::outside_async(|| migrations::run_postgres(&pool))?;
                Db::Postgres(pool)
            }
            None => {
                let path = data_dir.join(DATABASE_FILE);
                let mut writer = open_connection(&path, false, &opts)?;
                check_integrity(&writer, &path)?;
                migrations::run(&mut writer).map_err(|e| corrupt_if_damaged(e, &path))?;
                let readers = (0..opts.readers)
                    .map(|_| open_connection(&path, true, &opts))
                    .collect::<Result<Vec<_>, _>>()?;
                Db::Sqlite(SqliteDb {
                    path,
                    writer: Mutex::new(writer),
                    readers: Mutex::new(readers),
                })
            }
        };
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                data_dir: data_dir.to_path_buf(),
                writes: std::sync::atomic::AtomicU64::new(0),
                opts,
                owner: Owner::Engine(lock),
                place: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Opens the store beside a running engine without taking the instance lock: for the
    /// commands that work while the server runs. WAL lets these connections read while the
    /// engine writes, and a write here waits its turn on SQLite's own lock (`busy_timeout`).
    /// It never migrates — the engine owns the schema — so a database at another schema
    /// version is refused ([`StoreError::SchemaMismatch`]).
    pub fn open_beside(data_dir: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        // With no engine running, every lease is orphaned: a boot id no lease carries.
        let holder = InstanceLock::holder_boot_id(data_dir);
        let no_engine_here = holder.is_none();
        let boot_id = holder.unwrap_or_else(lock::new_boot_id);
        let db = match &opts.postgres {
            Some(target) => {
                let pool = PgPool::new(target.clone(), 2, opts.busy_timeout);
                let found = sql::outside_async(|| migrations::postgres_version(&pool))?;
                if found != migrations::latest() {
                    return Err(StoreError::SchemaMismatch {
                        found,
                        supported: migrations::latest(),
                    });
                }
                Db::Postgres(pool)
            }
            None => {
                let path = data_dir.join(DATABASE_FILE);
                if !path.exists() {
                    return Err(StoreError::DataDir {
                        path: data_dir.to_path_buf(),
                        message: format!("there is no database ({}) in it yet", path.display()),
                    });
                }
                let writer = open_connection(&path, false, &opts)?;
                let app_id: i32 = writer.query_row("PRAGMA application_id", [], |r| r.get(0))?;
                if app_id != migrations::APPLICATION_ID {
                    return Err(StoreError::Foreign);
                }
                let found: i64 = writer.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                if found != migrations::latest() {
                    return Err(StoreError::SchemaMismatch {
                        found,
                        supported: migrations::latest(),
                    });
                }
                let readers = (0..opts.readers.min(1))
                    .map(|_| open_connection(&path, true, &opts))
                    .collect::<Result<Vec<_>, _>>()?;
                Db::Sqlite(SqliteDb {
                    path,
                    writer: Mutex::new(writer),
                    readers: Mutex::new(readers),
                })
            }
        };
        let store = Store {
            inner: Arc::new(Inner {
                db,
                data_dir: data_dir.to_path_buf(),
                writes: std::sync::atomic::AtomicU64::new(0),
                opts,
                owner: Owner::Beside { boot_id },
                place: std::sync::OnceLock::new(),
            }),
        };
        if no_engine_here && store.backend() == sql::Backend::Postgres {
            store.forget_dead_nodes_here()?;
        }
        Ok(store)
    }

    /// Path of the SQLite database file; `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.db {
            Db::Sqlite(db) => Some(&db.path),
            Db::Postgres(_) => None,
        }
    }

    /// The data dir this handle was opened for (its key files and caches).
    /// Where the Web Connector password key is (see [`StoreOptions::password_key_file`]).
    pub fn password_key_file(&self) -> Option<&Path> {
        self.inner.opts.password_key_file.as_deref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> sql::Backend {
        match &self.inner.db {
            Db::Sqlite(_) => sql::Backend::Sqlite,
            Db::Postgres(_) => sql::Backend::Postgres,
        }
    }

    /// The boot id of this process, stamped on every lease it hands out.
    pub fn boot_id(&self) -> &str {
        match &self.inner.owner {
            Owner::Engine(lock) => lock.boot_id(),
            Owner::Beside { boot_id } => boot_id,
        }
    }

    /// Runs `f` in one write transaction; commits if it returns `Ok`. SQLite: `BEGIN
    /// IMMEDIATE` on the writer. PostgreSQL: read committed under the cluster-wide writer
    /// lock ([`PG_WRITE_LOCK`]).
    pub(crate) fn write<T, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<sql::Error>,
    {
        self.inner
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &self.inner.db {
            Db::Sqlite(db) => {
                let mut conn = db.writer.lock().unwrap_or_else(|p| p.into_inner());
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql::Error::from)?;
                let value = f(&Tx::Sqlite(&tx))?;
                tx.commit().map_err(sql::Error::from)?;
                Ok(value)
            }
            Db::Postgres(pool) => sql::outside_async(|| {
                let mut client = pool.get()?;
                let tx = Tx::postgres(client.begin(false)?);
                tx.execute("SELECT pg_advisory_xact_lock(?1)", [PG_WRITE_LOCK])?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            }),
        }
    }

    /// Runs `f` in one write transaction that touches only company file `connection_id`'s
    /// own rows (its jobs, message sets, mappings, sessions, counters): the Web Connector's
    /// hot path. SQLite: the same as [`Store::write`]. PostgreSQL: the cluster-wide write lock
    /// is taken *shared* and the connection's own lock exclusively, so the sessions of
    /// different company files claim and record on every node at once, while any other
    /// write (which may span company files) still runs alone; the claim's rows are taken
    /// `FOR UPDATE SKIP LOCKED` on top.
    pub(crate) fn write_connection<T, E>(
        &self,
        connection_id: i64,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<sql::Error>,
    {
        self.write_beside(Beside::Connection(connection_id), f)
    }

    /// Runs `f` in one write transaction on rows that no write spanning the store reads,
    /// each changed by a single statement (the login rate-limit buckets). SQLite: the same as
    /// [`Store::write`]. PostgreSQL: the cluster-wide write lock is taken shared only.
    pub(crate) fn write_shared<T, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<sql::Error>,
    {
        self.write_beside(Beside::Shared, f)
    }

    /// Runs `f` in one write transaction on this node's own liveness row, which must never
    /// wait behind other writes (a late heartbeat makes a live node look dead). SQLite: the
    /// same as [`Store::write`]. PostgreSQL: no cluster-wide lock at all.
    pub(crate) fn write_own_node<T, E>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<sql::Error>,
    {
        self.write_beside(Beside::Unlocked, f)
    }

    /// A write that runs beside others on PostgreSQL, by the locks `how` names.
    fn write_beside<T, E>(
        &self,
        how: Beside,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<sql::Error>,
    {
        match &self.inner.db {
            Db::Sqlite(_) => self.write(f),
            Db::Postgres(pool) => {
                self.inner
                    .writes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                sql::outside_async(|| {
                    let mut client = pool.get()?;
                    let tx = Tx::postgres(client.begin(false)?);
                    if how != Beside::Unlocked {
                        tx.execute("SELECT pg_advisory_xact_lock_shared(?1)", [PG_WRITE_LOCK])?;
                    }
                    if let Beside::Connection(id) = how {
                        // Ids beyond 2^31 share a lock with a smaller one: more waiting,
                        // never less exclusion.
                        tx.execute(
                            "SELECT pg_advisory_xact_lock(?1, ?2)",
                            [PG_CONNECTION_LOCK, id & 0x7fff_ffff],
                        )?;
                    }
                    let value = f(&tx)?;
                    tx.commit()?;
                    Ok(value)
                })
            }
        }
    }
}

/// The locks a write beside others takes on PostgreSQL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Beside {
    /// The cluster-wide lock shared and one company file's lock exclusively.
    Connection(i64),
    /// The cluster-wide lock shared.
    Shared,
    /// None.
    Unlocked,
}

impl Store {
    /// The SQLite writer connection, for work that spans several transactions and must let
    /// other writers in between them (pruning in batches). `None` on PostgreSQL.
    pub(crate) fn sqlite_writer(&self) -> Option<std::sync::MutexGuard<'_, Connection>> {
        match &self.inner.db {
            Db::Sqlite(db) => Some(db.writer.lock().unwrap_or_else(|p| p.into_inner())),
            Db::Postgres(_) => None,
        }
    }

    /// Runs `f` on a read-only connection (a consistent snapshot for its duration).
    pub(crate) fn read<T, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<sql::Error>,
    {
        match &self.inner.db {
            Db::Sqlite(db) => {
                let conn = db.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let conn = match conn {
                    Some(c) => c,
                    // More concurrent readers than pooled connections: open one more.
                    None => raw_open(&db.path, true, &self.inner.opts).map_err(sql::Error::from)?,
                };
                let result = f(&Tx::Sqlite(&conn));
                db.readers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
                result
            }
            Db::Postgres(pool) => sql::outside_async(|| {
                let mut client = pool.get()?;
                let tx = Tx::postgres(client.begin(true)?);
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            }),
        }
    }

    /// Write transactions begun by this handle's process since the store was opened.
    pub fn write_transactions(&self) -> u64 {
        self.inner.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// SQLite: full `PRAGMA integrity_check`; `Ok(())` or the first problems SQLite reports.
    /// PostgreSQL checks its own pages; there this only proves the database answers.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let Db::Sqlite(db) = &self.inner.db else {
            return self.read(|t| t.execute_batch("SELECT 1").map_err(StoreError::from));
        };
        let problems = self.read(|t| {
            let c = t.sqlite().expect("a SQLite store reads SQLite");
            pragma_check(c, "integrity_check").map_err(StoreError::from)
        })?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: db.path.clone(),
                detail: problems,
            })
        }
    }
}

/// Creates the data dir if missing (0700: it holds the database, the secrets key and the
/// bootstrap token) and proves it is writable.
fn prepare_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    let fail = |message: String| StoreError::DataDir {
        path: data_dir.to_path_buf(),
        message,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(data_dir)
        .map_err(|e| fail(format!("cannot create it: {e}")))?;
    let meta = std::fs::metadata(data_dir).map_err(|e| fail(e.to_string()))?;
    if !meta.is_dir() {
        return Err(fail("it is a file, not a folder".into()));
    }
    let probe = data_dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(|e| fail(format!("cannot write into it: {e}")))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Why the data dir is too open, if it is: any access for the group or others (mode bits
/// `0o077`). The server refuses to start on such a dir, `qbridge doctor` explains the fix.
/// `None` also when the dir does not exist yet (it will be created 0700).
pub fn data_dir_mode_problem(data_dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "the data dir {} has mode {mode:04o}: other users of this machine can reach the database, the secrets key and the bootstrap token. Fix: chmod 700 {}",
                data_dir.display(),
                data_dir.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = data_dir;
        None
    }
}

fn open_connection(
    path: &Path,
    read_only: bool,
    opts: &StoreOptions,
) -> Result<Connection, StoreError> {
    raw_open(path, read_only, opts).map_err(|e| corrupt_if_damaged(e.into(), path))
}

fn raw_open(path: &Path, read_only: bool, opts: &StoreOptions) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(opts.busy_timeout)?;
    let pragmas = if read_only {
        "PRAGMA foreign_keys=ON;"
    } else {
        // journal_mode persists in the file; the others are per connection.
        // auto_vacuum takes effect only on a new, empty file; an older database is switched
        // by its first pruning run (store::retention).
        "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
         PRAGMA journal_size_limit=67108864;"
    };
    conn.execute_batch(pragmas)?;
    Ok(conn)
}

/// `PRAGMA quick_check` at start-up: cheap enough for every boot, catches torn pages.
fn check_integrity(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let problems =
        pragma_check(conn, "quick_check").map_err(|e| corrupt_if_damaged(e.into(), path))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: problems,
        })
    }
}

/// Runs an integrity pragma; returns "" when it says ok, else up to five of its messages.
fn pragma_check(conn: &Connection, pragma: &str) -> Result<String, rusqlite::Error> {
    let mut stmt = conn.prepare(&format!("PRAGMA {pragma}(5)"))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(String::new())
    } else {
        Ok(rows.join("; "))
    }
}

/// SQLite reports damage as NOTADB/CORRUPT on whatever statement first touches the bad page;
/// turn those into the restore hint instead of a bare database error.
fn corrupt_if_damaged(err: StoreError, path: &Path) -> StoreError {
    if let StoreError::Database(sql::Error::Sqlite(rusqlite::Error::SqliteFailure(code, msg))) =
        &err
        && matches!(
            code.code,
            rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
        )
    {
        return StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: msg.clone().unwrap_or_else(|| code.to_string()),
        };
    }
    err
}

/// Read-only inspection for `doctor`: never takes the instance lock, never migrates.
pub fn inspect(data_dir: &Path) -> Result<Inspection, StoreError> {
    let path = data_dir.join(DATABASE_FILE);
    if !path.exists() {
        return Ok(Inspection {
            exists: false,
            schema_version: 0,
            latest_version: migrations::latest(),
        });
    }
    let opts = StoreOptions::default();
    let conn = open_connection(&path, true, &opts)?;
    check_integrity(&conn, &path)?;
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app_id != 0 && app_id != migrations::APPLICATION_ID {
        return Err(StoreError::Foreign);
    }
    let schema_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(Inspection {
        exists: true,
        schema_version,
        latest_version: migrations::latest(),
    })
}

/// What [`inspect`] found.
#[derive(Debug)]
pub struct Inspection {
    /// False before the first `serve`.
    pub exists: bool,
    /// `PRAGMA user_version` of the file.
    pub schema_version: i64,
    /// The version this binary migrates to.
    pub latest_version: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_migrates_and_sets_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let (mode, sync, fk, version): (String, i64, i64, i64) = store
            .write(|tx| {
                Ok::<_, sql::Error>((
                    tx.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                    tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
                    tx.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
                    tx.query_row("PRAGMA user_version", [], |r| r.get(0))?,
                ))
            })
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "synchronous=FULL");
        assert_eq!(fk, 1);
        assert_eq!(version, migrations::latest());
        store.integrity_check().unwrap();
    }

    #[test]
    fn second_open_on_same_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let err = Store::open(dir.path(), StoreOptions::default())
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("already using the data dir"));
    }

    #[test]
    fn a_store_beside_the_engine_shares_its_boot_id_and_refuses_another_schema() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let beside = Store::open_beside(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(
            beside.boot_id(),
            engine.boot_id(),
            "the engine's leases are live"
        );
        beside.revoke_tokens_named("nobody", "cli").unwrap();
        drop((engine, beside));
        let stopped = Store::open_beside(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(stopped.boot_id().len(), 16, "a boot id no lease carries");
        drop(stopped);
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        drop(conn);
        let err = Store::open_beside(dir.path(), StoreOptions::default())
            .err()
            .unwrap();
        assert!(
            matches!(err, StoreError::SchemaMismatch { found: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn lock_is_released_when_store_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), StoreOptions::default()).unwrap());
        Store::open(dir.path(), StoreOptions::default()).unwrap();
    }

    #[test]
    fn garbage_file_is_refused_with_restore_hint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DATABASE_FILE), vec![0x5a; 8192]).unwrap();
        let err = Store::open(dir.path(), StoreOptions::default())
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("restore the latest backup"));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), StoreOptions::default()).unwrap());
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        drop(conn);
        let err = Store::open(dir.path(), StoreOptions::default())
            .err()
            .unwrap();
        assert!(
            matches!(err, StoreError::TooNew { found: 999, .. }),
            "{err}"
        );
    }
}
