//! `POST /keys/verify`: for the services that accept Keysmith keys.

use super::{
    json::{Data, JsonBytes},
    problem::{self, ApiError},
};
use crate::auth::verifier::VerifyGate;
use crate::{
    error::AppError,
    keys::{
        catalogue::Requirement,
        credential::Verification,
        limiter::{Holder, LimitState},
        limits::MAX_RATELIMITS,
        meta::MetaJson,
        verifier::Charge,
        wallet::CreditState,
        Keys, Scope,
    },
    shared::{clock::UnixMs, key_type::KeyType},
};
use axum::{
    body::Bytes,
    extract::{FromRef, FromRequestParts, State},
    http::{header, request::Parts, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use std::{borrow::Cow, net::IpAddr};

/// The most a verification may cost.
const MAX_COST: i64 = 1_000;
/// The longest `request_id`.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// Bytes set aside for an answer: a valid key's with a few hundred bytes of
/// meta fits.
const ANSWER_CAPACITY: usize = 512;
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A key to check, and what the caller needs of it. Its strings borrow
/// from the body (copied only when they hold escapes).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct VerifyRequest<'a> {
    /// The key as it was presented to the calling service.
    #[serde(borrow)]
    #[schema(value_type = String)]
    key: Cow<'a, str>,
    /// One scope the key must hold (directly or by implication).
    #[serde(borrow)]
    #[schema(value_type = Option<String>)]
    required_scope: Option<Cow<'a, str>>,
    /// Scopes the key must all hold (directly or by implication); instead
    /// of `required_scope`, not beside it.
    #[serde(borrow)]
    #[schema(value_type = Option<Vec<String>>)]
    required_scopes: Option<Vec<Cow<'a, str>>>,
    /// The address the key was presented from, checked against the key's
    /// IP allowlist.
    #[serde(borrow)]
    #[schema(value_type = Option<String>)]
    client_ip: Option<Cow<'a, str>>,
    /// How much this verification takes from the key's rate limits: 0 (a
    /// check that spends nothing) to 1,000; 1 when left out.
    cost: Option<i64>,
    /// The names of the rate limits to count against (the key's and its
    /// account's of each name); all of them when left out.
    #[serde(borrow)]
    #[schema(value_type = Option<Vec<String>>)]
    ratelimits: Option<Vec<Cow<'a, str>>>,
    /// The caller's id for this verification (1 to 128 characters): a
    /// retry with the same key and `request_id` within 24 hours, on any
    /// server, is answered as the first was and spends nothing again.
    #[serde(borrow)]
    #[schema(value_type = Option<String>)]
    request_id: Option<Cow<'a, str>>,
}

/// The verdict: a valid key's own details, or why not (its code alone, and
/// the scopes it lacks), so nothing is learnt about keys one does not hold.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum VerifyResult<'a> {
    Valid(ValidKey<'a>),
    Refused(Refusal<'a>),
}

/// What a valid key answers about itself.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ValidKey<'a> {
    /// Always `true`.
    valid: bool,
    /// Always `VALID`.
    code: &'static str,
    key_id: &'a str,
    account_id: &'a str,
    name: &'a str,
    /// `api`, or `management` for a key that manages keys (it holds none of
    /// the operator's scopes).
    #[serde(rename = "type")]
    key_type: KeyType,
    /// The scopes the key holds that its catalogue offers.
    #[schema(value_type = Vec<String>)]
    scopes: &'a [Scope],
    /// The platform's JSON object about the key; `null` if none.
    #[schema(value_type = Option<Object>)]
    meta: Option<&'a MetaJson>,
    /// The platform's own id for whom the key belongs to; `null` if none.
    external_id: Option<&'a str>,
    /// When the key stops working; `null` if never.
    expires_at: Option<UnixMs>,
    /// Where each rate limit counted stands after this verification; only
    /// for a key (or account) with limits.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ratelimits: &'a [LimitAnswer<'a>],
    /// The key's credits after this verification took its cost; only for
    /// a key that keeps credits.
    #[serde(skip_serializing_if = "Option::is_none")]
    credits: Option<CreditAnswer>,
}

/// A key's credits after a verification.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreditAnswer {
    /// How many are left, as far as this server knows (exact on one
    /// server; across replicas, what the others hold unused is counted).
    remaining: i64,
    /// When the refill comes; `null` without one.
    refill_at: Option<UnixMs>,
}

impl From<CreditState> for CreditAnswer {
    fn from(state: CreditState) -> Self {
        CreditAnswer {
            remaining: state.remaining,
            refill_at: state.refill_at,
        }
    }
}

