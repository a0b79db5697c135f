//! The Members page (`/dashboard/members`): who belongs to the account with
//! which role, the invitations still pending, and the dialogs that invite,
//! change roles, remove and revoke. For owners and admins.

use crate::{
    app::{
        components::{FormAlert, FormErrors, LoadError, SubmitButton},
        dialog::{close_on_success, ConfirmDialog, DialogHooks, Modal},
        format,
        layout::UserResource,
        secret::{SecretDialog, SecretKind},
        table::{Column, DataRow, DataTable},
    },
    auth::role::Role,
    teams::{
        rpc::{change_member_role, invite_member, load_team, remove_member, revoke_invitation},
        InvitationView, MemberView, Team,
    },
};
use leptos::prelude::*;
use leptos_meta::Title;

/// Which dialog is open, and on whom.
#[derive(Clone, Debug, PartialEq)]
enum OpenDialog {
    Invite,
    ChangeRole(MemberView),
    Remove(MemberView),
    Revoke(InvitationView),
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let open = RwSignal::new(None::<OpenDialog>);
    let refresh = RwSignal::new(0u32);
    let team = Resource::new(move || refresh.get(), |_| load_team());
    let hooks = DialogHooks {
        close: Callback::new(move |_| open.set(None)),
        changed: Callback::new(move |_| refresh.update(|n| *n += 1)),
    };
    let user = expect_context::<UserResource>();
    let your_role = Memo::new(move |_| {
        user.get()
            .and_then(Result::ok)
            .map_or(Role::Viewer, |u| u.role)
    });
    view! {
        <Title text="Members" />
        <div class="page-body">
            <header class="page-header with-action">
                <div>
                    <h1>"Members"</h1>
                    <p class="lede">"People who work on this account's keys, and what their role lets them do."</p>
                </div>
                <Suspense>
                    {move || Suspend::new(async move {
                        let may = user.await.is_ok_and(|u| u.role >= Role::SEE_MEMBERS);
                        may.then(|| view! {
                            <button id="invite-member" type="button" class="button primary" on:click=move |_| open.set(Some(OpenDialog::Invite))>
                                "Invite member"
                            </button>
                        })
                    })}
                </Suspense>
            </header>
            <Transition fallback=|| view! { <p class="muted">"Loading members…"</p> }>
                {move || Suspend::new(async move {
                    match team.await {
                        Ok(team) => view! { <TeamView team open /> }.into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Transition>
            <RoleGuide />
        </div>
        {move || {
            open.get().map(|dialog| match dialog {
                OpenDialog::Invite => view! { <InviteDialog hooks grantable=your_role.get_untracked().grantable() /> }.into_any(),
                OpenDialog::ChangeRole(member) => view! { <ChangeRoleDialog member hooks grantable=your_role.get_untracked().grantable() /> }.into_any(),
                OpenDialog::Remove(member) => view! { <RemoveDialog member hooks /> }.into_any(),
                OpenDialog::Revoke(invitation) => view! { <RevokeDialog invitation hooks /> }.into_any(),
            })
        }}
    }
}

const MEMBER_COLUMNS: [Column; 5] = [
    Column::row_header("Email"),
    Column::text("Role"),
    Column::text("Joined"),
    Column::text("Last sign-in"),
    Column::actions(),
];

const INVITATION_COLUMNS: [Column; 5] = [
    Column::row_header("Email"),
    Column::text("Role"),
    Column::text("Invited by"),
    Column::text("Expires"),
    Column::actions(),
];

#[component]
fn TeamView(team: Team, open: RwSignal<Option<OpenDialog>>) -> impl IntoView {
    let owners = team.owners();
    let (you, your_role) = (team.you.clone(), team.your_role);
    let managed: Vec<(MemberView, bool)> = team
        .members
        .iter()
        .map(|member| (member.clone(), team.may_manage(member)))
        .collect();
    let member_row = move |(member, manage): (MemberView, bool)| {
        let last_owner = member.role == Role::Owner && owners == 1;
        let is_you = member.user_id == you;
        let (change, remove) = (member.clone(), member.clone());
        let actions = view! {
            {(manage && !last_owner && your_role >= Role::to_manage(member.role)).then(|| view! {
                <button type="button" class="button subtle small" on:click=move |_| open.set(Some(OpenDialog::ChangeRole(change.clone())))>
                    "Change role"
                </button>
            })}
            {(manage && !last_owner).then(|| view! {
                <button type="button" class="button subtle small danger-text" on:click=move |_| open.set(Some(OpenDialog::Remove(remove.clone())))>
                    {if is_you { "Leave" } else { "Remove" }}
                </button>
            })}
        };
        DataRow::new(vec![
            view! {
                {member.email.clone()}
                {is_you.then(|| view! { <span class="by">"you"</span> })}
            }
            .into_any(),
            role_chip(member.role),
            format::date(member.joined_at).into_any(),
            match member.last_signed_in_at {
                Some(at) => format::date_time(at).into_any(),
                None => view! { <span class="muted">"Never"</span> }.into_any(),
            },
            actions.into_any(),
        ])
    };
    let invitation_row = move |invitation: InvitationView| {
        let may = your_role >= Role::to_manage(invitation.role);
        let revoke = invitation.clone();
        DataRow::new(vec![
            invitation.email.clone().into_any(),
            role_chip(invitation.role),
            invitation
                .invited_by
                .clone()
                .unwrap_or_else(|| "removed user".to_owned())
                .into_any(),
            format::date_time(invitation.expires_at).into_any(),
            may.then(|| view! {
                <button type="button" class="button subtle small danger-text" on:click=move |_| open.set(Some(OpenDialog::Revoke(revoke.clone())))>
                    "Revoke"
                </button>
            })
            .into_any(),
        ])
    };
    view! {
        <section class="page-section" aria-labelledby="members-title">
            <h2 id="members-title">"Members"</h2>
            <DataTable
                label="Members, in the order they joined".to_owned()
                class="members"
                columns=MEMBER_COLUMNS.to_vec()
                rows=managed
                row=member_row
                empty="No members."
            />
        </section>
        <section class="page-section" aria-labelledby="invitations-title">
            <h2 id="invitations-title">"Pending invitations"</h2>
            <DataTable
                label="Pending invitations, newest first".to_owned()
                class="invitations"
                columns=INVITATION_COLUMNS.to_vec()
                rows=team.invitations
                row=invitation_row
                empty="No pending invitations."
            />
        </section>
    }
}

fn role_chip(role: Role) -> AnyView {
    view! { <span class=format!("chip role-{role}")>{role.as_str()}</span> }.into_any()
}

/// What each role may do: the catalogue, as the page explains it.
#[component]
fn RoleGuide() -> impl IntoView {
    view! {
        <section class="page-section" aria-labelledby="roles-title">
            <h2 id="roles-title">"Roles"</h2>
            <dl class="details">
                {Role::ALL.into_iter().map(|role| view! {
                    <dt>{role.as_str()}</dt>
                    <dd>{role.description()}</dd>
                }).collect_view()}
            </dl>
        </section>
    }
}

#[component]
fn RoleSelect(grantable: Vec<Role>, value: RwSignal<String>) -> impl IntoView {
    view! {
        <select id="member-role" name="role" bind:value=value aria-describedby="member-role-error">
            {grantable.into_iter().map(|role| view! {
                <option value=role.as_str()>{role.as_str()}</option>
            }).collect_view()}
        </select>
    }
}

#[component]
fn InviteDialog(hooks: DialogHooks, grantable: Vec<Role>) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(
        grantable
            .iter()
            .find(|r| **r == Role::Developer)
            .or(grantable.last())
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
    );
    let invite = Action::new(move |(email, role): &(String, String)| {
        invite_member(email.clone(), role.clone())
    });
    let errors = FormErrors::of(invite.value());
    let link = Memo::new(move |_| {
        invite
            .value()
            .get()
            .and_then(Result::ok)
            .map(|issued| issued.invite_url)
    });
    Effect::new(move |_| {
        if link.get().is_some() {
            hooks.changed.run(());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        invite.dispatch((email.get_untracked(), role.get_untracked()));
    };
    view! {
        <SecretDialog title="Invite member" issued_title="Invitation created" kind=SecretKind::InvitationLink secret=link close=hooks.close>
            <form class="modal-form" on:submit=submit novalidate=true>
                <div class="field">
                    <label for="member-email">"Email"</label>
                    <input
                        id="member-email"
                        type="email"
                        autocomplete="off"
                        autofocus=true
                        bind:value=email
                        aria-invalid=move || errors.field("email").get().is_some().to_string()
                        aria-describedby="member-email-error"
                    />
                    <p id="member-email-error" class="field-error">{move || errors.field("email").get()}</p>
                </div>
                <div class="field">
                    <label for="member-role">"Role"</label>
                    <RoleSelect grantable=grantable.clone() value=role />
                    <p id="member-role-error" class="field-error">{move || errors.field("role").get()}</p>
                </div>
                <FormAlert message=errors.form(&["email", "role"]) />
                <div class="modal-actions">
                    <button type="button" class="button subtle" on:click=move |_| hooks.close.run(())>"Cancel"</button>
                    <SubmitButton label="Create invitation" pending_label="Inviting…" pending=invite.pending() />
                </div>
            </form>
        </SecretDialog>
    }
}

#[component]
fn ChangeRoleDialog(member: MemberView, hooks: DialogHooks, grantable: Vec<Role>) -> impl IntoView {
    let role = RwSignal::new(member.role.as_str().to_owned());
    let user_id = member.user_id.clone();
    let save = Action::new(move |role: &String| change_member_role(user_id.clone(), role.clone()));
    let errors = FormErrors::of(save.value());
    close_on_success(save.value(), hooks);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(role.get_untracked());
    };
    view! {
        <Modal title=format!("Change the role of {}", member.email) on_close=hooks.close>
            <form class="modal-form" on:submit=submit novalidate=true>
                <div class="field">
                    <label for="member-role">"Role"</label>
                    <RoleSelect grantable value=role />
                    <p id="member-role-error" class="field-error">{move || errors.field("role").get()}</p>
                </div>
                <p class="notice">"Their sessions and API tokens for this account end at once; they sign in again with the new role."</p>
                <FormAlert message=errors.form(&["role"]) />
                <div class="modal-actions">
                    <button type="button" class="button subtle" on:click=move |_| hooks.close.run(())>"Cancel"</button>
                    <SubmitButton label="Change role" pending_label="Changing…" pending=save.pending() />
                </div>
            </form>
        </Modal>
    }
}

#[component]
fn RemoveDialog(member: MemberView, hooks: DialogHooks) -> impl IntoView {
    let user_id = member.user_id.clone();
    let remove = Action::new(move |_: &()| remove_member(user_id.clone()));
    view! {
        <ConfirmDialog title=format!("Remove {}?", member.email) label="Remove member" pending_label="Removing…" action=remove hooks>
            <p>"They lose access to this account at once: their sessions and API tokens for it end. The keys they made stay, shown as made by a removed user."</p>
        </ConfirmDialog>
    }
}

#[component]
fn RevokeDialog(invitation: InvitationView, hooks: DialogHooks) -> impl IntoView {
    let id = invitation.id.clone();
    let revoke = Action::new(move |_: &()| revoke_invitation(id.clone()));
    view! {
        <ConfirmDialog title=format!("Revoke the invitation for {}?", invitation.email) label="Revoke invitation" pending_label="Revoking…" action=revoke hooks>
            <p>"The link stops working at once. You can invite them again later."</p>
        </ConfirmDialog>
    }
}
