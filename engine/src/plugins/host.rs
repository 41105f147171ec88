//! The wasmtime side of plugins: one `Engine` with an epoch ticker, the compiled-code cache,
//! the per-store sandbox (empty WASI without clock waits, one memory budget across memories
//! and tables, rate-limited escaped log lines, captured stderr — see `sandbox.rs`) and the
//! per-thread cached instances that calls run on.
//!
//! Cost model (research/wasm-host.md): compiling a component takes ~0.1–0.2 s, loading a
//! cached `.cwasm` ~0.2 ms, instantiating ~20–50 µs and a call on a live instance ~5 µs. So
//! components are compiled once and cached on disk, and each worker thread keeps one live
//! instance per plugin generation, re-created after a trap (a trapped instance is poisoned),
//! when the generation changes (hot swap) and every [`RECYCLE_AFTER_CALLS`] calls (so guest
//! state and captured stderr cannot grow without bound).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::PluginError;
use super::http::HttpPolicy;
use super::interface::{self, Instance, Prepared};
use super::sandbox::{self, LogBudget, MAX_RESOURCES, MemoryBudget};

/// How often the epoch advances; CPU deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// A cached instance is replaced after this many calls.
const RECYCLE_AFTER_CALLS: u32 = 10_000;
/// Captured guest stderr per instance (panic messages); writes beyond it fail in the guest.
const STDERR_CAPACITY: usize = 1024 * 1024;
/// Most of the captured stderr quoted in an error message.
const STDERR_QUOTE: usize = 500;

/// Per-call resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory a plugin instance may have.
    pub memory_bytes: u64,
    /// Longest a single call may run.
    pub call_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * 1024 * 1024,
            call_timeout: Duration::from_secs(1),
        }
    }
}

impl Limits {
    fn memory_mib(&self) -> u64 {
        self.memory_bytes / (1024 * 1024)
    }

    fn describe_timeout(&self) -> String {
        let ms = self.call_timeout.as_millis();
        if ms.is_multiple_of(1000) {
            format!("{} s", ms / 1000)
        } else {
            format!("{ms} ms")
        }
    }
}

/// Who a store belongs to, for log lines and error messages.
#[derive(Debug, Clone)]
pub(crate) struct Label {
    pub name: String,
    pub version: String,
}

/// The data of one wasmtime `Store`: the sandbox of one plugin instance.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    log_budget: LogBudget,
    /// When the running call must end (set by `PluginHost::arm`); host calls that wait, such
    /// as `fetch`, get what is left of it.
    deadline: std::time::Instant,
    /// The connection (company file) the running call is for, set by `PluginHost::arm`
    /// before every call: `fetch` uses that connection's secrets.
    connection: Option<i64>,
    stderr: MemoryOutputPipe,
    pub(crate) label: Label,
    pub(crate) http: HttpPolicy,
}

impl HostState {
    /// The running call's deadline.
    pub(crate) fn call_deadline(&self) -> std::time::Instant {
        self.deadline
    }

    /// The connection the running call is for (`None`: no particular one, e.g. `manifest`).
    pub(crate) fn call_connection(&self) -> Option<i64> {
        self.connection
    }

