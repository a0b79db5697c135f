//! Time as Keysmith keeps it: a moment is a [`UnixMs`] (milliseconds since
//! 1970-01-01 UTC), a calendar day a [`Day`], a span a [`Duration`]. Both
//! are integers in either database and on the wire, so nothing converts
//! between layers; the types only keep a moment from being mistaken for a
//! day, a span or a count. Also the ids' shared maker.

use serde::{Deserialize, Serialize};
use std::{
    ops::{Add, Sub},
    time::Duration,
};

pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(60 * 60);
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const DAY_MS: i64 = DAY.as_millis() as i64;

/// Longer than any id [`new_id`] makes: longer input cannot name anything.
pub const MAX_ID_LEN: usize = 64;

/// `n` whole days (a negative count is none).
pub fn days(n: i64) -> Duration {
    DAY.saturating_mul(u32::try_from(n).unwrap_or(0))
}

/// `n` whole minutes (a negative count is none).
pub fn minutes(n: i64) -> Duration {
    MINUTE.saturating_mul(u32::try_from(n).unwrap_or(0))
}

/// A moment, in milliseconds since 1970-01-01 00:00 UTC (the default).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMs(i64);

impl UnixMs {
    pub const fn from_millis(ms: i64) -> Self {
        UnixMs(ms)
    }

