//! The `/rpc` door for signing up, in and out: server functions the pages
//! call. Each reads the request, calls the accounts service, and shapes the
//! answer.

use super::summary::{SignInList, TotpEnrolment, TwoFactorState, UserSummary};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::{
    auth::{
        identity::{ClientInfo, SignedIn},
        service::Accounts,
        session::{
            self, signed_in_actor, signed_in_enrolling, signed_in_without_account, this_session,
            WITHOUT_ACCOUNT_PATH,
        },
    },
    shared::{context::provided, ids::AccountId},
};

/// What the sign-in and sign-up pages need to know about the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryOptions {
    pub signup_enabled: bool,
    /// Whether the server sends mail (password reset links among it).
    pub mail_enabled: bool,
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
    let accounts = provided::<Accounts>()?;
    let session = this_session().await?;
    let client = ClientInfo::of_this_request().await;
    let member = accounts.sign_up(&email, password, &client).await?;
    session::sign_in(&session, &member).await?;
    leptos_axum::redirect(DEFAULT_RETURN_PATH);
    Ok(())
}

/// Signs in; a user with two-factor sign-in sends `otp` too (the page asks
/// for it when told `otp_required`).
#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: String,
    #[server(default)] otp: Option<String>,
) -> Result<(), AppError> {
    let accounts = provided::<Accounts>()?;
    let client = ClientInfo::of_this_request().await;
    let next = safe_return_path(&next);
    let otp = otp.as_deref();
    let signed_in = accounts
        .sign_in(&email, password, otp, None, &client)
        .await?;
    start_session(signed_in, next).await
}

/// Starts this browser's session for a user whose sign-in just
/// succeeded, and sends them on to `next` (a same-site path).
#[cfg(feature = "ssr")]
pub(super) async fn start_session(signed_in: SignedIn, next: &str) -> Result<(), AppError> {
    let session = this_session().await?;
    match signed_in {
        SignedIn::Member(member) => {
            session::sign_in(&session, &member).await?;
            leptos_axum::redirect(next);
        }
        SignedIn::WithoutAccount(user) => {
            session::sign_in_without_account(&session, &user).await?;
            // An invitation's page is open to them; the dashboard is not.
            let to_dashboard = next.starts_with(DEFAULT_RETURN_PATH);
            leptos_axum::redirect(if to_dashboard {
                WITHOUT_ACCOUNT_PATH
            } else {
                next
            });
        }
    }
    Ok(())
}

/// Makes an account for the signed-in user who belongs to none, and
/// enters it.
#[server(prefix = "/rpc", endpoint = "create_own_account")]
pub async fn create_own_account() -> Result<(), AppError> {
    let user = signed_in_without_account().await?;
    let client = ClientInfo::of_this_request().await;
    let member = provided::<Accounts>()?
        .create_own_account(&user, &client)
        .await?;
    session::enter_account(&this_session().await?, &member).await?;
    leptos_axum::redirect(DEFAULT_RETURN_PATH);
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let session = this_session().await?;
    if let Ok(actor) = signed_in_enrolling().await {
        let accounts = provided::<Accounts>()?;
        accounts.signed_out(&actor).await?;
        if let Some(key) = session::this_key(&session).await {
            accounts.forget_session(&key, &actor.user.user_id).await?;
        }
    }
    session::sign_out(&session).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "sign_out_everywhere")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    let actor = signed_in_enrolling().await?;
    provided::<Accounts>()?.sign_out_everywhere(&actor).await?;
    session::sign_out(&this_session().await?).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    let accounts = provided::<Accounts>()?;
    let actor = signed_in_enrolling().await?;
    accounts
        .change_password(&actor, current_password, new_password)
        .await?;
    // Every session ended with the old password; this one carries on.
    let member = accounts
        .membership(&actor.user.account_id, &actor.user.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    session::sign_in(&this_session().await?, &member).await
}

#[server(prefix = "/rpc", endpoint = "current_user")]
pub async fn current_user() -> Result<UserSummary, AppError> {
    let user = signed_in_enrolling().await?.user;
    provided::<Accounts>()?.summary(&user).await
}

/// Acts in another of the user's accounts from now on, and goes to its
/// dashboard.
#[server(prefix = "/rpc", endpoint = "switch_account")]
pub async fn switch_account(account_id: String) -> Result<(), AppError> {
    let not_a_member = || AppError::Forbidden("You are not a member of this account.".into());
    let account_id = AccountId::parse(&account_id).map_err(|_| not_a_member())?;
    let accounts = provided::<Accounts>()?;
    let user = signed_in_enrolling().await?.user;
    let member = accounts
        .membership(&account_id, &user.user_id)
        .await?
        .ok_or_else(not_a_member)?;
    session::enter_account(&this_session().await?, &member).await?;
    leptos_axum::redirect(DEFAULT_RETURN_PATH);
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "auth_options")]
pub async fn auth_options() -> Result<EntryOptions, AppError> {
    Ok(EntryOptions {
        signup_enabled: provided::<Accounts>()?.signup_enabled(),
        mail_enabled: provided::<Accounts>()?.mail_on(),
    })
}

/// Emails a password reset link if the address has an account; the answer
/// is the same either way.
#[server(prefix = "/rpc", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    let client = ClientInfo::of_this_request().await;
    provided::<Accounts>()?
        .request_password_reset(&email, &client)
        .await
}

