//! End-to-end figures: start-up time, binary size, and SOAP throughput/latency with 1, 4 and
//! 64 concurrent simulated Web Connectors against the real `qbridge serve` child process.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Row, Sizes, percentile_ms, proc_status_kib, row};
use crate::sim::company::Company;
use crate::sim::webconnector::{Outcome, WcOptions, WebConnector};

/// At most this many sessions per connection and level; a server that never runs out of
/// work fails the benchmark instead of hanging it.
const MAX_SESSIONS: usize = 200;

/// Every simulated Web Connector logs in from 127.0.0.1 and runs back-to-back sessions, so
/// the login rate limits (10 per user and 60 per address a minute by default) are lifted to
/// their maxima: the benchmark measures the sync path, not the brute-force guard.
const UNLIMITED_LOGINS: &[&str] = &[
    "--set",
    "qbwc.auth_per_user_per_minute=10000",
    "--set",
    "qbwc.auth_per_ip_per_minute=100000",
];

/// A `qbridge serve` child on a free port; killed on drop.
pub(crate) struct ServerProcess {
    child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts the server and returns it with the time to the first `/healthz` 200.
    pub(crate) fn start(
        data_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<(ServerProcess, Duration)> {
        Self::start_exe(&this_exe()?, data_dir, extra)
    }

    /// [`ServerProcess::start`] with another build's executable.
    pub(crate) fn start_exe(
        exe: &Path,
        data_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<(ServerProcess, Duration)> {
        Self::start_full(exe, data_dir, extra, &[])
    }

    /// [`ServerProcess::start`] with settings in its environment (`QBRIDGE_DATABASE_URL`, …).
    pub(crate) fn start_with_env(
        data_dir: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<(ServerProcess, Duration)> {
        Self::start_full(&this_exe()?, data_dir, UNLIMITED_LOGINS, env)
    }

    fn start_full(
        exe: &Path,
        data_dir: &Path,
        extra: &[&str],
        env: &[(String, String)],
    ) -> anyhow::Result<(ServerProcess, Duration)> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let child = qbridge(exe)
            .args([
                "serve",
                "--listen",
                &listen,
                "--log-level",
                "warn",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting `qbridge serve`")?;
        let mut server = ServerProcess {
            child,
            base: format!("http://{listen}"),
        };
        let agent = agent();
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(status) = server.child.try_wait()? {
                bail!("`qbridge serve` exited during start-up ({status})");
            }
            if agent
                .get(format!("{}/healthz", server.base))
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return Ok((server, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = server.child.kill();
        bail!("`qbridge serve` did not answer /healthz within 60 s")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary the servers and CLI calls run: `--server-exe`, or this very binary.
pub(crate) static SERVER_EXE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// The server binary: `--server-exe`, or this very binary.
fn this_exe() -> anyhow::Result<std::path::PathBuf> {
    match SERVER_EXE.get() {
        Some(exe) => Ok(exe.clone()),
        None => std::env::current_exe().context("finding the qbridge binary"),
    }
}

/// A qbridge executable, with no `QBRIDGE_*` settings leaking in from the caller.
fn qbridge(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    for (k, _) in std::env::vars() {
        if k.starts_with("QBRIDGE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs `exe ARGS --data-dir DIR`; its standard output, or an error with its standard error.
pub(crate) fn cli_of(exe: &Path, data_dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    cli_full(exe, data_dir, &[], args)
}

fn cli_full(
    exe: &Path,
    data_dir: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> anyhow::Result<String> {
    let out = qbridge(exe)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .with_context(|| format!("running qbridge {args:?}"))?;
    if !out.status.success() {
        bail!(
            "qbridge {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Start-up time to the first `/healthz` 200 on a fresh data dir, and the binary size.
pub(crate) fn startup_and_size(work: &Path) -> anyhow::Result<Vec<Row>> {
    let exe = match SERVER_EXE.get() {
        Some(exe) => exe.clone(),
        None => std::env::current_exe()?,
    };
    let size = std::fs::metadata(&exe)?.len();
    let (first, t_fresh) = ServerProcess::start(&work.join("startup"), &[])?;
    drop(first);
    let (_second, t_warm) = ServerProcess::start(&work.join("startup"), &[])?;
    Ok(vec![
        row(
            "start-up",
            "binary size",
            format!("{:.1} MiB", size as f64 / 1048576.0),
        ),
        row(
            "start-up",
            "to first /healthz 200, fresh data dir (migrations, bundled plugin install)",
            format!("{:.0} ms", t_fresh.as_secs_f64() * 1000.0),
        ),
        row(
            "start-up",
            "to first /healthz 200, existing data dir",
            format!("{:.0} ms", t_warm.as_secs_f64() * 1000.0),
        ),
    ])
}

/// One connection: a company file with its own Web Connector user.
pub(crate) struct Conn {
    pub name: String,
    pub user: String,
    pub password: String,
}

pub(crate) fn deploy(data_dir: &Path, connections: usize) -> anyhow::Result<(Vec<Conn>, String)> {
    deploy_with_env(data_dir, &[], connections)
}

/// [`deploy`] through commands with settings in their environment.
pub(crate) fn deploy_with_env(
    data_dir: &Path,
    env: &[(String, String)],
    connections: usize,
) -> anyhow::Result<(Vec<Conn>, String)> {
    let exe = this_exe()?;
    let cli = |data_dir: &Path, args: &[&str]| cli_full(&exe, data_dir, env, args);
    let mut conns = Vec::new();
    for n in 0..connections {
        let name = format!("company{n:02}");
        let user = format!("sync{n:02}");
        cli(data_dir, &["connection", "add", &name])?;
        let password = printed_password(&cli(
            data_dir,
            &["user", "add", "--connection", &name, &user],
        )?)?;
        conns.push(Conn {
            name,
            user,
            password,
        });
    }
    let out = cli(
        data_dir,
        &["token", "create", "--scope", "ingest", "--name", "bench"],
    )?;
    let token = out
        .lines()
        .last()
        .context("`qbridge token create` printed nothing")?
        .trim()
        .to_string();
    Ok((conns, token))
}

/// The password `qbridge user add` printed (once) in `out`.
pub(crate) fn printed_password(out: &str) -> anyhow::Result<String> {
    Ok(out
        .lines()
        .map(str::trim)
        .find(|l| l.len() >= 20 && !l.contains(' '))
        .context("`qbridge user add` printed no password")?
        .to_string())
}

/// What one Web Connector thread did.
#[derive(Default)]
pub(crate) struct Tally {
    pub calls: u64,
    pub exchanges: u64,
    /// Duration of each session that did work (authenticate to closeConnection).
    pub sessions: Vec<Duration>,
    /// Time spent in all sessions, including the final one without work.
    pub busy: Duration,
}

/// SOAP throughput and latency with each concurrency level, RSS idle and under load, jobs/s
/// and round trips per 1,000 records.
pub(crate) fn throughput(work: &Path, sizes: &Sizes) -> anyhow::Result<Vec<Row>> {
    let data_dir = work.join("soap");
    let most = sizes.concurrency.iter().copied().max().unwrap_or(1);
    let (conns, token) = deploy(&data_dir, most)?;
    let (server, _) = ServerProcess::start(&data_dir, UNLIMITED_LOGINS)?;
    let mut rows = Vec::new();
    let idle = proc_status_kib(server.pid(), "VmRSS").unwrap_or(0);
    rows.push(row(
        "memory",
        "server RSS at idle",
        format!("{:.1} MiB", idle as f64 / 1024.0),
    ));
    let mut batch = 0;
    for &c in sizes.concurrency {
        batch += 1;
        let active = &conns[..c];
        let records = ingest(&server, &token, active, sizes.records_per_connection, batch)?;
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop, pid) = (peak.clone(), stop.clone(), server.pid());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let rss = proc_status_kib(pid, "VmRSS").unwrap_or(0);
                    peak.fetch_max(rss, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let started = Instant::now();
        let tallies = std::thread::scope(|s| {
            let handles: Vec<_> = active
                .iter()
                .map(|conn| s.spawn(|| sync_connection(&server.base, conn)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a Web Connector thread panicked"))?
                })
                .collect::<anyhow::Result<Vec<Tally>>>()
        })?;
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.join();
        let calls: u64 = tallies.iter().map(|t| t.calls).sum();
        let exchanges: u64 = tallies.iter().map(|t| t.exchanges).sum();
        let busy: f64 = tallies.iter().map(|t| t.busy.as_secs_f64()).sum();
        let mut sessions: Vec<Duration> = tallies.into_iter().flat_map(|t| t.sessions).collect();
        sessions.sort();
        let label = format!("{c} Web Connector{}", if c == 1 { "" } else { "s" });
        rows.push(row(
            "SOAP",
            format!("{label}: SOAP calls/s (all methods)"),
            format!("{:.0}", calls as f64 / elapsed),
        ));
        rows.push(row(
            "SOAP",
            format!("{label}: sendRequestXML exchanges/s"),
            format!("{:.0}", exchanges as f64 / elapsed),
        ));
        rows.push(row(
            "SOAP",
            format!("{label}: session with work, authenticate→closeConnection, p50 / p99"),
            format!(
                "{:.1} / {:.1} ms ({} sessions)",
                percentile_ms(&sessions, 50),
                percentile_ms(&sessions, 99),
                sessions.len()
            ),
        ));
        rows.push(row(
            "SOAP",
            format!("{label}: mean latency per SOAP call"),
            format!("{:.1} ms", busy * 1000.0 / calls.max(1) as f64),
        ));
        rows.push(row(
            "queue",
            format!(
                "{label}: jobs/s queued→applied in QuickBooks ({records} records; sync time only)"
            ),
            format!("{:.0}", records as f64 / elapsed),
        ));
        rows.push(row(
            "queue",
            format!("{label}: SOAP calls per 1,000 records"),
            format!("{:.0}", calls as f64 * 1000.0 / records as f64),
        ));
        rows.push(row(
            "memory",
            format!("{label}: server peak RSS under load"),
            format!("{:.1} MiB", peak.load(Ordering::Relaxed) as f64 / 1024.0),
        ));
    }
    let hwm = proc_status_kib(server.pid(), "VmHWM").unwrap_or(0);
    rows.push(row(
        "memory",
        "server VmHWM after all levels",
        format!("{:.1} MiB", hwm as f64 / 1024.0),
    ));
    Ok(rows)
}

/// Pushes `per` new customers for each connection over HTTP; returns how many.
pub(crate) fn ingest(
    server: &ServerProcess,
    token: &str,
    conns: &[Conn],
    per: usize,
    batch: usize,
) -> anyhow::Result<usize> {
    let agent = agent();
    let mut n = 0;
    for conn in conns {
        for i in 0..per {
            let id = batch * 1_000_000 + i;
            let record = serde_json::json!({"id": id, "name": format!("Customer {batch}-{i}"), "email": format!("c{id}@example.com")});
            let resp = agent
                .post(format!(
                    "{}/api/v1/ingest/example?kind=customer&connection={}",
                    server.base, conn.name
                ))
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .send(record.to_string())?;
            if resp.status() != 202 {
                bail!("ingest answered {} for {}", resp.status(), conn.name);
            }
            n += 1;
        }
    }
    Ok(n)
}

/// Runs full Web Connector sessions for one connection until the server has no work.
pub(crate) fn sync_connection(base: &str, conn: &Conn) -> anyhow::Result<Tally> {
    let mut company = Company::new(&format!(r"C:\Company Files\{}.qbw", conn.name));
    let mut wc = WebConnector::new(
        &format!("{base}/qbwc"),
        &conn.user,
        &conn.password,
        WcOptions::default(),
    );
    let mut tally = Tally::default();
    for _ in 0..MAX_SESSIONS {
        let started = Instant::now();
        let t = wc
            .run_session(&mut company)
            .map_err(|e| anyhow::anyhow!("{} session failed: {e}", conn.name))?;
        let took = started.elapsed();
        tally.busy += took;
        tally.calls += t.calls.len() as u64;
        tally.exchanges += u64::from(t.exchanges);
        match t.outcome {
            Some(Outcome::NoWork) => return Ok(tally),
            Some(o) if !o.is_normal() => bail!("{} session ended abnormally: {o}", conn.name),
            _ => tally.sessions.push(took),
        }
    }
    bail!("{} still had work after {MAX_SESSIONS} sessions", conn.name)
}
