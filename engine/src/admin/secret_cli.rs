//! `qbridge secret set|list|delete`: source secrets from the command line.
//!
//! The value — or, for an OAuth2 client-credentials grant (`--oauth2-token-url …`), the client
//! secret — is read from stdin, never from argv (argv is visible to every user in `ps` and
//! lands in shell history). Values are never printed.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;

use super::cli::cli_actor;
use crate::config::Config;
use crate::logging::Redacted;
use crate::store::Store;
use crate::store::secrets::{ClientCredentials, SecretKey, SecretKind};

/// Longest value read from stdin (the store refuses more than 16 KiB anyway).
const MAX_STDIN: u64 = 64 * 1024;

/// `qbridge secret …`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a plugin's secret; reads the value from stdin (e.g. `qbridge secret set ramp api_key < key.txt`).
    ///
    /// With --oauth2-token-url and --oauth2-client-id the secret is an OAuth2 client-credentials
    /// grant and stdin holds the client secret: the server then obtains and renews access
    /// tokens itself and substitutes a current one wherever the plugin names this secret.
    Set {
        /// Plugin that uses it.
        plugin: String,
        /// Name the plugin asks for, e.g. api_key.
        name: String,
        /// Only for this connection (company file): each firm's own source account. Without
        /// it, the plugin-wide secret every connection without its own uses.
        #[arg(long)]
        connection: Option<String>,
        /// The source's OAuth2 token endpoint (https), e.g. https://api.ramp.com/developer/v1/token.
        #[arg(long, requires = "oauth2_client_id")]
        oauth2_token_url: Option<String>,
        /// The OAuth2 client id (the client secret is read from stdin).
        #[arg(long, requires = "oauth2_token_url")]
        oauth2_client_id: Option<String>,
        /// Space-separated scopes to request, e.g. "transactions:read bills:read".
        #[arg(long, requires = "oauth2_token_url")]
        oauth2_scope: Option<String>,
    },
    /// List stored secrets (names, kinds and when they were set, never values).
    List,
    /// Delete a secret.
    Delete {
        /// Plugin.
        plugin: String,
        /// Name.
        name: String,
        /// The connection's own secret (without it: the plugin-wide one).
        #[arg(long)]
        connection: Option<String>,
    },
}

/// The id of the connection named, if one is.
fn connection_id(store: &Store, name: Option<&str>) -> anyhow::Result<Option<i64>> {
    name.map(|n| {
        store
            .connection(n)
            .map(|c| c.id)
            .with_context(|| format!("no connection {n:?}: `qbridge connection list` shows them"))
    })
    .transpose()
}

/// `plugin/name`, with `@connection` for a connection's own secret.
fn shown(plugin: &str, name: &str, connection: Option<&str>) -> String {
    match connection {
        Some(c) => format!("{plugin}/{name} for connection {c}"),
        None => format!("{plugin}/{name}"),
    }
}

/// Runs `qbridge secret …`.
pub fn run(config: &Config, store: &Store, cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Set {
            plugin,
            name,
            connection,
            oauth2_token_url,
            oauth2_client_id,
            oauth2_scope,
        } => {
            let what = if oauth2_token_url.is_some() {
                "client secret"
            } else {
                "value"
            };
            let mut value = String::new();
            std::io::stdin()
                .take(MAX_STDIN)
                .read_to_string(&mut value)
                .with_context(|| {
                    format!("cannot read the {what} from stdin (it must be UTF-8 text)")
                })?;
            // A trailing newline comes from `echo` or an editor, never from the secret.
            let value = value.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                bail!(
                    "no {what} on stdin: pipe it in, e.g. `qbridge secret set {plugin} {name} … < file`"
                );
            }
            let key = SecretKey::open(&config.secrets_key_path())?;
            let connection_id = connection_id(store, connection.as_deref())?;
            let what = shown(&plugin, &name, connection.as_deref());
            match (oauth2_token_url, oauth2_client_id) {
                (Some(token_url), Some(client_id)) => {
                    config
                        .source_endpoints
                        .check_token_url(&token_url)
                        .map_err(anyhow::Error::msg)?;
                    let grant = ClientCredentials {
                        token_url,
                        client_id,
                        client_secret: Redacted(value.to_string()),
                        scope: oauth2_scope.filter(|s| !s.is_empty()),
                    };
                    store.set_secret_grant(
                        &key,
                        &plugin,
                        &name,
                        connection_id,
                        &grant,
                        &cli_actor(),
                    )?;
                    println!(
                        "secret {what} stored (encrypted): an OAuth2 client-credentials grant; the server fetches and renews access tokens from {}",
                        grant.token_host().unwrap_or_default()
                    );
                }
                _ => {
                    store.set_secret(&key, &plugin, &name, connection_id, value, &cli_actor())?;
                    println!("secret {what} stored (encrypted)");
                }
            }
        }
        SecretCommand::List => {
            let key = SecretKey::open(&config.secrets_key_path())?;
            let names: std::collections::HashMap<i64, String> = store
                .connections()?
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect();
            for s in store.secret_names(&key, None)? {
                let scope = match s.connection_id {
                    Some(id) => names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")),
                    None => "(every connection)".to_string(),
                };
                let kind = match (s.kind, &s.token_host) {
                    (SecretKind::Value, _) => "value".to_string(),
                    (SecretKind::Oauth2ClientCredentials, host) => format!(
                        "oauth2-client-credentials ({})",
                        host.as_deref().unwrap_or("?")
                    ),
                    (SecretKind::Unreadable, _) => "unreadable: set it again".to_string(),
                };
                println!(
                    "{:<24} {:<24} {scope:<24} {kind:<48} set by {}",
                    s.plugin, s.name, s.set_by
                );
            }
        }
        SecretCommand::Delete {
            plugin,
            name,
            connection,
        } => {
            let connection_id = connection_id(store, connection.as_deref())?;
            store.delete_secret(&plugin, &name, connection_id, &cli_actor())?;
            println!(
                "secret {} deleted",
                shown(&plugin, &name, connection.as_deref())
            );
        }
    }
    Ok(())
}
