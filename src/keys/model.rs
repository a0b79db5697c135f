//! What the dashboard and the REST API exchange about keys. These
//! types compile for the browser too: they hold display fields, never a
//! digest, and a full key only in [`IssuedKey`], the one response that
//! shows it.

use super::{
    credits::{Credits, CreditsView},
    limits::RateLimit,
    meta::{present, MetaJson},
};
use crate::shared::{clock::UnixMs, key_type::KeyType};
use serde::{Deserialize, Serialize};

/// A key's state, derived from its revocation and expiry times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub const ALL: [KeyStatus; 3] = [KeyStatus::Active, KeyStatus::Expired, KeyStatus::Revoked];

    pub fn of(revoked_at: Option<UnixMs>, expires_at: Option<UnixMs>, now: UnixMs) -> Self {
        match (revoked_at, expires_at) {
            (Some(_), _) => KeyStatus::Revoked,
            (None, Some(expiry)) if expiry <= now => KeyStatus::Expired,
            _ => KeyStatus::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Expired => "Expired",
            KeyStatus::Revoked => "Revoked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        KeyStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A key as listed: masked, with who did what and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// `api`, or `management` for a key that manages keys.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// `ks_live_a1B2c3…9xQz`
    pub masked_key: String,
    /// Every scope the key holds, sorted.
    pub scopes: Vec<String>,
    /// Those of `scopes` the permission catalogue no longer offers: kept
    /// with the key, and granting nothing.
    pub retired_scopes: Vec<String>,
    pub ips: Vec<String>,
    /// The platform's own id for whom the key belongs to.
    pub external_id: Option<String>,
    /// The platform's JSON object about the key, answered by verify.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub meta: Option<MetaJson>,
    /// The key's own rate limits (its account's apply too).
    pub ratelimits: Vec<RateLimit>,
    /// Its usage credits; `null` when it keeps none (verify spends none).
    pub credits: Option<CreditsView>,
    pub status: KeyStatus,
    pub created_at: UnixMs,
    /// Who created the key: a user's id (`usr_…`), or a management key's
    /// (`key_…`).
    pub created_by: Option<String>,
    /// The user's email, while they are a member of the account (`null`
    /// once removed).
    pub created_by_email: Option<String>,
    /// The management key's name, while it exists.
    pub created_by_name: Option<String>,
    pub updated_at: UnixMs,
    /// Who last changed the key: a user's or a management key's id.
    pub updated_by: Option<String>,
    pub updated_by_email: Option<String>,
    pub updated_by_name: Option<String>,
    pub expires_at: Option<UnixMs>,
    pub revoked_at: Option<UnixMs>,
    pub revoked_by: Option<String>,
    pub revoked_by_email: Option<String>,
    pub revoked_by_name: Option<String>,
    pub last_used_at: Option<UnixMs>,
    pub last_used_ip: Option<String>,
    /// While a rotation's grace period runs: when the replaced secret stops
    /// working.
    pub previous_secret_expires_at: Option<UnixMs>,
}

impl ApiKeyView {
    /// How the dashboard names the creator: their email, or "removed user"
    /// once they left the account.
    pub fn created_by_label(&self) -> Option<String> {
        who(
            &self.created_by,
            &self.created_by_email,
            &self.created_by_name,
        )
    }

    pub fn updated_by_label(&self) -> Option<String> {
        who(
            &self.updated_by,
            &self.updated_by_email,
            &self.updated_by_name,
        )
    }

    pub fn revoked_by_label(&self) -> Option<String> {
        who(
            &self.revoked_by,
            &self.revoked_by_email,
            &self.revoked_by_name,
        )
    }
}

/// A person by their email ("removed user" once gone), or a management key
/// by its name ("deleted management key" once gone).
fn who(id: &Option<String>, email: &Option<String>, key_name: &Option<String>) -> Option<String> {
    let by_key = id.as_deref().is_some_and(|id| id.starts_with("key_"));
    match (id, email, key_name) {
        (_, Some(email), _) => Some(email.clone()),
        (_, _, Some(name)) => Some(format!("{name} (management key)")),
        (Some(_), None, None) if by_key => Some("deleted management key".to_owned()),
        (Some(_), None, None) => Some("removed user".to_owned()),
        (None, _, _) => None,
    }
}

/// One UTC day of a key's verifications.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DailyUsage {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    /// Verifications answered `VALID`.
    pub valid: i64,
    /// Verifications refused, by code.
    pub refused: Refusals,
    /// Credits the valid ones spent.
    pub credits_spent: i64,
}

impl DailyUsage {
    pub fn total(&self) -> i64 {
        self.valid + self.refused.total()
    }
}

/// What a key's page shows: the key and its last 30 days of use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDetail {
    pub key: ApiKeyView,
    /// The key's meta, indented for a person to read and edit.
    pub meta_text: Option<String>,
    /// Oldest first, every day present.
    pub usage: Vec<DailyUsage>,
}

