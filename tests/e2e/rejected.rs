//! Refused pulled records through the real binary: a pull whose plugin refuses one record
//! keeps it (with the plugin's reason) before the cursor moves on, shows it in the API and in
//! `qbridge status`, and maps it once a fixed plugin version is installed — without anyone
//! asking — after which it reaches the simulated QuickBooks exactly once. A fenced token sees
//! only its own tenant's refusals.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use qbridge::sim::company::ListKind;

use crate::fake_source::{FakeSource, Recorded, Reply};
use crate::pipeline::{
    Deployment, assert_no_duplicate_writes, company_with_items, sync_until_idle,
};
use crate::source_sync::pull_now;
use crate::support::{Server, agent};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn call(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> (u16, Value) {
    let url = format!("{}{path}", server.base);
    let auth = format!("Bearer {token}");
    let mut resp = match (method, body) {
        ("GET", _) => agent().get(&url).header("Authorization", &auth).call(),
        (_, Some(body)) => agent()
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/wasm")
            .send(body),
        _ => agent()
            .post(&url)
            .header("Authorization", &auth)
            .send_empty(),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn a_refused_pulled_record_is_kept_listed_and_mapped_by_the_fixed_plugin() {
    // The source: one record echo 1.0.0 maps, one only 2.0.0 does.
    let source = FakeSource::start(|req: &Recorded| match req.path() {
        "/records" => Reply::json(
            200,
            json!({"records": [{"id": 1}, {"id": 2, "min_version": "2.0.0"}]}),
        ),
        _ => Reply::json(404, json!({"error": "not_found"})),
    });
    let d = Deployment::new();
    let token = |scope: &str, fence: &[&str]| {
        let mut args = vec!["token", "create", "--scope", scope, "--name", scope];
        args.extend(fence);
        d.cli(&args).lines().last().unwrap().trim().to_string()
    };
    d.cli(&["connection", "add", "other-firm"]);
    let admin = token("admin", &[]);
    let other_tenant = token("operator", &["--connection", "other-firm"]);
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            (
                "QBRIDGE_SOURCE_ENDPOINTS",
                &format!("echo.test={}", source.base_addr()),
            ),
            ("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1"),
        ],
    );
    let (status, body) = call(
        &server,
        &admin,
        "POST",
        "/api/v1/plugins",
        Some(&fixture("echo_v1")),
    );
    assert!(status < 300, "{body}");
    let mut resp = agent()
        .post(format!("{}/api/v1/schedules", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .header("Content-Type", "application/json")
        // Far in the future: the test pulls on demand.
        .send(json!({"connection": "acme", "plugin": "echo", "cron": "0 0 1 1 *"}).to_string())
        .unwrap();
    assert!(
        resp.status().as_u16() < 300,
        "{}",
        resp.body_mut().read_to_string().unwrap()
    );

    let runs = pull_now(&server, &admin);
    assert_eq!(
        runs[0].1, "1 records queued, 1 rejected, 1 page(s)",
        "{runs:?}"
    );

    // Kept, with the plugin's reason, visible to the admin and not to another tenant.
    let (_, refused) = call(&server, &admin, "GET", "/api/v1/rejected", None);
    let refused = refused.as_array().unwrap().clone();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["source_id"], "2");
    assert_eq!(refused[0]["plugin_version"], "1.0.0");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("it needs echo 2.0.0"),
        "{refused:?}"
    );
    let (_, fenced) = call(&server, &other_tenant, "GET", "/api/v1/rejected", None);
    assert_eq!(fenced, json!([]));
    let id = refused[0]["id"].as_i64().unwrap();
    let (status, _) = call(
        &server,
        &other_tenant,
        "POST",
        &format!("/api/v1/rejected/{id}/retry"),
        None,
    );
    assert_eq!(
        status, 404,
        "another firm's operator cannot retry this firm's record"
    );
    // On demand with the same version: still refused, and counted.
    let (_, retried) = call(
        &server,
        &admin,
        "POST",
        &format!("/api/v1/rejected/{id}/retry"),
        None,
    );
    assert_eq!(retried["outcome"], "still_refused", "{retried}");

    // The web UI lists it under the firm's name with the reason, and retries it too.
    let (status, page) = call(&server, &admin, "GET", "/rejected", None);
    let page = page.as_str().unwrap().to_string();
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(">acme</a>") && page.contains("it needs echo 2.0.0"),
        "{page}"
    );
    assert!(
        page.contains("aria-label=\"Retry refused record "),
        "an operator gets Retry: {page}"
    );
    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let resp = no_redirects
        .post(format!("{}/rejected/{id}/retry", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .send_empty()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/rejected?notice=rejected-still-refused"
    );
    let (_, fenced_page) = call(&server, &other_tenant, "GET", "/rejected", None);
    assert!(
        !fenced_page
            .as_str()
            .unwrap()
            .contains("it needs echo 2.0.0"),
        "another firm's token sees none of this firm's refusals on the page"
    );

    // Pulling again refuses it again: still one row, two more attempts.
    pull_now(&server, &admin);
    let (_, refused) = call(&server, &admin, "GET", "/api/v1/rejected", None);
    assert_eq!(refused[0]["attempts"], 4, "{refused}");

    // The fixed plugin: installed, the scheduler maps the kept record by itself.
    let (status, body) = call(
        &server,
        &admin,
        "POST",
        "/api/v1/plugins",
        Some(&fixture("echo_v2")),
    );
    assert!(status < 300, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, open) = call(&server, &admin, "GET", "/api/v1/rejected", None);
        if open == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused: {open}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, all) = call(&server, &admin, "GET", "/api/v1/rejected?all=true", None);
    assert!(all[0]["record_id"].as_i64().is_some(), "{all}");

    let mut company = company_with_items(&[]);
    sync_until_idle(&server, &d, &mut company, 10);
    assert_no_duplicate_writes(&company);
    assert!(
        company
            .find(ListKind::Customer, "Customer 1 v1.0.0")
            .is_some()
    );
    assert!(
        company
            .find(ListKind::Customer, "Customer 2 v2.0.0")
            .is_some(),
        "the refused record reached QuickBooks through the fixed version"
    );
}
