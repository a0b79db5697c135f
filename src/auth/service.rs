//! The rules of accounts and signing in, under the server functions, the
//! REST API and the command line: one service value, its dependencies
//! handed in when the server is built.

use super::{
    hashing::PasswordHasher,
    identity::{Actor, AuthenticatedUser, ClientInfo},
    strength,
    throttle::{Throttle, ThrottlePolicy},
    token::{IssuedToken, TokenSigner},
    Email, Password,
};
use crate::{
    audit::AuditAction,
    error::AppError,
    shared::clock,
    storage::{Db, NewOwner, OwnerCreated, UserRecord},
};
use std::sync::Arc;

#[derive(Clone)]
pub struct Accounts(Arc<Parts>);

struct Parts {
    db: Db,
    passwords: PasswordHasher,
    tokens: TokenSigner,
    throttle: ThrottlePolicy,
    signup_enabled: bool,
}

impl Accounts {
    pub fn new(
        db: Db,
        passwords: PasswordHasher,
        tokens: TokenSigner,
        throttle: ThrottlePolicy,
        signup_enabled: bool,
    ) -> Self {
        Accounts(Arc::new(Parts {
            db,
            passwords,
            tokens,
            throttle,
            signup_enabled,
        }))
    }

    /// Whether visitors may create accounts (`KEYSMITH_ALLOW_SIGNUP`).
    pub fn signup_enabled(&self) -> bool {
        self.0.signup_enabled
    }

