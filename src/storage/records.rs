//! What the services and the storage backends exchange: plain rows and
//! inputs, the same whichever backend holds the data.

use crate::shared::{
    clock::{Day, UnixMs, HOUR},
    ids::{AccountId, ActorId, InvitationId, KeyId, UserId},
    key_type::KeyType,
    role::Role,
};

// API keys

/// A key as stored, minus its digests, with the users who created, last
/// changed and revoked it, and their emails while they are members.
#[derive(sqlx::FromRow)]
pub struct KeyRecord {
    pub id: KeyId,
    pub key_type: KeyType,
    pub name: String,
    pub key_prefix: String,
    pub last_four: String,
    pub previous_expires_at: Option<UnixMs>,
    pub scopes: String,
    pub ip_allowlist: String,
    pub external_id: Option<String>,
    /// Compact JSON text.
    pub meta: Option<String>,
    /// Its rate limits, as a JSON array.
    pub ratelimits: String,
    /// Its credits, those servers hold included; `None`: it keeps none.
    pub credits_remaining: Option<i64>,
    pub credits_refill: Option<String>,
    pub credits_refill_at: Option<UnixMs>,
    pub credits_lost: i64,
    pub created_at: UnixMs,
    pub created_by: Option<ActorId>,
    pub created_by_email: Option<String>,
    pub created_by_name: Option<String>,
    pub updated_at: UnixMs,
    pub updated_by: Option<ActorId>,
    pub updated_by_email: Option<String>,
    pub updated_by_name: Option<String>,
    pub expires_at: Option<UnixMs>,
    pub revoked_at: Option<UnixMs>,
    pub revoked_by: Option<ActorId>,
    pub revoked_by_email: Option<String>,
    pub revoked_by_name: Option<String>,
    pub last_used_at: Option<UnixMs>,
    pub last_used_ip: Option<String>,
    /// Never shown: what a cache must forget when this key changes.
    #[sqlx(flatten)]
    pub digests: KeyDigests,
}

/// What verifying a secret needs to know about the key it belongs to.
#[derive(sqlx::FromRow)]
pub struct KeyCredential {
    pub id: KeyId,
    pub key_type: KeyType,
    pub account_id: AccountId,
    pub name: String,
    pub scopes: String,
    pub ip_allowlist: String,
    pub external_id: Option<String>,
    pub meta: Option<String>,
    pub expires_at: Option<UnixMs>,
    pub revoked_at: Option<UnixMs>,
    /// Whether the secret matched the replaced one of a rotation (still
    /// inside its grace period only if `previous_expires_at` is later than now).
    pub is_previous: bool,
    pub previous_expires_at: Option<UnixMs>,
    /// The key's rate limits and its account's, as stored (JSON arrays).
    pub ratelimits: String,
    pub account_ratelimits: String,
    /// Whether it keeps credits.
    pub has_credits: bool,
}

/// Credits as a key is given them: how many, its refill (JSON) and when
/// that comes.
#[derive(Clone, Copy)]
pub struct StoredCredits<'a> {
    pub remaining: i64,
    pub refill: Option<&'a str>,
    pub refill_at: Option<UnixMs>,
}

pub struct NewKey<'a> {
    pub id: &'a KeyId,
    pub key_type: KeyType,
    pub account_id: &'a AccountId,
    pub name: &'a str,
    pub digest: &'a str,
    pub key_prefix: &'a str,
    pub last_four: &'a str,
    pub scopes: &'a str,
    pub ip_allowlist: &'a str,
    pub external_id: Option<&'a str>,
    pub meta: Option<&'a str>,
    pub ratelimits: &'a str,
    pub credits: Option<StoredCredits<'a>>,
    pub created_by: &'a ActorId,
    pub now: UnixMs,
    pub expires_at: Option<UnixMs>,
}

pub struct KeyEdit<'a> {
    pub name: &'a str,
    pub scopes: &'a str,
    pub ip_allowlist: &'a str,
    pub external_id: Option<&'a str>,
    pub meta: Option<&'a str>,
    pub ratelimits: &'a str,
    /// New credits (`Some(None)`: none kept any more); `None` leaves them.
    pub credits: Option<Option<StoredCredits<'a>>>,
}

pub struct NewSecret<'a> {
    pub digest: &'a str,
    pub key_prefix: &'a str,
    pub last_four: &'a str,
    /// When the replaced secret stops working; `None` stops it at once.
    pub previous_expires_at: Option<UnixMs>,
}

/// The status filter of a listing, as SQL conditions over `now`.
#[derive(Clone, Copy)]
pub enum StatusFilter {
    Active,
    Expired,
    Revoked,
}

