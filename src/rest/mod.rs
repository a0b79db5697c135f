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

use crate::{
    audit::service::AuditLog, auth::service::Accounts, keys::Keys, shared::site::API_BASE_PATH,
};
use axum::{middleware::from_fn_with_state, Extension, Router};
use idempotency::Idempotency;
use std::{ops::Deref, sync::Arc};
use utoipa::OpenApi;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

pub const BASE_PATH: &str = API_BASE_PATH;

/// What the API's handlers reach: the services, and where idempotent
/// answers are kept. One reference count to clone.
#[derive(Clone)]
pub struct ApiState(Arc<Services>);

pub struct Services {
    pub keys: Keys,
    pub accounts: Accounts,
    pub audit: AuditLog,
    pub idempotency: Idempotency,
}

impl ApiState {
    pub fn new(services: Services) -> Self {
        ApiState(Arc::new(services))
    }
}

impl Deref for ApiState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The API's routes, ready to be nested under [`BASE_PATH`], and its
/// OpenAPI document, built from the same handler annotations.
pub fn router<S: Clone + Send + Sync + 'static>(
    state: ApiState,
) -> (Router<S>, utoipa::openapi::OpenApi) {
    let idempotent = from_fn_with_state(state.clone(), idempotency::idempotent);
    let with_idempotency = |(schemas, paths, method_router): UtoipaMethodRouter<ApiState>| {
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
        .fallback(|| async { problem::ApiError(crate::error::AppError::NotFound) })
        .with_state(state);
    (router, document)
}
