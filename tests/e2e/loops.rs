//! No job loops forever, end to end through the real binary: QuickBooks' shared name space (a
//! customer whose name a vendor holds), requests QuickBooks keeps refusing the same way, and a
//! QuickBooks that answers nonsense at random. Every session ends within a bounded number of
//! round trips, and every job ends completed, held or failed with a reason, or waiting with
//! a stated cause.

use qbridge::sim::company::{Company, ListKind};
use qbridge::sim::webconnector::{Outcome, Transcript, WcOptions, WebConnector};
use qbridge::sim::{QbFailure, QuickBooks};

use crate::pipeline::{Deployment, company_with_items, ingest};
use crate::support::{Db, Server};

const ITEMS: &[&str] = &["Consulting", "Support"];

/// How a test's QuickBooks answers a message set, given its company file.
trait Answer: FnMut(&str, &mut Company) -> Result<String, QbFailure> + Send {}
impl<F: FnMut(&str, &mut Company) -> Result<String, QbFailure> + Send> Answer for F {}

/// A simulated QuickBooks around a company file that counts the requests of each type it was
/// handed and answers them as `answer` says (honestly, stubbornly, or with nonsense).
struct Observed<F: Answer> {
    company: Company,
    sent: Vec<String>,
    answer: F,
}

impl<F: Answer> Observed<F> {
    fn new(company: Company, answer: F) -> Self {
        Observed {
            company,
            sent: Vec::new(),
            answer,
        }
    }

    /// How often a request element (`CustomerAddRq`) was handed to QuickBooks.
    fn count(&self, rq: &str) -> usize {
        let open = format!("<{rq} ");
        self.sent.iter().map(|s| s.matches(&open).count()).sum()
    }
}

impl<F: Answer> QuickBooks for Observed<F> {
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
        self.sent.push(request.to_string());
        (self.answer)(request, &mut self.company)
    }
    fn close(&mut self) {
        self.company.close()
    }
}

fn honest(request: &str, company: &mut Company) -> Result<String, QbFailure> {
    company.process(request)
}

/// The firm's company file: the example plugin's items and a vendor named `vendor`.
fn company_with_vendor(vendor: &str) -> Company {
    let mut c = company_with_items(ITEMS);
    c.open("").unwrap();
    let out = c
        .process(&format!(
            r#"<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><VendorAddRq><VendorAdd><Name>{vendor}</Name></VendorAdd></VendorAddRq></QBXMLMsgsRq></QBXML>"#
        ))
        .unwrap();
    assert!(!out.contains("statusSeverity=\"Error\""), "{out}");
    c.close();
    c
}

fn customer_named(id: u32, name: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "name": name, "email": format!("c{id}@example.com")})
}

fn invoice_of(id: u32, customer_id: u32, customer_name: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "customer_id": customer_id,
        "customer_name": customer_name,
        "number": format!("INV{id}"),
        "lines": [{"item": "Consulting", "amount": 120.0}]
    })
}

fn push(server: &Server, d: &Deployment, kind: &str, record: &serde_json::Value) {
    let (status, body) = ingest(server, &d.token, "example", kind, record);
    assert_eq!(status, 202, "{body}");
}

fn web_connector(server: &Server, d: &Deployment) -> WebConnector {
    WebConnector::new(
        &format!("{}/qbwc", server.base),
        &d.user,
        &d.password,
        WcOptions::default(),
    )
}

/// Sessions until the server has no work, each checked to end within `max_exchanges`
/// round trips; returns their transcripts.
fn sessions_until_idle(
    wc: &mut WebConnector,
    qb: &mut dyn QuickBooks,
    max_sessions: usize,
    max_exchanges: u32,
) -> Vec<Transcript> {
    let mut all = Vec::new();
    for n in 0..max_sessions {
        let t = wc
            .run_session(qb)
            .unwrap_or_else(|e| panic!("session {n} failed: {e}\n{}", wc.transcript()));
        assert!(
            t.exchanges <= max_exchanges,
            "session {n} took {} round trips: {}",
            t.exchanges,
            wc.transcript()
        );
        let idle = t.outcome == Some(Outcome::NoWork);
        all.push(t);
        if idle {
            return all;
        }
    }
    let last: Vec<String> = all
        .iter()
        .rev()
        .take(3)
        .map(|t| {
            format!(
                "{:?}: {}",
                t.outcome,
                t.calls
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )
        })
        .collect();
    panic!(
        "still work after {max_sessions} sessions; the last:\n{}",
        last.join("\n")
    )
}

