//! The bundled plugins' own test suites (golden mappings of the sample records and the corpus
//! validated against Intuit's schema, property tests with a fixed seed, pull logic) run
//! natively here, so the README's one test command covers them too. The plugins form their own cargo workspace (built for
//! wasm32-wasip2 by engine/build.rs), hence the nested cargo.

use std::path::Path;

use crate::support::{cargo, stderr};

#[test]
fn autotask_ramp_and_example_plugin_suites_pass_natively() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let out = cargo(
        &plugins,
        &[
            "test",
            "--release",
            "--quiet",
            "-p",
            "qbridge-plugin-autotask",
            "-p",
            "qbridge-plugin-ramp",
            "-p",
            "qbridge-plugin-example",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "plugin tests failed:\n{stdout}\n{}",
        stderr(&out)
    );
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed >= 70,
        "expected the plugins' golden, property and pull tests to run, got {passed}:\n{stdout}"
    );
}
