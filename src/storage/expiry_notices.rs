//! Which keys are about to expire and have not been warned of, who hears
//! of it, and marking a warning sent with its messages: one body for both
//! databases.

use super::{
    either::on_either,
    outbox::{insert_mail, NewMail},
    Db,
};
use crate::shared::{
    clock::UnixMs,
    ids::{AccountId, KeyId},
};
use std::time::Duration;

/// The two warnings a key gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryWarning {
    /// A week before.
    Week,
    /// A day before (marking the week's warning too: a key made to live a
    /// day hears once).
    Day,
}

impl ExpiryWarning {
    pub fn ahead(self) -> Duration {
        match self {
            ExpiryWarning::Week => Duration::from_secs(7 * 86_400),
            ExpiryWarning::Day => Duration::from_secs(86_400),
        }
    }

    fn column(self) -> &'static str {
        match self {
            ExpiryWarning::Week => "expiry_warned_week_at",
            ExpiryWarning::Day => "expiry_warned_day_at",
        }
    }
}

/// A key that is due a warning.
#[derive(Debug, sqlx::FromRow)]
pub struct ExpiringKey {
    pub id: KeyId,
    pub account_id: AccountId,
    pub account_name: String,
    pub name: String,
    pub expires_at: UnixMs,
    pub created_by: Option<String>,
}

impl Db {
    /// Live keys expiring within the warning's reach of `now` that have not
    /// had it, soonest first.
    pub async fn keys_due_warning(
        &self,
        warning: ExpiryWarning,
        now: UnixMs,
        limit: i64,
    ) -> Result<Vec<ExpiringKey>, sqlx::Error> {
        let sql = format!(
            "SELECT k.id, k.account_id, a.name AS account_name, k.name, k.expires_at, k.created_by
             FROM api_keys k JOIN accounts a ON a.id = k.account_id
             WHERE k.expires_at > $1 AND k.expires_at <= $2 AND k.revoked_at IS NULL
               AND k.{} IS NULL
             ORDER BY k.expires_at LIMIT $3",
            warning.column()
        );
        on_either!(self.pool(), pool => sqlx::query_as(&sql)
            .bind(now)
            .bind(now + warning.ahead())
            .bind(limit)
            .fetch_all(pool)
            .await)
    }

    /// Who hears of a key's expiry: the account's owners and admins, and
    /// the member who made it (by `created_by`, a user's id), once each.
    pub async fn expiry_recipients(
        &self,
        account_id: &AccountId,
        created_by: Option<&str>,
    ) -> Result<Vec<String>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_scalar(
            "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.account_id = $1 AND (m.role IN ('owner', 'admin') OR m.user_id = $2)
             ORDER BY u.email",
        )
        .bind(account_id)
        .bind(created_by)
        .fetch_all(pool)
        .await)
    }

    /// Marks the warning sent and queues its messages, in one transaction:
    /// false (and nothing queued) when another replica marked it first.
    pub async fn warn_of_expiry(
        &self,
        key_id: &KeyId,
        warning: ExpiryWarning,
        now: UnixMs,
        mails: &[NewMail],
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let sql = match warning {
            ExpiryWarning::Week => {
                "UPDATE api_keys SET expiry_warned_week_at = $2
                 WHERE id = $1 AND expiry_warned_week_at IS NULL"
            }
            ExpiryWarning::Day => {
                "UPDATE api_keys SET expiry_warned_day_at = $2,
                    expiry_warned_week_at = COALESCE(expiry_warned_week_at, $2)
                 WHERE id = $1 AND expiry_warned_day_at IS NULL"
            }
        };
        let marked = on_either!(tx.conn(), c => sqlx::query(sql)
            .bind(key_id)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected());
        if marked != 1 {
            return Ok(false);
        }
        for mail in mails {
            insert_mail(tx.conn(), mail).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
