//! The dialogs of the API Keys page: create, edit, rotate, revoke, delete,
//! and the one-time display of a new secret.

use super::form::{IpAllowlistField, KeyFields, KeyForm};
use crate::{
    app::{
        components::{Field, FormAlert, FormErrors, SubmitButton},
        credits::{CreditsFields, CreditsForm},
        dialog::{close_on_success, ConfirmDialog, DialogHooks, Modal},
        limits::{LimitsForm, RateLimitsFields},
        owner::{OwnerFields, OwnerForm},
        secret::{SecretDialog, SecretKind},
    },
    error::AppError,
    keys::{
        model::{ApiKeyView, IssuedKey, KeyChanges, KeyDraft, MAX_EXPIRY_DAYS},
        rpc::{create_api_key, delete_api_key, revoke_api_key, rotate_api_key, update_api_key},
        scope::CatalogueView,
    },
    shared::key_type::KeyType,
};
use leptos::prelude::*;

/// The view of `dialog`. In a split build it is loaded with the first
/// opening: the dialogs and their editors are a wasm chunk of their own (a
/// lazy function), not part of the page's first visit. A build without
/// `--split` has no chunk to fetch (a lazy function there would import a
/// module that never exists), so there it is a plain async function
/// (`cfg(wasm_split)` comes from build.rs).
#[cfg_attr(any(not(target_arch = "wasm32"), wasm_split), leptos::lazy)]
pub async fn dialog(dialog: OpenDialog, catalogue: CatalogueView, hooks: DialogHooks) -> AnyView {
    match dialog {
        OpenDialog::Create(kind) => view! { <CreateKeyDialog kind catalogue hooks /> }.into_any(),
        OpenDialog::Edit(key) => view! { <EditKeyDialog catalogue key hooks /> }.into_any(),
        OpenDialog::Rotate(key) => view! { <RotateKeyDialog key hooks /> }.into_any(),
        OpenDialog::Revoke(key) => view! { <RevokeKeyDialog key hooks /> }.into_any(),
        OpenDialog::Delete(key) => view! { <DeleteKeyDialog key hooks /> }.into_any(),
    }
}

/// Which dialog is open, and on which key.
#[derive(Clone, Debug, PartialEq)]
pub enum OpenDialog {
    /// A new key of this kind.
    Create(KeyType),
    Edit(ApiKeyView),
    Rotate(ApiKeyView),
    Revoke(ApiKeyView),
    Delete(ApiKeyView),
}

const FORM_FIELDS: &[&str] = &[
    "name",
    "scopes",
    "expires_in_days",
    "ips",
    "external_id",
    "meta",
    "ratelimits",
    "credits",
];

#[component]
fn CreateKeyDialog(kind: KeyType, catalogue: CatalogueView, hooks: DialogHooks) -> impl IntoView {
    let form = KeyForm::blank(&catalogue);
    let owner = OwnerForm::new(None, None);
    let limits = LimitsForm::of(&[]);
    let credits = CreditsForm::blank();
    let (titles, secret_kind) = match kind {
        KeyType::Api => (("Create API key", "API key created"), SecretKind::ApiKey),
        KeyType::Management => (
            ("Create management key", "Management key created"),
            SecretKind::ManagementKey,
        ),
    };
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
        let draft = KeyDraft {
            key_type: kind,
            name: form.name.get_untracked(),
            scopes: form.scope_names(),
            expires_in_days,
            ips: form.ip_lines(),
            external_id: owner.external_id(),
            meta: None,
            ratelimits: limits.limits(),
            credits: credits.credits(),
        };
        if owner.meta.get_untracked().trim().is_empty() {
            create.dispatch(draft);
            return;
        }
        leptos::task::spawn_local(async move {
            // A mistake in the JSON is shown at its field as it is typed.
            if let Ok(meta) = owner.meta().await {
                create.dispatch(KeyDraft { meta, ..draft });
            }
        });
    };
    view! {
        <SecretDialog title=titles.0 issued_title=titles.1 kind=secret_kind secret=issued close=hooks.close>
            <form class="modal-form" on:submit=submit novalidate=true>
                <KeyFields form errors catalogue=catalogue.clone() />
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
                {(kind == KeyType::Api).then(|| view! {
                    <KeyLimitsFields limits errors />
                    <CreditsFields form=credits errors />
                })}
                {(kind == KeyType::Api).then(|| view! {
                    // Opened by a refusal of its fields, so the message is seen.
                    <details
                        class="more-fields"
                        open=move || errors.field("external_id").get().or(errors.field("meta").get()).is_some()
                    >
                        <summary>"Owner and metadata"</summary>
                        <OwnerFields form=owner errors />
                    </details>
                })}
                <FormAlert message=errors.form(FORM_FIELDS) />
                <div class="modal-actions">
                    <button type="button" class="button subtle" on:click=move |_| hooks.close.run(())>"Cancel"</button>
                    <SubmitButton label="Create" pending_label="Creating…" pending=create.pending() />
                </div>
            </form>
        </SecretDialog>
    }
}

