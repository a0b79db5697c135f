//! Usage credits at verification: never overspent, on one node or on
//! several, across `kill -9`, without a database round trip per
//! verification.
//!
//! A key's credits live in the database. A process *leases* some (they
//! leave the key's count and become its lease, in one transaction under
//! the key's row lock) and spends from its lease in memory; it reports what
//! it holds about once a second and gives it back when it stops, or when
//! the key goes unused for a while. So the credits spent never exceed those
//! granted: each credit is either in the key's count or in exactly one
//! process's lease. A process killed mid-lease takes its lease with it: a
//! lease not reported for [`STALE_AFTER`] is counted lost (`credits_lost`,
//! and `keysmith_credits_lost_total` on the process that found it), never
//! handed out again. What is lost per kill is at most one lease per key
//! that process held.
//!
//! A lease is a share of what is left (a quarter on a file one process
//! owns, a 32nd where several may share the database) or the cost, if
//! more: as the credits run out, leases shrink, and the last few are leased
//! one verification at a time.

use crate::{
    error::AppError,
    keys::credits::Refill,
    shared::{
        clock::UnixMs,
        ids::KeyId,
        shards::{lock, Counter},
    },
    storage::{CreditGrant, CreditPlan, CreditRow, Db, Holding},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// How long a lease may go unreported before it is counted lost.
pub const STALE_AFTER: Duration = Duration::from_secs(10);
/// How long a key goes unverified before its lease is given back.
const IDLE_AFTER: Duration = Duration::from_secs(2);

/// This process's credits, by key: bounded by `capacity` beyond those a
/// cached key holds.
pub struct Wallets {
    /// Who this process is to the leases table: new at every start.
    holder: String,
    lease_divisor: i64,
    wallets: Mutex<HashMap<KeyId, Arc<Wallet>>>,
    capacity: usize,
    lost: Counter,
}

/// What this process holds of one key's credits.
#[derive(Debug)]
pub struct Wallet {
    key_id: KeyId,
    purse: Mutex<Purse>,
    /// One lease request at a time per key.
    leasing: tokio::sync::Mutex<()>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Purse {
    /// Whether `pool` and the period are as of a lease (else one is needed
    /// before spending: the key changed, or nothing was leased yet).
    known: bool,
    period: i64,
    /// Leased to this process and not spent.
    balance: i64,
    /// Left outside every lease, as of this process's last lease.
    pool: i64,
    refill_at: Option<UnixMs>,
    /// A lease row exists for what this process holds.
    leased: bool,
    /// Spent since the last report.
    changed: bool,
    last_spent: Option<Instant>,
}

impl Purse {
    /// A refill came: what is held belongs to the period that ended.
    fn refill_due(&self, now: UnixMs) -> bool {
        self.refill_at.is_some_and(|at| at <= now)
    }

    fn can_spend(&self, cost: i64, now: UnixMs) -> bool {
        self.known && !self.refill_due(now) && self.balance >= cost
    }

    /// Nothing more can be leased until a refill or a change.
    fn is_spent(&self, cost: i64, now: UnixMs) -> bool {
        self.known && !self.refill_due(now) && self.balance < cost && self.pool == 0
    }
}

/// Where a key's credits stand after a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreditState {
    /// As far as this process knows: what it holds and what no process
    /// has leased.
    pub remaining: i64,
    pub refill_at: Option<UnixMs>,
    /// The refill period they were spent in.
    pub period: i64,
}

impl Wallets {
    /// `shared`: other processes may lease from the same database.
    pub fn new(shared: bool, capacity: usize) -> Self {
        use rand::{rngs::OsRng, TryRngCore};
        let mut bytes = [0u8; 12];
        OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random number generator failed");
        Wallets {
            holder: hex::encode(bytes),
            lease_divisor: if shared { 32 } else { 4 },
            wallets: Mutex::default(),
            capacity,
            lost: Counter::default(),
        }
    }

    /// The wallet of a key entering the verification cache: the one this
    /// process already has, asked to learn the key's credits again before
    /// spending (they may have changed, which is why the key is read).
    pub fn of(&self, key_id: &KeyId) -> Arc<Wallet> {
        let mut wallets = lock(&self.wallets);
        if wallets.len() >= self.capacity && !wallets.contains_key(key_id) {
            // Unheld wallets hold nothing: those that did gave it back.
            wallets.retain(|_, wallet| {
                Arc::strong_count(wallet) > 1 || lock(&wallet.purse).balance > 0
            });
        }
        let wallet = wallets
            .entry(key_id.clone())
            .or_insert_with(|| {
                Arc::new(Wallet {
                    key_id: key_id.clone(),
                    purse: Mutex::default(),
                    leasing: tokio::sync::Mutex::new(()),
                })
            })
            .clone();
        lock(&wallet.purse).known = false;
        wallet
    }

    /// Credits this process found lost since it started.
    pub fn lost(&self) -> u64 {
        self.lost.sum()
    }

    /// Leases more of the key's credits for a verification costing `cost`,
    /// unless another verification did while this one waited its turn.
    pub async fn lease(&self, db: &Db, wallet: &Wallet, cost: i64) -> Result<(), AppError> {
        let _turn = wallet.leasing.lock().await;
        let now = UnixMs::now();
        let purse = *lock(&wallet.purse);
        if purse.can_spend(cost, now) || purse.is_spent(cost, now) {
            return Ok(());
        }
        let divisor = self.lease_divisor;
        let granted = db
            .lease_credits(
                &wallet.key_id,
                &self.holder,
                (purse.period, purse.balance),
                now,
                now - STALE_AFTER,
                |row| plan(row, cost, divisor, now),
            )
            .await?;
        let mut purse = lock(&wallet.purse);
        match granted {
            Some(grant) => purse.take(grant),
            // The key keeps no credits any more: nothing to spend.
            None => *purse = Purse::default(),
        }
        if let Some(grant) = granted {
            self.lost.add(u64::try_from(grant.lost).unwrap_or(0));
        }
        Ok(())
    }

    /// Reports what this process holds (its leases stay its own) and gives
    /// back what idle keys hold; called about once a second.
    pub async fn report(&self, db: &Db) -> Result<(), AppError> {
        let now = Instant::now();
        let wallets: Vec<Arc<Wallet>> = lock(&self.wallets).values().cloned().collect();
        let mut held = Vec::new();
        for wallet in &wallets {
            let purse = *lock(&wallet.purse);
            if !purse.leased {
                continue;
            }
            let idle = purse.last_spent.is_none_or(|at| now - at >= IDLE_AFTER);
            if idle {
                self.give_back(db, wallet).await?;
            } else {
                held.push((wallet, purse));
            }
        }
        if held.is_empty() {
            return Ok(());
        }
        let holdings: Vec<Holding> = held
            .iter()
            .map(|(wallet, purse)| Holding {
                key_id: &wallet.key_id,
                period: purse.period,
                amount: purse.balance,
            })
            .collect();
        let revoked = db
            .report_credits(&self.holder, &holdings, UnixMs::now())
            .await?;
        for (wallet, _) in &held {
            let mut purse = lock(&wallet.purse);
            purse.changed = false;
            if revoked.contains(&wallet.key_id) {
                *purse = Purse::default();
            }
        }
        Ok(())
    }

    /// Gives back every lease, as the process stops.
    pub async fn give_back_all(&self, db: &Db) {
        let wallets: Vec<Arc<Wallet>> = lock(&self.wallets).values().cloned().collect();
        for wallet in wallets {
            if let Err(error) = self.give_back(db, &wallet).await {
                tracing::warn!(%error, key_id = %wallet.key_id, "cannot give back credits");
            }
        }
    }

    /// Gives back what this process holds of `key_id` now, so what the key
    /// counts in the database is all it has (before changing it).
    pub async fn give_back_key(&self, db: &Db, key_id: &KeyId) -> Result<(), AppError> {
        let wallet = lock(&self.wallets).get(key_id).cloned();
        match wallet {
            Some(wallet) => self.give_back(db, &wallet).await,
            None => Ok(()),
        }
    }

    async fn give_back(&self, db: &Db, wallet: &Wallet) -> Result<(), AppError> {
        let _turn = wallet.leasing.lock().await;
        let purse = {
            let mut purse = lock(&wallet.purse);
            let held = *purse;
            *purse = Purse::default();
            held
        };
        if !purse.leased {
            return Ok(());
        }
        let holding = Holding {
            key_id: &wallet.key_id,
            period: purse.period,
            amount: purse.balance,
        };
        Ok(db.return_credits(&self.holder, &holding).await?)
    }
}

impl Purse {
    /// What a lease brought. Credits of a period that ended are dropped
    /// (the database dropped their lease too).
    fn take(&mut self, grant: CreditGrant) {
        if self.period != grant.period {
            self.balance = 0;
        }
        *self = Purse {
            known: true,
            period: grant.period,
            balance: self.balance + grant.given,
            pool: grant.remaining,
            refill_at: grant.refill_at,
            leased: true,
            changed: self.changed,
            last_spent: self.last_spent,
        };
    }
}

/// What a lease does, from the key's row: a refill that came first (a new
/// period), then a share of what is left, or the cost if more.
fn plan(row: &CreditRow, cost: i64, divisor: i64, now: UnixMs) -> Option<CreditPlan> {
    let remaining = row.remaining?;
    let refill: Option<Refill> = row
        .refill
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    let (remaining, refill_at, period) = match (refill, row.refill_at) {
        (Some(refill), Some(at)) if at <= now => {
            (refill.amount, Some(refill.next_after(now)), row.period + 1)
        }
        _ => (remaining, row.refill_at, row.period),
    };
    let share = (remaining + divisor - 1) / divisor;
    Some(CreditPlan {
        remaining,
        refill_at,
        period,
        give: share.max(cost).min(remaining),
    })
}

impl Wallet {
    /// Under the wallet's lock (taken after the limits'): whether `cost`
    /// can be spent, is refused for good, or needs a lease first.
    pub(super) fn check(&self, cost: i64, now: UnixMs) -> Funds<'_> {
        let purse = lock(&self.purse);
        if purse.can_spend(cost, now) {
            Funds::Enough(purse)
        } else if purse.is_spent(cost, now) {
            Funds::Exhausted(state(&purse))
        } else {
            Funds::Lacking
        }
    }
}

