//! The OpenAPI 3.1 document, generated from the handlers' annotations. The
//! router is built from the same annotations (see `super::router`), so a
//! route cannot exist without its description.

use axum::{http::header, response::IntoResponse, Extension};
use std::sync::Arc;
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keysmith API",
        description = "Manage API keys with a user's bearer token (from `POST /auth/token`); \
                       call everything else with an API key in `X-API-Key`. Errors are \
                       RFC 9457 problem documents with a stable `code`.",
    ),
    servers((url = "/api/v2")),
    modifiers(&SecuritySchemes),
    // Errors are answered through `problem::…` response types, which refer
    // to this schema by name.
    components(schemas(super::problem::Problem)),
    tags(
        (name = "Authentication", description = "Bearer tokens and sign-up"),
        (name = "API keys", description = "Key management: a user's bearer token only"),
        (name = "Members", description = "The account's members, their roles and invitations: a user's bearer token only"),
        (name = "Account", description = "Who is calling, the rate limits all the account's keys share, and the audit log"),
        (name = "Verification", description = "For the services that accept Keysmith keys"),
        (name = "Meta", description = "This document"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A user's token from POST /auth/token (15 minutes)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key, `ks_live_…`. Also accepted as `Authorization: Bearer ks_live_…`.",
            ))),
        );
        components.add_security_scheme(
            "verifier_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "For POST /keys/verify, when the operator set KEYSMITH_VERIFY_TOKENS: one of those tokens. Without it verify answers 401 `verifier_token_required`; with none set, verify is open.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-access-token",
                "An API key in VideoDB's header, instead of `X-API-Key`. One credential header per request: two are a 400 `ambiguous_credentials`.",
            ))),
        );
    }
}

/// The document as served.
#[derive(Clone)]
pub struct Json(pub Arc<String>);

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "Meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")))]
pub async fn document(Extension(Json(json)): Extension<Json>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        json.as_str().to_owned(),
    )
}
