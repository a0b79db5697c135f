use super::{audit::insert_event, PostgresStore};
use crate::storage::{NewAuditEvent, NewOwner, OwnerCreated, UserRecord};

const USER_COLUMNS: &str = "id, account_id, email, password_hash,
    (EXTRACT(EPOCH FROM created_at) * 1000)::int8 AS created_at, token_generation";

impl PostgresStore {
    pub async fn create_account_with_owner(
        &self,
        owner: &NewOwner<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<OwnerCreated, sqlx::Error> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO accounts (id, name, created_at)
             VALUES ($1, $2, to_timestamp($3::float8 / 1000))",
        )
        .bind(owner.account_id)
        .bind(owner.account_name)
        .bind(owner.now_ms)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, account_id, email, password_hash, role, created_at)
             VALUES ($1, $2, $3, $4, 'owner', to_timestamp($5::float8 / 1000))
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(owner.user_id)
        .bind(owner.account_id)
        .bind(owner.email)
        .bind(owner.password_hash)
        .bind(owner.now_ms)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            // Dropping the transaction takes the new account back.
            return Ok(OwnerCreated::EmailTaken);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(OwnerCreated::Created)
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
