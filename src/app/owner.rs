//! The fields of what a platform keeps on a key for itself: its external
//! id, and `meta` as JSON in a text area that says at which line a mistake
//! is, as it is typed. In a split build the JSON parser this needs is
//! loaded with the first keystroke (a lazy function: its own wasm chunk),
//! not with the page.

use super::components::FormErrors;
use crate::keys::meta::{KeyMeta, MetaJson, MAX_EXTERNAL_ID_CHARS, MAX_META_BYTES};
use leptos::prelude::*;

/// What the two fields hold, as typed.
#[derive(Clone, Copy)]
pub struct OwnerForm {
    pub external_id: RwSignal<String>,
    pub meta: RwSignal<String>,
}

impl OwnerForm {
    /// The fields filled with a key's external id and its meta, indented.
    pub fn new(external_id: Option<&str>, meta_text: Option<&str>) -> Self {
        OwnerForm {
            external_id: RwSignal::new(external_id.unwrap_or_default().to_owned()),
            meta: RwSignal::new(meta_text.unwrap_or_default().to_owned()),
        }
    }

    /// The external id to send: `None` when the field is empty.
    pub fn external_id(&self) -> Option<String> {
        Some(self.external_id.get_untracked()).filter(|id| !id.is_empty())
    }

    /// The meta to send: `Ok(None)` when the field is empty, `Err` while the
    /// text is not a JSON object (the field says why).
    pub async fn meta(&self) -> Result<Option<MetaJson>, String> {
        meta_to_send(self.meta.get_untracked()).await
    }
}

/// Typed text as the meta to send, or what is wrong with it (with its line
/// and column).
#[cfg_attr(any(not(target_arch = "wasm32"), wasm_split), leptos::lazy)]
async fn meta_to_send(text: String) -> Result<Option<MetaJson>, String> {
    KeyMeta::parse_text(&text)
        .map(|meta| meta.map(|meta| meta.to_json()))
        .map_err(|error| error.field_message("meta").unwrap_or_default())
}

#[component]
pub fn OwnerFields(form: OwnerForm, errors: FormErrors) -> impl IntoView {
    let server_id_error = errors.field("external_id");
    let server_meta_error = errors.field("meta");
    // What is wrong with the JSON as typed (checked in the browser only,
    // once per change; a check overtaken by newer text is dropped); else
    // what the server said.
    let mistake = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let text = form.meta.get();
        leptos::task::spawn_local(async move {
            let found = meta_to_send(text.clone()).await.err();
            if form.meta.get_untracked() == text {
                mistake.set(found);
            }
        });
    });
    let meta_error = Signal::derive(move || mistake.get().or_else(|| server_meta_error.get()));
    view! {
        <div class="field" class:invalid=move || server_id_error.get().is_some()>
            <label for="key-external-id">"External ID (optional)"</label>
            <input
                id="key-external-id"
                type="text"
                autocomplete="off"
                spellcheck="false"
                maxlength=MAX_EXTERNAL_ID_CHARS.to_string()
                bind:value=form.external_id
                aria-invalid=move || server_id_error.get().map(|_| "true")
                aria-describedby="key-external-id-hint key-external-id-error"
            />
            <p class="hint" id="key-external-id-hint">"Your own id for whom the key belongs to, e.g. a customer id. Verify answers it, and keys can be listed by it."</p>
            <p class="field-error" id="key-external-id-error">{move || server_id_error.get()}</p>
        </div>
        <div class="field" class:invalid=move || meta_error.get().is_some()>
            <label for="key-meta">"Metadata (optional JSON object)"</label>
            <textarea
                id="key-meta"
                class="code"
                rows="5"
                spellcheck="false"
                placeholder="{\n  \"plan\": \"pro\"\n}"
                bind:value=form.meta
                aria-invalid=move || meta_error.get().map(|_| "true")
                aria-describedby="key-meta-hint key-meta-error"
            ></textarea>
            <p class="hint" id="key-meta-hint">
                {format!("Answered by verify with the key. At most {} KB, nested at most 5 levels.", MAX_META_BYTES / 1024)}
            </p>
            <p class="field-error" id="key-meta-error" aria-live="polite">{move || meta_error.get()}</p>
        </div>
    }
}
