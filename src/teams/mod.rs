//! Teams: the members of an account, their roles, and invitations to join.
//! The role catalogue itself is `auth::role` (every credential check reads
//! it); this module manages who holds which role.

pub mod rpc;
#[cfg(feature = "ssr")]
pub mod service;

use crate::{auth::role::Role, shared::clock::UnixMs};
use serde::{Deserialize, Serialize};

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;

/// An invitation as a door receives it (the REST body, a server function's
/// arguments), before anything is checked.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InvitationInput {
    pub email: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Role))]
    pub role: String,
}

/// An invitation to make, parsed once at the door from an
/// [`InvitationInput`]: both fields are checked before either error is
/// reported, so a form can show every problem at once.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct NewInvitation {
    pub email: crate::auth::Email,
    pub role: Role,
}

#[cfg(feature = "ssr")]
impl TryFrom<InvitationInput> for NewInvitation {
    type Error = crate::error::AppError;

    fn try_from(input: InvitationInput) -> Result<Self, Self::Error> {
        use crate::{auth::Email, error::AppError};
        match (
            Email::parse(&input.email),
            Role::parse_field(&input.role, "role"),
        ) {
            (Ok(email), Ok(role)) => Ok(NewInvitation { email, role }),
            (email, role) => Err(AppError::collect([email.err(), role.err()])),
        }
    }
}

/// A member of the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// When they joined the account.
    pub joined_at: UnixMs,
    /// Their last sign-in to Keysmith, if any.
    pub last_signed_in_at: Option<UnixMs>,
}

/// An invitation not yet accepted, revoked or expired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The email of the member who invited, while they are one.
    pub invited_by: Option<String>,
    pub created_at: UnixMs,
    pub expires_at: UnixMs,
}

/// A new invitation and its link: the only time the link is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IssuedInvitation {
    #[serde(flatten)]
    pub invitation: InvitationView,
    /// `…/invite/<token>`: whoever opens it may join as `role` (signed in
    /// with the invited email).
    pub invite_url: String,
}

/// What the members page shows, and what the viewer may do there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub members: Vec<MemberView>,
    pub invitations: Vec<InvitationView>,
    /// The signed-in user.
    pub you: String,
    pub your_role: Role,
}

impl Team {
    /// Whether the viewer may change or remove `member` (themselves: leave).
    pub fn may_manage(&self, member: &MemberView) -> bool {
        member.user_id == self.you || self.your_role >= Role::to_manage(member.role)
    }

    pub fn owners(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count()
    }
}

/// Where an invitation link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// What the invitation page shows about a link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationPreview {
    pub account_name: String,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<String>,
    pub expires_at: UnixMs,
    pub state: InvitationState,
    /// The email of the user signed in on this browser, if any.
    pub signed_in_as: Option<String>,
}

/// An invitation waiting for the signed-in user's email, in any account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingInvitation {
    pub id: String,
    pub account_name: String,
    pub role: Role,
    /// The email of the member who invited, while they are one.
    pub invited_by: Option<String>,
    pub expires_at: UnixMs,
}

/// What the page of a user who belongs to no account shows: who they are
/// and the invitations waiting for their email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingFor {
    pub email: String,
    pub invitations: Vec<WaitingInvitation>,
}

/// The membership an accepted invitation made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Joined {
    pub account_id: String,
    pub account_name: String,
    pub role: Role,
}
