//! Dates as the dashboard shows them. Always UTC and computed from the stored
//! milliseconds alone, so the server's HTML and the browser's agree.

use crate::shared::clock::civil_date;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAY_MS: i64 = 86_400_000;

/// `24 Nov 2026`
pub fn date(unix_ms: i64) -> String {
    let (year, month, day) = civil_date(unix_ms.div_euclid(DAY_MS));
    format!("{day} {} {year}", MONTHS[month as usize - 1])
}

/// `24 Nov 2026, 09:05 UTC`
pub fn date_time(unix_ms: i64) -> String {
    let minutes = unix_ms.rem_euclid(DAY_MS) / 60_000;
    format!(
        "{}, {:02}:{:02} UTC",
        date(unix_ms),
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_shown_in_utc() {
        assert_eq!(date(0), "1 Jan 1970");
        assert_eq!(date_time(1_795_510_800_000), "24 Nov 2026, 09:00 UTC");
        assert_eq!(date(951_782_400_000), "29 Feb 2000");
        assert_eq!(date_time(1_735_689_599_999), "31 Dec 2024, 23:59 UTC");
    }
}
