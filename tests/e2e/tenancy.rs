//! Tenant fences on the QuickBooks side: a Web Connector session of one company file can only
//! ever answer what qbridge sent in that session — never another company file's jobs, never a
//! job that was not sent, never a stale attempt — while its genuine answers still apply.

use qbridge::sim::company::Company;
use qbridge::sim::webconnector::envelope::{self, Request};
use qbridge::sim::webconnector::{WcOptions, WebConnector};
use qbridge::sim::{QbFailure, QuickBooks};

use crate::pipeline::{assert_no_duplicate_writes, customer};
use crate::support::{Server, agent, run, stderr};

/// QuickBooks as a hostile Web Connector user presents it: the honest answer of its own
/// company file, plus forged answers naming other jobs' request ids.
struct Forger {
    inner: Company,
    forged: Vec<String>,
}

impl QuickBooks for Forger {
    fn open(&mut self, path: &str) -> Result<(), QbFailure> {
        self.inner.open(path)
    }
    fn company_file(&self) -> String {
        self.inner.company_file()
    }
    fn country(&self) -> String {
        self.inner.country()
    }
    fn qbxml_version(&self) -> (u32, u32) {
        self.inner.qbxml_version()
    }
    fn hcp_response(&mut self) -> String {
        self.inner.hcp_response()
    }
    fn process(&mut self, request: &str) -> Result<String, QbFailure> {
        let honest = self.inner.process(request)?;
        let forged: String = self
            .forged
            .iter()
            .map(|rid| {
                format!(
                    r#"<CustomerAddRs requestID="{rid}" statusCode="0" statusSeverity="Info" statusMessage="Status OK"><CustomerRet><ListID>EVIL-{rid}</ListID><EditSequence>1</EditSequence><Name>Forged</Name><FullName>Forged</FullName></CustomerRet></CustomerAddRs>"#
                )
            })
            .collect();
        Ok(honest.replacen("</QBXMLMsgsRs>", &format!("{forged}</QBXMLMsgsRs>"), 1))
    }
    fn close(&mut self) {
        self.inner.close()
    }
}

/// Two company files, a Web Connector user each, and an admin and an ingest token.
struct TwoFirms {
    tmp: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    passwords: Vec<String>,
    ingest: String,
    admin: String,
}

