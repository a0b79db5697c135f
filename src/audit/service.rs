//! Writing and reading audit events. Key changes write theirs inside the
//! storage transaction that makes the change; these are the rest.

use super::{AuditAction, AuditEventView, AuditPage, AuditQuery};
use crate::{
    auth::session::SessionUser,
    error::AppError,
    server::{clock, pagination, security::ClientInfo},
    storage::{Db, NewAuditEvent},
};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 100;

/// Who is acting and from where: what every audit event records.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user: SessionUser,
    pub client: ClientInfo,
}

impl Actor {
    /// An event by this actor, happening now, about `key` (id, name) if any.
    pub fn event<'a>(
        &'a self,
        action: AuditAction,
        key: Option<(&'a str, &'a str)>,
    ) -> NewAuditEvent<'a> {
        NewAuditEvent {
            id: clock::new_id("evt"),
            account_id: &self.user.account_id,
            actor_id: Some(&self.user.user_id),
            action: action.as_str(),
            key_id: key.map(|(id, _)| id),
            key_name: key.map(|(_, name)| name),
            occurred_at: clock::now_ms(),
            client_ip: self.client.ip.map(|ip| ip.to_string()),
            user_agent: self.client.user_agent.as_deref(),
        }
    }
}

/// Records an event that is not part of a key change (signing in and out).
pub async fn record(db: &Db, actor: &Actor, action: AuditAction) -> Result<(), AppError> {
    db.record_audit_event(&actor.event(action, None)).await?;
    Ok(())
}

/// The account's events, newest first.
pub async fn list(db: &Db, account_id: &str, query: &AuditQuery) -> Result<AuditPage, AppError> {
    let limit = pagination::page_size(query.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let before = pagination::decode_cursor(query.cursor.as_deref(), "evt_")?;
    let key_id = query
        .key_id
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let rows = db
        .audit_events(account_id, key_id, before.as_deref(), limit + 1)
        .await?;
    let (rows, next_cursor) = pagination::into_page(rows, limit, |r| &r.id);
    let events = rows
        .into_iter()
        .filter_map(|r| {
            Some(AuditEventView {
                action: AuditAction::parse(&r.action)?,
                id: r.id,
                actor: r.actor_email,
                key_id: r.key_id,
                key_name: r.key_name,
                occurred_at: r.occurred_at,
                client_ip: r.client_ip,
                user_agent: r.user_agent,
            })
        })
        .collect();
    Ok(AuditPage {
        events,
        next_cursor,
    })
}
