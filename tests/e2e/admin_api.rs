//! The admin JSON API: scopes, support grants, write-only secrets, 401 by default, and an
//! OpenAPI document that matches what the server serves.

use std::path::Path;

use qbridge::store::Store;
use qbridge::store::queue::{
    AnswerTo, Answered, Answering, BatchLimits, Claim, JobResult, NewJob, NewRecord, Origin,
};
use qbridge::store::tokens::Scope;

use crate::support::{Server, run};

/// Every route the admin API serves, as `(method, path)` in OpenAPI spelling.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/whoami"),
    ("get", "/metrics"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/grants"),
    ("post", "/api/v1/grants"),
    ("delete", "/api/v1/grants"),
    ("delete", "/api/v1/grants/{id}"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/audit/export"),
    ("get", "/api/v1/audit/verify"),
    ("get", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/retry"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("get", "/api/v1/queue"),
    ("get", "/api/v1/secrets"),
    ("put", "/api/v1/secrets/{plugin}/{name}"),
    ("delete", "/api/v1/secrets/{plugin}/{name}"),
    ("get", "/api/v1/plugins"),
    ("post", "/api/v1/plugins"),
    ("delete", "/api/v1/plugins/{name}"),
    ("get", "/api/v1/plugins/{name}/config"),
    ("put", "/api/v1/plugins/{name}/config/{key}"),
    ("delete", "/api/v1/plugins/{name}/config/{key}"),
    ("post", "/api/v1/plugins/{name}/rollback"),
    ("post", "/api/v1/plugins/{name}/versions/{version}/approve"),
    ("get", "/qwc/{user}"),
    ("get", "/api/v1/connections"),
    ("post", "/api/v1/connections"),
    ("post", "/api/v1/connections/{name}/users"),
    ("post", "/api/v1/users/{username}/rotate-password"),
    ("post", "/api/v1/users/{username}/disable"),
    ("get", "/api/v1/schedules"),
    ("post", "/api/v1/schedules"),
    ("delete", "/api/v1/schedules/{id}"),
    ("post", "/api/v1/schedules/{id}/run"),
    ("post", "/api/v1/ingest/{plugin}"),
    ("post", "/api/v1/ingest/{plugin}/batch"),
    ("get", "/api/v1/rejected"),
    ("post", "/api/v1/rejected/{id}/retry"),
    ("get", "/api/v1/alerts/webhooks"),
    ("post", "/api/v1/alerts/webhooks"),
    ("delete", "/api/v1/alerts/webhooks/{id}"),
    ("post", "/api/v1/alerts/webhooks/{id}/test"),
    ("get", "/api/v1/alerts/events"),
];

/// The web UI's pages (each answers 401 with the sign-in form when not signed in).
const PAGES: &[&str] = &[
    "/",
    "/jobs",
    "/rejected",
    "/jobs/1",
    "/support",
    "/audit",
    "/audit/verify",
    "/tokens",
    "/secrets",
    "/connections",
    "/plugins",
    "/alerts",
];

/// Seeds, before the server starts, one connection with a completed customer and a failed
/// invoice (QuickBooks error 3140 with advice). Returns the failed job's id.
pub(crate) fn seed_failed_job(data_dir: &Path) -> i64 {
    let store = Store::open(data_dir, crate::support::store_options(data_dir)).unwrap();
    let job = |key: &str, kind: &str| NewJob {
        key: key.into(),
        depends_on: vec![],
        request_type: kind.into(),
        qbxml: format!("<{kind}Rq requestID=\"{key}\"><{kind}>…</{kind}></{kind}Rq>"),
        probe: None,
        adopt_existing: false,
        notes: vec![],
        versioning: Default::default(),
    };
    store
        .enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: 1,
            plugin: "demo",
            kind: "invoice",
            source_id: Some("INV-1001"),
            payload: "{}",
            jobs: &[
                job("customer:42", "CustomerAdd"),
                job("invoice:1001", "InvoiceAdd"),
            ],
        })
        .unwrap();
    let limits = BatchLimits {
        max_requests: 10,
        max_bytes: 1 << 20,
    };
    let Some(Claim::Send {
        message_set_id,
        jobs,
    }) = store.claim(1, 1, limits).unwrap()
    else {
        panic!("expected the seeded jobs to be claimable");
    };
    let id_of = |needle: &str| {
        jobs.iter()
            .find(|j| j.qbxml.contains(needle))
            .unwrap()
            .job_id
    };
    let (customer, invoice) = (id_of("customer:42"), id_of("invoice:1001"));
    let request_id = |id: i64| {
        jobs.iter()
            .find(|j| j.job_id == id)
            .unwrap()
            .request_id
            .clone()
    };
    let to = AnswerTo {
        connection_id: 1,
        session_id: 1,
        set: Answering::Sent(message_set_id.as_deref()),
    };
    store
        .record_results(
            &to,
            &[
                Answered {
                    request_id: request_id(customer),
                    job_id: customer,
                    result:
                    JobResult::Completed {
                        object_id: Some("80000001-1".into()),
                        edit_sequence: Some("1".into()),
                        follow_ups: vec![],
                        acknowledge: false,
                        retry_on_response: false,
                    },
                    response: None,
                },
                Answered {
                    request_id: request_id(invoice),
                    job_id: invoice,
                    result: JobResult::Discard {
                        code: 3140,
                        message: "There is an invalid reference to QuickBooks Account \"Sales\" in the Invoice.".into(),
                        advice: "The income account \"Sales\" does not exist in this company file: create it in QuickBooks (Lists > Chart of Accounts) or fix the plugin's account mapping, then retry.".into(),
                    },
                    response: Some("<InvoiceAddRs statusCode=\"3140\" statusSeverity=\"Error\"/>".into()),
                },
            ],
        )
        .unwrap();
    invoice
}

