//! Browser sessions: who is signed in, the guard that keeps dashboard pages
//! for signed-in users, and what server functions read of the session.

use super::{
    identity::{
        AccountlessUser, Actor, AuthenticatedUser, ClientInfo, Generations, Membership, Principal,
    },
    service::Accounts,
};
use crate::{
    error::AppError,
    shared::{
        clock::{new_id, UnixMs},
        context::provided,
        ids::UserId,
    },
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
/// A user signed in who belongs to no account, and their token generation.
/// A session holds this or [`USER_KEY`], never both.
const ACCOUNTLESS_KEY: &str = "user_without_account";
/// The user's token generation at sign-in: when it moves on (sign out
/// everywhere, a new password) this session ends.
const GENERATION_KEY: &str = "token_generation";
/// The membership's generation when this session entered the account: when
/// it moves on (a new role) or the membership goes, this session ends.
const MEMBERSHIP_GENERATION_KEY: &str = "membership_generation";
/// When the user signed in (ms): the session's absolute lifetime runs from it.
const SIGNED_IN_AT_KEY: &str = "signed_in_at";
/// The random key naming this session's row in `user_sessions`, where its
/// user sees it and may end it.
const SESSION_KEY: &str = "session_key";
/// Set at sign-in until the session's row is written, by its first checked
/// request (which knows the client).
const UNRECORDED_KEY: &str = "session_unrecorded";
/// When the row last heard of this session's use (ms).
const NOTED_KEY: &str = "session_noted_at";
/// How often a session's use is written to its row.
const NOTE_EVERY: Duration = Duration::from_secs(60);
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

/// Who holds a current session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionUser {
    Member(AuthenticatedUser),
    /// A member whose account requires two-factor sign-in they have not
    /// set up: they reach the Account page, to set it up, and no more.
    MustEnrol(AuthenticatedUser),
    WithoutAccount(AccountlessUser),
}

impl SessionUser {
    pub fn user_id(&self) -> &UserId {
        match self {
            SessionUser::Member(user) | SessionUser::MustEnrol(user) => &user.user_id,
            SessionUser::WithoutAccount(user) => &user.user_id,
        }
    }
}

/// Where a member whose account requires two-factor sign-in goes until
/// they set it up: the Account page, which sets it up.
pub const ENROL_PATH: &str = "/dashboard/account";

/// Where a user who belongs to no account is sent: the page that offers an
/// account of their own and the invitations waiting for them.
pub const WITHOUT_ACCOUNT_PATH: &str = "/welcome";

/// Signs a member in. The session id is replaced first, so an id planted in
/// the browser before sign-in (session fixation) is worthless.
pub async fn sign_in(session: &Session, member: &Membership) -> Result<(), AppError> {
    start(session).await?;
    enter_account(session, member).await
}

/// Signs in a user who belongs to no account, likewise on a new id.
pub async fn sign_in_without_account(
    session: &Session,
    user: &AccountlessUser,
) -> Result<(), AppError> {
    start(session).await?;
    session
        .remove_value(USER_KEY)
        .await
        .map_err(session_error)?;
    session
        .insert(ACCOUNTLESS_KEY, user)
        .await
        .map_err(session_error)
}

/// A new session id, a new key for its row, and the lifetimes' clocks
/// started.
async fn start(session: &Session) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(SESSION_KEY, new_id("ses"))
        .await
        .map_err(session_error)?;
    session
        .insert(UNRECORDED_KEY, true)
        .await
        .map_err(session_error)?;
    let now = UnixMs::now();
    session
        .insert(SIGNED_IN_AT_KEY, now)
        .await
        .map_err(session_error)?;
    session
        .insert(LAST_SEEN_KEY, now)
        .await
        .map_err(session_error)
}

/// Makes `member`'s account the one this session acts in (signing in,
/// switching accounts, or joining one from a session without any).
pub async fn enter_account(session: &Session, member: &Membership) -> Result<(), AppError> {
    session
        .remove_value(ACCOUNTLESS_KEY)
        .await
        .map_err(session_error)?;
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
    if let Err(error) = check_lifetimes(&session, lifetimes, UnixMs::now()).await {
        tracing::warn!(%error, "cannot check a session's lifetime");
    }
    next.run(req).await
}

async fn check_lifetimes(
    session: &Session,
    lifetimes: Lifetimes,
    now: UnixMs,
) -> Result<(), tower_sessions::session::Error> {
    let signed_in = session.get::<Principal>(USER_KEY).await?.is_some()
        || session
            .get::<AccountlessUser>(ACCOUNTLESS_KEY)
            .await?
            .is_some();
    if !signed_in {
        return Ok(());
    }
    let Some(signed_in_at) = session.get::<UnixMs>(SIGNED_IN_AT_KEY).await? else {
        // Signed in before lifetimes were kept: the clock starts now.
        session.insert(SIGNED_IN_AT_KEY, now).await?;
        return session.insert(LAST_SEEN_KEY, now).await;
    };
    if now.since(signed_in_at) > lifetimes.max {
        return session.flush().await;
    }
    let last_seen = session.get::<UnixMs>(LAST_SEEN_KEY).await?;
    let step = (lifetimes.idle / 10).min(Duration::from_secs(60));
    if last_seen.is_none_or(|seen| now.since(seen) >= step) {
        session.insert(LAST_SEEN_KEY, now).await?;
    }
    Ok(())
}

