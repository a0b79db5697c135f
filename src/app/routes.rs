//! Every page is a lazy route: in a split build (`cargo leptos … --split`)
//! its code is a wasm chunk of its own, fetched the first time the page is
//! shown, so the first load carries the shell (router, sidebar, shared
//! components) and one page rather than all ten. A build without
//! `--split` has no chunks to fetch, so there the browser's routes are
//! eager: same views, one wasm file (`cfg(wasm_split)` comes from build.rs).

use super::pages::{
    AccountPage, ApiKeysPage, ApiPage, AuditLogPage, ConfirmAddressPage, ForgotPasswordPage,
    InvitationPage, KeyDetailPage, LoginPage, MembersPage, OverviewPage, ResetPasswordPage,
    SignupPage, WelcomePage,
};
use super::HydratedMark;
use leptos::prelude::*;
#[cfg(any(not(target_arch = "wasm32"), wasm_split))]
use leptos_router::lazy_route;
use leptos_router::LazyRoute;

/// `Route => Page`: a route type that loads the page component lazily. The
/// route's name names its chunk (`split___api_keys_view_….wasm`).
macro_rules! lazy_routes {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        pub struct $route;

        #[cfg(any(not(target_arch = "wasm32"), wasm_split))]
        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> <HydratedMark /> }.into_any()
            }
        }

        #[cfg(all(target_arch = "wasm32", not(wasm_split)))]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(_this: Self) -> AnyView {
                view! { <$page /> <HydratedMark /> }.into_any()
            }
        }
    )*};
}

lazy_routes! {
    Login => LoginPage,
    Signup => SignupPage,
    ForgotPassword => ForgotPasswordPage,
    ResetPassword => ResetPasswordPage,
    ConfirmAddress => ConfirmAddressPage,
    Invitation => InvitationPage,
    Welcome => WelcomePage,
    Overview => OverviewPage,
    ApiKeys => ApiKeysPage,
    KeyDetail => KeyDetailPage,
    Members => MembersPage,
    AuditLog => AuditLogPage,
    Api => ApiPage,
    Account => AccountPage,
}
