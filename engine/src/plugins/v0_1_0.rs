//! Host bindings for plugin interface `qbridge:plugin@0.1.0` (`wit/v0.1.0`).
//!
//! One module per supported interface version, the way Zed keeps `since_vX_Y_Z`: when 0.2
//! arrives it gets its own module and `Prepared`/`Instance` become enums over both, so
//! plugins built for 0.1 keep loading. Everything outside this module sees SDK types only.

use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};

use super::PluginError;
use super::host::HostState;
use qbridge_sdk::{Manifest, MapError, Page, PulledRecord, Request};

mod bindings {
    wasmtime::component::bindgen!({
        world: "mapper",
        path: "../wit/v0.1.0",
    });
}

use bindings::qbridge::plugin::{clock, http, log, types};
use bindings::{Mapper, MapperPre};

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let message: String = message.chars().take(4096).collect();
        let (plugin, version) = (&self.label.name, &self.label.version);
        match level {
            log::Level::Error => tracing::error!(plugin, version, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, version, "{message}"),
            log::Level::Info => tracing::info!(plugin, version, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, version, "{message}"),
            log::Level::Trace => tracing::trace!(plugin, version, "{message}"),
        }
    }
}

impl clock::Host for HostState {
    fn now(&mut self) -> String {
        qbridge_sdk::host::now()
    }
}

impl http::Host for HostState {
    fn fetch(&mut self, request: http::Request) -> Result<http::Response, String> {
        let response = self.http.fetch(super::http::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        })?;
        Ok(http::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

/// Adds this version's imports to a linker.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    Mapper::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}

/// A component linked against this interface version, ready to instantiate.
#[derive(Clone)]
pub(crate) struct Prepared(MapperPre<HostState>);

impl Prepared {
    pub(crate) fn new(
        linker: &Linker<HostState>,
        component: &Component,
    ) -> Result<Prepared, PluginError> {
        let pre = linker.instantiate_pre(component).map_err(|e| {
            PluginError::Invalid(format!(
                "the component does not fit interface qbridge:plugin@0.1.0: {e:#}"
            ))
        })?;
        MapperPre::new(pre).map(Prepared).map_err(|e| {
            PluginError::Invalid(format!(
                "the component does not export what interface qbridge:plugin@0.1.0 requires: {e:#}"
            ))
        })
    }

    pub(crate) fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Instance> {
        self.0.instantiate(store).map(Instance)
    }
}

/// A live instance.
pub(crate) struct Instance(Mapper);

impl Instance {
    pub(crate) fn manifest(&self, store: &mut Store<HostState>) -> wasmtime::Result<Manifest> {
        let m = self.0.call_manifest(store)?;
        Ok(Manifest {
            name: m.name,
            version: m.version,
            source_system: m.source_system,
            request_types: m.request_types,
            allowed_hosts: m.allowed_hosts,
            secrets: m.secrets,
            min_qbxml_version: m.min_qbxml_version,
            interface_version: m.interface_version,
            supports_pull: m.supports_pull,
        })
    }

    pub(crate) fn map(
        &self,
        store: &mut Store<HostState>,
        kind: &str,
        record_json: &str,
    ) -> wasmtime::Result<Result<Vec<Request>, MapError>> {
        Ok(self
            .0
            .call_map(store, kind, record_json)?
            .map(|rs| rs.into_iter().map(request).collect())
            .map_err(|e| MapError {
                field: e.field,
                message: e.message,
            }))
    }

    pub(crate) fn on_response(
        &self,
        store: &mut Store<HostState>,
        key: &str,
        response_xml: &str,
    ) -> wasmtime::Result<Vec<Request>> {
        Ok(self
            .0
            .call_on_response(store, key, response_xml)?
            .into_iter()
            .map(request)
            .collect())
    }

    pub(crate) fn pull(
        &self,
        store: &mut Store<HostState>,
        cursor: Option<&str>,
    ) -> wasmtime::Result<Result<Page, String>> {
        let page = match self.0.call_pull(store, cursor)? {
            Ok(page) => page,
            Err(e) => return Ok(Err(e)),
        };
        let mut records = Vec::with_capacity(page.records.len());
        for r in page.records {
            match serde_json::from_str(&r.record_json) {
                Ok(record) => records.push(PulledRecord {
                    kind: r.kind,
                    record,
                }),
                Err(e) => {
                    return Ok(Err(format!(
                        "pull returned a {} record that is not valid JSON: {e}",
                        r.kind
                    )));
                }
            }
        }
        Ok(Ok(Page {
            records,
            next_cursor: page.next_cursor,
        }))
    }
}

fn request(r: types::Request) -> Request {
    Request {
        key: r.key,
        depends_on: r.depends_on,
        qbxml: r.qbxml,
        probe: r.probe,
        adopt_existing: r.adopt_existing,
        notes: r.notes,
    }
}
