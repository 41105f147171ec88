//! `qbridge plugin new NAME`: writes a plugin crate that builds for `wasm32-wasip2` and whose
//! tests pass natively as generated, so an author starts from something that works — with
//! nothing but this binary: it carries the SDK source it was built with (`SDK_FILES`,
//! embedded by `engine/build.rs`) and writes it into the new crate as `qbridge-sdk/`, a path
//! dependency relative to the crate. `--sdk-version` depends on a published SDK instead,
//! `--sdk-path` on a checkout. No path of the machine that built the binary is written.

use std::path::{Path, PathBuf};
use std::process::Command;

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

const TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");

/// Where the new crate's SDK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// The SDK this binary was built with, written into the crate (the default).
    Embedded,
    /// A published version (crates.io or the author's registry).
    Version(String),
    /// A checkout of the SDK on this machine.
    Path(PathBuf),
}

/// The version of the embedded SDK (its `Cargo.toml`'s `version`).
pub fn embedded_sdk_version() -> String {
    SDK_FILES
        .iter()
        .find(|(path, _)| *path == "Cargo.toml")
        .and_then(|(_, bytes)| {
            String::from_utf8_lossy(bytes).lines().find_map(|l| {
                l.strip_prefix("version = \"")
                    .map(|v| v.trim_end_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "(unknown)".into())
}

/// The SDK crate's folder inside a new plugin crate.
const SDK_DIR: &str = "qbridge-sdk";

const CARGO_TOML: &str = r#"[package]
name = "@@name@@"
version = "0.1.0"
edition = "2024"
publish = false

# cdylib: the WASM component qbridge runs; rlib: lets `cargo test` use the mapper natively.
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
qbridge-sdk = { @@sdk@@, features = ["exact-json"] }

# Tests validate the generated qbXML against Intuit's schemas (native only, libxml2).
[dev-dependencies]
qbridge-sdk = { @@sdk@@, features = ["schema", "exact-json"] }

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true

# A standalone workspace, even when created inside another one.
[workspace]
"#;

const LIB_RS: &str = r#"//! The `@@name@@` qbridge plugin: maps @@source@@ records to QuickBooks requests.
//!
//! The SDK's typed builders write every request: elements in schema order, text fitted to
//! QuickBooks' lengths and character set (each change noted on the job), escaping, exact
//! amounts. Errors name the field of the source record, so an admin knows what to fix.

use qbridge_sdk::qbxml::{CustomerAdd, ListKind, ListQuery};
use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{MapError, Manifest, Mapper, Request, export_mapper};

/// The mapper; `export_mapper!` below makes it the plugin's implementation.
pub struct @@type@@;

impl Mapper for @@type@@ {
    fn manifest() -> Manifest {
        Manifest::new("@@name@@", env!("CARGO_PKG_VERSION"), "@@source@@")
            // CustomerMod: a customer changed at the source after it synced is sent as the
            // matching Mod (the engine builds it from the Add below).
            .request_types(&["CustomerAdd", "CustomerMod", "CustomerQuery"])
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
    let mut add = CustomerAdd::new(name).company_name(name);
    if let Some(email) = record.get("email").and_then(Value::as_str) {
        add = add.email(email);
    }
    let built = add.build()?;
    // Look up the name as it is written (it may have been shortened or transliterated).
    let sent = built.text_of("Name").unwrap_or_else(|| name.to_string());
    let probe = ListQuery::new(ListKind::Customer).full_name(sent).build()?;
    // The key is stable across re-runs: the same record never becomes two customers. A
    // customer the probe finds is adopted only if these fields match; otherwise it is
    // changed to the source's version.
    Ok(built
        .into_request(format!("customer:{id}"))
        .probe(probe.qbxml)
        .adopt_existing()
        .significant(["Name", "CompanyName", "Email"]))
}
"#;

const TEST_RS: &str = r##"//! The mapper's specification: run it on records, check the qbXML it produces.

use qbridge_sdk::testing;
use @@crate@@::@@type@@;

#[test]
fn the_fixture_record_becomes_a_valid_customer_add_with_a_probe() {
    let record = include_str!("fixtures/customer.json");
    let requests = testing::map::<@@type@@>("customer", record).unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].key, "customer:42");
    assert!(requests[0].qbxml.contains("<Name>Acme &amp; Sons</Name>"));
    assert!(requests[0].probe.as_deref().unwrap().contains("<FullName>Acme &amp; Sons</FullName>"));
    // Valid against Intuit's qbXML schemas, as the engine checks before queueing.
    testing::assert_valid::<@@type@@>(&requests);
}

#[test]
fn the_fixture_maps_to_its_golden_file() {
    // `tests/fixtures/customer.golden` is what the fixture must become, request by request.
    // After a deliberate change run `QBRIDGE_BLESS=1 cargo test` and review the diff.
    let result = testing::map_file::<@@type@@>("customer", "tests/fixtures/customer.json");
    testing::assert_golden("tests/fixtures/customer.golden", &result);
}

#[test]
fn every_qbxml_version_quickbooks_may_speak_accepts_it() {
    let requests = testing::map_file::<@@type@@>("customer", "tests/fixtures/customer.json").unwrap();
    testing::check_all_versions::<@@type@@>(&requests).unwrap();
}

#[test]
fn a_long_name_is_fitted_and_the_change_noted() {
    let long = "A".repeat(60);
    let record = format!(r#"{{"id": 7, "name": "{long}"}}"#);
    let requests = testing::map::<@@type@@>("customer", &record).unwrap();
    assert!(!requests[0].notes.is_empty(), "the shortened name is noted on the job");
    testing::assert_valid::<@@type@@>(&requests);
}

#[test]
fn missing_name_is_reported_with_the_field() {
    let err = testing::map::<@@type@@>("customer", r#"{"id": 42}"#).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("name"));
}
"##;

const FIXTURE: &str = r#"{"id": 42, "name": "Acme & Sons", "email": "ap@acme.example"}
"#;

/// What the fixture maps to (`testing::render`); the generated crate's golden test compares
/// the template's mapping with it.
const GOLDEN: &str = "
== customer:42 (CustomerAdd)
adopt_existing: true
significant: Name, CompanyName, Email
qbxml: <CustomerAddRq><CustomerAdd><Name>Acme &amp; Sons</Name><CompanyName>Acme &amp; Sons</CompanyName><Email>ap@acme.example</Email></CustomerAdd></CustomerAddRq>
probe: <CustomerQueryRq><FullName>Acme &amp; Sons</FullName></CustomerQueryRq>
";

const README: &str = r#"# @@name@@ — a qbridge mapping plugin

Maps @@source@@ records to QuickBooks Desktop requests. Next steps:

```sh
cargo test                                            # the mapper's tests and its golden file, natively
cargo build --release --target wasm32-wasip2          # the component
qbridge plugin check target/wasm32-wasip2/release/@@crate@@.wasm --kind customer tests/fixtures/customer.json
qbridge plugin install target/wasm32-wasip2/release/@@crate@@.wasm
```

The whole path — `qbridge demo --plugin`, the `plugin install --dev` loop, installing into
a running server — is in qbridge's `docs/plugin-guide.md`.

`qbridge-sdk/` is the SDK the `qbridge` binary that created this crate was built with
(interface version in its `Cargo.toml`). The tests validate against Intuit's schemas with
libxml2: `.cargo/config.toml` says where it is (see the comment there if it was not found).
"#;

/// Creates `<parent>/<name>/` with a working plugin crate; returns its path.
pub(crate) fn new_plugin(name: &str, parent: &Path, sdk: &SdkSource) -> Result<PathBuf, String> {
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
    let sdk_dep = match sdk {
        SdkSource::Embedded => format!("path = \"{SDK_DIR}\""),
        SdkSource::Version(v) => {
            let ok = !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-+^~=<>*, ".contains(c));
            if !ok {
                return Err(format!(
                    "--sdk-version {v:?} is not a version requirement such as 0.2 or =0.2.0"
                ));
            }
            format!("version = \"{v}\"")
        }
        SdkSource::Path(p) => {
            let p =
                std::fs::canonicalize(p).map_err(|e| format!("--sdk-path {}: {e}", p.display()))?;
            if !p.join("Cargo.toml").is_file() {
                return Err(format!(
                    "--sdk-path {} holds no Cargo.toml: point it at the SDK crate's folder",
                    p.display()
                ));
            }
            format!("path = {:?}", p.display().to_string())
        }
    };
    let fill = |template: &str| {
        template
            .replace("@@name@@", name)
            .replace("@@crate@@", &crate_name)
            .replace("@@type@@", &type_name)
            .replace("@@source@@", "Example")
            .replace("@@sdk@@", &sdk_dep)
    };
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("Cargo.toml".into(), fill(CARGO_TOML).into_bytes()),
        ("rust-toolchain.toml".into(), TOOLCHAIN.as_bytes().to_vec()),
        (
            ".cargo/config.toml".into(),
            cargo_config(find_libxml2()).into_bytes(),
        ),
        (".gitignore".into(), b"/target\n".to_vec()),
        ("README.md".into(), fill(README).into_bytes()),
        ("src/lib.rs".into(), fill(LIB_RS).into_bytes()),
        ("tests/mapping.rs".into(), fill(TEST_RS).into_bytes()),
        (
            "tests/fixtures/customer.json".into(),
            FIXTURE.as_bytes().to_vec(),
        ),
        (
            "tests/fixtures/customer.golden".into(),
            GOLDEN.as_bytes().to_vec(),
        ),
    ];
    if *sdk == SdkSource::Embedded {
        files.extend(
            SDK_FILES
                .iter()
                .map(|(path, bytes)| (format!("{SDK_DIR}/{path}"), bytes.to_vec())),
        );
    }
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

/// The libxml2 shared library the schema checks link against, found through pkg-config or
/// in the usual places; `None` when this machine has none.
fn find_libxml2() -> Option<PathBuf> {
    let from_pkg_config = Command::new("pkg-config")
        .args(["--variable=libdir", "libxml-2.0"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let usual = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
        "/opt/homebrew/opt/libxml2/lib",
        "/usr/local/opt/libxml2/lib",
    ];
    from_pkg_config
        .into_iter()
        .chain(usual.iter().map(PathBuf::from))
        .flat_map(|dir| [dir.join("libxml2.so"), dir.join("libxml2.dylib")])
        .find(|lib| lib.is_file())
}

/// `.cargo/config.toml` of a new crate: where libxml2 is (the `libxml` crate otherwise needs
/// bindgen and libclang), or how to get it.
fn cargo_config(libxml2: Option<PathBuf>) -> String {
    let head = "[env]\n# The `libxml` crate (qbXML schema checks in tests) uses its shipped bindings when told\n# where libxml2 is; otherwise it needs bindgen and libclang.\n";
    match libxml2 {
        Some(lib) => format!("{head}LIBXML2 = {:?}\n", lib.display().to_string()),
        None => format!(
            "{head}# libxml2 was not found when this crate was created. Install it (Debian/Ubuntu:\n# apt install libxml2-dev; Fedora: dnf install libxml2-devel; macOS: brew install\n# libxml2), then set the path of libxml2.so / libxml2.dylib here:\n# LIBXML2 = \"/usr/lib/x86_64-linux-gnu/libxml2.so\"\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_of(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()
    }

    #[test]
    fn the_embedded_sdk_is_written_beside_the_crate_and_named_relatively() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = new_plugin("acme-crm", tmp.path(), &SdkSource::Embedded).unwrap();
        assert!(manifest_of(&dir).contains("qbridge-sdk = { path = \"qbridge-sdk\""));
        let sdk_manifest = std::fs::read_to_string(dir.join("qbridge-sdk/Cargo.toml")).unwrap();
        assert!(
            !sdk_manifest.contains(".workspace = true"),
            "the SDK builds outside this repository's workspace"
        );
        assert_eq!(embedded_sdk_version(), qbridge_sdk::VERSION);
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct AcmeCrmMapper") && lib.contains("CustomerAdd::new"));
    }

    #[test]
    fn a_published_version_or_a_checkout_can_be_chosen_instead() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = new_plugin("a", tmp.path(), &SdkSource::Version("0.2".into())).unwrap();
        assert!(manifest_of(&dir).contains("qbridge-sdk = { version = \"0.2\""));
        assert!(!dir.join("qbridge-sdk").exists());

        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
        let dir = new_plugin("b", tmp.path(), &SdkSource::Path(sdk.clone())).unwrap();
        let canonical = std::fs::canonicalize(&sdk).unwrap();
        assert!(
            manifest_of(&dir).contains(&format!("path = {:?}", canonical.display().to_string()))
        );

        let err =
            new_plugin("c", tmp.path(), &SdkSource::Version("0.2\"; evil".into())).unwrap_err();
        assert!(err.contains("not a version requirement"), "{err}");
        let err = new_plugin("d", tmp.path(), &SdkSource::Path(tmp.path().into())).unwrap_err();
        assert!(err.contains("holds no Cargo.toml"), "{err}");
    }

    #[test]
    fn the_cargo_config_names_libxml2_or_says_how_to_get_it() {
        let found = cargo_config(Some(PathBuf::from("/x/libxml2.so")));
        assert!(found.contains("LIBXML2 = \"/x/libxml2.so\""));
        let missing = cargo_config(None);
        assert!(missing.contains("apt install libxml2-dev") && !missing.contains("\nLIBXML2"));
    }
}
