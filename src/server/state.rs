use super::{metrics::Metrics, Config};
use crate::{
    auth::hashing::PasswordHasher,
    keys::{secret::KeyFormat, verifier::KeyVerifier},
    rest::auth::TokenSigner,
    storage::Db,
};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// What every handler and server function can reach: axum `State` for
/// handlers, and the same value in Leptos context for server functions.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub db: Db,
    pub passwords: PasswordHasher,
    pub key_format: KeyFormat,
    pub tokens: TokenSigner,
    pub verifier: KeyVerifier,
    pub metrics: Metrics,
}

impl AppState {
    /// The state, inside a server function.
    pub fn from_context() -> Result<Self, crate::error::AppError> {
        leptos::prelude::use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from the Leptos context");
            crate::error::AppError::Internal
        })
    }
}
