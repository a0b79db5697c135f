//! The audit log: who did what to the account, when and from where. Never a
//! secret.

pub mod rpc;
#[cfg(feature = "ssr")]
pub mod service;

use crate::shared::clock::UnixMs;
use serde::{Deserialize, Serialize};

/// How much of the audit log a credential sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditView {
    /// Every event, with client addresses and user agents.
    Everything,
    /// Key events only (with who made each change, as the key list shows
    /// it), without client addresses and user agents: sign-ins, team
    /// changes, addresses and browsers are for owners and admins.
    KeyEventsWithoutClients,
}

/// Everything that writes an audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum AuditAction {
    #[serde(rename = "user.signed_up")]
    SignedUp,
    #[serde(rename = "user.signed_in")]
    SignedIn,
    #[serde(rename = "user.sign_in_failed")]
    SignInFailed,
    #[serde(rename = "user.signed_out")]
    SignedOut,
    #[serde(rename = "user.signed_out_everywhere")]
    SignedOutEverywhere,
    #[serde(rename = "user.password_changed")]
    PasswordChanged,
    #[serde(rename = "user.session_ended")]
    SessionEnded,
    #[serde(rename = "user.signed_out_everywhere_else")]
    SignedOutEverywhereElse,
    #[serde(rename = "user.password_reset")]
    PasswordReset,
    #[serde(rename = "user.email_changed")]
    EmailChanged,
    #[serde(rename = "user.email_verified")]
    EmailVerified,
    #[serde(rename = "user.two_factor_enabled")]
    TwoFactorEnabled,
    #[serde(rename = "user.two_factor_disabled")]
    TwoFactorDisabled,
    #[serde(rename = "user.passkey_added")]
    PasskeyAdded,
    #[serde(rename = "user.passkey_removed")]
    PasskeyRemoved,
    #[serde(rename = "account.created")]
    AccountCreated,
    #[serde(rename = "account.two_factor_required")]
    AccountTwoFactorRequired,
    #[serde(rename = "account.two_factor_optional")]
    AccountTwoFactorOptional,
    #[serde(rename = "account.ratelimits_changed")]
    AccountRateLimitsChanged,
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.updated")]
    KeyUpdated,
    #[serde(rename = "key.rotated")]
    KeyRotated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    #[serde(rename = "key.deleted")]
    KeyDeleted,
    #[serde(rename = "key.credits_changed")]
    KeyCreditsChanged,
    #[serde(rename = "member.invited")]
    MemberInvited,
    #[serde(rename = "member.joined")]
    MemberJoined,
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged,
    #[serde(rename = "member.removed")]
    MemberRemoved,
    #[serde(rename = "invitation.revoked")]
    InvitationRevoked,
}

impl AuditAction {
    pub const ALL: [AuditAction; 30] = [
        AuditAction::SignedUp,
        AuditAction::SignedIn,
        AuditAction::SignInFailed,
        AuditAction::SignedOut,
        AuditAction::SignedOutEverywhere,
        AuditAction::PasswordChanged,
        AuditAction::SessionEnded,
        AuditAction::SignedOutEverywhereElse,
        AuditAction::PasswordReset,
        AuditAction::EmailChanged,
        AuditAction::EmailVerified,
        AuditAction::TwoFactorEnabled,
        AuditAction::TwoFactorDisabled,
        AuditAction::PasskeyAdded,
        AuditAction::PasskeyRemoved,
        AuditAction::AccountCreated,
        AuditAction::AccountTwoFactorRequired,
        AuditAction::AccountTwoFactorOptional,
        AuditAction::AccountRateLimitsChanged,
        AuditAction::KeyCreated,
        AuditAction::KeyUpdated,
        AuditAction::KeyRotated,
        AuditAction::KeyRevoked,
        AuditAction::KeyDeleted,
        AuditAction::KeyCreditsChanged,
        AuditAction::MemberInvited,
        AuditAction::MemberJoined,
        AuditAction::MemberRoleChanged,
        AuditAction::MemberRemoved,
        AuditAction::InvitationRevoked,
    ];

