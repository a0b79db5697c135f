//! `POST /keys/verify`: for the services that accept Keysmith keys.

use super::{
    json::{Body, Data},
    problem::{self, ApiError},
};
use crate::{
    error::AppError,
    keys::{credential::Verification, Keys, Scope},
    shared::clock::UnixMs,
};
use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct VerifyRequest {
    key: String,
    required_scope: Option<String>,
    client_ip: Option<String>,
}

/// Only a valid key's own details are returned; any other answer is the
/// code alone, so nothing is learnt about keys one does not hold.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifyResult<'a> {
    valid: bool,
    code: &'static str,
    key_id: Option<&'a str>,
    account_id: Option<&'a str>,
    scopes: Option<Vec<Scope>>,
    expires_at: Option<UnixMs>,
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
    let required = request
        .required_scope
        .as_deref()
        .map(|raw| {
            Scope::parse(raw).ok_or_else(|| {
                AppError::field(
                    "required_scope",
                    "Use one of search, read, write and admin.",
                )
            })
        })
        .transpose()?;
    let client_ip = request
        .client_ip
        .as_deref()
        .map(|raw| {
            raw.trim()
                .parse::<IpAddr>()
                .map_err(|_| AppError::field("client_ip", "Give an IPv4 or IPv6 address."))
        })
        .transpose()?;
    let verdict = keys.verify(&request.key, required, client_ip).await?;
    let result = match &verdict {
        Verification::Valid(key) => VerifyResult {
            valid: true,
            code: "VALID",
            key_id: Some(key.key_id.as_str()),
            account_id: Some(key.account_id.as_str()),
            scopes: Some(key.scopes.iter().collect()),
            expires_at: key.expires_at,
        },
        other => VerifyResult {
            valid: false,
            code: other.code(),
            key_id: None,
            account_id: None,
            scopes: None,
            expires_at: None,
        },
    };
    Ok(axum::Json(Data { data: result }).into_response())
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
