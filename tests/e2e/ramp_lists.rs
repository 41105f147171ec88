//! QuickBooks lists back to Ramp, through the real binary: a `quickbooks-lists` record is
//! ingested, the engine reads the simulated company's chart of accounts and classes (whole
//! queries) and its customers and vendors (iterated, page by page, each page a job), and the
//! Ramp plugin uploads every page to a fake Ramp accounting API — which refuses the first
//! upload, so the engine's repeat of the failed `on_response` is exercised too. Ramp ends up
//! holding exactly QuickBooks' active objects under their ListIDs, each once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use qbridge::demo;
use qbridge::sim::QuickBooks;
use qbridge::sim::company::ListKind;

use crate::fake_source::{FakeSource, Recorded, Reply};
use crate::pipeline::{Deployment, ingest, sync_until_idle};
use crate::support::{Server, agent, run_with_stdin};

/// Ramp's accounting lists as the fake holds them: `(list path, item)`, where the list path
/// is `/accounting/accounts`, `/accounting/vendors`, `/accounting/fields` or
/// `/accounting/field-options?field_id=<ramp id>`.
type Held = Arc<Mutex<Vec<(String, Value)>>>;

/// Ramp's accounting endpoints over `held`: `GET` lists in `{data, page.next}` pages of at
/// most `page_size`, `POST` uploads (all or nothing, a duplicate id refused as Ramp does),
/// `PATCH` and `DELETE` by Ramp id. `None` for other paths.
pub(crate) fn accounting(held: &Held, req: &Recorded) -> Option<Reply> {
    let path = req.path().strip_prefix("/developer/v1")?;
    if !path.starts_with("/accounting/") || path == "/accounting/syncs" {
        return None;
    }
    let query = req.target.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let mut held = held.lock().unwrap();
    let reply = match req.method.as_str() {
        "GET" => {
            let list = match param("field_id") {
                Some(f) => format!("{path}?field_id={f}"),
                None => path.to_string(),
            };
            let size: usize = param("page_size")
                .and_then(|s| s.parse().ok())
                .unwrap_or(20);
            let start: usize = param("start").and_then(|s| s.parse().ok()).unwrap_or(0);
            let all: Vec<Value> = held
                .iter()
                .filter(|(l, _)| *l == list)
                .map(|(_, v)| v.clone())
                .collect();
            let page: Vec<Value> = all.iter().skip(start).take(size).cloned().collect();
            let next = (start + size < all.len()).then(|| {
                format!(
                    "https://api.ramp.com/developer/v1{path}?page_size={size}&start={}",
                    start + size
                )
            });
            Reply::json(200, json!({"data": page, "page": {"next": next}}))
        }
        "POST" => {
            let (list, items) = match path {
                "/accounting/accounts" => (path.to_string(), body["gl_accounts"].clone()),
                "/accounting/vendors" => (path.to_string(), body["vendors"].clone()),
                "/accounting/field-options" => (
                    format!(
                        "/accounting/field-options?field_id={}",
                        body["field_id"].as_str().unwrap_or("")
                    ),
                    body["options"].clone(),
                ),
                _ => (path.to_string(), json!([body.clone()])),
            };
            let items = items.as_array().cloned().unwrap_or_default();
            if items
                .iter()
                .any(|i| held.iter().any(|(l, v)| *l == list && v["id"] == i["id"]))
            {
                return Some(Reply::json(
                    400,
                    json!({"error": "an object with this id already exists"}),
                ));
            }
            let mut last = String::new();
            for mut item in items {
                last = format!("ramp-{}", held.len() + 1);
                item["ramp_id"] = json!(last);
                item["is_active"] = json!(true);
                held.push((list.clone(), item));
            }
            Reply::json(201, json!({"ramp_id": last}))
        }
        "PATCH" | "DELETE" => {
            let ramp_id = path.rsplit('/').next().unwrap_or("");
            let at = held.iter().position(|(_, v)| v["ramp_id"] == ramp_id)?;
            if req.method == "DELETE" {
                held.remove(at);
            } else {
                for (k, v) in body.as_object().cloned().unwrap_or_default() {
                    held[at].1[k] = v;
                }
            }
            Reply::json(200, json!({}))
        }
        _ => return None,
    };
    Some(reply)
}

