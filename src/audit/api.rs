//! Server function for the audit log page.

use super::{AuditPage, AuditQuery};
use crate::error::AppError;
use leptos::{prelude::*, server_fn::codec::Json};

#[server(prefix = "/rpc", endpoint = "list_audit_events", input = Json)]
pub async fn list_audit_events(query: AuditQuery) -> Result<AuditPage, AppError> {
    let (state, user) = crate::server::rpc::signed_in().await?;
    super::service::list(&state.db, &user.account_id, &query).await
}
