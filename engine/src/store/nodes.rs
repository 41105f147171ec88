//! Engine nodes: which processes are alive. Each engine heartbeats its boot id every
//! [`HEARTBEAT_MS`]; one that has not for [`NODE_TTL_MS`] is dead, and the work it held — the
//! jobs it had sent, the Web Connector sessions it opened — is judged by that on every node of
//! a cluster, not by comparing with the caller's own boot id. On SQLite there is one engine
//! per data dir, so at start every other row is a dead process and is removed at once.

use crate::store::audit::now_ms;
use crate::store::sql::{self, Backend, Tx, params};
use crate::store::{Store, StoreError};

/// How often an engine writes its heartbeat.
pub const HEARTBEAT_MS: i64 = 2_000;
/// A node silent this long is dead: several missed heartbeats, so a busy database or a
/// garbage-collection pause does not declare a live node dead.
pub const NODE_TTL_MS: i64 = 10_000;

/// The SQL subquery of the live nodes' boot ids, for a query whose parameter `$cutoff`
/// (e.g. `"?3"`) is [`live_cutoff`]: the one definition of "live" every query shares.
macro_rules! live_nodes {
    ($cutoff:literal) => {
        concat!(
            "(SELECT boot_id FROM node WHERE last_seen_at > ",
            $cutoff,
            ")"
        )
    };
}
pub(crate) use live_nodes;

