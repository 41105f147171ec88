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

pub use crate::fake_host::{FakeHost, Installed};

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

/// The golden text of a mapping: each request with its key and type, then what it says besides
/// its qbXML (dependencies, action, adoption, significant fields, line keys, notes), its qbXML
/// and its probe — or the refusal. Stable, line-based and diff-friendly: keep it beside the
/// fixture and compare with [`assert_golden`].
pub fn render(result: &Result<Vec<Request>, MapError>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let requests = match result {
        Err(e) => return format!("refused: {e}\n"),
        Ok(requests) if requests.is_empty() => return "nothing to book\n".into(),
        Ok(requests) => requests,
    };
    for r in requests {
        let _ = writeln!(out, "\n== {} ({})", r.key, r.request_type().unwrap_or("?"));
        if !r.depends_on.is_empty() {
            let _ = writeln!(out, "depends_on: {}", r.depends_on.join(", "));
        }
        if r.action != crate::Action::Write {
            let _ = writeln!(out, "action: {}", r.action.as_str());
        }
        if r.adopt_existing {
            out.push_str("adopt_existing: true\n");
        }
        if !r.significant.is_empty() {
            let _ = writeln!(out, "significant: {}", r.significant.join(", "));
        }
        if !r.line_keys.is_empty() {
            let _ = writeln!(out, "line_keys: {}", r.line_keys.join(", "));
        }
        for note in &r.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(out, "qbxml: {}", r.qbxml);
        if let Some(p) = &r.probe {
            let _ = writeln!(out, "probe: {p}");
        }
    }
    out
}

/// Panics unless [`render`]`(result)` equals the golden file `golden`, showing both. With
/// `QBRIDGE_BLESS=1` in the environment the file is (re)written instead — after a deliberate
/// change; review the diff before committing it.
#[track_caller]
pub fn assert_golden(golden: impl AsRef<Path>, result: &Result<Vec<Request>, MapError>) {
    let golden = golden.as_ref();
    let got = render(result);
    if std::env::var("QBRIDGE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(golden, &got)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", golden.display()));
        return;
    }
    match std::fs::read_to_string(golden) {
        Ok(want) if want == got => {}
        Ok(want) => panic!(
            "the mapping differs from {}:\n--- golden\n{want}\n--- mapped\n{got}\n(if the change is deliberate, run with QBRIDGE_BLESS=1 and review the diff)",
            golden.display()
        ),
        Err(e) => panic!(
            "cannot read golden file {} ({e}); run with QBRIDGE_BLESS=1 to write it, then review it",
            golden.display()
        ),
    }
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

/// [`check`] against **every** qbXML version this SDK ships from the manifest's
/// `min_qbxml_version` up (13.0 and 16.0), since the Web Connector may speak any of them:
/// a request valid in 16.0 only fails on an older QuickBooks.
#[cfg(feature = "schema")]
pub fn check_all_versions<M: Mapper>(requests: &[Request]) -> Result<(), String> {
    use crate::schema::{QbxmlVersion, validate};
    let manifest = M::manifest();
    check_requests(&manifest, requests)?;
    let min = min_version(&manifest)?;
    for version in QbxmlVersion::ALL.into_iter().filter(|v| v.number() >= min) {
        for r in requests {
            for xml in std::iter::once(&r.qbxml).chain(r.probe.iter()) {
                let doc = message_set(&version.to_string(), &[xml]);
                validate(version, &doc)
                    .map_err(|e| format!("request {:?} in qbXML {version}: {e}", r.key))?;
            }
        }
    }
    Ok(())
}

/// The manifest's `min_qbxml_version` as `(major, minor)`.
#[cfg(feature = "schema")]
fn min_version(manifest: &crate::Manifest) -> Result<(u32, u32), String> {
    manifest
        .min_qbxml_version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| {
            format!(
                "min_qbxml_version {:?} is not a version such as 13.0",
                manifest.min_qbxml_version
            )
        })
}

#[cfg(feature = "schema")]
fn validate_schema(manifest: &crate::Manifest, requests: &[Request]) -> Result<(), String> {
    use crate::schema::{QbxmlVersion, validate};
    let (major, minor) = min_version(manifest)?;
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
