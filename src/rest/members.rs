//! `/api/v2/members` and `/api/v2/invitations`: the account's team, for a
//! member's bearer token (their role applies). A management key with
//! `members:read` lists them; no key changes the team.

use super::{
    auth::{ManagerCaller, UserCaller},
    json::{Body, Data},
    problem::{self, ApiError},
};
use crate::{
    auth::role::Role,
    shared::{
        ids::{InvitationId, UserId},
        site::PublicUrl,
    },
    teams::{
        service::Teams, InvitationInput, InvitationView, IssuedInvitation, Joined, MemberView,
        NewInvitation,
    },
};
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleChange {
    #[schema(value_type = Role)]
    role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Acceptance {
    /// The token at the end of the invitation link.
    token: String,
}

#[utoipa::path(get, path = "/members", tag = "Members", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The account's members, in the order they joined (owners and admins)", body = Data<Vec<MemberView>>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden
    ))]
pub async fn list(
    State(teams): State<Teams>,
    ManagerCaller(by): ManagerCaller,
) -> Result<impl IntoResponse, ApiError> {
    let data = teams.members(&by).await?;
    Ok(axum::Json(Data { data }))
}

#[utoipa::path(patch, path = "/members/{user_id}", tag = "Members", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The member's user id, `usr_…`")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The member with the new role; their sessions and tokens for this account have ended", body = Data<MemberView>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound,
        problem::Conflict,
        problem::TooLarge,
        problem::NotJson
    ))]
pub async fn change_role(
    State(teams): State<Teams>,
    UserCaller(actor): UserCaller,
    Path(user_id): Path<String>,
    Body(change): Body<RoleChange>,
) -> Result<impl IntoResponse, ApiError> {
    let (user_id, role) = (
        UserId::parse(&user_id)?,
        Role::parse_field(&change.role, "role")?,
    );
    let member = teams.change_role(&actor, &user_id, role).await?;
    Ok(axum::Json(Data { data: member }))
}

#[utoipa::path(delete, path = "/members/{user_id}", tag = "Members", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The member's user id, `usr_…`; your own to leave the account")),
    responses(
        (status = 204, description = "Removed: their sessions and tokens for this account have ended; the keys they made stay"),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound,
        problem::Conflict
    ))]
pub async fn remove(
    State(teams): State<Teams>,
    UserCaller(actor): UserCaller,
    Path(user_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    teams.remove(&actor, &UserId::parse(&user_id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/invitations", tag = "Members", security(("bearer" = []), ("api_key" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "Invitations not yet accepted, revoked or expired, newest first", body = Data<Vec<InvitationView>>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden
    ))]
pub async fn invitations(
    State(teams): State<Teams>,
    ManagerCaller(by): ManagerCaller,
) -> Result<impl IntoResponse, ApiError> {
    let data = teams.invitations(&by).await?;
    Ok(axum::Json(Data { data }))
}

#[utoipa::path(post, path = "/invitations", tag = "Members", security(("bearer" = [])),
    request_body = InvitationInput,
    responses(
        (status = 201, description = "The invitation, with its one-time link in `data.invite_url`: shown this once, valid 7 days", body = Data<IssuedInvitation>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::Conflict,
        problem::TooLarge,
        problem::NotJson,
        problem::TooManyAttempts
    ))]
pub async fn invite(
    State(teams): State<Teams>,
    State(public_url): State<PublicUrl>,
    UserCaller(actor): UserCaller,
    headers: HeaderMap,
    Body(input): Body<InvitationInput>,
) -> Result<impl IntoResponse, ApiError> {
    let invitation = NewInvitation::try_from(input)?;
    let issued = teams
        .invite(&actor, &invitation, &public_url.origin_for(&headers))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: issued })))
}

#[utoipa::path(delete, path = "/invitations/{invitation_id}", tag = "Members", security(("bearer" = [])),
    params(("invitation_id" = String, Path, description = "The invitation's id, `inv_…`")),
    responses(
        (status = 204, description = "Revoked: the link no longer works (revoking again changes nothing)"),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound,
        problem::Conflict
    ))]
pub async fn revoke_invitation(
    State(teams): State<Teams>,
    UserCaller(actor): UserCaller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    teams
        .revoke_invitation(&actor, &InvitationId::parse(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/invitations/accept", tag = "Members", security(("bearer" = [])),
    request_body = Acceptance,
    responses(
        (status = 200, description = "You are now a member; get a token for the account with `POST /auth/token` and its `account_id`", body = Data<Joined>),
        problem::BadInput,
        problem::Unauthenticated,
        problem::Forbidden,
        problem::NotFound,
        problem::Conflict,
        problem::TooLarge,
        problem::NotJson
    ))]
pub async fn accept(
    State(teams): State<Teams>,
    UserCaller(actor): UserCaller,
    Body(acceptance): Body<Acceptance>,
) -> Result<impl IntoResponse, ApiError> {
    let (joined, _) = teams
        .accept(&actor.user.user_id, &actor.client, &acceptance.token)
        .await?;
    Ok(axum::Json(Data { data: joined }))
}
