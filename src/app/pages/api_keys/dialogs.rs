//! The dialogs of the API Keys page: create, edit, rotate, revoke, delete,
//! and the one-time display of a new secret.

use super::form::{Field, IpAllowlistField, KeyFields, KeyForm};
use crate::{
    app::{
        components::{FormAlert, FormErrors},
        dialog::Modal,
    },
    error::AppError,
    keys::{
        model::{ApiKeyView, IssuedKey, KeyChanges, KeyDraft, MAX_EXPIRY_DAYS},
        rpc::{create_api_key, delete_api_key, revoke_api_key, rotate_api_key, update_api_key},
    },
};
use leptos::{html, prelude::*};

/// Which dialog is open, and on which key.
#[derive(Clone, Debug, PartialEq)]
pub enum OpenDialog {
    Create,
    Edit(ApiKeyView),
    Rotate(ApiKeyView),
    Revoke(ApiKeyView),
    Delete(ApiKeyView),
}

/// What every dialog is told: how to close, and how to tell the page that
/// the list changed.
#[derive(Clone, Copy)]
pub struct DialogHooks {
    pub close: Callback<()>,
    pub changed: Callback<()>,
}

const FORM_FIELDS: &[&str] = &["name", "scopes", "expires_in_days", "ips"];

#[component]
pub fn CreateKeyDialog(hooks: DialogHooks) -> impl IntoView {
    let form = KeyForm::blank();
    let expiry = RwSignal::new("90".to_owned());
    let custom_days = RwSignal::new("180".to_owned());
    let create = Action::new(move |draft: &KeyDraft| create_api_key(draft.clone()));
    let errors = FormErrors::of(create.value());
    let issued = issued_secret(create.value(), hooks);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let expires_in_days = match expiry.get_untracked().as_str() {
            "never" => None,
            "custom" => Some(custom_days.get_untracked().trim().parse().unwrap_or(0)),
            days => days.parse().ok(),
        };
        create.dispatch(KeyDraft {
            name: form.name.get_untracked(),
            scopes: form.scope_names(),
            expires_in_days,
            ips: form.ip_lines(),
        });
    };
    let reveal = SecretReveal::new();
    let title = move || {
        if issued.get().is_some() {
            "API key created"
        } else {
            "Create API key"
        }
    };
    view! {
        <Modal title=Signal::derive(move || title().to_owned()) on_close=reveal.closer(issued, hooks.close)>
            <Show
                when=move || issued.get().is_none()
                fallback=move || view! { <SecretPanel reveal secret=issued close=hooks.close /> }
            >
                <form class="modal-form" on:submit=submit novalidate=true>
                    <KeyFields form errors />
                    <Field label="Expiration" id="key-expiry" error=errors.field("expires_in_days")>
                        <select id="key-expiry" bind:value=expiry aria-describedby="key-expiry-error">
                            <option value="30">"30 days"</option>
                            <option value="60">"60 days"</option>
                            <option value="90">"90 days"</option>
                            <option value="custom">"Custom"</option>
                            <option value="never">"Never"</option>
                        </select>
                    </Field>
                    <Show when=move || expiry.get() == "custom">
                        <Field label="Days until it expires" id="key-expiry-days" error=Signal::derive(|| None::<String>)>
                            <input
                                id="key-expiry-days"
                                type="number"
                                min="1"
                                max=MAX_EXPIRY_DAYS.to_string()
                                bind:value=custom_days
                                aria-describedby="key-expiry-days-error"
                            />
                        </Field>
                    </Show>
                    <IpAllowlistField form errors />
                    <FormAlert message=errors.form(FORM_FIELDS) />
                    <div class="modal-actions">
                        <button type="button" class="button subtle" on:click=move |_| hooks.close.run(())>"Cancel"</button>
                        <PendingButton label="Create" pending_label="Creating…" pending=create.pending() />
                    </div>
                </form>
            </Show>
        </Modal>
    }
}

