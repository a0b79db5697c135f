//! What verification knows about each presented key digest, kept in memory
//! so the hot path reads no database. Known keys and unknown (but
//! well-formed) keys are held in two bounded caches, so a flood of random
//! keys cannot push real keys out, nor reach the database more than once
//! per key and TTL.

use super::{
    credential::Credential,
    secret::{raw_from_hex, RawDigest},
};
use crate::{shared::shards::Counter, storage::KeyDigests};
use quick_cache::sync::Cache;
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// What the cache holds for a digest: the key it belongs to, or the fact
/// that no key has it.
pub type Lookup = Option<Arc<Credential>>;

#[derive(Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
}

struct Inner {
    known: Cache<RawDigest, Stamped<Arc<Credential>>>,
    unknown: Cache<RawDigest, Stamped<()>>,
    ttl: Duration,
    /// Moved on by every invalidation. A fill whose database read began
    /// before an invalidation is dropped, so a read racing a revoke cannot
    /// put the pre-revoke state back. Fills and invalidations take the lock;
    /// hits never do.
    generation: Mutex<u64>,
    /// While false, the cache is neither read nor filled: every
    /// verification reads the database (another process's changes may be
    /// going unheard).
    trusted: AtomicBool,
    hits: Counter,
    misses: Counter,
}

/// An entry and when it was read from the database: quick_cache bounds
/// the count, the TTL is ours to enforce.
#[derive(Clone)]
struct Stamped<T> {
    value: T,
    filled_at: Instant,
}

impl<T> Stamped<T> {
    fn now(value: T) -> Self {
        Stamped {
            value,
            filled_at: Instant::now(),
        }
    }
}

pub struct ForgetWhenDone<'a> {
    cache: &'a CredentialCache,
    digests: KeyDigests,
}

impl Drop for ForgetWhenDone<'_> {
    fn drop(&mut self) {
        self.cache.invalidate(self.digests.iter());
    }
}

/// Counts since start, for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    /// Known and unknown keys held now, expired ones included until they
    /// are looked up or pushed out.
    pub entries: u64,
}

