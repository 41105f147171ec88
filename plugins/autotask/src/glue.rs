//! WASM glue: the SDK's `Mapper` implementation over [`crate::map`] and [`crate::pull`]
//! (pull and acknowledgement).

use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{Manifest, MapError, Mapper, Page, Request, export_mapper};

struct Autotask;

impl Mapper for Autotask {
    fn manifest() -> Manifest {
        let hosts = crate::pull::allowed_hosts();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        Manifest::new("autotask", env!("CARGO_PKG_VERSION"), "Autotask")
            .request_types(crate::map::REQUEST_TYPES)
            .allowed_hosts(&hosts)
            .secrets(crate::pull::SECRETS)
            .supports_pull()
            .supports_acknowledge()
    }

    fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
        crate::map::map(kind, record)
    }

    fn pull(cursor: Option<&str>) -> Result<Page, String> {
        let now = qbridge_sdk::host::now();
        Ok(crate::pull::pull_page(cursor, &now, qbridge_sdk::host::fetch)?.into_page())
    }

    fn acknowledge(
        kind: &str,
        record: &Value,
        key: &str,
        response_xml: &str,
    ) -> Result<(), String> {
        let now = qbridge_sdk::host::now();
        match crate::pull::acknowledgement(kind, record, key, response_xml, &now)? {
            Some(request) => {
                let what = format!("{} {}", request.method, request.url);
                qbridge_sdk::host::fetch(request)?.ok(&what)
            }
            None => Ok(()),
        }
    }
}

export_mapper!(Autotask);
