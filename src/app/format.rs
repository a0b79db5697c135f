//! Dates as the dashboard shows them. Always UTC and computed from the stored
//! moment alone, so the server's HTML and the browser's agree.

use crate::shared::clock::UnixMs;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `24 Nov 2026`
pub fn date(at: UnixMs) -> String {
    let (year, month, day) = at.day().civil();
    format!("{day} {} {year}", MONTHS[month as usize - 1])
}

/// `24 Nov 2026, 09:05 UTC`
pub fn date_time(at: UnixMs) -> String {
    let minutes = at.minute_of_day();
    format!("{}, {:02}:{:02} UTC", date(at), minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_shown_in_utc() {
        let at = UnixMs::from_millis;
        assert_eq!(date(at(0)), "1 Jan 1970");
        assert_eq!(date_time(at(1_795_510_800_000)), "24 Nov 2026, 09:00 UTC");
        assert_eq!(date(at(951_782_400_000)), "29 Feb 2000");
        assert_eq!(date_time(at(1_735_689_599_999)), "31 Dec 2024, 23:59 UTC");
    }
}
