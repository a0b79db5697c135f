//! Who is calling the REST API: a user with a bearer token (JWT), or an API
//! key (`X-API-Key`, VideoDB's `x-access-token`, or `Authorization: Bearer
//! ks_live_…`: the prefix tells a key from a token). A request carrying
//! more than one of those headers is refused: which speaks is never
//! guessed.

use super::problem::ApiError;
use crate::{
    auth::{
        identity::{Actor, ClientInfo},
        manager::Manager,
        service::Accounts,
    },
    error::AppError,
    keys::{
        catalogue::Requirement,
        credential::{Verification, VerifiedKey},
        Keys, Scope,
    },
    shared::{ids::AccountId, key_type::KeyType},
};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use std::sync::Arc;

pub const API_KEY_HEADER: &str = "x-api-key";
/// VideoDB's name for the API-key header.
pub const ACCESS_TOKEN_HEADER: &str = "x-access-token";
/// Every header that can carry a credential, as the refusal names them.
const CREDENTIAL_HEADERS: [(&str, &str); 3] = [
    (API_KEY_HEADER, "X-API-Key"),
    (ACCESS_TOKEN_HEADER, "x-access-token"),
    ("authorization", "Authorization"),
];

/// Any valid credential.
pub enum Caller {
    User(Actor),
    Key(Arc<VerifiedKey>),
}

impl Caller {
    pub fn account_id(&self) -> &AccountId {
        match self {
            Caller::User(actor) => &actor.user.account_id,
            Caller::Key(key) => &key.account_id,
        }
    }

    /// Users may do anything in their account; a key needs `scope`,
    /// directly or by implication.
    pub fn require(&self, keys: &Keys, scope: &Scope) -> Result<(), AppError> {
        match self {
            Caller::Key(key) if !keys.key_holds(key, scope) => {
                Err(AppError::InsufficientScope(scope.as_str().into()))
            }
            _ => Ok(()),
        }
    }
}

/// A signed-in user's bearer token: what changing the team requires.
pub struct UserCaller(pub Actor);

/// A member's bearer token or a management key: what managing keys (and
/// reading the team and the audit log) requires. An API key is refused:
/// it never manages anything.
pub struct ManagerCaller(pub Manager);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Keys: FromRef<S>,
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let keys = Keys::from_ref(state);
        let client = client_of(parts);
        match presented(parts, &keys)? {
            Presented::Key(key) => {
                // Keysmith's own API spends nothing from a key's rate limits:
                // they are the platform's, counted by its verify calls.
                let verdict = keys
                    .verify(key, &Requirement::default(), client.ip, None)
                    .await?;
                match verdict.verification {
                    Verification::Valid(key) => Ok(Caller::Key(key)),
                    Verification::IpNotAllowed => Err(AppError::IpNotAllowed.into()),
                    _ => Err(AppError::Unauthenticated.into()),
                }
            }
            Presented::Token(token) => {
                let user = Accounts::from_ref(state).token_user(token).await?;
                Ok(Caller::User(Actor { user, client }))
            }
        }
    }
}

impl<S> FromRequestParts<S> for UserCaller
where
    S: Send + Sync,
    Keys: FromRef<S>,
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::User(actor) => Ok(UserCaller(actor)),
            Caller::Key(_) => Err(AppError::Forbidden(
                "This needs a signed-in user's bearer token, not a key: keys never change \
                 the team. Get one from POST /api/v2/auth/token."
                    .into(),
            )
            .into()),
        }
    }
}

impl<S> FromRequestParts<S> for ManagerCaller
where
    S: Send + Sync,
    Keys: FromRef<S>,
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let client = client_of(parts);
        match Caller::from_request_parts(parts, state).await? {
            Caller::User(actor) => Ok(ManagerCaller(Manager::member(actor))),
            Caller::Key(key) if key.kind == KeyType::Management => {
                Ok(ManagerCaller(management_key(&key, client)))
            }
            Caller::Key(_) => Err(AppError::ApiKeysNeverManage.into()),
        }
    }
}

/// A management key as the manager it is: its management scopes apply.
pub fn management_key(key: &VerifiedKey, client: ClientInfo) -> Manager {
    let held = key.scopes.iter().map(Scope::as_str);
    Manager::key(key.key_id.clone(), key.account_id.clone(), held, client)
}

/// The client the server's security layer found for this request.
fn client_of(parts: &Parts) -> ClientInfo {
    parts
        .extensions
        .get::<ClientInfo>()
        .cloned()
        .unwrap_or_default()
}

enum Presented<'a> {
    Key(&'a str),
    Token(&'a str),
}

fn presented<'a>(parts: &'a Parts, keys: &Keys) -> Result<Presented<'a>, AppError> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map(str::trim)
                    .map_err(|_| AppError::Unauthenticated)
            })
            .transpose()
    };
    // Each value counts: the same header twice is two credentials too.
    let carried: Vec<&str> = CREDENTIAL_HEADERS
        .iter()
        .flat_map(|(name, shown)| parts.headers.get_all(*name).iter().map(|_| *shown))
        .collect();
    if carried.len() > 1 {
        return Err(AppError::AmbiguousCredentials(
            carried.into_iter().map(str::to_owned).collect(),
        ));
    }
    if let Some(key) = header(API_KEY_HEADER)?.or(header(ACCESS_TOKEN_HEADER)?) {
        return Ok(Presented::Key(key));
    }
    let authorization = header("authorization")?.ok_or(AppError::Unauthenticated)?;
    let (scheme, value) = authorization
        .split_once(' ')
        .ok_or(AppError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AppError::Unauthenticated);
    }
    let value = value.trim();
    Ok(if keys.is_key_shaped(value) {
        Presented::Key(value)
    } else {
        Presented::Token(value)
    })
}
