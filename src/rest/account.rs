//! Tokens, sign-up, "who am I" and the audit log over HTTP.

use super::{
    auth::{management_key, Caller, ManagerCaller},
    json::{Body, Data, Page, Params},
    problem::{self, ApiError},
};
use crate::{
    audit::{service::AuditLog, AuditEventView, AuditQuery, AuditView},
    auth::{
        identity::ClientInfo, manager::Operation, role::Role, service::Accounts,
        summary::AccountChoice,
    },
    error::AppError,
    keys::{limits::RateLimit, Keys, Scope},
    shared::{clock::UnixMs, ids::AccountId, key_type::KeyType},
};
use axum::{extract::State, http::StatusCode, response::IntoResponse, Extension};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    email: String,
    password: String,
}

/// Email and password, and the account the token is for.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    email: String,
    password: String,
    /// One of the user's accounts; by default the first they joined.
    #[serde(default)]
    account_id: Option<String>,
    /// For a user with two-factor sign-in: the code from their
    /// authenticator app, or one of their recovery codes. Without it they
    /// are refused with `otp_required`.
    #[serde(default)]
    otp: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    /// The account the token acts in, and the user's role there.
    account_id: String,
    role: Role,
}

/// `POST /auth/token`: the sign-in page's rules (throttling, one generic
/// error), answered with a bearer token for one of the user's accounts.
#[utoipa::path(post, path = "/auth/token", tag = "Authentication",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A bearer token for key and member management", body = TokenResponse),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::TooLarge,
        problem::NotJson,
        problem::TooManyAttempts
    ))]
pub async fn token(
    State(accounts): State<Accounts>,
    Extension(client): Extension<ClientInfo>,
    Body(request): Body<TokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // Checked before the password, as the email's shape is.
    let account_id = request
        .account_id
        .as_deref()
        .map(|raw| {
            AccountId::parse(raw)
                .map_err(|_| AppError::field("account_id", "This is not an account id (acc_…)."))
        })
        .transpose()?;
    let member = accounts
        .sign_in(
            &request.email,
            request.password,
            request.otp.as_deref(),
            account_id.as_ref(),
            &client,
        )
        .await?
        .into_member()?;
    let issued = accounts.issue_recorded_token(&member, &client).await?;
    Ok(axum::Json(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        account_id: member.user.account_id.into(),
        role: member.user.role,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewUser {
    user_id: String,
    account_id: String,
    email: String,
}

/// `POST /auth/signup`, while public sign-up is on.
#[utoipa::path(post, path = "/auth/signup", tag = "Authentication",
    request_body = Credentials,
    responses(
        (status = 201, description = "A new account, owned by the new user", body = Data<NewUser>),
        problem::BadInput,
        problem::Forbidden,
        problem::TooLarge,
        problem::NotJson,
        problem::TooManyAttempts,
        problem::Busy
    ))]
pub async fn signup(
    State(accounts): State<Accounts>,
    Extension(client): Extension<ClientInfo>,
    Body(credentials): Body<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let user = accounts
        .sign_up(&credentials.email, credentials.password, &client)
        .await?
        .user;
    let email = accounts.email_of(&user.user_id).await?;
    let created = NewUser {
        user_id: user.user_id.into(),
        account_id: user.account_id.into(),
        email,
    };
    Ok((StatusCode::CREATED, axum::Json(Data { data: created })))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    account_id: String,
    credential: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<MeUser>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<MeKey>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeUser {
    id: String,
    email: String,
    /// The user's role in the account.
    role: Role,
    /// Every account the user belongs to, in the order they joined them:
    /// `POST /auth/token` with one's `account_id` acts there.
    accounts: Vec<AccountChoice>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeKey {
    id: String,
    name: String,
    #[serde(rename = "type")]
    key_type: KeyType,
    scopes: Vec<Scope>,
    expires_at: Option<UnixMs>,
}

/// `GET /me`: who is calling.
#[utoipa::path(get, path = "/me", tag = "Account", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "Who is calling", body = Data<Me>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden
    ))]
pub async fn me(
    State(accounts): State<Accounts>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let me = match caller {
        Caller::User(actor) => {
            let summary = accounts.summary(&actor.user).await?;
            Me {
                account_id: summary.account_id,
                credential: "bearer_token",
                user: Some(MeUser {
                    id: summary.user_id,
                    email: summary.email,
                    role: summary.role,
                    accounts: summary.accounts,
                }),
                key: None,
            }
        }
        Caller::Key(key) => Me {
            account_id: key.account_id.to_string(),
            credential: "api_key",
            user: None,
            key: Some(MeKey {
                id: key.key_id.to_string(),
                name: key.name.clone(),
                key_type: key.kind,
                scopes: key.scopes.clone(),
                expires_at: key.expires_at,
            }),
        },
    };
    Ok(axum::Json(Data { data: me }))
}

/// `GET /audit-events`: a user's token, an API key with `admin`, or a
/// management key with `audit:read`: the log holds people's emails,
/// addresses and browsers, which a key made to read data has no business
/// seeing. Members see what their role's audit view shows (viewers and
/// developers: key events, without clients); keys see what developers see.
#[utoipa::path(get, path = "/audit-events", tag = "Account", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit events, newest first. Owners and admins see every event with its client address and user agent; viewers, developers and API keys see key events only, without them", body = Page<AuditEventView>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden
    ))]
pub async fn audit_events(
    State(audit): State<AuditLog>,
    State(keys): State<Keys>,
    client: ClientInfo,
    caller: Caller,
    Params(query): Params<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let view = match &caller {
        Caller::User(actor) => actor.user.role.audit_view(),
        Caller::Key(key) if key.kind == KeyType::Management => {
            let by = management_key(key, client);
            by.require(Operation::ReadAuditLog)?;
            by.audit_view()
        }
        // A developer may make an admin key: a key never sees more than
        // the roles below admin do.
        Caller::Key(_) => {
            caller.require(&keys, &Scope::audit_log())?;
            AuditView::KeyEventsWithoutClients
        }
    };
    let page = audit.list(caller.account_id(), view, &query).await?;
    Ok(axum::Json(Page::<AuditEventView> {
        data: page.events,
        next_cursor: page.next_cursor,
    }))
}

/// The rate limits every key of the account shares.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRateLimits {
    /// Up to 5; each verification of any of the account's keys counts
    /// against them, beside the key's own.
    ratelimits: Vec<RateLimit>,
}

#[utoipa::path(get, path = "/account/ratelimits", tag = "Account", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The limits every key of the account shares", body = Data<AccountRateLimits>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden
    ))]
pub async fn ratelimits(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
) -> Result<impl IntoResponse, ApiError> {
    let ratelimits = keys.account_ratelimits(&by).await?;
    Ok(axum::Json(Data {
        data: AccountRateLimits { ratelimits },
    }))
}

#[utoipa::path(put, path = "/account/ratelimits", tag = "Account", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    request_body = AccountRateLimits,
    responses(
        (status = 200, description = "The limits now in force, all of them replaced", body = Data<AccountRateLimits>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::TooLarge,
        problem::NotJson
    ))]
pub async fn set_ratelimits(
    State(keys): State<Keys>,
    ManagerCaller(by): ManagerCaller,
    Body(given): Body<AccountRateLimits>,
) -> Result<impl IntoResponse, ApiError> {
    let ratelimits = keys.set_account_ratelimits(&by, &given.ratelimits).await?;
    Ok(axum::Json(Data {
        data: AccountRateLimits { ratelimits },
    }))
}
