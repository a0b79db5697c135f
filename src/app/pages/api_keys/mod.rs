//! The API Keys page: the account's keys, masked, and the dialogs that
//! create and change them.

mod dialogs;
mod form;

use crate::{
    app::{components::Pager, format},
    keys::{
        model::{ApiKeyView, KeyPage, KeyQuery, KeyStatus},
        rpc::list_api_keys,
    },
};
use dialogs::{
    CreateKeyDialog, DeleteKeyDialog, DialogHooks, EditKeyDialog, OpenDialog, RevokeKeyDialog,
    RotateKeyDialog,
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let open = RwSignal::new(None::<OpenDialog>);
    let refresh = RwSignal::new(0u32);
    let search = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    // Cursors of the pages before this one, and of this one.
    let cursors = RwSignal::new(Vec::<String>::new());
    let query = move || KeyQuery {
        status: KeyStatus::parse(&status.get()),
        search: Some(search.get()).filter(|s| !s.trim().is_empty()),
        cursor: cursors.get().last().cloned(),
        limit: None,
    };
    let keys = Resource::new(
        move || (query(), refresh.get()),
        |(query, _)| list_api_keys(query),
    );
    let hooks = DialogHooks {
        close: Callback::new(move |_| open.set(None)),
        changed: Callback::new(move |_| refresh.update(|n| *n += 1)),
    };
    let filtered = move || !search.get().trim().is_empty() || !status.get().is_empty();
    view! {
        <Title text="API Keys" />
        // The dialogs are rendered beside this wrapper, which is hidden from
        // assistive technology while one is open.
        <div class="page-body">
        <header class="page-header with-action">
            <div>
                <h1>"API Keys"</h1>
                <p class="lede">"Keys let your integrations call the platform on behalf of this account."</p>
            </div>
            <button id="create-key" type="button" class="button primary" on:click=move |_| open.set(Some(OpenDialog::Create))>
                "Create API key"
            </button>
        </header>
        <div class="toolbar" role="search">
            <input
                type="search"
                aria-label="Search keys by name"
                placeholder="Search by name"
                prop:value=move || search.get()
                on:input=move |ev| {
                    cursors.set(Vec::new());
                    search.set(event_target_value(&ev));
                }
            />
            <select
                aria-label="Status"
                prop:value=move || status.get()
                on:change=move |ev| {
                    cursors.set(Vec::new());
                    status.set(event_target_value(&ev));
                }
            >
                <option value="">"All statuses"</option>
                {KeyStatus::ALL
                    .into_iter()
                    .map(|s| view! { <option value=s.as_str()>{s.label()}</option> })
                    .collect_view()}
            </select>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(page) if page.keys.is_empty() && cursors.get_untracked().is_empty() && !filtered() => {
                        view! { <EmptyState open /> }.into_any()
                    }
                    Ok(page) => view! { <KeyTable page open cursors /> }.into_any(),
                    Err(error) => view! { <p class="form-alert" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        </div>
        {move || {
            open.get().map(|dialog| match dialog {
                OpenDialog::Create => view! { <CreateKeyDialog hooks /> }.into_any(),
                OpenDialog::Edit(key) => view! { <EditKeyDialog key hooks /> }.into_any(),
                OpenDialog::Rotate(key) => view! { <RotateKeyDialog key hooks /> }.into_any(),
                OpenDialog::Revoke(key) => view! { <RevokeKeyDialog key hooks /> }.into_any(),
                OpenDialog::Delete(key) => view! { <DeleteKeyDialog key hooks /> }.into_any(),
            })
        }}
    }
}

#[component]
fn EmptyState(open: RwSignal<Option<OpenDialog>>) -> impl IntoView {
    view! {
        <section class="empty-state" aria-labelledby="no-keys">
            <h2 id="no-keys">"No API keys yet"</h2>
            <p>"Create a key for each integration, with only the scopes it needs. You will see the full key once; here it is listed masked, with its status, expiry and last use."</p>
            <button type="button" class="button primary" on:click=move |_| open.set(Some(OpenDialog::Create))>
                "Create your first key"
            </button>
        </section>
    }
}

#[component]
fn KeyTable(
    page: KeyPage,
    open: RwSignal<Option<OpenDialog>>,
    cursors: RwSignal<Vec<String>>,
) -> impl IntoView {
    let next = page.next_cursor.clone();
    let empty = page.keys.is_empty();
    view! {
        <div class="table-wrap">
            <table class="keys">
                <caption class="visually-hidden">"API keys, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Key"</th>
                        <th scope="col">"Scopes"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {page.keys.into_iter().map(|key| view! { <KeyRow key open /> }).collect_view()}
                </tbody>
            </table>
        </div>
        {empty.then(|| view! { <p class="muted">"No keys match."</p> })}
        <Pager label="Pages of keys" cursors next />
    }
}

#[component]
fn KeyRow(key: ApiKeyView, open: RwSignal<Option<OpenDialog>>) -> impl IntoView {
    let status = key.status;
    let opener = |make: fn(ApiKeyView) -> OpenDialog, key: &ApiKeyView| {
        let key = key.clone();
        move |_| open.set(Some(make(key.clone())))
    };
    view! {
        <tr class:inactive=status != KeyStatus::Active>
            <th scope="row" class="key-name">
                <a href=format!("/dashboard/api-keys/{}", key.id)>{key.name.clone()}</a>
            </th>
            <td><code class="masked-key">{key.masked_key.clone()}</code></td>
            <td>
                <ul class="chips" aria-label="Scopes">
                    {key.scopes.iter().map(|s| view! { <li class="chip">{s.clone()}</li> }).collect_view()}
                </ul>
            </td>
            <td>
                <span class=format!("status status-{}", status.as_str())>{status.label()}</span>
                {key.previous_secret_expires_at.map(|end| view! {
                    <span class="grace">"Old secret expires " {format::date_time(end)}</span>
                })}
            </td>
            <td>
                {format::date(key.created_at)}
                {key.created_by_label().map(|by| view! { <span class="by">"by " {by}</span> })}
            </td>
            <td>
                {match (key.last_used_at, key.last_used_ip.clone()) {
                    (Some(at), ip) => view! {
                        {format::date_time(at)}
                        {ip.map(|ip| view! { <span class="by">"from " {ip}</span> })}
                    }.into_any(),
                    (None, _) => view! { <span class="muted">"Never"</span> }.into_any(),
                }}
            </td>
            <td>{key.expires_at.map(format::date).unwrap_or_else(|| "Never".to_owned())}</td>
            <td class="row-actions">
                {(status != KeyStatus::Revoked).then(|| view! {
                    <button type="button" class="button subtle small" on:click=opener(OpenDialog::Edit, &key)>"Edit"</button>
                })}
                {(status == KeyStatus::Active).then(|| view! {
                    <button type="button" class="button subtle small" on:click=opener(OpenDialog::Rotate, &key)>"Rotate"</button>
                })}
                {(status != KeyStatus::Revoked).then(|| view! {
                    <button type="button" class="button subtle small" on:click=opener(OpenDialog::Revoke, &key)>"Revoke"</button>
                })}
                <button type="button" class="button subtle small danger-text" on:click=opener(OpenDialog::Delete, &key)>"Delete"</button>
            </td>
        </tr>
    }
}
