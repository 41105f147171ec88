//! The command line: argument definitions and dispatch to the modules that do the work.
//!
//! Every error leaves through [`main`] as one line on stderr that says what was wrong and what
//! to do, with exit code 1 (2 for usage errors, as clap does).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::admin::local::{self, LocalAdmin};
use crate::config::Config;
use crate::store::backup::Restored;
use crate::store::{Store, StoreError, StoreOptions};
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
enum StoreCommand {
    /// Copy this stopped SQLite instance (queue, mappings, plugin versions, secrets, audit
    /// chain) into an empty PostgreSQL database and verify it (row counts, audit chain).
    Copy {
        /// The PostgreSQL database, e.g. postgres://qbridge@db.example:5432/qbridge
        #[arg(long)]
        to: String,
    },
    /// After the database was put back by other means (pg_restore or point-in-time recovery
    /// on PostgreSQL, a VM or file-system snapshot): with every node stopped, verify by its
    /// probe every job that may have reached QuickBooks since, as `qbridge restore` does.
    Restored {
        /// Days during which new jobs are verified by their probe first (records the source
        /// sends again may already be in QuickBooks).
        #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
        verify_days: u32,
        /// What was restored, for the audit log (e.g. the dump's file name).
        #[arg(long, default_value = "restored by the database's own tools")]
        from: String,
    },
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
    /// Manage connections (QuickBooks company files).
    #[command(subcommand)]
    Connection(qbwc::cli::ConnectionCommand),
    /// Manage Web Connector users.
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
        /// Also install this plugin component and sync the records of --records through it
        /// instead of the bundled samples.
        #[arg(long, value_name = "FILE.wasm", requires = "records")]
        plugin: Option<PathBuf>,
        /// Records for --plugin: every `*.json` file in DIR holds
        /// `{"kind": "...", "record": {...}}`.
        #[arg(long, value_name = "DIR", requires = "plugin")]
        records: Option<PathBuf>,
    },
    /// Queued jobs: list, show, retry, cancel.
    Jobs(crate::pipeline::cli::JobsArgs),
    /// Sync status per connection: jobs by state, lag, in-doubt work, last sessions.
    Status,
    /// Prune completed jobs' requests, responses and record payloads now (works beside a
    /// running server; see docs/operations.md).
    Prune(crate::retention::PruneArgs),
    /// Map source records with a plugin and queue them.
    Ingest(crate::pipeline::cli::IngestArgs),
    /// Scheduled pulls from source systems.
    #[command(subcommand)]
    Schedule(crate::pipeline::cli::ScheduleCommand),
    /// Manage mapping plugins (install, list, approve, rollback, remove, new).
    #[command(subcommand)]
    Plugin(crate::plugins::cli::PluginCommand),
    /// Measure throughput, latency, memory, hot swap and start-up (see docs/benchmarks.md).
    Bench(crate::bench::BenchArgs),
    /// Move the store to another database.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Write a consistent copy of the database to FILE, also while the server runs.
    Backup {
        /// The copy to write.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the database with a backup (server stopped). Every job that may have reached
    /// QuickBooks since the backup is verified by its probe before anything is sent.
    Restore {
        /// A file written by `qbridge backup`.
        file: PathBuf,
        /// Days after the restore during which new jobs are verified by their probe first
        /// (records the source sends again may already be in QuickBooks).
        #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
        verify_days: u32,
    },
}