/// The bootstrap admin token the server wrote to its data dir on first start.
pub(crate) fn bootstrap_token(server: &Server) -> String {
    written_bootstrap_token(&server.data_dir).expect("bootstrap token written on first start")
}

/// The token in `<data_dir>/bootstrap-admin-token`, if the server made one.
pub(crate) fn written_bootstrap_token(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join(qbridge::admin::bootstrap::BOOTSTRAP_TOKEN_FILE))
        .ok()
        .map(|t| t.trim().to_string())
}

/// An agent that neither follows redirects nor treats 4xx/5xx as errors.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into()
}

/// One request; returns `(status, body)`.
pub(crate) fn call(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let mut req = ureq::http::Request::builder()
        .method(method.to_uppercase().as_str())
        .uri(format!("{}{path}", server.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if body.is_some()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req = req.header("Content-Type", "application/json");
    }
    let mut resp = match body {
        Some(b) => agent().run(req.body(b.to_string()).unwrap()),
        None => agent().run(req.body(()).unwrap()),
    }
    .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

/// A request with a bearer token.
pub(crate) fn api(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    call(
        server,
        method,
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        body,
    )
}

pub(crate) fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Creates a token through the API and returns its secret.
pub(crate) fn new_token(server: &Server, admin: &str, scope: &str) -> String {
    let (s, body) = api(
        server,
        admin,
        "post",
        "/api/v1/tokens",
        Some(&format!(r#"{{"name":"{scope} test","scope":"{scope}"}}"#)),
    );
    assert_eq!(s, 201, "{body}");
    json(&body)["token"].as_str().unwrap().to_string()
}

#[test]
fn expired_or_revoked_grant_is_refused_on_its_next_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let expired = {
        let store = Store::open(&data, crate::support::store_options(&data)).unwrap();
        let now = qbridge_now();
        store
            .create_token(
                true,
                Scope::Read,
                "Old Support",
                Some("T-1"),
                Some(now - 1),
                "test",
            )
            .unwrap()
            .1
    };
    let mut server = Server::start_in(tmp.path(), &data, &[]);
    let (s, body) = api(&server, &expired, "get", "/api/v1/jobs", None);
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("expired"), "{body}");

    let admin = admin_token_for(&mut server, tmp.path(), &data);
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/grants",
        Some(
            r#"{"to":"Jane (Acme support)","scope":"read","expires_in":"2h","reason":"ticket 4411"}"#,
        ),
    );
    assert_eq!(s, 201, "{body}");
    let created = json(&body);
    let grant = created["token"].as_str().unwrap().to_string();
    assert!(grant.starts_with("qbs_"));
    assert_eq!(api(&server, &grant, "get", "/api/v1/jobs", None).0, 200);
    let (s, body) = api(&server, &admin, "get", "/api/v1/grants", None);
    assert_eq!(s, 200);
    let listed = json(&body);
    let live = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == created["id"])
        .unwrap();
    assert_eq!(live["active"], true);
    assert!(live["remaining_ms"].as_i64().unwrap() > 3_600_000);

    let (s, body) = api(
        &server,
        &admin,
        "delete",
        &format!("/api/v1/grants/{}", created["id"]),
        None,
    );
    assert_eq!(
        (s, json(&body)["revoked"].as_i64()),
        (200, Some(1)),
        "{body}"
    );
    let (s, body) = api(&server, &grant, "get", "/api/v1/jobs", None);
    assert_eq!(s, 401);
    assert!(body.contains("revoked"), "{body}");
}

