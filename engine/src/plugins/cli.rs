//! `qbridge plugin …`: install, list, approve, roll back and remove plugins offline on the
//! data dir, and scaffold new plugin crates.
//!
//! These commands open the store, which takes the instance lock; while a server runs on the
//! data dir they refuse and point at the server's admin API instead, because two processes
//! swapping plugins under each other would leave the running server on a stale version.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::{InstallOutcome, PluginManager, permission_areas, scaffold};
use crate::config::Config;
use crate::store::{PluginStatus, StoreError};

/// `qbridge plugin …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install a plugin component (FILE.wasm; FILE.wasm.minisig is used when present).
    Install {
        /// The component, built with `cargo build --release --target wasm32-wasip2`.
        file: PathBuf,
    },
    /// List installed plugins and versions.
    List,
    /// Approve a staged version that asks for more permissions; it starts running.
    Approve {
        /// Plugin name.
        name: String,
        /// The staged version.
        version: String,
    },
    /// Go back to the previous version of a plugin.
    Rollback {
        /// Plugin name.
        name: String,
    },
    /// Stop and remove a plugin (its versions stay in the registry for the record).
    Remove {
        /// Plugin name.
        name: String,
    },
    /// Create a new plugin crate in ./NAME, ready to test and build.
    New {
        /// Plugin name: lowercase letters, digits and '-'.
        name: String,
    },
}

/// Runs one `plugin` subcommand.
pub fn run(command: PluginCommand, config: &Config) -> anyhow::Result<ExitCode> {
    if let PluginCommand::New { name } = &command {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let dir = scaffold::new_plugin(name, &cwd).map_err(anyhow::Error::msg)?;
        println!("created plugin crate {}", dir.display());
        println!(
            "  cd {name} && cargo test                                   # run its tests natively"
        );
        println!(
            "  cargo build --release --target wasm32-wasip2             # build the component"
        );
        println!(
            "  qbridge plugin install target/wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let manager = open(config)?;
    let actor = actor();
    match command {
        PluginCommand::New { .. } => unreachable!("handled above"),
        PluginCommand::Install { file } => {
            let wasm = std::fs::read(&file)
                .with_context(|| format!("cannot read the plugin file {}", file.display()))?;
            let sig_path = PathBuf::from(format!("{}.minisig", file.display()));
            let signature = match std::fs::read_to_string(&sig_path) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).context(format!("cannot read {}", sig_path.display())),
            };
            match manager.install(&wasm, signature.as_deref(), &actor)? {
                InstallOutcome::Activated {
                    name,
                    version,
                    replaced,
                } => match replaced {
                    Some(old) => println!("plugin {name} {version} is running (replaced {old})"),
                    None => println!("plugin {name} {version} is installed and running"),
                },
                InstallOutcome::Staged {
                    name,
                    version,
                    escalation,
                } => {
                    println!(
                        "plugin {name} {version} is staged: it asks for more than the running version ({escalation})"
                    );
                    println!(
                        "the running version stays active until you approve: qbridge plugin approve {name} {version}"
                    );
                }
                InstallOutcome::AlreadyActive { name, version } => {
                    println!("plugin {name} {version} is already running (same file)")
                }
            }
        }
        PluginCommand::List => {
            let versions = manager.list()?;
            if versions.is_empty() {
                println!("no plugins installed");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<20} {:<12} {:<9} {:<14} {:<24} request types",
                "NAME", "VERSION", "STATUS", "SHA256", "INSTALLED BY"
            );
            for v in &versions {
                println!(
                    "{:<20} {:<12} {:<9} {:<14} {:<24} {}",
                    v.name,
                    v.version,
                    v.status.to_string(),
                    &v.sha256[..12.min(v.sha256.len())],
                    v.installed_by,
                    v.manifest.request_types.join(", ")
                );
            }
            for v in versions.iter().filter(|v| v.status == PluginStatus::Active) {
                let areas: Vec<String> =
                    permission_areas(v.manifest.request_types.iter().map(String::as_str))
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                println!(
                    "{} needs QuickBooks permissions: {}",
                    v.name,
                    areas.join("; ")
                );
            }
        }
        PluginCommand::Approve { name, version } => {
            manager.approve(&name, &version, &actor)?;
            println!("plugin {name} {version} is approved and running");
        }
        PluginCommand::Rollback { name } => {
            let version = manager.rollback(&name, &actor)?;
            println!("plugin {name} rolled back to {version}");
        }
        PluginCommand::Remove { name } => {
            manager.remove(&name, &actor)?;
            println!("plugin {name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(config: &Config) -> anyhow::Result<PluginManager> {
    let store = match crate::cli::open_store(config) {
        Ok(store) => store,
        Err(e)
            if matches!(
                e.downcast_ref::<StoreError>(),
                Some(StoreError::Locked { .. })
            ) =>
        {
            return Err(e.context(
                "a running qbridge server holds this data dir; manage plugins through its admin API (POST /api/v1/plugins), or stop the server and run this command again",
            ));
        }
        Err(e) => return Err(e),
    };
    Ok(PluginManager::open(store, config)?)
}

/// Who the audit log names for CLI actions.
fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
