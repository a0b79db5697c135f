//! Passkeys (WebAuthn, by webauthn-rs): several per user, named and
//! removable; a second factor, and a way to sign in without a password.
//! Every ceremony is two requests: the options go to the browser while
//! their server half waits in the database (any replica finishes it, once),
//! and the browser's answer is checked against it.

use super::{
    addresses::{actors_everywhere, events},
    identity::{Actor, ClientInfo, SignedIn},
    passkey_name::PasskeyName,
    service::Accounts,
    summary::{PasskeyPrompt, PasskeyView},
    totp::{new_recovery_codes, recovery_digest},
    Email, Password,
};
use crate::{
    audit::AuditAction,
    error::AppError,
    mail::message::{Mail, PRODUCT},
    shared::{clock::UnixMs, ids::UserId, link_token::LinkToken},
    storage::{CeremonyCaps, FactorChange, NewCeremony, NewPasskey, PasskeyInsert},
};
use serde::{de::DeserializeOwned, Serialize};
use std::{
    net::{IpAddr, Ipv6Addr},
    time::Duration,
};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

/// How long the browser has to answer a prompt.
const CEREMONY_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Prompts waiting at once: sign-ins in all and from one address (an
/// IPv6 /64 counting as one), enough for a busy office behind one address
/// and too few to fill the table; and additions per signed-in user, on a
/// budget of their own, so visitors cannot keep anyone from adding one.
const CEREMONY_CAPS: CeremonyCaps = CeremonyCaps {
    sign_ins: 10_000,
    sign_ins_per_address: 50,
    additions_per_user: 5,
};
/// Passkeys one user may hold.
pub const MAX_PASSKEYS: i64 = 20;

/// The relying party passkeys are made for: the site at `origin` (the
/// operator's public URL, else the page's own origin). WebAuthn binds a
/// passkey to a domain name, never to an IP address.
pub fn relying_party(origin: &str) -> Result<Webauthn, AppError> {
    let url = Url::parse(origin).map_err(|_| AppError::BadRequest("the page's origin".into()))?;
    let Some(domain) = url.domain() else {
        return Err(AppError::Conflict(
            "Passkeys need this server reached by a name (such as localhost or keys.example.com), not an IP address.".into(),
        ));
    };
    WebauthnBuilder::new(domain, &url)
        .and_then(|builder| builder.rp_name(PRODUCT).build())
        .map_err(|error| {
            tracing::error!(%error, origin, "cannot make passkeys for this origin");
            AppError::Internal
        })
}

/// The address a prompt counts against: an IPv4 address, an IPv6 /64 (a
/// single host may hold a whole one), or "unknown".
fn address_bucket(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(network))
        }
        Some(v4) => v4.to_string(),
        None => "unknown".into(),
    }
}

/// The storage key of a credential id.
fn credential_key(credential_id: &[u8]) -> String {
    hex::encode(credential_id)
}

fn not_recognised() -> AppError {
    AppError::Forbidden(
        "This passkey is not one Keysmith knows (it may have been removed). Sign in with your password, or choose another passkey.".into(),
    )
}

fn already_added() -> AppError {
    AppError::Conflict("This passkey is added already.".into())
}

fn answer_refused(error: impl std::fmt::Display) -> AppError {
    tracing::info!(%error, "a passkey's answer was refused");
    AppError::Conflict("The passkey's answer did not check out. Try again.".into())
}

fn unreadable_answer() -> AppError {
    AppError::BadRequest("the passkey's answer is not WebAuthn's JSON".into())
}

fn internal(error: impl std::fmt::Display) -> AppError {
    tracing::error!(%error, "passkey state unreadable");
    AppError::Internal
}

impl Accounts {
    pub async fn passkeys(&self, user_id: &UserId) -> Result<Vec<PasskeyView>, AppError> {
        Ok(self
            .0
            .db
            .passkeys_of(user_id)
            .await?
            .into_iter()
            .map(|row| PasskeyView {
                id: row.id,
                name: row.name,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
            })
            .collect())
    }

