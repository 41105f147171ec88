//! The [`Mapper`] trait a plugin implements, the types it exchanges with the engine, and
//! [`export_mapper!`](crate::export_mapper), which turns a `Mapper` into a WASM component.
//!
//! A plugin is a plain Rust type implementing [`Mapper`]; the WIT bindings (interface
//! `qbridge:plugin@0.3.0`, folder `wit/v0.3.0`) stay hidden inside the SDK. Mappers are
//! *stateless* (associated functions, no `self`): the engine may start a fresh instance of a
//! plugin at any time — after a swap, after a trap — so nothing may depend on earlier calls.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Request;

/// Version of the plugin interface this SDK builds plugins for (the WIT package version).
pub const INTERFACE_VERSION: &str = "0.3.0";

/// Longest accepted idempotency key, in bytes.
pub const MAX_KEY_LEN: usize = 200;
/// Largest accepted qbXML request element (and probe), in bytes.
pub const MAX_QBXML_LEN: usize = 256 * 1024;
/// Most requests one call may return.
pub const MAX_REQUESTS_PER_CALL: usize = 1_000;

/// What a plugin is and what it may do; returned by [`Mapper::manifest`].
///
/// The engine shows it to the admin, derives the QuickBooks permission areas from
/// `request_types`, and refuses at run time any request whose type is not declared here. A
/// new version that declares more request types, hosts or secrets waits for the admin's
/// approval before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Plugin name: lowercase letters, digits and `-`, e.g. `autotask`.
    pub name: String,
    /// Semantic version of this build, e.g. `1.4.0`.
    pub version: String,
    /// The system records come from, e.g. `Autotask`.
    pub source_system: String,
    /// qbXML request types this plugin may emit, without `Rq`: `CustomerAdd`, `InvoiceAdd`.
    pub request_types: Vec<String>,
    /// Hosts [`host::fetch`](crate::host::fetch) may reach, e.g. `api.ramp.com`. An entry
    /// may be a host template with one `{name}` placeholder of a declared [`config`] key,
    /// inside the first label and followed by at least two fixed labels
    /// (`{tenant}.halopsa.com`, `webservices{zone}.autotask.net`): it allows the host that the
    /// admin's value completes for the connection of the call, and nothing while the key has
    /// no value.
    ///
    /// [`config`]: Manifest::config
    pub allowed_hosts: Vec<String>,
    /// Names of the secrets the engine may inject into HTTP requests.
    pub secrets: Vec<String>,
    /// Lowest qbXML version the emitted requests need, e.g. `13.0`.
    pub min_qbxml_version: String,
    /// Interface version the plugin was built for; [`Manifest::new`] sets it.
    pub interface_version: String,
    /// True when [`Mapper::pull`] is implemented.
    pub supports_pull: bool,
    /// True when [`Mapper::acknowledge`] is implemented (set with
    /// [`Manifest::supports_acknowledge`]). Absent in manifests of 0.1.0 plugins.
    #[serde(default)]
    pub supports_acknowledge: bool,
    /// Settings the admin gives each installation (plugin-wide or per connection), declared
    /// with [`Manifest::config_key`] and read with [`host::config`](crate::host::config).
    /// Absent in manifests of plugins before interface 0.3.0.
    #[serde(default)]
    pub config: Vec<ConfigKey>,
}

/// One setting a plugin declares (see [`Manifest::config_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigKey {
    /// `[a-z][a-z0-9_]{0,31}`, e.g. `tenant`.
    pub name: String,
    /// What the value is and where the admin finds it, shown beside the setting.
    pub description: String,
    /// True when the plugin cannot pull without a value: the engine then fails a pull for a
    /// connection without one, naming the key, instead of calling the plugin.
    pub required: bool,
    /// The value when the admin set none. A key used in a host template may not have one: the
    /// admin's value is the approval of the host it completes.
    pub default_value: Option<String>,
}

impl Manifest {
    /// A manifest with no permissions, qbXML 13.0 and this SDK's interface version.
    pub fn new(name: &str, version: &str, source_system: &str) -> Manifest {
        Manifest {
            name: name.to_string(),
            version: version.to_string(),
            source_system: source_system.to_string(),
            request_types: Vec::new(),
            allowed_hosts: Vec::new(),
            secrets: Vec::new(),
            min_qbxml_version: "13.0".to_string(),
            interface_version: INTERFACE_VERSION.to_string(),
            supports_pull: false,
            supports_acknowledge: false,
            config: Vec::new(),
        }
    }

    /// Declares the qbXML request types this plugin emits (`CustomerAdd`, …).
    pub fn request_types(mut self, types: &[&str]) -> Manifest {
        self.request_types = types.iter().map(|t| t.to_string()).collect();
        self
    }

