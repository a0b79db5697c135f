//! The API page: where the REST API lives, how to authenticate, and a link
//! to its OpenAPI document, with examples built from this server's address.

use crate::{
    app::{
        components::LoadError,
        layout::UserResource,
        table::{Column, DataRow, DataTable},
    },
    keys::{model::ApiAccess, rpc::api_overview, scope::PermissionView},
};
use leptos::prelude::*;
use leptos_meta::Title;

const SCOPE_COLUMNS: [Column; 3] = [
    Column::row_header("Scope"),
    Column::text("Allows"),
    Column::text("Also grants"),
];

#[component]
pub fn ApiPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| api_overview());
    let user = expect_context::<UserResource>();
    view! {
        <Title text="API" />
        <header class="page-header">
            <h1>"API"</h1>
            <p class="lede">"Everything the dashboard does with keys, your scripts can do over HTTP."</p>
        </header>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let email = user.await.map(|u| u.email).unwrap_or_else(|_| "you@example.com".into());
                match overview.await {
                    Ok(overview) => view! { <ApiGuide overview email /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ApiGuide(overview: ApiAccess, email: String) -> impl IntoView {
    let base = overview.base_url.clone();
    let prefix = overview.key_prefix.clone();
    let token_example = format!(
        "curl -X POST {base}/auth/token \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"email\": \"{email}\", \"password\": \"…\"}}'"
    );
    let manage_example = format!("curl {base}/api-keys \\\n  -H \"Authorization: Bearer $TOKEN\"");
    let key_example = format!("curl {base}/me \\\n  -H \"X-API-Key: {prefix}…\"");
    // With verifier tokens set, the example carries one (never its value).
    let verifier = if overview.verifier_token_required {
        "  -H \"Authorization: Bearer $VERIFIER_TOKEN\" \\\n"
    } else {
        ""
    };
    let verify_example = format!(
        "curl -X POST {base}/keys/verify \\\n{verifier}  -H 'Content-Type: application/json' \\\n  -d '{{\"key\": \"{prefix}…\", \"required_scope\": \"read\"}}'"
    );
    view! {
        <section class="doc-section" aria-labelledby="base-url">
            <h2 id="base-url">"Base URL"</h2>
            <p><code class="base-url">{base.clone()}</code></p>
            <p>
                "Requests and answers are JSON. Errors are RFC 9457 problem documents with a stable "
                <code>"code"</code> ". The full reference is the "
                <a href="/api/v2/openapi.json">"OpenAPI document"</a> "."
            </p>
        </section>
        <section class="doc-section" aria-labelledby="authentication">
            <h2 id="authentication">"Authentication"</h2>
            <h3>"Managing keys: a bearer token"</h3>
            <p>"Exchange your email and password for a token (valid for a short time), then send it as a bearer token. API keys can never create, rotate, revoke or delete keys."</p>
            <pre class="example"><code>{token_example}</code></pre>
            <pre class="example"><code>{manage_example}</code></pre>
            <h3>"Everything else: an API key"</h3>
            <p>"Send the key in the " <code>"X-API-Key"</code> " header (" <code>"Authorization: Bearer"</code> " and " <code>"x-access-token"</code> " work too; one of them per request)."</p>
            <pre class="example"><code>{key_example}</code></pre>
            <h3>"Checking a key from your own service"</h3>
            {overview.verifier_token_required.then(|| view! {
                <p>"This server asks callers of verify for a verifier token (" <code>"Authorization: Bearer"</code> "): your operator hands them to the platform's services."</p>
            })}
            <pre class="example"><code>{verify_example}</code></pre>
        </section>
        <section class="doc-section" aria-labelledby="scopes">
            <h2 id="scopes">"Scopes"</h2>
            <p>"What a key may hold, as this server's permission catalogue declares it. A scope grants what it implies too; verify with " <code>"required_scope"</code> " or " <code>"required_scopes"</code> "."</p>
            <DataTable
                label="Scopes keys may hold".to_owned()
                class="scopes-table"
                columns=SCOPE_COLUMNS.to_vec()
                rows=overview.catalogue.permissions.clone()
                row=|permission: PermissionView| {
                    let implies = permission.implies_text().unwrap_or_else(|| "—".to_owned());
                    DataRow::new(vec![
                        view! { <code>{permission.name.to_string()}</code> }.into_any(),
                        permission.description.into_any(),
                        implies.into_any(),
                    ])
                }
                empty="No scopes."
            />
        </section>
    }
}
