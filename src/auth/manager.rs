//! Who manages an account's keys (and reads its team and audit log): a
//! member, by their role, or a management key, by the management scopes it
//! holds. One table, [`Operation`], says what each operation needs of
//! either; services ask [`Manager::require`] and never which kind it is.

use super::{
    identity::{event_by, Actor, AuthenticatedUser, ClientInfo},
    role::Role,
};
use crate::{
    audit::{AuditAction, AuditView},
    error::AppError,
    shared::ids::{AccountId, ActorId, KeyId, UserId},
    storage::NewAuditEvent,
};

/// Keysmith's own management permissions: the fixed catalogue a management
/// key's scopes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManagementScope {
    KeysRead,
    KeysWrite,
    KeysRevoke,
    KeysDelete,
    MembersRead,
    AuditRead,
}

impl ManagementScope {
    pub const ALL: [ManagementScope; 6] = [
        ManagementScope::KeysRead,
        ManagementScope::KeysWrite,
        ManagementScope::KeysRevoke,
        ManagementScope::KeysDelete,
        ManagementScope::MembersRead,
        ManagementScope::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ManagementScope::KeysRead => "keys:read",
            ManagementScope::KeysWrite => "keys:write",
            ManagementScope::KeysRevoke => "keys:revoke",
            ManagementScope::KeysDelete => "keys:delete",
            ManagementScope::MembersRead => "members:read",
            ManagementScope::AuditRead => "audit:read",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        ManagementScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
    }

    pub fn description(self) -> &'static str {
        match self {
            ManagementScope::KeysRead => "List and read the account's keys (masked) and their usage.",
            ManagementScope::KeysWrite => {
                "Create API keys; change their name, scopes, addresses, owner and metadata; rotate them."
            }
            ManagementScope::KeysRevoke => "Revoke API keys.",
            ManagementScope::KeysDelete => "Delete API keys.",
            ManagementScope::MembersRead => "List the account's members and pending invitations.",
            ManagementScope::AuditRead => {
                "Read the audit log's key events (without client addresses)."
            }
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            ManagementScope::KeysRead
            | ManagementScope::KeysWrite
            | ManagementScope::KeysRevoke
            | ManagementScope::KeysDelete => "Keys",
            ManagementScope::MembersRead => "Team",
            ManagementScope::AuditRead => "Audit log",
        }
    }

    /// What holding it grants besides itself.
    pub fn implies(self) -> &'static [ManagementScope] {
        match self {
            ManagementScope::KeysWrite
            | ManagementScope::KeysRevoke
            | ManagementScope::KeysDelete => &[ManagementScope::KeysRead],
            _ => &[],
        }
    }

    /// `held` and all they imply.
    pub fn granted_by<'a>(held: impl IntoIterator<Item = &'a str>) -> Vec<ManagementScope> {
        let mut granted: Vec<ManagementScope> = Vec::new();
        for scope in held.into_iter().filter_map(ManagementScope::parse) {
            for one in std::iter::once(scope).chain(scope.implies().iter().copied()) {
                if !granted.contains(&one) {
                    granted.push(one);
                }
            }
        }
        granted
    }
}

/// What may be done to an account's keys, team and audit log by a
/// manager, and what each needs: a member's role, a management key's scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    SeeKeys,
    ChangeKeys,
    RevokeKeys,
    /// Deleting a key one made (a member deleting another's needs
    /// [`Role::DELETE_ANY_KEY`]).
    DeleteKeys,
    SeeMembers,
    ReadAuditLog,
    /// Creating or changing management keys: people only.
    ManageManagementKeys,
    /// Setting the rate limits all the account's keys share.
    SetAccountLimits,
}

impl Operation {
    /// The role a member needs.
    pub fn role(self) -> Role {
        match self {
            Operation::SeeKeys | Operation::ReadAuditLog => Role::SEE_KEYS,
            Operation::ChangeKeys | Operation::RevokeKeys | Operation::DeleteKeys => {
                Role::CHANGE_KEYS
            }
            Operation::SeeMembers => Role::SEE_MEMBERS,
            Operation::ManageManagementKeys => Role::MANAGE_MANAGEMENT_KEYS,
            Operation::SetAccountLimits => Role::SET_ACCOUNT_LIMITS,
        }
    }

