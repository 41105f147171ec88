//! Test support shared by the Autotask and Ramp plugin tests (the Ramp tests include this
//! file with `#[path]`): fixtures, and the check that every request is valid qbXML.
// Each test binary compiles this module and uses a different subset of it.
#![allow(dead_code)]

pub mod arb;
pub mod corpus;

use qbridge_sdk::Request;
use qbridge_sdk::schema::{QbxmlVersion, validate};
use serde_json::Value;

/// A sample record from the repository's `tests/fixtures/sources/`.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/sources/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Panics unless every request and probe, wrapped in a message set, is valid against qbXML
/// 13.0 and 16.0, its type is in `declared`, and its keys are engine-safe.
pub fn assert_valid(requests: &[Request], declared: &[&str]) {
    if let Err(problem) = check_valid(requests, declared) {
        panic!("{problem}");
    }
}

/// [`assert_valid`] as a result, for property tests (a failure is shrunk, not a panic).
pub fn check_valid(requests: &[Request], declared: &[&str]) -> Result<(), String> {
    for r in requests {
        let key_ok = !r.key.is_empty()
            && r.key.len() <= 200
            && r.key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":_-./@#".contains(c));
        if !key_ok {
            return Err(format!("bad key {:?}", r.key));
        }
        for xml in std::iter::once(&r.qbxml).chain(r.probe.iter()) {
            let ty = qbridge_sdk::root_element(xml).unwrap_or("?");
            let ty = ty.strip_suffix("Rq").unwrap_or(ty);
            if !declared.contains(&ty) {
                return Err(format!("{ty} is not declared ({})", r.key));
            }
            for version in QbxmlVersion::ALL {
                let doc = format!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?><?qbxml version=\"{version}\"?><QBXML>\
                     <QBXMLMsgsRq onError=\"stopOnError\">{xml}</QBXMLMsgsRq></QBXML>"
                );
                validate(version, &doc)
                    .map_err(|e| format!("{} invalid in {version}: {e}\n{xml}", r.key))?;
            }
        }
    }
    Ok(())
}

/// The request with `key`.
pub fn by_key<'a>(requests: &'a [Request], key: &str) -> &'a Request {
    requests
        .iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no request {key}: {:?}", keys(requests)))
}

/// All keys, in order.
pub fn keys(requests: &[Request]) -> Vec<&str> {
    requests.iter().map(|r| r.key.as_str()).collect()
}

/// The text of every `<tag>` in `xml`, in order.
pub fn all(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.match_indices(&open)
        .filter_map(|(at, _)| {
            let start = at + open.len();
            xml[start..]
                .find(&close)
                .map(|end| xml[start..start + end].to_string())
        })
        .collect()
}
