//! The page of a user signed in who belongs to no account (removed from,
//! or having left, every one they were in): an account of their own, or
//! one of the invitations waiting for their email.

use crate::{
    app::{
        components::{BrandMark, FormAlert, FormErrors, LoadError, SubmitButton},
        format,
    },
    auth::rpc::{CreateOwnAccount, SignOut},
    teams::{
        rpc::{waiting_invitations, AcceptWaitingInvitation},
        WaitingFor, WaitingInvitation,
    },
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn WelcomePage() -> impl IntoView {
    let waiting = Resource::new(|| (), |_| waiting_invitations());
    view! {
        <Title text="Welcome" />
        <main class="entry">
            <section class="entry-card welcome" aria-labelledby="entry-title">
                <p class="brand"><BrandMark />"Keysmith"</p>
                <h1 id="entry-title">"You belong to no account"</h1>
                <Suspense fallback=|| view! { <p class="muted">"Loading your invitations…"</p> }>
                    {move || Suspend::new(async move {
                        match waiting.await {
                            Ok(waiting) => view! { <Waiting waiting /> }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        }
                    })}
                </Suspense>
                <OwnAccount />
                <SignOutForm />
            </section>
        </main>
    }
}

#[component]
fn Waiting(waiting: WaitingFor) -> impl IntoView {
    let intro = format!(
        "You are signed in as {}, but no account has you as a member now. Join an account that invited you, or make one of your own.",
        waiting.email
    );
    let list = if waiting.invitations.is_empty() {
        view! {
            <p class="muted">
                "No invitations are waiting for your email. An owner or admin of an account can invite you."
            </p>
        }
        .into_any()
    } else {
        view! {
            <ul class="waiting-invitations" aria-label="Invitations waiting for you">
                {waiting.invitations.into_iter().map(|invitation| view! { <WaitingRow invitation /> }).collect_view()}
            </ul>
        }
        .into_any()
    };
    view! {
        <p class="lede">{intro}</p>
        <h2>"Invitations waiting for you"</h2>
        {list}
    }
}

/// One invitation and its Accept button.
#[component]
fn WaitingRow(invitation: WaitingInvitation) -> impl IntoView {
    let action = ServerAction::<AcceptWaitingInvitation>::new();
    let errors = FormErrors::of(action.value());
    let by = invitation
        .invited_by
        .map(|by| format!("Invited by {by}. "))
        .unwrap_or_default();
    let accept_label = format!("Accept the invitation to {}", invitation.account_name);
    view! {
        <li class="waiting-invitation">
            <p>
                <strong>{invitation.account_name.clone()}</strong>
                " as " <strong class="role">{invitation.role.as_str()}</strong>
            </p>
            <p class="muted">{by} "Open until " {format::date_time(invitation.expires_at)} "."</p>
            <ActionForm action=action>
                <input type="hidden" name="id" value=invitation.id />
                <FormAlert message=errors.form(&[]) />
                <button type="submit" class="button primary" aria-label=accept_label disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Joining…" } else { "Accept" }}
                </button>
            </ActionForm>
        </li>
    }
}

#[component]
fn OwnAccount() -> impl IntoView {
    let action = ServerAction::<CreateOwnAccount>::new();
    let errors = FormErrors::of(action.value());
    view! {
        <h2>"An account of your own"</h2>
        <p class="muted">"You will be its owner, and can invite your team."</p>
        <ActionForm action=action>
            <FormAlert message=errors.form(&[]) />
            <SubmitButton label="Create an account of my own" pending_label="Creating the account…" pending=action.pending() />
        </ActionForm>
    }
}

#[component]
fn SignOutForm() -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <ActionForm action=sign_out attr:class="entry-switch">
            "Not you? "
            <button type="submit" class="button subtle" disabled=move || sign_out.pending().get()>
                {move || if sign_out.pending().get() { "Signing out…" } else { "Sign out" }}
            </button>
        </ActionForm>
    }
}
