//! A new password, parsed once at the edge.

use crate::error::AppError;
use std::fmt;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 256;

/// A password that meets Keysmith's rules. Deliberately neither `Clone`,
/// `Serialize` nor revealing in `Debug`: it should travel from the request
/// to the hasher and nowhere else.
pub struct Password(String);

impl Password {
    /// Checks a password chosen at sign-up; the error says which rule failed.
    pub fn parse_new(raw: String) -> Result<Self, AppError> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(AppError::field(
                "password",
                format!("Password must be at least {MIN_CHARS} characters."),
            ));
        }
        if chars > MAX_CHARS {
            return Err(AppError::field(
                "password",
                format!("Password must be at most {MAX_CHARS} characters."),
            ));
        }
        Ok(Password(raw))
    }

    /// Accepts a password typed at sign-in. Only emptiness is reported: any
    /// other rule would tell an attacker something, and a wrong password is
    /// simply wrong. Overlong input is cut off before it can cost hashing time.
    pub fn parse_attempt(raw: String) -> Result<Self, AppError> {
        if raw.is_empty() {
            return Err(AppError::field("password", "Enter your password."));
        }
        Ok(Password(raw.chars().take(MAX_CHARS + 1).collect()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_password_names_the_minimum_length() {
        let error = Password::parse_new("short".into()).unwrap_err();
        assert_eq!(
            error.field_message("password").unwrap(),
            "Password must be at least 12 characters."
        );
    }

    #[test]
    fn a_long_password_names_the_maximum_length() {
        let error = Password::parse_new("x".repeat(257)).unwrap_err();
        assert_eq!(
            error.field_message("password").unwrap(),
            "Password must be at most 256 characters."
        );
    }

    #[test]
    fn lengths_are_counted_in_characters_not_bytes() {
        assert!(Password::parse_new("é".repeat(12)).is_ok());
        assert!(Password::parse_new("é".repeat(256)).is_ok());
        assert!(Password::parse_new("é".repeat(11)).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let password = Password::parse_new("correct horse battery".into()).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn a_sign_in_attempt_only_needs_to_be_non_empty() {
        assert!(Password::parse_attempt("x".into()).is_ok());
        assert!(Password::parse_attempt(String::new()).is_err());
        let long = Password::parse_attempt("y".repeat(10_000)).unwrap();
        assert_eq!(long.expose().len(), MAX_CHARS + 1);
    }
}
