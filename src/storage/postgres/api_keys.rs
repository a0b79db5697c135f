use super::{feed::announce_key_change, PostgresStore};
use crate::storage::{
    audit::insert_event, either::Either, DayUsage, KeyCounts, KeyCredential, KeyDigests, KeyEdit,
    KeyListing, KeyRecord, KeyUse, KeyUseTotal, NewAuditEvent, NewKey, NewSecret, StatusFilter,
};
use sqlx::{postgres::PgArguments, query::Query, Postgres, QueryBuilder};

const KEY_COLUMNS: &str = "k.id, k.name, k.key_prefix, k.last_four,
    (EXTRACT(EPOCH FROM k.previous_expires_at) * 1000)::int8 AS previous_expires_at,
    k.scopes, k.ip_allowlist,
    (EXTRACT(EPOCH FROM k.created_at) * 1000)::int8 AS created_at,
    k.created_by, c.email AS created_by_email,
    (EXTRACT(EPOCH FROM k.updated_at) * 1000)::int8 AS updated_at,
    k.updated_by, u.email AS updated_by_email,
    (EXTRACT(EPOCH FROM k.expires_at) * 1000)::int8 AS expires_at,
    (EXTRACT(EPOCH FROM k.revoked_at) * 1000)::int8 AS revoked_at,
    k.revoked_by, r.email AS revoked_by_email,
    (EXTRACT(EPOCH FROM k.last_used_at) * 1000)::int8 AS last_used_at,
    host(k.last_used_ip) AS last_used_ip,
    encode(k.secret_digest, 'hex') AS secret_digest,
    encode(k.previous_digest, 'hex') AS previous_digest";

/// Who created, last changed and revoked each key `k`: their emails only
/// while they are still members of the key's account.
const KEY_PEOPLE: &str =
    "LEFT JOIN memberships cm ON cm.account_id = k.account_id AND cm.user_id = k.created_by
    LEFT JOIN users c ON c.id = cm.user_id
    LEFT JOIN memberships um ON um.account_id = k.account_id AND um.user_id = k.updated_by
    LEFT JOIN users u ON u.id = um.user_id
    LEFT JOIN memberships rm ON rm.account_id = k.account_id AND rm.user_id = k.revoked_by
    LEFT JOIN users r ON r.id = rm.user_id";

const KEY_BY_DIGEST: &str = "SELECT id, account_id, name, scopes, ip_allowlist,
        (EXTRACT(EPOCH FROM expires_at) * 1000)::int8 AS expires_at,
        (EXTRACT(EPOCH FROM revoked_at) * 1000)::int8 AS revoked_at,
        previous_digest IS NOT DISTINCT FROM decode($1, 'hex') AS is_previous,
        (EXTRACT(EPOCH FROM previous_expires_at) * 1000)::int8 AS previous_expires_at
    FROM api_keys WHERE secret_digest = decode($1, 'hex') OR previous_digest = decode($1, 'hex')";

