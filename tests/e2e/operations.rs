//! Operations beside the running server (issue 19): the CLI works while a simulated Web
//! Connector syncs through the real `qbridge serve` — each changing command says whether it
//! went through the server's admin API or into the database — and a backup taken mid-sync,
//! restored later, never makes QuickBooks hold an object twice.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use qbridge::sim::company::{Company, Faults};
use rusqlite::{Connection, OpenFlags};

use crate::pipeline::{
    Deployment, assert_no_duplicate_writes, company_with_items, customer, invoice, sync_until_idle,
};
use crate::support::{agent, run, signal, stderr, wait_timeout};

const THROUGH_API: &str = "(through the running server's admin API)";
/// Invoice ids are offset so they never collide with customer ids in names.
pub(crate) const INVOICE_BASE: u32 = 10_000;

/// Customers `ids` and one invoice each, as the NDJSON file `name` in the deployment's folder.
fn records_file(d: &Deployment, name: &str, ids: std::ops::Range<u32>) -> (String, String) {
    let customers: Vec<String> = ids.clone().map(|c| customer(c).to_string()).collect();
    let invoices: Vec<String> = ids
        .map(|c| invoice(INVOICE_BASE + c, c).to_string())
        .collect();
    let write = |kind: &str, lines: &[String]| {
        let path = d.tmp.path().join(format!("{name}-{kind}.ndjson"));
        std::fs::write(&path, lines.join("\n")).unwrap();
        path.to_str().unwrap().to_string()
    };
    (write("customer", &customers), write("invoice", &invoices))
}

