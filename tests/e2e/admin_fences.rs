//! Tenant fences: a token limited to connection A can neither read nor change connection B's
//! data through any route of the admin API or the web UI.
//!
//! The route list is not written here: it is the served OpenAPI document plus the UI's route
//! table (`qbridge::admin::routes::UI_ROUTES`), and a unit test in `admin::routes` fails when
//! the router serves a route that is in neither. So a route added later without a fence check
//! fails this test instead of leaking another firm's data.

use std::collections::BTreeMap;

use qbridge::admin::routes::UI_ROUTES;
use qbridge::qbwc::accounts;
use qbridge::store::Store;
use qbridge::store::queue::{
    AnswerTo, Answered, Answering, BatchLimits, Claim, JobResult, NewJob, NewRecord, Origin,
};
use qbridge::store::tokens::{Fence, Scope};

use crate::admin_api::{agent, api, call, json};
use crate::support::Server;

/// What B owns, by the ids and names a request path can name.
struct Tenant {
    connection_id: i64,
    job: i64,
    schedule: i64,
}

/// One failed (discarded) job of `connection_id` whose key carries the tenant's marker.
fn discarded_job(store: &Store, connection_id: i64, marker: &str) -> i64 {
    let key = format!("{marker}-job");
    store
        .enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id,
            plugin: "example",
            kind: "invoice",
            source_id: Some(marker),
            payload: "{}",
            jobs: &[NewJob {
                key: key.clone(),
                depends_on: vec![],
                request_type: "InvoiceAdd".into(),
                qbxml: format!("<InvoiceAddRq requestID=\"{key}\"><InvoiceAdd/></InvoiceAddRq>"),
                probe: None,
                adopt_existing: false,
                notes: vec![],
                versioning: Default::default(),
            }],
        })
        .unwrap();
    let limits = BatchLimits {
        max_requests: 10,
        max_bytes: 1 << 20,
    };
    let Some(Claim::Send {
        message_set_id,
        jobs,
    }) = store.claim(connection_id, 1, limits).unwrap()
    else {
        panic!("the seeded job is claimable");
    };
    let job = jobs[0].job_id;
    let to = AnswerTo {
        connection_id,
        session_id: 1,
        set: Answering::Sent(message_set_id.as_deref()),
    };
    store
        .record_results(
            &to,
            &[Answered {
                request_id: jobs[0].request_id.clone(),
                job_id: job,
                result: JobResult::Discard {
                    code: 3140,
                    message: "invalid reference".into(),
                    advice: format!("{marker}: fix the account"),
                },
                response: None,
            }],
        )
        .unwrap();
    job
}

fn tenant(store: &Store, name: &str) -> Tenant {
    let c = accounts::add_connection(store, name, "", "test").unwrap();
    accounts::add_user(store, name, &format!("{name}-user"), "test").unwrap();
    let far = 4_000_000_000_000;
    Tenant {
        connection_id: c.id,
        job: discarded_job(store, c.id, name),
        schedule: store
            .add_schedule(
                c.id,
                "ramp",
                "0 * * * *",
                "UTC",
                Some(far),
                None,
                &[],
                "test",
            )
            .unwrap(),
    }
}

