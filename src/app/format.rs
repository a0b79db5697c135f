//! Dates as the dashboard shows them. Always UTC and computed from the stored
//! milliseconds alone, so the server's HTML and the browser's agree.

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

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's
/// days-to-civil algorithm).
fn civil_date(days: i64) -> (i64, u32, u32) {
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
