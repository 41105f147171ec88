//! The store backends side by side, with one driver in one run: SQLite (one node),
//! PostgreSQL with one node and PostgreSQL with two nodes. Each configuration gets the same
//! company files, records and simulated Web Connectors; with two nodes each Web Connector
//! talks to one of them (as a balancer that keeps a client's connection on one node does),
//! so the nodes claim and record for different company files at once.
//!
//! PostgreSQL is `--database-url` (the bench creates and drops a schema of its own in it)
//! or a throw-away cluster started from the PostgreSQL server binaries on this machine.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use super::soap::{Conn, ServerProcess, Tally, deploy_with_env, ingest, sync_connection};
use super::{Row, Sizes, row};
use crate::store::sql::throwaway::{HOW_TO_GET_ONE, ThrowawayCluster};

/// Requests per message set in this section.
const BATCH: usize = 5;

/// One measured configuration.
struct Config {
    label: &'static str,
    /// PostgreSQL schema, or SQLite in the node's data dir.
    postgres: bool,
    nodes: usize,
}

const CONFIGS: [Config; 3] = [
    Config {
        label: "SQLite, 1 node",
        postgres: false,
        nodes: 1,
    },
    Config {
        label: "PostgreSQL, 1 node",
        postgres: true,
        nodes: 1,
    },
    Config {
        label: "PostgreSQL, 2 nodes",
        postgres: true,
        nodes: 2,
    },
];

/// What one configuration did.
struct Measured {
    jobs_per_s: f64,
    calls_per_s: f64,
    claims_per_s: f64,
}

/// Jobs/s, SOAP calls/s and claims/s for each configuration, and their ratios.
pub(crate) fn backends(
    work: &Path,
    sizes: &Sizes,
    database_url: Option<&str>,
) -> anyhow::Result<Vec<Row>> {
    let cluster;
    let base_url = match database_url {
        Some(url) => url.to_string(),
        None => match ThrowawayCluster::start() {
            Ok(c) => {
                cluster = c;
                cluster.url("qbridge")
            }
            Err(e) => {
                return Ok(vec![row(
                    "backends",
                    "not measured",
                    format!(
                        "no PostgreSQL to measure: {e}. Pass --database-url, or {HOW_TO_GET_ONE}"
                    ),
                )]);
            }
        },
    };
    let mut rows = Vec::new();
    let mut measured = Vec::new();
    for (n, config) in CONFIGS.iter().enumerate() {
        let folder = work.join(format!("backends-{n}"));
        std::fs::create_dir_all(&folder)?;
        let schema = config
            .postgres
            .then(|| Schema::create(&base_url, &format!("bench_{}_{n}", std::process::id())))
            .transpose()?;
        let m = measure(
            &folder,
            config,
            schema.as_ref().map(|s| s.url.as_str()),
            sizes,
        )?;
        let label = config.label;
        rows.push(row(
            "backends",
            format!("{label}: jobs/s queued→applied in QuickBooks"),
            format!("{:.0}", m.jobs_per_s),
        ));
        rows.push(row(
            "backends",
            format!("{label}: SOAP calls/s (all methods)"),
            format!("{:.0}", m.calls_per_s),
        ));
        rows.push(row(
            "backends",
            format!("{label}: claims/s (sendRequestXML exchanges, {BATCH} requests each)"),
            format!("{:.0}", m.claims_per_s),
        ));
        measured.push(m);
    }
    let ratio = |a: &Measured, b: &Measured| a.jobs_per_s / b.jobs_per_s.max(f64::MIN_POSITIVE);
    rows.push(row(
        "backends",
        "jobs/s, PostgreSQL 1 node ÷ SQLite",
        format!("{:.2}", ratio(&measured[1], &measured[0])),
    ));
    rows.push(row(
        "backends",
        "jobs/s, PostgreSQL 2 nodes ÷ PostgreSQL 1 node",
        format!("{:.2}", ratio(&measured[2], &measured[1])),
    ));
    Ok(rows)
}