/// B's data as the store holds it: every route run by A's token must leave it as it was.
fn snapshot(store: &Store, b: &Tenant) -> String {
    let job = store.job(b.job).unwrap();
    let users: Vec<_> = store
        .qbwc_users()
        .unwrap()
        .into_iter()
        .filter(|u| u.connection_id == b.connection_id)
        .map(|u| (u.username, u.password_hash, u.disabled))
        .collect();
    let schedules: Vec<_> = store
        .schedules()
        .unwrap()
        .into_iter()
        .filter(|s| s.connection_id == b.connection_id)
        .map(|s| (s.id, s.next_run_at, s.cursor))
        .collect();
    let jobs = store
        .list_jobs(&qbridge::store::queue::JobFilter {
            connection_id: Some(b.connection_id),
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .len();
    format!(
        "{} {} {} {users:?} {schedules:?} {jobs}",
        job.state, job.attempt, job.updated_at
    )
}

/// True when a response body shows anything of B: its connection's name (in user names, job
/// keys and advice too) or, in JSON, an object of B's connection id.
fn leaks_b(body: &str, b: &Tenant) -> bool {
    fn walk(v: &serde_json::Value, id: i64) -> bool {
        match v {
            serde_json::Value::Object(m) => {
                m.get("connection_id").and_then(|c| c.as_i64()) == Some(id)
                    || m.values().any(|v| walk(v, id))
            }
            serde_json::Value::Array(a) => a.iter().any(|v| walk(v, id)),
            _ => false,
        }
    }
    body.contains("firm-b")
        || serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| walk(&v, b.connection_id))
}

/// The path with B's ids and names in its parameters (and, for lists, a query asking for B).
fn fill(path: &str, b: &Tenant, ids: &BTreeMap<&str, i64>) -> String {
    let id = if path.starts_with("/api/v1/jobs") || path.starts_with("/jobs") {
        b.job
    } else if path.starts_with("/api/v1/schedules") {
        b.schedule
    } else if path.starts_with("/api/v1/tokens") || path.starts_with("/tokens") {
        ids["token"]
    } else {
        ids["grant"]
    };
    let filled = path
        .replace("{id}", &id.to_string())
        .replace("{user}", "firm-b-user")
        .replace("{username}", "firm-b-user")
        .replace("{version}", "0.2.0")
        .replace("{key}", "tenant")
        .replace(
            "{plugin}",
            if path.contains("ingest") {
                "example"
            } else {
                "ramp"
            },
        )
        .replace(
            "{name}",
            if path.contains("connections") {
                "firm-b"
            } else if path.contains("secrets") {
                "api_key"
            } else {
                "ramp"
            },
        );
    match filled.as_str() {
        "/api/v1/jobs" | "/jobs" => format!("{filled}?connection={}", b.connection_id),
        "/api/v1/ingest/example" | "/api/v1/ingest/example/batch" => {
            format!("{filled}?kind=customer&connection=firm-b")
        }
        _ => filled,
    }
}

/// A well-formed body for each writing route, so no request is turned away by a parser
/// before the fence is what decides.
fn api_body(method: &str, path: &str) -> Option<(&'static str, String)> {
    let j = |s: &str| Some(("application/json", s.to_string()));
    match (method, path) {
        ("post", "/api/v1/tokens") => j(r#"{"name":"evil","scope":"admin"}"#),
        ("post", "/api/v1/grants") => {
            j(r#"{"to":"evil","scope":"operator","expires_in":"1h","reason":"r"}"#)
        }
        ("put", p) if p.starts_with("/api/v1/secrets/") => j(r#"{"value":"stolen"}"#),
        ("put", "/api/v1/plugins/{name}/config/{key}") => {
            j(r#"{"value":"stolen","connection":"firm-b"}"#)
        }
        ("post", "/api/v1/plugins") => Some(("application/wasm", "\0asm".into())),
        ("post", "/api/v1/connections") => j(r#"{"name":"evil"}"#),
        ("post", "/api/v1/connections/{name}/users") => j(r#"{"username":"evil"}"#),
        ("post", "/api/v1/schedules") => {
            j(r#"{"connection":"firm-b","plugin":"ramp","cron":"* * * * *"}"#)
        }
        ("post", "/api/v1/ingest/{plugin}" | "/api/v1/ingest/{plugin}/batch") => {
            j(r#"{"id": 9, "name": "Customer firm-b", "email": "x@example.com"}"#)
        }
        ("post", "/api/v1/alerts/webhooks") => j(r#"{"url":"https://evil.example/hook"}"#),
        ("get" | "delete", _) => None,
        _ => Some(("application/json", String::new())),
    }
}

fn ui_form(path: &str) -> String {
    match path {
        "/support" => "to=evil&scope=operator&expires_in=1h&reason=r".into(),
        "/tokens" => "name=evil&scope=admin".into(),
        "/secrets" => "plugin=ramp&name=api_key&value=stolen".into(),
        "/plugins/{name}/config" => "key=tenant&connection=firm-b&value=stolen".into(),
        "/alerts" => "url=https%3A%2F%2Fevil.example%2Fhook&connection=&job_failed=on&secret=".into(),
        "/alerts/email" => "smtp_url=smtp%3A%2F%2F127.0.0.1%3A25&from=a%40evil.example&to=b%40evil.example&connection=&job_failed=on".into(),
        "/schedules" => "connection=firm-b&plugin=ramp&cron=*%2F5+*+*+*+*&timezone=UTC&cursor=".into(),
        "/secrets/grant" => "plugin=ramp&name=g&token_url=https%3A%2F%2Fapi.ramp.com%2Ft&client_id=a&client_secret=b&scope=".into(),
        _ => String::new(),
    }
}

#[test]
fn a_token_fenced_to_connection_a_can_neither_read_nor_change_b_on_any_route() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (a, b, fenced, root, ids, before) = {
        let store = Store::open(&data, crate::support::store_options(&data)).unwrap();
        let a = tenant(&store, "firm-a");
        let b = tenant(&store, "firm-b");
        // The strongest fenced token there is: scope admin, limited to A.
        let fence = Fence {
            connection_id: Some(a.connection_id),
            plugin: None,
        };
        let (_, fenced) = store
            .create_fenced_token(false, Scope::Admin, "firm-a", None, None, &fence, "test")
            .unwrap();
        let (token_id, root) = store
            .create_token(false, Scope::Admin, "root", None, None, "test")
            .unwrap();
        let (grant_id, _) = store
            .create_token(
                true,
                Scope::Read,
                "Jane",
                Some("T-1"),
                Some(4_000_000_000_000),
                "test",
            )
            .unwrap();
        let ids = BTreeMap::from([("token", token_id), ("grant", grant_id)]);
        let before = snapshot(&store, &b);
        (a, b, fenced, root, ids, before)
    };
    let mut server = Server::start_in(tmp.path(), &data, &[]);

    // The fence is a fence, not a wall: A's own data is there for A's token.
    let (s, body) = api(&server, &fenced, "get", "/api/v1/jobs", None);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("firm-a-job") && !leaks_b(&body, &b), "{body}");
    let (s, body) = api(
        &server,
        &fenced,
        "post",
        &format!("/api/v1/jobs/{}/retry", a.job),
        None,
    );
    assert_eq!(s, 200, "A's token retries A's job: {body}");

    let (s, doc) = api(&server, &root, "get", "/api/v1/openapi.json", None);
    assert_eq!(s, 200);
    let doc = json(&doc);
    let mut routes: Vec<(String, String, bool)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((method.clone(), path.clone(), false));
        }
    }
    assert!(
        routes.len() > 25,
        "the API documents {} routes",
        routes.len()
    );
    routes.extend(
        UI_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string(), true)),
    );

    // The UI is reached with a signed-in session of the same token.
    let cookie = {
        let req = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}/login", server.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Origin", server.base.as_str())
            .body(format!("token={fenced}&next=%2F"))
            .unwrap();
        let resp = agent().run(req).unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        let c = resp.headers()["set-cookie"].to_str().unwrap();
        c.split(';').next().unwrap().to_string()
    };

    let mut failures = Vec::new();
    for (method, template, ui) in &routes {
        let path = fill(template, &b, &ids);
        let (status, body) = if *ui {
            let mut headers = vec![("Cookie", cookie.as_str())];
            let form = ui_form(template);
            if method == "post" {
                headers.push(("Origin", server.base.as_str()));
                headers.push(("Content-Type", "application/x-www-form-urlencoded"));
            }
            call(
                &server,
                method,
                &path,
                &headers,
                (method == "post").then_some(form.as_str()),
            )
        } else {
            let auth = format!("Bearer {fenced}");
            let mut headers = vec![("Authorization", auth.as_str())];
            let body = api_body(method, template);
            if let Some((ct, _)) = &body {
                headers.push(("Content-Type", ct));
            }
            call(
                &server,
                method,
                &path,
                &headers,
                body.as_ref().map(|(_, b)| b.as_str()),
            )
        };
        // Refused (403: not a tenant's route; 404: B's object does not exist for A), or
        // answered with nothing of B's in it. A read is only allowed with GET.
        let ok = match status {
            403 | 404 => true,
            200 if method == "get" => !leaks_b(&body, &b),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{method} {path} -> {status}: {}",
                body.chars().take(300).collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "routes that let A's token at B:\n{}",
        failures.join("\n")
    );

    server.terminate();
    let store = Store::open(&data, crate::support::store_options(&data)).unwrap();
    assert_eq!(snapshot(&store, &b), before, "B's data is unchanged");
}

#[test]
fn an_ingest_token_fenced_to_one_firm_and_plugin_feeds_only_that_company_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let token = {
        let store = Store::open(&data, crate::support::store_options(&data)).unwrap();
        let a = accounts::add_connection(&store, "firm-a", "", "test").unwrap();
        accounts::add_connection(&store, "firm-b", "", "test").unwrap();
        let fence = Fence {
            connection_id: Some(a.id),
            plugin: Some("example".into()),
        };
        store
            .create_fenced_token(
                false,
                Scope::Ingest,
                "firm-a webhook",
                None,
                None,
                &fence,
                "t",
            )
            .unwrap()
            .1
    };
    let server = Server::start_in(tmp.path(), &data, &[]);
    let push = |id: u32, query: &str, plugin: &str| {
        let record =
            format!(r#"{{"id": {id}, "name": "Customer {id:04}", "email": "c{id}@example.com"}}"#);
        api(
            &server,
            &token,
            "post",
            &format!("/api/v1/ingest/{plugin}?kind=customer{query}"),
            Some(&record),
        )
    };
    // Without `?connection=` the token feeds its own firm (two connections exist).
    let (s, body) = push(1, "", "example");
    assert_eq!(s, 202, "{body}");
    assert_eq!(push(2, "&connection=firm-a", "example").0, 202);
    assert_eq!(push(3, "&connection=firm-b", "example").0, 404);
    assert_eq!(push(4, "&connection=firm-a", "ramp").0, 404);
    // The batch route keeps the same fence.
    let batch = |query: &str, plugin: &str| {
        let lines = r#"{"id": 5, "name": "Customer 0005", "email": "c5@example.com"}"#;
        let path = format!("/api/v1/ingest/{plugin}/batch?kind=customer{query}");
        api(&server, &token, "post", &path, Some(lines)).0
    };
    assert_eq!(batch("", "example"), 202);
    assert_eq!(batch("&connection=firm-b", "example"), 404);
    assert_eq!(batch("&connection=firm-a", "ramp"), 404);
    assert_eq!(api(&server, &token, "get", "/api/v1/jobs", None).0, 403);
}

#[test]
fn fenced_tokens_are_made_with_the_cli_the_api_and_the_tokens_page() {
    use crate::support::{run, stderr};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dd = data.to_str().unwrap();
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", dd]);
        run(tmp.path(), &all)
    };
    assert!(cli(&["connection", "add", "firm-a"]).status.success());
    let out = cli(&[
        "token",
        "create",
        "--scope",
        "ingest",
        "--name",
        "webhook",
        "--connection",
        "firm-a",
        "--plugin",
        "example",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = String::from_utf8_lossy(&cli(&["token", "list"]).stdout).into_owned();
    assert!(
        listed.contains("only connection 1, plugin example"),
        "{listed}"
    );
    let out = cli(&["token", "create", "--connection", "nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("\"nope\""), "{}", stderr(&out));

    let out = cli(&["token", "create", "--scope", "admin", "--name", "root"]);
    let admin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let server = Server::start_in(tmp.path(), &data, &[]);
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/tokens",
        Some(r#"{"name":"firm-a reader","scope":"read","connection":"firm-a"}"#),
    );
    assert_eq!(s, 201, "{body}");
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/tokens",
        Some(r#"{"name":"x","scope":"read","connection":"nope"}"#),
    );
    assert_eq!(
        s, 400,
        "an unknown connection is refused, not a token fenced to nothing: {body}"
    );
    let (_, body) = api(&server, &admin, "get", "/api/v1/tokens", None);
    let tokens = json(&body);
    let fenced = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "firm-a reader")
        .unwrap();
    assert_eq!(fenced["fence"]["connection_id"], 1, "{body}");
    assert!(fenced["fence"]["plugin"].is_null(), "{body}");

    // The Tokens page's form takes the same two fields.
    let req = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("{}/login", server.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", server.base.as_str())
        .body(format!("token={admin}&next=%2Ftokens"))
        .unwrap();
    let resp = agent().run(req).unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let (s, page) = call(
        &server,
        "post",
        "/tokens",
        &[
            ("Cookie", &cookie),
            ("Origin", &server.base),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some("name=ui-fenced&scope=read&connection=firm-a&plugin=example"),
    );
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("connection 1, plugin example"),
        "the page lists the fence"
    );
}
