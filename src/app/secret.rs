//! Showing a secret once (a new API key, an invitation link): the dialog
//! whose form issues it, the panel with Copy, and the "Have you saved
//! this?" question before closing an uncopied one.

use super::dialog::Modal;
use leptos::{html, prelude::*};

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

/// What kind of secret is on show: how the panel names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    ApiKey,
    ManagementKey,
    InvitationLink,
}

impl SecretKind {
    fn label(self) -> &'static str {
        match self {
            SecretKind::ApiKey => "Your API key",
            SecretKind::ManagementKey => "Your management key",
            SecretKind::InvitationLink => "Invitation link",
        }
    }

    fn warning(self) -> &'static str {
        match self {
            SecretKind::ApiKey | SecretKind::ManagementKey => {
                " For your security it will not be shown again. If you lose it, rotate the key to get a new one."
            }
            SecretKind::InvitationLink => {
                " Send it to the person you invited; it works once, for 7 days, and will not be shown again. If you lose it, revoke the invitation and invite again."
            }
        }
    }

    fn noun(self) -> &'static str {
        match self {
            SecretKind::ApiKey | SecretKind::ManagementKey => "key",
            SecretKind::InvitationLink => "link",
        }
    }
}

/// A dialog whose form (the children) issues a secret, then shows it once
/// in the form's place, under `issued_title`.
#[component]
pub fn SecretDialog(
    #[prop(into)] title: String,
    issued_title: &'static str,
    kind: SecretKind,
    secret: Memo<Option<String>>,
    close: Callback<()>,
    children: ChildrenFn,
) -> impl IntoView {
    let reveal = SecretReveal::new();
    let heading = Signal::derive(move || match secret.get() {
        Some(_) => issued_title.to_owned(),
        None => title.clone(),
    });
    view! {
        <Modal title=heading on_close=reveal.closer(secret, close)>
            <Show
                when=move || secret.get().is_none()
                fallback=move || view! { <SecretPanel kind reveal secret close /> }
            >
                {children()}
            </Show>
        </Modal>
    }
}

#[component]
fn SecretPanel(
    kind: SecretKind,
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
                <strong>{format!("Copy this {} now.", kind.noun())}</strong>
                {kind.warning()}
            </p>
            <label for="new-secret">{kind.label()}</label>
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
                        .to_owned()
                    } else if copy_failed.get() {
                        format!("Could not copy. Select the {} and copy it yourself.", kind.noun())
                    } else {
                        String::new()
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
                    <h3 id="confirm-close-title">{format!("Have you saved this {}?", kind.noun())}</h3>
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