/// A key's own rate limits, in its create and edit dialogs.
#[component]
fn KeyLimitsFields(limits: LimitsForm, errors: FormErrors) -> impl IntoView {
    view! {
        <RateLimitsFields
            form=limits
            errors
            id="key-ratelimits"
            legend="Rate limits (optional)"
            hint="How much verify admits per window, each verification's cost added up. The account's own limits apply too."
        />
    }
}

#[component]
fn EditKeyDialog(key: ApiKeyView, catalogue: CatalogueView, hooks: DialogHooks) -> impl IntoView {
    let form = KeyForm::of(&key);
    let limits = LimitsForm::of(&key.ratelimits);
    let is_api_key = key.key_type == KeyType::Api;
    let id = key.id.clone();
    let save = Action::new(move |changes: &KeyChanges| update_api_key(id.clone(), changes.clone()));
    let errors = FormErrors::of(save.value());
    close_on_success(save.value(), hooks);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(KeyChanges {
            name: Some(form.name.get_untracked()),
            scopes: Some(form.scope_names()),
            ips: Some(form.ip_lines()),
            ratelimits: is_api_key.then(|| limits.limits()),
            ..KeyChanges::default()
        });
    };
    view! {
        <Modal title=format!("Edit {}", key.name) on_close=hooks.close>
            <form class="modal-form" on:submit=submit novalidate=true>
                <p class="hint">"Change the name, scopes or allowed addresses. The secret stays the same: rotate the key to replace it."</p>
                <KeyFields form errors catalogue retired=key.retired_scopes.clone() />
                <IpAllowlistField form errors />
                {is_api_key.then(|| view! { <KeyLimitsFields limits errors /> })}
                <FormAlert message=errors.form(FORM_FIELDS) />
                <div class="modal-actions">
                    <button type="button" class="button subtle" on:click=move |_| hooks.close.run(())>"Cancel"</button>
                    <SubmitButton label="Save changes" pending_label="Saving…" pending=save.pending() />
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
fn RotateKeyDialog(key: ApiKeyView, hooks: DialogHooks) -> impl IntoView {
    let grace = RwSignal::new("0".to_owned());
    let id = key.id.clone();
    let rotate = Action::new(move |minutes: &i64| rotate_api_key(id.clone(), *minutes));
    let errors = FormErrors::of(rotate.value());
    let issued = issued_secret(rotate.value(), hooks);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        rotate.dispatch(grace.get_untracked().parse().unwrap_or(0));
    };
    let (issued_title, secret_kind) = match key.key_type {
        KeyType::Api => ("API key rotated", SecretKind::ApiKey),
        KeyType::Management => ("Management key rotated", SecretKind::ManagementKey),
    };
    view! {
        <SecretDialog title=format!("Rotate {}?", key.name) issued_title kind=secret_kind secret=issued close=hooks.close>
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
                    <SubmitButton label="Rotate key" pending_label="Rotating…" pending=rotate.pending() />
                </div>
            </form>
        </SecretDialog>
    }
}

#[component]
fn RevokeKeyDialog(key: ApiKeyView, hooks: DialogHooks) -> impl IntoView {
    let id = key.id.clone();
    let revoke = Action::new(move |_: &()| revoke_api_key(id.clone()));
    view! {
        <ConfirmDialog title=format!("Revoke {}?", key.name) label="Revoke key" pending_label="Revoking…" action=revoke hooks>
            <p>
                "Every request made with this key will be refused from now on. This cannot be undone. "
                "The key stays in the list, marked revoked, until you delete it."
            </p>
        </ConfirmDialog>
    }
}

#[component]
fn DeleteKeyDialog(key: ApiKeyView, hooks: DialogHooks) -> impl IntoView {
    let id = key.id.clone();
    let delete = Action::new(move |_: &()| delete_api_key(id.clone()));
    close_on_success(delete.value(), hooks);
    let message = FormErrors::of(delete.value()).form(&[]);
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
