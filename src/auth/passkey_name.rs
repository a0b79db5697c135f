//! A passkey's name as its owner gives it (the page checks it before the
//! browser's prompt, the server again when keeping the passkey).

use crate::error::AppError;

const MAX_CHARS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    /// Trimmed, 1 to 64 characters, on one line.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(AppError::field(
                "name",
                "Name this passkey, for example after the device that holds it.",
            ));
        }
        if name.chars().count() > MAX_CHARS || name.chars().any(char::is_control) {
            return Err(AppError::field(
                "name",
                format!("Use at most {MAX_CHARS} characters, on one line."),
            ));
        }
        Ok(PasskeyName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_short_and_on_one_line() {
        assert_eq!(
            PasskeyName::parse("  MacBook  ").unwrap().as_str(),
            "MacBook"
        );
        assert!(PasskeyName::parse("   ").is_err());
        assert!(PasskeyName::parse("a\nb").is_err());
        assert!(PasskeyName::parse(&"x".repeat(65)).is_err());
        assert!(PasskeyName::parse(&"é".repeat(64)).is_ok());
    }
}
