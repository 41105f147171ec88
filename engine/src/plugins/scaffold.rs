//! `qbridge plugin new NAME`: writes a plugin crate that builds for `wasm32-wasip2` and whose
//! tests pass natively as generated, so an author starts from something that works.
//!
//! The crate depends on this repository's `sdk/` by path (embedded at build time) and copies
//! the repository's toolchain file and cargo `[env]` (libxml2 location for schema checks).

use std::path::{Path, PathBuf};

/// Path of the SDK crate this binary was built from.
const SDK_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");
const TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");
const CARGO_CONFIG: &str = include_str!("../../../.cargo/config.toml");

const CARGO_TOML: &str = r#"[package]
name = "@@name@@"
version = "0.1.0"
edition = "2024"
publish = false

# cdylib: the WASM component qbridge runs; rlib: lets `cargo test` use the mapper natively.
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
qbridge-sdk = { path = "@@sdk@@" }

# Tests validate the generated qbXML against Intuit's schema (native only).
[dev-dependencies]
qbridge-sdk = { path = "@@sdk@@", features = ["schema"] }

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true

# A standalone workspace, even when created inside another one.
[workspace]
"#;

const LIB_RS: &str = r#"//! The `@@name@@` qbridge plugin: maps @@source@@ records to QuickBooks requests.

use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{MapError, Manifest, Mapper, Request, export_mapper};

/// The mapper; `export_mapper!` below makes it the plugin's implementation.
pub struct @@type@@;

impl Mapper for @@type@@ {
    fn manifest() -> Manifest {
        Manifest::new("@@name@@", env!("CARGO_PKG_VERSION"), "@@source@@")
            .request_types(&["CustomerAdd", "CustomerQuery"])
    }

    fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
        match kind {
            "customer" => customer(record).map(|r| vec![r]),
            other => Err(MapError::new(format!("unknown record kind {other:?}; expected `customer`"))),
        }
    }
}

export_mapper!(@@type@@);

fn customer(record: &Value) -> Result<Request, MapError> {
    let id = record.get("id").and_then(Value::as_u64).ok_or_else(|| MapError::missing("id"))?;
    let name = record
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| MapError::missing("name"))?;
    // QuickBooks customer names are at most 41 characters.
    if name.chars().count() > 41 {
        return Err(MapError::field("name", "is longer than the 41 characters QuickBooks allows"));
    }
    let name = escape(name);
    Ok(Request {
        key: format!("customer:{id}"),
        depends_on: vec![],
        qbxml: format!("<CustomerAddRq><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>"),
        probe: Some(format!("<CustomerQueryRq><FullName>{name}</FullName></CustomerQueryRq>")),
        adopt_existing: true,
        notes: vec![],
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
"#;

const TEST_RS: &str = r##"//! The mapper's specification: run it on records, check the qbXML it produces.

use qbridge_sdk::testing;
use @@crate@@::@@type@@;

#[test]
fn customer_becomes_a_valid_customer_add_with_a_probe() {
    let requests = testing::map::<@@type@@>("customer", r#"{"id": 42, "name": "Acme & Sons"}"#).unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].key, "customer:42");
    assert!(requests[0].qbxml.contains("<Name>Acme &amp; Sons</Name>"));
    testing::assert_valid::<@@type@@>(&requests);
}

#[test]
fn missing_name_is_reported_with_the_field() {
    let err = testing::map::<@@type@@>("customer", r#"{"id": 42}"#).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("name"));
}
"##;

/// Creates `<parent>/<name>/` with a working plugin crate; returns its path.
pub(crate) fn new_plugin(name: &str, parent: &Path) -> Result<PathBuf, String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(format!(
            "plugin name {name:?} must be lowercase letters, digits and '-', starting with a letter (e.g. autotask)"
        ));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(format!(
            "{} already exists; choose another name or remove it",
            dir.display()
        ));
    }
    let crate_name = name.replace('-', "_");
    let type_name: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .chain(std::iter::once("Mapper".to_string()))
        .collect();
    let sdk = std::fs::canonicalize(SDK_PATH)
        .map_err(|e| format!("the qbridge SDK at {SDK_PATH} is not available ({e}); `plugin new` needs the qbridge source tree this binary was built from"))?;
    let fill = |template: &str| {
        template
            .replace("@@name@@", name)
            .replace("@@crate@@", &crate_name)
            .replace("@@type@@", &type_name)
            .replace("@@source@@", "Example")
            .replace("@@sdk@@", &sdk.display().to_string())
    };
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("rust-toolchain.toml", TOOLCHAIN.to_string()),
        (".cargo/config.toml", CARGO_CONFIG.to_string()),
        (".gitignore", "/target\n".to_string()),
        ("src/lib.rs", fill(LIB_RS)),
        ("tests/mapping.rs", fill(TEST_RS)),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(dir)
}
