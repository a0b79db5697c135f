//! Accounts and signing in: the email and password types, the server
//! functions the pages call, and (server-only) hashing, throttling, sessions
//! and the service that holds the rules.

pub mod api;
pub mod email;
pub mod password;

#[cfg(feature = "ssr")]
pub mod hashing;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
mod strength;
#[cfg(feature = "ssr")]
pub mod throttle;

pub use email::Email;
pub use password::Password;
