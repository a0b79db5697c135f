//! The ground floor, under every service and door: time and ids, cursor
//! pagination, the roles' names, where the API lives, and what the server hands to server
//! functions. Imports nothing of Keysmith but the error type. Only the
//! calendar arithmetic of `clock` is in the browser's build too.

pub mod clock;
#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod pagination;
pub mod role;
#[cfg(feature = "ssr")]
pub mod site;
