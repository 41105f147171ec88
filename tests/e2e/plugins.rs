//! Plugins: hot swap under load, containment of misbehaving plugins, staged permission
//! escalations, the bundled example, the `qbridge plugin` CLI and `plugin new`.
//!
//! The fixtures are real components built from `plugins/fixtures/` by the engine's build
//! script; the host is the real wasmtime host, the registry a real SQLite file.

use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use qbridge::config::Config;
use qbridge::plugins::{InstallOutcome, PluginError, PluginManager};
use qbridge::store::{PluginStatus, Store, StoreOptions};
use qbridge_sdk::Request;

use crate::support::{Server, run, stderr};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("QBRIDGE_PLUGIN_FIXTURES")).join(format!("{name}.wasm"))
}

/// A manager on a fresh data dir; `timeout_ms` is the per-call CPU deadline.
fn manager(dir: &Path, timeout_ms: u64) -> (PluginManager, Store) {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.plugin_call_timeout = Duration::from_millis(timeout_ms);
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    (PluginManager::open(store.clone(), &config).unwrap(), store)
}

/// The version an echo output came from, checking that key, name and note agree on it.
fn echo_version(requests: &[Request]) -> String {
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    let note = r.notes[0].strip_prefix("echo ").unwrap().to_string();
    assert!(
        r.qbxml.contains(&format!(" v{note}</Name>")),
        "output mixes versions: {r:?}"
    );
    note
}

/// Installs `wasm` and asserts it became the active version at once.
fn install_activated(m: &PluginManager, wasm: &[u8]) {
    let outcome = m.install(wasm, None, "test").unwrap();
    assert!(
        matches!(outcome, InstallOutcome::Activated { .. }),
        "{outcome:?}"
    );
}

