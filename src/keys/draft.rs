//! A key as a request describes it, checked field by field (so a form can
//! show every problem at once), and what the audit log says of a change.

use super::{
    catalogue::Catalogue,
    credits::Credits,
    limits::RateLimits,
    meta::{ExternalId, KeyMeta, MetaJson, AUDITED_META_BYTES},
    model::{KeyChanges, KeyDraft, MAX_EXPIRY_DAYS},
    IpAllowlist, KeyName, Scopes,
};
use crate::{error::AppError, storage::KeyRecord};
use sha2::{Digest, Sha256};

/// A draft that passed every rule.
pub struct ValidDraft {
    pub name: KeyName,
    pub scopes: Scopes,
    pub expires_in_days: Option<i64>,
    pub ips: IpAllowlist,
    pub external_id: Option<ExternalId>,
    pub meta: Option<KeyMeta>,
    pub ratelimits: RateLimits,
    pub credits: Option<Credits>,
}

/// Checks every field of a draft. Its scopes must be offered by
/// `catalogue`, or already held by the key being changed.
pub fn validate(
    draft: &KeyDraft,
    catalogue: &Catalogue,
    already_held: &Scopes,
) -> Result<ValidDraft, AppError> {
    let name = KeyName::parse(&draft.name);
    let scopes = Scopes::parse_field(&draft.scopes, "scopes").and_then(|scopes| {
        catalogue.check_for_key(&scopes, already_held)?;
        Ok(scopes)
    });
    let expiry = validate_expiry(draft.expires_in_days);
    let ips = IpAllowlist::parse(&draft.ips);
    let external_id = draft
        .external_id
        .as_deref()
        .map(ExternalId::parse)
        .transpose();
    let meta = draft.meta.as_ref().map(KeyMeta::parse).transpose();
    let ratelimits = RateLimits::parse(&draft.ratelimits, "ratelimits");
    let credits = draft.credits.as_ref().map(Credits::check).transpose();
    match (
        name,
        scopes,
        expiry,
        ips,
        external_id,
        meta,
        ratelimits,
        credits,
    ) {
        (
            Ok(name),
            Ok(scopes),
            Ok(expires_in_days),
            Ok(ips),
            Ok(external_id),
            Ok(meta),
            Ok(ratelimits),
            Ok(_),
        ) => Ok(ValidDraft {
            name,
            scopes,
            expires_in_days,
            ips,
            external_id,
            meta,
            ratelimits,
            credits: draft.credits,
        }),
        (name, scopes, expiry, ips, external_id, meta, ratelimits, credits) => {
            Err(AppError::collect([
                name.err(),
                scopes.err(),
                expiry.err(),
                ips.err(),
                external_id.err(),
                meta.err(),
                ratelimits.err(),
                credits.err(),
            ]))
        }
    }
}

pub fn validate_expiry(days: Option<i64>) -> Result<Option<i64>, AppError> {
    match days {
        Some(d) if !(1..=MAX_EXPIRY_DAYS).contains(&d) => Err(AppError::field(
            "expires_in_days",
            format!("Expiry must be between 1 and {MAX_EXPIRY_DAYS} days, or never."),
        )),
        days => Ok(days),
    }
}

/// The key `current` would be after `changes`: what was left out stays.
pub fn changed(current: &KeyRecord, changes: &KeyChanges) -> KeyDraft {
    let stored_meta = || current.meta.clone().and_then(MetaJson::from_text);
    KeyDraft {
        key_type: current.key_type,
        name: changes.name.clone().unwrap_or_else(|| current.name.clone()),
        scopes: changes
            .scopes
            .clone()
            .unwrap_or_else(|| Scopes::from_text(&current.scopes).names()),
        expires_in_days: None,
        ips: changes
            .ips
            .clone()
            .unwrap_or_else(|| words(&current.ip_allowlist)),
        external_id: match &changes.external_id {
            Some(given) => given.clone(),
            None => current.external_id.clone(),
        },
        meta: match &changes.meta {
            Some(given) => given.clone(),
            None => stored_meta(),
        },
        ratelimits: match &changes.ratelimits {
            Some(given) => given.clone(),
            None => RateLimits::from_text(&current.ratelimits)
                .unwrap_or_default()
                .into_vec(),
        },
        // Credits change only when given (a new refill period begins).
        credits: changes.credits.flatten(),
    }
}

pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// What a new key's audit event says beyond its name: its owner and meta,
/// when it has them.
pub fn creation_detail(key: &ValidDraft) -> Option<String> {
    let parts: Vec<String> = [
        key.external_id
            .as_ref()
            .map(|id| format!("external_id: {}", id.as_str())),
        key.meta
            .as_ref()
            .map(|meta| format!("meta: {}", audited(meta))),
        (!key.ratelimits.is_empty()).then(|| format!("ratelimits: {}", key.ratelimits.describe())),
        key.credits
            .map(|credits| format!("credits: {}", describe_credits(&credits))),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// What an edit changed, field by field: `scopes: read → read write;
/// external_id: none → cust_42`. Meta is named by its new content, or by
/// digest when it is long.
pub fn change_detail(before: &KeyRecord, after: &ValidDraft) -> Option<String> {
    let mut parts = Vec::new();
    let mut compare = |field: &str, old: String, new: String| {
        if old != new {
            parts.push(format!("{field}: {} → {}", or_none(&old), or_none(&new)));
        }
    };
    compare("name", before.name.clone(), after.name.as_str().to_owned());
    compare("scopes", before.scopes.clone(), after.scopes.to_text());
    compare("ips", before.ip_allowlist.clone(), after.ips.to_text());
    compare(
        "external_id",
        before.external_id.clone().unwrap_or_default(),
        after
            .external_id
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
    );
    compare(
        "ratelimits",
        RateLimits::from_text(&before.ratelimits)
            .unwrap_or_default()
            .describe(),
        after.ratelimits.describe(),
    );
    let new_meta = after.meta.as_ref().map(KeyMeta::as_str);
    if before.meta.as_deref() != new_meta {
        parts.push(match &after.meta {
            Some(meta) => format!("meta: {}", audited(meta)),
            None => "meta: removed".to_owned(),
        });
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `2`, `1000, refilled to 1000 every day`.
pub fn describe_credits(credits: &Credits) -> String {
    match &credits.refill {
        Some(refill) => format!("{}, {}", credits.remaining, refill.describe()),
        None => credits.remaining.to_string(),
    }
}

fn or_none(text: &str) -> &str {
    if text.is_empty() {
        "none"
    } else {
        text
    }
}

/// Meta as the audit log keeps it: the content when short, else its
/// SHA-256 and size.
fn audited(meta: &KeyMeta) -> String {
    let text = meta.as_str();
    if text.len() <= AUDITED_META_BYTES {
        text.to_owned()
    } else {
        format!(
            "sha256:{} ({} bytes)",
            hex::encode(Sha256::digest(text)),
            text.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::limits::RateLimit;
    use serde_json::json;

    fn wire(value: serde_json::Value) -> MetaJson {
        MetaJson::from_text(value.to_string()).unwrap()
    }

    fn draft() -> KeyDraft {
        KeyDraft {
            key_type: Default::default(),
            name: "CI".into(),
            scopes: vec!["read".into()],
            expires_in_days: None,
            ips: vec![],
            external_id: Some("cust_42".into()),
            meta: Some(wire(json!({ "plan": "pro" }))),
            ratelimits: vec![],
            credits: None,
        }
    }

    fn valid(draft: &KeyDraft) -> ValidDraft {
        validate(draft, &Catalogue::standard(), &Scopes::default()).unwrap()
    }

    fn record(valid: &ValidDraft) -> KeyRecord {
        KeyRecord {
            id: "key_1".parse().unwrap(),
            name: valid.name.as_str().to_owned(),
            key_prefix: "ks_live_ab".into(),
            last_four: "wxyz".into(),
            previous_expires_at: None,
            scopes: valid.scopes.to_text(),
            ip_allowlist: valid.ips.to_text(),
            key_type: Default::default(),
            external_id: valid.external_id.as_ref().map(|id| id.as_str().to_owned()),
            meta: valid.meta.as_ref().map(|m| m.as_str().to_owned()),
            ratelimits: valid.ratelimits.to_text(),
            credits_remaining: None,
            credits_refill: None,
            credits_refill_at: None,
            credits_lost: 0,
            created_at: Default::default(),
            created_by: None,
            created_by_email: None,
            created_by_name: None,
            updated_at: Default::default(),
            updated_by: None,
            updated_by_email: None,
            updated_by_name: None,
            expires_at: None,
            revoked_at: None,
            revoked_by: None,
            revoked_by_email: None,
            revoked_by_name: None,
            last_used_at: None,
            last_used_ip: None,
            digests: Default::default(),
        }
    }

    #[test]
    fn every_bad_field_of_a_draft_is_reported_at_once() {
        let draft = KeyDraft {
            key_type: Default::default(),
            name: " ".into(),
            scopes: vec![],
            expires_in_days: Some(366),
            ips: vec!["nope".into()],
            external_id: Some(String::new()),
            meta: Some(wire(json!([]))),
            ratelimits: vec![RateLimit {
                name: "requests".into(),
                limit: 0,
                window_seconds: 60,
            }],
            credits: Some(Credits {
                remaining: -1,
                refill: None,
            }),
        };
        let error = validate(&draft, &Catalogue::standard(), &Scopes::default())
            .err()
            .unwrap();
        for field in [
            "name",
            "scopes",
            "expires_in_days",
            "ips",
            "external_id",
            "meta",
            "ratelimits",
            "credits",
        ] {
            assert!(error.field_message(field).is_some(), "{field}");
        }
    }

    #[test]
    fn expiry_is_one_to_365_days_or_never() {
        assert_eq!(validate_expiry(None).unwrap(), None);
        assert_eq!(validate_expiry(Some(1)).unwrap(), Some(1));
        assert_eq!(validate_expiry(Some(365)).unwrap(), Some(365));
        assert!(validate_expiry(Some(0)).is_err());
        assert!(validate_expiry(Some(-3)).is_err());
    }

    #[test]
    fn a_change_keeps_what_it_leaves_out_and_clears_what_it_sets_to_null() {
        let current = record(&valid(&draft()));
        let renamed = changed(
            &current,
            &KeyChanges {
                name: Some("CD".into()),
                ..Default::default()
            },
        );
        assert_eq!(renamed.external_id.as_deref(), Some("cust_42"));
        assert_eq!(renamed.meta, Some(wire(json!({ "plan": "pro" }))));
        let cleared = KeyChanges {
            external_id: Some(None),
            meta: Some(None),
            ..Default::default()
        };
        let cleared = changed(&current, &cleared);
        assert_eq!((cleared.external_id, cleared.meta), (None, None));
    }

    #[test]
    fn the_audit_log_says_what_changed_and_names_long_meta_by_digest() {
        let first = valid(&draft());
        assert_eq!(
            creation_detail(&first).unwrap(),
            r#"external_id: cust_42; meta: {"plan":"pro"}"#
        );
        let before = record(&first);
        assert_eq!(change_detail(&before, &first), None);
        let mut after = draft();
        after.scopes = vec!["read".into(), "write".into()];
        after.external_id = None;
        after.meta = Some(wire(json!({ "notes": "x".repeat(300) })));
        let detail = change_detail(&before, &valid(&after)).unwrap();
        assert!(
            detail.starts_with(
                "scopes: read → read write; external_id: cust_42 → none; meta: sha256:"
            ),
            "{detail}"
        );
        assert!(detail.ends_with(" (312 bytes)"), "{detail}");
        assert!(!detail.contains("xxx"));
        after.meta = None;
        let removed = change_detail(&before, &valid(&after)).unwrap();
        assert!(removed.ends_with("meta: removed"), "{removed}");
    }
}