#[test]
fn a_customer_whose_name_a_vendor_holds_is_created_once_under_a_disambiguated_name_and_its_invoices_follow()
 {
    let d = Deployment::new();
    let mut server = d.start();
    // The invoice is queued before its customer exists: it must follow the rename.
    push(&server, &d, "invoice", &invoice_of(501, 1, "Acme Supply"));
    push(&server, &d, "customer", &customer_named(1, "Acme Supply"));
    let mut qb = Observed::new(company_with_vendor("Acme Supply"), honest);
    let mut wc = web_connector(&server, &d);
    sessions_until_idle(&mut wc, &mut qb, 5, 20);

    assert!(
        qb.count("CustomerAddRq") <= 3,
        "CustomerAdd sent {} times",
        qb.count("CustomerAddRq")
    );
    let created = qb
        .company
        .find_customer("Acme Supply (C)")
        .expect("the customer under the disambiguated name");
    assert_eq!(qb.company.count("Customer"), 1, "created once");
    assert!(
        qb.company.find(ListKind::Vendor, "Acme Supply").is_some(),
        "the vendor keeps its name"
    );
    let invoices = qb.company.invoices();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].entity.as_deref(), Some("Acme Supply (C)"));

    // An invoice that arrives after the customer was created refers to the same name.
    push(&server, &d, "invoice", &invoice_of(502, 1, "Acme Supply"));
    sessions_until_idle(&mut wc, &mut qb, 5, 20);
    let invoices = qb.company.invoices();
    assert_eq!(invoices.len(), 2, "{invoices:?}");
    assert_eq!(invoices[1].entity.as_deref(), Some("Acme Supply (C)"));
    assert_eq!(qb.company.count("Customer"), 1);
    server.terminate();

    let mut db = Db::open(&d.data_dir);
    let row = db.rows("SELECT name, renamed_from, object_id FROM mapping WHERE key='customer:1'");
    let (name, from, object) = (
        row[0][0].clone().unwrap(),
        row[0][1].clone().unwrap(),
        row[0][2].clone().unwrap(),
    );
    assert_eq!(
        (name.as_str(), from.as_str()),
        ("Acme Supply (C)", "Acme Supply")
    );
    assert_eq!(object, created.list_id);
    let notes = db.text("SELECT notes FROM job WHERE key='customer:1'");
    assert!(
        notes.contains("used by a vendor") && notes.contains("Acme Supply (C)"),
        "{notes}"
    );
}

#[test]
fn under_the_hold_policy_a_customer_whose_name_a_vendor_holds_is_held_with_advice_and_the_session_ends_at_100()
 {
    let d = Deployment::new();
    let mut server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[("QBRIDGE_NAMES_CONFLICT_PLUGINS", "example=hold")],
    );
    push(&server, &d, "customer", &customer_named(1, "Acme Supply"));
    push(&server, &d, "invoice", &invoice_of(501, 1, "Acme Supply"));
    let mut qb = Observed::new(company_with_vendor("Acme Supply"), honest);
    let mut wc = web_connector(&server, &d);
    let sessions = sessions_until_idle(&mut wc, &mut qb, 3, 20);

    assert_eq!(
        sessions.len(),
        2,
        "one session does the work, the next finds none"
    );
    assert_eq!(sessions[0].outcome, Some(Outcome::Completed));
    assert_eq!(sessions[0].last_progress(), Some(100));
    assert!(qb.count("CustomerAddRq") <= 3);
    assert_eq!(qb.company.count("Customer"), 0);
    assert_eq!(qb.company.count("Invoice"), 0);
    server.terminate();

    let jobs = d.cli(&["jobs"]);
    let customer = jobs
        .lines()
        .find(|l| l.contains("CustomerAdd"))
        .expect("the customer job");
    assert!(customer.contains("held"), "{customer}");
    assert!(
        customer.contains("Vendor list") && customer.contains("Acme Supply"),
        "{customer}"
    );
    let invoice = jobs.lines().find(|l| l.contains("invoice:501")).unwrap();
    assert!(
        invoice.contains("held") && invoice.contains("customer:1"),
        "{invoice}"
    );
}

