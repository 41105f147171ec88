//! An MSP's terminal server: 64 Web Connectors of 64 company files, all from one address,
//! log in and sync at once every minute for three minutes against the real binary with its
//! **default** settings — login limits, connection caps, body limits and all. Not one of
//! them may be refused (`nvu`, `busy`, a fault, a 503 or a dropped connection), and every
//! record lands in its own company file exactly once.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use qbridge::sim::company::Company;
use qbridge::sim::webconnector::{Outcome, WcOptions, WebConnector};

use crate::pipeline::{Deployment, assert_no_duplicate_writes, ingest};

const WEB_CONNECTORS: usize = 64;
const ROUNDS: usize = 3;
const RECORDS_PER_ROUND: u32 = 2;

/// One company file with its Web Connector user.
struct Tenant {
    connection: String,
    user: String,
    password: String,
}

fn tenants(d: &Deployment) -> Vec<Tenant> {
    let mut out = vec![Tenant {
        connection: "acme".into(),
        user: d.user.clone(),
        password: d.password.clone(),
    }];
    for i in 1..WEB_CONNECTORS {
        let connection = format!("firm{i:02}");
        let user = format!("wc{i:02}");
        d.cli(&["connection", "add", &connection]);
        let printed = d.cli(&["user", "add", "--connection", &connection, &user]);
        let password = crate::support::printed_password(&printed);
        out.push(Tenant {
            connection,
            user,
            password,
        });
    }
    out
}

#[test]
fn sixty_four_web_connectors_from_one_address_sync_every_minute_with_zero_refusals() {
    let d = Deployment::new();
    let tenants = tenants(&d);
    let server = d.start();
    let url = format!("{}/qbwc", server.base);
    let mut companies: Vec<Company> = (0..WEB_CONNECTORS)
        .map(|i| Company::new(&format!(r"\\terminal\Company Files\firm{i:02}.qbw")))
        .collect();
    let started = Instant::now();
    let mut refusals: Vec<String> = Vec::new();
    let mut logins = Vec::new();
    for round in 0..ROUNDS {
        // Auto-Run every minute: each round starts on its minute.
        let due = Duration::from_secs(60 * round as u64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        for (i, t) in tenants.iter().enumerate() {
            for r in 0..RECORDS_PER_ROUND {
                let id = (round as u32 * 1_000 + i as u32) * 10 + r;
                let record =
                    serde_json::json!({"id": id, "name": format!("Firm {i:02} customer {id}")});
                let kind = format!("customer&connection={}", t.connection);
                let (status, body) = ingest(&server, &d.token, "example", &kind, &record);
                assert_eq!(status, 202, "{body}");
            }
        }
        let barrier = Arc::new(Barrier::new(WEB_CONNECTORS));
        let results: Vec<(Result<Outcome, String>, Duration)> = std::thread::scope(|s| {
            let handles: Vec<_> = tenants
                .iter()
                .zip(companies.iter_mut())
                .map(|(t, company)| {
                    let (url, barrier) = (url.clone(), barrier.clone());
                    s.spawn(move || {
                        let mut wc = WebConnector::new(
                            &url,
                            &t.user,
                            &t.password,
                            WcOptions {
                                http_timeout: Duration::from_secs(60),
                                ..WcOptions::default()
                            },
                        );
                        barrier.wait();
                        let at = Instant::now();
                        let outcome = match wc.run_session(company) {
                            Ok(tr) => match tr.outcome {
                                Some(o) => Ok(o),
                                None => Err(format!("{}: no outcome\n{tr}", t.user)),
                            },
                            Err(e) => Err(format!("{}: {e}\n{}", t.user, wc.transcript())),
                        };
                        (outcome, at.elapsed())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (outcome, took) in results {
            logins.push(took);
            match outcome {
                Ok(Outcome::Completed) => {}
                Ok(other) => refusals.push(format!("round {round}: {other}")),
                Err(e) => refusals.push(format!("round {round}: {e}")),
            }
        }
    }
    assert!(
        refusals.is_empty(),
        "{} of {} sessions were refused or failed:\n{}",
        refusals.len(),
        WEB_CONNECTORS * ROUNDS,
        refusals.join("\n")
    );
    for (i, company) in companies.iter().enumerate() {
        assert_eq!(
            company.count("Customer"),
            ROUNDS * RECORDS_PER_ROUND as usize,
            "company {i}"
        );
        assert_no_duplicate_writes(company);
    }
    logins.sort();
    eprintln!(
        "64 Web Connectors x {ROUNDS} rounds: session p50 {:?}, p99 {:?}, all done in {:?}",
        logins[logins.len() / 2],
        logins[logins.len() * 99 / 100],
        started.elapsed()
    );
}