    /// The stored, machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::SignedUp => "user.signed_up",
            AuditAction::SignedIn => "user.signed_in",
            AuditAction::SignInFailed => "user.sign_in_failed",
            AuditAction::SignedOut => "user.signed_out",
            AuditAction::SignedOutEverywhere => "user.signed_out_everywhere",
            AuditAction::PasswordChanged => "user.password_changed",
            AuditAction::SessionEnded => "user.session_ended",
            AuditAction::SignedOutEverywhereElse => "user.signed_out_everywhere_else",
            AuditAction::PasswordReset => "user.password_reset",
            AuditAction::EmailChanged => "user.email_changed",
            AuditAction::EmailVerified => "user.email_verified",
            AuditAction::TwoFactorEnabled => "user.two_factor_enabled",
            AuditAction::TwoFactorDisabled => "user.two_factor_disabled",
            AuditAction::PasskeyAdded => "user.passkey_added",
            AuditAction::PasskeyRemoved => "user.passkey_removed",
            AuditAction::AccountCreated => "account.created",
            AuditAction::AccountTwoFactorRequired => "account.two_factor_required",
            AuditAction::AccountTwoFactorOptional => "account.two_factor_optional",
            AuditAction::AccountRateLimitsChanged => "account.ratelimits_changed",
            AuditAction::KeyCreated => "key.created",
            AuditAction::KeyUpdated => "key.updated",
            AuditAction::KeyRotated => "key.rotated",
            AuditAction::KeyRevoked => "key.revoked",
            AuditAction::KeyDeleted => "key.deleted",
            AuditAction::KeyCreditsChanged => "key.credits_changed",
            AuditAction::MemberInvited => "member.invited",
            AuditAction::MemberJoined => "member.joined",
            AuditAction::MemberRoleChanged => "member.role_changed",
            AuditAction::MemberRemoved => "member.removed",
            AuditAction::InvitationRevoked => "invitation.revoked",
        }
    }

    /// How the audit log page says it.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::SignedUp => "Signed up",
            AuditAction::SignedIn => "Signed in",
            AuditAction::SignInFailed => "Sign-in failed",
            AuditAction::SignedOut => "Signed out",
            AuditAction::SignedOutEverywhere => "Signed out everywhere",
            AuditAction::PasswordChanged => "Password changed",
            AuditAction::SessionEnded => "Signed out a session",
            AuditAction::SignedOutEverywhereElse => "Signed out everywhere else",
            AuditAction::PasswordReset => "Password reset by email",
            AuditAction::EmailChanged => "Email address changed",
            AuditAction::EmailVerified => "Email address verified",
            AuditAction::TwoFactorEnabled => "Two-factor sign-in turned on",
            AuditAction::TwoFactorDisabled => "Two-factor sign-in turned off",
            AuditAction::PasskeyAdded => "Passkey added",
            AuditAction::PasskeyRemoved => "Passkey removed",
            AuditAction::AccountCreated => "Account created",
            AuditAction::AccountTwoFactorRequired => "Two-factor sign-in required of every member",
            AuditAction::AccountTwoFactorOptional => "Two-factor sign-in no longer required",
            AuditAction::AccountRateLimitsChanged => "Account rate limits changed",
            AuditAction::KeyCreated => "Key created",
            AuditAction::KeyUpdated => "Key updated",
            AuditAction::KeyRotated => "Key rotated",
            AuditAction::KeyRevoked => "Key revoked",
            AuditAction::KeyDeleted => "Key deleted",
            AuditAction::KeyCreditsChanged => "Credits changed",
            AuditAction::MemberInvited => "Member invited",
            AuditAction::MemberJoined => "Member joined",
            AuditAction::MemberRoleChanged => "Role changed",
            AuditAction::MemberRemoved => "Member removed",
            AuditAction::InvitationRevoked => "Invitation revoked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// One event as the audit log shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEventView {
    pub id: String,
    pub action: AuditAction,
    /// The email of the user who acted, if known.
    pub actor: Option<String>,
    /// When a management key acted: its id…
    pub actor_key_id: Option<String>,
    /// …and its name, while it exists.
    pub actor_key_name: Option<String>,
    pub key_id: Option<String>,
    /// The key's name when the event happened.
    pub key_name: Option<String>,
    pub occurred_at: UnixMs,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Membership events: the member's (or invitee's) email.
    pub member: Option<String>,
    /// Membership events: the role given, or the change (`developer → viewer`).
    /// Key events: what changed (`scopes: read → read write`).
    pub detail: Option<String>,
}

impl AuditEventView {
    /// Who acted, as the dashboard names them: a person's email, or a
    /// management key's name.
    pub fn actor_label(&self) -> Option<String> {
        match (&self.actor, &self.actor_key_id, &self.actor_key_name) {
            (Some(email), _, _) => Some(email.clone()),
            (None, Some(_), Some(name)) => Some(format!("{name} (management key)")),
            (None, Some(_), None) => Some("deleted management key".to_owned()),
            (None, None, _) => None,
        }
    }
}

/// Which events to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct AuditQuery {
    pub key_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_through_its_stored_name() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
        }
    }
}
