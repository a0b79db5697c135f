use super::SqliteStore;
use crate::storage::{
    audit::insert_event, either::Either, DayUsage, KeyCounts, KeyCredential, KeyDigests, KeyEdit,
    KeyListing, KeyRecord, KeyUse, KeyUseTotal, NewAuditEvent, NewKey, NewSecret, StatusFilter,
};
use sqlx::{query::Query, sqlite::SqliteArguments, QueryBuilder, Sqlite};

/// A key `k` with who created, last changed and revoked it: their emails
/// only while they are still members of the key's account.
const KEY_COLUMNS: &str = "k.id, k.name, k.key_prefix, k.last_four, k.previous_expires_at,
    k.scopes, k.ip_allowlist, k.created_at, k.created_by, c.email AS created_by_email,
    k.updated_at, k.updated_by, u.email AS updated_by_email, k.expires_at, k.revoked_at,
    k.revoked_by, r.email AS revoked_by_email,
    k.last_used_at, k.last_used_ip, k.secret_digest, k.previous_digest
    FROM api_keys k
    LEFT JOIN memberships cm ON cm.account_id = k.account_id AND cm.user_id = k.created_by
    LEFT JOIN users c ON c.id = cm.user_id
    LEFT JOIN memberships um ON um.account_id = k.account_id AND um.user_id = k.updated_by
    LEFT JOIN users u ON u.id = um.user_id
    LEFT JOIN memberships rm ON rm.account_id = k.account_id AND rm.user_id = k.revoked_by
    LEFT JOIN users r ON r.id = rm.user_id";

const KEY_BY_DIGEST: &str = "SELECT id, account_id, name, scopes, ip_allowlist, expires_at,
        revoked_at, CASE WHEN previous_digest = $1 THEN 1 ELSE 0 END AS is_previous,
        previous_expires_at
    FROM api_keys WHERE secret_digest = $1 OR previous_digest = $1";

