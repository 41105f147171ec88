//! The store suite's backend: SQLite by default; PostgreSQL when `TEST_STORE_BACKEND` is
//! `postgres` (set by [`tests::store_suite_passes_on_postgres`] for the run it starts).
//!
//! On PostgreSQL every data dir gets a schema of its own in the database named by
//! `TEST_DATABASE_URL`, so tests run in parallel without seeing each other's rows,
//! and a test that opens the same dir twice finds its data again.

use std::path::Path;

use super::sql::PgTarget;
use super::{Store, StoreOptions};

const BACKEND: &str = "TEST_STORE_BACKEND";
const DATABASE_URL: &str = "TEST_DATABASE_URL";

/// Options for a store of the suite's backend in `data_dir`.
pub(crate) fn options(data_dir: &Path) -> StoreOptions {
    let mut opts = StoreOptions::default();
    if std::env::var(BACKEND).as_deref() == Ok("postgres") {
        opts.postgres = Some(schema_for(data_dir));
    }
    opts
}

/// Opens the suite's store in `data_dir`.
pub(crate) fn open(data_dir: &Path) -> Store {
    Store::open(data_dir, options(data_dir)).expect("open the test store")
}

/// A second node on the database of the store in `first_dir` (PostgreSQL: the same schema,
/// its own data dir `data_dir`); `None` on SQLite, where one file has one engine.
pub(crate) fn open_node(first_dir: &Path, data_dir: &Path) -> Option<Store> {
    let opts = options(first_dir);
    opts.postgres.as_ref()?;
    Some(Store::open(data_dir, opts).expect("open a second node"))
}

/// Drops a trigger as an intruder with the database would (the syntax differs).
pub(crate) fn drop_trigger(
    tx: &super::sql::Tx<'_>,
    name: &str,
    table: &str,
) -> super::sql::Result<()> {
    match tx.backend() {
        super::sql::Backend::Sqlite => tx.execute_batch(&format!("DROP TRIGGER {name}")),
        super::sql::Backend::Postgres => {
            tx.execute_batch(&format!("DROP TRIGGER {name} ON {table}"))
        }
    }
}

/// Every byte the store holds at rest: the SQLite file and its WAL, or on PostgreSQL every
/// row of every table as text (for "never stored in clear" checks).
pub(crate) fn bytes_at_rest(store: &Store) -> Vec<u8> {
    match store.path() {
        Some(path) => {
            let mut all = std::fs::read(path).unwrap();
            all.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
            all
        }
        None => store
            .read(|t| {
                let tables: Vec<String> = t
                    .prepare(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
                    )?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let mut all = Vec::new();
                for table in tables {
                    let rows: Vec<String> = t
                        .prepare(&format!("SELECT CAST(x AS TEXT) FROM \"{table}\" x"))?
                        .query_map([], |r| r.get(0))?
                        .collect::<Result<_, _>>()?;
                    for row in rows {
                        all.extend(row.into_bytes());
                    }
                }
                Ok::<_, super::sql::Error>(all)
            })
            .unwrap(),
    }
}

fn schema_for(data_dir: &Path) -> PgTarget {
    let url = std::env::var(DATABASE_URL).unwrap_or_else(|_| {
        panic!(
            "{BACKEND}=postgres needs {DATABASE_URL}: {}",
            super::sql::throwaway::HOW_TO_GET_ONE
        )
    });
    let mut target = PgTarget::parse(&url).expect("a PostgreSQL URL");
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let schema = format!("t_{}", super::audit::hex(&digest[..10]));
    let mut client = target
        .connect()
        .unwrap_or_else(|e| panic!("cannot reach {url}: {e}"));
    client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .expect("create the test schema");
    target.schema = Some(schema);
    target
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// The whole store suite once more, on PostgreSQL: this test binary runs itself with the
    /// store tests only and the PostgreSQL backend, on the database `TEST_DATABASE_URL`
    /// names or, without one, on a throw-away cluster it starts and removes.
    #[test]
    fn store_suite_passes_on_postgres() {
        if std::env::var(BACKEND).is_ok() {
            return; // the inner run itself
        }
        let cluster;
        let url = match std::env::var(DATABASE_URL) {
            Ok(url) => url,
            Err(_) => {
                cluster = super::super::sql::throwaway::ThrowawayCluster::start()
                    .unwrap_or_else(|e| panic!("the PostgreSQL store suite cannot run: {e}"));
                cluster.url("qbridge")
            }
        };
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["store::", "--skip", "store_suite_passes_on_postgres"])
            .env(BACKEND, "postgres")
            .env(DATABASE_URL, &url)
            .output()
            .expect("run the store suite");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the store suite fails on PostgreSQL:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let passed = stdout
            .lines()
            .filter(|l| l.starts_with("test ") && l.ends_with(" ok"))
            .count();
        assert!(passed > 50, "only {passed} store tests ran:\n{stdout}");
    }
}
