//! Claims of several nodes at once on PostgreSQL: company files claim in parallel, writes
//! that may span company files still run alone, and a claim steps over rows held outside
//! qbridge's write path. (On SQLite every write has the one writer to itself.)

use std::sync::mpsc;
use std::time::Duration;

use super::tests::{LIMITS, job, open, sent};
use super::*;
use crate::store::sql::{Backend, Tx};
use crate::store::{Db, Store, StoreError};

/// Long enough for a claim on an idle database; a claim that waits on a lock takes as long
/// as the holder keeps it (far longer).
const PROMPT: Duration = Duration::from_secs(5);

fn enqueue(s: &Store, connection_id: i64, keys: &[&str]) {
    let jobs: Vec<NewJob> = keys.iter().map(|k| job(k, &[])).collect();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id,
        plugin: "p",
        kind: "customer",
        source_id: None,
        payload: "{}",
        jobs: &jobs,
    })
    .unwrap();
}

/// Runs `f` on another thread; its value if it finished within `within`, else `None` (the
/// thread is left to finish once whatever blocks it lets go).
fn finishes_within<T: Send + 'static>(
    within: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> (Option<T>, mpsc::Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    (rx.recv_timeout(within).ok(), rx)
}

#[test]
fn company_files_claim_at_once_on_postgres_while_other_writes_wait() {
    let (_d, s) = open();
    enqueue(&s, 1, &["a1"]);
    enqueue(&s, 2, &["b1"]);
    // A session of company file 1 is in the middle of its claim, holding its write locks.
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let s = s.clone();
        std::thread::spawn(move || {
            s.write_connection(1, |_tx: &Tx<'_>| {
                held_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok::<_, StoreError>(())
            })
            .unwrap()
        })
    };
    held_rx.recv().unwrap();
    let backend = s.backend();

    // Company file 2's claim does not wait for it on PostgreSQL; SQLite has one writer.
    let (claim2, late2) = {
        let s = s.clone();
        finishes_within(PROMPT, move || s.claim(2, 200, LIMITS).unwrap())
    };
    // A write that may span company files (an ingest) waits for it on both.
    let (ingest, late_ingest) = {
        let s = s.clone();
        finishes_within(Duration::from_millis(500), move || enqueue(&s, 2, &["b2"]))
    };
    assert!(ingest.is_none(), "an ingest ran beside a claim");
    let mut claimed2 = match backend {
        Backend::Postgres => {
            claim2.expect("company file 2 waited for file 1's claim");
            vec!["b1".to_string()]
        }
        Backend::Sqlite => {
            assert!(claim2.is_none(), "two SQLite writers at once");
            Vec::new()
        }
    };
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    late_ingest
        .recv_timeout(PROMPT)
        .expect("the ingest ran after");
    let keys = |claim: Option<Claim>| -> Vec<String> {
        claim.map_or_else(Vec::new, |c| {
            let (_, jobs) = sent(Some(c));
            jobs.iter()
                .map(|j| if j.qbxml.contains("b1") { "b1" } else { "b2" }.to_string())
                .collect()
        })
    };
    if backend == Backend::Sqlite {
        claimed2 = keys(late2.recv_timeout(PROMPT).expect("the claim ran after"));
    }
    // Every job went out once: file 1's now, file 2's across its two claims.
    let (_, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1);
    claimed2.extend(keys(s.claim(2, 201, LIMITS).unwrap()));
    claimed2.sort();
    assert_eq!(claimed2, ["b1", "b2"]);
}

#[test]
fn a_claim_on_postgres_steps_over_a_job_row_locked_outside_qbridge() {
    let (_d, s) = open();
    let Db::Postgres(pool) = &s.inner.db else {
        // SQLite has no row locks: nothing can hold a job under a claim (the store suite
        // runs this test again on PostgreSQL).
        assert_eq!(s.backend(), Backend::Sqlite);
        return;
    };
    enqueue(&s, 1, &["c1", "c2", "c3"]);
    let first: i64 = s
        .read(|c| c.query_row("SELECT MIN(id) FROM job", [], |r| r.get(0)))
        .unwrap();
    // An operator's transaction in psql holds the first job, without qbridge's write locks.
    let mut client = pool.get().unwrap();
    let operator = Tx::postgres(client.begin(false).unwrap());
    operator
        .execute("SELECT id FROM job WHERE id=?1 FOR UPDATE", [first])
        .unwrap();

    let (claim, _late) = {
        let s = s.clone();
        finishes_within(PROMPT, move || s.claim(1, 300, LIMITS).unwrap())
    };
    let (_, jobs) = sent(claim.expect("the claim waited for the locked row"));
    let ids: Vec<i64> = jobs.iter().map(|j| j.job_id).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(!ids.contains(&first), "a locked row was sent: {ids:?}");
    operator.commit().unwrap();
    drop(client);
    // Once let go, the row is claimed by the next call.
    let (_, jobs) = sent(s.claim(1, 300, LIMITS).unwrap());
    assert_eq!(jobs.iter().map(|j| j.job_id).collect::<Vec<_>>(), [first]);
}