    fn throttle(&self) -> Throttle<'_> {
        Throttle::new(&self.0.db, &self.0.throttle)
    }

    /// Public sign-up: refused when the operator switched it off, and
    /// counted against the address's sign-ups before any hashing work.
    pub async fn sign_up(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<AuthenticatedUser, AppError> {
        if !self.0.signup_enabled {
            return Err(AppError::Forbidden(
                "Sign-up is disabled on this server. Ask its administrator for an account.".into(),
            ));
        }
        let (email, password) = parse_new_credentials(email, password)?;
        self.throttle()
            .begin_sign_up(client.ip, clock::now_ms())
            .await?;
        let password_hash = self.0.passwords.hash_for_sign_up(password).await?;
        insert_owner(&self.0.db, email, &password_hash, client).await
    }

    /// Checks an email and password. Every way of getting it wrong (unknown
    /// email, wrong password) gives the same error after the same work. The
    /// attempt is counted before the password is checked.
    pub async fn sign_in(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<AuthenticatedUser, AppError> {
        let (email, password) = match (Email::parse(email), Password::parse_attempt(password)) {
            (Ok(email), Ok(password)) => (email, password),
            (email, password) => return Err(AppError::collect([email.err(), password.err()])),
        };
        let throttle = self.throttle();
        let attempt = throttle
            .begin_password_check(email.as_str(), client.ip, clock::now_ms())
            .await?;

        let user = self.0.db.user_by_email(email.as_str()).await?;
        let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
        if !self.0.passwords.verify(password, stored_hash).await? {
            // A failure against an unknown email belongs to no account.
            if let Some(user) = user {
                self.record(&actor_of(user, client), AuditAction::SignInFailed)
                    .await?;
            }
            tracing::info!(ip = ?client.ip, "failed sign-in");
            return Err(AppError::InvalidCredentials);
        }
        throttle.succeeded(attempt).await?;
        let actor = actor_of(user.ok_or(AppError::InvalidCredentials)?, client);
        self.record(&actor, AuditAction::SignedIn).await?;
        tracing::info!(user_id = %actor.user.user_id, "signed in");
        Ok(actor.user)
    }

    /// The one rule for whether a credential issued to `user` is current:
    /// the user still exists, in the same account. The answer is the user's
    /// token generation, which moves on when they sign out everywhere or
    /// change their password; a session or token of an older generation is
    /// no longer current. Sessions, bearer tokens and token issuing all ask
    /// here.
    pub async fn current_generation(&self, user: &AuthenticatedUser) -> Result<i64, AppError> {
        self.0
            .db
            .user_by_id(&user.user_id)
            .await?
            .filter(|record| record.account_id == user.account_id)
            .map(|record| record.token_generation)
            .ok_or(AppError::Unauthenticated)
    }

    /// Whether a credential of `generation` still speaks for `user`.
    pub async fn is_current(
        &self,
        user: &AuthenticatedUser,
        generation: i64,
    ) -> Result<bool, AppError> {
        match self.current_generation(user).await {
            Ok(current) => Ok(current == generation),
            Err(AppError::Unauthenticated) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// A bearer token for `user`, of their current generation.
    pub async fn issue_token(&self, user: &AuthenticatedUser) -> Result<IssuedToken, AppError> {
        let generation = self.current_generation(user).await?;
        self.0
            .tokens
            .issue(user, generation, (clock::now_ms() / 1000) as u64)
    }

    /// The user a bearer token speaks for, if it is ours and still current.
    pub async fn token_user(&self, token: &str) -> Result<AuthenticatedUser, AppError> {
        let holder = self.0.tokens.check(token)?;
        if self.is_current(&holder.user, holder.generation).await? {
            Ok(holder.user)
        } else {
            Err(AppError::Unauthenticated)
        }
    }

    /// The signed-in user's email, or `Unauthenticated` if the user is gone.
    pub async fn email_of(&self, user: &AuthenticatedUser) -> Result<String, AppError> {
        let record = self.0.db.user_by_id(&user.user_id).await?;
        record.map(|u| u.email).ok_or(AppError::Unauthenticated)
    }

    /// Records that the actor signed out of one session.
    pub async fn signed_out(&self, actor: &Actor) -> Result<(), AppError> {
        self.record(actor, AuditAction::SignedOut).await
    }

    /// Ends every session and bearer token of the user, this one included.
    pub async fn sign_out_everywhere(&self, actor: &Actor) -> Result<(), AppError> {
        let event = actor.event(AuditAction::SignedOutEverywhere, None);
        self.0
            .db
            .renew_credentials(&actor.user.user_id, None, &event)
            .await?;
        tracing::info!(user_id = %actor.user.user_id, "signed out everywhere");
        Ok(())
    }

    /// Replaces the password after checking the current one. Every other
    /// session and every bearer token ends; the caller signs this session
    /// in again.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: String,
        new: String,
    ) -> Result<(), AppError> {
        let (current, new) = match (Password::parse_attempt(current), Password::parse_new(new)) {
            (Ok(current), Ok(new)) => (current, new),
            (current, new) => {
                return Err(AppError::collect([
                    current.err().map(|e| e.for_field("current_password")),
                    new.err().map(|e| e.for_field("new_password")),
                ]))
            }
        };
        let record = self
            .0
            .db
            .user_by_id(&actor.user.user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        strength::check(&new, &record.email, "new_password")?;
        // The same limits as signing in: a stolen session must not be a way
        // to guess the password at leisure.
        let throttle = self.throttle();
        let attempt = throttle
            .begin_password_check(&record.email, actor.client.ip, clock::now_ms())
            .await?;
        if !self
            .0
            .passwords
            .verify(current, Some(record.password_hash))
            .await?
        {
            return Err(AppError::field(
                "current_password",
                "Your current password is not correct.",
            ));
        }
        throttle.succeeded(attempt).await?;
        let hash = self.0.passwords.hash(new).await?;
        let event = actor.event(AuditAction::PasswordChanged, None);
        self.0
            .db
            .renew_credentials(&actor.user.user_id, Some(&hash), &event)
            .await?;
        tracing::info!(user_id = %actor.user.user_id, "password changed");
        Ok(())
    }

    /// An event that is not part of another change (signing in and out).
    async fn record(&self, actor: &Actor, action: AuditAction) -> Result<(), AppError> {
        self.0
            .db
            .record_audit_event(&actor.event(action, None))
            .await?;
        Ok(())
    }
}

/// Creates an account and its owner: the operator's command line, with no
/// sign-up switch or limit in the way.
pub async fn create_owner(
    db: &Db,
    passwords: &PasswordHasher,
    email: &str,
    password: String,
    client: &ClientInfo,
) -> Result<AuthenticatedUser, AppError> {
    let (email, password) = parse_new_credentials(email, password)?;
    let password_hash = passwords.hash(password).await?;
    insert_owner(db, email, &password_hash, client).await
}

/// Both fields are checked before either error is reported, so a form can
/// show every problem at once.
fn parse_new_credentials(email: &str, password: String) -> Result<(Email, Password), AppError> {
    match (Email::parse(email), Password::parse_new(password)) {
        (Ok(email), Ok(password)) => {
            strength::check(&password, email.as_str(), "password")?;
            Ok((email, password))
        }
        (email, password) => Err(AppError::collect([email.err(), password.err()])),
    }
}

async fn insert_owner(
    db: &Db,
    email: Email,
    password_hash: &str,
    client: &ClientInfo,
) -> Result<AuthenticatedUser, AppError> {
    let actor = Actor {
        user: AuthenticatedUser {
            user_id: clock::new_id("usr"),
            account_id: clock::new_id("acc"),
        },
        client: client.clone(),
    };
    let user = &actor.user;
    let created = db
        .create_account_with_owner(
            &NewOwner {
                account_id: &user.account_id,
                account_name: email.as_str(),
                user_id: &user.user_id,
                email: email.as_str(),
                password_hash,
                now_ms: clock::now_ms(),
            },
            &actor.event(AuditAction::SignedUp, None),
        )
        .await?;
    match created {
        OwnerCreated::Created => {
            tracing::info!(user_id = %user.user_id, account_id = %user.account_id, "account created");
            Ok(actor.user)
        }
        OwnerCreated::EmailTaken => Err(AppError::field(
            "email",
            "An account with this email already exists. Sign in instead.",
        )),
    }
}

fn actor_of(user: UserRecord, client: &ClientInfo) -> Actor {
    Actor {
        user: AuthenticatedUser {
            user_id: user.id,
            account_id: user.account_id,
        },
        client: client.clone(),
    }
}
