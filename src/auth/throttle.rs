//! Throttling of failed sign-ins, per email and per client address, kept in
//! the database so it holds across restarts (and, later, replicas).

use crate::{
    error::AppError,
    storage::{Db, NewAuditEvent},
};
use sha2::{Digest, Sha256};
use std::{net::IpAddr, time::Duration};

pub struct Throttle<'a> {
    db: &'a Db,
    max_failures: i64,
    window_ms: i64,
}

/// What a failure is counted against, as a digest: the table never holds an
/// email address or IP in clear.
pub struct Subjects {
    email: String,
    ip: Option<String>,
}

impl Subjects {
    pub fn new(email: &str, ip: Option<IpAddr>) -> Self {
        Subjects {
            email: digest("email", email),
            ip: ip.map(|ip| digest("ip", &ip.to_string())),
        }
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.email.as_str()).chain(self.ip.as_deref())
    }
}

fn digest(kind: &str, value: &str) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{value}")))
}

impl<'a> Throttle<'a> {
    pub fn new(db: &'a Db, max_failures: u32, window: Duration) -> Self {
        Throttle {
            db,
            max_failures: i64::from(max_failures),
            window_ms: window.as_millis() as i64,
        }
    }

    /// Refuses the attempt when either subject has used up its failures.
    pub async fn check(&self, subjects: &Subjects, now_ms: i64) -> Result<(), AppError> {
        for subject in subjects.all() {
            let window = self
                .db
                .login_failures_since(subject, now_ms - self.window_ms)
                .await?;
            if window.count >= self.max_failures {
                let frees_at = window.oldest_ms.unwrap_or(now_ms) + self.window_ms;
                return Err(AppError::Throttled {
                    retry_after_minutes: minutes_until(frees_at - now_ms),
                });
            }
        }
        Ok(())
    }

    pub async fn record_failure(
        &self,
        subjects: &Subjects,
        now_ms: i64,
        event: Option<&NewAuditEvent<'_>>,
    ) -> Result<(), AppError> {
        let all: Vec<&str> = subjects.all().collect();
        self.db
            .record_login_failure(&all, now_ms, now_ms - self.window_ms, event)
            .await?;
        Ok(())
    }

    /// A successful sign-in forgives the email's failures (not the address's:
    /// one good password must not reset a spray across many accounts).
    pub async fn forgive(&self, subjects: &Subjects) -> Result<(), AppError> {
        self.db.clear_login_failures(&subjects.email).await?;
        Ok(())
    }
}

/// Whole minutes, rounded up, never less than one.
fn minutes_until(ms: i64) -> u64 {
    let minutes = (ms.max(0) as u64).div_ceil(60_000);
    minutes.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_time_is_rounded_up_to_whole_minutes() {
        assert_eq!(minutes_until(1), 1);
        assert_eq!(minutes_until(60_000), 1);
        assert_eq!(minutes_until(60_001), 2);
        assert_eq!(minutes_until(-5), 1);
        assert_eq!(minutes_until(15 * 60_000), 15);
    }

    #[test]
    fn subjects_are_digests_not_clear_text() {
        let subjects = Subjects::new("ada@example.com", Some("192.0.2.1".parse().unwrap()));
        let all: Vec<&str> = subjects.all().collect();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|s| s.len() == 64 && !s.contains("ada")));
        assert_ne!(all[0], all[1]);
    }

    #[tokio::test]
    async fn the_sixth_failure_within_the_window_is_refused_until_it_passes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let throttle = Throttle::new(&db, 5, Duration::from_secs(15 * 60));
        let subjects = Subjects::new("ada@example.com", None);
        let start = 1_000_000_000;
        for i in 0..5 {
            throttle.check(&subjects, start + i).await.unwrap();
            throttle
                .record_failure(&subjects, start + i, None)
                .await
                .unwrap();
        }
        let refused = throttle.check(&subjects, start + 10).await.unwrap_err();
        assert_eq!(
            refused,
            AppError::Throttled {
                retry_after_minutes: 15
            }
        );
        let later = start + 15 * 60_000 + 1;
        throttle.check(&subjects, later).await.unwrap();
    }
}
