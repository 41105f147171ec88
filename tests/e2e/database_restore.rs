//! A PostgreSQL store put back from a dump taken mid-sync: `pg_restore` brings back jobs
//! that QuickBooks has applied since, and the source sends again what it sent after the dump.
//! `qbridge store restored` (every node stopped) sends all of it to its probe first, so
//! QuickBooks never holds an object twice. The database is a throw-away cluster of the
//! test's own, because the test drops and recreates it.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use qbridge::sim::company::Faults;
use qbridge::store::sql::throwaway::ThrowawayCluster;

use crate::operations::{INVOICE_BASE, assert_each_record_once};
use crate::pipeline::{company_with_items, customer, ingest, invoice, sync_as_until_idle};
use crate::support::{Db, Server, qbridge, stderr};

struct Instance {
    folder: tempfile::TempDir,
    cluster: ThrowawayCluster,
}

impl Instance {
    fn url(&self) -> String {
        self.cluster.url("qbridge")
    }

    fn data_dir(&self) -> PathBuf {
        self.folder.path().join("data")
    }

    /// What every node and admin command shares: the database and the key files (a node's
    /// data dir holds only caches).
    fn env(&self) -> Vec<(&'static str, String)> {
        let key = |name: &str| self.folder.path().join(name).display().to_string();
        vec![
            ("QBRIDGE_DATABASE_URL", self.url()),
            ("QBRIDGE_SECRETS_KEY_FILE", key("secrets.key")),
            ("QBRIDGE_QBWC_PASSWORD_KEY_FILE", key("qbwc-auth.key")),
            ("QBRIDGE_PIPELINE_BATCH_MAX_REQUESTS", "10".into()),
        ]
    }

    /// A command on the admin's own machine (a data dir of its own), against the database.
    fn cli(&self, args: &[&str]) -> Output {
        qbridge(self.folder.path())
            .args(args)
            .arg("--data-dir")
            .arg(self.folder.path().join("admin"))
            .envs(self.env())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start(&self) -> Server {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_with_env(self.folder.path(), &self.data_dir(), &[], &env)
    }

    fn db(&self) -> Db {
        Db::Postgres(postgres::Client::connect(&self.url(), postgres::NoTls).unwrap())
    }

    fn tool(&self, program: &str, args: &[&str]) {
        let out = self.cluster.client(program).args(args).output().unwrap();
        assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
    }
}

fn ingest_range(server: &Server, token: &str, ids: std::ops::Range<u32>) {
    for c in ids {
        for (kind, record) in [
            ("customer", customer(c)),
            ("invoice", invoice(INVOICE_BASE + c, c)),
        ] {
            let (status, body) = ingest(server, token, "example", kind, &record);
            assert_eq!(status, 202, "{kind} {c}: {body}");
        }
    }
}

fn completed(db: &mut Db) -> (i64, i64) {
    (
        db.int("SELECT COUNT(*) FROM job WHERE state = 'completed'"),
        db.int("SELECT COUNT(*) FROM job"),
    )
}

#[test]
fn a_postgres_database_restored_from_a_dump_taken_mid_sync_duplicates_nothing() {
    let instance = Instance {
        folder: tempfile::tempdir().unwrap(),
        cluster: ThrowawayCluster::start()
            .unwrap_or_else(|e| panic!("the database restore test needs PostgreSQL: {e}")),
    };
    let dump: PathBuf = instance.folder.path().join("qbridge.dump");
    instance.ok(&["connection", "add", "acme"]);
    let password = crate::support::printed_password(&instance.ok(&[
        "user",
        "add",
        "--connection",
        "acme",
        "qbridge-sync",
    ]));
    let token = instance
        .ok(&["token", "create", "--scope", "ingest", "--name", "crm"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let sync = |server: &Server, company: &mut _| {
        sync_as_until_idle(server, "qbridge-sync", &password, company, 50)
    };

    let mut server = instance.start();
    ingest_range(&server, &token, 0..30);
    let mut company = company_with_items(&["Consulting", "Support"]);
    // QuickBooks takes a while over each message set, so the dump lands mid-sync.
    company.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    std::thread::scope(|scope| {
        let syncing = scope.spawn(|| sync(&server, &mut company));
        let mut db = instance.db();
        let deadline = Instant::now() + Duration::from_secs(60);
        while completed(&mut db).0 == 0 {
            assert!(
                Instant::now() < deadline,
                "no job completed within a minute"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        instance.tool(
            "pg_dump",
            &["-Fc", "-f", dump.to_str().unwrap(), &instance.url()],
        );
        syncing.join().unwrap();
    });
    company.set_faults(Faults::default());
    // Records the source sends after the dump.
    ingest_range(&server, &token, 30..36);
    sync(&server, &mut company);
    assert_each_record_once(&company, 36);

    // With a node running the bookkeeping is refused: it would change jobs under it.
    let out = instance.cli(&["store", "restored"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("stop every node"), "{}", stderr(&out));
    assert!(server.terminate().success());

    // The database is put back from the dump, as an operator would after losing it.
    let mut admin =
        postgres::Client::connect(&instance.cluster.url("postgres"), postgres::NoTls).unwrap();
    for statement in [
        "DROP DATABASE qbridge WITH (FORCE)",
        "CREATE DATABASE qbridge",
    ] {
        admin.batch_execute(statement).unwrap();
    }
    instance.tool(
        "pg_restore",
        &["--no-owner", "-d", &instance.url(), dump.to_str().unwrap()],
    );
    let (done, all) = completed(&mut instance.db());
    assert!(
        done > 0 && done < all,
        "the dump was taken mid-sync: {done} of {all} jobs completed in it"
    );

    let said = instance.ok(&["store", "restored", "--from", "qbridge.dump"]);
    assert!(said.contains("verified by their probe"), "{said}");
    let mut server = instance.start();
    let status = instance.ok(&["status"]);
    assert!(
        status.contains("new jobs are verified by their probe first"),
        "{status}"
    );
    // The source's cursor went back with the dump: it sends the later records again.
    ingest_range(&server, &token, 30..36);
    sync(&server, &mut company);
    assert!(server.terminate().success());

    assert_each_record_once(&company, 36);
    let (done, all) = completed(&mut instance.db());
    assert_eq!(done, all, "every job is completed (found by its probe)");
    let audit = instance.ok(&["audit", "verify"]);
    assert!(audit.contains("audit log intact"), "{audit}");
}
