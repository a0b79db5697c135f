//! What server functions read from the request they serve.

use super::{security::ClientInfo, AppState};
use crate::{
    audit::service::Actor,
    auth::session::{self, SessionUser},
    error::AppError,
};
use tower_sessions::Session;

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract().await.map_err(|error| {
        tracing::error!(?error, "no session layer in front of a server function");
        AppError::Internal
    })
}

/// The caller's address and user agent (empty when unknown).
pub async fn client() -> ClientInfo {
    leptos_axum::extract().await.unwrap_or_default()
}

/// The state and the signed-in user, or `Unauthenticated`.
pub async fn signed_in() -> Result<(AppState, SessionUser), AppError> {
    let state = AppState::from_context()?;
    let user = session::require_user(&session().await?, &state.db).await?;
    Ok((state, user))
}

/// The state and the signed-in user acting from this request's client.
pub async fn signed_in_actor() -> Result<(AppState, Actor), AppError> {
    let (state, user) = signed_in().await?;
    let client = client().await;
    Ok((state, Actor { user, client }))
}
