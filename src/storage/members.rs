//! Members and invitations, one body for both databases. Every team change
//! takes the account's lock first ([`lock_account_row`]), so on PostgreSQL
//! replicas queue as SQLite's one writer does.

use super::{
    audit::insert_event,
    either::{lock_account_row, lock_user_row, on_either, Conn},
    outbox::{insert_mail, NewMail},
    users::{insert_membership, insert_user},
    Acceptance, AccountMembershipRecord, Db, InvitationCreated, InvitationLimits, InvitationRecord,
    Invitee, LapsedInvitations, MemberChange, MemberCheck, MemberRecord, MembershipLimits,
    NewAuditEvent, NewInvitation, WAITING_INVITATIONS_SHOWN,
};
use crate::shared::{
    clock::UnixMs,
    ids::{AccountId, InvitationId, UserId},
    role::Role,
};

const MEMBER_COLUMNS: &str = "SELECT m.user_id, u.email, m.role, m.joined_at, u.last_signed_in_at
    FROM memberships m JOIN users u ON u.id = m.user_id";

const INVITATION_COLUMNS: &str = "SELECT i.id, i.account_id, a.name AS account_name, i.email,
        i.role, u.email AS invited_by, i.created_at, i.expires_at, i.accepted_at, i.revoked_at
    FROM invitations i JOIN accounts a ON a.id = i.account_id
    LEFT JOIN users u ON u.id = i.invited_by";

/// A pending invitation: not accepted, not revoked, not expired at `$n`.
fn pending(alias: &str, now: &str) -> String {
    format!(
        "{alias}accepted_at IS NULL AND {alias}revoked_at IS NULL AND {alias}expires_at > {now}"
    )
}

