//! What a new password may not be, beyond its length: one of the 100,000
//! passwords most often found in breaches, or the account's own email.
//!
//! The list is SecLists' `10-million-password-list-top-100000.txt` (MIT
//! licence), lower-cased, de-duplicated and sorted, so it is searched in
//! place; it is compiled into the server only, never into the browser's wasm.

use super::{hashing::normalize, Password};
use crate::error::AppError;
use std::sync::OnceLock;

const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn common_passwords() -> &'static [&'static str] {
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| COMMON_PASSWORDS.lines().collect())
}

/// Refuses `password` for the account of `email`; the error names `field`.
pub fn check(password: &Password, email: &str, field: &str) -> Result<(), AppError> {
    let candidate = normalize(password.expose()).to_lowercase();
    if candidate.trim() == email.trim().to_lowercase() {
        return Err(AppError::field(
            field,
            "Your password cannot be your email address.",
        ));
    }
    if common_passwords()
        .binary_search(&candidate.as_str())
        .is_ok()
    {
        return Err(AppError::field(
            field,
            "This password is one of the most common ones, which attackers try first. \
             Choose another.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(raw: &str) -> Password {
        Password::parse_new(raw.into()).unwrap()
    }

    #[test]
    fn the_list_holds_a_hundred_thousand_passwords_in_search_order() {
        let list = common_passwords();
        assert!(list.len() > 95_000, "{}", list.len());
        assert!(
            list.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted, no duplicates"
        );
    }

    #[test]
    fn a_common_password_is_refused_whatever_its_case() {
        for common in ["1234567890qwerty", "qwertyuiop123", "Password1234"] {
            let error = check(&new(common), "ada@example.com", "password").unwrap_err();
            assert!(
                error
                    .field_message("password")
                    .unwrap()
                    .contains("most common"),
                "{common}"
            );
        }
        assert!(check(
            &new("correct horse battery staple"),
            "ada@example.com",
            "password"
        )
        .is_ok());
    }

    #[test]
    fn the_email_itself_is_refused() {
        let error = check(
            &new("Ada.Lovelace@Example.com"),
            "ada.lovelace@example.com",
            "new_password",
        )
        .unwrap_err();
        assert!(error
            .field_message("new_password")
            .unwrap()
            .contains("email"));
    }
}
