//! Where a person is signed in: each browser session (device, address,
//! when it began, when it was last used) and the bearer tokens issued to
//! them, each one they can end; and a mail when they sign in from a device
//! they never used before.

use super::{
    identity::{Actor, ClientInfo, Membership},
    service::Accounts,
    summary::{SessionView, TokenView},
    token::IssuedToken,
};
use crate::{
    audit::AuditAction,
    error::AppError,
    mail::message::Mail,
    shared::{
        clock::{new_id, UnixMs, DAY},
        ids::UserId,
    },
    storage::NewSignIn,
};
use std::time::Duration;

/// How long issued tokens are listed (and kept).
const TOKENS_LISTED: Duration = DAY;

impl Accounts {
    /// Records a browser session that just began (its key is in the
    /// session's data); mails the user when it is from a device they never
    /// signed in from before.
    pub async fn start_session(
        &self,
        key: &str,
        user_id: &UserId,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        let device = device_of(client.user_agent.as_deref());
        let ip = client.ip.map(|ip| ip.to_string());
        let now = UnixMs::now();
        let sign_in = NewSignIn {
            id: key,
            user_id,
            device: &device,
            client_ip: ip.as_deref(),
            at: now,
        };
        let new_device = self.0.db.start_user_session(&sign_in).await?;
        if new_device && self.mail_on() {
            let email = self.email_of(user_id).await?;
            let notice = Mail::NewSignIn {
                device,
                address: ip.unwrap_or_else(|| "an unknown address".into()),
            };
            if let Some(mail) = self.0.mailer.compose(&email, &notice) {
                self.0.db.queue_mail(&mail).await?;
                self.0.mailer.queued();
            }
        }
        Ok(())
    }

    /// Whether the session `key` of the user is still one they have not
    /// ended (from another one, or everywhere). A session without a record
    /// (its database restored from before it began) is recorded again.
    pub async fn session_live(
        &self,
        key: &str,
        user_id: &UserId,
        client: &ClientInfo,
    ) -> Result<bool, AppError> {
        match self.0.db.user_session_ended(key, user_id).await? {
            Some(ended) => Ok(!ended),
            None => {
                self.start_session(key, user_id, client).await?;
                Ok(true)
            }
        }
    }

    /// Notes that the session was used now, from `client`.
    pub async fn session_used(&self, key: &str, client: &ClientInfo) -> Result<(), AppError> {
        let ip = client.ip.map(|ip| ip.to_string());
        Ok(self
            .0
            .db
            .touch_user_session(key, UnixMs::now(), ip.as_deref())
            .await?)
    }

    /// The user's sessions, `current` marked, and the tokens issued to
    /// them in the last day.
    pub async fn sign_ins(
        &self,
        user_id: &UserId,
        current: Option<&str>,
    ) -> Result<(Vec<SessionView>, Vec<TokenView>), AppError> {
        let sessions = self
            .0
            .db
            .user_sessions(user_id)
            .await?
            .into_iter()
            .map(|row| SessionView {
                current: current == Some(row.id.as_str()),
                id: row.id,
                device: row.device,
                address: row.client_ip,
                signed_in_at: row.signed_in_at,
                last_active_at: row.last_active_at,
            })
            .collect();
        let since = UnixMs::now() - TOKENS_LISTED;
        let tokens = self
            .0
            .db
            .recent_tokens(user_id, since)
            .await?
            .into_iter()
            .map(|row| TokenView {
                account_id: row.account_id,
                device: row.device,
                address: row.client_ip,
                issued_at: row.issued_at,
                expires_at: row.expires_at,
            })
            .collect();
        Ok((sessions, tokens))
    }

    /// Ends one of the user's sessions: it is signed out at its next
    /// request. Audited.
    pub async fn end_session(&self, actor: &Actor, key: &str) -> Result<(), AppError> {
        let ended = self
            .0
            .db
            .end_user_session(&actor.user.user_id, key, UnixMs::now())
            .await?;
        if ended == 0 {
            return Err(AppError::NotFound);
        }
        self.0
            .db
            .record_audit_event(&actor.event(AuditAction::SessionEnded, None))
            .await?;
        Ok(())
    }

    /// Ends every session of the user (the caller starts this one again)
    /// and every bearer token: "sign out everywhere else".
    pub async fn sign_out_everywhere_else(&self, actor: &Actor) -> Result<(), AppError> {
        let event = actor.event(AuditAction::SignedOutEverywhereElse, None);
        self.0
            .db
            .renew_credentials(&actor.user.user_id, None, &event)
            .await?;
        Ok(())
    }

    /// Ends the session `key` without an event of its own (signing out
    /// records one; a session that ended is only being tidied).
    pub async fn forget_session(&self, key: &str, user_id: &UserId) -> Result<(), AppError> {
        self.0
            .db
            .end_user_session(user_id, key, UnixMs::now())
            .await?;
        Ok(())
    }

    /// A bearer token for a member, recorded where they can see it.
    pub async fn issue_recorded_token(
        &self,
        member: &Membership,
        client: &ClientInfo,
    ) -> Result<IssuedToken, AppError> {
        let issued = self.issue_token(member)?;
        let device = device_of(client.user_agent.as_deref());
        let ip = client.ip.map(|ip| ip.to_string());
        let now = UnixMs::now();
        let record = NewSignIn {
            id: &new_id("tok"),
            user_id: &member.user.user_id,
            device: &device,
            client_ip: ip.as_deref(),
            at: now,
        };
        let expires_at = now + Duration::from_secs(issued.expires_in);
        self.0
            .db
            .record_token(&record, member.user.account_id.as_str(), expires_at)
            .await?;
        Ok(issued)
    }
}

/// What a person calls the device a user agent names: "Chrome on Linux",
/// "curl", or "Unknown device".
pub fn device_of(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "Unknown device".into();
    };
    let has = |needle: &str| agent.contains(needle);
    let browser = if has("Edg/") {
        Some("Edge")
    } else if has("OPR/") {
        Some("Opera")
    } else if has("Firefox/") {
        Some("Firefox")
    } else if has("Chrome/") || has("Chromium/") || has("HeadlessChrome/") {
        Some("Chrome")
    } else if has("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let system = if has("Android") {
        Some("Android")
    } else if has("iPhone") || has("iPad") {
        Some("iOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.into(),
        (None, Some(system)) => format!("A browser on {system}"),
        // Scripts and tools name themselves first: "curl/8.5.0".
        (None, None) => agent
            .split(['/', ' '])
            .next()
            .filter(|name| !name.is_empty())
            .map(|name| name.chars().take(40).collect())
            .unwrap_or_else(|| "Unknown device".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_as_people_call_them() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(device_of(Some(chrome)), "Chrome on Linux");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device_of(Some(safari)), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(device_of(Some(edge)), "Edge on Windows");
        assert_eq!(device_of(Some("curl/8.5.0")), "curl");
        assert_eq!(device_of(None), "Unknown device");
        assert_eq!(device_of(Some("  ")), "Unknown device");
    }
}
