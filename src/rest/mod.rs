//! The public REST API under `/api/v2`: thin handlers over the same services
//! as the dashboard, JSON in and out, RFC 9457 problems for every error.

mod account;
pub mod auth;
mod idempotency;
mod json;
mod keys;
pub mod problem;
mod verify;

use crate::server::AppState;
use axum::{
    middleware::from_fn_with_state,
    routing::{get, post},
    Router,
};

pub const BASE_PATH: &str = "/api/v2";

pub fn router(state: &AppState) -> Router<AppState> {
    let idempotent = from_fn_with_state(state.clone(), idempotency::idempotent);
    Router::new()
        .route("/auth/token", post(account::token))
        .route("/auth/signup", post(account::signup))
        .route(
            "/api-keys",
            post(keys::create).layer(idempotent.clone()).get(keys::list),
        )
        .route(
            "/api-keys/{key_id}",
            get(keys::get).patch(keys::update).delete(keys::delete),
        )
        .route(
            "/api-keys/{key_id}/rotate",
            post(keys::rotate).layer(idempotent.clone()),
        )
        .route(
            "/api-keys/{key_id}/revoke",
            post(keys::revoke).layer(idempotent),
        )
        .route("/me", get(account::me))
        .route("/audit-events", get(account::audit_events))
        .route("/keys/verify", post(verify::verify))
        .fallback(|| async { problem::ApiError(crate::error::AppError::NotFound) })
}
