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

/// A new id such as `usr_0193…`: a UUIDv7 (time-ordered, 74 random bits)
/// behind a prefix that says what it names.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_are_unique_and_ordered() {
        let a = new_id("usr");
        let b = new_id("usr");
        assert!(a.starts_with("usr_") && a.len() == 36, "{a}");
        assert_ne!(a, b);
        assert!(a < b, "UUIDv7 ids sort by creation time");
    }
}
