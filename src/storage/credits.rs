//! Usage credits and the leases servers hold of them, one body for both
//! databases.

use super::{
    audit::insert_event,
    either::{announce_key_change, lock_key_by_id, on_either},
    Db, KeyDigests, NewAuditEvent,
};
use crate::shared::{
    clock::UnixMs,
    ids::{AccountId, KeyId},
};

/// A key's credits as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct CreditRow {
    /// Outside the leases; `None`: the key keeps no credits.
    pub remaining: Option<i64>,
    /// The refill, as JSON.
    pub refill: Option<String>,
    pub refill_at: Option<UnixMs>,
    pub period: i64,
}

/// What a lease does to a key's credits, decided from its row: the credits
/// outside the leases (after a refill that was due), the refill to come,
/// the period, and how many to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditPlan {
    pub remaining: i64,
    pub refill_at: Option<UnixMs>,
    pub period: i64,
    pub give: i64,
}

/// What a lease gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditGrant {
    pub period: i64,
    pub given: i64,
    /// Left outside the leases after it.
    pub remaining: i64,
    pub refill_at: Option<UnixMs>,
    /// Credits of servers that stopped reporting, counted lost by it.
    pub lost: i64,
}

/// One server's holding of one key's credits, as it reports it.
pub struct Holding<'a> {
    pub key_id: &'a KeyId,
    pub period: i64,
    pub amount: i64,
}

const CREDIT_ROW: &str = "SELECT credits_remaining AS remaining, credits_refill AS refill,
       credits_refill_at AS refill_at, credits_period AS period
     FROM api_keys WHERE id = $1";

