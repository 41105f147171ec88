//! `qbridge token …`, `qbridge support …` and `qbridge audit …`.
//!
//! These work on the data dir directly (the server need not run). Secrets are printed once,
//! to stdout, and never logged.

use std::io::Write;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::store::Store;
use crate::store::audit::{AuditVerdict, now_ms};
use crate::store::tokens::{Fence, Scope};

/// The CLI's audit actor: who ran the command on this machine.
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// `qbridge token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token (printed once).
    Create {
        /// admin, operator, read or ingest.
        #[arg(long, default_value = "admin")]
        scope: String,
        /// A label to recognise it by.
        #[arg(long, default_value = "api")]
        name: String,
        /// Lifetime such as 30d, 12h, 90m (default: no expiry).
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        fence: FenceArgs,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token; takes effect on its next request.
    Revoke {
        /// Token id from `token list`.
        id: i64,
    },
}

/// `qbridge support …`
#[derive(Debug, Subcommand)]
pub enum SupportCommand {
    /// Give a vendor's support engineer temporary access (printed once).
    Grant {
        /// Who receives it, e.g. "Jane Doe (Acme support)".
        #[arg(long)]
        to: String,
        /// read, or operate (retry/cancel jobs).
        #[arg(long, default_value = "read")]
        scope: String,
        /// Lifetime, at most 72h.
        #[arg(long, default_value = "8h")]
        expires: String,
        /// Why (ticket number, problem).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        fence: FenceArgs,
    },
    /// Revoke one grant, or every active grant with --all.
    Revoke {
        /// Grant id from `support list`.
        id: Option<i64>,
        /// Revoke every active grant (break-glass).
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// List grants with their remaining time.
    List,
}

/// Limits a token or grant to one tenant.
#[derive(Debug, clap::Args)]
pub struct FenceArgs {
    /// Only this connection's (company file's) data, e.g. a firm's ingest webhook.
    #[arg(long)]
    connection: Option<String>,
    /// Only records and jobs of this plugin.
    #[arg(long)]
    plugin: Option<String>,
}

impl FenceArgs {
    fn resolve(self, store: &Store) -> anyhow::Result<Fence> {
        let connection_id = match self.connection.as_deref() {
            Some(name) => Some(
                store
                    .connection(name)
                    .with_context(|| {
                        format!("cannot limit the token to connection {name:?} (`qbridge connection list` shows them)")
                    })?
                    .id,
            ),
            None => None,
        };
        Ok(Fence {
            connection_id,
            plugin: self.plugin,
        })
    }
}

/// `qbridge audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; fails when a row was edited or removed.
    Verify,
    /// Print the log as JSON lines.
    Export {
        /// Only rows after this id.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

/// Longest support grant: access that outlives a working day needs a new decision.
const MAX_GRANT_MS: i64 = 72 * 3_600_000;

/// The rules every support grant follows, from the CLI, the API or the UI: at most 72 h, and
/// a reason. `asked` is the lifetime as the admin wrote it, for the message.
pub(crate) fn grant_rules(ttl_ms: i64, asked: &str, reason: &str) -> anyhow::Result<()> {
    if ttl_ms > MAX_GRANT_MS {
        bail!(
            "support access may last at most 72h (asked for {asked}); grant again when it runs out"
        );
    }
    if reason.trim().is_empty() {
        bail!("a reason must say why access is given (e.g. a ticket number)");
    }
    Ok(())
}

/// Parses `90m`, `8h`, `30d` into milliseconds.
pub fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().ok().filter(|n| *n > 0).with_context(|| {
        format!("invalid duration {s:?}: expected a positive number and a unit, e.g. 90m, 8h, 30d")
    })?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("invalid duration {s:?}: the unit must be m (minutes), h (hours) or d (days)"),
    };
    n.checked_mul(unit_ms)
        .with_context(|| format!("duration {s:?} is too long"))
}

