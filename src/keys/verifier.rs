//! The hot path: checking a key that a platform service was presented.
//! Malformed keys are refused without a look-up; everything else is
//! answered from the [`CredentialCache`] after the first use, and judged
//! against the clock of this moment every time.

use super::{
    cache::{CredentialCache, Lookup},
    catalogue::{Catalogues, Requirement},
    credential::{Credential, Verdict, Verification, VerifiedKey},
    limiter::{LimitState, LimitVerdict, RateLimiter},
    secret::{self, KeyFormat, RawDigest},
    usage::{Outcome, UsageTracker},
    wallet::CreditState,
};
use crate::{
    error::AppError,
    shared::{
        clock::UnixMs,
        ids::KeyId,
        shards::{lock, Counter},
    },
    storage::Db,
};
use std::{
    collections::HashMap,
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
    requests: Arc<InFlight>,
}

/// The `request_id`s being answered in this process, one verification of
/// each at a time: a retry that arrives while the first is answered waits
/// for its answer instead of spending and giving back (which would show in
/// the first one's `remaining`). Bounded by the verifications in flight.
#[derive(Default)]
struct InFlight(std::sync::Mutex<HashMap<RequestKey, Arc<tokio::sync::Mutex<()>>>>);

/// A key and one of its verifications' `request_id`.
type RequestKey = (KeyId, String);

/// This verification's turn at its `request_id`.
struct Turn<'a> {
    requests: &'a InFlight,
    id: RequestKey,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl InFlight {
    async fn turn(&self, key_id: &KeyId, request_id: &str) -> Turn<'_> {
        let id = (key_id.clone(), request_id.to_owned());
        let slot = Arc::clone(lock(&self.0).entry(id.clone()).or_default());
        Turn {
            requests: self,
            id,
            _held: slot.lock_owned().await,
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut slots = lock(&self.requests.0);
        // The map's and this turn's: nobody waits behind it.
        if slots
            .get(&self.id)
            .is_some_and(|slot| Arc::strong_count(slot) <= 2)
        {
            slots.remove(&self.id);
        }
    }
}

/// What a verification spends from the key's rate limits: its cost (0 to
/// check without spending) against all of them, or only those named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub cost: i64,
    pub only: Option<Vec<String>>,
    /// The caller's id for this verification: a retry with the same one
    /// (within [`REQUEST_ID_LIFETIME`], on any server) is answered as the
    /// first was and spends nothing again.
    pub request_id: Option<String>,
}

/// How long verify remembers what it answered a `request_id`.
pub const REQUEST_ID_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// A verdict that spent (or was refused spending), as kept for its
/// `request_id`.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptVerdict {
    code: String,
    limits: Vec<LimitState>,
    credits: Option<CreditState>,
    retry_after_ms: Option<i64>,
}

impl KeptVerdict {
    fn of(verdict: &Verdict) -> Self {
        KeptVerdict {
            code: verdict.verification.code().to_owned(),
            limits: verdict.limits.clone(),
            credits: verdict.credits,
            retry_after_ms: match verdict.verification {
                Verification::RateLimited { retry_after_ms } => Some(retry_after_ms),
                _ => None,
            },
        }
    }

    /// The verdict again, for the key as it is now.
    fn verdict(self, key: &Arc<VerifiedKey>) -> Option<Verdict> {
        let verification = match self.code.as_str() {
            "VALID" => Verification::Valid(Arc::clone(key)),
            "RATE_LIMITED" => Verification::RateLimited {
                retry_after_ms: self.retry_after_ms.unwrap_or(0),
            },
            "USAGE_EXCEEDED" => Verification::UsageExceeded,
            _ => return None,
        };
        Some(Verdict {
            verification,
            limits: self.limits,
            credits: self.credits,
            spent: 0,
        })
    }
}

impl Default for Charge {
    fn default() -> Self {
        Charge {
            cost: 1,
            only: None,
            request_id: None,
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
            requests: Arc::default(),
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
                self.spend(&credential, key, charge).await?
            }
            (outcome, _) => outcome.into(),
        };
        if let Some(counted) = usage_outcome(&verdict.verification) {
            self.usage
                .record_spending(credential.key_id(), counted, now, client_ip, verdict.spent);
        }
        Ok(verdict)
    }

    /// Takes the charge's cost from the key's limits and credits, or
    /// answers as it did the first time it saw the charge's `request_id`.
    async fn spend(
        &self,
        credential: &Credential,
        key: Arc<VerifiedKey>,
        charge: &Charge,
    ) -> Result<Verdict, AppError> {
        let key_id = credential.key_id();
        let _turn = match &charge.request_id {
            Some(request_id) => Some(self.requests.turn(key_id, request_id).await),
            None => None,
        };
        if let Some(request_id) = &charge.request_id {
            if let Some(kept) = self.kept(key_id, request_id, &key).await? {
                return Ok(kept);
            }
        }
        let limits = credential.limits(charge.only.as_deref());
        let wallet = credential.wallet();
        let verdict = match self.limiter.admit(&limits, wallet, charge.cost).await? {
            LimitVerdict::Admitted(limits, credits) => Verdict {
                verification: Verification::Valid(Arc::clone(&key)),
                limits,
                credits,
                spent: credits.map_or(0, |_| charge.cost),
            },
            LimitVerdict::Refused {
                states,
                retry_after_ms,
            } => Verdict {
                limits: states,
                ..Verification::RateLimited { retry_after_ms }.into()
            },
            LimitVerdict::Exhausted(limits, credits) => Verdict {
                limits,
                credits: Some(credits),
                ..Verification::UsageExceeded.into()
            },
        };
        let Some(request_id) = &charge.request_id else {
            return Ok(verdict);
        };
        let now = UnixMs::now();
        let answer =
            serde_json::to_string(&KeptVerdict::of(&verdict)).map_err(|_| AppError::Internal)?;
        let kept = self
            .db
            .keep_verify_answer(key_id, request_id, &answer, now, now - REQUEST_ID_LIFETIME)
            .await?;
        if kept {
            return Ok(verdict);
        }
        // Another verification of this request_id was answered first (on
        // this server or another): what this one took goes back, and it
        // answers as that one did.
        if let Verification::Valid(_) = verdict.verification {
            let spent = wallet.zip(verdict.credits);
            self.limiter
                .refund(&limits, &verdict.limits, spent, charge.cost);
        }
        let refunded = Verdict {
            spent: 0,
            ..verdict
        };
        Ok(self
            .kept(key_id, request_id, &key)
            .await?
            .unwrap_or(refunded))
    }

    /// What verify answered `request_id` of this key within a day.
    async fn kept(
        &self,
        key_id: &KeyId,
        request_id: &str,
        key: &Arc<VerifiedKey>,
    ) -> Result<Option<Verdict>, AppError> {
        let since = UnixMs::now() - REQUEST_ID_LIFETIME;
        let kept = self.db.verify_answer(key_id, request_id, since).await?;
        Ok(kept
            .and_then(|text| serde_json::from_str::<KeptVerdict>(&text).ok())
            .and_then(|kept| kept.verdict(key)))
    }

    async fn load(&self, digest: RawDigest) -> Result<Lookup, AppError> {
        let read_at = self.cache.generation();
        let lookup = self
            .db
            .key_by_digest(&hex::encode(digest))
            .await?
            .and_then(|stored| {
                Credential::parse(
                    stored,
                    &self.catalogues,
                    self.limiter.buckets(),
                    self.limiter.wallets(),
                )
            })
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
        Verification::UsageExceeded => Some(Outcome::UsageExceeded),
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
