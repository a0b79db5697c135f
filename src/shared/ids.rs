//! The ids Keysmith issues, one type for each kind of thing they name, so
//! that a user's id cannot be passed where an account's is meant. Each is
//! parsed once at the door (a caller's text) or decoded from a row, then
//! carried as it is through services and storage.

use super::clock::MAX_ID_LEN;
use crate::error::AppError;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident = $prefix:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What every id of this kind starts with, before `_`.
            pub const PREFIX: &'static str = $prefix;

            /// A new id, sorting after every one made before it.
            #[cfg(feature = "ssr")]
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name(super::clock::new_id($prefix))
            }

            /// Text shaped like an id of this kind, trimmed. Anything else
            /// cannot name one, so it is refused as `NotFound`, exactly like
            /// an id of nothing (or of another account's).
            pub fn parse(raw: &str) -> Result<Self, AppError> {
                let id = raw.trim();
                if is_id_shaped(id, $prefix) {
                    Ok($name(id.to_owned()))
                } else {
                    Err(AppError::NotFound)
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = AppError;

            fn from_str(raw: &str) -> Result<Self, AppError> {
                $name::parse(raw)
            }
        }

        impl TryFrom<String> for $name {
            type Error = AppError;

            fn try_from(raw: String) -> Result<Self, AppError> {
                $name::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        // Rows hold only ids Keysmith made; one not shaped like them is a
        // decoding error, never an id.
        #[cfg(feature = "ssr")]
        super::stored_as_text!($name, |text| $name::parse(text)
            .map_err(|_| format!("not {} id: {text:?}", stringify!($name))));
    )*};
}

ids! {
    /// An account (`acc_…`): the tenant that owns keys and has members.
    AccountId = "acc";
    /// A person who signs in (`usr_…`).
    UserId = "usr";
    /// An invitation to join an account (`inv_…`).
    InvitationId = "inv";
    /// An API key (`key_…`).
    KeyId = "key";
}

/// Who did something in an account: a member, by their user id, or a
/// management key, by its own id. Stored and sent as that id's text (the
/// prefix tells which).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ActorId {
    User(UserId),
    Key(KeyId),
}

impl ActorId {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        UserId::parse(raw)
            .map(ActorId::User)
            .or_else(|_| KeyId::parse(raw).map(ActorId::Key))
    }

    pub fn as_str(&self) -> &str {
        match self {
            ActorId::User(id) => id.as_str(),
            ActorId::Key(id) => id.as_str(),
        }
    }

    /// The member, when a member acted.
    pub fn user(&self) -> Option<&UserId> {
        match self {
            ActorId::User(id) => Some(id),
            ActorId::Key(_) => None,
        }
    }
}

impl From<UserId> for ActorId {
    fn from(id: UserId) -> Self {
        ActorId::User(id)
    }
}

impl From<KeyId> for ActorId {
    fn from(id: KeyId) -> Self {
        ActorId::Key(id)
    }
}

impl TryFrom<String> for ActorId {
    type Error = AppError;

    fn try_from(raw: String) -> Result<Self, AppError> {
        ActorId::parse(&raw)
    }
}

impl From<ActorId> for String {
    fn from(id: ActorId) -> String {
        id.as_str().to_owned()
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "ssr")]
super::stored_as_text!(ActorId, |text| ActorId::parse(text)
    .map_err(|_| format!("not an actor id: {text:?}")));

fn is_id_shaped(id: &str, prefix: &str) -> bool {
    id.len() <= MAX_ID_LEN
        && id
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "ssr")]
    fn new_ids_carry_their_prefix_parse_and_sort_by_creation() {
        let (a, b) = (UserId::new(), UserId::new());
        assert!(
            a.as_str().starts_with("usr_") && a.as_str().len() == 36,
            "{a}"
        );
        assert_ne!(a, b);
        assert!(a < b, "UUIDv7 ids sort by creation time");
        assert_eq!(UserId::parse(&format!("  {a}\n")).unwrap(), a);
    }

    #[test]
    fn an_actor_is_a_member_or_a_key_told_apart_by_the_prefix() {
        let user = ActorId::parse("usr_01ab").unwrap();
        assert_eq!(user.user(), Some(&UserId::parse("usr_01ab").unwrap()));
        let key = ActorId::parse("key_01ab").unwrap();
        assert_eq!(key, ActorId::Key(KeyId::parse("key_01ab").unwrap()));
        assert_eq!(key.user(), None);
        assert_eq!(serde_json::to_string(&key).unwrap(), "\"key_01ab\"");
        assert!(ActorId::parse("acc_01ab").is_err());
    }

    #[test]
    fn text_of_another_shape_or_kind_names_nothing() {
        let too_long = format!("key_{}", "a".repeat(MAX_ID_LEN));
        for raw in [
            "",
            "key_",
            "key",
            "keyx_01",
            "usr_0193abc",
            "key_01/../x",
            "key_a b",
            &too_long,
        ] {
            assert_eq!(KeyId::parse(raw), Err(AppError::NotFound), "{raw:?}");
        }
        assert!(
            AccountId::parse("usr_0193abc").is_err(),
            "a user's id is no account's"
        );
        assert!(AccountId::parse("acc_0193abc").is_ok());
        assert!(InvitationId::parse("inv_0193abc").is_ok());
    }

    #[test]
    #[cfg(feature = "ssr")]
    fn ids_travel_as_their_text_and_are_checked_on_the_way_in() {
        let id = AccountId::parse("acc_0193abc").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""acc_0193abc""#);
        assert_eq!(
            serde_json::from_str::<AccountId>(r#""acc_0193abc""#).unwrap(),
            id
        );
        assert!(serde_json::from_str::<AccountId>(r#""usr_0193abc""#).is_err());
    }
}