fn scope_arg(s: &str, allowed: &[Scope]) -> anyhow::Result<Scope> {
    match Scope::parse(s) {
        Some(scope) if allowed.contains(&scope) => Ok(scope),
        _ => bail!(
            "invalid scope {s:?}: expected one of {}",
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "never".into() };
    let left = ms - now_ms();
    if left <= 0 {
        "expired".into()
    } else {
        format!(
            "in {}h{:02}m",
            left / 3_600_000,
            (left % 3_600_000) / 60_000
        )
    }
}

/// Runs `qbridge token …`.
pub fn token(store: &Store, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            scope,
            name,
            expires,
            fence,
        } => {
            let fence = fence.resolve(store)?;
            let scope = scope_arg(
                &scope,
                &[Scope::Admin, Scope::Operator, Scope::Read, Scope::Ingest],
            )?;
            let expires_at = expires
                .map(|e| parse_duration(&e))
                .transpose()?
                .map(|d| now_ms() + d);
            let (id, secret) = store.create_fenced_token(
                false,
                scope,
                &name,
                None,
                expires_at,
                &fence,
                &cli_actor(),
            )?;
            println!(
                "token {id} ({}, scope {}) — shown once, store it now:\n{secret}",
                name,
                scope.as_str()
            );
        }
        TokenCommand::List => {
            for t in store.list_tokens(Some(false))? {
                let status = if t.revoked_at.is_some() {
                    "revoked".to_string()
                } else {
                    format!("expires {}", when(t.expires_at))
                };
                println!(
                    "{:>4}  {:<8} {:<9} {:<20} {}{}",
                    t.id,
                    t.prefix,
                    t.scope.as_str(),
                    t.name,
                    status,
                    if t.fence.is_fenced() {
                        format!("  only {}", t.fence)
                    } else {
                        String::new()
                    }
                );
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke_tokens(Some(id), &cli_actor())?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// Runs `qbridge support …`.
pub fn support(store: &Store, cmd: SupportCommand) -> anyhow::Result<()> {
    match cmd {
        SupportCommand::Grant {
            to,
            scope,
            expires,
            reason,
            fence,
        } => {
            let fence = fence.resolve(store)?;
            let scope = scope_arg(&scope, &[Scope::Read, Scope::Operator])?;
            let ttl = parse_duration(&expires)?;
            grant_rules(ttl, &expires, &reason)?;
            let (id, secret) = store.create_fenced_token(
                true,
                scope,
                &to,
                Some(&reason),
                Some(now_ms() + ttl),
                &fence,
                &cli_actor(),
            )?;
            println!(
                "support grant {id} for {to} ({}, expires {}) — give them this token, shown once:\n{secret}",
                scope.as_str(),
                when(Some(now_ms() + ttl))
            );
        }
        SupportCommand::Revoke { id, all } => {
            let n = match (id, all) {
                (Some(id), false) => store.revoke_tokens(Some(id), &cli_actor())?,
                (None, true) => store.revoke_tokens(None, &cli_actor())?,
                _ => bail!("name a grant id, or use --all to revoke every active grant"),
            };
            println!("{n} grant(s) revoked");
        }
        SupportCommand::List => {
            let now = now_ms();
            for g in store.list_tokens(Some(true))? {
                let status = if g.revoked_at.is_some() {
                    "revoked".to_string()
                } else if g.is_active(now) {
                    format!("active, expires {}", when(g.expires_at))
                } else {
                    "expired".to_string()
                };
                println!(
                    "{:>4}  {:<9} {:<24} {:<20} {}",
                    g.id,
                    g.scope.as_str(),
                    g.name,
                    status,
                    g.reason.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

/// Runs `qbridge audit …`; returns false when verification failed. `key_path` is the
/// secrets key file, whose derived key signs the anchors of the log's newest rows.
pub fn audit(store: &Store, key_path: &std::path::Path, cmd: AuditCommand) -> anyhow::Result<bool> {
    match cmd {
        AuditCommand::Verify => {
            let anchors = store.check_audit_anchors_with(key_path)?;
            match store.verify_audit()? {
                AuditVerdict::Intact(n) if anchors.is_sound() => {
                    println!(
                        "audit log intact: {n} rows, hash chain verified. {}",
                        anchors.describe()
                    );
                    Ok(true)
                }
                AuditVerdict::Intact(_) => {
                    eprintln!(
                        "error: the audit log was tampered with: {}",
                        anchors.describe()
                    );
                    Ok(false)
                }
                AuditVerdict::Broken { id } => {
                    eprintln!(
                        "error: the audit log was tampered with: row {id} does not match the hash chain (edited, inserted or a row before it removed)"
                    );
                    Ok(false)
                }
            }
        }
        AuditCommand::Export { after } => {
            let mut out = std::io::stdout().lock();
            let mut cursor = after;
            loop {
                let rows = store.audit_rows(cursor, 1000)?;
                let Some(last) = rows.last() else { break };
                cursor = last.id;
                for r in &rows {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                }
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_duration("8h").unwrap(), 8 * 3_600_000);
        assert_eq!(parse_duration("90m").unwrap(), 90 * 60_000);
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400_000);
        for bad in ["", "8", "h", "0h", "-1h", "8 hours", "99999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