/// Unix ms now, as the server computes it.
fn qbridge_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// An admin token for a data dir that already had tokens before the server started (so no
/// bootstrap token was printed): made with the CLI while the server is stopped.
fn admin_token_for(server: &mut Server, cwd: &Path, data: &Path) -> String {
    if let Some(t) = written_bootstrap_token(data) {
        return t;
    }
    server.terminate();
    let out = run(
        cwd,
        &[
            "token",
            "create",
            "--data-dir",
            data.to_str().unwrap(),
            "--name",
            "test admin",
        ],
    );
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    *server = Server::start_in(cwd, data, &[]);
    token
}

#[test]
fn grants_follow_the_cli_rules() {
    let server = Server::start();
    let admin = bootstrap_token(&server);
    for (body, expect) in [
        (
            r#"{"to":"x","scope":"read","expires_in":"100h","reason":"r"}"#,
            "at most 72h",
        ),
        (
            r#"{"to":"x","scope":"read","expires_in":"8h","reason":"  "}"#,
            "reason",
        ),
        (
            r#"{"to":"x","scope":"admin","expires_in":"8h","reason":"r"}"#,
            "invalid scope",
        ),
    ] {
        let (s, resp) = api(&server, &admin, "post", "/api/v1/grants", Some(body));
        assert_eq!(s, 400, "{body} -> {resp}");
        assert!(resp.contains(expect), "{resp}");
    }
}

