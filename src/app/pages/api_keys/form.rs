//! The fields a person edits on a key: name, scopes and allowed addresses.

use crate::{
    app::components::{Field, FormErrors},
    keys::{
        model::ApiKeyView,
        name::MAX_CHARS,
        scope::{CatalogueView, PermissionView},
        Scope,
    },
};
use leptos::prelude::*;

/// What the form holds, as typed; the service validates it.
#[derive(Clone, Copy)]
pub struct KeyForm {
    pub name: RwSignal<String>,
    pub scopes: RwSignal<Vec<Scope>>,
    /// One address or range per line.
    pub ips: RwSignal<String>,
}

impl KeyForm {
    /// A new key's form: `read` chosen when the catalogue offers it.
    pub fn blank(catalogue: &CatalogueView) -> Self {
        let read = Scope::parse("read").filter(|read| catalogue.offers(read));
        KeyForm {
            name: RwSignal::new(String::new()),
            scopes: RwSignal::new(read.into_iter().collect()),
            ips: RwSignal::new(String::new()),
        }
    }

    pub fn of(key: &ApiKeyView) -> Self {
        KeyForm {
            name: RwSignal::new(key.name.clone()),
            scopes: RwSignal::new(key.scopes.iter().filter_map(|s| Scope::parse(s)).collect()),
            ips: RwSignal::new(key.ips.join("\n")),
        }
    }

    pub fn scope_names(&self) -> Vec<String> {
        self.scopes
            .get_untracked()
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect()
    }

    pub fn ip_lines(&self) -> Vec<String> {
        self.ips
            .get_untracked()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Name and scopes: the catalogue's, by group, each with what it allows
/// and what it implies; below them, those the key holds that the catalogue
/// no longer offers (they can only be removed).
#[component]
pub fn KeyFields(
    form: KeyForm,
    errors: FormErrors,
    catalogue: CatalogueView,
    #[prop(optional)] retired: Vec<String>,
) -> impl IntoView {
    let groups: Vec<(Option<String>, Vec<PermissionView>)> = catalogue
        .groups()
        .into_iter()
        .map(|(group, members)| {
            (
                group.map(str::to_owned),
                members.into_iter().cloned().collect(),
            )
        })
        .collect();
    let retired: Vec<Scope> = retired.iter().filter_map(|s| Scope::parse(s)).collect();
    view! {
        <Field label="Name" id="key-name" error=errors.field("name")>
            <input
                id="key-name"
                type="text"
                autofocus=true
                autocomplete="off"
                maxlength=MAX_CHARS.to_string()
                bind:value=form.name
                aria-invalid=move || errors.field("name").get().map(|_| "true")
                aria-describedby="key-name-error"
            />
        </Field>
        <fieldset class="field scopes" aria-describedby="key-scopes-error">
            <legend>"Scopes"</legend>
            {groups
                .into_iter()
                .map(|(group, permissions)| {
                    let options = permissions
                        .into_iter()
                        .map(|permission| {
                            let hint = match permission.implies_text() {
                                Some(implied) => format!("{} Also grants {implied}.", permission.description),
                                None => permission.description.clone(),
                            };
                            view! { <ScopeOption form scope=permission.name.clone() hint /> }
                        })
                        .collect_view();
                    match group {
                        Some(group) => view! {
                            <fieldset class="scope-group">
                                <legend>{group}</legend>
                                {options}
                            </fieldset>
                        }
                        .into_any(),
                        None => options.into_any(),
                    }
                })
                .collect_view()}
            {(!retired.is_empty()).then(|| view! {
                <fieldset class="scope-group retired">
                    <legend>"No longer offered"</legend>
                    {retired
                        .into_iter()
                        .map(|scope| {
                            let hint = "No longer offered by the catalogue: it grants nothing. Uncheck it to remove it.".to_owned();
                            view! { <ScopeOption form scope hint /> }
                        })
                        .collect_view()}
                </fieldset>
            })}
            <p class="field-error" id="key-scopes-error">{move || errors.field("scopes").get()}</p>
        </fieldset>
    }
}

/// One scope's checkbox, its name as the label and `hint` below.
#[component]
fn ScopeOption(form: KeyForm, scope: Scope, hint: String) -> impl IntoView {
    let id = format!("scope-{scope}");
    let hint_id = format!("{id}-hint");
    let checked = {
        let scope = scope.clone();
        move || form.scopes.read().contains(&scope)
    };
    let toggle = {
        let scope = scope.clone();
        move |ev: leptos::ev::Event| {
            let on = event_target_checked(&ev);
            form.scopes.update(|scopes| {
                scopes.retain(|s| *s != scope);
                if on {
                    scopes.push(scope.clone());
                    scopes.sort();
                }
            });
        }
    };
    view! {
        <div class="scope-option">
            <input id=id.clone() type="checkbox" prop:checked=checked on:change=toggle aria-describedby=hint_id.clone() />
            <label for=id>{scope.to_string()}</label>
            <p class="hint" id=hint_id>{hint}</p>
        </div>
    }
}

/// Addresses and ranges the key may be used from, one per line.
#[component]
pub fn IpAllowlistField(form: KeyForm, errors: FormErrors) -> impl IntoView {
    view! {
        <Field label="IP allowlist (optional)" id="key-ips" error=errors.field("ips")>
            <textarea
                id="key-ips"
                rows="3"
                spellcheck="false"
                placeholder="203.0.113.7\n10.0.0.0/8"
                bind:value=form.ips
                aria-invalid=move || errors.field("ips").get().map(|_| "true")
                aria-describedby="key-ips-hint key-ips-error"
            ></textarea>
            <p class="hint" id="key-ips-hint">
                "One IPv4 or IPv6 address or CIDR range per line. Leave empty to allow any address."
            </p>
        </Field>
    }
}