/// The boot ids of the live nodes, `own` (the caller's process) always among them.
pub(crate) fn live_boot_ids(t: &Tx<'_>, own: &str) -> Result<Vec<String>, sql::Error> {
    let mut live: Vec<String> = t
        .prepare_cached("SELECT boot_id FROM node WHERE last_seen_at > ?1")?
        .query_map([live_cutoff(t)?], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    live.push(own.to_string());
    Ok(live)
}

/// True when `boot_id` names a live node other than the caller's. On the Web Connector's
/// path (a session last served by another node), so one statement on PostgreSQL, and none
/// on SQLite, where no row shows a live node (see [`live_cutoff`]).
pub(crate) fn is_live(t: &Tx<'_>, boot_id: &str) -> Result<bool, sql::Error> {
    match t.backend() {
        Backend::Sqlite => Ok(false),
        Backend::Postgres => t
            .prepare_cached(&format!(
                "SELECT 1 FROM node WHERE boot_id = ?1 AND last_seen_at > {PG_CLOCK_MS} - ?2"
            ))?
            .exists(params![boot_id, NODE_TTL_MS]),
    }
}

/// Removes the rows of engines that ran in this data dir (its `place`): the caller holds (or
/// found free) that dir's instance lock, which the kernel releases when a process dies, so
/// they are dead — a restarted node takes over its predecessor's work at once, not after a
/// TTL. On SQLite one engine owns the whole database, so every other row goes.
fn forget_dead_here(tx: &Tx<'_>, place: &str) -> Result<(), sql::Error> {
    match tx.backend() {
        Backend::Sqlite => tx.execute("DELETE FROM node", [])?,
        Backend::Postgres => tx.execute("DELETE FROM node WHERE place = ?1", [place])?,
    };
    Ok(())
}

/// The file in a data dir that names it among a cluster's nodes.
const PLACE_FILE: &str = "node-id";

/// Where an engine runs: the host name and its data dir (shown to people), and the dir's
/// place id, which one engine at a time holds (the instance lock).
pub(crate) struct Place {
    host: String,
    data_dir: String,
    id: String,
}

/// The data dir's place id: read from [`PLACE_FILE`], created (random) on first use. A dir
/// that cannot keep one is named by host and path, as before there was a file.
fn place_of(data_dir: &std::path::Path, host: &str, shown: &str) -> String {
    let path = data_dir.join(PLACE_FILE);
    let read = || {
        std::fs::read_to_string(&path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if let Some(id) = read() {
        return id;
    }
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_ok() {
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, id.as_bytes()));
        // Created here, or by a racing command beside us: whichever is on disk.
        if (created.is_ok() || path.exists())
            && let Some(id) = read()
        {
            return id;
        }
    }
    format!("{host}:{shown}")
}

/// The time after which a heartbeat shows a live node. On SQLite no row does: one engine
/// owns the data dir, and the instance lock — released by the kernel even on SIGKILL —
/// names it (the caller's own boot id, or the lock holder's for a command beside it), where
/// a killed engine's last heartbeat would still look fresh for a TTL. On PostgreSQL, by the
/// database's clock, which stamps the heartbeats too: nodes whose clocks disagree still
/// agree on who lives.
pub(crate) fn live_cutoff(t: &Tx<'_>) -> Result<i64, sql::Error> {
    match t.backend() {
        Backend::Sqlite => Ok(i64::MAX),
        Backend::Postgres => Ok(clock_ms(t)? - NODE_TTL_MS),
    }
}

/// PostgreSQL's clock in Unix ms, as SQL.
const PG_CLOCK_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// The database's clock in Unix ms (PostgreSQL); this process's on SQLite, its one engine.
fn clock_ms(t: &Tx<'_>) -> Result<i64, sql::Error> {
    match t.backend() {
        Backend::Sqlite => Ok(now_ms()),
        Backend::Postgres => t.query_row(&format!("SELECT {PG_CLOCK_MS}"), [], |r| r.get(0)),
    }
}

/// How far this node's clock may stray from the database's before it is warned about:
/// session leases are stamped and judged by each node's own clock.
const CLOCK_SKEW_WARN_MS: i64 = 2_000;

impl Store {
    /// Writes this engine's heartbeat (its row is created on the first one). On SQLite the
    /// first one also forgets every other node: the instance lock proves they are gone.
    pub fn heartbeat(&self) -> Result<(), StoreError> {
        let boot = self.boot_id().to_string();
        let place = self.node_place();
        // Only this node's rows (and day-old ones): no exclusive writer may delay it.
        let skew = self.write_own_node(|tx| {
            let now = clock_ms(tx)?;
            let skew = now_ms() - now;
            let fresh = tx.execute(
                "UPDATE node SET last_seen_at = ?2 WHERE boot_id = ?1",
                params![boot, now],
            )? == 0;
            if fresh {
                forget_dead_here(tx, &place.id)?;
                tx.execute(
                    "INSERT INTO node(boot_id, host, data_dir, started_at, last_seen_at, place)
                     VALUES (?1, ?2, ?3, ?4, ?4, ?5)
                     ON CONFLICT(boot_id) DO UPDATE SET last_seen_at = excluded.last_seen_at",
                    params![boot, place.host, place.data_dir, now, place.id],
                )?;
            }
            // Rows of nodes dead for a day are history nobody reads.
            tx.execute(
                "DELETE FROM node WHERE last_seen_at < ?1",
                [now - 86_400_000],
            )?;
            Ok::<_, StoreError>(skew)
        })?;
        // Said once a minute at most: the heartbeat runs every two seconds.
        static WARNED_AT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
        let now = now_ms();
        if skew.abs() > CLOCK_SKEW_WARN_MS
            && now - WARNED_AT.load(std::sync::atomic::Ordering::Relaxed) > 60_000
        {
            WARNED_AT.store(now, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                skew_ms = skew,
                "this node's clock is off the database's by more than 2 s: synchronise it (NTP). Node liveness follows the database's clock, but Web Connector session leases are timed by each node's"
            );
        }
        Ok(())
    }

    /// For a command beside no running engine: the nodes that ran on this data dir are dead
    /// (nobody holds its instance lock), so their work is not "live" for a TTL more.
    pub(crate) fn forget_dead_nodes_here(&self) -> Result<(), StoreError> {
        let place = self.node_place();
        self.write(|tx| Ok(forget_dead_here(tx, &place.id)?))
    }

    /// This engine's [`Place`], found once: the heartbeat asks every two seconds.
    fn node_place(&self) -> &Place {
        self.inner.place.get_or_init(|| {
            let host = rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned();
            let dir = self.data_dir();
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            let data_dir = dir.display().to_string();
            let id = place_of(&dir, &host, &data_dir);
            Place { host, data_dir, id }
        })
    }

    /// The nodes (`host:data_dir`) running on this database other than the caller, for a
    /// command that needs every node stopped. A row alone cannot say: a database restored
    /// from a copy taken seconds ago holds fresh rows of processes long gone. So rows fresh
    /// enough to be live are read again `watch` later (a few heartbeats); a node whose
    /// heartbeat moved meanwhile, or that appeared, is running. No fresh row: no wait. On
    /// SQLite the caller holds the instance lock as the engine: nothing else runs.
    pub fn running_nodes(&self, watch: std::time::Duration) -> Result<Vec<String>, StoreError> {
        if self.backend() == Backend::Sqlite {
            // One engine per file, and the caller opened it as that engine (the lock).
            return Ok(Vec::new());
        }
        let own = self.boot_id().to_string();
        let fresh = || -> Result<Vec<(String, String, i64)>, StoreError> {
            let rows = self.read(|t| {
                t.prepare(
                    "SELECT boot_id, host || ':' || data_dir, last_seen_at FROM node
                     WHERE last_seen_at > ?1 AND boot_id <> ?2 ORDER BY boot_id",
                )?
                .query_map(params![live_cutoff(t)?, own], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<Vec<_>, _>>()
            })?;
            Ok(rows)
        };
        let before = fresh()?;
        if before.is_empty() {
            return Ok(Vec::new());
        }
        std::thread::sleep(watch);
        Ok(fresh()?
            .into_iter()
            .filter(|(boot, _, seen)| !before.iter().any(|(b, _, s)| b == boot && s == seen))
            .map(|(_, place, _)| place)
            .collect())
    }

    /// Removes this engine's row at a clean stop, so the others take over its work at once.
    pub fn retire_node(&self) -> Result<(), StoreError> {
        let boot = self.boot_id().to_string();
        self.write(|tx| {
            tx.execute("DELETE FROM node WHERE boot_id = ?1", [&boot])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_live_while_it_heartbeats_and_gone_when_it_retires() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        s.heartbeat().unwrap();
        s.heartbeat().unwrap();
        let boots = |s: &Store| -> Vec<String> {
            s.read(|t| {
                t.prepare("SELECT boot_id FROM node ORDER BY boot_id")?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()
            })
            .unwrap()
        };
        assert_eq!(boots(&s), vec![s.boot_id().to_string()]);
        // By its heartbeat a node is live to the others on PostgreSQL; on SQLite only the
        // instance lock says so (a fresh-looking row of a killed engine proves nothing).
        let live = s
            .read(|t| is_live(t, s.boot_id()).map(|l| (l, t.backend())))
            .unwrap();
        assert_eq!(live.0, live.1 == Backend::Postgres);
        // A node that stopped heartbeating long ago is dead to everyone, and forgotten.
        s.write(|tx| {
            tx.execute(
                "INSERT INTO node(boot_id, host, data_dir, started_at, last_seen_at) VALUES ('gone', 'h', '/d', 1, 1)",
                [],
            )
        })
        .unwrap();
        assert!(!s.read(|t| is_live(t, "gone")).unwrap());
        s.heartbeat().unwrap();
        assert_eq!(boots(&s), vec![s.boot_id().to_string()]);
        s.retire_node().unwrap();
        assert!(boots(&s).is_empty());
    }

    #[test]
    fn a_restarted_node_forgets_its_own_place_not_a_twin_with_the_same_host_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        if s.backend() == Backend::Sqlite {
            return; // one engine per file: every other row goes
        }
        let Place {
            host,
            data_dir: shown,
            id: place,
        } = s.node_place();
        assert_eq!(place.len(), 32, "a random id kept in the data dir");
        let dir_path = dir.path().canonicalize().unwrap();
        assert_eq!(
            &place_of(&dir_path, host, shown),
            place,
            "the same id every time"
        );
        let now = now_ms();
        s.write(|tx| {
            tx.execute(
                "INSERT INTO node(boot_id, host, data_dir, started_at, last_seen_at, place)
                 VALUES ('twin', ?1, ?2, ?3, ?3, 'another-volume'),
                        ('predecessor', ?1, ?2, ?3, ?3, ?4)",
                params![host, shown, now, place],
            )
        })
        .unwrap();
        s.heartbeat().unwrap();
        let boots: Vec<String> = s
            .read(|t| {
                t.prepare("SELECT boot_id FROM node ORDER BY boot_id")?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()
            })
            .unwrap();
        let mut want = vec![s.boot_id().to_string(), "twin".to_string()];
        want.sort();
        assert_eq!(
            boots, want,
            "the twin (same host name and path, another data dir) lives on"
        );
    }

    #[test]
    fn a_heartbeat_does_not_wait_behind_another_nodes_exclusive_write() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let first = crate::store::testing::open(dir.path());
        let Some(second) = crate::store::testing::open_node(dir.path(), other.path()) else {
            return; // SQLite: one engine, one writer
        };
        let (holding, beaten, released) = (
            AtomicBool::new(false),
            AtomicBool::new(false),
            AtomicBool::new(false),
        );
        std::thread::scope(|scope| {
            scope.spawn(|| {
                first
                    .write(|_| {
                        holding.store(true, Ordering::SeqCst);
                        // Held until the other node's heartbeat is in, or 10 s at most.
                        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
                        while !beaten.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                            std::thread::sleep(std::time::Duration::from_millis(10));
                        }
                        released.store(true, Ordering::SeqCst);
                        Ok::<_, StoreError>(())
                    })
                    .unwrap();
            });
            while !holding.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            second.heartbeat().unwrap();
            assert!(
                !released.load(Ordering::SeqCst),
                "the heartbeat waited for the exclusive write to end"
            );
            beaten.store(true, Ordering::SeqCst);
        });
    }
}
