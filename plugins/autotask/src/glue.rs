//! WASM glue: the SDK's `Mapper` implementation over [`crate::map`] and [`crate::pull`].
//! Written against the mapper API of branch `plugins` (`qbridge_sdk::{Mapper, Manifest, …}`,
//! `qbridge_sdk::host::fetch`).

use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{Manifest, MapError, Mapper, Page, PulledRecord, Request, export_mapper, host};

use crate::record::{HttpRequest, HttpResponse};

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
    }

    fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
        crate::map::map(kind, record).map_err(|e| MapError {
            field: e.field,
            message: e.message,
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

export_mapper!(Autotask);
