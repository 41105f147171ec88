//! `qbridge plugin config PLUGIN [set KEY VALUE | unset KEY] [--connection NAME]`: a plugin
//! installation's settings from the command line.
//!
//! Listing reads the database beside a running server. Changes go through the running
//! server's admin API with the local admin credential when one runs (like the other changing
//! commands), else into the store directly; either way `config_admin` checks them and writes
//! the audit row. Values are not secrets (those are `qbridge secret`), so they may be given
//! on the command line.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::config_admin::{self, ConfigView};
use crate::admin::local::segment;
use crate::cli::Way;
use crate::config::Config;
use crate::store::audit::AuditEntry;

/// `qbridge plugin config …`
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Plugin name.
    plugin: String,
    /// Without one: list the declared keys and the values set.
    #[command(subcommand)]
    action: Option<ConfigAction>,
}

/// Changing a setting.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Set KEY to VALUE, plugin-wide or for one connection. A value that completes a host
    /// (a template such as {tenant}.halopsa.com) is your approval of that host.
    Set {
        /// A key the plugin declares.
        key: String,
        /// The value (1 to 1024 bytes; one DNS label for a key that completes a host).
        value: String,
        /// Only for this connection (company file); without it, the plugin-wide value every
        /// connection without its own uses.
        #[arg(long)]
        connection: Option<String>,
    },
    /// Remove the value of KEY (plugin-wide, or the connection's own).
    Unset {
        /// The key.
        key: String,
        /// The connection's own value (without it: the plugin-wide one).
        #[arg(long)]
        connection: Option<String>,
    },
}

/// Runs `qbridge plugin config …`.
pub fn run(args: ConfigArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let plugin = args.plugin;
    let Some(action) = args.action else {
        let store = crate::cli::open_beside(config)?;
        print_view(&config_admin::view(&store, &plugin, None)?);
        eprintln!("(read directly from the database)");
        return Ok(ExitCode::SUCCESS);
    };
    let way = crate::cli::changing_way(config)?;
    let note = way.note();
    if let Way::Direct(store) = &way
        && store.plugin_versions(Some(&plugin))?.is_empty()
    {
        // A data dir no server has started yet has not registered the bundled plugins; an
        // admin configuring one (Autotask's zone) before the first start should not have to
        // start the server first. Opening the manager registers them.
        super::PluginManager::open(store.clone(), config)?;
    }
    match (way, action) {
        (
            Way::Api(api),
            ConfigAction::Set {
                key,
                value,
                connection,
            },
        ) => {
            let answer = api.put_json(
                &format!(
                    "/api/v1/plugins/{}/config/{}",
                    segment(&plugin),
                    segment(&key)
                ),
                &serde_json::json!({ "value": value, "connection": connection }),
            )?;
            let hosts: Vec<String> = answer["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h.as_str().map(str::to_string))
                .collect();
            report_set(&plugin, &key, &value, connection.as_deref(), &hosts);
        }
        (Way::Api(api), ConfigAction::Unset { key, connection }) => {
            let query = connection
                .as_deref()
                .map(|c| format!("?connection={}", segment(c)))
                .unwrap_or_default();
            api.delete(&format!(
                "/api/v1/plugins/{}/config/{}{query}",
                segment(&plugin),
                segment(&key)
            ))?;
            report_unset(&plugin, &key, connection.as_deref());
        }
        (
            Way::Direct(store),
            ConfigAction::Set {
                key,
                value,
                connection,
            },
        ) => {
            let id = connection_id(&store, connection.as_deref())?;
            let hosts = config_admin::set(&store, &plugin, &key, id, &value, who())?;
            report_set(&plugin, &key, &value, connection.as_deref(), &hosts);
        }
        (Way::Direct(store), ConfigAction::Unset { key, connection }) => {
            let id = connection_id(&store, connection.as_deref())?;
            config_admin::unset(&store, &plugin, &key, id, who())?;
            report_unset(&plugin, &key, connection.as_deref());
        }
    }
    eprintln!("{note}");
    Ok(ExitCode::SUCCESS)
}

/// The audit row's actor for a change made without a server.
fn who() -> AuditEntry {
    AuditEntry {
        actor: crate::cli::cli_actor(),
        ..Default::default()
    }
}

fn connection_id(store: &crate::store::Store, name: Option<&str>) -> anyhow::Result<Option<i64>> {
    name.map(|n| {
        store
            .connection(n)
            .map(|c| c.id)
            .with_context(|| format!("no connection {n:?}: `qbridge connection list` shows them"))
    })
    .transpose()
}

fn scope(connection: Option<&str>) -> String {
    match connection {
        Some(c) => format!("for connection {c}"),
        None => "for every connection without its own value".to_string(),
    }
}

fn report_set(plugin: &str, key: &str, value: &str, connection: Option<&str>, hosts: &[String]) {
    println!("plugin {plugin}: {key} = {value} {}", scope(connection));
    if !hosts.is_empty() {
        println!(
            "it completes the host(s) {}, which the plugin may now reach (recorded in the audit log)",
            hosts.join(", ")
        );
    }
}

fn report_unset(plugin: &str, key: &str, connection: Option<&str>) {
    println!("plugin {plugin}: {key} removed {}", scope(connection));
}

fn print_view(view: &ConfigView) {
    if view.keys.is_empty() {
        println!("plugin {} declares no settings", view.plugin);
        return;
    }
    for k in &view.keys {
        println!(
            "{}{}{}  {}",
            k.name,
            if k.required { " (required)" } else { "" },
            k.default_value
                .as_deref()
                .map(|d| format!(" default {d}"))
                .unwrap_or_default(),
            k.description
        );
        if !k.host_templates.is_empty() {
            println!("    completes host(s) {}", k.host_templates.join(", "));
        }
        let mut any = false;
        for v in view.values.iter().filter(|v| v.name == k.name) {
            any = true;
            println!(
                "    {:<28} {}{}   set by {}",
                v.connection.as_deref().unwrap_or("(every connection)"),
                v.value,
                if v.hosts.is_empty() {
                    String::new()
                } else {
                    format!(" → {}", v.hosts.join(", "))
                },
                v.set_by
            );
        }
        if !any {
            println!("    (no value set)");
        }
    }
}
