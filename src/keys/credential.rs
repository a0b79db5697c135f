//! A key as verification sees it, and the verdict on one presented use.

use super::{
    catalogue::{Catalogues, Grants, Requirement},
    limiter::{AppliedLimit, Holder, LimitBuckets, LimitState},
    limits::RateLimits,
    meta::MetaJson,
    model::KeyStatus,
    wallet::{CreditState, Wallet, Wallets},
    IpAllowlist, Scope, Scopes,
};
use crate::{
    shared::{
        clock::UnixMs,
        ids::{AccountId, KeyId},
        key_type::KeyType,
    },
    storage::KeyCredential,
};
use bytes::Bytes;
use std::{
    net::IpAddr,
    sync::{Arc, OnceLock},
};

/// The outcome of checking a presented key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Shared with the cache entry: a verification copies no strings.
    Valid(Arc<VerifiedKey>),
    Malformed,
    NotFound,
    Revoked,
    Expired,
    /// The required scopes the key does not hold, by name.
    InsufficientScope(Vec<Scope>),
    IpNotAllowed,
    /// A rate limit had no room for the cost; nothing was taken. It may
    /// come again in this many milliseconds.
    RateLimited {
        retry_after_ms: i64,
    },
    /// Fewer credits than the cost remain; nothing was taken.
    UsageExceeded,
}

impl Verification {
    /// Every code, in the order of [`Self::index`].
    pub const CODES: [&'static str; 9] = [
        "VALID",
        "MALFORMED",
        "NOT_FOUND",
        "REVOKED",
        "EXPIRED",
        "INSUFFICIENT_SCOPE",
        "IP_NOT_ALLOWED",
        "RATE_LIMITED",
        "USAGE_EXCEEDED",
    ];

    /// The stable code the verification endpoint answers with.
    pub fn code(&self) -> &'static str {
        Self::CODES[self.index()]
    }

    /// Where this verdict's code is in [`Self::CODES`].
    pub fn index(&self) -> usize {
        match self {
            Verification::Valid(_) => 0,
            Verification::Malformed => 1,
            Verification::NotFound => 2,
            Verification::Revoked => 3,
            Verification::Expired => 4,
            Verification::InsufficientScope(_) => 5,
            Verification::IpNotAllowed => 6,
            Verification::RateLimited { .. } => 7,
            Verification::UsageExceeded => 8,
        }
    }
}

/// A verification's outcome, and where each rate limit it counted against
/// stands after it (none for a key without limits, and for a refusal that
/// came before the limits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub verification: Verification,
    pub limits: Vec<LimitState>,
    /// Where the key's credits stand, for a key that keeps them (and a
    /// verdict that reached them).
    pub credits: Option<CreditState>,
    /// Credits this verification spent: its cost when it took them, none
    /// for a refusal or an answer repeated for its `request_id`.
    pub spent: i64,
}

impl From<Verification> for Verdict {
    fn from(verification: Verification) -> Self {
        Verdict {
            verification,
            limits: Vec::new(),
            credits: None,
            spent: 0,
        }
    }
}

/// What a valid key may do, for the service that accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedKey {
    pub key_id: KeyId,
    pub kind: KeyType,
    pub account_id: AccountId,
    pub name: String,
    /// The scopes it holds that the catalogue offers (those it dropped
    /// grant nothing, and are not answered).
    pub scopes: Vec<Scope>,
    /// What those grant, implications followed.
    pub grants: Grants,
    pub external_id: Option<String>,
    /// The key's `meta` as stored (compact JSON), answered as it is:
    /// verify never decodes nor re-encodes it.
    pub meta: Option<MetaJson>,
    pub expires_at: Option<UnixMs>,
    /// What the verify endpoint answers for this key, rendered on its first
    /// valid verification and kept with the key in the cache: every valid
    /// answer of one cache entry is the same, and a change to the key
    /// replaces the entry.
    pub answer: RenderedAnswer,
}

/// A door's rendering of a valid verdict, made once (the keys service
/// never reads it). Not part of what a key is, so always equal.
#[derive(Clone, Debug, Default)]
pub struct RenderedAnswer(OnceLock<Bytes>);

impl RenderedAnswer {
    /// The rendering, made by `render` the first time.
    pub fn get_or_render<E>(&self, render: impl FnOnce() -> Result<Bytes, E>) -> Result<Bytes, E> {
        if let Some(rendered) = self.0.get() {
            return Ok(rendered.clone());
        }
        let rendered = render()?;
        Ok(self.0.get_or_init(|| rendered).clone())
    }
}