    /// Declares the hosts the plugin may reach over HTTP.
    pub fn allowed_hosts(mut self, hosts: &[&str]) -> Manifest {
        self.allowed_hosts = hosts.iter().map(|h| h.to_string()).collect();
        self
    }

    /// Declares the secret names the plugin refers to as `{{secret:NAME}}`.
    pub fn secrets(mut self, names: &[&str]) -> Manifest {
        self.secrets = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Sets the lowest qbXML version the requests need (`13.0` or `16.0`).
    pub fn min_qbxml_version(mut self, version: &str) -> Manifest {
        self.min_qbxml_version = version.to_string();
        self
    }

    /// Marks [`Mapper::pull`] as implemented.
    pub fn supports_pull(mut self) -> Manifest {
        self.supports_pull = true;
        self
    }

    /// Marks [`Mapper::acknowledge`] as implemented.
    pub fn supports_acknowledge(mut self) -> Manifest {
        self.supports_acknowledge = true;
        self
    }

    /// Declares a setting the admin gives each installation (`qbridge plugin config NAME set
    /// KEY VALUE [--connection C]`), read with [`host::config`](crate::host::config): e.g.
    /// `.config_key("tenant", "Your HaloPSA tenant, as in https://TENANT.halopsa.com", true,
    /// None)` with `.allowed_hosts(&["{tenant}.halopsa.com"])`.
    pub fn config_key(
        mut self,
        name: &str,
        description: &str,
        required: bool,
        default: Option<&str>,
    ) -> Manifest {
        self.config.push(ConfigKey {
            name: name.to_string(),
            description: description.to_string(),
            required,
            default_value: default.map(str::to_string),
        });
        self
    }
}

/// Why a record could not be mapped: what was wrong, and which source field when one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    /// The source field at fault, e.g. `companyName`.
    pub field: Option<String>,
    /// What was wrong and, when possible, what to do.
    pub message: String,
}

impl MapError {
    /// An error about the record as a whole.
    pub fn new(message: impl Into<String>) -> MapError {
        MapError {
            field: None,
            message: message.into(),
        }
    }

    /// An error about one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> MapError {
        MapError {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A required field is absent or not a string/number.
    pub fn missing(field: &str) -> MapError {
        MapError::field(field, format!("`{field}` is missing or empty"))
    }
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for MapError {}

/// One record fetched by [`Mapper::pull`].
#[derive(Debug, Clone, PartialEq)]
pub struct PulledRecord {
    /// Record kind, as later passed to [`Mapper::map`].
    pub kind: String,
    /// The record.
    pub record: Value,
}

/// A page of pulled records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// The records of this page.
    pub records: Vec<PulledRecord>,
    /// Cursor for the next page: the engine saves it and asks again with it until it stops
    /// changing. `None` when the source is exhausted — the next run then starts without a
    /// cursor (a sweep). A mapper resuming from a high-water mark returns the mark even on
    /// its last page.
    pub next_cursor: Option<String>,
}

/// A mapping plugin: turns source records into qbXML requests.
///
/// Implement it on a unit struct and register it with
/// [`export_mapper!`](crate::export_mapper). Only [`manifest`](Mapper::manifest) and
/// [`map`](Mapper::map) are required.
pub trait Mapper {
    /// Describes the plugin (see [`Manifest`]).
    fn manifest() -> Manifest;

    /// Maps one record of `kind` (e.g. `company`, `invoice`) to requests.
    fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError>;

    /// Follow-up requests once QuickBooks answered the request with `key` (e.g. a bill
    /// payment that needs the bill's TxnID). Default: none. An error is logged and the call
    /// is made again later with backoff (the write is in QuickBooks either way), so it must be
    /// idempotent.
    fn on_response(key: &str, response_xml: &str) -> Result<Vec<Request>, MapError> {
        let _ = (key, response_xml);
        Ok(Vec::new())
    }

    /// The next page of records from the source system. Default: not supported (leave
    /// [`Manifest::supports_pull`] off).
    fn pull(cursor: Option<&str>) -> Result<Page, String> {
        let _ = cursor;
        Err(format!(
            "plugin `{}` does not support pull; push records to qbridge instead",
            Self::manifest().name
        ))
    }

    /// Tells the source system that QuickBooks accepted the request `key`, made from the
    /// pulled `record` of `kind`; `response_xml` is QuickBooks' `…Ret` element (TxnID or
    /// ListID). Called only for records the engine pulled, after the write is durable, and
    /// again with backoff after an error — so it must be idempotent. Keys that need nothing
    /// return `Ok(())`. Default: nothing to do (leave [`Manifest::supports_acknowledge`] off).
    fn acknowledge(
        kind: &str,
        record: &Value,
        key: &str,
        response_xml: &str,
    ) -> Result<(), String> {
        let _ = (kind, record, key, response_xml);
        Ok(())
    }
}

/// Checks an idempotency key (also used for `depends_on` entries): 1 to [`MAX_KEY_LEN`]
/// bytes of ASCII letters, digits and `: _ - . / @ #`.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!(
            "the key is {} bytes long; at most {MAX_KEY_LEN} are allowed",
            key.len()
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":_-./@#".contains(*c)))
    {
        return Err(format!(
            "the key {key:?} contains {bad:?}; use ASCII letters, digits and : _ - . / @ #"
        ));
    }
    Ok(())
}

