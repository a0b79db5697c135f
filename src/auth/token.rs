//! Bearer tokens for the REST API: signed (HS256) claims naming the user,
//! the account and the user's token generation when issued.

use super::identity::{Generations, Membership, Principal};
use crate::{
    error::AppError,
    shared::ids::{AccountId, UserId},
};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};

const ISSUER: &str = "keysmith";
const AUDIENCE: &str = "keysmith-api";

/// Issues and checks bearer tokens. The algorithm is fixed here: a token
/// whose header names another one (or `none`) is refused.
#[derive(Clone)]
pub struct TokenSigner(Arc<SigningKeys>);

struct SigningKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    acc: AccountId,
    /// The user's token generation when issued: a token of an older one
    /// is no longer current.
    gen: i64,
    /// The membership's generation when issued (a new role moves it on).
    mgen: i64,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
}

/// What a valid token says of its holder.
pub struct TokenHolder {
    pub principal: Principal,
    pub generations: Generations,
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
        TokenSigner(Arc::new(SigningKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
        }))
    }

    pub fn issue(&self, member: &Membership, now_s: u64) -> Result<IssuedToken, AppError> {
        let expires_in = self.0.lifetime.as_secs();
        let claims = Claims {
            sub: member.user.user_id.clone(),
            acc: member.user.account_id.clone(),
            gen: member.generations.user,
            mgen: member.generations.membership,
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

    /// Whom a token was issued to, and at which generations, if it is
    /// ours, well-formed and unexpired. Whether those are still current is
    /// the accounts service's to say.
    pub fn check(&self, token: &str) -> Result<TokenHolder, AppError> {
        let claims = decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map_err(|_| AppError::Unauthenticated)?
            .claims;
        Ok(TokenHolder {
            principal: Principal {
                user_id: claims.sub,
                account_id: claims.acc,
            },
            generations: Generations {
                user: claims.gen,
                membership: claims.mgen,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        auth::{identity::AuthenticatedUser, role::Role},
        shared::ids::{AccountId, UserId},
    };

    fn signer() -> TokenSigner {
        TokenSigner::new(&[7u8; 32], Duration::from_secs(900))
    }

    fn member(user: i64, membership: i64) -> Membership {
        Membership {
            user: AuthenticatedUser {
                user_id: UserId::parse("usr_1").unwrap(),
                account_id: AccountId::parse("acc_1").unwrap(),
                role: Role::Developer,
            },
            generations: Generations { user, membership },
            must_enrol: false,
        }
    }

    fn now() -> u64 {
        crate::shared::clock::UnixMs::now().as_secs()
    }

    #[test]
    fn an_issued_token_checks_out() {
        let issued = signer().issue(&member(3, 5), now()).unwrap();
        assert_eq!(issued.expires_in, 900);
        let holder = signer().check(&issued.token).unwrap();
        assert_eq!(holder.principal, member(3, 5).principal());
        assert_eq!(
            holder.generations,
            Generations {
                user: 3,
                membership: 5
            }
        );
    }

    #[test]
    fn expired_foreign_or_unsigned_tokens_are_refused() {
        let expired = signer().issue(&member(0, 0), now() - 1_000).unwrap();
        assert!(signer().check(&expired.token).is_err());
        let other = TokenSigner::new(&[8u8; 32], Duration::from_secs(900));
        let foreign = other.issue(&member(0, 0), now()).unwrap();
        assert!(signer().check(&foreign.token).is_err());
        let valid = signer().issue(&member(0, 0), now()).unwrap().token;
        let payload = valid.split('.').nth(1).unwrap();
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(signer().check(&unsigned).is_err(), "alg none");
    }
}
