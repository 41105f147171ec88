//! The per-call queries' plans: each must read through the index meant for it, so the cost
//! of a QBWC call follows the batch, not the queue or the history.

use crate::store::{Store, StoreError, StoreOptions};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    (dir, store)
}

/// The query plan SQLite chooses for `sql` (parameters unbound: plans do not depend on them).
fn plan(c: &crate::store::sql::Tx<'_>, sql: &str) -> String {
    let c = c.sqlite().expect("the plans are SQLite's");
    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    let rows = stmt
        .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

/// Every query on the per-call path of a QBWC session reads through the index meant for it:
/// no scan of the queue or the history, no sort of everything waiting. (A later change that
/// breaks the match of a partial index — one WHERE term worded differently — fails here.)
#[test]
fn hot_queries_use_their_indexes() {
    use crate::store::queue::{claim, results, views};
    let own = |cond: &str| format!("SELECT j.id FROM job j WHERE {cond}");
    // The access path each must take, as SQLite words it (constraints included: a seek on
    // only a prefix of an index can read as much as a scan).
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "claim: ready jobs",
            claim::READY.into(),
            vec!["job_ready (connection_id=?)"],
        ),
        (
            "claim: probes",
            claim::PROBES.into(),
            vec!["job_verify (connection_id=?)"],
        ),
        (
            "claim: in doubt to verify",
            claim::VERIFY_UNCOVERED.into(),
            vec![
                "job_in_doubt (connection_id=?)",
                "sqlite_autoindex_message_set_1 (id=?)",
            ],
        ),
        (
            "claim: set to recover",
            claim::UNANSWERED_SET.into(),
            vec!["message_set_pending (connection_id=? AND state=?)"],
        ),
        (
            "has work",
            claim::HAS_WORK.into(),
            vec![
                "message_set_pending (connection_id=? AND state=?)",
                "job_in_doubt (connection_id=?)",
                "job_sent (connection_id=?)",
                "job_verify (connection_id=?)",
                "job_ready (connection_id=?)",
            ],
        ),
        (
            "progress",
            claim::PENDING.into(),
            vec!["PRIMARY KEY (connection_id=? AND state=?)"],
        ),
        (
            "response: owed (sent)",
            own(results::OWED_SENT),
            vec!["job_sent (connection_id=? AND session_id=?)"],
        ),
        (
            "response: owed (recovered)",
            own(results::OWED_RECOVERED),
            vec!["job_message_set (message_set_id=?)"],
        ),
        (
            "response: unanswered",
            results::UNANSWERED_SENT.into(),
            vec!["job_sent (connection_id=? AND session_id=?)"],
        ),
        (
            "status: oldest waiting",
            views::OLDEST_WAITING.into(),
            vec!["job_waiting (connection_id=?)"],
        ),
        (
            "completion: dependents",
            results::DEPENDENTS_OF.into(),
            vec![
                "INTEGER PRIMARY KEY (rowid=?)",
                "job_dep_target (depends_on=?)",
            ],
        ),
        (
            "completion: dependencies met",
            results::DEPENDENCIES_MET.into(),
            vec!["job_dep_target (depends_on=?)"],
        ),
        (
            "status: outcome unknown",
            views::ORPHANED_SENT.into(),
            vec!["job_sent"],
        ),
    ];
    let (_d, s) = open();
    s.read(|c| {
        for (what, sql, indexes) in &cases {
            let plan = plan(c, sql);
            for index in indexes {
                assert!(plan.contains(index), "{what} does not use {index}:\n{plan}");
            }
            for line in plan.lines() {
                // The node table holds one row per engine seen in the last day: reading it
                // all is reading a handful of rows, whatever the queue's size.
                let full_scan = line.contains("SCAN ")
                    && line.trim() != "SCAN node"
                    && !line.contains("INDEX")
                    && !line.contains("CONSTANT ROW");
                assert!(!full_scan, "{what} scans a table:\n{plan}");
            }
            assert!(!plan.contains("TEMP B-TREE"), "{what} sorts:\n{plan}");
            assert!(
                !plan.contains("job_key (connection_id=? AND plugin=?)"),
                "{what} reads all of a connection's jobs:\n{plan}"
            );
        }
        Ok::<_, StoreError>(())
    })
    .unwrap();
}
