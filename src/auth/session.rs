//! Browser sessions: who is signed in, the guard that keeps dashboard pages
//! for signed-in users, and what server functions read of the session.

use super::{
    identity::{Actor, AuthenticatedUser, ClientInfo, Generations, Membership, Principal},
    service::Accounts,
};
use crate::{
    error::AppError,
    shared::{clock, context::provided},
};
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use std::time::Duration;
use tower_sessions::Session;

/// The user and the account they act in.
const USER_KEY: &str = "user";
/// The user's token generation at sign-in: when it moves on (sign out
/// everywhere, a new password) this session ends.
const GENERATION_KEY: &str = "token_generation";
/// The membership's generation when this session entered the account: when
/// it moves on (a new role) or the membership goes, this session ends.
const MEMBERSHIP_GENERATION_KEY: &str = "membership_generation";
/// When the user signed in (ms): the session's absolute lifetime runs from it.
const SIGNED_IN_AT_KEY: &str = "signed_in_at";
/// When the session was last written because of use (ms): writing it moves
/// its idle expiry on. tower-sessions writes only modified sessions, so
/// without this an active session would still end one idle period after
/// sign-in.
const LAST_SEEN_KEY: &str = "last_seen";

/// How long sessions last: `idle` without use, `max` after sign-in however
/// active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    pub idle: Duration,
    pub max: Duration,
}

/// The user the session says is signed in, before any check.
async fn stored_user(session: &Session) -> Option<Principal> {
    session.get(USER_KEY).await.ok().flatten()
}

/// Signs a member in. The session id is replaced first, so an id planted in
/// the browser before sign-in (session fixation) is worthless.
pub async fn sign_in(session: &Session, member: &Membership) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    let now = clock::now_ms();
    session
        .insert(SIGNED_IN_AT_KEY, now)
        .await
        .map_err(session_error)?;
    session
        .insert(LAST_SEEN_KEY, now)
        .await
        .map_err(session_error)?;
    enter_account(session, member).await
}

/// Makes `member`'s account the one this session acts in (signing in, or
/// switching accounts).
pub async fn enter_account(session: &Session, member: &Membership) -> Result<(), AppError> {
    session
        .insert(GENERATION_KEY, member.generations.user)
        .await
        .map_err(session_error)?;
    session
        .insert(MEMBERSHIP_GENERATION_KEY, member.generations.membership)
        .await
        .map_err(session_error)?;
    session
        .insert(USER_KEY, member.principal())
        .await
        .map_err(session_error)
}

/// Middleware: ends a signed-in session that outlived its absolute
/// lifetime, and otherwise moves its idle expiry on while it is used
/// (writing it at most once per tenth of the idle period, or minute).
pub async fn enforce_lifetimes(
    State(lifetimes): State<Lifetimes>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    if let Err(error) = check_lifetimes(&session, lifetimes, clock::now_ms()).await {
        tracing::warn!(%error, "cannot check a session's lifetime");
    }
    next.run(req).await
}

async fn check_lifetimes(
    session: &Session,
    lifetimes: Lifetimes,
    now: i64,
) -> Result<(), tower_sessions::session::Error> {
    if session.get::<Principal>(USER_KEY).await?.is_none() {
        return Ok(());
    }
    let Some(signed_in_at) = session.get::<i64>(SIGNED_IN_AT_KEY).await? else {
        // Signed in before lifetimes were kept: the clock starts now.
        session.insert(SIGNED_IN_AT_KEY, now).await?;
        return session.insert(LAST_SEEN_KEY, now).await;
    };
    if now - signed_in_at > lifetimes.max.as_millis() as i64 {
        return session.flush().await;
    }
    let last_seen = session.get::<i64>(LAST_SEEN_KEY).await?.unwrap_or(0);
    let step = (lifetimes.idle / 10).min(Duration::from_secs(60));
    if now - last_seen >= step.as_millis() as i64 {
        session.insert(LAST_SEEN_KEY, now).await?;
    }
    Ok(())
}

/// Deletes the session on the server, not just the cookie.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}

/// The signed-in user, if the session is still current: one from before
/// the user signed out everywhere or changed the password, or from before
/// they were removed from the account or given another role, is ended here.
pub async fn require_user(
    session: &Session,
    accounts: &Accounts,
) -> Result<AuthenticatedUser, AppError> {
    let principal = stored_user(session)
        .await
        .ok_or(AppError::Unauthenticated)?;
    let user: Option<i64> = session.get(GENERATION_KEY).await.ok().flatten();
    // Sessions from before memberships had generations are of the first.
    let membership: i64 = session
        .get(MEMBERSHIP_GENERATION_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    let checked = match user {
        Some(user) => {
            let generations = Generations { user, membership };
            accounts.current_user(&principal, generations).await?
        }
        None => None,
    };
    match checked {
        Some(user) => Ok(user),
        None => {
            sign_out(session).await?;
            Err(AppError::Unauthenticated)
        }
    }
}

/// The session of the server function being served.
pub async fn this_session() -> Result<Session, AppError> {
    leptos_axum::extract().await.map_err(|error| {
        tracing::error!(?error, "no session layer in front of a server function");
        AppError::Internal
    })
}

/// The signed-in user of the server function being served, or
/// `Unauthenticated`.
pub async fn signed_in() -> Result<AuthenticatedUser, AppError> {
    let accounts = provided::<Accounts>()?;
    require_user(&this_session().await?, &accounts).await
}

/// The signed-in user of the server function being served, acting from
/// this request's client.
pub async fn signed_in_actor() -> Result<Actor, AppError> {
    let user = signed_in().await?;
    let client = ClientInfo::of_this_request().await;
    Ok(Actor { user, client })
}

fn session_error(error: tower_sessions::session::Error) -> AppError {
    tracing::error!(%error, "session store error");
    AppError::Internal
}

/// Sends visitors without a current session from dashboard pages to the
/// sign-in page (remembering where they were going), and signed-in users
/// away from the sign-in and sign-up pages.
///
/// The session is checked in full here, before the page starts streaming:
/// one that has ended (signed out everywhere, removed from the account, a
/// new role) is deleted now, not by a server function while the page is
/// already on its way, when the session layer could no longer answer with
/// a cookie that matches.
pub async fn guard_pages(
    State(accounts): State<Accounts>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let is_dashboard = path == "/dashboard" || path.starts_with("/dashboard/");
    let is_entry = path == "/login" || path == "/signup";
    if !is_dashboard && !is_entry {
        return next.run(req).await;
    }
    let signed_in = match require_user(&session, &accounts).await {
        Ok(_) => true,
        Err(AppError::Unauthenticated) => false,
        // The page itself explains a failing database; the guard cannot say
        // who is signed in, so it lets the page answer.
        Err(_) => return next.run(req).await,
    };
    match (signed_in, is_dashboard) {
        (false, true) => {
            let target = req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or(path);
            Redirect::to(&format!("/login?next={}", encode_query_value(target))).into_response()
        }
        (true, false) => Redirect::to("/dashboard").into_response(),
        _ => next.run(req).await,
    }
}

fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_return_target_is_encoded_as_one_query_value() {
        assert_eq!(
            encode_query_value("/dashboard/api-keys"),
            "/dashboard/api-keys"
        );
        assert_eq!(
            encode_query_value("/dashboard/audit-log?key=a&b=c"),
            "/dashboard/audit-log%3Fkey%3Da%26b%3Dc"
        );
    }
}
