//! The command line: argument definitions and dispatch to the modules that do the work.
//!
//! Every error leaves through [`main`] as one line on stderr that says what was wrong and what
//! to do, with exit code 1 (2 for usage errors, as clap does).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::store::{Store, StoreOptions};
use crate::{admin, doctor, logging, qbwc};

/// qbridge — move records from business tools into QuickBooks Desktop.
#[derive(Debug, Parser)]
#[command(name = "qbridge", version, about, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (optional; embedded defaults apply without one).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (database, lock, caches). Default: ./qbridge-data
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<String>,
    /// Address to listen on. Default: 127.0.0.1:8080
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Log level or filter (error, warn, info, debug, trace).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Override any setting: --set server.listen=127.0.0.1:9000 (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (QBWC SOAP endpoint, admin API and UI).
    Serve,
    /// Print the version.
    Version,
    /// Print every configuration key: its environment variable, flag, default, what it
    /// accepts and what it changes (the README's configuration table).
    Settings,
    /// Check the data dir, database, listening address and TLS settings.
    Doctor,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(admin::cli::TokenCommand),
    /// Give or revoke temporary access for a vendor's support staff.
    #[command(subcommand)]
    Support(admin::cli::SupportCommand),
    /// Verify or export the audit log.
    #[command(subcommand)]
    Audit(admin::cli::AuditCommand),
    /// Store, list or delete plugins' source secrets (values are never shown).
    #[command(subcommand)]
    Secret(admin::secret_cli::SecretCommand),
    /// Simulators: drive a QBWC server as the Web Connector does.
    #[command(subcommand)]
    Sim(crate::sim::cli::SimCommand),
    /// Manage connections (QuickBooks company files). Run while the server is stopped.
    #[command(subcommand)]
    Connection(qbwc::cli::ConnectionCommand),
    /// Manage Web Connector users. Run while the server is stopped.
    #[command(subcommand)]
    User(qbwc::cli::UserCommand),
    /// Write the .qwc file a Web Connector user adds to the Web Connector.
    Qwc(qbwc::cli::QwcArgs),
    /// Check a qbXML file against Intuit's schema (13.0 or 16.0).
    Validate(crate::qbxml::cli::ValidateArgs),
    /// See the whole product work: engine, simulated QuickBooks and Web Connector, sample records.
    Demo {
        /// Keep the demo's data dir here instead of a temporary folder.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Queued jobs: list, show, retry, cancel.
    Jobs(crate::pipeline::cli::JobsArgs),
    /// Sync status per connection: jobs by state, lag, in-doubt work, last sessions.
    Status,
    /// Map source records with a plugin and queue them (server stopped; otherwise use the API).
    Ingest(crate::pipeline::cli::IngestArgs),
    /// Scheduled pulls from source systems.
    #[command(subcommand)]
    Schedule(crate::pipeline::cli::ScheduleCommand),
    /// Manage mapping plugins (install, list, approve, rollback, remove, new).
    #[command(subcommand)]
    Plugin(crate::plugins::cli::PluginCommand),
    /// Measure throughput, latency, memory, hot swap and start-up (see docs/benchmarks.md).
    Bench(crate::bench::BenchArgs),
}

/// Entry point used by the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // One line: the context chain joined, most specific last.
            let msg = err
                .chain()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut flags: Vec<(&str, String, String)> = Vec::new();
    if let Some(v) = &cli.data_dir {
        flags.push(("data_dir", v.clone(), "--data-dir".into()));
    }
    if let Some(v) = &cli.listen {
        flags.push(("server.listen", v.clone(), "--listen".into()));
    }
    if let Some(v) = cli.log_format {
        let v = match v {
            LogFormatArg::Human => "human",
            LogFormatArg::Json => "json",
        };
        flags.push(("log.format", v.into(), "--log-format".into()));
    }
    if let Some(v) = &cli.log_level {
        flags.push(("log.level", v.clone(), "--log-level".into()));
    }
    let mut set = Vec::new();
    for kv in &cli.set {
        let (k, v) = kv.split_once('=').with_context(|| {
            format!(
                "--set {kv:?} must look like KEY=VALUE, e.g. --set server.listen=127.0.0.1:9000"
            )
        })?;
        set.push((k.trim().to_string(), v.to_string()));
    }
    for (k, v) in &set {
        flags.push((k.as_str(), v.clone(), format!("--set {k}")));
    }
    Ok(Config::load(
        cli.config.as_deref(),
        std::env::vars(),
        &flags,
    )?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!("qbridge {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        // Needs no valid configuration: it is what an admin reads to write one.
        Command::Settings => {
            print!("{}", crate::config::settings_reference());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let config = load_config(&cli)?;
    logging::init(&config);
    match cli.command {
        Command::Version | Command::Settings => unreachable!("handled above"),
        Command::Token(cmd) => {
            admin::cli::token(&open_store(&config)?, cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Support(cmd) => {
            admin::cli::support(&open_store(&config)?, cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(cmd) => {
            let ok = admin::cli::audit(&open_store(&config)?, &config.secrets_key_path(), cmd)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Secret(cmd) => {
            admin::secret_cli::run(&config, &open_store(&config)?, cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let store = open_store(&config)?;
            let engine = crate::engine::Engine::boot(config, store)?;
            runtime()?.block_on(engine.serve())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(command) => crate::sim::cli::run(command),
        Command::Connection(cmd) => {
            qbwc::cli::run_connection(cmd, &config).map(|()| ExitCode::SUCCESS)
        }
        Command::User(cmd) => qbwc::cli::run_user(cmd, &config).map(|()| ExitCode::SUCCESS),
        Command::Qwc(args) => qbwc::cli::run_qwc(args, &config).map(|()| ExitCode::SUCCESS),
        Command::Validate(args) => crate::qbxml::cli::run(&args),
        Command::Plugin(command) => crate::plugins::cli::run(command, &config),
        Command::Demo { keep } => {
            crate::demo::run(keep.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => crate::bench::run(args),
        Command::Jobs(args) => {
            crate::pipeline::cli::jobs(&open_store(&config)?, &config, args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            crate::pipeline::cli::status(&open_store(&config)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(args) => {
            crate::pipeline::bulk::ingest_file(&open_store(&config)?, &config, args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedule(cmd) => {
            crate::pipeline::cli::schedule(&open_store(&config)?, &config, cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => {
            let findings = doctor::run(&config);
            for f in &findings {
                println!("{f}");
            }
            let failed = findings
                .iter()
                .filter(|f| f.level == doctor::Level::Fail)
                .count();
            if failed > 0 {
                eprintln!("error: doctor found {failed} problem(s); see the fix lines above");
                Ok(ExitCode::FAILURE)
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// Opens the store with the configured options.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    Ok(Store::open(
        &config.data_dir,
        StoreOptions {
            busy_timeout: config.db_busy_timeout,
            readers: config.db_readers,
        },
    )?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_flag_a_setting_declares_exists() {
        let command = super::Cli::command();
        for (key, flag) in crate::config::setting_flags() {
            let long = flag.trim_start_matches("--");
            assert!(
                command.get_arguments().any(|a| a.get_long() == Some(long)),
                "{key} declares the flag {flag}, which the CLI does not have"
            );
        }
    }
}
