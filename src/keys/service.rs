//! The rules of API keys: the one place that creates, lists, changes and
//! verifies them, under both the server functions and the REST API. Every
//! operation is confined to the actor's account: another account's key id
//! behaves exactly like an id that does not exist.

use super::{
    cache::{CacheCounts, CredentialCache},
    catalogue::{Catalogue, Catalogues, Requirement},
    credential::{Verdict, VerifiedKey},
    credits::{Credits, CreditsView, MAX_CREDITS},
    draft,
    fanout::{FanOut, FanOutStatus},
    limiter::{LimitBuckets, RateLimiter},
    limits::{RateLimit, RateLimits},
    meta::{ExternalId, KeyMeta, MetaJson},
    model::*,
    scope::CatalogueView,
    secret::{self, KeyFormat, StoredSecret},
    usage::{self, UsageDays, UsageTracker},
    verifier::{Charge, KeyVerifier},
    wallet::Wallets,
    Scope, Scopes,
};
use crate::{
    audit::AuditAction,
    auth::{
        identity::AuthenticatedUser,
        manager::{Manager, Operation},
    },
    error::AppError,
    shared::{
        clock::{self, UnixMs, DAY},
        ids::{AccountId, KeyId},
        key_type::KeyType,
        pagination,
    },
    storage::{
        Db, KeyEdit, KeyListing, KeyRecord, NewAuditEvent, NewKey, NewSecret, StatusFilter,
        StoredCredits,
    },
};
use std::{net::IpAddr, sync::Arc};

const MAX_SEARCH_CHARS: usize = 100;
/// Keys listed in each of the Overview's short lists.
const OVERVIEW_LIST_LEN: i64 = 5;

/// The key service: held once in the server's state and shared by both
/// doors. It owns the database handle, the key format and the verification
/// cache, so every change forgets what the cache knew of the key itself.
#[derive(Clone)]
pub struct Keys(Arc<Parts>);

struct Parts {
    db: Db,
    format: KeyFormat,
    cache: CredentialCache,
    verifier: KeyVerifier,
    fanout: Arc<FanOut>,
    catalogues: Arc<Catalogues>,
    limiter: RateLimiter,
    /// Mail is on: members create keys only once their address is proven.
    proven_addresses_only: bool,
}

impl Keys {
    pub fn new(
        db: Db,
        format: KeyFormat,
        cache: CredentialCache,
        usage: UsageTracker,
        catalogue: Arc<Catalogue>,
        proven_addresses_only: bool,
    ) -> Self {
        let catalogues = Arc::new(Catalogues::new(catalogue));
        // Ten limits (a key's five, its account's five) per cached key.
        let buckets = Arc::new(LimitBuckets::new(cache.capacity().saturating_mul(10)));
        let wallets = Arc::new(Wallets::new(db.is_shared(), cache.capacity()));
        let limiter = RateLimiter::new(db.clone(), db.is_shared(), buckets, wallets);
        let verifier = KeyVerifier::new(
            db.clone(),
            format.clone(),
            usage,
            cache.clone(),
            Arc::clone(&catalogues),
            limiter.clone(),
        );
        Keys(Arc::new(Parts {
            db,
            format,
            cache,
            verifier,
            fanout: Arc::default(),
            catalogues,
            limiter,
            proven_addresses_only,
        }))
    }

