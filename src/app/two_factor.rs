//! The Account page's two-factor sign-in: setting up an authenticator app
//! (its QR code, the secret as text, the first code), the recovery codes
//! shown once, and turning it off.

use crate::{
    app::{
        components::{FormAlert, FormErrors, LoadError, SubmitButton, TextField},
        layout::UserResource,
        sessions::EndOtherSessions,
    },
    auth::{
        rpc::{
            account_two_factor, two_factor_status, BeginTotp, DisableTotp, EnableTotp,
            SetAccountTwoFactor,
        },
        summary::{TotpEnrolment, TwoFactorState},
    },
    error::AppError,
};
use leptos::prelude::*;

const RECOVERY_FILE: &str = "keysmith-recovery-codes.txt";

/// Which section a second factor changed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorKind {
    App,
    Passkeys,
}

/// The user's second factors, shared by the app's section and the
/// passkeys': made with the page (not inside a suspended view). A change
/// in either shows both anew, and who the user is (an account's
/// requirement may now be met), and the section it happened in offers to
/// end the sessions elsewhere, which a change of how one signs in leaves
/// signed in.
#[derive(Clone, Copy)]
pub struct SecondFactors {
    pub status: Resource<Result<TwoFactorState, AppError>>,
    user: UserResource,
    changed_in: RwSignal<Option<FactorKind>>,
}

impl SecondFactors {
    pub fn new() -> Self {
        SecondFactors {
            status: Resource::new(|| (), |_| two_factor_status()),
            user: expect_context::<UserResource>(),
            changed_in: RwSignal::new(None),
        }
    }

    pub fn on_change(self, kind: FactorKind) -> Callback<()> {
        Callback::new(move |()| {
            self.status.refetch();
            self.user.refetch();
            self.changed_in.set(Some(kind));
        })
    }

    /// The offer to sign out everywhere else, after a change in `kind`.
    pub fn offer(self, kind: FactorKind) -> impl IntoView {
        move || (self.changed_in.get() == Some(kind)).then(|| view! { <EndOtherSessions /> })
    }
}

#[component]
pub fn TwoFactorSection(factors: SecondFactors) -> impl IntoView {
    let status = factors.status;
    let changed = factors.on_change(FactorKind::App);
    view! {
        <section class="doc-section card" aria-labelledby="two-factor">
            <h2 id="two-factor">"Two-factor sign-in"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(state) if state.totp => view! { <TwoFactorOn state changed /> }.into_any(),
                        Ok(state) => view! { <TwoFactorSetup state changed /> }.into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Suspense>
            {factors.offer(FactorKind::App)}
        </section>
    }
}

/// Off: a button that shows a new app's QR code, then the first code's
/// form, then the recovery codes.
#[component]
fn TwoFactorSetup(state: TwoFactorState, changed: Callback<()>) -> impl IntoView {
    let begin = ServerAction::<BeginTotp>::new();
    let begin_errors = FormErrors::of(begin.value());
    let enrolment = move || begin.value().get().and_then(Result::ok);
    let summary = if state.on() {
        "On with your passkeys. An authenticator app on your phone adds another way to give a second factor."
    } else {
        "Off: your password alone signs you in. With it on, signing in also asks for a code from an authenticator app on your phone (or a passkey, below)."
    };
    view! {
        <Show
            when=move || enrolment().is_some()
            fallback=move || view! {
                <p>{summary}</p>
                <ActionForm action=begin>
                    <FormAlert message=begin_errors.form(&[]) />
                    <SubmitButton label="Set up two-factor sign-in" pending_label="Preparing…" pending=begin.pending() />
                </ActionForm>
            }
        >
            {move || enrolment().map(|enrolment| view! { <ConfirmApp enrolment changed /> })}
        </Show>
    }
}

#[component]
fn ConfirmApp(enrolment: TotpEnrolment, changed: Callback<()>) -> impl IntoView {
    let enable = ServerAction::<EnableTotp>::new();
    let errors = FormErrors::of(enable.value());
    let codes = move || enable.value().get().and_then(Result::ok);
    view! {
        <Show
            when=move || codes().is_some()
            fallback=move || {
                let enrolment = enrolment.clone();
                view! {
                    <p>"Scan this QR code with your authenticator app."</p>
                    <div class="qr" role="img" aria-label="QR code for your authenticator app" inner_html=enrolment.qr_svg></div>
                    <p>"Or type this key into the app: " <code class="totp-secret">{enrolment.secret}</code></p>
                    <ActionForm action=enable>
                        <TextField
                            label="Code from the app"
                            name="code"
                            id="two-factor-on-code"
                            autocomplete="one-time-code"
                            hint="The 6-digit code the app shows now."
                            error=errors.field("code")
                        />
                        <FormAlert message=errors.form(&["code"]) />
                        <SubmitButton label="Turn on" pending_label="Checking…" pending=enable.pending() />
                    </ActionForm>
                }
            }
        >
            {move || codes().map(|codes| view! { <RecoveryCodes codes changed /> })}
        </Show>
    }
}

