//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Each entry moves the schema from version `i` to `i + 1` and runs in its own `BEGIN
//! IMMEDIATE` transaction together with the version bump, so a crash mid-migration leaves the
//! previous version intact. Entries are append-only: never edit one that has shipped.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// `PRAGMA application_id` marks the file as ours ("QBRG"), so `doctor` can tell a qbridge
/// database from some other SQLite file put in the data dir by mistake.
pub const APPLICATION_ID: i32 = 0x5142_5247;

/// The migrations, in order. Index `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the meta table and the audit log (hash-chained, append-only; see store::audit).
    r#"
    CREATE TABLE meta(
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    CREATE TABLE audit(
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        ip TEXT,
        user_agent TEXT,
        prev_hash TEXT NOT NULL,
        row_hash TEXT NOT NULL
    ) STRICT;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: the plugin registry: every installed version of every plugin (see store::plugins).
    r#"
    CREATE TABLE plugin_versions(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        manifest TEXT NOT NULL,
        wasm BLOB NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'staged', 'previous', 'removed')),
        approved_request_types TEXT NOT NULL DEFAULT '[]',
        installed_by TEXT NOT NULL,
        installed_at INTEGER NOT NULL,
        approved_by TEXT,
        approved_at INTEGER,
        activated_at INTEGER,
        UNIQUE(name, version)
    ) STRICT;
    CREATE UNIQUE INDEX plugin_versions_one_active ON plugin_versions(name) WHERE status = 'active';
    CREATE UNIQUE INDEX plugin_versions_one_staged ON plugin_versions(name) WHERE status = 'staged';
    "#,
];

/// The schema version this binary writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database up to [`latest`]; refuses a database written by a newer binary.
pub fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(StoreError::Foreign);
    }
    if current > latest() {
        return Err(StoreError::TooNew {
            found: current,
            supported: latest(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql).map_err(|e| StoreError::Migration {
            version: index as i64 + 1,
            message: e.to_string(),
        })?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
    }
    Ok(())
}
