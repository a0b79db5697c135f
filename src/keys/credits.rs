//! Usage credits as a key carries them: how many remain, and the refill a
//! paid plan gives (daily, or monthly on a day of the month, in UTC).
//! Checked here, once, by the doors and by the dashboard.

use crate::{
    error::AppError,
    shared::clock::{Day, UnixMs},
};
use serde::{Deserialize, Serialize};

/// The most credits a key may hold, or a refill give.
pub const MAX_CREDITS: i64 = 1_000_000_000_000;

/// How often credits are refilled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RefillInterval {
    /// At every UTC midnight.
    Daily,
    /// At 00:00 UTC on `day_of_month` (the last day of a shorter month).
    Monthly,
}

/// A refill: the remaining credits are set to `amount` (what was left does
/// not carry over).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Refill {
    /// What the remaining credits become: 1 to 10^12.
    pub amount: i64,
    pub interval: RefillInterval,
    /// Monthly only: 1 to 31 (1 when left out); a day a month lacks means
    /// its last day (the 31st refills on 30 April and 28 or 29 February).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_month: Option<u32>,
}

impl Refill {
    /// The first refill after `now`: midnight UTC of the next day, or of the
    /// next day of the month it falls on.
    pub fn next_after(&self, now: UnixMs) -> UnixMs {
        let today = now.day();
        match self.interval {
            RefillInterval::Daily => (today + 1).start(),
            RefillInterval::Monthly => {
                let wanted = self.day_of_month.unwrap_or(1);
                let (year, month, _) = today.civil();
                let this_month = on_day_of(year, month, wanted);
                if this_month.start() > now {
                    return this_month.start();
                }
                let (year, month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                on_day_of(year, month, wanted).start()
            }
        }
    }

    /// `refilled to 1000 every day`, `refilled to 1000 on day 31 of each
    /// month`.
    pub fn describe(&self) -> String {
        match self.interval {
            RefillInterval::Daily => format!("refilled to {} every day", self.amount),
            RefillInterval::Monthly => format!(
                "refilled to {} on day {} of each month",
                self.amount,
                self.day_of_month.unwrap_or(1)
            ),
        }
    }
}

/// `wanted`, or the month's last day when it has fewer.
fn on_day_of(year: i64, month: u32, wanted: u32) -> Day {
    Day::from_civil(year, month, wanted.min(Day::days_in_month(year, month)))
}

/// Credits as a key is given them: how many it starts with, and its
/// refill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Credits {
    /// 0 to 10^12.
    pub remaining: i64,
    #[serde(default)]
    pub refill: Option<Refill>,
}

impl Credits {
    /// Checks the credits a request gave; errors name `credits`.
    pub fn check(&self) -> Result<(), AppError> {
        let problem = if !(0..=MAX_CREDITS).contains(&self.remaining) {
            Some(format!(
                "remaining must be a whole number from 0 to {MAX_CREDITS}."
            ))
        } else {
            self.refill.as_ref().and_then(refill_problem)
        };
        match problem {
            Some(problem) => Err(AppError::field("credits", problem)),
            None => Ok(()),
        }
    }
}

fn refill_problem(refill: &Refill) -> Option<String> {
    if !(1..=MAX_CREDITS).contains(&refill.amount) {
        return Some(format!(
            "A refill's amount must be a whole number from 1 to {MAX_CREDITS}."
        ));
    }
    match (refill.interval, refill.day_of_month) {
        (RefillInterval::Daily, Some(_)) => {
            Some("day_of_month is for a monthly refill only.".to_owned())
        }
        (RefillInterval::Monthly, Some(day)) if !(1..=31).contains(&day) => {
            Some("day_of_month must be 1 to 31.".to_owned())
        }
        _ => None,
    }
}

/// A key's credits as the API and the dashboard show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreditsView {
    /// What verify may still take, the credits servers hold included.
    pub remaining: i64,
    pub refill: Option<Refill>,
    /// When the next refill comes; `null` without one.
    pub refill_at: Option<UnixMs>,
    /// Credits held by servers that were killed: counted as spent.
    pub lost: i64,
}

