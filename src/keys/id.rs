//! A key's id as a caller names it (`key_…`), parsed at the door.

use crate::{error::AppError, shared::clock::MAX_ID_LEN};
use std::fmt;

/// An id shaped like the ones Keysmith issues. Anything else cannot name a
/// key, so it is refused as `NotFound`, exactly like an id of no key (or of
/// another account's key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let id = raw.trim();
        let well_formed = id.len() <= MAX_ID_LEN
            && id.strip_prefix("key_").is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if well_formed {
            Ok(KeyId(id.to_owned()))
        } else {
            Err(AppError::NotFound)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_ids_parse_and_are_trimmed() {
        let id = clock_id();
        assert_eq!(KeyId::parse(&format!("  {id}\n")).unwrap().as_str(), id);
    }

    #[test]
    fn anything_else_names_no_key() {
        let too_long = format!("key_{}", "a".repeat(MAX_ID_LEN));
        for raw in [
            "",
            "key_",
            "usr_0193abc",
            "key_01/../x",
            "key_a b",
            &too_long,
        ] {
            assert_eq!(KeyId::parse(raw), Err(AppError::NotFound), "{raw:?}");
        }
    }

    fn clock_id() -> String {
        crate::shared::clock::new_id("key")
    }
}
