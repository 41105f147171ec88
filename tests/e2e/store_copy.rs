//! Moving up: a firm's SQLite instance, part synced and part still queued, is copied into an
//! empty PostgreSQL database with `qbridge store copy`, and the engine started on PostgreSQL
//! finishes the work with nothing sent twice — same Web Connector password, same tokens,
//! same audit chain.

use qbridge::store::sql::throwaway::ThrowawayCluster;

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

    let cluster = ThrowawayCluster::start()
        .unwrap_or_else(|e| panic!("the store copy test needs PostgreSQL: {e}"));
    let url = cluster.url("qbridge");
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
    let mut db = Db::Postgres(postgres::Client::connect(&url, postgres::NoTls).unwrap());
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
