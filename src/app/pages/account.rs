//! The Account page: change the password, or sign out everywhere. Both end
//! every other browser session and every API bearer token.

use crate::{
    app::components::{FormAlert, FormErrors, SubmitButton, TextField},
    auth::rpc::{ChangePassword, SignOutEverywhere},
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let errors = FormErrors::of(change.value());
    let changed = move || matches!(change.value().get(), Some(Ok(())));
    let everywhere = ServerAction::<SignOutEverywhere>::new();
    let everywhere_errors = FormErrors::of(everywhere.value());
    view! {
        <Title text="Account" />
        <header class="page-header">
            <h1>"Account"</h1>
        </header>
        <section class="doc-section card" aria-labelledby="change-password">
            <h2 id="change-password">"Change password"</h2>
            <p class="hint">"Changing it signs you out of every other browser and ends every API bearer token issued before."</p>
            <ActionForm action=change>
                <TextField
                    label="Current password"
                    name="current_password"
                    kind="password"
                    autocomplete="current-password"
                    error=errors.field("current_password")
                />
                <TextField
                    label="New password"
                    name="new_password"
                    kind="password"
                    autocomplete="new-password"
                    hint="At least 12 characters."
                    error=errors.field("new_password")
                />
                <FormAlert message=errors.form(&["current_password", "new_password"]) />
                <p class="notice success" role="status">
                    {move || changed().then_some("Password changed. Other sessions and bearer tokens were signed out.")}
                </p>
                <SubmitButton label="Change password" pending_label="Changing…" pending=change.pending() />
            </ActionForm>
        </section>
        <section class="doc-section card" aria-labelledby="everywhere">
            <h2 id="everywhere">"Sign out everywhere"</h2>
            <p class="hint">"Ends every browser session, this one included, and every API bearer token. API keys keep working."</p>
            <ActionForm action=everywhere>
                <FormAlert message=everywhere_errors.form(&[]) />
                <SubmitButton label="Sign out everywhere" pending_label="Signing out…" pending=everywhere.pending() />
            </ActionForm>
        </section>
    }
}
