use super::{health::Readiness, metrics::Metrics, Config};
use crate::{
    audit::service::AuditLog,
    auth::{service::Accounts, verifier::VerifyGate},
    idempotency::IdempotentAnswers,
    keys::Keys,
    shared::site::PublicUrl,
    teams::service::Teams,
};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::{ops::Deref, sync::Arc};

/// The composition root's registry: the services, built once, and what the
/// server's own layers need. REST handlers take the service they need
/// through `FromRef` (`State<Keys>`); server functions get the same values
/// in their context. Cloned for each middleware and handler of every
/// request, so a clone is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    /// What readiness last found of the database.
    pub readiness: Readiness,
    pub metrics: Metrics,
    pub services: Services,
}

/// Every service, each handed what it depends on at start-up.
pub struct Services {
    pub keys: Keys,
    pub accounts: Accounts,
    pub audit: AuditLog,
    pub teams: Teams,
    pub idempotency: IdempotentAnswers,
    /// Where links this server hands out (invitations) start.
    pub public_url: PublicUrl,
    /// Who may call verify.
    pub verify_gate: VerifyGate,
}

/// `State<T>` for each service, in REST handlers and middleware.
macro_rules! services_by_type {
    ($($field:ident: $service:ty),* $(,)?) => {$(
        impl FromRef<AppState> for $service {
            fn from_ref(state: &AppState) -> Self {
                state.services.$field.clone()
            }
        }
    )*};
}

services_by_type! {
    keys: Keys,
    accounts: Accounts,
    audit: AuditLog,
    teams: Teams,
    idempotency: IdempotentAnswers,
    public_url: PublicUrl,
    verify_gate: VerifyGate,
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
