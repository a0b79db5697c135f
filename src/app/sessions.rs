//! The Account page's "Where you are signed in": each browser session with
//! its device, address and times (any but this one can be signed out), the
//! bearer tokens issued in the last day, and signing out everywhere else.

use crate::{
    app::{
        components::{FormAlert, FormErrors, LoadError, SubmitButton},
        format::date_time,
    },
    auth::{
        rpc::{sign_ins, EndSession, SignOutEverywhereElse},
        summary::{SessionView, SignInList, TokenView},
    },
    error::AppError,
};
use leptos::prelude::*;

/// Where the user is signed in: made with the Account page (not inside a
/// suspended view) and shared, so whatever ends sessions on the page
/// shows the list anew.
#[derive(Clone, Copy)]
pub struct SignIns(Resource<Result<SignInList, AppError>>);

impl SignIns {
    pub fn provide() {
        provide_context(SignIns(Resource::new(|| (), |_| sign_ins())));
    }
}

#[component]
pub fn SessionsSection() -> impl IntoView {
    let list = expect_context::<SignIns>().0;
    let end = ServerAction::<EndSession>::new();
    let elsewhere = ServerAction::<SignOutEverywhereElse>::new();
    let errors = FormErrors::of(end.value());
    let elsewhere_errors = FormErrors::of(elsewhere.value());
    let signed_out_elsewhere = move || matches!(elsewhere.value().get(), Some(Ok(())));
    Effect::new(move |_| {
        if end.value().get().is_some() || elsewhere.value().get().is_some() {
            list.refetch();
        }
    });
    view! {
        <section class="doc-section card" aria-labelledby="sessions">
            <h2 id="sessions">"Where you are signed in"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(list) => {
                            // Only where there is somewhere else to sign out of.
                            let elsewhere_to_end = list.sessions.len() > 1 || !list.tokens.is_empty();
                            view! {
                                <SessionTable sessions=list.sessions end />
                                <TokenTable tokens=list.tokens />
                                {elsewhere_to_end.then(|| view! {
                                    <ActionForm action=elsewhere>
                                        <SubmitButton label="Sign out everywhere else" pending_label="Signing out…" pending=elsewhere.pending() />
                                    </ActionForm>
                                })}
                            }.into_any()
                        }
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Suspense>
            <FormAlert message=errors.form(&[]) />
            <FormAlert message=elsewhere_errors.form(&[]) />
            <p class="notice success" role="status">
                {move || signed_out_elsewhere().then_some("Signed out everywhere else: every other session and every bearer token has ended.")}
            </p>
        </section>
    }
}

/// Offered after a change of how the user signs in (a second factor added
/// or removed): the sessions and tokens from before carry on until ended.
/// Not labelled like the sessions list's own button, which may show too.
#[component]
pub fn EndOtherSessions() -> impl IntoView {
    let end = ServerAction::<SignOutEverywhereElse>::new();
    let errors = FormErrors::of(end.value());
    let ended = move || matches!(end.value().get(), Some(Ok(())));
    let list = expect_context::<SignIns>().0;
    Effect::new(move |_| {
        if ended() {
            list.refetch();
        }
    });
    view! {
        <div class="end-other-sessions">
            <Show
                when=ended
                fallback=move || view! {
                    <p>"Signed in on another device or browser? Those sessions, and bearer tokens issued before, carry on until you end them."</p>
                    <ActionForm action=end>
                        <FormAlert message=errors.form(&[]) />
                        <SubmitButton label="End my other sessions" pending_label="Ending…" pending=end.pending() />
                    </ActionForm>
                }
            >
                <p class="notice success" role="status">"Your other sessions and bearer tokens have ended; this one carries on."</p>
            </Show>
        </div>
    }
}

#[component]
fn SessionTable(sessions: Vec<SessionView>, end: ServerAction<EndSession>) -> impl IntoView {
    view! {
        <table class="data-table">
            <caption>"Browser sessions, most recently active first"</caption>
            <thead>
                <tr>
                    <th scope="col">"Device"</th>
                    <th scope="col">"Address"</th>
                    <th scope="col">"Signed in"</th>
                    <th scope="col">"Last active"</th>
                    <th scope="col"><span class="visually-hidden">"Action"</span></th>
                </tr>
            </thead>
            <tbody>
                {sessions.into_iter().map(|session| {
                    let id = session.id.clone();
                    view! {
                        <tr>
                            <td>{session.device.clone()}</td>
                            <td>{session.address.clone().unwrap_or_else(|| "unknown".into())}</td>
                            <td>{date_time(session.signed_in_at)}</td>
                            <td>{date_time(session.last_active_at)}</td>
                            <td>
                                {if session.current {
                                    view! { <span class="muted">"This session"</span> }.into_any()
                                } else {
                                    view! {
                                        <button
                                            type="button"
                                            class="button subtle small"
                                            aria-label=format!("Sign out {} (last active {})", session.device, date_time(session.last_active_at))
                                            on:click=move |_| { end.dispatch(EndSession { id: id.clone() }); }
                                        >
                                            "Sign out"
                                        </button>
                                    }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn TokenTable(tokens: Vec<TokenView>) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p class="muted">"No bearer tokens were issued to you in the last day."</p> }.into_any();
    }
    view! {
        <table class="data-table">
            <caption>"Bearer tokens issued in the last day (each lasts minutes; signing out everywhere else ends them)"</caption>
            <thead>
                <tr>
                    <th scope="col">"Client"</th>
                    <th scope="col">"Address"</th>
                    <th scope="col">"Issued"</th>
                    <th scope="col">"Expires"</th>
                </tr>
            </thead>
            <tbody>
                {tokens.into_iter().map(|token| view! {
                    <tr>
                        <td>{token.device}</td>
                        <td>{token.address.unwrap_or_else(|| "unknown".into())}</td>
                        <td>{date_time(token.issued_at)}</td>
                        <td>{date_time(token.expires_at)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