    #[cfg(feature = "ssr")]
    pub fn now() -> Self {
        use std::time::{SystemTime, UNIX_EPOCH};
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
        UnixMs(since_epoch.map_or(0, |d| d.as_millis() as i64))
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (none before it), as JWTs count.
    pub fn as_secs(self) -> u64 {
        u64::try_from(self.0 / 1000).unwrap_or(0)
    }

    /// The UTC day this moment falls on.
    pub const fn day(self) -> Day {
        Day(self.0.div_euclid(DAY_MS))
    }

    /// Minutes since this moment's UTC midnight.
    pub const fn minute_of_day(self) -> i64 {
        self.0.rem_euclid(DAY_MS) / 60_000
    }

    /// How long after `earlier` this is; zero when it is not after.
    pub fn since(self, earlier: UnixMs) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

fn span_ms(span: Duration) -> i64 {
    i64::try_from(span.as_millis()).unwrap_or(i64::MAX)
}

impl Add<Duration> for UnixMs {
    type Output = UnixMs;

    fn add(self, span: Duration) -> UnixMs {
        UnixMs(self.0.saturating_add(span_ms(span)))
    }
}

impl Sub<Duration> for UnixMs {
    type Output = UnixMs;

    fn sub(self, span: Duration) -> UnixMs {
        UnixMs(self.0.saturating_sub(span_ms(span)))
    }
}

/// A UTC calendar day, counted in days since 1970-01-01.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Day(i64);

impl Day {
    pub const fn from_number(days_since_epoch: i64) -> Self {
        Day(days_since_epoch)
    }

    pub const fn number(self) -> i64 {
        self.0
    }

    /// The day's first millisecond.
    pub const fn start(self) -> UnixMs {
        UnixMs(self.0 * DAY_MS)
    }

    /// This day and each one after it up to `last`, in order.
    pub fn through(self, last: Day) -> impl Iterator<Item = Day> {
        (self.0..=last.0).map(Day)
    }

    /// `YYYY-MM-DD`
    pub fn iso_date(self) -> String {
        let (year, month, day) = self.civil();
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// The day of a (year, month, day), proleptic Gregorian (Howard
    /// Hinnant's days-from-civil algorithm); the inverse of [`Self::civil`].
    pub fn from_civil(year: i64, month: u32, day: u32) -> Self {
        let year = year - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let month = i64::from(month);
        let doy =
            (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Day(era * 146_097 + doe - 719_468)
    }

    /// How many days `month` of `year` has.
    pub fn days_in_month(year: i64, month: u32) -> u32 {
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        (Day::from_civil(next_year, next_month, 1).0 - Day::from_civil(year, month, 1).0) as u32
    }

    /// (year, month, day), proleptic Gregorian (Howard Hinnant's
    /// days-to-civil algorithm).
    pub fn civil(self) -> (i64, u32, u32) {
        let z = self.0 + 719_468;
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
}

impl Add<i64> for Day {
    type Output = Day;

    fn add(self, days: i64) -> Day {
        Day(self.0 + days)
    }
}

impl Sub<i64> for Day {
    type Output = Day;

    fn sub(self, days: i64) -> Day {
        Day(self.0 - days)
    }
}

#[cfg(feature = "ssr")]
super::stored_as_integer!(UnixMs, UnixMs::from_millis, UnixMs::as_millis);
#[cfg(feature = "ssr")]
super::stored_as_integer!(Day, Day::from_number, Day::number);

/// In the API's description: an integer, with what it counts.
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for UnixMs {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .description(Some("A moment: milliseconds since 1970-01-01T00:00:00Z."))
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for UnixMs {}

/// How long `wait` is in whole minutes, rounded up, never less than one nor
/// more than the window: the oldest attempt a limit counted may be a
/// concurrent one, stamped a moment after this request's `now`.
pub fn minutes_until(wait: Duration, window: Duration) -> u64 {
    let minutes = wait.min(window).as_millis().div_ceil(60_000) as u64;
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
        let day = |n| Day::from_number(n).iso_date();
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(-1), "1969-12-31");
        assert_eq!(day(11_016), "2000-02-29");
        assert_eq!(day(11_017), "2000-03-01");
        let moment = UnixMs::from_millis(1_795_996_800_000);
        assert_eq!(moment.day().iso_date(), "2026-11-30");
        assert_eq!((moment.day() - 1).iso_date(), "2026-11-29");
        assert_eq!(
            (moment - Duration::from_millis(1)).day().iso_date(),
            "2026-11-29"
        );
    }

    #[test]
    fn calendar_dates_turn_into_days_and_back() {
        for n in [-800_000, -1, 0, 11_016, 11_017, 20_787, 2_932_896] {
            let (year, month, day) = Day::from_number(n).civil();
            assert_eq!(
                Day::from_civil(year, month, day),
                Day::from_number(n),
                "{n}"
            );
        }
        assert_eq!(Day::from_civil(2000, 2, 29).iso_date(), "2000-02-29");
        assert_eq!(Day::days_in_month(2024, 2), 29);
        assert_eq!(Day::days_in_month(2026, 2), 28);
        assert_eq!(Day::days_in_month(2100, 2), 28);
        assert_eq!(Day::days_in_month(2000, 2), 29);
        assert_eq!(Day::days_in_month(2026, 4), 30);
        assert_eq!(Day::days_in_month(2026, 12), 31);
    }

    #[test]
    fn moments_before_the_epoch_fall_on_earlier_days() {
        let before = UnixMs::from_millis(-1);
        assert_eq!(before.day(), Day::from_number(-1));
        assert_eq!(before.minute_of_day(), 24 * 60 - 1);
        assert_eq!(Day::from_number(-1).start(), UnixMs::from_millis(-DAY_MS));
    }

    #[test]
    fn spans_never_run_backwards_or_overflow() {
        let (early, late) = (UnixMs::from_millis(1_000), UnixMs::from_millis(61_000));
        assert_eq!(late.since(early), MINUTE);
        assert_eq!(early.since(late), Duration::ZERO);
        assert_eq!(early + MINUTE, late);
        assert_eq!(late - MINUTE, early);
        assert_eq!(
            UnixMs::from_millis(i64::MAX) + DAY,
            UnixMs::from_millis(i64::MAX)
        );
        assert_eq!(days(-3), Duration::ZERO);
        assert_eq!(days(2), 2 * DAY);
        assert_eq!(minutes(90), 90 * MINUTE);
    }

    #[test]
    fn a_moment_and_a_day_travel_as_plain_integers() {
        let moment = UnixMs::from_millis(1_795_996_800_123);
        assert_eq!(serde_json::to_string(&moment).unwrap(), "1795996800123");
        let back: UnixMs = serde_json::from_str("1795996800123").unwrap();
        assert_eq!(back, moment);
        assert_eq!(serde_json::to_string(&moment.day()).unwrap(), "20787");
    }

    #[test]
    fn waits_are_whole_minutes_within_the_window() {
        let ms = Duration::from_millis;
        assert_eq!(minutes_until(ms(1), HOUR), 1);
        assert_eq!(minutes_until(ms(60_000), HOUR), 1);
        assert_eq!(minutes_until(ms(60_001), HOUR), 2);
        assert_eq!(minutes_until(Duration::ZERO, HOUR), 1);
        assert_eq!(minutes_until(15 * MINUTE, HOUR), 15);
        // A concurrent sign-up stamped 5 ms after this one's clock read.
        assert_eq!(minutes_until(HOUR + ms(5), HOUR), 60);
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
