//! One-time links mailed to a user (password resets, address checks), one
//! body for both databases: only a digest of each token is kept, and using
//! one is a conditional update, so a link works once however many
//! requests race.

use super::{
    audit::insert_events,
    either::{lock_user_row, on_either, Conn},
    outbox::{insert_mail, NewMail},
    user_sessions::end_all_sessions,
    Db, NewAuditEvent,
};
use crate::shared::{clock::UnixMs, ids::UserId};

/// What a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    PasswordReset,
    VerifyEmail,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::PasswordReset => "password_reset",
            LinkPurpose::VerifyEmail => "verify_email",
        }
    }
}

pub struct NewUserLink<'a> {
    pub digest: &'a str,
    pub user_id: &'a UserId,
    pub purpose: LinkPurpose,
    /// The address it was sent to.
    pub email: &'a str,
    pub created_at: UnixMs,
    pub expires_at: UnixMs,
}

/// A link that still works: whose it is, and the address it went to.
#[derive(Debug, sqlx::FromRow)]
pub struct LiveLink {
    pub user_id: UserId,
    pub email: String,
}

/// Writes a link, and its message when mail is on, in the caller's
/// transaction. The user's earlier unused links for the same purpose stop
/// working: only the newest message's link does (the user's row is held,
/// so two requests at once leave one link, not two).
pub(super) async fn insert_link(
    mut conn: Conn<'_>,
    link: &NewUserLink<'_>,
    mail: Option<&NewMail>,
) -> Result<(), sqlx::Error> {
    lock_user_row(conn.again(), link.user_id).await?;
    on_either!(conn.again(), c => sqlx::query(
        "DELETE FROM user_links WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(link.user_id)
    .bind(link.purpose.as_str())
    .execute(c)
    .await
    .map(drop))?;
    on_either!(conn.again(), c => sqlx::query(
        "INSERT INTO user_links (digest, user_id, purpose, email, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(link.digest)
    .bind(link.user_id)
    .bind(link.purpose.as_str())
    .bind(link.email)
    .bind(link.created_at)
    .bind(link.expires_at)
    .execute(c)
    .await
    .map(drop))?;
    if let Some(mail) = mail {
        insert_mail(conn, mail).await?;
    }
    Ok(())
}

impl Db {
    /// Writes a link, and its message when mail is on, in one transaction.
    pub async fn create_user_link(
        &self,
        link: &NewUserLink<'_>,
        mail: Option<&NewMail>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        insert_link(tx.conn(), link, mail).await?;
        tx.commit().await
    }

    /// The link with this digest, if it is for `purpose`, unused and
    /// unexpired at `now`.
    pub async fn live_link(
        &self,
        digest: &str,
        purpose: LinkPurpose,
        now: UnixMs,
    ) -> Result<Option<LiveLink>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT user_id, email FROM user_links
             WHERE digest = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(digest)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(pool)
        .await)
    }

    /// Uses a password reset link of `user_id`: once, while it is live.
    /// The password hash is replaced and the token generation moved on (every
    /// session and bearer token ends), the user's other reset links go,
    /// and the address counts as verified (the link came to it). False when
    /// the link was used or expired meanwhile.
    pub async fn reset_password(
        &self,
        digest: &str,
        user_id: &UserId,
        now: UnixMs,
        password_hash: &str,
        events: &[NewAuditEvent<'_>],
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let email: Option<String> = on_either!(tx.conn(), c => sqlx::query_scalar(
            "UPDATE user_links SET used_at = $3
             WHERE digest = $1 AND user_id = $2 AND purpose = 'password_reset'
               AND used_at IS NULL AND expires_at > $3
             RETURNING email",
        )
        .bind(digest)
        .bind(user_id)
        .bind(now)
        .fetch_optional(c)
        .await)?;
        let Some(email) = email else {
            return Ok(false);
        };
        on_either!(tx.conn(), c => sqlx::query(
            "UPDATE users SET password_hash = $2, token_generation = token_generation + 1,
                email_verified_at = CASE WHEN email = $3 THEN COALESCE(email_verified_at, $4)
                                         ELSE email_verified_at END
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .bind(&email)
        .bind(now)
        .execute(c)
        .await
        .map(drop))?;
        end_all_sessions(tx.conn(), user_id, now).await?;
        on_either!(tx.conn(), c => sqlx::query(
            "DELETE FROM user_links WHERE user_id = $1 AND purpose = 'password_reset' AND used_at IS NULL",
        )
        .bind(user_id)
        .execute(c)
        .await
        .map(drop))?;
        insert_events(tx.conn(), events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Uses an address check link: once, while it is live, and only for the
    /// address the user has now. False when it does not (used, expired,
    /// or the address changed since).
    pub async fn verify_email(
        &self,
        digest: &str,
        link: &LiveLink,
        now: UnixMs,
        events: &[NewAuditEvent<'_>],
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let used = on_either!(tx.conn(), c => sqlx::query(
            "UPDATE user_links SET used_at = $2
             WHERE digest = $1 AND purpose = 'verify_email' AND used_at IS NULL AND expires_at > $2",
        )
        .bind(digest)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected());
        let verified = on_either!(tx.conn(), c => sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3)
             WHERE id = $1 AND email = $2",
        )
        .bind(&link.user_id)
        .bind(&link.email)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected());
        if used != 1 || verified != 1 {
            return Ok(false);
        }
        insert_events(tx.conn(), events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Forgets links that expired before `before`. How many went.
    pub async fn sweep_user_links(&self, before: UnixMs) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query("DELETE FROM user_links WHERE expires_at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
    }
}