/// The recovery codes, shown once, with a download.
#[component]
pub fn RecoveryCodes(codes: Vec<String>, changed: Callback<()>) -> impl IntoView {
    let file = format!(
        "Keysmith recovery codes. Each works once, in place of a code from your app or a passkey.\n\n{}\n",
        codes.join("\n")
    );
    let href = format!("data:text/plain;charset=utf-8,{}", encode(&file));
    view! {
        <p class="notice success" role="status">"Two-factor sign-in is on."</p>
        <h3>"Recovery codes"</h3>
        <p class="notice warning">
            "Save these now: they are shown only once. Each works once, in place of a code from your app or a passkey, if you lose your phone or device."
        </p>
        <ul class="recovery-codes" aria-label="Recovery codes">
            {codes.into_iter().map(|code| view! { <li><code>{code}</code></li> }).collect_view()}
        </ul>
        <p>
            <a class="button" href=href download=RECOVERY_FILE>"Download recovery codes"</a>
            " "
            <button type="button" class="button primary" on:click=move |_| changed.run(())>"I saved them"</button>
        </p>
    }
}

/// On: how many recovery codes are left, and turning it off.
#[component]
fn TwoFactorOn(state: TwoFactorState, changed: Callback<()>) -> impl IntoView {
    let disable = ServerAction::<DisableTotp>::new();
    let errors = FormErrors::of(disable.value());
    Effect::new(move |_| {
        if let Some(Ok(())) = disable.value().get() {
            changed.run(());
        }
    });
    view! {
        <p>
            "On: signing in asks for a code from your authenticator app. "
            {format!("{} recovery codes left.", state.recovery_codes_left)}
        </p>
        <ActionForm action=disable>
            <TextField
                label="Your password"
                name="current_password"
                id="two-factor-off-password"
                kind="password"
                autocomplete="current-password"
                error=errors.field("current_password")
            />
            <TextField
                label="Authentication code"
                name="code"
                id="two-factor-off-code"
                autocomplete="one-time-code"
                hint="From your app, or a recovery code."
                error=errors.field("code")
            />
            <FormAlert message=errors.form(&["current_password", "code"]) />
            <SubmitButton label="Turn off two-factor sign-in" pending_label="Turning off…" pending=disable.pending() danger=true />
        </ActionForm>
    }
}

/// Whether the account requires two-factor sign-in: made with the page
/// (not inside a suspended view, where the browser would make it anew
/// rather than take the server's answer).
pub fn requirement_resource() -> Resource<Result<bool, AppError>> {
    Resource::new(|| (), |_| account_two_factor())
}

/// For owners: requiring two-factor sign-in of every member of the account.
#[component]
pub fn RequireTwoFactor(required: Resource<Result<bool, AppError>>) -> impl IntoView {
    let set = ServerAction::<SetAccountTwoFactor>::new();
    let errors = FormErrors::of(set.value());
    Effect::new(move |_| {
        if let Some(Ok(())) = set.value().get() {
            required.refetch();
        }
    });
    view! {
        <section class="doc-section card" aria-labelledby="require-two-factor">
            <h2 id="require-two-factor">"A second factor for every member"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match required.await {
                        Ok(on) => view! {
                            <p>{if on {
                                "Required: every member signs in with a second factor; members without one are sent to set it up before they reach this account."
                            } else {
                                "Not required: each member chooses. Requiring it sends every member without it to set it up before they reach this account, in the browser and with bearer tokens."
                            }}</p>
                            <ActionForm action=set>
                                <input type="hidden" name="required" value=(!on).to_string() />
                                <FormAlert message=errors.form(&[]) />
                                <SubmitButton
                                    label=if on { "Stop requiring two-factor sign-in" } else { "Require two-factor sign-in for every member" }
                                    pending_label="Saving…"
                                    pending=set.pending()
                                />
                            </ActionForm>
                        }.into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Text as a `data:` URL carries it.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
