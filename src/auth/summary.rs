//! The signed-in user as the dashboard and `GET /api/v2/me` show them: who
//! they are, where they act, with which role, and where else they may.

use super::role::Role;
use crate::shared::clock::UnixMs;
use serde::{Deserialize, Serialize};

/// The signed-in user, as the dashboard shows them: who they are, the
/// account they act in and their role there, and every account they may
/// switch to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub user_id: String,
    pub email: String,
    /// False while the user must still confirm their address (only while
    /// the server sends mail); keys wait for it.
    pub email_verified: bool,
    /// The account requires two-factor sign-in, which the user must still
    /// set up before they reach more than the Account page.
    pub must_enrol_two_factor: bool,
    pub account_id: String,
    pub role: Role,
    /// In the order the user joined them.
    pub accounts: Vec<AccountChoice>,
}

impl UserSummary {
    /// The name of the account the user acts in.
    pub fn account_name(&self) -> &str {
        self.accounts
            .iter()
            .find(|a| a.id == self.account_id)
            .map(|a| a.name.as_str())
            .unwrap_or_default()
    }
}

/// One of the user's accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountChoice {
    pub id: String,
    pub name: String,
    /// The user's role there.
    pub role: Role,
}

/// Whether the user signs in with a second factor, as the Account page
/// shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoFactorState {
    /// An authenticator app (TOTP) is set up.
    pub totp: bool,
    /// In the order they were added.
    pub passkeys: Vec<PasskeyView>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

impl TwoFactorState {
    /// Whether signing in with the password takes a second factor.
    pub fn on(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }
}

/// One of the user's passkeys, as the Account page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: UnixMs,
    pub last_used_at: Option<UnixMs>,
}

/// A passkey ceremony's first half, for the browser: the options to hand
/// to `navigator.credentials` (WebAuthn's JSON) and the handle that names
/// the server's half when the answer comes back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyPrompt {
    pub ceremony: String,
    pub options: String,
}

/// An authenticator app's enrolment, shown once: the QR code (SVG, drawn
/// on the server), the secret as text, and the URI they both carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEnrolment {
    pub qr_svg: String,
    pub secret: String,
    pub uri: String,
}

/// One of the user's browser sessions, as the Account page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// What ends it (not the session's cookie).
    pub id: String,
    /// "Chrome on Linux", from its user agent.
    pub device: String,
    pub address: Option<String>,
    pub signed_in_at: UnixMs,
    pub last_active_at: UnixMs,
    /// The session this page is seen in.
    pub current: bool,
}

/// A bearer token issued to the user recently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub account_id: String,
    pub device: String,
    pub address: Option<String>,
    pub issued_at: UnixMs,
    pub expires_at: UnixMs,
}

/// Where the user is signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInList {
    pub sessions: Vec<SessionView>,
    pub tokens: Vec<TokenView>,
}
