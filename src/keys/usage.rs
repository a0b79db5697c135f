//! When, from where and how often each key was used, gathered in memory and
//! written in one transaction per interval (and at shutdown), so using a
//! key never costs a database write.

use super::model::{DailyUsage, Refusals};
use crate::{
    error::AppError,
    shared::{clock, ids::KeyId},
    storage::{DayUsage, Db, KeyUse},
};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// How many days of a key's usage to show: 1 to 90, 30 when not asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageDays(i64);

impl UsageDays {
    pub const MAX: i64 = 90;

    pub fn parse(days: Option<i64>) -> Result<UsageDays, AppError> {
        match days.unwrap_or(30) {
            days @ 1..=Self::MAX => Ok(UsageDays(days)),
            _ => Err(AppError::field(
                "days",
                format!("days must be a whole number from 1 to {}.", Self::MAX),
            )),
        }
    }

    /// The first and last day covered, ending `today`.
    pub fn ending(self, today: i64) -> (i64, i64) {
        (today - self.0 + 1, today)
    }
}

/// Every day from `first` to `last`, those without a verification as zero.
pub fn every_day(first: i64, last: i64, stored: &[DayUsage]) -> Vec<DailyUsage> {
    (first..=last)
        .map(|day| {
            let counts = stored
                .iter()
                .find(|d| d.day == day)
                .copied()
                .unwrap_or_default();
            DailyUsage {
                date: clock::iso_date(day),
                valid: counts.valid,
                refused: Refusals {
                    revoked: counts.revoked,
                    expired: counts.expired,
                    insufficient_scope: counts.insufficient_scope,
                    ip_not_allowed: counts.ip_not_allowed,
                },
            }
        })
        .collect()
}

/// What a verification of a known key came to, as usage counts it (a
/// malformed or unknown key belongs to no key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Valid,
    Revoked,
    Expired,
    InsufficientScope,
    IpNotAllowed,
}

#[derive(Clone, Default)]
pub struct UsageTracker {
    pending: Arc<Mutex<HashMap<KeyId, Pending>>>,
}

/// One key's use since the last flush.
struct Pending {
    /// The latest successful use (`i64::MIN`: none yet).
    latest_ms: i64,
    latest_ip: Option<IpAddr>,
    /// One entry unless the interval spans midnight (UTC).
    per_day: Vec<DayUsage>,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            latest_ms: i64::MIN,
            latest_ip: None,
            per_day: Vec::new(),
        }
    }
}

impl Pending {
    fn add(&mut self, outcome: Outcome, at_ms: i64, ip: Option<IpAddr>) {
        let mut day = DayUsage {
            day: clock::day_of(at_ms),
            ..DayUsage::default()
        };
        *count_of(&mut day, outcome) = 1;
        let latest = if outcome == Outcome::Valid {
            at_ms
        } else {
            i64::MIN
        };
        self.merge(latest, ip, &[day]);
    }

    fn merge(&mut self, latest_ms: i64, latest_ip: Option<IpAddr>, per_day: &[DayUsage]) {
        if latest_ms != i64::MIN && latest_ms >= self.latest_ms {
            self.latest_ms = latest_ms;
            self.latest_ip = latest_ip;
        }
        for more in per_day {
            match self.per_day.iter_mut().find(|d| d.day == more.day) {
                Some(day) => {
                    day.valid += more.valid;
                    day.revoked += more.revoked;
                    day.expired += more.expired;
                    day.insufficient_scope += more.insufficient_scope;
                    day.ip_not_allowed += more.ip_not_allowed;
                }
                None => self.per_day.push(*more),
            }
        }
    }

    fn last_used(&self) -> Option<(i64, Option<String>)> {
        (self.latest_ms != i64::MIN)
            .then(|| (self.latest_ms, self.latest_ip.map(|ip| ip.to_string())))
    }
}

fn count_of(day: &mut DayUsage, outcome: Outcome) -> &mut i64 {
    match outcome {
        Outcome::Valid => &mut day.valid,
        Outcome::Revoked => &mut day.revoked,
        Outcome::Expired => &mut day.expired,
        Outcome::InsufficientScope => &mut day.insufficient_scope,
        Outcome::IpNotAllowed => &mut day.ip_not_allowed,
    }
}

/// What one flush wrote, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flushed {
    pub keys: usize,
    pub took: Duration,
}

impl UsageTracker {
    /// Notes one verification of a known key; a successful one is also
    /// the key's latest use.
    pub fn record(&self, key_id: &KeyId, outcome: Outcome, at_ms: i64, ip: Option<IpAddr>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // get_mut first: no allocation for a key already pending.
        match pending.get_mut(key_id) {
            Some(key) => key.add(outcome, at_ms, ip),
            None => pending
                .entry(key_id.clone())
                .or_default()
                .add(outcome, at_ms, ip),
        }
    }

