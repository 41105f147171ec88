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

/// What to do when no PostgreSQL can be started here.
pub const HOW_TO_GET_ONE: &str = "install PostgreSQL's server (Debian: apt-get install postgresql; its binaries land in /usr/lib/postgresql/N/bin), or point TEST_DATABASE_URL at an empty database you can create schemas in (postgres://user@host:port/db)";

impl ThrowawayCluster {
    /// Creates and starts a cluster with a `qbridge` superuser (trust authentication on
    /// loopback only) and an empty `qbridge` database.
    pub fn start() -> Result<ThrowawayCluster, String> {
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
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            cluster.dir.path().display()
        );
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
