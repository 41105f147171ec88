//! Iterated queries: each page is a job of its own, sent in the QBWC session whose QuickBooks
//! session holds the iterator, and started over in any other.

use super::tests::{LIMITS, answer, done, open, sent};
use super::*;

fn vendor_query() -> NewJob {
    NewJob {
        key: "lists:1:vendors".into(),
        depends_on: vec![],
        request_type: "VendorQuery".into(),
        qbxml: r#"<VendorQueryRq iterator="Start"><MaxReturned>2</MaxReturned></VendorQueryRq>"#
            .into(),
        probe: None,
        adopt_existing: false,
        notes: vec![],
        versioning: Default::default(),
    }
}

fn page(done_result: JobResult, session_id: i64, iterator: &str, key: &str) -> JobResult {
    JobResult::Page {
        done: Box::new(done_result),
        next: NextPage {
            key: key.into(),
            qbxml: crate::qbxml::continue_iteration(
                r#"<VendorQueryRq iterator="Start"><MaxReturned>2</MaxReturned></VendorQueryRq>"#,
                iterator,
            )
            .unwrap(),
            session_id,
        },
    }
}

#[test]
fn the_next_page_goes_out_in_the_same_session_and_starts_over_in_another() {
    let (_d, s) = open();
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "ramp",
        kind: "quickbooks-lists",
        source_id: Some("1"),
        payload: "{}",
        jobs: &[vendor_query()],
    })
    .unwrap();
    // Session 100 sends the first page; QuickBooks has more.
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    answer(
        &s,
        set.as_deref(),
        &[(
            jobs[0].job_id,
            page(done("80000001-1"), 100, "{it-1}", "lists:1:vendors#2"),
            None,
        )],
    )
    .unwrap();
    // Same session: the Continue page, under its own key.
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1);
    assert!(
        jobs[0]
            .qbxml
            .contains(r#"iterator="Continue" iteratorID="{it-1}""#),
        "{}",
        jobs[0].qbxml
    );
    let second = jobs[0].job_id;
    // The session ends before QuickBooks answers a third page's request: the job for page 3
    // is queued by session 100, but the next session is 101 — QuickBooks forgot `{it-2}`.
    answer(
        &s,
        set.as_deref(),
        &[(
            second,
            page(done("80000002-1"), 100, "{it-2}", "lists:1:vendors#3"),
            None,
        )],
    )
    .unwrap();
    let (_, jobs) = sent(s.claim(1, 101, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].qbxml,
        r#"<VendorQueryRq iterator="Start"><MaxReturned>2</MaxReturned></VendorQueryRq>"#,
        "a page of another session's iterator starts the query over"
    );
    let view = s.job(jobs[0].job_id).unwrap();
    assert_eq!(view.key, "lists:1:vendors#3");
    assert!(
        view.notes.iter().any(|n| n.contains("started over")),
        "{:?}",
        view.notes
    );
}
