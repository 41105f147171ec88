use super::*;
use crate::store::audit::now_ms;
use crate::store::plugin_calls::CallKind;
use crate::store::{Store, StoreError};

pub(super) const LIMITS: BatchLimits = BatchLimits {
    max_requests: 10,
    max_bytes: 1 << 20,
};

pub(super) fn job(key: &str, deps: &[&str]) -> NewJob {
    NewJob {
        key: key.into(),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        request_type: "CustomerAdd".into(),
        qbxml: format!(
            "<CustomerAddRq><CustomerAdd><Name>{key}</Name></CustomerAdd></CustomerAddRq>"
        ),
        probe: Some(format!(
            "<CustomerQueryRq><FullName>{key}</FullName></CustomerQueryRq>"
        )),
        adopt_existing: false,
        notes: vec![],
        versioning: Default::default(),
    }
}

pub(super) fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::testing::open(dir.path());
    (dir, store)
}

pub(super) fn sent(claim: Option<Claim>) -> (Option<String>, Vec<ClaimedJob>) {
    match claim {
        Some(Claim::Send {
            message_set_id,
            jobs,
        }) => (message_set_id, jobs),
        other => panic!("expected a send, got {other:?}"),
    }
}

/// Answers a sent set the way the pipeline does: as the session (and company file) the jobs
/// were sent in, under the request ids they were sent with.
pub(super) fn answer(
    s: &Store,
    set: Option<&str>,
    results: &[(i64, JobResult, Option<String>)],
) -> Result<Recorded, StoreError> {
    let sent_as = |job_id: i64| -> (i64, i64, String) {
        s.read(|c| {
            c.query_row(
                "SELECT connection_id, session_id, request_id FROM job WHERE id=?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .unwrap()
    };
    let (connection_id, session_id, _) = sent_as(results[0].0);
    let answers: Vec<Answered> = results
        .iter()
        .map(|(job_id, result, response)| Answered {
            request_id: sent_as(*job_id).2,
            job_id: *job_id,
            result: result.clone(),
            response: response.clone(),
        })
        .collect();
    let to = AnswerTo {
        connection_id,
        session_id,
        set: Answering::Sent(set),
    };
    s.record_results(&to, &answers)
}

pub(super) fn done(id: &str) -> JobResult {
    completed(id, false, false)
}

/// Applied as `id`, with the plugin-call flags the pipeline would set.
fn completed(id: &str, acknowledge: bool, retry_on_response: bool) -> JobResult {
    JobResult::Completed {
        object_id: Some(id.into()),
        edit_sequence: Some("1".into()),
        follow_ups: vec![],
        acknowledge,
        retry_on_response,
    }
}

#[test]
fn dependents_wait_until_their_dependency_completed() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "invoice",
        source_id: Some("9"),
        payload: "{}",
        jobs: &[job("cust", &[]), job("inv", &["cust"])],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert!(set.as_deref().is_some_and(|id| id.len() <= 23));
    assert_eq!(
        jobs.len(),
        1,
        "the invoice must not travel with its customer"
    );
    assert!(
        s.claim(1, 100, LIMITS).unwrap().is_none(),
        "nothing else is ready"
    );
    answer(
        &s,
        set.as_deref(),
        &[(jobs[0].job_id, done("80000001-1"), None)],
    )
    .unwrap();
    let (_, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].qbxml.contains("inv"));
}

#[test]
fn only_completed_jobs_of_pulled_records_are_acknowledged_with_backoff_until_given_up() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Pull,
        connection_id: 1,
        plugin: "p",
        kind: "bill",
        source_id: None,
        payload: r#"{"id":1}"#,
        jobs: &[job("pulled", &[])],
    })
    .unwrap();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "bill",
        source_id: None,
        payload: "{}",
        jobs: &[job("pushed", &[])],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
    assert_eq!(jobs.len(), 2);
    let results: Vec<_> = jobs
        .iter()
        .map(|j| {
            let ack = completed("T-1", true, false);
            (
                j.job_id,
                ack,
                Some("<BillRet><TxnID>T-1</TxnID></BillRet>".to_string()),
            )
        })
        .collect();
    answer(&s, set.as_deref(), &results).unwrap();
    let due = s.claim_due_calls(now_ms(), 10).unwrap();
    assert_eq!(due.len(), 1, "only the pulled record's job: {due:?}");
    let pulled = &due[0];
    assert_eq!(pulled.call, CallKind::Acknowledge);
    assert_eq!(
        (pulled.key.as_str(), pulled.kind.as_str()),
        ("pulled", "bill")
    );
    assert_eq!(pulled.record_json, r#"{"id":1}"#);
    assert!(pulled.response_xml.contains("<TxnID>T-1</TxnID>"));

    // A failure backs off: not due again right away.
    let ack = CallKind::Acknowledge;
    assert!(
        !s.call_failed(pulled.job_id, ack, "HTTP 503", 60_000)
            .unwrap()
    );
    assert!(s.claim_due_calls(now_ms(), 10).unwrap().is_empty());
    assert_eq!(s.claim_due_calls(now_ms() + 60_001, 10).unwrap().len(), 1);
    // Handed to one node: the others (every node runs the loop) find it taken for a lease.
    assert!(s.claim_due_calls(now_ms() + 60_001, 10).unwrap().is_empty());
    let lease = super::super::plugin_calls::CLAIM_LEASE_MS;
    assert_eq!(
        s.claim_due_calls(now_ms() + 60_001 + lease, 10)
            .unwrap()
            .len(),
        1,
        "made again when the node that took it never said"
    );
    // … until the budget is spent.
    for _ in 1..super::super::plugin_calls::MAX_ATTEMPTS - 1 {
        assert!(!s.call_failed(pulled.job_id, ack, "HTTP 503", 0).unwrap());
    }
    assert!(s.call_failed(pulled.job_id, ack, "HTTP 503", 0).unwrap());
    // Given up in the same transaction as its alert: exactly one, with the reason.
    let given_up: Vec<_> = s
        .alert_events(None, 10)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == crate::store::alerts::AlertKind::PluginCallGivenUp)
        .collect();
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    assert_eq!(given_up[0].data["error"], "HTTP 503");
    let counts = s.call_counts(ack).unwrap();
    assert_eq!((counts.pending, counts.failed, counts.done), (0, 1, 0));
    assert_eq!(
        s.failed_calls(10).unwrap()[0].last_error.as_deref(),
        Some("HTTP 503")
    );
    assert!(
        s.claim_due_calls(now_ms() + 10_000_000, 10)
            .unwrap()
            .is_empty()
    );

    // The admin retries; success is final.
    assert_eq!(s.retry_failed_calls("cli:test").unwrap(), 1);
    let due = s.claim_due_calls(now_ms(), 10).unwrap();
    assert_eq!(due[0].attempts, 0);
    s.call_done(due[0].job_id, ack, &[]).unwrap();
    let counts = s.call_counts(ack).unwrap();
    assert_eq!((counts.pending, counts.failed, counts.done), (0, 0, 1));
}