/// Answers every `CustomerAdd` with 3100 without applying it, although no list holds the
/// name (a QuickBooks the engine cannot make sense of); everything else honestly.
fn always_3100(request: &str, company: &mut Company) -> Result<String, QbFailure> {
    if !request.contains("<CustomerAddRq ") {
        return company.process(request);
    }
    let answers: String = request
        .split("<CustomerAddRq requestID=\"")
        .skip(1)
        .map(|rest| {
            let id = &rest[..rest.find('"').unwrap()];
            format!(
                r#"<CustomerAddRs requestID="{id}" statusCode="3100" statusSeverity="Error" statusMessage="The name is already in use."/>"#
            )
        })
        .collect();
    Ok(format!(
        r#"<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>{answers}</QBXMLMsgsRs></QBXML>"#
    ))
}

#[test]
fn a_request_quickbooks_keeps_refusing_is_sent_at_most_three_times_then_held_and_the_session_ends_at_100()
 {
    let d = Deployment::new();
    let mut server = d.start();
    push(
        &server,
        &d,
        "customer",
        &customer_named(1, "Nobody Holds This"),
    );
    let mut qb = Observed::new(company_with_items(ITEMS), always_3100);
    let mut wc = web_connector(&server, &d);
    let sessions = sessions_until_idle(&mut wc, &mut qb, 3, 20);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0].last_progress(), Some(100));
    assert_eq!(qb.count("CustomerAddRq"), 3, "sent exactly max_sends times");
    server.terminate();
    let line = d
        .cli(&["jobs"])
        .lines()
        .find(|l| l.contains("CustomerAdd"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("held") && line.contains("3 times") && line.contains("last status 3100"),
        "{line}"
    );
}

/// SplitMix64: a seeded, reproducible sequence without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
}

/// The `*Rs` elements of a response message set, split out of its body.
fn split_responses(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let name_end = rest[1..]
            .find([' ', '>', '/'])
            .map_or(rest.len(), |i| i + 1);
        let name = &rest[1..name_end];
        let tag_end = rest.find('>').map_or(rest.len(), |i| i + 1);
        let end = if rest[..tag_end].ends_with("/>") {
            tag_end
        } else {
            let close = format!("</{name}>");
            rest.find(&close).map_or(rest.len(), |i| i + close.len())
        };
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out
}

/// `element` with the value of attribute `attr` replaced.
fn set_attr(element: &str, attr: &str, value: &str) -> String {
    let key = format!(" {attr}=\"");
    let Some(start) = element.find(&key).map(|i| i + key.len()) else {
        return element.to_string();
    };
    let end = start + element[start..].find('"').unwrap_or(0);
    format!("{}{value}{}", &element[..start], &element[end..])
}

/// A QuickBooks answering partly nonsense: request-processor failures, unreadable
/// responses, and per request a wrong status code (3100, 3140, 3200, 500, locks…), a missing
/// Ret, a mismatched or missing requestID, a dropped or a doubled answer.
fn nonsense(rng: &mut Rng, request: &str, company: &mut Company) -> Result<String, QbFailure> {
    if rng.chance(6) {
        return Err(QbFailure::Hresult {
            hresult: "0x80040422".into(),
            message: "The request processor failed.".into(),
        });
    }
    let response = company.process(request)?;
    if rng.chance(4) {
        return Ok("<QBXML><QBXMLMsgsRs><CustomerAddRs".into());
    }
    let (Some(open), Some(close)) = (
        response.find("<QBXMLMsgsRs"),
        response.find("</QBXMLMsgsRs>"),
    ) else {
        return Ok(response);
    };
    let body_start = open + response[open..].find('>').unwrap() + 1;
    let mut body = String::new();
    for rs in split_responses(&response[body_start..close]) {
        match rng.next() % 100 {
            0..=34 => body.push_str(&rs),
            35..=54 => {
                let (code, severity) = *rng.pick(&[
                    (0, "Info"),
                    (1, "Info"),
                    (500, "Warn"),
                    (3100, "Error"),
                    (3140, "Error"),
                    (3200, "Error"),
                    (3175, "Error"),
                    (3120, "Error"),
                    (9999, "Error"),
                ]);
                let rs = set_attr(&rs, "statusCode", &code.to_string());
                body.push_str(&set_attr(&rs, "statusSeverity", severity));
            }
            55..=66 => {
                // The Ret is missing: the start tag alone, closed.
                let tag_end = rs.find('>').unwrap();
                let tag = rs[..tag_end].trim_end_matches('/');
                body.push_str(&format!("{tag}/>"));
            }
            67..=78 => {
                let wrong = format!("j{}.{}", rng.next() % 50, rng.next() % 5);
                body.push_str(&set_attr(&rs, "requestID", &wrong));
            }
            79..=88 => {}
            _ => {
                body.push_str(&rs);
                body.push_str(&rs);
            }
        }
    }
    Ok(format!(
        "{}{body}{}",
        &response[..body_start],
        &response[close..]
    ))
}

