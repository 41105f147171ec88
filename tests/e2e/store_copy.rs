//! Moving up: a firm's SQLite instance, part synced and part still queued, is copied into an
//! empty PostgreSQL database with `qbridge store copy`, and the engine started on PostgreSQL
//! finishes the work with nothing sent twice — same Web Connector password, same tokens,
//! same audit chain. The database is reached as a managed one would be: over TLS with
//! `sslmode=verify-full`, as a role the server refuses in the clear.

use std::path::{Path, PathBuf};

use qbridge::store::sql::throwaway::{ServerTls, ThrowawayCluster};

use crate::pipeline::{
    Deployment, assert_no_duplicate_writes, company_with_items, customer, ingest, sync_until_idle,
};
use crate::support::{Db, Server, run, stderr};

#[test]
fn a_sqlite_instance_copied_to_postgres_finishes_its_queue_with_nothing_sent_twice() {
    let d = Deployment::new();
    assert!(
        !crate::support::on_postgres(),
        "this test starts on SQLite: run it in the SQLite stage"
    );
    let mut server = d.start();
    let mut company = company_with_items(&["Consulting"]);
    for c in 0..20 {
        assert_eq!(
            ingest(&server, &d.token, "example", "customer", &customer(c)).0,
            202
        );
    }
    sync_until_idle(&server, &d, &mut company, 10);
    for c in 20..30 {
        assert_eq!(
            ingest(&server, &d.token, "example", "customer", &customer(c)).0,
            202
        );
    }
    assert!(server.terminate().success());
    assert_eq!(company.count("Customer"), 20);

    let (cluster, url) = tls_cluster();
    let dd = d.data_dir.to_str().unwrap();
    let copy = || {
        run(
            d.tmp.path(),
            &["store", "copy", "--to", &url, "--data-dir", dd],
        )
    };
    let out = copy();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(
        said.contains("counts match and the audit chain verifies"),
        "{said}"
    );
    assert!(said.contains("job: 30 rows"), "{said}");
    // Twice is refused: the target is no longer empty.
    let again = copy();
    assert!(!again.status.success());
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));

    // The same data dir (its key file decrypts the copied secrets), now on PostgreSQL.
    let mut server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[("QBRIDGE_DATABASE_URL", url.as_str())],
    );
    assert_eq!(
        ingest(&server, &d.token, "example", "customer", &customer(30)).0,
        202
    );
    sync_until_idle(&server, &d, &mut company, 10);
    assert!(server.terminate().success());
    assert_eq!(company.count("Customer"), 31);
    assert_no_duplicate_writes(&company);
    let plain = cluster.url("qbridge");
    let mut db = Db::Postgres(postgres::Client::connect(&plain, postgres::NoTls).unwrap());
    assert_eq!(
        db.int("SELECT COUNT(*) FROM job WHERE state = 'completed'"),
        31
    );
    assert_eq!(db.int("SELECT COUNT(*) FROM job"), 31);
    // The audit chain goes on where SQLite's ended, and verifies (with the data dir's signed
    // anchors) on PostgreSQL.
    let audit = crate::support::qbridge(d.tmp.path())
        .args(["audit", "verify", "--data-dir", dd])
        .env("QBRIDGE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(audit.status.success(), "{}", stderr(&audit));
}

fn tls_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tls/postgres")
        .join(name)
}

/// A cluster with `ssl=on` (tests/fixtures/tls/postgres) where the role `managed` may only
/// connect over TLS, and the `verify-full` URL for it.
fn tls_cluster() -> (ThrowawayCluster, String) {
    let cluster = ThrowawayCluster::start_with(Some(&ServerTls {
        cert: &tls_fixture("server.cert.pem"),
        key: &tls_fixture("server.key.pem"),
        client_ca: &tls_fixture("ca.cert.pem"),
        hba_first: &["hostnossl all managed 127.0.0.1/32 reject"],
    }))
    .unwrap_or_else(|e| panic!("the store copy test needs PostgreSQL: {e}"));
    postgres::Client::connect(&cluster.url("qbridge"), postgres::NoTls)
        .unwrap()
        .batch_execute("CREATE ROLE managed LOGIN SUPERUSER")
        .unwrap();
    let url = format!(
        "postgres://managed@localhost:{}/qbridge?sslmode=verify-full&sslrootcert={}",
        cluster.port(),
        tls_fixture("ca.cert.pem").display()
    );
    (cluster, url)
}

#[test]
fn a_database_whose_certificate_does_not_verify_stops_the_engine_with_the_reason() {
    let (cluster, url) = tls_cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let status = |url: &str| {
        let out = crate::support::qbridge(tmp.path())
            .args(["status", "--data-dir", dd.to_str().unwrap()])
            .env("QBRIDGE_DATABASE_URL", url)
            .output()
            .unwrap();
        (out.status.success(), stderr(&out))
    };
    // Signed by a CA the URL does not trust; a name the certificate does not carry; no root
    // file at all; each refused with its reason, nothing sent in the clear.
    let other = url.replace("ca.cert.pem", "other-ca.cert.pem");
    let (ok, said) = status(&other);
    assert!(
        !ok && said.contains("invalid peer certificate")
            && said.contains("sslrootcert must hold the CA"),
        "{said}"
    );
    let by_address = url.replace("@localhost:", "@127.0.0.1:");
    let (ok, said) = status(&by_address);
    assert_eq!(
        said.matches("cannot connect").count(),
        1,
        "said once: {said}"
    );
    assert!(
        !ok && said.contains("not valid for name") && said.contains("or use sslmode=verify-ca"),
        "{said}"
    );
    let no_root = format!(
        "postgres://managed@localhost:{}/qbridge?sslmode=verify-full",
        cluster.port()
    );
    let (ok, said) = status(&no_root);
    assert!(!ok && said.contains("needs sslrootcert"), "{said}");
    // The right one works.
    let (ok, said) = status(&url);
    assert!(ok, "{said}");
}
