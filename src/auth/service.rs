//! The rules of accounts and signing in, under the server functions, the
//! REST API and the command line: one service value, its dependencies
//! handed in when the server is built.

use super::{
    addresses::AddressCheck,
    hashing::PasswordHasher,
    identity::{
        AccountlessUser, Actor, AuthenticatedUser, ClientInfo, Generations, Membership, Principal,
        SignedIn,
    },
    role::Role,
    strength,
    summary::{AccountChoice, UserSummary},
    throttle::{Throttle, ThrottlePolicy},
    token::{IssuedToken, TokenSigner},
    Email, Password,
};
use crate::{
    audit::AuditAction,
    error::AppError,
    mail::Mailer,
    shared::{
        clock::UnixMs,
        ids::{AccountId, UserId},
        sealed::Sealer,
    },
    storage::{Db, NewAccount, NewOwner, NewUser, OwnerCreated, UserRecord},
};
use std::sync::Arc;

#[derive(Clone)]
pub struct Accounts(pub(super) Arc<Parts>);

pub(super) struct Parts {
    pub(super) db: Db,
    pub(super) passwords: PasswordHasher,
    tokens: TokenSigner,
    throttle: ThrottlePolicy,
    signup_enabled: bool,
    pub(super) mailer: Mailer,
    /// Seals two-factor secrets at rest.
    pub(super) totp_sealer: Sealer,
}

impl Accounts {
    pub fn new(
        db: Db,
        passwords: PasswordHasher,
        tokens: TokenSigner,
        throttle: ThrottlePolicy,
        signup_enabled: bool,
        mailer: Mailer,
        totp_sealer: Sealer,
    ) -> Self {
        Accounts(Arc::new(Parts {
            db,
            passwords,
            tokens,
            throttle,
            signup_enabled,
            mailer,
            totp_sealer,
        }))
    }

    /// Whether visitors may create accounts (`KEYSMITH_ALLOW_SIGNUP`).
    pub fn signup_enabled(&self) -> bool {
        self.0.signup_enabled
    }

