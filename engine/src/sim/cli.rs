//! `qbridge sim …`: run the simulated Web Connector against a QBWC server from the command line.
//!
//! Only argument parsing and printing live here; the protocol is in [`crate::sim::webconnector`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::sim::company::Company;
use crate::sim::webconnector::{DEFAULT_CLIENT_VERSION, SoapActionStyle, WcOptions, WebConnector};

/// The `qbridge sim` subcommands.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run Web Connector sessions against a QBWC server URL and print each transcript.
    Run(RunArgs),
}

/// Arguments of `qbridge sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The server's QBWC endpoint (the AppURL of its .qwc file).
    #[arg(long, value_name = "URL")]
    url: String,
    /// Sent as strUserName.
    #[arg(long, value_name = "USER")]
    user: String,
    /// Sent as strPassword.
    #[arg(long, value_name = "PASSWORD")]
    password: String,
    /// Number of sessions to run.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    times: u32,
    /// Seconds between sessions (like QBWC's Auto-Run).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    every: u64,
    /// Accept self-signed TLS certificates (testing only).
    #[arg(long)]
    insecure: bool,
    /// Company file (JSON) of the simulated company, created on first use and saved after the
    /// run; without it a fresh in-memory company answers.
    #[arg(long, value_name = "FILE.json")]
    company: Option<PathBuf>,
    /// QBWC version sent in clientVersion.
    #[arg(long, value_name = "VERSION", default_value = DEFAULT_CLIENT_VERSION)]
    client_version: String,
    /// How the SOAPAction header is sent (to test a server's tolerance).
    #[arg(long, value_enum, default_value_t = SoapActionArg::Quoted)]
    soap_action: SoapActionArg,
    /// Milliseconds to wait after a NoOp before asking again (QBWC waits 5 s).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    noop_wait_ms: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SoapActionArg {
    Quoted,
    Unquoted,
    Missing,
}

/// Runs a `qbridge sim` subcommand. Exit code 0 when every session ended normally, 1 otherwise.
pub fn run(command: SimCommand) -> anyhow::Result<ExitCode> {
    match command {
        SimCommand::Run(args) => run_sessions(args),
    }
}

/// The simulated company the sessions run against: the file given with `--company` (created
/// on first use, saved after the run so state carries over between runs), or a fresh
/// in-memory company file.
fn company_simulator(company: Option<&Path>) -> anyhow::Result<Company> {
    Ok(match company {
        Some(path) if path.exists() => Company::load(path)?,
        _ => Company::new(
            r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\qbridge-sim.qbw",
        ),
    })
}

fn run_sessions(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut qb = company_simulator(args.company.as_deref())?;
    let options = WcOptions {
        client_version: args.client_version,
        soap_action: match args.soap_action {
            SoapActionArg::Quoted => SoapActionStyle::Quoted,
            SoapActionArg::Unquoted => SoapActionStyle::Unquoted,
            SoapActionArg::Missing => SoapActionStyle::Missing,
        },
        noop_wait: Duration::from_millis(args.noop_wait_ms),
        insecure_tls: args.insecure,
        ..WcOptions::default()
    };
    let mut wc = WebConnector::new(&args.url, &args.user, &args.password, options);
    let runs = wc.run_every(&mut qb, Duration::from_secs(args.every), args.times);
    if let Some(path) = &args.company {
        qb.save(path)?;
    }
    let mut all_normal = true;
    for (i, run) in runs.iter().enumerate() {
        println!("== session {} of {} ==", i + 1, args.times);
        println!("{}", run.transcript);
        if let Some(e) = &run.error {
            eprintln!("error: {e}");
        }
        all_normal &= run.is_normal();
    }
    Ok(if all_normal {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
