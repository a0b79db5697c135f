//! Confirming an address: the banner over the dashboard while it is
//! unconfirmed, and the Account page's form to change it.

use crate::{
    app::components::{FormAlert, FormErrors, SubmitButton, TextField},
    auth::rpc::{ChangeEmail, SendAddressCheck},
};
use leptos::prelude::*;

/// Over every dashboard page until the user opens the link mailed to them:
/// what waits for it, sending the link again, and changing a mistyped
/// address.
#[component]
pub fn AddressBanner(email: String) -> impl IntoView {
    let resend = ServerAction::<SendAddressCheck>::new();
    let errors = FormErrors::of(resend.value());
    let sent = move || matches!(resend.value().get(), Some(Ok(())));
    view! {
        <section class="notice warning address-banner" aria-label="Address not confirmed">
            <p>
                <strong>"Confirm your email address."</strong>
                " We sent a link to " <strong>{email}</strong>
                ". Until you open it, you cannot create API keys."
            </p>
            <ActionForm action=resend>
                <SubmitButton label="Send the link again" pending_label="Sending…" pending=resend.pending() />
            </ActionForm>
            <a href="/dashboard/account#sign-in-address">"Change address"</a>
            <p role="status">{move || sent().then_some("Sent. Check your inbox.")}</p>
            <FormAlert message=errors.form(&[]) />
        </section>
    }
}

/// The Account page's section: the address, whether it is confirmed, and
/// the form that changes it (with the password, as changing it is how an
/// account is taken over).
#[component]
pub fn EmailAddressSection(email: String, verified: bool) -> impl IntoView {
    let change = ServerAction::<ChangeEmail>::new();
    let errors = FormErrors::of(change.value());
    let changed = move || matches!(change.value().get(), Some(Ok(())));
    view! {
        <section class="doc-section card" aria-labelledby="sign-in-address">
            <h2 id="sign-in-address">"Sign-in address"</h2>
            <p>
                <strong>{email}</strong>
                {if verified { " · confirmed" } else { " · not confirmed yet" }}
            </p>
            <p class="hint">"A new address must be confirmed with the link we send it; you sign in with it at once."</p>
            <ActionForm action=change>
                <TextField label="New address" name="email" kind="email" autocomplete="email" error=errors.field("email") />
                <TextField
                    label="Your password"
                    name="current_password"
                    id="email-change-password"
                    kind="password"
                    autocomplete="current-password"
                    error=errors.field("current_password")
                />
                <FormAlert message=errors.form(&["email", "current_password"]) />
                <p class="notice success" role="status">
                    {move || changed().then_some("Address changed. If this server sends mail, confirm it with the link we sent there.")}
                </p>
                <SubmitButton label="Change address" pending_label="Changing…" pending=change.pending() />
            </ActionForm>
        </section>
    }
}
