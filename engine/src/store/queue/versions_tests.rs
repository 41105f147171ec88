//! Versions of a key through the real store: collapse, waiting behind a version that may
//! have landed, the Mod built at claim time on the current identity, voids, 3200 refresh.

use super::tests::{LIMITS, answer, open, sent};
use super::*;
use crate::store::Store;

fn customer(key: &str, name: &str, phone: &str) -> NewJob {
    NewJob {
        key: key.into(),
        depends_on: vec![],
        request_type: "CustomerAdd".into(),
        qbxml: format!(
            "<CustomerAddRq><CustomerAdd><Name>{name}</Name><Phone>{phone}</Phone></CustomerAdd></CustomerAddRq>"
        ),
        probe: Some(format!(
            "<CustomerQueryRq><FullName>{name}</FullName></CustomerQueryRq>"
        )),
        adopt_existing: false,
        notes: vec![],
        versioning: Versioning {
            modifies: true,
            ..Default::default()
        },
    }
}

fn invoice(lines: &[(&str, &str)], action: Action) -> NewJob {
    let body: String = lines
        .iter()
        .map(|(_, amount)| {
            format!(
                "<InvoiceLineAdd><ItemRef><FullName>Labor</FullName></ItemRef><Amount>{amount}</Amount></InvoiceLineAdd>"
            )
        })
        .collect();
    NewJob {
        key: "invoice:7".into(),
        depends_on: vec![],
        request_type: "InvoiceAdd".into(),
        qbxml: format!(
            "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Acme</FullName></CustomerRef><RefNumber>7</RefNumber>{body}</InvoiceAdd></InvoiceAddRq>"
        ),
        probe: None,
        adopt_existing: false,
        notes: vec![],
        versioning: Versioning {
            action,
            line_keys: lines.iter().map(|(k, _)| k.to_string()).collect(),
            significant: vec![],
            modifies: true,
        },
    }
}

fn ingest(s: &Store, job: NewJob) -> Enqueued {
    s.enqueue_record(&NewRecord {
        origin: Origin::Push,
        connection_id: 1,
        plugin: "p",
        kind: "k",
        source_id: Some("7"),
        payload: "{}",
        jobs: &[job],
    })
    .unwrap()
    .jobs[0]
        .1
        .clone()
}

fn complete(s: &Store, id: &str, edit_sequence: &str, ret: Option<String>) -> i64 {
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1);
    let result = JobResult::Completed {
        object_id: Some(id.into()),
        edit_sequence: Some(edit_sequence.into()),
        follow_ups: vec![],
        acknowledge: false,
        retry_on_response: false,
    };
    answer(s, set.as_deref(), &[(jobs[0].job_id, result, ret)]).unwrap();
    jobs[0].job_id
}