/// One round: records (one of them a name a vendor holds) queued on the running engine, then
/// synced against QuickBooks' nonsense until the engine has nothing left to send.
fn sync_round_against_nonsense(
    server: &Server,
    d: &Deployment,
    qb: &mut dyn QuickBooks,
    round: u32,
) {
    let base = round * 100;
    for c in base..base + 8 {
        let name = if c == base {
            "Acme Supply".to_string()
        } else {
            format!("Customer {c:04}")
        };
        push(server, d, "customer", &customer_named(c, &name));
        push(server, d, "invoice", &invoice_of(50_000 + c, c, &name));
    }
    let mut wc = web_connector(server, d);
    // Generous bounds, but bounds: a few dozen jobs may not keep a session or the sync going
    // forever.
    sessions_until_idle(&mut wc, qb, 40, 150);
}

/// Every job ended completed, held or failed with a reason, or waits with a stated cause,
/// and none was sent without bound.
fn assert_every_job_explained(d: &Deployment, expected: usize) {
    let rows = Db::open(&d.data_dir).rows(
        "SELECT id, key, state, attempt, sends, advice, last_status, unmet, \
         CASE WHEN probe IS NOT NULL THEN 1 ELSE 0 END FROM job",
    );
    let int = |v: &Option<String>| -> i64 { v.as_deref().unwrap().parse().unwrap() };
    let jobs: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                int(&r[0]),
                r[1].clone().unwrap(),
                r[2].clone().unwrap(),
                int(&r[3]),
                int(&r[4]),
                r[5].clone(),
                r[6].as_ref().map(|_| int(&r[6])),
                int(&r[7]),
                int(&r[8]) == 1,
            )
        })
        .collect();
    assert_eq!(jobs.len(), expected);
    for (id, key, state, attempt, sends, advice, last_status, unmet, has_probe) in &jobs {
        let why = format!(
            "job {id} {key} {state} attempt {attempt} sends {sends} advice {advice:?} last {last_status:?}"
        );
        assert!(*attempt <= 30, "resent without bound: {why}");
        assert!(*sends <= 12, "resent without bound: {why}");
        let explained = match state.as_str() {
            "completed" => true,
            "held" | "discarded" => advice.as_deref().is_some_and(|a| !a.is_empty()),
            // Backing off after a lock error: the status says why and when.
            "retryable" => last_status.is_some(),
            // Verified next session by its probe, or by an admin with the advice given.
            "in_doubt" => *has_probe || advice.is_some(),
            // Waiting for a dependency not yet in QuickBooks.
            "available" => *unmet > 0,
            _ => false,
        };
        assert!(explained, "a job without a stated cause: {why}");
    }
}

#[test]
fn random_nonsense_from_quickbooks_never_makes_a_job_loop_or_a_session_run_forever() {
    let d = Deployment::new();
    let mut server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            ("QBRIDGE_PIPELINE_BATCH_MAX_REQUESTS", "3"),
            // Many short sessions in a row: more logins a minute than a person makes.
            ("QBRIDGE_QBWC_AUTH_PER_USER_PER_MINUTE", "10000"),
        ],
    );
    // A fixed seed: a failure reproduces.
    let mut rng = Rng(22);
    let mut qb = Observed::new(
        company_with_vendor("Acme Supply"),
        move |request: &str, company: &mut Company| nonsense(&mut rng, request, company),
    );
    const ROUNDS: u32 = 10;
    for round in 0..ROUNDS {
        sync_round_against_nonsense(&server, &d, &mut qb, round);
    }
    server.terminate();
    assert_every_job_explained(&d, ROUNDS as usize * 16);
}
