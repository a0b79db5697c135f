//! The sessions a person can see and end, and the bearer tokens issued to
//! them, one body for both databases.

use super::{either::on_either, Db};
use crate::shared::{clock::UnixMs, ids::UserId};

/// A session or token as it starts.
pub struct NewSignIn<'a> {
    pub id: &'a str,
    pub user_id: &'a UserId,
    pub device: &'a str,
    pub client_ip: Option<&'a str>,
    pub at: UnixMs,
}

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub device: String,
    pub client_ip: Option<String>,
    pub signed_in_at: UnixMs,
    pub last_active_at: UnixMs,
}

#[derive(Debug, sqlx::FromRow)]
pub struct TokenRow {
    pub account_id: String,
    pub device: String,
    pub client_ip: Option<String>,
    pub issued_at: UnixMs,
    pub expires_at: UnixMs,
}

impl Db {
    /// Records a session that just started. True when it is from a device
    /// the user never signed in from before, though they did sign in
    /// before (a first sign-in is no news to them).
    pub async fn start_user_session(&self, start: &NewSignIn<'_>) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let (before, from_device): (bool, bool) = on_either!(tx.conn(), c => sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM user_sessions WHERE user_id = $1),
                    EXISTS (SELECT 1 FROM user_sessions WHERE user_id = $1 AND device = $2)",
        )
        .bind(start.user_id)
        .bind(start.device)
        .fetch_one(c)
        .await?);
        // Two first requests of one session may race to record it: the
        // second records (and tells) nothing.
        let inserted = on_either!(tx.conn(), c => sqlx::query(
            "INSERT INTO user_sessions (id, user_id, device, client_ip, signed_in_at, last_active_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(start.id)
        .bind(start.user_id)
        .bind(start.device)
        .bind(start.client_ip)
        .bind(start.at)
        .execute(c)
        .await?
        .rows_affected());
        tx.commit().await?;
        Ok(inserted == 1 && before && !from_device)
    }

    /// Whether the session `id` of `user_id` was ended; `None` when it has
    /// no record.
    pub async fn user_session_ended(
        &self,
        id: &str,
        user_id: &UserId,
    ) -> Result<Option<bool>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_scalar(
            "SELECT ended_at IS NOT NULL FROM user_sessions WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)
    }

    /// Notes that the session was used (and from where).
    pub async fn touch_user_session(
        &self,
        id: &str,
        at: UnixMs,
        client_ip: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE user_sessions SET last_active_at = $2, client_ip = COALESCE($3, client_ip)
             WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .bind(client_ip)
        .execute(pool)
        .await
        .map(drop))
    }

    /// The user's live sessions, most recently active first.
    pub async fn user_sessions(&self, user_id: &UserId) -> Result<Vec<SessionRow>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT id, device, client_ip, signed_in_at, last_active_at FROM user_sessions
             WHERE user_id = $1 AND ended_at IS NULL
             ORDER BY last_active_at DESC LIMIT 100",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)
    }

    /// Ends one of the user's sessions. How many ended (0 or 1).
    pub async fn end_user_session(
        &self,
        user_id: &UserId,
        id: &str,
        at: UnixMs,
    ) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE user_sessions SET ended_at = $3
             WHERE user_id = $1 AND id = $2 AND ended_at IS NULL",
        )
        .bind(user_id)
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }

    /// Records a bearer token issued.
    pub async fn record_token(
        &self,
        issued: &NewSignIn<'_>,
        account_id: &str,
        expires_at: UnixMs,
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "INSERT INTO issued_tokens (id, user_id, account_id, device, client_ip, issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(issued.id)
        .bind(issued.user_id)
        .bind(account_id)
        .bind(issued.device)
        .bind(issued.client_ip)
        .bind(issued.at)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Tokens issued to the user since `since`, newest first.
    pub async fn recent_tokens(
        &self,
        user_id: &UserId,
        since: UnixMs,
    ) -> Result<Vec<TokenRow>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT account_id, device, client_ip, issued_at, expires_at FROM issued_tokens
             WHERE user_id = $1 AND issued_at > $2 ORDER BY issued_at DESC LIMIT 50",
        )
        .bind(user_id)
        .bind(since)
        .fetch_all(pool)
        .await)
    }

    /// Forgets sessions inactive since `sessions_before` and tokens issued
    /// before `tokens_before`. How many rows went.
    pub async fn sweep_sign_ins(
        &self,
        sessions_before: UnixMs,
        tokens_before: UnixMs,
    ) -> Result<u64, sqlx::Error> {
        let sessions = on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM user_sessions WHERE last_active_at < $1",
        )
        .bind(sessions_before)
        .execute(pool)
        .await?
        .rows_affected());
        let tokens = on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM issued_tokens WHERE issued_at < $1",
        )
        .bind(tokens_before)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(sessions + tokens)
    }
}

/// Ends every session of the user in the caller's transaction: their
/// credentials were renewed (a new password, signing out everywhere).
pub(super) async fn end_all_sessions(
    conn: super::either::Conn<'_>,
    user_id: &UserId,
    at: UnixMs,
) -> Result<(), sqlx::Error> {
    on_either!(conn, c => sqlx::query(
        "UPDATE user_sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL",
    )
    .bind(user_id)
    .bind(at)
    .execute(c)
    .await
    .map(drop))
}
