//! Rate limits at verification: exact in one process, never over across
//! several, without a database round trip per verification.
//!
//! Each limit's window lives in the database (`ratelimit_windows`): it
//! begins with the first verification after the last one ended and lasts
//! the limit's window, and processes *lease* parts of it. A process admits
//! from its lease in memory; when the lease runs low it asks for more (one
//! statement that never grants beyond the limit), and what it does not use
//! it gives back when it stops or forgets the limit. So across every
//! process the admitted sum in a window is at most what was granted, which
//! is at most the limit.
//!
//! The price is under-admission: at a window's end each process may hold up
//! to one lease's unused part, so with `R` processes and leases of `S`, a
//! window under steady load admits at least `limit − R·(S − 1)`. A lease is
//! a share of the limit (`⌈limit / 32⌉` where several processes may share
//! the database, `⌈limit / 4⌉` on a file one process owns) or the cost of
//! the verification, whichever is more: with `S = ⌈L/32⌉` and three
//! replicas that is at least 90.6 % of `L`. A process killed mid-lease
//! loses its lease for the rest of that window (it is never handed out
//! twice).
//!
//! Every verification checks all its limits, then takes its cost from all
//! of them at once under their locks (taken in one order), so a refusal by
//! any of them takes nothing from the others.

use super::{
    limits::RateLimit,
    wallet::{spend, CreditState, Funds, Wallet, Wallets},
};
use crate::{
    error::AppError,
    shared::{clock::UnixMs, shards::lock},
    storage::{Db, LeaseRequest},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

/// Rounds of "lease, then take" one verification may go through before it
/// is refused: each round's lease serves it unless others took it first.
const MAX_ROUNDS: usize = 8;

/// What a limit counts: one key's verifications, or all of an account's.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Holder {
    Key,
    Account,
}

/// Admits verifications against the limits their keys apply.
#[derive(Clone)]
pub struct RateLimiter(Arc<Inner>);

struct Inner {
    db: Db,
    /// A lease is this share of the limit, at least.
    lease_divisor: i64,
    buckets: Arc<LimitBuckets>,
    wallets: Arc<Wallets>,
}

/// This process's limits, each known by its subject (a key's or an
/// account's id) and name: bounded by `capacity` beyond those a cached key
/// holds (which the verification cache bounds).
#[derive(Debug)]
pub struct LimitBuckets {
    buckets: Mutex<HashMap<BucketId, Arc<Bucket>>>,
    capacity: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BucketId {
    subject: String,
    name: String,
}

/// One limit's state in this process.
#[derive(Debug)]
pub struct Bucket {
    id: BucketId,
    window: Mutex<Window>,
    /// One lease request at a time per limit: those waiting behind it find
    /// the room it brought.
    leasing: tokio::sync::Mutex<()>,
}

/// This process's part of a limit's current window.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    limit: i64,
    window_ms: i64,
    started_at: UnixMs,
    ends_at: UnixMs,
    /// Leased to this process in this window, and used of it.
    leased: i64,
    used: i64,
    /// Granted to every process together, as of this process's last lease.
    granted: i64,
}

impl Window {
    fn is_current(&self, spec: &RateLimit, now: UnixMs) -> bool {
        self.limit == spec.limit && self.window_ms == spec.window_ms() && now < self.ends_at
    }

    fn room(&self) -> i64 {
        self.leased - self.used
    }

    /// Nothing more will be granted in this window.
    fn is_spent(&self) -> bool {
        self.granted >= self.limit
    }

    /// What is left, as far as this process knows: its own room and what
    /// no process has leased yet.
    fn remaining(&self) -> i64 {
        (self.limit - self.granted).max(0) + self.room()
    }
}

/// A limit a cached key applies, with this process's state of it.
#[derive(Clone, Debug)]
pub struct AppliedLimit {
    pub spec: RateLimit,
    pub holder: Holder,
    bucket: Arc<Bucket>,
}

