//! Passkeys in the dashboard: the Account page's list (add one under a
//! name, remove one with the password) and the sign-in page's button. The
//! browser's part (`navigator.credentials`) runs after hydration; the
//! options and answers travel as WebAuthn's JSON, which the browser turns
//! into its own objects and back.

use crate::{
    app::{
        components::{FormAlert, FormErrors, LoadError, SubmitButton, TextField},
        format::{date, date_time},
        table::{Column, DataRow, DataTable},
        two_factor::{FactorKind, RecoveryCodes, SecondFactors},
    },
    auth::{
        passkey_name::PasskeyName,
        passkey_rpc::{
            add_passkey, begin_passkey, begin_passkey_sign_in, sign_in_with_passkey, RemovePasskey,
        },
        summary::PasskeyView,
    },
    error::AppError,
};
use leptos::prelude::*;

/// What adding a passkey takes: its name, and the user's password.
#[derive(Clone)]
struct NewPasskeyForm {
    name: String,
    current_password: String,
}

/// Adds a passkey: the name checked, the server's prompt (after the
/// password), the browser's new credential, the server's check. The
/// recovery codes when it was the user's first second factor.
async fn add_flow(form: NewPasskeyForm) -> Result<Vec<String>, AppError> {
    let name = PasskeyName::parse(&form.name)?;
    let prompt = begin_passkey(form.current_password).await?;
    let answer = browser::create(&prompt.options)
        .await
        .map_err(AppError::Conflict)?;
    add_passkey(prompt.ceremony, name.as_str().to_owned(), answer).await
}

/// Signs in with a passkey the browser offers (with `email`, as that user
/// only); the server sends the page on.
async fn sign_in_flow(next: String, email: Option<String>) -> Result<(), AppError> {
    let prompt = begin_passkey_sign_in().await?;
    let answer = browser::get(&prompt.options)
        .await
        .map_err(AppError::Conflict)?;
    sign_in_with_passkey(prompt.ceremony, answer, next, email).await
}

/// The passkey being removed: its id and name.
type Removing = RwSignal<Option<(String, String)>>;

#[component]
pub fn PasskeysSection(factors: SecondFactors) -> impl IntoView {
    let status = factors.status;
    let changed = factors.on_change(FactorKind::Passkeys);
    let add = Action::new_unsync(|form: &NewPasskeyForm| add_flow(form.clone()));
    let codes = move || {
        add.value()
            .get()
            .and_then(Result::ok)
            .filter(|c| !c.is_empty())
    };
    // Once saved, the codes go: the list and the form come back.
    let saved = Callback::new(move |()| {
        add.value().set(None);
        changed.run(());
    });
    Effect::new(move |_| {
        if let Some(Ok(codes)) = add.value().get() {
            if codes.is_empty() {
                changed.run(());
            }
        }
    });
    let removing: Removing = RwSignal::new(None);
    view! {
        <section class="doc-section card" aria-labelledby="passkeys">
            <h2 id="passkeys">"Passkeys"</h2>
            <p class="hint">
                "A passkey signs you in with this device's fingerprint, face or PIN instead of your password, and counts as a second factor after it."
            </p>
            <Show
                when=move || codes().is_some()
                fallback=move || view! {
                    <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match status.await {
                                Ok(state) => view! { <PasskeyTable passkeys=state.passkeys removing /> }.into_any(),
                                Err(error) => view! { <LoadError error /> }.into_any(),
                            }
                        })}
                    </Suspense>
                    <Show when=move || removing.get().is_none() fallback=move || view! { <RemoveForm removing changed /> }>
                        <AddForm add />
                    </Show>
                }
            >
                {move || codes().map(|codes| view! { <RecoveryCodes codes changed=saved /> })}
            </Show>
            {factors.offer(FactorKind::Passkeys)}
        </section>
    }
}

