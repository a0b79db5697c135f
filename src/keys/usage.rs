//! When, from where and how often each key was used, gathered in memory and
//! written in one transaction per interval (and at shutdown), so using a
//! key never costs a database write.

use super::model::{DailyUsage, Refusals};
use crate::{
    error::AppError,
    shared::{
        clock::{Day, UnixMs},
        ids::KeyId,
        shards::Shards,
    },
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
    pub fn ending(self, today: Day) -> (Day, Day) {
        (today - (self.0 - 1), today)
    }
}

/// Every day from `first` to `last`, those without a verification as zero.
pub fn every_day(first: Day, last: Day, stored: &[DayUsage]) -> Vec<DailyUsage> {
    first
        .through(last)
        .map(|day| {
            let counts = stored
                .iter()
                .find(|d| d.day == day)
                .copied()
                .unwrap_or_default();
            DailyUsage {
                date: day.iso_date(),
                valid: counts.valid,
                refused: Refusals {
                    revoked: counts.revoked,
                    expired: counts.expired,
                    insufficient_scope: counts.insufficient_scope,
                    ip_not_allowed: counts.ip_not_allowed,
                    rate_limited: counts.rate_limited,
                    usage_exceeded: counts.usage_exceeded,
                },
                credits_spent: counts.credits_spent,
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
    RateLimited,
    UsageExceeded,
}

#[derive(Clone, Default)]
pub struct UsageTracker {
    /// Per thread: the accept loops each note their own verifications.
    pending: Arc<Shards<Mutex<HashMap<KeyId, Pending>>>>,
}

/// One key's use since the last flush.
#[derive(Default)]
struct Pending {
    /// The latest successful use, if there was one: when and from where.
    latest: Option<(UnixMs, Option<IpAddr>)>,
    /// One entry unless the interval spans midnight (UTC).
    per_day: Vec<DayUsage>,
}

impl Pending {
    fn add(&mut self, outcome: Outcome, at: UnixMs, ip: Option<IpAddr>, credits: i64) {
        let mut day = DayUsage {
            day: at.day(),
            credits_spent: credits,
            ..DayUsage::default()
        };
        *count_of(&mut day, outcome) = 1;
        let latest = (outcome == Outcome::Valid).then_some((at, ip));
        self.merge(latest, &[day]);
    }

    fn merge(&mut self, latest: Option<(UnixMs, Option<IpAddr>)>, per_day: &[DayUsage]) {
        if let Some((at, ip)) = latest {
            if self.latest.is_none_or(|(seen, _)| at >= seen) {
                self.latest = Some((at, ip));
            }
        }
        for more in per_day {
            match self.per_day.iter_mut().find(|d| d.day == more.day) {
                Some(day) => {
                    day.valid += more.valid;
                    day.revoked += more.revoked;
                    day.expired += more.expired;
                    day.insufficient_scope += more.insufficient_scope;
                    day.ip_not_allowed += more.ip_not_allowed;
                    day.rate_limited += more.rate_limited;
                    day.usage_exceeded += more.usage_exceeded;
                    day.credits_spent += more.credits_spent;
                }
                None => self.per_day.push(*more),
            }
        }
    }

    fn last_used(&self) -> Option<(UnixMs, Option<String>)> {
        self.latest
            .map(|(at, ip)| (at, ip.map(|ip| ip.to_string())))
    }
}

fn merge_into(into: &mut HashMap<KeyId, Pending>, batch: HashMap<KeyId, Pending>) {
    if into.is_empty() {
        *into = batch;
        return;
    }
    for (key_id, more) in batch {
        into.entry(key_id)
            .or_default()
            .merge(more.latest, &more.per_day);
    }
}

fn count_of(day: &mut DayUsage, outcome: Outcome) -> &mut i64 {
    match outcome {
        Outcome::Valid => &mut day.valid,
        Outcome::Revoked => &mut day.revoked,
        Outcome::Expired => &mut day.expired,
        Outcome::InsufficientScope => &mut day.insufficient_scope,
        Outcome::IpNotAllowed => &mut day.ip_not_allowed,
        Outcome::RateLimited => &mut day.rate_limited,
        Outcome::UsageExceeded => &mut day.usage_exceeded,
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
    pub fn record(&self, key_id: &KeyId, outcome: Outcome, at: UnixMs, ip: Option<IpAddr>) {
        self.record_spending(key_id, outcome, at, ip, 0);
    }

    /// [`Self::record`] of a verification that spent `credits`.
    pub fn record_spending(
        &self,
        key_id: &KeyId,
        outcome: Outcome,
        at: UnixMs,
        ip: Option<IpAddr>,
        credits: i64,
    ) {
        let mut pending = self.pending.lock_mine();
        // get_mut first: no allocation for a key already pending.
        match pending.get_mut(key_id) {
            Some(key) => key.add(outcome, at, ip, credits),
            None => pending
                .entry(key_id.clone())
                .or_default()
                .add(outcome, at, ip, credits),
        }
    }

    /// Writes what was gathered since the last flush. If the write fails,
    /// the batch is put back to be tried again with the next one.
    pub async fn flush(&self, db: &Db) -> Result<Flushed, sqlx::Error> {
        let started = Instant::now();
        let batch = self.take();
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

    /// Everything noted so far, each key's uses from every shard merged.
    fn take(&self) -> HashMap<KeyId, Pending> {
        let mut all = HashMap::new();
        for shard in self.pending.iter() {
            let batch = std::mem::take(&mut *shard.lock().unwrap_or_else(|e| e.into_inner()));
            merge_into(&mut all, batch);
        }
        all
    }

    fn put_back(&self, batch: HashMap<KeyId, Pending>) {
        merge_into(&mut self.pending.lock_mine(), batch);
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

    /// `ms` milliseconds into day `n`.
    fn at(n: i64, ms: i64) -> UnixMs {
        UnixMs::from_millis(n * 86_400_000 + ms)
    }

    fn day(day: i64, valid: i64, revoked: i64, ip_not_allowed: i64) -> DayUsage {
        DayUsage {
            day: Day::from_number(day),
            valid,
            revoked,
            ip_not_allowed,
            ..DayUsage::default()
        }
    }

    #[test]
    fn the_latest_use_and_the_outcomes_per_day_are_kept() {
        let tracker = UsageTracker::default();
        tracker.record(&key(1), Outcome::Valid, at(1, 20), None);
        tracker.record(&key(1), Outcome::Valid, at(1, 10), "10.0.0.1".parse().ok());
        tracker.record(&key(1), Outcome::Valid, at(2, 1), "10.0.0.2".parse().ok());
        tracker.record(
            &key(1),
            Outcome::IpNotAllowed,
            at(2, 2),
            "10.9.9.9".parse().ok(),
        );
        tracker.record(&key(2), Outcome::Valid, at(0, 5), None);
        let pending = tracker.take();
        assert_eq!(pending.len(), 2);
        let first = &pending[&key(1)];
        let latest = Some((at(2, 1), "10.0.0.2".parse().ok()));
        assert_eq!(first.latest, latest, "a refusal is no use");
        assert_eq!(first.per_day, vec![day(1, 2, 0, 0), day(2, 1, 0, 1)]);
        assert_eq!(pending[&key(2)].per_day, vec![day(0, 1, 0, 0)]);
    }

    #[test]
    fn usage_covers_1_to_90_days_ending_today_with_quiet_days_as_zero() {
        let d = Day::from_number;
        assert_eq!(
            UsageDays::parse(None).unwrap().ending(d(100)),
            (d(71), d(100))
        );
        assert_eq!(
            UsageDays::parse(Some(1)).unwrap().ending(d(100)),
            (d(100), d(100))
        );
        assert_eq!(
            UsageDays::parse(Some(90)).unwrap().ending(d(100)),
            (d(11), d(100))
        );
        for wrong in [0, -1, 91] {
            let error = UsageDays::parse(Some(wrong)).unwrap_err();
            assert!(error.field_message("days").is_some(), "{wrong}");
        }
        let days = every_day(d(8), d(10), &[day(9, 3, 1, 0)]);
        let dates: Vec<_> = days.iter().map(|d| d.date.as_str()).collect();
        assert_eq!(dates, ["1970-01-09", "1970-01-10", "1970-01-11"]);
        let totals: Vec<_> = days.iter().map(|d| (d.valid, d.refused.total())).collect();
        assert_eq!(totals, [(0, 0), (3, 1), (0, 0)]);
    }

    #[test]
    fn a_key_only_refused_has_no_latest_use() {
        let tracker = UsageTracker::default();
        tracker.record(&key(1), Outcome::Revoked, at(0, 7), "10.0.0.1".parse().ok());
        let pending = tracker.take();
        assert_eq!(pending[&key(1)].last_used(), None);
        assert_eq!(pending[&key(1)].per_day, vec![day(0, 0, 1, 0)]);
    }

    #[test]
    fn a_batch_that_could_not_be_written_is_merged_back() {
        let tracker = UsageTracker::default();
        tracker.record(&key(1), Outcome::Valid, at(0, 50), None);
        let batch = tracker.take();
        tracker.record(&key(1), Outcome::Revoked, at(0, 40), None);
        tracker.put_back(batch);
        let pending = tracker.take();
        assert_eq!(pending[&key(1)].latest, Some((at(0, 50), None)));
        assert_eq!(pending[&key(1)].per_day, vec![day(0, 1, 1, 0)]);
    }

    #[test]
    fn uses_noted_on_several_threads_are_flushed_as_one() {
        let tracker = UsageTracker::default();
        let threads: Vec<_> = (0..6)
            .map(|n| {
                let tracker = tracker.clone();
                std::thread::spawn(move || {
                    tracker.record(&key(1), Outcome::Valid, at(0, n), None);
                    tracker.record(&key(2), Outcome::Revoked, at(0, n), None);
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let pending = tracker.take();
        assert_eq!(pending[&key(1)].latest, Some((at(0, 5), None)));
        assert_eq!(pending[&key(1)].per_day, vec![day(0, 6, 0, 0)]);
        assert_eq!(pending[&key(2)].per_day, vec![day(0, 0, 6, 0)]);
        assert!(tracker.take().is_empty(), "taken once");
    }
}
