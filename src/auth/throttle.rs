//! Throttling of password checks and sign-ups, kept in the database so it
//! holds across restarts (and, later, replicas).
//!
//! Every attempt is counted before its password is checked, in the same
//! transaction as the look at the count, so attempts sent at the same
//! moment cannot all slip under the limit. The policy:
//! - one email from one address: `max_failures` per window, then refused;
//! - one address (an IPv6 client by its /64) for every email: the same;
//! - one email from every address: never refused, so nobody can lock the
//!   owner out from a new address, but past `email_slowdown_after` failures
//!   each attempt waits a second more (at most [`MAX_DELAY`]);
//! - sign-ups: `signups_per_hour` per address.

use crate::{
    error::AppError,
    shared::clock::{minutes_until, new_id, UnixMs, HOUR},
    storage::{Admission, Db, Limit},
};
use sha2::{Digest, Sha256};
use std::{net::IpAddr, time::Duration};

/// The longest wait the per-email slow-down imposes on one attempt.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub email_slowdown_after: u32,
    pub signups_per_hour: u32,
    /// Password reset emails per address per hour (ten times as many per
    /// client address).
    pub resets_per_hour: u32,
}

pub struct Throttle<'a> {
    db: &'a Db,
    policy: &'a ThrottlePolicy,
}

/// A password check that was counted; `succeeded` takes it back.
pub struct Attempt {
    id: String,
    forgiven_by_success: [String; 2],
}

/// The client's address as the throttle sees it: IPv6 clients own at least
/// a /64, so they are counted by it.
fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

/// A subject as a digest: the table never holds an email or address in clear.
fn digest(kind: &str, value: &str) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{value}")))
}

impl<'a> Throttle<'a> {
    pub fn new(db: &'a Db, policy: &'a ThrottlePolicy) -> Self {
        Throttle { db, policy }
    }

    /// Counts a password check for `email` from `ip`, or refuses it. Past
    /// the per-email slow-down it returns only after the delay.
    pub async fn begin_password_check(
        &self,
        email: &str,
        ip: Option<IpAddr>,
        now: UnixMs,
    ) -> Result<Attempt, AppError> {
        let address = address_key(ip);
        let pair = digest("email+address", &format!("{email}\n{address}"));
        let per_address = digest("address", &address);
        let per_email = digest("email", email);
        let window = self.policy.window;
        let max = Some(i64::from(self.policy.max_failures));
        let since = now - window;
        let limits = [
            Limit {
                subject: &pair,
                max,
                since,
            },
            Limit {
                subject: &per_address,
                max,
                since,
            },
            Limit {
                subject: &per_email,
                max: None,
                since,
            },
        ];
        let (id, admission) = self.admit(&limits, now).await?;
        match admission {
            Admission::Refused { oldest } => Err(AppError::Throttled {
                retry_after_minutes: minutes_until((oldest + window).since(now), window),
            }),
            Admission::Admitted { counts } => {
                let email_failures = counts[2] - 1;
                let delay = slowdown(email_failures, self.policy.email_slowdown_after);
                tokio::time::sleep(delay).await;
                Ok(Attempt {
                    id,
                    forgiven_by_success: [pair, per_email],
                })
            }
        }
    }

    /// The password was right: the attempt is taken back, and the email's
    /// failures (from this address and overall) are forgiven. The address's
    /// are not: one good password must not reset a spray across accounts.
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), AppError> {
        let [pair, email] = &attempt.forgiven_by_success;
        self.db
            .forgive_attempt(&attempt.id, &[pair.as_str(), email.as_str()])
            .await?;
        Ok(())
    }

    /// Counts a new attempt, named by the returned id, against `limits`.
    async fn admit(
        &self,
        limits: &[Limit<'_>],
        now: UnixMs,
    ) -> Result<(String, Admission), AppError> {
        let id = new_id("att");
        // Nothing older than the longest window matters to any limit.
        let forget_before = now - self.policy.window.max(HOUR);
        let admission = self
            .db
            .admit_attempt(limits, &id, now, forget_before)
            .await?;
        Ok((id, admission))
    }

    /// Counts a sign-up from `ip`, or refuses it.
    pub async fn begin_sign_up(&self, ip: Option<IpAddr>, now: UnixMs) -> Result<(), AppError> {
        let subject = digest("sign-up", &address_key(ip));
        let limits = [Limit {
            subject: &subject,
            max: Some(i64::from(self.policy.signups_per_hour)),
            since: now - HOUR,
        }];
        match self.admit(&limits, now).await?.1 {
            Admission::Refused { oldest } => Err(AppError::TooManySignUps {
                retry_after_minutes: minutes_until((oldest + HOUR).since(now), HOUR),
            }),
            Admission::Admitted { .. } => Ok(()),
        }
    }
}

impl Throttle<'_> {
    /// Counts a request for a mailed link of `kind` (`reset`, `verify`)
    /// to `email` from `ip`, or refuses it. Counted whether or not the
    /// email has an account, so the answer says nothing about that.
    pub async fn begin_link_request(
        &self,
        kind: &str,
        email: &str,
        ip: Option<IpAddr>,
        now: UnixMs,
    ) -> Result<(), AppError> {
        let per_email = digest(&format!("{kind}-email"), email);
        let per_address = digest(&format!("{kind}-address"), &address_key(ip));
        let per_hour = i64::from(self.policy.resets_per_hour);
        let since = now - HOUR;
        let limits = [
            Limit {
                subject: &per_email,
                max: Some(per_hour),
                since,
            },
            Limit {
                subject: &per_address,
                max: Some(per_hour * 10),
                since,
            },
        ];
        match self.admit(&limits, now).await?.1 {
            Admission::Refused { oldest } => Err(AppError::TooManyEmails {
                retry_after_minutes: minutes_until((oldest + HOUR).since(now), HOUR),
            }),
            Admission::Admitted { .. } => Ok(()),
        }
    }
}

