//! Accessible modal dialogs on the native `<dialog>` element: opened with
//! `showModal` (the rest of the page becomes inert, a click outside does
//! nothing), labelled by their title, Esc and Cancel close them through the
//! owner's `on_close` (which may refuse), Tab stays inside, and focus returns
//! to the button that opened them.

use leptos::{html, prelude::*};

/// The id of the open dialog's title. Only one dialog is open at a time.
pub const TITLE_ID: &str = "dialog-title";

#[component]
pub fn Modal(
    #[prop(into)] title: Signal<String>,
    /// Asked to close (Esc, or the owner's own buttons call it too).
    #[prop(into)]
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    focus::remember_opener();
    Effect::new(move |_| {
        if let Some(dialog) = dialog.get() {
            focus::open(&dialog);
        }
    });
    view! {
        <dialog
            node_ref=dialog
            class="modal"
            role="dialog"
            aria-modal="true"
            aria-labelledby=TITLE_ID
            on:cancel=move |ev: leptos::web_sys::Event| {
                ev.prevent_default();
                on_close.run(());
            }
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    ev.prevent_default();
                    on_close.run(());
                } else if ev.key() == "Tab" {
                    if let Some(dialog) = dialog.get_untracked() {
                        focus::keep_tab_inside(&dialog, &ev);
                    }
                }
            }
        >
            <h2 id=TITLE_ID class="modal-title">{move || title.get()}</h2>
            {children()}
        </dialog>
    }
}

#[cfg(feature = "hydrate")]
mod focus {
    use leptos::{ev::KeyboardEvent, prelude::*, wasm_bindgen::JsCast, web_sys};

    const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]), \
         select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
    /// Where focus goes when the opener is gone (say, the row of a deleted
    /// key): the page's main action.
    const FALLBACK: &str = "#main .page-header .button";

    /// Notes the focused element now, and focuses it again when the dialog
    /// goes away.
    pub fn remember_opener() {
        let opener = StoredValue::new_local(
            document()
                .active_element()
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()),
        );
        // While the dialog is still in the page everything else is inert and
        // cannot take focus, so focus moves once it is gone.
        on_cleanup(move || {
            let opener = opener.try_get_value().flatten();
            request_animation_frame(move || restore(opener));
        });
    }

    fn restore(opener: Option<web_sys::HtmlElement>) {
        let target = opener.filter(|e| e.is_connected()).or_else(|| {
            document()
                .query_selector(FALLBACK)
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into().ok())
        });
        if let Some(target) = target {
            let _ = target.focus();
        }
    }

    pub fn open(dialog: &web_sys::HtmlDialogElement) {
        if !dialog.open() {
            // showModal focuses the element marked autofocus, or the first
            // focusable one.
            let _ = dialog.show_modal();
        }
    }

    pub fn keep_tab_inside(dialog: &web_sys::HtmlDialogElement, ev: &KeyboardEvent) {
        let Ok(nodes) = dialog.query_selector_all(FOCUSABLE) else {
            return;
        };
        let items: Vec<web_sys::HtmlElement> = (0..nodes.length())
            .filter_map(|i| nodes.item(i)?.dyn_into().ok())
            .filter(|e: &web_sys::HtmlElement| e.offset_parent().is_some())
            .collect();
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            return;
        };
        let active = document().active_element();
        let at = |e: &web_sys::HtmlElement| active.as_ref() == Some(e.unchecked_ref());
        if ev.shift_key() && at(first) {
            ev.prevent_default();
            let _ = last.focus();
        } else if !ev.shift_key() && at(last) {
            ev.prevent_default();
            let _ = first.focus();
        }
    }
}

/// On the server a dialog is never open: these do nothing.
#[cfg(not(feature = "hydrate"))]
mod focus {
    use leptos::{ev::KeyboardEvent, web_sys};

    pub fn remember_opener() {}
    pub fn open(_: &web_sys::HtmlDialogElement) {}
    pub fn keep_tab_inside(_: &web_sys::HtmlDialogElement, _: &KeyboardEvent) {}
}
