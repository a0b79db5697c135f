//! API keys: the key format, the rules of names, scopes and allowed
//! addresses, what the dashboard shows, the `/rpc` door of the key pages,
//! and (server-only) the service that holds the rules and verifies keys.

pub mod credits;
pub mod limits;
pub mod meta;
pub mod model;
pub mod name;
pub mod rpc;
pub mod scope;

#[cfg(feature = "ssr")]
pub mod catalogue;

#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod credential;
#[cfg(feature = "ssr")]
pub mod draft;
#[cfg(feature = "ssr")]
pub mod expiry;
#[cfg(feature = "ssr")]
pub mod fanout;
#[cfg(feature = "ssr")]
pub mod ip_allowlist;
#[cfg(feature = "ssr")]
pub mod limiter;
#[cfg(feature = "ssr")]
pub mod secret;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod usage;
#[cfg(feature = "ssr")]
pub mod verifier;
#[cfg(feature = "ssr")]
pub mod wallet;

#[cfg(feature = "ssr")]
pub use ip_allowlist::IpAllowlist;
pub use name::KeyName;
pub use scope::{Scope, Scopes};
#[cfg(feature = "ssr")]
pub use service::Keys;