#[component]
pub fn EditKeyDialog(key: ApiKeyView, hooks: DialogHooks) -> impl IntoView {
    let form = KeyForm::of(&key);
    let id = key.id.clone();
    let save = Action::new(move |changes: &KeyChanges| update_api_key(id.clone(), changes.clone()));
    let errors = FormErrors::of(save.value());
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            hooks.changed.run(());
            hooks.close.run(());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(KeyChanges {
            name: Some(form.name.get_untracked()),
            scopes: Some(form.scope_names()),
            ips: Some(form.ip_lines()),
        });
    };
    view! {
        <Modal title=format!("Edit {}", key.name) on_close=hooks.close>
            <form class="modal-form" on:submit=submit novalidate=true>
                <p class="hint">"Change the name, scopes or allowed addresses. The secret stays the same: rotate the key to replace it."</p>
                <KeyFields form errors />
                <IpAllowlistField form errors />
                <FormAlert message=errors.form(FORM_FIELDS) />
                <div class="modal-actions">
                    <button type="button" class="button subtle" on:click=move |_| hooks.close.run(())>"Cancel"</button>
                    <PendingButton label="Save changes" pending_label="Saving…" pending=save.pending() />
                </div>
            </form>
        </Modal>
    }
}

/// Grace periods offered for the old secret, in minutes.
const GRACE_CHOICES: [(&str, &str); 6] = [
    ("0", "Stop working immediately"),
    ("15", "Keep working for 15 minutes"),
    ("60", "Keep working for 1 hour"),
    ("1440", "Keep working for 24 hours"),
    ("4320", "Keep working for 3 days"),
    ("10080", "Keep working for 7 days"),
];

#[component]
pub fn RotateKeyDialog(key: ApiKeyView, hooks: DialogHooks) -> impl IntoView {
    let grace = RwSignal::new("0".to_owned());
    let id = key.id.clone();
    let rotate = Action::new(move |minutes: &i64| rotate_api_key(id.clone(), *minutes));
    let errors = FormErrors::of(rotate.value());
    let issued = issued_secret(rotate.value(), hooks);
    let reveal = SecretReveal::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        rotate.dispatch(grace.get_untracked().parse().unwrap_or(0));
    };
    let name = key.name.clone();
    let title = move || match issued.get() {
        Some(_) => "API key rotated".to_owned(),
        None => format!("Rotate {name}?"),
    };
    view! {
        <Modal title=Signal::derive(title) on_close=reveal.closer(issued, hooks.close)>
            <Show
                when=move || issued.get().is_none()
                fallback=move || view! { <SecretPanel reveal secret=issued close=hooks.close /> }
            >
                <form class="modal-form" on:submit=submit>
                    <p>"A new secret will be created for this key and shown once. Integrations must switch to it."</p>
                    <Field label="The old secret should" id="rotate-grace" error=errors.field("grace_period_minutes")>
                        <select id="rotate-grace" bind:value=grace aria-describedby="rotate-grace-error">
                            {GRACE_CHOICES
                                .into_iter()
                                .map(|(minutes, label)| view! { <option value=minutes>{label}</option> })
                                .collect_view()}
                        </select>
                    </Field>
                    <FormAlert message=errors.form(&["grace_period_minutes"]) />
                    <div class="modal-actions">
                        <button type="button" class="button subtle" on:click=move |_| hooks.close.run(())>"Cancel"</button>
                        <PendingButton label="Rotate key" pending_label="Rotating…" pending=rotate.pending() />
                    </div>
                </form>
            </Show>
        </Modal>
    }
}

#[component]
pub fn RevokeKeyDialog(key: ApiKeyView, hooks: DialogHooks) -> impl IntoView {
    let id = key.id.clone();
    let revoke = Action::new(move |_: &()| revoke_api_key(id.clone()));
    let message = settle(revoke.value(), hooks);
    view! {
        <Modal title=format!("Revoke {}?", key.name) on_close=hooks.close>
            <form class="modal-form" on:submit=move |ev| { ev.prevent_default(); revoke.dispatch(()); }>
                <p>
                    "Every request made with this key will be refused from now on. This cannot be undone. "
                    "The key stays in the list, marked revoked, until you delete it."
                </p>
                <FormAlert message />
                <div class="modal-actions">
                    <button type="button" class="button subtle" autofocus=true on:click=move |_| hooks.close.run(())>"Cancel"</button>
                    <PendingButton label="Revoke key" pending_label="Revoking…" pending=revoke.pending() danger=true />
                </div>
            </form>
        </Modal>
    }
}

