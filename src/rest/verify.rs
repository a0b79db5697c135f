//! `POST /keys/verify`: for the services that accept Keysmith keys.

use super::{
    json::{Body, Data},
    problem::{self, ApiError},
};
use crate::{
    error::AppError,
    keys::{catalogue::Requirement, credential::Verification, Keys, Scope, Scopes},
    shared::clock::UnixMs,
};
use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A key to check, and what the caller needs of it.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct VerifyRequest {
    /// The key as it was presented to the calling service.
    key: String,
    /// One scope the key must hold (directly or by implication).
    required_scope: Option<String>,
    /// Scopes the key must all hold (directly or by implication); instead
    /// of `required_scope`, not beside it.
    required_scopes: Option<Vec<String>>,
    /// The address the key was presented from, checked against the key's
    /// IP allowlist.
    client_ip: Option<String>,
}

/// A valid key's own details; any other answer is its code alone (and the
/// scopes it lacks), so nothing is learnt about keys one does not hold.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifyResult<'a> {
    valid: bool,
    /// `VALID`, or why not: `MALFORMED`, `NOT_FOUND`, `REVOKED`,
    /// `EXPIRED`, `INSUFFICIENT_SCOPE`, `IP_NOT_ALLOWED`.
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    /// The scopes the key holds that the catalogue offers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    scopes: Option<&'a [Scope]>,
    /// `INSUFFICIENT_SCOPE`: the required scopes the key does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    missing_scopes: Option<&'a [Scope]>,
    /// When the key stops working; `null` if never (valid answers only).
    #[serde(skip_serializing_if = "is_refusal")]
    expires_at: Option<Option<UnixMs>>,
}

fn is_refusal(expires_at: &Option<Option<UnixMs>>) -> bool {
    expires_at.is_none()
}

#[utoipa::path(post, path = "/keys/verify", tag = "Verification",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verdict; details only for a valid key", body = Data<VerifyResult>),
        problem::BadInput,
        problem::TooLarge,
        problem::NotJson
    ))]
pub async fn verify(
    State(keys): State<Keys>,
    Body(request): Body<VerifyRequest>,
) -> Result<impl IntoResponse, ApiError> {
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
    let refusal = |code, missing_scopes| VerifyResult {
        valid: false,
        code,
        key_id: None,
        account_id: None,
        name: None,
        scopes: None,
        missing_scopes,
        expires_at: None,
    };
    let result = match &verdict {
        Verification::Valid(key) => VerifyResult {
            valid: true,
            code: "VALID",
            key_id: Some(key.key_id.as_str()),
            account_id: Some(key.account_id.as_str()),
            name: Some(&key.name),
            scopes: Some(key.scopes.as_slice()),
            missing_scopes: None,
            expires_at: Some(key.expires_at),
        },
        Verification::InsufficientScope(missing) => {
            refusal(verdict.code(), Some(missing.as_slice()))
        }
        other => refusal(other.code(), None),
    };
    Ok(axum::Json(Data { data: result }).into_response())
}

/// What the request requires: `required_scope` or `required_scopes`, each
/// a scope the catalogue offers.
fn requirement(keys: &Keys, request: &VerifyRequest) -> Result<Requirement, AppError> {
    match (&request.required_scope, &request.required_scopes) {
        (Some(_), Some(_)) => Err(AppError::field(
            "required_scopes",
            "Give required_scope or required_scopes, not both.",
        )),
        (Some(one), None) => {
            let scopes = Scopes::parse_field(std::slice::from_ref(one), "required_scope")?;
            keys.requirement(&scopes, "required_scope")
        }
        (None, Some(all)) => {
            let scopes = Scopes::parse_field(all, "required_scopes")?;
            keys.requirement(&scopes, "required_scopes")
        }
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
