//! Host bindings for plugin interface `qbridge:plugin@0.2.0` (`wit/v0.2.0`), still loaded so
//! plugins built for it keep running: 0.1.0 plus `acknowledge` and the manifest's `supports-acknowledge`.

mod bindings {
    wasmtime::component::bindgen!({
        world: "mapper",
        path: "../sdk/wit/v0.2.0",
    });
}

super::interface::version_bindings!("qbridge:plugin@0.2.0", [supports_acknowledge], before_0_3);
