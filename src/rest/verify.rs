//! `POST /keys/verify`: for the services that accept Keysmith keys.

use super::{
    json::{Data, JsonBytes},
    problem::{self, ApiError},
};
use crate::auth::verifier::VerifyGate;
use crate::{
    error::AppError,
    keys::{catalogue::Requirement, credential::Verification, meta::MetaJson, Keys, Scope},
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
}

/// Why a key is refused, and nothing else about it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refusal<'a> {
    /// Always `false`.
    valid: bool,
    /// `MALFORMED`, `NOT_FOUND`, `REVOKED`, `EXPIRED`,
    /// `INSUFFICIENT_SCOPE` or `IP_NOT_ALLOWED`.
    code: &'static str,
    /// `INSUFFICIENT_SCOPE`: the required scopes the key does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    missing_scopes: Option<&'a [Scope]>,
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
    let verdict = keys.verify(&request.key, &required, client_ip).await?;
    let body = match &verdict {
        Verification::Valid(key) => key.answer.get_or_render(|| {
            render(VerifyResult::Valid(ValidKey {
                valid: true,
                code: verdict.code(),
                key_id: key.key_id.as_str(),
                account_id: key.account_id.as_str(),
                name: &key.name,
                key_type: key.kind,
                scopes: &key.scopes,
                meta: key.meta.as_ref(),
                external_id: key.external_id.as_deref(),
                expires_at: key.expires_at,
            }))
        })?,
        refused => render(VerifyResult::Refused(Refusal {
            valid: false,
            code: refused.code(),
            missing_scopes: match refused {
                Verification::InsufficientScope(missing) => Some(missing),
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
