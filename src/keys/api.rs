//! Server functions about the account's API keys.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The numbers on the Overview page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStats {
    pub active: u64,
    pub expiring_soon: u64,
    pub used_last_day: u64,
}

/// The signed-in account's key counts. Keys cannot be created yet (that is
/// the next feature), so an account's counts are all zero.
#[server(prefix = "/rpc", endpoint = "key_counts")]
pub async fn key_counts() -> Result<KeyStats, AppError> {
    let session = leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(|_| AppError::Internal)?;
    crate::auth::session::require_user(&session).await?;
    Ok(KeyStats::default())
}
