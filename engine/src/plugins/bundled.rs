//! The plugins shipped inside the binary; `PluginManager::open` installs them on first start
//! and upgrades them when a newer binary ships a newer version. `build.rs` builds them from
//! the `plugins/` workspace into `OUT_DIR/bundled/`.

/// (file name, component bytes) of every bundled plugin.
pub(crate) const PLUGINS: &[(&str, &[u8])] = &[
    (
        "example.wasm",
        include_bytes!(concat!(env!("OUT_DIR"), "/bundled/example.wasm")),
    ),
    (
        "autotask.wasm",
        include_bytes!(concat!(env!("OUT_DIR"), "/bundled/autotask.wasm")),
    ),
    (
        "ramp.wasm",
        include_bytes!(concat!(env!("OUT_DIR"), "/bundled/ramp.wasm")),
    ),
];
