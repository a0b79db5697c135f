//! The pages a visitor sees before signing in.

use crate::{
    app::components::{BrandMark, FormAlert, SubmitButton, TextField},
    auth::api::{auth_options, SignIn, SignUp},
    error::AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Field messages and the form-level message of an action's last failure.
struct FormErrors {
    last: Signal<Option<AppError>>,
}

impl FormErrors {
    fn of<T: Clone + Send + Sync + 'static>(
        value: impl Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
    ) -> Self {
        FormErrors {
            last: Signal::derive(move || value.get().and_then(Result::err)),
        }
    }

    fn field(&self, name: &'static str) -> Signal<Option<String>> {
        let last = self.last;
        Signal::derive(move || last.get().and_then(|e| e.field_message(name)))
    }

    /// Errors not tied to a field shown on the form: wrong credentials,
    /// throttling, a server or network failure.
    fn form(&self, fields: &'static [&'static str]) -> Signal<Option<String>> {
        let last = self.last;
        Signal::derive(move || {
            last.get().and_then(|error| match &error {
                AppError::Validation(errors) => errors
                    .iter()
                    .find(|e| !fields.contains(&e.field.as_str()))
                    .map(|e| e.message.clone()),
                _ => Some(error.to_string()),
            })
        })
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let errors = FormErrors::of(action.value());
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
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
                    <FormAlert message=errors.form(&["email", "password"]) />
                    <SubmitButton label="Sign in" pending_label="Signing in…" pending=action.pending() />
                </ActionForm>
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
                            Err(error) => view! { <FormAlert message=Some(error.to_string()) /> }.into_any(),
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
