//! Host bindings for plugin interface `qbridge:plugin@0.2.0` (`wit/v0.2.0`), the one
//! `qbridge-sdk` builds: 0.1.0 plus `acknowledge` and the manifest's `supports-acknowledge`.

mod bindings {
    wasmtime::component::bindgen!({
        world: "mapper",
        path: "../wit/v0.2.0",
    });
}

super::interface::version_bindings!("qbridge:plugin@0.2.0");

impl Instance {
    pub(crate) fn manifest(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<qbridge_sdk::Manifest> {
        let m = self.0.call_manifest(store)?;
        Ok(qbridge_sdk::Manifest {
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
        })
    }

    pub(crate) fn acknowledge(
        &self,
        store: &mut Store<HostState>,
        kind: &str,
        record_json: &str,
        key: &str,
        response_xml: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        self.0
            .call_acknowledge(store, kind, record_json, key, response_xml)
    }
}