    pub(super) fn throttle(&self) -> Throttle<'_> {
        Throttle::new(&self.0.db, &self.0.throttle)
    }

    /// Public sign-up: refused when the operator switched it off, and
    /// counted against the address's sign-ups before any hashing work.
    pub async fn sign_up(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<Membership, AppError> {
        if !self.0.signup_enabled {
            return Err(AppError::Forbidden(
                "Sign-up is disabled on this server. Ask its administrator for an account.".into(),
            ));
        }
        let (email, password) = parse_new_credentials(email, password)?;
        self.throttle()
            .begin_sign_up(client.ip, UnixMs::now())
            .await?;
        let password_hash = self.0.passwords.hash_for_sign_up(password).await?;
        let check = self
            .mail_on()
            .then(|| AddressCheck::new(self, email.as_str()));
        let membership = insert_owner(
            &self.0.db,
            email,
            &password_hash,
            client,
            Vouched::No(check.as_ref()),
        )
        .await?;
        self.0.mailer.queued();
        Ok(membership)
    }

    /// What a user signing up on an invitation's page is created from: the
    /// invitation's email and their password, checked, counted against the
    /// address's sign-ups (before any hashing work) and hashed. Open to
    /// invitees even where public sign-up is off: an owner asked them.
    pub async fn new_invitee(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<(Email, String), AppError> {
        let (email, password) = parse_new_credentials(email, password)?;
        self.throttle()
            .begin_sign_up(client.ip, UnixMs::now())
            .await?;
        let password_hash = self.0.passwords.hash_for_sign_up(password).await?;
        Ok((email, password_hash))
    }

    /// Checks an email and password, and enters the account asked for (by
    /// default the first the user joined; a user who belongs to none is
    /// signed in without one). Every way of getting the password wrong
    /// (unknown email, wrong password) gives the same error after the same
    /// work. The attempt is counted before the password is checked. A user
    /// with two-factor sign-in also gives `otp`: a code from their app or a
    /// recovery code.
    pub async fn sign_in(
        &self,
        email: &str,
        password: String,
        otp: Option<&str>,
        account_id: Option<&AccountId>,
        client: &ClientInfo,
    ) -> Result<SignedIn, AppError> {
        let user = self.check_password(email, password, client).await?;
        self.check_second_factor(&user, otp, client).await?;
        self.enter(user, account_id, client).await
    }

    /// Signs a user whose credentials were checked into the account asked
    /// for (or their first, or none), recording the sign-in.
    pub(super) async fn enter(
        &self,
        user: UserRecord,
        account_id: Option<&AccountId>,
        client: &ClientInfo,
    ) -> Result<SignedIn, AppError> {
        let Some(member) = self.entry_membership(&user.id, account_id).await? else {
            tracing::info!(user_id = %user.id, "signed in without an account");
            return Ok(SignedIn::WithoutAccount(AccountlessUser {
                user_id: user.id,
                token_generation: user.token_generation,
            }));
        };
        let actor = Actor {
            user: member.user.clone(),
            client: client.clone(),
        };
        let now = UnixMs::now();
        self.0
            .db
            .record_sign_in(&user.id, now, &actor.event(AuditAction::SignedIn, None))
            .await?;
        tracing::info!(user_id = %user.id, account_id = %member.user.account_id, "signed in");
        Ok(SignedIn::Member(member))
    }

    /// The user with this email and password.
    async fn check_password(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<UserRecord, AppError> {
        let (email, password) = match (Email::parse(email), Password::parse_attempt(password)) {
            (Ok(email), Ok(password)) => (email, password),
            (email, password) => return Err(AppError::collect([email.err(), password.err()])),
        };
        let throttle = self.throttle();
        let attempt = throttle
            .begin_password_check(email.as_str(), client.ip, UnixMs::now())
            .await?;
        let user = self.0.db.user_by_email(email.as_str()).await?;
        let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
        if !self.0.passwords.verify(password, stored_hash).await? {
            if let Some(user) = user {
                self.record_failed_sign_in(&user.id, client).await?;
            }
            tracing::info!(ip = ?client.ip, "failed sign-in");
            return Err(AppError::InvalidCredentials);
        }
        throttle.succeeded(attempt).await?;
        user.ok_or(AppError::InvalidCredentials)
    }

    /// A failure against a known user is recorded in the first account
    /// they belong to (against an unknown email, in none).
    async fn record_failed_sign_in(
        &self,
        user_id: &UserId,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        let Some(first) = self.0.db.accounts_of(user_id).await?.into_iter().next() else {
            return Ok(());
        };
        let actor = Actor {
            user: AuthenticatedUser {
                user_id: user_id.clone(),
                account_id: first.account_id,
                role: Role::Viewer,
            },
            client: client.clone(),
        };
        self.record(&actor, AuditAction::SignInFailed).await
    }

    /// The membership a sign-in enters: the account asked for, or the
    /// first the user joined (`None` when they belong to no account).
    async fn entry_membership(
        &self,
        user_id: &UserId,
        account_id: Option<&AccountId>,
    ) -> Result<Option<Membership>, AppError> {
        let account_id = match account_id {
            Some(account_id) => account_id.clone(),
            None => match self.0.db.accounts_of(user_id).await?.into_iter().next() {
                Some(first) => first.account_id,
                None => return Ok(None),
            },
        };
        let member = self.membership(&account_id, user_id).await?;
        member
            .map(Some)
            .ok_or_else(|| AppError::Forbidden("You are not a member of this account.".into()))
    }

    /// Whether a session signed in without an account is still current:
    /// its user exists and has not signed out everywhere or changed the
    /// password since.
    pub async fn accountless_is_current(&self, user: &AccountlessUser) -> Result<bool, AppError> {
        let record = self.0.db.user_by_id(&user.user_id).await?;
        Ok(record.is_some_and(|r| r.token_generation == user.token_generation))
    }

    /// Makes an account for a user who belongs to none, with them as its
    /// owner (named for their email, as at sign-up). Refused once they
    /// belong to one, however many requests race.
    pub async fn create_own_account(
        &self,
        user: &AccountlessUser,
        client: &ClientInfo,
    ) -> Result<Membership, AppError> {
        let email = self.email_of(&user.user_id).await?;
        let actor = Actor {
            user: AuthenticatedUser {
                user_id: user.user_id.clone(),
                account_id: AccountId::new(),
                role: Role::Owner,
            },
            client: client.clone(),
        };
        let account = NewAccount {
            id: &actor.user.account_id,
            name: &email,
            owner_id: &user.user_id,
            now: UnixMs::now(),
        };
        let event = actor.event(AuditAction::AccountCreated, None);
        if self
            .0
            .db
            .create_own_account(&account, &event)
            .await?
            .is_none()
        {
            return Err(AppError::Conflict(
                "You belong to an account already. Sign in again to enter it.".into(),
            ));
        }
        tracing::info!(user_id = %user.user_id, account_id = %account.id, "account created");
        self.membership(account.id, &user.user_id)
            .await?
            .ok_or(AppError::Internal)
    }

    /// The user's membership of the account as a credential issued now
    /// would record it, if they are a member.
    pub async fn membership(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<Membership>, AppError> {
        let Some(check) = self.0.db.member_check(account_id, user_id).await? else {
            return Ok(None);
        };
        Ok(Some(Membership {
            user: AuthenticatedUser {
                user_id: user_id.clone(),
                account_id: account_id.clone(),
                role: check.role,
            },
            generations: Generations {
                user: check.token_generation,
                membership: check.generation,
            },
            must_enrol: check.must_enrol,
        }))
    }

    /// The one rule for whether a credential (session or bearer token) is
    /// current: its user is still a member of its account, and neither the
    /// user's token generation (signing out everywhere, a new password) nor
    /// the membership's (a new role) has moved on since it was issued. The
    /// member as they are now, or `None`.
    pub async fn current_user(
        &self,
        principal: &Principal,
        generations: Generations,
    ) -> Result<Option<Membership>, AppError> {
        let member = self
            .membership(&principal.account_id, &principal.user_id)
            .await?;
        Ok(member.filter(|member| member.generations == generations))
    }

    /// A bearer token for a member, of their current generations; none
    /// while their account requires two-factor sign-in they have not set up.
    pub fn issue_token(&self, member: &Membership) -> Result<IssuedToken, AppError> {
        if member.must_enrol {
            return Err(AppError::TwoFactorEnrolmentRequired);
        }
        self.0.tokens.issue(member, UnixMs::now().as_secs())
    }

    /// The user a bearer token speaks for, if it is ours and still current
    /// (and their account's two-factor requirement met).
    pub async fn token_user(&self, token: &str) -> Result<AuthenticatedUser, AppError> {
        let holder = self.0.tokens.check(token)?;
        let member = self
            .current_user(&holder.principal, holder.generations)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if member.must_enrol {
            return Err(AppError::TwoFactorEnrolmentRequired);
        }
        Ok(member.user)
    }

    /// Who the user is, where they act and where else they may.
    pub async fn summary(&self, user: &AuthenticatedUser) -> Result<UserSummary, AppError> {
        let record = self
            .0
            .db
            .user_by_id(&user.user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let email_verified = !self.address_unproven(&record);
        let must_enrol_two_factor = self
            .membership(&user.account_id, &user.user_id)
            .await?
            .is_some_and(|member| member.must_enrol);
        let accounts = self
            .0
            .db
            .accounts_of(&user.user_id)
            .await?
            .into_iter()
            .map(|a| AccountChoice {
                role: a.role,
                id: a.account_id.into(),
                name: a.account_name,
            })
            .collect();
        Ok(UserSummary {
            user_id: user.user_id.to_string(),
            email: record.email,
            email_verified,
            must_enrol_two_factor,
            account_id: user.account_id.to_string(),
            role: user.role,
            accounts,
        })
    }

    /// The user's email, or `Unauthenticated` if the user is gone.
    pub async fn email_of(&self, user_id: &UserId) -> Result<String, AppError> {
        let record = self.0.db.user_by_id(user_id).await?;
        record.map(|u| u.email).ok_or(AppError::Unauthenticated)
    }

    /// Records that the actor signed out of one session.
    pub async fn signed_out(&self, actor: &Actor) -> Result<(), AppError> {
        self.record(actor, AuditAction::SignedOut).await
    }

    /// Ends every session and bearer token of the user, this one included.
    pub async fn sign_out_everywhere(&self, actor: &Actor) -> Result<(), AppError> {
        let event = actor.event(AuditAction::SignedOutEverywhere, None);
        self.0
            .db
            .renew_credentials(&actor.user.user_id, None, &event)
            .await?;
        tracing::info!(user_id = %actor.user.user_id, "signed out everywhere");
        Ok(())
    }

    /// Replaces the password after checking the current one. Every other
    /// session and every bearer token ends; the caller signs this session
    /// in again.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: String,
        new: String,
    ) -> Result<(), AppError> {
        let (current, new) = match (Password::parse_attempt(current), Password::parse_new(new)) {
            (Ok(current), Ok(new)) => (current, new),
            (current, new) => {
                return Err(AppError::collect([
                    current.err().map(|e| e.for_field("current_password")),
                    new.err().map(|e| e.for_field("new_password")),
                ]))
            }
        };
        let record = self
            .0
            .db
            .user_by_id(&actor.user.user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        strength::check(&new, &record.email, "new_password")?;
        self.check_own_password(actor, current).await?;
        let hash = self.0.passwords.hash(new).await?;
        let event = actor.event(AuditAction::PasswordChanged, None);
        self.0
            .db
            .renew_credentials(&actor.user.user_id, Some(&hash), &event)
            .await?;
        tracing::info!(user_id = %actor.user.user_id, "password changed");
        Ok(())
    }

    /// Checks a signed-in user's own password before a change to their
    /// account, with the same limits as signing in: a stolen session must
    /// not be a way to guess the password at leisure.
    pub(super) async fn check_own_password(
        &self,
        actor: &Actor,
        password: Password,
    ) -> Result<UserRecord, AppError> {
        let record = self
            .0
            .db
            .user_by_id(&actor.user.user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let throttle = self.throttle();
        let attempt = throttle
            .begin_password_check(&record.email, actor.client.ip, UnixMs::now())
            .await?;
        let stored = Some(record.password_hash.clone());
        if !self.0.passwords.verify(password, stored).await? {
            return Err(AppError::field(
                "current_password",
                "Your current password is not correct.",
            ));
        }
        throttle.succeeded(attempt).await?;
        Ok(record)
    }

    /// An event that is not part of another change (signing in and out).
    async fn record(&self, actor: &Actor, action: AuditAction) -> Result<(), AppError> {
        self.0
            .db
            .record_audit_event(&actor.event(action, None))
            .await?;
        Ok(())
    }
}

/// Creates an account and its owner: the operator's command line, with no
/// sign-up switch or limit in the way.
pub async fn create_owner(
    db: &Db,
    passwords: &PasswordHasher,
    email: &str,
    password: String,
    client: &ClientInfo,
) -> Result<Membership, AppError> {
    let (email, password) = parse_new_credentials(email, password)?;
    let password_hash = passwords.hash(password).await?;
    insert_owner(db, email, &password_hash, client, Vouched::Yes).await
}

/// Whether a new user's address is known to be theirs: the operator vouches
/// for the users they make; a sign-up proves it with a link (when mail is
/// on).
enum Vouched<'a> {
    Yes,
    No(Option<&'a AddressCheck>),
}

/// Both fields are checked before either error is reported, so a form can
/// show every problem at once.
fn parse_new_credentials(email: &str, password: String) -> Result<(Email, Password), AppError> {
    match (Email::parse(email), Password::parse_new(password)) {
        (Ok(email), Ok(password)) => {
            strength::check(&password, email.as_str(), "password")?;
            Ok((email, password))
        }
        (email, password) => Err(AppError::collect([email.err(), password.err()])),
    }
}

async fn insert_owner(
    db: &Db,
    email: Email,
    password_hash: &str,
    client: &ClientInfo,
    vouched: Vouched<'_>,
) -> Result<Membership, AppError> {
    let actor = Actor {
        user: AuthenticatedUser {
            user_id: UserId::new(),
            account_id: AccountId::new(),
            role: Role::Owner,
        },
        client: client.clone(),
    };
    let user = &actor.user;
    let check_link = match &vouched {
        Vouched::No(Some(check)) => Some((
            check.link(&user.user_id, email.as_str()),
            check.mail.as_ref(),
        )),
        _ => None,
    };
    let created = db
        .create_account_with_owner(
            &NewOwner {
                account_id: &user.account_id,
                account_name: email.as_str(),
                user: NewUser {
                    id: &user.user_id,
                    email: email.as_str(),
                    password_hash,
                    now: UnixMs::now(),
                    email_verified: matches!(vouched, Vouched::Yes),
                },
            },
            &actor.event(AuditAction::SignedUp, None),
            check_link.as_ref().map(|(link, mail)| (link, *mail)),
        )
        .await?;
    match created {
        OwnerCreated::Created {
            membership_generation,
        } => {
            tracing::info!(user_id = %user.user_id, account_id = %user.account_id, "account created");
            Ok(Membership {
                user: actor.user,
                generations: Generations {
                    user: 0,
                    membership: membership_generation,
                },
                must_enrol: false,
            })
        }
        OwnerCreated::EmailTaken => Err(email_taken()),
    }
}

/// The answer to signing up with an email that has a user.
pub fn email_taken() -> AppError {
    AppError::field(
        "email",
        "An account with this email already exists. Sign in instead.",
    )
}
