//! The `/rpc` door of the audit log page.

use super::{AuditPage, AuditQuery};
use crate::error::AppError;
use leptos::{prelude::*, server_fn::codec::Json};

#[server(prefix = "/rpc", endpoint = "list_audit_events", input = Json)]
pub async fn list_audit_events(query: AuditQuery) -> Result<AuditPage, AppError> {
    use crate::{audit::service::AuditLog, auth::session::signed_in, shared::context::provided};
    let user = signed_in().await?;
    provided::<AuditLog>()?
        .list(&user.account_id, user.role.audit_view(), &query)
        .await
}