/// Deletes the session on the server, not just the cookie.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}

/// The signed-in member, if the session is still current and acts in an
/// account (see [`require_session_user`]) whose two-factor requirement
/// they meet.
pub async fn require_user(
    session: &Session,
    accounts: &Accounts,
    client: &ClientInfo,
) -> Result<AuthenticatedUser, AppError> {
    match require_session_user(session, accounts, client).await? {
        SessionUser::Member(user) => Ok(user),
        SessionUser::MustEnrol(_) => Err(AppError::TwoFactorEnrolmentRequired),
        SessionUser::WithoutAccount(_) => Err(AppError::Unauthenticated),
    }
}

/// The signed-in member, their account's two-factor requirement met or
/// not: for what setting it up needs (the Account page, who they are).
pub async fn require_user_enrolling(
    session: &Session,
    accounts: &Accounts,
    client: &ClientInfo,
) -> Result<AuthenticatedUser, AppError> {
    match require_session_user(session, accounts, client).await? {
        SessionUser::Member(user) | SessionUser::MustEnrol(user) => Ok(user),
        SessionUser::WithoutAccount(_) => Err(AppError::Unauthenticated),
    }
}

/// Who holds the session, if it is still current: one from before the user
/// signed out everywhere or changed the password, or from before they were
/// removed from the account or given another role, is ended here.
pub async fn require_session_user(
    session: &Session,
    accounts: &Accounts,
    client: &ClientInfo,
) -> Result<SessionUser, AppError> {
    let checked = if let Some(principal) = stored_user(session).await {
        current_member(session, accounts, &principal)
            .await?
            .map(|member| match member.must_enrol {
                true => SessionUser::MustEnrol(member.user),
                false => SessionUser::Member(member.user),
            })
    } else if let Some(user) = stored_accountless(session).await {
        accounts
            .accountless_is_current(&user)
            .await?
            .then_some(SessionUser::WithoutAccount(user))
    } else {
        // Nobody signed in: nothing to end.
        return Err(AppError::Unauthenticated);
    };
    match checked {
        Some(user) if track(session, accounts, user.user_id(), client).await? => Ok(user),
        Some(_) => {
            // Ended from another session (or everywhere): its row says so.
            sign_out(session).await?;
            Err(AppError::Unauthenticated)
        }
        None => {
            if let (Some(key), Some(user_id)) =
                (this_key(session).await, stored_user_id(session).await)
            {
                accounts.forget_session(&key, &user_id).await?;
            }
            sign_out(session).await?;
            Err(AppError::Unauthenticated)
        }
    }
}

/// Keeps the session's row: written by its first checked request, its
/// use noted at most once a minute. False when the row was ended: the user
/// signed this session out from another.
async fn track(
    session: &Session,
    accounts: &Accounts,
    user_id: &UserId,
    client: &ClientInfo,
) -> Result<bool, AppError> {
    let now = UnixMs::now();
    let key = match this_key(session).await {
        Some(key) => key,
        // Signed in before sessions were listed: listed from now on.
        None => {
            let key = new_id("ses");
            session
                .insert(SESSION_KEY, &key)
                .await
                .map_err(session_error)?;
            session
                .insert(UNRECORDED_KEY, true)
                .await
                .map_err(session_error)?;
            key
        }
    };
    let unrecorded: Option<bool> = session.get(UNRECORDED_KEY).await.ok().flatten();
    if unrecorded == Some(true) {
        accounts.start_session(&key, user_id, client).await?;
        session
            .remove_value(UNRECORDED_KEY)
            .await
            .map_err(session_error)?;
        session
            .insert(NOTED_KEY, now)
            .await
            .map_err(session_error)?;
        return Ok(true);
    }
    if !accounts.session_live(&key, user_id, client).await? {
        return Ok(false);
    }
    let noted: Option<UnixMs> = session.get(NOTED_KEY).await.ok().flatten();
    if noted.is_none_or(|at| now.since(at) >= NOTE_EVERY) {
        accounts.session_used(&key, client).await?;
        session
            .insert(NOTED_KEY, now)
            .await
            .map_err(session_error)?;
    }
    Ok(true)
}

/// The key of this session's row, if it has one.
pub async fn this_key(session: &Session) -> Option<String> {
    session.get(SESSION_KEY).await.ok().flatten()
}