    /// While mail is on, a member whose address is unproven creates no
    /// keys: every key must trace back to someone the account can reach.
    async fn require_proven_address(&self, by: &Manager) -> Result<(), AppError> {
        let (true, Some(user_id)) = (self.0.proven_addresses_only, by.user_id()) else {
            return Ok(());
        };
        let user = self
            .0
            .db
            .user_by_id(user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        match user.email_verified_at {
            Some(_) => Ok(()),
            None => Err(AppError::EmailUnverified),
        }
    }

    /// The scopes keys of `kind` may hold, as the dialogs and the API page
    /// list them: the operator's catalogue, or Keysmith's management one.
    pub fn catalogue(&self, kind: KeyType) -> CatalogueView {
        self.0.catalogues.of(kind).view()
    }

    /// Resolves the scopes a verification requires (each must be offered
    /// by the operator's catalogue); `field` names the request's field in
    /// the error.
    pub fn requirement<S: AsRef<str>>(
        &self,
        required: &[S],
        field: &str,
    ) -> Result<Requirement, AppError> {
        self.0.catalogues.platform.requirement(required, field)
    }

    /// Whether a verified API key holds the operator's `scope`, directly or
    /// by implication (a management key holds none of them).
    pub fn key_holds(&self, key: &VerifiedKey, scope: &Scope) -> bool {
        key.kind == KeyType::Api
            && self
                .requirement(&[scope.as_str()], "scope")
                .is_ok_and(|requirement| requirement.missing(&key.grants).is_empty())
    }

    /// Keeps the verification cache true to the changes other processes
    /// sharing the database make (PostgreSQL); nothing to do on SQLite.
    pub fn follow_other_processes(&self) {
        if let Some(changes) = self.0.db.listen_for_key_changes() {
            Arc::clone(&self.0.fanout).follow(changes, self.0.cache.clone());
        }
    }

    /// Whether changes made by other processes are being heard; `None`
    /// when there are none to hear.
    pub fn fanout_status(&self) -> Option<FanOutStatus> {
        self.0.fanout.status()
    }

    /// What every key of this server starts with, e.g. `ks_live_`.
    pub fn prefix(&self) -> &str {
        self.0.format.prefix()
    }

    /// Whether `presented` claims to be one of this server's keys (it starts
    /// with the prefix): what tells a key from a bearer token.
    pub fn is_key_shaped(&self, presented: &str) -> bool {
        presented.starts_with(self.prefix())
    }

    /// Checks a presented key: its form, its state, the scope a caller needs
    /// and the address it is used from. See [`KeyVerifier::verify`].
    pub async fn verify(
        &self,
        presented: &str,
        required: &Requirement,
        client_ip: Option<IpAddr>,
        charge: Option<&Charge>,
    ) -> Result<Verdict, AppError> {
        self.0
            .verifier
            .verify(presented, required, client_ip, charge)
            .await
    }

    /// Gives back the parts of rate limits this process leased and did not
    /// use, as it stops.
    pub async fn give_back_leases(&self) {
        self.0.limiter.give_back_all().await;
    }

    pub fn cache_counts(&self) -> CacheCounts {
        self.0.cache.counts()
    }

    /// Makes a key and shows its secret, this once. Management keys are
    /// made by owners and admins only, never by another management key.
    pub async fn create(&self, by: &Manager, draft: &KeyDraft) -> Result<IssuedKey, AppError> {
        by.require(Operation::ChangeKeys)?;
        if draft.key_type == KeyType::Management {
            by.require(Operation::ManageManagementKeys)?;
        }
        self.require_proven_address(by).await?;
        let catalogue = self.0.catalogues.of(draft.key_type);
        let valid = draft::validate(draft, catalogue, &Scopes::default())?;
        let (secret, stored) = self.0.format.generate();
        let id = KeyId::new();
        let event = NewAuditEvent {
            detail: draft::creation_detail(&valid),
            ..by.event(AuditAction::KeyCreated, Some((&id, valid.name.as_str())))
        };
        let now = event.occurred_at;
        let created_by = by.actor_id();
        let refill_text = refill_json(&valid.credits);
        self.0
            .db
            .insert_key(
                &NewKey {
                    id: &id,
                    key_type: draft.key_type,
                    account_id: &by.account_id,
                    name: valid.name.as_str(),
                    digest: &stored.digest,
                    key_prefix: &stored.key_prefix,
                    last_four: &stored.last_four,
                    scopes: &valid.scopes.to_text(),
                    ip_allowlist: &valid.ips.to_text(),
                    external_id: valid.external_id.as_ref().map(ExternalId::as_str),
                    meta: valid.meta.as_ref().map(KeyMeta::as_str),
                    ratelimits: &valid.ratelimits.to_text(),
                    credits: stored_credits(&valid.credits, &refill_text, now),
                    created_by: &created_by,
                    now,
                    expires_at: valid.expires_in_days.map(|d| now + clock::days(d)),
                },
                &event,
            )
            .await?;
        tracing::info!(key_id = %id, account_id = %by.account_id, key_type = %draft.key_type, "key created");
        let key = self.view_of(&by.account_id, &id).await?;
        Ok(IssuedKey {
            key,
            secret: secret.reveal(),
        })
    }

    pub async fn list(&self, by: &Manager, query: &KeyQuery) -> Result<KeyPage, AppError> {
        by.require(Operation::SeeKeys)?;
        let limit = pagination::page_size(query.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let before = pagination::decode_cursor(query.cursor.as_deref(), "key_")?;
        let search = query
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(AppError::field(
                "search",
                "Search for at most 100 characters.",
            ));
        }
        if search
            .as_ref()
            .is_some_and(|s| s.chars().any(char::is_control))
        {
            return Err(AppError::field(
                "search",
                "Search for printable characters only.",
            ));
        }
        let external_id = query
            .external_id
            .as_deref()
            .map(ExternalId::parse)
            .transpose()?;
        let now = UnixMs::now();
        let rows = self
            .0
            .db
            .keys(&KeyListing {
                account_id: &by.account_id,
                status: query.status.map(status_filter),
                text_contains: search.as_deref(),
                external_id: external_id.as_ref().map(ExternalId::as_str),
                key_type: query.key_type,
                before_id: before.as_deref(),
                limit: limit + 1,
                now,
            })
            .await?;
        let (rows, next_cursor) = pagination::into_page(rows, limit, |r| r.id.as_str());
        Ok(KeyPage {
            keys: rows.into_iter().map(|r| self.view(r, now)).collect(),
            next_cursor,
        })
    }

    /// The rate limits every key of the account shares.
    pub async fn account_ratelimits(&self, by: &Manager) -> Result<Vec<RateLimit>, AppError> {
        by.require(Operation::SeeKeys)?;
        let stored = self.0.db.account_ratelimits(&by.account_id).await?;
        Ok(stored
            .and_then(|text| RateLimits::from_text(&text))
            .unwrap_or_default()
            .into_vec())
    }

    /// Replaces the rate limits every key of the account shares; each
    /// verification of any of its keys counts against them from now on.
    pub async fn set_account_ratelimits(
        &self,
        by: &Manager,
        given: &[RateLimit],
    ) -> Result<Vec<RateLimit>, AppError> {
        by.require(Operation::SetAccountLimits)?;
        let limits = RateLimits::parse(given, "ratelimits")?;
        let before = self.account_ratelimits(by).await?;
        let event = NewAuditEvent {
            detail: Some(format!(
                "ratelimits: {} → {}",
                RateLimits::parse(&before, "ratelimits")
                    .unwrap_or_default()
                    .describe(),
                limits.describe()
            )),
            ..by.event(AuditAction::AccountRateLimitsChanged, None)
        };
        let keys = self
            .0
            .db
            .set_account_ratelimits(&by.account_id, &limits.to_text(), &event)
            .await?;
        self.0
            .cache
            .invalidate(keys.iter().flat_map(|digests| digests.iter()));
        tracing::info!(account_id = %by.account_id, keys = keys.len(), "account rate limits set");
        Ok(limits.into_vec())
    }

    /// Adds credits to a key, or takes some away (`delta` below zero), for
    /// a `reason` the audit log keeps. Only what the key holds can be taken:
    /// this process first gives back what it leased; what other servers
    /// hold comes back within seconds of going unused.
    pub async fn adjust_credits(
        &self,
        by: &Manager,
        id: &KeyId,
        delta: i64,
        reason: &str,
    ) -> Result<ApiKeyView, AppError> {
        let reason = credit_reason(reason);
        let delta_ok = (delta != 0 && delta.abs() <= MAX_CREDITS)
            .then_some(())
            .ok_or_else(|| {
                AppError::field(
                    "delta",
                    format!(
                        "delta must be a whole number from -{MAX_CREDITS} to {MAX_CREDITS}, not 0."
                    ),
                )
            });
        let reason = match (delta_ok, reason) {
            (Ok(()), Ok(reason)) => reason,
            (delta, reason) => return Err(AppError::collect([delta.err(), reason.err()])),
        };
        let current = self.to_change(by, Operation::ChangeKeys, id).await?;
        let _forget = self.0.cache.forget_when_done(current.digests.clone());
        if current.credits_remaining.is_none() {
            return Err(AppError::Conflict(
                "This key keeps no credits: give it some first (credits on update).".into(),
            ));
        }
        self.0.limiter.give_back_credits(&current.id).await?;
        let event = NewAuditEvent {
            detail: Some(format!("credits: {delta:+} ({reason})")),
            ..by.event(
                AuditAction::KeyCreditsChanged,
                Some((&current.id, &current.name)),
            )
        };
        match self
            .0
            .db
            .adjust_credits(&by.account_id, &current.id, delta, &event)
            .await?
        {
            Ok(Some(_)) => {}
            Ok(None) => return Err(AppError::NotFound),
            Err(available) => {
                return Err(AppError::field(
                    "delta",
                    format!(
                        "The key holds {available} credits now: at most that many can be taken."
                    ),
                ))
            }
        }
        tracing::info!(key_id = %current.id, account_id = %by.account_id, delta, "credits changed");
        self.view_of(&by.account_id, &current.id).await
    }

    /// Reports the credits this process holds about once a second (so a
    /// lease of a process that stops reporting can be counted lost), and
    /// gives back those of idle keys.
    pub fn report_credits_every(&self, interval: std::time::Duration) {
        let limiter = self.0.limiter.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = limiter.report_credits().await {
                    tracing::warn!(%error, "cannot report the credits this server holds");
                }
            }
        });
    }

    /// Credits this process found held by servers that stopped reporting.
    pub fn credits_lost(&self) -> u64 {
        self.0.limiter.wallets().lost()
    }

    pub async fn get(&self, by: &Manager, id: &KeyId) -> Result<ApiKeyView, AppError> {
        by.require(Operation::SeeKeys)?;
        self.view_of(&by.account_id, id).await
    }

    /// The key's verifications per day, oldest first, every day of the
    /// span present (as written by the last usage flush).
    pub async fn usage(
        &self,
        by: &Manager,
        id: &KeyId,
        days: UsageDays,
    ) -> Result<Vec<DailyUsage>, AppError> {
        by.require(Operation::SeeKeys)?;
        self.find(&by.account_id, id).await?;
        self.days_of_use(&by.account_id, id, days).await
    }

    /// The key with its last 30 days of use, for its page: one look-up of
    /// the key.
    pub async fn detail(&self, by: &Manager, id: &KeyId) -> Result<KeyDetail, AppError> {
        by.require(Operation::SeeKeys)?;
        let key = self.view_of(&by.account_id, id).await?;
        let usage = self
            .days_of_use(&by.account_id, id, UsageDays::parse(None)?)
            .await?;
        let meta_text = key
            .meta
            .as_ref()
            .map(|meta| KeyMeta::from_stored(meta.as_str()).pretty());
        Ok(KeyDetail {
            key,
            usage,
            meta_text,
        })
    }

    /// Days of use of a key already known to be the account's.
    async fn days_of_use(
        &self,
        account_id: &AccountId,
        id: &KeyId,
        days: UsageDays,
    ) -> Result<Vec<DailyUsage>, AppError> {
        let (first, last) = days.ending(UnixMs::now().day());
        let stored = self.0.db.key_usage(account_id, id, first, last).await?;
        Ok(usage::every_day(first, last, &stored))
    }

    /// The key as the views show it. Credits this process holds of it go
    /// back first, so what it shows is exact on one server (what other
    /// servers hold counts as they last reported it).
    async fn view_of(&self, account_id: &AccountId, id: &KeyId) -> Result<ApiKeyView, AppError> {
        let mut record = self.find(account_id, id).await?;
        if record.credits_remaining.is_some() {
            self.0.limiter.give_back_credits(id).await?;
            record = self.find(account_id, id).await?;
        }
        Ok(self.view(record, UnixMs::now()))
    }

    /// The account's key this change is about, once `by` may make it: a
    /// management key is changed by owners and admins only.
    async fn to_change(
        &self,
        by: &Manager,
        operation: Operation,
        id: &KeyId,
    ) -> Result<KeyRecord, AppError> {
        by.require(operation)?;
        let current = self.find(&by.account_id, id).await?;
        if current.key_type == KeyType::Management {
            by.require(Operation::ManageManagementKeys)?;
        }
        Ok(current)
    }

    pub async fn update(
        &self,
        by: &Manager,
        id: &KeyId,
        changes: &KeyChanges,
    ) -> Result<ApiKeyView, AppError> {
        let current = self.to_change(by, Operation::ChangeKeys, id).await?;
        let _forget = self.0.cache.forget_when_done(current.digests.clone());
        if current.revoked_at.is_some() {
            return Err(AppError::Conflict(
                "A revoked key cannot be changed.".into(),
            ));
        }
        let held = Scopes::from_text(&current.scopes);
        let draft = draft::changed(&current, changes);
        let catalogue = self.0.catalogues.of(current.key_type);
        let valid = draft::validate(&draft, catalogue, &held)?;
        let mut detail = draft::change_detail(&current, &valid);
        if let Some(given) = &changes.credits {
            let credits = given
                .as_ref()
                .map_or("none".to_owned(), draft::describe_credits);
            let parts = detail
                .into_iter()
                .chain([format!("credits set: {credits}")]);
            detail = Some(parts.collect::<Vec<_>>().join("; "));
        }
        let refill_text = refill_json(&changes.credits.flatten());
        let event = NewAuditEvent {
            detail,
            ..by.event(
                AuditAction::KeyUpdated,
                Some((&current.id, valid.name.as_str())),
            )
        };
        let edit = KeyEdit {
            name: valid.name.as_str(),
            scopes: &valid.scopes.to_text(),
            ip_allowlist: &valid.ips.to_text(),
            external_id: valid.external_id.as_ref().map(ExternalId::as_str),
            meta: valid.meta.as_ref().map(KeyMeta::as_str),
            ratelimits: &valid.ratelimits.to_text(),
            credits: changes
                .credits
                .map(|given| stored_credits(&given, &refill_text, event.occurred_at)),
        };
        let changed = self
            .0
            .db
            .update_key(&by.account_id, &current.id, &edit, &event)
            .await?
            // Revoked or deleted since it was read above.
            .ok_or_else(|| {
                AppError::Conflict(
                    "The key was revoked or deleted while it was being changed.".into(),
                )
            })?;
        self.0.cache.invalidate(changed.iter());
        self.view_of(&by.account_id, &current.id).await
    }

    /// Gives a key a new secret, shown once. The old secret stops working at
    /// once, or after `grace_minutes` (at most 7 days) so integrations can
    /// switch without an outage. A second rotation ends the first one's grace.
    pub async fn rotate(
        &self,
        by: &Manager,
        id: &KeyId,
        grace_minutes: i64,
    ) -> Result<IssuedKey, AppError> {
        by.require(Operation::ChangeKeys)?;
        if !(0..=MAX_GRACE_MINUTES).contains(&grace_minutes) {
            return Err(AppError::field(
                "grace_period_minutes",
                "The grace period must be between 0 minutes and 7 days.",
            ));
        }
        let current = self.to_change(by, Operation::ChangeKeys, id).await?;
        let _forget = self.0.cache.forget_when_done(current.digests.clone());
        let (secret, stored): (_, StoredSecret) = self.0.format.generate();
        let event = by.event(AuditAction::KeyRotated, Some((&current.id, &current.name)));
        let now = event.occurred_at;
        if KeyStatus::of(current.revoked_at, current.expires_at, now) != KeyStatus::Active {
            return Err(not_rotatable());
        }
        let new_secret = NewSecret {
            digest: &stored.digest,
            key_prefix: &stored.key_prefix,
            last_four: &stored.last_four,
            previous_expires_at: (grace_minutes > 0).then(|| now + clock::minutes(grace_minutes)),
        };
        let replaced = self
            .0
            .db
            .rotate_key(&by.account_id, &current.id, &new_secret, &event)
            .await?
            .ok_or_else(not_rotatable)?;
        self.0
            .cache
            .invalidate(replaced.iter().chain([stored.digest.as_str()]));
        tracing::info!(key_id = %current.id, grace_minutes, "key rotated");
        let key = self.view_of(&by.account_id, &current.id).await?;
        Ok(IssuedKey {
            key,
            secret: secret.reveal(),
        })
    }

    /// Disables a key for good; it stays listed as revoked. Revoking a revoked
    /// key is not an error and changes nothing.
    pub async fn revoke(&self, by: &Manager, id: &KeyId) -> Result<ApiKeyView, AppError> {
        let current = self.to_change(by, Operation::RevokeKeys, id).await?;
        let _forget = self.0.cache.forget_when_done(current.digests.clone());
        let event = by.event(AuditAction::KeyRevoked, Some((&current.id, &current.name)));
        if let Some(revoked) = self
            .0
            .db
            .revoke_key(&by.account_id, &current.id, &event)
            .await?
        {
            self.0.cache.invalidate(revoked.iter());
            tracing::info!(key_id = %current.id, "key revoked");
        }
        self.view_of(&by.account_id, &current.id).await
    }

    /// Removes a key from the list; its audit events remain. Developers
    /// delete only the keys they created.
    pub async fn delete(&self, by: &Manager, id: &KeyId) -> Result<(), AppError> {
        let current = self.to_change(by, Operation::DeleteKeys, id).await?;
        by.require_delete(current.created_by.as_ref())?;
        let _forget = self.0.cache.forget_when_done(current.digests.clone());
        let event = by.event(AuditAction::KeyDeleted, Some((&current.id, &current.name)));
        let deleted = self
            .0
            .db
            .delete_key(&by.account_id, &current.id, &event)
            .await?
            .ok_or(AppError::NotFound)?;
        self.0.cache.invalidate(deleted.iter());
        tracing::info!(key_id = %current.id, "key deleted");
        Ok(())
    }

    pub async fn stats(&self, user: &AuthenticatedUser) -> Result<KeyStats, AppError> {
        let now = UnixMs::now();
        let counts = self
            .0
            .db
            .key_counts(
                &user.account_id,
                now,
                now + clock::days(EXPIRING_SOON_DAYS),
                now - DAY,
                now.day(),
            )
            .await?;
        Ok(KeyStats {
            active: counts.active,
            expiring_soon: counts.expiring_soon,
            used_last_day: counts.used_last_day,
            requests_today: counts.requests_today,
        })
    }

    /// The account's verifications per day over the last 30 days, its most
    /// used keys and those expiring first.
    pub async fn activity(&self, user: &AuthenticatedUser) -> Result<AccountActivity, AppError> {
        let now = UnixMs::now();
        let (first, last) = UsageDays::parse(None)?.ending(now.day());
        let db = &self.0.db;
        let account = &user.account_id;
        let usage = db.account_usage(account, first, last).await?;
        let most_used = db
            .most_used_keys(account, first, last, OVERVIEW_LIST_LEN)
            .await?
            .into_iter()
            .map(|total| KeyTotal {
                id: total.key_id.into(),
                name: total.name,
                valid: total.valid,
                refused: total.refused,
            })
            .collect();
        let expiring_first = db
            .keys_expiring_first(account, now, OVERVIEW_LIST_LEN)
            .await?
            .into_iter()
            .map(|record| self.view(record, now))
            .collect();
        Ok(AccountActivity {
            usage: usage::every_day(first, last, &usage),
            most_used,
            expiring_first,
        })
    }

    /// The user's key with this id: another account's key is `NotFound`,
    /// exactly like a key that does not exist.
    async fn find(&self, account_id: &AccountId, id: &KeyId) -> Result<KeyRecord, AppError> {
        self.0
            .db
            .key(account_id, id)
            .await?
            .ok_or(AppError::NotFound)
    }
}

