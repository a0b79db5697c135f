//! When and from where each key was last used, gathered in memory and
//! written in one transaction per interval (and at shutdown), so using a
//! key never costs a database write.

use crate::storage::{Db, KeyUse};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Clone, Default)]
pub struct UsageTracker {
    pending: Arc<Mutex<HashMap<String, Latest>>>,
}

struct Latest {
    at_ms: i64,
    ip: Option<IpAddr>,
}

impl UsageTracker {
    pub fn record(&self, key_id: &str, at_ms: i64, ip: Option<IpAddr>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.get_mut(key_id) {
            Some(latest) if latest.at_ms > at_ms => {}
            Some(latest) => *latest = Latest { at_ms, ip },
            None => {
                pending.insert(key_id.to_owned(), Latest { at_ms, ip });
            }
        }
    }

    /// Writes what was gathered since the last flush.
    pub async fn flush(&self, db: &Db) -> Result<usize, sqlx::Error> {
        let batch: Vec<KeyUse> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending
                .drain()
                .map(|(key_id, latest)| KeyUse {
                    key_id,
                    at_ms: latest.at_ms,
                    ip: latest.ip.map(|ip| ip.to_string()),
                })
                .collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        db.record_key_uses(&batch).await?;
        Ok(batch.len())
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
                    tracing::error!(%error, "cannot write key usage");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_use_of_a_key_is_kept() {
        let tracker = UsageTracker::default();
        tracker.record("key_1", 20, None);
        tracker.record("key_1", 10, "10.0.0.1".parse().ok());
        tracker.record("key_2", 5, None);
        let pending = tracker.pending.lock().unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending["key_1"].at_ms, 20);
    }
}
