//! The web UI in a real browser: starts `qbridge serve` with a failed job, a connection with a
//! Web Connector user, 59 more connections (the dashboard for many firms; one with waiting
//! jobs) and a staged plugin version, and runs `tests/browser/run.mjs` (Debian chromium driven
//! by playwright-core) against it. Screenshots go to `target/browser-screenshots/` (the
//! 60-connection dashboard: `02-dashboard-60-connections.png`).
//!
//! Without node, chromium or `npm ci` in tests/browser the test prints a loud SKIPPED line and
//! passes, unless `QBRIDGE_REQUIRE_BROWSER=1` (CI sets it after installing them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use qbridge::qbwc::accounts;
use qbridge::store::Store;
use qbridge::store::queue::{Enqueued, NewJob, NewRecord, Origin};

use crate::admin_api::{bootstrap_token, seed_failed_job};
use crate::support::{Server, agent, run, stderr, wait_timeout};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the engine crate sits in the workspace")
        .to_path_buf()
}

/// What is missing to run the browser test, if anything.
fn missing_tools(chromium: &Path, browser_dir: &Path) -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("node is not installed".into());
    }
    if !chromium.exists() {
        return Some(format!(
            "{} is missing (apt-get install -y chromium)",
            chromium.display()
        ));
    }
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        return Some("playwright-core is missing (run `npm ci` in tests/browser)".into());
    }
    None
}

/// 59 more firms beside `acme` (60 connections, as an accounting practice runs), named
/// `firm-01` … `firm-59`; `firm-07` has two jobs merely waiting. Returns one of them.
fn seed_many_firms(data: &Path) -> i64 {
    let store = Store::open(data, crate::support::store_options(data)).unwrap();
    for n in 1..=59 {
        accounts::add_connection(&store, &format!("firm-{n:02}"), "", "test").unwrap();
    }
    let firm = store
        .connections()
        .unwrap()
        .into_iter()
        .find(|c| c.name == "firm-07")
        .unwrap()
        .id;
    let job = |key: &str| NewJob {
        key: key.into(),
        depends_on: vec![],
        request_type: "CustomerAdd".into(),
        qbxml: format!(
            "<CustomerAddRq><CustomerAdd><Name>{key}</Name></CustomerAdd></CustomerAddRq>"
        ),
        probe: None,
        adopt_existing: false,
        notes: vec![],
        versioning: Default::default(),
    };
    let done = store
        .enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: firm,
            plugin: "demo",
            kind: "customer",
            source_id: Some("C-7"),
            payload: "{}",
            jobs: &[job("customer:7a"), job("customer:7b")],
        })
        .unwrap();
    match done.jobs[0].1 {
        Enqueued::Created(id) => id,
        ref other => panic!("expected a new job, got {other:?}"),
    }
}

#[test]
fn web_ui_works_in_a_real_browser() {
    let root = workspace();
    let browser_dir = root.join("tests/browser");
    let chromium = PathBuf::from(
        std::env::var("QBRIDGE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    if let Some(why) = missing_tools(&chromium, &browser_dir) {
        if std::env::var("QBRIDGE_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("QBRIDGE_REQUIRE_BROWSER=1 but the browser test cannot run: {why}");
        }
        eprintln!(
            "\n!!!!!!!! SKIPPED: web_ui_works_in_a_real_browser — {why}. Set QBRIDGE_REQUIRE_BROWSER=1 to make this a failure. !!!!!!!!\n"
        );
        return;
    }

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dd = data.to_str().unwrap();
    for args in [
        &["connection", "add", "--data-dir", dd, "acme"][..],
        &[
            "user",
            "add",
            "--data-dir",
            dd,
            "--connection",
            "acme",
            "qbridge-sync",
        ],
    ] {
        let out = run(tmp.path(), args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let failed = seed_failed_job(&data);
    let waiting = seed_many_firms(&data);
    let server = Server::start_in(tmp.path(), &data, &[]);
    let token = bootstrap_token(&server);
    // echo 1.0.0 runs; 3.0.0 asks for InvoiceAdd too, so it waits on the plugins page.
    let fixtures = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES"));
    for (fixture, outcome) in [("echo_v1", "activated"), ("echo_v3", "staged")] {
        let wasm = std::fs::read(fixtures.join(format!("{fixture}.wasm"))).unwrap();
        let mut resp = agent()
            .post(format!("{}/api/v1/plugins", server.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/wasm")
            .send(&wasm[..])
            .unwrap();
        let body = resp.body_mut().read_to_string().unwrap();
        assert!(
            body.contains(&format!("\"outcome\":\"{outcome}\"")),
            "{fixture}: {body}"
        );
    }
    let shots = root.join("target/browser-screenshots");
    let out_path = tmp.path().join("browser.out");
    let err_path = tmp.path().join("browser.err");
    let mut child = Command::new("node")
        .arg("run.mjs")
        .current_dir(&browser_dir)
        .env("QBRIDGE_URL", &server.base)
        .env("QBRIDGE_TOKEN", &token)
        .env("QBRIDGE_FAILED_JOB", failed.to_string())
        .env("QBRIDGE_WAITING_JOB", waiting.to_string())
        .env("QBRIDGE_SCREENSHOTS", &shots)
        .env("QBRIDGE_CHROMIUM", &chromium)
        .env("QBRIDGE_QWC_USER", "qbridge-sync")
        .env("QBRIDGE_UPLOAD_WASM", fixtures.join("echo_v2.wasm"))
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("node starts");
    let status = wait_timeout(&mut child, Duration::from_secs(300));
    if status.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    println!("{stdout}");
    assert!(
        status.is_some_and(|s| s.success()),
        "browser test failed (status {status:?}).\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    assert!(stdout.contains("browser test passed"), "{stdout}");
}
