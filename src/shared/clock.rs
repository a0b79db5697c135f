//! Time and identifiers, as stored: unix milliseconds and prefixed text ids.

use std::time::{SystemTime, UNIX_EPOCH};

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Longer than any id [`new_id`] makes: longer input cannot name anything.
pub const MAX_ID_LEN: usize = 64;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The UTC day a moment falls on, as days since 1970-01-01.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// `YYYY-MM-DD` of a day counted as [`day_of`] counts (UTC).
pub fn iso_date(day: i64) -> String {
    let (year, month, day) = civil_date(day);
    format!("{year:04}-{month:02}-{day:02}")
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's days-to-civil algorithm).
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `ms` as whole minutes to wait, rounded up, never less than one nor more
/// than the window: the oldest attempt a limit counted may be a concurrent
/// one, stamped a moment after this request's `now`.
pub fn minutes_until(ms: i64, window_ms: i64) -> u64 {
    let minutes = (ms.clamp(0, window_ms) as u64).div_ceil(60_000);
    minutes.max(1)
}

/// A new id such as `usr_0193…`: a UUIDv7 (time-ordered, 74 random bits)
/// behind a prefix that says what it names.
#[cfg(feature = "ssr")]
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_written_as_iso_dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(-1), "1969-12-31");
        assert_eq!(iso_date(11_016), "2000-02-29");
        assert_eq!(iso_date(11_017), "2000-03-01");
        assert_eq!(iso_date(day_of(1_795_996_800_000)), "2026-11-30");
        assert_eq!(iso_date(day_of(1_795_996_800_000) - 1), "2026-11-29");
    }

    #[test]
    #[cfg(feature = "ssr")]
    fn ids_carry_their_prefix_and_are_unique_and_ordered() {
        let a = new_id("usr");
        let b = new_id("usr");
        assert!(a.starts_with("usr_") && a.len() == 36, "{a}");
        assert_ne!(a, b);
        assert!(a < b, "UUIDv7 ids sort by creation time");
    }
}
