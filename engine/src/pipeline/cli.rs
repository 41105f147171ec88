//! `qbridge jobs …`, `qbridge status`, `qbridge ingest …`, `qbridge schedule …`.
//!
//! These read (and, for job retries and schedules, write) the database beside a running
//! server, which reads those rows back on every use; `ingest` goes through the server's
//! admin API while one runs (`bulk.rs`).

use anyhow::bail;
use clap::{Args, Subcommand};

use super::rejected::{self, Retried};
use crate::config::Config;
use crate::schedule::Schedule;
use crate::store::Store;
use crate::store::audit::now_ms;
use crate::store::plugin_calls::{CallCounts, CallKind};
use crate::store::queue::{JobFilter, JobState};
use crate::store::secrets::SecretKey;
use crate::store::source_accounts::shared_account_refusal;

/// `qbridge jobs …`
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: Option<JobsCommand>,
    /// Only jobs in this state (available, held, sent, in_doubt, retryable, completed, discarded, cancelled).
    #[arg(long)]
    state: Option<String>,
    /// Only jobs of this connection.
    #[arg(long)]
    connection: Option<String>,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// A job with its request, last response, history and advice.
    Show {
        /// Job id.
        id: i64,
    },
    /// Send a failed, held, cancelled or unresolved job again.
    Retry {
        /// Job id.
        id: i64,
    },
    /// Stop a job that has not been applied; its dependents are held.
    Cancel {
        /// Job id.
        id: i64,
    },
    /// Try again every deferred plugin call that was given up (source acknowledgements and
    /// follow-ups; see `qbridge status`).
    RetryDeferred,
    /// Pulled records the plugin refused, newest first, with its reason (`--connection`,
    /// `--limit` apply).
    Rejected {
        /// Also those that mapped since.
        #[arg(long)]
        all: bool,
    },
    /// Map refused pulled records again with the running plugin version: one by id, or every
    /// open one of `--plugin`.
    RetryRejected {
        /// Refused record id (from `qbridge jobs rejected`).
        id: Option<i64>,
        /// Every open refusal of this plugin.
        #[arg(long, conflicts_with = "id")]
        plugin: Option<String>,
    },
}

/// `qbridge ingest …`
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Plugin that maps the records.
    #[arg(long)]
    pub(super) plugin: String,
    /// Connection (company file) the records are for; optional when there is only one.
    #[arg(long)]
    pub(super) connection: Option<String>,
    /// Record kind the plugin expects (e.g. invoice, company, transaction, bill).
    #[arg(long)]
    pub(super) kind: String,
    /// Records stored per transaction (with no server running; a running server stores 500
    /// per transaction).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(super) batch: u32,
    /// JSON file with one record, an array of records, or one record per line (NDJSON);
    /// `-` reads standard input.
    pub(super) file: String,
}

/// `qbridge schedule …`
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Pull a plugin's source on a cron schedule (5 fields, the firm's timezone).
    Add {
        /// Connection the pulled records are for.
        #[arg(long)]
        connection: String,
        /// Plugin that pulls.
        #[arg(long)]
        plugin: String,
        /// e.g. "*/15 * * * *" or "0 6 * * 1-5".
        #[arg(long)]
        cron: String,
        /// IANA timezone (default: the firm's, setting firm.timezone).
        #[arg(long)]
        timezone: Option<String>,
        /// Where the pull starts, in the plugin's cursor format, e.g. for Autotask the zone
        /// and the last invoice already in QuickBooks:
        /// '{"after_id": 29684000}'.
        #[arg(long)]
        cursor: Option<String>,
        /// Confirms that this schedule pulls the same source account as another connection's
        /// (the same secrets resolve for both), so both company files receive its records.
        #[arg(long)]
        shared_account: bool,
    },
    /// List schedules with their next run.
    List,
    /// Remove a schedule.
    Remove {
        /// Schedule id.
        id: i64,
    },
}

