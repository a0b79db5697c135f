//! The API Keys page: the account's keys, masked, and the dialogs that
//! create and change them.

mod dialogs;
mod form;

use crate::{
    app::{
        components::{LoadError, Pager, ScopeChips},
        dialog::DialogHooks,
        format,
        layout::UserResource,
        table::{Column, DataRow, DataTable},
    },
    auth::{role::Role, summary::UserSummary},
    keys::{
        model::{ApiKeyView, KeyPage, KeyQuery, KeyStatus, MAX_PAGE_SIZE},
        rpc::{list_api_keys, management_catalogue, permission_catalogue},
    },
    shared::key_type::KeyType,
};
use dialogs::OpenDialog;
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
        external_id: None,
        key_type: Some(KeyType::Api),
        cursor: cursors.get().last().cloned(),
        limit: None,
    };
    let keys = Resource::new(
        move || (query(), refresh.get()),
        |(query, _)| list_api_keys(query),
    );
    // The management keys: a short list, all of it shown.
    let management = Resource::new(
        move || refresh.get(),
        |_| {
            list_api_keys(KeyQuery {
                key_type: Some(KeyType::Management),
                limit: Some(MAX_PAGE_SIZE),
                ..KeyQuery::default()
            })
        },
    );
    // What the create and edit dialogs offer, there before they open.
    let catalogue = Resource::new(|| (), |_| permission_catalogue());
    let management_scopes = Resource::new(|| (), |_| management_catalogue());
    let hooks = DialogHooks {
        close: Callback::new(move |_| open.set(None)),
        changed: Callback::new(move |_| refresh.update(|n| *n += 1)),
    };
    let filtered = move || !search.get().trim().is_empty() || !status.get().is_empty();
    let user = expect_context::<UserResource>();
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
            <Suspense>
                {move || Suspend::new(async move {
                    let may = user.await.map(|u| u.role.may_change_keys()).unwrap_or(false);
                    may.then(|| view! {
                        <button id="create-key" type="button" class="button primary" on:click=move |_| open.set(Some(OpenDialog::Create(KeyType::Api)))>
                            "Create API key"
                        </button>
                    })
                })}
            </Suspense>
        </header>
        <Suspense>
            {move || Suspend::new(async move {
                user.await.ok().filter(|u| !u.role.may_change_keys()).map(|u| view! {
                    <p class="notice" role="note">
                        {format!("Your role in this account is {}: you can see its keys, not change them.", u.role)}
                    </p>
                })
            })}
        </Suspense>
        <div class="toolbar" role="search">
            <input
                type="search"
                aria-label="Search keys by name or external ID"
                placeholder="Search by name or external ID"
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
                let allowed = Allowed::of(user.await.ok());
                match keys.await {
                    Ok(page) if page.keys.is_empty() && cursors.get_untracked().is_empty() && !filtered() => {
                        view! { <EmptyState open allowed /> }.into_any()
                    }
                    Ok(page) => view! { <KeyTable page open cursors allowed /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
        <ManagementKeys keys=management open user />
        </div>
        {move || {
            open.get().map(|dialog| view! {
                <Suspense>
                    {move || {
                        let dialog = dialog.clone();
                        Suspend::new(async move {
                            let kind = match &dialog {
                                OpenDialog::Create(kind) => *kind,
                                OpenDialog::Edit(key) => key.key_type,
                                _ => KeyType::Api,
                            };
                            let catalogue = match kind {
                                KeyType::Api => catalogue.await,
                                KeyType::Management => management_scopes.await,
                            };
                            dialogs::dialog(dialog, catalogue.unwrap_or_default(), hooks).await
                        })
                    }}
                </Suspense>
            })
        }}
    }
}

/// What the signed-in member may do to keys, by their role.
#[derive(Clone, Debug, Default)]
struct Allowed {
    role: Option<Role>,
    user_id: String,
}

impl Allowed {
    fn of(user: Option<UserSummary>) -> Self {
        user.map(|u| Allowed {
            role: Some(u.role),
            user_id: u.user_id,
        })
        .unwrap_or_default()
    }

    /// Whether they may make keys of this kind.
    fn create(&self, kind: KeyType) -> bool {
        self.role.is_some_and(|role| match kind {
            KeyType::Api => role.may_change_keys(),
            KeyType::Management => role.may_manage_management_keys(),
        })
    }

    /// Whether they may edit, rotate and revoke this key.
    fn change(&self, key: &ApiKeyView) -> bool {
        self.create(key.key_type) && self.create(KeyType::Api)
    }

    fn delete(&self, key: &ApiKeyView) -> bool {
        let own = key.created_by.as_deref() == Some(self.user_id.as_str());
        self.create(key.key_type) && self.role.is_some_and(|role| role.may_delete_key(own))
    }
}

#[component]
fn EmptyState(open: RwSignal<Option<OpenDialog>>, allowed: Allowed) -> impl IntoView {
    view! {
        <section class="empty-state" aria-labelledby="no-keys">
            <h2 id="no-keys">"No API keys yet"</h2>
            <p>"Create a key for each integration, with only the scopes it needs. You will see the full key once; here it is listed masked, with its status, expiry and last use."</p>
            {allowed.create(KeyType::Api).then(|| view! {
                <button type="button" class="button primary" on:click=move |_| open.set(Some(OpenDialog::Create(KeyType::Api)))>
                    "Create your first key"
                </button>
            })}
        </section>
    }
}

