//! Small building blocks shared by the pages.

use crate::error::AppError;
use leptos::prelude::*;

/// Field messages and the form-level message of an action's last failure.
#[derive(Clone, Copy)]
pub struct FormErrors {
    last: Signal<Option<AppError>>,
}

impl FormErrors {
    pub fn of<T: Clone + Send + Sync + 'static>(
        value: impl Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
    ) -> Self {
        FormErrors {
            last: Signal::derive(move || value.get().and_then(Result::err)),
        }
    }

    pub fn field(&self, name: &'static str) -> Signal<Option<String>> {
        let last = self.last;
        Signal::derive(move || last.get().and_then(|e| e.field_message(name)))
    }

    /// Errors not tied to a field shown on the form: wrong credentials,
    /// throttling, a server or network failure.
    pub fn form(&self, fields: &'static [&'static str]) -> Signal<Option<String>> {
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

/// A labelled input with an optional hint and a message area for its error.
/// The input is described by both, so screen readers announce them.
#[component]
pub fn TextField(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(into)] error: Signal<Option<String>>,
    /// The input's id where a page has two fields of one name (two forms
    /// asking for the password); `field-{name}` by default.
    #[prop(optional)]
    id: Option<&'static str>,
) -> impl IntoView {
    let id = id.map_or_else(|| format!("field-{name}"), str::to_owned);
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described_by = {
        let hint_id = hint.map(|_| hint_id.clone());
        let error_id = error_id.clone();
        move || {
            let error_id = error.get().map(|_| error_id.clone());
            let ids: Vec<String> = hint_id.iter().cloned().chain(error_id).collect();
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:invalid=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                required=true
                aria-invalid=move || error.get().map(|_| "true")
                aria-describedby=described_by
            />
            {hint.map(|hint| view! { <p class="hint" id=hint_id>{hint}</p> })}
            <p class="field-error" id=error_id>{move || error.get()}</p>
        </div>
    }
}

/// A submit button that says what it is doing while its action runs; red
/// when what it does cannot be undone.
#[component]
pub fn SubmitButton(
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

/// Why a page's data could not be loaded, announced: the one way every page
/// shows it.
#[component]
pub fn LoadError(error: crate::error::AppError) -> impl IntoView {
    view! { <p class="form-alert" role="alert">{error.to_string()}</p> }
}

/// A message about the whole form (not one field), announced when it appears.
#[component]
pub fn FormAlert(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    view! {
        <div class="form-alert" role="alert">
            {move || message.get().map(|m| view! { <p>{m}</p> })}
        </div>
    }
}

/// The product mark: a key on an indigo tile (the same drawing as the favicon).
#[component]
pub fn BrandMark() -> impl IntoView {
    view! {
        <svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="#4f46e5" />
            <circle cx="12" cy="16" r="5" fill="none" stroke="#fff" stroke-width="3" />
            <path d="M17 16h10M23 16v5M27 16v4" stroke="#fff" stroke-width="3" stroke-linecap="round" />
        </svg>
    }
}

/// "Previous" and "Next" over cursor pages. `cursors` holds the cursor of
/// every page before this one and of this one; `next` continues after it.
#[component]
pub fn Pager(
    label: &'static str,
    cursors: RwSignal<Vec<String>>,
    next: Option<String>,
) -> impl IntoView {
    let at_first = cursors.with_untracked(Vec::is_empty);
    let at_last = next.is_none();
    let forward = move |_| {
        if let Some(cursor) = next.clone() {
            cursors.update(|c| c.push(cursor));
        }
    };
    let back = move |_| {
        cursors.update(|c| {
            c.pop();
        })
    };
    view! {
        <nav class="pager" aria-label=label>
            <button type="button" class="button subtle" disabled=at_first on:click=back>"Previous"</button>
            <button type="button" class="button subtle" disabled=at_last on:click=forward>"Next"</button>
        </nav>
    }
}

/// A key's scopes as chips; one the catalogue no longer offers says so.
#[component]
pub fn ScopeChips(key: crate::keys::model::ApiKeyView) -> impl IntoView {
    let retired = key.retired_scopes;
    view! {
        <ul class="chips" aria-label="Scopes">
            {key
                .scopes
                .into_iter()
                .map(|scope| {
                    if retired.contains(&scope) {
                        view! {
                            <li class="chip retired" title="The permission catalogue no longer offers this scope: it grants nothing.">
                                {scope} <small>"no longer offered"</small>
                            </li>
                        }
                        .into_any()
                    } else {
                        view! { <li class="chip">{scope}</li> }.into_any()
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// A label, the control given as children, and the control's error below it
/// (with the id `{id}-error` that the control names in aria-describedby).
#[component]
pub fn Field(
    label: &'static str,
    id: &'static str,
    #[prop(into)] error: Signal<Option<String>>,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="field" class:invalid=move || error.get().is_some()>
            <label for=id>{label}</label>
            {children()}
            <p class="field-error" id=format!("{id}-error")>{move || error.get()}</p>
        </div>
    }
}
