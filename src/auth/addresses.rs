//! Proving an address is the user's: the link mailed at sign-up and after a
//! change of address. While mail is on, a user whose address is unproven
//! may sign in (to fix a typo by changing it) but may not create keys.

use super::{
    identity::{Actor, AuthenticatedUser, ClientInfo},
    service::Accounts,
    Email, Password,
};
use crate::{
    audit::AuditAction,
    error::AppError,
    mail::message::{Mail, VERIFY_LINK_HOURS},
    shared::{clock::UnixMs, ids::UserId, link_token::LinkToken},
    storage::{Db, LinkPurpose, NewAuditEvent, NewMail, NewUserLink, UserRecord},
};
use std::time::Duration;

const VERIFY_LINK_LIFETIME: Duration = Duration::from_secs(VERIFY_LINK_HOURS as u64 * 3600);

/// A link that proves an address, and its message (when mail is on), for
/// the transaction that gives a user the address.
pub struct AddressCheck {
    digest: String,
    pub mail: Option<NewMail>,
    created_at: UnixMs,
}

impl AddressCheck {
    /// A new link for `email`, mailed there when mail is on.
    pub fn new(accounts: &Accounts, email: &str) -> Self {
        let token = LinkToken::generate();
        let digest = token.digest();
        let mail = accounts.0.mailer.compose(
            email,
            &Mail::VerifyEmail {
                token: token.reveal(),
            },
        );
        AddressCheck {
            digest,
            mail,
            created_at: UnixMs::now(),
        }
    }

    /// The stored link, for `user_id` at `email`.
    pub fn link<'a>(&'a self, user_id: &'a UserId, email: &'a str) -> NewUserLink<'a> {
        NewUserLink {
            digest: &self.digest,
            user_id,
            purpose: LinkPurpose::VerifyEmail,
            email,
            created_at: self.created_at,
            expires_at: self.created_at + VERIFY_LINK_LIFETIME,
        }
    }
}

impl Accounts {
    /// Whether the user must still prove their address: only while mail is
    /// on (without it no link could reach them).
    pub fn address_unproven(&self, user: &UserRecord) -> bool {
        self.mail_on() && user.email_verified_at.is_none()
    }

    /// Mails the signed-in user a new link for their address (the earlier
    /// one stops working). Limited like password reset requests.
    pub async fn send_address_check(
        &self,
        user_id: &UserId,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        if !self.mail_on() {
            return Err(AppError::EmailOff("there is no address to confirm".into()));
        }
        let user = self
            .0
            .db
            .user_by_id(user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if user.email_verified_at.is_some() {
            return Err(AppError::Conflict(
                "Your email address is confirmed already.".into(),
            ));
        }
        self.throttle()
            .begin_link_request("verify", &user.email, client.ip, UnixMs::now())
            .await?;
        let check = AddressCheck::new(self, &user.email);
        self.0
            .db
            .create_user_link(&check.link(&user.id, &user.email), check.mail.as_ref())
            .await?;
        self.0.mailer.queued();
        Ok(())
    }

    /// Uses an address link: the address it went to is confirmed, if it is
    /// still the user's. The address.
    pub async fn confirm_address(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<String, AppError> {
        let db = &self.0.db;
        let token = LinkToken::parse(token.trim()).ok_or_else(address_link_does_not_work)?;
        let digest = token.digest();
        let link = db
            .live_link(&digest, LinkPurpose::VerifyEmail, UnixMs::now())
            .await?
            .ok_or_else(address_link_does_not_work)?;
        let actors = actors_everywhere(db, &link.user_id, client).await?;
        let events = events(&actors, AuditAction::EmailVerified, None);
        if !db
            .verify_email(&digest, &link, UnixMs::now(), &events)
            .await?
        {
            return Err(address_link_does_not_work());
        }
        tracing::info!(user_id = %link.user_id, "email address confirmed");
        Ok(link.email)
    }

    /// Gives the signed-in user a new address, after checking their
    /// password (throttled as signing in is). Unconfirmed until its link is
    /// used; audited in each of their accounts.
    pub async fn change_email(
        &self,
        actor: &Actor,
        email: &str,
        current_password: String,
    ) -> Result<(), AppError> {
        let (email, password) = match (
            Email::parse(email),
            Password::parse_attempt(current_password),
        ) {
            (Ok(email), Ok(password)) => (email, password),
            (email, password) => {
                return Err(AppError::collect([
                    email.err(),
                    password.err().map(|e| e.for_field("current_password")),
                ]))
            }
        };
        let user_id = &actor.user.user_id;
        self.check_own_password(actor, password).await?;
        let check = AddressCheck::new(self, email.as_str());
        let actors = actors_everywhere(&self.0.db, user_id, &actor.client).await?;
        let detail = format!("to {}", email.as_str());
        let events = events(&actors, AuditAction::EmailChanged, Some(&detail));
        let changed = self
            .0
            .db
            .change_email(
                user_id,
                email.as_str(),
                (&check.link(user_id, email.as_str()), check.mail.as_ref()),
                &events,
            )
            .await?;
        if !changed {
            return Err(AppError::field("email", "Another account uses this email."));
        }
        self.0.mailer.queued();
        tracing::info!(user_id = %user_id, "email address changed");
        Ok(())
    }
}

/// The user acting in each account they belong to, for events about them.
pub(super) async fn actors_everywhere(
    db: &Db,
    user_id: &UserId,
    client: &ClientInfo,
) -> Result<Vec<Actor>, AppError> {
    Ok(db
        .accounts_of(user_id)
        .await?
        .into_iter()
        .map(|membership| Actor {
            user: AuthenticatedUser {
                user_id: user_id.clone(),
                account_id: membership.account_id,
                role: membership.role,
            },
            client: client.clone(),
        })
        .collect())
}

/// One event per actor (one per account of the user).
pub(super) fn events<'a>(
    actors: &'a [Actor],
    action: AuditAction,
    detail: Option<&str>,
) -> Vec<NewAuditEvent<'a>> {
    actors
        .iter()
        .map(|actor| NewAuditEvent {
            detail: detail.map(str::to_owned),
            ..actor.event(action, None)
        })
        .collect()
}

fn address_link_does_not_work() -> AppError {
    AppError::field(
        "token",
        "This link does not work: it expired, was used, a newer one was sent, or your address changed since. Send a new one from the dashboard.",
    )
}
