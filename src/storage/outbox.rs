//! The mail outbox, one body for both databases: messages written with the
//! change that causes them, claimed by one sender at a time, and kept
//! without their fields once finished.

use super::{
    either::{on_either, skip_locked, Conn},
    Db,
};
use crate::shared::clock::UnixMs;
use std::time::Duration;

/// A message for the outbox, its fields sealed by the mail service.
pub struct NewMail {
    pub id: String,
    pub kind: &'static str,
    pub recipient: String,
    pub sealed_body: String,
    pub created_at: UnixMs,
    pub give_up_at: UnixMs,
}

/// A message a sender claimed.
#[derive(Debug, sqlx::FromRow)]
pub struct ClaimedMail {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub sealed_body: Option<String>,
    /// This one included.
    pub attempts: i64,
    pub give_up_at: UnixMs,
}

/// Writes a message in the caller's transaction, due now.
pub(super) async fn insert_mail(conn: Conn<'_>, mail: &NewMail) -> Result<(), sqlx::Error> {
    on_either!(conn, c => sqlx::query(
        "INSERT INTO mail_outbox (id, kind, recipient, sealed_body, created_at, send_after, give_up_at)
         VALUES ($1, $2, $3, $4, $5, $5, $6)",
    )
    .bind(&mail.id)
    .bind(mail.kind)
    .bind(&mail.recipient)
    .bind(&mail.sealed_body)
    .bind(mail.created_at)
    .bind(mail.give_up_at)
    .execute(c)
    .await
    .map(drop))
}

impl Db {
    /// Queues a message that no other change goes with.
    pub async fn queue_mail(&self, mail: &NewMail) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        insert_mail(tx.conn(), mail).await?;
        tx.commit().await
    }

    /// Claims up to `limit` due messages for `holder` until `now + claim`:
    /// queued ones whose time came and that nobody holds (or whose holder's
    /// claim ran out). Each claim counts as an attempt. On PostgreSQL rows
    /// another replica is claiming are skipped, not waited for.
    pub async fn claim_mail(
        &self,
        holder: &str,
        now: UnixMs,
        claim: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedMail>, sqlx::Error> {
        let mut tx = self.write().await?;
        let sql = format!(
            "UPDATE mail_outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1
             WHERE id IN (
                SELECT id FROM mail_outbox
                WHERE state = 'queued' AND send_after <= $3
                  AND (claimed_until IS NULL OR claimed_until < $3)
                ORDER BY send_after LIMIT $4{}
             )
             RETURNING id, kind, recipient, sealed_body, attempts, give_up_at",
            skip_locked(tx.conn())
        );
        let claimed = on_either!(tx.conn(), c => sqlx::query_as(&sql)
            .bind(holder)
            .bind(now + claim)
            .bind(now)
            .bind(limit)
            .fetch_all(c)
            .await)?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records, just before the final dot, that `holder` hands the message
    /// over: false when its claim is no longer current (another sender has
    /// the message), and then it must not be sent.
    pub async fn hand_over_mail(
        &self,
        id: &str,
        holder: &str,
        now: UnixMs,
    ) -> Result<bool, sqlx::Error> {
        let updated = on_either!(self.pool(), pool => sqlx::query(
            "UPDATE mail_outbox SET state = 'handed_over'
             WHERE id = $1 AND claimed_by = $2 AND state = 'queued' AND claimed_until > $3",
        )
        .bind(id)
        .bind(holder)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(updated == 1)
    }

    /// The server took the message: finished, its fields forgotten.
    pub async fn mail_sent(&self, id: &str, now: UnixMs) -> Result<(), sqlx::Error> {
        self.finish_mail(id, "sent", now, None).await
    }

    /// Refused for good, or no luck for a day: finished, fields forgotten.
    pub async fn mail_failed(
        &self,
        id: &str,
        now: UnixMs,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        self.finish_mail(id, "failed", now, Some(reason)).await
    }

    async fn finish_mail(
        &self,
        id: &str,
        state: &str,
        now: UnixMs,
        reason: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE mail_outbox SET state = $2, finished_at = $3, sealed_body = NULL,
                last_error = COALESCE($4, last_error), claimed_by = NULL, claimed_until = NULL
             WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(now)
        .bind(reason)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Not sent this time: queued again, due at `send_after`.
    pub async fn retry_mail(
        &self,
        id: &str,
        send_after: UnixMs,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE mail_outbox SET state = 'queued', send_after = $2, last_error = $3,
                claimed_by = NULL, claimed_until = NULL
             WHERE id = $1",
        )
        .bind(id)
        .bind(send_after)
        .bind(reason)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Messages handed over by a sender whose claim ran out before it
    /// recorded the server's answer (it stopped): finished as sent, never
    /// sent again, their fields forgotten. How many.
    pub async fn forget_unconfirmed_mail(&self, now: UnixMs) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE mail_outbox SET state = 'sent', finished_at = $1, sealed_body = NULL,
                last_error = 'handed over; the sender stopped before the answer'
             WHERE state = 'handed_over' AND claimed_until < $1",
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }

    /// Forgets messages finished before `before`. How many went.
    pub async fn sweep_mail(&self, before: UnixMs) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM mail_outbox WHERE finished_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }
}