#[test]
fn a_failed_on_response_is_retried_and_its_follow_ups_then_join_the_queue() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "bill",
        source_id: None,
        payload: "{}",
        jobs: &[job("bill", &[])],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
    let failed_follow_ups = completed("T-1", false, true);
    answer(
        &s,
        set.as_deref(),
        &[(jobs[0].job_id, failed_follow_ups, None)],
    )
    .unwrap();
    // The bill is in QuickBooks: nothing to send until the follow-ups exist.
    assert!(s.claim(1, 2, LIMITS).unwrap().is_none());
    let due = s.claim_due_calls(now_ms(), 10).unwrap();
    assert_eq!((due.len(), due[0].call), (1, CallKind::OnResponse));
    s.call_done(
        due[0].job_id,
        CallKind::OnResponse,
        &[job("payment", &["bill"])],
    )
    .unwrap();
    let (_, jobs) = sent(s.claim(1, 3, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].qbxml.contains("payment"));
    assert_eq!(s.call_counts(CallKind::OnResponse).unwrap().done, 1);
    // A node whose lease ran out and that made the call again does not queue it twice.
    s.call_done(
        due[0].job_id,
        CallKind::OnResponse,
        &[job("payment-2", &["bill"])],
    )
    .unwrap();
    assert!(
        s.claim(1, 3, LIMITS).unwrap().is_none(),
        "no second follow-up"
    );
}

