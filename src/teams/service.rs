//! The rules of teams, under the server functions and the REST API: who
//! may see, invite, change and remove whom, and how an invitation is
//! accepted. Every change is confined to the actor's account and written
//! with its audit event.

use super::{
    InvitationPreview, InvitationState, InvitationView, IssuedInvitation, Joined, MemberView,
    NewInvitation, Team, WaitingFor, WaitingInvitation, INVITATION_DAYS,
};
use crate::{
    audit::AuditAction,
    auth::{
        identity::{Actor, AuthenticatedUser, ClientInfo, Membership},
        manager::{Manager, Operation},
        role::Role,
        service::Accounts,
    },
    error::AppError,
    mail::{message::Mail, Mailer},
    shared::{
        clock::{self, UnixMs, HOUR},
        ids::{InvitationId, UserId},
        link_token::LinkToken,
    },
    storage::{
        Acceptance, Db, InvitationCreated, InvitationLimits, InvitationRecord, Invitee,
        LapsedInvitations, MemberChange, MemberRecord, MembershipLimits,
        NewInvitation as InvitationRow, NewMail, NewUser,
    },
};

/// Pending invitations an account may hold at once.
pub const MAX_PENDING_INVITATIONS: i64 = 100;

/// Why a member's invitations lapse when their role becomes `role`: they
/// could no longer make them.
fn lowered_reason(role: Role) -> &'static str {
    match role {
        Role::Owner => "revoked because the inviter's role became owner",
        Role::Admin => "revoked because the inviter's role became admin",
        Role::Developer => "revoked because the inviter's role became developer",
        Role::Viewer => "revoked because the inviter's role became viewer",
    }
}

/// The teams service: held once in the server's state.
#[derive(Clone)]
pub struct Teams {
    db: Db,
    accounts: Accounts,
    mailer: Mailer,
    limits: MembershipLimits,
    invitations: InvitationLimits,
}

impl Teams {
    /// `invitations_per_hour`: what one account may send in any hour
    /// (`KEYSMITH_INVITATIONS_PER_HOUR`).
    pub fn new(
        db: Db,
        accounts: Accounts,
        mailer: Mailer,
        limits: MembershipLimits,
        invitations_per_hour: u32,
    ) -> Self {
        Teams {
            db,
            accounts,
            mailer,
            limits,
            invitations: InvitationLimits {
                max_pending: MAX_PENDING_INVITATIONS,
                per_hour: invitations_per_hour.into(),
            },
        }
    }

    /// The members and pending invitations: for owners and admins.
    pub async fn team(&self, user: &AuthenticatedUser) -> Result<Team, AppError> {
        let reader = Manager::reader(user.clone());
        Ok(Team {
            members: self.members(&reader).await?,
            invitations: self.invitations(&reader).await?,
            you: user.user_id.to_string(),
            your_role: user.role,
        })
    }

    /// The members, for owners and admins and management keys with
    /// `members:read`.
    pub async fn members(&self, by: &Manager) -> Result<Vec<MemberView>, AppError> {
        by.require(Operation::SeeMembers)?;
        let rows = self.db.members(&by.account_id).await?;
        Ok(rows.into_iter().map(member_view).collect())
    }

    pub async fn invitations(&self, by: &Manager) -> Result<Vec<InvitationView>, AppError> {
        by.require(Operation::SeeMembers)?;
        let rows = self
            .db
            .pending_invitations(&by.account_id, UnixMs::now())
            .await?;
        Ok(rows.into_iter().map(invitation_view).collect())
    }