const KEY_COLUMNS: [Column; 8] = [
    Column::row_header("Name"),
    Column::text("Key"),
    Column::text("Scopes"),
    Column::text("Status"),
    Column::text("Created"),
    Column::text("Last used"),
    Column::text("Expires"),
    Column::actions(),
];

#[component]
fn KeyTable(
    page: KeyPage,
    open: RwSignal<Option<OpenDialog>>,
    cursors: RwSignal<Vec<String>>,
    allowed: Allowed,
) -> impl IntoView {
    let next = page.next_cursor.clone();
    view! {
        <KeyRows keys=page.keys label="API keys, newest first" empty="No keys match." open allowed />
        <Pager label="Pages of keys" cursors next />
    }
}

/// Keys as a table, each row with the buttons its reader may use.
#[component]
fn KeyRows(
    keys: Vec<ApiKeyView>,
    label: &'static str,
    empty: &'static str,
    open: RwSignal<Option<OpenDialog>>,
    allowed: Allowed,
) -> impl IntoView {
    view! {
        <DataTable
            label=label.to_owned()
            class="keys"
            columns=KEY_COLUMNS.to_vec()
            rows=keys
            row=move |key| key_row(key, open, &allowed)
            empty
        />
    }
}

fn key_row(key: ApiKeyView, open: RwSignal<Option<OpenDialog>>, allowed: &Allowed) -> DataRow {
    let status = key.status;
    let change = allowed.change(&key);
    let delete = allowed.delete(&key);
    let opener = |make: fn(ApiKeyView) -> OpenDialog, key: &ApiKeyView| {
        let key = key.clone();
        move |_| open.set(Some(make(key.clone())))
    };
    let actions = view! {
        {(change && status != KeyStatus::Revoked).then(|| view! {
            <button type="button" class="button subtle small" on:click=opener(OpenDialog::Edit, &key)>"Edit"</button>
        })}
        {(change && status == KeyStatus::Active).then(|| view! {
            <button type="button" class="button subtle small" on:click=opener(OpenDialog::Rotate, &key)>"Rotate"</button>
        })}
        {(change && status != KeyStatus::Revoked).then(|| view! {
            <button type="button" class="button subtle small" on:click=opener(OpenDialog::Revoke, &key)>"Revoke"</button>
        })}
        {delete.then(|| view! {
            <button type="button" class="button subtle small danger-text" on:click=opener(OpenDialog::Delete, &key)>"Delete"</button>
        })}
    }
    .into_any();
    let last_used = match (key.last_used_at, key.last_used_ip.clone()) {
        (Some(at), ip) => view! {
            {format::date_time(at)}
            {ip.map(|ip| view! { <span class="by">"from " {ip}</span> })}
        }
        .into_any(),
        (None, _) => view! { <span class="muted">"Never"</span> }.into_any(),
    };
    DataRow::new(vec![
        view! {
            <a class="key-name" href=format!("/dashboard/api-keys/{}", key.id)>{key.name.clone()}</a>
            {key.external_id.clone().map(|id| view! { <span class="by external-id">"for " {id}</span> })}
            {key.ratelimits.iter().map(|limit| view! {
                <span class="by rate-limit">{format!("{}: {}", limit.name, limit.describe())}</span>
            }).collect_view()}
        }
        .into_any(),
        view! { <code class="masked-key">{key.masked_key.clone()}</code> }.into_any(),
        view! {
            <ScopeChips key=key.clone() />
        }
        .into_any(),
        view! {
            <span class=format!("status status-{}", status.as_str())>{status.label()}</span>
            {key.previous_secret_expires_at.map(|end| view! {
                <span class="grace">"Old secret expires " {format::date_time(end)}</span>
            })}
        }
        .into_any(),
        view! {
            {format::date(key.created_at)}
            {key.created_by_label().map(|by| view! { <span class="by">"by " {by}</span> })}
        }
        .into_any(),
        last_used,
        key.expires_at
            .map(format::date)
            .unwrap_or_else(|| "Never".to_owned())
            .into_any(),
        actions,
    ])
    .inactive(status != KeyStatus::Active)
}

/// The account's management keys, in a section of their own: keys that
/// manage keys, made by owners and admins only.
#[component]
fn ManagementKeys(
    keys: Resource<Result<KeyPage, crate::error::AppError>>,
    open: RwSignal<Option<OpenDialog>>,
    user: UserResource,
) -> impl IntoView {
    view! {
        <section class="management-keys" aria-labelledby="management-keys">
            <header class="section-header with-action">
                <div>
                    <h2 id="management-keys">"Management keys"</h2>
                    <p class="lede">"Keys that manage this account's API keys without a person's password: for CI jobs and infrastructure tools. They hold Keysmith's own permissions, never your platform's; only owners and admins make them."</p>
                </div>
                <Suspense>
                    {move || Suspend::new(async move {
                        let allowed = Allowed::of(user.await.ok());
                        allowed.create(KeyType::Management).then(|| view! {
                            <button type="button" class="button" on:click=move |_| open.set(Some(OpenDialog::Create(KeyType::Management)))>
                                "Create management key"
                            </button>
                        })
                    })}
                </Suspense>
            </header>
            <Transition fallback=|| view! { <p class="muted">"Loading management keys…"</p> }>
                {move || Suspend::new(async move {
                    let allowed = Allowed::of(user.await.ok());
                    match keys.await {
                        Ok(page) => view! {
                            <KeyRows keys=page.keys label="Management keys, newest first" empty="No management keys." open allowed />
                        }
                        .into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