#[component]
pub fn DeleteKeyDialog(key: ApiKeyView, hooks: DialogHooks) -> impl IntoView {
    let id = key.id.clone();
    let delete = Action::new(move |_: &()| delete_api_key(id.clone()));
    let message = settle(delete.value(), hooks);
    let typed = RwSignal::new(String::new());
    let name = key.name.clone();
    let matches = Memo::new(move |_| typed.get() == name);
    let label = format!("Type {} to confirm", key.name);
    view! {
        <Modal title=format!("Delete {}?", key.name) on_close=hooks.close>
            <form class="modal-form" on:submit=move |ev| { ev.prevent_default(); if matches.get_untracked() { delete.dispatch(()); } }>
                <p>
                    "The key will be removed from the list and every request made with it will be refused. "
                    "Its audit events are kept. This cannot be undone."
                </p>
                <div class="field">
                    <label for="delete-confirm">{label}</label>
                    <input id="delete-confirm" type="text" autocomplete="off" autofocus=true bind:value=typed />
                </div>
                <FormAlert message />
                <div class="modal-actions">
                    <button type="button" class="button subtle" on:click=move |_| hooks.close.run(())>"Cancel"</button>
                    <button
                        type="submit"
                        class="button danger"
                        disabled=move || !matches.get() || delete.pending().get()
                    >
                        {move || if delete.pending().get() { "Deleting…" } else { "Delete key" }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

/// After a confirmation dialog's action: on success refresh and close; on
/// failure, the message to show.
fn settle<T: Clone + Send + Sync + 'static>(
    value: impl Get<Value = Option<Result<T, AppError>>> + Clone + Send + Sync + 'static,
    hooks: DialogHooks,
) -> Signal<Option<String>> {
    let watched = value.clone();
    Effect::new(move |_| {
        let value = &watched;
        if let Some(Ok(_)) = value.get() {
            hooks.changed.run(());
            hooks.close.run(());
        }
    });
    Signal::derive(move || value.get().and_then(Result::err).map(|e| e.to_string()))
}

/// The secret from a create or rotate that succeeded (and a refresh of the
/// list behind the dialog, so the key shows without a reload).
fn issued_secret(
    value: impl Get<Value = Option<Result<IssuedKey, AppError>>> + Clone + Send + Sync + 'static,
    hooks: DialogHooks,
) -> Memo<Option<String>> {
    let watched = value.clone();
    Effect::new(move |_| {
        let value = &watched;
        if let Some(Ok(_)) = value.get() {
            hooks.changed.run(());
        }
    });
    Memo::new(move |_| value.get().and_then(Result::ok).map(|issued| issued.secret))
}

/// The state of a secret on show: whether it was copied, and whether we are
/// asking "Have you saved this key?" before closing.
#[derive(Clone, Copy)]
struct SecretReveal {
    copied: RwSignal<bool>,
    confirming: RwSignal<bool>,
}

impl SecretReveal {
    fn new() -> Self {
        SecretReveal {
            copied: RwSignal::new(false),
            confirming: RwSignal::new(false),
        }
    }

    /// Closing while a secret that was never copied is shown asks first.
    fn closer(self, secret: Memo<Option<String>>, close: Callback<()>) -> Callback<()> {
        Callback::new(move |_| {
            if secret.get_untracked().is_some() && !self.copied.get_untracked() {
                self.confirming.set(true);
            } else {
                close.run(());
            }
        })
    }
}

#[component]
fn SecretPanel(
    reveal: SecretReveal,
    secret: Memo<Option<String>>,
    close: Callback<()>,
) -> impl IntoView {
    let field = NodeRef::<html::Input>::new();
    let copy_failed = RwSignal::new(false);
    let copy = move |_| {
        let text = secret.get_untracked().unwrap_or_default();
        clipboard::copy(text, field, reveal.copied, copy_failed);
    };
    let done = reveal.closer(secret, close);
    view! {
        <div class="secret-panel">
            <p class="notice warning" id="secret-warning">
                <strong>"Copy this key now."</strong>
                " For your security it will not be shown again. If you lose it, rotate the key to get a new one."
            </p>
            <label for="new-secret">"Your API key"</label>
            <div class="secret-row">
                <input
                    id="new-secret"
                    node_ref=field
                    class="secret"
                    type="text"
                    readonly=true
                    spellcheck="false"
                    autofocus=true
                    prop:value=move || secret.get().unwrap_or_default()
                    aria-describedby="secret-warning"
                    on:focus=move |_| {
                        if let Some(input) = field.get_untracked() {
                            input.select();
                        }
                    }
                />
                <button type="button" class="button" on:click=copy>
                    {move || if reveal.copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
            <p class="copy-status" role="status">
                {move || {
                    if reveal.copied.get() {
                        "Copied to the clipboard."
                    } else if copy_failed.get() {
                        "Could not copy. Select the key and copy it yourself."
                    } else {
                        ""
                    }
                }}
            </p>
            <Show
                when=move || reveal.confirming.get()
                fallback=move || view! {
                    <div class="modal-actions">
                        <button type="button" class="button primary" on:click=move |_| done.run(())>"Done"</button>
                    </div>
                }
            >
                <div class="confirm-close" role="alertdialog" aria-labelledby="confirm-close-title" aria-describedby="confirm-close-text">
                    <h3 id="confirm-close-title">"Have you saved this key?"</h3>
                    <p id="confirm-close-text">"You have not copied it, and it will not be shown again."</p>
                    <div class="modal-actions">
                        <button type="button" class="button subtle" autofocus=true on:click=move |_| reveal.confirming.set(false)>"Go back"</button>
                        <button type="button" class="button danger" on:click=move |_| close.run(())>"Yes, close"</button>
                    </div>
                </div>
            </Show>
        </div>
    }
}

#[component]
fn PendingButton(
    label: &'static str,
    pending_label: &'static str,
    #[prop(into)] pending: Signal<bool>,
    #[prop(optional)] danger: bool,
) -> impl IntoView {
    view! {
        <button
            type="submit"
            class="button"
            class:primary=!danger
            class:danger=danger
            disabled=move || pending.get()
            aria-busy=move || pending.get().to_string()
        >
            {move || if pending.get() { pending_label } else { label }}
        </button>
    }
}

#[cfg(feature = "hydrate")]
mod clipboard {
    use leptos::{html, prelude::*, wasm_bindgen::JsCast, web_sys};

    /// Copies with the Clipboard API, falling back to selecting the field
    /// and the older copy command.
    pub fn copy(
        text: String,
        field: NodeRef<html::Input>,
        copied: RwSignal<bool>,
        failed: RwSignal<bool>,
    ) {
        let promise = window().navigator().clipboard().write_text(&text);
        leptos::task::spawn_local(async move {
            let written = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            let ok = written || copy_selection(field);
            copied.set(ok);
            failed.set(!ok);
        });
    }

    fn copy_selection(field: NodeRef<html::Input>) -> bool {
        let Some(input) = field.get_untracked() else {
            return false;
        };
        input.select();
        document()
            .dyn_into::<web_sys::HtmlDocument>()
            .ok()
            .and_then(|doc| doc.exec_command("copy").ok())
            .unwrap_or(false)
    }
}

#[cfg(not(feature = "hydrate"))]
mod clipboard {
    use leptos::{html, prelude::*};

    /// Copying happens in the browser only.
    pub fn copy(_: String, _: NodeRef<html::Input>, _: RwSignal<bool>, _: RwSignal<bool>) {}
}
