//! API keys: what the dashboard shows about them, and (server-only) the
//! service that holds their rules.

pub mod api;
