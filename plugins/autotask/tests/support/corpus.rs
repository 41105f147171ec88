//! The corpus: realistic source records under `tests/fixtures/corpus/<plugin>/`, each with
//! the qbXML it must become kept beside it as a golden file (`NN-name.golden`).
//!
//! Every record is read from its JSON text (so float artefacts reach the mapper), mapped, and
//! what comes out — requests with keys, dependencies, action, significant fields, line keys,
//! notes, qbXML and probes, or the refusal with its field — is compared with the golden file;
//! every request is validated against qbXML 13.0 and 16.0. `QBRIDGE_BLESS=1` rewrites the golden files after a deliberate change
//! (review the diff).

use std::path::{Path, PathBuf};

use qbridge_sdk::{MapError, Request};
use serde_json::Value;

/// A mapper's `map`.
pub type MapFn = fn(&str, &Value) -> Result<Vec<Request>, MapError>;

/// The corpus folder of `plugin`.
pub fn folder(plugin: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/corpus")
        .join(plugin)
}

/// The golden text of one record's mapping: the scenario, then the SDK's rendering.
fn render(scenario: &str, result: &Result<Vec<Request>, MapError>) -> String {
    format!("# {scenario}\n{}", qbridge_sdk::testing::render(result))
}

/// Maps every record of `plugin`'s corpus with `map`, checks the output against the schemas
/// and the golden files, and returns how many records there were.
pub fn check_all(plugin: &str, map: MapFn, declared: &[&str]) -> usize {
    let bless = std::env::var("QBRIDGE_BLESS").is_ok_and(|v| v == "1");
    let mut records: Vec<PathBuf> = std::fs::read_dir(folder(plugin))
        .expect("corpus folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    records.sort();
    let mut failures = Vec::new();
    for path in &records {
        let text = std::fs::read_to_string(path).unwrap();
        let record: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let kind = record["_corpus"]["kind"].as_str().expect("_corpus.kind");
        let scenario = record["_corpus"]["scenario"].as_str().unwrap_or("");
        let result = map(kind, &record);
        if let Ok(requests) = &result
            && let Err(problem) = super::check_valid(requests, declared)
        {
            failures.push(format!("{}: {problem}", path.display()));
        }
        if let Err(e) = &result
            && e.field.is_none()
        {
            failures.push(format!("{}: refusal names no field: {e}", path.display()));
        }
        let got = render(scenario, &result);
        let golden = path.with_extension("golden");
        if bless {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{} differs from {}:\n--- golden\n{want}\n--- mapped\n{got}",
                path.display(),
                golden.display()
            )),
            Err(_) => failures.push(format!(
                "{} has no golden file; run with QBRIDGE_BLESS=1 and review it",
                path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    records.len()
}
