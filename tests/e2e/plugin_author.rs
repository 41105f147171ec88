//! `docs/plugin-guide.md`, followed step by step by an author who has only the binary:
//! `plugin new`, `cargo test`, the component build, `plugin check`, `demo --plugin`, the
//! `install --dev` loop, and the release installed into a running server whose record then
//! reaches the simulated QuickBooks through the simulated Web Connector.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::pipeline::{Deployment, ingest, sync_until_idle};
use crate::support::{cargo, stderr};

/// The copied binary, run from `cwd` with none of the test's environment.
struct Author {
    qbridge: PathBuf,
    /// The deployment's PostgreSQL store when the suite runs on one (an admin's setting).
    database_url: Option<String>,
}

impl Author {
    fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(&self.qbridge);
        cmd.current_dir(cwd).args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("QBRIDGE_") {
                cmd.env_remove(k);
            }
        }
        if let Some(url) = &self.database_url {
            cmd.env("QBRIDGE_DATABASE_URL", url);
        }
        cmd.output().expect("qbridge runs")
    }

    fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.run(cwd, args);
        assert!(
            out.status.success(),
            "qbridge {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn build_component(dir: &Path) {
    let out = cargo(
        dir,
        &["build", "--release", "--quiet", "--target", "wasm32-wasip2"],
    );
    assert!(out.status.success(), "wasm build failed: {}", stderr(&out));
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_plugin_guide_takes_an_author_from_plugin_new_to_a_record_in_quickbooks() {
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let mut author = Author {
        qbridge: bin_dir.join("qbridge"),
        database_url: None,
    };
    std::fs::copy(crate::support::bin(), &author.qbridge).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    // 1–3. Create, test natively, build the component.
    author.ok(&work, &["plugin", "new", "acme-crm"]);
    let krate = work.join("acme-crm");
    let out = cargo(&krate, &["test", "--quiet"]);
    assert!(out.status.success(), "cargo test failed: {}", stderr(&out));
    build_component(&krate);
    let wasm = "target/wasm32-wasip2/release/acme_crm.wasm";
    let release_build = work.join("acme_crm-0.1.0.wasm");
    std::fs::copy(krate.join(wasm), &release_build).unwrap();

    // 4. plugin check: the fixture maps; a record without a name is refused by field.
    let checked = author.ok(
        &krate,
        &[
            "plugin",
            "check",
            wasm,
            "--kind",
            "customer",
            "tests/fixtures/customer.json",
        ],
    );
    assert!(checked.contains("plugin acme-crm 0.1.0"), "{checked}");
    assert!(checked.contains("nothing is kept"), "{checked}");
    assert!(
        checked.contains("customer.json#1: OK, 1 request(s)")
            && checked.contains("customer:42  CustomerAdd"),
        "{checked}"
    );
    std::fs::write(
        krate.join("bad.json"),
        "{\"id\": 42, \"name\": \"Acme\"}\n{\"id\": 43}\n",
    )
    .unwrap();
    let bad = author.run(
        &krate,
        &["plugin", "check", wasm, "--kind", "customer", "bad.json"],
    );
    let printed = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "a refused record fails the check");
    assert!(
        printed.contains("bad.json#1: OK") && printed.contains("bad.json#2: REFUSED at `name`"),
        "{printed}"
    );

    // 5. demo --plugin --records: the record syncs into the simulated company.
    let records = krate.join("demo-records");
    std::fs::create_dir_all(&records).unwrap();
    std::fs::write(
        records.join("customer-42.json"),
        r#"{"kind": "customer", "record": {"id": 42, "name": "Acme & Sons"}}"#,
    )
    .unwrap();
    let demo = author.ok(
        &krate,
        &[
            "demo",
            "--log-level",
            "warn",
            "--plugin",
            wasm,
            "--records",
            "demo-records",
        ],
    );
    let holds = demo
        .split("QuickBooks now holds")
        .nth(1)
        .unwrap_or_else(|| panic!("{demo}"));
    assert!(
        holds
            .lines()
            .any(|l| l.contains("Customer") && l.contains("Acme & Sons")),
        "{demo}"
    );

    // 6. The dev loop on a deployment's data dir: a -dev version, installed offline first.
    let d = Deployment::new();
    author.database_url = crate::support::postgres_for(d.tmp.path());
    let dd = d.data_dir.to_str().unwrap();
    let refused = author.run(
        &krate,
        &[
            "plugin",
            "install",
            "--dev",
            release_build.to_str().unwrap(),
            "--data-dir",
            dd,
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("0.1.0-dev"),
        "the refusal says how to make a dev version: {}",
        stderr(&refused)
    );
    edit(
        &krate.join("Cargo.toml"),
        "version = \"0.1.0\"",
        "version = \"0.1.0-dev\"",
    );
    build_component(&krate);
    let first = author.ok(
        &krate,
        &["plugin", "install", "--dev", wasm, "--data-dir", dd],
    );
    assert!(
        first.contains("plugin acme-crm 0.1.0-dev (dev build) is installed and running"),
        "{first}"
    );

    // A rebuilt component asking for one more request type, same version, through the
    // running server: replaced in place, its growth approved because it is a dev install.
    let server = d.start();
    edit(
        &krate.join("src/lib.rs"),
        "&[\"CustomerAdd\", \"CustomerMod\", \"CustomerQuery\"]",
        "&[\"CustomerAdd\", \"CustomerMod\", \"CustomerQuery\", \"InvoiceAdd\"]",
    );
    build_component(&krate);
    let second = author.ok(
        &krate,
        &["plugin", "install", "--dev", wasm, "--data-dir", dd],
    );
    assert!(
        second.contains("replacing the previous build of 0.1.0-dev")
            && second.contains("request types InvoiceAdd")
            && second.contains("approved automatically"),
        "{second}"
    );
    let audit = author.ok(&krate, &["audit", "export", "--data-dir", dd]);
    let dev_rows: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("plugin.install_dev"))
        .collect();
    assert_eq!(dev_rows.len(), 2, "{audit}");
    assert!(
        dev_rows[1].contains("\"escalation_auto_approved\":true"),
        "{}",
        dev_rows[1]
    );
    let listed = author.ok(&krate, &["plugin", "list", "--data-dir", dd]);
    assert!(
        listed
            .lines()
            .filter(|l| l.starts_with("acme-crm ") && !l.contains("needs QuickBooks"))
            .count()
            == 1,
        "one registry row for the dev version, replaced in place: {listed}"
    );

    // 7. The release, installed into the running server; a record reaches QuickBooks.
    edit(
        &krate.join("Cargo.toml"),
        "version = \"0.1.0-dev\"",
        "version = \"0.1.0\"",
    );
    build_component(&krate);
    let released = author.ok(&krate, &["plugin", "install", wasm, "--data-dir", dd]);
    assert!(
        released.contains("plugin acme-crm 0.1.0 is running (replaced 0.1.0-dev)"),
        "{released}"
    );
    let (status, body) = ingest(
        &server,
        &d.token,
        "acme-crm",
        "customer",
        &serde_json::json!({"id": 7, "name": "Guide Customer"}),
    );
    assert_eq!(status, 202, "{body}");
    let mut company = qbridge::sim::company::Company::new(r"C:\Company Files\acme.qbw");
    sync_until_idle(&server, &d, &mut company, 10);
    assert!(
        company
            .write_log()
            .iter()
            .any(|w| w.request == "Customer" && w.name == "Guide Customer"),
        "{:?}",
        company.write_log()
    );
}
