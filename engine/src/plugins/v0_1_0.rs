//! Host bindings for plugin interface `qbridge:plugin@0.1.0` (`wit/v0.1.0`): the first
//! released interface, still loaded so plugins built for it keep running. What it shares with
//! later versions comes from [`version_bindings!`](super::interface::version_bindings).

mod bindings {
    wasmtime::component::bindgen!({
        world: "mapper",
        path: "../wit/v0.1.0",
    });
}

super::interface::version_bindings!("qbridge:plugin@0.1.0");

impl Instance {
    /// The manifest; 0.1.0 has no acknowledgement, so `supports_acknowledge` is false.
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
            supports_acknowledge: false,
        })
    }
}
