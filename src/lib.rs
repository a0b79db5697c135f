//! Keysmith: a self-hosted API-key manager.
//!
//! One crate, two builds: `ssr` is the server (axum + SQLite), `hydrate` the
//! browser bundle that takes over the server-rendered pages.
//!
//! The modules stand on floors and import only downwards (`tests/floors.rs`
//! checks it): `server` composes everything; `app` and `rest` are the doors;
//! `teams`, `keys`, `auth` and `audit` are the services, each with its `/rpc` door in
//! `rpc.rs`, and `idempotency` keeps the REST API's idempotent answers; `storage`, `shared` and `error` are the ground.

pub mod app;
pub mod audit;
pub mod auth;
pub mod error;
#[cfg(feature = "ssr")]
pub mod idempotency;
pub mod keys;
#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod server;
pub mod shared;
#[cfg(feature = "ssr")]
pub mod storage;
pub mod teams;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Waits for the current page's lazily loaded code before hydrating.
    leptos::mount::hydrate_lazy(app::App);
}
