use super::PostgresStore;
use crate::storage::{Admission, Limit};

impl PostgresStore {
    /// Counts an attempt against every limit, or refuses it, in one
    /// transaction holding an advisory lock per subject (taken in one
    /// order, so two attempts cannot deadlock): concurrent attempts on any
    /// replica queue, and each sees every attempt admitted before it.
    pub async fn admit_attempt(
        &self,
        limits: &[Limit<'_>],
        attempt_id: &str,
        now_ms: i64,
        forget_before_ms: i64,
    ) -> Result<Admission, sqlx::Error> {
        let mut tx = self.write().await?;
        let subjects: Vec<&str> = limits.iter().map(|limit| limit.subject).collect();
        lock_subjects(&mut tx, &subjects).await?;
        let mut counts = Vec::with_capacity(limits.len());
        for limit in limits {
            let (count, oldest_ms): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), (EXTRACT(EPOCH FROM MIN(hit_at)) * 1000)::int8
                 FROM throttle_hits
                 WHERE subject = $1 AND hit_at > to_timestamp($2::float8 / 1000)",
            )
            .bind(limit.subject)
            .bind(limit.since_ms)
            .fetch_one(&mut *tx)
            .await?;
            if limit.max.is_some_and(|max| count >= max) {
                return Ok(Admission::Refused {
                    oldest_ms: oldest_ms.unwrap_or(now_ms),
                });
            }
            counts.push(count + 1);
        }
        for limit in limits {
            sqlx::query(
                "INSERT INTO throttle_hits (subject, hit_at, attempt_id)
                 VALUES ($1, to_timestamp($2::float8 / 1000), $3)",
            )
            .bind(limit.subject)
            .bind(now_ms)
            .bind(attempt_id)
            .execute(&mut *tx)
            .await?;
        }
        // Rows another attempt holds are left for a later sweep: waiting for
        // them could deadlock two attempts.
        sqlx::query(
            "DELETE FROM throttle_hits WHERE ctid IN (
                SELECT ctid FROM throttle_hits
                WHERE hit_at <= to_timestamp($1::float8 / 1000)
                LIMIT 1000 FOR UPDATE SKIP LOCKED)",
        )
        .bind(forget_before_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Admission::Admitted { counts })
    }

    /// Takes back an attempt that succeeded, and forgives `subjects`.
    pub async fn forgive_attempt(
        &self,
        attempt_id: &str,
        subjects: &[&str],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        lock_subjects(&mut tx, subjects).await?;
        sqlx::query("DELETE FROM throttle_hits WHERE attempt_id = $1")
            .bind(attempt_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM throttle_hits WHERE subject = ANY($1)")
            .bind(subjects)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

/// Holds each subject's advisory lock until the transaction ends, taken in
/// one order so that two transactions cannot deadlock on them.
async fn lock_subjects(tx: &mut sqlx::PgConnection, subjects: &[&str]) -> Result<(), sqlx::Error> {
    let mut sorted = subjects.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for subject in sorted {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
