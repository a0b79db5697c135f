//! What verification knows about each presented key digest, kept in memory
//! so the hot path reads no database. Known keys and unknown (but
//! well-formed) keys are held in two bounded caches, so a flood of random
//! keys cannot push real keys out, nor reach the database more than once
//! per key and TTL.

use super::{
    secret::{raw_from_hex, RawDigest},
    verifier::Credential,
};
use moka::sync::Cache;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// What the cache holds for a digest: the key it belongs to, or the fact
/// that no key has it.
pub type Lookup = Option<Arc<Credential>>;

#[derive(Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
}

struct Inner {
    known: Cache<RawDigest, Arc<Credential>>,
    unknown: Cache<RawDigest, ()>,
    /// Moved on by every invalidation. A fill whose database read began
    /// before an invalidation is dropped, so a read racing a revoke cannot
    /// put the pre-revoke state back. Fills and invalidations take the lock;
    /// hits never do.
    generation: Mutex<u64>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counts since start, for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    /// Known and unknown keys held now (moka's estimate).
    pub entries: u64,
}

impl CredentialCache {
    /// Each of the two caches holds at most `capacity` entries, each for at
    /// most `ttl`.
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        CredentialCache {
            inner: Arc::new(Inner {
                known: Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
                unknown: Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
                generation: Mutex::new(0),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    /// `None` when the cache knows nothing of this digest.
    pub fn get(&self, digest: &RawDigest) -> Option<Lookup> {
        let found = match self.inner.known.get(digest) {
            Some(credential) => Some(Some(credential)),
            None => self.inner.unknown.get(digest).map(|()| None),
        };
        let counter = match found {
            Some(_) => &self.inner.hits,
            None => &self.inner.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Call before reading the database; pass the result to [`Self::fill`].
    pub fn generation(&self) -> u64 {
        *self.lock()
    }

    /// Remembers what the database said, unless something was invalidated
    /// since `read_at` (then the next request reads again).
    pub fn fill(&self, digest: RawDigest, lookup: Lookup, read_at: u64) {
        let generation = self.lock();
        if *generation != read_at {
            return;
        }
        match lookup {
            Some(credential) => self.inner.known.insert(digest, credential),
            None => self.inner.unknown.insert(digest, ()),
        }
    }

    /// Forgets these (stored, hex) digests at once; called after every
    /// change to a key.
    pub fn invalidate<'a>(&self, digests: impl IntoIterator<Item = &'a str>) {
        let mut generation = self.lock();
        *generation += 1;
        for digest in digests.into_iter().filter_map(raw_from_hex) {
            self.inner.known.invalidate(&digest);
            self.inner.unknown.invalidate(&digest);
        }
    }

    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
            entries: self.inner.known.entry_count() + self.inner.unknown.entry_count(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.inner
            .generation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::verifier::tests::credential;

    fn cache() -> CredentialCache {
        CredentialCache::new(Duration::from_secs(60), 100)
    }

    const A: &str = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
    const B: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";

    fn raw(hex: &str) -> RawDigest {
        raw_from_hex(hex).unwrap()
    }

    #[test]
    fn remembers_known_and_unknown_digests() {
        let cache = cache();
        assert!(cache.get(&raw(A)).is_none());
        cache.fill(raw(A), Some(Arc::new(credential())), cache.generation());
        cache.fill(raw(B), None, cache.generation());
        assert!(matches!(cache.get(&raw(A)), Some(Some(_))));
        assert!(matches!(cache.get(&raw(B)), Some(None)));
        let counts = cache.counts();
        assert_eq!((counts.hits, counts.misses), (2, 1));
    }

    #[test]
    fn invalidation_forgets_at_once() {
        let cache = cache();
        cache.fill(raw(A), Some(Arc::new(credential())), cache.generation());
        cache.fill(raw(B), None, cache.generation());
        cache.invalidate([A, B]);
        assert!(cache.get(&raw(A)).is_none());
        assert!(cache.get(&raw(B)).is_none());
    }

    #[test]
    fn a_read_that_began_before_an_invalidation_is_not_kept() {
        let cache = cache();
        let read_at = cache.generation();
        cache.invalidate([A]);
        cache.fill(raw(A), Some(Arc::new(credential())), read_at);
        assert!(cache.get(&raw(A)).is_none());
    }

    #[test]
    fn entries_end_after_the_ttl() {
        let cache = CredentialCache::new(Duration::from_millis(20), 100);
        cache.fill(raw(A), None, cache.generation());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(&raw(A)).is_none());
    }
}
