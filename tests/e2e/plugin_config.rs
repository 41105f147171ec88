//! Per-installation plugin configuration: the `echo_config` fixture declares `tenant`
//! (required) and may reach only `{tenant}.echo.test`. The admin's value for a connection is
//! the one host that connection's calls reach; without one a pull fails naming the key; hosts
//! outside the template, or another connection's, are refused; only the admin scope sets
//! values, and every change is in the audit log.

use std::path::Path;

use serde_json::{Value, json};

use crate::admin_api::{api, json, new_token};
use crate::fake_source::{FakeSource, Recorded, Reply};
use crate::pipeline::Deployment;
use crate::source_sync::pull_now_rows;
use crate::support::Server;

/// A fake source answering `GET /records` per tenant host: acme has customers 1 and 2,
/// globex customer 3; any other host is answered too (so only the engine can refuse it).
fn fake_tenants() -> FakeSource {
    FakeSource::start(|req: &Recorded| {
        let ids: &[u64] = match req.header("host").unwrap_or("") {
            "acme.echo.test" => &[1, 2],
            "globex.echo.test" => &[3],
            _ => &[99],
        };
        let records: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        Reply::json(200, json!({"records": records}))
    })
}

/// Pulls every schedule now; returns connection name → last result. The connections were
/// added in this order, so their ids ascend in it.
fn pull(server: &Server, admin: &str, connections: &[&str]) -> Vec<(String, String)> {
    let rows = pull_now_rows(server, admin);
    let mut ids: Vec<i64> = rows
        .iter()
        .filter_map(|r| r["connection_id"].as_i64())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), connections.len(), "{rows:?}");
    rows.iter()
        .map(|r| {
            let rank = ids.iter().position(|id| r["connection_id"] == *id).unwrap();
            (
                connections[rank].to_string(),
                r["last_result"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn result_of<'a>(runs: &'a [(String, String)], connection: &str) -> &'a str {
    &runs
        .iter()
        .find(|(c, _)| c == connection)
        .unwrap_or_else(|| panic!("no pull of {connection}: {runs:?}"))
        .1
}

fn hosts_seen(fake: &FakeSource) -> Vec<String> {
    fake.requests()
        .iter()
        .map(|r| r.header("host").unwrap_or("").to_string())
        .collect()
}

/// Posts one `fetch` record for `connection`: the plugin's `map` GETs `url`. 422 either way;
/// the reason says whether the host was reached (`fetched`) or refused.
fn fetch_for(server: &Server, token: &str, connection: &str, url: &str) -> String {
    let (s, body) = api(
        server,
        token,
        "post",
        &format!("/api/v1/ingest/echo?kind=fetch&connection={connection}"),
        Some(&json!({ "url": url }).to_string()),
    );
    assert_eq!(s, 422, "{body}");
    body
}

#[test]
fn each_connection_reaches_only_the_host_its_tenant_value_completes() {
    let fake = fake_tenants();
    let d = Deployment::new(); // connection `acme`
    d.cli(&["connection", "add", "globex-co"]);
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let fixture = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join("echo_config.wasm");
    d.cli(&["plugin", "install", fixture.to_str().unwrap()]);
    for connection in ["acme", "globex-co"] {
        d.cli(&[
            "schedule",
            "add",
            "--connection",
            connection,
            "--plugin",
            "echo",
            "--cron",
            "0 0 1 1 *",
        ]);
    }
    let addr = fake.base_addr();
    let endpoints = ["acme", "globex", "evil"]
        .iter()
        .map(|t| format!("{t}.echo.test={addr}"))
        .chain([format!("acme.evil.test={addr}")])
        .collect::<Vec<_>>()
        .join(",");
    let server = Server::start_with_env(
        d.tmp.path(),
        &d.data_dir,
        &[],
        &[
            ("QBRIDGE_SOURCE_ENDPOINTS", endpoints.as_str()),
            ("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1"),
        ],
    );

    // Before the admin sets `tenant`, a pull fails naming the key, and nothing is fetched.
    let runs = pull(&server, &admin, &["acme", "globex-co"]);
    for connection in ["acme", "globex-co"] {
        let result = result_of(&runs, connection);
        assert!(
            result.contains("tenant") && result.contains("qbridge plugin config echo set"),
            "{runs:?}"
        );
    }
    assert!(hosts_seen(&fake).is_empty(), "{:?}", hosts_seen(&fake));
    let body = fetch_for(&server, &d.token, "acme", "https://acme.echo.test/records");
    assert!(
        body.contains("allows nothing until the admin sets `tenant`"),
        "{body}"
    );

    // The plugin listing names the keys it declares, so an admin knows what to set.
    let (s, plugins) = api(&server, &admin, "get", "/api/v1/plugins", None);
    assert_eq!(s, 200, "{plugins}");
    let plugins: Value = serde_json::from_str(&plugins).unwrap();
    let echo = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "echo")
        .unwrap();
    assert_eq!(echo["config"][0]["name"], "tenant", "{echo}");
    assert_eq!(echo["config"][0]["required"], true, "{echo}");

    // An operator cannot set a value (it would approve a host); an admin can.
    let operator = new_token(&server, &admin, "operator");
    let put = |token: &str, body: Value| {
        api(
            &server,
            token,
            "put",
            "/api/v1/plugins/echo/config/tenant",
            Some(&body.to_string()),
        )
    };
    let (s, body) = put(&operator, json!({"value": "acme", "connection": "acme"}));
    assert_eq!(s, 403, "{body}");
    let (s, body) = put(
        &admin,
        json!({"value": "acme.evil.test", "connection": "acme"}),
    );
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("one DNS label"), "{body}");
    let (s, body) = put(&admin, json!({"value": "x", "connection": "nosuch"}));
    assert_eq!(s, 404, "{body}");
    let out = d.cli(&[
        "plugin",
        "config",
        "echo",
        "set",
        "tenant",
        "acme",
        "--connection",
        "acme",
    ]);
    assert!(out.contains("acme.echo.test"), "{out}");
    let (s, body) = put(
        &admin,
        json!({"value": "globex", "connection": "globex-co"}),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(json(&body)["hosts"], json!(["globex.echo.test"]));

    // Each connection pulls from its own tenant's host only, and the records land.
    let runs = pull(&server, &admin, &["acme", "globex-co"]);
    assert_eq!(
        result_of(&runs, "acme"),
        "2 records queued, 0 rejected, 1 page(s)",
        "{runs:?}"
    );
    assert_eq!(
        result_of(&runs, "globex-co"),
        "1 records queued, 0 rejected, 1 page(s)",
        "{runs:?}"
    );
    let mut seen = hosts_seen(&fake);
    seen.sort();
    assert_eq!(seen, ["acme.echo.test", "globex.echo.test"]);
    let (s, jobs) = api(&server, &admin, "get", "/api/v1/jobs", None);
    assert_eq!(s, 200, "{jobs}");
    let requests: Vec<String> = json(&jobs)
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let (_, job) = api(
                &server,
                &admin,
                "get",
                &format!("/api/v1/jobs/{}", j["id"]),
                None,
            );
            json(&job)["qbxml"].as_str().unwrap_or("").to_string()
        })
        .collect();
    // `label` is unset: its declared default starts the names.
    for name in [
        "Customer 1 of acme",
        "Customer 2 of acme",
        "Customer 3 of globex",
    ] {
        let element = format!("<Name>{name}</Name>");
        assert_eq!(
            requests.iter().filter(|r| r.contains(&element)).count(),
            1,
            "{name}: {requests:?}"
        );
    }
    assert_eq!(requests.len(), 3, "{requests:?}");

    // Hosts outside the template, and another connection's tenant, are refused.
    for (connection, url) in [
        ("acme", "https://evil.echo.test/records"),
        ("acme", "https://acme.evil.test/records"),
        ("acme", "https://globex.echo.test/records"),
        ("globex-co", "https://acme.echo.test/records"),
    ] {
        let body = fetch_for(&server, &d.token, connection, url);
        assert!(
            body.contains("fetch refused") && body.contains("not in the manifest's allowed_hosts"),
            "{connection} {url}: {body}"
        );
    }
    let body = fetch_for(&server, &d.token, "acme", "https://acme.echo.test/records");
    assert!(
        body.contains("fetched https://acme.echo.test/records"),
        "{body}"
    );
    let mut seen = hosts_seen(&fake);
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        ["acme.echo.test", "globex.echo.test"],
        "no refused host was reached"
    );

    // The listing shows both values with the hosts they complete; the audit log has the rows.
    let listing = d.cli(&["plugin", "config", "echo"]);
    assert!(listing.contains("tenant (required)"), "{listing}");
    assert!(listing.contains("acme → acme.echo.test"), "{listing}");
    assert!(listing.contains("globex → globex.echo.test"), "{listing}");
    let (s, audit) = api(&server, &admin, "get", "/api/v1/audit?limit=1000", None);
    assert_eq!(s, 200, "{audit}");
    let rows = json(&audit);
    let sets: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "plugin.config.set")
        .collect();
    assert_eq!(sets.len(), 2, "{audit}");
    assert!(
        sets.iter()
            .any(|r| r["detail"]["hosts"] == json!(["acme.echo.test"]))
    );
    assert!(
        sets.iter()
            .any(|r| r["detail"]["hosts"] == json!(["globex.echo.test"]))
    );

    // Unset: acme's pull fails naming the key again; globex keeps pulling.
    d.cli(&[
        "plugin",
        "config",
        "echo",
        "unset",
        "tenant",
        "--connection",
        "acme",
    ]);
    let runs = pull(&server, &admin, &["acme", "globex-co"]);
    assert!(result_of(&runs, "acme").contains("tenant"), "{runs:?}");
    assert!(
        result_of(&runs, "globex-co").ends_with("1 page(s)"),
        "{runs:?}"
    );
    let (s, audit) = api(&server, &admin, "get", "/api/v1/audit?limit=1000", None);
    assert_eq!(s, 200);
    assert!(audit.contains("plugin.config.unset"), "{audit}");
}