    /// A log line from the plugin, tagged with its name and version, escaped (no forged
    /// lines or terminal escapes), cut to 4,096 characters and rate limited per instance (a
    /// plugin must not flood the engine's log); dropped lines are counted and reported.
    pub(crate) fn plugin_log(&mut self, level: tracing::Level, message: &str) {
        let Some(dropped) = self.log_budget.admit(std::time::Instant::now()) else {
            return;
        };
        let (plugin, version) = (&self.label.name, &self.label.version);
        if dropped > 0 {
            tracing::warn!(
                plugin,
                version,
                dropped,
                "plugin log lines dropped: it logs faster than its limit"
            );
        }
        let message = sandbox::escape_log(message);
        match level {
            tracing::Level::ERROR => tracing::error!(plugin, version, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, version, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, version, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, version, "{message}"),
            tracing::Level::TRACE => tracing::trace!(plugin, version, "{message}"),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps an instance's memories and tables together, with a message that says what happened
/// (plain `StoreLimits` caps each memory alone, so a plugin creating many memories would
/// multiply the limit, and only makes the guest's allocator abort with an opaque trap).
struct MemoryLimiter {
    budget: MemoryBudget,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.budget
            .charge(current, desired)
            .map_err(|e| wasmtime::format_err!(e))?;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.budget
            .charge_table(current, desired)
            .map_err(|e| wasmtime::format_err!(e))?;
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_RESOURCES
    }

    fn tables(&self) -> usize {
        MAX_RESOURCES
    }

    fn memories(&self) -> usize {
        MAX_RESOURCES
    }
}

/// The engine, the linker (imports of every supported interface version), and the
/// compiled-code cache.
pub(crate) struct PluginHost {
    /// Distinguishes hosts in the per-thread instance cache (tests run several in a process).
    id: u64,
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: PathBuf,
    /// Where the hashes of the compiled files are recorded (see `store::plugin_cache`).
    store: crate::store::Store,
    pub(crate) limits: Limits,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl PluginHost {
    /// Creates the engine and starts its epoch ticker (the ticker stops when the engine is
    /// dropped).
    pub(crate) fn new(
        cache_dir: PathBuf,
        store: crate::store::Store,
        limits: Limits,
    ) -> Result<PluginHost, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| PluginError::Host(e.to_string()))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| PluginError::Host(format!("cannot start the epoch ticker: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        interface::add_to_linker(&mut linker).map_err(|e| PluginError::Host(e.to_string()))?;
        sandbox::refuse_clock_waits(&mut linker).map_err(|e| PluginError::Host(e.to_string()))?;
        std::fs::create_dir_all(&cache_dir).map_err(|e| {
            PluginError::Host(format!(
                "cannot create the plugin cache {}: {e}",
                cache_dir.display()
            ))
        })?;
        Ok(PluginHost {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            engine,
            linker,
            cache_dir,
            store,
            limits,
        })
    }

    /// Compiles `wasm` (or loads its cached compilation) and links it against the interface
    /// version it was built for.
    pub(crate) fn prepare(&self, wasm: &[u8]) -> Result<Prepared, PluginError> {
        let component = self.component(wasm)?;
        let version = interface_version(&component, &self.engine)?;
        Prepared::new(&self.linker, &component, &version)
    }

    /// The compiled component, from `<cache>/<sha256>-<compat>.cwasm` when present and its
    /// bytes hash to what was recorded in the database when it was written; otherwise
    /// compiled again (and the file and its hash replaced).
    fn component(&self, wasm: &[u8]) -> Result<Component, PluginError> {
        let path = self.cache_path(wasm);
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let store_err = |e: crate::store::StoreError| PluginError::Host(e.to_string());
        if let Ok(bytes) = std::fs::read(&path) {
            let recorded = self.store.plugin_cache_hash(&file).map_err(store_err)?;
            if recorded.as_deref() == Some(sha256_hex(&bytes).as_str()) {
                match load_verified(&self.engine, &bytes) {
                    Ok(component) => return Ok(component),
                    // From another build: compile again below and overwrite it.
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "recompiling a plugin whose cached code cannot be loaded")
                    }
                }
            } else {
                tracing::warn!(
                    path = %path.display(),
                    "recompiling a plugin whose cached code does not match the hash recorded when it was written (changed on disk, or written by another installation)"
                );
            }
        }
        let compiled = self.engine.precompile_component(wasm).map_err(|e| {
            PluginError::Invalid(format!("not a valid WebAssembly component: {e:#}"))
        })?;
        // Hash first, file second: a crash between the two leaves a file without a matching
        // record, which is recompiled, never a record vouching for a file it did not see.
        self.store
            .record_plugin_cache(&file, &sha256_hex(&compiled))
            .map_err(store_err)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &compiled)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| PluginError::Host(format!("cannot write {}: {e}", path.display())))?;
        // Loaded from the bytes just compiled, not read back from the disk.
        load_verified(&self.engine, &compiled).map_err(|e| PluginError::Host(e.to_string()))
    }

    fn cache_path(&self, wasm: &[u8]) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        self.cache_dir.join(format!(
            "{}-{:016x}.cwasm",
            sha256_hex(wasm),
            hasher.finish()
        ))
    }

    /// A fresh sandboxed store for one instance of `label`'s plugin.
    pub(crate) fn store(&self, label: Label, http: HttpPolicy) -> Store<HostState> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // No preopens, no environment, no arguments, no network: Rust std needs the WASI
        // imports to link, but they give the guest nothing.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                budget: MemoryBudget::new(
                    usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX),
                ),
            },
            log_budget: LogBudget::new(),
            deadline: std::time::Instant::now() + self.limits.call_timeout,
            connection: None,
            stderr,
            label,
            http,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
    }

    /// Arms the CPU deadline for the next call on `store` and says which connection it is
    /// for. A store's deadline does not reset by itself, and an instance serves calls for
    /// every connection in turn, so this runs before every call.
    pub(crate) fn arm(
        &self,
        store: &mut Store<HostState>,
        timeout: Duration,
        connection: Option<i64>,
    ) {
        let ticks = timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        // The epoch deadline counts guest time; this one is wall time, for host calls.
        store.data_mut().deadline = std::time::Instant::now() + timeout;
        store.data_mut().connection = connection;
    }

    /// Turns a wasmtime error from a call into a [`PluginError`] that says what happened.
    pub(crate) fn explain(
        &self,
        store: &Store<HostState>,
        error: wasmtime::Error,
        timeout: Duration,
    ) -> PluginError {
        let state = store.data();
        let (name, version) = (state.label.name.clone(), state.label.version.clone());
        if let Some((current, desired)) = state.limiter.budget.refused {
            return PluginError::Memory {
                name,
                version,
                limit_mib: self.limits.memory_mib(),
                detail: format!(
                    "it tried to grow its memories and tables from {} MiB to {} MiB in total",
                    current >> 20,
                    desired >> 20
                ),
            };
        }
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return PluginError::Timeout {
                name,
                version,
                limit: Limits {
                    call_timeout: timeout,
                    ..self.limits
                }
                .describe_timeout(),
            };
        }
        let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
        if let Some(message) = panic_message(&stderr) {
            return PluginError::Panic {
                name,
                version,
                message,
            };
        }
        // wasmtime appends a multi-line wasm backtrace; errors here are one line.
        let mut message = format!("{error:#}")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let stderr = stderr.trim();
        if !stderr.is_empty() {
            message.push_str(&format!(
                "; its stderr: {}",
                quote(&stderr.replace('\n', " "))
            ));
        }
        PluginError::Trap {
            name,
            version,
            message,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

/// Loads compiled code this host produced: either just compiled, or read from the cache and
/// matching the SHA-256 recorded in the database when it was written.
fn load_verified(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize` trusts its input to be wasmtime output for this engine. Callers
    // pass only bytes `precompile_component` returned in this process, or cache file bytes
    // whose SHA-256 equals the hash recorded when this host wrote that file (the check and
    // the load use the same in-memory bytes, so the file cannot change in between); wasmtime
    // still checks the header and refuses artifacts from another build.
    #[allow(unsafe_code)]
    unsafe {
        Component::deserialize(engine, bytes)
    }
}

/// The `qbridge:plugin` interface version a component was built for, read from its imports
/// (every plugin imports at least `qbridge:plugin/types@X`).
fn interface_version(component: &Component, engine: &Engine) -> Result<String, PluginError> {
    let ty = component.component_type();
    ty.imports(engine)
        .find_map(|(name, _)| {
            name.strip_prefix("qbridge:plugin/")
                .and_then(|rest| rest.split_once('@'))
                .map(|(_, version)| version.to_string())
        })
        .ok_or_else(|| {
            PluginError::Invalid(
                "this component is not a qbridge plugin: it imports no `qbridge:plugin` interface. Build it with qbridge-sdk (`export_mapper!`)".into(),
            )
        })
}

/// The first line of a Rust panic message in captured stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.find("panicked at")?;
    // "thread '<unnamed>' panicked at src/lib.rs:3:5:\n<message>\nnote: …"
    let rest = &stderr[at..];
    let message = rest
        .split_once(":\n")
        .map(|(_, msg)| msg.lines().next().unwrap_or(""))
        .unwrap_or(rest.lines().next().unwrap_or(""));
    Some(quote(message.trim()))
}

fn quote(text: &str) -> String {
    if text.len() <= STDERR_QUOTE {
        return text.to_string();
    }
    let mut end = STDERR_QUOTE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    crate::store::audit::hex(&Sha256::digest(bytes))
}

/// One live instance cached on a worker thread.
struct Cached {
    generation: u64,
    calls: u32,
    store: Store<HostState>,
    instance: Instance,
}

thread_local! {
    /// (host id, plugin name) → this thread's live instance of the current generation.
    static INSTANCES: RefCell<HashMap<(u64, String), Cached>> = RefCell::new(HashMap::new());
}

/// A compiled, linked, validated plugin version: the unit that hot swap replaces.
pub(crate) struct Generation {
    /// Unique per prepared version; cached instances of another generation are discarded.
    pub(crate) id: u64,
    pub(crate) manifest: qbridge_sdk::Manifest,
    pub(crate) sha256: String,
    pub(crate) prepared: Prepared,
    pub(crate) http: HttpPolicy,
}

static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

impl Generation {
    pub(crate) fn new(
        manifest: qbridge_sdk::Manifest,
        sha256: String,
        prepared: Prepared,
        http: HttpPolicy,
    ) -> Generation {
        Generation {
            id: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            manifest,
            sha256,
            prepared,
            http,
        }
    }

    fn label(&self) -> Label {
        Label {
            name: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
        }
    }

    /// Runs `f` on this thread's live instance of this generation, creating it if needed.
    /// The instance is taken out of the cache for the call (so a slow call keeps its own
    /// generation even if a swap happens meanwhile) and put back only if the call did not
    /// trap.
    pub(crate) fn with_instance<T>(
        &self,
        host: &PluginHost,
        timeout: Duration,
        connection: Option<i64>,
        f: impl FnOnce(&Instance, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        let key = (host.id(), self.manifest.name.clone());
        let cached = INSTANCES
            .with(|map| map.borrow_mut().remove(&key))
            .filter(|c| c.generation == self.id && c.calls < RECYCLE_AFTER_CALLS);
        let mut cached = match cached {
            Some(c) => c,
            None => {
                let mut store = host.store(self.label(), self.http.clone());
                host.arm(&mut store, timeout, None);
                let instance = self
                    .prepared
                    .instantiate(&mut store)
                    .map_err(|e| host.explain(&store, e, timeout))?;
                Cached {
                    generation: self.id,
                    calls: 0,
                    store,
                    instance,
                }
            }
        };
        host.arm(&mut cached.store, timeout, connection);
        match f(&cached.instance, &mut cached.store) {
            Ok(value) => {
                cached.calls += 1;
                INSTANCES.with(|map| map.borrow_mut().insert(key, cached));
                Ok(value)
            }
            // The instance is poisoned after a trap: drop it; the next call instantiates anew.
            Err(e) => Err(host.explain(&cached.store, e, timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn panic_message_is_the_line_after_the_location() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:33:24:\nrogue fixture panics on purpose\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("rogue fixture panics on purpose")
        );
        assert_eq!(panic_message("nothing here"), None);
    }

    /// A WebAssembly module that declares `count` memories of `pages` 64 KiB pages each
    /// (multi-memory), assembled by hand: what a plugin trying to multiply its memory limit
    /// would ship.
    fn module_with_memories(count: u8, pages: u8) -> Vec<u8> {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        // Memory section (id 5): a vector of limits, each `0x00 min` (no maximum).
        let mut section = vec![count];
        for _ in 0..count {
            section.extend([0x00, pages]);
        }
        bytes.push(5);
        bytes.push(section.len() as u8);
        bytes.extend(section);
        bytes
    }

    /// The sandbox's store limiter contains a guest that creates many memories: together
    /// they may not exceed the per-instance budget, however small each is — and a module
    /// within the budget instantiates in the same kind of store.
    #[test]
    fn a_guest_with_many_memories_is_held_to_one_budget_for_all_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::Store::open(&dir.path().join("data"), Default::default()).unwrap();
        let limits = Limits {
            memory_bytes: 64 << 20,
            ..Limits::default()
        };
        let host = PluginHost::new(dir.path().join("cache"), db.clone(), limits).unwrap();
        let manifest = qbridge_sdk::Manifest::new("many", "1.0.0", "Many memories");
        let http = Arc::new(super::super::http::SourceHttp::new(
            Arc::new(super::super::http::NoSecrets),
            Arc::new(super::super::plugin_config::StoredConfig(db.clone())),
            super::super::endpoints::SourceEndpoints::default(),
        ));
        let instantiate = |count: u8| {
            let label = Label {
                name: "many".into(),
                version: "1.0.0".into(),
            };
            let mut store = host.store(label, HttpPolicy::new(&manifest, http.clone()));
            let module =
                wasmtime::Module::new(&host.engine, module_with_memories(count, 80)).unwrap();
            wasmtime::Instance::new(&mut store, &module, &[]).map(|_| ())
        };
        // 12 × 5 MiB fit in 64 MiB; 16 × 5 MiB do not, although each alone is far below it.
        instantiate(12).expect("within the budget");
        let err = instantiate(16)
            .expect_err("over the budget in total")
            .to_string();
        assert!(err.contains("in total"), "{err}");
    }

    #[test]
    fn timeouts_are_described_in_seconds_or_milliseconds() {
        let mut limits = Limits::default();
        assert_eq!(limits.describe_timeout(), "1 s");
        limits.call_timeout = Duration::from_millis(250);
        assert_eq!(limits.describe_timeout(), "250 ms");
    }
}
