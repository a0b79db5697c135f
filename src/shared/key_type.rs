//! The two kinds of key, by name: what the database stores and the API
//! says. What each may do is the key service's and the manager's rules.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum KeyType {
    /// A key the platform's services accept: its scopes are the operator's
    /// catalogue. It never manages keys.
    #[default]
    Api,
    /// A key that manages keys (a CI job's, Terraform's): its scopes are
    /// Keysmith's own management permissions.
    Management,
}

impl KeyType {
    pub const ALL: [KeyType; 2] = [KeyType::Api, KeyType::Management];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Api => "api",
            KeyType::Management => "management",
        }
    }

    pub fn parse(raw: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|t| t.as_str() == raw.trim())
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "ssr")]
super::stored_as_text!(KeyType, |name| KeyType::parse(name)
    .ok_or_else(|| format!("no such key type: {name:?}")));
