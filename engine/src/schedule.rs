//! Cron schedules for source pulls: standard 5-field crontab in the firm's timezone.
//!
//! Why `croner` and not the `cron` crate named in the design: `cron` requires 6–7 fields
//! (a plain `*/5 * * * *` is a parse error), numbers days of the week Quartz-style (Sunday =
//! 1, so `1-5` means Sunday–Thursday), ANDs day-of-month with day-of-week, and — measured —
//! skips or doubles runs at DST changes and yields non-monotonic instants. Those are not thin
//! wrapper fixes; croner implements POSIX/Vixie semantics and handles DST as stated below.
//!
//! DST policy (tested): a local time that does not exist (spring forward, e.g. 02:30) runs at
//! the first valid instant after it (03:00); a local time that occurs twice (fall back) runs
//! once, at its first occurrence. Instants are stored in UTC (`next_run_at`), so restarts
//! neither skip nor double-fire; runs missed while the engine was down collapse into one run
//! at start-up.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    expression: String,
}

/// Why an expression or timezone was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Not a 5-field crontab expression.
    #[error(
        "invalid schedule {expression:?}: {reason}. Use 5 fields — minute hour day-of-month month day-of-week — e.g. \"*/15 * * * *\" or \"0 6 * * 1-5\" (weekdays at 06:00), or @hourly/@daily"
    )]
    Expression { expression: String, reason: String },
    /// Not an IANA timezone name.
    #[error("unknown timezone {0:?}: use an IANA name such as America/New_York or Europe/London")]
    Timezone(String),
}

impl Schedule {
    /// Parses a crontab expression evaluated in `timezone` (IANA name).
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, ScheduleError> {
        let tz =
            Tz::from_str(timezone).map_err(|_| ScheduleError::Timezone(timezone.to_string()))?;
        let trimmed = expression.trim();
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && fields != 5 {
            return Err(ScheduleError::Expression {
                expression: expression.to_string(),
                reason: format!("it has {fields} fields"),
            });
        }
        let cron = Cron::from_str(trimmed).map_err(|e| ScheduleError::Expression {
            expression: expression.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Schedule {
            cron,
            tz,
            expression: trimmed.to_string(),
        })
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The timezone it is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Plain-language description ("At 06:00 on Monday through Friday").
    pub fn describe(&self) -> String {
        self.cron.describe()
    }

    /// The first fire instant strictly after `after`, in UTC; `None` if the expression never
    /// fires again (e.g. Feb 30).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.tz.from_utc_datetime(&after.naive_utc());
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        let next = next.with_timezone(&Utc);
        // Guard the monotonic promise regardless of library behaviour around DST.
        (next > after).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_field_posix_semantics() {
        let s = Schedule::parse("0 9 * * 1", "UTC").unwrap();
        // 2026-11-23 is a Monday: 1 means Monday (POSIX), not Sunday (Quartz).
        assert_eq!(
            s.next_after(utc("2026-11-22T12:00:00Z")).unwrap(),
            utc("2026-11-23T09:00:00Z")
        );
        let weekdays = Schedule::parse("0 6 * * 1-5", "UTC").unwrap();
        assert_eq!(
            weekdays.next_after(utc("2026-11-21T07:00:00Z")).unwrap(),
            utc("2026-11-23T06:00:00Z")
        );
        // Day-of-month OR day-of-week, as Vixie cron: the 1st, or any Monday.
        let either = Schedule::parse("0 0 1 * 1", "UTC").unwrap();
        assert_eq!(
            either.next_after(utc("2026-11-23T01:00:00Z")).unwrap(),
            utc("2026-11-30T00:00:00Z")
        );
        assert!(Schedule::parse("@hourly", "UTC").is_ok());
    }

    #[test]
    fn bad_input_gets_a_helpful_error() {
        let e = Schedule::parse("0 */5 * * * *", "UTC")
            .unwrap_err()
            .to_string();
        assert!(e.contains("6 fields") && e.contains("5 fields"), "{e}");
        assert!(Schedule::parse("61 * * * *", "UTC").is_err());
        let e = Schedule::parse("* * * * *", "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(e.contains("IANA"), "{e}");
    }

    #[test]
    fn spring_forward_runs_at_the_next_valid_instant_once() {
        // America/New_York: 2026-03-08 02:00 EST → 03:00 EDT; 02:30 does not exist.
        let s = Schedule::parse("30 2 * * *", "America/New_York").unwrap();
        let next = s.next_after(utc("2026-03-08T05:00:00Z")).unwrap();
        assert_eq!(next, utc("2026-03-08T07:00:00Z"), "03:00 EDT");
        let after = s.next_after(next).unwrap();
        assert_eq!(
            after,
            utc("2026-03-09T06:30:00Z"),
            "then 02:30 EDT the next day"
        );
    }

    #[test]
    fn fall_back_runs_once() {
        // 2026-11-01 01:30 happens twice in New York (EDT, then EST).
        let s = Schedule::parse("30 1 * * *", "America/New_York").unwrap();
        let first = s.next_after(utc("2026-11-01T04:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-11-01T05:30:00Z"), "01:30 EDT");
        let second = s.next_after(first).unwrap();
        assert_eq!(
            second,
            utc("2026-11-02T06:30:00Z"),
            "not again at 01:30 EST"
        );
    }

    #[test]
    fn intervals_stay_monotonic_across_dst() {
        let s = Schedule::parse("*/30 * * * *", "America/New_York").unwrap();
        let mut t = utc("2026-11-01T04:00:00Z");
        for _ in 0..12 {
            let n = s.next_after(t).unwrap();
            assert!(n > t, "{n} after {t}");
            assert!(
                (n - t).num_minutes() <= 60,
                "no gap of more than an hour: {t} → {n}"
            );
            t = n;
        }
    }
}
