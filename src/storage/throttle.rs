//! Throttling's hits, one body for both databases.

use super::{
    either::{lock_throttle_subjects, on_either, sweep_throttle_hits},
    Admission, Db, Limit,
};
use crate::shared::clock::UnixMs;

impl Db {
    /// Counts an attempt against every limit, or refuses it, in one write
    /// transaction behind each subject's lock: concurrent attempts queue
    /// (on any replica), so each sees every attempt admitted before it, even
    /// those whose password is still being checked. Hits older than
    /// `forget_before` go.
    pub async fn admit_attempt(
        &self,
        limits: &[Limit<'_>],
        attempt_id: &str,
        now: UnixMs,
        forget_before: UnixMs,
    ) -> Result<Admission, sqlx::Error> {
        let mut tx = self.write().await?;
        let subjects: Vec<&str> = limits.iter().map(|limit| limit.subject).collect();
        lock_throttle_subjects(tx.conn(), &subjects).await?;
        let mut counts = Vec::with_capacity(limits.len());
        for limit in limits {
            let (count, oldest): (i64, Option<UnixMs>) = on_either!(tx.conn(), c => sqlx::query_as(
                "SELECT COUNT(*), MIN(hit_at) FROM throttle_hits
                 WHERE subject = $1 AND hit_at > $2",
            )
            .bind(limit.subject)
            .bind(limit.since)
            .fetch_one(c)
            .await?);
            if limit.max.is_some_and(|max| count >= max) {
                return Ok(Admission::Refused {
                    oldest: oldest.unwrap_or(now),
                });
            }
            counts.push(count + 1);
        }
        for limit in limits {
            on_either!(tx.conn(), c => sqlx::query(
                "INSERT INTO throttle_hits (subject, hit_at, attempt_id) VALUES ($1, $2, $3)",
            )
            .bind(limit.subject)
            .bind(now)
            .bind(attempt_id)
            .execute(c)
            .await
            .map(drop))?;
        }
        sweep_throttle_hits(tx.conn(), forget_before).await?;
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
        lock_throttle_subjects(tx.conn(), subjects).await?;
        on_either!(tx.conn(), c => sqlx::query("DELETE FROM throttle_hits WHERE attempt_id = $1")
            .bind(attempt_id)
            .execute(c)
            .await
            .map(drop))?;
        for subject in subjects {
            on_either!(tx.conn(), c => sqlx::query("DELETE FROM throttle_hits WHERE subject = $1")
                .bind(*subject)
                .execute(c)
                .await
                .map(drop))?;
        }
        tx.commit().await
    }
}
