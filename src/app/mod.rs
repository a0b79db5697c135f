//! The user interface, rendered on the server and hydrated in the browser.

mod address;
mod chart;
mod components;
mod credits;
mod dialog;
mod format;
mod layout;
mod limits;
mod owner;
mod pages;
mod passkeys;
mod routes;
mod secret;
mod sessions;
mod table;
mod two_factor;

use layout::DashboardLayout;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, Lazy, SsrMode,
};
use pages::NotFound;
use routes::{
    Account, Api, ApiKeys, AuditLog, ConfirmAddress, ForgotPassword, Invitation, KeyDetail, Login,
    Members, Overview, ResetPassword, Signup, Welcome,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <AutoReload options=options.clone() />
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Title formatter=|page: String| format!("{page} · Keysmith") />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view={Lazy::<Login>::new()} />
                <Route path=path!("/signup") view={Lazy::<Signup>::new()} />
                <Route path=path!("/forgot-password") view={Lazy::<ForgotPassword>::new()} />
                <Route path=path!("/reset-password") view={Lazy::<ResetPassword>::new()} />
                <Route path=path!("/verify-email") view={Lazy::<ConfirmAddress>::new()} />
                <Route path=path!("/welcome") view={Lazy::<Welcome>::new()} />
                // Waits for the invitation before answering, so an unknown
                // link is a real 404.
                <Route path=path!("/invite/:token") view={Lazy::<Invitation>::new()} ssr=SsrMode::Async />
                <ParentRoute path=path!("/dashboard") view=DashboardLayout>
                    <Route path=path!("") view={Lazy::<Overview>::new()} />
                    <Route path=path!("api-keys") view={Lazy::<ApiKeys>::new()} />
                    <Route path=path!("api-keys/:key_id") view={Lazy::<KeyDetail>::new()} />
                    <Route path=path!("members") view={Lazy::<Members>::new()} />
                    <Route path=path!("audit-log") view={Lazy::<AuditLog>::new()} />
                    <Route path=path!("api") view={Lazy::<Api>::new()} />
                    <Route path=path!("account") view={Lazy::<Account>::new()} />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Sets `data-hydrated="true"` on `<body>` once the wasm has taken over the
/// page shown, so end-to-end tests (and curious people) can tell server
/// HTML from a live app. Rendered by each page's route: a page's code comes
/// in a chunk of its own, which hydrates after the shell, so a mark set by
/// the shell would come before the page's buttons work.
#[component]
pub fn HydratedMark() -> impl IntoView {
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
