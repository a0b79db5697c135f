//! Getting back into an account: password reset links sent by email, and,
//! for installations without mail, made or bypassed by the operator's
//! command line.

use super::{
    addresses::{actors_everywhere, events},
    hashing::PasswordHasher,
    identity::{ClientInfo, SignedIn},
    service::Accounts,
    strength, Email, Password,
};
use crate::{
    audit::AuditAction,
    error::AppError,
    mail::message::{Mail, RESET_LINK_MINUTES},
    shared::{clock::UnixMs, ids::UserId, link_token::LinkToken},
    storage::{Db, LinkPurpose, LiveLink, NewUserLink, UserRecord},
};
use std::time::Duration;

const RESET_LINK_LIFETIME: Duration = Duration::from_secs(RESET_LINK_MINUTES as u64 * 60);

impl Accounts {
    /// Whether this server sends mail (password reset links among it).
    pub fn mail_on(&self) -> bool {
        self.0.mailer.is_on()
    }

    /// Asks for a password reset link by email. Once the address is well
    /// formed and the request not throttled (counted whether or not the
    /// address has an account), the answer is always the same, and comes
    /// before anything depends on whether the address has an account: that
    /// is looked up afterwards, in the background, so neither the answer
    /// nor its timing tells.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        if !self.mail_on() {
            return Err(email_off());
        }
        let email = Email::parse(email)?;
        self.throttle()
            .begin_link_request("reset", email.as_str(), client.ip, UnixMs::now())
            .await?;
        let accounts = self.clone();
        tokio::spawn(async move {
            if let Err(error) = accounts.mail_reset_link(&email).await {
                tracing::warn!(%error, "cannot queue a password reset link");
            }
        });
        Ok(())
    }

    async fn mail_reset_link(&self, email: &Email) -> Result<(), AppError> {
        let Some(user) = self.0.db.user_by_email(email.as_str()).await? else {
            return Ok(());
        };
        let token = LinkToken::generate();
        let digest = token.digest();
        let mail = Mail::PasswordReset {
            token: token.reveal(),
        };
        let outgoing = self.0.mailer.compose(&user.email, &mail);
        self.0
            .db
            .create_user_link(&reset_link(&digest, &user), outgoing.as_ref())
            .await?;
        self.0.mailer.queued();
        tracing::info!(user_id = %user.id, "password reset link queued");
        Ok(())
    }

    /// The address a reset link that still works is for, for the page
    /// that asks for the new password.
    pub async fn reset_link_email(&self, token: &str) -> Result<String, AppError> {
        Ok(live_reset_link(&self.0.db, token).await?.1.email)
    }

    /// Sets a new password with a reset link (once, within the hour; the
    /// same strength rules as sign-up). Every session and bearer token of
    /// the user ends, and the reset is audited in each of their accounts.
    /// The user, for [`Accounts::enter_after_reset`].
    pub async fn reset_password(
        &self,
        token: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<UserRecord, AppError> {
        let db = &self.0.db;
        let (token, link) = live_reset_link(db, token).await?;
        let password = Password::parse_new(password)?;
        strength::check(&password, &link.email, "password")?;
        let hash = self.0.passwords.hash(password).await?;
        let user = set_password(db, &token, &link.user_id, &hash, client, None).await?;
        tracing::info!(user_id = %user.id, "password reset");
        Ok(user)
    }

    /// Signs in the browser that just reset the password, as a sign-in
    /// would: the link proved the address, the form the new password. A
    /// user with two-factor sign-in is not: the mailbox alone must not be
    /// a way past their second factor, so they sign in with it (`None`).
    pub async fn enter_after_reset(
        &self,
        user: UserRecord,
        client: &ClientInfo,
    ) -> Result<Option<SignedIn>, AppError> {
        if user.has_two_factor() {
            return Ok(None);
        }
        self.enter(user, None, client).await.map(Some)
    }
}

/// For installations without mail: a one-time reset link for `email`,
/// starting at `origin`, for the operator to hand over. It works once,
/// within the hour, as a mailed one would.
pub async fn operator_reset_link(db: &Db, email: &str, origin: &str) -> Result<String, AppError> {
    let user = existing_user(db, email).await?;
    let token = LinkToken::generate();
    db.create_user_link(&reset_link(&token.digest(), &user), None)
        .await?;
    Ok(format!("{origin}/reset-password?token={}", token.reveal()))
}

/// Sets a user's password from the operator's command line: every session
/// and bearer token of the user ends, and the reset is audited.
pub async fn operator_set_password(
    db: &Db,
    passwords: &PasswordHasher,
    email: &str,
    password: String,
) -> Result<(), AppError> {
    let user = existing_user(db, email).await?;
    let password = Password::parse_new(password)?;
    strength::check(&password, &user.email, "password")?;
    let hash = passwords.hash(password).await?;
    let token = LinkToken::generate();
    db.create_user_link(&reset_link(&token.digest(), &user), None)
        .await?;
    let client = ClientInfo::default();
    set_password(
        db,
        &token,
        &user.id,
        &hash,
        &client,
        Some("by the operator"),
    )
    .await?;
    Ok(())
}

async fn existing_user(db: &Db, email: &str) -> Result<UserRecord, AppError> {
    let email = Email::parse(email)?;
    db.user_by_email(email.as_str())
        .await?
        .ok_or_else(|| AppError::field("email", "No user has this email."))
}

/// Uses the reset link `token` of `user_id` to set `hash`, with an event in
/// each of the user's accounts. The user as they are now.
async fn set_password(
    db: &Db,
    token: &LinkToken,
    user_id: &UserId,
    hash: &str,
    client: &ClientInfo,
    detail: Option<&str>,
) -> Result<UserRecord, AppError> {
    let actors = actors_everywhere(db, user_id, client).await?;
    let events = events(&actors, AuditAction::PasswordReset, detail);
    if !db
        .reset_password(&token.digest(), user_id, UnixMs::now(), hash, &events)
        .await?
    {
        return Err(link_does_not_work());
    }
    db.user_by_id(user_id).await?.ok_or(AppError::Internal)
}

fn reset_link<'a>(digest: &'a str, user: &'a UserRecord) -> NewUserLink<'a> {
    let now = UnixMs::now();
    NewUserLink {
        digest,
        user_id: &user.id,
        purpose: LinkPurpose::PasswordReset,
        email: &user.email,
        created_at: now,
        expires_at: now + RESET_LINK_LIFETIME,
    }
}

/// The reset link `raw` names, if it still works.
async fn live_reset_link(db: &Db, raw: &str) -> Result<(LinkToken, LiveLink), AppError> {
    let token = LinkToken::parse(raw.trim()).ok_or_else(link_does_not_work)?;
    let link = db
        .live_link(&token.digest(), LinkPurpose::PasswordReset, UnixMs::now())
        .await?
        .ok_or_else(link_does_not_work)?;
    Ok((token, link))
}

fn link_does_not_work() -> AppError {
    AppError::field(
        "token",
        "This password reset link does not work: it expired, was used, or a newer one was sent. Ask for a new one.",
    )
}

fn email_off() -> AppError {
    AppError::EmailOff("passwords cannot be reset by email".into())
}
