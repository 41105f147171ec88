//! Builds the `plugins/` workspace (bundled plugins and test fixtures) for `wasm32-wasip2`
//! and hands the components to the engine: bundled ones are embedded with `include_bytes!`
//! from `OUT_DIR/bundled/`, and tests find the fixtures through `QBRIDGE_PLUGIN_FIXTURES`.
//!
//! The inner build uses its own target dir (`plugins/target`): building into the outer one
//! would wait forever on the build lock the outer cargo holds while running this script.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Bundled plugins: (crate artifact name, file name in OUT_DIR/bundled).
const BUNDLED: &[(&str, &str)] = &[
    ("qbridge_plugin_example", "example.wasm"),
    ("qbridge_plugin_autotask", "autotask.wasm"),
    ("qbridge_plugin_ramp", "ramp.wasm"),
];
/// Test fixtures, copied to OUT_DIR/fixtures under their artifact names.
const FIXTURES: &[&str] = &[
    "echo_v1",
    "echo_v2",
    "echo_v3",
    "echo_config",
    "rogue",
    "future_api",
    "legacy_v0_1",
    "legacy_v0_2",
];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("engine/ has a parent")
        .to_path_buf();
    let plugins = root.join("plugins");
    // Not the whole plugins/ folder: the inner build writes plugins/target, which would make
    // every build look dirty.
    for path in [
        "plugins/Cargo.toml",
        "plugins/Cargo.lock",
        "plugins/example",
        "plugins/autotask",
        "plugins/ramp",
        "plugins/fixtures",
        "sdk/Cargo.toml",
        "sdk/README.md",
        "sdk/src",
        "sdk/wit",
        "sdk/schemas",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    ensure_target();
    let target_dir = plugins.join("target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins)
        .args(["build", "--release", "--target", TARGET, "--target-dir"]);
    cmd.arg(&target_dir);
    scrub_env(&mut cmd);
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "cannot run cargo to build the plugins in {}: {e}",
            plugins.display()
        )
    });
    if !status.success() {
        panic!(
            "building the plugins workspace ({}) for {TARGET} failed; see the compiler output above. To retry by hand: cd plugins && cargo build --release --target {TARGET}",
            plugins.display()
        );
    }

    let built = target_dir.join(TARGET).join("release");
    let out = PathBuf::from(env("OUT_DIR"));
    embed_sdk(&root.join("sdk"), &out);
    let bundled = out.join("bundled");
    let fixtures = out.join("fixtures");
    for dir in [&bundled, &fixtures] {
        std::fs::create_dir_all(dir).expect("OUT_DIR is writable");
    }
    for (artifact, file) in BUNDLED {
        copy(&built.join(format!("{artifact}.wasm")), &bundled.join(file));
    }
    for artifact in FIXTURES {
        let file = format!("{artifact}.wasm");
        copy(&built.join(&file), &fixtures.join(&file));
    }
    println!(
        "cargo:rustc-env=QBRIDGE_PLUGIN_FIXTURES={}",
        fixtures.display()
    );
}

/// The parts of `sdk/` a plugin author builds against, listed in `OUT_DIR/sdk_files.rs` as
/// `(path inside the crate, include_bytes!(…))` so `qbridge plugin new` can write the SDK
/// this binary was built with beside a new plugin. Only relative paths reach the binary.
const SDK_PARTS: &[&str] = &["Cargo.toml", "README.md", "src", "wit", "schemas"];

fn embed_sdk(sdk: &Path, out: &Path) {
    fn walk(dir: &Path, base: &Path, files: &mut Vec<(String, PathBuf)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("a readable folder entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, base, files);
            } else {
                let rel = path.strip_prefix(base).expect("under the SDK");
                files.push((rel.to_string_lossy().replace('\\', "/"), path));
            }
        }
    }
    let mut files = Vec::new();
    for part in SDK_PARTS {
        let path = sdk.join(part);
        if path.is_dir() {
            walk(&path, sdk, &mut files);
        } else {
            files.push(((*part).to_string(), path));
        }
    }
    let mut code = String::from(
        "/// The SDK crate this binary was built with: (path inside the crate, contents).\npub(crate) const SDK_FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, path) in files {
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("sdk_files.rs"), code).expect("OUT_DIR is writable");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| {
        panic!(
            "cannot copy plugin {} to {}: {e}",
            from.display(),
            to.display()
        )
    });
}

/// Installs the wasm target when rustup is there and the target is not (some environments
/// set RUSTUP_AUTO_INSTALL=0, so rust-toolchain.toml alone does not install it).
fn ensure_target() {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return; // no rustup: the toolchain manager of this machine must provide the target
    };
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return;
    }
    let ok = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed; run it by hand"
        );
    }
}

/// Removes what the outer cargo set for this build script (or the user set for the outer
/// build) that would break or redirect the inner build: flags for the host target, a
/// clippy wrapper, the outer target dir and target triple.
fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        // The user's cargo settings for registries, network and terminal still apply.
        let keep = [
            "CARGO_HOME",
            "CARGO_NET_",
            "CARGO_HTTP_",
            "CARGO_REGISTRIES_",
            "CARGO_REGISTRY_",
            "CARGO_TERM_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix));
        let drop = (key.starts_with("CARGO_") && !keep)
            || matches!(
                key,
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "CLIPPY_ARGS"
                    | "CLIPPY_CONF_DIR"
                    | "OUT_DIR"
                    | "TARGET"
                    | "HOST"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTC_LINKER"
            );
        if drop {
            cmd.env_remove(key);
        }
    }
}