/// Whoever the session says is signed in, before any check.
async fn stored_user_id(session: &Session) -> Option<UserId> {
    match stored_user(session).await {
        Some(principal) => Some(principal.user_id),
        None => stored_accountless(session).await.map(|user| user.user_id),
    }
}

async fn current_member(
    session: &Session,
    accounts: &Accounts,
    principal: &Principal,
) -> Result<Option<Membership>, AppError> {
    let Some(user) = session.get::<i64>(GENERATION_KEY).await.ok().flatten() else {
        return Ok(None);
    };
    // Sessions from before memberships had generations are of the first.
    let membership: i64 = session
        .get(MEMBERSHIP_GENERATION_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    let generations = Generations { user, membership };
    accounts.current_user(principal, generations).await
}

async fn stored_accountless(session: &Session) -> Option<AccountlessUser> {
    session.get(ACCOUNTLESS_KEY).await.ok().flatten()
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
    let client = ClientInfo::of_this_request().await;
    require_user(&this_session().await?, &accounts, &client).await
}

/// Whoever holds the session of the server function being served, with an
/// account or without, or `Unauthenticated`.
pub async fn signed_in_anyone() -> Result<SessionUser, AppError> {
    let accounts = provided::<Accounts>()?;
    let client = ClientInfo::of_this_request().await;
    require_session_user(&this_session().await?, &accounts, &client).await
}

/// The signed-in user without an account of the server function being
/// served: a member is told they have one.
pub async fn signed_in_without_account() -> Result<AccountlessUser, AppError> {
    match signed_in_anyone().await? {
        SessionUser::WithoutAccount(user) => Ok(user),
        SessionUser::Member(_) | SessionUser::MustEnrol(_) => Err(AppError::Conflict(
            "You belong to an account already.".into(),
        )),
    }
}

/// The signed-in user of the server function being served, acting from
/// this request's client.
pub async fn signed_in_actor() -> Result<Actor, AppError> {
    let user = signed_in().await?;
    let client = ClientInfo::of_this_request().await;
    Ok(Actor { user, client })
}

/// [`signed_in_actor`] for what setting up a required second factor
/// needs: a member who must still set it up passes.
pub async fn signed_in_enrolling() -> Result<Actor, AppError> {
    let accounts = provided::<Accounts>()?;
    let client = ClientInfo::of_this_request().await;
    let user = require_user_enrolling(&this_session().await?, &accounts, &client).await?;
    Ok(Actor { user, client })
}

fn session_error(error: tower_sessions::session::Error) -> AppError {
    tracing::error!(%error, "session store error");
    AppError::Internal
}

/// Sends each visitor to the pages that are theirs: those without a
/// current session from dashboard pages to the sign-in page (remembering
/// where they were going), members away from the sign-in and sign-up
/// pages, and users who belong to no account to [`WITHOUT_ACCOUNT_PATH`].
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
    let page = if path == "/dashboard" || path.starts_with("/dashboard/") {
        Page::Dashboard
    } else if path == "/login" || path == "/signup" {
        Page::Entry
    } else if path == WITHOUT_ACCOUNT_PATH {
        Page::WithoutAccount
    } else {
        return next.run(req).await;
    };
    let client = req
        .extensions()
        .get::<ClientInfo>()
        .cloned()
        .unwrap_or_default();
    let visitor = match require_session_user(&session, &accounts, &client).await {
        Ok(SessionUser::Member(_)) => Page::Dashboard,
        // Sent to set up the second factor their account requires; the
        // Account page (and only it) is theirs meanwhile.
        Ok(SessionUser::MustEnrol(_)) if path == ENROL_PATH => Page::Dashboard,
        Ok(SessionUser::MustEnrol(_)) if page == Page::Entry => {
            return Redirect::to(ENROL_PATH).into_response()
        }
        Ok(SessionUser::MustEnrol(_)) if page == Page::Dashboard => {
            return Redirect::to(&format!("{ENROL_PATH}?two-factor=required")).into_response()
        }
        Ok(SessionUser::MustEnrol(_)) => Page::Dashboard,
        Ok(SessionUser::WithoutAccount(_)) => Page::WithoutAccount,
        Err(AppError::Unauthenticated) => Page::Entry,
        // The page itself explains a failing database; the guard cannot say
        // who is signed in, so it lets the page answer.
        Err(_) => return next.run(req).await,
    };
    if page == visitor {
        return next.run(req).await;
    }
    match visitor {
        Page::Entry => {
            let target = req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or(path);
            Redirect::to(&format!("/login?next={}", encode_query_value(target))).into_response()
        }
        Page::Dashboard => Redirect::to("/dashboard").into_response(),
        Page::WithoutAccount => Redirect::to(WITHOUT_ACCOUNT_PATH).into_response(),
    }
}

/// The guarded pages, each for one kind of visitor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    /// For members.
    Dashboard,
    /// Sign-in and sign-up, for visitors without a session.
    Entry,
    /// For users who belong to no account.
    WithoutAccount,
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
