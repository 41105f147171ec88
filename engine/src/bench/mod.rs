//! `qbridge bench`: measures the running product (real binary, real HTTP, real SQLite, the
//! simulated Web Connector and QuickBooks) and prints counts and ratios as a Markdown table.
//!
//! Every figure in docs/benchmarks.md comes from one `qbridge bench` run; `--quick` shrinks
//! the sizes so CI finishes in a few minutes on two cores. Wall-clock figures are reported,
//! never asserted.

mod backends;
mod login;
mod micro;
mod retention;
mod scale;
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
    /// Also measure this other build (e.g. the previous release) on the scale curve, up to
    /// 100k jobs queued (it may store one record per transaction). `--only scale` runs the
    /// whole curve (1k … 1M jobs); otherwise it stops at 10k.
    #[arg(long, value_name = "BIN")]
    baseline: Option<PathBuf>,
    /// PostgreSQL for the `backends` section (an empty database the bench may create a
    /// schema in, e.g. postgres://qbridge@127.0.0.1:5432/bench). Default: a throw-away
    /// cluster started from the PostgreSQL server binaries on this machine.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only these sections (comma-separated): startup, soap, login, hostile, plugins,
    /// parse, swap, queue, retention, backends, scale. Default: all (the scale curve up to 10k jobs).
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
    /// Jobs waiting or finished on the scale curve.
    pub scale_jobs: &'static [usize],
    /// Completed jobs pruned by the retention section.
    pub retention_jobs: usize,
    /// Company files (each with its own Web Connector) in the backends section.
    pub backend_connections: usize,
    /// Records queued per company file in the backends section.
    pub backend_records: usize,
}

const QUICK: Sizes = Sizes {
    concurrency: &[1, 4, 64],
    records_per_connection: 10,
    plugin_calls: 2_000,
    parse_mb: &[1, 10],
    swaps: 100,
    queue_records: 200,
    login_rounds: 5,
    scale_jobs: &[1_000, 10_000],
    retention_jobs: 2_000,
    backend_connections: 8,
    backend_records: 20,
};

const FULL: Sizes = Sizes {
    concurrency: &[1, 4, 64],
    records_per_connection: 100,
    plugin_calls: 20_000,
    parse_mb: &[1, 10, 50],
    swaps: 100,
    queue_records: 1_000,
    login_rounds: 20,
    scale_jobs: &[1_000, 10_000, 100_000, 1_000_000],
    retention_jobs: 20_000,
    backend_connections: 32,
    backend_records: 100,
};

/// Runs every benchmark, prints the table and writes the JSON file if asked.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(file) = args.parse_child {
        micro::parse_child(&file)?;
        return Ok(ExitCode::SUCCESS);
    }
    let sizes = if args.quick { QUICK } else { FULL };
    const SECTIONS: &[&str] = &[
        "startup",
        "soap",
        "login",
        "hostile",
        "plugins",
        "parse",
        "swap",
        "queue",
        "retention",
        "backends",
        "scale",
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
    if run("retention") {
        let dir = work.path().join("retention");
        rows.extend(retention::retention(&dir, sizes.retention_jobs)?);
    }
    if run("backends") {
        rows.extend(backends::backends(
            work.path(),
            &sizes,
            args.database_url.as_deref(),
        )?);
    }
    if run("scale") {
        // The 100k and 1M points take many minutes: only when asked for by name.
        let named = args.only.iter().any(|s| s == "scale");
        let jobs = if named {
            sizes.scale_jobs
        } else {
            QUICK.scale_jobs
        };
        let this = std::env::current_exe().context("finding the qbridge binary")?;
        let build = scale::Build {
            label: "this build",
            exe: &this,
            batch_ingest: true,
        };
        if let Some(exe) = &args.baseline {
            let baseline = scale::Build {
                label: "baseline",
                exe,
                batch_ingest: false,
            };
            let small: Vec<usize> = jobs.iter().copied().filter(|n| *n <= 100_000).collect();
            rows.extend(scale::curve(
                work.path(),
                &baseline,
                &small,
                &[scale::Backlog::Queued],
            )?);
        }
        let both = [scale::Backlog::Queued, scale::Backlog::Completed];
        rows.extend(scale::curve(work.path(), &build, jobs, &both)?);
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

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`: unlike wall
/// time, it hardly moves when other work shares the machine.
pub(crate) fn proc_cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}