    /// Writes what was gathered since the last flush. If the write fails,
    /// the batch is put back to be tried again with the next one.
    pub async fn flush(&self, db: &Db) -> Result<Flushed, sqlx::Error> {
        let started = Instant::now();
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return Ok(Flushed {
                keys: 0,
                took: started.elapsed(),
            });
        }
        let uses: Vec<KeyUse> = batch
            .iter()
            .map(|(key_id, key)| KeyUse {
                key_id,
                last_used: key.last_used(),
                days: &key.per_day,
            })
            .collect();
        if let Err(error) = db.record_key_uses(&uses).await {
            self.put_back(batch);
            return Err(error);
        }
        let took = started.elapsed();
        metrics::histogram!("keysmith_usage_flush_duration_seconds").record(took);
        metrics::counter!("keysmith_usage_flushed_keys_total").increment(uses.len() as u64);
        Ok(Flushed {
            keys: uses.len(),
            took,
        })
    }

    fn put_back(&self, batch: HashMap<KeyId, Pending>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (key_id, old) in batch {
            let key = pending.entry(key_id).or_default();
            key.merge(old.latest_ms, old.latest_ip, &old.per_day);
        }
    }

    /// Flushes every `interval` until the process stops.
    pub fn flush_every(&self, db: Db, interval: Duration) {
        let tracker = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = tracker.flush(&db).await {
                    tracing::error!(%error, "cannot write key usage; will retry");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> KeyId {
        format!("key_{n}").parse().unwrap()
    }

    const DAY: i64 = clock::DAY_MS;

    fn day(day: i64, valid: i64, revoked: i64, ip_not_allowed: i64) -> DayUsage {
        DayUsage {
            day,
            valid,
            revoked,
            ip_not_allowed,
            ..DayUsage::default()
        }
    }

    #[test]
    fn the_latest_use_and_the_outcomes_per_day_are_kept() {
        let tracker = UsageTracker::default();
        tracker.record(&key(1), Outcome::Valid, DAY + 20, None);
        tracker.record(&key(1), Outcome::Valid, DAY + 10, "10.0.0.1".parse().ok());
        tracker.record(
            &key(1),
            Outcome::Valid,
            2 * DAY + 1,
            "10.0.0.2".parse().ok(),
        );
        tracker.record(
            &key(1),
            Outcome::IpNotAllowed,
            2 * DAY + 2,
            "10.9.9.9".parse().ok(),
        );
        tracker.record(&key(2), Outcome::Valid, 5, None);
        let pending = tracker.pending.lock().unwrap();
        assert_eq!(pending.len(), 2);
        let first = &pending[&key(1)];
        assert_eq!(first.latest_ms, 2 * DAY + 1, "a refusal is no use");
        assert_eq!(first.latest_ip, "10.0.0.2".parse().ok());
        assert_eq!(first.per_day, vec![day(1, 2, 0, 0), day(2, 1, 0, 1)]);
        assert_eq!(pending[&key(2)].per_day, vec![day(0, 1, 0, 0)]);
    }

    #[test]
    fn usage_covers_1_to_90_days_ending_today_with_quiet_days_as_zero() {
        assert_eq!(UsageDays::parse(None).unwrap().ending(100), (71, 100));
        assert_eq!(UsageDays::parse(Some(1)).unwrap().ending(100), (100, 100));
        assert_eq!(UsageDays::parse(Some(90)).unwrap().ending(100), (11, 100));
        for wrong in [0, -1, 91] {
            let error = UsageDays::parse(Some(wrong)).unwrap_err();
            assert!(error.field_message("days").is_some(), "{wrong}");
        }
        let days = every_day(8, 10, &[day(9, 3, 1, 0)]);
        let dates: Vec<_> = days.iter().map(|d| d.date.as_str()).collect();
        assert_eq!(dates, ["1970-01-09", "1970-01-10", "1970-01-11"]);
        let totals: Vec<_> = days.iter().map(|d| (d.valid, d.refused.total())).collect();
        assert_eq!(totals, [(0, 0), (3, 1), (0, 0)]);
    }

    #[test]
    fn a_key_only_refused_has_no_latest_use() {
        let tracker = UsageTracker::default();
        tracker.record(&key(1), Outcome::Revoked, 7, "10.0.0.1".parse().ok());
        let pending = tracker.pending.lock().unwrap();
        assert_eq!(pending[&key(1)].last_used(), None);
        assert_eq!(pending[&key(1)].per_day, vec![day(0, 0, 1, 0)]);
    }

    #[test]
    fn a_batch_that_could_not_be_written_is_merged_back() {
        let tracker = UsageTracker::default();
        tracker.record(&key(1), Outcome::Valid, 50, None);
        let batch = std::mem::take(&mut *tracker.pending.lock().unwrap());
        tracker.record(&key(1), Outcome::Revoked, 40, None);
        tracker.put_back(batch);
        let pending = tracker.pending.lock().unwrap();
        assert_eq!(pending[&key(1)].latest_ms, 50);
        assert_eq!(pending[&key(1)].per_day, vec![day(0, 1, 1, 0)]);
    }
}
