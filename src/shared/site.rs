//! Where this server's REST API is reached.

/// The path every REST endpoint lives under.
pub const API_BASE_PATH: &str = "/api/v2";

/// The URL the operator says the server is reached at
/// (`KEYSMITH_PUBLIC_URL`), if any; pages fall back to the request's host.
#[derive(Clone, Debug, Default)]
pub struct PublicUrl(pub Option<String>);
