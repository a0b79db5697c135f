//! A key's display name.

use crate::error::AppError;
use serde::{Deserialize, Serialize};

pub const MAX_CHARS: usize = 50;

/// 1 to 50 characters after trimming, with no control characters and no
/// invisible formatting characters: bidi overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069) can make a name read as another in the
/// dashboard and the audit log, and zero-width ones (U+200B–U+200F) can
/// make two names look the same.
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
        if name.chars().any(is_invisible_format) {
            return Err(AppError::field(
                "name",
                "A key name cannot contain invisible formatting characters \
                 (text direction overrides or zero-width characters).",
            ));
        }
        Ok(KeyName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that show nothing, or break a line, in text meant to be read
/// on one line: zero-width and directional marks, the soft hyphen, the line
/// and paragraph separators, invisible operators, interlinear annotation and
/// tag characters.
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
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
    fn bidi_overrides_and_zero_width_characters_are_refused() {
        for bad in [
            "invoice\u{202E}fdp.exe",
            "a\u{202A}b",
            "a\u{2066}b\u{2069}",
            "zero\u{200B}width",
            "rtl\u{200F}mark",
            "bom\u{FEFF}",
        ] {
            let error = KeyName::parse(bad).unwrap_err();
            assert!(
                error.field_message("name").unwrap().contains("invisible"),
                "{bad:?}"
            );
        }
        assert!(KeyName::parse("Zürich – prod ✓").is_ok());
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
