//! Changes other processes make to keys, applied to this process's
//! verification cache. While this process cannot be sure it hears every
//! change (not listening yet, the connection lost, a numbered change
//! missed), it does not trust its cache and verifies from the database.

use super::cache::CredentialCache;
use crate::storage::{KeyChange, KeyChanges};
use std::sync::{
    atomic::{AtomicBool, AtomicI64, Ordering},
    Arc,
};

/// Where hearing other processes' changes stands, for `/readyz` and
/// `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FanOutStatus {
    pub listening: bool,
    /// The number of the last change heard.
    pub last_sequence: i64,
}

#[derive(Default)]
pub struct FanOut {
    following: AtomicBool,
    listening: AtomicBool,
    last_sequence: AtomicI64,
}

impl FanOut {
    /// `None` when this process does not follow changes (SQLite: it is the
    /// only one).
    pub fn status(&self) -> Option<FanOutStatus> {
        self.following
            .load(Ordering::Acquire)
            .then(|| FanOutStatus {
                listening: self.listening.load(Ordering::Acquire),
                last_sequence: self.last_sequence.load(Ordering::Acquire),
            })
    }

    /// Applies every change heard, until the database closes as the
    /// process stops. The cache is distrusted until the first `Listening`.
    pub fn follow(self: Arc<Self>, mut changes: KeyChanges, cache: CredentialCache) {
        cache.set_trusted(false);
        self.following.store(true, Ordering::Release);
        tokio::spawn(async move {
            while let Some(change) = changes.next().await {
                self.apply(change, &cache);
            }
        });
    }

    fn apply(&self, change: KeyChange, cache: &CredentialCache) {
        match change {
            KeyChange::Listening { sequence } => {
                self.last_sequence.store(sequence, Ordering::Release);
                cache.set_trusted(true);
                self.listening.store(true, Ordering::Release);
                tracing::info!(sequence, "hearing key changes from every process");
            }
            KeyChange::Changed { sequence, digests } => {
                let last = self.last_sequence.swap(sequence, Ordering::AcqRel);
                if sequence != last + 1 {
                    tracing::warn!(last, sequence, "missed key changes; forgetting every key");
                    cache.clear();
                }
                cache.invalidate(digests.iter().map(String::as_str));
            }
            KeyChange::Unreadable => {
                tracing::warn!("an unreadable key change; forgetting every key");
                cache.clear();
            }
            KeyChange::Lost { reason } => {
                cache.set_trusted(false);
                if self.listening.swap(false, Ordering::AcqRel) {
                    tracing::warn!(%reason, "not hearing key changes; verifying from the database");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::credential::tests::credential;
    use std::time::Duration;

    const A: &str = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
    const B: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";

    fn cached(cache: &CredentialCache, hex: &str) -> bool {
        let digest = crate::keys::secret::raw_from_hex(hex).unwrap();
        cache.get(&digest).is_some()
    }

    fn fill(cache: &CredentialCache, hex: &str) {
        let digest = crate::keys::secret::raw_from_hex(hex).unwrap();
        cache.fill(digest, Some(Arc::new(credential())), cache.generation());
    }

    fn listening_at(sequence: i64) -> (FanOut, CredentialCache) {
        let fanout = FanOut::default();
        let cache = CredentialCache::new(Duration::from_secs(60), 10);
        fanout.apply(KeyChange::Listening { sequence }, &cache);
        (fanout, cache)
    }

    #[test]
    fn a_change_heard_forgets_its_key_only() {
        let (fanout, cache) = listening_at(4);
        fill(&cache, A);
        fill(&cache, B);
        fanout.apply(
            KeyChange::Changed {
                sequence: 5,
                digests: vec![A.into()],
            },
            &cache,
        );
        assert!(!cached(&cache, A));
        assert!(cached(&cache, B));
    }

    #[test]
    fn a_missed_change_forgets_every_key() {
        let (fanout, cache) = listening_at(4);
        fill(&cache, B);
        fanout.apply(
            KeyChange::Changed {
                sequence: 6,
                digests: vec![A.into()],
            },
            &cache,
        );
        assert!(!cached(&cache, B), "change 5 was missed");
    }

    #[test]
    fn while_not_listening_nothing_is_served_from_the_cache() {
        let (fanout, cache) = listening_at(1);
        fill(&cache, A);
        fanout.apply(
            KeyChange::Lost {
                reason: "test".into(),
            },
            &cache,
        );
        assert!(!cached(&cache, A));
        fill(&cache, B);
        assert!(!cached(&cache, B), "nor filled");
        fanout.apply(KeyChange::Listening { sequence: 9 }, &cache);
        fill(&cache, B);
        assert!(cached(&cache, B));
        assert!(!cached(&cache, A), "what was cached before is gone");
    }
}
