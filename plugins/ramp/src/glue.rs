//! WASM glue: the SDK's `Mapper` implementation over [`crate::map`], [`crate::response`] and
//! [`crate::pull`] (pull and acknowledgement).

use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{Manifest, MapError, Mapper, Page, Request, export_mapper, host};

struct Ramp;

impl Mapper for Ramp {
    fn manifest() -> Manifest {
        Manifest::new("ramp", env!("CARGO_PKG_VERSION"), "Ramp")
            .request_types(crate::map::REQUEST_TYPES)
            .allowed_hosts(&[crate::pull::HOST])
            .secrets(crate::pull::SECRETS)
            .supports_pull()
            .supports_acknowledge()
    }

    fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
        crate::map::map(kind, record)
    }

    fn on_response(key: &str, response_xml: &str) -> Vec<Request> {
        // The interface has no error channel here: log, so the admin sees why no payment came.
        crate::response::on_response(key, response_xml).unwrap_or_else(|e| {
            host::log(
                host::Level::Error,
                &format!("no bill payments for {key}: {e}"),
            );
            Vec::new()
        })
    }

    fn pull(cursor: Option<&str>) -> Result<Page, String> {
        Ok(crate::pull::pull_page(cursor, crate::record::host_fetch)?.into_sdk())
    }

    fn acknowledge(
        _kind: &str,
        _record: &Value,
        key: &str,
        response_xml: &str,
    ) -> Result<(), String> {
        match crate::pull::acknowledgement(key, response_xml)? {
            Some(request) => crate::record::host_fetch(request)?.ok("POST /accounting/syncs"),
            None => Ok(()),
        }
    }
}

export_mapper!(Ramp);
