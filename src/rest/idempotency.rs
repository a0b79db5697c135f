//! `Idempotency-Key` for the POSTs that create, rotate and revoke (the IETF
//! httpapi draft), over HTTP: the answers themselves are the
//! [`IdempotentAnswers`] service's.
//!
//! A replay passes the same authentication and the same role check as a
//! fresh request before anything is replayed, so a stored secret never
//! reaches anyone who could not have made it. Refusals of who is asking
//! (401, 403, 429) are not stored and hold no key.

use super::{auth::ManagerCaller, problem};
use crate::{
    auth::{manager::Operation, service::Accounts},
    error::AppError,
    idempotency::{Begun, IdempotentAnswers, Scope},
    keys::Keys,
    shared::key_type::KeyType,
};
use axum::{
    body::{to_bytes, Body, Bytes},
    extract::{FromRef, FromRequestParts, Request},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;
const MAX_BODY: usize = 1024 * 1024;

/// The middleware of a route whose operation is `operation` (what the
/// service checks too): a replay is refused whatever would refuse the
/// operation itself, before any stored answer is looked at.
pub async fn idempotent<S>(state: S, operation: Operation, req: Request, next: Next) -> Response
where
    S: Send + Sync,
    Keys: FromRef<S>,
    Accounts: FromRef<S>,
    IdempotentAnswers: FromRef<S>,
{
    let Some(raw) = req.headers().get(HEADER).cloned() else {
        return next.run(req).await;
    };
    match handle(&state, operation, &raw, req, next).await {
        Ok(response) => response,
        Err(error) => problem::response(&error),
    }
}

async fn handle<S>(
    state: &S,
    operation: Operation,
    raw: &HeaderValue,
    req: Request,
    next: Next,
) -> Result<Response, AppError>
where
    S: Send + Sync,
    Keys: FromRef<S>,
    Accounts: FromRef<S>,
    IdempotentAnswers: FromRef<S>,
{
    let (mut parts, body) = req.into_parts();
    // Who is asking, and whether they may, come first: a stranger or a
    // member without the role learns nothing from our records, and uses
    // none of them up.
    let ManagerCaller(by) = ManagerCaller::from_request_parts(&mut parts, state)
        .await
        .map_err(|e| e.0)?;
    by.require(operation)?;
    let key = parse_key(raw)?;
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| AppError::PayloadTooLarge)?;
    let answers = IdempotentAnswers::from_ref(state);
    let request = request_hash(parts.method.as_str(), parts.uri.path(), &body);
    let scope = answers.scope(&by.account_id, &by.actor_id(), key, request);
    match answers.begin(&scope, key).await? {
        Begun::Fresh => {
            let response = next.run(Request::from_parts(parts, Body::from(body))).await;
            store(&answers, &scope, key, response).await
        }
        Begun::Replay { status, answer } => {
            // A replay skips the operation's own checks: a management key's
            // secret is given again only to who may manage those keys now.
            if is_about_a_management_key(&answer) {
                by.require(Operation::ManageManagementKeys)?;
            }
            replay(status, &answer)
        }
    }
}

/// Whether a stored answer (its content type, a newline, its body) shows a
/// management key, made or rotated.
fn is_about_a_management_key(plain: &[u8]) -> bool {
    let Some(split) = plain.iter().position(|&b| b == b'\n') else {
        return false;
    };
    #[derive(Deserialize)]
    struct Stored {
        data: Option<Shown>,
    }
    #[derive(Deserialize)]
    struct Shown {
        #[serde(rename = "type")]
        key_type: Option<KeyType>,
    }
    serde_json::from_slice::<Stored>(&plain[split + 1..]).is_ok_and(|stored| {
        stored.data.and_then(|shown| shown.key_type) == Some(KeyType::Management)
    })
}

fn parse_key(raw: &HeaderValue) -> Result<&str, AppError> {
    raw.to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            AppError::field(
                "Idempotency-Key",
                format!("The Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters."),
            )
        })
}

fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), body] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

async fn store(
    answers: &IdempotentAnswers,
    scope: &Scope,
    key: &str,
    response: Response,
) -> Result<Response, AppError> {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        answers.release(scope).await?;
        return Err(AppError::Internal);
    };
    if worth_keeping(parts.status) {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        let answer = plaintext(content_type, &bytes);
        answers
            .complete(scope, key, parts.status.as_u16(), &answer)
            .await?;
    } else {
        answers.release(scope).await?;
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// A server error is not the client's fault, and a refusal of who is asking
/// (401, 403, 429) says nothing about the request: neither is kept, so the
/// same key can try again and refusals use up no key.
fn worth_keeping(status: StatusCode) -> bool {
    !(status.is_server_error()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        ))
}

fn replay(status: i64, plain: &[u8]) -> Result<Response, AppError> {
    let split = plain
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(AppError::Internal)?;
    let content_type = HeaderValue::from_bytes(&plain[..split]).map_err(|_| AppError::Internal)?;
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or(AppError::Internal)?;
    let mut response = (status, Bytes::copy_from_slice(&plain[split + 1..])).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}

/// `content-type \n body`: content types never hold a line break.
fn plaintext(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut plain = Vec::with_capacity(content_type.len() + 1 + body.len());
    plain.extend_from_slice(content_type.as_bytes());
    plain.push(b'\n');
    plain.extend_from_slice(body);
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_answer_is_about_a_management_key_only_if_it_shows_one() {
        let shown = |key_type: &str| {
            format!("application/json\n{{\"data\":{{\"id\":\"key_1\",\"type\":\"{key_type}\",\"key\":\"s\"}}}}")
        };
        assert!(is_about_a_management_key(shown("management").as_bytes()));
        assert!(!is_about_a_management_key(shown("api").as_bytes()));
        let problem = b"application/problem+json\n{\"status\":409}";
        assert!(!is_about_a_management_key(problem));
        assert!(!is_about_a_management_key(b"no newline"));
    }

    #[test]
    fn refusals_of_the_caller_and_server_errors_are_not_kept() {
        for status in [401, 403, 429, 500, 503] {
            assert!(
                !worth_keeping(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [200, 201, 400, 404, 409, 422] {
            assert!(
                worth_keeping(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }

    #[test]
    fn the_request_hash_covers_method_path_and_body() {
        let base = request_hash("POST", "/api/v2/api-keys", b"{}");
        assert_eq!(base, request_hash("POST", "/api/v2/api-keys", b"{}"));
        assert_ne!(base, request_hash("POST", "/api/v2/api-keys", b"{ }"));
        assert_ne!(
            base,
            request_hash("POST", "/api/v2/api-keys/x/rotate", b"{}")
        );
    }
}
