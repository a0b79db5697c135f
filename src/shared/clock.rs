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

/// `YYYY-MM-DD` of a day counted as [`day_of`] counts (UTC, proleptic
/// Gregorian), by Howard Hinnant's `civil_from_days`.
pub fn iso_date(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A new id such as `usr_0193…`: a UUIDv7 (time-ordered, 74 random bits)
/// behind a prefix that says what it names.
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
    fn ids_carry_their_prefix_and_are_unique_and_ordered() {
        let a = new_id("usr");
        let b = new_id("usr");
        assert!(a.starts_with("usr_") && a.len() == 36, "{a}");
        assert_ne!(a, b);
        assert!(a < b, "UUIDv7 ids sort by creation time");
    }
}
