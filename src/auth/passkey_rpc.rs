//! The `/rpc` door for passkeys: adding and removing them on the Account
//! page, and signing in with one. Each ceremony is two calls: a prompt
//! (the options for `navigator.credentials` and a handle), then the
//! browser's answer with that handle.

use super::summary::PasskeyPrompt;
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::{
    auth::{
        identity::ClientInfo,
        rpc::{safe_return_path, start_session},
        service::Accounts,
        session::{signed_in_actor, signed_in_enrolling},
    },
    shared::{context::provided, site::page_origin_of_this_request},
};

/// The prompt to add a passkey to the signed-in user, who gives their
/// password.
#[server(prefix = "/rpc", endpoint = "begin_passkey")]
pub async fn begin_passkey(current_password: String) -> Result<PasskeyPrompt, AppError> {
    let actor = signed_in_enrolling().await?;
    let origin = page_origin_of_this_request().await?;
    provided::<Accounts>()?
        .begin_passkey(&actor, &origin, current_password)
        .await
}

/// Keeps the new passkey under `name`; the recovery codes to show once
/// when it is the user's first second factor (else none).
#[server(prefix = "/rpc", endpoint = "add_passkey")]
pub async fn add_passkey(
    ceremony: String,
    name: String,
    answer: String,
) -> Result<Vec<String>, AppError> {
    let actor = signed_in_enrolling().await?;
    let origin = page_origin_of_this_request().await?;
    provided::<Accounts>()?
        .add_passkey(&actor, &origin, &ceremony, &name, &answer)
        .await
}

/// Removes one of the user's passkeys, with their password.
#[server(prefix = "/rpc", endpoint = "remove_passkey")]
pub async fn remove_passkey(id: String, current_password: String) -> Result<(), AppError> {
    let actor = signed_in_actor().await?;
    provided::<Accounts>()?
        .remove_passkey(&actor, &id, current_password)
        .await
}

/// The prompt to sign in with a passkey.
#[server(prefix = "/rpc", endpoint = "begin_passkey_sign_in")]
pub async fn begin_passkey_sign_in() -> Result<PasskeyPrompt, AppError> {
    let origin = page_origin_of_this_request().await?;
    let client = ClientInfo::of_this_request().await;
    provided::<Accounts>()?
        .begin_passkey_sign_in(&origin, &client)
        .await
}

/// Signs in with the passkey's answer; with `email` (the second step after
/// a password) only as that user.
#[server(prefix = "/rpc", endpoint = "sign_in_with_passkey")]
pub async fn sign_in_with_passkey(
    ceremony: String,
    answer: String,
    next: String,
    #[server(default)] email: Option<String>,
) -> Result<(), AppError> {
    let origin = page_origin_of_this_request().await?;
    let client = ClientInfo::of_this_request().await;
    let email = email.as_deref().filter(|email| !email.trim().is_empty());
    let signed_in = provided::<Accounts>()?
        .sign_in_with_passkey(&origin, &ceremony, &answer, email, &client)
        .await?;
    start_session(signed_in, safe_return_path(&next)).await
}
