//! The roles a member of an account may hold, by name: what the database
//! stores and the API and pages say. What each role may do is the role
//! catalogue's (`auth::role`); the names live down here so that storage
//! reads them from rows directly.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Ranked `Owner > Admin > Developer > Viewer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Role {
    Viewer,
    Developer,
    Admin,
    Owner,
}

impl Role {
    /// Most powerful first, as the dashboard offers them.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Developer, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw.trim())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Written and read as a row's text, so no service parses a stored role; a
// stored name that is none of these is a decoding error.
#[cfg(feature = "ssr")]
super::stored_as_text!(Role, |name| Role::parse(name)
    .ok_or_else(|| format!("no such role: {name:?}")));
