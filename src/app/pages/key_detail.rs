//! One key's page (`/dashboard/api-keys/<key_id>`): its settings and
//! status, its owner and metadata (edited here), 30 days of verifications
//! as a chart, and its audit events.

use crate::{
    app::{
        chart::{CreditsChart, UsageChart},
        components::{Field, FormAlert, FormErrors, LoadError, ScopeChips, SubmitButton},
        format,
        layout::UserResource,
        limits::RateLimitList,
        owner::{OwnerFields, OwnerForm},
    },
    audit::{rpc::list_audit_events, AuditQuery},
    keys::{
        credits::CreditsView,
        model::{ApiKeyView, DailyUsage, KeyChanges, KeyStatus},
        rpc::{api_key_detail, change_api_key_credits, update_api_key},
    },
    shared::{clock::UnixMs, key_type::KeyType},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn KeyDetailPage() -> impl IntoView {
    let params = use_params_map();
    let key_id = move || params.read().get("key_id").unwrap_or_default();
    let saved = RwSignal::new(0u32);
    let detail = Resource::new(
        move || (key_id(), saved.get()),
        |(id, _)| api_key_detail(id),
    );
    let user = expect_context::<UserResource>();
    // A change made on this page is listed at once.
    let events = Resource::new(
        move || (key_id(), saved.get()),
        |(id, _)| {
            list_audit_events(AuditQuery {
                key_id: Some(id),
                cursor: None,
                limit: Some(10),
            })
        },
    );
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
                        <Settings key=detail.key.clone() />
                        {
                            let may_change = user.await.is_ok_and(|u| u.role.may_change_keys());
                            let credits = detail.key.credits.map(|credits| view! {
                                <Credits
                                    key_id=detail.key.id.clone()
                                    credits
                                    days=detail.usage.clone()
                                    may_change=may_change && detail.key.status != KeyStatus::Revoked
                                    saved
                                />
                            });
                            view! {
                                {credits}
                                <Owner key=detail.key meta_text=detail.meta_text may_change saved />
                            }
                        }
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
                                        {event.actor_label().map(|by| view! { <span class="by">"by " {by}</span> })}
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
                {(key.key_type == KeyType::Api).then(|| view! {
                    <dt>"Rate limits"</dt>
                    <dd><RateLimitList limits=key.ratelimits.clone() empty="None: only the account's limits apply." /></dd>
                })}
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

/// The key's credits: what remains, the next refill, a form to add or
/// take some (with a reason) for those who may change the key, and 30 days
/// of credits spent.
#[component]
fn Credits(
    key_id: String,
    credits: CreditsView,
    days: Vec<DailyUsage>,
    may_change: bool,
    saved: RwSignal<u32>,
) -> impl IntoView {
    view! {
        <section aria-labelledby="key-credits">
            <h2 id="key-credits">"Credits"</h2>
            <dl class="details">
                <dt>"Remaining"</dt>
                <dd class="credits-remaining">{credits.remaining.to_string()}</dd>
                <dt>"Next refill"</dt>
                <dd>{match (credits.refill, credits.refill_at) {
                    (Some(refill), Some(at)) => format!("{} ({})", format::date_time(at), refill.describe()),
                    _ => "None".to_owned(),
                }}</dd>
                {(credits.lost > 0).then(|| view! {
                    <dt>"Lost"</dt>
                    <dd>{format!("{} (held by a server that was stopped abruptly; counted as spent)", credits.lost)}</dd>
                })}
            </dl>
            {may_change.then(|| view! { <CreditChangeForm key_id saved /> })}
            <CreditsChart days title="Credits spent per day, last 30 days".to_owned() />
        </section>
    }
}

#[component]
fn CreditChangeForm(key_id: String, saved: RwSignal<u32>) -> impl IntoView {
    let delta = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let change = Action::new(move |(delta, reason): &(i64, String)| {
        change_api_key_credits(key_id.clone(), *delta, reason.clone())
    });
    let errors = FormErrors::of(change.value());
    Effect::new(move |_| {
        if let Some(Ok(_)) = change.value().get() {
            saved.update(|n| *n += 1);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // A number that does not parse is sent as 0, which the service names.
        let amount = delta.get_untracked().trim().parse().unwrap_or(0);
        change.dispatch((amount, reason.get_untracked()));
    };
    view! {
        <form class="credit-form" on:submit=submit novalidate=true>
            <h3>"Add or remove credits"</h3>
            <Field label="Credits to add (negative to remove)" id="credit-delta" error=errors.field("delta")>
                <input id="credit-delta" type="number" inputmode="numeric" bind:value=delta aria-describedby="credit-delta-error" />
            </Field>
            <Field label="Reason" id="credit-reason" error=errors.field("reason")>
                <input id="credit-reason" type="text" maxlength="200" placeholder="refund" bind:value=reason aria-describedby="credit-reason-error" />
            </Field>
            <FormAlert message=errors.form(&["delta", "reason"]) />
            <SubmitButton label="Apply" pending_label="Applying…" pending=change.pending() />
        </form>
    }
}

/// Whom the key belongs to and its metadata: a form for those who may
/// change a key that is not revoked, else what is set.
#[component]
fn Owner(
    key: ApiKeyView,
    meta_text: Option<String>,
    may_change: bool,
    saved: RwSignal<u32>,
) -> impl IntoView {
    let editable = may_change && key.status != KeyStatus::Revoked;
    view! {
        <section aria-labelledby="key-owner">
            <h2 id="key-owner">"Owner and metadata"</h2>
            {if editable {
                view! { <OwnerEditor key meta_text saved /> }.into_any()
            } else {
                view! {
                    <dl class="details">
                        <dt>"External ID"</dt>
                        <dd>{key.external_id.clone().unwrap_or_else(|| "None".to_owned())}</dd>
                        <dt>"Metadata"</dt>
                        <dd>{match meta_text {
                            Some(meta) => view! { <pre class="meta">{meta}</pre> }.into_any(),
                            None => "None".into_any(),
                        }}</dd>
                    </dl>
                }
                .into_any()
            }}
        </section>
    }
}

#[component]
fn OwnerEditor(key: ApiKeyView, meta_text: Option<String>, saved: RwSignal<u32>) -> impl IntoView {
    let form = OwnerForm::new(key.external_id.as_deref(), meta_text.as_deref());
    let id = key.id.clone();
    let save = Action::new(move |changes: &KeyChanges| update_api_key(id.clone(), changes.clone()));
    let errors = FormErrors::of(save.value());
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            saved.update(|n| *n += 1);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        leptos::task::spawn_local(async move {
            // A mistake in the JSON is shown at its field as it is typed.
            if let Ok(meta) = form.meta().await {
                save.dispatch(KeyChanges {
                    external_id: Some(form.external_id()),
                    meta: Some(meta),
                    ..KeyChanges::default()
                });
            }
        });
    };
    view! {
        <form class="owner-form" on:submit=submit novalidate=true>
            <OwnerFields form errors />
            <FormAlert message=errors.form(&["external_id", "meta"]) />
            {move || (saved.get() > 0).then(|| view! { <p class="saved" role="status">"Saved."</p> })}
            <div class="form-actions">
                <SubmitButton label="Save owner and metadata" pending_label="Saving…" pending=save.pending() />
            </div>
        </form>
    }
}
