//! When a job is due: a 6-field cron schedule (`sec min hour day month
//! weekday`) read in the tenant's IANA time zone. Pure, so that daylight
//! saving time can be tested without a clock.
//!
//! Across a DST change (the rules `croner` implements, after Vixie cron):
//! a schedule with fixed seconds, minutes and hours (a daily `0 30 2 * * *`)
//! runs once per day, at the first instant after the gap when its time does
//! not exist that day, and at the first of the two instants when it exists
//! twice; a schedule with a wildcard or step in those fields (an hourly
//! `0 0 * * * *`) follows real time, so it skips wall-clock times that do not
//! exist and runs in both passes of a repeated hour.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// What to do about runs that came due while the host was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedPolicy {
    /// Record them as missed and wait for the next due time.
    Skip,
    /// Run once at start-up for all of them, then keep to the schedule.
    #[default]
    RunOnce,
}

impl MissedPolicy {
    /// Parses `skip` or `run-once`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "skip" => Some(Self::Skip),
            "run-once" => Some(Self::RunOnce),
            _ => None,
        }
    }

    /// The name used in the config and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::RunOnce => "run-once",
        }
    }
}

/// A parsed schedule in a time zone.
#[derive(Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
    zone: Tz,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?} in {})", self.text, self.zone.name())
    }
}

impl Schedule {
    /// Parses a 6-field cron expression for `zone`; the error says what is
    /// wrong with it.
    pub fn parse(text: &str, zone: Tz) -> Result<Self, String> {
        let fields = text.split_whitespace().count();
        if fields != 6 {
            return Err(format!(
                "{text:?} has {fields} fields; a schedule has 6: sec min hour day month weekday"
            ));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .build();
        let cron = parser
            .parse(text)
            .map_err(|err| format!("{text:?} is not a cron schedule: {err}"))?;
        let schedule = Self {
            text: text.to_owned(),
            cron,
            zone,
        };
        // A date that never exists (31 February) parses, but the job would
        // silently never run.
        if schedule.next_after(0).is_none() {
            return Err(format!("{text:?} never comes due: no date matches it"));
        }
        Ok(schedule)
    }

    /// The schedule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The time zone it is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first due time strictly after `after_ms` (Unix milliseconds);
    /// none when the schedule never fires again.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = DateTime::<Utc>::from_timestamp_millis(after_ms)?;
        let local = self.zone.from_utc_datetime(&after.naive_utc());
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        Some(next.timestamp_millis())
    }

    /// Due times in (`after_ms`, `until_ms`], at most `cap` of them.
    pub fn due_between(&self, after_ms: i64, until_ms: i64, cap: usize) -> Vec<i64> {
        let mut due = Vec::new();
        let mut cursor = after_ms;
        while due.len() < cap {
            match self.next_after(cursor) {
                Some(next) if next <= until_ms => {
                    due.push(next);
                    cursor = next;
                }
                _ => break,
            }
        }
        due
    }
}

/// Parses an IANA zone name such as `Europe/Berlin`.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    Tz::from_str(name).map_err(|_| format!("{name:?} is not an IANA time zone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin(text: &str) -> Schedule {
        Schedule::parse(text, chrono_tz::Europe::Berlin).expect("valid schedule")
    }

    fn utc_ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("rfc3339")
            .timestamp_millis()
    }

    fn local(ms: i64) -> String {
        let at = DateTime::<Utc>::from_timestamp_millis(ms).expect("in range");
        at.with_timezone(&chrono_tz::Europe::Berlin).to_rfc3339()
    }

    fn runs(schedule: &Schedule, from: &str, to: &str) -> Vec<String> {
        let due = schedule.due_between(utc_ms(from), utc_ms(to), 100);
        due.into_iter().map(local).collect()
    }

    #[test]
    fn a_schedule_that_never_comes_due_is_refused() {
        let err = Schedule::parse("0 0 0 31 2 *", chrono_tz::UTC).expect_err("31 February");
        assert!(err.contains("never comes due"), "{err}");
        // 29 February comes every four years.
        assert!(Schedule::parse("0 0 0 29 2 *", chrono_tz::UTC).is_ok());
    }

    #[test]
    fn a_daily_run_is_neither_dropped_nor_doubled_across_dst_changes() {
        let daily = berlin("0 30 2 * * *");
        // Spring: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist on
        // 29 March; the run comes right after the gap.
        let spring = runs(&daily, "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z");
        assert_eq!(
            spring,
            [
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00",
            ]
        );
        // Autumn: 03:00 CEST falls back to 02:00 CET, so 02:30 happens
        // twice on 25 October; the run happens at the first.
        let autumn = runs(&daily, "2026-10-23T12:00:00Z", "2026-10-26T12:00:00Z");
        assert_eq!(
            autumn,
            [
                "2026-10-24T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00",
            ]
        );
    }

    #[test]
    fn an_hourly_run_follows_real_time_across_dst_changes() {
        let hourly = berlin("0 0 * * * *");
        let spring = hourly.due_between(
            utc_ms("2026-03-28T23:00:00Z"),
            utc_ms("2026-03-29T22:00:00Z"),
            100,
        );
        // 29 March has 23 hours, 25 October 25: one run in each real hour.
        assert_eq!(spring.len(), 23);
        let autumn = hourly.due_between(
            utc_ms("2026-10-24T22:00:00Z"),
            utc_ms("2026-10-25T23:00:00Z"),
            100,
        );
        assert_eq!(autumn.len(), 25);
        for due in [spring, autumn] {
            assert!(due.windows(2).all(|w| w[1] - w[0] == 3_600_000), "{due:?}");
        }
        let repeated = runs(&hourly, "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z");
        assert_eq!(repeated, ["2026-10-25T02:00:00+01:00"]);
    }

    #[test]
    fn weekdays_count_from_sunday_as_zero() {
        let sundays = Schedule::parse("0 0 9 * * 0", chrono_tz::UTC).expect("valid");
        let next = sundays
            .next_after(utc_ms("2026-12-01T00:00:00Z"))
            .expect("due");
        assert_eq!(next, utc_ms("2026-12-06T09:00:00Z"));
    }

    #[test]
    fn bad_schedules_and_zones_say_what_is_wrong() {
        let five = Schedule::parse("30 2 * * *", chrono_tz::UTC).expect_err("5 fields");
        assert!(five.contains("6"), "{five}");
        assert!(Schedule::parse("0 61 * * * *", chrono_tz::UTC).is_err());
        assert!(parse_zone("Mars/Olympus").is_err());
        assert_eq!(parse_zone("Europe/Berlin"), Ok(chrono_tz::Europe::Berlin));
    }
}