/// Deploys the company files, starts the nodes, queues the records and syncs them all.
fn measure(
    folder: &Path,
    config: &Config,
    database_url: Option<&str>,
    sizes: &Sizes,
) -> anyhow::Result<Measured> {
    // The nodes of one configuration share the database and both keys; their data dirs
    // hold only caches.
    let mut env = vec![
        (
            "QBRIDGE_SECRETS_KEY_FILE".to_string(),
            folder.join("secrets.key").display().to_string(),
        ),
        (
            "QBRIDGE_QBWC_PASSWORD_KEY_FILE".to_string(),
            folder.join("qbwc-auth.key").display().to_string(),
        ),
    ];
    if let Some(url) = database_url {
        env.push(("QBRIDGE_DATABASE_URL".to_string(), url.to_string()));
    }
    // Small message sets, so that a session makes many claims and records many answers:
    // the store's share of the work, which is what differs between the configurations.
    env.push((
        "QBRIDGE_PIPELINE_BATCH_MAX_REQUESTS".to_string(),
        BATCH.to_string(),
    ));
    let node_dir = |i: usize| folder.join(format!("node{i}"));
    let connections = sizes.backend_connections;
    let (servers, conns, token) = if database_url.is_some() {
        // Nodes first: they migrate the empty schema; the admin's commands run beside them.
        let servers = start_nodes(config.nodes, &node_dir, &env)?;
        let (conns, token) = deploy_with_env(&folder.join("admin"), &env, connections)?;
        (servers, conns, token)
    } else {
        // SQLite: the commands need the data dir to themselves.
        let (conns, token) = deploy_with_env(&node_dir(0), &env, connections)?;
        (start_nodes(1, &node_dir, &env)?, conns, token)
    };
    let node_of = |i: usize| &servers[i % servers.len()];
    let mut records = 0;
    for (i, conn) in conns.iter().enumerate() {
        records += ingest(
            node_of(i),
            &token,
            std::slice::from_ref(conn),
            sizes.backend_records,
            1,
        )?;
    }
    let started = Instant::now();
    let tallies = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .iter()
            .enumerate()
            .map(|(i, conn): (usize, &Conn)| {
                let base = node_of(i).base.clone();
                s.spawn(move || sync_connection(&base, conn))
            })
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
    Ok(Measured {
        jobs_per_s: records as f64 / elapsed,
        calls_per_s: tallies.iter().map(|t| t.calls).sum::<u64>() as f64 / elapsed,
        claims_per_s: tallies.iter().map(|t| t.exchanges).sum::<u64>() as f64 / elapsed,
    })
}

fn start_nodes(
    count: usize,
    node_dir: &dyn Fn(usize) -> std::path::PathBuf,
    env: &[(String, String)],
) -> anyhow::Result<Vec<ServerProcess>> {
    (0..count)
        .map(|i| ServerProcess::start_with_env(&node_dir(i), env).map(|(s, _)| s))
        .collect()
}

/// A schema of the bench's own in the database at `base`, dropped with everything in it
/// at the end.
struct Schema {
    base: String,
    name: String,
    url: String,
}

impl Schema {
    fn create(base: &str, name: &str) -> anyhow::Result<Schema> {
        let mut client = crate::store::sql::PgTarget::parse(base)
            .map_err(anyhow::Error::msg)?
            .connect()
            .with_context(|| format!("connecting to {}", redacted(base)))?;
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .with_context(|| format!("creating schema {name} in {}", redacted(base)))?;
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(Schema {
            base: base.to_string(),
            name: name.to_string(),
            url: format!("{base}{sep}options=-csearch_path%3D{name}"),
        })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let client = crate::store::sql::PgTarget::parse(&self.base)
            .ok()
            .and_then(|t| t.connect().ok());
        if let Some(mut client) = client {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

/// The URL without a password, for messages.
fn redacted(url: &str) -> String {
    crate::store::sql::PgTarget::parse(url)
        .map(|t| t.shown)
        .unwrap_or_else(|_| "the database URL".to_string())
}
