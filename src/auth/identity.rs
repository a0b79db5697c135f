//! Who is acting: the authenticated user (signed in through a browser
//! session or a bearer token), the client they act from, and the two
//! together as the actor every audit event records.

use super::role::Role;
use crate::{
    audit::AuditAction,
    shared::{
        clock::{self, UnixMs},
        ids::{AccountId, ActorId, KeyId, UserId},
    },
    storage::NewAuditEvent,
};
use axum::{extract::FromRequestParts, http::request::Parts};
use serde::{Deserialize, Serialize};
use std::{convert::Infallible, net::IpAddr};

/// A user whose credential (session or bearer token) was checked for this
/// request, the account they act in and their role there, as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedUser {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub role: Role,
}

/// Who a session or bearer token says its holder is, before any check: the
/// user and the account they act in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub account_id: AccountId,
}

/// What a credential records when issued, so that it ends when either moves
/// on: the user's token generation (signing out everywhere, a new password)
/// and their membership's (a new role; removal deletes it).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Generations {
    pub user: i64,
    pub membership: i64,
}

/// A member as a new credential would speak for them.
#[derive(Clone, Debug)]
pub struct Membership {
    pub user: AuthenticatedUser,
    pub generations: Generations,
    /// The account requires two-factor sign-in, which the user has not set
    /// up: until they do, they reach only what setting it up needs.
    pub must_enrol: bool,
}

impl Membership {
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user.user_id.clone(),
            account_id: self.user.account_id.clone(),
        }
    }
}

/// A user signed in who belongs to no account (removed from, or having
/// left, every one they were in): they may make an account of their own or
/// accept an invitation, nothing more. The token generation they signed in
/// with ends the session when it moves on, as for members.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountlessUser {
    pub user_id: UserId,
    pub token_generation: i64,
}

/// What a correct email and password lead to.
#[derive(Clone, Debug)]
pub enum SignedIn {
    Member(Membership),
    WithoutAccount(AccountlessUser),
}

impl SignedIn {
    /// The membership a bearer token speaks for: a token acts in an
    /// account, so a user who belongs to none is sent to the dashboard.
    pub fn into_member(self) -> Result<Membership, crate::error::AppError> {
        match self {
            SignedIn::Member(member) => Ok(member),
            SignedIn::WithoutAccount(_) => Err(crate::error::AppError::Forbidden(
                "You belong to no account. Sign in on the dashboard to make an account of your own or to accept an invitation.".into(),
            )),
        }
    }
}

/// Who is calling: the address believed to be the client's, and its user
/// agent. The server's security layer works it out once per request and
/// leaves it in the request's extensions.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The client of the server function being served (empty when unknown).
    pub async fn of_this_request() -> ClientInfo {
        leptos_axum::extract().await.unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientInfo>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Who is acting and from where: what every audit event records.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user: AuthenticatedUser,
    pub client: ClientInfo,
}

impl Actor {
    /// An event by this actor, happening now, about `key` (id, name) if any.
    pub fn event<'a>(
        &'a self,
        action: AuditAction,
        key: Option<(&'a KeyId, &'a str)>,
    ) -> NewAuditEvent<'a> {
        self.event_in(&self.user.account_id, action, key)
    }

    /// An event about a member of the account (by email, as they are now)
    /// and what changed for them.
    pub fn member_event<'a>(
        &'a self,
        action: AuditAction,
        member_email: &'a str,
        detail: String,
    ) -> NewAuditEvent<'a> {
        NewAuditEvent {
            member_email: Some(member_email),
            detail: Some(detail),
            ..self.event(action, None)
        }
    }

    /// An event recorded in `account_id` rather than the account the actor
    /// acts in (joining another account).
    pub fn event_in<'a>(
        &'a self,
        account_id: &'a AccountId,
        action: AuditAction,
        key: Option<(&'a KeyId, &'a str)>,
    ) -> NewAuditEvent<'a> {
        event_by(
            account_id,
            ActorId::User(self.user.user_id.clone()),
            &self.client,
            action,
            key,
        )
    }
}

/// An event in `account_id` by `actor_id` from `client`, happening now,
/// about `key` (id, name) if any.
pub fn event_by<'a>(
    account_id: &'a AccountId,
    actor_id: ActorId,
    client: &'a ClientInfo,
    action: AuditAction,
    key: Option<(&'a KeyId, &'a str)>,
) -> NewAuditEvent<'a> {
    NewAuditEvent {
        id: clock::new_id("evt"),
        account_id,
        actor_id: Some(actor_id),
        action: action.as_str(),
        key_id: key.map(|(id, _)| id),
        key_name: key.map(|(_, name)| name),
        occurred_at: UnixMs::now(),
        client_ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.as_deref(),
        member_email: None,
        detail: None,
    }
}
