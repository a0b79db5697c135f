//! API keys and their usage, one body for both databases.

use super::{
    audit::insert_event,
    contains_pattern,
    either::{announce_key_change, lock_key_row, on_either, Conn, WriteTx},
    DayUsage, Db, KeyCounts, KeyCredential, KeyDigests, KeyEdit, KeyListing, KeyRecord, KeyUse,
    KeyUseTotal, NewAuditEvent, NewKey, NewSecret, StatusFilter, StoredCredits,
};
use crate::shared::{
    clock::{Day, UnixMs},
    ids::{AccountId, KeyId},
};
use sqlx::{Database, QueryBuilder};

const KEY_COLUMNS: &str =
    "k.id, k.key_type, k.name, k.key_prefix, k.last_four, k.previous_expires_at,
    k.scopes, k.ip_allowlist, k.external_id, k.meta, k.ratelimits,
    k.credits_remaining + CAST(COALESCE((SELECT SUM(l.amount) FROM credit_leases l
        WHERE l.key_id = k.id AND l.period = k.credits_period), 0) AS BIGINT) AS credits_remaining,
    k.credits_refill, k.credits_refill_at, k.credits_lost, k.created_at, k.created_by,
    c.email AS created_by_email, ck.name AS created_by_name,
    k.updated_at, k.updated_by, u.email AS updated_by_email, uk.name AS updated_by_name,
    k.expires_at, k.revoked_at,
    k.revoked_by, r.email AS revoked_by_email, rk.name AS revoked_by_name,
    k.last_used_at, k.last_used_ip, k.secret_digest, k.previous_digest";

/// Who created, last changed and revoked each key `k`: a person's email
/// only while they are still a member of the key's account; a management
/// key's name while it exists.
const KEY_PEOPLE: &str =
    "LEFT JOIN memberships cm ON cm.account_id = k.account_id AND cm.user_id = k.created_by
    LEFT JOIN users c ON c.id = cm.user_id
    LEFT JOIN memberships um ON um.account_id = k.account_id AND um.user_id = k.updated_by
    LEFT JOIN users u ON u.id = um.user_id
    LEFT JOIN memberships rm ON rm.account_id = k.account_id AND rm.user_id = k.revoked_by
    LEFT JOIN users r ON r.id = rm.user_id
    LEFT JOIN api_keys ck ON ck.id = k.created_by AND ck.account_id = k.account_id
    LEFT JOIN api_keys uk ON uk.id = k.updated_by AND uk.account_id = k.account_id
    LEFT JOIN api_keys rk ON rk.id = k.revoked_by AND rk.account_id = k.account_id";

const KEY_BY_DIGEST: &str =
    "SELECT k.id, k.key_type, k.account_id, k.name, k.scopes, k.ip_allowlist, k.external_id,
        k.meta, k.expires_at, k.revoked_at,
        (k.previous_digest IS NOT NULL AND k.previous_digest = $1) AS is_previous,
        k.previous_expires_at, k.ratelimits, a.ratelimits AS account_ratelimits,
        k.credits_remaining IS NOT NULL AS has_credits
    FROM api_keys k JOIN accounts a ON a.id = k.account_id
    WHERE k.secret_digest = $1 OR k.previous_digest = $1";

impl Db {
    pub async fn insert_key(
        &self,
        key: &NewKey<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        on_either!(tx.conn(), c => sqlx::query(
            "INSERT INTO api_keys
               (id, account_id, name, secret_digest, key_prefix, last_four, scopes, ip_allowlist,
                created_at, created_by, updated_at, updated_by, expires_at, external_id, meta,
                key_type, ratelimits, credits_remaining, credits_refill, credits_refill_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $10, $11, $12, $13, $14, $15,
                     $16, $17, $18)",
        )
        .bind(key.id)
        .bind(key.account_id)
        .bind(key.name)
        .bind(key.digest)
        .bind(key.key_prefix)
        .bind(key.last_four)
        .bind(key.scopes)
        .bind(key.ip_allowlist)
        .bind(key.now)
        .bind(key.created_by)
        .bind(key.expires_at)
        .bind(key.external_id)
        .bind(key.meta)
        .bind(key.key_type)
        .bind(key.ratelimits)
        .bind(key.credits.map(|credits| credits.remaining))
        .bind(key.credits.and_then(|credits| credits.refill))
        .bind(key.credits.and_then(|credits| credits.refill_at))
        .execute(c)
        .await
        .map(drop))?;
        insert_event(tx.conn(), event).await?;
        tx.commit().await
    }

