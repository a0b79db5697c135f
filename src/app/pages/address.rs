//! The page an address-confirmation link opens: it confirms the address
//! (the link is the proof) and says so.

use crate::{
    app::components::{BrandMark, LoadError},
    auth::rpc::confirm_address,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn ConfirmAddressPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let confirmed = Resource::new(token, confirm_address);
    view! {
        <Title text="Confirm your email address" />
        <main class="entry">
            <section class="entry-card">
                <p class="brand"><BrandMark />"Keysmith"</p>
                <h1>"Confirm your email address"</h1>
                <Suspense fallback=|| view! { <p class="muted">"Confirming…"</p> }>
                    {move || Suspend::new(async move {
                        match confirmed.await {
                            Ok(email) => view! {
                                <p class="notice success" role="status">
                                    {format!("Your email address {email} is confirmed.")}
                                </p>
                                <p><a href="/dashboard">"Go to the dashboard"</a></p>
                            }.into_any(),
                            Err(error) => view! {
                                <LoadError error />
                                <p><a href="/dashboard">"Go to the dashboard"</a></p>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}
