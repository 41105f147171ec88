//! No job loops forever, at the queue: renamed records and their dependents, held jobs, probes
//! that are never answered, and jobs whose sending process is gone.

use super::tests::{LIMITS, answer, answered, done, job, open, sent};
use super::*;
use crate::store::Store;

fn invoice_of(key: &str, customer: &str) -> NewJob {
    NewJob {
        request_type: "InvoiceAdd".into(),
        qbxml: format!(
            "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>{customer}</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq>"
        ),
        probe: None,
        ..job(key, &["acme"])
    }
}

fn enqueue(s: &Store, jobs: &[NewJob]) {
    enqueue_for(s, 1, jobs);
}

fn enqueue_for(s: &Store, connection_id: i64, jobs: &[NewJob]) {
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id,
        plugin: "p",
        kind: "r",
        source_id: None,
        payload: "{}",
        jobs,
    })
    .unwrap();
}

fn column<T: crate::store::sql::FromValue>(s: &Store, sql: &str) -> T {
    s.read(|c| c.query_row(sql, [], |r| r.get(0))).unwrap()
}

#[test]
fn a_renamed_customer_is_sent_again_mapped_under_its_new_name_and_its_invoices_follow() {
    let (_d, s) = open();
    enqueue(&s, &[job("acme", &[]), invoice_of("inv1", "acme")]);
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1, "the invoice waits for its customer");
    let id = jobs[0].job_id;
    let renamed = JobResult::Renamed {
        qbxml: "<CustomerAddRq><CustomerAdd><Name>acme (C)</Name></CustomerAdd></CustomerAddRq>"
            .into(),
        probe: Some("<CustomerQueryRq><FullName>acme (C)</FullName></CustomerQueryRq>".into()),
        from: "acme".into(),
        note: "used by a vendor".into(),
    };
    answer(&s, set.as_deref(), &[(id, renamed, None)]).unwrap();
    let view = s.job(id).unwrap();
    assert_eq!(view.state, JobState::Available);
    assert_eq!(view.notes, ["used by a vendor"]);
    assert!(view.qbxml.unwrap().contains("acme (C)"));

    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert_eq!(jobs[0].job_id, id);
    assert!(jobs[0].qbxml.contains("acme (C)"), "the new name is sent");
    answer(&s, set.as_deref(), &[(id, done("80-1"), None)]).unwrap();
    let (name, from): (String, String) = s
        .read(|c| {
            c.query_row(
                "SELECT name, renamed_from FROM mapping WHERE key='acme'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .unwrap();
    assert_eq!((name.as_str(), from.as_str()), ("acme (C)", "acme"));
    let queued: String = column(&s, "SELECT qbxml FROM job WHERE key='inv1'");
    assert!(queued.contains("<FullName>acme (C)</FullName>"), "{queued}");

    enqueue(&s, &[invoice_of("inv2", "acme")]);
    let later: String = column(&s, "SELECT qbxml FROM job WHERE key='inv2'");
    assert!(later.contains("<FullName>acme (C)</FullName>"), "{later}");
}

#[test]
fn a_held_job_holds_its_dependents_until_a_retry_sends_it_again_from_zero() {
    let (_d, s) = open();
    enqueue(&s, &[job("acme", &[]), invoice_of("inv1", "acme")]);
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    let id = jobs[0].job_id;
    let hold = JobResult::Hold {
        code: 3100,
        message: "in use".into(),
        advice: "rename the vendor".into(),
    };
    answer(&s, set.as_deref(), &[(id, hold, None)]).unwrap();
    let view = s.job(id).unwrap();
    assert_eq!(
        (view.state.as_str(), view.advice.as_deref()),
        ("held", Some("rename the vendor"))
    );
    let invoice: (String, String) = s
        .read(|c| {
            c.query_row("SELECT state, advice FROM job WHERE key='inv1'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .unwrap();
    assert_eq!(invoice.0, "held");
    assert!(invoice.1.contains("which is held"), "{}", invoice.1);
    assert!(
        !s.has_work(1).unwrap(),
        "held work does not open QuickBooks"
    );
    assert_eq!(
        column::<i64>(&s, "SELECT sends FROM job WHERE key='acme'"),
        1
    );

    s.retry_job(id).unwrap();
    assert_eq!(
        column::<i64>(&s, "SELECT sends FROM job WHERE key='acme'"),
        0
    );
    assert!(s.has_work(1).unwrap());
}

#[test]
fn a_probe_that_is_never_answered_is_held_after_max_attempts_instead_of_asked_forever() {
    let (_d, s) = open();
    enqueue(&s, &[job("acme", &[])]);
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    let id = jobs[0].job_id;
    let verify = JobResult::Verify {
        message: "in use".into(),
    };
    answer(&s, set.as_deref(), &[(id, verify, None)]).unwrap();
    let to = AnswerTo {
        connection_id: 1,
        session_id: 100,
        set: Answering::Sent(None),
    };
    let mut probes = 0;
    while s.has_work(1).unwrap() {
        let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
        assert!(set.is_none() && jobs[0].probing);
        // The answer never names the probe (a confused client): it is unanswered.
        s.record_results(&to, &[]).unwrap();
        probes += 1;
        assert!(probes < 50, "the probe is asked forever");
    }
    let view = s.job(id).unwrap();
    assert_eq!(view.state, JobState::Held);
    assert_eq!(view.attempt, 12, "max_attempts sends in all");
    assert!(view.advice.unwrap().contains("never answered"));
}

#[test]
fn a_job_sent_by_a_process_that_is_gone_is_shown_as_outcome_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let s = crate::store::testing::open(dir.path());
    enqueue(&s, &[job("acme", &[])]);
    sent(s.claim(1, 100, LIMITS).unwrap());
    let mine = |s: &Store| {
        let j = s.list_jobs(&JobFilter::default()).unwrap().remove(0);
        let q = s.queue_status().unwrap().remove(0);
        (j.state, j.outcome_unknown, q.outcome_unknown)
    };
    assert_eq!(mine(&s), (JobState::Sent, false, 0), "its own lease");
    drop(s);
    // Another process (a new boot id), e.g. `qbridge status` after a SIGKILL.
    let s = crate::store::testing::open(dir.path());
    assert_eq!(mine(&s), (JobState::Sent, true, 1));
}

/// A connection with one Web Connector user, whose session is opened for real.
fn session(s: &Store) -> (i64, i64) {
    use crate::store::connections::{Claim as SessionClaim, LeaseRules};
    let rules = LeaseRules {
        idle_ms: 60_000,
        absolute_ms: 600_000,
    };
    s.add_connection("acme", "{F}", "", "test").unwrap();
    let user = s
        .add_qbwc_user("acme", "alice", "{U}", "$hash", "test")
        .unwrap();
    let (SessionClaim::Granted(id), _) = s.claim_qbwc_session("t", &user, rules).unwrap() else {
        panic!("a session")
    };
    (user.connection_id, id)
}

#[test]
fn a_recovery_in_progress_survives_the_rescue_of_orphans() {
    let (_d, s) = open();
    let (conn, live) = session(&s);
    enqueue_for(&s, conn, &[job("a", &[])]);
    // Sent in an earlier session that was lost: the set is recovered by the live one.
    let (set, jobs) = sent(s.claim(conn, 99, LIMITS).unwrap());
    let set = set.unwrap();
    s.session_lost(99).unwrap();
    assert!(matches!(
        s.claim(conn, live, LIMITS).unwrap(),
        Some(Claim::Recover { .. })
    ));
    // The rescue every node runs every few seconds leaves the live recovery alone …
    s.rescue_orphans().unwrap();
    // … so QuickBooks' stored answer, when it comes, is taken.
    let to = AnswerTo {
        connection_id: conn,
        session_id: live,
        set: Answering::Recovered(&set),
    };
    let answer = answered(&jobs[0].request_id, jobs[0].job_id, "A-1");
    assert_eq!(s.record_results(&to, &[answer]).unwrap().applied, 1);
    assert_eq!(s.job(jobs[0].job_id).unwrap().state, JobState::Completed);
}

#[test]
fn a_session_that_ended_claims_nothing_and_what_it_left_sent_is_doubted() {
    let (_d, s) = open();
    let (conn, id) = session(&s);
    enqueue_for(&s, conn, &[job("a", &[])]);
    let (_, jobs) = sent(s.claim(conn, id, LIMITS).unwrap());
    // The session ends (revoked) before the step that doubts its sent jobs ran.
    s.end_qbwc_session(id, crate::store::connections::EndReason::Revoked)
        .unwrap();
    enqueue_for(&s, conn, &[job("b", &[])]);
    assert!(
        s.claim(conn, id, LIMITS).unwrap().is_none(),
        "a closed session is sent nothing"
    );
    // Moments later the session's own end would doubt it; past that, the rescue does.
    assert_eq!(
        s.rescue_orphans().unwrap(),
        0,
        "not while the end may still run"
    );
    s.write(|tx| {
        tx.execute(
            "UPDATE qbwc_session SET closed_at = closed_at - 60000 WHERE id = ?1",
            [id],
        )
    })
    .unwrap();
    assert_eq!(s.rescue_orphans().unwrap(), 1);
    assert_eq!(s.job(jobs[0].job_id).unwrap().state, JobState::InDoubt);
}