/// One second more for each failure past the slow-down threshold.
fn slowdown(email_failures: i64, threshold: u32) -> Duration {
    let over = email_failures - i64::from(threshold);
    if over < 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(over as u64 + 1).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
            email_slowdown_after: 2,
            signups_per_hour: 3,
            resets_per_hour: 2,
        }
    }

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        (dir, db)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    /// `ms` milliseconds after the tests' starting moment.
    fn at(ms: i64) -> UnixMs {
        UnixMs::from_millis(1_000_000_000 + ms)
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_ne!(address_key(ip("192.0.2.7")), address_key(ip("192.0.2.8")));
    }

    #[test]
    fn the_slowdown_starts_past_the_threshold_and_is_capped() {
        assert_eq!(slowdown(1, 2), Duration::ZERO);
        assert_eq!(slowdown(2, 2), Duration::from_secs(1));
        assert_eq!(slowdown(4, 2), Duration::from_secs(3));
        assert_eq!(slowdown(500, 2), MAX_DELAY);
    }

    #[tokio::test]
    async fn the_sixth_attempt_from_one_address_is_refused_until_the_window_passes() {
        let (_dir, db) = db().await;
        let policy = ThrottlePolicy {
            email_slowdown_after: 100,
            ..policy()
        };
        let throttle = Throttle::new(&db, &policy);
        for i in 0..5 {
            throttle
                .begin_password_check("ada@example.com", ip("192.0.2.1"), at(i))
                .await
                .unwrap();
        }
        let refused = throttle
            .begin_password_check("ada@example.com", ip("192.0.2.1"), at(10))
            .await
            .err()
            .unwrap();
        assert_eq!(
            refused,
            AppError::Throttled {
                retry_after_minutes: 15
            }
        );
        // Another address is not locked out of this email.
        throttle
            .begin_password_check("ada@example.com", ip("198.51.100.1"), at(11))
            .await
            .unwrap();
        let later = at(15 * 60_000 + 1);
        throttle
            .begin_password_check("ada@example.com", ip("192.0.2.1"), later)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_success_takes_its_attempt_back_and_forgives_the_email() {
        let (_dir, db) = db().await;
        let policy = ThrottlePolicy {
            max_failures: 2,
            email_slowdown_after: 100,
            ..policy()
        };
        let throttle = Throttle::new(&db, &policy);
        throttle
            .begin_password_check("ada@example.com", ip("192.0.2.1"), at(0))
            .await
            .unwrap();
        let good = throttle
            .begin_password_check("ada@example.com", ip("192.0.2.1"), at(1))
            .await
            .unwrap();
        throttle.succeeded(good).await.unwrap();
        // The success is not counted, and the email is forgiven; the
        // address keeps its one failure, so one more attempt is allowed.
        throttle
            .begin_password_check("ada@example.com", ip("192.0.2.1"), at(2))
            .await
            .unwrap();
        assert!(throttle
            .begin_password_check("ada@example.com", ip("192.0.2.1"), at(9))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn password_resets_are_limited_per_email_and_per_address() {
        let (_dir, db) = db().await;
        let policy = policy();
        let throttle = Throttle::new(&db, &policy);
        let reset = |email: &'static str, ip_text: &str, ms: i64| {
            throttle.begin_link_request("reset", email, ip(ip_text), at(ms))
        };
        reset("ada@example.com", "192.0.2.1", 0).await.unwrap();
        reset("ada@example.com", "192.0.2.2", 1).await.unwrap();
        let refused = reset("ada@example.com", "192.0.2.3", 2).await.unwrap_err();
        assert_eq!(
            refused,
            AppError::TooManyEmails {
                retry_after_minutes: 60
            }
        );
        for n in 0..20 {
            let email = format!("u{n}@example.com");
            throttle
                .begin_link_request("reset", &email, ip("198.51.100.1"), at(10 + n))
                .await
                .unwrap();
        }
        assert!(reset("last@example.com", "198.51.100.1", 40).await.is_err());
        reset("ada@example.com", "192.0.2.1", 3_600_001)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn sign_ups_are_limited_per_address_per_hour() {
        let (_dir, db) = db().await;
        let policy = policy();
        let throttle = Throttle::new(&db, &policy);
        for i in 0..3 {
            throttle
                .begin_sign_up(ip("2001:db8::1"), at(i))
                .await
                .unwrap();
        }
        let refused = throttle
            .begin_sign_up(ip("2001:db8::ffff"), at(5))
            .await
            .err()
            .unwrap();
        assert_eq!(
            refused,
            AppError::TooManySignUps {
                retry_after_minutes: 60
            }
        );
        throttle
            .begin_sign_up(ip("192.0.2.1"), at(6))
            .await
            .unwrap();
        throttle
            .begin_sign_up(ip("2001:db8::1"), at(3_600_001))
            .await
            .unwrap();
    }
}
