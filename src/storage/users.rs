//! Accounts and users, one body for both databases.

use super::{
    audit::{insert_event, insert_events},
    either::{lock_user_row, on_either, Conn},
    fresh_membership_generation,
    links::{insert_link, NewUserLink},
    outbox::NewMail,
    user_sessions::end_all_sessions,
    Db, NewAccount, NewAuditEvent, NewOwner, NewUser, OwnerCreated, UserRecord,
};
use crate::shared::{
    clock::UnixMs,
    ids::{AccountId, UserId},
    role::Role,
};

const USER_COLUMNS: &str =
    "id, email, password_hash, created_at, token_generation, email_verified_at, totp_enabled_at,
     EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = users.id) AS has_passkeys";

/// Inserts a user; false when the email is taken.
pub(super) async fn insert_user(conn: Conn<'_>, user: &NewUser<'_>) -> Result<bool, sqlx::Error> {
    let inserted = on_either!(conn, c => sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_at, email_verified_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(user.id)
    .bind(user.email)
    .bind(user.password_hash)
    .bind(user.now)
    .bind(user.email_verified.then_some(user.now))
    .execute(c)
    .await?
    .rows_affected());
    Ok(inserted == 1)
}

/// A membership of `role`, starting at a fresh generation (returned).
pub(super) async fn insert_membership(
    conn: Conn<'_>,
    account_id: &AccountId,
    user_id: &UserId,
    role: Role,
    now: UnixMs,
) -> Result<i64, sqlx::Error> {
    let generation = fresh_membership_generation();
    on_either!(conn, c => sqlx::query(
        "INSERT INTO memberships (account_id, user_id, role, joined_at, generation)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .bind(generation)
    .execute(c)
    .await
    .map(drop))?;
    Ok(generation)
}

async fn insert_account(
    conn: Conn<'_>,
    id: &AccountId,
    name: &str,
    now: UnixMs,
) -> Result<(), sqlx::Error> {
    on_either!(conn, c => sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(c)
        .await
        .map(drop))
}

impl Db {
    /// Creates an account and its owner, unless the email is taken.
    /// With `check`, the link that proves the address (and its message).
    pub async fn create_account_with_owner(
        &self,
        owner: &NewOwner<'_>,
        event: &NewAuditEvent<'_>,
        check: Option<(&NewUserLink<'_>, Option<&NewMail>)>,
    ) -> Result<OwnerCreated, sqlx::Error> {
        let mut tx = self.write().await?;
        if !insert_user(tx.conn(), &owner.user).await? {
            return Ok(OwnerCreated::EmailTaken);
        }
        if let Some((link, mail)) = check {
            insert_link(tx.conn(), link, mail).await?;
        }
        let now = owner.user.now;
        insert_account(tx.conn(), owner.account_id, owner.account_name, now).await?;
        let membership_generation =
            insert_membership(tx.conn(), owner.account_id, owner.user.id, Role::Owner, now).await?;
        insert_event(tx.conn(), event).await?;
        tx.commit().await?;
        Ok(OwnerCreated::Created {
            membership_generation,
        })
    }

    /// Creates an account owned by a user who belongs to no account (the
    /// count taken in the write transaction): the owner's membership
    /// generation, or `None` when they belong to one already.
    pub async fn create_own_account(
        &self,
        account: &NewAccount<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.write().await?;
        // Two of the user's requests queue here, so only one finds no
        // account and makes one.
        lock_user_row(tx.conn(), account.owner_id).await?;
        let belongs: bool = on_either!(tx.conn(), c => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1)",
        )
        .bind(account.owner_id)
        .fetch_one(c)
        .await?);
        if belongs {
            return Ok(None);
        }
        insert_account(tx.conn(), account.id, account.name, account.now).await?;
        let generation = insert_membership(
            tx.conn(),
            account.id,
            account.owner_id,
            Role::Owner,
            account.now,
        )
        .await?;
        insert_event(tx.conn(), event).await?;
        tx.commit().await?;
        Ok(Some(generation))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(pool)
        .await)
    }

    pub async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await)
    }

    /// Notes the sign-in (the members page shows it) with its event.
    pub async fn record_sign_in(
        &self,
        user_id: &UserId,
        now: UnixMs,
        event: &NewAuditEvent<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        on_either!(tx.conn(), c => sqlx::query(
            "UPDATE users SET last_signed_in_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(user_id)
        .execute(c)
        .await
        .map(drop))?;
        insert_event(tx.conn(), event).await?;
        tx.commit().await
    }

    /// Gives the user a new address, not yet verified, with the link that
    /// proves it (and its message) and an event in each account; false
    /// when another user has the address.
    pub async fn change_email(
        &self,
        user_id: &UserId,
        email: &str,
        check: (&NewUserLink<'_>, Option<&NewMail>),
        events: &[NewAuditEvent<'_>],
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let taken: bool = on_either!(tx.conn(), c => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND id <> $2)",
        )
        .bind(email)
        .bind(user_id)
        .fetch_one(c)
        .await?);
        if taken {
            return Ok(false);
        }
        on_either!(tx.conn(), c => sqlx::query(
            "UPDATE users SET email = $2, email_verified_at = NULL WHERE id = $1",
        )
        .bind(user_id)
        .bind(email)
        .execute(c)
        .await
        .map(drop))?;
        insert_link(tx.conn(), check.0, check.1).await?;
        insert_events(tx.conn(), events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends every session and bearer token of a user by moving their token
    /// generation on, optionally with a new password hash; the audit event
    /// is written in the same transaction. The new generation.
    pub async fn renew_credentials(
        &self,
        user_id: &UserId,
        new_password_hash: Option<&str>,
        event: &NewAuditEvent<'_>,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.write().await?;
        let generation: i64 = on_either!(tx.conn(), c => sqlx::query_scalar(
            "UPDATE users SET token_generation = token_generation + 1,
                password_hash = COALESCE($1, password_hash)
             WHERE id = $2
             RETURNING token_generation",
        )
        .bind(new_password_hash)
        .bind(user_id)
        .fetch_one(c)
        .await?);
        end_all_sessions(tx.conn(), user_id, event.occurred_at).await?;
        insert_event(tx.conn(), event).await?;
        tx.commit().await?;
        Ok(generation)
    }
}
