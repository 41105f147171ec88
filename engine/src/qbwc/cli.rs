//! `qbridge connection …`, `qbridge user …` and `qbridge qwc …`: set up the company files
//! and the Web Connector users that may sync them.
//!
//! Adding connections and users, rotating and disabling users go through the running
//! server's admin API when a server holds the data dir (the same operations, `accounts`),
//! and into the database otherwise; listing and company-file paths read and write the
//! database beside the server. Each changing command says which way it went. Passwords are
//! printed once on stdout and stored only as keyed hashes; they never reach a log.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{accounts, qwc};
use crate::admin::local::segment;
use crate::cli::{DIRECTLY, Way, changing_way, open_beside};
use crate::config::Config;
use crate::store::connections::ConnectionInfo;

/// Connections: one per QuickBooks company file.
#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Add a connection (a company file to sync with).
    Add {
        /// Name used everywhere else (letters, digits, space, . _ -).
        name: String,
        /// Full path of the company file, as the Web Connector's PC sees it. Without it
        /// the Web Connector uses whichever file is open.
        #[arg(long, value_name = "PATH")]
        company_file: Option<String>,
    },
    /// List connections with what QuickBooks reported and any warnings.
    List,
    /// Set the company-file path handed to the Web Connector.
    SetPath {
        /// Connection name.
        name: String,
        /// Full company-file path ("" = whichever file is open).
        path: String,
    },
    /// Forget the company-file paths users reported and the warning about them.
    ClearPath {
        /// Connection name.
        name: String,
    },
}

/// Web Connector users: one per Windows user who runs the Web Connector.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to a connection and print its password once.
    Add {
        /// Connection the user syncs.
        #[arg(long, value_name = "NAME")]
        connection: String,
        /// User name (letters, digits, . _ @ -).
        username: String,
    },
    /// Replace a user's password (the old one stops working) and print the new one once.
    RotatePassword {
        /// User name.
        username: String,
    },
    /// Disable a user: its Web Connector can no longer log in.
    Disable {
        /// User name.
        username: String,
    },
    /// List users.
    List,
}

