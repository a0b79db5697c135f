//! Server functions for signing up, in and out. Each is a thin door: it
//! reads the request, calls the service, and shapes the answer.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in user, as the dashboard shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub email: String,
}

/// Where this server's REST API is, as the API page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiAccess {
    /// e.g. `https://keys.example.com/api/v2`
    pub base_url: String,
    pub key_prefix: String,
}

/// What the sign-in and sign-up pages need to know about the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryOptions {
    pub signup_enabled: bool,
}

pub const DEFAULT_RETURN_PATH: &str = "/dashboard";

/// Where to go after signing in: the requested path when it stays on this
/// site, the dashboard otherwise (an open redirect would let phishing pages
/// borrow our sign-in form).
pub fn safe_return_path(next: &str) -> &str {
    let same_site = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if same_site {
        next
    } else {
        DEFAULT_RETURN_PATH
    }
}

#[server(prefix = "/rpc", endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    use crate::{
        auth::{service, session},
        server::AppState,
    };
    let state = AppState::from_context()?;
    let session = extract_session().await?;
    let client = crate::server::rpc::client().await;
    let user = service::sign_up(&state, &email, password, &client).await?;
    session::sign_in(&session, &state.db, user).await?;
    leptos_axum::redirect(DEFAULT_RETURN_PATH);
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String, next: String) -> Result<(), AppError> {
    use crate::{
        auth::{service, session},
        server::{rpc, AppState},
    };
    let state = AppState::from_context()?;
    let session = extract_session().await?;
    let client = rpc::client().await;
    let user = service::sign_in(&state, &email, password, &client).await?;
    session::sign_in(&session, &state.db, user).await?;
    leptos_axum::redirect(safe_return_path(&next));
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::{
        audit::{service as audit, AuditAction},
        server::rpc,
    };
    let session = extract_session().await?;
    if let Ok((state, actor)) = rpc::signed_in_actor().await {
        audit::record(&state.db, &actor, AuditAction::SignedOut).await?;
    }
    crate::auth::session::sign_out(&session).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "sign_out_everywhere")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    let (state, actor) = crate::server::rpc::signed_in_actor().await?;
    crate::auth::service::sign_out_everywhere(&state, &actor).await?;
    crate::auth::session::sign_out(&extract_session().await?).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    let (state, actor) = crate::server::rpc::signed_in_actor().await?;
    crate::auth::service::change_password(&state, &actor, current_password, new_password).await?;
    // Every session ended with the old password; this one carries on.
    crate::auth::session::sign_in(&extract_session().await?, &state.db, actor.user).await
}

#[server(prefix = "/rpc", endpoint = "current_user")]
pub async fn current_user() -> Result<UserSummary, AppError> {
    let (state, user) = crate::server::rpc::signed_in().await?;
    let email = crate::auth::service::email_of(&state, &user).await?;
    Ok(UserSummary { email })
}

/// The API's base URL: the configured public URL, else the address this
/// request reached.
#[server(prefix = "/rpc", endpoint = "api_overview")]
pub async fn api_overview() -> Result<ApiAccess, AppError> {
    let (state, _) = crate::server::rpc::signed_in().await?;
    let origin = match &state.config.public_url {
        Some(url) => url.clone(),
        None => {
            let headers: axum::http::HeaderMap = leptos_axum::extract()
                .await
                .map_err(AppError::from_server_fn_error)?;
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| {
                    h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
                })
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    Ok(ApiAccess {
        base_url: format!("{origin}{}", crate::rest::BASE_PATH),
        key_prefix: state.config.key_prefix.clone(),
    })
}

#[server(prefix = "/rpc", endpoint = "auth_options")]
pub async fn auth_options() -> Result<EntryOptions, AppError> {
    let state = crate::server::AppState::from_context()?;
    Ok(EntryOptions {
        signup_enabled: state.config.allow_signup,
    })
}

#[cfg(feature = "ssr")]
use crate::server::rpc::session as extract_session;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_site_paths_are_kept_as_return_targets() {
        assert_eq!(
            safe_return_path("/dashboard/api-keys"),
            "/dashboard/api-keys"
        );
        assert_eq!(safe_return_path("/dashboard?tab=1"), "/dashboard?tab=1");
    }

    #[test]
    fn other_sites_and_odd_paths_fall_back_to_the_dashboard() {
        for next in [
            "",
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:alert(1)",
            "dashboard",
            "/dash\nboard",
        ] {
            assert_eq!(safe_return_path(next), DEFAULT_RETURN_PATH, "{next:?}");
        }
    }
}
