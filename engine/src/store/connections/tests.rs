//! Connections, users and sessions through a real store.

use super::*;

const RULES: LeaseRules = LeaseRules {
    idle_ms: 60_000,
    absolute_ms: 600_000,
};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::testing::open(dir.path());
    (dir, store)
}

#[test]
fn owner_id_is_generated_once() {
    let (_d, s) = store();
    let a = s.qbwc_owner_id(|| "{A}".into()).unwrap();
    let b = s.qbwc_owner_id(|| "{B}".into()).unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("{A}", "{A}"));
}

#[test]
fn second_session_on_a_connection_is_busy_until_the_first_ends() {
    let (_d, s) = store();
    s.add_connection("acme", "{F}", "", "test").unwrap();
    let u = s
        .add_qbwc_user("acme", "alice", "{U1}", "$hash", "test")
        .unwrap();
    let (first, _) = s.claim_qbwc_session("t1", &u, RULES).unwrap();
    let Claim::Granted(id) = first else {
        panic!("first claim must be granted")
    };
    assert_eq!(
        s.claim_qbwc_session("t2", &u, RULES).unwrap().0,
        Claim::Busy
    );
    assert!(s.end_qbwc_session(id, EndReason::Closed).unwrap());
    assert!(matches!(
        s.claim_qbwc_session("t3", &u, RULES).unwrap().0,
        Claim::Granted(_)
    ));
    assert_eq!(
        s.touch_qbwc_session("t1", RULES).unwrap(),
        SessionLookup::Unknown
    );
}

#[test]
fn a_restart_invalidates_old_tickets_and_frees_the_company_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = crate::store::testing::open(dir.path());
    s.add_connection("acme", "{F}", "", "test").unwrap();
    let u = s
        .add_qbwc_user("acme", "alice", "{U1}", "$h", "test")
        .unwrap();
    assert!(matches!(
        s.claim_qbwc_session("old", &u, RULES).unwrap().0,
        Claim::Granted(_)
    ));
    drop(s);
    let s = crate::store::testing::open(dir.path());
    assert_eq!(
        s.touch_qbwc_session("old", RULES).unwrap(),
        SessionLookup::Unknown
    );
    let (claim, _) = s.claim_qbwc_session("new", &u, RULES).unwrap();
    assert!(
        matches!(claim, Claim::Granted(_)),
        "not busy after a restart"
    );
}

#[test]
fn disabling_or_rotating_revokes_live_sessions_at_once() {
    let (_d, s) = store();
    s.add_connection("acme", "{F}", "", "test").unwrap();
    let u = s
        .add_qbwc_user("acme", "alice", "{U1}", "$h", "test")
        .unwrap();
    let (claim, _) = s.claim_qbwc_session("t1", &u, RULES).unwrap();
    assert!(matches!(claim, Claim::Granted(_)));
    assert_eq!(s.qbwc_session_awaiting("t1", RULES).unwrap(), Some(false));
    s.set_qbwc_password("alice", "$h2", "test").unwrap();
    assert_eq!(s.qbwc_session_awaiting("t1", RULES).unwrap(), None);
    assert!(matches!(
        s.touch_qbwc_session("t1", RULES).unwrap(),
        SessionLookup::Revoked(_)
    ));
    assert_eq!(
        s.touch_qbwc_session("t1", RULES).unwrap(),
        SessionLookup::Unknown
    );
    // A revoked session that never calls again frees the file for the next login.
    let (claim, _) = s.claim_qbwc_session("t2", &u, RULES).unwrap();
    assert!(matches!(claim, Claim::Granted(_)));
    s.disable_qbwc_user("alice", "test").unwrap();
    let (claim, ended) = s.claim_qbwc_session("t3", &u, RULES).unwrap();
    assert!(matches!(claim, Claim::Granted(_)), "the file is free");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, EndReason::Revoked);
    assert!(s.upgrade_qbwc_password_hash(u.id, "$h2", "$h3").unwrap());
    assert!(!s.upgrade_qbwc_password_hash(u.id, "$h2", "$h4").unwrap());
}

#[test]
fn reported_strings_are_capped_before_they_are_stored() {
    let (_d, s) = store();
    s.add_connection("acme", "{F}", "", "test").unwrap();
    let u = s
        .add_qbwc_user("acme", "alice", "{U1}", "$h", "test")
        .unwrap();
    let long = "é".repeat(MAX_STORED);
    s.record_reported_path(u.id, &long, |_, _| String::new())
        .unwrap();
    let stored = s
        .qbwc_user("alice")
        .unwrap()
        .unwrap()
        .reported_path
        .unwrap();
    assert!(stored.len() <= MAX_STORED && long.starts_with(&stored));
    s.record_host_info(
        u.connection_id,
        &HostInfo {
            product_name: "Q".repeat(100_000),
            country: "U".repeat(100),
            ..HostInfo::default()
        },
    )
    .unwrap();
    let host = s.connection("acme").unwrap().host.unwrap();
    assert_eq!((host.product_name.len(), host.country.len()), (256, 16));
    assert_eq!(capped("abc", 2), "ab");
}

#[test]
fn differing_reported_paths_set_a_warning() {
    let (_d, s) = store();
    s.add_connection("acme", "{F}", "", "test").unwrap();
    let a = s
        .add_qbwc_user("acme", "alice", "{U1}", "$h", "test")
        .unwrap();
    let b = s
        .add_qbwc_user("acme", "bob", "{U2}", "$h", "test")
        .unwrap();
    let warn = |x: (&str, &str), y: (&str, &str)| format!("{} {} / {} {}", x.0, x.1, y.0, y.1);
    assert_eq!(
        s.record_reported_path(a.id, r"Q:\Books\acme.qbw", warn)
            .unwrap(),
        None
    );
    let w = s
        .record_reported_path(b.id, r"\\server\Books\acme.qbw", warn)
        .unwrap()
        .unwrap();
    assert!(w.contains("alice") && w.contains("bob"), "{w}");
    assert_eq!(s.connection("acme").unwrap().path_warning, Some(w));
    s.clear_reported_paths("acme").unwrap();
    assert_eq!(s.connection("acme").unwrap().path_warning, None);
}
