//! Test harness: start the real binary on a free port with its own data dir, talk HTTP to it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_qbridge")
}

/// A `qbridge` command with a clean environment (no `QBRIDGE_*` leaking from the caller).
pub fn qbridge(cwd: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("QBRIDGE_") {
            cmd.env_remove(k);
        }
    }
    if let Some(url) = postgres_for(cwd) {
        cmd.env("QBRIDGE_DATABASE_URL", url);
    }
    cmd
}

/// The variable that moves the whole suite onto PostgreSQL (set by `.ci/run`'s PostgreSQL
/// stage). Not `QBRIDGE_*`: the engine refuses settings it does not know.
pub const E2E_DATABASE_URL: &str = "E2E_DATABASE_URL";

/// True when the engines under test keep their store in PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os(E2E_DATABASE_URL).is_some()
}

/// The e2e suite on PostgreSQL: every test folder gets a schema of its own in that database,
/// so the servers and commands of one test share their store and tests do not see each
/// other's.
pub fn postgres_for(cwd: &Path) -> Option<String> {
    let base = std::env::var(E2E_DATABASE_URL).ok()?;
    use sha2::Digest;
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let digest = sha2::Sha256::digest(cwd.as_os_str().as_encoded_bytes());
    let schema: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    let schema = format!("e_{schema}");
    let mut client = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{E2E_DATABASE_URL} {base} does not answer: {e}"));
    // Two commands of one test may race to create it; the loser finds it there.
    let _ = client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

/// Store options for a test that opens, in-process, the store in `data_dir` (of engines run
/// from its parent folder, as every test here runs them).
pub fn store_options(data_dir: &Path) -> qbridge::store::StoreOptions {
    qbridge::store::StoreOptions {
        postgres: postgres_for(data_dir.parent().expect("a data dir in a test folder"))
            .map(|url| qbridge::store::sql::PgTarget::parse(&url).expect("a valid URL")),
        ..Default::default()
    }
}

/// Direct access to the database of the engines of `data_dir` (run from its parent), for the tests
/// that observe the queue's rows or tamper with them as an attacker with the database would.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Db {
    pub fn open(data_dir: &Path) -> Db {
        match postgres_for(data_dir.parent().expect("a data dir in a test folder")) {
            Some(url) => Db::Postgres(
                postgres::Client::connect(&url, postgres::NoTls).expect("the e2e database"),
            ),
            None => Db::Sqlite(
                rusqlite::Connection::open(data_dir.join("qbridge.db")).expect("qbridge.db"),
            ),
        }
    }

    /// Every row of `sql`, each value as text (`None` for NULL; booleans as 0/1).
    pub fn rows(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            Db::Sqlite(c) => {
                let mut stmt = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => None,
                                rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                                rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                                rusqlite::types::ValueRef::Text(t)
                                | rusqlite::types::ValueRef::Blob(t) => {
                                    Some(String::from_utf8_lossy(t).into_owned())
                                }
                            })
                        })
                        .collect()
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            }
            Db::Postgres(c) => c
                .simple_query(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
                .into_iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .map(|i| {
                                r.get(i).map(|v| match v {
                                    "t" => "1".to_string(),
                                    "f" => "0".to_string(),
                                    v => v.to_string(),
                                })
                            })
                            .collect(),
                    ),
                    _ => None,
                })
                .collect(),
        }
    }

    /// The one integer `sql` selects.
    pub fn int(&mut self, sql: &str) -> i64 {
        let rows = self.rows(sql);
        rows[0][0]
            .as_deref()
            .unwrap_or_else(|| panic!("{sql}: NULL"))
            .parse()
            .unwrap()
    }

    /// The one text `sql` selects.
    pub fn text(&mut self, sql: &str) -> String {
        self.rows(sql)[0][0].clone().unwrap_or_default()
    }

    pub fn execute(&mut self, sql: &str) {
        match self {
            Db::Sqlite(c) => c
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Db::Postgres(c) => c
                .batch_execute(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Removes one of the store's guard triggers, as someone with the database could.
    pub fn drop_trigger(&mut self, trigger: &str, table: &str) {
        match self {
            Db::Sqlite(_) => self.execute(&format!("DROP TRIGGER {trigger}")),
            Db::Postgres(_) => self.execute(&format!("DROP TRIGGER {trigger} ON {table}")),
        }
    }
}

/// The Web Connector password `qbridge user add` printed (shown once, on a line of its own).
pub fn printed_password(out: &str) -> String {
    out.lines()
        .map(str::trim)
        .find(|l| l.len() >= 20 && !l.contains(' '))
        .expect("password printed")
        .to_string()
}

/// Runs a CLI command to completion; a command that hangs (e.g. a `serve` that should have
/// refused to start) is killed after a minute and fails the test instead of blocking it.
pub fn run(cwd: &Path, args: &[&str]) -> Output {
    let mut child = qbridge(cwd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qbridge runs");
    if wait_timeout(&mut child, Duration::from_secs(60)).is_none() {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "qbridge {args:?} did not finish within 60 s; stderr: {}",
            stderr(&out)
        );
    }
    child.wait_with_output().unwrap()
}

/// Runs a CLI command on `data_dir` with `stdin` (e.g. a secret) and returns its stdout;
/// panics unless it succeeds.
pub fn run_with_stdin(cwd: &Path, data_dir: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = qbridge(cwd)
        .args(args)
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qbridge runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A free TCP port on loopback (racy in theory, fine for tests that bind at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `qbridge serve`.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server on a fresh temporary data dir.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut s = Server::start_in(tmp.path(), &data_dir, &[]);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server with `--data-dir data_dir` (cwd `cwd`) plus `extra` arguments.
    pub fn start_in(cwd: &Path, data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(cwd, data_dir, extra, &[])
    }

    /// [`Server::start_in`] with extra environment variables (e.g. `QBRIDGE_FAILPOINTS`).
    pub fn start_with_env(
        cwd: &Path,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        // `free_port` is racy: another test's server may take the port first. Ours then fails
        // to bind and exits; start again on another port.
        for _ in 0..5 {
            let mut server = Server::spawn(cwd, data_dir, extra, env);
            match server.until_healthy() {
                Ok(()) => return server,
                Err(log) if log.contains("cannot listen") => continue,
                Err(log) => panic!("server exited early: {log}"),
            }
        }
        panic!("no free port for the server after 5 tries")
    }

    fn spawn(cwd: &Path, data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = cwd.join(format!("server-{port}.log"));
        let mut args = vec!["serve", "--listen", &listen];
        let dd = data_dir.to_str().unwrap();
        args.extend(["--data-dir", dd]);
        args.extend(extra);
        let child = qbridge(cwd)
            .args(&args)
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Server {
            child,
            base: format!("http://{listen}"),
            data_dir: data_dir.to_path_buf(),
            log,
            _tmp: None,
        }
    }

    /// Waits until `/healthz` answers 200 or panics with the server's log.
    pub fn wait_healthy(&mut self) {
        if let Err(log) = self.until_healthy() {
            panic!("server exited early: {log}");
        }
    }

    /// Waits until this server logged that it listens and `/healthz` answers 200 (the log
    /// line tells our server from another one that took the port); `Err(log)` when it exited.
    fn until_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("({status}) {}", self.log_text()));
            }
            if self.log_text().contains("qbridge is listening")
                && get(&format!("{}/healthz", self.base)).is_ok_and(|(s, _)| s == 200)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server not healthy in time: {}", self.log_text());
    }

    /// The server's stdout so far (what it prints for the operator, e.g. the bootstrap token).
    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(self.log.with_extension("out")).unwrap_or_default()
    }

    /// The server's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        signal(&self.child, "TERM");
        wait_timeout(&mut self.child, Duration::from_secs(30)).expect("server stops after SIGTERM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal by name through kill(1) (keeps the tests free of unsafe FFI).
pub fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

/// Waits for a child to exit, up to `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// GET returning (status, body); errors only on transport failure.
pub fn get(url: &str) -> Result<(u16, String), ureq::Error> {
    let agent = agent();
    let mut resp = agent.get(url).call()?;
    let status = resp.status().as_u16();
    Ok((status, resp.body_mut().read_to_string().unwrap_or_default()))
}

/// An HTTP agent that returns non-2xx statuses as responses instead of errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// stderr of a finished command as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `cargo` command that does not inherit this test build's cargo settings (nested builds of
/// the plugin workspace and of scaffolded plugins).
pub fn cargo(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if (k.starts_with("CARGO_") && k != "CARGO_HOME") || k == "RUSTFLAGS" {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("cargo runs")
}
