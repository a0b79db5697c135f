//! One key's page (`/dashboard/api-keys/<key_id>`): its settings and
//! status, 30 days of verifications as a chart, and its audit events.

use crate::{
    app::{
        chart::UsageChart,
        components::{LoadError, ScopeChips},
        format,
    },
    audit::{rpc::list_audit_events, AuditQuery},
    keys::{
        model::{ApiKeyView, KeyStatus},
        rpc::api_key_detail,
    },
    shared::clock::UnixMs,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn KeyDetailPage() -> impl IntoView {
    let params = use_params_map();
    let key_id = move || params.read().get("key_id").unwrap_or_default();
    let detail = Resource::new(key_id, api_key_detail);
    let events = Resource::new(key_id, |id| {
        list_audit_events(AuditQuery {
            key_id: Some(id),
            cursor: None,
            limit: Some(10),
        })
    });
    view! {
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/dashboard/api-keys">"API keys"</a>
        </nav>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! {
                        <Title text=detail.key.name.clone() />
                        <header class="page-header">
                            <h1>{detail.key.name.clone()}</h1>
                        </header>
                        <Settings key=detail.key />
                        <section aria-labelledby="key-usage">
                            <h2 id="key-usage">"Requests, last 30 days"</h2>
                            <UsageChart days=detail.usage title="Requests per day, last 30 days".to_owned() />
                        </section>
                    }.into_any(),
                    Err(error) => view! {
                        <Title text="Key not found" />
                        <header class="page-header"><h1>"Key not found"</h1></header>
                        <LoadError error />
                    }.into_any(),
                }
            })}
        </Suspense>
        <section aria-labelledby="key-events">
            <h2 id="key-events">"Audit events"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading events…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(page) if page.events.is_empty() => view! { <p class="muted">"No events."</p> }.into_any(),
                        Ok(page) => view! {
                            <ul class="events">
                                {page.events.into_iter().map(|event| view! {
                                    <li>
                                        <span class="nowrap">{format::date_time(event.occurred_at)}</span>
                                        " · " {event.action.label()}
                                        {event.actor.map(|by| view! { <span class="by">"by " {by}</span> })}
                                    </li>
                                }).collect_view()}
                            </ul>
                            <p><a href=format!("/dashboard/audit-log?key={}", key_id())>"All of this key's events"</a></p>
                        }.into_any(),
                        Err(_) => view! { <p class="muted">"No events."</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Settings(key: ApiKeyView) -> impl IntoView {
    let status = key.status;
    let or_never = |at: Option<UnixMs>| {
        at.map(format::date_time)
            .unwrap_or_else(|| "Never".to_owned())
    };
    view! {
        <section aria-labelledby="key-settings">
            <h2 id="key-settings" class="visually-hidden">"Settings"</h2>
            <dl class="details">
                <dt>"Status"</dt>
                <dd>
                    <span class=format!("status status-{}", status.as_str())>{status.label()}</span>
                    {key.revoked_at.map(|at| view! { " " {format::date_time(at)} })}
                    {key.revoked_by_label().map(|by| view! { <span class="by">"by " {by}</span> })}
                </dd>
                <dt>"Key"</dt>
                <dd><code class="masked-key">{key.masked_key.clone()}</code></dd>
                <dt>"Scopes"</dt>
                <dd>
                    <ScopeChips key=key.clone() />
                </dd>
                <dt>"Allowed addresses"</dt>
                <dd>{if key.ips.is_empty() { "Any".to_owned() } else { key.ips.join(", ") }}</dd>
                <dt>"Expires"</dt>
                <dd>{key.expires_at.map(format::date_time).unwrap_or_else(|| "Never".to_owned())}</dd>
                <dt>"Created"</dt>
                <dd>
                    {format::date_time(key.created_at)}
                    {key.created_by_label().map(|by| view! { <span class="by">"by " {by}</span> })}
                </dd>
                <dt>"Last changed"</dt>
                <dd>
                    {format::date_time(key.updated_at)}
                    {key.updated_by_label().map(|by| view! { <span class="by">"by " {by}</span> })}
                </dd>
                <dt>"Last used"</dt>
                <dd>
                    {or_never(key.last_used_at)}
                    {key.last_used_ip.clone().map(|ip| view! { <span class="by">"from " {ip}</span> })}
                </dd>
                {(status == KeyStatus::Active && key.previous_secret_expires_at.is_some()).then(|| view! {
                    <dt>"Old secret"</dt>
                    <dd>"works until " {or_never(key.previous_secret_expires_at)}</dd>
                })}
            </dl>
        </section>
    }
}