/// One rate limit after a verification.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LimitAnswer<'a> {
    name: &'a str,
    /// `key`: the key's own limit; `account`: its account's, shared by
    /// all its keys.
    applies_to: Holder,
    limit: i64,
    /// How much the window still admits, as far as this server knows.
    remaining: i64,
    /// When the window ends and the limit admits again in full.
    reset_at: UnixMs,
}

impl<'a> From<&'a LimitState> for LimitAnswer<'a> {
    fn from(state: &'a LimitState) -> Self {
        LimitAnswer {
            name: &state.name,
            applies_to: state.holder,
            limit: state.limit,
            remaining: state.remaining,
            reset_at: state.reset_at,
        }
    }
}

/// Why a key is refused, and nothing else about it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refusal<'a> {
    /// Always `false`.
    valid: bool,
    /// `MALFORMED`, `NOT_FOUND`, `REVOKED`, `EXPIRED`,
    /// `INSUFFICIENT_SCOPE`, `IP_NOT_ALLOWED`, `RATE_LIMITED` or
    /// `USAGE_EXCEEDED`.
    code: &'static str,
    /// `INSUFFICIENT_SCOPE`: the required scopes the key does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    missing_scopes: Option<&'a [Scope]>,
    /// `RATE_LIMITED`: where each rate limit counted stands (nothing was
    /// taken from any of them).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ratelimits: &'a [LimitAnswer<'a>],
    /// `RATE_LIMITED`: in how many milliseconds the limits short of the
    /// cost begin a new window.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<i64>,
    /// `USAGE_EXCEEDED`: the key's credits, fewer than the cost (none was
    /// taken).
    #[serde(skip_serializing_if = "Option::is_none")]
    credits: Option<CreditAnswer>,
}

/// A caller verify lets in: anyone, or (with verifier tokens configured)
/// one presenting a token. Checked before the body is read.
pub struct Verifier;

impl<S> FromRequestParts<S> for Verifier
where
    S: Send + Sync,
    VerifyGate: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let authorization = parts.headers.get(header::AUTHORIZATION);
        VerifyGate::from_ref(state).check(authorization.map(HeaderValue::as_bytes))?;
        Ok(Verifier)
    }
}

#[utoipa::path(post, path = "/keys/verify", tag = "Verification",
    security((), ("verifier_token" = [])),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verdict; details only for a valid key", body = Data<VerifyResult>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::TooLarge,
        problem::NotJson
    ))]
pub async fn verify(
    _: Verifier,
    State(keys): State<Keys>,
    body: JsonBytes,
) -> Result<impl IntoResponse, ApiError> {
    let request: VerifyRequest = body.parse()?;
    let required = requirement(&keys, &request)?;
    let client_ip = request
        .client_ip
        .as_deref()
        .map(|raw| {
            raw.trim()
                .parse::<IpAddr>()
                .map_err(|_| AppError::field("client_ip", "Give an IPv4 or IPv6 address."))
        })
        .transpose()?;
    let charge = charge(&request)?;
    let verdict = keys
        .verify(&request.key, &required, client_ip, Some(&charge))
        .await?;
    let limits: Vec<LimitAnswer> = verdict.limits.iter().map(LimitAnswer::from).collect();
    let verification = &verdict.verification;
    let body = match verification {
        Verification::Valid(key) => {
            // The key's part of the answer is the same every time: rendered
            // once per cache entry, its limits' states appended.
            let fixed = key.answer.get_or_render(|| {
                render(VerifyResult::Valid(ValidKey {
                    valid: true,
                    code: verification.code(),
                    key_id: key.key_id.as_str(),
                    account_id: key.account_id.as_str(),
                    name: &key.name,
                    key_type: key.kind,
                    scopes: &key.scopes,
                    meta: key.meta.as_ref(),
                    external_id: key.external_id.as_deref(),
                    expires_at: key.expires_at,
                    ratelimits: &[],
                    credits: None,
                }))
            })?;
            with_spending(fixed, &limits, verdict.credits.map(CreditAnswer::from))?
        }
        refused => render(VerifyResult::Refused(Refusal {
            valid: false,
            code: refused.code(),
            missing_scopes: match refused {
                Verification::InsufficientScope(missing) => Some(missing),
                _ => None,
            },
            ratelimits: &limits,
            retry_after_ms: match refused {
                Verification::RateLimited { retry_after_ms } => Some(*retry_after_ms),
                _ => None,
            },
            credits: match refused {
                Verification::UsageExceeded => verdict.credits.map(CreditAnswer::from),
                _ => None,
            },
        }))?,
    };
    Ok(([(header::CONTENT_TYPE, JSON)], body).into_response())
}

/// The answer's JSON, in one allocation sized for a key with some meta
/// (axum's own JSON answer starts at 128 bytes and grows).
fn render(result: VerifyResult) -> Result<Bytes, ApiError> {
    let mut body = Vec::with_capacity(ANSWER_CAPACITY);
    serde_json::to_writer(&mut body, &Data { data: result })
        .map_err(|_| ApiError(AppError::Internal))?;
    Ok(Bytes::from(body))
}