    /// The first half of adding a passkey, with the user's password (a
    /// passkey signs in alone: a session taken over must not be enough to
    /// add one): options asking the browser for a discoverable credential
    /// (so it also signs in without a password), never one of the user's
    /// own authenticators again.
    pub async fn begin_passkey(
        &self,
        actor: &Actor,
        origin: &str,
        current_password: String,
    ) -> Result<PasskeyPrompt, AppError> {
        let party = relying_party(origin)?;
        let password = Password::parse_attempt(current_password)
            .map_err(|e| e.for_field("current_password"))?;
        let user = self.check_own_password(actor, password).await?;
        let handle = self.passkey_handle(&user.id).await?;
        let existing = self
            .0
            .db
            .passkey_credentials_of(&user.id)
            .await?
            .iter()
            .map(|json| serde_json::from_str::<Passkey>(json).map(|p| p.cred_id().clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        let (mut options, state) = party
            .start_passkey_registration(handle, &user.email, &user.email, Some(existing))
            .map_err(internal)?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        self.keep_ceremony(Some(&user.id), &actor.client, &options, &state)
            .await
    }

    /// The second half: the browser's new credential, checked and kept
    /// under `name`. The user's first second factor comes with ten
    /// recovery codes, returned to show once (otherwise none).
    pub async fn add_passkey(
        &self,
        actor: &Actor,
        origin: &str,
        ceremony: &str,
        name: &str,
        answer: &str,
    ) -> Result<Vec<String>, AppError> {
        let name = PasskeyName::parse(name)?;
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(answer).map_err(|_| unreadable_answer())?;
        let party = relying_party(origin)?;
        let user_id = &actor.user.user_id;
        let state: PasskeyRegistration = self.take_ceremony(ceremony, Some(user_id)).await?;
        let passkey = match party.finish_passkey_registration(&answer, &state) {
            Ok(passkey) => passkey,
            // webauthn-rs refuses an excluded credential as one of an
            // algorithm not asked for: tell the user what happened.
            Err(_) if self.holds(user_id, &answer.raw_id).await? => return Err(already_added()),
            Err(error) => return Err(answer_refused(error)),
        };
        let user = self.user(user_id).await?;
        // Used only if this turns out to be the first second factor,
        // which the database decides under the user's lock.
        let codes = new_recovery_codes();
        let digests: Vec<String> = codes.iter().map(|code| recovery_digest(code)).collect();
        let actors = actors_everywhere(&self.0.db, user_id, &actor.client).await?;
        let notice = self.0.mailer.compose(
            &user.email,
            &Mail::PasskeyAdded {
                name: name.as_str().to_owned(),
            },
        );
        let change = FactorChange {
            events: &events(&actors, AuditAction::PasskeyAdded, Some(name.as_str())),
            notice: notice.as_ref(),
            switch_events: &events(&actors, AuditAction::TwoFactorEnabled, Some("a passkey")),
            switch_notice: None,
        };
        let id = crate::shared::clock::new_id("pk");
        let record = serde_json::to_string(&passkey).map_err(internal)?;
        let new = NewPasskey {
            id: &id,
            user_id,
            credential_id: &credential_key(passkey.cred_id()),
            name: name.as_str(),
            credential: &record,
            at: UnixMs::now(),
        };
        let inserted = self
            .0
            .db
            .insert_passkey(&new, MAX_PASSKEYS, &digests, &change)
            .await?;
        self.0.mailer.queued();
        match inserted {
            PasskeyInsert::Added { first_factor } => {
                tracing::info!(user_id = %user_id, first_factor, "passkey added");
                Ok(if first_factor { codes } else { Vec::new() })
            }
            PasskeyInsert::Known => Err(already_added()),
            PasskeyInsert::Full => Err(AppError::Conflict(format!(
                "You have {MAX_PASSKEYS} passkeys, the most one person may. Remove one first."
            ))),
        }
    }

    /// Removes one of the user's passkeys, with their password. Removing
    /// the last second factor turns two-factor sign-in off (mailed to them
    /// when mail is on) and forgets the recovery codes.
    pub async fn remove_passkey(
        &self,
        actor: &Actor,
        id: &str,
        current_password: String,
    ) -> Result<(), AppError> {
        let password = Password::parse_attempt(current_password)
            .map_err(|e| e.for_field("current_password"))?;
        let user = self.check_own_password(actor, password).await?;
        let name = self
            .0
            .db
            .passkeys_of(&user.id)
            .await?
            .into_iter()
            .find(|row| row.id == id)
            .ok_or(AppError::NotFound)?
            .name;
        let actors = actors_everywhere(&self.0.db, &user.id, &actor.client).await?;
        let notice = self.0.mailer.compose(&user.email, &Mail::TwoFactorDisabled);
        let change = FactorChange {
            events: &events(&actors, AuditAction::PasskeyRemoved, Some(&name)),
            notice: None,
            switch_events: &events(
                &actors,
                AuditAction::TwoFactorDisabled,
                Some("its last passkey removed"),
            ),
            switch_notice: notice.as_ref(),
        };
        let last_factor = self
            .0
            .db
            .delete_passkey(&user.id, id, &change)
            .await?
            .ok_or(AppError::NotFound)?;
        self.0.mailer.queued();
        tracing::info!(user_id = %user.id, last_factor, "passkey removed");
        Ok(())
    }

    /// The first half of signing in with a passkey: options that let the
    /// browser offer every passkey it holds for this site.
    pub async fn begin_passkey_sign_in(
        &self,
        origin: &str,
        client: &ClientInfo,
    ) -> Result<PasskeyPrompt, AppError> {
        let party = relying_party(origin)?;
        let (mut options, state) = party
            .start_discoverable_authentication()
            .map_err(internal)?;
        // Asked for by a button, not offered in the email field's menu.
        options.mediation = None;
        self.keep_ceremony(None, client, &options, &state).await
    }

    /// The second half: the passkey's signature checked against the key
    /// kept for it, then the user signed in as a password and second
    /// factor would (a passkey is both: the device, and the PIN or
    /// biometric that unlocked it). With `email` (a second step after the
    /// password), the passkey must be that user's.
    pub async fn sign_in_with_passkey(
        &self,
        origin: &str,
        ceremony: &str,
        answer: &str,
        email: Option<&str>,
        client: &ClientInfo,
    ) -> Result<SignedIn, AppError> {
        let answer: PublicKeyCredential =
            serde_json::from_str(answer).map_err(|_| unreadable_answer())?;
        let party = relying_party(origin)?;
        let state: DiscoverableAuthentication = self.take_ceremony(ceremony, None).await?;
        let (handle, credential_id) = party
            .identify_discoverable_authentication(&answer)
            .map_err(|_| not_recognised())?;
        let stored = self
            .0
            .db
            .passkey_by_credential_id(&credential_key(credential_id))
            .await?
            .filter(|stored| stored.passkey_handle.as_deref() == Some(&handle.to_string()))
            .ok_or_else(not_recognised)?;
        let mut passkey: Passkey = serde_json::from_str(&stored.credential).map_err(internal)?;
        let result = party
            .finish_discoverable_authentication_v2(&answer, state, &passkey)
            .map_err(|error| match error {
                WebauthnError::CredentialPossibleCompromise => {
                    tracing::warn!(user_id = %stored.user_id, passkey = %stored.id, "a passkey's counter went back: it may have been copied");
                    AppError::Forbidden("This passkey's answer looks copied from another device, so it was refused. Sign in with your password, and remove this passkey.".into())
                }
                error => answer_refused(error),
            })?;
        let user = self.user(&stored.user_id).await?;
        if let Some(email) = email {
            let typed = Email::parse(email)?;
            if !typed.as_str().eq_ignore_ascii_case(&user.email) {
                return Err(AppError::Forbidden(
                    "This passkey belongs to another account. Choose the passkey you added for this email.".into(),
                ));
            }
        }
        let updated = match passkey.update_credential(&result) == Some(true) {
            true => Some(serde_json::to_string(&passkey).map_err(internal)?),
            false => None,
        };
        if !self
            .0
            .db
            .passkey_used(
                &stored.id,
                &stored.credential,
                updated.as_deref(),
                UnixMs::now(),
            )
            .await?
        {
            // Removed, or used elsewhere, since it was read.
            return Err(AppError::Conflict(
                "This passkey changed while you used it. Try again.".into(),
            ));
        }
        tracing::info!(user_id = %user.id, "signed in with a passkey");
        self.enter(user, None, client).await
    }

    /// Whether the user has a passkey of this credential id.
    async fn holds(&self, user_id: &UserId, credential_id: &[u8]) -> Result<bool, AppError> {
        let stored = self
            .0
            .db
            .passkey_by_credential_id(&credential_key(credential_id))
            .await?;
        Ok(stored.is_some_and(|stored| &stored.user_id == user_id))
    }

    /// The user's passkey handle (a random UUID the authenticator keeps),
    /// drawn the first time they add a passkey.
    async fn passkey_handle(&self, user_id: &UserId) -> Result<Uuid, AppError> {
        let fresh = Uuid::new_v4().to_string();
        let handle = self.0.db.passkey_handle(user_id, &fresh).await?;
        Uuid::parse_str(&handle).map_err(internal)
    }

    async fn keep_ceremony(
        &self,
        user_id: Option<&UserId>,
        client: &ClientInfo,
        options: &impl Serialize,
        state: &impl Serialize,
    ) -> Result<PasskeyPrompt, AppError> {
        let handle = LinkToken::generate();
        let state = serde_json::to_string(state).map_err(internal)?;
        let options = serde_json::to_string(options).map_err(internal)?;
        let client_ip = address_bucket(client.ip);
        let now = UnixMs::now();
        let ceremony = NewCeremony {
            handle_digest: &handle.digest(),
            user_id,
            client_ip: &client_ip,
            state: &state,
            now,
            expires_at: now + CEREMONY_LIFETIME,
        };
        if !self
            .0
            .db
            .begin_passkey_ceremony(&ceremony, CEREMONY_CAPS)
            .await?
        {
            return Err(AppError::TooManyPasskeyPrompts {
                retry_after_minutes: CEREMONY_LIFETIME.as_secs() / 60,
            });
        }
        Ok(PasskeyPrompt {
            ceremony: handle.reveal(),
            options,
        })
    }

    async fn take_ceremony<S: DeserializeOwned>(
        &self,
        handle: &str,
        user_id: Option<&UserId>,
    ) -> Result<S, AppError> {
        let expired = || {
            AppError::Conflict(
                "This passkey prompt expired or was answered already. Try again.".into(),
            )
        };
        let handle = LinkToken::parse(handle).ok_or_else(expired)?;
        let state = self
            .0
            .db
            .take_passkey_ceremony(&handle.digest(), user_id, UnixMs::now())
            .await?
            .ok_or_else(expired)?;
        serde_json::from_str(&state).map_err(internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkeys_are_for_names_never_addresses() {
        assert!(relying_party("http://localhost:3000").is_ok());
        assert!(relying_party("https://keys.example.com").is_ok());
        assert!(matches!(
            relying_party("http://127.0.0.1:3000"),
            Err(AppError::Conflict(_))
        ));
        assert!(relying_party("not a url").is_err());
    }

    #[test]
    fn prompts_count_per_ipv4_address_and_per_ipv6_network() {
        let bucket = |ip: &str| address_bucket(Some(ip.parse().unwrap()));
        assert_eq!(bucket("203.0.113.7"), "203.0.113.7");
        assert_eq!(bucket("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:ffff::9"), bucket("2001:db8:1:2::1"));
        assert_ne!(bucket("2001:db8:1:3::1"), bucket("2001:db8:1:2::1"));
        assert_eq!(address_bucket(None), "unknown");
    }
}
