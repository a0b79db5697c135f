//! API keys: the key format, the rules of names, scopes and allowed
//! addresses, what the dashboard shows, and (server-only) the service that
//! holds the rules.

pub mod api;
#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod ip_allowlist;
pub mod model;
pub mod name;
pub mod scope;
#[cfg(feature = "ssr")]
pub mod secret;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod usage;
#[cfg(feature = "ssr")]
pub mod verifier;

#[cfg(feature = "ssr")]
pub use ip_allowlist::IpAllowlist;
pub use name::KeyName;
pub use scope::{Scope, Scopes};
