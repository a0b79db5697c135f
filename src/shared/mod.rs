//! The ground floor, under every service and door: time and ids, cursor
//! pagination, where the API lives, and what the server hands to server
//! functions. Imports nothing of Keysmith but the error type.

pub mod clock;
pub mod context;
pub mod pagination;
pub mod site;