/// A limit's state after a verification, as the answer shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LimitState {
    pub name: String,
    pub holder: Holder,
    pub limit: i64,
    pub remaining: i64,
    pub reset_at: UnixMs,
}

/// Whether a verification's cost was taken from all its limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitVerdict {
    /// Taken from every limit, and from the credits (their state after).
    Admitted(Vec<LimitState>, Option<CreditState>),
    /// A limit had no room; nothing was taken. The limits short of the cost
    /// begin a new window in `retry_after_ms`.
    Refused {
        states: Vec<LimitState>,
        retry_after_ms: i64,
    },
    /// Fewer credits than the cost remain; nothing was taken.
    Exhausted(Vec<LimitState>, CreditState),
}

impl LimitBuckets {
    pub fn new(capacity: usize) -> Self {
        LimitBuckets {
            buckets: Mutex::default(),
            capacity,
        }
    }

    /// The limit `spec` of `subject`, as a cached key applies it. Asked once
    /// per key as it enters the verification cache; every cached key and
    /// secret of one subject shares its state.
    pub fn apply(&self, subject: &str, holder: Holder, spec: RateLimit) -> AppliedLimit {
        let id = BucketId {
            subject: subject.to_owned(),
            name: spec.name.clone(),
        };
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= self.capacity && !buckets.contains_key(&id) {
            forget_unheld(&mut buckets);
        }
        let bucket = buckets
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(Bucket {
                    id,
                    window: Mutex::default(),
                    leasing: tokio::sync::Mutex::new(()),
                })
            })
            .clone();
        AppliedLimit {
            spec,
            holder,
            bucket,
        }
    }
}

/// Makes room by forgetting the limits no cached key holds. What such a
/// limit had leased and not used stays granted until its window ends:
/// under-admission, never over.
fn forget_unheld(buckets: &mut HashMap<BucketId, Arc<Bucket>>) {
    buckets.retain(|_, bucket| Arc::strong_count(bucket) > 1);
}

impl RateLimiter {
    /// `shared`: other processes may lease from the same database.
    pub fn new(db: Db, shared: bool, buckets: Arc<LimitBuckets>, wallets: Arc<Wallets>) -> Self {
        RateLimiter(Arc::new(Inner {
            db,
            lease_divisor: if shared { 32 } else { 4 },
            buckets,
            wallets,
        }))
    }

    pub fn buckets(&self) -> &LimitBuckets {
        &self.0.buckets
    }

    /// Puts back what an admitted verification took (a verification whose
    /// `request_id` another server answered first): into each limit whose
    /// window has not ended since, and into the credits if their period
    /// has not either.
    pub fn refund(
        &self,
        limits: &[&AppliedLimit],
        states: &[LimitState],
        wallet: Option<(&Wallet, CreditState)>,
        cost: i64,
    ) {
        for (limit, state) in limits.iter().zip(states) {
            let mut window = lock(&limit.bucket.window);
            if window.ends_at == state.reset_at {
                window.used -= cost;
            }
        }
        if let Some((wallet, credits)) = wallet {
            wallet.refund(credits, cost);
        }
    }

    /// Reports the credits this process holds, and gives back those of
    /// idle keys (about once a second).
    pub async fn report_credits(&self) -> Result<(), AppError> {
        self.0.wallets.report(&self.0.db).await
    }

    /// Gives back what this process holds of a key's credits, before they
    /// are changed.
    pub async fn give_back_credits(
        &self,
        key_id: &crate::shared::ids::KeyId,
    ) -> Result<(), AppError> {
        self.0.wallets.give_back_key(&self.0.db, key_id).await
    }

    /// Gives back every unused lease, of limits and credits, as the process
    /// stops.
    pub async fn give_back_all(&self) {
        self.0.wallets.give_back_all(&self.0.db).await;
        let now = UnixMs::now();
        let unused: Vec<Unused> = lock(&self.0.buckets.buckets)
            .values()
            .filter_map(|bucket| bucket.unused(now))
            .collect();
        give_back(&self.0.db, unused).await;
    }