/// Write the .qwc file for a user.
#[derive(Debug, Args)]
pub struct QwcArgs {
    /// The Web Connector user the file is for.
    #[arg(long, value_name = "USERNAME")]
    user: String,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn describe(c: &ConnectionInfo, users: &[String]) -> String {
    let mut out = format!("{}\n  file id:       {}\n", c.name, c.file_id);
    let file = if c.company_file.is_empty() {
        "(whichever file is open)"
    } else {
        &c.company_file
    };
    out.push_str(&format!("  company file:  {file}\n"));
    out.push_str(&format!(
        "  users:         {}\n",
        if users.is_empty() {
            "(none; add one with `qbridge user add`)".to_string()
        } else {
            users.join(", ")
        }
    ));
    if let Some(h) = &c.host {
        out.push_str(&format!(
            "  quickbooks:    {} ({} {}.{}, {}), qbXML {}.{}\n",
            h.product_name,
            h.edition,
            h.major,
            h.minor,
            h.country,
            h.qbxml_version.0,
            h.qbxml_version.1
        ));
    }
    if let Some(w) = &c.path_warning {
        out.push_str(&format!("  WARNING:       {w}\n"));
    }
    if let Some((text, at)) = &c.last_error {
        out.push_str(&format!("  last error:    {} ({text})\n", age(*at)));
    }
    out
}

/// "5 min ago" for a Unix-ms timestamp: enough to tell a stale error from a fresh one.
fn age(at_ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(at_ms);
    let secs = (now - at_ms).max(0) / 1000;
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        7200..=172_799 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// Runs a `connection` subcommand.
pub fn run_connection(cmd: ConnectionCommand, config: &Config) -> anyhow::Result<()> {
    if let ConnectionCommand::Add { name, company_file } = cmd {
        let company_file = company_file.unwrap_or_default();
        let way = changing_way(config)?;
        let (name, file_id) = match &way {
            Way::Api(api) => {
                let added = api.post_json(
                    "/api/v1/connections",
                    &serde_json::json!({"name": name, "company_file": company_file}),
                )?;
                let text = |k: &str| added[k].as_str().unwrap_or_default().to_string();
                (text("name"), text("file_id"))
            }
            Way::Direct(store) => {
                let c = accounts::add_connection(store, &name, &company_file, "cli")?;
                (c.name, c.file_id)
            }
        };
        println!("Connection {name:?} added (FileID {file_id}).");
        println!("Next: qbridge user add --connection {name:?} USERNAME");
        eprintln!("{}", way.note());
        return Ok(());
    }
    let store = open_beside(config)?;
    match cmd {
        ConnectionCommand::Add { .. } => unreachable!("handled above"),
        ConnectionCommand::List => {
            let users = store.qbwc_users()?;
            let conns = store.connections()?;
            if conns.is_empty() {
                println!("No connections yet; add one with `qbridge connection add NAME`.");
            }
            for c in conns {
                let names: Vec<String> = users
                    .iter()
                    .filter(|u| u.connection_id == c.id)
                    .map(|u| {
                        if u.disabled {
                            format!("{} (disabled)", u.username)
                        } else {
                            u.username.clone()
                        }
                    })
                    .collect();
                print!("{}", describe(&c, &names));
            }
        }
        ConnectionCommand::SetPath { name, path } => {
            store.set_company_file(&name, &path)?;
            println!("Connection {name:?} now asks the Web Connector to open {path:?}.");
            eprintln!("{DIRECTLY}");
        }
        ConnectionCommand::ClearPath { name } => {
            store.clear_reported_paths(&name)?;
            println!(
                "Reported company-file paths for {name:?} cleared; the next syncs report them again."
            );
            eprintln!("{DIRECTLY}");
        }
    }
    Ok(())
}

fn print_password(username: &str, password: &str) {
    println!("Password for Web Connector user {username:?} (shown only this once):");
    println!();
    println!("    {password}");
    println!();
    println!(
        "Type it into the Web Connector after adding the QWC file: qbridge qwc --user {username} --out {username}.qwc"
    );
}

/// A password the admin API returned once.
fn password_of(answer: &serde_json::Value) -> anyhow::Result<String> {
    answer["password"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the server's answer holds no password: {answer:.200}"))
}

/// Runs a `user` subcommand.
pub fn run_user(cmd: UserCommand, config: &Config) -> anyhow::Result<()> {
    if let UserCommand::List = cmd {
        for u in open_beside(config)?.qbwc_users()? {
            println!(
                "{}\tconnection {}{}{}",
                u.username,
                u.connection,
                if u.disabled { "\tdisabled" } else { "" },
                u.reported_path
                    .map(|p| format!("\treports {p}"))
                    .unwrap_or_default()
            );
        }
        return Ok(());
    }
    let way = changing_way(config)?;
    match (cmd, &way) {
        (UserCommand::List, _) => unreachable!("handled above"),
        (
            UserCommand::Add {
                connection,
                username,
            },
            _,
        ) => {
            let password = match &way {
                Way::Api(api) => password_of(&api.post_json(
                    &format!("/api/v1/connections/{}/users", segment(&connection)),
                    &serde_json::json!({"username": username}),
                )?)?,
                Way::Direct(store) => accounts::add_user(store, &connection, &username, "cli")?,
            };
            println!("Web Connector user {username:?} added to connection {connection:?}.");
            print_password(&username, &password);
        }
        (UserCommand::RotatePassword { username }, _) => {
            let password = match &way {
                Way::Api(api) => password_of(&api.post_json(
                    &format!("/api/v1/users/{}/rotate-password", segment(&username)),
                    &serde_json::json!({}),
                )?)?,
                Way::Direct(store) => accounts::rotate_password(store, &username, "cli")?,
            };
            println!("The old password of {username:?} no longer works.");
            print_password(&username, &password);
        }
        (UserCommand::Disable { username }, _) => {
            match &way {
                Way::Api(api) => {
                    api.post_json(
                        &format!("/api/v1/users/{}/disable", segment(&username)),
                        &serde_json::json!({}),
                    )?;
                }
                Way::Direct(store) => store.disable_qbwc_user(&username, "cli")?,
            }
            println!("Web Connector user {username:?} is disabled; its logins now fail.");
        }
    }
    eprintln!("{}", way.note());
    Ok(())
}

/// Runs `qwc`.
pub fn run_qwc(args: QwcArgs, config: &Config) -> anyhow::Result<()> {
    let store = open_beside(config)?;
    let text = qwc::qwc_for_user(&store, config, &args.user)?;
    match args.out {
        Some(path) => {
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "Wrote {}. Open it in the QuickBooks Web Connector (Add an application).",
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
