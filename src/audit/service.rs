//! Reading the audit log. Events are written by the changes they record,
//! inside the same storage transaction where there is one.

use super::{AuditAction, AuditEventView, AuditPage, AuditQuery, AuditView};
use crate::{
    error::AppError,
    shared::{
        ids::{AccountId, KeyId},
        pagination,
    },
    storage::Db,
};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 100;

/// The audit log service: held once in the server's state.
#[derive(Clone)]
pub struct AuditLog {
    db: Db,
}

impl AuditLog {
    pub fn new(db: Db) -> Self {
        AuditLog { db }
    }

    /// The account's events, newest first, as much of them as `view` sees.
    pub async fn list(
        &self,
        account_id: &AccountId,
        view: AuditView,
        query: &AuditQuery,
    ) -> Result<AuditPage, AppError> {
        let limit = pagination::page_size(query.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let before = pagination::decode_cursor(query.cursor.as_deref(), "evt_")?;
        let key_id = match query.key_id.as_deref().map(str::trim) {
            None | Some("") => None,
            // Text that names no key has no events.
            Some(raw) => match KeyId::parse(raw) {
                Ok(id) => Some(id),
                Err(_) => return Ok(AuditPage::default()),
            },
        };
        let rows = self
            .db
            .audit_events(
                account_id,
                key_id.as_ref(),
                view == AuditView::KeyEventsWithoutClients,
                before.as_deref(),
                limit + 1,
            )
            .await?;
        let clients = view == AuditView::Everything;
        let (rows, next_cursor) = pagination::into_page(rows, limit, |r| r.id.as_str());
        let events = rows
            .into_iter()
            .filter_map(|r| {
                Some(AuditEventView {
                    action: AuditAction::parse(&r.action)?,
                    id: r.id,
                    actor: r.actor_email,
                    actor_key_id: r.actor_key_id.map(String::from),
                    actor_key_name: r.actor_key_name,
                    key_id: r.key_id.map(String::from),
                    key_name: r.key_name,
                    occurred_at: r.occurred_at,
                    client_ip: r.client_ip.filter(|_| clients),
                    user_agent: r.user_agent.filter(|_| clients),
                    member: r.member_email,
                    detail: r.detail,
                })
            })
            .collect();
        Ok(AuditPage {
            events,
            next_cursor,
        })
    }
}