#[test]
fn read_only_token_cannot_retry_jobs_while_an_operator_can() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let failed = seed_failed_job(&data);
    let server = Server::start_in(tmp.path(), &data, &[]);
    let admin = bootstrap_token(&server);
    let reader = new_token(&server, &admin, "read");
    let operator = new_token(&server, &admin, "operator");

    let (s, body) = api(
        &server,
        &reader,
        "get",
        &format!("/api/v1/jobs/{failed}"),
        None,
    );
    assert_eq!(s, 200, "{body}");
    let job = json(&body);
    assert_eq!(job["state"], "discarded");
    assert!(
        job["advice"]
            .as_str()
            .unwrap()
            .contains("Chart of Accounts")
    );
    assert!(job["response"].as_str().unwrap().contains("3140"));

    let (s, body) = api(
        &server,
        &reader,
        "get",
        "/api/v1/jobs?state=discarded&connection=1",
        None,
    );
    assert_eq!(
        (s, json(&body).as_array().unwrap().len()),
        (200, 1),
        "{body}"
    );
    let (s, body) = api(&server, &reader, "get", "/api/v1/queue", None);
    assert_eq!(s, 200);
    let queue = json(&body);
    assert_eq!(queue[0]["healthy"], false, "{body}");
    assert_eq!(queue[0]["counts"]["discarded"], 1, "{body}");

    let retry = format!("/api/v1/jobs/{failed}/retry");
    let (s, body) = api(&server, &reader, "post", &retry, None);
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("operator"), "{body}");
    let (s, body) = api(&server, &operator, "post", &retry, None);
    assert_eq!(s, 200, "{body}");
    assert_eq!(json(&body)["state"], "available");
    let (s, body) = api(&server, &admin, "get", "/api/v1/audit/export", None);
    assert_eq!(s, 200);
    assert!(
        body.lines().any(|l| l.contains("\"action\":\"job.retry\"") && l.contains(&format!("job:{failed}"))),
        "{body}"
    );
    let (_, body) = api(&server, &reader, "get", "/api/v1/audit/verify", None);
    assert_eq!(json(&body)["intact"], true, "{body}");
    // An ingest token (a source pushing records) sees neither jobs nor any page.
    let ingest = new_token(&server, &admin, "ingest");
    assert_eq!(api(&server, &ingest, "get", "/api/v1/jobs", None).0, 403);
    assert_eq!(api(&server, &ingest, "get", "/", None).0, 403);
    // A read token may not see or touch secrets or tokens either.
    assert_eq!(api(&server, &reader, "get", "/api/v1/secrets", None).0, 403);
    assert_eq!(
        api(
            &server,
            &operator,
            "post",
            "/api/v1/tokens",
            Some(r#"{"name":"x","scope":"admin"}"#)
        )
        .0,
        403
    );
}

