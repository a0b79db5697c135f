//! Rate limits' windows, leased out in parts, one body for both databases.

use super::{
    audit::insert_event,
    either::{announce_key_change, on_either},
    Db, KeyDigests, NewAuditEvent,
};
use crate::shared::{clock::UnixMs, ids::AccountId};

/// Digests announced per notification: PostgreSQL's payload holds 8,000
/// bytes, a digest takes 65.
const DIGESTS_PER_ANNOUNCEMENT: usize = 100;

/// Part of a limit's current window, asked for by one process.
pub struct LeaseRequest<'a> {
    /// A key's id or an account's.
    pub subject: &'a str,
    pub name: &'a str,
    pub limit: i64,
    pub window_ms: i64,
    /// How much to hand out at most (not above `limit`).
    pub want: i64,
    pub now: UnixMs,
}

/// What the window handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LimitLease {
    /// When the window began: a window that had ended (or whose length
    /// changed) begins again at the request's `now`.
    pub started_at: UnixMs,
    /// How much of the window every process together holds now.
    pub granted: i64,
    /// How much of it this request got: up to `want`, and never more than
    /// leaves `granted` at most `limit`.
    pub given: i64,
}

/// In one statement, so concurrent requests (from any process) each see
/// the grants before them: a window that ended begins again, and what is
/// given never takes `granted` above the limit ($6). A limit lowered
/// mid-window gives nothing until its window ends.
const LEASE: &str = "
    INSERT INTO ratelimit_windows (subject, name, window_ms, started_at, granted, last_given)
    VALUES ($1, $2, $3, $4, $5, $5)
    ON CONFLICT (subject, name) DO UPDATE SET
      window_ms = $3,
      started_at = CASE
        WHEN $4 >= ratelimit_windows.started_at + ratelimit_windows.window_ms
          OR ratelimit_windows.window_ms <> $3 THEN $4
        ELSE ratelimit_windows.started_at END,
      last_given = CASE
        WHEN $4 >= ratelimit_windows.started_at + ratelimit_windows.window_ms
          OR ratelimit_windows.window_ms <> $3 THEN $5
        WHEN ratelimit_windows.granted >= $6 THEN 0
        WHEN $6 - ratelimit_windows.granted < $5 THEN $6 - ratelimit_windows.granted
        ELSE $5 END,
      granted = CASE
        WHEN $4 >= ratelimit_windows.started_at + ratelimit_windows.window_ms
          OR ratelimit_windows.window_ms <> $3 THEN $5
        WHEN ratelimit_windows.granted >= $6 THEN ratelimit_windows.granted
        WHEN $6 - ratelimit_windows.granted < $5 THEN $6
        ELSE ratelimit_windows.granted + $5 END
    RETURNING started_at, granted, last_given AS given";

impl Db {
    /// The limits an account's keys share, as stored (a JSON array); `None`
    /// when there is no such account.
    pub async fn account_ratelimits(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<String>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_scalar(
            "SELECT ratelimits FROM accounts WHERE id = $1",
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await)
    }

    /// Replaces the limits an account's keys share, records `event`, and
    /// tells every process to forget what it cached of the account's keys
    /// (which carry those limits); answers their digests, for this
    /// process's cache.
    pub async fn set_account_ratelimits(
        &self,
        account_id: &AccountId,
        ratelimits: &str,
        event: &NewAuditEvent<'_>,
    ) -> Result<Vec<KeyDigests>, sqlx::Error> {
        let mut tx = self.write().await?;
        on_either!(tx.conn(), c => sqlx::query("UPDATE accounts SET ratelimits = $1 WHERE id = $2")
            .bind(ratelimits)
            .bind(account_id)
            .execute(c)
            .await
            .map(drop))?;
        let keys: Vec<KeyDigests> = on_either!(tx.conn(), c => sqlx::query_as(
            "SELECT secret_digest, previous_digest FROM api_keys WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_all(c)
        .await)?;
        insert_event(tx.conn(), event).await?;
        let digests: Vec<&str> = keys.iter().flat_map(KeyDigests::iter).collect();
        for part in digests.chunks(DIGESTS_PER_ANNOUNCEMENT) {
            announce_key_change(tx.conn(), part).await?;
        }
        tx.commit().await?;
        Ok(keys)
    }

    /// Hands part of a limit's current window to the asking process.
    pub async fn lease_rate_limit(
        &self,
        request: &LeaseRequest<'_>,
    ) -> Result<LimitLease, sqlx::Error> {
        let mut tx = self.write().await?;
        let lease = on_either!(tx.conn(), c => sqlx::query_as(LEASE)
            .bind(request.subject)
            .bind(request.name)
            .bind(request.window_ms)
            .bind(request.now)
            .bind(request.want.min(request.limit))
            .bind(request.limit)
            .fetch_one(c)
            .await)?;
        tx.commit().await?;
        Ok(lease)
    }

    /// Gives back what a process leased from the window that began at
    /// `started_at` and will not use; nothing when that window has ended
    /// (a new one began, or the row was swept).
    pub async fn return_rate_limit(
        &self,
        subject: &str,
        name: &str,
        started_at: UnixMs,
        unused: i64,
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE ratelimit_windows SET granted = granted - $4
             WHERE subject = $1 AND name = $2 AND started_at = $3 AND granted >= $4",
        )
        .bind(subject)
        .bind(name)
        .bind(started_at)
        .bind(unused)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Forgets windows that ended before `before`: the next verification
    /// begins a new one, as it would anyway.
    pub async fn sweep_rate_limit_windows(&self, before: UnixMs) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM ratelimit_windows WHERE started_at + window_ms < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }
}