#[test]
fn reingesting_is_a_no_op_while_live_and_after_completion() {
    let (_d, s) = open();
    let first = s
        .enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 1,
            plugin: "p",
            kind: "c",
            source_id: None,
            payload: "{}",
            jobs: &[job("a", &[])],
        })
        .unwrap();
    let Enqueued::Created(id) = first.jobs[0].1 else {
        panic!()
    };
    let again = s
        .enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 1,
            plugin: "p",
            kind: "c",
            source_id: None,
            payload: "{}",
            jobs: &[job("a", &[])],
        })
        .unwrap();
    assert_eq!(again.jobs[0].1, Enqueued::Existing(id));
    let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
    answer(&s, set.as_deref(), &[(jobs[0].job_id, done("X"), None)]).unwrap();
    let third = s
        .enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 1,
            plugin: "p",
            kind: "c",
            source_id: None,
            payload: "{}",
            jobs: &[job("a", &[])],
        })
        .unwrap();
    assert_eq!(third.jobs[0].1, Enqueued::AlreadyInQuickBooks);
    // Another connection is another company file: it needs its own copy.
    let other = s
        .enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 2,
            plugin: "p",
            kind: "c",
            source_id: None,
            payload: "{}",
            jobs: &[job("a", &[])],
        })
        .unwrap();
    assert!(matches!(other.jobs[0].1, Enqueued::Created(_)));
}

#[test]
fn failed_dependency_holds_dependents_and_independent_work_flows() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "x",
        source_id: None,
        payload: "{}",
        jobs: &[job("cust", &[]), job("inv", &["cust"]), job("other", &[])],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
    assert_eq!(jobs.len(), 2, "customer and the independent job");
    let cust = jobs
        .iter()
        .find(|j| j.qbxml.contains("cust"))
        .unwrap()
        .job_id;
    let other = jobs
        .iter()
        .find(|j| j.qbxml.contains("other"))
        .unwrap()
        .job_id;
    answer(
        &s,
        set.as_deref(),
        &[
            (
                cust,
                JobResult::Discard {
                    code: 3260,
                    message: "Insufficient permission".into(),
                    advice: "grant access".into(),
                },
                None,
            ),
            (other, done("O"), None),
        ],
    )
    .unwrap();
    let held = s
        .list_jobs(&JobFilter {
            state: Some(JobState::Held),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(held.len(), 1);
    assert!(
        held[0]
            .advice
            .as_deref()
            .unwrap()
            .contains(&format!("job {cust}"))
    );
    assert!(
        s.claim(1, 1, LIMITS).unwrap().is_none(),
        "held work is not sent to fail with 3140"
    );
    // A new record depending on the failed key is held at once.
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "x",
        source_id: None,
        payload: "{}",
        jobs: &[job("inv2", &["cust"])],
    })
    .unwrap();
    assert_eq!(
        s.list_jobs(&JobFilter {
            state: Some(JobState::Held),
            ..Default::default()
        })
        .unwrap()
        .len(),
        2
    );
    // Retrying the failed job releases its dependents once it completes.
    s.retry_job(cust).unwrap();
    assert_eq!(
        s.list_jobs(&JobFilter {
            state: Some(JobState::Held),
            ..Default::default()
        })
        .unwrap()
        .len(),
        0
    );
    let (set, jobs) = sent(s.claim(1, 2, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1);
    answer(&s, set.as_deref(), &[(jobs[0].job_id, done("C"), None)]).unwrap();
    let (_, jobs) = sent(s.claim(1, 2, LIMITS).unwrap());
    assert_eq!(jobs.len(), 2, "both invoices");
}

#[test]
fn lost_session_leads_to_recovery_then_probe_then_resend() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "x",
        source_id: None,
        payload: "{}",
        jobs: &[job("a", &[])],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 7, LIMITS).unwrap());
    let set = set.unwrap();
    assert_eq!(s.session_lost(7).unwrap(), 1);
    assert_eq!(s.job(jobs[0].job_id).unwrap().state, JobState::InDoubt);
    assert!(s.has_work(1).unwrap());
    match s.claim(1, 8, LIMITS).unwrap() {
        Some(Claim::Recover { old_message_set_id }) => assert_eq!(old_message_set_id, set),
        other => panic!("expected recovery first, got {other:?}"),
    }
    s.recovery_unavailable(&set).unwrap();
    let (probe_set, probes) = sent(s.claim(1, 8, LIMITS).unwrap());
    assert!(probe_set.is_none(), "probe-only sets change nothing");
    assert!(probes[0].probing && probes[0].qbxml.contains("CustomerQueryRq"));
    answer(&s, None, &[(probes[0].job_id, JobResult::NotApplied, None)]).unwrap();
    let (again, jobs2) = sent(s.claim(1, 8, LIMITS).unwrap());
    assert!(!jobs2[0].probing);
    assert_ne!(again.unwrap(), set, "a re-send gets a new message set id");
    assert_ne!(jobs2[0].request_id, jobs[0].request_id);
}

