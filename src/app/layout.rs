//! The signed-in layout: a sidebar with the navigation and the user, and the
//! page beside it.

use crate::{
    app::{address::AddressBanner, components::BrandMark},
    auth::{
        role::Role,
        rpc::{current_user, SignOut, SwitchAccount},
        summary::UserSummary,
    },
    error::AppError,
};
use leptos::prelude::*;
use leptos_router::{
    components::{Outlet, Redirect, A},
    hooks::use_location,
};

/// Where a member whose account requires two-factor sign-in they have not
/// set up stays until they do (the server's guard says the same).
const ENROL_PATH: &str = "/dashboard/account";

/// The signed-in user, loaded once by the layout and read by any page.
pub type UserResource = Resource<Result<UserSummary, AppError>>;

#[component]
pub fn DashboardLayout() -> impl IntoView {
    let user: UserResource = Resource::new(|| (), |_| current_user());
    provide_context(user);
    let location = use_location();
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
                        <Suspense>
                            {move || Suspend::new(async move {
                                user.await.ok().filter(|u| u.role >= Role::SEE_MEMBERS).map(|_| view! {
                                    <li>
                                        <A href="/dashboard/members">"Members"</A>
                                    </li>
                                })
                            })}
                        </Suspense>
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
                                    Ok(user) => view! { <Who user /> }.into_any(),
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
                <Suspense>
                    {move || Suspend::new(async move {
                        user.await.ok().filter(|u| !u.email_verified).map(|u| view! {
                            <AddressBanner email=u.email />
                        })
                    })}
                </Suspense>
                <Suspense>
                    {move || Suspend::new(async move {
                        // The server sends them here on every page load; this
                        // keeps links followed in the page from leaving it.
                        let must_enrol = user.await.is_ok_and(|u| u.must_enrol_two_factor);
                        let elsewhere = location.pathname.get() != ENROL_PATH;
                        (must_enrol && elsewhere).then(|| view! { <Redirect path=ENROL_PATH /> })
                    })}
                </Suspense>
                <Outlet />
            </main>
        </div>
    }
}

/// The signed-in user, the account they act in and their role there, and
/// (when they belong to several) the switch to another account.
#[component]
fn Who(user: UserSummary) -> impl IntoView {
    let switch = ServerAction::<SwitchAccount>::new();
    // Everything on screen belongs to the old account: load it all again.
    Effect::new(move |_| {
        if let Some(Ok(())) = switch.value().get() {
            reload_dashboard();
        }
    });
    // A sign-up's own account is named after its email: said once.
    let account_name = Some(user.account_name().to_owned()).filter(|name| *name != user.email);
    let several = user.accounts.len() > 1;
    view! {
        <span class="email">{user.email.clone()}</span>
        <span class="account-role">
            {account_name.map(|name| view! { <span class="account-name">{name}</span> " · " })}
            {user.role.as_str()}
        </span>
        {several.then(|| view! {
            <ActionForm action=switch attr:class="account-switch">
                <label for="account-switch">"Account"</label>
                <select id="account-switch" name="account_id">
                    {user.accounts.iter().map(|account| view! {
                        <option value=account.id.clone() selected=account.id == user.account_id>
                            {format!("{} ({})", account.name, account.role)}
                        </option>
                    }).collect_view()}
                </select>
                <button type="submit" class="button subtle small" disabled=move || switch.pending().get()>
                    "Switch"
                </button>
            </ActionForm>
        })}
    }
}

#[cfg(feature = "hydrate")]
fn reload_dashboard() {
    let _ = window().location().set_href("/dashboard");
}

#[cfg(not(feature = "hydrate"))]
fn reload_dashboard() {}