fn not_rotatable() -> AppError {
    AppError::Conflict("Only active keys can be rotated. Create a new key instead.".into())
}

fn status_filter(status: KeyStatus) -> StatusFilter {
    match status {
        KeyStatus::Active => StatusFilter::Active,
        KeyStatus::Expired => StatusFilter::Expired,
        KeyStatus::Revoked => StatusFilter::Revoked,
    }
}

impl Keys {
    fn view(&self, record: KeyRecord, now: UnixMs) -> ApiKeyView {
        let status = KeyStatus::of(record.revoked_at, record.expires_at, now);
        let scopes = Scopes::from_text(&record.scopes);
        let grace = record
            .previous_expires_at
            .filter(|&end| end > now && status == KeyStatus::Active);
        ApiKeyView {
            masked_key: secret::mask(&record.key_prefix, &record.last_four),
            retired_scopes: self
                .0
                .catalogues
                .of(record.key_type)
                .retired(&scopes)
                .into_iter()
                .map(String::from)
                .collect(),
            scopes: scopes.names(),
            ips: draft::words(&record.ip_allowlist),
            external_id: record.external_id,
            meta: record.meta.and_then(MetaJson::from_text),
            ratelimits: RateLimits::from_text(&record.ratelimits)
                .unwrap_or_default()
                .into_vec(),
            credits: record.credits_remaining.map(|remaining| {
                let refill = record
                    .credits_refill
                    .as_deref()
                    .and_then(|text| serde_json::from_str(text).ok());
                CreditsView::as_of(
                    remaining,
                    refill,
                    record.credits_refill_at,
                    record.credits_lost,
                    now,
                )
            }),
            status,
            id: record.id.into(),
            key_type: record.key_type,
            name: record.name,
            created_at: record.created_at,
            created_by: record.created_by.map(String::from),
            created_by_email: record.created_by_email,
            created_by_name: record.created_by_name,
            updated_at: record.updated_at,
            updated_by: record.updated_by.map(String::from),
            updated_by_email: record.updated_by_email,
            updated_by_name: record.updated_by_name,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            revoked_by: record.revoked_by.map(String::from),
            revoked_by_email: record.revoked_by_email,
            revoked_by_name: record.revoked_by_name,
            last_used_at: record.last_used_at,
            last_used_ip: record.last_used_ip,
            previous_secret_expires_at: grace,
        }
    }
}

