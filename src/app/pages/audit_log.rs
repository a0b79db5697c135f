//! The Audit log page: what happened in the account, newest first, with a
//! filter by key (kept in the address, `?key=…`, so a filtered view can be
//! bookmarked).

use crate::{
    app::{
        components::{LoadError, Pager},
        format,
        layout::UserResource,
        table::{Column, DataRow, DataTable},
    },
    audit::{rpc::list_audit_events, AuditEventView, AuditQuery, AuditView},
    keys::{model::KeyQuery, rpc::list_api_keys},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query_map = use_query_map();
    let key_filter = Memo::new(move |_| query_map.read().get("key").filter(|k| !k.is_empty()));
    let cursors = RwSignal::new(Vec::<String>::new());
    let events = Resource::new(
        move || AuditQuery {
            key_id: key_filter.get(),
            cursor: cursors.get().last().cloned(),
            limit: None,
        },
        list_audit_events,
    );
    let keys = Resource::new(
        || (),
        |_| {
            list_api_keys(KeyQuery {
                limit: Some(100),
                ..KeyQuery::default()
            })
        },
    );
    let user = expect_context::<UserResource>();
    let navigate = use_navigate();
    let choose_key = move |ev: leptos::ev::Event| {
        let key = event_target_value(&ev);
        cursors.set(Vec::new());
        let target = if key.is_empty() {
            "/dashboard/audit-log".to_owned()
        } else {
            format!("/dashboard/audit-log?key={key}")
        };
        navigate(&target, Default::default());
    };
    view! {
        <Title text="Audit log" />
        <header class="page-header">
            <h1>"Audit log"</h1>
            <p class="lede">"Every sign-in and every change to a key, newest first. Secrets are never recorded."</p>
        </header>
        <Suspense>
            {move || Suspend::new(async move {
                user.await.ok().filter(|u| u.role.audit_view() != AuditView::Everything).map(|u| view! {
                    <p class="notice" role="note">
                        {format!("Your role in this account is {}: you see key events, without client addresses and browsers. Sign-ins and team changes are for owners and admins.", u.role)}
                    </p>
                })
            })}
        </Suspense>
        <div class="toolbar">
            <label for="audit-key">"Key"</label>
            <Transition fallback=|| view! { <select id="audit-key" disabled=true><option>"All keys"</option></select> }>
                {move || {
                    let choose_key = choose_key.clone();
                    Suspend::new(async move {
                    let keys = keys.await.map(|page| page.keys).unwrap_or_default();
                    let selected = key_filter.get().unwrap_or_default();
                    view! {
                        <select id="audit-key" on:change=choose_key prop:value=selected.clone()>
                            <option value="">"All keys"</option>
                            {keys
                                .into_iter()
                                .map(|key| {
                                    let is_selected = key.id == selected;
                                    view! { <option value=key.id selected=is_selected>{key.name}</option> }
                                })
                                .collect_view()}
                        </select>
                    }
                    })
                }}
            </Transition>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading events…"</p> }>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(page) => {
                        let next = page.next_cursor.clone();
                        view! {
                            <DataTable
                                label="Audit events, newest first".to_owned()
                                class="audit"
                                columns=EVENT_COLUMNS.to_vec()
                                rows=page.events
                                row=event_row
                                empty="No events yet."
                            />
                            <Pager label="Pages of events" cursors next />
                        }.into_any()
                    }
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

const EVENT_COLUMNS: [Column; 6] = [
    Column::text("Time"),
    Column::text("Action"),
    Column::text("About"),
    Column::text("By"),
    Column::text("IP address"),
    Column::text("Client"),
];

fn event_row(event: AuditEventView) -> DataRow {
    let by = event.actor_label();
    let about = match (event.key_id, event.key_name, event.member) {
        (Some(id), name, _) => {
            let href = format!("/dashboard/audit-log?key={id}");
            view! {
                <a href=href>{name.unwrap_or(id)}</a>
                {event.detail.map(|detail| view! { <span class="by">{detail}</span> })}
            }
            .into_any()
        }
        (None, _, Some(member)) => view! {
            {member}
            {event.detail.map(|detail| view! { <span class="by">{detail}</span> })}
        }
        .into_any(),
        (None, _, None) => view! { <span class="muted">"—"</span> }.into_any(),
    };
    let or_dash = |text: Option<String>| text.unwrap_or_else(|| "—".to_owned());
    let agent = event.user_agent.clone().map(short_agent);
    DataRow::new(vec![
        view! { <span class="nowrap">{format::date_time(event.occurred_at)}</span> }.into_any(),
        event.action.label().into_any(),
        about,
        or_dash(by).into_any(),
        or_dash(event.client_ip).into_any(),
        view! {
            <span class="user-agent" title=event.user_agent>
                {or_dash(agent)}
            </span>
        }
        .into_any(),
    ])
}

/// The first words of a user agent; the whole is in the cell's title.
fn short_agent(agent: String) -> String {
    const MAX: usize = 40;
    if agent.chars().count() <= MAX {
        agent
    } else {
        format!("{}…", agent.chars().take(MAX).collect::<String>())
    }
}
