//! Plugins reaching their sources through the engine's real host HTTP: `source_endpoints` sends
//! listed source hosts to a local fake (and only those), plain secrets arrive as headers, and
//! OAuth2 client-credentials secrets become access tokens the host fetches, renews before they
//! lapse and renews once more when the source answers 401 — all through `qbridge serve` and the
//! bundled plugins' real `pull`, triggered by a pull schedule.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::admin_api::bootstrap_token;
use crate::fake_source::{FakeSource, Recorded, Reply};
use crate::source_sync::{pull_now, result_of};
use crate::support::{Server, agent, qbridge, run_with_stdin, stderr};

const CLIENT_SECRET: &str = "ramp-client-SECRET-9x";

/// A data dir with connection `acme`, prepared through the CLI before the server starts (the
/// CLI and a running server cannot share a data dir).
struct Setup {
    tmp: tempfile::TempDir,
    data_dir: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let s = Setup { tmp, data_dir };
        s.cli(&["connection", "add", "acme"], "");
        s
    }

    /// Runs a CLI command with `stdin`; panics unless it succeeds; returns stdout.
    fn cli(&self, args: &[&str], stdin: &str) -> String {
        run_with_stdin(self.tmp.path(), &self.data_dir, args, stdin)
    }

    /// A pull schedule for `plugin` that never fires by itself (the tests pull now).
    fn schedule(&self, plugin: &str) {
        self.cli(
            &[
                "schedule",
                "add",
                "--connection",
                "acme",
                "--plugin",
                plugin,
                "--cron",
                "0 0 1 1 *",
            ],
            "",
        );
    }

    /// `qbridge serve` with `source_endpoints`, a scheduler that looks every second, and
    /// plugin calls allowed to wait for the fake's deliberately slow answers.
    fn serve(&self, endpoints: &str) -> Server {
        Server::start_with_env(
            self.tmp.path(),
            &self.data_dir,
            &[],
            &[
                ("QBRIDGE_SOURCE_ENDPOINTS", endpoints),
                ("QBRIDGE_PIPELINE_SCHEDULE_CHECK_SECS", "1"),
                ("QBRIDGE_PLUGINS_CALL_TIMEOUT_MS", "20000"),
            ],
        )
    }
}

/// One Ramp list page holding one record the plugin cannot map (rejected at ingest), so the
/// scheduled run goes on to the next resource within the same run.
fn ramp_page() -> Reply {
    Reply::json(
        200,
        json!({"data": [{"id": "not-a-real-record"}], "page": {"next": null}}),
    )
}

