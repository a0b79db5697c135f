//! Rate limits as keys and accounts carry them: up to five, each a name,
//! how much (by verification cost) a window admits, and how long a window
//! lasts. Checked here, once, by the doors and by the dashboard's editor;
//! stored as their JSON array.

use crate::error::AppError;
use serde::{Deserialize, Serialize};

/// The most limits one key, or one account, carries.
pub const MAX_RATELIMITS: usize = 5;
/// The longest limit name.
pub const MAX_LIMIT_NAME_CHARS: usize = 32;
/// The largest limit a window may have.
pub const MAX_LIMIT: i64 = 1_000_000_000;
/// The shortest and longest window: a second and a day.
pub const MIN_WINDOW_SECONDS: i64 = 1;
pub const MAX_WINDOW_SECONDS: i64 = 86_400;

/// One named limit, as the API and the dashboard exchange it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// What is limited, e.g. `requests`: 1 to 32 letters, digits, `_`, `-`,
    /// `.` or `:`; unique among the key's (or the account's) limits.
    pub name: String,
    /// How much a window admits, the verifications' costs added up: 1 to
    /// 1,000,000,000.
    pub limit: i64,
    /// How long a window lasts: 1 to 86,400 seconds (a day).
    pub window_seconds: i64,
}

impl RateLimit {
    pub fn window_ms(&self) -> i64 {
        self.window_seconds * 1_000
    }

    /// `100 per minute`, `5 per 10 seconds`.
    pub fn describe(&self) -> String {
        let per = match self.window_seconds {
            1 => "second".to_owned(),
            60 => "minute".to_owned(),
            3_600 => "hour".to_owned(),
            86_400 => "day".to_owned(),
            s if s % 3_600 == 0 => format!("{} hours", s / 3_600),
            s if s % 60 == 0 => format!("{} minutes", s / 60),
            s => format!("{s} seconds"),
        };
        format!("{} per {per}", self.limit)
    }
}

/// Limits that passed every rule, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimits(Vec<RateLimit>);

impl RateLimits {
    /// Checks the limits a request gave; `field` names them in the error
    /// (`ratelimits`), each problem saying which limit it is about.
    pub fn parse(given: &[RateLimit], field: &str) -> Result<Self, AppError> {
        if given.len() > MAX_RATELIMITS {
            return Err(AppError::field(
                field,
                format!(
                    "At most {MAX_RATELIMITS} rate limits; {} were given.",
                    given.len()
                ),
            ));
        }
        let mut problems = Vec::new();
        for (index, limit) in given.iter().enumerate() {
            let which = match limit.name.is_empty() {
                true => format!("Limit {}", index + 1),
                false => format!("Limit {} (“{}”)", index + 1, limit.name),
            };
            if let Some(problem) = name_problem(&limit.name) {
                problems.push(format!("{which}: {problem}"));
            } else if given[..index].iter().any(|l| l.name == limit.name) {
                problems.push(format!("{which}: another limit has this name."));
            }
            if !(1..=MAX_LIMIT).contains(&limit.limit) {
                problems.push(format!(
                    "{which}: the limit must be a whole number from 1 to {MAX_LIMIT}."
                ));
            }
            if !(MIN_WINDOW_SECONDS..=MAX_WINDOW_SECONDS).contains(&limit.window_seconds) {
                problems.push(format!(
                    "{which}: the window must be {MIN_WINDOW_SECONDS} to {MAX_WINDOW_SECONDS} seconds (a day)."
                ));
            }
        }
        match problems.is_empty() {
            true => Ok(RateLimits(given.to_vec())),
            false => Err(AppError::field(field, problems.join(" "))),
        }
    }

    /// Limits as stored; what does not parse (only a hand-edited database
    /// can hold it) is no limit, and logged where the server reads it.
    pub fn from_text(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok().map(RateLimits)
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".to_owned())
    }

    pub fn into_vec(self) -> Vec<RateLimit> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `requests: 100 per minute; tokens: 10000 per day`, for the audit log.
    pub fn describe(&self) -> String {
        match self.0.is_empty() {
            true => "none".to_owned(),
            false => self
                .0
                .iter()
                .map(|limit| format!("{}: {}", limit.name, limit.describe()))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

/// Why `name` cannot name a limit, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    if name.is_empty() {
        Some("give it a name, like “requests”.".to_owned())
    } else if name.chars().count() > MAX_LIMIT_NAME_CHARS {
        Some(format!(
            "a name has at most {MAX_LIMIT_NAME_CHARS} characters."
        ))
    } else if !name.chars().all(allowed) {
        Some("a name holds only letters, digits, “_”, “-”, “.” and “:”.".to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: &str, limit: i64, window_seconds: i64) -> RateLimit {
        RateLimit {
            name: name.into(),
            limit,
            window_seconds,
        }
    }

    #[test]
    fn limits_within_the_rules_are_kept_in_their_order() {
        let given = [limit("requests", 100, 60), limit("tokens", 1, 86_400)];
        let parsed = RateLimits::parse(&given, "ratelimits").unwrap();
        assert_eq!(parsed.clone().into_vec(), given);
        assert_eq!(RateLimits::from_text(&parsed.to_text()).unwrap(), parsed);
        assert_eq!(
            parsed.describe(),
            "requests: 100 per minute; tokens: 1 per day"
        );
    }

    #[test]
    fn every_broken_rule_is_named_with_its_limit() {
        let given = [
            limit("", 0, 60),
            limit("requests", 5, 0),
            limit("requests", 5, 86_401),
            limit("bad name", 1_000_000_001, 1),
        ];
        let error = RateLimits::parse(&given, "ratelimits").unwrap_err();
        let message = error.field_message("ratelimits").unwrap();
        for expected in [
            "Limit 1: give it a name",
            "Limit 1: the limit must be",
            "Limit 2 (“requests”): the window must be 1 to 86400 seconds",
            "Limit 3 (“requests”): another limit has this name.",
            "Limit 4 (“bad name”): a name holds only",
            "Limit 4 (“bad name”): the limit must be",
        ] {
            assert!(message.contains(expected), "{expected} in {message}");
        }
    }

    #[test]
    fn at_most_five_limits() {
        let six: Vec<_> = (0..6).map(|i| limit(&format!("l{i}"), 1, 1)).collect();
        assert!(RateLimits::parse(&six, "ratelimits").is_err());
        assert!(RateLimits::parse(&six[..5], "ratelimits").is_ok());
        assert!(RateLimits::parse(&[], "ratelimits").unwrap().is_empty());
    }

    #[test]
    fn windows_are_described_in_their_largest_whole_unit() {
        assert_eq!(limit("a", 3, 1).describe(), "3 per second");
        assert_eq!(limit("a", 3, 120).describe(), "3 per 2 minutes");
        assert_eq!(limit("a", 3, 7_200).describe(), "3 per 2 hours");
        assert_eq!(limit("a", 3, 90).describe(), "3 per 90 seconds");
    }
}
