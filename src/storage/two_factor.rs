//! Two-factor sign-in's state, one body for both databases: the sealed TOTP
//! secret (and one waiting for its first code), the last time step
//! accepted, and one-time recovery codes by digest. Accepting a code is a
//! conditional update, so a code is accepted once however many requests
//! race.

use super::{
    audit::insert_events,
    either::{lock_user_row, on_either, Conn},
    passkeys::{has_passkeys, FactorChange},
    Db, NewAuditEvent,
};
use crate::shared::{clock::UnixMs, ids::UserId};

/// A user's authenticator app, as stored.
#[derive(Debug, Default, sqlx::FromRow)]
pub struct TotpRow {
    /// Sealed; `None` while two-factor sign-in is off.
    pub totp_secret: Option<String>,
    /// Sealed; shown at enrolment, waiting for its first code.
    pub totp_pending: Option<String>,
    pub totp_enabled_at: Option<UnixMs>,
    pub totp_last_step: Option<i64>,
}

/// Forgets the user's recovery codes, in the caller's transaction.
async fn delete_recovery_codes(conn: Conn<'_>, user_id: &UserId) -> Result<(), sqlx::Error> {
    on_either!(conn, c => sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(c)
        .await
        .map(drop))
}

/// Forgets the user's authenticator app, in the caller's transaction.
async fn clear_totp(conn: Conn<'_>, user_id: &UserId) -> Result<(), sqlx::Error> {
    on_either!(conn, c => sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_enabled_at = NULL,
            totp_last_step = NULL
         WHERE id = $1",
    )
    .bind(user_id)
    .execute(c)
    .await
    .map(drop))
}

/// Gives the user these recovery codes (by digest) in place of any
/// before, in the caller's transaction.
pub(super) async fn replace_recovery_codes(
    mut conn: Conn<'_>,
    user_id: &UserId,
    digests: &[String],
) -> Result<(), sqlx::Error> {
    delete_recovery_codes(conn.again(), user_id).await?;
    for digest in digests {
        on_either!(conn.again(), c => sqlx::query(
            "INSERT INTO recovery_codes (user_id, digest) VALUES ($1, $2)",
        )
        .bind(user_id)
        .bind(digest)
        .execute(c)
        .await
        .map(drop))?;
    }
    Ok(())
}

/// Whether the user has a second factor (an app or a passkey), in the
/// caller's transaction.
pub(super) async fn has_second_factor(
    mut conn: Conn<'_>,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    let totp: Option<UnixMs> = on_either!(conn.again(), c => sqlx::query_scalar(
        "SELECT totp_enabled_at FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(c)
    .await)?
    .flatten();
    Ok(totp.is_some() || has_passkeys(conn, user_id).await?)
}

/// When the user has no second factor left (no app, no passkey), their
/// recovery codes go too: true then.
pub(super) async fn forget_recovery_codes_if_no_factor(
    mut conn: Conn<'_>,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    if has_second_factor(conn.again(), user_id).await? {
        return Ok(false);
    }
    delete_recovery_codes(conn, user_id).await?;
    Ok(true)
}

impl Db {
    pub async fn totp_row(&self, user_id: &UserId) -> Result<TotpRow, sqlx::Error> {
        let row = on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT totp_secret, totp_pending, totp_enabled_at, totp_last_step
             FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.unwrap_or_default())
    }

    /// Keeps the secret just shown for enrolment (replacing any earlier one
    /// not confirmed).
    pub async fn set_pending_totp(
        &self,
        user_id: &UserId,
        sealed: &str,
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query("UPDATE users SET totp_pending = $2 WHERE id = $1")
            .bind(user_id)
            .bind(sealed)
            .execute(pool)
            .await
            .map(drop))
    }

    /// Turns two-factor sign-in on with the pending secret `sealed` (still
    /// the one pending: an enrolment started since would not match), its
    /// first code's step, and new recovery codes (by digest) replacing any
    /// before. False when `sealed` is no longer pending.
    pub async fn enable_totp(
        &self,
        user_id: &UserId,
        sealed: &str,
        step: i64,
        recovery_digests: &[String],
        events: &[NewAuditEvent<'_>],
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_user_row(tx.conn(), user_id).await?;
        let now = events
            .first()
            .map(|e| e.occurred_at)
            .unwrap_or_else(UnixMs::now);
        let enabled = on_either!(tx.conn(), c => sqlx::query(
            "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL,
                totp_enabled_at = $3, totp_last_step = $4
             WHERE id = $1 AND totp_pending = $2",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .bind(step)
        .execute(c)
        .await?
        .rows_affected());
        if enabled != 1 {
            return Ok(false);
        }
        replace_recovery_codes(tx.conn(), user_id, recovery_digests).await?;
        insert_events(tx.conn(), events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the authenticator app, with the change's records. When it
    /// was the user's last second factor (no passkey either), the recovery
    /// codes go and the change's switch records are written.
    pub async fn disable_totp(
        &self,
        user_id: &UserId,
        change: &FactorChange<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        lock_user_row(tx.conn(), user_id).await?;
        clear_totp(tx.conn(), user_id).await?;
        let last_factor = forget_recovery_codes_if_no_factor(tx.conn(), user_id).await?;
        change.write(tx.conn(), last_factor).await?;
        tx.commit().await
    }

    /// Every second factor goes (the app, each passkey, the recovery
    /// codes): the operator's way back in for a user who lost them all.
    pub async fn remove_second_factors(
        &self,
        user_id: &UserId,
        events: &[NewAuditEvent<'_>],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        clear_totp(tx.conn(), user_id).await?;
        on_either!(tx.conn(), c => sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
            .bind(user_id)
            .execute(c)
            .await
            .map(drop))?;
        delete_recovery_codes(tx.conn(), user_id).await?;
        insert_events(tx.conn(), events).await?;
        tx.commit().await
    }

    /// Accepts a code of time step `step`: only past every step accepted
    /// before, so a code is never accepted twice. False for a replay.
    pub async fn accept_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool, sqlx::Error> {
        let updated = on_either!(self.pool(), pool => sqlx::query(
            "UPDATE users SET totp_last_step = $2
             WHERE id = $1 AND totp_secret IS NOT NULL
               AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(updated == 1)
    }

    /// Uses a recovery code (by digest): once. False when it is not one of
    /// the user's, or was used.
    pub async fn use_recovery_code(
        &self,
        user_id: &UserId,
        digest: &str,
        now: UnixMs,
    ) -> Result<bool, sqlx::Error> {
        let updated = on_either!(self.pool(), pool => sqlx::query(
            "UPDATE recovery_codes SET used_at = $3
             WHERE user_id = $1 AND digest = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(digest)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(updated == 1)
    }

    /// How many of the user's recovery codes are unused.
    pub async fn recovery_codes_left(&self, user_id: &UserId) -> Result<i64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(pool)
        .await)
    }
}
