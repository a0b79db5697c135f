use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    view! {
        <Title text="API Keys" />
        <header class="page-header">
            <h1>"API Keys"</h1>
            <p class="lede">"Keys let your integrations call the platform on behalf of this account."</p>
        </header>
        <section class="empty-state" aria-labelledby="no-keys">
            <h2 id="no-keys">"No API keys yet"</h2>
            <p>"Each key you create will be listed here, masked, with its scopes, status, expiry and last use."</p>
        </section>
    }
}
