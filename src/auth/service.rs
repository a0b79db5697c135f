//! The rules of accounts and signing in, shared by the server functions, the
//! command line and (later) the REST API.

use super::{
    hashing::PasswordHasher, session::SessionUser, strength, throttle::Throttle, Email, Password,
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

/// Public sign-up: refused when the operator switched it off, and counted
/// against the address's sign-ups before any hashing work.
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
    let (email, password) = parse_new_credentials(email, password)?;
    Throttle::new(&state.db, &state.config.throttle)
        .begin_sign_up(client.ip, clock::now_ms())
        .await?;
    let password_hash = state.passwords.hash_for_sign_up(password).await?;
    insert_owner(&state.db, email, &password_hash, client).await
}

/// Creates an account and its owner (the operator's command line).
pub async fn create_owner(
    db: &Db,
    passwords: &PasswordHasher,
    email: &str,
    password: String,
    client: &ClientInfo,
) -> Result<SessionUser, AppError> {
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
        (email, password) => Err(merge(email.err(), password.err())),
    }
}

async fn insert_owner(
    db: &Db,
    email: Email,
    password_hash: &str,
    client: &ClientInfo,
) -> Result<SessionUser, AppError> {
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

/// Checks an email and password. Every way of getting it wrong (unknown
/// email, wrong password) gives the same error after the same work. The
/// attempt is counted before the password is checked.
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
    let throttle = Throttle::new(&state.db, &state.config.throttle);
    let attempt = throttle
        .begin_password_check(email.as_str(), client.ip, clock::now_ms())
        .await?;

    let user = state.db.user_by_email(email.as_str()).await?;
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    if !state.passwords.verify(password, stored_hash).await? {
        // A failure against an unknown email belongs to no account.
        if let Some(user) = user {
            audit::record(
                &state.db,
                &actor_of(user, client),
                AuditAction::SignInFailed,
            )
            .await?;
        }
        tracing::info!(ip = ?client.ip, "failed sign-in");
        return Err(AppError::InvalidCredentials);
    }
    throttle.succeeded(attempt).await?;
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
    strength::check(&new, &record.email, "new_password")?;
    // The same limits as signing in: a stolen session must not be a way to
    // guess the password at leisure.
    let throttle = Throttle::new(&state.db, &state.config.throttle);
    let attempt = throttle
        .begin_password_check(&record.email, actor.client.ip, clock::now_ms())
        .await?;
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
    throttle.succeeded(attempt).await?;
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