    /// Takes `cost` from every limit in `limits` and from the key's
    /// credits (`wallet`), or from none of them.
    pub async fn admit(
        &self,
        limits: &[&AppliedLimit],
        wallet: Option<&Wallet>,
        cost: i64,
    ) -> Result<LimitVerdict, AppError> {
        for _ in 0..MAX_ROUNDS {
            let now = UnixMs::now();
            let (lacking, credits_lacking) = match take(limits, wallet, cost, now) {
                Taken::Done(verdict) => return Ok(verdict),
                Taken::Lacking(lacking, credits) => (lacking, credits),
            };
            for limit in lacking {
                self.lease(limit, cost).await?;
            }
            if let (true, Some(wallet)) = (credits_lacking, wallet) {
                self.0.wallets.lease(&self.0.db, wallet, cost).await?;
            }
        }
        Ok(refused(limits, cost, UnixMs::now()))
    }

    pub fn wallets(&self) -> &Wallets {
        &self.0.wallets
    }

    /// Leases more of `limit`'s window, unless another request did while
    /// this one waited its turn.
    async fn lease(&self, limit: &AppliedLimit, cost: i64) -> Result<(), AppError> {
        let bucket = &limit.bucket;
        let spec = &limit.spec;
        let _turn = bucket.leasing.lock().await;
        let now = UnixMs::now();
        let changed = {
            let window = lock(&bucket.window);
            if window.is_current(spec, now) && (window.room() >= cost || window.is_spent()) {
                return Ok(());
            }
            let changed = window.limit != spec.limit || window.window_ms != spec.window_ms();
            (changed && now < window.ends_at && window.room() > 0)
                .then_some((window.started_at, window.room()))
        };
        // A limit changed mid-window: what was leased under the old one and
        // not used goes back first, so the new one counts only what was
        // admitted.
        if let Some((started_at, unused)) = changed {
            let id = &bucket.id;
            self.0
                .db
                .return_rate_limit(&id.subject, &id.name, started_at, unused)
                .await?;
            let mut window = lock(&bucket.window);
            window.leased = window.used;
        }
        let share = (spec.limit + self.0.lease_divisor - 1) / self.0.lease_divisor;
        let lease = self
            .0
            .db
            .lease_rate_limit(&LeaseRequest {
                subject: &bucket.id.subject,
                name: &bucket.id.name,
                limit: spec.limit,
                window_ms: spec.window_ms(),
                want: share.max(cost).min(spec.limit),
                now,
            })
            .await?;
        let mut window = lock(&bucket.window);
        if window.started_at == lease.started_at && window.window_ms == spec.window_ms() {
            window.leased += lease.given;
        } else {
            *window = Window {
                window_ms: spec.window_ms(),
                started_at: lease.started_at,
                ends_at: lease.started_at + Duration::from_millis(spec.window_ms() as u64),
                ..Window::default()
            };
            window.leased = lease.given;
        }
        window.limit = spec.limit;
        window.granted = lease.granted;
        Ok(())
    }
}

enum Taken<'a> {
    Done(LimitVerdict),
    /// The limits that need a lease first, and whether the credits do.
    Lacking(Vec<&'a AppliedLimit>, bool),
}