/// The account's last 30 days, for the Overview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountActivity {
    /// Verifications of all the account's keys per day, oldest first,
    /// every day present.
    pub usage: Vec<DailyUsage>,
    /// The keys with the most valid verifications, most first.
    pub most_used: Vec<KeyTotal>,
    /// Keys that will expire, soonest first.
    pub expiring_first: Vec<ApiKeyView>,
}

/// One key's verifications over a span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTotal {
    pub id: String,
    pub name: String,
    pub valid: i64,
    pub refused: i64,
}

/// The refusals a known key can get, by code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Refusals {
    pub revoked: i64,
    pub expired: i64,
    pub insufficient_scope: i64,
    pub ip_not_allowed: i64,
    /// Refused by a rate limit of the key or its account.
    pub rate_limited: i64,
    /// Refused for want of credits.
    pub usage_exceeded: i64,
}

impl Refusals {
    pub fn total(&self) -> i64 {
        self.revoked
            + self.expired
            + self.insufficient_scope
            + self.ip_not_allowed
            + self.rate_limited
            + self.usage_exceeded
    }
}

/// A key together with its full secret: the answer to create and rotate,
/// and the only time the secret leaves the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedKey {
    pub key: ApiKeyView,
    pub secret: String,
}

/// One page of keys, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPage {
    pub keys: Vec<ApiKeyView>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What a new key should be, as typed: the service validates every field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyDraft {
    /// `api` (the default) or `management`.
    #[serde(default, rename = "type")]
    pub key_type: KeyType,
    pub name: String,
    pub scopes: Vec<String>,
    /// Whole days from 1 to 365; `None` for a key that never expires.
    pub expires_in_days: Option<i64>,
    /// Addresses and CIDR ranges; empty allows any address.
    #[serde(default)]
    pub ips: Vec<String>,
    /// The platform's own id for whom the key belongs to: 1 to 256
    /// printable characters.
    #[serde(default)]
    pub external_id: Option<String>,
    /// A JSON object (at most 4 KB serialised, 5 levels deep) verify
    /// answers with the key.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub meta: Option<MetaJson>,
    /// Up to 5 named rate limits the key's verifications count against.
    #[serde(default)]
    pub ratelimits: Vec<RateLimit>,
    /// Usage credits verify spends (its `cost`); none kept when left out.
    #[serde(default)]
    pub credits: Option<Credits>,
}

/// Changes to a key; `None` leaves a field as it is. The secret cannot be
/// changed here: that is what rotation is for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyChanges {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub ips: Option<Vec<String>>,
    /// A new external id; `null` removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub external_id: Option<Option<String>>,
    /// A new `meta` object, replacing the old one; `null` removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub meta: Option<Option<MetaJson>>,
    /// The key's rate limits, all of them, replacing the old ones; `[]`
    /// removes them.
    pub ratelimits: Option<Vec<RateLimit>>,
    /// New credits, replacing the old ones (a new refill period begins);
    /// `null`: the key keeps none any more.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub credits: Option<Option<Credits>>,
}

/// Which keys to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyQuery {
    pub status: Option<KeyStatus>,
    /// Part of a name or an external id, matched without regard to case.
    pub search: Option<String>,
    /// Only the keys with exactly this external id.
    pub external_id: Option<String>,
    /// Only the keys of this type.
    #[serde(rename = "type")]
    pub key_type: Option<KeyType>,
    pub cursor: Option<String>,
    /// 1 to 100; 25 when unset.
    pub limit: Option<i64>,
}

/// The numbers on the Overview page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStats {
    pub active: i64,
    pub expiring_soon: i64,
    pub used_last_day: i64,
    /// Successful verifications since midnight UTC.
    pub requests_today: i64,
}

pub const DEFAULT_PAGE_SIZE: i64 = 25;
pub const MAX_PAGE_SIZE: i64 = 100;
pub const MAX_EXPIRY_DAYS: i64 = 365;
/// The longest grace period a rotation may give the old secret: 7 days.
pub const MAX_GRACE_MINUTES: i64 = 7 * 24 * 60;
/// "Expiring soon" on the Overview page.
pub const EXPIRING_SOON_DAYS: i64 = 14;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_derived_from_revocation_then_expiry() {
        let at = UnixMs::from_millis;
        assert_eq!(KeyStatus::of(None, None, at(10)), KeyStatus::Active);
        assert_eq!(KeyStatus::of(None, Some(at(11)), at(10)), KeyStatus::Active);
        assert_eq!(
            KeyStatus::of(None, Some(at(10)), at(10)),
            KeyStatus::Expired
        );
        assert_eq!(
            KeyStatus::of(Some(at(1)), Some(at(5)), at(10)),
            KeyStatus::Revoked
        );
        assert!(KeyStatus::ALL
            .iter()
            .all(|s| KeyStatus::parse(s.as_str()) == Some(*s)));
    }
}

/// Where this server's REST API is, as the API page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiAccess {
    /// e.g. `https://keys.example.com/api/v2`
    pub base_url: String,
    pub key_prefix: String,
    /// The scopes keys may hold.
    pub catalogue: super::scope::CatalogueView,
    /// Whether verify asks for one of the operator's verifier tokens.
    pub verifier_token_required: bool,
}