impl PostgresStore {
    pub async fn insert_key(
        &self,
        key: &NewKey<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO api_keys
               (id, account_id, name, secret_digest, key_prefix, last_four, scopes, ip_allowlist,
                created_at, created_by, updated_at, updated_by, expires_at)
             VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6, $7, $8,
                     to_timestamp($9::float8 / 1000), $10, to_timestamp($9::float8 / 1000), $10,
                     to_timestamp($11::float8 / 1000))",
        )
        .bind(key.id)
        .bind(key.account_id)
        .bind(key.name)
        .bind(key.digest)
        .bind(key.key_prefix)
        .bind(key.last_four)
        .bind(key.scopes)
        .bind(key.ip_allowlist)
        .bind(key.now_ms)
        .bind(key.created_by)
        .bind(key.expires_at)
        .execute(&mut *tx)
        .await?;
        insert_event(Either::Postgres(&mut tx), event).await?;
        tx.commit().await
    }

    pub async fn key(&self, account_id: &str, id: &str) -> Result<Option<KeyRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k {KEY_PEOPLE}
             WHERE k.account_id = $1 AND k.id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Newest first; fetches `limit` rows.
    pub async fn keys(&self, listing: &KeyListing<'_>) -> Result<Vec<KeyRecord>, sqlx::Error> {
        listing_query(listing)
            .build_query_as()
            .fetch_all(&self.pool)
            .await
    }

    /// Applies `edit` to an account's key; `None` when there is no such key.
    pub async fn update_key(
        &self,
        account_id: &str,
        id: &str,
        edit: &KeyEdit<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let change = sqlx::query(
            "UPDATE api_keys SET name = $1, scopes = $2, ip_allowlist = $3,
                updated_at = to_timestamp($4::float8 / 1000), updated_by = $5
             WHERE account_id = $6 AND id = $7",
        )
        .bind(edit.name)
        .bind(edit.scopes)
        .bind(edit.ip_allowlist)
        .bind(event.occurred_at)
        .bind(event.actor_id)
        .bind(account_id)
        .bind(id);
        self.change_with_event(account_id, id, change, event, None)
            .await
    }

    /// Gives an account's usable key a new secret. The replaced one is kept
    /// (as a digest) until `previous_expires_at`, or dropped at once.
    /// `None` when there is no such key that is neither revoked nor expired.
    pub async fn rotate_key(
        &self,
        account_id: &str,
        id: &str,
        secret: &NewSecret<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let change = sqlx::query(
            "UPDATE api_keys SET
                previous_digest = CASE WHEN $1::int8 IS NULL THEN NULL ELSE secret_digest END,
                previous_expires_at = to_timestamp($1::float8 / 1000),
                secret_digest = decode($2, 'hex'), key_prefix = $3, last_four = $4,
                updated_at = to_timestamp($5::float8 / 1000), updated_by = $6
             WHERE account_id = $7 AND id = $8 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > to_timestamp($5::float8 / 1000))",
        )
        .bind(secret.previous_expires_at)
        .bind(secret.digest)
        .bind(secret.key_prefix)
        .bind(secret.last_four)
        .bind(event.occurred_at)
        .bind(event.actor_id)
        .bind(account_id)
        .bind(id);
        self.change_with_event(account_id, id, change, event, Some(secret.digest))
            .await
    }

    /// Revokes an account's key, and with it any secret in a grace period.
    /// `None` when there is no such key or it was revoked already.
    pub async fn revoke_key(
        &self,
        account_id: &str,
        id: &str,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let change = sqlx::query(
            "UPDATE api_keys SET revoked_at = to_timestamp($1::float8 / 1000), revoked_by = $2,
                updated_at = to_timestamp($1::float8 / 1000), updated_by = $2
             WHERE account_id = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(event.occurred_at)
        .bind(event.actor_id)
        .bind(account_id)
        .bind(id);
        self.change_with_event(account_id, id, change, event, None)
            .await
    }

    /// Deletes an account's key; its audit events stay. `None` when there
    /// is no such key.
    pub async fn delete_key(
        &self,
        account_id: &str,
        id: &str,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let change = sqlx::query("DELETE FROM api_keys WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id);
        self.change_with_event(account_id, id, change, event, None)
            .await
    }

    /// Runs `change` on one key, its row locked first, and when it touched
    /// the row records `event` and announces the change to the other
    /// processes (the key's digests, and a rotation's `new_digest`) in the
    /// same transaction; the key's digests from before the change, or `None`
    /// when nothing changed.
    async fn change_with_event<'q>(
        &self,
        account_id: &str,
        id: &str,
        change: Query<'q, Postgres, PgArguments>,
        event: &NewAuditEvent<'_>,
        new_digest: Option<&str>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let mut tx = self.write().await?;
        let digests: Option<KeyDigests> = sqlx::query_as(
            "SELECT encode(secret_digest, 'hex') AS secret_digest,
                    encode(previous_digest, 'hex') AS previous_digest
             FROM api_keys WHERE account_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(account_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(digests) = digests else {
            return Ok(None);
        };
        if change.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(None);
        }
        insert_event(Either::Postgres(&mut tx), event).await?;
        let forget: Vec<&str> = digests.iter().chain(new_digest).collect();
        announce_key_change(&mut tx, &forget).await?;
        tx.commit().await?;
        Ok(Some(digests))
    }

    /// The key a secret digest belongs to, as its current secret or as the
    /// replaced secret of a rotation.
    pub async fn key_by_digest(&self, digest: &str) -> Result<Option<KeyCredential>, sqlx::Error> {
        sqlx::query_as(KEY_BY_DIGEST)
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
    }

    /// Records the use of several keys in one transaction: the latest use
    /// (an older one never overwrites a newer one, whichever replica wrote
    /// it) and the requests per day, added to what other replicas counted.
    /// Keys are written in id order, so two replicas' batches cannot
    /// deadlock; keys deleted since they were used are skipped.
    pub async fn record_key_uses(&self, uses: &[KeyUse<'_>]) -> Result<(), sqlx::Error> {
        let mut ordered: Vec<&KeyUse<'_>> = uses.iter().collect();
        ordered.sort_unstable_by_key(|key_use| key_use.key_id);
        let mut tx = self.write().await?;
        for key_use in ordered {
            if let Some((at_ms, ip)) = &key_use.last_used {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = to_timestamp($1::float8 / 1000),
                        last_used_ip = $2::inet
                     WHERE id = $3
                       AND (last_used_at IS NULL OR last_used_at < to_timestamp($1::float8 / 1000))",
                )
                .bind(at_ms)
                .bind(ip.as_deref())
                .bind(key_use.key_id)
                .execute(&mut *tx)
                .await?;
            }
            for day in key_use.days {
                sqlx::query(
                    "INSERT INTO key_usage_daily (key_id, account_id, day, requests, revoked,
                       expired, insufficient_scope, ip_not_allowed)
                     SELECT id, account_id, DATE '1970-01-01' + $2::int4, $3, $4, $5, $6, $7
                     FROM api_keys WHERE id = $1
                     ON CONFLICT (key_id, day) DO UPDATE SET
                       requests = key_usage_daily.requests + excluded.requests,
                       revoked = key_usage_daily.revoked + excluded.revoked,
                       expired = key_usage_daily.expired + excluded.expired,
                       insufficient_scope =
                         key_usage_daily.insufficient_scope + excluded.insufficient_scope,
                       ip_not_allowed = key_usage_daily.ip_not_allowed + excluded.ip_not_allowed",
                )
                .bind(key_use.key_id)
                .bind(day.day)
                .bind(day.valid)
                .bind(day.revoked)
                .bind(day.expired)
                .bind(day.insufficient_scope)
                .bind(day.ip_not_allowed)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    }

    pub async fn key_usage(
        &self,
        account_id: &str,
        key_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<DayUsage>, sqlx::Error> {
        sqlx::query_as(
            "SELECT (day - DATE '1970-01-01')::int8 AS day, requests AS valid, revoked, expired,
               insufficient_scope, ip_not_allowed
             FROM key_usage_daily
             WHERE account_id = $1 AND key_id = $2
               AND day BETWEEN DATE '1970-01-01' + $3::int4 AND DATE '1970-01-01' + $4::int4
             ORDER BY day",
        )
        .bind(account_id)
        .bind(key_id)
        .bind(first_day)
        .bind(last_day)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn account_usage(
        &self,
        account_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<DayUsage>, sqlx::Error> {
        sqlx::query_as(
            "SELECT (day - DATE '1970-01-01')::int8 AS day, SUM(requests)::int8 AS valid,
               SUM(revoked)::int8 AS revoked, SUM(expired)::int8 AS expired,
               SUM(insufficient_scope)::int8 AS insufficient_scope,
               SUM(ip_not_allowed)::int8 AS ip_not_allowed
             FROM key_usage_daily
             WHERE account_id = $1
               AND day BETWEEN DATE '1970-01-01' + $2::int4 AND DATE '1970-01-01' + $3::int4
             GROUP BY day ORDER BY day",
        )
        .bind(account_id)
        .bind(first_day)
        .bind(last_day)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn most_used_keys(
        &self,
        account_id: &str,
        first_day: i64,
        last_day: i64,
        limit: i64,
    ) -> Result<Vec<KeyUseTotal>, sqlx::Error> {
        sqlx::query_as(
            "SELECT k.id AS key_id, k.name, SUM(u.requests)::int8 AS valid,
               SUM(u.revoked + u.expired + u.insufficient_scope + u.ip_not_allowed)::int8
                 AS refused
             FROM key_usage_daily u JOIN api_keys k ON k.id = u.key_id
             WHERE u.account_id = $1
               AND u.day BETWEEN DATE '1970-01-01' + $2::int4 AND DATE '1970-01-01' + $3::int4
             GROUP BY k.id, k.name HAVING SUM(u.requests) > 0
             ORDER BY valid DESC, k.id LIMIT $4",
        )
        .bind(account_id)
        .bind(first_day)
        .bind(last_day)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn keys_expiring_first(
        &self,
        account_id: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<KeyRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k {KEY_PEOPLE}
             WHERE k.account_id = $1 AND k.revoked_at IS NULL
               AND k.expires_at > to_timestamp($2::float8 / 1000)
             ORDER BY k.expires_at, k.id LIMIT $3"
        ))
        .bind(account_id)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn key_counts(
        &self,
        account_id: &str,
        now_ms: i64,
        soon_ms: i64,
        day_ago_ms: i64,
        today: i64,
    ) -> Result<KeyCounts, sqlx::Error> {
        let (active, expiring_soon, used_last_day, requests_today) = sqlx::query_as(
            "WITH moments AS (
               SELECT to_timestamp($2::float8 / 1000) AS now,
                      to_timestamp($3::float8 / 1000) AS soon,
                      to_timestamp($4::float8 / 1000) AS day_ago)
             SELECT
               COUNT(k.id) FILTER (WHERE k.revoked_at IS NULL
                                  AND (k.expires_at IS NULL OR k.expires_at > moments.now)),
               COUNT(k.id) FILTER (WHERE k.revoked_at IS NULL
                                  AND k.expires_at > moments.now AND k.expires_at <= moments.soon),
               COUNT(k.id) FILTER (WHERE k.last_used_at >= moments.day_ago),
               (SELECT COALESCE(SUM(requests), 0)::int8 FROM key_usage_daily
                WHERE account_id = $1 AND day = DATE '1970-01-01' + $5::int4)
             FROM moments LEFT JOIN api_keys k ON k.account_id = $1
             GROUP BY moments.now",
        )
        .bind(account_id)
        .bind(now_ms)
        .bind(soon_ms)
        .bind(day_ago_ms)
        .bind(today)
        .fetch_one(&self.pool)
        .await?;
        Ok(KeyCounts {
            active,
            expiring_soon,
            used_last_day,
            requests_today,
        })
    }
}

/// Listing's query: one page of an account's keys, newest first, by id.
/// The page is chosen from `api_keys` alone and only its rows are joined
/// and formatted: with statistics that have not caught up with an account
/// grown by thousands of keys, the planner would join and format them all
/// first (21 ms for 10,000 keys, 8 ms this way, 1 ms either way once
/// analysed).
fn listing_query<'a>(listing: &KeyListing<'a>) -> QueryBuilder<'a, Postgres> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {KEY_COLUMNS} FROM (SELECT * FROM api_keys k"
    ));
    query
        .push(" WHERE k.account_id = ")
        .push_bind(listing.account_id);
    let now = |query: &mut QueryBuilder<'a, Postgres>| {
        query
            .push("to_timestamp(")
            .push_bind(listing.now_ms)
            .push("::float8 / 1000)");
    };
    match listing.status {
        None => {}
        Some(StatusFilter::Revoked) => {
            query.push(" AND k.revoked_at IS NOT NULL");
        }
        Some(StatusFilter::Expired) => {
            query.push(" AND k.revoked_at IS NULL AND k.expires_at <= ");
            now(&mut query);
        }
        Some(StatusFilter::Active) => {
            query.push(" AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ");
            now(&mut query);
            query.push(")");
        }
    }
    if let Some(text) = listing.name_contains {
        query
            .push(" AND LOWER(k.name) LIKE ")
            .push_bind(super::super::contains_pattern(text))
            .push(" ESCAPE '\\'");
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