/// Its name and the password, then the device's prompt.
#[component]
fn AddForm(add: Action<NewPasskeyForm, Result<Vec<String>, AppError>>) -> impl IntoView {
    let errors = FormErrors::of(add.value());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            name.set(String::new());
            password.set(String::new());
        }
    });
    view! {
        <form on:submit=move |ev| {
            ev.prevent_default();
            add.dispatch_local(NewPasskeyForm {
                name: name.get_untracked(),
                current_password: password.get_untracked(),
            });
        }>
            <ControlledField
                label="Passkey name"
                id="passkey-name"
                kind="text"
                autocomplete="off"
                hint="For example \"Work laptop\" or \"Phone\"."
                value=name
                error=errors.field("name")
            />
            <ControlledField
                label="Your password"
                id="passkey-add-password"
                kind="password"
                autocomplete="current-password"
                hint="A passkey signs in without it, so adding one takes it."
                value=password
                error=errors.field("current_password")
            />
            <FormAlert message=errors.form(&["name", "current_password"]) />
            <SubmitButton label="Add a passkey" pending_label="Waiting for your device…" pending=add.pending() />
        </form>
    }
}

/// A labelled input whose value the page keeps (the form is sent by the
/// page's own code, after the device's prompt).
#[component]
fn ControlledField(
    label: &'static str,
    id: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    hint: &'static str,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    view! {
        <div class="field" class:invalid=move || error.get().is_some()>
            <label for=id>{label}</label>
            <input
                id=id
                type=kind
                autocomplete=autocomplete
                aria-describedby=format!("{hint_id} {error_id}")
                aria-invalid=move || error.get().is_some().then_some("true")
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            <p id=hint_id class="hint">{hint}</p>
            <p id=error_id class="field-error" role="alert">{move || error.get()}</p>
        </div>
    }
}

/// Removing one passkey, with the password (in place of the add form).
#[component]
fn RemoveForm(removing: Removing, changed: Callback<()>) -> impl IntoView {
    let remove = ServerAction::<RemovePasskey>::new();
    let errors = FormErrors::of(remove.value());
    Effect::new(move |_| {
        if let Some(Ok(())) = remove.value().get() {
            removing.set(None);
            changed.run(());
        }
    });
    let (id, name) = removing.get_untracked().unwrap_or_default();
    view! {
        <ActionForm action=remove>
            <h3>{format!("Remove \u{201c}{name}\u{201d}")}</h3>
            <input type="hidden" name="id" value=id />
            <TextField
                label="Your password"
                name="current_password"
                id="passkey-remove-password"
                kind="password"
                autocomplete="current-password"
                hint="Removing a passkey takes your password."
                error=errors.field("current_password")
            />
            <FormAlert message=errors.form(&["current_password"]) />
            <p class="actions">
                <SubmitButton label="Remove passkey" pending_label="Removing…" pending=remove.pending() danger=true />
                " "
                <button type="button" class="button subtle" on:click=move |_| removing.set(None)>"Cancel"</button>
            </p>
        </ActionForm>
    }
}

const PASSKEY_COLUMNS: [Column; 4] = [
    Column::row_header("Name"),
    Column::text("Added"),
    Column::text("Last used"),
    Column::actions(),
];

#[component]
fn PasskeyTable(passkeys: Vec<PasskeyView>, removing: Removing) -> impl IntoView {
    let row = move |passkey: PasskeyView| {
        let chosen = (passkey.id.clone(), passkey.name.clone());
        DataRow::new(vec![
            passkey.name.clone().into_any(),
            date(passkey.created_at).into_any(),
            passkey
                .last_used_at
                .map_or_else(|| "Never".to_owned(), date_time)
                .into_any(),
            view! {
                <button
                    type="button"
                    class="button subtle small"
                    aria-label=format!("Remove {}", passkey.name)
                    on:click=move |_| removing.set(Some(chosen.clone()))
                >
                    "Remove"
                </button>
            }
            .into_any(),
        ])
    };
    view! {
        // Not named with "passkeys": the section is, and a region inside
        // it of a like name would make finding either ambiguous.
        <DataTable
            label="Registered devices, oldest first".to_owned()
            class="passkeys"
            columns=PASSKEY_COLUMNS.to_vec()
            rows=passkeys
            row
            empty="No passkeys yet."
        />
    }
}