#[test]
fn ramp_pulls_with_host_fetched_tokens_renewed_when_stale_and_once_after_a_401() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let bills = Arc::new(AtomicUsize::new(0));
    let (t, b) = (tokens.clone(), bills.clone());
    let fake = FakeSource::start(move |req: &Recorded| match req.path() {
        "/developer/v1/token" => {
            let n = t.fetch_add(1, Ordering::SeqCst) + 1;
            // The first token lives one second (the host uses it for half of that); later
            // ones an hour.
            let expires_in = if n == 1 { 1 } else { 3600 };
            Reply::json(
                200,
                json!({"access_token": format!("tok-{n}"), "expires_in": expires_in, "token_type": "Bearer"}),
            )
        }
        // Answered after the first token went stale.
        "/developer/v1/transactions" => ramp_page().after(Duration::from_millis(1200)),
        "/developer/v1/bills" if b.fetch_add(1, Ordering::SeqCst) == 0 => {
            Reply::json(401, json!({"error": "invalid_token"}))
        }
        "/developer/v1/bills" | "/developer/v1/reimbursements" => ramp_page(),
        _ => Reply::json(404, json!({"error": "not_found"})),
    });
    let setup = Setup::new();
    let out = setup.cli(
        &[
            "secret",
            "set",
            "ramp",
            "ramp.access_token",
            "--oauth2-token-url",
            "https://api.ramp.com/developer/v1/token",
            "--oauth2-client-id",
            "ramp-client",
            "--oauth2-scope",
            "transactions:read bills:read",
        ],
        &format!("{CLIENT_SECRET}\n"),
    );
    assert!(out.contains("OAuth2 client-credentials grant"), "{out}");
    assert!(!out.contains(CLIENT_SECRET));
    setup.schedule("ramp");
    let mut server = setup.serve(&format!("api.ramp.com={}", fake.base_addr()));
    let admin = bootstrap_token(&server);
    let runs = pull_now(&server, &admin);
    assert_eq!(
        result_of(&runs, "ramp"),
        "1 records queued, 3 rejected, 3 page(s)",
        "the day's QuickBooks lists refresh, then three records Ramp sent in a shape the plugin refuses"
    );

    let seen: Vec<(String, String)> = fake
        .requests()
        .iter()
        .map(|r| {
            let auth = r.header("authorization").unwrap_or("").to_string();
            let auth = if auth.starts_with("Basic ") {
                "Basic".to_string()
            } else {
                auth
            };
            (format!("{} {}", r.method, r.path()), auth)
        })
        .collect();
    let expected = [
        ("POST /developer/v1/token", "Basic"),
        ("GET /developer/v1/transactions", "Bearer tok-1"),
        // tok-1 went stale while the transactions answer was on its way.
        ("POST /developer/v1/token", "Basic"),
        ("GET /developer/v1/bills", "Bearer tok-2"),
        // The 401: one new token, one retry.
        ("POST /developer/v1/token", "Basic"),
        ("GET /developer/v1/bills", "Bearer tok-3"),
        ("GET /developer/v1/reimbursements", "Bearer tok-3"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, expected);

    let requests = fake.requests();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("ramp-client:{CLIENT_SECRET}"));
    for r in requests
        .iter()
        .filter(|r| r.path() == "/developer/v1/token")
    {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            r.body_text(),
            "grant_type=client_credentials&scope=transactions%3Aread+bills%3Aread"
        );
    }
    for r in &requests {
        assert_eq!(r.header("host"), Some("api.ramp.com"), "{r:?}");
    }
    assert!(
        requests[1]
            .target
            .starts_with("/developer/v1/transactions?sync_ready=true"),
        "the query goes along: {}",
        requests[1].target
    );

    server.terminate();
    let log = server.log_text();
    assert!(
        log.contains("source_endpoints") && log.contains("never set in production"),
        "{log}"
    );
    assert!(
        !log.contains(CLIENT_SECRET) && !log.contains("tok-"),
        "{log}"
    );
}

#[test]
fn only_listed_hosts_are_redirected_and_plain_secrets_arrive_as_headers() {
    let fake = FakeSource::start(|req: &Recorded| match req.path() {
        p if p.starts_with("/atservicesrest/v1.0/") && p.ends_with("/query") => Reply::json(
            200,
            json!({"items": [], "pageDetails": {"count": 0, "nextPageUrl": null}}),
        ),
        _ => Reply::json(404, json!({"error": "not_found"})),
    });
    let setup = Setup::new();
    for (name, value) in [
        ("autotask.integration_code", "INTEGRATION-CODE-1"),
        ("autotask.username", "api-user@example.com"),
        ("autotask.secret", "AUTOTASK-SECRET-1"),
    ] {
        setup.cli(&["secret", "set", "autotask", name], value);
    }
    setup.cli(
        &["secret", "set", "ramp", "ramp.access_token"],
        "RAMP-PLAIN-TOKEN",
    );
    setup.schedule("autotask");
    setup.schedule("ramp");
    // Only Autotask's host is listed: Ramp's requests must go where they always go.
    let server = setup.serve(&format!("webservices.autotask.net={}", fake.base_addr()));
    let admin = bootstrap_token(&server);
    let runs = pull_now(&server, &admin);

    assert_eq!(
        result_of(&runs, "autotask"),
        "0 records queued, 0 rejected, 1 page(s)"
    );
    let ramp = result_of(&runs, "ramp");
    assert!(
        ramp.starts_with("pull failed") && ramp.contains("https://api.ramp.com/"),
        "{ramp}"
    );
    // One query per part of the cursor (new invoices, purchase orders submitted and
    // cancelled, expense reports), all Autotask's.
    let requests = fake.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path()).collect();
    assert_eq!(
        paths,
        [
            "/atservicesrest/v1.0/Invoices/query",
            "/atservicesrest/v1.0/PurchaseOrders/query",
            "/atservicesrest/v1.0/PurchaseOrders/query",
            "/atservicesrest/v1.0/ExpenseReports/query",
        ],
        "only Autotask reached the fake: {requests:?}"
    );
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("host"), Some("webservices.autotask.net"));
        assert_eq!(r.header("apiintegrationcode"), Some("INTEGRATION-CODE-1"));
        assert_eq!(r.header("username"), Some("api-user@example.com"));
        assert_eq!(r.header("secret"), Some("AUTOTASK-SECRET-1"));
    }
    let query: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(query["filter"][0]["field"], "id");
}

