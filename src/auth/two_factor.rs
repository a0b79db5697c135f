//! Two-factor sign-in with an authenticator app (TOTP): enrolment with a QR
//! code and a first code, ten one-time recovery codes, the second step of
//! signing in, and turning it off (with the password and a code).

use super::{
    addresses::{actors_everywhere, events},
    identity::{Actor, ClientInfo},
    role::Role,
    service::Accounts,
    summary::{TotpEnrolment, TwoFactorState},
    totp::{looks_like_totp, new_recovery_codes, recovery_digest, TotpSecret},
    Email, Password,
};
use crate::{
    audit::AuditAction,
    error::AppError,
    mail::message::{Mail, PRODUCT},
    shared::{
        clock::UnixMs,
        ids::{AccountId, UserId},
    },
    storage::{Db, FactorChange, UserRecord},
};
use qrcode::{render::svg, QrCode};

impl Accounts {
    pub async fn two_factor_status(&self, user_id: &UserId) -> Result<TwoFactorState, AppError> {
        let row = self.0.db.totp_row(user_id).await?;
        Ok(TwoFactorState {
            totp: row.totp_enabled_at.is_some(),
            passkeys: self.passkeys(user_id).await?,
            recovery_codes_left: self.0.db.recovery_codes_left(user_id).await?,
        })
    }

    /// A new secret for the user's app, kept until its first code confirms
    /// it: the QR code and the secret as text, shown once.
    pub async fn begin_totp(&self, actor: &Actor) -> Result<TotpEnrolment, AppError> {
        let user_id = &actor.user.user_id;
        let user = self.user(user_id).await?;
        if user.totp_enabled_at.is_some() {
            return Err(AppError::Conflict(
                "Two-factor sign-in is on already. Turn it off first to set up another app.".into(),
            ));
        }
        let secret = TotpSecret::generate();
        let sealed = self.0.totp_sealer.seal(user_id.as_str(), secret.as_bytes());
        self.0.db.set_pending_totp(user_id, &sealed).await?;
        let uri = secret.uri(PRODUCT, &user.email);
        Ok(TotpEnrolment {
            qr_svg: qr_svg(&uri),
            secret: secret.as_text(),
            uri,
        })
    }

    /// Turns two-factor sign-in on once a code from the new app matches:
    /// the ten recovery codes, to show once.
    pub async fn enable_totp(&self, actor: &Actor, code: &str) -> Result<Vec<String>, AppError> {
        let user_id = &actor.user.user_id;
        let row = self.0.db.totp_row(user_id).await?;
        let Some(sealed) = row.totp_pending else {
            return Err(AppError::Conflict(
                "Start again: scan a new QR code first.".into(),
            ));
        };
        let secret = self.open_totp(user_id, &sealed)?;
        let step = secret
            .step_of(code, UnixMs::now().as_secs())
            .ok_or_else(|| AppError::field("code", "This code does not match. Check the app's clock, and enter the code it shows now."))?;
        let codes = new_recovery_codes();
        let digests: Vec<String> = codes.iter().map(|code| recovery_digest(code)).collect();
        let actors = actors_everywhere(&self.0.db, user_id, &actor.client).await?;
        let events = events(&actors, AuditAction::TwoFactorEnabled, None);
        if !self
            .0
            .db
            .enable_totp(user_id, &sealed, step, &digests, &events)
            .await?
        {
            return Err(AppError::Conflict(
                "Start again: another setup began meanwhile.".into(),
            ));
        }
        tracing::info!(user_id = %user_id, "two-factor sign-in turned on");
        Ok(codes)
    }

    /// Turns two-factor sign-in off, with the password and a code (from the
    /// app or a recovery code); mailed to the user when mail is on.
    pub async fn disable_totp(
        &self,
        actor: &Actor,
        current_password: String,
        code: &str,
    ) -> Result<(), AppError> {
        let password = Password::parse_attempt(current_password)
            .map_err(|e| e.for_field("current_password"))?;
        let user = self.check_own_password(actor, password).await?;
        if user.totp_enabled_at.is_none() {
            return Err(AppError::Conflict(
                "Two-factor sign-in is off already.".into(),
            ));
        }
        self.check_second_factor(&user, Some(code), &actor.client)
            .await
            .map_err(|e| e.for_field("code"))?;
        let actors = actors_everywhere(&self.0.db, &user.id, &actor.client).await?;
        let notice = self.0.mailer.compose(&user.email, &Mail::TwoFactorDisabled);
        // Mailed only when no passkey is left to sign in with.
        let change = FactorChange {
            events: &events(&actors, AuditAction::TwoFactorDisabled, None),
            notice: None,
            switch_events: &[],
            switch_notice: notice.as_ref(),
        };
        self.0.db.disable_totp(&user.id, &change).await?;
        self.0.mailer.queued();
        tracing::info!(user_id = %user.id, "two-factor sign-in turned off");
        Ok(())
    }

