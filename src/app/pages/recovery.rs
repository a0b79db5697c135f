//! Getting back in after forgetting the password: ask for a link by email,
//! then choose a new password on the page the link opens.

use crate::{
    app::components::{BrandMark, FormAlert, FormErrors, LoadError, SubmitButton, TextField},
    auth::rpc::{auth_options, reset_link_email, RequestPasswordReset, ResetPassword},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// What every accepted request is told, whether or not the address has an
/// account.
const LINK_SENT: &str =
    "If an account exists for this email, we sent a link to reset its password. It works for one hour.";

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let options = Resource::new(|| (), |_| auth_options());
    view! {
        <Title text="Reset your password" />
        <main class="entry">
            <section class="entry-card">
                <p class="brand"><BrandMark />"Keysmith"</p>
                <h1>"Reset your password"</h1>
                <Suspense>
                    {move || Suspend::new(async move {
                        match options.await {
                            Ok(o) if o.mail_enabled => view! { <ResetRequestForm /> }.into_any(),
                            Ok(_) => view! {
                                <p class="notice">
                                    "This server does not send email, so it cannot mail you a reset link. "
                                    "Ask your operator: they can give you a one-time link "
                                    "(" <code>"keysmith user reset-password"</code> ")."
                                </p>
                            }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        }
                    })}
                </Suspense>
                <p class="entry-switch">"Remembered it? " <a href="/login">"Sign in"</a></p>
            </section>
        </main>
    }
}

#[component]
fn ResetRequestForm() -> impl IntoView {
    let action = ServerAction::<RequestPasswordReset>::new();
    let errors = FormErrors::of(action.value());
    let sent = move || action.value().get().is_some_and(|answer| answer.is_ok());
    view! {
        <Show
            when=sent
            fallback=move || view! {
                <p>"Enter the email you sign in with, and we will send you a link to choose a new password."</p>
                <ActionForm action=action>
                    <TextField label="Email" name="email" kind="email" autocomplete="email" error=errors.field("email") />
                    <FormAlert message=errors.form(&["email"]) />
                    <SubmitButton label="Send reset link" pending_label="Sending…" pending=action.pending() />
                </ActionForm>
            }
        >
            <p class="notice" role="status">{LINK_SENT}</p>
        </Show>
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let link = Resource::new(token, reset_link_email);
    view! {
        <Title text="Choose a new password" />
        <main class="entry">
            <section class="entry-card">
                <p class="brand"><BrandMark />"Keysmith"</p>
                <h1>"Choose a new password"</h1>
                <Suspense>
                    {move || Suspend::new(async move {
                        match link.await {
                            Ok(email) => view! { <NewPasswordForm email token=token() /> }.into_any(),
                            Err(error) => view! {
                                <LoadError error=error.clone() />
                                <p><a href="/forgot-password">"Ask for a new link"</a></p>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

#[component]
fn NewPasswordForm(email: String, token: String) -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let errors = FormErrors::of(action.value());
    view! {
        <p>"For " <strong>{email}</strong> ". Every session and token of yours ends when you set it."</p>
        <ActionForm action=action>
            <input type="hidden" name="token" value=token />
            <TextField
                label="New password"
                name="password"
                kind="password"
                autocomplete="new-password"
                hint="At least 12 characters."
                error=errors.field("password")
            />
            <FormAlert message=errors.form(&["password"]) />
            <SubmitButton label="Set new password" pending_label="Setting password…" pending=action.pending() />
        </ActionForm>
    }
}
