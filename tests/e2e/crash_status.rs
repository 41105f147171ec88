//! What `qbridge status` and `qbridge jobs` say after the engine was killed mid-session: with
//! the engine stopped, the session that died with it is interrupted, not in progress, and its
//! jobs' outcome is unknown until the next start verifies them — which it then does, without
//! a duplicate.

use std::sync::mpsc;
use std::time::Duration;

use qbridge::sim::company::Company;
use qbridge::sim::webconnector::{WcOptions, WebConnector};
use qbridge::sim::{QbFailure, QuickBooks};

use crate::pipeline::{
    Deployment, assert_no_duplicate_writes, company_with_items, customer, ingest, sync_until_idle,
};
use crate::support::{signal, wait_timeout};

/// A company file that reports when QuickBooks starts on a message set and then takes a
/// while over it, so the engine can be killed while its requests are out.
struct Slow {
    company: Company,
    started: mpsc::Sender<()>,
}

impl QuickBooks for Slow {
    fn open(&mut self, path: &str) -> Result<(), QbFailure> {
        self.company.open(path)
    }
    fn company_file(&self) -> String {
        self.company.company_file()
    }
    fn country(&self) -> String {
        self.company.country()
    }
    fn qbxml_version(&self) -> (u32, u32) {
        self.company.qbxml_version()
    }
    fn hcp_response(&mut self) -> String {
        self.company.hcp_response()
    }
    fn process(&mut self, request: &str) -> Result<String, QbFailure> {
        let _ = self.started.send(());
        std::thread::sleep(Duration::from_millis(800));
        self.company.process(request)
    }
    fn close(&mut self) {
        self.company.close()
    }
}

#[test]
fn after_a_sigkill_mid_session_status_shows_the_jobs_as_outcome_unknown_and_the_next_start_verifies_them()
 {
    let d = Deployment::new();
    let mut server = d.start();
    for c in 0..3 {
        let (status, body) = ingest(&server, &d.token, "example", "customer", &customer(c));
        assert_eq!(status, 202, "{body}");
    }
    let (started, on_start) = mpsc::channel();
    let mut qb = Slow {
        company: company_with_items(&["Consulting"]),
        started,
    };
    let mut wc = WebConnector::new(
        &format!("{}/qbwc", server.base),
        &d.user,
        &d.password,
        WcOptions::default(),
    );
    let session = std::thread::spawn(move || {
        let _ = wc.run_session(&mut qb);
        qb.company
    });
    // The requests are claimed (sent, in SQLite) before QuickBooks gets them.
    on_start
        .recv_timeout(Duration::from_secs(30))
        .expect("QuickBooks got a message set");
    signal(&server.child, "KILL");
    wait_timeout(&mut server.child, Duration::from_secs(30)).expect("SIGKILL ends the server");
    let mut company = session.join().expect("the Web Connector thread ends");

    let status = d.cli(&["status"]);
    assert!(
        status.contains("outcome unknown 3"),
        "the three sent jobs: {status}"
    );
    assert!(
        status.contains("outcome unknown — verified at next start"),
        "{status}"
    );
    assert!(status.contains("interrupted"), "{status}");
    assert!(!status.contains("in progress"), "{status}");
    assert!(!status.contains("sent 3"), "{status}");
    let jobs = d.cli(&["jobs"]);
    assert_eq!(
        jobs.matches("outcome unknown — verified at next start")
            .count(),
        3,
        "{jobs}"
    );

    let mut server = d.start();
    sync_until_idle(&server, &d, &mut company, 10);
    server.terminate();
    assert_eq!(company.count("Customer"), 3);
    assert_no_duplicate_writes(&company);
    let jobs = d.cli(&["jobs"]);
    assert_eq!(jobs.matches("completed").count(), 3, "{jobs}");
    assert!(!jobs.contains("unknown"), "{jobs}");
    assert!(d.cli(&["status"]).contains("completed 3"));
}