    /// The account's key with this id.
    pub async fn key(
        &self,
        account_id: &AccountId,
        id: &KeyId,
    ) -> Result<Option<KeyRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k {KEY_PEOPLE}
             WHERE k.account_id = $1 AND k.id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(pool)
        .await)
    }

    /// Newest first; fetches `limit` rows.
    pub async fn keys(&self, listing: &KeyListing<'_>) -> Result<Vec<KeyRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => listing_query("SELECT", listing)
            .build_query_as()
            .fetch_all(pool)
            .await)
    }

    /// Applies `edit` to an account's key; `None` when there is no such key,
    /// or it was revoked (a revoke that won the row lock first). Each change
    /// answers the digests the key had, for the cache to forget.
    pub async fn update_key(
        &self,
        account_id: &AccountId,
        id: &KeyId,
        edit: &KeyEdit<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let mut tx = self.write().await?;
        let Some(digests) = digests_of_locked(tx.conn(), account_id, id).await? else {
            return Ok(None);
        };
        let changed = on_either!(tx.conn(), c => sqlx::query(
            "UPDATE api_keys SET name = $1, scopes = $2, ip_allowlist = $3,
                updated_at = $4, updated_by = $5, external_id = $8, meta = $9, ratelimits = $10
             WHERE account_id = $6 AND id = $7 AND revoked_at IS NULL",
        )
        .bind(edit.name)
        .bind(edit.scopes)
        .bind(edit.ip_allowlist)
        .bind(event.occurred_at)
        .bind(&event.actor_id)
        .bind(account_id)
        .bind(id)
        .bind(edit.external_id)
        .bind(edit.meta)
        .bind(edit.ratelimits)
        .execute(c)
        .await?
        .rows_affected());
        if let (1, Some(credits)) = (changed, edit.credits) {
            set_credits(tx.conn(), id, credits).await?;
        }
        finish_key_change(tx, changed, event, digests, None).await
    }

    /// Gives an account's usable key a new secret. The replaced one is kept
    /// (as a digest) until `previous_expires_at`, or dropped at once.
    /// `None` when there is no such key that is neither revoked nor expired.
    pub async fn rotate_key(
        &self,
        account_id: &AccountId,
        id: &KeyId,
        secret: &NewSecret<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let mut tx = self.write().await?;
        let Some(digests) = digests_of_locked(tx.conn(), account_id, id).await? else {
            return Ok(None);
        };
        let changed = on_either!(tx.conn(), c => sqlx::query(
            "UPDATE api_keys SET
                previous_digest = CASE WHEN $1 IS NULL THEN NULL ELSE secret_digest END,
                previous_expires_at = $1,
                secret_digest = $2, key_prefix = $3, last_four = $4,
                updated_at = $5, updated_by = $6
             WHERE account_id = $7 AND id = $8 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $5)",
        )
        .bind(secret.previous_expires_at)
        .bind(secret.digest)
        .bind(secret.key_prefix)
        .bind(secret.last_four)
        .bind(event.occurred_at)
        .bind(&event.actor_id)
        .bind(account_id)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
        finish_key_change(tx, changed, event, digests, Some(secret.digest)).await
    }

    /// Revokes an account's key, and with it any secret in a grace period.
    /// `None` when there is no such key or it was revoked already (then
    /// nothing changes and no event is written).
    pub async fn revoke_key(
        &self,
        account_id: &AccountId,
        id: &KeyId,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let mut tx = self.write().await?;
        let Some(digests) = digests_of_locked(tx.conn(), account_id, id).await? else {
            return Ok(None);
        };
        let changed = on_either!(tx.conn(), c => sqlx::query(
            "UPDATE api_keys SET revoked_at = $1, revoked_by = $2, updated_at = $1, updated_by = $2
             WHERE account_id = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(event.occurred_at)
        .bind(&event.actor_id)
        .bind(account_id)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
        finish_key_change(tx, changed, event, digests, None).await
    }

    /// Deletes an account's key; its audit events stay. `None` when there
    /// is no such key.
    pub async fn delete_key(
        &self,
        account_id: &AccountId,
        id: &KeyId,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let mut tx = self.write().await?;
        let Some(digests) = digests_of_locked(tx.conn(), account_id, id).await? else {
            return Ok(None);
        };
        let changed = on_either!(tx.conn(), c => sqlx::query(
            "DELETE FROM api_keys WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
        finish_key_change(tx, changed, event, digests, None).await
    }

    /// The key whose current or replaced secret has this digest.
    pub async fn key_by_digest(&self, digest: &str) -> Result<Option<KeyCredential>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(KEY_BY_DIGEST)
            .bind(digest)
            .fetch_optional(pool)
            .await)
    }

    /// Records the use of several keys in one transaction: the latest use
    /// (an older one never overwrites a newer one, whichever replica wrote
    /// it) and the requests per day, added to what other processes counted.
    /// Keys are written in id order, so two replicas' batches cannot
    /// deadlock; keys deleted since they were used are skipped.
    pub async fn record_key_uses(&self, uses: &[KeyUse<'_>]) -> Result<(), sqlx::Error> {
        let mut ordered: Vec<&KeyUse<'_>> = uses.iter().collect();
        ordered.sort_unstable_by_key(|key_use| key_use.key_id);
        let mut tx = self.write().await?;
        for key_use in ordered {
            if let Some((at, ip)) = &key_use.last_used {
                on_either!(tx.conn(), c => sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1, last_used_ip = $2
                     WHERE id = $3 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(at)
                .bind(ip.as_deref())
                .bind(key_use.key_id)
                .execute(c)
                .await
                .map(drop))?;
            }
            for day in key_use.days {
                on_either!(tx.conn(), c => sqlx::query(
                    "INSERT INTO key_usage_daily (key_id, account_id, day, requests, revoked,
                       expired, insufficient_scope, ip_not_allowed, rate_limited, usage_exceeded,
                       credits_spent)
                     SELECT id, account_id, $2, $3, $4, $5, $6, $7, $8, $9, $10
                     FROM api_keys WHERE id = $1
                     ON CONFLICT (key_id, day) DO UPDATE SET
                       requests = key_usage_daily.requests + excluded.requests,
                       revoked = key_usage_daily.revoked + excluded.revoked,
                       expired = key_usage_daily.expired + excluded.expired,
                       insufficient_scope =
                         key_usage_daily.insufficient_scope + excluded.insufficient_scope,
                       ip_not_allowed = key_usage_daily.ip_not_allowed + excluded.ip_not_allowed,
                       rate_limited = key_usage_daily.rate_limited + excluded.rate_limited,
                       usage_exceeded = key_usage_daily.usage_exceeded + excluded.usage_exceeded,
                       credits_spent = key_usage_daily.credits_spent + excluded.credits_spent",
                )
                .bind(key_use.key_id)
                .bind(day.day)
                .bind(day.valid)
                .bind(day.revoked)
                .bind(day.expired)
                .bind(day.insufficient_scope)
                .bind(day.ip_not_allowed)
                .bind(day.rate_limited)
                .bind(day.usage_exceeded)
                .bind(day.credits_spent)
                .execute(c)
                .await
                .map(drop))?;
            }
        }
        tx.commit().await
    }

    /// The days from `first_day` to `last_day` on which the key was
    /// verified, oldest first.
    pub async fn key_usage(
        &self,
        account_id: &AccountId,
        key_id: &KeyId,
        first_day: Day,
        last_day: Day,
    ) -> Result<Vec<DayUsage>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT day, requests AS valid, revoked, expired, insufficient_scope, ip_not_allowed,
               rate_limited, usage_exceeded, credits_spent
             FROM key_usage_daily
             WHERE account_id = $1 AND key_id = $2 AND day BETWEEN $3 AND $4
             ORDER BY day",
        )
        .bind(account_id)
        .bind(key_id)
        .bind(first_day)
        .bind(last_day)
        .fetch_all(pool)
        .await)
    }

    /// The account's verifications per day (keys since deleted aside),
    /// days without any left out, oldest first.
    pub async fn account_usage(
        &self,
        account_id: &AccountId,
        first_day: Day,
        last_day: Day,
    ) -> Result<Vec<DayUsage>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT day, CAST(SUM(requests) AS BIGINT) AS valid,
               CAST(SUM(revoked) AS BIGINT) AS revoked, CAST(SUM(expired) AS BIGINT) AS expired,
               CAST(SUM(insufficient_scope) AS BIGINT) AS insufficient_scope,
               CAST(SUM(ip_not_allowed) AS BIGINT) AS ip_not_allowed,
               CAST(SUM(rate_limited) AS BIGINT) AS rate_limited,
               CAST(SUM(usage_exceeded) AS BIGINT) AS usage_exceeded,
               CAST(SUM(credits_spent) AS BIGINT) AS credits_spent
             FROM key_usage_daily
             WHERE account_id = $1 AND day BETWEEN $2 AND $3
             GROUP BY day ORDER BY day",
        )
        .bind(account_id)
        .bind(first_day)
        .bind(last_day)
        .fetch_all(pool)
        .await)
    }

    /// The keys with the most valid verifications over the span.
    pub async fn most_used_keys(
        &self,
        account_id: &AccountId,
        first_day: Day,
        last_day: Day,
        limit: i64,
    ) -> Result<Vec<KeyUseTotal>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT k.id AS key_id, k.name, CAST(SUM(u.requests) AS BIGINT) AS valid,
               CAST(SUM(u.revoked + u.expired + u.insufficient_scope + u.ip_not_allowed
                        + u.rate_limited + u.usage_exceeded) AS BIGINT) AS refused
             FROM key_usage_daily u JOIN api_keys k ON k.id = u.key_id
             WHERE u.account_id = $1 AND u.day BETWEEN $2 AND $3
             GROUP BY k.id, k.name HAVING SUM(u.requests) > 0
             ORDER BY valid DESC, k.id LIMIT $4",
        )
        .bind(account_id)
        .bind(first_day)
        .bind(last_day)
        .bind(limit)
        .fetch_all(pool)
        .await)
    }

    /// Unrevoked keys not yet expired that have an expiry, soonest first.
    pub async fn keys_expiring_first(
        &self,
        account_id: &AccountId,
        now: UnixMs,
        limit: i64,
    ) -> Result<Vec<KeyRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k {KEY_PEOPLE}
             WHERE k.account_id = $1 AND k.revoked_at IS NULL AND k.expires_at > $2
             ORDER BY k.expires_at, k.id LIMIT $3"
        ))
        .bind(account_id)
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await)
    }

    pub async fn key_counts(
        &self,
        account_id: &AccountId,
        now: UnixMs,
        expiring_before: UnixMs,
        used_since: UnixMs,
        today: Day,
    ) -> Result<KeyCounts, sqlx::Error> {
        let (active, expiring_soon, used_last_day, requests_today) = on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT
               CAST(COALESCE(SUM(CASE WHEN revoked_at IS NULL
                                      AND (expires_at IS NULL OR expires_at > $2)
                                 THEN 1 ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN revoked_at IS NULL AND expires_at > $2
                                      AND expires_at <= $3
                                 THEN 1 ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN last_used_at >= $4 THEN 1 ELSE 0 END), 0) AS BIGINT),
               (SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM key_usage_daily
                WHERE account_id = $1 AND day = $5)
             FROM api_keys WHERE account_id = $1",
        )
        .bind(account_id)
        .bind(now)
        .bind(expiring_before)
        .bind(used_since)
        .bind(today)
        .fetch_one(pool)
        .await?);
        Ok(KeyCounts {
            active,
            expiring_soon,
            used_last_day,
            requests_today,
        })
    }
}