    /// Invites `email` to join as `role`; the link (under `origin`) is in
    /// the answer and nowhere else.
    pub async fn invite(
        &self,
        actor: &Actor,
        invitation: &NewInvitation,
        origin: &str,
    ) -> Result<IssuedInvitation, AppError> {
        let NewInvitation { email, role } = invitation;
        let role = *role;
        actor.user.role.require(Role::SEE_MEMBERS)?;
        actor.user.role.require(Role::to_manage(role))?;
        let token = LinkToken::generate();
        let digest = token.digest();
        let token = token.reveal();
        let id = InvitationId::new();
        let event = actor.member_event(
            AuditAction::MemberInvited,
            email.as_str(),
            role.as_str().to_owned(),
        );
        let now = event.occurred_at;
        let expires_at = now + clock::days(INVITATION_DAYS);
        let created = self
            .db
            .create_invitation(
                &InvitationRow {
                    id: &id,
                    account_id: &actor.user.account_id,
                    email: email.as_str(),
                    role,
                    token_digest: &digest,
                    invited_by: &actor.user.user_id,
                    inviter_role: actor.user.role,
                    now,
                    expires_at,
                },
                self.invitations,
                &event,
                self.invitation_mail(actor, invitation, &token)
                    .await?
                    .as_ref(),
            )
            .await?;
        match created {
            InvitationCreated::Created => {}
            InvitationCreated::AlreadyMember => {
                return Err(AppError::Conflict(format!(
                    "{} is already a member of this account.",
                    email.as_str()
                )))
            }
            InvitationCreated::AlreadyInvited => {
                return Err(AppError::Conflict(format!(
                    "An invitation for {} is already pending. Revoke it to send a new one.",
                    email.as_str()
                )))
            }
            InvitationCreated::TooManyPending => {
                return Err(AppError::Conflict(format!(
                    "This account has {MAX_PENDING_INVITATIONS} pending invitations, the most it may hold. Revoke some first."
                )))
            }
            InvitationCreated::TooManyThisHour { retry_at } => {
                return Err(AppError::TooManyInvitations {
                    per_hour: u32::try_from(self.invitations.per_hour).unwrap_or(u32::MAX),
                    retry_after_minutes: clock::minutes_until(retry_at.since(UnixMs::now()), HOUR),
                })
            }
            // Their role changed since this request was authenticated: the
            // credential it came with has ended.
            InvitationCreated::InviterChanged => return Err(AppError::Unauthenticated),
        }
        tracing::info!(invitation_id = %id, account_id = %actor.user.account_id, "member invited");
        self.mailer.queued();
        let invitation = self
            .db
            .invitation(&actor.user.account_id, &id)
            .await?
            .map(invitation_view)
            .ok_or(AppError::Internal)?;
        Ok(IssuedInvitation {
            invitation,
            invite_url: format!("{origin}/invite/{token}"),
        })
    }

    /// The invitation's message to the invitee, when mail is on: who asks
    /// them to which account, as what, and the link.
    async fn invitation_mail(
        &self,
        actor: &Actor,
        invitation: &NewInvitation,
        token: &str,
    ) -> Result<Option<NewMail>, AppError> {
        if !self.mailer.is_on() {
            return Ok(None);
        }
        let account = self.accounts.summary(&actor.user).await?;
        let mail = Mail::Invitation {
            token: token.to_owned(),
            account: account.account_name().to_owned(),
            invited_by: account.email,
            role: invitation.role.to_string(),
            days: INVITATION_DAYS,
        };
        Ok(self.mailer.compose(invitation.email.as_str(), &mail))
    }

