//! WASM glue: the SDK's `Mapper` implementation over [`crate::map`], [`crate::response`] and
//! [`crate::pull`].

use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{Manifest, MapError, Mapper, Page, PulledRecord, Request, export_mapper, host};

use crate::record::{HttpRequest, HttpResponse};

struct Ramp;

fn sdk_error(e: crate::record::MapError) -> MapError {
    MapError {
        field: e.field,
        message: e.message,
    }
}

impl Mapper for Ramp {
    fn manifest() -> Manifest {
        Manifest::new("ramp", env!("CARGO_PKG_VERSION"), "Ramp")
            .request_types(crate::map::REQUEST_TYPES)
            .allowed_hosts(&[crate::pull::HOST])
            .secrets(crate::pull::SECRETS)
            .supports_pull()
    }

    fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
        crate::map::map(kind, record).map_err(sdk_error)
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
        let page = crate::pull::pull_page(cursor, fetch)?;
        Ok(Page {
            records: page
                .records
                .into_iter()
                .map(|(kind, record)| PulledRecord { kind, record })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }
}

fn fetch(request: HttpRequest) -> Result<HttpResponse, String> {
    let response = host::fetch(host::HttpRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
    })?;
    Ok(HttpResponse {
        status: response.status,
        body: response.body,
    })
}

export_mapper!(Ramp);
