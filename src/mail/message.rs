//! What Keysmith emails, and how each message reads: plain text and HTML,
//! with the product's name and links that start at the public URL.

use crate::shared::clock::UnixMs;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The product's name, as every message signs it.
pub const PRODUCT: &str = "Keysmith";
/// How long a password reset link works.
pub const RESET_LINK_MINUTES: i64 = 60;
/// How long a link that confirms an address works.
pub const VERIFY_LINK_HOURS: i64 = 24;

/// One message's fields: what is sealed in the outbox until it is sent.
/// Its `Debug` shows the kind alone, never a link's token.
#[derive(Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    PasswordReset {
        token: String,
    },
    VerifyEmail {
        token: String,
    },
    Invitation {
        token: String,
        account: String,
        invited_by: String,
        role: String,
        days: i64,
    },
    TwoFactorDisabled,
    PasskeyAdded {
        name: String,
    },
    NewSignIn {
        device: String,
        address: String,
    },
    KeyExpiring {
        key_id: String,
        key: String,
        account: String,
        expires_at: UnixMs,
        /// "a week", "a day".
        within: String,
    },
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mail({})", self.kind())
    }
}

/// A message ready for the wire.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The outbox's name for it (kept after the fields are forgotten).
    pub fn kind(&self) -> &'static str {
        match self {
            Mail::PasswordReset { .. } => "password_reset",
            Mail::VerifyEmail { .. } => "verify_email",
            Mail::Invitation { .. } => "invitation",
            Mail::TwoFactorDisabled => "two_factor_disabled",
            Mail::PasskeyAdded { .. } => "passkey_added",
            Mail::NewSignIn { .. } => "new_sign_in",
            Mail::KeyExpiring { .. } => "key_expiring",
        }
    }

    /// The message, its links starting at `origin` (the public URL).
    pub fn render(&self, origin: &str) -> Rendered {
        match self {
            Mail::PasswordReset { token } => Letter {
                subject: format!("Reset your {PRODUCT} password"),
                paragraphs: vec![
                    format!("Someone, hopefully you, asked to reset the password of your {PRODUCT} account at {origin}."),
                    format!("To choose a new password, open this link within {RESET_LINK_MINUTES} minutes. It works once."),
                ],
                action: ("Choose a new password", format!("{origin}/reset-password?token={token}")),
                closing: "If you did not ask, ignore this email: your password stays as it is.".into(),
            },
            Mail::VerifyEmail { token } => Letter {
                subject: format!("Confirm your email address for {PRODUCT}"),
                paragraphs: vec![
                    format!("Confirm that this is your address to create API keys on {PRODUCT} at {origin}."),
                    format!("The link works once, within {VERIFY_LINK_HOURS} hours."),
                ],
                action: ("Confirm my address", format!("{origin}/verify-email?token={token}")),
                closing: "If you did not sign up, ignore this email.".into(),
            },
            Mail::Invitation { token, account, invited_by, role, days } => Letter {
                subject: format!("{invited_by} invited you to {account} on {PRODUCT}"),
                paragraphs: vec![
                    format!("{invited_by} invited you to join the account {account} on {PRODUCT} at {origin}, as {role}."),
                    format!("The invitation works for {days} days."),
                ],
                action: ("Accept the invitation", format!("{origin}/invite/{token}")),
                closing: "If you did not expect it, ignore this email.".into(),
            },
            Mail::KeyExpiring { key_id, key, account, expires_at, within } => Letter {
                subject: format!("API key \"{key}\" expires within {within}"),
                paragraphs: vec![
                    format!("The API key \"{key}\" of {account} on {PRODUCT} expires at {}.", utc(*expires_at)),
                    "After that, every request made with it is refused. Rotate it, or make a new key and move its users to it, before then.".into(),
                ],
                action: ("Open the key", format!("{origin}/dashboard/api-keys/{key_id}")),
                closing: "You get this email as an owner or admin of the account, or as the key's maker: a week and a day before a key expires.".into(),
            },
            Mail::NewSignIn { device, address } => Letter {
                subject: format!("New sign-in to your {PRODUCT} account"),
                paragraphs: vec![
                    format!("Your {PRODUCT} account at {origin} was just signed in to from a device it was never used on before: {device}, from {address}."),
                    "If that was you, nothing more is needed. If not, sign out that session on your Account page and change your password.".into(),
                ],
                action: ("Review where you are signed in", format!("{origin}/dashboard/account#sessions")),
                closing: "You get this email for each new device.".into(),
            },
            Mail::PasskeyAdded { name } => Letter {
                subject: format!("A passkey was added to your {PRODUCT} account"),
                paragraphs: vec![
                    format!("A passkey named \u{201c}{name}\u{201d} was just added to your {PRODUCT} account at {origin}. It signs in without your password."),
                    "If that was you, nothing more is needed. If not, remove it on your Account page at once, change your password, and sign out everywhere else.".into(),
                ],
                action: ("Review your passkeys", format!("{origin}/dashboard/account#passkeys")),
                closing: "You get this email whenever a passkey is added.".into(),
            },
            Mail::TwoFactorDisabled => Letter {
                subject: format!("Two-factor sign-in was turned off for your {PRODUCT} account"),
                paragraphs: vec![
                    format!("Two-factor sign-in was just turned off for your {PRODUCT} account at {origin}: your password alone now signs you in."),
                    "If that was you, nothing more is needed. If not, reset your password at once and turn two-factor sign-in on again.".into(),
                ],
                action: ("Review your account", format!("{origin}/dashboard/account")),
                closing: "You get this email whenever two-factor sign-in is turned off.".into(),
            },
        }
        .render()
    }
}

