//! Crash safety end to end: the engine dies at the worst moments of a Web Connector session —
//! at named crash points (`QBRIDGE_FAILPOINTS`) and by SIGKILL at random instants — and after a
//! restart every record is still applied exactly once in QuickBooks, no job is left behind and
//! the SQLite file is intact. The simulated QuickBooks survives every crash: it is the other
//! machine.

use std::ops::Range;
use std::time::Duration;

use qbridge::sim::company::{Company, Faults};
use qbridge::sim::webconnector::{Outcome, WcOptions, WebConnector};

use crate::pipeline::{
    Deployment, assert_no_duplicate_writes, company_with_items, customer, ingest, invoice,
    sync_until_idle,
};
use crate::support::{Db, Server, signal, wait_timeout};

/// Items the example plugin's invoice lines use.
const ITEMS: &[&str] = &["Consulting", "Support"];
/// Invoice ids are offset so they never collide with customer ids in names.
const INVOICE_BASE: u32 = 10_000;

/// Ingests customers `ids` and one invoice per customer (which depends on it).
fn ingest_customers_with_invoices(server: &Server, d: &Deployment, ids: Range<u32>) {
    for c in ids {
        for (kind, record) in [
            ("invoice", invoice(INVOICE_BASE + c, c)),
            ("customer", customer(c)),
        ] {
            let (status, body) = ingest(server, &d.token, "example", kind, &record);
            assert_eq!(status, 202, "{body}");
        }
    }
}

fn web_connector(server: &Server, d: &Deployment) -> WebConnector {
    WebConnector::new(
        &format!("{}/qbwc", server.base),
        &d.user,
        &d.password,
        WcOptions::default(),
    )
}

/// The end state every crash must still reach: each record once in QuickBooks, every job
/// completed, no message set awaiting recovery, and a sound database file.
fn assert_exactly_once_and_intact(d: &Deployment, company: &Company, records: usize) {
    // After a clean stop: the test observes the queue, it never changes it.
    let mut db = Db::open(&d.data_dir);
    let unfinished =
        db.rows("SELECT id, key, state FROM job WHERE state <> 'completed' ORDER BY id");
    assert!(unfinished.is_empty(), "jobs not completed: {unfinished:?}");
    let jobs = db.int("SELECT COUNT(*) FROM job");
    assert_eq!(jobs as usize, 2 * records, "one job per record");
    let open_sets =
        db.int("SELECT COUNT(*) FROM message_set WHERE state IN ('sent','in_doubt','recovering')");
    assert_eq!(open_sets, 0, "message sets still awaiting an answer");
    if let Db::Sqlite(_) = db {
        // The file survived the kills whole (PostgreSQL's own recovery is not ours to test).
        assert_eq!(db.text("PRAGMA integrity_check"), "ok");
        assert!(
            db.rows("PRAGMA foreign_key_check").is_empty(),
            "foreign key violations"
        );
    }

    assert_eq!(
        company.count("Customer"),
        records,
        "customers in QuickBooks"
    );
    assert_eq!(company.count("Invoice"), records, "invoices in QuickBooks");
    assert_no_duplicate_writes(company);
}

/// For each of `points` in turn: arms it, runs one session that must die there; then restarts
/// clean and syncs until idle.
fn crash_at_points_then_recover(points: &[&str]) {
    const RECORDS: u32 = 20;
    let d = Deployment::new();
    let mut company = company_with_items(ITEMS);
    for (n, point) in points.iter().enumerate() {
        let mut armed = Server::start_with_env(
            d.tmp.path(),
            &d.data_dir,
            &[],
            &[(qbridge::failpoint::ENV, point)],
        );
        if n == 0 {
            ingest_customers_with_invoices(&armed, &d, 0..RECORDS);
        }
        let session = web_connector(&armed, &d).run_session(&mut company);
        assert!(
            session.is_err(),
            "the session cannot finish when the server dies at {point}: {:?}",
            session.map(|t| t.outcome)
        );
        let exit = wait_timeout(&mut armed.child, Duration::from_secs(30))
            .expect("the server aborted at the crash point");
        assert!(!exit.success(), "an abort is not a clean exit: {exit}");
        assert!(
            armed.log_text().contains(point),
            "it died at {point}: {}",
            armed.log_text()
        );
    }

    let mut server = d.start();
    sync_until_idle(&server, &d, &mut company, 20);
    server.terminate();
    assert_exactly_once_and_intact(&d, &company, RECORDS as usize);
}

