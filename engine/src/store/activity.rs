//! What the dashboard shows for many firms at once: one line per connection and the jobs
//! finished per day.
//!
//! Every figure comes from a counter or an index seek, never from scanning jobs: states from
//! `job_count`, the oldest waiting job from `job_waiting`, the last contact from
//! `qbwc_session_recent`, daily activity from `job_day` (at most one row per connection and
//! day). So a page view costs the same with 60 connections and a million finished jobs.

use std::collections::BTreeMap;

use crate::store::sql::{OptionalExt, params};

use super::queue::views::OLDEST_WAITING;
use super::{Store, StoreError};
use crate::store::audit::now_ms;

const DAY_MS: i64 = 86_400_000;

/// A connection's last contact: an index seek on `qbwc_session_recent`.
const LAST_CONTACT: &str = "SELECT MAX(last_seen_at) FROM qbwc_session WHERE connection_id = ?1";

/// Open sessions with a lease still running, per connection (the `qbwc_session_open` index).
const LIVE_SESSIONS: &str = "SELECT connection_id, COUNT(*) FROM qbwc_session
    WHERE closed_at IS NULL AND lease_until > ?1 GROUP BY connection_id";

/// A connection's finished jobs per day since day ?2: a primary-key range of `job_day`.
const DAYS_SINCE: &str =
    "SELECT day, completed, failed FROM job_day WHERE connection_id = ?1 AND day >= ?2";

/// One connection's line on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLine {
    /// Row id.
    pub id: i64,
    /// Admin-chosen name.
    pub name: String,
    /// Jobs per state (states with none are absent).
    pub counts: BTreeMap<String, i64>,
    /// When the oldest job still waiting was queued (Unix ms).
    pub oldest_waiting_at: Option<i64>,
    /// When a Web Connector last called for this connection (Unix ms).
    pub last_contact_at: Option<i64>,
    /// Plain-language advice for the last QuickBooks or Web Connector error, and when.
    pub last_error: Option<(String, i64)>,
}

/// Jobs finished on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DayActivity {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Jobs QuickBooks applied that day.
    pub completed: i64,
    /// Jobs that failed for good that day.
    pub failed: i64,
}

