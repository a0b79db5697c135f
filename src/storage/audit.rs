//! The audit log's storage, one body for both databases.

use super::{
    either::{on_either, Conn},
    AuditEventRecord, Db, NewAuditEvent,
};
use crate::shared::{
    clock::UnixMs,
    ids::{AccountId, KeyId},
};
use sqlx::QueryBuilder;

/// Writes an event on `conn`, inside the caller's transaction when there is
/// one: a change and its event are committed together or not at all.
/// Writes several events (one per account of a user, say) in the
/// caller's transaction.
pub(super) async fn insert_events(
    mut conn: Conn<'_>,
    events: &[NewAuditEvent<'_>],
) -> Result<(), sqlx::Error> {
    for event in events {
        insert_event(conn.again(), event).await?;
    }
    Ok(())
}

pub(super) async fn insert_event(
    conn: Conn<'_>,
    event: &NewAuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    on_either!(conn, c => sqlx::query(
        "INSERT INTO audit_events
           (id, account_id, actor_id, action, key_id, key_name, occurred_at, client_ip, user_agent,
            member_email, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&event.id)
    .bind(event.account_id)
    .bind(&event.actor_id)
    .bind(event.action)
    .bind(event.key_id)
    .bind(event.key_name)
    .bind(event.occurred_at)
    .bind(event.client_ip.as_deref())
    .bind(event.user_agent)
    .bind(event.member_email)
    .bind(event.detail.as_deref())
    .execute(c)
    .await
    .map(drop))
}

impl Db {
    /// An event that is not part of another change (signing in and out).
    pub async fn record_audit_event(&self, event: &NewAuditEvent<'_>) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        insert_event(tx.conn(), event).await?;
        tx.commit().await
    }

    /// An account's events, newest first, after the event `before_id` when
    /// given, optionally only those about one key. Fetches `limit` rows.
    pub async fn audit_events(
        &self,
        account_id: &AccountId,
        key_id: Option<&KeyId>,
        key_events_only: bool,
        before_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEventRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => {
            let mut query = QueryBuilder::new(
                "SELECT e.id, e.action, u.email AS actor_email,
                        CASE WHEN SUBSTR(e.actor_id, 1, 4) = 'key_' THEN e.actor_id END
                          AS actor_key_id,
                        ak.name AS actor_key_name, e.key_id, e.key_name,
                        e.occurred_at, e.client_ip, e.user_agent, e.member_email, e.detail
                 FROM audit_events e LEFT JOIN users u ON u.id = e.actor_id
                 LEFT JOIN api_keys ak ON ak.id = e.actor_id AND ak.account_id = e.account_id
                 WHERE e.account_id = ",
            );
            query.push_bind(account_id);
            if let Some(key_id) = key_id {
                query.push(" AND e.key_id = ").push_bind(key_id);
            }
            if key_events_only {
                query.push(" AND e.action LIKE 'key.%'");
            }
            if let Some(before_id) = before_id {
                query.push(" AND e.id < ").push_bind(before_id);
            }
            query.push(" ORDER BY e.id DESC LIMIT ").push_bind(limit);
            query.build_query_as().fetch_all(pool).await
        })
    }

    /// Deletes up to `batch` of the events that occurred before `before`
    /// (unix ms); how many.
    pub async fn sweep_audit_events(&self, before: UnixMs, batch: i64) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM audit_events WHERE id IN
               (SELECT id FROM audit_events WHERE occurred_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(batch)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }
}