impl PartialEq for RenderedAnswer {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RenderedAnswer {}

/// A key as verification needs it, its stored scopes and addresses parsed
/// once when it enters the cache.
#[derive(Debug)]
pub struct Credential {
    key: Arc<VerifiedKey>,
    ips: IpAllowlist,
    revoked_at: Option<UnixMs>,
    /// The presented secret is the one a rotation replaced; it works only
    /// until `previous_expires_at`.
    is_previous: bool,
    previous_expires_at: Option<UnixMs>,
    /// The key's rate limits, then its account's.
    limits: Vec<AppliedLimit>,
    /// Its credits, if it keeps them.
    wallet: Option<Arc<Wallet>>,
}

impl Credential {
    /// The key's id, for counting its use.
    pub fn key_id(&self) -> &KeyId {
        &self.key.key_id
    }

    /// `None` (and an error in the log) if the stored addresses do not
    /// parse, which only a hand-edited database can cause. Its scopes are
    /// read against its kind's catalogue, once, as it enters the cache.
    pub(super) fn parse(
        stored: KeyCredential,
        catalogues: &Catalogues,
        buckets: &LimitBuckets,
        wallets: &Wallets,
    ) -> Option<Self> {
        let catalogue = catalogues.of(stored.key_type);
        let Ok(ips) = IpAllowlist::from_text(&stored.ip_allowlist) else {
            tracing::error!(key_id = %stored.id, "stored IP allowlist does not parse");
            return None;
        };
        let (Some(own), Some(account)) = (
            RateLimits::from_text(&stored.ratelimits),
            RateLimits::from_text(&stored.account_ratelimits),
        ) else {
            tracing::error!(key_id = %stored.id, "stored rate limits do not parse");
            return None;
        };
        let limits =
            own.into_vec()
                .into_iter()
                .map(|spec| buckets.apply(stored.id.as_str(), Holder::Key, spec))
                .chain(
                    account.into_vec().into_iter().map(|spec| {
                        buckets.apply(stored.account_id.as_str(), Holder::Account, spec)
                    }),
                )
                .collect();
        let scopes = Scopes::from_text(&stored.scopes);
        let wallet = stored.has_credits.then(|| wallets.of(&stored.id));
        Some(Credential {
            key: Arc::new(VerifiedKey {
                key_id: stored.id,
                kind: stored.key_type,
                account_id: stored.account_id,
                name: stored.name,
                grants: catalogue.grants(&scopes),
                scopes: catalogue.offered(&scopes),
                external_id: stored.external_id,
                meta: stored.meta.and_then(MetaJson::from_text),
                expires_at: stored.expires_at,
                answer: RenderedAnswer::default(),
            }),
            ips,
            revoked_at: stored.revoked_at,
            is_previous: stored.is_previous,
            previous_expires_at: stored.previous_expires_at,
            limits,
            wallet,
        })
    }