    /// Whether the account requires two-factor sign-in of every member.
    pub async fn two_factor_required(&self, account_id: &AccountId) -> Result<bool, AppError> {
        Ok(self.0.db.two_factor_required(account_id).await?)
    }

    /// Requires two-factor sign-in of every member of the actor's account,
    /// or stops (owners only). An owner requiring it has it: they must not
    /// be the first locked out. Members without it are sent to set it up.
    pub async fn require_two_factor(&self, actor: &Actor, required: bool) -> Result<(), AppError> {
        actor.user.role.require(Role::REQUIRE_TWO_FACTOR)?;
        if required && !self.user(&actor.user.user_id).await?.has_two_factor() {
            return Err(AppError::Conflict(
                "Set up two-factor sign-in for yourself first, then require it of everyone.".into(),
            ));
        }
        let action = match required {
            true => AuditAction::AccountTwoFactorRequired,
            false => AuditAction::AccountTwoFactorOptional,
        };
        let event = actor.event(action, None);
        self.0
            .db
            .require_two_factor(&actor.user.account_id, required, &event)
            .await?;
        tracing::info!(account_id = %actor.user.account_id, required, "two-factor requirement changed");
        Ok(())
    }

    /// The second step of signing in, for a user who set it up: a code
    /// from their app (each accepted once: never a step at or before the
    /// last one accepted) or one of their recovery codes (each once).
    /// Counted as a password check is, so codes cannot be guessed at
    /// leisure.
    pub(super) async fn check_second_factor(
        &self,
        user: &UserRecord,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        if !user.has_two_factor() {
            return Ok(());
        }
        let Some(code) = code.map(str::trim).filter(|code| !code.is_empty()) else {
            return Err(AppError::SecondFactorRequired);
        };
        let throttle = self.throttle();
        let now = UnixMs::now();
        let attempt = throttle
            .begin_password_check(&user.email, client.ip, now)
            .await?;
        let accepted = if looks_like_totp(code) {
            // No app (passkeys alone): an app's code is simply wrong.
            match self.0.db.totp_row(&user.id).await?.totp_secret {
                Some(sealed) => {
                    let secret = self.open_totp(&user.id, &sealed)?;
                    match secret.step_of(code, now.as_secs()) {
                        Some(step) => self.0.db.accept_totp_step(&user.id, step).await?,
                        None => false,
                    }
                }
                None => false,
            }
        } else {
            self.0
                .db
                .use_recovery_code(&user.id, &recovery_digest(code), now)
                .await?
        };
        if !accepted {
            tracing::info!(user_id = %user.id, "wrong second factor");
            return Err(AppError::field(
                "otp",
                "This code is not right, or was used already. Enter the next code your app shows, or a recovery code.",
            ));
        }
        throttle.succeeded(attempt).await?;
        Ok(())
    }

    fn open_totp(&self, user_id: &UserId, sealed: &str) -> Result<TotpSecret, AppError> {
        let bytes = self.0.totp_sealer.open(user_id.as_str(), sealed).ok_or_else(|| {
            tracing::error!(user_id = %user_id, "a two-factor secret cannot be opened: was the server's secret changed?");
            AppError::Internal
        })?;
        Ok(TotpSecret::from_bytes(bytes))
    }

    pub(super) async fn user(&self, user_id: &UserId) -> Result<UserRecord, AppError> {
        self.0
            .db
            .user_by_id(user_id)
            .await?
            .ok_or(AppError::Unauthenticated)
    }
}

/// For a user who lost their app, passkeys and recovery codes: the
/// operator turns two-factor sign-in off from the command line, removing
/// every second factor (audited as by the operator).
pub async fn operator_disable_two_factor(db: &Db, email: &str) -> Result<(), AppError> {
    let email = Email::parse(email)?;
    let user = db
        .user_by_email(email.as_str())
        .await?
        .ok_or_else(|| AppError::field("email", "No user has this email."))?;
    if !user.has_two_factor() {
        return Err(AppError::Conflict(
            "Two-factor sign-in is off for this user already.".into(),
        ));
    }
    let actors = actors_everywhere(db, &user.id, &ClientInfo::default()).await?;
    let events = events(
        &actors,
        AuditAction::TwoFactorDisabled,
        Some("by the operator"),
    );
    db.remove_second_factors(&user.id, &events).await?;
    Ok(())
}

/// The QR code of `uri` as an SVG document, drawn here so no third party
/// ever sees the secret.
fn qr_svg(uri: &str) -> String {
    QrCode::new(uri.as_bytes())
        .expect("an otpauth URI fits a QR code")
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build()
}
