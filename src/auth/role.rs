//! The role catalogue: the one place that names what a member of an account
//! may do. Ranked `Owner > Admin > Developer > Viewer`; each role may do
//! everything the roles below it may.

use crate::{audit::AuditView, error::AppError};

pub use crate::shared::role::Role;

impl Role {
    /// Parses a role sent as input; the error names the field.
    pub fn parse_field(raw: &str, field: &str) -> Result<Role, AppError> {
        Role::parse(raw).ok_or_else(|| {
            AppError::field(
                field,
                "Choose a role: owner, admin, developer or viewer.".to_owned(),
            )
        })
    }

    /// One line for the dashboard and the README.
    pub fn description(self) -> &'static str {
        match self {
            Role::Owner => "Everything, including managing other owners.",
            Role::Admin => {
                "Manage all keys; invite and manage developers and viewers; see the whole audit log."
            }
            Role::Developer => {
                "Create, edit, rotate and revoke keys; delete the keys they created; see the key events of the audit log."
            }
            Role::Viewer => {
                "See keys (masked), their usage and the key events of the audit log."
            }
        }
    }

    /// `Ok` when this role is `needed` or above it, else the error that
    /// names the role needed.
    pub fn require(self, needed: Role) -> Result<(), AppError> {
        if self >= needed {
            Ok(())
        } else {
            Err(AppError::InsufficientRole {
                needed: needed.as_str().to_owned(),
                have: self.as_str().to_owned(),
            })
        }
    }

    /// Seeing and changing keys: every member sees them, developers and
    /// above change them.
    pub const SEE_KEYS: Role = Role::Viewer;
    pub const CHANGE_KEYS: Role = Role::Developer;
    /// Deleting a key someone else created (a developer may delete their
    /// own).
    pub const DELETE_ANY_KEY: Role = Role::Admin;
    /// Creating and changing management keys (keys that manage keys).
    pub const MANAGE_MANAGEMENT_KEYS: Role = Role::Admin;
    /// Setting the rate limits every key of the account shares.
    pub const SET_ACCOUNT_LIMITS: Role = Role::Admin;
    /// Requiring two-factor sign-in of every member.
    pub const REQUIRE_TWO_FACTOR: Role = Role::Owner;
    /// Seeing the members and pending invitations.
    pub const SEE_MEMBERS: Role = Role::Admin;
    /// Seeing who is in the team and what they do: membership and sign-in
    /// events in the audit log, and every event's client address and user
    /// agent. The roles below see key events without those.
    pub const SEE_TEAM_ACTIVITY: Role = Role::Admin;

    /// The role needed to invite, change or remove a member holding (or
    /// being given) `role`: admins manage developers and viewers, owners
    /// manage everyone.
    pub fn to_manage(role: Role) -> Role {
        match role {
            Role::Owner | Role::Admin => Role::Owner,
            Role::Developer | Role::Viewer => Role::Admin,
        }
    }

    /// What of the audit log this role sees.
    pub fn audit_view(self) -> AuditView {
        if self >= Role::SEE_TEAM_ACTIVITY {
            AuditView::Everything
        } else {
            AuditView::KeyEventsWithoutClients
        }
    }

    /// Whether this role may change keys (to show or hide the buttons).
    pub fn may_change_keys(self) -> bool {
        self >= Role::CHANGE_KEYS
    }

    /// Whether this role may create and change management keys.
    pub fn may_manage_management_keys(self) -> bool {
        self >= Role::MANAGE_MANAGEMENT_KEYS
    }

    /// Whether a member of this role may delete a key created by
    /// `created_by_self`.
    pub fn may_delete_key(self, created_by_self: bool) -> bool {
        self >= Role::DELETE_ANY_KEY || (created_by_self && self.may_change_keys())
    }

    /// The roles this role may hand out (invite as, or change to).
    pub fn grantable(self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|role| self >= Role::to_manage(*role))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_owner_admin_developer_viewer() {
        assert!(Role::Owner > Role::Admin);
        assert!(Role::Admin > Role::Developer);
        assert!(Role::Developer > Role::Viewer);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert_eq!(Role::parse("member"), None);
    }

    #[test]
    fn a_refusal_names_the_role_needed() {
        let error = Role::Viewer.require(Role::Developer).unwrap_err();
        assert_eq!(error.code(), "insufficient_role");
        assert_eq!(error.status(), 403);
        assert!(error.to_string().contains("`developer`"), "{error}");
        assert!(Role::Admin.require(Role::Developer).is_ok());
    }

    #[test]
    fn admins_manage_developers_and_viewers_and_owners_manage_all() {
        assert_eq!(Role::Owner.grantable(), Role::ALL.to_vec());
        assert_eq!(Role::Admin.grantable(), vec![Role::Developer, Role::Viewer]);
        assert!(Role::Developer.grantable().is_empty());
        assert!(Role::Viewer.grantable().is_empty());
    }

    #[test]
    fn only_owners_and_admins_see_team_activity_in_the_audit_log() {
        assert_eq!(Role::Owner.audit_view(), AuditView::Everything);
        assert_eq!(Role::Admin.audit_view(), AuditView::Everything);
        assert_eq!(
            Role::Developer.audit_view(),
            AuditView::KeyEventsWithoutClients
        );
        assert_eq!(
            Role::Viewer.audit_view(),
            AuditView::KeyEventsWithoutClients
        );
    }

    #[test]
    fn developers_delete_only_their_own_keys() {
        assert!(Role::Developer.may_delete_key(true));
        assert!(!Role::Developer.may_delete_key(false));
        assert!(Role::Admin.may_delete_key(false));
        assert!(!Role::Viewer.may_delete_key(true));
    }
}