impl CredentialCache {
    /// Each of the two caches holds at most `capacity` entries, each for at
    /// most `ttl`.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        CredentialCache {
            inner: Arc::new(Inner {
                known: Cache::new(capacity),
                unknown: Cache::new(capacity),
                ttl,
                generation: Mutex::new(0),
                trusted: AtomicBool::new(true),
                hits: Counter::default(),
                misses: Counter::default(),
            }),
        }
    }

    /// How many known keys it holds at most.
    pub fn capacity(&self) -> usize {
        usize::try_from(self.inner.known.capacity()).unwrap_or(usize::MAX)
    }

    /// `None` when the cache knows nothing of this digest.
    pub fn get(&self, digest: &RawDigest) -> Option<Lookup> {
        if !self.inner.trusted.load(Ordering::Acquire) {
            self.inner.misses.add(1);
            return None;
        }
        let found = match self.fresh(&self.inner.known, digest) {
            Some(credential) => Some(Some(credential)),
            None => self.fresh(&self.inner.unknown, digest).map(|()| None),
        };
        let counter = match found {
            Some(_) => &self.inner.hits,
            None => &self.inner.misses,
        };
        counter.add(1);
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
        if *generation != read_at || !self.inner.trusted.load(Ordering::Acquire) {
            return;
        }
        match lookup {
            Some(credential) => self.inner.known.insert(digest, Stamped::now(credential)),
            None => self.inner.unknown.insert(digest, Stamped::now(())),
        }
    }

    /// Forgets these (stored, hex) digests at once; called after every
    /// change to a key.
    pub fn invalidate<'a>(&self, digests: impl IntoIterator<Item = &'a str>) {
        let mut generation = self.lock();
        *generation += 1;
        for digest in digests.into_iter().filter_map(raw_from_hex) {
            self.inner.known.remove(&digest);
            self.inner.unknown.remove(&digest);
        }
    }

    /// Forgets everything, and drops every fill whose read began before.
    pub fn clear(&self) {
        let mut generation = self.lock();
        *generation += 1;
        self.inner.known.clear();
        self.inner.unknown.clear();
    }

    /// Whether the cache may be used: false while changes made elsewhere may
    /// go unheard. Trusting it again starts from an empty cache. Every
    /// change of trust moves the generation on, so a database read that
    /// began before it (perhaps before a change this process never heard)
    /// cannot fill the cache after it.
    pub fn set_trusted(&self, trusted: bool) {
        let mut generation = self.lock();
        *generation += 1;
        if trusted {
            self.inner.known.clear();
            self.inner.unknown.clear();
        }
        self.inner.trusted.store(trusted, Ordering::Release);
    }

    /// Forgets `digests` when the returned guard is dropped: at the end of
    /// a change, or when the change's future is dropped part-way (the
    /// client went away, the server is stopping) after its commit may have
    /// landed. Without it, a revoked key could stay VALID here for a TTL.
    pub fn forget_when_done(&self, digests: KeyDigests) -> ForgetWhenDone<'_> {
        ForgetWhenDone {
            cache: self,
            digests,
        }
    }

    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.inner.hits.sum(),
            misses: self.inner.misses.sum(),
            entries: (self.inner.known.len() + self.inner.unknown.len()) as u64,
        }
    }

    /// The entry for `digest` if it is younger than the TTL; an older one is
    /// dropped, unless a concurrent fill has just replaced it.
    fn fresh<T: Clone>(
        &self,
        cache: &Cache<RawDigest, Stamped<T>>,
        digest: &RawDigest,
    ) -> Option<T> {
        let ttl = self.inner.ttl;
        let entry = cache.get(digest)?;
        if entry.filled_at.elapsed() < ttl {
            return Some(entry.value);
        }
        cache.remove_if(digest, |entry| entry.filled_at.elapsed() >= ttl);
        None
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
    use crate::keys::credential::tests::credential;

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
    fn an_untrusted_cache_is_neither_read_nor_filled_and_starts_empty_again() {
        let cache = cache();
        cache.fill(raw(A), Some(Arc::new(credential())), cache.generation());
        cache.set_trusted(false);
        assert!(cache.get(&raw(A)).is_none(), "read through while untrusted");
        cache.fill(raw(B), None, cache.generation());
        cache.set_trusted(true);
        assert!(cache.get(&raw(A)).is_none(), "emptied when trusted again");
        assert!(cache.get(&raw(B)).is_none(), "nothing was filled meanwhile");
    }

    #[test]
    fn a_read_that_began_before_trust_was_regained_is_not_kept() {
        let cache = cache();
        cache.set_trusted(false);
        // A verification reads the database while the listener is away.
        let read_at = cache.generation();
        cache.set_trusted(true);
        cache.fill(raw(A), Some(Arc::new(credential())), read_at);
        assert!(
            cache.get(&raw(A)).is_none(),
            "a pre-reconnect read was cached"
        );
        // And one that began while trusted, finished after trust was lost
        // and regained, is not kept either.
        let read_at = cache.generation();
        cache.set_trusted(false);
        cache.set_trusted(true);
        cache.fill(raw(B), None, read_at);
        assert!(cache.get(&raw(B)).is_none());
    }

    #[test]
    fn clearing_drops_fills_that_began_before() {
        let cache = cache();
        let read_at = cache.generation();
        cache.fill(raw(A), None, cache.generation());
        cache.clear();
        assert!(cache.get(&raw(A)).is_none());
        cache.fill(raw(B), None, read_at);
        assert!(cache.get(&raw(B)).is_none());
    }

    #[test]
    fn entries_end_after_the_ttl() {
        let cache = CredentialCache::new(Duration::from_millis(20), 100);
        cache.fill(raw(A), None, cache.generation());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(&raw(A)).is_none());
    }

    #[test]
    fn a_flood_of_unknown_keys_stays_bounded_and_leaves_known_keys_alone() {
        let cache = cache();
        cache.fill(raw(A), Some(Arc::new(credential())), cache.generation());
        for n in 0..10_000u32 {
            let mut digest = [0u8; 32];
            digest[..4].copy_from_slice(&n.to_le_bytes());
            digest[31] = 0xff;
            cache.fill(digest, None, cache.generation());
        }
        assert!(cache.counts().entries <= 1 + 100, "{:?}", cache.counts());
        assert!(matches!(cache.get(&raw(A)), Some(Some(_))));
    }
}
