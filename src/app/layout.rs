//! The signed-in layout: a sidebar with the navigation and the user, and the
//! page beside it.

use crate::{
    app::components::BrandMark,
    auth::rpc::{current_user, SignOut, UserSummary},
    error::AppError,
};
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};

/// The signed-in user, loaded once by the layout and read by any page.
pub type UserResource = Resource<Result<UserSummary, AppError>>;

#[component]
pub fn DashboardLayout() -> impl IntoView {
    let user: UserResource = Resource::new(|| (), |_| current_user());
    provide_context(user);
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <div class="dashboard">
            <aside class="sidebar">
                <nav aria-label="Main">
                    <a class="brand" href="/dashboard">
                        <BrandMark />
                        "Keysmith"
                    </a>
                    <ul class="nav-links">
                        <li>
                            <A href="/dashboard" exact=true>"Overview"</A>
                        </li>
                        <li>
                            <A href="/dashboard/api-keys">"API Keys"</A>
                        </li>
                        <li>
                            <A href="/dashboard/audit-log">"Audit log"</A>
                        </li>
                        <li>
                            <A href="/dashboard/api">"API"</A>
                        </li>
                        <li>
                            <A href="/dashboard/account">"Account"</A>
                        </li>
                    </ul>
                    <div class="account">
                        <Suspense fallback=|| view! { <span class="email muted">"…"</span> }>
                            {move || Suspend::new(async move {
                                match user.await {
                                    Ok(user) => view! { <span class="email">{user.email}</span> }.into_any(),
                                    Err(_) => view! { <Redirect path="/login" /> }.into_any(),
                                }
                            })}
                        </Suspense>
                        <ActionForm action=sign_out>
                            <button type="submit" class="button subtle" disabled=move || sign_out.pending().get()>
                                {move || if sign_out.pending().get() { "Signing out…" } else { "Sign out" }}
                            </button>
                        </ActionForm>
                    </div>
                </nav>
            </aside>
            <main class="content" id="main">
                <Outlet />
            </main>
        </div>
    }
}