#[test]
fn crash_after_the_claim_commits_is_recovered_without_a_duplicate() {
    crash_at_points_then_recover(&["queue::after_claim_commit"]);
}

#[test]
fn crash_after_quickbooks_answered_but_before_results_commit_is_recovered_without_a_duplicate() {
    crash_at_points_then_recover(&["pipeline::after_send_before_commit"]);
}

#[test]
fn crash_after_results_commit_but_before_the_reply_is_recovered_without_a_duplicate() {
    crash_at_points_then_recover(&["pipeline::after_commit_before_reply"]);
}

#[test]
fn crash_while_recovering_an_unanswered_message_set_is_recovered_on_the_next_start() {
    // The first crash leaves a message set QuickBooks applied but the engine never recorded;
    // the second hits right after the next session claimed its recovery (`oldMessageSetID`).
    crash_at_points_then_recover(&[
        "pipeline::after_send_before_commit",
        "queue::after_claim_commit",
    ]);
}

/// SplitMix64: a seeded, reproducible sequence without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `CRASH_SEED` (a failing run's seed, printed by every run) and `CRASH_ROUNDS` (a longer
/// soak), else a fresh seed and `default_rounds`.
fn crash_params(what: &str, default_rounds: u32) -> (Rng, u32) {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |t| t.as_nanos() as u64)
        });
    let rounds: u32 = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_rounds);
    println!("{what}: CRASH_SEED={seed} CRASH_ROUNDS={rounds}");
    (Rng(seed), rounds)
}

/// A server sending message sets of two requests, so a session spans many sets.
fn start_small_batches(d: &Deployment) -> Server {
    Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[("QBRIDGE_PIPELINE_BATCH_MAX_REQUESTS", "2")],
    )
}

