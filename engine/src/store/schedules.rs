//! Pull schedules: per connection and plugin, a cron expression and the next fire instant.
//!
//! `next_run_at` is stored in UTC and advanced in the same transaction that claims a due
//! schedule, so a restart neither skips nor double-fires. The pull cursor is saved after each
//! page's records are committed: a crash repeats at most one page, and the queue's unique
//! keys make the repeat a no-op.

use crate::store::sql::{OptionalExt, params};

use super::audit::now_ms;
use super::{Store, StoreError};

/// A stored schedule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScheduleRow {
    /// Row id.
    pub id: i64,
    /// Connection (company file) the pulled records are for.
    pub connection_id: i64,
    /// Plugin that pulls.
    pub plugin: String,
    /// 5-field crontab expression.
    pub cron: String,
    /// IANA timezone it is evaluated in.
    pub timezone: String,
    /// Next fire instant, unix ms UTC (`None` = never again).
    pub next_run_at: Option<i64>,
    /// Last time it ran, unix ms UTC.
    pub last_run_at: Option<i64>,
    /// Outcome of the last run, in plain words (`running` while a run is under way).
    pub last_result: Option<String>,
    /// The plugin's pull cursor (opaque).
    pub cursor: Option<String>,
}

/// Longest start cursor an admin may set (plugins' cursors are small JSON objects).
const MAX_CURSOR_BYTES: usize = 4096;

const COLUMNS: &str =
    "id, connection_id, plugin, cron, timezone, next_run_at, last_run_at, last_result, cursor";

fn row(r: &crate::store::sql::Row<'_>) -> crate::store::sql::Result<ScheduleRow> {
    Ok(ScheduleRow {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        plugin: r.get(2)?,
        cron: r.get(3)?,
        timezone: r.get(4)?,
        next_run_at: r.get(5)?,
        last_run_at: r.get(6)?,
        last_result: r.get(7)?,
        cursor: r.get(8)?,
    })
}

impl Store {
    /// Adds (or replaces) the schedule of a connection and plugin, and audits it. `cursor`,
    /// when given, is where the plugin's pull starts (e.g. Autotask's zone and first invoice
    /// id); when absent a replaced schedule keeps its cursor. `shared_with` names the
    /// connections the admin confirmed pulling the same source account
    /// (`store::source_accounts`); the audit row keeps them.
    #[allow(clippy::too_many_arguments)]
    pub fn add_schedule(
        &self,
        connection_id: i64,
        plugin: &str,
        cron: &str,
        timezone: &str,
        next_run_at: Option<i64>,
        cursor: Option<&str>,
        shared_with: &[String],
        actor: &str,
    ) -> Result<i64, StoreError> {
        if cursor.is_some_and(|c| c.len() > MAX_CURSOR_BYTES) {
            return Err(StoreError::Conflict(format!(
                "the start cursor is longer than {MAX_CURSOR_BYTES} bytes"
            )));
        }
        self.write(|tx| {
            tx.execute(
                "INSERT INTO schedule(connection_id, plugin, cron, timezone, next_run_at, cursor, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(connection_id, plugin) DO UPDATE SET cron=excluded.cron,
                   timezone=excluded.timezone, next_run_at=excluded.next_run_at,
                   cursor=COALESCE(excluded.cursor, schedule.cursor)",
                params![connection_id, plugin, cron, timezone, next_run_at, cursor, now_ms()],
            )?;
            let id: i64 = tx.query_row(
                "SELECT id FROM schedule WHERE connection_id=?1 AND plugin=?2",
                params![connection_id, plugin],
                |r| r.get(0),
            )?;
            super::audit::append_in(
                tx,
                &super::audit::AuditEntry {
                    actor: actor.to_string(),
                    action: "schedule.set".into(),
                    target: format!("schedule:{id}"),
                    detail: {
                        let mut d = serde_json::json!({"plugin": plugin, "cron": cron, "timezone": timezone, "cursor": cursor});
                        if !shared_with.is_empty() {
                            d["shared_account_confirmed_with"] = serde_json::json!(shared_with);
                        }
                        d
                    },
                    ..Default::default()
                },
            )?;
            Ok(id)
        })
    }