/// A credit change's reason: 1 to 200 characters, none of them control
/// characters.
fn credit_reason(reason: &str) -> Result<String, AppError> {
    let reason = reason.trim();
    let count = reason.chars().count();
    if count == 0 || count > 200 || reason.chars().any(char::is_control) {
        return Err(AppError::field(
            "reason",
            "Say why, in 1 to 200 characters (like \"refund\" or \"plan upgrade\").",
        ));
    }
    Ok(reason.to_owned())
}

/// A refill as stored: its JSON.
fn refill_json(credits: &Option<Credits>) -> Option<String> {
    credits
        .and_then(|credits| credits.refill)
        .and_then(|refill| serde_json::to_string(&refill).ok())
}

/// Credits as stored, their first refill counted from `now`.
fn stored_credits<'a>(
    credits: &Option<Credits>,
    refill_text: &'a Option<String>,
    now: UnixMs,
) -> Option<StoredCredits<'a>> {
    credits.map(|credits| StoredCredits {
        remaining: credits.remaining,
        refill: refill_text.as_deref(),
        refill_at: credits.refill.map(|refill| refill.next_after(now)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::credential::Verification;

    #[tokio::test]
    async fn a_revoke_dropped_part_way_leaves_no_stale_valid_verdict() {
        use crate::auth::{hashing::PasswordHasher, service::create_owner};
        use std::{
            future::Future,
            task::{Context, Poll},
            time::Duration,
        };

        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/k.db", dir.path().display()))
            .await
            .unwrap();
        let client = Default::default();
        let user = create_owner(
            &db,
            &PasswordHasher::new(1),
            "drop@example.com",
            "a long test password".into(),
            &client,
        )
        .await
        .unwrap();
        let by = Manager::member(crate::auth::identity::Actor {
            user: user.user,
            client,
        });
        let keys = Keys::new(
            db.clone(),
            KeyFormat::new("ks_live_"),
            CredentialCache::new(Duration::from_secs(600), 1_000),
            UsageTracker::default(),
            Arc::new(Catalogue::standard()),
            false,
        );
        let draft = KeyDraft {
            name: "k".into(),
            scopes: vec!["read".into()],
            ..Default::default()
        };
        let mut cut_after_commit = 0;
        // Drop the revoke after 1, 2, 3, … polls: somewhere it is dropped
        // with its commit landed but its own code not yet run to the end.
        for polls in 1..40 {
            let issued = keys.create(&by, &draft).await.unwrap();
            let id = KeyId::parse(&issued.key.id).unwrap();
            assert!(matches!(
                keys.verify(&issued.secret, &Requirement::default(), None, None)
                    .await
                    .unwrap()
                    .verification,
                Verification::Valid(_)
            ));
            {
                let mut revoke = Box::pin(keys.revoke(&by, &id));
                let mut context = Context::from_waker(std::task::Waker::noop());
                for _ in 0..polls {
                    if let Poll::Ready(done) = revoke.as_mut().poll(&mut context) {
                        done.unwrap();
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            let stored = keys.get(&by, &id).await.unwrap();
            let verdict = keys
                .verify(&issued.secret, &Requirement::default(), None, None)
                .await
                .unwrap()
                .verification;
            if stored.status == KeyStatus::Revoked {
                cut_after_commit += 1;
                assert_eq!(
                    verdict,
                    Verification::Revoked,
                    "dropped after {polls} polls"
                );
            }
        }
        assert!(
            cut_after_commit > 0,
            "some revokes got as far as their commit"
        );
    }
}
