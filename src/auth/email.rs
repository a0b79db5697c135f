//! An email address, parsed once at the edge.

use crate::error::AppError;
use std::fmt;

const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

/// A syntactically valid, trimmed, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases `raw`, then checks its shape. Errors name the
    /// `email` field so forms can show them beside the input.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(AppError::field("email", "Enter your email address."));
        }
        if email.chars().count() > MAX_LEN {
            return Err(AppError::field(
                "email",
                format!("Email address must be at most {MAX_LEN} characters."),
            ));
        }
        if !is_well_formed(&email) {
            return Err(AppError::field(
                "email",
                "Enter a valid email address, like you@example.com.",
            ));
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_well_formed(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    is_valid_local_part(local) && is_valid_domain(domain)
}

fn is_valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
}

fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| is_valid_label(label))
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn common_valid_addresses_are_accepted() {
        for raw in [
            "a@b.io",
            "first.last+tag@sub.example.co.uk",
            "x_y-z@my-host.org",
        ] {
            assert!(Email::parse(raw).is_ok(), "{raw} should be valid");
        }
    }

    #[test]
    fn malformed_addresses_are_refused_with_a_message_for_the_email_field() {
        for raw in [
            "plainaddress",
            "@example.com",
            "user@",
            "user@localhost",
            "user@exa mple.com",
            "us er@example.com",
            "user@@example.com",
            "user@-example.com",
            "user@example.c0m",
            ".user@example.com",
            "user..name@example.com",
            "<script>@example.com",
        ] {
            let error = Email::parse(raw).unwrap_err();
            assert!(
                error.field_message("email").is_some(),
                "{raw} should be refused"
            );
        }
    }

    #[test]
    fn an_empty_email_asks_for_one() {
        let error = Email::parse("   ").unwrap_err();
        assert_eq!(
            error.field_message("email").unwrap(),
            "Enter your email address."
        );
    }

    #[test]
    fn an_overlong_email_is_refused() {
        let raw = format!("{}@example.com", "a".repeat(250));
        let error = Email::parse(&raw).unwrap_err();
        assert!(error
            .field_message("email")
            .unwrap()
            .contains("at most 254"));
    }
}