impl Db {
    /// The user's role in the account and their credentials' generations,
    /// if they are a member.
    pub async fn member_check(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<MemberCheck>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT m.role, u.token_generation, m.generation,
                (a.require_two_factor = 1 AND u.totp_enabled_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id)) AS must_enrol
             FROM memberships m JOIN users u ON u.id = m.user_id
             JOIN accounts a ON a.id = m.account_id
             WHERE m.account_id = $1 AND m.user_id = $2",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)
    }

    /// Whether the account requires two-factor sign-in of its members.
    pub async fn two_factor_required(&self, account_id: &AccountId) -> Result<bool, sqlx::Error> {
        let required: Option<bool> = on_either!(self.pool(), pool => sqlx::query_scalar(
            "SELECT require_two_factor = 1 FROM accounts WHERE id = $1",
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await)?;
        Ok(required.unwrap_or(false))
    }

    /// Requires two-factor sign-in of the account's members, or stops, with
    /// the event.
    pub async fn require_two_factor(
        &self,
        account_id: &AccountId,
        required: bool,
        event: &NewAuditEvent<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write().await?;
        on_either!(tx.conn(), c => sqlx::query("UPDATE accounts SET require_two_factor = $2 WHERE id = $1")
            .bind(account_id)
            .bind(i32::from(required))
            .execute(c)
            .await
            .map(drop))?;
        insert_event(tx.conn(), event).await?;
        tx.commit().await
    }

    pub async fn member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Option<MemberRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(&format!(
            "{MEMBER_COLUMNS} WHERE m.account_id = $1 AND m.user_id = $2"
        ))
        .bind(account_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)
    }

    /// The account's members, in the order they joined.
    pub async fn members(&self, account_id: &AccountId) -> Result<Vec<MemberRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(&format!(
            "{MEMBER_COLUMNS} WHERE m.account_id = $1 ORDER BY m.joined_at, m.user_id"
        ))
        .bind(account_id)
        .fetch_all(pool)
        .await)
    }

    /// The user's accounts, in the order they joined them.
    pub async fn accounts_of(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<AccountMembershipRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT m.account_id, a.name AS account_name, m.role, m.joined_at
             FROM memberships m JOIN accounts a ON a.id = m.account_id
             WHERE m.user_id = $1 ORDER BY m.joined_at, m.account_id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)
    }

    /// Gives a member holding `from` the role `to`, ending their sessions
    /// and tokens for the account; never demotes the last owner.
    pub async fn change_member_role(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        from: Role,
        to: Role,
        event: &NewAuditEvent<'_>,
        lapsed: &LapsedInvitations<'_>,
    ) -> Result<MemberChange, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_account_row(tx.conn(), account_id).await?;
        if let Some(refusal) = refuse_change(tx.conn(), account_id, user_id, from, Some(to)).await?
        {
            return Ok(refusal);
        }
        on_either!(tx.conn(), c => sqlx::query(
            "UPDATE memberships SET role = $1, generation = generation + 1
             WHERE account_id = $2 AND user_id = $3",
        )
        .bind(to)
        .bind(account_id)
        .bind(user_id)
        .execute(c)
        .await
        .map(drop))?;
        insert_event(tx.conn(), event).await?;
        revoke_lapsed(tx.conn(), account_id, user_id, lapsed).await?;
        tx.commit().await?;
        Ok(MemberChange::Done)
    }

    /// Removes a member holding `from`; never the last owner.
    pub async fn remove_member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        from: Role,
        event: &NewAuditEvent<'_>,
        lapsed: &LapsedInvitations<'_>,
    ) -> Result<MemberChange, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_account_row(tx.conn(), account_id).await?;
        if let Some(refusal) = refuse_change(tx.conn(), account_id, user_id, from, None).await? {
            return Ok(refusal);
        }
        on_either!(tx.conn(), c => sqlx::query(
            "DELETE FROM memberships WHERE account_id = $1 AND user_id = $2",
        )
        .bind(account_id)
        .bind(user_id)
        .execute(c)
        .await
        .map(drop))?;
        insert_event(tx.conn(), event).await?;
        revoke_lapsed(tx.conn(), account_id, user_id, lapsed).await?;
        tx.commit().await?;
        Ok(MemberChange::Done)
    }

    pub async fn create_invitation(
        &self,
        invitation: &NewInvitation<'_>,
        limits: InvitationLimits,
        event: &NewAuditEvent<'_>,
        mail: Option<&NewMail>,
    ) -> Result<InvitationCreated, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_account_row(tx.conn(), invitation.account_id).await?;
        let counts = format!(
            "SELECT
               EXISTS (SELECT 1 FROM memberships WHERE account_id = $1 AND user_id = $4
                       AND role = $5),
               EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                       WHERE m.account_id = $1 AND u.email = $2),
               EXISTS (SELECT 1 FROM invitations WHERE account_id = $1 AND email = $2
                       AND {pending}),
               (SELECT COUNT(*) FROM invitations WHERE account_id = $1 AND {pending}),
               (SELECT COUNT(*) FROM invitations WHERE account_id = $1
                       AND created_at > $3 - 3600000),
               (SELECT MIN(created_at) FROM invitations WHERE account_id = $1
                       AND created_at > $3 - 3600000)",
            pending = pending("", "$3"),
        );
        let (inviter_holds, is_member, invited, pending_count, this_hour, oldest): (
            bool,
            bool,
            bool,
            i64,
            i64,
            Option<UnixMs>,
        ) = on_either!(tx.conn(), c => sqlx::query_as(&counts)
            .bind(invitation.account_id)
            .bind(invitation.email)
            .bind(invitation.now)
            .bind(invitation.invited_by)
            .bind(invitation.inviter_role)
            .fetch_one(c)
            .await?);
        if let Some(refusal) = limits.refusal(
            inviter_holds,
            is_member,
            invited,
            pending_count,
            this_hour,
            oldest,
        ) {
            return Ok(refusal);
        }
        on_either!(tx.conn(), c => sqlx::query(
            "INSERT INTO invitations
               (id, account_id, email, role, token_digest, invited_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(invitation.id)
        .bind(invitation.account_id)
        .bind(invitation.email)
        .bind(invitation.role)
        .bind(invitation.token_digest)
        .bind(invitation.invited_by)
        .bind(invitation.now)
        .bind(invitation.expires_at)
        .execute(c)
        .await
        .map(drop))?;
        insert_event(tx.conn(), event).await?;
        if let Some(mail) = mail {
            insert_mail(tx.conn(), mail).await?;
        }
        tx.commit().await?;
        Ok(InvitationCreated::Created)
    }

    /// The account's invitations not yet accepted, revoked or expired,
    /// newest first.
    pub async fn pending_invitations(
        &self,
        account_id: &AccountId,
        now: UnixMs,
    ) -> Result<Vec<InvitationRecord>, sqlx::Error> {
        let sql = format!(
            "{INVITATION_COLUMNS} WHERE i.account_id = $1 AND {} ORDER BY i.id DESC",
            pending("i.", "$2")
        );
        on_either!(self.pool(), pool => sqlx::query_as(&sql)
            .bind(account_id)
            .bind(now)
            .fetch_all(pool)
            .await)
    }

    /// The invitations waiting for an email across accounts, newest first,
    /// at most [`WAITING_INVITATIONS_SHOWN`].
    pub async fn pending_invitations_for_email(
        &self,
        email: &str,
        now: UnixMs,
    ) -> Result<Vec<InvitationRecord>, sqlx::Error> {
        let sql = format!(
            "{INVITATION_COLUMNS} WHERE i.email = $1 AND {} ORDER BY i.id DESC LIMIT $3",
            pending("i.", "$2")
        );
        on_either!(self.pool(), pool => sqlx::query_as(&sql)
            .bind(email)
            .bind(now)
            .bind(WAITING_INVITATIONS_SHOWN)
            .fetch_all(pool)
            .await)
    }

    pub async fn invitation(
        &self,
        account_id: &AccountId,
        id: &InvitationId,
    ) -> Result<Option<InvitationRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(&format!(
            "{INVITATION_COLUMNS} WHERE i.account_id = $1 AND i.id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(pool)
        .await)
    }

    pub async fn invitation_by_digest(
        &self,
        token_digest: &str,
    ) -> Result<Option<InvitationRecord>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(&format!(
            "{INVITATION_COLUMNS} WHERE i.token_digest = $1"
        ))
        .bind(token_digest)
        .fetch_optional(pool)
        .await)
    }

    /// Revokes a pending invitation; false when there is none to revoke.
    pub async fn revoke_invitation(
        &self,
        account_id: &AccountId,
        id: &InvitationId,
        now: UnixMs,
        event: &NewAuditEvent<'_>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        // The account's lock first, as every team change takes it: the
        // event's foreign key shares the account's row, and a removal
        // revoking invitations holds it while it updates them.
        lock_account_row(tx.conn(), account_id).await?;
        let revoked = on_either!(tx.conn(), c => sqlx::query(
            "UPDATE invitations SET revoked_at = $1, revoked_by = $2
             WHERE account_id = $3 AND id = $4 AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&event.actor_id)
        .bind(account_id)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected())
            == 1;
        if revoked {
            insert_event(tx.conn(), event).await?;
            tx.commit().await?;
        }
        Ok(revoked)
    }

    /// Deletes invitations that ended (accepted, revoked or expired)
    /// before `before` (unix ms); how many.
    pub async fn sweep_ended_invitations(&self, before: UnixMs) -> Result<u64, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "DELETE FROM invitations
             WHERE accepted_at < $1 OR revoked_at < $1 OR expires_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }

    /// Accepts a pending, unexpired invitation for the invitee (creating
    /// them first when they sign up), all in one transaction.
    pub async fn accept_invitation(
        &self,
        invitation_id: &InvitationId,
        invitee: &Invitee<'_>,
        now: UnixMs,
        limits: MembershipLimits,
        event: &NewAuditEvent<'_>,
    ) -> Result<Acceptance, sqlx::Error> {
        let mut tx = self.write().await?;
        // The account's lock first, as every team change takes it: a removal
        // that revokes this invitation then queues with this acceptance.
        let account_id: Option<AccountId> = on_either!(tx.conn(), c => sqlx::query_scalar(
            "SELECT account_id FROM invitations WHERE id = $1",
        )
        .bind(invitation_id)
        .fetch_optional(c)
        .await?);
        let Some(account_id) = account_id else {
            return Ok(Acceptance::NotPending);
        };
        lock_account_row(tx.conn(), &account_id).await?;
        let role_of_pending = format!(
            "SELECT role FROM invitations WHERE id = $1 AND {}",
            pending("", "$2")
        );
        let role: Option<Role> = on_either!(tx.conn(), c => sqlx::query_scalar(&role_of_pending)
            .bind(invitation_id)
            .bind(now)
            .fetch_optional(c)
            .await?);
        let Some(role) = role else {
            return Ok(Acceptance::NotPending);
        };
        let user_id = match invitee {
            Invitee::Existing { user_id } => *user_id,
            Invitee::New(user) => {
                if !insert_user(tx.conn(), user).await? {
                    return Ok(Acceptance::EmailTaken);
                }
                user.id
            }
        };
        lock_user_row(tx.conn(), user_id).await?;
        if let Some(refusal) = refuse_joining(tx.conn(), &account_id, user_id, limits).await? {
            return Ok(refusal);
        }
        insert_membership(tx.conn(), &account_id, user_id, role, now).await?;
        // The link reached the invitee at the invitation's address (it was
        // emailed there): that counts as proving the address theirs.
        on_either!(tx.conn(), c => sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1)
             WHERE id = $2 AND email = (SELECT email FROM invitations WHERE id = $3)",
        )
        .bind(now)
        .bind(user_id)
        .bind(invitation_id)
        .execute(c)
        .await
        .map(drop))?;
        on_either!(tx.conn(), c => sqlx::query(
            "UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3",
        )
        .bind(now)
        .bind(user_id)
        .bind(invitation_id)
        .execute(c)
        .await
        .map(drop))?;
        insert_event(tx.conn(), event).await?;
        tx.commit().await?;
        Ok(Acceptance::Joined)
    }
}