/// Under every limit's lock at once: takes `cost` from all when each has
/// the room; refuses when one of them is spent for its window (or could
/// never admit `cost`); else names those that need a lease.
fn take<'a>(
    limits: &[&'a AppliedLimit],
    wallet: Option<&Wallet>,
    cost: i64,
    now: UnixMs,
) -> Taken<'a> {
    // Locks are taken in one order, so verifications sharing limits (a key's
    // and its account's) cannot wait on each other in a circle.
    let mut order: Vec<usize> = (0..limits.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&limits[a].bucket.id, &limits[b].bucket.id);
        a.cmp_key().cmp(&b.cmp_key())
    });
    let mut guards: Vec<(usize, MutexGuard<Window>)> = order
        .into_iter()
        .map(|index| (index, lock(&limits[index].bucket.window)))
        .collect();
    let mut lacking = Vec::new();
    for (index, window) in &guards {
        let limit = limits[*index];
        let current = window.is_current(&limit.spec, now);
        if cost > limit.spec.limit || (current && window.is_spent() && window.room() < cost) {
            drop(guards);
            return Taken::Done(refused(limits, cost, now));
        }
        if !current || window.room() < cost {
            lacking.push(limit);
        }
    }
    let mut funds = wallet.map(|wallet| wallet.check(cost, now));
    let credits_lacking = matches!(funds, Some(Funds::Lacking));
    if !lacking.is_empty() || credits_lacking {
        return Taken::Lacking(lacking, credits_lacking);
    }
    let states_now = |guards: &mut Vec<(usize, MutexGuard<Window>)>| {
        guards.sort_by_key(|(index, _)| *index);
        guards
            .iter()
            .map(|(index, window)| state_of(limits[*index], window, now))
            .collect()
    };
    let credits = match &mut funds {
        Some(Funds::Exhausted(credits)) => {
            return Taken::Done(LimitVerdict::Exhausted(states_now(&mut guards), *credits))
        }
        Some(Funds::Enough(purse)) => Some(spend(purse, cost)),
        Some(Funds::Lacking) | None => None,
    };
    for (_, window) in guards.iter_mut() {
        window.used += cost;
    }
    Taken::Done(LimitVerdict::Admitted(states_now(&mut guards), credits))
}

/// The refusal of a verification that took nothing: it may come again
/// when every limit short of `cost` has begun a new window.
fn refused(limits: &[&AppliedLimit], cost: i64, now: UnixMs) -> LimitVerdict {
    let states = states(limits, now);
    let retry_after_ms = states
        .iter()
        .filter(|state| state.remaining < cost)
        .map(|state| state.reset_at.as_millis() - now.as_millis())
        .max()
        .unwrap_or(0)
        .max(0);
    LimitVerdict::Refused {
        states,
        retry_after_ms,
    }
}

/// Each limit as the answer shows it, in the order the key gives them.
fn states(limits: &[&AppliedLimit], now: UnixMs) -> Vec<LimitState> {
    limits
        .iter()
        .map(|limit| state_of(limit, &lock(&limit.bucket.window), now))
        .collect()
}

/// Where `limit` stands: what is left of its window, or all of it when its
/// window has ended (the next verification begins a new one).
fn state_of(limit: &AppliedLimit, window: &Window, now: UnixMs) -> LimitState {
    let current = window.is_current(&limit.spec, now);
    LimitState {
        name: limit.spec.name.clone(),
        holder: limit.holder,
        limit: limit.spec.limit,
        remaining: match current {
            true => window.remaining().min(limit.spec.limit),
            false => limit.spec.limit,
        },
        reset_at: match current {
            true => window.ends_at,
            false => now + Duration::from_millis(limit.spec.window_ms() as u64),
        },
    }
}

impl BucketId {
    fn cmp_key(&self) -> (&str, &str) {
        (&self.subject, &self.name)
    }
}

/// A lease to give back.
struct Unused {
    id: BucketId,
    started_at: UnixMs,
    amount: i64,
}

impl Bucket {
    fn unused(&self, now: UnixMs) -> Option<Unused> {
        let window = *lock(&self.window);
        (now < window.ends_at && window.room() > 0).then(|| Unused {
            id: self.id.clone(),
            started_at: window.started_at,
            amount: window.room(),
        })
    }
}

