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
