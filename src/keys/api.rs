//! Server functions for the dashboard's API-key pages: thin doors onto the
//! key service. Inputs are JSON, so lists and optional fields arrive intact.

use super::model::{ApiKeyView, IssuedKey, KeyChanges, KeyDraft, KeyPage, KeyQuery, KeyStats};
use crate::error::AppError;
use leptos::{prelude::*, server_fn::codec::Json};

#[server(prefix = "/rpc", endpoint = "key_counts")]
pub async fn key_counts() -> Result<KeyStats, AppError> {
    let (state, user) = crate::server::rpc::signed_in().await?;
    super::service::stats(&state.db, &user).await
}

#[server(prefix = "/rpc", endpoint = "list_api_keys", input = Json)]
pub async fn list_api_keys(query: KeyQuery) -> Result<KeyPage, AppError> {
    let (state, user) = crate::server::rpc::signed_in().await?;
    super::service::list(&state.db, &user, &query).await
}

#[server(prefix = "/rpc", endpoint = "get_api_key", input = Json)]
pub async fn get_api_key(id: String) -> Result<ApiKeyView, AppError> {
    let (state, user) = crate::server::rpc::signed_in().await?;
    super::service::get(&state.db, &user, &id).await
}

#[server(prefix = "/rpc", endpoint = "create_api_key", input = Json)]
pub async fn create_api_key(draft: KeyDraft) -> Result<IssuedKey, AppError> {
    let (state, actor) = crate::server::rpc::signed_in_actor().await?;
    super::service::create(&state.db, &state.key_format, &actor, &draft).await
}

#[server(prefix = "/rpc", endpoint = "update_api_key", input = Json)]
pub async fn update_api_key(id: String, changes: KeyChanges) -> Result<ApiKeyView, AppError> {
    let (state, actor) = crate::server::rpc::signed_in_actor().await?;
    super::service::update(&state.db, state.verifier.cache(), &actor, &id, &changes).await
}

#[server(prefix = "/rpc", endpoint = "rotate_api_key", input = Json)]
pub async fn rotate_api_key(id: String, grace_period_minutes: i64) -> Result<IssuedKey, AppError> {
    let (state, actor) = crate::server::rpc::signed_in_actor().await?;
    super::service::rotate(
        &state.db,
        state.verifier.cache(),
        &state.key_format,
        &actor,
        &id,
        grace_period_minutes,
    )
    .await
}

#[server(prefix = "/rpc", endpoint = "revoke_api_key", input = Json)]
pub async fn revoke_api_key(id: String) -> Result<ApiKeyView, AppError> {
    let (state, actor) = crate::server::rpc::signed_in_actor().await?;
    super::service::revoke(&state.db, state.verifier.cache(), &actor, &id).await
}

#[server(prefix = "/rpc", endpoint = "delete_api_key", input = Json)]
pub async fn delete_api_key(id: String) -> Result<(), AppError> {
    let (state, actor) = crate::server::rpc::signed_in_actor().await?;
    super::service::delete(&state.db, state.verifier.cache(), &actor, &id).await
}
