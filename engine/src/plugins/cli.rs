//! `qbridge plugin …`: install, list, approve, roll back and remove plugins — offline on the
//! data dir, or through a running server's admin API — and scaffold new plugin crates.
//!
//! While a server runs on the data dir these commands go through its admin API with the
//! local admin credential (`admin::local`), never into the database: two processes swapping
//! plugins under each other would leave the running server on a stale version. The server
//! itself installs, so the new version serves its next call without a restart. `--url`
//! reaches a server elsewhere the same way. With no server running they open the store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Deserialize;

use super::{Escalation, InstallOutcome, PluginManager, permission_areas, scaffold};
use crate::admin::local::LocalAdmin;
use crate::admin::plugins_api::{SIGNATURE_HEADER, encode_signature};
use crate::cli::{DIRECTLY, THROUGH_API, Way};
use crate::config::Config;
use crate::store::{PluginStatus, PluginVersion};

/// Environment variable holding the admin token for `--url`.
const TOKEN_ENV: &str = "QBRIDGE_TOKEN";
/// Largest answer read from the server (a listing of many versions stays far below).
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// How long one API call may take (an install compiles the component on the server).
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Where to manage plugins: the local data dir (default) or a running server.
#[derive(Debug, Args)]
pub struct Remote {
    /// Base URL of a running qbridge server (e.g. http://127.0.0.1:8080): act through its
    /// admin API, so the change takes effect without a restart.
    #[arg(long)]
    url: Option<String>,
    /// Admin API token for --url (default: the QBRIDGE_TOKEN environment variable).
    #[arg(long, requires = "url")]
    token: Option<String>,
}