/// Mails the signed-in user a new link to confirm their address.
#[server(prefix = "/rpc", endpoint = "send_address_check")]
pub async fn send_address_check() -> Result<(), AppError> {
    let actor = signed_in_enrolling().await?;
    provided::<Accounts>()?
        .send_address_check(&actor.user.user_id, &actor.client)
        .await
}

/// Confirms the address a link was mailed to; the address.
#[server(prefix = "/rpc", endpoint = "confirm_address")]
pub async fn confirm_address(token: String) -> Result<String, AppError> {
    let client = ClientInfo::of_this_request().await;
    provided::<Accounts>()?
        .confirm_address(&token, &client)
        .await
}

/// Gives the signed-in user a new address (unconfirmed until its link is
/// used), after checking their password.
#[server(prefix = "/rpc", endpoint = "change_email")]
pub async fn change_email(email: String, current_password: String) -> Result<(), AppError> {
    let actor = signed_in_enrolling().await?;
    provided::<Accounts>()?
        .change_email(&actor, &email, current_password)
        .await
}

/// The address a password reset link is for, while the link works.
#[server(prefix = "/rpc", endpoint = "reset_link_email")]
pub async fn reset_link_email(token: String) -> Result<String, AppError> {
    provided::<Accounts>()?.reset_link_email(&token).await
}

/// Sets the new password with a reset link, and signs this browser in.
#[server(prefix = "/rpc", endpoint = "reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    let accounts = provided::<Accounts>()?;
    let client = ClientInfo::of_this_request().await;
    let user = accounts.reset_password(&token, password, &client).await?;
    let session = this_session().await?;
    match accounts.enter_after_reset(user, &client).await? {
        Some(SignedIn::Member(member)) => {
            session::sign_in(&session, &member).await?;
            leptos_axum::redirect(DEFAULT_RETURN_PATH);
        }
        Some(SignedIn::WithoutAccount(user)) => {
            session::sign_in_without_account(&session, &user).await?;
            leptos_axum::redirect(WITHOUT_ACCOUNT_PATH);
        }
        // Two-factor sign-in: they sign in with the new password and a code.
        None => leptos_axum::redirect("/login"),
    }
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "two_factor_status")]
pub async fn two_factor_status() -> Result<TwoFactorState, AppError> {
    let user = signed_in_enrolling().await?.user;
    provided::<Accounts>()?
        .two_factor_status(&user.user_id)
        .await
}

/// A new authenticator app's QR code and secret, shown once.
#[server(prefix = "/rpc", endpoint = "begin_totp")]
pub async fn begin_totp() -> Result<TotpEnrolment, AppError> {
    let actor = signed_in_enrolling().await?;
    provided::<Accounts>()?.begin_totp(&actor).await
}

/// Turns two-factor sign-in on with the app's first code: the recovery
/// codes, shown once.
#[server(prefix = "/rpc", endpoint = "enable_totp")]
pub async fn enable_totp(code: String) -> Result<Vec<String>, AppError> {
    let actor = signed_in_enrolling().await?;
    provided::<Accounts>()?.enable_totp(&actor, &code).await
}

#[server(prefix = "/rpc", endpoint = "disable_totp")]
pub async fn disable_totp(current_password: String, code: String) -> Result<(), AppError> {
    let actor = signed_in_actor().await?;
    provided::<Accounts>()?
        .disable_totp(&actor, current_password, &code)
        .await
}

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

/// Whether the account requires two-factor sign-in of every member.
#[server(prefix = "/rpc", endpoint = "account_two_factor")]
pub async fn account_two_factor() -> Result<bool, AppError> {
    let actor = signed_in_enrolling().await?;
    provided::<Accounts>()?
        .two_factor_required(&actor.user.account_id)
        .await
}

/// Requires two-factor sign-in of every member of the account, or stops
/// (owners only).
#[server(prefix = "/rpc", endpoint = "set_account_two_factor")]
pub async fn set_account_two_factor(required: bool) -> Result<(), AppError> {
    let actor = signed_in_actor().await?;
    provided::<Accounts>()?
        .require_two_factor(&actor, required)
        .await
}

/// Where the user is signed in: their sessions (this one marked) and the
/// bearer tokens issued to them in the last day.
#[server(prefix = "/rpc", endpoint = "sign_ins")]
pub async fn sign_ins() -> Result<SignInList, AppError> {
    let actor = signed_in_enrolling().await?;
    let current = session::this_key(&this_session().await?).await;
    let (sessions, tokens) = provided::<Accounts>()?
        .sign_ins(&actor.user.user_id, current.as_deref())
        .await?;
    Ok(SignInList { sessions, tokens })
}

/// Signs out one of the user's other sessions.
#[server(prefix = "/rpc", endpoint = "end_session")]
pub async fn end_session(id: String) -> Result<(), AppError> {
    let actor = signed_in_enrolling().await?;
    provided::<Accounts>()?.end_session(&actor, &id).await
}

/// Ends every other session and every bearer token; this session carries on.
#[server(prefix = "/rpc", endpoint = "sign_out_everywhere_else")]
pub async fn sign_out_everywhere_else() -> Result<(), AppError> {
    let accounts = provided::<Accounts>()?;
    let actor = signed_in_enrolling().await?;
    accounts.sign_out_everywhere_else(&actor).await?;
    let member = accounts
        .membership(&actor.user.account_id, &actor.user.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    session::sign_in(&this_session().await?, &member).await
}
