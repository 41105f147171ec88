//! `qbridge secret set|list|delete`: source secrets from the command line.
//!
//! The value is read from stdin, never from argv (argv is visible to every user in `ps` and
//! lands in shell history). Values are never printed.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;

use super::cli::cli_actor;
use crate::config::Config;
use crate::store::Store;
use crate::store::secrets::SecretKey;

/// Longest value read from stdin (the store refuses more than 16 KiB anyway).
const MAX_STDIN: u64 = 64 * 1024;

/// `qbridge secret …`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a plugin's secret; reads the value from stdin (e.g. `qbridge secret set ramp api_key < key.txt`).
    Set {
        /// Plugin that uses it.
        plugin: String,
        /// Name the plugin asks for, e.g. api_key.
        name: String,
    },
    /// List stored secrets (names and when they were set, never values).
    List,
    /// Delete a secret.
    Delete {
        /// Plugin.
        plugin: String,
        /// Name.
        name: String,
    },
}

/// Runs `qbridge secret …`.
pub fn run(config: &Config, store: &Store, cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Set { plugin, name } => {
            let mut value = String::new();
            std::io::stdin()
                .take(MAX_STDIN)
                .read_to_string(&mut value)
                .context("cannot read the secret value from stdin (it must be UTF-8 text)")?;
            // A trailing newline comes from `echo` or an editor, never from the secret.
            let value = value.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                bail!(
                    "no value on stdin: pipe it in, e.g. `qbridge secret set {plugin} {name} < file`"
                );
            }
            let key = SecretKey::open(&config.secrets_key_path())?;
            store.set_secret(&key, &plugin, &name, value, &cli_actor())?;
            println!("secret {plugin}/{name} stored (encrypted)");
        }
        SecretCommand::List => {
            for s in store.secret_names(None)? {
                println!("{:<24} {:<24} set by {}", s.plugin, s.name, s.set_by);
            }
        }
        SecretCommand::Delete { plugin, name } => {
            store.delete_secret(&plugin, &name, &cli_actor())?;
            println!("secret {plugin}/{name} deleted");
        }
    }
    Ok(())
}