#[test]
fn a_fenced_admin_and_the_plugins_page_change_only_what_they_may() {
    let d = Deployment::new(); // connection `acme`
    d.cli(&["connection", "add", "globex-co"]);
    let token = |args: &[&str]| {
        let mut all = vec!["token", "create", "--scope", "admin"];
        all.extend(args);
        d.cli(&all).lines().last().unwrap().trim().to_string()
    };
    let admin = token(&["--name", "root"]);
    let fenced = token(&["--name", "acme admin", "--connection", "acme"]);
    let fixture = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join("echo_config.wasm");
    d.cli(&["plugin", "install", fixture.to_str().unwrap()]);
    // Without a server the CLI changes the store itself, with the same checks.
    let out = d.cli(&["plugin", "config", "echo", "set", "label", "Kunde"]);
    assert!(out.contains("label = Kunde for every connection"), "{out}");
    let listing = d.cli(&["plugin", "config", "echo"]);
    assert!(
        listing.contains("(every connection)           Kunde"),
        "{listing}"
    );
    let refused = crate::support::run(
        d.tmp.path(),
        &[
            "plugin",
            "config",
            "echo",
            "set",
            "tenant",
            "a.b",
            "--data-dir",
            d.data_dir.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        crate::support::stderr(&refused).contains("one DNS label"),
        "{}",
        crate::support::stderr(&refused)
    );
    d.cli(&["plugin", "config", "echo", "unset", "label"]);
    let server = d.start();
    let put = |token: &str, body: Value| {
        api(
            &server,
            token,
            "put",
            "/api/v1/plugins/echo/config/tenant",
            Some(&body.to_string()),
        )
    };

    // A token fenced to acme sets acme's value only: another connection's does not exist for
    // it, a plugin-wide value concerns every connection.
    let (s, body) = put(&fenced, json!({"value": "acme", "connection": "acme"}));
    assert_eq!(
        (s, json(&body)["hosts"].clone()),
        (200, json!(["acme.echo.test"])),
        "{body}"
    );
    let (s, body) = put(&fenced, json!({"value": "x", "connection": "globex-co"}));
    assert_eq!(s, 404, "{body}");
    let (s, body) = put(&fenced, json!({"value": "x"}));
    assert_eq!(s, 403, "{body}");
    let (s, body) = api(
        &server,
        &fenced,
        "delete",
        "/api/v1/plugins/echo/config/tenant",
        None,
    );
    assert_eq!(s, 403, "{body}");
    let (s, body) = put(&admin, json!({"value": "globex"}));
    assert_eq!(s, 200, "{body}");
    let (s, body) = put(
        &admin,
        json!({"value": "initech", "connection": "globex-co"}),
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = put(
        &admin,
        json!({"value": "x", "connection": "acme", "extra": 1}),
    );
    assert_eq!(s, 422, "unknown fields are refused: {body}");
    let (s, body) = api(
        &server,
        &admin,
        "put",
        "/api/v1/plugins/echo/config/nosuch",
        Some(r#"{"value": "x"}"#),
    );
    assert_eq!(s, 400, "{body}");
    assert!(
        body.contains("declares no config key \\\"nosuch\\\""),
        "{body}"
    );

    // It reads the plugin-wide value and its own, never globex's.
    let (s, body) = api(&server, &fenced, "get", "/api/v1/plugins/echo/config", None);
    assert_eq!(s, 200, "{body}");
    let view = json(&body);
    let values: Vec<(Value, Value)> = view["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["connection"].clone(), v["value"].clone()))
        .collect();
    assert_eq!(
        values,
        [
            (Value::Null, json!("globex")),
            (json!("acme"), json!("acme"))
        ]
    );
    assert!(
        !body.contains("initech") && !body.contains("globex-co"),
        "{body}"
    );
    assert_eq!(
        view["keys"][0]["host_templates"],
        json!(["{tenant}.echo.test"])
    );

    // The plugins page shows the settings and its form sets and removes a value.
    let cookie = crate::admin_sessions::sign_in(&server, &admin);
    let form = |body: &str| {
        crate::admin_api::call(
            &server,
            "post",
            "/plugins/echo/config",
            &[
                ("Cookie", cookie.as_str()),
                ("Origin", server.base.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(body),
        )
    };
    let (s, _) = form("key=label&connection=globex-co&value=Client");
    assert_eq!(s, 303);
    let (s, page) = crate::admin_api::call(
        &server,
        "get",
        "/plugins?notice=plugin-config-set",
        &[("Cookie", cookie.as_str())],
        None,
    );
    assert_eq!(s, 200);
    assert!(
        page.contains("Settings of echo") && page.contains("Setting saved"),
        "{page}"
    );
    assert!(page.contains("globex-co: <code>Client</code>"), "{page}");
    assert!(
        page.contains("acme: <code>acme</code> → acme.echo.test"),
        "{page}"
    );
    let (s, page) = form("key=tenant&connection=&value=evil.test");
    assert_eq!(s, 400, "{page}");
    assert!(page.contains("one DNS label"), "{page}");
    let (s, _) = form("key=label&connection=globex-co&value=");
    assert_eq!(s, 303);
    let (_, body) = api(&server, &admin, "get", "/api/v1/plugins/echo/config", None);
    assert!(!body.contains("Client"), "removed: {body}");
}

/// `plugin check --plugin-config KEY=VALUE` gives the component the values an admin would: the
/// `tenant` value completes the host template, so the fixture's fetch of that tenant's host
/// reaches the fake source; without it the host is refused and the check names the missing
/// required key; a key the manifest does not declare is an error naming the declared ones.
#[test]
fn plugin_check_runs_the_component_with_the_config_values_given() {
    let fake = fake_tenants();
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join("echo_config.wasm");
    let records = tmp.path().join("fetch.json");
    std::fs::write(&records, r#"{"url": "https://acme.echo.test/records"}"#).unwrap();
    let endpoints = format!("acme.echo.test={}", fake.base_addr());
    let check = |extra: &[&str]| {
        let mut args = vec![
            "plugin",
            "check",
            fixture.to_str().unwrap(),
            "--kind",
            "fetch",
        ];
        args.extend_from_slice(extra);
        args.push(records.to_str().unwrap());
        let out = crate::support::qbridge(tmp.path())
            .args(&args)
            .env("QBRIDGE_SOURCE_ENDPOINTS", &endpoints)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            crate::support::stderr(&out),
        )
    };

    let (configured, _) = check(&[
        "--plugin-config",
        "tenant=acme",
        "--plugin-config",
        "label=Client",
    ]);
    assert!(
        configured.contains("fetched https://acme.echo.test/records"),
        "{configured}"
    );
    assert!(!configured.contains("have no value"), "{configured}");
    assert_eq!(hosts_seen(&fake), ["acme.echo.test"]);

    let (bare, _) = check(&[]);
    assert!(bare.contains("fetch refused"), "{bare}");
    assert!(
        bare.contains("required config key(s) tenant have no value"),
        "{bare}"
    );
    assert_eq!(
        hosts_seen(&fake).len(),
        1,
        "an unconfigured check reached the source"
    );

    let (_, undeclared) = check(&["--plugin-config", "zone=5"]);
    assert!(
        undeclared.contains("declares no config key \"zone\"")
            && undeclared.contains("tenant, label"),
        "{undeclared}"
    );
    let (_, malformed) = check(&["--plugin-config", "tenant"]);
    assert!(malformed.contains("is not KEY=VALUE"), "{malformed}");
}
