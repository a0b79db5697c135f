//! Password reset over HTTP, for API clients: ask for a link by email, then
//! set the new password with the link's token.

use super::{
    json::Body,
    problem::{self, ApiError},
};
use crate::auth::{identity::ClientInfo, service::Accounts};
use axum::{extract::State, http::StatusCode, response::IntoResponse, Extension};
use serde::{Deserialize, Serialize};

/// The address whose password is forgotten.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetRequest {
    email: String,
}

/// The same words whatever happened.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResetAnswer {
    message: &'static str,
}

/// What every well-formed, unthrottled request is answered.
pub const RESET_REQUESTED: &str =
    "If an account exists for this email, we sent a link to reset its password. It works for one hour.";

/// `POST /auth/password-reset`: emails a one-time link to the address if
/// it has an account. The answer, and how long it takes, are the same
/// either way.
#[utoipa::path(post, path = "/auth/password-reset", tag = "Authentication",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "Accepted: if the email has an account, a link is on its way", body = ResetAnswer),
        problem::BadInput,
        problem::TooLarge,
        problem::NotJson,
        problem::TooManyAttempts,
        problem::EmailOff
    ))]
pub async fn request_reset(
    State(accounts): State<Accounts>,
    Extension(client): Extension<ClientInfo>,
    Body(request): Body<ResetRequest>,
) -> Result<impl IntoResponse, ApiError> {
    accounts
        .request_password_reset(&request.email, &client)
        .await?;
    let answer = ResetAnswer {
        message: RESET_REQUESTED,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(answer)))
}

/// The link's token and the new password.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetConfirmation {
    /// The `token` of the emailed link (`…/reset-password?token=…`).
    token: String,
    password: String,
}

/// `POST /auth/password-reset/confirm`: sets the new password. The link
/// works once, within the hour; every session and bearer token of the
/// user ends.
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "Authentication",
    request_body = ResetConfirmation,
    responses(
        (status = 200, description = "The password is changed; sign in with it", body = ResetAnswer),
        problem::BadInput,
        problem::TooLarge,
        problem::NotJson,
        problem::Busy
    ))]
pub async fn confirm_reset(
    State(accounts): State<Accounts>,
    Extension(client): Extension<ClientInfo>,
    Body(confirmation): Body<ResetConfirmation>,
) -> Result<impl IntoResponse, ApiError> {
    accounts
        .reset_password(&confirmation.token, confirmation.password, &client)
        .await?;
    Ok(axum::Json(ResetAnswer {
        message: "Your password is changed, and every session and token of yours has ended. Sign in with the new password.",
    }))
}