/// A message's parts: paragraphs, one link to act on, a closing line.
struct Letter {
    subject: String,
    paragraphs: Vec<String>,
    action: (&'static str, String),
    closing: String,
}

impl Letter {
    fn render(self) -> Rendered {
        let (label, link) = &self.action;
        let mut text = String::new();
        for paragraph in &self.paragraphs {
            text.push_str(paragraph);
            text.push_str("\n\n");
        }
        text.push_str(&format!(
            "{label}:\n{link}\n\n{}\n\n{PRODUCT}\n",
            self.closing
        ));
        let mut html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#1f2328\">",
            escape(&self.subject)
        );
        for paragraph in &self.paragraphs {
            html.push_str(&format!("<p>{}</p>", escape(paragraph)));
        }
        html.push_str(&format!(
            "<p><a href=\"{link}\" style=\"display:inline-block;padding:8px 16px;background:#0b57d0;\
             color:#fff;border-radius:6px;text-decoration:none\">{label}</a></p>\
             <p style=\"font-size:13px;color:#59636e\">Or paste this link into your browser: {link}</p>\
             <p>{}</p><p>{PRODUCT}</p></body></html>",
            escape(&self.closing),
            link = escape(link),
            label = escape(label),
        ));
        Rendered {
            subject: self.subject,
            text,
            html,
        }
    }
}

/// A moment as the mail says it: `2026-12-12 14:37 UTC`.
fn utc(at: UnixMs) -> String {
    let minutes = at.minute_of_day();
    format!(
        "{} {:02}:{:02} UTC",
        at.day().iso_date(),
        minutes / 60,
        minutes % 60
    )
}

/// Text as HTML shows it: account names and emails are anyone's to choose.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_message_links_to_the_public_url_in_text_and_html() {
        let mail = Mail::PasswordReset {
            token: "ab".repeat(32),
        };
        let rendered = mail.render("https://keys.example.com");
        let link = format!(
            "https://keys.example.com/reset-password?token={}",
            "ab".repeat(32)
        );
        assert_eq!(rendered.subject, "Reset your Keysmith password");
        assert!(rendered.text.contains(&link), "{}", rendered.text);
        assert!(rendered.html.contains(&format!("href=\"{link}\"")));
        assert!(rendered.text.contains("60 minutes"));
    }

    #[test]
    fn names_from_users_are_escaped_in_html() {
        let mail = Mail::Invitation {
            token: "0".repeat(64),
            account: "<script>alert(1)</script>".into(),
            invited_by: "ada@example.com".into(),
            role: "developer".into(),
            days: 7,
        };
        let rendered = mail.render("http://localhost:3000");
        assert!(!rendered.html.contains("<script>"));
        assert!(rendered.html.contains("&lt;script&gt;"));
        assert!(rendered.text.contains("/invite/"));
    }

    #[test]
    fn an_expiry_warning_names_the_key_its_moment_and_links_to_it() {
        let mail = Mail::KeyExpiring {
            key_id: "key_1".into(),
            key: "CI deploys".into(),
            account: "Acme".into(),
            expires_at: UnixMs::from_millis(1_796_480_000_000),
            within: "a day".into(),
        };
        let rendered = mail.render("https://keys.example.com");
        assert_eq!(
            rendered.subject,
            "API key \"CI deploys\" expires within a day"
        );
        assert!(rendered.text.contains("2026-12-05 "), "{}", rendered.text);
        assert!(rendered
            .text
            .contains("https://keys.example.com/dashboard/api-keys/key_1"));
    }

    #[test]
    fn debug_never_shows_a_token() {
        let mail = Mail::VerifyEmail {
            token: "f".repeat(64),
        };
        assert_eq!(format!("{mail:?}"), "Mail(verify_email)");
    }
}
