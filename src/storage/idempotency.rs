//! Idempotent answers, one body for both databases.

use super::{
    either::{lock_idempotency_holder, on_either},
    Claim, Db, IdempotencyClaim, IdempotencyRecord,
};
use crate::shared::{clock::UnixMs, ids::AccountId};

impl Db {
    /// Claims an Idempotency-Key for a request, after forgetting records
    /// older than `expired_before`; refused when the holder already holds
    /// `max_live` unexpired keys (counted in the same transaction, behind
    /// the holder's lock on every replica, so concurrent claims cannot pass
    /// the cap).
    pub async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
    ) -> Result<Claim, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_idempotency_holder(tx.conn(), claim.account_id, claim.holder).await?;
        on_either!(tx.conn(), c => sqlx::query(
            "DELETE FROM idempotency_records
             WHERE account_id = $1 AND key_digest = $2 AND created_at < $3",
        )
        .bind(claim.account_id)
        .bind(claim.key_digest)
        .bind(claim.expired_before)
        .execute(c)
        .await
        .map(drop))?;
        let (live, taken): (i64, i64) = on_either!(tx.conn(), c => sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN key_digest = $2 THEN 1 ELSE 0 END), 0) FROM idempotency_records
             WHERE account_id = $1 AND holder = $4 AND created_at >= $3",
        )
        .bind(claim.account_id)
        .bind(claim.key_digest)
        .bind(claim.expired_before)
        .bind(claim.holder)
        .fetch_one(c)
        .await?);
        if taken > 0 {
            return Ok(Claim::Taken);
        }
        if live >= claim.max_live {
            return Ok(Claim::Full);
        }
        let claimed = on_either!(tx.conn(), c => sqlx::query(
            "INSERT INTO idempotency_records (account_id, key_digest, request_hash, created_at, holder)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id, key_digest) DO NOTHING",
        )
        .bind(claim.account_id)
        .bind(claim.key_digest)
        .bind(claim.request_hash)
        .bind(claim.now)
        .bind(claim.holder)
        .execute(c)
        .await?
        .rows_affected())
            == 1;
        tx.commit().await?;
        Ok(if claimed {
            Claim::Claimed
        } else {
            Claim::Taken
        })
    }

    /// Deletes a claim its request abandoned (the process died): only the
    /// very claim that was seen, still unanswered, so two retries cannot
    /// both take it over (the second would delete the first's new claim).
    /// Whether this call deleted it.
    pub async fn reclaim_stale_idempotency_key(
        &self,
        account_id: &AccountId,
        key_digest: &str,
        created_at: UnixMs,
    ) -> Result<bool, sqlx::Error> {
        let deleted = on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM idempotency_records
             WHERE account_id = $1 AND key_digest = $2 AND created_at = $3 AND status IS NULL",
        )
        .bind(account_id)
        .bind(key_digest)
        .bind(created_at)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(deleted == 1)
    }

    /// Forgets every answer older than `expired_before`; how many.
    pub async fn sweep_idempotency_records(
        &self,
        expired_before: UnixMs,
    ) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM idempotency_records WHERE created_at < $1",
        )
        .bind(expired_before)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }

    pub async fn idempotency_record(
        &self,
        account_id: &AccountId,
        key_digest: &str,
    ) -> Result<Option<IdempotencyRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT request_hash, created_at, status, sealed_body FROM idempotency_records
             WHERE account_id = $1 AND key_digest = $2",
        )
        .bind(account_id)
        .bind(key_digest)
        .fetch_optional(pool)
        .await)
    }

    pub async fn complete_idempotency_key(
        &self,
        account_id: &AccountId,
        key_digest: &str,
        status: u16,
        sealed_body: &[u8],
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE idempotency_records SET status = $1, sealed_body = $2
             WHERE account_id = $3 AND key_digest = $4",
        )
        .bind(i64::from(status))
        .bind(sealed_body)
        .bind(account_id)
        .bind(key_digest)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Lets a key be used again (after a failure that was not the client's).
    pub async fn release_idempotency_key(
        &self,
        account_id: &AccountId,
        key_digest: &str,
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM idempotency_records WHERE account_id = $1 AND key_digest = $2",
        )
        .bind(account_id)
        .bind(key_digest)
        .execute(pool)
        .await
        .map(drop))
    }
}