#[test]
fn a_plugin_filter_fills_the_page_with_that_plugins_jobs() {
    let (_d, s) = open();
    for (plugin, n) in [("p", 0), ("q", 1), ("p", 2), ("q", 3), ("q", 4)] {
        s.enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 1,
            plugin,
            kind: "x",
            source_id: None,
            payload: "{}",
            jobs: &[job(&format!("k{n}"), &[])],
        })
        .unwrap();
    }
    let page = s
        .list_jobs(&JobFilter {
            plugin: Some("p".into()),
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    let keys: Vec<&str> = page.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(
        keys,
        ["k2", "k0"],
        "the newest two of plugin p, though q's are newer"
    );
}

#[test]
fn a_recovery_lost_again_and_again_ends_in_probes_not_a_loop() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "x",
        source_id: None,
        payload: "{}",
        jobs: &[job("a", &[]), {
            let mut unprovable = job("b", &[]);
            unprovable.probe = None;
            unprovable
        }],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 7, LIMITS).unwrap());
    let set = set.unwrap();
    s.session_lost(7).unwrap();
    // Three sessions ask QuickBooks for the set's stored answer and die before it arrives.
    for session in 8..11 {
        match s.claim(1, session, LIMITS).unwrap() {
            Some(Claim::Recover { old_message_set_id }) => assert_eq!(old_message_set_id, set),
            other => panic!("session {session}: expected recovery, got {other:?}"),
        }
        s.session_lost(session).unwrap();
    }
    // The fourth verifies by probe what can be verified; the rest waits for an admin.
    let (probe_set, probes) = sent(s.claim(1, 11, LIMITS).unwrap());
    assert!(probe_set.is_none());
    assert_eq!(probes.len(), 1);
    assert!(probes[0].probing && probes[0].job_id == jobs[0].job_id);
    let b = s.job(jobs[1].job_id).unwrap();
    assert_eq!(b.state, JobState::InDoubt);
    assert!(b.advice.unwrap().contains("qbridge jobs retry"));
}

#[test]
fn a_probe_told_to_retry_is_probed_again_never_resent_unverified() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "x",
        source_id: None,
        payload: "{}",
        jobs: &[job("a", &[])],
    })
    .unwrap();
    let (set, _) = sent(s.claim(1, 1, LIMITS).unwrap());
    s.session_lost(1).unwrap();
    s.recovery_unavailable(&set.unwrap()).unwrap();
    let (_, probes) = sent(s.claim(1, 2, LIMITS).unwrap());
    assert!(probes[0].probing);
    let busy = JobResult::Retry {
        code: 3175,
        message: "locked".into(),
    };
    answer(&s, None, &[(probes[0].job_id, busy, None)]).unwrap();
    s.write(|tx| tx.execute("UPDATE job SET run_at=0", []))
        .unwrap();
    let (_, again) = sent(s.claim(1, 2, LIMITS).unwrap());
    assert!(
        again[0].probing,
        "the request itself must not be re-sent before the probe answers"
    );
    assert!(again[0].qbxml.contains("CustomerQueryRq"));
}

#[test]
fn an_in_doubt_job_no_recovery_covers_is_probed_not_stranded() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "x",
        source_id: None,
        payload: "{}",
        jobs: &[job("a", &[])],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
    // Its set was answered without it (or resolved) while the job itself went in doubt.
    s.write(|tx| {
        tx.execute("UPDATE job SET state='in_doubt'", [])?;
        tx.execute(
            "UPDATE message_set SET state='answered' WHERE id=?1",
            [set.as_deref()],
        )
    })
    .unwrap();
    assert!(s.has_work(1).unwrap(), "the job must not be forgotten");
    let (_, probes) = sent(s.claim(1, 2, LIMITS).unwrap());
    assert_eq!(probes[0].job_id, jobs[0].job_id);
    assert!(
        probes[0].probing,
        "verified by probe before anything is re-sent"
    );
}