/// Checks what a plugin returned against its manifest: count, keys, dependency keys, sizes,
/// and that every request's type is declared. (The engine additionally checks that each
/// request is one well-formed XML element; [`crate::testing`] validates against the schema.)
pub fn check_requests(manifest: &Manifest, requests: &[Request]) -> Result<(), String> {
    if requests.len() > MAX_REQUESTS_PER_CALL {
        return Err(format!(
            "{} requests from one call; at most {MAX_REQUESTS_PER_CALL} are allowed",
            requests.len()
        ));
    }
    for r in requests {
        check_key(&r.key).map_err(|e| format!("request key {:?}: {e}", r.key))?;
        for dep in &r.depends_on {
            check_key(dep).map_err(|e| format!("request {:?} depends_on: {e}", r.key))?;
        }
        for (what, xml) in
            std::iter::once(("qbxml", &r.qbxml)).chain(r.probe.iter().map(|p| ("probe", p)))
        {
            if xml.len() > MAX_QBXML_LEN {
                return Err(format!(
                    "request {:?}: {what} is {} bytes; at most {MAX_QBXML_LEN} are allowed",
                    r.key,
                    xml.len()
                ));
            }
            let ty = crate::root_element(xml)
                .map(|name| name.strip_suffix("Rq").unwrap_or(name))
                .ok_or_else(|| {
                    format!(
                        "request {:?}: {what} does not start with an XML element",
                        r.key
                    )
                })?;
            if !manifest.request_types.iter().any(|t| t == ty) {
                return Err(format!(
                    "request {:?} is a {ty} request, which the manifest does not declare (declared: {}); add it to request_types",
                    r.key,
                    manifest.request_types.join(", ")
                ));
            }
        }
        check_versioning(manifest, r)?;
    }
    Ok(())
}

/// Most line keys or significant fields one request may carry, and their longest entry.
const MAX_LIST: usize = 10_000;
const MAX_ENTRY: usize = 200;

/// Line keys and significant fields are bounded; a void or delete names the object by its
/// Add and needs a removal the manifest declares.
fn check_versioning(manifest: &Manifest, r: &Request) -> Result<(), String> {
    for (what, list) in [("line_keys", &r.line_keys), ("significant", &r.significant)] {
        if list.len() > MAX_LIST {
            return Err(format!(
                "request {:?}: {} {what}; at most {MAX_LIST} are allowed",
                r.key,
                list.len()
            ));
        }
        if let Some(long) = list.iter().find(|e| e.is_empty() || e.len() > MAX_ENTRY) {
            return Err(format!(
                "request {:?}: {what} entry {long:?} must be 1 to {MAX_ENTRY} bytes",
                r.key
            ));
        }
    }
    if r.action == crate::Action::Write {
        return Ok(());
    }
    let Some(object) = r.request_type().and_then(|t| t.strip_suffix("Add")) else {
        return Err(format!(
            "request {:?}: a {} names the object by its Add request (e.g. InvoiceAdd), not {}",
            r.key,
            r.action.as_str(),
            r.request_type().unwrap_or("an unnamed element")
        ));
    };
    let declared = |t: &str| manifest.request_types.iter().any(|d| d == t);
    if !(declared("TxnVoid") || declared("TxnDel") || declared(&format!("{object}Mod"))) {
        return Err(format!(
            "request {:?} is a {} of a {object}, but the manifest declares no removal for it: add TxnVoid or TxnDel (transactions) or {object}Mod (lists, made inactive) to request_types",
            r.key,
            r.action.as_str()
        ));
    }
    Ok(())
}