#[derive(Clone, Copy)]
pub struct KeyListing<'a> {
    pub account_id: &'a AccountId,
    pub status: Option<StatusFilter>,
    /// Lower-case text the name or the external id must contain.
    pub text_contains: Option<&'a str>,
    /// The exact external id.
    pub external_id: Option<&'a str>,
    pub key_type: Option<KeyType>,
    pub before_id: Option<&'a str>,
    pub limit: i64,
    pub now: UnixMs,
}

/// A key's latest use and its requests per UTC day since the last write.
pub struct KeyUse<'a> {
    pub key_id: &'a KeyId,
    /// The latest successful use, when there was one: its time and address.
    pub last_used: Option<(UnixMs, Option<String>)>,
    pub days: &'a [DayUsage],
}

/// A key's verifications over a span: for the most used keys.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyUseTotal {
    pub key_id: KeyId,
    pub name: String,
    pub valid: i64,
    pub refused: i64,
}

/// One key's verifications on one UTC day, by outcome: the successful ones
/// and each refusal a known key can get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct DayUsage {
    pub day: Day,
    pub valid: i64,
    pub revoked: i64,
    pub expired: i64,
    pub insufficient_scope: i64,
    pub ip_not_allowed: i64,
    pub rate_limited: i64,
    pub usage_exceeded: i64,
    pub credits_spent: i64,
}

/// The digests a key's secrets had when it was changed: what a cache of
/// digests must forget.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct KeyDigests {
    secret_digest: String,
    previous_digest: Option<String>,
}

impl KeyDigests {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret_digest.as_str()).chain(self.previous_digest.as_deref())
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeyCounts {
    pub active: i64,
    pub expiring_soon: i64,
    pub used_last_day: i64,
    pub requests_today: i64,
}

// Audit events

/// An audit event to write. Written in the same transaction as the change it
/// describes, so neither exists without the other.
pub struct NewAuditEvent<'a> {
    pub id: String,
    pub account_id: &'a AccountId,
    pub actor_id: Option<ActorId>,
    pub action: &'static str,
    pub key_id: Option<&'a KeyId>,
    pub key_name: Option<&'a str>,
    pub occurred_at: UnixMs,
    pub client_ip: Option<String>,
    pub user_agent: Option<&'a str>,
    /// Membership events: the member's email and what changed.
    pub member_email: Option<&'a str>,
    pub detail: Option<String>,
}

#[derive(sqlx::FromRow)]
pub struct AuditEventRecord {
    pub id: String,
    pub action: String,
    pub actor_email: Option<String>,
    /// When a management key acted: its id, and its name while it exists.
    pub actor_key_id: Option<KeyId>,
    pub actor_key_name: Option<String>,
    pub key_id: Option<KeyId>,
    pub key_name: Option<String>,
    pub occurred_at: UnixMs,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub member_email: Option<String>,
    pub detail: Option<String>,
}

// Idempotent answers

/// What is stored under an Idempotency-Key.
#[derive(sqlx::FromRow)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub created_at: UnixMs,
    /// `None` while the first request is running.
    pub status: Option<i64>,
    pub sealed_body: Option<Vec<u8>>,
}

/// Who claims an Idempotency-Key for which request, and the cap on the
/// holder's live keys.
pub struct IdempotencyClaim<'a> {
    pub account_id: &'a AccountId,
    /// The member whose credential made the request.
    pub holder: &'a ActorId,
    pub key_digest: &'a str,
    pub request_hash: &'a str,
    pub now: UnixMs,
    /// Records older than this are expired.
    pub expired_before: UnixMs,
    pub max_live: i64,
}

/// What claiming an Idempotency-Key found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// Someone holds it already (running or answered).
    Taken,
    /// The holder holds `max_live` keys already.
    Full,
}

// Throttling

/// One limit an attempt is counted against.
pub struct Limit<'a> {
    pub subject: &'a str,
    /// Hits allowed within the window; `None` counts without refusing.
    pub max: Option<i64>,
    pub since: UnixMs,
}

/// What counting an attempt found.
pub enum Admission {
    /// The attempt was counted against every subject; how many hits each
    /// subject now has in its window, this one included, in `limits` order.
    Admitted { counts: Vec<i64> },
    /// A subject had used up its hits; nothing was counted. The oldest hit
    /// in that subject's window.
    Refused { oldest: UnixMs },
}

// Accounts, users and members

