//! A key's display name.

use crate::error::AppError;
use serde::{Deserialize, Serialize};

pub const MAX_CHARS: usize = 50;

/// 1 to 50 characters after trimming, with no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(AppError::field("name", "Give the key a name."));
        }
        if name.chars().count() > MAX_CHARS {
            return Err(AppError::field(
                "name",
                format!("A key name can be at most {MAX_CHARS} characters."),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(AppError::field(
                "name",
                "A key name cannot contain line breaks or control characters.",
            ));
        }
        Ok(KeyName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_limited_to_fifty_characters() {
        assert_eq!(
            KeyName::parse("  CI deploys ").unwrap().as_str(),
            "CI deploys"
        );
        assert!(KeyName::parse(&"é".repeat(50)).is_ok());
        let error = KeyName::parse(&"x".repeat(51)).unwrap_err();
        assert!(error.field_message("name").unwrap().contains("at most 50"));
    }

    proptest::proptest! {
        #[test]
        fn a_valid_name_parses_to_itself(raw in "\\PC{0,80}") {
            if let Ok(name) = KeyName::parse(&raw) {
                proptest::prop_assert!(name.as_str().chars().count() <= MAX_CHARS);
                proptest::prop_assert_eq!(KeyName::parse(name.as_str()).unwrap(), name);
            }
        }
    }

    #[test]
    fn a_blank_or_multi_line_name_is_refused() {
        assert!(KeyName::parse("   ")
            .unwrap_err()
            .field_message("name")
            .is_some());
        assert!(KeyName::parse("two\nlines").is_err());
    }
}