#[test]
fn secrets_never_appear_in_any_response_or_log_line() {
    const VALUE: &str = "sk_live_NEVER-SHOW-ME-7f3a9";
    let mut server = {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let mut s = Server::start_in(tmp.path(), &data, &["--log-level", "debug"]);
        s._tmp = Some(tmp);
        s
    };
    let admin = bootstrap_token(&server);
    let path = "/api/v1/secrets/ramp/api_key";
    let (s, body) = api(
        &server,
        &admin,
        "put",
        path,
        Some(&format!(r#"{{"value":"{VALUE}"}}"#)),
    );
    assert_eq!(s, 204, "{body}");
    if crate::support::on_postgres() {
        // Everything the database holds about the secret, as text: the ciphertext only.
        let rows = crate::support::Db::open(&server.data_dir).rows(
            "SELECT plugin, name, encode(nonce, 'escape'), encode(ciphertext, 'escape'), set_by FROM secret",
        );
        assert!(!rows.is_empty(), "the secret is stored");
        assert!(
            !format!("{rows:?}").contains(VALUE),
            "the database holds it in clear"
        );
    }
    let mut seen = vec![body];
    let (s, body) = api(&server, &admin, "get", "/api/v1/secrets", None);
    assert_eq!(s, 200);
    let listed = json(&body);
    assert_eq!(listed[0]["plugin"], "ramp");
    assert_eq!(listed[0]["name"], "api_key");
    seen.push(body);
    for p in [
        "/api/v1/audit",
        "/api/v1/audit/export",
        "/api/v1/whoami",
        "/secrets",
        "/audit",
    ] {
        let (s, body) = api(&server, &admin, "get", p, None);
        assert_eq!(s, 200, "{p}: {body}");
        seen.push(body);
    }
    // Replacing and then deleting never echoes the value either.
    seen.push(
        api(
            &server,
            &admin,
            "put",
            path,
            Some(&format!(r#"{{"value":"{VALUE}-2"}}"#)),
        )
        .1,
    );
    seen.push(api(&server, &admin, "delete", path, None).1);
    assert_eq!(api(&server, &admin, "delete", path, None).0, 404);
    let bad = api(
        &server,
        &admin,
        "put",
        "/api/v1/secrets/ramp/bad%2Fname",
        Some(&format!(r#"{{"value":"{VALUE}"}}"#)),
    );
    assert_eq!(bad.0, 400, "{}", bad.1);
    seen.push(bad.1);
    server.terminate();
    seen.push(server.log_text());
    seen.push(server.stdout_text());
    for text in &seen {
        assert!(!text.contains(VALUE), "the secret leaked: {text}");
    }
    let key = server.data_dir.join("secrets.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().len(),
        32,
        "key file made on first use"
    );
    for f in ["qbridge.db", "qbridge.db-wal"] {
        let bytes = std::fs::read(server.data_dir.join(f)).unwrap_or_default();
        assert!(
            !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
            "{f} holds it in clear"
        );
    }
}

#[test]
fn secret_cli_reads_the_value_from_stdin_and_never_prints_it() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    let mut child = crate::support::qbridge(tmp.path())
        .args(["secret", "set", "ramp", "api_key", "--data-dir", dd])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin-secret\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let out = run(tmp.path(), &["secret", "list", "--data-dir", dd]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("ramp") && listed.contains("api_key"),
        "{listed}"
    );
    assert!(!listed.contains("from-stdin-secret"));
    let out = run(
        tmp.path(),
        &["secret", "delete", "ramp", "api_key", "--data-dir", dd],
    );
    assert!(out.status.success());
}

#[test]
fn unauthenticated_requests_get_401_except_healthz_login_and_static_assets() {
    let server = Server::start();
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{id}", "1")
            .replace("{plugin}", "ramp")
            .replace("{name}", "api_key")
            .replace("{key}", "tenant")
            .replace("{version}", "1.0.0")
            .replace("{user}", "nosuch")
            .replace("{username}", "nosuch");
        let body = matches!(*method, "post" | "put").then_some("{}");
        let (s, resp) = call(&server, method, &concrete, &[], body);
        assert_eq!(s, 401, "{method} {concrete}: {resp}");
    }
    for page in PAGES {
        let (s, resp) = call(&server, "get", page, &[], None);
        assert_eq!(s, 401, "{page}");
        assert!(
            resp.contains("Sign in to qbridge"),
            "{page} shows the sign-in form"
        );
    }
    let (s, _) = call(&server, "post", "/jobs/1/retry", &[], None);
    assert_eq!(s, 401);
    for public in ["/healthz", "/login", "/static/app.css", "/static/app.js"] {
        assert_eq!(call(&server, "get", public, &[], None).0, 200, "{public}");
    }
}

#[test]
fn cookie_sessions_refuse_cross_site_posts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let failed = seed_failed_job(&data);
    let server = Server::start_in(tmp.path(), &data, &[]);
    let admin = bootstrap_token(&server);
    let host = server.base.trim_start_matches("http://").to_string();
    let own = server.base.clone();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];

    let login = format!("token={admin}&next=%2Fjobs");
    let (s, _) = call(
        &server,
        "post",
        "/login",
        &[form[0], ("Origin", "https://evil.example")],
        Some(&login),
    );
    assert_eq!(s, 403, "a login posted from another site is refused");
    // Sign in from our own page: a session cookie and a redirect to the page asked for.
    let req = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("{own}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", own.as_str())
        .body(login)
        .unwrap();
    let resp = agent().run(req).unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/jobs");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();

    let (s, page) = call(&server, "get", "/jobs", &[("Cookie", &session)], None);
    assert_eq!(s, 200);
    assert!(
        page.contains("Chart of Accounts"),
        "the failed job's advice is shown"
    );

    let retry = format!("/jobs/{failed}/retry");
    for origin in [
        None,
        Some("https://evil.example"),
        Some("http://127.0.0.1.evil.example"),
    ] {
        let mut h = vec![("Cookie", session.as_str()), form[0]];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        let (s, body) = call(&server, "post", &retry, &h, Some(""));
        assert_eq!(s, 403, "origin {origin:?}: {body}");
    }
    let (s, _) = call(
        &server,
        "post",
        &retry,
        &[
            ("Cookie", &session),
            ("Referer", &format!("http://{host}/jobs")),
        ],
        Some(""),
    );
    assert_eq!(s, 303, "a post from our own page is accepted");
    let (_, body) = api(
        &server,
        &admin,
        "get",
        &format!("/api/v1/jobs/{failed}"),
        None,
    );
    assert_eq!(json(&body)["state"], "available");
}

#[test]
fn openapi_parses_and_lists_every_route_served() {
    let server = Server::start();
    let admin = bootstrap_token(&server);
    let (s, body) = api(&server, &admin, "get", "/api/v1/openapi.json", None);
    assert_eq!(s, 200);
    let doc = json(&body);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is served but not documented"
        );
    }
    // ...and nothing is documented that is not served.
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "the document lists routes the server does not serve"
    );
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "999999")
                .replace("{plugin}", "nosuch")
                .replace("{name}", "nosuch")
                .replace("{key}", "tenant")
                .replace("{version}", "1.0.0")
                .replace("{user}", "nosuch")
                .replace("{username}", "nosuch");
            let (_, resp) = api(&server, &admin, method, &concrete, Some("{}"));
            assert!(!resp.contains("no such route"), "{method} {path}: {resp}");
        }
    }
}