/// A wallet's answer to a cost.
pub(super) enum Funds<'a> {
    /// Spend with [`spend`] while holding this.
    Enough(MutexGuard<'a, Purse>),
    Exhausted(CreditState),
    Lacking,
}

/// Takes `cost` from a purse [`Wallet::check`] found enough in.
pub(super) fn spend(purse: &mut MutexGuard<Purse>, cost: i64) -> CreditState {
    purse.balance -= cost;
    purse.changed = true;
    purse.last_spent = Some(Instant::now());
    state(purse)
}

fn state(purse: &Purse) -> CreditState {
    CreditState {
        remaining: purse.pool + purse.balance,
        refill_at: purse.refill_at,
        period: purse.period,
    }
}

impl Wallet {
    /// Puts back a cost spent in the period of `spent`, if it still runs.
    pub(super) fn refund(&self, spent: CreditState, cost: i64) {
        let mut purse = lock(&self.purse);
        if purse.known && purse.period == spent.period {
            purse.balance += cost;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(remaining: i64) -> CreditRow {
        CreditRow {
            remaining: Some(remaining),
            refill: None,
            refill_at: None,
            period: 3,
        }
    }

    #[test]
    fn a_lease_is_a_share_of_what_is_left_or_the_cost() {
        let now = UnixMs::from_millis(1_000);
        assert_eq!(plan(&row(100), 1, 4, now).unwrap().give, 25);
        assert_eq!(plan(&row(100), 1, 32, now).unwrap().give, 4);
        assert_eq!(plan(&row(100), 40, 32, now).unwrap().give, 40);
        assert_eq!(
            plan(&row(2), 5, 4, now).unwrap().give,
            2,
            "never more than is left"
        );
        assert_eq!(plan(&row(0), 1, 4, now).unwrap().give, 0);
        let none = CreditRow {
            remaining: None,
            ..row(0)
        };
        assert_eq!(plan(&none, 1, 4, now), None);
    }

    #[test]
    fn a_refill_that_came_begins_a_new_period_with_its_amount() {
        let refill = r#"{"amount": 10, "interval": "daily"}"#;
        let due = CreditRow {
            remaining: Some(1),
            refill: Some(refill.into()),
            refill_at: Some(UnixMs::from_millis(86_400_000)),
            period: 3,
        };
        let now = UnixMs::from_millis(86_400_000 + 5);
        let planned = plan(&due, 1, 4, now).unwrap();
        assert_eq!((planned.remaining, planned.period), (10, 4));
        assert_eq!(planned.refill_at, Some(UnixMs::from_millis(2 * 86_400_000)));
        let before = UnixMs::from_millis(86_400_000 - 1);
        assert_eq!(plan(&due, 1, 4, before).unwrap().period, 3);
    }

    #[test]
    fn a_purse_spends_only_what_it_holds_and_knows_when_nothing_is_left() {
        let now = UnixMs::from_millis(10);
        let mut purse = Purse::default();
        assert!(!purse.can_spend(0, now), "nothing known before a lease");
        purse.take(CreditGrant {
            period: 1,
            given: 2,
            remaining: 0,
            refill_at: Some(UnixMs::from_millis(100)),
            lost: 0,
        });
        assert!(purse.can_spend(2, now));
        assert!(!purse.can_spend(3, now));
        assert!(purse.is_spent(3, now));
        assert!(
            !purse.can_spend(1, UnixMs::from_millis(100)),
            "a refill came"
        );
        assert!(!purse.is_spent(3, UnixMs::from_millis(100)));
    }
}