    /// The scope a management key needs; `None`: no key may.
    pub fn management_scope(self) -> Option<ManagementScope> {
        match self {
            Operation::SeeKeys => Some(ManagementScope::KeysRead),
            Operation::ChangeKeys | Operation::SetAccountLimits => Some(ManagementScope::KeysWrite),
            Operation::RevokeKeys => Some(ManagementScope::KeysRevoke),
            Operation::DeleteKeys => Some(ManagementScope::KeysDelete),
            Operation::SeeMembers => Some(ManagementScope::MembersRead),
            Operation::ReadAuditLog => Some(ManagementScope::AuditRead),
            Operation::ManageManagementKeys => None,
        }
    }
}

/// A member or a management key acting in an account, and the client it
/// acts from.
#[derive(Clone, Debug)]
pub struct Manager {
    pub account_id: AccountId,
    by: By,
    pub client: ClientInfo,
}

#[derive(Clone, Debug)]
enum By {
    Member {
        user_id: UserId,
        role: Role,
    },
    Key {
        key_id: KeyId,
        granted: Vec<ManagementScope>,
    },
}

impl Manager {
    /// A member making a change, from where they make it.
    pub fn member(actor: Actor) -> Self {
        Manager {
            account_id: actor.user.account_id,
            by: By::Member {
                user_id: actor.user.user_id,
                role: actor.user.role,
            },
            client: actor.client,
        }
    }

    /// A member reading (no event is written, so no client is needed).
    pub fn reader(user: AuthenticatedUser) -> Self {
        Manager::member(Actor {
            user,
            client: ClientInfo::default(),
        })
    }

