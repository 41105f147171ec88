//! `qbridge bench`: measures the running product (real binary, real HTTP, real SQLite, the
//! simulated Web Connector and QuickBooks) and prints counts and ratios as a Markdown table.
//!
//! Every figure in docs/benchmarks.md comes from one `qbridge bench` run; `--quick` shrinks
//! the sizes so CI finishes in a few minutes on two cores. Wall-clock figures are reported,
//! never asserted.

mod login;
mod micro;
mod soap;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

/// Arguments of `qbridge bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Small sizes (CI): a few minutes on two cores instead of the full run.
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only these sections (comma-separated): startup, soap, login, hostile, plugins,
    /// parse, swap, queue. Default: all.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    only: Vec<String>,
    /// Start FILE as the server (and for its set-up commands) instead of this binary, to
    /// measure another build — e.g. the commit before a change — with the same bench code.
    #[arg(long, value_name = "FILE")]
    server_exe: Option<PathBuf>,
    /// Internal: parse FILE as a receiveResponseXML body and print the peak-memory delta
    /// (runs in a child process so that its VmHWM belongs to the parse alone).
    #[arg(long, value_name = "FILE", hide = true)]
    parse_child: Option<PathBuf>,
}

/// One measured figure.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Row {
    pub section: &'static str,
    pub metric: String,
    pub value: String,
}

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub concurrency: &'static [usize],
    pub records_per_connection: usize,
    pub plugin_calls: usize,
    pub parse_mb: &'static [usize],
    pub swaps: usize,
    pub queue_records: usize,
    pub login_rounds: usize,
}

const QUICK: Sizes = Sizes {
    concurrency: &[1, 4, 64],
    records_per_connection: 10,
    plugin_calls: 2_000,
    parse_mb: &[1, 10],
    swaps: 100,
    queue_records: 200,
    login_rounds: 5,
};

const FULL: Sizes = Sizes {
    concurrency: &[1, 4, 64],
    records_per_connection: 100,
    plugin_calls: 20_000,
    parse_mb: &[1, 10, 50],
    swaps: 100,
    queue_records: 1_000,
    login_rounds: 20,
};

/// Runs every benchmark, prints the table and writes the JSON file if asked.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(file) = args.parse_child {
        micro::parse_child(&file)?;
        return Ok(ExitCode::SUCCESS);
    }
    let sizes = if args.quick { QUICK } else { FULL };
    const SECTIONS: &[&str] = &[
        "startup", "soap", "login", "hostile", "plugins", "parse", "swap", "queue",
    ];
    if let Some(bad) = args.only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        anyhow::bail!(
            "unknown bench section {bad:?}; choose from {}",
            SECTIONS.join(", ")
        );
    }
    let run = |name: &str| args.only.is_empty() || args.only.iter().any(|s| s == name);
    if let Some(exe) = &args.server_exe {
        let exe = std::fs::canonicalize(exe)
            .with_context(|| format!("--server-exe {}", exe.display()))?;
        let _ = soap::SERVER_EXE.set(exe);
    }
    let work = Workdir::new()?;
    let mut rows = Vec::new();
    if run("startup") {
        rows.extend(soap::startup_and_size(work.path())?);
    }
    if run("soap") {
        rows.extend(soap::throughput(work.path(), &sizes)?);
    }
    if run("login") {
        rows.extend(login::logins(work.path(), sizes.login_rounds)?);
    }
    if run("hostile") {
        rows.extend(login::hostile_body(work.path())?);
    }
    if run("plugins") {
        rows.extend(micro::plugins(work.path(), sizes.plugin_calls)?);
    }
    if run("parse") {
        rows.extend(micro::parse_memory(work.path(), sizes.parse_mb)?);
    }
    if run("swap") {
        rows.extend(micro::hot_swap(work.path(), sizes.swaps)?);
    }
    if run("queue") {
        rows.extend(micro::queue_transactions(work.path(), sizes.queue_records)?);
    }
    println!("{}", markdown(&rows, args.quick));
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&rows)?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn markdown(rows: &[Row], quick: bool) -> String {
    let mut out = format!(
        "qbridge bench{} — {}\n\n| Section | Metric | Value |\n|---|---|---|\n",
        if quick { " --quick" } else { "" },
        env!("CARGO_PKG_VERSION")
    );
    for r in rows {
        out.push_str(&format!("| {} | {} | {} |\n", r.section, r.metric, r.value));
    }
    out
}

pub(crate) fn row(
    section: &'static str,
    metric: impl Into<String>,
    value: impl Into<String>,
) -> Row {
    Row {
        section,
        metric: metric.into(),
        value: value.into(),
    }
}

/// The p-th percentile (0–100) of sorted durations, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[idx].as_secs_f64() * 1000.0
}

/// A scratch directory removed at the end of the run (also on error).
struct Workdir(PathBuf);

impl Workdir {
    fn new() -> anyhow::Result<Workdir> {
        let dir = std::env::temp_dir().join(format!("qbridge-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the scratch dir {}", dir.display()))?;
        Ok(Workdir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`); Linux only.
pub(crate) fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