impl TwoFirms {
    fn new() -> TwoFirms {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let dd = data_dir.to_str().unwrap().to_string();
        let ok = |args: &[&str]| {
            let out = run(tmp.path(), args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let mut passwords = Vec::new();
        for firm in ["north", "south"] {
            ok(&["connection", "add", "--data-dir", &dd, firm]);
            let user = format!("{firm}-sync");
            let out = ok(&[
                "user",
                "add",
                "--data-dir",
                &dd,
                "--connection",
                firm,
                &user,
            ]);
            passwords.push(crate::support::printed_password(&out));
        }
        let token = |scope: &str| {
            let out = ok(&[
                "token",
                "create",
                "--data-dir",
                &dd,
                "--scope",
                scope,
                "--name",
                scope,
            ]);
            out.lines().last().unwrap().trim().to_string()
        };
        let (ingest, admin) = (token("ingest"), token("admin"));
        TwoFirms {
            tmp,
            data_dir,
            passwords,
            ingest,
            admin,
        }
    }
}

/// `(job id, state, attempt, object id)` of every job of a connection, via the admin API.
fn jobs_of(
    server: &Server,
    admin: &str,
    connection_id: i64,
) -> Vec<(i64, String, i64, Option<String>)> {
    let mut resp = agent()
        .get(format!("{}/api/v1/jobs?limit=1000", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .call()
        .unwrap();
    let jobs: Vec<serde_json::Value> =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let mut out: Vec<_> = jobs
        .iter()
        .filter(|j| j["connection_id"] == connection_id)
        .map(|j| {
            (
                j["id"].as_i64().unwrap(),
                j["state"].as_str().unwrap().to_string(),
                j["attempt"].as_i64().unwrap(),
                j["object_id"].as_str().map(str::to_string),
            )
        })
        .collect();
    out.sort();
    out
}

/// One SOAP call as the Web Connector makes it; returns the unescaped result text.
fn soap(server: &Server, request: &Request<'_>) -> String {
    let mut resp = agent()
        .post(format!("{}/qbwc", server.base))
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(
            "SOAPAction",
            &format!("\"http://developer.intuit.com/{}\"", request.method()),
        )
        .send(envelope::build(request))
        .unwrap();
    let body = resp.body_mut().read_to_string().unwrap();
    let open = format!("<{}Result>", request.method());
    let Some(start) = body.find(&open) else {
        return String::new();
    };
    let rest = &body[start + open.len()..];
    rest[..rest.find("</").unwrap_or(0)]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn a_session_answering_with_another_company_files_job_ids_changes_none_of_them() {
    let firms = TwoFirms::new();
    let server = Server::start_in(firms.tmp.path(), &firms.data_dir, &[]);
    let (north, south) = (1, 2);

    // South: one job sent in a live session of its own (its answer still outstanding)…
    let accepted = |r: (u16, String)| assert_eq!(r.0, 202, "{}", r.1);
    accepted(ingest_for(&server, &firms.ingest, "south", &customer(2)));
    let mut south_qb = Company::new(r"C:\Books\south.qbw");
    south_qb.open("").unwrap();
    let hcp = south_qb.hcp_response();
    let ticket = soap(
        &server,
        &Request::Authenticate {
            user: "south-sync",
            password: &firms.passwords[1],
        },
    );
    let ticket = ticket
        .split("</string>")
        .next()
        .unwrap()
        .trim_start_matches("<string>")
        .to_string();
    let south_request = soap(
        &server,
        &Request::SendRequestXml {
            ticket: &ticket,
            hcp_response: &hcp,
            company_file: r"C:\Books\south.qbw",
            country: "US",
            major: 13,
            minor: 0,
        },
    );
    assert!(
        south_request.contains("CustomerAddRq"),
        "south got its request: {south_request}"
    );
    // …and one never sent.
    accepted(ingest_for(&server, &firms.ingest, "south", &customer(3)));
    let before = jobs_of(&server, &firms.admin, south);
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!((before[0].1.as_str(), before[0].2), ("sent", 1));
    assert_eq!((before[1].1.as_str(), before[1].2), ("available", 0));

    // North's Web Connector user answers its own set honestly and forges south's ids: the one
    // sent, the one never sent (every attempt number it might guess), a stale attempt.
    accepted(ingest_for(&server, &firms.ingest, "north", &customer(1)));
    let (sent_id, unsent_id) = (before[0].0, before[1].0);
    let mut forger = Forger {
        inner: Company::new(r"C:\Books\north.qbw"),
        forged: vec![
            format!("j{sent_id}.1"),
            format!("j{unsent_id}.0"),
            format!("j{unsent_id}.1"),
            format!("j{sent_id}.0"),
        ],
    };
    let mut wc = WebConnector::new(
        &format!("{}/qbwc", server.base),
        "north-sync",
        &firms.passwords[0],
        WcOptions::default(),
    );
    let transcript = wc.run_session(&mut forger).expect("north's session runs");
    assert!(
        transcript.outcome.as_ref().is_some_and(|o| o.is_normal()),
        "{}",
        wc.transcript()
    );

    // North's genuine answer applied; every south job exactly as it was.
    assert_eq!(forger.inner.count("Customer"), 1);
    let north_jobs = jobs_of(&server, &firms.admin, north);
    assert_eq!(north_jobs.len(), 1);
    assert_eq!(north_jobs[0].1, "completed");
    assert!(!north_jobs[0].3.as_deref().unwrap_or("").starts_with("EVIL"));
    assert_eq!(
        jobs_of(&server, &firms.admin, south),
        before,
        "south's jobs were touched"
    );
    let audit = api_get(&server, &firms.admin, "/api/v1/audit?limit=500");
    assert!(
        audit.contains("qbwc.response_ignored") && audit.contains("north-sync"),
        "{audit}"
    );

    // South's own session still completes its job, and the next one syncs the other.
    let answer = south_qb.process(&south_request).unwrap();
    let percent = soap(
        &server,
        &Request::ReceiveResponseXml {
            ticket: &ticket,
            response: &answer,
            hresult: "",
            message: "",
        },
    );
    assert!(percent.parse::<i32>().is_ok_and(|p| p >= 0), "{percent}");
    soap(&server, &Request::CloseConnection { ticket: &ticket });
    south_qb.close();
    let mut wc = WebConnector::new(
        &format!("{}/qbwc", server.base),
        "south-sync",
        &firms.passwords[1],
        WcOptions::default(),
    );
    for _ in 0..5 {
        let t = wc.run_session(&mut south_qb).expect("south's session runs");
        if matches!(t.outcome, Some(qbridge::sim::webconnector::Outcome::NoWork)) {
            break;
        }
    }
    assert_eq!(south_qb.count("Customer"), 2);
    assert_no_duplicate_writes(&south_qb);
    for (_, state, _, object) in jobs_of(&server, &firms.admin, south) {
        assert_eq!(state, "completed");
        assert!(!object.unwrap_or_default().starts_with("EVIL"));
    }
}

/// POSTs a customer record for the example plugin into one connection's queue.
fn ingest_for(
    server: &Server,
    token: &str,
    connection: &str,
    record: &serde_json::Value,
) -> (u16, String) {
    let mut resp = agent()
        .post(format!(
            "{}/api/v1/ingest/example?kind=customer&connection={connection}",
            server.base
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(record.to_string())
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

fn api_get(server: &Server, token: &str, path: &str) -> String {
    let mut resp = agent()
        .get(format!("{}{path}", server.base))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    resp.body_mut().read_to_string().unwrap()
}
