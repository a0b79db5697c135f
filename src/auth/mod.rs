//! Accounts and signing in: the email and password types, the server
//! functions the pages call, and (server-only) who is acting, hashing,
//! throttling, sessions, bearer tokens and the service that holds the rules.

pub mod email;
pub mod passkey_name;
pub mod passkey_rpc;
pub mod password;
pub mod role;
pub mod rpc;
pub mod summary;

#[cfg(feature = "ssr")]
pub mod addresses;
#[cfg(feature = "ssr")]
pub mod hashing;
#[cfg(feature = "ssr")]
pub mod identity;
#[cfg(feature = "ssr")]
pub mod manager;
#[cfg(feature = "ssr")]
pub mod passkeys;
#[cfg(feature = "ssr")]
pub mod recovery;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod sign_ins;
#[cfg(feature = "ssr")]
mod strength;
#[cfg(feature = "ssr")]
pub mod throttle;
#[cfg(feature = "ssr")]
pub mod token;
#[cfg(feature = "ssr")]
pub mod totp;
#[cfg(feature = "ssr")]
pub mod two_factor;
#[cfg(feature = "ssr")]
pub mod verifier;

pub use email::Email;
pub use password::Password;
