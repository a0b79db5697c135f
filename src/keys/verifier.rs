//! The hot path: checking a key that a platform service was presented.
//! Malformed keys are refused without a look-up; everything else is
//! answered from the [`CredentialCache`] after the first use, and judged
//! against the clock of this moment every time.

use super::{
    cache::{CredentialCache, Lookup},
    catalogue::{Catalogues, Requirement},
    credential::{Credential, Verdict, Verification},
    limiter::{LimitVerdict, RateLimiter},
    secret::{self, KeyFormat, RawDigest},
    usage::{Outcome, UsageTracker},
};
use crate::{
    error::AppError,
    shared::{clock::UnixMs, shards::Counter},
    storage::Db,
};
use std::{
    net::IpAddr,
    sync::{Arc, LazyLock},
};

/// Checks presented keys, and notes each use.
#[derive(Clone)]
pub struct KeyVerifier {
    db: Db,
    format: KeyFormat,
    usage: UsageTracker,
    cache: CredentialCache,
    catalogues: Arc<Catalogues>,
    limiter: RateLimiter,
}

/// What a verification spends from the key's rate limits: its cost (0 to
/// check without spending) against all of them, or only those named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub cost: i64,
    pub only: Option<Vec<String>>,
}

impl Default for Charge {
    fn default() -> Self {
        Charge {
            cost: 1,
            only: None,
        }
    }
}

impl KeyVerifier {
    pub fn new(
        db: Db,
        format: KeyFormat,
        usage: UsageTracker,
        cache: CredentialCache,
        catalogues: Arc<Catalogues>,
        limiter: RateLimiter,
    ) -> Self {
        KeyVerifier {
            db,
            format,
            usage,
            cache,
            catalogues,
            limiter,
        }
    }

    /// Checks a presented key: its form first (no look-up for typos), then
    /// its state, scope and allowed addresses, against the clock of this
    /// moment; then, with a `charge`, takes its cost from the key's rate
    /// limits (a refusal before them takes nothing).
    pub async fn verify(
        &self,
        presented: &str,
        required: &Requirement,
        client_ip: Option<IpAddr>,
        charge: Option<&Charge>,
    ) -> Result<Verdict, AppError> {
        let verdict = self.check(presented, required, client_ip, charge).await?;
        count(&verdict.verification);
        Ok(verdict)
    }

    async fn check(
        &self,
        presented: &str,
        required: &Requirement,
        client_ip: Option<IpAddr>,
        charge: Option<&Charge>,
    ) -> Result<Verdict, AppError> {
        if !self.format.is_well_formed(presented) {
            return Ok(Verification::Malformed.into());
        }
        let digest = secret::raw_digest(presented);
        let lookup = match self.cache.get(&digest) {
            Some(cached) => cached,
            None => self.load(digest).await?,
        };
        let Some(credential) = lookup else {
            return Ok(Verification::NotFound.into());
        };
        let now = UnixMs::now();
        let verdict = match (credential.judge(required, client_ip, now), charge) {
            (Verification::Valid(key), Some(charge)) if credential.is_limited() => {
                let limits = credential.limits(charge.only.as_deref());
                match self.limiter.admit(&limits, charge.cost).await? {
                    LimitVerdict::Admitted(limits) => Verdict {
                        verification: Verification::Valid(key),
                        limits,
                    },
                    LimitVerdict::Refused {
                        states,
                        retry_after_ms,
                    } => Verdict {
                        verification: Verification::RateLimited { retry_after_ms },
                        limits: states,
                    },
                }
            }
            (outcome, _) => outcome.into(),
        };
        if let Some(counted) = usage_outcome(&verdict.verification) {
            self.usage
                .record(credential.key_id(), counted, now, client_ip);
        }
        Ok(verdict)
    }

    async fn load(&self, digest: RawDigest) -> Result<Lookup, AppError> {
        let read_at = self.cache.generation();
        let lookup = self
            .db
            .key_by_digest(&hex::encode(digest))
            .await?
            .and_then(|stored| Credential::parse(stored, &self.catalogues, self.limiter.buckets()))
            .map(Arc::new);
        self.cache.fill(digest, lookup.clone(), read_at);
        Ok(lookup)
    }
}

/// How a verdict about a known key counts in its usage.
fn usage_outcome(verdict: &Verification) -> Option<Outcome> {
    match verdict {
        Verification::Valid(_) => Some(Outcome::Valid),
        Verification::Revoked => Some(Outcome::Revoked),
        Verification::Expired => Some(Outcome::Expired),
        Verification::InsufficientScope(_) => Some(Outcome::InsufficientScope),
        Verification::IpNotAllowed => Some(Outcome::IpNotAllowed),
        Verification::RateLimited { .. } => Some(Outcome::RateLimited),
        Verification::Malformed | Verification::NotFound => None,
    }
}

/// Verdicts by code since start, counted per thread (every verification
/// writes one: a counter shared by the cores would move between them on
/// each) and read at each scrape of the metrics.
static BY_CODE: LazyLock<Vec<Counter>> = LazyLock::new(|| {
    Verification::CODES
        .iter()
        .map(|_| Counter::default())
        .collect()
});

fn count(outcome: &Verification) {
    BY_CODE[outcome.index()].add(1);
}

/// Each verdict code, and how many verifications it has answered.
pub fn verdict_counts() -> impl Iterator<Item = (&'static str, u64)> {
    Verification::CODES
        .iter()
        .zip(BY_CODE.iter())
        .map(|(&code, count)| (code, count.sum()))
}
