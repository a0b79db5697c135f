//! State written on every verification, split per thread. One counter or
//! one locked map shared by the accept loops (one per core) moves its
//! cache line between the cores on every write; a shard per thread stays
//! in its core's cache, and readers (a scrape, a flush) add the shards up.

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    Mutex, MutexGuard,
};

/// One value per thread (threads beyond the shard count share), each on a
/// cache line of its own.
pub struct Shards<T> {
    shards: Box<[Padded<T>]>,
}

/// 128 bytes: the line size, doubled for the prefetcher that fetches lines
/// in pairs on x86.
#[repr(align(128))]
struct Padded<T>(T);

impl<T: Default> Default for Shards<T> {
    /// Twice as many shards as cores (at least 4, at most 64): room for the
    /// accept loops and the runtime's own threads.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Shards {
            shards: (0..(2 * cores).clamp(4, 64))
                .map(|_| Padded(T::default()))
                .collect(),
        }
    }
}

impl<T> Shards<T> {
    /// This thread's shard.
    pub fn mine(&self) -> &T {
        &self.shards[thread_index() % self.shards.len()].0
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.shards.iter().map(|padded| &padded.0)
    }
}

impl<T> Shards<Mutex<T>> {
    /// This thread's shard, locked (a poisoned lock still holds good data:
    /// every writer leaves it whole).
    pub fn lock_mine(&self) -> MutexGuard<'_, T> {
        lock(self.mine())
    }
}

/// A count written by many threads at once and read seldom.
#[derive(Default)]
pub struct Counter(Shards<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.mine().fetch_add(n, Relaxed);
    }

    pub fn sum(&self) -> u64 {
        self.0.iter().map(|shard| shard.load(Relaxed)).sum()
    }
}

/// A number for this thread, given out in turn on first use.
fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed);
    }
    INDEX.with(|index| *index)
}

/// Locks a mutex whose holders only do plain arithmetic and copies (they
/// cannot leave it half-changed), so a poisoned one is taken as it is.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_count_from_many_threads_adds_up() {
        let counter = Arc::new(Counter::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || (0..1_000).for_each(|_| counter.add(1)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(counter.sum(), 8_000);
    }

    #[test]
    fn readers_see_what_every_thread_wrote() {
        let shards = Arc::new(Shards::<Mutex<Vec<u32>>>::default());
        let other = Arc::clone(&shards);
        shards.lock_mine().push(1);
        std::thread::spawn(move || other.lock_mine().push(2))
            .join()
            .unwrap();
        shards.lock_mine().push(3);
        let mut all: Vec<u32> = shards
            .iter()
            .flat_map(|shard| shard.lock().unwrap().clone())
            .collect();
        all.sort();
        assert_eq!(all, vec![1, 2, 3]);
    }
}
