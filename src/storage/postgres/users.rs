use super::{audit::insert_event, PostgresStore};
use crate::storage::{NewAccount, NewAuditEvent, NewOwner, NewUser, OwnerCreated, UserRecord};
use sqlx::PgConnection;

const USER_COLUMNS: &str = "id, email, password_hash,
    (EXTRACT(EPOCH FROM created_at) * 1000)::int8 AS created_at, token_generation";

/// Inserts a user; false when the email is taken.
pub(super) async fn insert_user(
    conn: &mut PgConnection,
    user: &NewUser<'_>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_at)
         VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000))
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(user.id)
    .bind(user.email)
    .bind(user.password_hash)
    .bind(user.now_ms)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub(super) async fn insert_membership(
    conn: &mut PgConnection,
    account_id: &str,
    user_id: &str,
    role: &str,
    now_ms: i64,
) -> Result<i64, sqlx::Error> {
    let generation = crate::storage::fresh_membership_generation();
    sqlx::query(
        "INSERT INTO memberships (account_id, user_id, role, joined_at, generation)
         VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000), $5)",
    )
    .bind(account_id)
    .bind(user_id)
    .bind(role)
    .bind(now_ms)
    .bind(generation)
    .execute(conn)
    .await?;
    Ok(generation)
}

async fn insert_account(
    conn: &mut PgConnection,
    id: &str,
    name: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, to_timestamp($3::float8 / 1000))")
        .bind(id)
        .bind(name)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

impl PostgresStore {
    pub async fn create_account_with_owner(
        &self,
        owner: &NewOwner<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<OwnerCreated, sqlx::Error> {
        let mut tx = self.write().await?;
        if !insert_user(&mut tx, &owner.user).await? {
            return Ok(OwnerCreated::EmailTaken);
        }
        insert_account(
            &mut tx,
            owner.account_id,
            owner.account_name,
            owner.user.now_ms,
        )
        .await?;
        let membership_generation = insert_membership(
            &mut tx,
            owner.account_id,
            owner.user.id,
            "owner",
            owner.user.now_ms,
        )
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(OwnerCreated::Created {
            membership_generation,
        })
    }

    pub async fn create_own_account(
        &self,
        account: &NewAccount<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.write().await?;
        // Two of the user's requests queue here, so only one finds no
        // account and makes one.
        super::members::lock_user(&mut tx, account.owner_id).await?;
        let belongs: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1)")
                .bind(account.owner_id)
                .fetch_one(&mut *tx)
                .await?;
        if belongs {
            return Ok(None);
        }
        insert_account(&mut tx, account.id, account.name, account.now_ms).await?;
        let generation = insert_membership(
            &mut tx,
            account.id,
            account.owner_id,
            "owner",
            account.now_ms,
        )
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Some(generation))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, sqlx::Error> {
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn record_sign_in(
        &self,
        user_id: &str,
        now_ms: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE users SET last_signed_in_at = to_timestamp($1::float8 / 1000) WHERE id = $2",
        )
        .bind(now_ms)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await
    }

    /// Moves the user's token generation on (ending every session and
    /// bearer token), with a new password hash when given, and writes the
    /// audit event in the same transaction. The new generation.
    pub async fn renew_credentials(
        &self,
        user_id: &str,
        new_password_hash: Option<&str>,
        event: &NewAuditEvent<'_>,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.write().await?;
        let generation: i64 = sqlx::query_scalar(
            "UPDATE users SET token_generation = token_generation + 1,
                password_hash = COALESCE($1, password_hash)
             WHERE id = $2
             RETURNING token_generation",
        )
        .bind(new_password_hash)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(generation)
    }
}
