use super::{
    audit::insert_event,
    users::{insert_membership, insert_user},
    SqliteStore,
};
use crate::storage::{
    Acceptance, AccountMembershipRecord, InvitationCreated, InvitationLimits, InvitationRecord,
    Invitee, LapsedInvitations, MemberChange, MemberCheck, MemberRecord, MembershipLimits,
    NewAuditEvent, NewInvitation, WAITING_INVITATIONS_SHOWN,
};
use sqlx::SqliteConnection;

const MEMBER_COLUMNS: &str = "SELECT m.user_id, u.email, m.role, m.joined_at, u.last_signed_in_at
    FROM memberships m JOIN users u ON u.id = m.user_id";

const INVITATION_COLUMNS: &str = "SELECT i.id, i.account_id, a.name AS account_name, i.email,
        i.role, u.email AS invited_by, i.created_at, i.expires_at, i.accepted_at, i.revoked_at
    FROM invitations i JOIN accounts a ON a.id = i.account_id
    LEFT JOIN users u ON u.id = i.invited_by";

impl SqliteStore {
    pub async fn member_check(
        &self,
        user_id: &str,
        account_id: &str,
    ) -> Result<Option<MemberCheck>, sqlx::Error> {
        sqlx::query_as(
            "SELECT m.role, u.token_generation, m.generation
             FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.user_id = $1 AND m.account_id = $2",
        )
        .bind(user_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn member(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Option<MemberRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "{MEMBER_COLUMNS} WHERE m.account_id = $1 AND m.user_id = $2"
        ))
        .bind(account_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn members(&self, account_id: &str) -> Result<Vec<MemberRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "{MEMBER_COLUMNS} WHERE m.account_id = $1 ORDER BY m.joined_at, m.user_id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn accounts_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<AccountMembershipRecord>, sqlx::Error> {
        sqlx::query_as(
            "SELECT m.account_id, a.name AS account_name, m.role, m.joined_at
             FROM memberships m JOIN accounts a ON a.id = m.account_id
             WHERE m.user_id = $1 ORDER BY m.joined_at, m.account_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn change_member_role(
        &self,
        account_id: &str,
        user_id: &str,
        from: &str,
        to: &str,
        event: &NewAuditEvent<'_>,
        lapsed: &LapsedInvitations<'_>,
    ) -> Result<MemberChange, sqlx::Error> {
        let mut tx = self.write().await?;
        if let Some(refusal) = refuse_change(&mut tx, account_id, user_id, from, to).await? {
            return Ok(refusal);
        }
        sqlx::query(
            "UPDATE memberships SET role = $1, generation = generation + 1
             WHERE account_id = $2 AND user_id = $3",
        )
        .bind(to)
        .bind(account_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, event).await?;
        revoke_lapsed(&mut tx, account_id, user_id, lapsed).await?;
        tx.commit().await?;
        Ok(MemberChange::Done)
    }

    pub async fn remove_member(
        &self,
        account_id: &str,
        user_id: &str,
        from: &str,
        event: &NewAuditEvent<'_>,
        lapsed: &LapsedInvitations<'_>,
    ) -> Result<MemberChange, sqlx::Error> {
        let mut tx = self.write().await?;
        if let Some(refusal) = refuse_change(&mut tx, account_id, user_id, from, "").await? {
            return Ok(refusal);
        }
        sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND user_id = $2")
            .bind(account_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, event).await?;
        revoke_lapsed(&mut tx, account_id, user_id, lapsed).await?;
        tx.commit().await?;
        Ok(MemberChange::Done)
    }

    pub async fn create_invitation(
        &self,
        invitation: &NewInvitation<'_>,
        limits: InvitationLimits,
        event: &NewAuditEvent<'_>,
    ) -> Result<InvitationCreated, sqlx::Error> {
        let mut tx = self.write().await?;
        let (inviter_holds, is_member, invited, pending, this_hour, oldest): (
            bool,
            bool,
            bool,
            i64,
            i64,
            Option<i64>,
        ) = sqlx::query_as(
            "SELECT
               EXISTS (SELECT 1 FROM memberships WHERE account_id = $1 AND user_id = $4
                       AND role = $5),
               EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                       WHERE m.account_id = $1 AND u.email = $2),
               EXISTS (SELECT 1 FROM invitations WHERE account_id = $1 AND email = $2
                       AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3),
               (SELECT COUNT(*) FROM invitations WHERE account_id = $1
                       AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3),
               (SELECT COUNT(*) FROM invitations WHERE account_id = $1
                       AND created_at > $3 - 3600000),
               (SELECT MIN(created_at) FROM invitations WHERE account_id = $1
                       AND created_at > $3 - 3600000)",
        )
        .bind(invitation.account_id)
        .bind(invitation.email)
        .bind(invitation.now_ms)
        .bind(invitation.invited_by)
        .bind(invitation.inviter_role)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(refusal) = limits.refusal(
            inviter_holds,
            is_member,
            invited,
            pending,
            this_hour,
            oldest,
        ) {
            return Ok(refusal);
        }
        sqlx::query(
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
        .bind(invitation.now_ms)
        .bind(invitation.expires_at)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(InvitationCreated::Created)
    }

    pub async fn pending_invitations(
        &self,
        account_id: &str,
        now_ms: i64,
    ) -> Result<Vec<InvitationRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "{INVITATION_COLUMNS} WHERE i.account_id = $1 AND i.accepted_at IS NULL
               AND i.revoked_at IS NULL AND i.expires_at > $2
             ORDER BY i.id DESC"
        ))
        .bind(account_id)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn pending_invitations_for_email(
        &self,
        email: &str,
        now_ms: i64,
    ) -> Result<Vec<InvitationRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "{INVITATION_COLUMNS} WHERE i.email = $1 AND i.accepted_at IS NULL
               AND i.revoked_at IS NULL AND i.expires_at > $2
             ORDER BY i.id DESC LIMIT $3"
        ))
        .bind(email)
        .bind(now_ms)
        .bind(WAITING_INVITATIONS_SHOWN)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn invitation(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<InvitationRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "{INVITATION_COLUMNS} WHERE i.account_id = $1 AND i.id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn invitation_by_digest(
        &self,
        token_digest: &str,
    ) -> Result<Option<InvitationRecord>, sqlx::Error> {
        sqlx::query_as(&format!("{INVITATION_COLUMNS} WHERE i.token_digest = $1"))
            .bind(token_digest)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn revoke_invitation(
        &self,
        account_id: &str,
        id: &str,
        now_ms: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let revoked = sqlx::query(
            "UPDATE invitations SET revoked_at = $1, revoked_by = $2
             WHERE account_id = $3 AND id = $4 AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now_ms)
        .bind(event.actor_id)
        .bind(account_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if revoked {
            insert_event(&mut tx, event).await?;
            tx.commit().await?;
        }
        Ok(revoked)
    }

    /// Deletes invitations that ended (accepted, revoked or expired)
    /// before `before` (unix ms); how many.
    pub async fn sweep_ended_invitations(&self, before: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM invitations
             WHERE accepted_at < $1 OR revoked_at < $1 OR expires_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn accept_invitation(
        &self,
        invitation_id: &str,
        invitee: &Invitee<'_>,
        now_ms: i64,
        limits: MembershipLimits,
        event: &NewAuditEvent<'_>,
    ) -> Result<Acceptance, sqlx::Error> {
        let mut tx = self.write().await?;
        let pending: Option<(String, String)> = sqlx::query_as(
            "SELECT account_id, role FROM invitations WHERE id = $1
               AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(invitation_id)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((account_id, role)) = pending else {
            return Ok(Acceptance::NotPending);
        };
        let user_id = match invitee {
            Invitee::Existing { user_id } => *user_id,
            Invitee::New(user) => {
                if !insert_user(&mut tx, user).await? {
                    return Ok(Acceptance::EmailTaken);
                }
                user.id
            }
        };
        if let Some(refusal) = refuse_joining(&mut tx, &account_id, user_id, limits).await? {
            return Ok(refusal);
        }
        insert_membership(&mut tx, &account_id, user_id, &role, now_ms).await?;
        sqlx::query("UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3")
            .bind(now_ms)
            .bind(user_id)
            .bind(invitation_id)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Acceptance::Joined)
    }
}

/// Revokes the pending invitations `lapsed` names that `inviter` made, with
/// an event for each.
async fn revoke_lapsed(
    conn: &mut SqliteConnection,
    account_id: &str,
    inviter: &str,
    lapsed: &LapsedInvitations<'_>,
) -> Result<(), sqlx::Error> {
    for role in &lapsed.roles {
        let emails: Vec<String> = sqlx::query_scalar(
            "UPDATE invitations SET revoked_at = $1, revoked_by = $2
             WHERE account_id = $3 AND invited_by = $4 AND role = $5
               AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1
             RETURNING email",
        )
        .bind(lapsed.event.occurred_at)
        .bind(lapsed.event.actor_id)
        .bind(account_id)
        .bind(inviter)
        .bind(role)
        .fetch_all(&mut *conn)
        .await?;
        for email in &emails {
            insert_event(&mut *conn, &lapsed.event_for(email, role)).await?;
        }
    }
    Ok(())
}

/// Why a member holding `from` may not be changed to `to` (removed, when
/// `to` is empty), if they may not.
async fn refuse_change(
    conn: &mut SqliteConnection,
    account_id: &str,
    user_id: &str,
    from: &str,
    to: &str,
) -> Result<Option<MemberChange>, sqlx::Error> {
    let (current, owners): (Option<String>, i64) = sqlx::query_as(
        "SELECT (SELECT role FROM memberships WHERE account_id = $1 AND user_id = $2),
                (SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND role = 'owner')",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(MemberChange::refusal(current.as_deref(), owners, from, to))
}

async fn refuse_joining(
    conn: &mut SqliteConnection,
    account_id: &str,
    user_id: &str,
    limits: MembershipLimits,
) -> Result<Option<Acceptance>, sqlx::Error> {
    let (is_member, members, accounts): (bool, i64, i64) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE account_id = $1 AND user_id = $2),
                (SELECT COUNT(*) FROM memberships WHERE account_id = $1),
                (SELECT COUNT(*) FROM memberships WHERE user_id = $2)",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(limits.refusal(is_member, members, accounts))
}
