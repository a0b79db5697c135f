//! The public REST API under `/api/v2`: thin handlers over the same services
//! as the dashboard, JSON in and out, RFC 9457 problems for every error.

mod account;
pub mod auth;
pub mod idempotency;
mod json;
mod keys;
mod members;
pub mod openapi;
pub mod problem;
mod recovery;
mod verify;

/// Verify's handler, which the edge calls for its `POST` without the router.
pub use verify::verify;

use crate::{
    audit::service::AuditLog,
    auth::{manager::Operation, service::Accounts, verifier::VerifyGate},
    idempotency::IdempotentAnswers,
    keys::Keys,
    shared::site::{PublicUrl, API_BASE_PATH},
    teams::service::Teams,
};
use axum::{
    extract::{FromRef, State},
    middleware::from_fn_with_state,
    routing::MethodRouter,
    Extension, Router,
};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

pub const BASE_PATH: &str = API_BASE_PATH;
/// Where keys are verified: [`BASE_PATH`] and `/keys/verify`.
pub const VERIFY_PATH: &str = "/api/v2/keys/verify";

/// The API's routes: `api`, to be nested under [`BASE_PATH`], and `verify`
/// apart, to be mounted at [`VERIFY_PATH`] as it is (it is the hot path of
/// every service that accepts keys: it gets no layer of its own); and the
/// OpenAPI document of both, built from the same handler annotations.
pub struct Routes<S> {
    pub api: Router<S>,
    pub verify: MethodRouter<S>,
    pub document: utoipa::openapi::OpenApi,
}

///
/// The handlers take the services they need from the server's state `S`
/// (`State<Keys>`, `State<Teams>`, …), which the composition root builds.
pub fn routes<S>(state: S) -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    Keys: FromRef<S>,
    Accounts: FromRef<S>,
    AuditLog: FromRef<S>,
    Teams: FromRef<S>,
    IdempotentAnswers: FromRef<S>,
    PublicUrl: FromRef<S>,
    VerifyGate: FromRef<S>,
{
    // A replay is refused whatever would refuse its operation: creating
    // and rotating change keys, revoking revokes them.
    let with_idempotency = |operation: Operation| {
        let state = state.clone();
        move |(schemas, paths, method_router): UtoipaMethodRouter<S>| {
            let idempotent = from_fn_with_state(state, move |State(state): State<S>, req, next| {
                idempotency::idempotent(state, operation, req, next)
            });
            (schemas, paths, method_router.layer(idempotent))
        }
    };
    let (api, document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(account::token))
        .routes(routes!(account::signup))
        .routes(routes!(recovery::request_reset))
        .routes(routes!(recovery::confirm_reset))
        .routes(with_idempotency(Operation::ChangeKeys)(routes!(
            keys::create
        )))
        .routes(routes!(keys::list))
        .routes(routes!(keys::get, keys::update, keys::delete))
        .routes(routes!(keys::usage))
        .routes(routes!(keys::credits))
        .routes(with_idempotency(Operation::ChangeKeys)(routes!(
            keys::rotate
        )))
        .routes(with_idempotency(Operation::RevokeKeys)(routes!(
            keys::revoke
        )))
        .routes(routes!(members::list))
        .routes(routes!(members::change_role, members::remove))
        .routes(routes!(members::invitations, members::invite))
        .routes(routes!(members::revoke_invitation))
        .routes(routes!(members::accept))
        .routes(routes!(account::me))
        .routes(routes!(account::ratelimits, account::set_ratelimits))
        .routes(routes!(account::audit_events))
        .routes(routes!(openapi::document))
        .split_for_parts();
    let (schemas, paths, verify) = routes!(verify::verify);
    assert!(
        paths
            .paths
            .keys()
            .all(|path| format!("{BASE_PATH}{path}") == VERIFY_PATH),
        "verify is documented where it is mounted"
    );
    let (_, verify_document) = OpenApiRouter::new()
        .routes((schemas, paths, verify.clone()))
        .split_for_parts();
    let document = document.merge_from(verify_document);
    let json = openapi::Json(Arc::new(
        document.to_json().expect("the OpenAPI document serialises"),
    ));
    let api = api
        .layer(Extension(json))
        .fallback(|| async { problem::ApiError(crate::error::AppError::NotFound) });
    let verify = verify.fallback(verify::method_not_allowed);
    Routes {
        api,
        verify,
        document,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verify_path_is_under_the_base_path() {
        assert_eq!(VERIFY_PATH, format!("{BASE_PATH}/keys/verify"));
    }
}
