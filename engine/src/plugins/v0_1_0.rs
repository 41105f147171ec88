//! Host bindings for plugin interface `qbridge:plugin@0.1.0` (`wit/v0.1.0`): the first
//! released interface, still loaded so plugins built for it keep running. What it shares with
//! later versions comes from [`version_bindings!`](super::interface::version_bindings).

mod bindings {
    wasmtime::component::bindgen!({
        world: "mapper",
        path: "../sdk/wit/v0.1.0",
    });
}

super::interface::version_bindings!("qbridge:plugin@0.1.0", [], before_0_3);