#[test]
fn an_unsent_version_is_replaced_so_quickbooks_sees_only_the_latest() {
    let (_d, s) = open();
    let Enqueued::Created(id) = ingest(&s, customer("c:1", "Acme", "1")) else {
        panic!()
    };
    assert_eq!(
        ingest(&s, customer("c:1", "Acme Corp", "2")),
        Enqueued::Superseded(id)
    );
    assert_eq!(
        ingest(&s, customer("c:1", "Acme Corp", "2")),
        Enqueued::Existing(id)
    );
    let (_, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert_eq!(jobs.len(), 1);
    assert!(
        jobs[0]
            .qbxml
            .contains("<CustomerAddRq><CustomerAdd><Name>Acme Corp</Name>")
    );
}

#[test]
fn a_version_waits_behind_one_in_flight_and_then_goes_as_a_mod_on_the_new_edit_sequence() {
    let (_d, s) = open();
    ingest(&s, customer("c:1", "Acme", "1"));
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    // The Add is out; the source changes the customer meanwhile.
    assert_eq!(
        ingest(&s, customer("c:1", "Acme Corp", "2")),
        Enqueued::Behind(jobs[0].job_id)
    );
    assert!(
        s.claim(1, 100, LIMITS).unwrap().is_none(),
        "never overtakes its Add"
    );
    let done = JobResult::Completed {
        object_id: Some("80000001-1".into()),
        edit_sequence: Some("1700000001".into()),
        follow_ups: vec![],
        acknowledge: false,
        retry_on_response: false,
    };
    answer(&s, set.as_deref(), &[(jobs[0].job_id, done, None)]).unwrap();
    let (_, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    let xml = &jobs[0].qbxml;
    assert!(xml.starts_with("<CustomerModRq><CustomerMod><ListID>80000001-1</ListID><EditSequence>1700000001</EditSequence>"), "{xml}");
    assert!(
        xml.contains("<Name>Acme Corp</Name>") && xml.contains("<Phone>2</Phone>"),
        "{xml}"
    );
    // The same version again after it is in QuickBooks is a no-op.
    let done = JobResult::Completed {
        object_id: Some("80000001-1".into()),
        edit_sequence: Some("1700000002".into()),
        follow_ups: vec![],
        acknowledge: false,
        retry_on_response: false,
    };
    let set: Option<String> = s
        .read(|c| {
            c.query_row(
                "SELECT message_set_id FROM job WHERE id=?1",
                [jobs[0].job_id],
                |r| r.get(0),
            )
        })
        .unwrap();
    answer(&s, set.as_deref(), &[(jobs[0].job_id, done, None)]).unwrap();
    assert_eq!(
        ingest(&s, customer("c:1", "Acme Corp", "2")),
        Enqueued::AlreadyInQuickBooks
    );
    let versions: i64 = s
        .read(|c| {
            c.query_row("SELECT MAX(version) FROM job WHERE key='c:1'", [], |r| {
                r.get(0)
            })
        })
        .unwrap();
    assert_eq!(versions, 2);
}

#[test]
fn an_invoice_edit_keeps_line_ids_adds_new_lines_and_drops_removed_ones() {
    let (_d, s) = open();
    ingest(
        &s,
        invoice(&[("a", "10.00"), ("b", "20.00")], Action::Write),
    );
    let ret = "<InvoiceRet><TxnID>T-1</TxnID><EditSequence>5</EditSequence>\
        <InvoiceLineRet><TxnLineID>L-a</TxnLineID></InvoiceLineRet>\
        <InvoiceLineRet><TxnLineID>L-b</TxnLineID></InvoiceLineRet></InvoiceRet>";
    complete(&s, "T-1", "5", Some(ret.into()));
    // Line a changes, b is removed, c is new.
    assert!(matches!(
        ingest(&s, invoice(&[("a", "15.00"), ("c", "5.00")], Action::Write)),
        Enqueued::Created(_)
    ));
    let (_, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    let xml = &jobs[0].qbxml;
    assert!(
        xml.starts_with(
            "<InvoiceModRq><InvoiceMod><TxnID>T-1</TxnID><EditSequence>5</EditSequence>"
        ),
        "{xml}"
    );
    assert!(xml.contains("<TxnLineID>L-a</TxnLineID>"), "{xml}");
    assert!(!xml.contains("L-b"), "a removed line is left out: {xml}");
    assert!(xml.contains("<TxnLineID>-1</TxnLineID>"), "{xml}");
    assert!(xml.contains("15.00") && xml.contains("5.00"), "{xml}");
}

#[test]
fn a_void_cancels_what_never_left_and_voids_what_quickbooks_has() {
    let (_d, s) = open();
    let Enqueued::Created(id) = ingest(&s, invoice(&[("a", "10.00")], Action::Write)) else {
        panic!()
    };
    assert_eq!(
        ingest(&s, invoice(&[("a", "10.00")], Action::Void)),
        Enqueued::Cancelled(id)
    );
    assert!(s.claim(1, 100, LIMITS).unwrap().is_none());
    assert_eq!(
        ingest(&s, invoice(&[("a", "10.00")], Action::Void)),
        Enqueued::NothingToRemove
    );
    // Written, then voided at the source.
    ingest(&s, invoice(&[("a", "11.00")], Action::Write));
    complete(&s, "T-9", "3", None);
    assert!(matches!(
        ingest(&s, invoice(&[("a", "11.00")], Action::Void)),
        Enqueued::Created(_)
    ));
    let (_, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert_eq!(
        jobs[0].qbxml,
        "<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>T-9</TxnID></TxnVoidRq>"
    );
}

#[test]
fn a_stale_edit_sequence_re_reads_the_object_and_sends_the_mod_again_on_the_fresh_one() {
    let (_d, s) = open();
    ingest(&s, customer("c:1", "Acme", "1"));
    complete(&s, "80000001-1", "1", None);
    ingest(&s, customer("c:1", "Acme", "2"));
    let (set, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    let stale = JobResult::Stale {
        message: "The provided edit sequence \"1\" is out-of-date.".into(),
    };
    answer(&s, set.as_deref(), &[(jobs[0].job_id, stale, None)]).unwrap();
    // The re-read goes out as a probe-only set.
    let (set, probes) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert!(set.is_none());
    assert_eq!(
        probes[0].qbxml,
        "<CustomerQueryRq><ListID>80000001-1</ListID></CustomerQueryRq>"
    );
    let refreshed = JobResult::Refreshed {
        ret_xml: "<CustomerRet><ListID>80000001-1</ListID><EditSequence>9</EditSequence><Name>Acme</Name><Phone>555</Phone></CustomerRet>".into(),
        edit_sequence: Some("9".into()),
        note: None,
    };
    answer(&s, None, &[(probes[0].job_id, refreshed, None)]).unwrap();
    let (_, jobs) = sent(s.claim(1, 100, LIMITS).unwrap());
    assert!(
        jobs[0].qbxml.contains("<EditSequence>9</EditSequence>"),
        "{}",
        jobs[0].qbxml
    );
}
