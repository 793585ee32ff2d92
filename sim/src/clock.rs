//! Wall-clock helpers: Unix seconds for Stripe, ISO 8601 strings for Medusa.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; a clock set before 1970 reads as zero.
pub(crate) fn unix_secs() -> u64 {
    unix_millis() / 1000
}

/// Milliseconds since the Unix epoch; a clock set before 1970 reads as zero.
pub(crate) fn unix_millis() -> u64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// Formats epoch milliseconds the way Medusa serialises dates:
/// `2026-12-04T10:15:30.123Z`.
pub(crate) fn iso8601(millis: u64) -> String {
    let secs = i64::try_from(millis / 1000).unwrap_or(i64::MAX);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let ms = millis % 1000;
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{ms:03}Z")
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month,
/// day), counting in 400-year eras that start on 1 March so that the leap
/// day falls at the end of each era's year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Hands out ISO 8601 stamps that strictly increase, even for two writes
/// in the same millisecond, so a test can tell that `updated_at` moved.
#[derive(Debug, Default)]
pub(crate) struct Stamps {
    last_millis: u64,
}

impl Stamps {
    /// The next stamp: now, or one millisecond after the previous stamp.
    pub(crate) fn next(&mut self) -> String {
        self.last_millis = unix_millis().max(self.last_millis + 1);
        iso8601(self.last_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(iso8601(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn stamps_strictly_increase() {
        let mut stamps = Stamps::default();
        let first = stamps.next();
        let second = stamps.next();
        assert!(second > first, "{second} should follow {first}");
    }
}