/// A user as stored. Not `Debug`: it carries the password hash.
#[derive(sqlx::FromRow)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub created_at: UnixMs,
    pub token_generation: i64,
    /// When the user proved the address is theirs; `None`: not yet.
    pub email_verified_at: Option<UnixMs>,
    /// When the authenticator app was set up; `None`: there is none.
    pub totp_enabled_at: Option<UnixMs>,
    pub has_passkeys: bool,
}

impl UserRecord {
    /// Whether signing in takes a second factor: an authenticator app or
    /// a passkey.
    pub fn has_two_factor(&self) -> bool {
        self.totp_enabled_at.is_some() || self.has_passkeys
    }
}

/// A sign-up: a new account and its owner, written together.
pub struct NewOwner<'a> {
    pub account_id: &'a AccountId,
    pub account_name: &'a str,
    pub user: NewUser<'a>,
}

/// An account a user who belongs to none makes for themselves, owning it.
pub struct NewAccount<'a> {
    pub id: &'a AccountId,
    pub name: &'a str,
    pub owner_id: &'a UserId,
    pub now: UnixMs,
}

/// A user to create.
pub struct NewUser<'a> {
    pub id: &'a UserId,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub now: UnixMs,
    /// Whether the address is known to be theirs from the start (the
    /// operator made the user); else a link or an invitation proves it.
    pub email_verified: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum OwnerCreated {
    /// Made, and the owner's membership starts at this generation.
    Created {
        membership_generation: i64,
    },
    EmailTaken,
}

/// What checking a credential needs of a member: their role now and the
/// generations their credentials must carry.
#[derive(sqlx::FromRow)]
pub struct MemberCheck {
    pub role: Role,
    pub token_generation: i64,
    pub generation: i64,
    /// The account requires two-factor sign-in and the user has none.
    pub must_enrol: bool,
}

/// A member of an account, as the members page lists them.
#[derive(sqlx::FromRow)]
pub struct MemberRecord {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub joined_at: UnixMs,
    pub last_signed_in_at: Option<UnixMs>,
}

/// One of a user's accounts.
#[derive(sqlx::FromRow)]
pub struct AccountMembershipRecord {
    pub account_id: AccountId,
    pub account_name: String,
    pub role: Role,
    pub joined_at: UnixMs,
}

/// What changing or removing a member found.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    /// The member is gone or no longer holds the role the change was
    /// decided on (someone else changed them meanwhile).
    Stale,
    /// They are the account's only owner.
    LastOwner,
}

impl MemberChange {
    /// Why a member now holding `current`, in an account with `owners`
    /// owners, may not go from `from` to `to` (removal: `None`).
    pub fn refusal(
        current: Option<Role>,
        owners: i64,
        from: Role,
        to: Option<Role>,
    ) -> Option<Self> {
        if current != Some(from) {
            Some(MemberChange::Stale)
        } else if from == Role::Owner && to != Some(Role::Owner) && owners <= 1 {
            Some(MemberChange::LastOwner)
        } else {
            None
        }
    }
}

pub struct NewInvitation<'a> {
    pub id: &'a InvitationId,
    pub account_id: &'a AccountId,
    pub email: &'a str,
    pub role: Role,
    pub token_digest: &'a str,
    pub invited_by: &'a UserId,
    /// The inviter's role the service checked: the invitation is made only
    /// if they still hold it when it is written.
    pub inviter_role: Role,
    pub now: UnixMs,
    pub expires_at: UnixMs,
}

/// The limits creating an invitation is held to, counted in its
/// transaction.
#[derive(Clone, Copy)]
pub struct InvitationLimits {
    /// Pending (unanswered, unexpired) invitations an account may hold.
    pub max_pending: i64,
    /// Invitations an account may create in any hour.
    pub per_hour: i64,
}

impl InvitationLimits {
    /// Why an invitation may not be made, given what the transaction
    /// counted.
    pub fn refusal(
        self,
        inviter_holds: bool,
        is_member: bool,
        invited: bool,
        pending: i64,
        this_hour: i64,
        oldest_this_hour: Option<UnixMs>,
    ) -> Option<InvitationCreated> {
        if !inviter_holds {
            Some(InvitationCreated::InviterChanged)
        } else if is_member {
            Some(InvitationCreated::AlreadyMember)
        } else if invited {
            Some(InvitationCreated::AlreadyInvited)
        } else if pending >= self.max_pending {
            Some(InvitationCreated::TooManyPending)
        } else if this_hour >= self.per_hour {
            Some(InvitationCreated::TooManyThisHour {
                retry_at: oldest_this_hour.unwrap_or_default() + HOUR,
            })
        } else {
            None
        }
    }
}