impl CreditsView {
    /// As stored, a refill that came since applied.
    pub fn as_of(
        remaining: i64,
        refill: Option<Refill>,
        refill_at: Option<UnixMs>,
        lost: i64,
        now: UnixMs,
    ) -> Self {
        match (refill, refill_at) {
            (Some(refill), Some(at)) if at <= now => CreditsView {
                remaining: refill.amount,
                refill: Some(refill),
                refill_at: Some(refill.next_after(now)),
                lost,
            },
            _ => CreditsView {
                remaining,
                refill,
                refill_at,
                lost,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: (i64, u32, u32), hour: i64) -> UnixMs {
        let day = Day::from_civil(date.0, date.1, date.2);
        UnixMs::from_millis(day.start().as_millis() + hour * 3_600_000)
    }

    fn monthly(day: u32) -> Refill {
        Refill {
            amount: 100,
            interval: RefillInterval::Monthly,
            day_of_month: Some(day),
        }
    }

    #[test]
    fn a_daily_refill_comes_at_the_next_utc_midnight() {
        let daily = Refill {
            amount: 5,
            interval: RefillInterval::Daily,
            day_of_month: None,
        };
        assert_eq!(
            daily.next_after(at((2026, 12, 5), 10)),
            at((2026, 12, 6), 0)
        );
        assert_eq!(daily.next_after(at((2026, 12, 31), 0)), at((2027, 1, 1), 0));
    }

    #[test]
    fn a_monthly_refill_on_the_31st_comes_on_the_last_day_of_shorter_months() {
        let on_31st = monthly(31);
        assert_eq!(
            on_31st.next_after(at((2026, 1, 31), 1)),
            at((2026, 2, 28), 0)
        );
        assert_eq!(
            on_31st.next_after(at((2028, 1, 31), 1)),
            at((2028, 2, 29), 0)
        );
        assert_eq!(
            on_31st.next_after(at((2026, 2, 28), 0)),
            at((2026, 3, 31), 0)
        );
        assert_eq!(
            on_31st.next_after(at((2026, 4, 2), 0)),
            at((2026, 4, 30), 0)
        );
        assert_eq!(
            on_31st.next_after(at((2026, 12, 31), 5)),
            at((2027, 1, 31), 0)
        );
        assert_eq!(
            monthly(30).next_after(at((2026, 2, 1), 0)),
            at((2026, 2, 28), 0)
        );
        assert_eq!(
            monthly(29).next_after(at((2024, 2, 1), 0)),
            at((2024, 2, 29), 0)
        );
    }

    #[test]
    fn a_monthly_refill_comes_on_its_day_this_month_or_next() {
        assert_eq!(
            monthly(15).next_after(at((2026, 12, 5), 0)),
            at((2026, 12, 15), 0)
        );
        assert_eq!(
            monthly(1).next_after(at((2026, 12, 1), 0)),
            at((2027, 1, 1), 0)
        );
        let unset = Refill {
            day_of_month: None,
            ..monthly(1)
        };
        assert_eq!(unset.next_after(at((2026, 12, 5), 0)), at((2027, 1, 1), 0));
    }

    #[test]
    fn credits_and_refills_outside_the_rules_are_refused_naming_credits() {
        let credits = |remaining, refill| Credits { remaining, refill };
        assert!(credits(0, None).check().is_ok());
        assert!(credits(2, Some(monthly(31))).check().is_ok());
        for bad in [
            credits(-1, None),
            credits(MAX_CREDITS + 1, None),
            credits(1, Some(monthly(0))),
            credits(1, Some(monthly(32))),
            credits(
                1,
                Some(Refill {
                    amount: 0,
                    ..monthly(1)
                }),
            ),
            credits(
                1,
                Some(Refill {
                    interval: RefillInterval::Daily,
                    ..monthly(3)
                }),
            ),
        ] {
            let error = bad.check().unwrap_err();
            assert!(error.field_message("credits").is_some(), "{bad:?}");
        }
    }

    #[test]
    fn refills_travel_as_the_api_spells_them() {
        let refill: Refill =
            serde_json::from_str(r#"{"amount": 10, "interval": "monthly", "day_of_month": 31}"#)
                .unwrap();
        assert_eq!(
            refill,
            Refill {
                amount: 10,
                ..monthly(31)
            }
        );
        assert!(serde_json::from_str::<Refill>(r#"{"amount": 1, "interval": "weekly"}"#).is_err());
    }
}
