//! When, from where and how often each key was used, gathered in memory and
//! written in one transaction per interval (and at shutdown), so using a
//! key never costs a database write.

use crate::{
    shared::clock,
    storage::{Db, KeyUse},
};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Clone, Default)]
pub struct UsageTracker {
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

/// One key's use since the last flush.
struct Pending {
    latest_ms: i64,
    latest_ip: Option<IpAddr>,
    /// (UTC day, requests); one entry unless the interval spans midnight.
    per_day: Vec<(i64, i64)>,
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
    fn add(&mut self, at_ms: i64, ip: Option<IpAddr>) {
        self.merge(at_ms, ip, &[(clock::day_of(at_ms), 1)]);
    }

    fn merge(&mut self, latest_ms: i64, latest_ip: Option<IpAddr>, per_day: &[(i64, i64)]) {
        if latest_ms >= self.latest_ms {
            self.latest_ms = latest_ms;
            self.latest_ip = latest_ip;
        }
        for &(day, requests) in per_day {
            match self.per_day.iter_mut().find(|(d, _)| *d == day) {
                Some((_, n)) => *n += requests,
                None => self.per_day.push((day, requests)),
            }
        }
    }
}

/// What one flush wrote, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flushed {
    pub keys: usize,
    pub took: Duration,
}

impl UsageTracker {
    /// Notes one successful use of a key.
    pub fn record(&self, key_id: &str, at_ms: i64, ip: Option<IpAddr>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // get_mut first: no allocation for a key already pending.
        match pending.get_mut(key_id) {
            Some(key) => key.add(at_ms, ip),
            None => pending.entry(key_id.to_owned()).or_default().add(at_ms, ip),
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
                at_ms: key.latest_ms,
                ip: key.latest_ip.map(|ip| ip.to_string()),
                requests_per_day: &key.per_day,
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

    fn put_back(&self, batch: HashMap<String, Pending>) {
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

    const DAY: i64 = clock::DAY_MS;

    #[test]
    fn the_latest_use_and_the_requests_per_day_are_kept() {
        let tracker = UsageTracker::default();
        tracker.record("key_1", DAY + 20, None);
        tracker.record("key_1", DAY + 10, "10.0.0.1".parse().ok());
        tracker.record("key_1", 2 * DAY + 1, "10.0.0.2".parse().ok());
        tracker.record("key_2", 5, None);
        let pending = tracker.pending.lock().unwrap();
        assert_eq!(pending.len(), 2);
        let key = &pending["key_1"];
        assert_eq!(key.latest_ms, 2 * DAY + 1);
        assert_eq!(key.latest_ip, "10.0.0.2".parse().ok());
        assert_eq!(key.per_day, vec![(1, 2), (2, 1)]);
        assert_eq!(pending["key_2"].per_day, vec![(0, 1)]);
    }

    #[test]
    fn a_batch_that_could_not_be_written_is_merged_back() {
        let tracker = UsageTracker::default();
        tracker.record("key_1", 50, None);
        let batch = std::mem::take(&mut *tracker.pending.lock().unwrap());
        tracker.record("key_1", 40, None);
        tracker.put_back(batch);
        let pending = tracker.pending.lock().unwrap();
        assert_eq!(pending["key_1"].latest_ms, 50);
        assert_eq!(pending["key_1"].per_day, vec![(0, 2)]);
    }
}