/// The glue between [`Mapper`] and the generated WIT bindings; used by
/// [`export_mapper!`](crate::export_mapper) only.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private {
    wit_bindgen::generate!({
        world: "mapper",
        path: "wit/v0.3.0",
        pub_export_macro: true,
        export_macro_name: "__export_mapper_world",
    });

    // The generated world also defines `Manifest`, `Request`, … at this module's root, so
    // SDK types are named by path here.
    use qbridge::plugin::types as wit;

    fn request_to_wit(r: crate::Request) -> wit::Request {
        wit::Request {
            key: r.key,
            depends_on: r.depends_on,
            qbxml: r.qbxml,
            probe: r.probe,
            adopt_existing: r.adopt_existing,
            notes: r.notes,
            action: match r.action {
                crate::Action::Write => wit::Action::Write,
                crate::Action::Void => wit::Action::Void,
                crate::Action::Delete => wit::Action::Delete,
            },
            line_keys: r.line_keys,
            significant: r.significant,
        }
    }

    /// `manifest` export.
    pub fn manifest<M: crate::Mapper>() -> wit::Manifest {
        let m = M::manifest();
        wit::Manifest {
            name: m.name,
            version: m.version,
            source_system: m.source_system,
            request_types: m.request_types,
            allowed_hosts: m.allowed_hosts,
            secrets: m.secrets,
            min_qbxml_version: m.min_qbxml_version,
            interface_version: m.interface_version,
            supports_pull: m.supports_pull,
            supports_acknowledge: m.supports_acknowledge,
            config: m
                .config
                .into_iter()
                .map(|k| wit::ConfigKey {
                    name: k.name,
                    description: k.description,
                    required: k.required,
                    default_value: k.default_value,
                })
                .collect(),
        }
    }

    /// `map` export: parses the JSON, then runs the mapper.
    pub fn map<M: crate::Mapper>(
        kind: String,
        record_json: String,
    ) -> Result<Vec<wit::Request>, wit::MapError> {
        let record: serde_json::Value =
            serde_json::from_str(&record_json).map_err(|e| wit::MapError {
                field: None,
                message: format!("the record is not valid JSON: {e}"),
            })?;
        M::map(&kind, &record)
            .map(|rs| rs.into_iter().map(request_to_wit).collect())
            .map_err(|e| wit::MapError {
                field: e.field,
                message: e.message,
            })
    }

    /// `on-response` export.
    pub fn on_response<M: crate::Mapper>(
        key: String,
        response_xml: String,
    ) -> Result<Vec<wit::Request>, String> {
        M::on_response(&key, &response_xml)
            .map(|rs| rs.into_iter().map(request_to_wit).collect())
            .map_err(|e| e.to_string())
    }

    /// `acknowledge` export: parses the JSON, then runs the mapper.
    pub fn acknowledge<M: crate::Mapper>(
        kind: String,
        record_json: String,
        key: String,
        response_xml: String,
    ) -> Result<(), String> {
        let record: serde_json::Value = serde_json::from_str(&record_json)
            .map_err(|e| format!("the record is not valid JSON: {e}"))?;
        M::acknowledge(&kind, &record, &key, &response_xml)
    }

    /// `pull` export.
    pub fn pull<M: crate::Mapper>(cursor: Option<String>) -> Result<wit::Page, String> {
        let page = M::pull(cursor.as_deref())?;
        Ok(wit::Page {
            records: page
                .records
                .into_iter()
                .map(|r| wit::PulledRecord {
                    kind: r.kind,
                    record_json: r.record.to_string(),
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }
}

/// Registers a [`Mapper`] as the plugin's implementation of the WIT exports.
///
/// ```ignore
/// struct MyMapper;
/// impl qbridge_sdk::Mapper for MyMapper { /* … */ }
/// qbridge_sdk::export_mapper!(MyMapper);
/// ```
///
/// On native targets (your `cargo test`) it only names the mapper (so an unused-code lint
/// does not flag it), so the same crate builds for both; test the mapper with
/// [`crate::testing`].
#[macro_export]
macro_rules! export_mapper {
    ($mapper:ty) => {
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::Manifest = <$mapper as $crate::Mapper>::manifest;
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::mapper::__private as glue;
            struct QbridgeExports;
            impl glue::Guest for QbridgeExports {
                fn manifest() -> glue::qbridge::plugin::types::Manifest {
                    glue::manifest::<$mapper>()
                }
                fn map(
                    kind: ::std::string::String,
                    record_json: ::std::string::String,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<glue::qbridge::plugin::types::Request>,
                    glue::qbridge::plugin::types::MapError,
                > {
                    glue::map::<$mapper>(kind, record_json)
                }
                fn on_response(
                    key: ::std::string::String,
                    response_xml: ::std::string::String,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<glue::qbridge::plugin::types::Request>,
                    ::std::string::String,
                > {
                    glue::on_response::<$mapper>(key, response_xml)
                }
                fn pull(
                    cursor: ::std::option::Option<::std::string::String>,
                ) -> ::std::result::Result<glue::qbridge::plugin::types::Page, ::std::string::String>
                {
                    glue::pull::<$mapper>(cursor)
                }
                fn acknowledge(
                    kind: ::std::string::String,
                    record_json: ::std::string::String,
                    key: ::std::string::String,
                    response_xml: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    glue::acknowledge::<$mapper>(kind, record_json, key, response_xml)
                }
            }
            $crate::mapper::__private::__export_mapper_world!(QbridgeExports with_types_in $crate::mapper::__private);
        };
    };
}
