//! The rules of accounts and signing in, shared by the server functions, the
//! command line and (later) the REST API.

use super::{
    hashing::PasswordHasher,
    session::SessionUser,
    throttle::{Subjects, Throttle},
    Email, Password,
};
use crate::{
    audit::{
        service::{self as audit, Actor},
        AuditAction,
    },
    error::{AppError, FieldError},
    server::{clock, security::ClientInfo, AppState},
    storage::{Db, NewOwner, OwnerCreated, UserRecord},
};

/// Public sign-up: refused when the operator switched it off.
pub async fn sign_up(
    state: &AppState,
    email: &str,
    password: String,
    client: &ClientInfo,
) -> Result<SessionUser, AppError> {
    if !state.config.allow_signup {
        return Err(AppError::Forbidden(
            "Sign-up is disabled on this server. Ask its administrator for an account.".into(),
        ));
    }
    create_owner(&state.db, &state.passwords, email, password, client).await
}

/// Creates an account and its owner. Both fields are checked before either
/// error is reported, so a form can show every problem at once.
pub async fn create_owner(
    db: &Db,
    passwords: &PasswordHasher,
    email: &str,
    password: String,
    client: &ClientInfo,
) -> Result<SessionUser, AppError> {
    let (email, password) = match (Email::parse(email), Password::parse_new(password)) {
        (Ok(email), Ok(password)) => (email, password),
        (email, password) => return Err(merge(email.err(), password.err())),
    };
    let password_hash = passwords.hash(password).await?;
    let user = SessionUser {
        user_id: clock::new_id("usr"),
        account_id: clock::new_id("acc"),
    };
    let actor = Actor {
        user,
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
                password_hash: &password_hash,
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

/// Checks an email and password. Every way of getting it wrong (unknown
/// email, wrong password) gives the same error after the same work.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: String,
    client: &ClientInfo,
) -> Result<SessionUser, AppError> {
    let (email, password) = match (Email::parse(email), Password::parse_attempt(password)) {
        (Ok(email), Ok(password)) => (email, password),
        (email, password) => return Err(merge(email.err(), password.err())),
    };
    let config = &state.config;
    let throttle = Throttle::new(&state.db, config.login_max_failures, config.login_window);
    let subjects = Subjects::new(email.as_str(), client.ip);
    let now = clock::now_ms();
    throttle.check(&subjects, now).await?;

    let user = state.db.user_by_email(email.as_str()).await?;
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    if !state.passwords.verify(password, stored_hash).await? {
        // A failure against an unknown email belongs to no account.
        let actor = user.map(|user| actor_of(user, client));
        let event = actor
            .as_ref()
            .map(|actor| actor.event(AuditAction::SignInFailed, None));
        throttle
            .record_failure(&subjects, now, event.as_ref())
            .await?;
        tracing::info!(ip = ?client.ip, "failed sign-in");
        return Err(AppError::InvalidCredentials);
    }
    throttle.forgive(&subjects).await?;
    let actor = actor_of(user.ok_or(AppError::InvalidCredentials)?, client);
    audit::record(&state.db, &actor, AuditAction::SignedIn).await?;
    tracing::info!(user_id = %actor.user.user_id, "signed in");
    Ok(actor.user)
}

fn actor_of(user: UserRecord, client: &ClientInfo) -> Actor {
    Actor {
        user: SessionUser {
            user_id: user.id,
            account_id: user.account_id,
        },
        client: client.clone(),
    }
}

/// The generation of the user's bearer tokens (see `TokenSigner`).
pub async fn token_generation(state: &AppState, user: &SessionUser) -> Result<i64, AppError> {
    let record = state.db.user_by_id(&user.user_id).await?;
    record
        .map(|u| u.token_generation)
        .ok_or(AppError::Unauthenticated)
}

/// The signed-in user's email, or `Unauthenticated` if the user is gone.
pub async fn email_of(state: &AppState, user: &SessionUser) -> Result<String, AppError> {
    let record = state.db.user_by_id(&user.user_id).await?;
    record.map(|u| u.email).ok_or(AppError::Unauthenticated)
}

fn merge(a: Option<AppError>, b: Option<AppError>) -> AppError {
    let fields: Vec<FieldError> = [a, b]
        .into_iter()
        .flatten()
        .flat_map(|error| match error {
            AppError::Validation(fields) => fields,
            other => vec![FieldError {
                field: "form".into(),
                message: other.to_string(),
            }],
        })
        .collect();
    AppError::Validation(fields)
}

/// Ends every session and bearer token of the user, this one included.
pub async fn sign_out_everywhere(state: &AppState, actor: &Actor) -> Result<(), AppError> {
    let event = actor.event(AuditAction::SignedOutEverywhere, None);
    state
        .db
        .renew_credentials(&actor.user.user_id, None, &event)
        .await?;
    tracing::info!(user_id = %actor.user.user_id, "signed out everywhere");
    Ok(())
}

/// Replaces the password after checking the current one. Every other
/// session and every bearer token ends; the caller signs this session in
/// again.
pub async fn change_password(
    state: &AppState,
    actor: &Actor,
    current: String,
    new: String,
) -> Result<(), AppError> {
    let (current, new) = match (Password::parse_attempt(current), Password::parse_new(new)) {
        (Ok(current), Ok(new)) => (current, new),
        (current, new) => {
            return Err(merge(
                current.err().map(|e| rename_field(e, "current_password")),
                new.err().map(|e| rename_field(e, "new_password")),
            ))
        }
    };
    let record = state
        .db
        .user_by_id(&actor.user.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if !state
        .passwords
        .verify(current, Some(record.password_hash))
        .await?
    {
        return Err(AppError::field(
            "current_password",
            "Your current password is not correct.",
        ));
    }
    let hash = state.passwords.hash(new).await?;
    let event = actor.event(AuditAction::PasswordChanged, None);
    state
        .db
        .renew_credentials(&actor.user.user_id, Some(&hash), &event)
        .await?;
    tracing::info!(user_id = %actor.user.user_id, "password changed");
    Ok(())
}

fn rename_field(error: AppError, field: &str) -> AppError {
    match error {
        AppError::Validation(fields) => AppError::Validation(
            fields
                .into_iter()
                .map(|f| FieldError {
                    field: field.to_owned(),
                    message: f.message,
                })
                .collect(),
        ),
        other => other,
    }
}