/// A rendered valid answer (`{"data":{…}}`) with `"ratelimits":[…]` and
/// `"credits":{…}` put at the end of `data`; the answer itself when there
/// are neither.
fn with_spending(
    answer: Bytes,
    limits: &[LimitAnswer],
    credits: Option<CreditAnswer>,
) -> Result<Bytes, ApiError> {
    if limits.is_empty() && credits.is_none() {
        return Ok(answer);
    }
    let Some(open) = answer.strip_suffix(b"}}") else {
        return Err(ApiError(AppError::Internal));
    };
    let internal = |_| ApiError(AppError::Internal);
    let mut body = Vec::with_capacity(answer.len() + 96 * (limits.len() + 1));
    body.extend_from_slice(open);
    if !limits.is_empty() {
        body.extend_from_slice(b",\"ratelimits\":");
        serde_json::to_writer(&mut body, limits).map_err(internal)?;
    }
    if let Some(credits) = credits {
        body.extend_from_slice(b",\"credits\":");
        serde_json::to_writer(&mut body, &credits).map_err(internal)?;
    }
    body.extend_from_slice(b"}}");
    Ok(Bytes::from(body))
}

/// What the verification spends: `cost` (1 unless given) from the limits
/// `ratelimits` names, or from all.
fn charge(request: &VerifyRequest) -> Result<Charge, AppError> {
    let cost = request.cost.unwrap_or(1);
    if !(0..=MAX_COST).contains(&cost) {
        return Err(AppError::field(
            "cost",
            format!("cost must be a whole number from 0 to {MAX_COST}."),
        ));
    }
    let only = match &request.ratelimits {
        None => None,
        Some(names) if names.len() > 2 * MAX_RATELIMITS => {
            return Err(AppError::field(
                "ratelimits",
                format!(
                    "Name at most {} rate limits (a key's {MAX_RATELIMITS} and its account's).",
                    2 * MAX_RATELIMITS
                ),
            ))
        }
        Some(names) => Some(names.iter().map(|name| name.to_string()).collect()),
    };
    let request_id = match &request.request_id {
        None => None,
        Some(id) if (1..=MAX_REQUEST_ID_CHARS).contains(&id.chars().count())
            && !id.chars().any(char::is_control) =>
        {
            Some(id.to_string())
        }
        Some(_) => {
            return Err(AppError::field(
                "request_id",
                format!("request_id is 1 to {MAX_REQUEST_ID_CHARS} characters, none of them control characters."),
            ))
        }
    };
    Ok(Charge {
        cost,
        only,
        request_id,
    })
}

/// What the request requires: `required_scope` or `required_scopes`, each
/// a scope the catalogue offers.
fn requirement(keys: &Keys, request: &VerifyRequest) -> Result<Requirement, AppError> {
    match (&request.required_scope, &request.required_scopes) {
        (Some(_), Some(_)) => Err(AppError::field(
            "required_scopes",
            "Give required_scope or required_scopes, not both.",
        )),
        (Some(one), None) => keys.requirement(std::slice::from_ref(one), "required_scope"),
        (None, Some(all)) => keys.requirement(all, "required_scopes"),
        (None, None) => Ok(Requirement::default()),
    }
}

/// Any method but POST: the route's own answer, as the API's problems
/// layer would give it.
pub async fn method_not_allowed() -> Response {
    let mut response = ApiError(AppError::MethodNotAllowed).into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_credits_are_appended_to_a_rendered_answer_as_its_last_fields() {
        let answer = Bytes::from_static(br#"{"data":{"valid":true,"meta":{"a":{}}}}"#);
        let state = LimitState {
            name: "requests".into(),
            holder: Holder::Key,
            limit: 3,
            remaining: 2,
            reset_at: UnixMs::from_millis(60_000),
        };
        let limits = [LimitAnswer::from(&state)];
        let credits = CreditAnswer {
            remaining: 7,
            refill_at: None,
        };
        let Ok(joined) = with_spending(answer.clone(), &limits, Some(credits)) else {
            panic!("a rendered answer ends with }}");
        };
        let value: serde_json::Value = serde_json::from_slice(&joined).unwrap();
        assert_eq!(
            value,
            serde_json::json!({ "data": {
                "valid": true,
                "meta": { "a": {} },
                "ratelimits": [{
                    "name": "requests", "applies_to": "key", "limit": 3,
                    "remaining": 2, "reset_at": 60_000
                }],
                "credits": { "remaining": 7, "refill_at": null },
            }})
        );
        assert!(with_spending(answer.clone(), &[], None).is_ok_and(|same| same == answer));
    }
}
