//! The plugins admin API and Web Connector setup over real HTTP against the real binary: a
//! running server hot-swaps a plugin installed through `POST /api/v1/plugins`, stages one that
//! asks for more until it is approved, rolls back; `qbridge plugin … --url` drives the same
//! API; `GET /qwc/{user}` hands an admin the Web Connector's file.

use std::path::Path;

use crate::pipeline::{Deployment, ingest};
use crate::qbwc::fields;
use crate::support::{Server, agent, run, stderr};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A token of `scope` created with the CLI before the server starts.
fn token(d: &Deployment, scope: &str) -> String {
    let out = d.cli(&["token", "create", "--scope", scope, "--name", scope]);
    out.lines().last().unwrap().trim().to_string()
}

/// `POST /api/v1/plugins` with the component as the body; returns (status, body).
fn install(server: &Server, token: &str, wasm: &[u8]) -> (u16, String) {
    let mut resp = agent()
        .post(format!("{}/api/v1/plugins", server.base))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/wasm")
        .send(wasm)
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

fn post(server: &Server, token: &str, path: &str) -> (u16, String) {
    let mut resp = agent()
        .post(format!("{}{path}", server.base))
        .header("Authorization", &format!("Bearer {token}"))
        .send_empty()
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

fn get_with(server: &Server, token: Option<&str>, path: &str) -> (u16, String, Option<String>) {
    let mut req = agent().get(format!("{}{path}", server.base));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    let disposition = resp
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_string());
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
        disposition,
    )
}

