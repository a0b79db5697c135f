//! The Account page: the email address (and changing it), the rate limits
//! every key of the account shares (set by owners and admins), changing the
//! password, and signing out
//! everywhere (both end every other browser session and every API bearer
//! token).

use crate::{
    app::{
        address::EmailAddressSection,
        components::{FormAlert, FormErrors, LoadError, SubmitButton, TextField},
        layout::UserResource,
        limits::{LimitsForm, RateLimitList, RateLimitsFields},
        passkeys::PasskeysSection,
        sessions::{SessionsSection, SignIns},
        two_factor::{requirement_resource, RequireTwoFactor, SecondFactors, TwoFactorSection},
    },
    auth::{
        role::Role,
        rpc::{ChangePassword, SignOutEverywhere},
    },
    keys::{
        limits::RateLimit,
        rpc::{account_ratelimits, set_account_ratelimits},
    },
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AccountPage() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let requirement = requirement_resource();
    let factors = SecondFactors::new();
    SignIns::provide();
    let change = ServerAction::<ChangePassword>::new();
    let errors = FormErrors::of(change.value());
    let changed = move || matches!(change.value().get(), Some(Ok(())));
    let everywhere = ServerAction::<SignOutEverywhere>::new();
    let everywhere_errors = FormErrors::of(everywhere.value());
    view! {
        <Title text="Account" />
        <header class="page-header">
            <h1>"Account"</h1>
        </header>
        <Suspense>
            {move || Suspend::new(async move {
                user.await.ok().filter(|u| u.must_enrol_two_factor).map(|_| view! {
                    <p class="notice warning" role="status">
                        "The owner of this account requires two-factor sign-in. Set it up below to reach the rest of the dashboard."
                    </p>
                })
            })}
        </Suspense>
        <Suspense>
            {move || Suspend::new(async move {
                user.await.ok().map(|u| view! {
                    <EmailAddressSection email=u.email verified=u.email_verified />
                })
            })}
        </Suspense>
        <TwoFactorSection factors />
        <PasskeysSection factors />
        <SessionsSection />
        <Suspense>
            {move || Suspend::new(async move {
                user.await.ok().filter(|u| u.role >= Role::REQUIRE_TWO_FACTOR).map(|_| view! {
                    <RequireTwoFactor required=requirement />
                })
            })}
        </Suspense>
        <AccountLimits />
        <section class="doc-section card" aria-labelledby="change-password">
            <h2 id="change-password">"Change password"</h2>
            <p class="hint">"Changing it signs you out of every other browser and ends every API bearer token issued before."</p>
            <ActionForm action=change>
                <TextField
                    label="Current password"
                    name="current_password"
                    kind="password"
                    autocomplete="current-password"
                    error=errors.field("current_password")
                />
                <TextField
                    label="New password"
                    name="new_password"
                    kind="password"
                    autocomplete="new-password"
                    hint="At least 12 characters."
                    error=errors.field("new_password")
                />
                <FormAlert message=errors.form(&["current_password", "new_password"]) />
                <p class="notice success" role="status">
                    {move || changed().then_some("Password changed. Other sessions and bearer tokens were signed out.")}
                </p>
                <SubmitButton label="Change password" pending_label="Changing…" pending=change.pending() />
            </ActionForm>
        </section>
        <section class="doc-section card" aria-labelledby="everywhere">
            <h2 id="everywhere">"Sign out everywhere"</h2>
            <p class="hint">"Ends every browser session, this one included, and every API bearer token. API keys keep working."</p>
            <ActionForm action=everywhere>
                <FormAlert message=everywhere_errors.form(&[]) />
                <SubmitButton label="Sign out everywhere" pending_label="Signing out…" pending=everywhere.pending() />
            </ActionForm>
        </section>
    }
}

/// The limits every key of the account counts against, beside its own: a
/// form for owners and admins, a list for everyone else.
#[component]
fn AccountLimits() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let limits = Resource::new(|| (), |_| account_ratelimits());
    view! {
        <section class="doc-section card" aria-labelledby="account-limits">
            <h2 id="account-limits">"Rate limits"</h2>
            <p class="hint">"Shared by every key of this account: a verification of any of them counts against these, beside the key's own limits."</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let user = user.await.ok();
                    let may_set = user.as_ref().is_some_and(|u| u.role >= Role::SET_ACCOUNT_LIMITS);
                    if user.is_some_and(|u| u.must_enrol_two_factor) {
                        return view! { <p class="muted">"Shown once you set up two-factor sign-in."</p> }.into_any();
                    }
                    match limits.await {
                        Ok(current) if may_set => view! { <AccountLimitsForm current /> }.into_any(),
                        Ok(current) => view! { <RateLimitList limits=current empty="None." /> }.into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn AccountLimitsForm(current: Vec<RateLimit>) -> impl IntoView {
    let form = LimitsForm::of(&current);
    let save = Action::new(move |limits: &Vec<RateLimit>| set_account_ratelimits(limits.clone()));
    let errors = FormErrors::of(save.value());
    let saved = move || matches!(save.value().get(), Some(Ok(_)));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(form.limits());
    };
    view! {
        <form on:submit=submit novalidate=true>
            <RateLimitsFields
                form
                errors
                id="account-ratelimits"
                legend="Limits for every key"
                hint="Up to 5, each counting every verification's cost per window."
            />
            <FormAlert message=errors.form(&["ratelimits"]) />
            <p class="notice success" role="status">{move || saved().then_some("Rate limits saved.")}</p>
            <SubmitButton label="Save rate limits" pending_label="Saving…" pending=save.pending() />
        </form>
    }
}