impl Db {
    /// Leases credits of a key to `holder`, which holds `balance` of
    /// `holder_period` now: under the key's row lock, `plan` decides from
    /// the row (a due refill, how many to give); leases of an earlier
    /// period are dropped, and those not reported since `stale_before` are
    /// counted lost. `None` when the key keeps no credits (or is gone).
    pub async fn lease_credits(
        &self,
        key_id: &KeyId,
        holder: &str,
        (holder_period, balance): (i64, i64),
        now: UnixMs,
        stale_before: UnixMs,
        plan: impl FnOnce(&CreditRow) -> Option<CreditPlan>,
    ) -> Result<Option<CreditGrant>, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_key_by_id(tx.conn(), key_id).await?;
        let row: Option<CreditRow> = on_either!(tx.conn(), c => sqlx::query_as(CREDIT_ROW)
            .bind(key_id)
            .fetch_optional(c)
            .await)?;
        let Some(plan) = row.as_ref().and_then(plan) else {
            return Ok(None);
        };
        on_either!(tx.conn(), c => sqlx::query(
            "DELETE FROM credit_leases WHERE key_id = $1 AND period < $2",
        )
        .bind(key_id)
        .bind(plan.period)
        .execute(c)
        .await
        .map(drop))?;
        let stale: Vec<i64> = on_either!(tx.conn(), c => sqlx::query_scalar(
            "DELETE FROM credit_leases
             WHERE key_id = $1 AND holder <> $2 AND reported_at < $3 RETURNING amount",
        )
        .bind(key_id)
        .bind(holder)
        .bind(stale_before)
        .fetch_all(c)
        .await)?;
        let lost: i64 = stale.iter().sum();
        let remaining = plan.remaining - plan.give;
        on_either!(tx.conn(), c => sqlx::query(
            "UPDATE api_keys SET credits_remaining = $2, credits_refill_at = $3,
                credits_period = $4, credits_lost = credits_lost + $5
             WHERE id = $1",
        )
        .bind(key_id)
        .bind(remaining)
        .bind(plan.refill_at)
        .bind(plan.period)
        .bind(lost)
        .execute(c)
        .await
        .map(drop))?;
        let held = match holder_period == plan.period {
            true => balance + plan.give,
            false => plan.give,
        };
        on_either!(tx.conn(), c => sqlx::query(
            "INSERT INTO credit_leases (key_id, holder, period, amount, reported_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key_id, holder) DO UPDATE SET
               period = excluded.period, amount = excluded.amount,
               reported_at = excluded.reported_at",
        )
        .bind(key_id)
        .bind(holder)
        .bind(plan.period)
        .bind(held)
        .bind(now)
        .execute(c)
        .await
        .map(drop))?;
        tx.commit().await?;
        Ok(Some(CreditGrant {
            period: plan.period,
            given: plan.give,
            remaining,
            refill_at: plan.refill_at,
            lost,
        }))
    }

    /// Notes what `holder` still holds of each key; answers the keys whose
    /// lease it no longer has (counted lost, or of a period that ended),
    /// whose credits it must drop.
    pub async fn report_credits(
        &self,
        holder: &str,
        holdings: &[Holding<'_>],
        now: UnixMs,
    ) -> Result<Vec<KeyId>, sqlx::Error> {
        let mut tx = self.write().await?;
        let mut revoked = Vec::new();
        for holding in holdings {
            let kept = on_either!(tx.conn(), c => sqlx::query(
                "UPDATE credit_leases SET amount = $4, reported_at = $5
                 WHERE key_id = $1 AND holder = $2 AND period = $3",
            )
            .bind(holding.key_id)
            .bind(holder)
            .bind(holding.period)
            .bind(holding.amount)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected());
            if kept == 0 {
                revoked.push(holding.key_id.clone());
            }
        }
        tx.commit().await?;
        Ok(revoked)
    }

    /// Gives back what `holder` holds of a key: its lease ends, and the
    /// credits return to the key if their period is still the key's.
    pub async fn return_credits(
        &self,
        holder: &str,
        holding: &Holding<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        lock_key_by_id(tx.conn(), holding.key_id).await?;
        let ended = on_either!(tx.conn(), c => sqlx::query(
            "DELETE FROM credit_leases WHERE key_id = $1 AND holder = $2 AND period = $3",
        )
        .bind(holding.key_id)
        .bind(holder)
        .bind(holding.period)
        .execute(c)
        .await?
        .rows_affected());
        if ended > 0 {
            on_either!(tx.conn(), c => sqlx::query(
                "UPDATE api_keys SET credits_remaining = credits_remaining + $3
                 WHERE id = $1 AND credits_period = $2 AND credits_remaining IS NOT NULL",
            )
            .bind(holding.key_id)
            .bind(holding.period)
            .bind(holding.amount)
            .execute(c)
            .await
            .map(drop))?;
        }
        tx.commit().await
    }

    /// Adds `delta` (or takes it away) from an account's key's credits
    /// outside the leases, recording `event` and telling every process.
    /// `Ok(Err(available))` when taking would leave fewer than none;
    /// `Ok(Ok(None))` when there is no such key or it keeps no credits.
    pub async fn adjust_credits(
        &self,
        account_id: &AccountId,
        key_id: &KeyId,
        delta: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<Result<Option<i64>, i64>, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_key_by_id(tx.conn(), key_id).await?;
        let found: Option<Option<i64>> = on_either!(tx.conn(), c => sqlx::query_scalar(
            "SELECT credits_remaining FROM api_keys WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id)
        .bind(key_id)
        .fetch_optional(c)
        .await)?;
        let Some(Some(remaining)) = found else {
            return Ok(Ok(None));
        };
        if remaining + delta < 0 {
            return Ok(Err(remaining));
        }
        on_either!(tx.conn(), c => sqlx::query(
            "UPDATE api_keys SET credits_remaining = credits_remaining + $2 WHERE id = $1",
        )
        .bind(key_id)
        .bind(delta)
        .execute(c)
        .await
        .map(drop))?;
        insert_event(tx.conn(), event).await?;
        let digests: KeyDigests = on_either!(tx.conn(), c => sqlx::query_as(
            "SELECT secret_digest, previous_digest FROM api_keys WHERE id = $1",
        )
        .bind(key_id)
        .fetch_one(c)
        .await)?;
        let forget: Vec<&str> = digests.iter().collect();
        announce_key_change(tx.conn(), &forget).await?;
        tx.commit().await?;
        Ok(Ok(Some(remaining + delta)))
    }
}

impl Db {
    /// What verify answered this key's `request_id` since `since`, as
    /// stored.
    pub async fn verify_answer(
        &self,
        key_id: &KeyId,
        request_id: &str,
        since: UnixMs,
    ) -> Result<Option<String>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_scalar(
            "SELECT answer FROM verify_requests
             WHERE key_id = $1 AND request_id = $2 AND created_at >= $3",
        )
        .bind(key_id)
        .bind(request_id)
        .bind(since)
        .fetch_optional(pool)
        .await)
    }

    /// Keeps what verify answered a `request_id`, unless an answer to it
    /// (from another server, at the same moment) was kept first: `false`
    /// then. An answer older than `expired_before` gives way.
    pub async fn keep_verify_answer(
        &self,
        key_id: &KeyId,
        request_id: &str,
        answer: &str,
        now: UnixMs,
        expired_before: UnixMs,
    ) -> Result<bool, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "INSERT INTO verify_requests (key_id, request_id, answer, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (key_id, request_id) DO UPDATE SET
               answer = excluded.answer, created_at = excluded.created_at
             WHERE verify_requests.created_at < $5",
        )
        .bind(key_id)
        .bind(request_id)
        .bind(answer)
        .bind(now)
        .bind(expired_before)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
    }

    /// Forgets answers kept before `before`.
    pub async fn sweep_verify_answers(&self, before: UnixMs) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM verify_requests WHERE created_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }
}
