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

    fn on_response(key: &str, response_xml: &str) -> Result<Vec<Request>, MapError> {
        if let Some(list) = crate::lists::list_of_key(key) {
            // A failed upload must be tried again: the engine repeats a failed call later
            // with back-off (the page's answer is kept with its job).
            crate::lists::upload(list, response_xml, qbridge_sdk::host::fetch).map_err(|e| {
                MapError::new(format!(
                    "uploading QuickBooks {} to Ramp failed: {e}",
                    list.name()
                ))
            })?;
            return Ok(Vec::new());
        }
        crate::response::on_response(key, response_xml)
    }

    fn pull(cursor: Option<&str>) -> Result<Page, String> {
        let mut page = crate::pull::pull_page(cursor, qbridge_sdk::host::fetch)?;
        if cursor.is_none() {
            // A run starts: the lists go to Ramp once a day, whatever the schedule.
            let now = host::now();
            page.records
                .insert(0, crate::lists::daily_record(now.get(..10).unwrap_or(&now)));
        }
        Ok(page.into_page())
    }

    fn acknowledge(
        _kind: &str,
        _record: &Value,
        key: &str,
        response_xml: &str,
    ) -> Result<(), String> {
        match crate::pull::acknowledgement(key, response_xml)? {
            Some(request) => qbridge_sdk::host::fetch(request)?.ok("POST /accounting/syncs"),
            None => Ok(()),
        }
    }
}

export_mapper!(Ramp);
