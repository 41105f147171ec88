//! WASM glue: the SDK's `Mapper` implementation over [`crate::map`] and [`crate::pull`]
//! (pull and acknowledgement).

use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{Manifest, MapError, Mapper, Page, Request, export_mapper};

struct Autotask;

impl Mapper for Autotask {
    fn manifest() -> Manifest {
        Manifest::new("autotask", env!("CARGO_PKG_VERSION"), "Autotask")
            .request_types(crate::map::REQUEST_TYPES)
            .allowed_hosts(crate::pull::ALLOWED_HOSTS)
            .config_key(
                crate::pull::ZONE_KEY,
                "Your Autotask database's zone: N of https://webservicesN.autotask.net (Autotask's zoneInformation call names it); unset, the zone-less webservices.autotask.net",
                false,
                None,
            )
            .secrets(crate::pull::SECRETS)
            .supports_pull()
            .supports_acknowledge()
    }

    fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
        crate::map::map(kind, record)
    }

    fn pull(cursor: Option<&str>) -> Result<Page, String> {
        let now = qbridge_sdk::host::now();
        let base = zone_base()?;
        Ok(crate::pull::pull_page(cursor, &now, &base, qbridge_sdk::host::fetch)?.into_page())
    }

    fn acknowledge(
        kind: &str,
        record: &Value,
        key: &str,
        response_xml: &str,
    ) -> Result<(), String> {
        let now = qbridge_sdk::host::now();
        let base = zone_base()?;
        match crate::pull::acknowledgement(kind, record, key, response_xml, &now, &base)? {
            Some(request) => {
                let what = format!("{} {}", request.method, request.url);
                qbridge_sdk::host::fetch(request)?.ok(&what)
            }
            None => Ok(()),
        }
    }
}

/// The API root of the zone configured for the call's connection.
fn zone_base() -> Result<String, String> {
    crate::pull::base_for_zone(qbridge_sdk::host::config(crate::pull::ZONE_KEY).as_deref())
}

export_mapper!(Autotask);
