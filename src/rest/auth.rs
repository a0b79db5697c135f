//! Who is calling the REST API: a user with a bearer token (JWT), or an API
//! key (`X-API-Key`, or `Authorization: Bearer ks_live_…`: the prefix tells
//! a key from a token).

use super::problem::ApiError;
use crate::{
    audit::service::Actor,
    auth::session::SessionUser,
    error::AppError,
    keys::{
        verifier::{Verification, VerifiedKey},
        Scope,
    },
    server::{security::ClientInfo, AppState},
};
use axum::{extract::FromRequestParts, http::request::Parts};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};

const ISSUER: &str = "keysmith";
const AUDIENCE: &str = "keysmith-api";
pub const API_KEY_HEADER: &str = "x-api-key";

/// Issues and checks bearer tokens. The algorithm is fixed here: a token
/// whose header names another one (or `none`) is refused.
#[derive(Clone)]
pub struct TokenSigner(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    acc: String,
    /// The user's token generation when issued; see `token_generation`.
    gen: i64,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
}

/// A freshly issued token.
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

impl TokenSigner {
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 0;
        TokenSigner(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
        }))
    }

    pub fn issue(
        &self,
        user: &SessionUser,
        generation: i64,
        now_s: u64,
    ) -> Result<IssuedToken, AppError> {
        let expires_in = self.0.lifetime.as_secs();
        let claims = Claims {
            sub: user.user_id.clone(),
            acc: user.account_id.clone(),
            gen: generation,
            iat: now_s,
            exp: now_s + expires_in,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token =
            encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding).map_err(|error| {
                tracing::error!(%error, "cannot sign a bearer token");
                AppError::Internal
            })?;
        Ok(IssuedToken { token, expires_in })
    }

    fn check(&self, token: &str) -> Result<Claims, AppError> {
        decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map(|data| data.claims)
            .map_err(|_| AppError::Unauthenticated)
    }
}

/// Any valid credential.
pub enum Caller {
    User(Actor),
    Key(Arc<VerifiedKey>),
}

impl Caller {
    pub fn account_id(&self) -> &str {
        match self {
            Caller::User(actor) => &actor.user.account_id,
            Caller::Key(key) => &key.account_id,
        }
    }

    /// Users may do anything in their account; a key needs `scope` or more.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        match self {
            Caller::Key(key) if !key.scopes.satisfies(scope) => {
                Err(AppError::InsufficientScope(scope.as_str().into()))
            }
            _ => Ok(()),
        }
    }
}

/// A signed-in user's bearer token: what key management requires.
pub struct UserCaller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = parts
            .extensions
            .get::<ClientInfo>()
            .cloned()
            .unwrap_or_default();
        match presented(parts, state)? {
            Presented::Key(key) => {
                let verdict = state.verifier.verify(key, None, client.ip).await?;
                match verdict {
                    Verification::Valid(key) => Ok(Caller::Key(key)),
                    Verification::IpNotAllowed => Err(AppError::IpNotAllowed.into()),
                    _ => Err(AppError::Unauthenticated.into()),
                }
            }
            Presented::Token(token) => {
                let claims = state.tokens.check(token)?;
                let user = state
                    .db
                    .user_by_id(&claims.sub)
                    .await?
                    .filter(|u| u.account_id == claims.acc && u.token_generation == claims.gen)
                    .ok_or(AppError::Unauthenticated)?;
                let user = SessionUser {
                    user_id: user.id,
                    account_id: user.account_id,
                };
                Ok(Caller::User(Actor { user, client }))
            }
        }
    }
}

impl FromRequestParts<AppState> for UserCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::User(actor) => Ok(UserCaller(actor)),
            Caller::Key(_) => Err(AppError::Forbidden(
                "Managing API keys needs a signed-in user's bearer token, not an API key. \
                 Get one from POST /api/v2/auth/token."
                    .into(),
            )
            .into()),
        }
    }
}

enum Presented<'a> {
    Key(&'a str),
    Token(&'a str),
}

fn presented<'a>(parts: &'a Parts, state: &AppState) -> Result<Presented<'a>, AppError> {
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
    if let Some(key) = header(API_KEY_HEADER)? {
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
    Ok(if value.starts_with(state.key_format.prefix()) {
        Presented::Key(value)
    } else {
        Presented::Token(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::new(&[7u8; 32], Duration::from_secs(900))
    }

    fn user() -> SessionUser {
        SessionUser {
            user_id: "usr_1".into(),
            account_id: "acc_1".into(),
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn an_issued_token_checks_out() {
        let issued = signer().issue(&user(), 3, now()).unwrap();
        assert_eq!(issued.expires_in, 900);
        let claims = signer().check(&issued.token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.gen), ("usr_1", 3));
    }

    #[test]
    fn expired_foreign_or_unsigned_tokens_are_refused() {
        let expired = signer().issue(&user(), 0, now() - 1_000).unwrap();
        assert!(signer().check(&expired.token).is_err());
        let other = TokenSigner::new(&[8u8; 32], Duration::from_secs(900));
        let foreign = other.issue(&user(), 0, now()).unwrap();
        assert!(signer().check(&foreign.token).is_err());
        let valid = signer().issue(&user(), 0, now()).unwrap().token;
        let payload = valid.split('.').nth(1).unwrap();
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(signer().check(&unsigned).is_err(), "alg none");
    }
}
