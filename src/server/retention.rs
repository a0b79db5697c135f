//! How long Keysmith keeps what it no longer needs: once a day, audit
//! events older than `KEYSMITH_AUDIT_RETENTION_DAYS`, invitations that
//! ended (accepted, revoked or expired) more than 30 days ago, and rate
//! limit windows that ended over a minute ago, mail finished (sent or
//! given up) over 7 days ago and one-time links expired over a day ago are
//! deleted.
//! Every replica sweeps; a sweep another one already did deletes nothing.

use crate::{
    mail::KEEP_FINISHED,
    shared::clock::{self, UnixMs, DAY, MINUTE},
    storage::Db,
};

/// Days an ended invitation stays visible (in the audit log's terms: who
/// was invited, and what became of it) before it is deleted.
pub const ENDED_INVITATION_DAYS: i64 = 30;
/// Days a session's record is kept after its last use: long enough to
/// tell a device the user signed in from before.
const SIGN_INS_KEPT_DAYS: i64 = 90;
/// Audit events deleted in one statement.
const AUDIT_BATCH: i64 = 10_000;

/// Sweeps now, then once a day until the process stops.
pub async fn sweep_daily(db: Db, audit_retention_days: u32) {
    loop {
        sweep(&db, audit_retention_days, UnixMs::now()).await;
        tokio::time::sleep(DAY).await;
    }
}

async fn sweep(db: &Db, audit_retention_days: u32, now: UnixMs) {
    let audit_before = now - clock::days(i64::from(audit_retention_days));
    // In batches, so the first sweep after an upgrade (or a shorter
    // retention) never holds the database in one long statement.
    let mut swept = 0;
    loop {
        match db.sweep_audit_events(audit_before, AUDIT_BATCH).await {
            Ok(deleted) => {
                swept += deleted;
                if deleted < AUDIT_BATCH as u64 {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot sweep old audit events");
                break;
            }
        }
    }
    if swept > 0 {
        tracing::info!(swept, "audit events past their retention deleted");
    }
    let invitations_before = now - clock::days(ENDED_INVITATION_DAYS);
    match db.sweep_ended_invitations(invitations_before).await {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "invitations ended 30 days ago deleted"),
        Err(error) => tracing::warn!(%error, "cannot sweep ended invitations"),
    }
    // A minute after its end, no replica's clock still counts in a window:
    // the next verification begins a new one either way.
    match db.sweep_rate_limit_windows(now - MINUTE).await {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "ended rate limit windows deleted"),
        Err(error) => tracing::warn!(%error, "cannot sweep ended rate limit windows"),
    }
    match db.sweep_mail(now - KEEP_FINISHED).await {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "mail finished 7 days ago deleted"),
        Err(error) => tracing::warn!(%error, "cannot sweep finished mail"),
    }
    // Sessions end 30 days after sign-in at most (KEYSMITH_SESSION_MAX_DAYS
    // may say less); tokens are listed for a day.
    match db
        .sweep_sign_ins(now - clock::days(SIGN_INS_KEPT_DAYS), now - DAY)
        .await
    {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "old session and token records deleted"),
        Err(error) => tracing::warn!(%error, "cannot sweep old session records"),
    }
    match db.sweep_user_links(now - DAY).await {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "expired one-time links deleted"),
        Err(error) => tracing::warn!(%error, "cannot sweep expired one-time links"),
    }
    match db.sweep_passkey_ceremonies(now).await {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "unanswered passkey prompts deleted"),
        Err(error) => tracing::warn!(%error, "cannot sweep unanswered passkey prompts"),
    }
}
