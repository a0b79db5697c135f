//! The `/rpc` door for the dashboard's API-key pages: server functions, thin
//! over the key service. Inputs are JSON, so lists and optional fields
//! arrive intact.

use super::{
    limits::RateLimit,
    model::{
        AccountActivity, ApiAccess, ApiKeyView, IssuedKey, KeyChanges, KeyDetail, KeyDraft,
        KeyPage, KeyQuery, KeyStats,
    },
    scope::CatalogueView,
};
use crate::error::AppError;
use leptos::{prelude::*, server_fn::codec::Json};

#[cfg(feature = "ssr")]
use crate::{
    auth::{
        manager::Manager,
        session::{signed_in, signed_in_actor},
    },
    shared::{
        context::provided,
        site::{origin_of_this_request, API_BASE_PATH},
    },
    {
        auth::verifier::VerifyGate,
        keys::service::Keys,
        shared::{ids::KeyId, key_type::KeyType},
    },
};

#[server(prefix = "/rpc", endpoint = "key_counts")]
pub async fn key_counts() -> Result<KeyStats, AppError> {
    let user = signed_in().await?;
    provided::<Keys>()?.stats(&user).await
}

/// The account's last 30 days: verifications per day, most used keys,
/// keys expiring first.
#[server(prefix = "/rpc", endpoint = "overview_activity")]
pub async fn overview_activity() -> Result<AccountActivity, AppError> {
    let user = signed_in().await?;
    provided::<Keys>()?.activity(&user).await
}

#[server(prefix = "/rpc", endpoint = "list_api_keys", input = Json)]
pub async fn list_api_keys(query: KeyQuery) -> Result<KeyPage, AppError> {
    let user = signed_in().await?;
    provided::<Keys>()?
        .list(&Manager::reader(user), &query)
        .await
}

#[server(prefix = "/rpc", endpoint = "get_api_key", input = Json)]
pub async fn get_api_key(id: String) -> Result<ApiKeyView, AppError> {
    let user = signed_in().await?;
    provided::<Keys>()?
        .get(&Manager::reader(user), &KeyId::parse(&id)?)
        .await
}

/// A key with its verifications per day over the last 30 days.
#[server(prefix = "/rpc", endpoint = "api_key_detail", input = Json)]
pub async fn api_key_detail(id: String) -> Result<KeyDetail, AppError> {
    let user = signed_in().await?;
    provided::<Keys>()?
        .detail(&Manager::reader(user), &KeyId::parse(&id)?)
        .await
}

#[server(prefix = "/rpc", endpoint = "create_api_key", input = Json)]
pub async fn create_api_key(draft: KeyDraft) -> Result<IssuedKey, AppError> {
    let by = Manager::member(signed_in_actor().await?);
    provided::<Keys>()?.create(&by, &draft).await
}

#[server(prefix = "/rpc", endpoint = "update_api_key", input = Json)]
pub async fn update_api_key(id: String, changes: KeyChanges) -> Result<ApiKeyView, AppError> {
    let by = Manager::member(signed_in_actor().await?);
    provided::<Keys>()?
        .update(&by, &KeyId::parse(&id)?, &changes)
        .await
}

#[server(prefix = "/rpc", endpoint = "rotate_api_key", input = Json)]
pub async fn rotate_api_key(id: String, grace_period_minutes: i64) -> Result<IssuedKey, AppError> {
    let by = Manager::member(signed_in_actor().await?);
    provided::<Keys>()?
        .rotate(&by, &KeyId::parse(&id)?, grace_period_minutes)
        .await
}

#[server(prefix = "/rpc", endpoint = "revoke_api_key", input = Json)]
pub async fn revoke_api_key(id: String) -> Result<ApiKeyView, AppError> {
    let by = Manager::member(signed_in_actor().await?);
    provided::<Keys>()?.revoke(&by, &KeyId::parse(&id)?).await
}

#[server(prefix = "/rpc", endpoint = "delete_api_key", input = Json)]
pub async fn delete_api_key(id: String) -> Result<(), AppError> {
    let by = Manager::member(signed_in_actor().await?);
    provided::<Keys>()?.delete(&by, &KeyId::parse(&id)?).await
}

/// The scopes API keys may hold (the operator's catalogue), for the create
/// and edit dialogs.
#[server(prefix = "/rpc", endpoint = "permission_catalogue")]
pub async fn permission_catalogue() -> Result<CatalogueView, AppError> {
    signed_in().await?;
    Ok(provided::<Keys>()?.catalogue(KeyType::Api))
}

/// The scopes management keys may hold (Keysmith's own), for their dialogs.
#[server(prefix = "/rpc", endpoint = "management_catalogue")]
pub async fn management_catalogue() -> Result<CatalogueView, AppError> {
    signed_in().await?;
    Ok(provided::<Keys>()?.catalogue(KeyType::Management))
}

/// The API's base URL (the configured public URL, else the address this
/// request reached), the prefix of this server's keys and the scopes keys
/// may hold.
#[server(prefix = "/rpc", endpoint = "api_overview")]
pub async fn api_overview() -> Result<ApiAccess, AppError> {
    signed_in().await?;
    let origin = origin_of_this_request().await?;
    let keys = provided::<Keys>()?;
    Ok(ApiAccess {
        base_url: format!("{origin}{API_BASE_PATH}"),
        key_prefix: keys.prefix().to_owned(),
        catalogue: keys.catalogue(KeyType::Api),
        verifier_token_required: provided::<VerifyGate>()?.0.is_some(),
    })
}

/// The rate limits every key of the signed-in user's account shares.
#[server(prefix = "/rpc", endpoint = "account_ratelimits")]
pub async fn account_ratelimits() -> Result<Vec<RateLimit>, AppError> {
    let user = signed_in().await?;
    provided::<Keys>()?
        .account_ratelimits(&Manager::reader(user))
        .await
}

#[server(prefix = "/rpc", endpoint = "set_account_ratelimits", input = Json)]
pub async fn set_account_ratelimits(
    ratelimits: Vec<RateLimit>,
) -> Result<Vec<RateLimit>, AppError> {
    let by = Manager::member(signed_in_actor().await?);
    provided::<Keys>()?
        .set_account_ratelimits(&by, &ratelimits)
        .await
}

/// Adds credits to a key, or takes some away, for a reason.
#[server(prefix = "/rpc", endpoint = "change_api_key_credits", input = Json)]
pub async fn change_api_key_credits(
    id: String,
    delta: i64,
    reason: String,
) -> Result<ApiKeyView, AppError> {
    let by = Manager::member(signed_in_actor().await?);
    provided::<Keys>()?
        .adjust_credits(&by, &KeyId::parse(&id)?, delta, &reason)
        .await
}