    /// A management key of `account_id` holding the management scopes
    /// named `held`.
    pub fn key<'a>(
        key_id: KeyId,
        account_id: AccountId,
        held: impl IntoIterator<Item = &'a str>,
        client: ClientInfo,
    ) -> Self {
        Manager {
            account_id,
            by: By::Key {
                key_id,
                granted: ManagementScope::granted_by(held),
            },
            client,
        }
    }

    /// `Ok` when this manager may do `operation`; else the refusal that
    /// names the role or scope it needs.
    pub fn require(&self, operation: Operation) -> Result<(), AppError> {
        match &self.by {
            By::Member { role, .. } => role.require(operation.role()),
            By::Key { granted, .. } => match operation.management_scope() {
                Some(scope) if granted.contains(&scope) => Ok(()),
                Some(scope) => Err(AppError::InsufficientScope(scope.as_str().into())),
                None => Err(AppError::Forbidden(
                    "Management keys manage API keys only: only owners and admins create or change management keys.".into(),
                )),
            },
        }
    }

    /// Who acts, as changes and events record them.
    pub fn actor_id(&self) -> ActorId {
        match &self.by {
            By::Member { user_id, .. } => ActorId::User(user_id.clone()),
            By::Key { key_id, .. } => ActorId::Key(key_id.clone()),
        }
    }

    /// The member who acts; `None` for a management key.
    pub fn user_id(&self) -> Option<&UserId> {
        match &self.by {
            By::Member { user_id, .. } => Some(user_id),
            By::Key { .. } => None,
        }
    }

    /// The member's role; `None` for a management key.
    pub fn role(&self) -> Option<Role> {
        match &self.by {
            By::Member { role, .. } => Some(*role),
            By::Key { .. } => None,
        }
    }

    /// Whether this manager may delete a key made by `created_by`: any key
    /// for an admin or a key with `keys:delete`, their own for a developer.
    pub fn require_delete(&self, created_by: Option<&ActorId>) -> Result<(), AppError> {
        self.require(Operation::DeleteKeys)?;
        match &self.by {
            By::Member { user_id, role } => {
                let own = created_by.and_then(ActorId::user) == Some(user_id);
                if role.may_delete_key(own) {
                    Ok(())
                } else {
                    Err(AppError::InsufficientRole {
                        needed: Role::DELETE_ANY_KEY.as_str().into(),
                        have: role.as_str().into(),
                    })
                }
            }
            By::Key { .. } => Ok(()),
        }
    }

    /// What of the audit log this manager sees: a member what their role
    /// sees; a key the key events, without clients (as developers do).
    pub fn audit_view(&self) -> AuditView {
        match &self.by {
            By::Member { role, .. } => role.audit_view(),
            By::Key { .. } => AuditView::KeyEventsWithoutClients,
        }
    }

    /// An event by this manager, happening now, about `key` (id, name).
    pub fn event<'a>(
        &'a self,
        action: AuditAction,
        key: Option<(&'a KeyId, &'a str)>,
    ) -> NewAuditEvent<'a> {
        event_by(&self.account_id, self.actor_id(), &self.client, action, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_holding(held: &[&str]) -> Manager {
        Manager::key(
            "key_1".parse().unwrap(),
            "acc_1".parse().unwrap(),
            held.iter().copied(),
            ClientInfo::default(),
        )
    }

    #[test]
    fn a_management_key_does_what_its_scopes_and_their_implications_grant() {
        let writer = key_holding(&["keys:write"]);
        assert!(writer.require(Operation::ChangeKeys).is_ok());
        assert!(
            writer.require(Operation::SeeKeys).is_ok(),
            "write implies read"
        );
        let refused = writer.require(Operation::RevokeKeys).unwrap_err();
        assert_eq!(refused, AppError::InsufficientScope("keys:revoke".into()));
        assert_eq!(refused.code(), "insufficient_scope");
        assert!(writer.require(Operation::SeeMembers).is_err());
        assert!(key_holding(&["members:read"])
            .require(Operation::SeeMembers)
            .is_ok());
        assert_eq!(writer.role(), None);
        assert_eq!(writer.actor_id().as_str(), "key_1");
    }

    #[test]
    fn no_management_key_manages_management_keys() {
        let everything: Vec<&str> = ManagementScope::ALL.iter().map(|s| s.as_str()).collect();
        let refused = key_holding(&everything)
            .require(Operation::ManageManagementKeys)
            .unwrap_err();
        assert_eq!(refused.code(), "forbidden");
    }

    #[test]
    fn members_are_held_to_their_role() {
        let member = |role| {
            Manager::reader(AuthenticatedUser {
                user_id: "usr_1".parse().unwrap(),
                account_id: "acc_1".parse().unwrap(),
                role,
            })
        };
        assert!(member(Role::Admin)
            .require(Operation::ManageManagementKeys)
            .is_ok());
        assert!(member(Role::Developer)
            .require(Operation::ManageManagementKeys)
            .is_err());
        assert!(member(Role::Developer)
            .require(Operation::ChangeKeys)
            .is_ok());
        assert!(member(Role::Viewer).require(Operation::ChangeKeys).is_err());
        let own: ActorId = "usr_1".parse::<UserId>().unwrap().into();
        let other: ActorId = "usr_2".parse::<UserId>().unwrap().into();
        assert!(member(Role::Developer).require_delete(Some(&own)).is_ok());
        assert!(member(Role::Developer)
            .require_delete(Some(&other))
            .is_err());
        assert!(member(Role::Admin).require_delete(Some(&other)).is_ok());
    }

    #[test]
    fn every_management_scope_parses_back_and_is_described() {
        for scope in ManagementScope::ALL {
            assert_eq!(ManagementScope::parse(scope.as_str()), Some(scope));
            assert!(!scope.description().is_empty());
        }
        let granted = ManagementScope::granted_by(["keys:delete", "nope"]);
        assert_eq!(
            granted,
            [ManagementScope::KeysDelete, ManagementScope::KeysRead]
        );
    }
}
