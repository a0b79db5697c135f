use crate::{
    app::{chart::UsageChart, components::LoadError, format, layout::UserResource},
    keys::{
        model::{AccountActivity, ApiKeyView, KeyTotal},
        rpc::{key_counts, overview_activity},
    },
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn OverviewPage() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let counts = Resource::new(|| (), |_| key_counts());
    let activity = Resource::new(|| (), |_| overview_activity());
    view! {
        <Title text="Overview" />
        <header class="page-header">
            <h1>"Overview"</h1>
            <Suspense>
                {move || Suspend::new(async move {
                    user.await.ok().map(|user| view! { <p class="lede">"Welcome, " {user.email} "."</p> })
                })}
            </Suspense>
        </header>
        <section aria-labelledby="key-stats">
            <h2 id="key-stats" class="visually-hidden">"Your API keys"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match counts.await {
                        Ok(counts) => view! {
                            <dl class="stats">
                                <Stat label="Active keys" value=counts.active />
                                <Stat label="Expiring within 14 days" value=counts.expiring_soon />
                                <Stat label="Used in the last 24 hours" value=counts.used_last_day />
                                <Stat label="Requests today (UTC)" value=counts.requests_today />
                            </dl>
                        }.into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading activity…"</p> }>
            {move || Suspend::new(async move {
                match activity.await {
                    Ok(activity) => view! { <Activity activity /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Activity(activity: AccountActivity) -> impl IntoView {
    let AccountActivity {
        usage,
        most_used,
        expiring_first,
    } = activity;
    view! {
        <section aria-labelledby="account-usage">
            <h2 id="account-usage">"Verified requests, last 30 days"</h2>
            <UsageChart days=usage title="Verified requests per day, all keys, last 30 days".to_owned() />
        </section>
        <div class="columns">
            <section aria-labelledby="most-used">
                <h2 id="most-used">"Most used keys"</h2>
                {if most_used.is_empty() {
                    view! { <p class="muted">"No key was used in the last 30 days."</p> }.into_any()
                } else {
                    view! { <ol class="ranked">{most_used.into_iter().map(most_used_item).collect_view()}</ol> }.into_any()
                }}
            </section>
            <section aria-labelledby="expiring-first">
                <h2 id="expiring-first">"Expiring soonest"</h2>
                {if expiring_first.is_empty() {
                    view! { <p class="muted">"No active key has an expiry date."</p> }.into_any()
                } else {
                    view! { <ul class="ranked">{expiring_first.into_iter().map(expiring_item).collect_view()}</ul> }.into_any()
                }}
            </section>
        </div>
    }
}

fn most_used_item(key: KeyTotal) -> impl IntoView {
    view! {
        <li>
            <a href=format!("/dashboard/api-keys/{}", key.id)>{key.name}</a>
            <span class="by">{format!("{} valid, {} refused", key.valid, key.refused)}</span>
        </li>
    }
}

fn expiring_item(key: ApiKeyView) -> impl IntoView {
    view! {
        <li>
            <a href=format!("/dashboard/api-keys/{}", key.id)>{key.name}</a>
            <span class="by">{key.expires_at.map(|at| format!("expires {}", format::date_time(at)))}</span>
        </li>
    }
}

#[component]
fn Stat(label: &'static str, value: i64) -> impl IntoView {
    view! {
        <div class="stat">
            <dt>{label}</dt>
            <dd>{value}</dd>
        </div>
    }
}
