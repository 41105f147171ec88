//! Native test harness for mappers: run a [`Mapper`] on JSON, check what it returns against
//! its manifest and (feature `schema`) against Intuit's qbXML schema — all with `cargo test`,
//! no Windows, no QuickBooks, no engine.
//!
//! ```ignore
//! use qbridge_sdk::testing;
//! let requests = testing::map::<MyMapper>("company", r#"{"id": 7, "companyName": "Acme"}"#)?;
//! testing::assert_valid::<MyMapper>(&requests); // declared types, keys, schema
//! ```

use std::path::Path;

use crate::mapper::check_requests;
use crate::{MapError, Mapper, Request};

/// Gives the setting `name` the value [`host::config`](crate::host::config) returns on this
/// thread (`None` removes it), as the engine would for a call made for one connection: set
/// the declared default yourself if the test relies on it.
pub fn set_config(name: &str, value: Option<&str>) {
    crate::host::imp::CONFIG.with(|c| {
        let mut c = c.borrow_mut();
        match value {
            Some(v) => c.insert(name.to_string(), v.to_string()),
            None => c.remove(name),
        };
    });
}

/// Runs `M::map` on a record given as JSON text, exactly as the engine would.
///
/// Invalid JSON is reported as a [`MapError`], as inside the engine.
pub fn map<M: Mapper>(kind: &str, record_json: &str) -> Result<Vec<Request>, MapError> {
    let record: serde_json::Value = serde_json::from_str(record_json)
        .map_err(|e| MapError::new(format!("the record is not valid JSON: {e}")))?;
    M::map(kind, &record)
}

/// Runs `M::map` on a JSON fixture file (e.g. a record saved from the source's API).
///
/// Panics with the path when the file cannot be read: a missing fixture is a broken test.
pub fn map_file<M: Mapper>(kind: &str, path: impl AsRef<Path>) -> Result<Vec<Request>, MapError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    map::<M>(kind, &text)
}

/// Wraps request elements in a complete qbXML message set for `version` (`13.0`, `16.0`),
/// the way the engine sends them.
pub fn message_set(version: &str, elements: &[&str]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<?qbxml version=\"{version}\"?>\n<QBXML><QBXMLMsgsRq onError=\"stopOnError\">{}</QBXMLMsgsRq></QBXML>",
        elements.concat()
    )
}

/// Checks requests against `M`'s manifest (declared types, keys, sizes) and, with feature
/// `schema`, validates every request and probe against the manifest's qbXML version.
pub fn check<M: Mapper>(requests: &[Request]) -> Result<(), String> {
    let manifest = M::manifest();
    check_requests(&manifest, requests)?;
    #[cfg(feature = "schema")]
    validate_schema(&manifest, requests)?;
    Ok(())
}

/// [`check`], panicking with the problem; the usual assertion in a mapper's tests.
#[track_caller]
pub fn assert_valid<M: Mapper>(requests: &[Request]) {
    if let Err(problem) = check::<M>(requests) {
        panic!(
            "plugin `{}` output is not valid: {problem}",
            M::manifest().name
        );
    }
}

#[cfg(feature = "schema")]
fn validate_schema(manifest: &crate::Manifest, requests: &[Request]) -> Result<(), String> {
    use crate::schema::{QbxmlVersion, validate};
    let (major, minor) = manifest
        .min_qbxml_version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| {
            format!(
                "min_qbxml_version {:?} is not a version such as 13.0",
                manifest.min_qbxml_version
            )
        })?;
    let version = QbxmlVersion::highest_supported(major, minor).ok_or_else(|| {
        format!("no qbXML schema at or below {major}.{minor} ships with this SDK")
    })?;
    for r in requests {
        for xml in std::iter::once(&r.qbxml).chain(r.probe.iter()) {
            let doc = message_set(&version.to_string(), &[xml]);
            validate(version, &doc).map_err(|e| format!("request {:?}: {e}", r.key))?;
        }
    }
    Ok(())
}
