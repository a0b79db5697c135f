use super::{metrics::Metrics, Config};
use crate::{rest::ApiState, storage::Db};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::{ops::Deref, sync::Arc};

/// What the server's own layers and handlers reach (the services are in
/// `api`, shared with the REST router). Cloned for each middleware and
/// handler of every request, so a clone is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    /// For the readiness probe.
    pub db: Db,
    pub api: ApiState,
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
}
