//! The plugin sandbox against plugins that misbehave through their imports: sleeping an hour
//! inside a WASI clock call, flooding the log, mapping to well-formed but invalid qbXML. Each
//! is contained within its call's deadline and limits, and the server keeps serving Web
//! Connector sessions meanwhile.

use std::path::Path;
use std::time::{Duration, Instant};

use qbridge::sim::company::Company;
use qbridge::sim::webconnector::{Outcome, WcOptions, WebConnector};

use crate::admin_api::api;
use crate::support::{Server, run, stderr};

fn cli(cwd: &Path, data: &Path, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--data-dir", data.to_str().unwrap()]);
    let out = run(cwd, &all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sleeping_flooding_and_schema_invalid_plugins_are_contained_while_sessions_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rogue = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join("rogue.wasm");
    cli(
        tmp.path(),
        &data,
        &["plugin", "install", rogue.to_str().unwrap()],
    );
    cli(tmp.path(), &data, &["connection", "add", "acme"]);
    let out = cli(
        tmp.path(),
        &data,
        &["user", "add", "--connection", "acme", "acme-sync"],
    );
    let password = crate::support::printed_password(&out);
    let out = cli(
        tmp.path(),
        &data,
        &["token", "create", "--scope", "ingest", "--name", "rogue"],
    );
    let token = out.lines().last().unwrap().trim().to_string();
    let mut server = Server::start_in(tmp.path(), &data, &[]);
    let url = format!("{}/qbwc", server.base);

    // A Web Connector keeps syncing on its own thread the whole time (a few sessions a
    // second at most: the login limiter allows ten a minute per user).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sessions = {
        let (url, password, stop) = (url.clone(), password.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut outcomes = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && outcomes.len() < 8 {
                let mut wc = WebConnector::new(&url, "acme-sync", &password, WcOptions::default());
                let run = wc.run_session(&mut Company::new(r"C:\acme.qbw")).unwrap();
                outcomes.push(run.outcome);
                std::thread::sleep(Duration::from_millis(400));
            }
            outcomes
        })
    };

    let ingest = |kind: &str| {
        let started = Instant::now();
        let (status, body) = api(
            &server,
            &token,
            "post",
            &format!("/api/v1/ingest/rogue?kind={kind}"),
            Some("{}"),
        );
        (status, body, started.elapsed())
    };
    // An hour's sleep inside a host call ends at once, with a reason.
    let (status, body, took) = ingest("sleep");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("may not sleep"), "{body}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // A million log lines: the call ends within its deadline, the log gets a handful.
    let (status, body, flood_took) = ingest("flood-log");
    assert!(status == 202 || status == 422, "{status}: {body}");
    assert!(flood_took < Duration::from_secs(5), "took {flood_took:?}");
    // Well-formed but not qbXML: refused when mapped, never claimed into a message set.
    let (status, body, _) = ingest("schema-invalid");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("not valid qbXML"), "{body}");
    // The plugin still works after all of it.
    let (status, body, _) = ingest("ok");
    assert_eq!(status, 202, "{body}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let outcomes = sessions.join().unwrap();
    assert!(!outcomes.is_empty());
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Some(Outcome::NoWork) | Some(Outcome::Completed))),
        "every session ran to its end: {outcomes:?}"
    );
    server.terminate();
    let log = server.log_text();
    let flood_lines = log.lines().filter(|l| l.contains("flood ")).count();
    // The budget: a burst of 50, then 10 a second for as long as the call ran.
    let budget = 50 + 10 * (flood_took.as_secs() as usize + 1);
    assert!(
        (1..=budget).contains(&flood_lines),
        "the flood is cut to the log budget ({budget}): {flood_lines} lines"
    );
    assert!(
        !log.lines().any(|l| l.starts_with("forged line")),
        "a plugin cannot start a log line of its own"
    );
    assert!(
        log.contains("plugin log lines dropped"),
        "the drop is reported"
    );
}

/// Compiled code is native code wasmtime loads without validation: a `.cwasm` changed on
/// disk must never be loaded. Swapping two valid compiled files (each a genuine wasmtime
/// artifact) is the hardest case: only the hash recorded in the database tells them apart.
#[test]
fn a_compiled_plugin_file_swapped_on_disk_is_recompiled_not_loaded() {
    use qbridge::config::Config;
    use qbridge::plugins::PluginManager;
    use qbridge::store::{Store, StoreOptions};

    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        (PluginManager::open(store.clone(), &config).unwrap(), store)
    };
    let echo =
        std::fs::read(Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join("echo_v1.wasm")).unwrap();
    {
        let (m, _store) = open();
        m.install(&echo, None, "test").unwrap();
    }
    let mut cache: Vec<_> = std::fs::read_dir(dir.path().join("plugin-cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert!(cache.len() >= 2, "{cache:?}");
    // Every file now holds another plugin's compiled code.
    let contents: Vec<Vec<u8>> = cache.iter().map(|p| std::fs::read(p).unwrap()).collect();
    cache.rotate_left(1);
    for (path, bytes) in cache.iter().zip(&contents) {
        std::fs::write(path, bytes).unwrap();
    }
    let (m, _store) = open();
    let out = m
        .map("echo", None, "customer", r#"{"id": 1}"#)
        .unwrap()
        .unwrap();
    assert_eq!(out.len(), 1);
    assert!(
        out[0].notes.first().is_some_and(|n| n.starts_with("echo ")),
        "echo runs echo's code, not the code swapped into its file: {out:?}"
    );
    for (path, bytes) in cache.iter().zip(&contents) {
        assert_ne!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{path:?} was rewritten"
        );
    }
}

#[test]
fn ingest_answers_503_with_retry_after_when_every_plugin_call_permit_is_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rogue = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join("rogue.wasm");
    cli(
        tmp.path(),
        &data,
        &["plugin", "install", rogue.to_str().unwrap()],
    );
    cli(tmp.path(), &data, &["connection", "add", "acme"]);
    let out = cli(
        tmp.path(),
        &data,
        &["token", "create", "--scope", "ingest", "--name", "burst"],
    );
    let token = out.lines().last().unwrap().trim().to_string();
    let server = Server::start_in(tmp.path(), &data, &[]);
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    // More calls at once than CPUs, each spinning to its 1 s deadline.
    let url = format!("{}/api/v1/ingest/rogue?kind=loop", server.base);
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..cpus * 4)
            .map(|_| {
                s.spawn(|| {
                    let resp = crate::admin_api::agent()
                        .post(&url)
                        .header("Authorization", &format!("Bearer {token}"))
                        .header("Content-Type", "application/json")
                        .send("{}")
                        .unwrap();
                    let retry = resp
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    (resp.status().as_u16(), retry)
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let busy = answers.iter().filter(|(s, _)| *s == 503).count();
    let ran = answers.iter().filter(|(s, _)| *s == 422).count();
    assert_eq!(busy + ran, answers.len(), "{answers:?}");
    assert!(busy > 0 && ran > 0, "{answers:?}");
    assert!(
        ran <= cpus * 2,
        "at most one call per CPU runs at a time: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .filter(|(s, _)| *s == 503)
            .all(|(_, r)| r.as_deref() == Some("1")),
        "{answers:?}"
    );
    // Once the burst is over, records are accepted again.
    let (status, body) = api(
        &server,
        &token,
        "post",
        "/api/v1/ingest/rogue?kind=ok",
        Some("{}"),
    );
    assert_eq!(status, 202, "{body}");
}
