use super::PostgresStore;
use crate::storage::{Claim, IdempotencyClaim, IdempotencyRecord};

impl PostgresStore {
    /// Claims an Idempotency-Key for a request, after forgetting the
    /// holder's expired record of it; refused when the holder (a member of
    /// the account) already holds `max_live` unexpired keys. The holder's
    /// advisory lock makes the count and the claim one step on every
    /// replica, so concurrent claims cannot pass the cap.
    pub async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim<'_>,
    ) -> Result<Claim, sqlx::Error> {
        let mut tx = self.write().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 11))")
            .bind(claim.account_id)
            .bind(claim.holder)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM idempotency_records
             WHERE account_id = $1 AND key_digest = $2
               AND created_at < to_timestamp($3::float8 / 1000)",
        )
        .bind(claim.account_id)
        .bind(claim.key_digest)
        .bind(claim.expired_before)
        .execute(&mut *tx)
        .await?;
        let (live, taken): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE key_digest = $2)
             FROM idempotency_records
             WHERE account_id = $1 AND holder = $4
               AND created_at >= to_timestamp($3::float8 / 1000)",
        )
        .bind(claim.account_id)
        .bind(claim.key_digest)
        .bind(claim.expired_before)
        .bind(claim.holder)
        .fetch_one(&mut *tx)
        .await?;
        if taken > 0 {
            return Ok(Claim::Taken);
        }
        if live >= claim.max_live {
            return Ok(Claim::Full);
        }
        let claimed = sqlx::query(
            "INSERT INTO idempotency_records (account_id, key_digest, request_hash, created_at, holder)
             VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000), $5)
             ON CONFLICT (account_id, key_digest) DO NOTHING",
        )
        .bind(claim.account_id)
        .bind(claim.key_digest)
        .bind(claim.request_hash)
        .bind(claim.now_ms)
        .bind(claim.holder)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(if claimed {
            Claim::Claimed
        } else {
            Claim::Taken
        })
    }

    /// Deletes a claim its request abandoned (the process died): only the
    /// very claim that was seen (the same `created_at`), still unanswered,
    /// so two retries cannot both take it over. Whether this call deleted it.
    pub async fn reclaim_stale_idempotency_key(
        &self,
        account_id: &str,
        key_digest: &str,
        created_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let deleted = sqlx::query(
            "DELETE FROM idempotency_records
             WHERE account_id = $1 AND key_digest = $2 AND status IS NULL
               AND (EXTRACT(EPOCH FROM created_at) * 1000)::int8 = $3",
        )
        .bind(account_id)
        .bind(key_digest)
        .bind(created_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted == 1)
    }

    /// Forgets every answer older than `expired_before`; how many.
    pub async fn sweep_idempotency_records(&self, expired_before: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM idempotency_records WHERE created_at < to_timestamp($1::float8 / 1000)",
        )
        .bind(expired_before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn idempotency_record(
        &self,
        account_id: &str,
        key_digest: &str,
    ) -> Result<Option<IdempotencyRecord>, sqlx::Error> {
        sqlx::query_as(
            "SELECT request_hash, (EXTRACT(EPOCH FROM created_at) * 1000)::int8 AS created_at,
                    status, sealed_body
             FROM idempotency_records WHERE account_id = $1 AND key_digest = $2",
        )
        .bind(account_id)
        .bind(key_digest)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn complete_idempotency_key(
        &self,
        account_id: &str,
        key_digest: &str,
        status: u16,
        sealed_body: &[u8],
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE idempotency_records SET status = $1, sealed_body = $2
             WHERE account_id = $3 AND key_digest = $4",
        )
        .bind(i64::from(status))
        .bind(sealed_body)
        .bind(account_id)
        .bind(key_digest)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Lets a key be used again (after a failure that was not the client's).
    pub async fn release_idempotency_key(
        &self,
        account_id: &str,
        key_digest: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM idempotency_records WHERE account_id = $1 AND key_digest = $2")
            .bind(account_id)
            .bind(key_digest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
