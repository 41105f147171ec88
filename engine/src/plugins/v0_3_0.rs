//! Host bindings for plugin interface `qbridge:plugin@0.3.0` (`wit/v0.3.0`), the one
//! `qbridge-sdk` builds: 0.2.0 plus each request's `action` (write, void, delete),
//! `line-keys` and `significant` fields, an `on-response` that can fail, and the
//! installation's settings (the manifest's `config` keys, read through the `config` import).

mod bindings {
    wasmtime::component::bindgen!({
        world: "mapper",
        path: "../sdk/wit/v0.3.0",
    });
}

super::interface::version_bindings!("qbridge:plugin@0.3.0", [supports_acknowledge], changes);

impl bindings::qbridge::plugin::config::Host for HostState {
    fn get(&mut self, name: String) -> Option<String> {
        self.http.config_value(&name, self.call_connection())
    }
}
