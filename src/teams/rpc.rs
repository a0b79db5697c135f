//! The `/rpc` door for the members page and the invitation page: server
//! functions, thin over the teams service.

use super::{InvitationPreview, IssuedInvitation, MemberView, Team, WaitingFor};
use crate::error::AppError;
use leptos::{prelude::*, server_fn::codec::Json};

#[cfg(feature = "ssr")]
use crate::{
    auth::{
        identity::ClientInfo,
        role::Role,
        session::{self, signed_in, signed_in_actor, signed_in_anyone, this_session},
    },
    shared::{
        context::provided,
        ids::{InvitationId, UserId},
        site::origin_of_this_request,
    },
    teams::{
        service::{no_longer_waiting, Teams},
        InvitationInput, NewInvitation,
    },
};

/// Where the dashboard goes after joining an account.
pub const AFTER_JOINING: &str = "/dashboard/api-keys";

#[server(prefix = "/rpc", endpoint = "load_team")]
pub async fn load_team() -> Result<Team, AppError> {
    let user = signed_in().await?;
    provided::<Teams>()?.team(&user).await
}

#[server(prefix = "/rpc", endpoint = "invite_member", input = Json)]
pub async fn invite_member(email: String, role: String) -> Result<IssuedInvitation, AppError> {
    let invitation = NewInvitation::try_from(InvitationInput { email, role })?;
    let actor = signed_in_actor().await?;
    let origin = origin_of_this_request().await?;
    provided::<Teams>()?
        .invite(&actor, &invitation, &origin)
        .await
}

#[server(prefix = "/rpc", endpoint = "revoke_invitation", input = Json)]
pub async fn revoke_invitation(id: String) -> Result<(), AppError> {
    let actor = signed_in_actor().await?;
    let id = InvitationId::parse(&id)?;
    provided::<Teams>()?.revoke_invitation(&actor, &id).await
}

#[server(prefix = "/rpc", endpoint = "change_member_role", input = Json)]
pub async fn change_member_role(user_id: String, role: String) -> Result<MemberView, AppError> {
    let actor = signed_in_actor().await?;
    let (user_id, role) = (UserId::parse(&user_id)?, Role::parse_field(&role, "role")?);
    provided::<Teams>()?
        .change_role(&actor, &user_id, role)
        .await
}

#[server(prefix = "/rpc", endpoint = "remove_member", input = Json)]
pub async fn remove_member(user_id: String) -> Result<(), AppError> {
    let actor = signed_in_actor().await?;
    provided::<Teams>()?
        .remove(&actor, &UserId::parse(&user_id)?)
        .await
}

/// What an invitation link leads to; for anyone holding the link.
#[server(prefix = "/rpc", endpoint = "open_invitation", input = Json)]
pub async fn open_invitation(token: String) -> Result<InvitationPreview, AppError> {
    let viewer = signed_in_anyone().await.ok();
    provided::<Teams>()?
        .preview(&token, viewer.as_ref().map(|v| v.user_id()))
        .await
}

/// Accepts the invitation as the signed-in user (a member of other
/// accounts, or of none) and enters its account.
#[server(prefix = "/rpc", endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String) -> Result<(), AppError> {
    let user = signed_in_anyone().await?;
    let client = ClientInfo::of_this_request().await;
    let (_, member) = provided::<Teams>()?
        .accept(user.user_id(), &client, &token)
        .await?;
    session::enter_account(&this_session().await?, &member).await?;
    leptos_axum::redirect(AFTER_JOINING);
    Ok(())
}

/// The signed-in user's email and the invitations waiting for it.
#[server(prefix = "/rpc", endpoint = "waiting_invitations")]
pub async fn waiting_invitations() -> Result<WaitingFor, AppError> {
    let user = signed_in_anyone().await?;
    provided::<Teams>()?.waiting_for(user.user_id()).await
}

/// Accepts one of the invitations waiting for the signed-in user's email
/// and enters its account.
#[server(prefix = "/rpc", endpoint = "accept_waiting_invitation")]
pub async fn accept_waiting_invitation(id: String) -> Result<(), AppError> {
    let user = signed_in_anyone().await?;
    let client = ClientInfo::of_this_request().await;
    let id = InvitationId::parse(&id).map_err(|_| no_longer_waiting())?;
    let (_, member) = provided::<Teams>()?
        .accept_waiting(user.user_id(), &client, &id)
        .await?;
    session::enter_account(&this_session().await?, &member).await?;
    leptos_axum::redirect(AFTER_JOINING);
    Ok(())
}

/// Signs the invited email up with a password, accepts, and signs in.
#[server(prefix = "/rpc", endpoint = "sign_up_invited")]
pub async fn sign_up_invited(token: String, password: String) -> Result<(), AppError> {
    let client = ClientInfo::of_this_request().await;
    let (_, member) = provided::<Teams>()?
        .sign_up_and_accept(&token, password, &client)
        .await?;
    session::sign_in(&this_session().await?, &member).await?;
    leptos_axum::redirect(AFTER_JOINING);
    Ok(())
}
