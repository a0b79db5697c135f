use crate::{app::layout::UserResource, keys::rpc::key_counts};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn OverviewPage() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let counts = Resource::new(|| (), |_| key_counts());
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
                        Err(error) => view! { <p class="form-alert" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
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