fn fake_ramp(held: Held) -> FakeSource {
    let refused_once = Arc::new(Mutex::new(false));
    FakeSource::start(move |req: &Recorded| {
        if req.method == "POST" && req.path() == "/developer/v1/token" {
            return Reply::json(
                200,
                json!({"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"}),
            );
        }
        if req.header("authorization") != Some("Bearer tok-1") {
            return Reply::json(401, json!({"error": "invalid_token"}));
        }
        if req.method == "POST" && req.path() == "/developer/v1/accounting/accounts" {
            let mut refused = refused_once.lock().unwrap();
            if !*refused {
                *refused = true;
                return Reply::json(503, json!({"error": "try again later"}));
            }
        }
        accounting(&held, req).unwrap_or_else(|| Reply::json(404, json!({"error": "not_found"})))
    })
}

/// `(list path, our id, name)` of everything the fake holds, options under their field's id.
fn holdings(held: &Held) -> Vec<(String, String, String)> {
    let held = held.lock().unwrap();
    let field_of = |ramp_id: &str| {
        held.iter()
            .find(|(l, v)| l == "/accounting/fields" && v["ramp_id"] == ramp_id)
            .map(|(_, v)| v["id"].as_str().unwrap_or("").to_string())
    };
    let mut out: Vec<(String, String, String)> = held
        .iter()
        .map(|(list, v)| {
            let list = match list.split_once("?field_id=") {
                Some((_, f)) => format!("option:{}", field_of(f).unwrap_or_default()),
                None => list.clone(),
            };
            let name = v["name"].as_str().or(v["value"].as_str()).unwrap_or("");
            (
                list,
                v["id"].as_str().unwrap_or("").to_string(),
                name.to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn quickbooks_lists_reach_ramp_under_their_list_ids_once_page_by_page() {
    let held: Held = Arc::default();
    let ramp = fake_ramp(held.clone());
    let d = Deployment::new();
    run_with_stdin(
        d.tmp.path(),
        &d.data_dir,
        &[
            "secret",
            "set",
            "ramp",
            "ramp.access_token",
            "--oauth2-token-url",
            "https://api.ramp.com/developer/v1/token",
            "--oauth2-client-id",
            "ramp-client",
        ],
        "ramp-client-secret",
    );
    let reader = d
        .cli(&["token", "create", "--scope", "read", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let endpoints = format!("api.ramp.com={}", ramp.base_addr());
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            ("QBRIDGE_SOURCE_ENDPOINTS", endpoints.as_str()),
            ("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1"),
        ],
    );

    // The firm's company file, with enough customers and vendors for several pages of two.
    let mut company = demo::firm_company(r"C:\Company Files\firm.qbw").unwrap();
    let mut adds = String::new();
    for n in 1..=5 {
        adds.push_str(&format!(
            "<VendorAddRq><VendorAdd><Name>Vendor {n} &amp; Sons</Name></VendorAdd></VendorAddRq>"
        ));
        adds.push_str(&format!(
            "<CustomerAddRq><CustomerAdd><Name>Client {n}</Name></CustomerAdd></CustomerAddRq>"
        ));
    }
    adds.push_str("<AccountAddRq><AccountAdd><Name>Old Travel</Name><IsActive>false</IsActive><AccountType>Expense</AccountType></AccountAdd></AccountAddRq>");
    company.open("").unwrap();
    let out = company
        .process(&format!(
            r#"<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">{adds}</QBXMLMsgsRq></QBXML>"#
        ))
        .unwrap();
    assert!(!out.contains("statusSeverity=\"Error\""), "{out}");
    company.close();

    let (status, body) = ingest(
        &server,
        &d.token,
        "ramp",
        "quickbooks-lists",
        &json!({"id": "on-demand-1", "page_size": 2}),
    );
    assert_eq!(status, 202, "{body}");
    sync_until_idle(&server, &d, &mut company, 20);

    // Every page of the customers and vendors was its own job, sent in one session.
    let mut resp = agent()
        .get(format!("{}/api/v1/jobs?limit=200", server.base))
        .header("Authorization", &format!("Bearer {reader}"))
        .call()
        .unwrap();
    let jobs: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let keys: Vec<&str> = jobs
        .as_array()
        .map(|a| a.iter().filter_map(|j| j["key"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        keys.contains(&"lists:on-demand-1:customers#4"),
        "7 customers in pages of 2 are 4 pages: {keys:?}"
    );
    assert!(keys.contains(&"lists:on-demand-1:vendors#3"), "{keys:?}");
    assert!(!keys.iter().any(|k| k.ends_with("customers#5")), "{keys:?}");

    // The refused accounts upload is repeated by the engine until Ramp takes it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holdings(&held)
        .iter()
        .any(|(l, _, _)| l == "/accounting/accounts")
    {
        assert!(
            Instant::now() < deadline,
            "the accounts never reached Ramp: {:?}\n{}",
            holdings(&held),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // What Ramp holds is exactly QuickBooks' active objects, under their ListIDs.
    let id_of = |kind: ListKind, name: &str| {
        company
            .find(kind, name)
            .unwrap_or_else(|| panic!("{name} is not in the company"))
            .list_id
    };
    let mut expected = Vec::new();
    for name in [
        "Autotask Other",
        "Autotask Expenses",
        "Cost of Goods Sold",
        "Sales Tax Payable",
        "Ramp Cashback",
        "Ramp Card",
        "Ramp Bill Pay",
        "Meals",
        "Meals:Client Entertainment",
        "Meals:Staff Meals",
        "Software",
        "Travel",
        "Computer Equipment",
        "Freight & Delivery",
        "Freight & Delivery:Duties",
    ] {
        expected.push((
            "/accounting/accounts".to_string(),
            id_of(ListKind::Account, name),
            name.to_string(),
        ));
    }
    for name in ["Sales", "Sales:EMEA"] {
        expected.push((
            "option:quickbooks-class".into(),
            id_of(ListKind::Class, name),
            name.into(),
        ));
    }
    let mut customers = vec![
        "Acme Holdings".to_string(),
        "Acme Holdings:EMEA Rollout".to_string(),
    ];
    customers.extend((1..=5).map(|n| format!("Client {n}")));
    for name in customers {
        expected.push((
            "option:quickbooks-customer".into(),
            id_of(ListKind::Customer, &name),
            name,
        ));
    }
    for n in 1..=5 {
        let name = format!("Vendor {n} & Sons");
        expected.push((
            "/accounting/vendors".into(),
            id_of(ListKind::Vendor, &name),
            name,
        ));
    }
    for (id, name) in [
        ("quickbooks-class", "Class"),
        ("quickbooks-customer", "Customer:Job"),
    ] {
        expected.push(("/accounting/fields".into(), id.into(), name.into()));
    }
    expected.sort();
    let held_now = holdings(&held);
    // The chart of accounts may hold accounts QuickBooks starts every company with: compare
    // those the firm set up, and check nothing is there twice or inactive.
    for e in &expected {
        assert!(held_now.contains(e), "Ramp lacks {e:?}: {held_now:?}");
    }
    let mut ids: Vec<&(String, String, String)> = held_now.iter().collect();
    ids.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    assert_eq!(
        ids.len(),
        held_now.len(),
        "an object uploaded twice: {held_now:?}"
    );
    assert!(
        !held_now.iter().any(|(_, _, name)| name == "Old Travel"),
        "an inactive account reached Ramp: {held_now:?}"
    );
    assert!(
        held_now
            .iter()
            .filter(|(l, _, _)| l != "/accounting/accounts")
            .all(|e| expected.contains(e)),
        "Ramp holds more than QuickBooks' classes, customers and vendors: {held_now:?}"
    );

    // Asked again, the same lists change nothing in Ramp.
    let (status, body) = ingest(
        &server,
        &d.token,
        "ramp",
        "quickbooks-lists",
        &json!({"id": "on-demand-2", "page_size": 2}),
    );
    assert_eq!(status, 202, "{body}");
    sync_until_idle(&server, &d, &mut company, 20);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holdings(&held), held_now);
}
