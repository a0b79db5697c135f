//! `/api/v2/api-keys`: key management, for a signed-in user's bearer token
//! (their role applies) or a management key (its scopes apply).

use super::{
    auth::ManagerCaller,
    json::{Body, Data, Page, Params},
    problem::{self, ApiError},
};
use crate::{
    error::AppError,
    keys::{
        model::{ApiKeyView, DailyUsage, IssuedKey, KeyChanges, KeyDraft, KeyQuery, KeyStatus},
        usage::UsageDays,
        Keys,
    },
    shared::{ids::KeyId, key_type::KeyType},
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
};
use serde::{Deserialize, Serialize};

/// A key with its full secret in `key`: shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WithSecret {
    #[serde(flatten)]
    view: ApiKeyView,
    key: String,
}

impl From<IssuedKey> for WithSecret {
    fn from(issued: IssuedKey) -> Self {
        WithSecret {
            view: issued.key,
            key: issued.secret,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    limit: Option<i64>,
    cursor: Option<String>,
    status: Option<KeyStatus>,
    /// Part of a name or an external id, without regard to case.
    search: Option<String>,
    /// Only the keys of this external id (exact).
    external_id: Option<String>,
    /// Only the keys of this type: `api` or `management`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    key_type: Option<KeyType>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RotateBody {
    #[serde(default)]
    grace_period_minutes: i64,
}

#[utoipa::path(post, path = "/api-keys", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry for 24 hours")),
    request_body = KeyDraft,
    responses(
        (status = 201, description = "The new key, with its full secret in `data.key`: shown this once", body = Data<WithSecret>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::Conflict,
        problem::TooLarge,
        problem::NotJson,
        problem::IdempotencyKeyReused
    ))]
pub async fn create(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Body(draft): Body<KeyDraft>,
) -> Result<impl IntoResponse, ApiError> {
    let issued = keys.create(&by, &draft).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Data {
            data: WithSecret::from(issued),
        }),
    ))
}

#[utoipa::path(get, path = "/api-keys", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "One page of keys, masked, newest first", body = Page<ApiKeyView>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden
    ))]
pub async fn list(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Params(params): Params<ListParams>,
) -> Result<impl IntoResponse, ApiError> {
    let query = KeyQuery {
        status: params.status,
        search: params.search,
        external_id: params.external_id,
        key_type: params.key_type,
        cursor: params.cursor,
        limit: params.limit,
    };
    let page = keys.list(&by, &query).await?;
    Ok(axum::Json(Page {
        data: page.keys,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api-keys/{key_id}", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(("key_id" = String, Path, description = "The key's id, `key_…`")),
    responses(
        (status = 200, description = "The key, masked", body = Data<ApiKeyView>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound
    ))]
pub async fn get(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let key = keys.get(&by, &KeyId::parse(&id)?).await?;
    Ok(axum::Json(Data { data: key }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Days to cover, ending today (UTC): 1 to 90, 30 when unset.
    days: Option<i64>,
}

#[utoipa::path(get, path = "/api-keys/{key_id}/usage", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(("key_id" = String, Path, description = "The key's id, `key_…`"), UsageParams),
    responses(
        (status = 200, description = "The key's verifications per day, oldest first, every day of the span (days without traffic as zeros). Usage is written every `KEYSMITH_USAGE_FLUSH_SECONDS`", body = Data<Vec<DailyUsage>>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound
    ))]
pub async fn usage(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Path(id): Path<String>,
    Params(params): Params<UsageParams>,
) -> Result<impl IntoResponse, ApiError> {
    let id = KeyId::parse(&id)?;
    let days = UsageDays::parse(params.days)?;
    let data = keys.usage(&by, &id, days).await?;
    Ok(axum::Json(Data { data }))
}

#[utoipa::path(patch, path = "/api-keys/{key_id}", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(("key_id" = String, Path, description = "The key's id, `key_…`")),
    request_body = KeyChanges,
    responses(
        (status = 200, description = "The changed key, masked", body = Data<ApiKeyView>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound,
        problem::Conflict,
        problem::TooLarge,
        problem::NotJson
    ))]
pub async fn update(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Path(id): Path<String>,
    Body(changes): Body<KeyChanges>,
) -> Result<impl IntoResponse, ApiError> {
    let key = keys.update(&by, &KeyId::parse(&id)?, &changes).await?;
    Ok(axum::Json(Data { data: key }))
}

#[utoipa::path(post, path = "/api-keys/{key_id}/rotate", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(("key_id" = String, Path, description = "The key's id, `key_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry for 24 hours")),
    request_body(content = Option<RotateBody>, description = "Optional; without it the old secret stops at once"),
    responses(
        (status = 200, description = "The key with its new secret in `data.key`: shown this once", body = Data<WithSecret>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound,
        problem::Conflict,
        problem::TooLarge,
        problem::IdempotencyKeyReused
    ))]
pub async fn rotate(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    // The body is optional: no body rotates with no grace period.
    let grace = if body.iter().all(u8::is_ascii_whitespace) {
        0
    } else {
        serde_json::from_slice::<RotateBody>(&body)
            .map_err(|e| AppError::BadRequest(format!("invalid JSON body: {e}")))?
            .grace_period_minutes
    };
    let issued = keys.rotate(&by, &KeyId::parse(&id)?, grace).await?;
    Ok(axum::Json(Data {
        data: WithSecret::from(issued),
    }))
}

#[utoipa::path(post, path = "/api-keys/{key_id}/revoke", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(("key_id" = String, Path, description = "The key's id, `key_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry for 24 hours")),
    responses(
        (status = 200, description = "The revoked key", body = Data<ApiKeyView>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound,
        problem::Conflict,
        problem::IdempotencyKeyReused
    ))]
pub async fn revoke(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let key = keys.revoke(&by, &KeyId::parse(&id)?).await?;
    Ok(axum::Json(Data { data: key }))
}

#[utoipa::path(delete, path = "/api-keys/{key_id}", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(("key_id" = String, Path, description = "The key's id, `key_…`")),
    responses(
        (status = 204, description = "Deleted; its audit events remain"),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound
    ))]
pub async fn delete(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    keys.delete(&by, &KeyId::parse(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Credits to add (or, below zero, to take away), and why.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditChange {
    /// -10^12 to 10^12, not 0.
    delta: i64,
    /// Why, for the audit log: 1 to 200 characters.
    reason: String,
}

#[utoipa::path(post, path = "/api-keys/{key_id}/credits", tag = "API keys", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(("key_id" = String, Path, description = "The key's id, `key_…`")),
    request_body = CreditChange,
    responses(
        (status = 200, description = "The key, its credits changed", body = Data<ApiKeyView>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound,
        problem::Conflict,
        problem::TooLarge,
        problem::NotJson
    ))]
pub async fn credits(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Path(id): Path<String>,
    Body(change): Body<CreditChange>,
) -> Result<impl IntoResponse, ApiError> {
    let id = KeyId::parse(&id)?;
    let key = keys
        .adjust_credits(&by, &id, change.delta, &change.reason)
        .await?;
    Ok(axum::Json(Data { data: key }))
}