/// The status of each `echo` version the API lists, as (version, status).
fn echo_versions(server: &Server, token: &str) -> Vec<(String, String)> {
    let (s, body, _) = get_with(server, Some(token), "/api/v1/plugins");
    assert_eq!(s, 200, "{body}");
    json(&body)
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"] == "echo")
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Ingests customer `id` through the echo plugin and returns the version that mapped it (the
/// job's note says `echo <version>`).
fn mapped_by(server: &Server, d: &Deployment, admin: &str, id: u64) -> String {
    let (s, body) = ingest(
        server,
        &d.token,
        "echo",
        "customer",
        &serde_json::json!({"id": id}),
    );
    assert_eq!(s, 202, "{body}");
    let (s, body, _) = get_with(server, Some(admin), "/api/v1/jobs?limit=1000");
    assert_eq!(s, 200, "{body}");
    let jobs = json(&body);
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["key"] == format!("customer:{id}"))
        .unwrap_or_else(|| panic!("no job for customer {id}: {body}"));
    job["notes"][0]
        .as_str()
        .unwrap()
        .strip_prefix("echo ")
        .unwrap()
        .to_string()
}

#[test]
fn a_running_server_hot_swaps_stages_approves_and_rolls_back_through_the_api() {
    let d = Deployment::new();
    let admin = token(&d, "admin");
    let server = d.start();

    let (s, body) = install(&server, &admin, &fixture("echo_v1"));
    assert_eq!(s, 201, "{body}");
    assert_eq!(json(&body)["outcome"], "activated");
    assert_eq!(mapped_by(&server, &d, &admin, 1), "1.0.0");

    // Same permissions: the next call runs on v2, no restart.
    let (s, body) = install(&server, &admin, &fixture("echo_v2"));
    assert_eq!(s, 201, "{body}");
    let out = json(&body);
    assert_eq!(out["outcome"], "activated");
    assert_eq!(out["replaced"], "1.0.0");
    assert_eq!(mapped_by(&server, &d, &admin, 2), "2.0.0");

    // The same file again changes nothing.
    let (s, body) = install(&server, &admin, &fixture("echo_v2"));
    assert_eq!(
        (s, json(&body)["outcome"].clone()),
        (201, "already_active".into())
    );

    // v3 asks for InvoiceAdd as well: staged, v2 keeps running.
    let (s, body) = install(&server, &admin, &fixture("echo_v3"));
    assert_eq!(s, 201, "{body}");
    let out = json(&body);
    assert_eq!(out["outcome"], "staged");
    assert_eq!(
        out["escalation"]["request_types"],
        serde_json::json!(["InvoiceAdd"])
    );
    assert_eq!(
        out["escalation"]["permission_areas"][0]["name"],
        "Customers & Receivables"
    );
    assert_eq!(mapped_by(&server, &d, &admin, 3), "2.0.0");
    let (_, body, _) = get_with(&server, Some(&admin), "/api/v1/plugins");
    let staged = json(&body)
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "3.0.0")
        .cloned()
        .unwrap();
    assert_eq!(staged["status"], "staged");
    assert_eq!(
        staged["escalation"]["request_types"],
        serde_json::json!(["InvoiceAdd"])
    );
    let by = staged["installed_by"].as_str().unwrap();
    assert!(
        by.starts_with("token:") && by.ends_with("(admin)"),
        "the API actor is recorded: {by}"
    );

    let (s, body) = post(
        &server,
        &admin,
        "/api/v1/plugins/echo/versions/3.0.0/approve",
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(mapped_by(&server, &d, &admin, 4), "3.0.0");

    let (s, body) = post(&server, &admin, "/api/v1/plugins/echo/rollback");
    assert_eq!(s, 200, "{body}");
    assert_eq!(json(&body)["version"], "2.0.0");
    assert_eq!(mapped_by(&server, &d, &admin, 5), "2.0.0");
    assert_eq!(
        echo_versions(&server, &admin),
        [
            ("1.0.0".to_string(), "previous".to_string()),
            ("2.0.0".to_string(), "active".to_string()),
            ("3.0.0".to_string(), "previous".to_string()),
        ]
    );

    let mut resp = agent()
        .delete(format!("{}/api/v1/plugins/echo", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (s, body) = ingest(
        &server,
        &d.token,
        "echo",
        "customer",
        &serde_json::json!({"id": 6}),
    );
    assert_eq!(s, 404, "a removed plugin maps nothing: {body}");
    let _ = resp.body_mut().read_to_string();

    let (_, audit, _) = get_with(&server, Some(&admin), "/api/v1/audit?limit=1000");
    for action in [
        "plugin.install",
        "plugin.stage",
        "plugin.approve",
        "plugin.rollback",
        "plugin.remove",
    ] {
        assert!(
            audit.contains(&format!("\"{action}\"")),
            "{action} audited: {audit}"
        );
    }
}

#[test]
fn a_read_only_token_cannot_install_and_bad_uploads_are_refused_plainly() {
    let d = Deployment::new();
    let admin = token(&d, "admin");
    let read = token(&d, "read");
    let server = d.start();
    let (s, body) = install(&server, &read, &fixture("echo_v1"));
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("needs `admin`"), "{body}");
    let (s, _, _) = get_with(&server, Some(&read), "/api/v1/plugins");
    assert_eq!(s, 200, "read scope may list");

    let (s, body) = install(&server, &admin, b"not a component");
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("cannot install the plugin"), "{body}");
    let (s, body) = post(
        &server,
        &admin,
        "/api/v1/plugins/echo/versions/9.9.9/approve",
    );
    assert_eq!(s, 404, "{body}");
    let mut resp = agent()
        .post(format!("{}/api/v1/plugins", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .header("Content-Type", "application/json")
        .send("{}")
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    assert!(
        resp.body_mut()
            .read_to_string()
            .unwrap()
            .contains("application/wasm")
    );
}

/// The dev loop over the API: `?dev=true` takes only a `-dev` version, for an admin only;
/// the full path with a rebuilt `-dev` component is `plugin_author.rs`.
#[test]
fn a_dev_install_over_the_api_refuses_a_released_version_and_non_admins() {
    let d = Deployment::new();
    let admin = token(&d, "admin");
    let operator = token(&d, "operator");
    let server = d.start();
    let component = fixture("echo_v1");
    let post = |token: &str, query: &str, body: &[u8]| {
        let mut resp = agent()
            .post(format!("{}/api/v1/plugins?{query}", server.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/wasm")
            .send(body)
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    let dev_install = |token: &str, query: &str| post(token, query, &component);
    let (s, body) = dev_install(&operator, "dev=true");
    assert_eq!(s, 403, "{body}");
    let (s, body) = dev_install(&admin, "dev=true");
    assert_eq!(s, 422, "{body}");
    assert!(
        body.contains("-dev") && body.contains("1.0.0-dev") && body.contains("without --dev"),
        "the refusal says what a dev version is: {body}"
    );
    // A bad query is refused before the body is read: sent without one, since the server may
    // close the connection while a large body is still being written (a broken pipe).
    let (s, body) = post(&admin, "dev=maybe", b"");
    assert_eq!(s, 400, "{body}");
    // Nothing was installed by the refused calls; a plain install still works.
    let (s, body) = dev_install(&admin, "dev=false");
    assert_eq!(s, 201, "{body}");
    assert_eq!(json(&body)["outcome"], "activated", "{body}");
}

#[test]
fn plugin_install_with_url_hot_swaps_a_running_server() {
    let d = Deployment::new();
    let admin = token(&d, "admin");
    let server = d.start();
    let fixtures = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES"));
    let cli = |args: &[&str], token: Option<&str>| {
        let mut all = vec!["plugin"];
        all.extend_from_slice(args);
        all.extend(["--url", server.base.as_str()]);
        if let Some(t) = token {
            all.extend(["--token", t]);
        }
        run(d.tmp.path(), &all)
    };
    let v1 = fixtures.join("echo_v1.wasm");
    let out = cli(&["install", v1.to_str().unwrap()], Some(admin.as_str()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("plugin echo 1.0.0 is installed and running")
    );
    assert_eq!(mapped_by(&server, &d, &admin, 1), "1.0.0");

    let v3 = fixtures.join("echo_v3.wasm");
    let out = cli(&["install", v3.to_str().unwrap()], Some(admin.as_str()));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("is staged") && text.contains("InvoiceAdd"),
        "{text}"
    );

    let out = cli(&["approve", "echo", "3.0.0"], Some(admin.as_str()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mapped_by(&server, &d, &admin, 2), "3.0.0");

    let out = cli(&["list"], Some(admin.as_str()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("echo needs QuickBooks permissions: Customers & Receivables"),
        "{text}"
    );

    let out = cli(&["rollback", "echo"], Some(admin.as_str()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rolled back to 1.0.0"));
    assert_eq!(mapped_by(&server, &d, &admin, 3), "1.0.0");

    // Without a token the CLI says how to get one; a wrong one gets the server's refusal.
    let out = cli(&["list"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("QBRIDGE_TOKEN"), "{}", stderr(&out));
    let out = cli(&["remove", "echo"], Some("qbr_wrong"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));

    // Without --url on the server's data dir, the CLI uses the server's local credential.
    let out = run(
        d.tmp.path(),
        &["plugin", "list", "--data-dir", d.data_dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("echo"));
    assert!(
        stderr(&out).contains("(through the running server's admin API)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_admin_downloads_a_well_formed_qwc_and_strangers_get_401() {
    let d = Deployment::new();
    let admin = token(&d, "admin");
    let read = token(&d, "read");
    let server = d.start();
    let (s, body, disposition) = get_with(&server, Some(&admin), "/qwc/qbridge-sync");
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"qbridge-sync.qwc\"")
    );
    assert!(body.contains("<QBWCXML>"), "{body}");
    let fields = fields(&body);
    let text = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} missing: {body}"))
    };
    assert_eq!(text("UserName"), "qbridge-sync");
    // A loopback listener is named `localhost`, the one http host the Web Connector accepts.
    assert_eq!(
        text("AppURL"),
        format!("{}/qbwc", server.base.replace("127.0.0.1", "localhost"))
    );
    assert!(text("FileID").starts_with('{'));

    assert_eq!(get_with(&server, None, "/qwc/qbridge-sync").0, 401);
    assert_eq!(get_with(&server, Some(&read), "/qwc/qbridge-sync").0, 403);
    let (s, body, _) = get_with(&server, Some(&admin), "/qwc/nobody");
    assert_eq!(s, 404);
    assert!(body.contains("qbridge user list"), "{body}");
    let (_, audit, _) = get_with(&server, Some(&admin), "/api/v1/audit?limit=1000");
    assert!(audit.contains("qwc.download"), "{audit}");
}

#[test]
fn follow_ups_a_failing_on_response_could_not_give_come_from_the_fixed_version() {
    let d = Deployment::new();
    let admin = token(&d, "admin");
    let wasm_v1 = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join("echo_v1.wasm");
    d.cli(&["plugin", "install", wasm_v1.to_str().unwrap()]);
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1")],
    );
    let (status, body) = ingest(
        &server,
        &d.token,
        "echo",
        "customer",
        &serde_json::json!({"id": 7}),
    );
    assert_eq!(status, 202, "{body}");
    let mut company = crate::pipeline::company_with_items(&[]);
    crate::pipeline::sync_until_idle(&server, &d, &mut company, 10);
    // Echo 1.0.0's on_response panics: the customer is in QuickBooks, its follow-up is owed.
    assert!(company.find_customer("Customer 7 v1.0.0").is_some());
    assert!(company.find_customer("Follow-up of customer:7").is_none());

    // The fixed version is swapped in; the retried on_response queues the follow-up.
    let (status, body) = install(&server, &admin, &fixture("echo_v2"));
    assert_eq!(status, 201, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while company.find_customer("Follow-up of customer:7").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the follow-up never came:\n{}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        crate::pipeline::sync_until_idle(&server, &d, &mut company, 10);
    }
    crate::pipeline::assert_no_duplicate_writes(&company);
    drop(server);
    let status = d.cli(&["status"]);
    assert!(
        status.contains("retried follow-ups (on_response): 1 done, 0 pending, 0 failed"),
        "{status}"
    );
}
