//! The fields of what a platform keeps on a key for itself: its external
//! id, and `meta` as JSON in a text area that says at which line a mistake
//! is, as it is typed.

use super::components::FormErrors;
use crate::keys::meta::{KeyMeta, MAX_EXTERNAL_ID_CHARS, MAX_META_BYTES};
use leptos::prelude::*;
use serde_json::Value;

/// What the two fields hold, as typed.
#[derive(Clone, Copy)]
pub struct OwnerForm {
    pub external_id: RwSignal<String>,
    pub meta: RwSignal<String>,
}

impl OwnerForm {
    pub fn new(external_id: Option<&str>, meta: Option<&Value>) -> Self {
        let meta = meta
            .and_then(|meta| KeyMeta::parse(meta).ok())
            .map(|meta| meta.pretty())
            .unwrap_or_default();
        OwnerForm {
            external_id: RwSignal::new(external_id.unwrap_or_default().to_owned()),
            meta: RwSignal::new(meta),
        }
    }

    /// The external id to send: `None` when the field is empty.
    pub fn external_id(&self) -> Option<String> {
        Some(self.external_id.get_untracked()).filter(|id| !id.is_empty())
    }

    /// The meta to send: `Ok(None)` when the field is empty, `Err` while the
    /// text is not a JSON object (the field says why).
    pub fn meta(&self) -> Result<Option<Value>, ()> {
        KeyMeta::parse_text(&self.meta.get_untracked())
            .map(|meta| meta.map(|meta| meta.to_value()))
            .map_err(drop)
    }
}

#[component]
pub fn OwnerFields(form: OwnerForm, errors: FormErrors) -> impl IntoView {
    let server_id_error = errors.field("external_id");
    let server_meta_error = errors.field("meta");
    // What is wrong with the JSON as typed; else what the server said.
    let meta_error = Signal::derive(move || {
        KeyMeta::parse_text(&form.meta.get())
            .err()
            .and_then(|error| error.field_message("meta"))
            .or_else(|| server_meta_error.get())
    });
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