/// `qbridge plugin …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install a plugin component (FILE.wasm; FILE.wasm.minisig is used when present).
    Install {
        /// The component, built with `cargo build --release --target wasm32-wasip2`.
        file: PathBuf,
        /// Dev loop: the component's version must have a `-dev` pre-release (0.1.0-dev); it
        /// replaces an earlier build of that version in place, and what it asks for beyond
        /// the running version is approved with the install.
        #[arg(long)]
        dev: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List installed plugins and versions.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Approve a staged version that asks for more permissions; it starts running.
    Approve {
        /// Plugin name.
        name: String,
        /// The staged version.
        version: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Go back to the previous version of a plugin.
    Rollback {
        /// Plugin name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop and remove a plugin (its versions stay in the registry for the record).
    Remove {
        /// Plugin name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run a component on sample records without a server: the install checks, then `map`
    /// on every record with the engine's checks of each request. Nothing is kept; the exit
    /// code is non-zero when any record was refused or a request is invalid.
    Check(super::check::CheckArgs),
    /// A plugin's settings: list them (`plugin config NAME`), `set KEY VALUE` or `unset KEY`,
    /// plugin-wide or for one connection (`--connection NAME`).
    Config(super::config_cli::ConfigArgs),
    /// Create a new plugin crate in ./NAME, ready to test and build. It carries the SDK this
    /// binary was built with in ./NAME/qbridge-sdk unless told otherwise.
    New {
        /// Plugin name: lowercase letters, digits and '-'.
        name: String,
        /// Depend on this published qbridge-sdk version (e.g. 0.2) instead.
        #[arg(long, conflicts_with = "sdk_path")]
        sdk_version: Option<String>,
        /// Depend on the SDK crate in this folder (a checkout) instead.
        #[arg(long)]
        sdk_path: Option<std::path::PathBuf>,
    },
}

/// Runs one `plugin` subcommand.
pub fn run(command: PluginCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let command = match command {
        PluginCommand::Check(args) => return super::check::run(args, config),
        PluginCommand::Config(args) => return super::config_cli::run(args, config),
        other => other,
    };
    if let PluginCommand::New {
        name,
        sdk_version,
        sdk_path,
    } = &command
    {
        let sdk = match (sdk_version, sdk_path) {
            (Some(v), _) => scaffold::SdkSource::Version(v.clone()),
            (None, Some(p)) => scaffold::SdkSource::Path(p.clone()),
            (None, None) => scaffold::SdkSource::Embedded,
        };
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let dir = scaffold::new_plugin(name, &cwd, &sdk).map_err(anyhow::Error::msg)?;
        println!("created plugin crate {}", dir.display());
        if sdk == scaffold::SdkSource::Embedded {
            println!(
                "  with qbridge-sdk {} (the SDK this qbridge was built with) in {name}/qbridge-sdk",
                scaffold::embedded_sdk_version()
            );
        }
        println!(
            "  cd {name} && cargo test                                   # run its tests natively"
        );
        println!(
            "  cargo build --release --target wasm32-wasip2             # build the component"
        );
        let wasm = format!(
            "target/wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        );
        println!("  qbridge plugin check {wasm} --kind KIND records.json   # try it on records");
        println!("  qbridge plugin install {wasm}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(client) = Client::from_command(&command)? {
        return client.run(command);
    }
    let store = match crate::cli::changing_way(config)? {
        Way::Api(api) => {
            let code = Client::local(&api).run(command)?;
            eprintln!("{THROUGH_API}");
            return Ok(code);
        }
        Way::Direct(store) => store,
    };
    let manager = PluginManager::open(store, config)?;
    let actor = crate::cli::cli_actor();
    match command {
        PluginCommand::New { .. } | PluginCommand::Check(_) | PluginCommand::Config(_) => {
            unreachable!("handled above")
        }
        PluginCommand::Install { file, dev, .. } => {
            let (wasm, signature) = read_component(&file)?;
            report_install(if dev {
                manager.install_dev(&wasm, signature.as_deref(), &actor)?
            } else {
                manager.install(&wasm, signature.as_deref(), &actor)?
            });
        }
        PluginCommand::List { .. } => {
            let versions: Vec<ListRow> = manager.list()?.into_iter().map(ListRow::from).collect();
            print_list(&versions);
        }
        PluginCommand::Approve { name, version, .. } => {
            manager.approve(&name, &version, &actor)?;
            println!("plugin {name} {version} is approved and running");
        }
        PluginCommand::Rollback { name, .. } => {
            let version = manager.rollback(&name, &actor)?;
            println!("plugin {name} rolled back to {version}");
        }
        PluginCommand::Remove { name, .. } => {
            manager.remove(&name, &actor)?;
            println!("plugin {name} removed");
        }
    }
    eprintln!("{DIRECTLY}");
    Ok(ExitCode::SUCCESS)
}

/// The component and, when `FILE.wasm.minisig` exists, its signature.
fn read_component(file: &Path) -> anyhow::Result<(Vec<u8>, Option<String>)> {
    let wasm = std::fs::read(file)
        .with_context(|| format!("cannot read the plugin file {}", file.display()))?;
    let sig_path = PathBuf::from(format!("{}.minisig", file.display()));
    let signature = match std::fs::read_to_string(&sig_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context(format!("cannot read {}", sig_path.display())),
    };
    Ok((wasm, signature))
}

fn report_install(outcome: InstallOutcome) {
    match outcome {
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
        InstallOutcome::DevInstalled {
            name,
            version,
            replaced,
            approved,
        } => {
            match replaced {
                Some(old) if old == version => {
                    println!(
                        "plugin {name} {version} (dev build) is running, replacing the previous build of {version}"
                    )
                }
                Some(old) => {
                    println!("plugin {name} {version} (dev build) is running (replaced {old})")
                }
                None => println!("plugin {name} {version} (dev build) is installed and running"),
            }
            if !approved.is_empty() {
                println!(
                    "it asks for more than the running version ({approved}): approved automatically because this is a dev install (recorded in the audit log)"
                );
            }
        }
    }
}

/// One line of `plugin list`, from the registry or from the API.
#[derive(Debug, Deserialize)]
struct ListRow {
    name: String,
    version: String,
    status: String,
    sha256: String,
    installed_by: String,
    request_types: Vec<String>,
}

impl From<PluginVersion> for ListRow {
    fn from(v: PluginVersion) -> Self {
        ListRow {
            status: v.status.to_string(),
            name: v.name,
            version: v.version,
            sha256: v.sha256,
            installed_by: v.installed_by,
            request_types: v.manifest.request_types,
        }
    }
}

fn print_list(versions: &[ListRow]) {
    if versions.is_empty() {
        println!("no plugins installed");
        return;
    }
    println!(
        "{:<20} {:<12} {:<9} {:<14} {:<24} request types",
        "NAME", "VERSION", "STATUS", "SHA256", "INSTALLED BY"
    );
    for v in versions {
        println!(
            "{:<20} {:<12} {:<9} {:<14} {:<24} {}",
            v.name,
            v.version,
            v.status,
            &v.sha256[..12.min(v.sha256.len())],
            v.installed_by,
            v.request_types.join(", ")
        );
    }
    let active = PluginStatus::Active.to_string();
    for v in versions.iter().filter(|v| v.status == active) {
        let areas: Vec<String> = permission_areas(v.request_types.iter().map(String::as_str))
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

/// A client of a running server's plugins API.
struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// The API's answer to an install.
#[derive(Debug, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum RemoteOutcome {
    Activated {
        name: String,
        version: String,
        replaced: Option<String>,
    },
    Staged {
        name: String,
        version: String,
        escalation: RemoteEscalation,
    },
    AlreadyActive {
        name: String,
        version: String,
    },
    DevInstalled {
        name: String,
        version: String,
        replaced: Option<String>,
        approved: RemoteEscalation,
    },
}

#[derive(Debug, Deserialize)]
struct RemoteEscalation {
    request_types: Vec<String>,
    allowed_hosts: Vec<String>,
    secrets: Vec<String>,
}

impl From<RemoteEscalation> for Escalation {
    fn from(e: RemoteEscalation) -> Self {
        Escalation {
            request_types: e.request_types,
            allowed_hosts: e.allowed_hosts,
            secrets: e.secrets,
        }
    }
}

impl From<RemoteOutcome> for InstallOutcome {
    fn from(o: RemoteOutcome) -> Self {
        match o {
            RemoteOutcome::Activated {
                name,
                version,
                replaced,
            } => InstallOutcome::Activated {
                name,
                version,
                replaced,
            },
            RemoteOutcome::Staged {
                name,
                version,
                escalation,
            } => InstallOutcome::Staged {
                name,
                version,
                escalation: escalation.into(),
            },
            RemoteOutcome::AlreadyActive { name, version } => {
                InstallOutcome::AlreadyActive { name, version }
            }
            RemoteOutcome::DevInstalled {
                name,
                version,
                replaced,
                approved,
            } => InstallOutcome::DevInstalled {
                name,
                version,
                replaced,
                approved: approved.into(),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
struct Activated {
    version: String,
}

/// A plugin name or version as one URL path segment; names and versions are plain
/// (`[A-Za-z0-9._+-]`), so anything else is a typing mistake rather than something to encode.
fn segment(s: &str) -> anyhow::Result<&str> {
    if !s.is_empty()
        && s.len() <= 200
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
    {
        Ok(s)
    } else {
        bail!("{s:?} is not a plugin name or version (letters, digits, '.', '_', '+', '-')")
    }
}

impl Client {
    /// A client when the command has `--url`, else `None` (the command runs offline).
    fn from_command(command: &PluginCommand) -> anyhow::Result<Option<Client>> {
        let remote = match command {
            PluginCommand::New { .. } | PluginCommand::Check(_) | PluginCommand::Config(_) => {
                return Ok(None);
            }
            PluginCommand::Install { remote, .. }
            | PluginCommand::List { remote }
            | PluginCommand::Approve { remote, .. }
            | PluginCommand::Rollback { remote, .. }
            | PluginCommand::Remove { remote, .. } => remote,
        };
        let Some(url) = &remote.url else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--url {url:?} must start with http:// or https://, e.g. http://127.0.0.1:8080");
        }
        let token = match &remote.token {
            Some(t) => t.clone(),
            None => std::env::var(TOKEN_ENV).map_err(|_| {
                anyhow::anyhow!(
                    "--url needs an admin API token: pass --token or set {TOKEN_ENV} (create one with `qbridge token create --scope admin`)"
                )
            })?,
        };
        Ok(Some(Client::new(url, &token)))
    }

    /// A client of the server running on this data dir, with its local admin credential.
    fn local(api: &LocalAdmin) -> Client {
        Client::new(api.url(), api.token())
    }

    fn new(url: &str, token: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .into();
        Client {
            base: url.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            agent,
        }
    }

    fn run(&self, command: PluginCommand) -> anyhow::Result<ExitCode> {
        match command {
            PluginCommand::New { .. } | PluginCommand::Check(_) | PluginCommand::Config(_) => {
                unreachable!("runs offline")
            }
            PluginCommand::Install { file, dev, .. } => {
                let (wasm, signature) = read_component(&file)?;
                let query = if dev { "?dev=true" } else { "" };
                let mut req = self
                    .agent
                    .post(format!("{}/api/v1/plugins{query}", self.base))
                    .header("Authorization", format!("Bearer {}", self.token))
                    .header("Content-Type", "application/wasm");
                if let Some(sig) = signature {
                    req = req.header(SIGNATURE_HEADER, encode_signature(&sig));
                }
                let outcome: RemoteOutcome = self.answer(req.send(&wasm[..]))?;
                report_install(outcome.into());
            }
            PluginCommand::List { .. } => {
                let req = self
                    .agent
                    .get(format!("{}/api/v1/plugins", self.base))
                    .header("Authorization", format!("Bearer {}", self.token));
                let rows: Vec<ListRow> = self.answer(req.call())?;
                print_list(&rows);
            }
            PluginCommand::Approve { name, version, .. } => {
                let url = format!(
                    "{}/api/v1/plugins/{}/versions/{}/approve",
                    self.base,
                    segment(&name)?,
                    segment(&version)?
                );
                let _: Activated = self.answer(self.post(&url).send_empty())?;
                println!("plugin {name} {version} is approved and running");
            }
            PluginCommand::Rollback { name, .. } => {
                let url = format!("{}/api/v1/plugins/{}/rollback", self.base, segment(&name)?);
                let now: Activated = self.answer(self.post(&url).send_empty())?;
                println!("plugin {name} rolled back to {}", now.version);
            }
            PluginCommand::Remove { name, .. } => {
                let url = format!("{}/api/v1/plugins/{}", self.base, segment(&name)?);
                let req = self
                    .agent
                    .delete(&url)
                    .header("Authorization", format!("Bearer {}", self.token));
                self.answer_empty(req.call())?;
                println!("plugin {name} removed");
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    fn post(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        self.agent
            .post(url)
            .header("Authorization", format!("Bearer {}", self.token))
    }

    /// The body of a successful answer; a refusal becomes the server's error message.
    fn body(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<String> {
        let mut resp =
            result.with_context(|| format!("cannot reach the qbridge server at {}", self.base))?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .with_context(|| format!("cannot read the answer of {}", self.base))?;
        if status.is_success() {
            return Ok(text);
        }
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| text.chars().take(500).collect());
        bail!("the server refused ({status}): {message}")
    }

    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<T> {
        let text = self.body(result)?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "the server at {} answered something other than the plugins API: {text:.200}",
                self.base
            )
        })
    }

    fn answer_empty(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<()> {
        self.body(result).map(drop)
    }
}
