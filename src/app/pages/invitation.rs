//! The page an invitation link opens (`/invite/<token>`): who invites you
//! where, and the way in — sign up with the invited email, sign in, or
//! accept as the user already signed in. A used, revoked, expired or
//! unknown link says so.

use crate::{
    app::{
        components::{BrandMark, FormAlert, FormErrors, SubmitButton, TextField},
        format,
    },
    auth::rpc::SignOut,
    teams::{
        rpc::{open_invitation, AcceptInvitation, SignUpInvited},
        InvitationPreview, InvitationState,
    },
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn InvitationPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let preview = Resource::new(token, open_invitation);
    view! {
        <Title text="Invitation" />
        <main class="entry">
            <section class="entry-card" aria-labelledby="entry-title">
                <p class="brand"><BrandMark />"Keysmith"</p>
                <Suspense fallback=|| view! { <p class="muted">"Loading the invitation…"</p> }>
                    {move || Suspend::new(async move {
                        match preview.await {
                            Ok(invitation) => view! { <Invitation invitation token=token() /> }.into_any(),
                            Err(_) => view! { <UnknownLink /> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

#[component]
fn UnknownLink() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1 id="entry-title">"This invitation link is not valid"</h1>
        <p>"Check that you copied the whole link, or ask for a new invitation."</p>
        <p><a href="/login">"Sign in"</a></p>
    }
}

#[component]
fn Invitation(invitation: InvitationPreview, token: String) -> impl IntoView {
    let ended = match invitation.state {
        InvitationState::Pending => None,
        InvitationState::Accepted => Some("This invitation has been used already."),
        InvitationState::Revoked => Some("This invitation was revoked."),
        InvitationState::Expired => Some("This invitation has expired."),
    };
    if let Some(ended) = ended {
        return view! {
            <h1 id="entry-title">{ended}</h1>
            <p>{format!("Ask an owner or admin of {} for a new invitation.", invitation.account_name)}</p>
            <p><a href="/login">"Sign in"</a></p>
        }
        .into_any();
    }
    let way_in = match invitation.signed_in_as.clone() {
        None => view! { <SignUpToJoin invitation=invitation.clone() token /> }.into_any(),
        Some(email) if email == invitation.email => view! { <AcceptAs token /> }.into_any(),
        Some(email) => {
            view! { <WrongUser invited=invitation.email.clone() signed_in=email /> }.into_any()
        }
    };
    view! {
        <h1 id="entry-title">{format!("Join {}", invitation.account_name)}</h1>
        <p class="lede">
            {invitation.invited_by.clone().map(|by| format!("{by} invited ")).unwrap_or_else(|| "You are invited: ".to_owned())}
            <strong>{invitation.email.clone()}</strong>
            " to join as " <strong class="role">{invitation.role.as_str()}</strong> "."
        </p>
        <p class="muted">{invitation.role.description()} " The link works until " {format::date_time(invitation.expires_at)} "."</p>
        {way_in}
    }
    .into_any()
}

/// Not signed in: create a user for the invited email, or sign in first.
#[component]
fn SignUpToJoin(invitation: InvitationPreview, token: String) -> impl IntoView {
    let action = ServerAction::<SignUpInvited>::new();
    let errors = FormErrors::of(action.value());
    let sign_in = format!("/login?next=/invite/{token}");
    view! {
        <ActionForm action=action>
            <input type="hidden" name="token" value=token />
            <div class="field">
                <label for="invited-email">"Email"</label>
                <input id="invited-email" type="email" value=invitation.email readonly=true />
            </div>
            <TextField
                label="Choose a password"
                name="password"
                kind="password"
                autocomplete="new-password"
                hint="At least 12 characters."
                error=errors.field("password")
            />
            <FormAlert message=errors.form(&["password"]) />
            <SubmitButton label="Create user and join" pending_label="Joining…" pending=action.pending() />
        </ActionForm>
        <p class="entry-switch">"Already have a Keysmith user with this email? " <a href=sign_in>"Sign in to accept"</a></p>
    }
}

/// Signed in with the invited email: one click.
#[component]
fn AcceptAs(token: String) -> impl IntoView {
    let action = ServerAction::<AcceptInvitation>::new();
    let errors = FormErrors::of(action.value());
    view! {
        <ActionForm action=action>
            <input type="hidden" name="token" value=token />
            <FormAlert message=errors.form(&[]) />
            <SubmitButton label="Accept invitation" pending_label="Joining…" pending=action.pending() />
        </ActionForm>
    }
}

/// Signed in as someone else: the invitation is not theirs to take.
#[component]
fn WrongUser(invited: String, signed_in: String) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <p class="notice" role="alert">
            {format!("This invitation is for {invited}, but you are signed in as {signed_in}. Sign out, then open this link again.")}
        </p>
        <ActionForm action=sign_out>
            <button type="submit" class="button">"Sign out"</button>
        </ActionForm>
    }
}
