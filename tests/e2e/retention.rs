//! Retention: `qbridge prune` run beside the real, running server after a real sync clears
//! completed jobs' requests and responses and their records' payloads, keeps ids, keys,
//! QuickBooks ids, content hashes and the audit trail, gives the space back, and a re-sent
//! record is still known to be done. `/metrics` counts what was pruned.

use sha2::Digest;

use crate::admin_api::{api, json};
use crate::metrics::{cli_token, parse};
use crate::pipeline::{Deployment, company_with_items, customer, ingest, sync_until_idle};
use crate::support::{run, stderr};

const CUSTOMERS: u32 = 40;

/// A customer record carrying 8 KB of notes the plugin ignores (sources send much more
/// than the mapping uses; that bulk is what retention gives back).
fn bulky_customer(id: u32) -> serde_json::Value {
    let mut c = customer(id);
    c["notes"] = serde_json::Value::String(format!("{id:04} ").repeat(1600));
    c
}

/// `(page_count, freelist_count)` of the database, as SQLite sees it (WAL included).
fn pages(conn: &rusqlite::Connection) -> (i64, i64) {
    (
        conn.query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap(),
        conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap(),
    )
}

type JobRow = (i64, String, String, Option<String>, Option<i64>);

fn jobs(conn: &rusqlite::Connection) -> Vec<JobRow> {
    let mut stmt = conn
        .prepare("SELECT id, key, state, object_id, record_id FROM job ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn prune_beside_the_server_clears_text_keeps_identity_and_reclaims_space() {
    let d = Deployment::new();
    let admin = cli_token(&d, "admin", &[]);
    let server = d.start();
    let mut payloads = Vec::new();
    for c in 1..=CUSTOMERS {
        let record = bulky_customer(c);
        let (s, body) = ingest(&server, &d.token, "example", "customer", &record);
        assert_eq!(s, 202, "{body}");
        payloads.push(record.to_string());
    }
    let mut company = company_with_items(&["Consulting"]);
    sync_until_idle(&server, &d, &mut company, 20);
    assert_eq!(company.count("Customer"), CUSTOMERS as usize);
    // One job left waiting: pruning never touches work still to do.
    let (s, _) = ingest(
        &server,
        &d.token,
        "example",
        "customer",
        &bulky_customer(500),
    );
    assert_eq!(s, 202);

    let db = d.data_dir.join("qbridge.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let before_jobs = jobs(&conn);
    let mappings: i64 = conn
        .query_row("SELECT COUNT(*) FROM mapping", [], |r| r.get(0))
        .unwrap();
    let audit_before: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    let (pages_before, _) = pages(&conn);
    drop(conn);

    // Beside the running server: no instance lock needed.
    let dd = d.data_dir.to_str().unwrap();
    let out = run(
        d.tmp.path(),
        &["prune", "--older-than", "0", "--data-dir", dd],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains(&format!(
            "pruned {CUSTOMERS} completed job(s) and {CUSTOMERS} record(s)"
        )),
        "{printed}"
    );

    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    // Ids, keys, states, QuickBooks ids and records are all still there.
    assert_eq!(jobs(&conn), before_jobs);
    let after_mappings: i64 = conn
        .query_row("SELECT COUNT(*) FROM mapping", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after_mappings, mappings);
    let cleared: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM job WHERE state='completed' AND qbxml='' AND response IS NULL AND probe IS NULL AND pruned_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cleared, i64::from(CUSTOMERS));
    let waiting: (String, i64) = conn
        .query_row(
            "SELECT qbxml, pruned_at IS NULL FROM job WHERE state='available'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        waiting.0.contains("CustomerAdd") && waiting.1 == 1,
        "the waiting job keeps its request"
    );
    // Each record's payload is gone, its SHA-256 kept.
    let records: Vec<(String, String, bool)> = conn
        .prepare("SELECT payload, content_hash, pruned_at IS NOT NULL FROM record ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), CUSTOMERS as usize + 1);
    for ((payload, hash, pruned), original) in records.iter().zip(&payloads) {
        assert!(payload.is_empty() && *pruned);
        let digest = sha2::Sha256::digest(original.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash, &hex, "the content hash of the payload as received");
    }
    assert!(
        !records[CUSTOMERS as usize].0.is_empty(),
        "the waiting record keeps its payload"
    );
    // The audit trail is whole, with one row for the run.
    let audit_after: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert_eq!(audit_after, audit_before + 1);
    let action: String = conn
        .query_row(
            "SELECT action FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(action, "retention.prune");
    // Space: the freed pages went back to the file system (incremental vacuum).
    let (pages_after, free_after) = pages(&conn);
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let payload_bytes: usize = payloads.iter().map(String::len).sum();
    let freed = (pages_before - pages_after) * page_size;
    assert!(
        freed as f64 >= payload_bytes as f64 * 0.9,
        "{freed} bytes given back for {payload_bytes} bytes of payloads (pages {pages_before} -> {pages_after})"
    );
    assert_eq!(free_after, 0, "no free pages left behind");
    drop(conn);

    let (s, body) = api(&server, &admin, "get", "/api/v1/audit/verify", None);
    assert_eq!(s, 200);
    assert_eq!(json(&body)["intact"], true, "{body}");
    // A pruned job still shows what it was and what QuickBooks called it.
    let (first, key, _, object_id, _) = &before_jobs[0];
    let (s, body) = api(
        &server,
        &admin,
        "get",
        &format!("/api/v1/jobs/{first}"),
        None,
    );
    assert_eq!(s, 200);
    let job = json(&body);
    assert_eq!(job["key"].as_str(), Some(key.as_str()));
    assert_eq!(job["state"], "completed");
    assert_eq!(job["object_id"].as_str(), object_id.as_deref());

    // A pruned record sent again is recognised as done: no new job, nothing written twice.
    let (s, body) = ingest(&server, &d.token, "example", "customer", &bulky_customer(3));
    assert_eq!(s, 202, "{body}");
    assert!(body.contains("already_in_quick_books"), "{body}");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    assert_eq!(jobs(&conn).len(), before_jobs.len(), "no new job");
    drop(conn);
    sync_until_idle(&server, &d, &mut company, 20);
    assert_eq!(
        company.count("Customer"),
        CUSTOMERS as usize + 1,
        "only the waiting one was added"
    );

    // The server's /metrics counts the pruning the command line did.
    let (s, text) = api(&server, &admin, "get", "/metrics", None);
    assert_eq!(s, 200);
    let m = parse(&text);
    assert_eq!(
        m.value("qbridge_pruned_jobs_total", &[]),
        Some(f64::from(CUSTOMERS))
    );
    assert_eq!(
        m.value("qbridge_pruned_records_total", &[]),
        Some(f64::from(CUSTOMERS))
    );
    assert!(
        m.value("qbridge_last_prune_timestamp_seconds", &[])
            .is_some()
    );

    // Nothing left to prune; --compact gives back the room left inside shared pages too.
    let out = run(
        d.tmp.path(),
        &["prune", "--older-than", "1d", "--compact", "--data-dir", dd],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pruned 0 completed job(s)"));
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let (compacted, _) = pages(&conn);
    assert!(compacted < pages_after, "{compacted} < {pages_after} pages");
    assert_eq!(jobs(&conn).len(), before_jobs.len());
}

#[test]
fn prune_without_an_age_follows_the_retention_setting() {
    let d = Deployment::new();
    let dd = d.data_dir.to_str().unwrap();
    let out = run(
        d.tmp.path(),
        &[
            "prune",
            "--data-dir",
            dd,
            "--set",
            "retention.completed_days=0",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--older-than"), "{}", stderr(&out));
    let out = run(d.tmp.path(), &["prune", "--data-dir", dd]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pruned 0 completed job(s)"));
    let out = run(
        d.tmp.path(),
        &["prune", "--older-than", "soon", "--data-dir", dd],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid duration"),
        "{}",
        stderr(&out)
    );
}