/// Entry point used by the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // One line: the context chain joined, most specific last. A cause its parent
            // already spelled out (errors that print their source) is said once.
            let mut parts: Vec<String> = Vec::new();
            for e in err.chain() {
                let text = e.to_string();
                if !parts.last().is_some_and(|p| p.contains(&text)) {
                    parts.push(text);
                }
            }
            let msg = parts.join(": ");
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
            admin::cli::token(&open_beside(&config)?, cmd)?;
            eprintln!("{DIRECTLY}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Support(cmd) => {
            admin::cli::support(&open_beside(&config)?, cmd)?;
            eprintln!("{DIRECTLY}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(cmd) => {
            let ok = admin::cli::audit(&open_beside(&config)?, &config.secrets_key_path(), cmd)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Secret(cmd) => {
            admin::secret_cli::run(&config, &open_beside(&config)?, cmd)?;
            eprintln!("{DIRECTLY}");
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
        Command::Demo {
            keep,
            plugin,
            records,
        } => {
            let own = plugin
                .zip(records)
                .map(|(component, records)| crate::demo::OwnPlugin { component, records });
            crate::demo::run(keep.as_deref(), own.as_ref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => crate::bench::run(args),
        Command::Jobs(args) => {
            crate::pipeline::cli::jobs(&open_beside(&config)?, &config, args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            crate::pipeline::cli::status(&open_beside(&config)?, &config)?;
            eprintln!("(read directly from the database)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Prune(args) => {
            crate::retention::cli(&config, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(args) => {
            crate::pipeline::bulk::ingest(changing_way(&config)?, &config, args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedule(cmd) => {
            crate::pipeline::cli::schedule(&open_beside(&config)?, &config, cmd)?;
            eprintln!("{DIRECTLY}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Store(StoreCommand::Copy { to }) => {
            let target = crate::store::sql::PgTarget::parse(&to).map_err(anyhow::Error::msg)?;
            let report = crate::store::copy::copy_to_postgres(&config.data_dir, target)?;
            for (table, rows) in &report.tables {
                println!("{table}: {rows} rows");
            }
            println!(
                "Copied {} rows in {} tables; counts match and the audit chain verifies ({} rows) on PostgreSQL.",
                report.tables.values().sum::<i64>(),
                report.tables.len(),
                report.audit_rows
            );
            println!(
                "Next: set database.url (QBRIDGE_DATABASE_URL) to it on every node and start them; keep the SQLite file until the first sync went well."
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Store(StoreCommand::Restored { verify_days, from }) => {
            let store = open_store(&config)?;
            let restored = crate::store::backup::mark_restored(
                &store,
                verify_window(verify_days),
                &from,
                &cli_actor(),
            )?;
            after_restore(&config, &store)?;
            println!(
                "Marked the database restored; its newest activity is from {} and stands for the backup's time.",
                utc(restored.backup_taken_at)
            );
            print_verification(&restored);
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { file, force } => {
            let store = open_beside(&config)?;
            let info = store.backup_to(&file, force)?;
            println!(
                "Backup written to {} ({} bytes, taken at {}); quick_check ok.",
                file.display(),
                info.bytes,
                utc(info.taken_at)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { file, verify_days } => {
            restore(&config, &file, verify_days)?;
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

/// Said (on stderr, so scripts reading stdout are unaffected) by a command that changed
/// things through the running server.
pub const THROUGH_API: &str = "(through the running server's admin API)";
/// Said by a command that changed things in the database itself.
pub const DIRECTLY: &str = "(directly in the database)";

fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        busy_timeout: config.db_busy_timeout,
        readers: config.db_readers,
        postgres: config.database_url.clone(),
        password_key_file: config.password_key_file.clone(),
    }
}

/// Opens the store as the one engine of the data dir (takes the instance lock, migrates).
/// A local admin credential a killed server left behind is discarded.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::open(&config.data_dir, store_options(config))?;
    local::discard_stale(&store, &config.data_dir)?;
    Ok(store)
}

/// Opens the store for a command that is safe beside a running server: reads, and writes
/// the server reads back from the database on every use (tokens, grants, schedules, job
/// retries). Never takes the instance lock when the database is ready, so it never stops a
/// server from starting; a missing or older database is opened (and migrated) as the engine.
pub fn open_beside(config: &Config) -> anyhow::Result<Store> {
    match Store::open_beside(&config.data_dir, store_options(config)) {
        Ok(store) => Ok(store),
        Err(StoreError::DataDir { .. } | StoreError::SchemaMismatch { .. })
            if crate::store::InstanceLock::is_held(&config.data_dir).is_none() =>
        {
            open_store(config)
        }
        Err(e) => Err(e.into()),
    }
}

/// How a changing command reaches the data.
pub enum Way {
    /// A server runs on the data dir: ask it, through its local admin credential.
    Api(LocalAdmin),
    /// No server runs: the command is the engine for its duration.
    Direct(Store),
}

impl Way {
    /// The line that says which way was taken.
    pub fn note(&self) -> &'static str {
        match self {
            Way::Api(_) => THROUGH_API,
            Way::Direct(_) => DIRECTLY,
        }
    }
}

/// The running server's admin API when a server holds the data dir, else the store.
pub fn changing_way(config: &Config) -> anyhow::Result<Way> {
    if let Some(api) = LocalAdmin::find(&config.data_dir)? {
        return Ok(Way::Api(api));
    }
    match open_store(config) {
        Ok(store) => Ok(Way::Direct(store)),
        // A server started between the two looks: ask it after all.
        Err(e) if matches!(e.downcast_ref(), Some(StoreError::Locked { .. })) => {
            match LocalAdmin::find(&config.data_dir)? {
                Some(api) => Ok(Way::Api(api)),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// `qbridge restore FILE`.
fn restore(config: &Config, file: &std::path::Path, verify_days: u32) -> anyhow::Result<()> {
    let (store, restored) = crate::store::backup::restore(
        &config.data_dir,
        file,
        store_options(config),
        verify_window(verify_days),
        &cli_actor(),
    )
    .map_err(|e| match e {
        StoreError::Locked { .. } => anyhow::anyhow!(
            "a qbridge server is running on {}: stop it before restoring (a restore replaces the database under it)",
            config.data_dir.display()
        ),
        e => e.into(),
    })?;
    after_restore(config, &store)?;
    println!(
        "Restored {} (backup taken at {}).",
        file.display(),
        utc(restored.backup_taken_at)
    );
    if let Some(kept) = &restored.kept_as {
        println!("The replaced database is kept as {}.", kept.display());
    }
    print_verification(&restored);
    Ok(())
}

fn verify_window(days: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(days) * 86_400)
}

/// What follows any restore, once its generation is recorded.
fn after_restore(config: &Config, store: &Store) -> anyhow::Result<()> {
    // The restored log is shorter than the last anchor: sign its head, which now ends with
    // the restore's own row, so `audit verify` checks this log from here on.
    store.anchor_audit_with(&config.secrets_key_path())?;
    // The copy's local admin tokens, and any credential file, belong to a server that is gone.
    store.revoke_tokens_named(local::TOKEN_NAME, "system")?;
    local::discard_stale(store, &config.data_dir)?;
    Ok(())
}

fn print_verification(restored: &Restored) {
    println!(
        "{} unfinished job(s) will be verified by their probe before anything is sent; {} without a probe wait in doubt for you (`qbridge jobs --state in_doubt`).",
        restored.to_probe, restored.without_probe
    );
    println!(
        "Until {} every new job is verified by its probe first: records the source sends again may already be in QuickBooks.",
        utc(restored.verify_until)
    );
}

/// Unix ms as `2026-12-05 07:01:02 UTC`.
fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// Who the audit log names for a command run on this machine.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
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