pub(super) fn connection_id(store: &Store, name: Option<&str>) -> anyhow::Result<i64> {
    match name {
        Some(n) => Ok(store.connection(n)?.id),
        None => {
            let all = store.connections()?;
            match all.as_slice() {
                [only] => Ok(only.id),
                [] => {
                    bail!("no connection exists yet: create one with `qbridge connection add NAME`")
                }
                _ => bail!(
                    "several connections exist ({}): choose one with --connection",
                    all.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }
}

fn ago(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// How a job sent by a process that is gone is shown.
const OUTCOME_UNKNOWN: &str = "outcome unknown — verified at next start";

/// Runs `qbridge jobs …`.
pub fn jobs(store: &Store, config: &Config, args: JobsArgs) -> anyhow::Result<()> {
    match args.command {
        None => {
            let filter = JobFilter {
                state: args
                    .state
                    .as_deref()
                    .map(JobState::parse)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                connection_id: args
                    .connection
                    .as_deref()
                    .map(|c| connection_id(store, Some(c)))
                    .transpose()?,
                limit: args.limit,
                ..JobFilter::default()
            };
            let now = now_ms();
            for j in store.list_jobs(&filter)? {
                let (state, advice) = if j.outcome_unknown {
                    ("unknown", Some(OUTCOME_UNKNOWN.to_string()))
                } else {
                    (j.state.as_str(), j.advice)
                };
                println!(
                    "{:>6}  {:<10} {:<22} {:<28} {:>4}  {}",
                    j.id,
                    state,
                    j.request_type,
                    j.key,
                    ago(now - j.created_at),
                    advice.unwrap_or_default()
                );
            }
        }
        Some(JobsCommand::Show { id }) => {
            let j = store.job(id)?;
            let state = if j.outcome_unknown {
                OUTCOME_UNKNOWN
            } else {
                j.state.as_str()
            };
            println!(
                "job {} — {} {} ({state}, plugin {})",
                j.id, j.request_type, j.key, j.plugin
            );
            println!(
                "version {} ({})   attempts: {}   depends on: {}",
                j.version,
                j.action,
                j.attempt,
                j.depends_on.join(", ")
            );
            if let Some(o) = &j.object_id {
                println!("QuickBooks id: {o}");
            }
            if let Some(a) = &j.advice {
                println!("advice: {a}");
            }
            if !j.conflict.is_empty() {
                println!("edited in QuickBooks since qbridge wrote it:");
                for line in &j.conflict {
                    println!("  {line}");
                }
            }
            for n in &j.notes {
                println!("note: {n}");
            }
            println!("history: {}", serde_json::to_string_pretty(&j.errors)?);
            println!("request:\n{}", j.qbxml.unwrap_or_default());
            if let Some(sent) = j.sent_qbxml {
                println!("sent as (the object is in QuickBooks):\n{sent}");
            }
            if let Some(r) = j.response {
                println!("last response:\n{r}");
            }
        }
        Some(JobsCommand::Retry { id }) => {
            store.retry_job(id)?;
            println!("job {id} will be sent in the next Web Connector session");
        }
        Some(JobsCommand::Cancel { id }) => {
            store.cancel_job(id)?;
            println!("job {id} cancelled");
        }
        Some(JobsCommand::RetryDeferred) => {
            let n = store.retry_failed_calls(&crate::admin::cli::cli_actor())?;
            println!("{n} plugin call(s) will be tried again by the running server");
        }
        Some(JobsCommand::Rejected { all }) => {
            let connection = args
                .connection
                .as_deref()
                .map(|c| connection_id(store, Some(c)))
                .transpose()?;
            let now = now_ms();
            let rows = store.rejected_records(connection, None, all, args.limit)?;
            if rows.is_empty() {
                println!("no refused pulled records");
            }
            for r in rows {
                let state = match r.record_id {
                    Some(record) => format!("mapped as record {record}"),
                    None if r.resolved_at.is_some() => "mapped".to_string(),
                    None => format!("refused {}×", r.attempts),
                };
                println!(
                    "{:>6}  {:<10} {:<14} {:<24} {:>4}  {state} (version {}): {}",
                    r.id,
                    r.plugin,
                    r.kind,
                    r.source_id.as_deref().unwrap_or("(no id)"),
                    ago(now - r.last_at),
                    r.plugin_version,
                    r.reason
                );
            }
        }
        Some(JobsCommand::RetryRejected { id, plugin }) => {
            let ids: Vec<i64> = match (id, plugin) {
                (Some(id), _) => vec![id],
                (None, Some(plugin)) => store
                    .rejected_records(None, Some(&plugin), false, u32::MAX)?
                    .into_iter()
                    .map(|r| r.id)
                    .collect(),
                (None, None) => bail!(
                    "name a refused record (`qbridge jobs retry-rejected ID`) or a plugin (`--plugin NAME`); `qbridge jobs rejected` lists them"
                ),
            };
            let plugins = crate::plugins::PluginManager::open(store.clone(), config)?;
            store.audit_rejected_retry(&crate::store::audit::AuditEntry {
                actor: crate::admin::cli::cli_actor(),
                action: "record.retry_rejected".into(),
                target: format!(
                    "rejected:{}",
                    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                ),
                ..Default::default()
            })?;
            for id in ids {
                match rejected::retry(store, &plugins, id)? {
                    Retried::Queued(record) => println!("{id}: queued as record {record}"),
                    Retried::StillRefused(reason) => println!("{id}: still refused: {reason}"),
                    Retried::NotKept => {
                        println!("{id}: too large to have been kept; have the source send it again")
                    }
                    Retried::AlreadyResolved => println!("{id}: mapped already"),
                }
            }
        }
    }
    Ok(())
}

/// Runs `qbridge status`.
pub fn status(store: &Store, config: &Config) -> anyhow::Result<()> {
    let connections = store.connections()?;
    let queue = store.queue_status()?;
    if connections.is_empty() {
        println!(
            "no connections yet: `qbridge connection add NAME`, then `qbridge user add --connection NAME USER`"
        );
    }
    for (call, what) in [
        (CallKind::Acknowledge, "source acknowledgements"),
        (CallKind::OnResponse, "retried follow-ups (on_response)"),
    ] {
        let n = store.call_counts(call)?;
        if n != CallCounts::default() {
            println!(
                "{what}: {} done, {} pending, {} failed",
                n.done, n.pending, n.failed
            );
        }
    }
    for warning in shared_account_warnings(store, config)? {
        println!("warning: {warning}");
    }
    for f in store.failed_calls(10)? {
        println!(
            "  FAILED {} of job {} ({} {}) after {} attempts: {} — fix the cause, then `qbridge jobs retry-deferred`",
            f.call.as_str(),
            f.job_id,
            f.plugin,
            f.key,
            f.attempts,
            f.last_error.as_deref().unwrap_or("no reason recorded")
        );
    }
    if let Some(r) = store.latest_restore()?
        && r.verify_until > now_ms()
    {
        println!(
            "restored {} ago from a backup taken {} before that: new jobs are verified by their probe first for another {}",
            ago(now_ms() - r.restored_at),
            ago(r.restored_at - r.backup_taken_at),
            ago(r.verify_until - now_ms())
        );
    }
    let refused = store.open_rejected_counts()?;
    for c in &connections {
        println!("connection {} (id {})", c.name, c.id);
        if let Some((_, n)) = refused.iter().find(|(id, _)| *id == c.id) {
            println!(
                "  refused pulled records: {n} — `qbridge jobs rejected --connection {}` shows why; a plugin upgrade or `qbridge jobs retry-rejected` maps them again",
                c.name
            );
        }
        match queue.iter().find(|q| q.connection_id == c.id) {
            Some(q) => {
                // Jobs `sent` by a process that is gone are not in progress: say what they are.
                let counts: Vec<String> = q
                    .counts
                    .iter()
                    .map(|(s, n)| match s.as_str() {
                        "sent" => (s.as_str(), n - q.outcome_unknown),
                        _ => (s.as_str(), *n),
                    })
                    .chain(
                        (q.outcome_unknown > 0).then_some(("outcome unknown", q.outcome_unknown)),
                    )
                    .filter(|(_, n)| *n > 0)
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect();
                println!("  jobs: {}", counts.join(", "));
                if let Some(age) = q.oldest_waiting_ms {
                    println!("  oldest waiting job: {}", ago(age));
                }
                let in_doubt = q
                    .counts
                    .iter()
                    .find(|(s, _)| s == "in_doubt")
                    .map_or(0, |(_, n)| *n);
                if q.outcome_unknown > 0 {
                    println!(
                        "  {} job(s): {OUTCOME_UNKNOWN} (their session was cut short)",
                        q.outcome_unknown
                    );
                }
                if in_doubt > 0 {
                    println!(
                        "  {in_doubt} job(s) in doubt: they are verified with QuickBooks in the next session"
                    );
                }
            }
            None => println!("  jobs: none"),
        }
        if let Some(w) = &c.path_warning {
            println!("  WARNING: {w}");
        }
        if let Some((e, at)) = &c.last_error {
            println!("  last error ({} ago): {e}", ago(now_ms() - at));
        }
        for s in store.last_sessions(c.id)? {
            let ended = match (&s.closed_at, &s.end_reason) {
                (Some(t), Some(r)) => format!("ended {} ago ({r})", ago(now_ms() - t)),
                _ if s.interrupted => {
                    "interrupted: the engine stopped during it; what it sent is verified at next start".to_string()
                }
                _ => "in progress".to_string(),
            };
            println!(
                "  last session of {}: started {} ago, {ended}",
                s.username,
                ago(now_ms() - s.started_at)
            );
        }
    }
    Ok(())
}

/// The secrets key, when its file exists: without one no secret is readable, so there is no
/// source account to compare (and a read-only command must not create it).
fn existing_secrets_key(config: &Config) -> anyhow::Result<Option<SecretKey>> {
    let path = config.secrets_key_path();
    Ok(if path.exists() {
        Some(SecretKey::open(&path)?)
    } else {
        None
    })
}

/// One line per source account that schedules of two or more connections pull — confirmed
/// when scheduled, or come about since through a secret set or deleted later.
pub fn shared_account_warnings(store: &Store, config: &Config) -> anyhow::Result<Vec<String>> {
    Ok(match existing_secrets_key(config)? {
        Some(key) => store
            .shared_source_accounts(&key)?
            .iter()
            .map(|shared| shared.warning())
            .collect(),
        None => Vec::new(),
    })
}

/// Runs `qbridge schedule …`.
pub fn schedule(store: &Store, config: &Config, cmd: ScheduleCommand) -> anyhow::Result<()> {
    match cmd {
        ScheduleCommand::Add {
            connection,
            plugin,
            cron,
            timezone,
            cursor,
            shared_account,
        } => {
            let tz = timezone.unwrap_or_else(|| config.firm_timezone.clone());
            let parsed = Schedule::parse(&cron, &tz)?;
            let conn = store.connection(&connection)?;
            let next = parsed
                .next_after(chrono::Utc::now())
                .map(|t| t.timestamp_millis());
            let shared_with = match existing_secrets_key(config)? {
                Some(key) => store.connections_sharing_account(&key, &plugin, conn.id)?,
                None => Vec::new(),
            };
            if !shared_with.is_empty() && !shared_account {
                bail!(shared_account_refusal(
                    &plugin,
                    &connection,
                    &shared_with,
                    "--shared-account"
                ));
            }
            let id = store.add_schedule(
                conn.id,
                &plugin,
                parsed.expression(),
                &tz,
                next,
                cursor.as_deref(),
                &shared_with,
                &crate::admin::cli::cli_actor(),
            )?;
            println!(
                "schedule {id}: {plugin} pulls for {connection} {} ({tz})",
                parsed.describe().to_lowercase()
            );
        }
        ScheduleCommand::List => {
            for s in store.schedules()? {
                let next = s
                    .next_run_at
                    .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
                    .map_or("never".to_string(), |t| t.to_rfc3339());
                println!(
                    "{:>4}  {:<10} conn {:<4} {:<16} {:<20} next {}  last: {}",
                    s.id,
                    s.plugin,
                    s.connection_id,
                    s.cron,
                    s.timezone,
                    next,
                    s.last_result.unwrap_or_else(|| "never ran".into())
                );
            }
            for warning in shared_account_warnings(store, config)? {
                println!("warning: {warning}");
            }
        }
        ScheduleCommand::Remove { id } => {
            store.remove_schedule(id, &crate::admin::cli::cli_actor())?;
            println!("schedule {id} removed");
        }
    }
    Ok(())
}