#[test]
fn orphaned_leases_from_a_dead_process_become_in_doubt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = crate::store::testing::open(dir.path());
        s.enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 1,
            plugin: "p",
            kind: "x",
            source_id: None,
            payload: "{}",
            jobs: &[job("a", &[])],
        })
        .unwrap();
        sent(s.claim(1, 1, LIMITS).unwrap());
    }
    let s = crate::store::testing::open(dir.path());
    assert_eq!(s.rescue_orphans().unwrap(), 1);
    assert!(matches!(
        s.claim(1, 2, LIMITS).unwrap(),
        Some(Claim::Recover { .. })
    ));
}

#[test]
fn transient_errors_back_off_and_exhaustion_discards() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "x",
        source_id: None,
        payload: "{}",
        jobs: &[job("a", &[])],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
    let retry = JobResult::Retry {
        code: 3175,
        message: "locked".into(),
    };
    answer(&s, set.as_deref(), &[(jobs[0].job_id, retry.clone(), None)]).unwrap();
    let j = s.job(jobs[0].job_id).unwrap();
    assert_eq!(j.state, JobState::Retryable);
    assert!(
        s.claim(1, 1, LIMITS).unwrap().is_none(),
        "not before run_at"
    );
    assert_eq!(j.errors.as_array().unwrap().len(), 1);
    s.write(|tx| tx.execute("UPDATE job SET attempt=max_attempts, run_at=0", []))
        .unwrap();
    let (set, jobs) = sent(s.claim(1, 1, LIMITS).unwrap());
    answer(&s, set.as_deref(), &[(jobs[0].job_id, retry, None)]).unwrap();
    assert_eq!(s.job(jobs[0].job_id).unwrap().state, JobState::Discarded);
}

#[test]
fn batches_respect_the_byte_budget() {
    let (_d, s) = open();
    let jobs: Vec<NewJob> = (0..5).map(|i| job(&format!("k{i}"), &[])).collect();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "x",
        source_id: None,
        payload: "{}",
        jobs: &jobs,
    })
    .unwrap();
    let one = jobs[0].qbxml.len();
    let (_, claimed) = sent(
        s.claim(
            1,
            1,
            BatchLimits {
                max_requests: 10,
                max_bytes: one * 2 + 1,
            },
        )
        .unwrap(),
    );
    assert_eq!(claimed.len(), 2);
}

#[test]
fn backoff_is_capped_and_grows() {
    for a in 0..30 {
        let b = backoff_ms(a);
        assert!((0..=BACKOFF_CAP_MS).contains(&b), "{a}: {b}");
    }
    assert!(backoff_ms(0) <= BACKOFF_BASE_MS);
    assert!(backoff_ms(12) >= BACKOFF_CAP_MS / 2);
}