    /// All schedules.
    pub fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM schedule ORDER BY id"))?;
            let rows = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Removes a schedule.
    pub fn remove_schedule(&self, id: i64, actor: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            if tx.execute("DELETE FROM schedule WHERE id=?1", [id])? == 0 {
                return Err(StoreError::NotFound(format!("schedule {id}")));
            }
            super::audit::append_in(
                tx,
                &super::audit::AuditEntry {
                    actor: actor.to_string(),
                    action: "schedule.remove".into(),
                    target: format!("schedule:{id}"),
                    ..Default::default()
                },
            )?;
            Ok(())
        })
    }

    /// Makes schedule `id` due now ("pull now"): the scheduler runs it at its next check,
    /// and its cron times resume after that run.
    pub fn run_schedule_now(&self, id: i64, actor: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            if tx.execute(
                "UPDATE schedule SET next_run_at=?2 WHERE id=?1",
                params![id, now_ms()],
            )? == 0
            {
                return Err(StoreError::NotFound(format!("schedule {id}")));
            }
            super::audit::append_in(
                tx,
                &super::audit::AuditEntry {
                    actor: actor.to_string(),
                    action: "schedule.run_now".into(),
                    target: format!("schedule:{id}"),
                    ..Default::default()
                },
            )?;
            Ok(())
        })
    }

    /// Claims every schedule due at `now`, advancing each `next_run_at` with `next` (given the
    /// row and `now`) in the same transaction. Runs missed while the engine was down collapse
    /// into this one run.
    pub fn claim_due_schedules(
        &self,
        now: i64,
        next: impl Fn(&ScheduleRow, i64) -> Option<i64>,
    ) -> Result<Vec<ScheduleRow>, StoreError> {
        self.write(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM schedule WHERE next_run_at IS NOT NULL AND next_run_at <= ?1 ORDER BY next_run_at"
            ))?;
            let due = stmt.query_map([now], row)?.collect::<Result<Vec<_>, _>>()?;
            drop(stmt);
            for s in &due {
                tx.execute(
                    "UPDATE schedule SET next_run_at=?2, last_run_at=?3, last_result='running' WHERE id=?1",
                    params![s.id, next(s, now), now],
                )?;
            }
            Ok(due)
        })
    }

    /// Saves the pull cursor after a page's records were committed.
    pub fn save_pull_cursor(&self, id: i64, cursor: Option<&str>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE schedule SET cursor=?2 WHERE id=?1",
                params![id, cursor],
            )?;
            Ok(())
        })
    }

    /// Records how the last run went.
    pub fn finish_schedule_run(&self, id: i64, result: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE schedule SET last_result=?2 WHERE id=?1",
                params![id, result],
            )?;
            Ok(())
        })
    }

    /// One schedule.
    pub fn schedule(&self, id: i64) -> Result<ScheduleRow, StoreError> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM schedule WHERE id=?1"),
                [id],
                row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("schedule {id}")))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_due_schedule_is_claimed_once_and_advanced() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        let id = s
            .add_schedule(
                1,
                "ramp",
                "*/15 * * * *",
                "UTC",
                Some(1_000),
                None,
                &[],
                "test",
            )
            .unwrap();
        assert!(
            s.claim_due_schedules(999, |_, _| Some(0))
                .unwrap()
                .is_empty()
        );
        let due = s
            .claim_due_schedules(5_000, |_, now| Some(now + 900_000))
            .unwrap();
        assert_eq!(due.len(), 1);
        assert!(
            s.claim_due_schedules(5_001, |_, _| Some(0))
                .unwrap()
                .is_empty(),
            "claimed once"
        );
        let row = s.schedule(id).unwrap();
        assert_eq!(row.next_run_at, Some(905_000));
        assert_eq!(row.last_run_at, Some(5_000));
        s.save_pull_cursor(id, Some("c2")).unwrap();
        assert_eq!(s.schedule(id).unwrap().cursor.as_deref(), Some("c2"));
    }

    /// Nodes whose schedulers look at the same instant: each due run is claimed by exactly
    /// one of them (on SQLite, threads of the one engine).
    #[test]
    fn racing_nodes_claim_each_due_run_once() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let first = crate::store::testing::open(dirs[0].path());
        let second = crate::store::testing::open_node(dirs[0].path(), dirs[1].path())
            .unwrap_or_else(|| first.clone());
        let id = first
            .add_schedule(1, "ramp", "0 0 1 1 *", "UTC", None, None, &[], "test")
            .unwrap();
        const ROUNDS: usize = 20;
        const SCHEDULERS: usize = 6;
        for round in 0..ROUNDS {
            first.run_schedule_now(id, "test").unwrap();
            let start = std::sync::Barrier::new(SCHEDULERS);
            let claimed: usize = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..SCHEDULERS)
                    .map(|n| {
                        let node = if n % 2 == 0 { &first } else { &second };
                        let start = &start;
                        scope.spawn(move || {
                            start.wait();
                            let now = crate::store::audit::now_ms();
                            node.claim_due_schedules(now, |_, now| Some(now + 3_600_000))
                                .unwrap()
                                .len()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(
                claimed, 1,
                "round {round}: the run was claimed {claimed} times"
            );
        }
    }
}