/// Revokes the pending invitations `lapsed` names that `inviter` made, with
/// an event for each.
async fn revoke_lapsed(
    mut conn: Conn<'_>,
    account_id: &AccountId,
    inviter: &UserId,
    lapsed: &LapsedInvitations<'_>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE invitations SET revoked_at = $1, revoked_by = $2
         WHERE account_id = $3 AND invited_by = $4 AND role = $5 AND {}
         RETURNING email",
        pending("", "$1")
    );
    for role in &lapsed.roles {
        let emails: Vec<String> = on_either!(conn.again(), c => sqlx::query_scalar(&sql)
            .bind(lapsed.event.occurred_at)
            .bind(&lapsed.event.actor_id)
            .bind(account_id)
            .bind(inviter)
            .bind(role)
            .fetch_all(c)
            .await?);
        for email in &emails {
            insert_event(conn.again(), &lapsed.event_for(email, *role)).await?;
        }
    }
    Ok(())
}

/// Why a member holding `from` may not be changed to `to` (removed, when
/// `None`), if they may not.
async fn refuse_change(
    conn: Conn<'_>,
    account_id: &AccountId,
    user_id: &UserId,
    from: Role,
    to: Option<Role>,
) -> Result<Option<MemberChange>, sqlx::Error> {
    let (current, owners): (Option<Role>, i64) = on_either!(conn, c => sqlx::query_as(
        "SELECT (SELECT role FROM memberships WHERE account_id = $1 AND user_id = $2),
                (SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND role = 'owner')",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_one(c)
    .await?);
    Ok(MemberChange::refusal(current, owners, from, to))
}

async fn refuse_joining(
    conn: Conn<'_>,
    account_id: &AccountId,
    user_id: &UserId,
    limits: MembershipLimits,
) -> Result<Option<Acceptance>, sqlx::Error> {
    let (is_member, members, accounts): (bool, i64, i64) = on_either!(conn, c => sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE account_id = $1 AND user_id = $2),
                (SELECT COUNT(*) FROM memberships WHERE account_id = $1),
                (SELECT COUNT(*) FROM memberships WHERE user_id = $2)",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_one(c)
    .await?);
    Ok(limits.refusal(is_member, members, accounts))
}