/// "Use a passkey" on the sign-in page (not named "Sign in…", which is
/// the password form's button); as the second step after a password
/// (`second_step`), the passkey must be that email's.
#[component]
pub fn PasskeySignIn(next: Signal<String>, #[prop(optional)] second_step: bool) -> impl IntoView {
    let sign_in = Action::new_unsync(move |email: &Option<String>| {
        sign_in_flow(next.get_untracked(), email.clone())
    });
    let errors = FormErrors::of(sign_in.value());
    let label = if second_step {
        "Use a passkey instead"
    } else {
        "Use a passkey"
    };
    view! {
        <div class="passkey-sign-in">
            <button
                type="button"
                class="button"
                disabled=move || sign_in.pending().get()
                on:click=move |_| {
                    let email = second_step.then(browser::typed_email).flatten();
                    sign_in.dispatch_local(email);
                }
            >
                {move || if sign_in.pending().get() { "Waiting for your passkey…" } else { label }}
            </button>
            <FormAlert message=errors.form(&[]) />
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use js_sys::{Function, Object, Promise, Reflect, JSON};
    use leptos::{
        prelude::{document, window},
        wasm_bindgen::{JsCast, JsValue},
        web_sys::HtmlInputElement,
    };

    /// A new passkey for the options (`navigator.credentials.create`).
    pub async fn create(options: &str) -> Result<String, String> {
        ceremony(options, "parseCreationOptionsFromJSON", "create").await
    }

    /// An existing passkey's answer (`navigator.credentials.get`).
    pub async fn get(options: &str) -> Result<String, String> {
        ceremony(options, "parseRequestOptionsFromJSON", "get").await
    }

    /// The email typed on the sign-in form.
    pub fn typed_email() -> Option<String> {
        document()
            .get_element_by_id("field-email")
            .and_then(|field| field.dyn_into::<HtmlInputElement>().ok())
            .map(|input| input.value())
            .filter(|email| !email.trim().is_empty())
    }

    async fn ceremony(options: &str, parse: &str, method: &str) -> Result<String, String> {
        let class = Reflect::get(&window(), &"PublicKeyCredential".into()).unwrap_or_default();
        let parser = function(&class, parse).ok_or_else(unsupported)?;
        let options = JSON::parse(options).map_err(|_| unsupported())?;
        let public_key = Reflect::get(&options, &"publicKey".into()).map_err(describe)?;
        let public_key = parser.call1(&class, &public_key).map_err(describe)?;
        let request = Object::new();
        Reflect::set(&request, &"publicKey".into(), &public_key).map_err(describe)?;
        let credentials =
            Reflect::get(&window().navigator(), &"credentials".into()).map_err(describe)?;
        let call = function(&credentials, method).ok_or_else(unsupported)?;
        let pending: Promise = call
            .call1(&credentials, &request)
            .map_err(describe)?
            .dyn_into()
            .map_err(describe)?;
        let credential = wasm_bindgen_futures::JsFuture::from(pending)
            .await
            .map_err(describe)?;
        if credential.is_null() || credential.is_undefined() {
            return Err("No passkey was chosen.".into());
        }
        let to_json = function(&credential, "toJSON").ok_or_else(unsupported)?;
        let json = to_json.call0(&credential).map_err(describe)?;
        JSON::stringify(&json).map(String::from).map_err(describe)
    }

    fn function(target: &JsValue, name: &str) -> Option<Function> {
        Reflect::get(target, &name.into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
    }

    fn unsupported() -> String {
        "This browser does not support passkeys. Update it, or sign in with your password.".into()
    }

    /// What the browser's refusal means, in words.
    fn describe(error: JsValue) -> String {
        let field = |name: &str| {
            Reflect::get(&error, &name.into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        match field("name").as_str() {
            "NotAllowedError" | "AbortError" => {
                "The passkey prompt was closed or timed out. Try again when you are ready.".into()
            }
            "InvalidStateError" => "This device already holds one of your passkeys.".into(),
            "SecurityError" => {
                "Passkeys need this page opened by its name over https (or on localhost).".into()
            }
            _ => format!("Your browser refused the passkey: {}", field("message")),
        }
    }
}

#[cfg(not(feature = "hydrate"))]
mod browser {
    const BROWSER_ONLY: &str = "Passkeys work once the page has loaded in your browser.";

    pub async fn create(_: &str) -> Result<String, String> {
        Err(BROWSER_ONLY.into())
    }

    pub async fn get(_: &str) -> Result<String, String> {
        Err(BROWSER_ONLY.into())
    }

    pub fn typed_email() -> Option<String> {
        None
    }
}
