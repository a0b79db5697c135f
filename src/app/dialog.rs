//! Accessible modal dialogs on the native `<dialog>` element: opened with
//! `showModal` (the rest of the page becomes inert, a click outside does
//! nothing), labelled by their title, Esc and Cancel close them through the
//! owner's `on_close` (which may refuse), Tab stays inside, and focus returns
//! to the button that opened them.

use super::components::{FormAlert, FormErrors, SubmitButton};
use crate::error::AppError;
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
    modal::manage(dialog);
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
                        modal::keep_tab_inside(&dialog, &ev);
                    }
                }
            }
        >
            <h2 id=TITLE_ID class="modal-title">{move || title.get()}</h2>
            {children()}
        </dialog>
    }
}

/// What every dialog of a page is told: how to close, and how to tell the
/// page that what it shows changed.
#[derive(Clone, Copy)]
pub struct DialogHooks {
    pub close: Callback<()>,
    pub changed: Callback<()>,
}

/// Once the dialog's action succeeds, the page behind is refreshed and the
/// dialog closes.
pub fn close_on_success<T: Clone + Send + Sync + 'static>(
    value: impl Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
    hooks: DialogHooks,
) {
    Effect::new(move |_| {
        if let Some(Ok(_)) = value.get() {
            hooks.changed.run(());
            hooks.close.run(());
        }
    });
}

/// "Are you sure?" before a change that cannot be taken back: the children
/// say what will happen; Cancel has the focus.
#[component]
pub fn ConfirmDialog<T: Clone + Send + Sync + 'static>(
    #[prop(into)] title: String,
    label: &'static str,
    pending_label: &'static str,
    action: Action<(), Result<T, AppError>>,
    hooks: DialogHooks,
    children: Children,
) -> impl IntoView {
    close_on_success(action.value(), hooks);
    let message = FormErrors::of(action.value()).form(&[]);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(());
    };
    view! {
        <Modal title=title on_close=hooks.close>
            <form class="modal-form" on:submit=submit>
                {children()}
                <FormAlert message />
                <div class="modal-actions">
                    <button type="button" class="button subtle" autofocus=true on:click=move |_| hooks.close.run(())>"Cancel"</button>
                    <SubmitButton label pending_label pending=action.pending() danger=true />
                </div>
            </form>
        </Modal>
    }
}

#[cfg(feature = "hydrate")]
mod modal {
    use leptos::{ev::KeyboardEvent, html, prelude::*, wasm_bindgen::JsCast, web_sys};

    const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]), \
         select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
    /// Where focus goes when the opener is gone (say, the row of a deleted
    /// key): the page's main action.
    const FALLBACK: &str = "#main .page-header .button";

    /// Opens the dialog once it is in the page, hides everything else from
    /// assistive technology meanwhile, and when it goes away undoes that and
    /// focuses the element that was focused when it opened.
    pub fn manage(dialog: NodeRef<html::Dialog>) {
        let opener = StoredValue::new_local(
            document()
                .active_element()
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()),
        );
        let hidden = StoredValue::new_local(Vec::<web_sys::Element>::new());
        Effect::new(move |_| {
            if let Some(element) = dialog.get() {
                open_once_connected(dialog, element, hidden);
            }
        });
        on_cleanup(move || {
            for element in hidden.try_get_value().unwrap_or_default() {
                let _ = element.remove_attribute("aria-hidden");
            }
            // While the dialog is still in the page everything else is inert
            // and cannot take focus, so focus moves once it is gone.
            let opener = opener.try_get_value().flatten();
            request_animation_frame(move || restore_focus(opener));
        });
    }

    /// A view that waited for something (a wasm chunk, data) under a
    /// `Suspense` is built before it is put in the page, and `showModal`
    /// fails on a dialog outside the page: wait a frame for it, for as long
    /// as the dialog's view lives.
    fn open_once_connected(
        dialog: NodeRef<html::Dialog>,
        element: web_sys::HtmlDialogElement,
        hidden: StoredValue<Vec<web_sys::Element>, LocalStorage>,
    ) {
        if element.open() {
            return;
        }
        if !element.is_connected() {
            request_animation_frame(move || {
                if dialog.try_get_untracked().is_some() {
                    open_once_connected(dialog, element, hidden);
                }
            });
            return;
        }
        hidden.set_value(hide_others(&element));
        // showModal makes the rest inert and focuses the element marked
        // autofocus, or the first focusable one.
        let _ = element.show_modal();
    }

    /// Marks every element beside the dialog and beside each of its
    /// ancestors `aria-hidden`; returns those it marked.
    fn hide_others(dialog: &web_sys::HtmlDialogElement) -> Vec<web_sys::Element> {
        let mut marked = Vec::new();
        let mut node: web_sys::Element = dialog.clone().into();
        while let Some(parent) = node.parent_element() {
            let siblings = parent.children();
            for i in 0..siblings.length() {
                let Some(sibling) = siblings.item(i) else {
                    continue;
                };
                if sibling != node && !sibling.has_attribute("aria-hidden") {
                    let _ = sibling.set_attribute("aria-hidden", "true");
                    marked.push(sibling);
                }
            }
            if parent.tag_name() == "BODY" {
                break;
            }
            node = parent;
        }
        marked
    }

    fn restore_focus(opener: Option<web_sys::HtmlElement>) {
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
mod modal {
    use leptos::{ev::KeyboardEvent, html, prelude::*, web_sys};

    pub fn manage(_: NodeRef<html::Dialog>) {}
    pub fn keep_tab_inside(_: &web_sys::HtmlDialogElement, _: &KeyboardEvent) {}
}
