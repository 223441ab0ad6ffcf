//! The timestamps the app writes: Kubernetes' RFC 3339 in UTC and the daily log file's date.
//! jiff does the calendar; Kubernetes only uses UTC, so no time zone database is involved.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

/// A wall-clock time as a jiff timestamp. Times before 1970 never occur here (the clock would
/// have to be wrong); they count as the epoch, as they did before.
fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t.max(UNIX_EPOCH)).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Milliseconds since the Unix epoch, as the traffic figures carry their time (0 for a
/// clock before 1970).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// RFC 3339 in UTC with second precision (`2026-11-26T10:00:00Z`), as Kubernetes writes
/// `metav1.Time` and kubectl the restart annotation.
pub fn rfc3339(t: SystemTime) -> String {
    format!("{:.0}", timestamp(t))
}

/// The UTC calendar date (`2026-11-26`), as the daily log rotation names its files.
pub fn utc_date(t: SystemTime) -> String {
    timestamp(t).strftime("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_cover_epoch_leap_days_and_centuries() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01");
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29"
        );
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(1_795_687_200 + 3_723)),
            "2026-11-26"
        );
        // The last second of a day is still that day.
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(1_795_651_200 - 1)),
            "2026-11-25"
        );
    }

    #[test]
    fn rfc3339_has_whole_seconds_and_z() {
        let t = UNIX_EPOCH + Duration::new(1_795_687_200, 123_456_000);
        assert_eq!(rfc3339(t), "2026-11-26T10:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_687_200 + 3_723)),
            "2026-11-26T11:02:03Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00Z"
        );
    }
}