#[test]
fn connections_users_and_schedules_are_managed_over_the_api_with_passwords_shown_once() {
    use qbridge::sim::company::Company;
    use qbridge::sim::webconnector::{Outcome, WcOptions, WebConnector};

    let server = Server::start();
    let admin = bootstrap_token(&server);
    let reader = new_token(&server, &admin, "read");
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/connections",
        Some(r#"{"name":"acme"}"#),
    );
    assert_eq!(s, 201, "{body}");
    let (s, _) = api(
        &server,
        &reader,
        "post",
        "/api/v1/connections",
        Some(r#"{"name":"x"}"#),
    );
    assert_eq!(s, 403, "read scope cannot add connections");
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/connections",
        Some(r#"{"name":"bad/name"}"#),
    );
    assert_eq!(s, 400, "{body}");
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/connections/acme/users",
        Some(r#"{"username":"acme-sync"}"#),
    );
    assert_eq!(s, 201, "{body}");
    let password = json(&body)["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 20);

    // The listing never shows a password or its hash.
    let (s, body) = api(&server, &reader, "get", "/api/v1/connections", None);
    assert_eq!(s, 200);
    assert!(
        body.contains("acme-sync") && !body.contains(&password) && !body.contains("argon2"),
        "{body}"
    );

    // The password works with the Web Connector; after a rotation only the new one does.
    let url = format!("{}/qbwc", server.base);
    let session = |pw: &str| {
        let mut wc = WebConnector::new(&url, "acme-sync", pw, WcOptions::default());
        wc.run_session(&mut Company::new(r"C:\acme.qbw"))
            .unwrap()
            .outcome
    };
    assert_eq!(session(&password), Some(Outcome::NoWork));
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/users/acme-sync/rotate-password",
        None,
    );
    assert_eq!(s, 200, "{body}");
    let rotated = json(&body)["password"].as_str().unwrap().to_string();
    assert_eq!(session(&password), Some(Outcome::InvalidUser));
    assert_eq!(session(&rotated), Some(Outcome::NoWork));
    let (s, _) = api(
        &server,
        &admin,
        "post",
        "/api/v1/users/acme-sync/disable",
        None,
    );
    assert_eq!(s, 204);
    assert_eq!(session(&rotated), Some(Outcome::InvalidUser));

    // Schedules: checked cron, a plugin that can pull, removable; all audited as the token.
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/schedules",
        Some(r#"{"connection":"acme","plugin":"ramp","cron":"0 */5 * * * *"}"#),
    );
    assert_eq!(s, 400, "6 fields refused: {body}");
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/schedules",
        Some(r#"{"connection":"acme","plugin":"example","cron":"*/15 * * * *"}"#),
    );
    assert_eq!(s, 400, "example cannot pull: {body}");
    let (s, body) = api(
        &server,
        &admin,
        "post",
        "/api/v1/schedules",
        Some(
            r#"{"connection":"acme","plugin":"ramp","cron":"*/15 * * * *","timezone":"America/New_York"}"#,
        ),
    );
    assert_eq!(s, 201, "{body}");
    let id = json(&body)["id"].as_i64().unwrap();
    let (_, body) = api(&server, &reader, "get", "/api/v1/schedules", None);
    assert!(body.contains("America/New_York"), "{body}");
    let (s, _) = api(
        &server,
        &admin,
        "delete",
        &format!("/api/v1/schedules/{id}"),
        None,
    );
    assert_eq!(s, 204);
    let (_, body) = api(&server, &admin, "get", "/api/v1/audit", None);
    for action in [
        "connection.add",
        "qbwc_user.add",
        "qbwc_user.rotate_password",
        "qbwc_user.disable",
        "schedule.set",
        "schedule.remove",
    ] {
        assert!(body.contains(action), "{action} audited: {body}");
    }
    assert!(
        !body.contains("\"actor\":\"cli\""),
        "API changes are audited as the token, not the CLI"
    );
}

#[test]
fn behind_a_trusted_proxy_the_audit_names_the_forwarded_client_and_not_otherwise() {
    let audited_ip = |trusted: &[(&str, &str)]| -> serde_json::Value {
        let d = crate::pipeline::Deployment::new();
        let admin = d
            .cli(&["token", "create", "--scope", "admin", "--name", "proxy"])
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string();
        let server = Server::start_with_env(d.tmp.path(), &d.data_dir, &[], trusted);
        let auth = format!("Bearer {admin}");
        let headers = [
            ("Authorization", auth.as_str()),
            // The client may write anything on the left; the proxy appends what it saw.
            ("X-Forwarded-For", "198.51.100.1, 203.0.113.9"),
        ];
        let (s, text) = call(&server, "get", "/qwc/qbridge-sync", &headers, None);
        assert_eq!(s, 200, "{text}");
        let (_, audit) = api(&server, &admin, "get", "/api/v1/audit", None);
        let rows = json(&audit);
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "qwc.download")
            .cloned()
            .unwrap_or_else(|| panic!("{audit}"));
        row["ip"].clone()
    };
    assert_eq!(
        audited_ip(&[("QBRIDGE_SERVER_TRUSTED_PROXIES", "127.0.0.1")]),
        "203.0.113.9"
    );
    assert_eq!(audited_ip(&[]), "127.0.0.1");
}