impl SqliteStore {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $10, $11)",
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
        insert_event(Either::Sqlite(&mut tx), event).await?;
        tx.commit().await
    }

    pub async fn key(&self, account_id: &str, id: &str) -> Result<Option<KeyRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} WHERE k.account_id = $1 AND k.id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Newest first; fetches `limit` rows.
    pub async fn keys(&self, listing: &KeyListing<'_>) -> Result<Vec<KeyRecord>, sqlx::Error> {
        listing_query("SELECT", listing)
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
                updated_at = $4, updated_by = $5
             WHERE account_id = $6 AND id = $7",
        )
        .bind(edit.name)
        .bind(edit.scopes)
        .bind(edit.ip_allowlist)
        .bind(event.occurred_at)
        .bind(event.actor_id)
        .bind(account_id)
        .bind(id);
        self.change_with_event(account_id, id, change, event).await
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
        .bind(event.actor_id)
        .bind(account_id)
        .bind(id);
        self.change_with_event(account_id, id, change, event).await
    }

    /// Revokes an account's key, and with it any secret in a grace period.
    /// `None` when there is no such key or it was revoked already (then
    /// nothing changes and no event is written).
    pub async fn revoke_key(
        &self,
        account_id: &str,
        id: &str,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let change = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1, revoked_by = $2, updated_at = $1, updated_by = $2
             WHERE account_id = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(event.occurred_at)
        .bind(event.actor_id)
        .bind(account_id)
        .bind(id);
        self.change_with_event(account_id, id, change, event).await
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
        self.change_with_event(account_id, id, change, event).await
    }

    /// Runs `change` on one key and, when it touched the row, records
    /// `event` in the same transaction; the key's digests from before the
    /// change, or `None` when nothing changed.
    async fn change_with_event<'q>(
        &self,
        account_id: &str,
        id: &str,
        change: Query<'q, Sqlite, SqliteArguments<'q>>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<KeyDigests>, sqlx::Error> {
        let mut tx = self.write().await?;
        let digests: Option<KeyDigests> = sqlx::query_as(
            "SELECT secret_digest, previous_digest FROM api_keys WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if digests.is_none() || change.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(None);
        }
        insert_event(Either::Sqlite(&mut tx), event).await?;
        tx.commit().await?;
        Ok(digests)
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
    /// (an older one never overwrites a newer one) and the requests per day.
    /// Keys deleted since they were used are skipped.
    pub async fn record_key_uses(&self, uses: &[KeyUse<'_>]) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        for key_use in uses {
            if let Some((at_ms, ip)) = &key_use.last_used {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1, last_used_ip = $2
                     WHERE id = $3 AND (last_used_at IS NULL OR last_used_at < $1)",
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
                     SELECT id, account_id, $2, $3, $4, $5, $6, $7 FROM api_keys WHERE id = $1
                     ON CONFLICT (key_id, day) DO UPDATE SET
                       requests = requests + excluded.requests,
                       revoked = revoked + excluded.revoked,
                       expired = expired + excluded.expired,
                       insufficient_scope = insufficient_scope + excluded.insufficient_scope,
                       ip_not_allowed = ip_not_allowed + excluded.ip_not_allowed",
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
            "SELECT day, requests AS valid, revoked, expired, insufficient_scope, ip_not_allowed
             FROM key_usage_daily
             WHERE account_id = $1 AND key_id = $2 AND day BETWEEN $3 AND $4
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
            "SELECT day, SUM(requests) AS valid, SUM(revoked) AS revoked, SUM(expired) AS expired,
               SUM(insufficient_scope) AS insufficient_scope, SUM(ip_not_allowed) AS ip_not_allowed
             FROM key_usage_daily
             WHERE account_id = $1 AND day BETWEEN $2 AND $3
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
            "SELECT k.id AS key_id, k.name, SUM(u.requests) AS valid,
               SUM(u.revoked + u.expired + u.insufficient_scope + u.ip_not_allowed) AS refused
             FROM key_usage_daily u JOIN api_keys k ON k.id = u.key_id
             WHERE u.account_id = $1 AND u.day BETWEEN $2 AND $3
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
            "SELECT {KEY_COLUMNS} WHERE k.account_id = $1 AND k.revoked_at IS NULL
               AND k.expires_at > $2 ORDER BY k.expires_at, k.id LIMIT $3"
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
            "SELECT
               COALESCE(SUM(CASE WHEN revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
                            THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN revoked_at IS NULL AND expires_at > $2 AND expires_at <= $3
                            THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN last_used_at >= $4 THEN 1 ELSE 0 END), 0),
               (SELECT COALESCE(SUM(requests), 0) FROM key_usage_daily
                WHERE account_id = $1 AND day = $5)
             FROM api_keys WHERE account_id = $1",
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

/// Listing's query, after `head` (`SELECT`, or `EXPLAIN QUERY PLAN SELECT`
/// in the test that checks it uses the index).
fn listing_query<'a>(head: &str, listing: &KeyListing<'a>) -> QueryBuilder<'a, Sqlite> {
    let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(format!("{head} {KEY_COLUMNS}"));
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
                .push_bind(listing.now_ms);
        }
        Some(StatusFilter::Active) => {
            query
                .push(" AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ")
                .push_bind(listing.now_ms)
                .push(")");
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
        .push_bind(listing.limit);
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn plan(db: &SqliteStore, mut query: QueryBuilder<'_, Sqlite>) -> String {
        let rows: Vec<(i64, i64, i64, String)> =
            query.build_query_as().fetch_all(&db.pool).await.unwrap();
        rows.into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[tokio::test]
    async fn listing_and_verification_use_indexes_not_scans() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteStore::connect(&format!("sqlite://{}/k.db", dir.path().display()))
            .await
            .unwrap();
        let first_page = KeyListing {
            account_id: "acc_1",
            status: None,
            name_contains: None,
            before_id: None,
            limit: 26,
            now_ms: 0,
        };
        let deep_page = KeyListing {
            before_id: Some("key_0190"),
            status: Some(StatusFilter::Active),
            ..first_page
        };
        for listing in [first_page, deep_page] {
            let plan = plan(&db, listing_query("EXPLAIN QUERY PLAN SELECT", &listing)).await;
            assert!(
                plan.contains("SEARCH k USING INDEX api_keys_account_id (account_id=?"),
                "{plan}"
            );
            assert!(!plan.contains("SCAN k"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "sorted by the index: {plan}");
        }
        let by_digest = QueryBuilder::new(format!("EXPLAIN QUERY PLAN {KEY_BY_DIGEST}"));
        let plan = plan(&db, by_digest).await;
        assert!(!plan.contains("SCAN"), "{plan}");
        assert!(plan.contains("sqlite_autoindex_api_keys"), "{plan}");
    }
}