/// PUTs a secret body; returns (status, body).
fn put_secret(server: &Server, admin: &str, path: &str, body: &Value) -> (u16, String) {
    let mut resp = agent()
        .put(format!("{}{path}", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

fn get_text(server: &Server, admin: &str, path: &str) -> String {
    let mut resp = agent()
        .get(format!("{}{path}", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    resp.body_mut().read_to_string().unwrap()
}

#[test]
fn grants_are_set_over_the_api_validated_and_listed_without_secret_material() {
    let setup = Setup::new();
    let mut server = setup.serve("api.ramp.com=127.0.0.1:9");
    let admin = bootstrap_token(&server);
    let path = "/api/v1/secrets/ramp/ramp.access_token";
    let grant = |url: &str, secret: &str| {
        json!({"oauth2_client_credentials": {
            "token_url": url, "client_id": "ramp-client", "client_secret": secret,
            "scope": "transactions:read"}})
    };
    let mut seen = Vec::new();
    for (body, status, says) in [
        (
            grant("http://login.example.com/token", CLIENT_SECRET),
            400,
            "only accepted for hosts listed in source_endpoints",
        ),
        (
            grant("https://api.ramp.com/developer/v1/token", ""),
            400,
            "client secret must be 1 to",
        ),
        (
            json!({"value": CLIENT_SECRET, "oauth2_client_credentials": grant("https://a.b/t", CLIENT_SECRET)["oauth2_client_credentials"]}),
            400,
            "exactly one of `value`",
        ),
        // A listed host may use plain http (its fake is local anyway).
        (
            grant("http://api.ramp.com/developer/v1/token", CLIENT_SECRET),
            204,
            "",
        ),
        (
            grant("https://api.ramp.com/developer/v1/token", CLIENT_SECRET),
            204,
            "",
        ),
    ] {
        let (s, text) = put_secret(&server, &admin, path, &body);
        assert_eq!(s, status, "{body}: {text}");
        assert!(text.contains(says), "{text}");
        seen.push(text);
    }
    assert_eq!(
        put_secret(
            &server,
            &admin,
            "/api/v1/secrets/ramp/plain",
            &json!({"value": "v-1"})
        )
        .0,
        204
    );
    let listed: Value =
        serde_json::from_str(&get_text(&server, &admin, "/api/v1/secrets")).unwrap();
    assert_eq!(listed[0]["name"], "plain");
    assert_eq!(listed[0]["kind"], "value");
    assert_eq!(listed[1]["name"], "ramp.access_token");
    assert_eq!(listed[1]["kind"], "oauth2-client-credentials");
    assert_eq!(listed[1]["token_host"], "api.ramp.com");
    seen.push(listed.to_string());
    // The Secrets page sets grants too (same checks) and shows each secret's kind.
    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut resp = no_redirects
        .post(format!("{}/secrets/grant", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!(
            "plugin=ramp&name=ui.token&token_url=https%3A%2F%2Fapi.ramp.com%2Fdeveloper%2Fv1%2Ftoken&client_id=c&client_secret={CLIENT_SECRET}&scope="
        ))
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        303,
        "{}",
        resp.body_mut().read_to_string().unwrap()
    );
    let page = get_text(&server, &admin, "/secrets");
    assert!(
        page.contains(
            "<td>ui.token</td><td>every connection</td><td>OAuth2 grant (api.ramp.com)</td>"
        ) && page.contains("<td>plain</td><td>every connection</td><td>value</td>"),
        "{page}"
    );
    seen.push(page.clone());
    // A secret for one connection only: chosen by name on the page, listed under it, deleted
    // without touching the plugin-wide one.
    let option = page
        .split("<option value=\"")
        .skip(1)
        .find_map(|rest| rest.split_once("\">acme only</option>"))
        .map(|(id, _)| id.to_string())
        .expect("the secret form offers connection acme");
    let post_form = |path: &str, body: String| {
        no_redirects
            .post(format!("{}{path}", server.base))
            .header("Authorization", &format!("Bearer {admin}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        post_form(
            "/secrets",
            format!("plugin=ramp&name=plain&connection={option}&value=acme-only")
        ),
        303
    );
    assert_eq!(
        post_form(
            "/secrets",
            "plugin=ramp&name=plain&connection=999999&value=x".into()
        ),
        400,
        "a connection that does not exist is refused"
    );
    let page = get_text(&server, &admin, "/secrets");
    assert!(
        page.contains("<td>plain</td><td>acme</td><td>value</td>")
            && page.contains("<td>plain</td><td>every connection</td><td>value</td>"),
        "{page}"
    );
    assert_eq!(
        post_form(
            &format!("/secrets/ramp/plain/delete?connection={option}"),
            String::new()
        ),
        303
    );
    let page = get_text(&server, &admin, "/secrets");
    assert!(
        !page.contains("<td>plain</td><td>acme</td>")
            && page.contains("<td>plain</td><td>every connection</td><td>value</td>"),
        "only acme's own secret is deleted: {page}"
    );
    seen.push(page);
    seen.push(get_text(&server, &admin, "/api/v1/audit"));
    server.terminate();
    seen.push(server.log_text());
    for text in &seen {
        assert!(
            !text.contains(CLIENT_SECRET),
            "the client secret leaked: {text}"
        );
    }
    let listed = setup.cli(&["secret", "list"], "");
    assert!(
        listed.contains("oauth2-client-credentials (api.ramp.com)") && listed.contains("value"),
        "{listed}"
    );
}

#[test]
fn non_loopback_source_endpoints_are_a_one_line_config_error_and_doctor_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let doctor = |endpoints: &str| {
        qbridge(tmp.path())
            .args(["doctor", "--data-dir"])
            .arg(tmp.path().join("data"))
            .env("QBRIDGE_SOURCE_ENDPOINTS", endpoints)
            .output()
            .unwrap()
    };
    let out = doctor("api.ramp.com=10.1.2.3:443");
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("QBRIDGE_SOURCE_ENDPOINTS")
            && err.contains("\"api.ramp.com=10.1.2.3:443\"")
            && err.contains("only 127.x.x.x:PORT"),
        "{err}"
    );
    let out = doctor("api.ramp.com=127.0.0.1:8123");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains("WARN") && report.contains("api.ramp.com → http://127.0.0.1:8123"),
        "{report}"
    );
}

#[test]
fn a_refused_token_request_fails_the_pull_naming_secret_and_status_and_nothing_else_is_sent() {
    let fake = FakeSource::start(|req: &Recorded| match req.path() {
        "/developer/v1/token" => Reply::json(
            401,
            json!({"error": "invalid_client", "error_description": "bad client"}),
        ),
        _ => ramp_page(),
    });
    let setup = Setup::new();
    setup.cli(
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
        CLIENT_SECRET,
    );
    setup.schedule("ramp");
    let server = setup.serve(&format!("api.ramp.com={}", fake.base_addr()));
    let admin = bootstrap_token(&server);
    let runs = pull_now(&server, &admin);
    let result = result_of(&runs, "ramp");
    assert!(
        result.starts_with("pull failed")
            && result.contains("secret \"ramp.access_token\"")
            && result.contains("api.ramp.com answered HTTP 401 (invalid_client)")
            && result.contains("check the client id, client secret and scope"),
        "{result}"
    );
    assert!(!result.contains(CLIENT_SECRET), "{result}");
    let paths: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        paths,
        ["/developer/v1/token"],
        "no list request without a token"
    );
    let token_request = &fake.requests()[0];
    assert_eq!(token_request.body_text(), "grant_type=client_credentials");
}