#[test]
fn the_jobs_page_names_connections_and_filters_by_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dd = data.to_str().unwrap();
    let out = run(
        tmp.path(),
        &["connection", "add", "Acme Sons-West", "--data-dir", dd],
    );
    assert!(out.status.success(), "{out:?}");
    let failed = seed_failed_job(&data);
    let server = Server::start_in(tmp.path(), &data, &[]);
    let admin = bootstrap_token(&server);

    let (s, page) = api(&server, &admin, "get", "/jobs", None);
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("<a href=\"/connections/1\">Acme Sons-West</a>"),
        "rows name the connection: {page}"
    );
    assert!(
        page.contains("<option value=\"1\">Acme Sons-West</option>"),
        "the filter offers connections by name: {page}"
    );
    let (_, filtered) = api(&server, &admin, "get", "/jobs?connection=1", None);
    assert!(
        filtered.contains(&format!("href=\"/jobs/{failed}\""))
            && filtered.contains("<option value=\"1\" selected>"),
        "{filtered}"
    );
    let (_, other) = api(&server, &admin, "get", "/jobs?connection=2", None);
    assert!(other.contains("No jobs match."), "{other}");
    let (_, detail) = api(&server, &admin, "get", &format!("/jobs/{failed}"), None);
    assert!(detail.contains("Acme Sons-West"), "{detail}");
}
