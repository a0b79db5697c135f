//! The public REST API under `/api/v2`: thin handlers over the same services
//! as the dashboard, JSON in and out, RFC 9457 problems for every error.

mod account;
pub mod auth;
pub mod idempotency;
mod json;
mod keys;
pub mod openapi;
pub mod problem;
mod verify;

use crate::server::AppState;
use axum::{middleware::from_fn_with_state, Extension, Router};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

pub const BASE_PATH: &str = "/api/v2";

/// The API's routes and its OpenAPI document, built from the same handler
/// annotations.
pub fn router(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let idempotent = from_fn_with_state(state.clone(), idempotency::idempotent);
    let with_idempotency = |(schemas, paths, method_router): UtoipaMethodRouter<AppState>| {
        (schemas, paths, method_router.layer(idempotent.clone()))
    };
    let (router, document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(account::token))
        .routes(routes!(account::signup))
        .routes(with_idempotency(routes!(keys::create)))
        .routes(routes!(keys::list))
        .routes(routes!(keys::get, keys::update, keys::delete))
        .routes(with_idempotency(routes!(keys::rotate)))
        .routes(with_idempotency(routes!(keys::revoke)))
        .routes(routes!(account::me))
        .routes(routes!(account::audit_events))
        .routes(routes!(verify::verify))
        .routes(routes!(openapi::document))
        .split_for_parts();
    let json = openapi::Json(Arc::new(
        document.to_json().expect("the OpenAPI document serialises"),
    ));
    let router = router
        .layer(Extension(json))
        .fallback(|| async { problem::ApiError(crate::error::AppError::NotFound) });
    (router, document)
}
