use super::{metrics::Metrics, Config};
use crate::{
    auth::hashing::PasswordHasher,
    keys::{secret::KeyFormat, verifier::KeyVerifier},
    rest::{auth::TokenSigner, idempotency::KeyDigester},
    storage::Db,
};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::{ops::Deref, sync::Arc};

/// What every handler and server function can reach: axum `State` for
/// handlers, and the same value in Leptos context for server functions.
/// Cloned for each middleware and handler of every request, so a clone is
/// one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub db: Db,
    pub passwords: PasswordHasher,
    pub key_format: KeyFormat,
    pub tokens: TokenSigner,
    pub idempotency: KeyDigester,
    pub verifier: KeyVerifier,
    pub metrics: Metrics,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What `leptos_axum` reads from the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    /// The state, inside a server function.
    pub fn from_context() -> Result<Self, crate::error::AppError> {
        leptos::prelude::use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from the Leptos context");
            crate::error::AppError::Internal
        })
    }
}