/// The invitations a member made that a change to them takes away: those
/// of `roles`, revoked in the same transaction as the change, each with an
/// `invitation.revoked` event like `event` naming the invitee and `reason`.
pub struct LapsedInvitations<'a> {
    pub roles: Vec<Role>,
    pub event: NewAuditEvent<'a>,
    pub reason: &'static str,
}

impl LapsedInvitations<'_> {
    /// The event of one revoked invitation.
    pub fn event_for<'b>(&'b self, email: &'b str, role: Role) -> NewAuditEvent<'b> {
        NewAuditEvent {
            id: crate::shared::clock::new_id("evt"),
            client_ip: self.event.client_ip.clone(),
            actor_id: self.event.actor_id.clone(),
            member_email: Some(email),
            detail: Some(format!("{role}: {}", self.reason)),
            ..self.event
        }
    }
}

/// An invitation, with its account's name and the inviter's email.
#[derive(sqlx::FromRow)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub account_id: AccountId,
    pub account_name: String,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<String>,
    pub created_at: UnixMs,
    pub expires_at: UnixMs,
    pub accepted_at: Option<UnixMs>,
    pub revoked_at: Option<UnixMs>,
}

/// What inviting found.
#[derive(Debug, PartialEq, Eq)]
pub enum InvitationCreated {
    Created,
    AlreadyMember,
    /// A pending, unexpired invitation for this email exists.
    AlreadyInvited,
    /// The account has `max_pending` pending invitations already.
    TooManyPending,
    /// The account created `per_hour` invitations in the last hour; the
    /// oldest of them leaves the hour at `retry_at`.
    TooManyThisHour {
        retry_at: UnixMs,
    },
    /// The inviter no longer holds the role they were checked with.
    InviterChanged,
}

/// Who accepts an invitation: a signed-in user, or one signing up on the
/// invitation's page.
pub enum Invitee<'a> {
    Existing { user_id: &'a UserId },
    New(NewUser<'a>),
}

/// The limits accepting is held to, counted in its transaction.
#[derive(Clone, Copy)]
pub struct MembershipLimits {
    pub members_per_account: i64,
    pub accounts_per_user: i64,
}

impl MembershipLimits {
    /// Why a user may not join, given what the transaction counted.
    pub fn refusal(self, is_member: bool, members: i64, accounts: i64) -> Option<Acceptance> {
        if is_member {
            Some(Acceptance::AlreadyMember)
        } else if members >= self.members_per_account {
            Some(Acceptance::AccountFull)
        } else if accounts >= self.accounts_per_user {
            Some(Acceptance::TooManyAccounts)
        } else {
            None
        }
    }
}

/// What accepting an invitation found.
#[derive(Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// The user (new or not) is now a member.
    Joined,
    /// Already accepted, revoked or expired (perhaps a moment ago).
    NotPending,
    AlreadyMember,
    /// Signing up: the email has a user already.
    EmailTaken,
    AccountFull,
    TooManyAccounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_owner_stays_and_stale_changes_are_refused() {
        use Role::{Admin, Developer, Owner, Viewer};
        let refusal = MemberChange::refusal;
        assert_eq!(
            refusal(Some(Owner), 1, Owner, Some(Admin)),
            Some(MemberChange::LastOwner)
        );
        assert_eq!(
            refusal(Some(Owner), 1, Owner, None),
            Some(MemberChange::LastOwner)
        );
        assert_eq!(refusal(Some(Owner), 2, Owner, None), None);
        assert_eq!(
            refusal(Some(Viewer), 1, Developer, Some(Admin)),
            Some(MemberChange::Stale)
        );
        assert_eq!(refusal(None, 1, Developer, None), Some(MemberChange::Stale));
    }

    #[test]
    fn joining_is_held_to_the_limits() {
        let limits = MembershipLimits {
            members_per_account: 3,
            accounts_per_user: 2,
        };
        assert_eq!(limits.refusal(true, 1, 1), Some(Acceptance::AlreadyMember));
        assert_eq!(limits.refusal(false, 3, 1), Some(Acceptance::AccountFull));
        assert_eq!(
            limits.refusal(false, 2, 2),
            Some(Acceptance::TooManyAccounts)
        );
        assert_eq!(limits.refusal(false, 2, 1), None);
    }
}

// Key changes other processes make

/// What a process hears about key changes made by the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyChange {
    /// Listening, from the change numbered `sequence` on: what happened
    /// before may not have been heard.
    Listening { sequence: i64 },
    /// A key changed: its (stored, hex) digests must be forgotten.
    Changed { sequence: i64, digests: Vec<String> },
    /// An announcement that does not parse: some key changed.
    Unreadable,
    /// Not listening (the connection was lost or cannot be made): changes
    /// are being missed.
    Lost { reason: String },
}