impl Store {
    /// Every connection's dashboard line (all of them, or only `only`), by name.
    pub fn connection_lines(&self, only: Option<i64>) -> Result<Vec<ConnectionLine>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, last_error, last_error_at FROM qbwc_connection
                 WHERE id=?1 OR ?1 IS NULL ORDER BY name",
            )?;
            let mut lines = stmt
                .query_map([only], |r| {
                    let error: Option<String> = r.get(2)?;
                    let at: Option<i64> = r.get(3)?;
                    Ok(ConnectionLine {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        counts: BTreeMap::new(),
                        oldest_waiting_at: None,
                        last_contact_at: None,
                        last_error: error.zip(at),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut counts =
                c.prepare("SELECT state, n FROM job_count WHERE connection_id = ?1 AND n > 0")?;
            let mut contact = c.prepare(LAST_CONTACT)?;
            let mut oldest = c.prepare(OLDEST_WAITING)?;
            for line in &mut lines {
                line.counts = counts
                    .query_map([line.id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                line.last_contact_at = contact.query_row([line.id], |r| r.get(0))?;
                line.oldest_waiting_at = oldest.query_row([line.id], |r| r.get(0))?;
            }
            Ok(lines)
        })
    }

    /// Jobs finished per UTC day over the last `days` days up to today, oldest first, one
    /// entry per day (zero where nothing finished); for one connection or the given ones.
    pub fn activity_by_day(
        &self,
        connections: &[i64],
        days: i64,
    ) -> Result<Vec<DayActivity>, StoreError> {
        let today = now_ms().div_euclid(DAY_MS);
        let first = today - days + 1;
        let mut out: Vec<DayActivity> = (first..=today)
            .map(|day| DayActivity {
                day,
                completed: 0,
                failed: 0,
            })
            .collect();
        self.read(|c| {
            let mut stmt = c.prepare(DAYS_SINCE)?;
            for id in connections {
                let rows = stmt.query_map(params![id, first], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
                for row in rows {
                    let (day, completed, failed) = row?;
                    if let Some(slot) = usize::try_from(day - first)
                        .ok()
                        .and_then(|i| out.get_mut(i))
                    {
                        slot.completed += completed;
                        slot.failed += failed;
                    }
                }
            }
            Ok::<(), StoreError>(())
        })?;
        Ok(out)
    }

    /// Open Web Connector sessions whose lease has not run out, per connection id: from the
    /// `qbwc_session_open` index (only open sessions), never the session history.
    pub fn live_sessions(&self) -> Result<BTreeMap<i64, i64>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(LIVE_SESSIONS)?;
            let rows = stmt.query_map([now_ms()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// A connection's name, or `None` when there is no such connection.
    pub fn connection_name(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT name FROM qbwc_connection WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{DAYS_SINCE, LAST_CONTACT};
    use crate::store::queue::{NewJob, NewRecord, Origin};
    use crate::store::{Store, StoreError, StoreOptions};

    fn job(key: &str) -> NewJob {
        NewJob {
            key: key.into(),
            depends_on: vec![],
            request_type: "CustomerAdd".into(),
            qbxml: format!(
                "<CustomerAddRq><CustomerAdd><Name>{key}</Name></CustomerAdd></CustomerAddRq>"
            ),
            probe: None,
            adopt_existing: false,
            notes: vec![],
            versioning: Default::default(),
        }
    }

    #[test]
    fn lines_and_daily_activity_come_from_counters_kept_by_triggers() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        let b = s.add_connection("zeta", "{b}", "", "test").unwrap().id;
        let a = s.add_connection("alpha", "{a}", "", "test").unwrap().id;
        let jobs = [job("c1"), job("c2"), job("c3")];
        s.enqueue_record(&NewRecord {
            origin: Origin::Push,
            connection_id: a,
            plugin: "p",
            kind: "customer",
            source_id: None,
            payload: "{}",
            jobs: &jobs,
        })
        .unwrap();
        // Two finish today (one fails for good), one keeps waiting.
        s.write(|tx| {
            tx.execute(
                "UPDATE job SET state='completed', finalized_at=1 WHERE key='c1'",
                [],
            )?;
            tx.execute(
                "UPDATE job SET state='discarded', finalized_at=1 WHERE key='c2'",
                [],
            )?;
            Ok::<(), StoreError>(())
        })
        .unwrap();
        let lines = s.connection_lines(None).unwrap();
        assert_eq!(
            lines.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["alpha", "zeta"],
            "by name"
        );
        let alpha = &lines[0];
        assert_eq!(alpha.counts.get("available"), Some(&1));
        assert_eq!(alpha.counts.get("completed"), Some(&1));
        assert_eq!(alpha.counts.get("discarded"), Some(&1));
        assert!(alpha.oldest_waiting_at.is_some());
        assert_eq!(alpha.last_contact_at, None);
        assert_eq!(s.connection_lines(Some(b)).unwrap().len(), 1);

        let days = s.activity_by_day(&[a, b], 14).unwrap();
        assert_eq!(days.len(), 14);
        let today = days.last().unwrap();
        assert_eq!((today.completed, today.failed), (1, 1));
        assert!(days[..13].iter().all(|d| d.completed + d.failed == 0));
        assert_eq!(
            s.activity_by_day(&[b], 14)
                .unwrap()
                .last()
                .unwrap()
                .completed,
            0
        );
    }

    /// A dashboard view reads an index per connection, never a scan of sessions or jobs.
    #[test]
    fn dashboard_queries_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        // SQLite's planner (PostgreSQL's plans depend on its statistics).
        let s = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let plan = |sql: &str| -> String {
            s.read(|c| {
                let c = c.sqlite().expect("SQLite");
                let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = stmt
                    .query_map(
                        rusqlite::params_from_iter(std::iter::repeat_n(1, stmt.parameter_count())),
                        |r| r.get::<_, String>(3),
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, StoreError>(rows.join("; "))
            })
            .unwrap()
        };
        let contact = plan(LAST_CONTACT);
        assert!(contact.contains("qbwc_session_recent"), "{contact}");
        let days = plan(DAYS_SINCE);
        assert!(days.contains("USING PRIMARY KEY"), "{days}");
    }
}