async fn give_back(db: &Db, unused: Vec<Unused>) {
    for lease in unused {
        let given = db
            .return_rate_limit(
                &lease.id.subject,
                &lease.id.name,
                lease.started_at,
                lease.amount,
            )
            .await;
        if let Err(error) = given {
            tracing::warn!(%error, subject = %lease.id.subject, "cannot give back a rate limit lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> UnixMs {
        UnixMs::from_millis(ms)
    }

    /// A limit of `limit` per second whose window began at 0, of which
    /// this process leased `leased`, with `granted` handed out in all.
    fn applied(
        buckets: &LimitBuckets,
        name: &str,
        limit: i64,
        leased: i64,
        granted: i64,
    ) -> AppliedLimit {
        let spec = RateLimit {
            name: name.into(),
            limit,
            window_seconds: 1,
        };
        let applied = buckets.apply("key_1", Holder::Key, spec);
        *lock(&applied.bucket.window) = Window {
            limit,
            window_ms: 1_000,
            started_at: at(0),
            ends_at: at(1_000),
            leased,
            used: 0,
            granted,
        };
        applied
    }

    fn remaining(taken: &Taken) -> Vec<i64> {
        let Taken::Done(LimitVerdict::Admitted(states, _) | LimitVerdict::Refused { states, .. }) =
            taken
        else {
            panic!("neither taken nor refused");
        };
        states.iter().map(|state| state.remaining).collect()
    }

    #[test]
    fn a_cost_is_taken_from_every_limit_or_from_none() {
        let buckets = LimitBuckets::new(10);
        let requests = applied(&buckets, "requests", 2, 2, 2);
        let tokens = applied(&buckets, "tokens", 10, 10, 10);
        let both = [&requests, &tokens];
        let taken = take(&both, None, 2, at(10));
        assert!(matches!(taken, Taken::Done(LimitVerdict::Admitted(..))));
        assert_eq!(remaining(&taken), [0, 8]);
        let refused = take(&both, None, 1, at(20));
        assert!(matches!(refused, Taken::Done(LimitVerdict::Refused { .. })));
        assert_eq!(remaining(&refused), [0, 8], "nothing taken from tokens");
        let Taken::Done(LimitVerdict::Refused { retry_after_ms, .. }) = refused else {
            unreachable!()
        };
        assert_eq!(retry_after_ms, 980, "when the spent limit's window ends");
    }

    #[test]
    fn a_limit_short_of_its_lease_asks_for_more_and_an_ended_window_begins_again() {
        let buckets = LimitBuckets::new(10);
        let requests = applied(&buckets, "requests", 10, 1, 1);
        assert!(matches!(
            take(&[&requests], None, 1, at(10)),
            Taken::Done(LimitVerdict::Admitted(..))
        ));
        let Taken::Lacking(lacking, false) = take(&[&requests], None, 1, at(11)) else {
            panic!("more can be leased: 9 of 10 were never handed out");
        };
        assert_eq!(lacking.len(), 1);
        assert!(matches!(
            take(&[&requests], None, 1, at(1_000)),
            Taken::Lacking(..)
        ));
    }

    #[test]
    fn a_cost_above_the_limit_is_refused_without_a_lease() {
        let buckets = LimitBuckets::new(10);
        let requests = applied(&buckets, "requests", 3, 0, 0);
        assert!(matches!(
            take(&[&requests], None, 4, at(10)),
            Taken::Done(LimitVerdict::Refused { .. })
        ));
    }

    #[test]
    fn keys_of_one_subject_share_a_limit_and_unheld_limits_are_forgotten_when_full() {
        let buckets = LimitBuckets::new(2);
        let spec = RateLimit {
            name: "requests".into(),
            limit: 5,
            window_seconds: 60,
        };
        let first = buckets.apply("acc_1", Holder::Account, spec.clone());
        let second = buckets.apply("acc_1", Holder::Account, spec.clone());
        assert!(Arc::ptr_eq(&first.bucket, &second.bucket));
        drop(buckets.apply("acc_2", Holder::Account, spec.clone()));
        let third = buckets.apply("acc_3", Holder::Account, spec);
        let held = lock(&buckets.buckets);
        assert_eq!(held.len(), 2, "acc_2's limit, held by no key, made room");
        assert!(held
            .values()
            .any(|bucket| Arc::ptr_eq(bucket, &first.bucket)));
        assert!(held
            .values()
            .any(|bucket| Arc::ptr_eq(bucket, &third.bucket)));
    }
}
