use super::{
    audit::{insert_event, NewAuditEvent},
    Db,
};

/// Failed sign-ins for one subject within a window.
pub struct FailureWindow {
    pub count: i64,
    pub oldest_ms: Option<i64>,
}

impl Db {
    pub async fn login_failures_since(
        &self,
        subject: &str,
        since_ms: i64,
    ) -> Result<FailureWindow, sqlx::Error> {
        let (count, oldest_ms): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(failed_at) FROM login_failures
             WHERE subject = $1 AND failed_at > $2",
        )
        .bind(subject)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(FailureWindow { count, oldest_ms })
    }

    /// Records one failure against each subject (and, for a known user, its
    /// audit event in the same transaction, so both cases cost one commit),
    /// and forgets failures too old to matter so the table stays small.
    pub async fn record_login_failure(
        &self,
        subjects: &[&str],
        now_ms: i64,
        forget_before_ms: i64,
        event: Option<&NewAuditEvent<'_>>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        for subject in subjects {
            sqlx::query("INSERT INTO login_failures (subject, failed_at) VALUES ($1, $2)")
                .bind(subject)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM login_failures WHERE failed_at <= $1")
            .bind(forget_before_ms)
            .execute(&mut *tx)
            .await?;
        if let Some(event) = event {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await
    }

    pub async fn clear_login_failures(&self, subject: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM login_failures WHERE subject = $1")
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