/// `rounds` times: a server starts, `feed` gives it that round's records, a Web Connector
/// syncs in a thread, and the server is SIGKILLed at a random instant of it. The company file
/// (QuickBooks, the other machine) survives every kill and is returned.
fn kill_rounds(
    d: &Deployment,
    mut company: Company,
    rng: &mut Rng,
    rounds: u32,
    mut feed: impl FnMut(&Server, u32),
) -> Company {
    // Small message sets that QuickBooks takes a while over: a session spans many sets, so the
    // kills spread over every step of it instead of landing after the work is done.
    company.set_faults(Faults {
        latency_ms: 15,
        ..Faults::default()
    });
    for round in 0..rounds {
        let mut server = start_small_batches(d);
        feed(&server, round);
        let mut wc = web_connector(&server, d);
        let session = std::thread::spawn(move || {
            // Sessions until the server dies under it (or, if the kill comes late, until idle).
            for _ in 0..50 {
                match wc.run_session(&mut company) {
                    Ok(t) if t.outcome == Some(Outcome::NoWork) => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            company
        });
        std::thread::sleep(Duration::from_millis(rng.next_u64() % 300));
        signal(&server.child, "KILL");
        wait_timeout(&mut server.child, Duration::from_secs(30)).expect("SIGKILL ends the server");
        company = session.join().expect("the Web Connector thread ends");
    }
    company
}

#[test]
fn sigkill_at_random_instants_of_sessions_never_duplicates_or_strands_a_record() {
    const PER_ROUND: u32 = 4;
    let (mut rng, rounds) = crash_params("sigkill rounds", 30);
    let d = Deployment::new();
    // Fresh records every round, so every kill lands in a session with work to do.
    let mut company = kill_rounds(
        &d,
        company_with_items(ITEMS),
        &mut rng,
        rounds,
        |server, round| {
            ingest_customers_with_invoices(server, &d, round * PER_ROUND..(round + 1) * PER_ROUND);
        },
    );
    let mut server = start_small_batches(&d);
    sync_until_idle(&server, &d, &mut company, 50);
    server.terminate();
    assert_exactly_once_and_intact(&d, &company, (rounds * PER_ROUND) as usize);
}

/// An invoice of customer `c` as the example plugin takes it, with line ids, `cents` on its
/// first line, voided or not.
fn invoice_version(c: u32, cents: u32, voided: bool) -> serde_json::Value {
    serde_json::json!({
        "id": INVOICE_BASE + c,
        "customer_id": c,
        "customer_name": format!("Customer {c:04}"),
        "number": format!("INV{}", INVOICE_BASE + c),
        "lines": [
            {"id": "l1", "item": "Consulting", "amount": format!("{}.{:02}", cents / 100, cents % 100)},
            {"id": "l2", "item": "Support", "amount": "25.50"}
        ],
        "voided": voided,
    })
}

#[test]
fn sigkill_rounds_with_edits_and_voids_apply_each_change_once_and_end_equal_to_the_source() {
    const PER_ROUND: u32 = 3;
    let (mut rng, rounds) = crash_params("sigkill rounds with changes", 12);
    let d = Deployment::new();
    // What the source holds at the end: per customer, the first line's cents and voided.
    let mut source: std::collections::BTreeMap<u32, (u32, bool)> = Default::default();
    let push = |server: &Server, kind: &str, record: &serde_json::Value| {
        let (status, body) = ingest(server, &d.token, "example", kind, record);
        assert_eq!(status, 202, "{body}");
    };
    let company = kill_rounds(
        &d,
        company_with_items(ITEMS),
        &mut rng,
        rounds,
        |server, round| {
            for c in round * PER_ROUND..(round + 1) * PER_ROUND {
                push(server, "customer", &customer(c));
                push(server, "invoice", &invoice_version(c, 10_000, false));
                source.insert(c, (10_000, false));
            }
            // The previous round's invoices are edited (possibly while still in flight), and
            // the first of the round before is voided.
            if round >= 1 {
                for c in (round - 1) * PER_ROUND..round * PER_ROUND {
                    let cents = source[&c].0 + 100 + round;
                    push(server, "invoice", &invoice_version(c, cents, false));
                    source.insert(c, (cents, false));
                }
            }
            if round >= 2 {
                let c = (round - 2) * PER_ROUND;
                let cents = source[&c].0;
                push(server, "invoice", &invoice_version(c, cents, true));
                source.insert(c, (cents, true));
            }
        },
    );
    let mut company = company;
    let mut server = start_small_batches(&d);
    sync_until_idle(&server, &d, &mut company, 80);
    server.terminate();

    let mut db = Db::open(&d.data_dir);
    let unfinished =
        db.int("SELECT COUNT(*) FROM job WHERE state NOT IN ('completed','cancelled')");
    assert_eq!(unfinished, 0, "every version completed or was superseded");
    let waiting = db.int("SELECT COUNT(*) FROM job_next");
    assert_eq!(waiting, 0, "no version left waiting");
    for (c, (cents, voided)) in &source {
        let number = format!("INV{}", INVOICE_BASE + c);
        let adds = company
            .write_log()
            .iter()
            .filter(|w| w.request == "Invoice" && w.name == number)
            .count();
        match company.find_txn(qbridge::sim::company::TxnKind::Invoice, &number) {
            Some(inv) if *voided => {
                assert!(inv.is_voided, "{number} is voided at the source");
                assert_eq!(adds, 1, "{number} added once");
            }
            Some(inv) => {
                assert!(!inv.is_voided, "{number}");
                assert_eq!(
                    inv.total_cents,
                    i64::from(*cents) + 2_550,
                    "{number} ends as the source's last version"
                );
                assert_eq!(adds, 1, "{number} added once");
            }
            // Voided before it ever reached QuickBooks: never sent.
            None => assert!(*voided && adds == 0, "{number} is missing from QuickBooks"),
        }
    }
    let mut voids = std::collections::HashSet::new();
    for w in company
        .write_log()
        .iter()
        .filter(|w| w.request == "TxnVoid")
    {
        assert!(voids.insert(w.id.clone()), "voided twice: {}", w.id);
    }
    assert_eq!(company.count("Customer"), source.len());
}
