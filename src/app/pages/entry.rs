//! The pages a visitor sees before signing in.

use crate::{
    app::{
        components::{BrandMark, FormAlert, FormErrors, LoadError, SubmitButton, TextField},
        passkeys::PasskeySignIn,
    },
    auth::rpc::{auth_options, SignIn, SignUp},
    error::AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let errors = FormErrors::of(action.value());
    // Once the password was right and a second factor is needed, the code
    // field stays: the form sends email, password and code together.
    let needs_code = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Err(AppError::SecondFactorRequired)) = action.value().get() {
            needs_code.set(true);
        }
    });
    let query = use_query_map();
    let next = Signal::derive(move || query.read().get("next").unwrap_or_default());
    view! {
        <Title text="Sign in" />
        <main class="entry">
            <section class="entry-card" aria-labelledby="entry-title">
                <p class="brand"><BrandMark />"Keysmith"</p>
                <h1 id="entry-title">"Sign in"</h1>
                <ActionForm action=action>
                    <input type="hidden" name="next" value=next />
                    <TextField label="Email" name="email" kind="email" autocomplete="email" error=errors.field("email") />
                    <TextField
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="current-password"
                        error=errors.field("password")
                    />
                    <Show when=move || needs_code.get()>
                        <TextField
                            label="Authentication code"
                            name="otp"
                            autocomplete="one-time-code"
                            hint="The 6-digit code from your authenticator app, or a recovery code."
                            error=errors.field("otp")
                        />
                    </Show>
                    <FormAlert message=errors.form(&["email", "password", "otp"]) />
                    <SubmitButton label="Sign in" pending_label="Signing in…" pending=action.pending() />
                </ActionForm>
                <Show
                    when=move || needs_code.get()
                    fallback=move || view! {
                        <p class="entry-or">"or"</p>
                        <PasskeySignIn next />
                    }
                >
                    <PasskeySignIn next second_step=true />
                </Show>
                <p class="entry-switch"><a href="/forgot-password">"Forgot password?"</a></p>
                <SignupInvitation />
            </section>
        </main>
    }
}

/// "Create an account", shown only while public sign-up is open.
#[component]
fn SignupInvitation() -> impl IntoView {
    let options = Resource::new(|| (), |_| auth_options());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                options
                    .await
                    .ok()
                    .filter(|o| o.signup_enabled)
                    .map(|_| view! {
                        <p class="entry-switch">"New to Keysmith? " <a href="/signup">"Create an account"</a></p>
                    })
            })}
        </Suspense>
    }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let options = Resource::new(|| (), |_| auth_options());
    view! {
        <Title text="Create your account" />
        <main class="entry">
            <section class="entry-card" aria-labelledby="entry-title">
                <p class="brand"><BrandMark />"Keysmith"</p>
                <h1 id="entry-title">"Create your account"</h1>
                <Suspense>
                    {move || Suspend::new(async move {
                        match options.await {
                            Ok(o) if o.signup_enabled => view! { <SignupForm /> }.into_any(),
                            Ok(_) => view! {
                                <p class="notice">
                                    "Sign-up is disabled on this server. Ask its administrator for an account."
                                </p>
                            }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        }
                    })}
                </Suspense>
                <p class="entry-switch">"Already have an account? " <a href="/login">"Sign in"</a></p>
            </section>
        </main>
    }
}

#[component]
fn SignupForm() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let errors = FormErrors::of(action.value());
    view! {
        <ActionForm action=action>
            <TextField label="Email" name="email" kind="email" autocomplete="email" error=errors.field("email") />
            <TextField
                label="Password"
                name="password"
                kind="password"
                autocomplete="new-password"
                hint="At least 12 characters."
                error=errors.field("password")
            />
            <FormAlert message=errors.form(&["email", "password"]) />
            <SubmitButton label="Create account" pending_label="Creating account…" pending=action.pending() />
        </ActionForm>
    }
}