    /// Revokes a pending invitation; revoking a revoked one changes nothing.
    pub async fn revoke_invitation(
        &self,
        actor: &Actor,
        id: &InvitationId,
    ) -> Result<(), AppError> {
        actor.user.role.require(Role::SEE_MEMBERS)?;
        let invitation = self
            .db
            .invitation(&actor.user.account_id, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let role = invitation.role;
        actor.user.role.require(Role::to_manage(role))?;
        if invitation.revoked_at.is_some() {
            return Ok(());
        }
        let event = actor.member_event(
            AuditAction::InvitationRevoked,
            &invitation.email,
            role.as_str().to_owned(),
        );
        let revoked = self
            .db
            .revoke_invitation(
                &actor.user.account_id,
                &invitation.id,
                event.occurred_at,
                &event,
            )
            .await?;
        if !revoked {
            return Err(AppError::Conflict(
                "This invitation was accepted already; remove the member instead.".into(),
            ));
        }
        tracing::info!(invitation_id = %invitation.id, "invitation revoked");
        Ok(())
    }

    /// Gives a member another role. Their sessions and bearer tokens for
    /// this account end at once; they sign in again with the new role.
    pub async fn change_role(
        &self,
        actor: &Actor,
        user_id: &UserId,
        new_role: Role,
    ) -> Result<MemberView, AppError> {
        actor.user.role.require(Role::SEE_MEMBERS)?;
        let member = self.target(actor, user_id).await?;
        let current = member.role;
        actor.user.role.require(Role::to_manage(current))?;
        actor.user.role.require(Role::to_manage(new_role))?;
        if new_role == current {
            return Ok(member_view(member));
        }
        let event = actor.member_event(
            AuditAction::MemberRoleChanged,
            &member.email,
            format!("{current} → {new_role}"),
        );
        let lapsed = LapsedInvitations {
            roles: Role::ALL
                .into_iter()
                .filter(|role| !new_role.grantable().contains(role))
                .collect(),
            event: actor.member_event(AuditAction::InvitationRevoked, "", String::new()),
            reason: lowered_reason(new_role),
        };
        let change = self
            .db
            .change_member_role(
                &actor.user.account_id,
                &member.user_id,
                current,
                new_role,
                &event,
                &lapsed,
            )
            .await?;
        refused(change)?;
        tracing::info!(user_id = %member.user_id, role = %new_role, "member role changed");
        let member = self.target(actor, &member.user_id).await?;
        Ok(member_view(member))
    }

    /// Removes a member (or lets a member leave): their sessions and tokens
    /// for this account end at once; the keys they made stay.
    pub async fn remove(&self, actor: &Actor, user_id: &UserId) -> Result<(), AppError> {
        let leaving = *user_id == actor.user.user_id;
        if !leaving {
            actor.user.role.require(Role::SEE_MEMBERS)?;
        }
        let member = self.target(actor, user_id).await?;
        let current = member.role;
        if !leaving {
            actor.user.role.require(Role::to_manage(current))?;
        }
        let event = actor.member_event(
            AuditAction::MemberRemoved,
            &member.email,
            current.as_str().to_owned(),
        );
        let lapsed = LapsedInvitations {
            roles: Role::ALL.to_vec(),
            event: actor.member_event(AuditAction::InvitationRevoked, "", String::new()),
            reason: "revoked because the inviter was removed",
        };
        let change = self
            .db
            .remove_member(
                &actor.user.account_id,
                &member.user_id,
                current,
                &event,
                &lapsed,
            )
            .await?;
        refused(change)?;
        tracing::info!(user_id = %member.user_id, account_id = %actor.user.account_id, "member removed");
        Ok(())
    }

    /// What an invitation link leads to, for its page, as the user signed
    /// in on this browser (if any) sees it.
    pub async fn preview(
        &self,
        token: &str,
        viewer_id: Option<&UserId>,
    ) -> Result<InvitationPreview, AppError> {
        let invitation = self.by_token(token).await?;
        let signed_in_as = match viewer_id {
            Some(user_id) => Some(self.accounts.email_of(user_id).await?),
            None => None,
        };
        Ok(InvitationPreview {
            state: state_of(&invitation, UnixMs::now()),
            role: invitation.role,
            account_name: invitation.account_name,
            email: invitation.email,
            invited_by: invitation.invited_by,
            expires_at: invitation.expires_at,
            signed_in_as,
        })
    }

    /// Accepts an invitation by its link for a signed-in user (a member of
    /// other accounts or of none), whose email must be the invited one.
    pub async fn accept(
        &self,
        user_id: &UserId,
        client: &ClientInfo,
        token: &str,
    ) -> Result<(Joined, Membership), AppError> {
        let invitation = self.pending(token).await?;
        let email = self.accounts.email_of(user_id).await?;
        if email != invitation.email {
            return Err(AppError::Forbidden(format!(
                "This invitation is for {}, but you are signed in as {email}. Sign in with the invited email to accept it.",
                invitation.email
            )));
        }
        self.join(&invitation, &Invitee::Existing { user_id }, user_id, client)
            .await
    }

    /// The invitations waiting for the user's email, in every account,
    /// newest first (at most [`crate::storage::WAITING_INVITATIONS_SHOWN`]).
    pub async fn waiting_for(&self, user_id: &UserId) -> Result<WaitingFor, AppError> {
        let email = self.accounts.email_of(user_id).await?;
        let rows = self
            .db
            .pending_invitations_for_email(&email, UnixMs::now())
            .await?;
        Ok(WaitingFor {
            email,
            invitations: rows.into_iter().map(waiting_view).collect(),
        })
    }

    /// Accepts one of the invitations waiting for the user's email, by its
    /// id: the invitation is addressed to the email they signed in with, as
    /// accepting by its link requires.
    pub async fn accept_waiting(
        &self,
        user_id: &UserId,
        client: &ClientInfo,
        invitation_id: &InvitationId,
    ) -> Result<(Joined, Membership), AppError> {
        let email = self.accounts.email_of(user_id).await?;
        let waiting = self
            .db
            .pending_invitations_for_email(&email, UnixMs::now())
            .await?;
        let invitation = waiting
            .into_iter()
            .find(|i| i.id == *invitation_id)
            .ok_or_else(no_longer_waiting)?;
        self.join(&invitation, &Invitee::Existing { user_id }, user_id, client)
            .await
    }

    /// Signs up the invited email with `password` and accepts, in one
    /// transaction.
    pub async fn sign_up_and_accept(
        &self,
        token: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<(Joined, Membership), AppError> {
        let invitation = self.pending(token).await?;
        let (email, password_hash) = self
            .accounts
            .new_invitee(&invitation.email, password, client)
            .await?;
        let user_id = UserId::new();
        let invitee = Invitee::New(NewUser {
            id: &user_id,
            email: email.as_str(),
            password_hash: &password_hash,
            now: UnixMs::now(),
            // Accepting proves it: the invitation was sent there.
            email_verified: false,
        });
        self.join(&invitation, &invitee, &user_id, client).await
    }

    async fn join(
        &self,
        invitation: &InvitationRecord,
        invitee: &Invitee<'_>,
        user_id: &UserId,
        client: &ClientInfo,
    ) -> Result<(Joined, Membership), AppError> {
        let role = invitation.role;
        let actor = Actor {
            user: AuthenticatedUser {
                user_id: user_id.clone(),
                account_id: invitation.account_id.clone(),
                role,
            },
            client: client.clone(),
        };
        let event = actor.member_event(
            AuditAction::MemberJoined,
            &invitation.email,
            role.to_string(),
        );
        let outcome = self
            .db
            .accept_invitation(
                &invitation.id,
                invitee,
                event.occurred_at,
                self.limits,
                &event,
            )
            .await?;
        match outcome {
            Acceptance::Joined => {}
            Acceptance::NotPending => return Err(no_longer_pending(InvitationState::Accepted)),
            Acceptance::AlreadyMember => {
                return Err(AppError::Conflict(format!(
                    "You are already a member of {}.",
                    invitation.account_name
                )))
            }
            Acceptance::EmailTaken => return Err(AppError::field(
                "email",
                "A Keysmith user with this email exists already. Sign in to accept the invitation.",
            )),
            Acceptance::AccountFull => {
                return Err(AppError::Conflict(format!(
                    "{} has {} members, the most an account may have.",
                    invitation.account_name, self.limits.members_per_account
                )))
            }
            Acceptance::TooManyAccounts => {
                return Err(AppError::Conflict(format!(
                    "You belong to {} accounts, the most one user may. Leave one first.",
                    self.limits.accounts_per_user
                )))
            }
        }
        tracing::info!(%user_id, account_id = %invitation.account_id, "invitation accepted");
        let member = self
            .accounts
            .membership(&invitation.account_id, user_id)
            .await?
            .ok_or(AppError::Internal)?;
        let joined = Joined {
            account_id: invitation.account_id.to_string(),
            account_name: invitation.account_name.clone(),
            role,
        };
        Ok((joined, member))
    }

    /// The invitation a link names, whatever its state.
    async fn by_token(&self, token: &str) -> Result<InvitationRecord, AppError> {
        let digest = parse_token(token)?.digest();
        self.db
            .invitation_by_digest(&digest)
            .await?
            .ok_or_else(unknown_link)
    }

    /// The invitation a link names, if it can still be accepted.
    async fn pending(&self, token: &str) -> Result<InvitationRecord, AppError> {
        let invitation = self.by_token(token).await?;
        match state_of(&invitation, UnixMs::now()) {
            InvitationState::Pending => Ok(invitation),
            other => Err(no_longer_pending(other)),
        }
    }

    /// A member of the actor's account.
    async fn target(&self, actor: &Actor, user_id: &UserId) -> Result<MemberRecord, AppError> {
        self.db
            .member(&actor.user.account_id, user_id)
            .await?
            .ok_or(AppError::NotFound)
    }
}

fn refused(change: MemberChange) -> Result<(), AppError> {
    match change {
        MemberChange::Done => Ok(()),
        MemberChange::Stale => Err(AppError::Conflict(
            "This member was changed by someone else meanwhile. Reload and try again.".into(),
        )),
        MemberChange::LastOwner => Err(AppError::Conflict(
            "An account must keep at least one owner. Make another member an owner first.".into(),
        )),
    }
}

/// The answer to accepting an invitation that is not (or no longer, or
/// never was) waiting for the user: one answer for every such id.
pub fn no_longer_waiting() -> AppError {
    AppError::Conflict(
        "This invitation is no longer waiting for you: it was used, revoked or has expired.".into(),
    )
}

fn parse_token(token: &str) -> Result<LinkToken, AppError> {
    LinkToken::parse(token.trim()).ok_or_else(unknown_link)
}

fn unknown_link() -> AppError {
    AppError::NotFound
}

fn no_longer_pending(state: InvitationState) -> AppError {
    AppError::Conflict(
        match state {
            InvitationState::Accepted => "This invitation has been used already.",
            InvitationState::Revoked => "This invitation was revoked.",
            InvitationState::Expired | InvitationState::Pending => {
                "This invitation has expired. Ask for a new one."
            }
        }
        .into(),
    )
}

fn state_of(invitation: &InvitationRecord, now: UnixMs) -> InvitationState {
    if invitation.accepted_at.is_some() {
        InvitationState::Accepted
    } else if invitation.revoked_at.is_some() {
        InvitationState::Revoked
    } else if invitation.expires_at <= now {
        InvitationState::Expired
    } else {
        InvitationState::Pending
    }
}

fn member_view(row: MemberRecord) -> MemberView {
    MemberView {
        role: row.role,
        user_id: row.user_id.into(),
        email: row.email,
        joined_at: row.joined_at,
        last_signed_in_at: row.last_signed_in_at,
    }
}

fn waiting_view(row: InvitationRecord) -> WaitingInvitation {
    WaitingInvitation {
        role: row.role,
        id: row.id.into(),
        account_name: row.account_name,
        invited_by: row.invited_by,
        expires_at: row.expires_at,
    }
}

fn invitation_view(row: InvitationRecord) -> InvitationView {
    InvitationView {
        role: row.role,
        id: row.id.into(),
        email: row.email,
        invited_by: row.invited_by,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}
