//! A throw-away PostgreSQL cluster: `initdb` in a temporary folder, started with `pg_ctl` on
//! a free loopback port, stopped and removed when dropped. `qbridge bench` measures the
//! PostgreSQL store on one, and the tests run their PostgreSQL suites on one when no
//! database is named (`TEST_DATABASE_URL`).
//!
//! The server binaries come from Debian's `postgresql` package (`/usr/lib/postgresql/N/bin`)
//! or the `PATH`. PostgreSQL refuses to run as root, so as root the cluster belongs to the
//! `postgres` user the package creates (`runuser`).

use std::path::PathBuf;
use std::process::Command;

/// A running cluster; dropping it stops the server and removes its files.
pub struct ThrowawayCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<String>,
    port: u16,
}

/// A server certificate for a cluster that speaks TLS, and the rules put before the
/// default (trust) ones in `pg_hba.conf` — e.g. `hostssl all u 127.0.0.1/32 cert`.
pub struct ServerTls<'a> {
    pub cert: &'a std::path::Path,
    pub key: &'a std::path::Path,
    /// CAs whose client certificates `cert` authentication accepts.
    pub client_ca: &'a std::path::Path,
    pub hba_first: &'a [&'a str],
}

/// What to do when no PostgreSQL can be started here.
pub const HOW_TO_GET_ONE: &str = "install PostgreSQL's server (Debian: apt-get install postgresql; its binaries land in /usr/lib/postgresql/N/bin), or point TEST_DATABASE_URL at an empty database you can create schemas in (postgres://user@host:port/db)";

impl ThrowawayCluster {
    /// Creates and starts a cluster with a `qbridge` superuser (trust authentication on
    /// loopback only) and an empty `qbridge` database.
    pub fn start() -> Result<ThrowawayCluster, String> {
        Self::start_with(None)
    }

    /// As [`start`](Self::start), with `ssl=on` and the given certificate and rules.
    pub fn start_with(tls: Option<&ServerTls<'_>>) -> Result<ThrowawayCluster, String> {
        let bin = server_bin_dir().ok_or_else(|| {
            format!("no PostgreSQL server binaries (initdb, pg_ctl) found: {HOW_TO_GET_ONE}")
        })?;
        let user = if rustix::process::geteuid().is_root() {
            Some("postgres".to_string())
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("qbridge-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a folder for the cluster: {e}"))?;
        if let Some(user) = &user {
            let status = Command::new("chown")
                .arg(user)
                .arg(dir.path())
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "cannot give {} to the {user} user (does it exist? {HOW_TO_GET_ONE})",
                    dir.path().display()
                ));
            }
        }
        let port = free_port()?;
        let mut cluster = ThrowawayCluster {
            dir,
            bin,
            user,
            port,
        };
        let data = cluster.dir.path().join("data");
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "qbridge",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            cluster.dir.path().display()
        );
        if let Some(tls) = tls {
            cluster.add_tls(&data, tls)?;
            options.push_str(" -c ssl=on -c ssl_ca_file=client-ca.crt");
        }
        let log = cluster.dir.path().join("server.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "start",
            ],
        )?;
        let mut client = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)
            .map_err(|e| format!("the throw-away cluster does not answer: {e}"))?;
        client
            .batch_execute("CREATE DATABASE qbridge")
            .map_err(|e| format!("CREATE DATABASE: {e}"))?;
        // Only a port that answered is kept; a race for it would have failed above.
        cluster.port = port;
        Ok(cluster)
    }

    /// The URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://qbridge@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Puts the certificate files into the data dir (the server's default names, owned by
    /// the server's user, the key 0600 as PostgreSQL insists) and the rules before the rest.
    fn add_tls(&self, data: &std::path::Path, tls: &ServerTls<'_>) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        for (from, name) in [
            (tls.cert, "server.crt"),
            (tls.key, "server.key"),
            (tls.client_ca, "client-ca.crt"),
        ] {
            let to = data.join(name);
            std::fs::copy(from, &to).map_err(|e| format!("copy {}: {e}", from.display()))?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("chmod {}: {e}", to.display()))?;
            if let Some(user) = &self.user {
                Command::new("chown")
                    .arg(user)
                    .arg(&to)
                    .status()
                    .map_err(|e| format!("chown: {e}"))?;
            }
        }
        let hba = data.join("pg_hba.conf");
        let rest = std::fs::read_to_string(&hba).map_err(|e| format!("read pg_hba.conf: {e}"))?;
        let mut text = tls.hba_first.join("\n");
        text.push('\n');
        text.push_str(&rest);
        std::fs::write(&hba, text).map_err(|e| format!("write pg_hba.conf: {e}"))
    }

    /// The folder of the server's Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A client program of the server's own version (`pg_dump`, `pg_restore`), run as the
    /// caller.
    pub fn client(&self, program: &str) -> Command {
        Command::new(self.bin.join(program))
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let mut cmd = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ));
        }
        Ok(())
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

/// `initdb`'s folder: the newest `/usr/lib/postgresql/N/bin`, else the `PATH`.
fn server_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((n, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("no free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
