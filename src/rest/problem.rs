//! RFC 9457 problem details: how every REST error is answered, from our
//! own `AppError`s to the router's 404/405 and the body limit's 413 (those
//! the edge rewrites, `server::edge`).

use crate::error::{AppError, FieldError};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";
const TYPE_BASE: &str = "https://keysmith.dev/problems/";

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With `insufficient_role`: the role the operation needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_role: Option<String>,
    /// With `insufficient_scope`: the scope the operation needs, when one
    /// would do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// With `ambiguous_credentials`: the credential headers the request
    /// carried.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
}

impl Problem {
    pub fn of(error: &AppError) -> Self {
        let status = error.status();
        Problem {
            kind: format!("{TYPE_BASE}{}", error.code()),
            title: StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error")
                .to_owned(),
            status,
            detail: error.to_string(),
            code: error.code().to_owned(),
            errors: match error {
                AppError::Validation(fields) => fields.clone(),
                _ => Vec::new(),
            },
            required_role: match error {
                AppError::InsufficientRole { needed, .. } => Some(needed.clone()),
                _ => None,
            },
            required_scope: match error {
                AppError::InsufficientScope(needed) => Some(needed.clone()),
                _ => None,
            },
            headers: match error {
                AppError::AmbiguousCredentials(headers) => headers.clone(),
                _ => Vec::new(),
            },
        }
    }
}

/// The problem answers the OpenAPI document lists, one type per status, so
/// each is described once.
macro_rules! documented_problems {
    ($($name:ident = $status:literal, $description:literal;)*) => {$(
        #[derive(utoipa::IntoResponses)]
        #[response(status = $status, description = $description, content_type = "application/problem+json")]
        pub struct $name(pub Problem);
    )*};
}

documented_problems! {
    BadInput = 400, "Invalid input; each bad field is listed. Or more than one credential header (`ambiguous_credentials`, naming them in `headers`)";
    Unauthenticated = 401, "Missing, malformed, unknown, revoked or expired credential";
    Forbidden = 403, "The credential may not do this: an API key where a bearer token is needed, a scope or role too low (`insufficient_scope`, `insufficient_role` with `required_role`), an address outside the key's allowlist";
    EmailOff = 403, "This server sends no email (`email_not_configured`): its operator makes reset links with `keysmith user reset-password`";
    NotFound = 404, "No such key in this account";
    Conflict = 409, "A request with this Idempotency-Key is still running, or the key is not in a state that allows this";
    TooLarge = 413, "The body is too large";
    NotJson = 415, "The body is not JSON";
    IdempotencyKeyReused = 422, "This Idempotency-Key was used with a different body";
    TooManyAttempts = 429, "Too many failed sign-ins from this address, sign-ups, password reset requests or invitations this hour; `Retry-After` says when to try again";
    Busy = 503, "Every password-hashing slot is taken, or the database cannot be reached; `Retry-After` says when to try again";
}

/// The REST form of every error.
pub fn response(error: &AppError) -> Response {
    let problem = Problem::of(error);
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(problem)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if matches!(
        error,
        AppError::Unauthenticated | AppError::InvalidCredentials | AppError::VerifierTokenRequired
    ) {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="keysmith", ApiKey realm="keysmith", header="X-API-Key""#,
            ),
        );
    }
    if let Some(seconds) = error.retry_after_seconds() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The REST API's error answer. (Server functions keep their own JSON
/// encoding of `AppError`; this is for handlers under `/api/v2`.)
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError(error)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        response(&self.0)
    }
}