/// The state and attempt count of a job.
fn state_of(s: &Store, job_id: i64) -> (String, i64) {
    s.read(|c| {
        c.query_row(
            "SELECT state, attempt FROM job WHERE id=?1",
            [job_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })
    .unwrap()
}

pub(super) fn answered(request_id: &str, job_id: i64, object: &str) -> Answered {
    Answered {
        request_id: request_id.into(),
        job_id,
        result: done(object),
        response: None,
    }
}

#[test]
fn a_response_applies_only_to_what_this_session_sent_in_the_outstanding_set() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "c",
        source_id: None,
        payload: "{}",
        jobs: &[job("a1", &[]), job("a2", &[])],
    })
    .unwrap();
    let b = s
        .enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 2,
            plugin: "p",
            kind: "c",
            source_id: None,
            payload: "{}",
            jobs: &[job("b1", &[])],
        })
        .unwrap();
    let (set_a, jobs_a) = sent(s.claim(1, 100, LIMITS).unwrap());
    // Company file B: one job sent in its own live session, one never sent.
    let (_, jobs_b) = sent(
        s.claim(
            2,
            200,
            BatchLimits {
                max_requests: 1,
                ..LIMITS
            },
        )
        .unwrap(),
    );
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 2,
        plugin: "p",
        kind: "c",
        source_id: None,
        payload: "{}",
        jobs: &[job("b2", &[])],
    })
    .unwrap();
    let b2 = s
        .read(|c| {
            c.query_row("SELECT id FROM job WHERE key='b2'", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .unwrap();
    assert_eq!(
        jobs_b[0].job_id,
        match b.jobs[0].1 {
            Enqueued::Created(id) => id,
            ref o => panic!("{o:?}"),
        }
    );
    let to = AnswerTo {
        connection_id: 1,
        session_id: 100,
        set: Answering::Sent(set_a.as_deref()),
    };
    let owed = s.owed_jobs(&to).unwrap();
    assert_eq!(owed.len(), 2, "only A's two requests are owed: {owed:?}");
    assert!(
        owed.values()
            .all(|id| jobs_a.iter().any(|j| j.job_id == *id))
    );

    let (a1, a2) = (&jobs_a[0], &jobs_a[1]);
    let stale = format!("j{}.{}", a2.job_id, 7);
    let recorded = s
        .record_results(
            &to,
            &[
                answered(&jobs_b[0].request_id, jobs_b[0].job_id, "EVIL-1"),
                answered(&format!("j{b2}.1"), b2, "EVIL-2"),
                answered(&a1.request_id, a1.job_id, "A-1"),
                answered(&stale, a2.job_id, "EVIL-3"),
                answered(&a1.request_id, a1.job_id, "EVIL-4"),
            ],
        )
        .unwrap();
    assert_eq!(recorded.applied, 1);
    assert_eq!(recorded.ignored.len(), 4, "{:?}", recorded.ignored);
    assert_eq!(
        s.mapping(1, "p", "a1").unwrap().unwrap().0,
        "A-1",
        "the genuine answer applied, once"
    );
    assert_eq!(
        state_of(&s, jobs_b[0].job_id),
        ("sent".into(), 1),
        "B's sent job untouched"
    );
    assert_eq!(
        state_of(&s, b2),
        ("available".into(), 0),
        "B's unsent job untouched"
    );
    assert!(
        s.mapping(2, "p", "b1").unwrap().is_none() && s.mapping(2, "p", "b2").unwrap().is_none()
    );
    // A's unanswered request is in doubt, and its set is recovered next — never re-sent blind.
    assert_eq!(state_of(&s, a2.job_id).0, "in_doubt");
    assert!(matches!(
        s.claim(1, 100, LIMITS).unwrap(),
        Some(Claim::Recover { .. })
    ));
}

#[test]
fn a_recovered_answer_binds_to_the_session_recovering_that_set() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "c",
        source_id: None,
        payload: "{}",
        jobs: &[job("a1", &[])],
    })
    .unwrap();
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    let set = set.unwrap();
    s.session_lost(100).unwrap();
    let Some(Claim::Recover { old_message_set_id }) = s.claim(1, 101, LIMITS).unwrap() else {
        panic!("expected recovery")
    };
    assert_eq!(old_message_set_id, set);
    let answer = [answered(&jobs[0].request_id, jobs[0].job_id, "A-1")];
    for (connection_id, session_id) in [(1, 100), (1, 999), (2, 101)] {
        let to = AnswerTo {
            connection_id,
            session_id,
            set: Answering::Recovered(&set),
        };
        let r = s.record_results(&to, &answer).unwrap();
        assert_eq!(
            (r.applied, r.ignored.len()),
            (0, 1),
            "session {session_id} of {connection_id}"
        );
    }
    assert_eq!(state_of(&s, jobs[0].job_id).0, "in_doubt");
    let to = AnswerTo {
        connection_id: 1,
        session_id: 101,
        set: Answering::Recovered(&set),
    };
    assert_eq!(s.record_results(&to, &answer).unwrap().applied, 1);
    assert_eq!(state_of(&s, jobs[0].job_id).0, "completed");
}

#[test]
fn retry_applies_only_to_stopped_jobs_not_to_waiting_ones() {
    let (_dir, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "customer",
        source_id: None,
        payload: "{}",
        jobs: &[job("waiting", &[])],
    })
    .unwrap();
    let id = s.list_jobs(&JobFilter::default()).unwrap()[0].id;
    let err = s.retry_job(id).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("is available"), "{err}");
    s.cancel_job(id).unwrap();
    s.retry_job(id).unwrap();
    assert!(!retry_applies(JobState::Retryable) && retry_applies(JobState::InDoubt));
}
