//! The operations behind the dashboard for many firms: each connection's line with a verdict,
//! and jobs finished per day. The tenant fence applies: a token fenced to a connection sees
//! that connection only; a plugin-only fence sees none (the counters mix every plugin of a
//! connection).

use std::collections::BTreeMap;

use axum::http::StatusCode;

use super::api::{STALE_WAIT_MS, blocking};
use super::auth::{Actor, ApiError};
use crate::state::AppState;
use crate::store::activity::{ConnectionLine, DayActivity};
use crate::store::audit::now_ms;
use crate::store::tokens::Scope;

/// Days of activity the dashboard charts.
pub(crate) const ACTIVITY_DAYS: i64 = 14;

/// A connection's verdict, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// Failed, held or in-doubt jobs, a job waiting over an hour, or an error since the
    /// last contact.
    NeedsAttention,
    /// No Web Connector has called yet.
    NotConnected,
    /// Jobs are on their way to QuickBooks.
    Syncing,
    /// Nothing is waiting.
    Idle,
}

impl Verdict {
    /// The `?show=` value and CSS class.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Verdict::NeedsAttention => "attention",
            Verdict::NotConnected => "not-connected",
            Verdict::Syncing => "syncing",
            Verdict::Idle => "idle",
        }
    }

    /// What an admin reads.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Verdict::NeedsAttention => "Needs attention",
            Verdict::NotConnected => "Not connected yet",
            Verdict::Syncing => "Syncing",
            Verdict::Idle => "Up to date",
        }
    }

    /// Every verdict, for the filter's choices.
    pub(crate) const ALL: [Verdict; 4] = [
        Verdict::NeedsAttention,
        Verdict::NotConnected,
        Verdict::Syncing,
        Verdict::Idle,
    ];

    /// The verdict a `?show=` value names.
    pub(crate) fn from_key(key: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.key() == key)
    }
}

/// One connection on the dashboard.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionRow {
    pub id: i64,
    pub name: String,
    pub verdict: Verdict,
    pub counts: BTreeMap<String, i64>,
    /// Jobs not yet sent: available, retryable and held.
    pub waiting: i64,
    pub in_doubt: i64,
    /// Jobs that failed for good (discarded).
    pub failed: i64,
    pub oldest_waiting_ms: Option<i64>,
    pub last_contact_at: Option<i64>,
    pub last_error: Option<(String, i64)>,
}

fn judge(line: ConnectionLine, now: i64) -> ConnectionRow {
    let n = |s: &str| line.counts.get(s).copied().unwrap_or(0);
    let oldest_waiting_ms = line.oldest_waiting_at.map(|t| now - t);
    // An error older than the last contact was followed by a session that got through.
    let fresh_error = match (&line.last_error, line.last_contact_at) {
        (Some((_, at)), Some(contact)) => *at >= contact,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let verdict = if n("discarded") + n("held") + n("in_doubt") > 0
        || oldest_waiting_ms.is_some_and(|a| a > STALE_WAIT_MS)
        || fresh_error
    {
        Verdict::NeedsAttention
    } else if line.last_contact_at.is_none() {
        Verdict::NotConnected
    } else if n("available") + n("retryable") + n("sent") > 0 {
        Verdict::Syncing
    } else {
        Verdict::Idle
    };
    ConnectionRow {
        id: line.id,
        name: line.name,
        verdict,
        waiting: n("available") + n("retryable") + n("held"),
        in_doubt: n("in_doubt"),
        failed: n("discarded"),
        oldest_waiting_ms,
        last_contact_at: line.last_contact_at,
        last_error: line.last_error,
        counts: line.counts,
    }
}

/// The connections the caller may see (`only`: just that one), by name.
pub(crate) async fn connection_rows(
    state: &AppState,
    actor: &Actor,
    only: Option<i64>,
) -> Result<Vec<ConnectionRow>, ApiError> {
    actor.require_scope(Scope::Read)?;
    let fence = actor.fence().clone();
    if fence.plugin.is_some() {
        return Ok(Vec::new());
    }
    if let (Some(mine), Some(asked)) = (fence.connection_id, only)
        && mine != asked
    {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such connection"));
    }
    let only = only.or(fence.connection_id);
    let store = state.store.clone();
    let lines = blocking(move || Ok(store.connection_lines(only)?)).await?;
    let now = now_ms();
    Ok(lines.into_iter().map(|l| judge(l, now)).collect())
}

/// Jobs finished per day over the last [`ACTIVITY_DAYS`] days for `connections` (already
/// fenced: ids from [`connection_rows`]).
pub(crate) async fn activity(
    state: &AppState,
    connections: Vec<i64>,
) -> Result<Vec<DayActivity>, ApiError> {
    let store = state.store.clone();
    blocking(move || Ok(store.activity_by_day(&connections, ACTIVITY_DAYS)?)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(counts: &[(&str, i64)], contact: Option<i64>, error: Option<i64>) -> ConnectionLine {
        ConnectionLine {
            id: 1,
            name: "acme".into(),
            counts: counts.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
            oldest_waiting_at: None,
            last_contact_at: contact,
            last_error: error.map(|at| ("advice".to_string(), at)),
        }
    }

    #[test]
    fn verdicts_follow_the_worst_fact() {
        let now = 10_000_000;
        assert_eq!(
            judge(line(&[], None, None), now).verdict,
            Verdict::NotConnected
        );
        assert_eq!(
            judge(line(&[("completed", 3)], Some(5), None), now).verdict,
            Verdict::Idle
        );
        assert_eq!(
            judge(line(&[("available", 2)], Some(5), None), now).verdict,
            Verdict::Syncing
        );
        for bad in ["discarded", "held", "in_doubt"] {
            assert_eq!(
                judge(line(&[(bad, 1)], Some(5), None), now).verdict,
                Verdict::NeedsAttention,
                "{bad}"
            );
        }
        // An error after the last contact needs attention; one a later session got past not.
        assert_eq!(
            judge(line(&[], Some(5), Some(6)), now).verdict,
            Verdict::NeedsAttention
        );
        assert_eq!(
            judge(line(&[], Some(7), Some(6)), now).verdict,
            Verdict::Idle
        );
        let row = judge(
            line(
                &[
                    ("available", 1),
                    ("retryable", 2),
                    ("held", 4),
                    ("discarded", 8),
                    ("in_doubt", 16),
                ],
                Some(1),
                None,
            ),
            now,
        );
        assert_eq!((row.waiting, row.failed, row.in_doubt), (7, 8, 16));
    }
}