/// `qbridge …` on the deployment's data dir, which must succeed.
fn cli(d: &Deployment, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--data-dir", d.data_dir.to_str().unwrap()]);
    let out = run(d.tmp.path(), &all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

/// Ingests the two files of [`records_file`] with `qbridge ingest` (customers first) and
/// returns what the command said on stderr.
fn ingest_files(d: &Deployment, (customers, invoices): &(String, String)) -> String {
    let mut said = String::new();
    for (kind, file) in [("customer", customers), ("invoice", invoices)] {
        let out = cli(
            d,
            &[
                "ingest",
                "--plugin",
                "example",
                "--connection",
                "acme",
                "--kind",
                kind,
                file,
            ],
        );
        said.push_str(&stderr(&out));
    }
    said
}

/// `(completed, all)` jobs of a database file, read-only.
fn job_counts(db: &Path) -> (i64, i64) {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FILTER (WHERE state='completed'), COUNT(*) FROM job",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

pub(crate) fn assert_each_record_once(company: &Company, customers: usize) {
    assert_eq!(
        company.count("Customer"),
        customers,
        "customers in QuickBooks"
    );
    assert_eq!(
        company.count("Invoice"),
        customers,
        "invoices in QuickBooks"
    );
    assert_no_duplicate_writes(company);
}

#[test]
fn the_cli_works_beside_a_syncing_server_and_a_restored_old_backup_duplicates_nothing() {
    let d = Deployment::new();
    let db = d.data_dir.join("qbridge.db");
    let backup = d.tmp.path().join("mid-sync.qbridge-backup");
    let before = records_file(&d, "before", 0..200);
    let after = records_file(&d, "after", 200..250);
    let mut company = company_with_items(&["Consulting", "Support"]);
    // QuickBooks takes a while over each message set, so the sync spans the commands below.
    company.set_faults(Faults {
        latency_ms: 400,
        ..Faults::default()
    });

    let mut server = d.start();
    let said = ingest_files(&d, &before);
    assert!(said.contains(THROUGH_API), "{said}");

    std::thread::scope(|scope| {
        let syncing = scope.spawn(|| sync_until_idle(&server, &d, &mut company, 50));
        // The first message set is answered: the sync is under way.
        let deadline = Instant::now() + Duration::from_secs(60);
        while job_counts(&db).0 == 0 {
            assert!(
                Instant::now() < deadline,
                "no job completed within a minute"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = cli(&d, &["backup", backup.to_str().unwrap()]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("quick_check ok"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let (done, all) = job_counts(&backup);
        assert!(
            done > 0 && done < all,
            "the backup is taken mid-sync: {done} of {all} jobs completed in it"
        );

        // A live session's sent jobs are not orphans to a command beside the server.
        let out = cli(&d, &["status"]);
        assert!(stderr(&out).contains("(read directly from the database)"));
        let status = String::from_utf8_lossy(&out.stdout);
        assert!(status.contains("connection acme"), "{status}");
        assert!(!status.contains("outcome unknown"), "{status}");

        let out = cli(&d, &["connection", "add", "beta"]);
        assert!(stderr(&out).contains(THROUGH_API), "{}", stderr(&out));
        let out = cli(&d, &["user", "add", "--connection", "beta", "beta-sync"]);
        assert!(stderr(&out).contains(THROUGH_API), "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("shown only this once"));
        // Records the source sends after the backup.
        let said = ingest_files(&d, &after);
        assert!(said.contains(THROUGH_API), "{said}");
        syncing.join().unwrap();
    });
    company.set_faults(Faults::default());
    sync_until_idle(&server, &d, &mut company, 50);
    assert_each_record_once(&company, 250);
    let audit = String::from_utf8_lossy(&cli(&d, &["audit", "export"]).stdout).into_owned();
    let added_by = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|row| row["action"] == "connection.add" && row["target"].to_string().contains("beta"))
        .map(|row| row["actor"].to_string());
    assert!(
        added_by
            .as_deref()
            .is_some_and(|a| a.contains("(local-cli)")),
        "the audit log names the server's local admin token: {added_by:?}"
    );
    server.terminate();
    assert!(
        !d.data_dir.join("local-admin.json").exists(),
        "the credential is withdrawn at stop"
    );

    // Restore the mid-sync copy: the jobs unfinished in it were all applied since.
    let out = cli(&d, &["restore", backup.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("verified by their probe"), "{said}");
    let mut server = d.start();
    let status = String::from_utf8_lossy(&cli(&d, &["status"]).stdout).into_owned();
    assert!(
        status.contains("new jobs are verified by their probe first"),
        "{status}"
    );
    // The source's cursor went back with the copy: it sends the later records again.
    ingest_files(&d, &after);
    sync_until_idle(&server, &d, &mut company, 50);
    server.terminate();

    assert_each_record_once(&company, 250);
    let (done, all) = job_counts(&db);
    assert_eq!(done, all, "every job is completed (found by its probe)");
}

#[test]
fn restore_is_refused_while_the_server_runs_and_backup_keeps_an_existing_file() {
    let d = Deployment::new();
    let file = d.tmp.path().join("copy.db");
    let server = d.start();
    cli(&d, &["backup", file.to_str().unwrap()]);
    let dd = d.data_dir.to_str().unwrap();
    let out = run(
        d.tmp.path(),
        &["backup", file.to_str().unwrap(), "--data-dir", dd],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    cli(&d, &["backup", file.to_str().unwrap(), "--force"]);
    let out = run(
        d.tmp.path(),
        &["restore", file.to_str().unwrap(), "--data-dir", dd],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("stop it before restoring"),
        "{}",
        stderr(&out)
    );
    drop(server);
}

#[test]
fn a_credential_left_by_a_killed_server_is_never_used_and_its_token_dies() {
    let d = Deployment::new();
    let file = d.data_dir.join("local-admin.json");
    let mut server = d.start();
    let credential: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let token = credential["token"].as_str().unwrap().to_string();
    signal(&server.child, "KILL");
    wait_timeout(&mut server.child, Duration::from_secs(30)).expect("killed");
    assert!(
        file.exists(),
        "a killed server cannot withdraw its credential"
    );

    // No server holds the data dir: the command works in the database and drops the file.
    let out = cli(&d, &["connection", "add", "after-kill"]);
    assert!(
        stderr(&out).contains("(directly in the database)"),
        "{}",
        stderr(&out)
    );
    assert!(!file.exists(), "the stale credential is removed");

    let server = d.start();
    let status = agent()
        .get(format!("{}/api/v1/whoami", server.base))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 401, "the killed run's token is revoked");
}