    /// The limits a verification counts against: all of them, or those of
    /// the names given (each name may be the key's and its account's).
    pub(super) fn limits<'a>(&'a self, only: Option<&[String]>) -> Vec<&'a AppliedLimit> {
        self.limits
            .iter()
            .filter(|limit| only.is_none_or(|names| names.contains(&limit.spec.name)))
            .collect()
    }

    pub(super) fn is_limited(&self) -> bool {
        !self.limits.is_empty() || self.wallet.is_some()
    }

    pub(super) fn wallet(&self) -> Option<&Wallet> {
        self.wallet.as_deref()
    }

    /// State first, then scope, then address.
    pub(super) fn judge(
        &self,
        required: &Requirement,
        client_ip: Option<IpAddr>,
        now: UnixMs,
    ) -> Verification {
        match KeyStatus::of(self.revoked_at, self.key.expires_at, now) {
            KeyStatus::Revoked => return Verification::Revoked,
            KeyStatus::Expired => return Verification::Expired,
            KeyStatus::Active => {}
        }
        let grace_over = self.previous_expires_at.is_none_or(|end| end <= now);
        if self.is_previous && grace_over {
            return Verification::Expired;
        }
        // A management key's scopes are Keysmith's own: it holds none of
        // the operator's.
        let missing = match self.key.kind {
            KeyType::Api => required.missing(&self.key.grants),
            KeyType::Management => required.scopes(),
        };
        if !missing.is_empty() {
            return Verification::InsufficientScope(missing);
        }
        if !self.ips.is_empty() && !client_ip.is_some_and(|ip| self.ips.allows(ip)) {
            return Verification::IpNotAllowed;
        }
        Verification::Valid(Arc::clone(&self.key))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::keys::catalogue::Catalogue;

    #[test]
    fn an_answer_is_rendered_once_and_a_failed_rendering_is_not_kept() {
        let answer = RenderedAnswer::default();
        let failed: Result<Bytes, &str> = answer.get_or_render(|| Err("no"));
        assert_eq!(failed, Err("no"));
        let mut renderings = 0;
        for _ in 0..3 {
            let rendered = answer.get_or_render(|| {
                renderings += 1;
                Ok::<_, ()>(Bytes::from_static(b"{}"))
            });
            assert_eq!(rendered.unwrap(), "{}");
        }
        assert_eq!(renderings, 1);
    }

    fn at(ms: i64) -> UnixMs {
        UnixMs::from_millis(ms)
    }

    pub(in crate::keys) fn credential() -> Credential {
        stored(sample())
    }

    fn sample() -> KeyCredential {
        KeyCredential {
            id: "key_1".parse().unwrap(),
            key_type: KeyType::Api,
            account_id: "acc_1".parse().unwrap(),
            name: "CI".into(),
            scopes: "read".into(),
            ip_allowlist: "10.0.0.0/8".into(),
            external_id: Some("cust_42".into()),
            meta: Some(r#"{"plan":"pro"}"#.into()),
            expires_at: Some(at(1_000)),
            revoked_at: None,
            is_previous: false,
            previous_expires_at: None,
            ratelimits: "[]".into(),
            account_ratelimits: "[]".into(),
            has_credits: false,
        }
    }

    fn stored(credential: KeyCredential) -> Credential {
        Credential::parse(
            credential,
            &catalogues(),
            &LimitBuckets::new(10),
            &Wallets::new(false, 10),
        )
        .unwrap()
    }

    /// What a verification requires, of the standard catalogue.
    fn catalogues() -> Catalogues {
        Catalogues::new(Arc::new(Catalogue::standard()))
    }

    fn needs(names: &[&str]) -> Requirement {
        Catalogue::standard()
            .requirement(names, "required_scopes")
            .unwrap()
    }

    fn scope(name: &str) -> Scope {
        Scope::parse(name).unwrap()
    }

    #[test]
    fn verification_checks_state_then_scope_then_address() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let found = credential();
        assert!(matches!(
            found.judge(&needs(&["search"]), Some(ip), at(999)),
            Verification::Valid(_)
        ));
        assert_eq!(
            found.judge(&needs(&[]), Some(ip), at(1_000)),
            Verification::Expired
        );
        assert_eq!(
            found.judge(&needs(&["write", "read", "admin"]), Some(ip), at(999)),
            Verification::InsufficientScope(vec![scope("admin"), scope("write")])
        );
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            found.judge(&needs(&[]), Some(outside), at(999)),
            Verification::IpNotAllowed
        );
        assert_eq!(
            found.judge(&needs(&[]), None, at(999)),
            Verification::IpNotAllowed
        );
        let revoked = Credential {
            revoked_at: Some(at(5)),
            ..credential()
        };
        assert_eq!(
            revoked.judge(&needs(&[]), Some(ip), at(999)),
            Verification::Revoked
        );
    }

    #[test]
    fn a_replaced_secret_works_only_until_its_grace_period_ends() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let old = Credential {
            is_previous: true,
            previous_expires_at: Some(at(500)),
            ..credential()
        };
        assert!(matches!(
            old.judge(&needs(&[]), Some(ip), at(499)),
            Verification::Valid(_)
        ));
        assert_eq!(
            old.judge(&needs(&[]), Some(ip), at(500)),
            Verification::Expired
        );
        let no_grace = Credential {
            previous_expires_at: None,
            ..old
        };
        assert_eq!(
            no_grace.judge(&needs(&[]), Some(ip), at(1)),
            Verification::Expired
        );
    }

    #[test]
    fn a_valid_verdict_shares_the_cached_key_instead_of_copying_it() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let found = credential();
        let (Verification::Valid(first), Verification::Valid(second)) = (
            found.judge(&needs(&[]), Some(ip), at(999)),
            found.judge(&needs(&["read"]), Some(ip), at(999)),
        ) else {
            panic!("both uses are valid");
        };
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.key_id.as_str(), "key_1");
        assert_eq!(first.scopes, [scope("read")]);
    }

    #[test]
    fn a_management_key_holds_none_of_the_operators_scopes() {
        let manager = stored(KeyCredential {
            key_type: KeyType::Management,
            scopes: "keys:read".into(),
            ip_allowlist: String::new(),
            ..sample()
        });
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let Verification::Valid(key) = manager.judge(&needs(&[]), Some(ip), at(999)) else {
            panic!("valid without a requirement");
        };
        assert_eq!(
            (key.kind, key.scopes.clone()),
            (KeyType::Management, vec![scope("keys:read")])
        );
        assert_eq!(
            manager.judge(&needs(&["search"]), Some(ip), at(999)),
            Verification::InsufficientScope(vec![scope("search")])
        );
    }
}