fn map_ok(m: &PluginManager, plugin: &str, kind: &str, json: &str) -> Vec<Request> {
    m.map(plugin, None, kind, json)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn hot_swap_under_load_fails_no_call_and_slow_call_finishes_on_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _store) = manager(dir.path(), 5_000);
    let m = Arc::new(m);
    let (v1, v2) = (fixture("echo_v1"), fixture("echo_v2"));
    m.install(&v1, None, "test").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen_v2 = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..2)
        .map(|t| {
            let (m, stop, calls, seen_v2) =
                (m.clone(), stop.clone(), calls.clone(), seen_v2.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = t * 1_000_000 + n;
                    let out = map_ok(&m, "echo", "customer", &format!(r#"{{"id": {id}}}"#));
                    if echo_version(&out) == "2.0.0" {
                        seen_v2.fetch_add(1, Ordering::Relaxed);
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // A slow call starts on 1.0.0 and keeps running across several swaps.
    let started = Arc::new(Barrier::new(2));
    let slow = {
        let (m, started) = (m.clone(), started.clone());
        std::thread::spawn(move || {
            started.wait();
            map_ok(&m, "echo", "slow", r#"{"id": 7, "ms": 1000}"#)
        })
    };
    started.wait();
    // Give the slow call time to load 1.0.0 before the first swap.
    std::thread::sleep(Duration::from_millis(100));

    for swap in 0..24 {
        let wasm = if swap % 2 == 0 { &v2 } else { &v1 };
        install_activated(&m, wasm);
        std::thread::sleep(Duration::from_millis(25));
    }
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().expect("no caller saw a failed call");
    }
    assert_eq!(echo_version(&slow.join().unwrap()), "1.0.0");
    assert!(
        calls.load(Ordering::Relaxed) > 24,
        "callers kept calling during the swaps"
    );
    assert!(
        seen_v2.load(Ordering::Relaxed) > 0,
        "the new version served calls"
    );
}

#[test]
fn async_callers_map_on_the_blocking_pool() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _store) = manager(dir.path(), 1_000);
    let m = Arc::new(m);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = rt
        .block_on(m.map_blocking(
            "example".into(),
            None,
            "customer".into(),
            r#"{"id": 1, "name": "A"}"#.into(),
        ))
        .unwrap()
        .unwrap();
    assert_eq!(out[0].key, "customer:1");
}

#[test]
fn misbehaving_plugins_are_contained_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _store) = manager(dir.path(), 1_000);
    m.install(&fixture("rogue"), None, "test").unwrap();
    m.install(&fixture("echo_v1"), None, "test").unwrap();
    let cases = [
        (
            "loop",
            "plugin `rogue` 1.0.0 ran longer than 1 s and was stopped",
        ),
        (
            "alloc",
            "plugin `rogue` 1.0.0 exceeded its 64 MiB memory limit",
        ),
        (
            "panic",
            "plugin `rogue` 1.0.0 panicked: rogue fixture panics on purpose",
        ),
        (
            "undeclared",
            "is a InvoiceAdd request, which the manifest does not declare",
        ),
        ("malformed", "is not well-formed XML"),
        ("bad-key", "the key is empty"),
    ];
    for (kind, expected) in cases {
        let err = m
            .map("rogue", None, kind, "{}")
            .expect_err(kind)
            .to_string();
        assert!(err.contains(expected), "{kind}: {err}");
        assert!(
            err.contains("rogue"),
            "{kind}: error names the plugin: {err}"
        );
        // The engine keeps serving: the same plugin and another one work right after.
        assert_eq!(map_ok(&m, "rogue", "ok", "{}").len(), 1, "after {kind}");
        assert_eq!(
            echo_version(&map_ok(&m, "echo", "customer", r#"{"id": 1}"#)),
            "1.0.0"
        );
    }
}

#[test]
fn compiled_code_is_cached_on_disk_and_a_damaged_cache_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (m, _store) = manager(dir.path(), 1_000);
        m.install(&fixture("echo_v1"), None, "test").unwrap();
    }
    let cache: Vec<PathBuf> = std::fs::read_dir(dir.path().join("plugin-cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        cache.len() >= 2
            && cache
                .iter()
                .all(|p| p.extension().is_some_and(|e| e == "cwasm")),
        "one .cwasm per component (echo and the bundled example): {cache:?}"
    );
    for path in &cache {
        std::fs::write(path, b"damaged").unwrap();
    }
    let (m, _store) = manager(dir.path(), 1_000);
    assert_eq!(
        echo_version(&map_ok(&m, "echo", "customer", r#"{"id": 1}"#)),
        "1.0.0"
    );
    assert!(
        std::fs::metadata(&cache[0]).unwrap().len() > 1_000,
        "the damaged file was rewritten"
    );
}

#[test]
fn plugin_built_for_interface_0_1_keeps_running_beside_newer_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _store) = manager(dir.path(), 1_000);
    install_activated(&m, &fixture("legacy_v0_1"));
    let manifest = m.manifest("legacy").unwrap();
    assert_eq!(manifest.interface_version, "0.1.0");
    assert!(!manifest.supports_acknowledge);
    assert!(!m.acknowledges("legacy"));
    let out = map_ok(&m, "legacy", "customer", r#"{"id": 7}"#);
    assert_eq!(out[0].key, "customer:7");
    assert!(
        m.on_response("legacy", None, "customer:7", "<CustomerRet/>")
            .unwrap()
            .is_empty()
    );
    // Acknowledging is a no-op for an interface that has no such call.
    assert_eq!(
        m.acknowledge("legacy", None, "customer", "{}", "customer:7", "")
            .unwrap(),
        Ok(())
    );
    // The bundled plugins are built with this SDK, for 0.3.0, and acknowledge pulls.
    assert!(m.acknowledges("ramp") && m.acknowledges("autotask"));
    assert!(!m.acknowledges("example"));
}

#[test]
fn plugin_built_for_interface_0_2_keeps_running_its_requests_plain_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _store) = manager(dir.path(), 1_000);
    install_activated(&m, &fixture("legacy_v0_2"));
    let manifest = m.manifest("legacy2").unwrap();
    assert_eq!(manifest.interface_version, "0.2.0");
    assert!(manifest.config.is_empty(), "0.2.0 has no settings");
    let out = map_ok(&m, "legacy2", "customer", r#"{"id": 7, "name": "Acme"}"#);
    assert_eq!(out[0].key, "customer:7");
    // Before 0.3.0 a request has no action, line keys or significant fields: a write.
    assert_eq!(out[0].action, qbridge_sdk::Action::Write);
    assert!(out[0].line_keys.is_empty() && out[0].significant.is_empty());
    // Its on-response cannot fail: an empty list is an empty success.
    assert!(
        m.on_response("legacy2", None, "customer:7", "<CustomerRet/>")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn plugin_for_an_unsupported_interface_version_is_refused_at_install() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _store) = manager(dir.path(), 1_000);
    let err = m.install(&fixture("future_api"), None, "test").unwrap_err();
    assert!(
        matches!(err, PluginError::UnsupportedInterface { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("built for plugin interface 0.9.0") && text.contains("supports 0.1.0, 0.2.0"),
        "{text}"
    );
    let err = m
        .install(b"not wasm at all", None, "test")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid WebAssembly component"), "{err}");
}

#[test]
fn with_trusted_keys_configured_unsigned_and_badly_signed_plugins_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A syntactically valid minisign public key ("Ed", key id, 32-byte key) nobody signs with.
    let key = "RWQBAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJico";
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        plugin_trusted_keys: vec![key.to_string()],
        ..Config::default()
    };
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let m = PluginManager::open(store, &config).unwrap();
    let err = m
        .install(&fixture("echo_v1"), None, "test")
        .unwrap_err()
        .to_string();
    assert!(err.contains("plugins must be signed"), "{err}");
    let err = m
        .install(
            &fixture("echo_v1"),
            Some("untrusted comment: x\nnot a signature\n"),
            "test",
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("signature"), "{err}");
    assert!(m.manifest("echo").is_none(), "nothing was installed");
}

#[test]
fn staged_escalation_runs_only_after_approval_and_approval_and_rollback_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (m, store) = manager(dir.path(), 1_000);
    m.install(&fixture("echo_v1"), None, "alice").unwrap();
    let outcome = m.install(&fixture("echo_v3"), None, "alice").unwrap();
    let InstallOutcome::Staged { escalation, .. } = outcome else {
        panic!("v3 declares InvoiceAdd too and must be staged: {outcome:?}");
    };
    assert_eq!(escalation.request_types, ["InvoiceAdd"]);
    assert_eq!(
        echo_version(&map_ok(&m, "echo", "customer", r#"{"id": 1}"#)),
        "1.0.0"
    );

    m.approve("echo", "3.0.0", "bob").unwrap();
    assert_eq!(
        echo_version(&map_ok(&m, "echo", "customer", r#"{"id": 1}"#)),
        "3.0.0"
    );
    let statuses: Vec<(String, PluginStatus)> = m
        .list()
        .unwrap()
        .into_iter()
        .filter(|v| v.name == "echo")
        .map(|v| (v.version, v.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("1.0.0".into(), PluginStatus::Previous),
            ("3.0.0".into(), PluginStatus::Active)
        ]
    );

    assert_eq!(m.rollback("echo", "carol").unwrap(), "1.0.0");
    assert_eq!(
        echo_version(&map_ok(&m, "echo", "customer", r#"{"id": 1}"#)),
        "1.0.0"
    );

    let audit: Vec<(String, String, String)> = store
        .audit_rows(0, 100)
        .unwrap()
        .into_iter()
        .map(|r| (r.entry.actor, r.entry.action, r.entry.target))
        .filter(|(_, _, target)| target.starts_with("plugin:echo"))
        .collect();
    let expected = [
        ("alice", "plugin.install", "plugin:echo@1.0.0"),
        ("alice", "plugin.stage", "plugin:echo@3.0.0"),
        ("bob", "plugin.approve", "plugin:echo@3.0.0"),
        ("carol", "plugin.rollback", "plugin:echo@1.0.0"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(audit, expected);
}

#[test]
fn bundled_example_is_installed_on_first_start_and_maps_to_schema_valid_qbxml() {
    use qbridge_sdk::schema::{QbxmlVersion, validate};
    let dir = tempfile::tempdir().unwrap();
    let (m, _store) = manager(dir.path(), 1_000);
    let example = m.list().unwrap().into_iter().find(|v| v.name == "example");
    assert_eq!(example.map(|v| v.status), Some(PluginStatus::Active));

    let customer = map_ok(
        &m,
        "example",
        "customer",
        r#"{"id": 5, "name": "Acme & Co", "email": "ap@acme.test"}"#,
    );
    let invoice = map_ok(
        &m,
        "example",
        "invoice",
        r#"{"id": 9, "customer_id": 5, "customer_name": "Acme & Co", "number": "INV-9", "lines": [{"item": "Consulting", "amount": 150}]}"#,
    );
    assert_eq!(invoice[0].depends_on, ["customer:5"]);
    for r in customer.iter().chain(&invoice) {
        for xml in std::iter::once(&r.qbxml).chain(&r.probe) {
            let doc = qbridge_sdk::testing::message_set("13.0", &[xml]);
            validate(QbxmlVersion::V13_0, &doc).unwrap_or_else(|e| panic!("{}: {e}", r.key));
        }
    }
    let err = m
        .map("example", None, "customer", r#"{"id": 5}"#)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("name"));
}

#[test]
fn plugin_cli_installs_and_lists_offline_and_through_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dd = data.to_str().unwrap();
    let echo = fixture_path("echo_v1");
    let out = run(
        tmp.path(),
        &[
            "plugin",
            "install",
            echo.to_str().unwrap(),
            "--data-dir",
            dd,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("plugin echo 1.0.0 is installed and running")
    );

    let out = run(tmp.path(), &["plugin", "list", "--data-dir", dd]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("echo") && list.contains("example"), "{list}");
    assert!(
        list.contains("echo needs QuickBooks permissions: Customers & Receivables"),
        "{list}"
    );

    // With a server on the data dir the CLI installs through its admin API (the server
    // swaps the plugin itself), never into the database under it.
    let _server = Server::start_in(tmp.path(), &data, &[]);
    let echo_v2 = fixture_path("echo_v2");
    let out = run(
        tmp.path(),
        &[
            "plugin",
            "install",
            echo_v2.to_str().unwrap(),
            "--data-dir",
            dd,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("echo"));
    assert!(
        stderr(&out).contains("(through the running server's admin API)"),
        "{}",
        stderr(&out)
    );
    let out = run(tmp.path(), &["plugin", "list", "--data-dir", dd]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("2.0.0"),
        "the running server lists the new version: {list}"
    );
}

#[test]
fn plugin_new_from_a_copied_binary_alone_tests_builds_and_installs_as_a_component() {
    // The author has the released binary and nothing of this repository: copy it into an
    // empty folder and run it from there.
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let qbridge = bin_dir.join("qbridge");
    std::fs::copy(crate::support::bin(), &qbridge).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let run_copy = |args: &[&str]| {
        let out = std::process::Command::new(&qbridge)
            .current_dir(&work)
            .args(args)
            .env_remove("QBRIDGE_DATA_DIR")
            .output()
            .unwrap();
        assert!(out.status.success(), "qbridge {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let printed = run_copy(&["plugin", "new", "demo"]);
    assert!(printed.contains("demo/qbridge-sdk"), "{printed}");
    let demo = work.join("demo");

    // No path of the machine that built the binary appears in what was written.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let mut stack = vec![demo.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
                assert!(
                    !text.contains(&repo),
                    "{} names the build machine's {repo}",
                    path.display()
                );
            }
        }
    }
    assert!(
        files > 20,
        "the SDK's sources, WIT and schemas were written ({files} files)"
    );
    assert!(demo.join("qbridge-sdk/wit/v0.2.0").is_dir());
    assert!(demo.join("tests/fixtures/customer.json").is_file());

    // The crate builds with what it holds: its own .cargo/config.toml says where libxml2 is.
    let cargo = |args: &[&str]| {
        let mut cmd =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&demo).args(args).env_remove("LIBXML2");
        for (k, _) in std::env::vars() {
            if (k.starts_with("CARGO_") && k != "CARGO_HOME") || k == "RUSTFLAGS" {
                cmd.env_remove(k);
            }
        }
        cmd.output().expect("cargo runs")
    };
    let out = cargo(&["test", "--quiet"]);
    assert!(
        out.status.success(),
        "cargo test in the new plugin failed: {}",
        stderr(&out)
    );
    let out = cargo(&["build", "--release", "--quiet", "--target", "wasm32-wasip2"]);
    assert!(out.status.success(), "wasm build failed: {}", stderr(&out));
    let wasm = demo.join("target/wasm32-wasip2/release/demo.wasm");
    let data = tmp.path().join("data");
    let installed = run_copy(&[
        "plugin",
        "install",
        wasm.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        installed.contains("plugin demo 0.1.0 is installed and running"),
        "{installed}"
    );
}

/// Measurement, not a check (numbers go to docs/benchmarks.md): warm `map` calls per second
/// on one thread and the latency of a hot swap from cached code. Run with
/// `cargo test --release -p qbridge --test e2e -- --ignored --nocapture measure_`.
#[test]
#[ignore]
fn measure_warm_map_rate_and_swap_latency() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _store) = manager(dir.path(), 1_000);
    let record = r#"{"id": 5, "name": "Acme & Co", "email": "ap@acme.test"}"#;
    map_ok(&m, "example", "customer", record);
    let n = 100_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        map_ok(&m, "example", "customer", record);
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let (v1, v2) = (fixture("echo_v1"), fixture("echo_v2"));
    m.install(&v1, None, "bench").unwrap();
    m.install(&v2, None, "bench").unwrap();
    let swaps = 50;
    let start = std::time::Instant::now();
    for i in 0..swaps {
        m.install(if i % 2 == 0 { &v1 } else { &v2 }, None, "bench")
            .unwrap();
    }
    let swap = start.elapsed() / swaps;
    println!("warm map: {rate:.0} records/s on one thread; install+swap from cache: {swap:?} each");
}
