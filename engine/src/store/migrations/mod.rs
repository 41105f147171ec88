//! Versioned schema migrations: SQLite's tracked in `PRAGMA user_version`, PostgreSQL's in
//! the `qbridge_schema` table.
//!
//! PostgreSQL starts at version 22 in one step (`postgres_v22.sql`, the schema SQLite's
//! first 22 migrations build); every later version is a pair, one entry per backend.
//!
//! Each entry moves the schema from version `i` to `i + 1` and runs in its own `BEGIN
//! IMMEDIATE` transaction together with the version bump, so a crash mid-migration leaves the
//! previous version intact. Entries are append-only: never edit one that has shipped.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;
use super::sql::{OptionalExt, PgPool, Tx};

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
    // 2: the queue (see store::queue): source records, jobs, their dependencies, message sets
    // and the mapping of plugin keys to QuickBooks objects.
    r#"
    CREATE TABLE record(
        id INTEGER PRIMARY KEY,
        connection_id INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        kind TEXT NOT NULL,
        source_id TEXT,
        payload TEXT NOT NULL CHECK(length(payload) <= 4194304),
        received_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE job(
        id INTEGER PRIMARY KEY,
        connection_id INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        record_id INTEGER REFERENCES record(id) ON DELETE SET NULL,
        key TEXT NOT NULL CHECK(length(key) BETWEEN 1 AND 200),
        request_type TEXT NOT NULL,
        qbxml TEXT NOT NULL,
        probe TEXT,
        adopt_existing INTEGER NOT NULL DEFAULT 0,
        notes TEXT NOT NULL DEFAULT '[]',
        state TEXT NOT NULL CHECK(state IN ('available','held','sent','in_doubt','retryable',
                                            'completed','discarded','cancelled')),
        verify INTEGER NOT NULL DEFAULT 0,
        priority INTEGER NOT NULL DEFAULT 2 CHECK(priority BETWEEN 0 AND 3),
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 12,
        run_at INTEGER NOT NULL,
        session_id INTEGER,
        lease_owner TEXT,
        message_set_id TEXT CHECK(length(message_set_id) <= 23),
        request_id TEXT CHECK(length(request_id) <= 50),
        object_id TEXT,
        last_status INTEGER,
        advice TEXT,
        errors TEXT NOT NULL DEFAULT '[]',
        response TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        finalized_at INTEGER,
        CHECK((finalized_at IS NULL) = (state NOT IN ('completed','discarded','cancelled')))
    ) STRICT;
    CREATE UNIQUE INDEX job_unique ON job(connection_id, plugin, key)
        WHERE state NOT IN ('completed','discarded','cancelled');
    CREATE INDEX job_ready ON job(connection_id, priority, id)
        WHERE state IN ('available','retryable');
    CREATE INDEX job_session ON job(session_id) WHERE state IN ('sent','in_doubt');
    CREATE INDEX job_message_set ON job(message_set_id);
    CREATE INDEX job_key ON job(connection_id, plugin, key);
    CREATE INDEX job_prune ON job(finalized_at) WHERE finalized_at IS NOT NULL;
    CREATE TABLE job_dep(
        job_id INTEGER NOT NULL REFERENCES job(id) ON DELETE CASCADE,
        depends_on TEXT NOT NULL,
        PRIMARY KEY(job_id, depends_on)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX job_dep_target ON job_dep(depends_on);
    CREATE TABLE message_set(
        id TEXT NOT NULL UNIQUE,
        connection_id INTEGER NOT NULL,
        session_id INTEGER,
        state TEXT NOT NULL CHECK(state IN ('sent','answered','in_doubt','recovering','resolved')),
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX message_set_pending ON message_set(connection_id, state);
    CREATE TABLE mapping(
        connection_id INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        key TEXT NOT NULL,
        object_id TEXT NOT NULL,
        edit_sequence TEXT,
        request_type TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY(connection_id, plugin, key)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 3: API tokens and temporary support grants (see store::tokens). Only SHA-256 hashes.
    r#"
    CREATE TABLE token(
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK(kind IN ('token','grant')),
        scope TEXT NOT NULL CHECK(scope IN ('ingest','read','operator','admin')),
        name TEXT NOT NULL,
        reason TEXT,
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        CHECK(kind = 'token' OR expires_at IS NOT NULL)
    ) STRICT;
    "#,
    // 4: QBWC connections (one per company file), their Web Connector users (argon2id
    // hashes only) and sessions (SHA-256 of the ticket only; leases stamped with the boot id).
    r#"
    CREATE TABLE qbwc_connection(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        file_id TEXT NOT NULL UNIQUE,
        company_file TEXT NOT NULL DEFAULT '',
        path_warning TEXT,
        product_name TEXT,
        edition TEXT,
        qb_major INTEGER,
        qb_minor INTEGER,
        country TEXT,
        supported_versions TEXT,
        file_id_stamp TEXT,
        qbxml_major INTEGER,
        qbxml_minor INTEGER,
        last_error TEXT,
        last_error_at INTEGER,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE qbwc_user(
        id INTEGER PRIMARY KEY,
        connection_id INTEGER NOT NULL REFERENCES qbwc_connection(id),
        username TEXT NOT NULL UNIQUE,
        file_id TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        reported_path TEXT,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE qbwc_session(
        id INTEGER PRIMARY KEY,
        ticket_hash TEXT NOT NULL UNIQUE,
        connection_id INTEGER NOT NULL REFERENCES qbwc_connection(id),
        user_id INTEGER NOT NULL REFERENCES qbwc_user(id),
        boot_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        lease_until INTEGER NOT NULL,
        closed_at INTEGER,
        end_reason TEXT,
        company_file TEXT NOT NULL DEFAULT '',
        country TEXT NOT NULL DEFAULT '',
        qbxml_major INTEGER NOT NULL DEFAULT 0,
        qbxml_minor INTEGER NOT NULL DEFAULT 0,
        negotiated INTEGER NOT NULL DEFAULT 0,
        wrong_file INTEGER NOT NULL DEFAULT 0,
        awaiting_response INTEGER NOT NULL DEFAULT 0,
        connection_errors INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX qbwc_session_open ON qbwc_session(connection_id) WHERE closed_at IS NULL;
    "#,
    // 5: pull schedules (see store::schedules): cron in the firm's timezone, next fire in UTC.
    r#"
    CREATE TABLE schedule(
        id INTEGER PRIMARY KEY,
        connection_id INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        cron TEXT NOT NULL,
        timezone TEXT NOT NULL,
        next_run_at INTEGER,
        last_run_at INTEGER,
        last_result TEXT,
        cursor TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE(connection_id, plugin)
    ) STRICT;
    CREATE INDEX schedule_due ON schedule(next_run_at) WHERE next_run_at IS NOT NULL;
    "#,
    // 6: source secrets, encrypted at rest (see store::secrets). The key is in a separate file.
    r#"
    CREATE TABLE secret(
        plugin TEXT NOT NULL,
        name TEXT NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        set_at INTEGER NOT NULL,
        set_by TEXT NOT NULL,
        PRIMARY KEY(plugin, name)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 7: the plugin registry: every installed version of every plugin (see store::plugins).
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
    // 8: plugin calls deferred past a QuickBooks write (see store::plugin_calls): where a
    // record came from, and the calls to retry until they succeed — acknowledging a pulled
    // record to its source, and `on_response` when it failed the first time.
    r#"
    ALTER TABLE record ADD COLUMN origin TEXT NOT NULL DEFAULT 'push' CHECK(origin IN ('push', 'pull'));
    CREATE TABLE plugin_call(
        job_id INTEGER NOT NULL REFERENCES job(id) ON DELETE CASCADE,
        call TEXT NOT NULL CHECK(call IN ('acknowledge', 'on_response')),
        state TEXT NOT NULL CHECK(state IN ('pending', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        done_at INTEGER,
        PRIMARY KEY(job_id, call)
    ) STRICT;
    CREATE INDEX plugin_call_due ON plugin_call(next_at) WHERE state = 'pending';
    "#,
    // 9: the cost of a QBWC call independent of how much is queued or finished (see
    // store::queue::claim). `unmet` counts a job's dependencies not yet in QuickBooks (counted
    // down when a mapping is made), so readiness is an index seek, not a check of every waiting job;
    // `job_count` keeps jobs per connection and state, so progress is not a COUNT(*); each
    // per-call query has a partial index on exactly the states it reads (queries repeat the
    // index's WHERE terms verbatim, which is how SQLite matches partial indexes).
    r#"
    ALTER TABLE job ADD COLUMN unmet INTEGER NOT NULL DEFAULT 0;
    UPDATE job SET unmet = (SELECT COUNT(*) FROM job_dep d WHERE d.job_id = job.id AND NOT EXISTS (
            SELECT 1 FROM mapping m WHERE m.connection_id = job.connection_id
            AND m.plugin = job.plugin AND m.key = d.depends_on))
        WHERE state NOT IN ('completed','discarded','cancelled');
    DROP INDEX job_ready;
    DROP INDEX job_session;
    CREATE INDEX job_ready ON job(connection_id, priority, id)
        WHERE state IN ('available','retryable') AND verify=0 AND unmet=0;
    CREATE INDEX job_verify ON job(connection_id, priority, id)
        WHERE state IN ('available','retryable') AND verify=1;
    CREATE INDEX job_sent ON job(connection_id, session_id) WHERE state='sent';
    CREATE INDEX job_in_doubt ON job(connection_id) WHERE state='in_doubt';
    CREATE INDEX job_waiting ON job(connection_id, created_at)
        WHERE state IN ('available','retryable','held','in_doubt');
    CREATE INDEX message_set_session ON message_set(session_id) WHERE state IN ('sent','recovering');
    CREATE TABLE job_count(
        connection_id INTEGER NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY(connection_id, state)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO job_count SELECT connection_id, state, COUNT(*) FROM job GROUP BY connection_id, state;
    CREATE TRIGGER job_count_insert AFTER INSERT ON job BEGIN
        INSERT OR IGNORE INTO job_count VALUES (NEW.connection_id, NEW.state, 0);
        UPDATE job_count SET n = n + 1 WHERE connection_id = NEW.connection_id AND state = NEW.state;
    END;
    CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job WHEN OLD.state != NEW.state BEGIN
        UPDATE job_count SET n = n - 1 WHERE connection_id = OLD.connection_id AND state = OLD.state;
        INSERT OR IGNORE INTO job_count VALUES (NEW.connection_id, NEW.state, 0);
        UPDATE job_count SET n = n + 1 WHERE connection_id = NEW.connection_id AND state = NEW.state;
    END;
    CREATE TRIGGER job_count_delete AFTER DELETE ON job BEGIN
        UPDATE job_count SET n = n - 1 WHERE connection_id = OLD.connection_id AND state = OLD.state;
    END;
    "#,
    // 10: no job loops forever (issue 22). `sends` counts how often a job's request went out
    // since it last changed (enqueue, a rename, an admin retry), so a request QuickBooks keeps
    // refusing the same way is held instead of re-sent; `renamed_from` keeps the name the
    // plugin asked for when the shared name space made qbridge pick another, and the mapping
    // keeps both so dependents enqueued later refer to the name QuickBooks has.
    r#"
    ALTER TABLE job ADD COLUMN sends INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job ADD COLUMN renamed_from TEXT;
    ALTER TABLE mapping ADD COLUMN name TEXT;
    ALTER TABLE mapping ADD COLUMN renamed_from TEXT;
    "#,
    // 11: trust boundaries (issue 15, items 4-7): tokens fenced to one connection and/or one
    // plugin (store::tokens); web UI sessions, only the id's hash stored (store::admin_sessions);
    // the SHA-256 of each compiled plugin cache file, checked before it is loaded
    // (store::plugin_cache); signed anchors of the audit chain's head (store::audit_anchor).
    r#"
    ALTER TABLE token ADD COLUMN fence_connection INTEGER REFERENCES qbwc_connection(id);
    ALTER TABLE token ADD COLUMN fence_plugin TEXT CHECK(length(fence_plugin) BETWEEN 1 AND 100);
    CREATE TABLE admin_session(
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        token_id INTEGER NOT NULL REFERENCES token(id),
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        idle_ms INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    CREATE TABLE plugin_cache(
        file TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE audit_anchor(
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        audit_id INTEGER NOT NULL,
        row_hash TEXT NOT NULL,
        mac TEXT NOT NULL
    ) STRICT;
    "#,
    // 12: iterated queries page by page. A page's job remembers the QBWC session whose
    // QuickBooks session holds the iterator; claimed in another session, it starts over.
    r#"
    ALTER TABLE job ADD COLUMN iterator_session INTEGER;
    "#,
    // 13: pulled records the plugin refused, kept with the reason (store::rejected), so a
    // cursor never moves past a record that is neither queued nor kept here.
    r#"
    CREATE TABLE rejected_record(
        id INTEGER PRIMARY KEY,
        connection_id INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        plugin_version TEXT NOT NULL,
        kind TEXT NOT NULL,
        source_id TEXT,
        fingerprint TEXT NOT NULL,
        payload TEXT CHECK(payload IS NULL OR length(payload) <= 4194304),
        reason TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        first_at INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        resolved_at INTEGER,
        record_id INTEGER REFERENCES record(id) ON DELETE SET NULL,
        UNIQUE(connection_id, plugin, fingerprint)
    ) STRICT;
    CREATE INDEX rejected_open ON rejected_record(plugin, plugin_version)
        WHERE resolved_at IS NULL;
    "#,
    // 14: how often error recovery was asked for a message set, so a recovery whose answer
    // is lost every time ends (its jobs are verified by probe) instead of repeating forever.
    r#"
    ALTER TABLE message_set ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;
    "#,
    // 15: source secrets per connection: one instance serves many firms, each with its own
    // source account. connection_id 0 is the plugin-wide default a connection without its
    // own secret of that name uses (0 rather than NULL so the primary key holds).
    r#"
    CREATE TABLE secret_by_connection(
        plugin TEXT NOT NULL,
        name TEXT NOT NULL,
        connection_id INTEGER NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        set_at INTEGER NOT NULL,
        set_by TEXT NOT NULL,
        PRIMARY KEY(plugin, name, connection_id)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO secret_by_connection
        SELECT plugin, name, 0, nonce, ciphertext, set_at, set_by FROM secret;
    DROP TABLE secret;
    ALTER TABLE secret_by_connection RENAME TO secret;
    "#,
    // 16: the dashboard for many firms (issue 19) reads per-connection figures without
    // scanning jobs or sessions: `job_day` counts jobs finished per connection and UTC day
    // (kept by a trigger, so 14 days of activity is at most 14 rows per connection), and
    // `qbwc_session_recent` finds a connection's last contact by an index seek.
    r#"
    CREATE TABLE job_day(
        connection_id INTEGER NOT NULL,
        day INTEGER NOT NULL,
        completed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY(connection_id, day)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO job_day(connection_id, day, completed, failed)
        SELECT connection_id, finalized_at / 86400000,
               SUM(state = 'completed'), SUM(state = 'discarded')
        FROM job WHERE finalized_at IS NOT NULL AND state IN ('completed','discarded')
        GROUP BY 1, 2;
    CREATE TRIGGER job_day_finished AFTER UPDATE OF state ON job
        WHEN OLD.state != NEW.state AND NEW.state IN ('completed','discarded') BEGIN
        INSERT OR IGNORE INTO job_day(connection_id, day)
            VALUES (NEW.connection_id, CAST(strftime('%s','now') AS INTEGER) / 86400);
        UPDATE job_day SET completed = completed + (NEW.state = 'completed'),
                           failed = failed + (NEW.state = 'discarded')
            WHERE connection_id = NEW.connection_id
              AND day = CAST(strftime('%s','now') AS INTEGER) / 86400;
    END;
    CREATE INDEX qbwc_session_recent ON qbwc_session(connection_id, last_seen_at);
    "#,
    // 17: retention (issue 19, see store::retention): completed jobs' requests and responses
    // and their records' payloads are cleared after `retention.completed_days`; the record's
    // SHA-256 stays (`content_hash`, NULL for older rows until they are pruned), `pruned_at`
    // marks what was cleared. `job_unpruned` finds due jobs without passing pruned ones;
    // `job_record` finds a record's jobs.
    r#"
    ALTER TABLE record ADD COLUMN content_hash TEXT;
    ALTER TABLE record ADD COLUMN pruned_at INTEGER;
    ALTER TABLE job ADD COLUMN pruned_at INTEGER;
    CREATE INDEX job_unpruned ON job(finalized_at) WHERE state='completed' AND pruned_at IS NULL;
    CREATE INDEX job_record ON job(record_id);
    "#,
    // 18: restores from a backup (issue 19). Each `qbridge restore` records a generation;
    // until `verify_until` every new job is verified by its probe before it is sent, since
    // records re-ingested after an old backup may already be in QuickBooks.
    r#"
    CREATE TABLE restore_generation(
        id INTEGER PRIMARY KEY,
        restored_at INTEGER NOT NULL,
        backup_taken_at INTEGER NOT NULL,
        verify_until INTEGER NOT NULL,
        source TEXT NOT NULL
    ) STRICT;
    "#,
    // 19: alerts (issue 19): webhook destinations (the signing secret and the URL's path sealed
    // with the secrets key), an outbox of alert events written with the change that causes them (`dedup_key`
    // makes "once per silence" a unique index, not a scan), and one delivery per event and
    // destination with its attempts and back-off.
    r#"
    CREATE TABLE alert_webhook(
        id INTEGER PRIMARY KEY,
        url_shown TEXT NOT NULL,
        connection_id INTEGER REFERENCES qbwc_connection(id) ON DELETE CASCADE,
        kinds TEXT NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL
    ) STRICT;
    CREATE TABLE alert_event(
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        connection_id INTEGER,
        dedup_key TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        fanned_out INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX alert_event_new ON alert_event(id) WHERE fanned_out = 0;
    CREATE INDEX alert_event_connection ON alert_event(connection_id, id);
    CREATE TABLE alert_delivery(
        event_id INTEGER NOT NULL REFERENCES alert_event(id) ON DELETE CASCADE,
        webhook_id INTEGER NOT NULL REFERENCES alert_webhook(id) ON DELETE CASCADE,
        state TEXT NOT NULL CHECK (state IN ('pending','delivered','failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        PRIMARY KEY(event_id, webhook_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX alert_delivery_due ON alert_delivery(next_attempt_at) WHERE state = 'pending';
    "#,
    // 20: alert email (issue 19): a destination is a webhook or an SMTP relay, so fan-out,
    // back-off, give-up and audit rows stay shared. An email destination seals its SMTP URL
    // (credentials included), sender and recipients where a webhook seals its secret and path.
    r#"
    ALTER TABLE alert_webhook ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook'
        CHECK (kind IN ('webhook','email'));
    "#,
    // 21: changes after the first sync (issue 18). Each job is one version of what its key
    // should be in QuickBooks: `content_hash` of the plugin's request (action, type, XML, line
    // keys) tells a new version from a repeat, `version` counts them per key. A write whose
    // key QuickBooks already has is sent as the matching Mod (`sent_type`/`sent_qbxml`: what
    // actually went out), built at claim time from `mapping`'s current identity: EditSequence,
    // TxnLineIDs (`line_ids`, JSON `[[kind, id, line key or null], …]`) and the Add last
    // written (`written`, what a conflict is judged against). After a stale EditSequence
    // (3200) the job re-reads the object (`refresh_query`, sent like a probe) at most once per
    // version (`refreshes`); a conflict held for the admin keeps its diff (`conflict`, JSON).
    // A version arriving while the one before may already be in QuickBooks (sent, in doubt)
    // waits in `job_next` — at most one per key, a newer one replacing it — and becomes a job
    // when that one is finished.
    r#"
    ALTER TABLE job ADD COLUMN content_hash TEXT;
    ALTER TABLE job ADD COLUMN action TEXT NOT NULL DEFAULT 'write'
        CHECK (action IN ('write','void','delete'));
    ALTER TABLE job ADD COLUMN line_keys TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE job ADD COLUMN significant TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE job ADD COLUMN modifies INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE job ADD COLUMN sent_type TEXT;
    ALTER TABLE job ADD COLUMN sent_qbxml TEXT;
    ALTER TABLE job ADD COLUMN refresh_query TEXT;
    ALTER TABLE job ADD COLUMN refreshes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job ADD COLUMN conflict TEXT;
    ALTER TABLE mapping ADD COLUMN content_hash TEXT;
    ALTER TABLE mapping ADD COLUMN written TEXT;
    ALTER TABLE mapping ADD COLUMN line_ids TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE mapping ADD COLUMN removed TEXT CHECK (removed IN ('voided','inactive'));
    -- A dependency is met once its key is in QuickBooks with no newer version pending, so
    -- an invoice waits for the rename of its customer; `unmet` counts the unmet ones.
    ALTER TABLE job_dep ADD COLUMN met INTEGER NOT NULL DEFAULT 1;
    UPDATE job_dep SET met = 0 WHERE EXISTS (SELECT 1 FROM job j WHERE j.id = job_dep.job_id
        AND j.state NOT IN ('completed','discarded','cancelled')
        AND NOT EXISTS (SELECT 1 FROM mapping m WHERE m.connection_id = j.connection_id
            AND m.plugin = j.plugin AND m.key = job_dep.depends_on));
    CREATE TABLE job_next(
        connection_id INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        key TEXT NOT NULL,
        record_id INTEGER REFERENCES record(id) ON DELETE SET NULL,
        request TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY(connection_id, plugin, key)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 22: per-installation plugin configuration (issue 20): the values an admin gives the
    // `config` keys a plugin declares, plugin-wide (connection_id 0, not NULL, so the primary
    // key holds) or for one connection. Plain text: settings such as a tenant or a zone are
    // not secrets (those live in `secret`).
    r#"
    CREATE TABLE plugin_config(
        plugin TEXT NOT NULL,
        connection_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at INTEGER NOT NULL,
        PRIMARY KEY(plugin, name, connection_id)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 23: engine nodes (issue 21). Every engine process heartbeats its boot id here; a lease
    // or a session whose node stopped heartbeating belongs to a dead process, whichever node
    // of a cluster looks at it. A session's outstanding message set (`in_flight`) lives in
    // its row, so any node can take the response. Same on PostgreSQL (PG_MIGRATIONS[0]).
    r#"
    CREATE TABLE node(
        boot_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        data_dir TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL
    ) STRICT;
    ALTER TABLE qbwc_session ADD COLUMN in_flight TEXT;
    "#,
    // 24: failed Web Connector logins per username and address (issue 21): the rate limits'
    // token buckets, shared by every node of a cluster (`store/logins.rs`). Same on
    // PostgreSQL (PG_MIGRATIONS[1]).
    r#"
    CREATE TABLE login_failure(
        kind INTEGER NOT NULL,
        key TEXT NOT NULL,
        milli_tokens INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY(kind, key)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX login_failure_at ON login_failure(at_ms);
    "#,
    // 25: answers recorded per Web Connector session, for the percentage QBWC shows: in the
    // session's row, so every node of a cluster counts the same session alike.
    r#"
    ALTER TABLE qbwc_session ADD COLUMN answered INTEGER NOT NULL DEFAULT 0;
    "#,
    // 26: a node's place is the random id kept in its data dir (`node-id`): host name and
    // path alone collide across containers started from one image.
    r#"
    ALTER TABLE node ADD COLUMN place TEXT NOT NULL DEFAULT '';
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

/// The PostgreSQL schema at version [`PG_BASELINE_VERSION`].
const PG_BASELINE: &str = include_str!("postgres_v22.sql");
const PG_BASELINE_VERSION: i64 = 22;
/// PostgreSQL's migrations after the baseline: index `i` upgrades `22 + i` to `23 + i`.
const PG_MIGRATIONS: &[&str] = &[
    // 23: engine nodes (see MIGRATIONS[22]).
    r#"
    CREATE TABLE node(
        boot_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        data_dir TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL
    );
    ALTER TABLE qbwc_session ADD COLUMN in_flight TEXT;
    "#,
    // 24: login rate-limit buckets (see MIGRATIONS[23]).
    r#"
    CREATE TABLE login_failure(
        kind BIGINT NOT NULL,
        key TEXT NOT NULL,
        milli_tokens BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        PRIMARY KEY(kind, key)
    );
    CREATE INDEX login_failure_at ON login_failure(at_ms);
    "#,
    // 25: answers per session (see MIGRATIONS[24]).
    r#"
    ALTER TABLE qbwc_session ADD COLUMN answered BIGINT NOT NULL DEFAULT 0;
    "#,
    // 26: node places (see MIGRATIONS[25]).
    r#"
    ALTER TABLE node ADD COLUMN place TEXT NOT NULL DEFAULT '';
    "#,
];
/// The session-level advisory lock a node holds while it migrates ("qbrM"), so two nodes
/// started together do not both create the schema.
const PG_MIGRATION_LOCK: i64 = 0x7162_724d;

/// The schema version of a PostgreSQL database (0 when it has no qbridge schema yet).
pub fn postgres_version(pool: &PgPool) -> Result<i64, StoreError> {
    let mut client = pool.get()?;
    let tx = Tx::postgres(client.begin(true)?);
    let version = version_on(&tx)?;
    tx.commit()?;
    Ok(version)
}

fn version_on(tx: &Tx<'_>) -> Result<i64, StoreError> {
    let exists: bool = tx.query_row(
        "SELECT to_regclass('qbridge_schema') IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    Ok(tx
        .query_row("SELECT version FROM qbridge_schema", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Brings a PostgreSQL database up to [`latest`], one transaction per version, under the
/// migration lock; refuses a database written by a newer binary.
pub fn run_postgres(pool: &PgPool) -> Result<(), StoreError> {
    debug_assert_eq!(PG_BASELINE_VERSION + PG_MIGRATIONS.len() as i64, latest());
    let mut client = pool.get()?;
    loop {
        let tx = Tx::postgres(client.begin(false)?);
        tx.execute("SELECT pg_advisory_xact_lock(?1)", [PG_MIGRATION_LOCK])?;
        let current = version_on(&tx)?;
        if current > latest() {
            return Err(StoreError::TooNew {
                found: current,
                supported: latest(),
            });
        }
        if current == latest() {
            tx.commit()?;
            return Ok(());
        }
        let (sql, next) = if current == 0 {
            (PG_BASELINE, PG_BASELINE_VERSION)
        } else if current < PG_BASELINE_VERSION {
            return Err(StoreError::Migration {
                version: current + 1,
                message: format!("a PostgreSQL schema at version {current} was never released"),
            });
        } else {
            (
                PG_MIGRATIONS[(current - PG_BASELINE_VERSION) as usize],
                current + 1,
            )
        };
        let migrate = |tx: &Tx<'_>| -> Result<(), super::sql::Error> {
            tx.execute_batch(sql)?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS qbridge_schema(version BIGINT NOT NULL);
                 DELETE FROM qbridge_schema;",
            )?;
            tx.execute("INSERT INTO qbridge_schema(version) VALUES (?1)", [next])?;
            Ok(())
        };
        migrate(&tx).map_err(|e| StoreError::Migration {
            version: next,
            message: e.to_string(),
        })?;
        tx.commit()?;
    }
}