/// The key's digests before a change, its row locked for the change
/// ([`lock_key_row`]); `None` when the account has no such key.
/// Gives a key new credits (or none): a new period begins, so the leases
/// servers held of the old credits end (they drop them at their next
/// report or lease).
async fn set_credits(
    mut conn: Conn<'_>,
    id: &KeyId,
    credits: Option<StoredCredits<'_>>,
) -> Result<(), sqlx::Error> {
    on_either!(conn.again(), c => sqlx::query(
        "UPDATE api_keys SET credits_remaining = $2, credits_refill = $3, credits_refill_at = $4,
            credits_period = credits_period + 1
         WHERE id = $1",
    )
    .bind(id)
    .bind(credits.map(|credits| credits.remaining))
    .bind(credits.and_then(|credits| credits.refill))
    .bind(credits.and_then(|credits| credits.refill_at))
    .execute(c)
    .await
    .map(drop))?;
    on_either!(conn, c => sqlx::query("DELETE FROM credit_leases WHERE key_id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(drop))
}

async fn digests_of_locked(
    mut conn: Conn<'_>,
    account_id: &AccountId,
    id: &KeyId,
) -> Result<Option<KeyDigests>, sqlx::Error> {
    lock_key_row(conn.again(), account_id, id).await?;
    on_either!(conn, c => sqlx::query_as(
        "SELECT secret_digest, previous_digest FROM api_keys WHERE account_id = $1 AND id = $2",
    )
    .bind(account_id)
    .bind(id)
    .fetch_optional(c)
    .await)
}

/// When the change touched the key, records `event` and announces the
/// change to the other processes (the key's digests, and a rotation's
/// `new_digest`) in the same transaction; the key's digests from before the
/// change, or `None` (and nothing written) when nothing changed.
async fn finish_key_change(
    mut tx: WriteTx,
    changed: u64,
    event: &NewAuditEvent<'_>,
    digests: KeyDigests,
    new_digest: Option<&str>,
) -> Result<Option<KeyDigests>, sqlx::Error> {
    if changed == 0 {
        return Ok(None);
    }
    insert_event(tx.conn(), event).await?;
    let forget: Vec<&str> = digests.iter().chain(new_digest).collect();
    announce_key_change(tx.conn(), &forget).await?;
    tx.commit().await?;
    Ok(Some(digests))
}

/// Listing's query, after `head` (`SELECT`, or `EXPLAIN QUERY PLAN SELECT`
/// in the test that checks it uses the index): one page of an account's
/// keys, newest first, by id. The page is chosen from `api_keys` alone and
/// only its rows are joined: with statistics that have not caught up with an
/// account grown by thousands of keys, PostgreSQL's planner would join them
/// all first (21 ms for 10,000 keys, 8 ms this way, 1 ms either way once
/// analysed).
fn listing_query<'a, DB: Database>(head: &str, listing: &KeyListing<'a>) -> QueryBuilder<'a, DB>
where
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new(format!(
        "{head} {KEY_COLUMNS} FROM (SELECT * FROM api_keys k"
    ));
    query
        .push(" WHERE k.account_id = ")
        .push_bind(listing.account_id);
    match listing.status {
        None => {}
        Some(StatusFilter::Revoked) => {
            query.push(" AND k.revoked_at IS NOT NULL");
        }
        Some(StatusFilter::Expired) => {
            query
                .push(" AND k.revoked_at IS NULL AND k.expires_at <= ")
                .push_bind(listing.now);
        }
        Some(StatusFilter::Active) => {
            query
                .push(" AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ")
                .push_bind(listing.now)
                .push(")");
        }
    }
    if let Some(key_type) = listing.key_type {
        query
            .push(" AND k.key_type = ")
            .push_bind(key_type.as_str());
    }
    if let Some(external_id) = listing.external_id {
        query.push(" AND k.external_id = ").push_bind(external_id);
    }
    if let Some(text) = listing.text_contains {
        let pattern = contains_pattern(text);
        query
            .push(" AND (LOWER(k.name) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR LOWER(k.external_id) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(before_id) = listing.before_id {
        query.push(" AND k.id < ").push_bind(before_id);
    }
    query
        .push(" ORDER BY k.id DESC LIMIT ")
        .push_bind(listing.limit)
        .push(format!(") k {KEY_PEOPLE} ORDER BY k.id DESC"));
    query
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::either::Either;
    use sqlx::{Sqlite, SqlitePool};

    async fn plan(pool: &SqlitePool, mut query: QueryBuilder<'_, Sqlite>) -> String {
        let rows: Vec<(i64, i64, i64, String)> =
            query.build_query_as().fetch_all(pool).await.unwrap();
        rows.into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[tokio::test]
    async fn listing_and_verification_use_indexes_not_scans() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/k.db", dir.path().display()))
            .await
            .unwrap();
        let Either::Sqlite(pool) = db.pool() else {
            unreachable!("a SQLite URL opens SQLite")
        };
        let account: AccountId = "acc_1".parse().unwrap();
        let first_page = KeyListing {
            account_id: &account,
            status: None,
            text_contains: None,
            external_id: None,
            key_type: None,
            before_id: None,
            limit: 26,
            now: UnixMs::from_millis(0),
        };
        let deep_page = KeyListing {
            before_id: Some("key_0190"),
            status: Some(StatusFilter::Active),
            ..first_page
        };
        for listing in [first_page, deep_page] {
            let plan = plan(pool, listing_query("EXPLAIN QUERY PLAN SELECT", &listing)).await;
            // The page is read through the index, in its order; only its
            // rows are then scanned, joined and put in order.
            let (page, rest) = plan.split_once("; SCAN k;").expect(&plan);
            assert!(
                page.starts_with(
                    "CO-ROUTINE k; SEARCH k USING INDEX api_keys_account_id (account_id=?"
                ),
                "{plan}"
            );
            assert!(!page.contains("TEMP B-TREE"), "sorted by the index: {plan}");
            assert!(!rest.contains("SCAN"), "{plan}");
        }
        // A platform's customer: the keys of one external id, through its
        // own index, in page order.
        let owned_by = KeyListing {
            external_id: Some("cust_42"),
            ..first_page
        };
        let owned_plan = plan(pool, listing_query("EXPLAIN QUERY PLAN SELECT", &owned_by)).await;
        let (page, _) = owned_plan.split_once("; SCAN k;").expect(&owned_plan);
        assert_eq!(
            page,
            "CO-ROUTINE k; SEARCH k USING INDEX api_keys_external_id (account_id=? AND external_id=?)",
            "read through its index, in its order: {owned_plan}"
        );
        let by_digest = QueryBuilder::new(format!("EXPLAIN QUERY PLAN {KEY_BY_DIGEST}"));
        let plan = plan(pool, by_digest).await;
        assert!(!plan.contains("SCAN"), "{plan}");
        assert!(plan.contains("sqlite_autoindex_api_keys"), "{plan}");
    }
}
