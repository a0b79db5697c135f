//! `Idempotency-Key` for the POSTs that create, rotate and revoke (the IETF
//! httpapi draft): the same key and body within 24 hours get the stored
//! answer without doing the work again; the same key with another body is a
//! 422; while the first request runs, a second is a 409.
//!
//! An answer belongs to the credential that asked for it: the member (user
//! and account) of the bearer token. Another member's identical request is a
//! request of its own, and a replay passes the same authentication and the
//! same role check as a fresh request before anything is replayed, so a
//! stored secret never reaches anyone who could not have made it.
//! Refusals of who is asking (401, 403, 429) are not stored and hold no key.
//!
//! A stored answer may hold a new secret, so it is sealed with AES-256-GCM
//! under a key derived (HKDF) from the Idempotency-Key value, which only the
//! client holds; of the key itself only an HMAC under a server-held key is
//! kept, so a guessable Idempotency-Key read from the database does not open
//! its answer. Each holder keeps at most `KEYSMITH_IDEMPOTENCY_MAX_KEYS`
//! unexpired keys; expired answers are swept every few minutes.

use super::{auth::UserCaller, problem, ApiState};
use crate::{
    auth::role::Role,
    error::AppError,
    shared::clock,
    storage::{Claim, Db, IdempotencyClaim},
};
use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use axum::{
    body::{to_bytes, Body, Bytes},
    extract::{FromRequestParts, Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, TryRngCore};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const HEADER: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;
const LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;
/// A claim this old without an answer was left by a process that died.
const ABANDONED_AFTER_MS: i64 = 60 * 1000;
const MAX_BODY: usize = 1024 * 1024;

/// Where idempotent answers are kept, and how.
#[derive(Clone)]
pub struct Idempotency {
    db: Db,
    /// The server-held key of the HMAC that Idempotency-Keys are stored as.
    digest_key: [u8; 32],
    /// Unexpired keys an account may hold (`KEYSMITH_IDEMPOTENCY_MAX_KEYS`).
    max_keys: u32,
}

impl Idempotency {
    pub fn new(db: Db, digest_key: [u8; 32], max_keys: u32) -> Self {
        Idempotency {
            db,
            digest_key,
            max_keys,
        }
    }

    fn digest(&self, account_id: &str, holder: &str, idempotency_key: &str) -> String {
        stored_digest(&self.digest_key, account_id, holder, idempotency_key)
    }
}

/// HMAC-SHA-256 of an Idempotency-Key under the server-held key, bound to
/// the account and the holder: what is stored instead of the key.
fn stored_digest(
    server_key: &[u8; 32],
    account_id: &str,
    holder: &str,
    idempotency_key: &str,
) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(server_key).expect("HMAC takes a key of any length");
    for part in [account_id, holder, idempotency_key] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Forgets expired answers now, then every `period` until the process stops.
pub async fn sweep_every(db: Db, period: Duration) {
    loop {
        match db
            .sweep_idempotency_records(clock::now_ms() - LIFETIME_MS)
            .await
        {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "expired idempotent answers forgotten"),
            Err(error) => tracing::warn!(%error, "cannot sweep expired idempotent answers"),
        }
        tokio::time::sleep(period).await;
    }
}

/// The middleware of a route whose operation needs `needed` (the role the
/// service checks too): a replay is refused whatever would refuse the
/// operation itself, before any stored answer is looked at.
pub async fn idempotent(
    State((state, needed)): State<(ApiState, Role)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(raw) = req.headers().get(HEADER).cloned() else {
        return next.run(req).await;
    };
    match handle(&state, needed, &raw, req, next).await {
        Ok(response) => response,
        Err(error) => problem::response(&error),
    }
}

async fn handle(
    state: &ApiState,
    needed: Role,
    raw: &HeaderValue,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let (mut parts, body) = req.into_parts();
    // Who is asking, and whether they may, come first: a stranger or a
    // member without the role learns nothing from our records, and uses
    // none of them up.
    let UserCaller(actor) = UserCaller::from_request_parts(&mut parts, state)
        .await
        .map_err(|e| e.0)?;
    actor.user.role.require(needed)?;
    let key = parse_key(raw)?;
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| AppError::PayloadTooLarge)?;
    let (account_id, holder) = (&actor.user.account_id, &actor.user.user_id);
    let scope = Scope {
        key_digest: state.idempotency.digest(account_id, holder, key),
        account_id: account_id.clone(),
        holder: holder.clone(),
        request_hash: request_hash(parts.method.as_str(), parts.uri.path(), &body),
    };
    for _ in 0..2 {
        let now = clock::now_ms();
        let max_keys = state.idempotency.max_keys;
        let claim = state
            .idempotency
            .db
            .claim_idempotency_key(&IdempotencyClaim {
                account_id: &scope.account_id,
                holder: &scope.holder,
                key_digest: &scope.key_digest,
                request_hash: &scope.request_hash,
                now_ms: now,
                expired_before: now - LIFETIME_MS,
                max_live: i64::from(max_keys),
            })
            .await?;
        match claim {
            Claim::Claimed => {
                let response = next.run(Request::from_parts(parts, Body::from(body))).await;
                return store(state, &scope, key, response).await;
            }
            Claim::Full => return Err(AppError::TooManyIdempotencyKeys(max_keys)),
            Claim::Taken => {}
        }
        let Some(record) = state
            .idempotency
            .db
            .idempotency_record(&scope.account_id, &scope.key_digest)
            .await?
        else {
            continue;
        };
        if record.request_hash != scope.request_hash {
            return Err(AppError::IdempotencyKeyReused);
        }
        match (record.status, record.sealed_body) {
            (Some(status), Some(sealed)) => return replay(&scope, key, status, &sealed),
            _ if record.created_at < now - ABANDONED_AFTER_MS => {
                state
                    .idempotency
                    .db
                    .reclaim_stale_idempotency_key(
                        &scope.account_id,
                        &scope.key_digest,
                        record.created_at,
                    )
                    .await?;
            }
            _ => return Err(AppError::IdempotencyKeyInUse),
        }
    }
    Err(AppError::IdempotencyKeyInUse)
}

/// Where a record lives, whose it is and what request it answers.
struct Scope {
    account_id: String,
    /// The member (user id) whose credential made the request.
    holder: String,
    key_digest: String,
    request_hash: String,
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
    state: &ApiState,
    scope: &Scope,
    key: &str,
    response: Response,
) -> Result<Response, AppError> {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        state
            .idempotency
            .db
            .release_idempotency_key(&scope.account_id, &scope.key_digest)
            .await?;
        return Err(AppError::Internal);
    };
    if !worth_keeping(parts.status) {
        state
            .idempotency
            .db
            .release_idempotency_key(&scope.account_id, &scope.key_digest)
            .await?;
    } else {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        let sealed = seal(key, scope, &plaintext(content_type, &bytes))?;
        state
            .idempotency
            .db
            .complete_idempotency_key(
                &scope.account_id,
                &scope.key_digest,
                parts.status.as_u16(),
                &sealed,
            )
            .await?;
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

fn replay(scope: &Scope, key: &str, status: i64, sealed: &[u8]) -> Result<Response, AppError> {
    let plain = open(key, scope, sealed)?;
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

fn cipher(key: &str, scope: &Scope) -> Aes256Gcm {
    let salt = format!("{}/{}", scope.account_id, scope.holder);
    let hkdf = Hkdf::<Sha256>::new(Some(salt.as_bytes()), key.as_bytes());
    let mut okm = [0u8; 32];
    hkdf.expand(b"keysmith-idempotent-response-v1", &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(&okm.into())
}

/// `nonce (12 bytes) ‖ ciphertext`, bound to the record it belongs to.
fn seal(key: &str, scope: &Scope, plain: &[u8]) -> Result<Vec<u8>, AppError> {
    let mut nonce = [0u8; 12];
    OsRng
        .try_fill_bytes(&mut nonce)
        .expect("the operating system's random number generator failed");
    let aad = format!("{}/{}:{}", scope.account_id, scope.holder, scope.key_digest);
    let sealed = cipher(key, scope)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| AppError::Internal)?;
    Ok([nonce.as_slice(), &sealed].concat())
}

fn open(key: &str, scope: &Scope, sealed: &[u8]) -> Result<Vec<u8>, AppError> {
    if sealed.len() < 12 {
        return Err(AppError::Internal);
    }
    let (nonce, ciphertext) = sealed.split_at(12);
    let aad = format!("{}/{}:{}", scope.account_id, scope.holder, scope.key_digest);
    cipher(key, scope)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| {
            tracing::error!("a stored idempotent response does not decrypt");
            AppError::Internal
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            account_id: "acc_1".into(),
            holder: "usr_1".into(),
            key_digest: "d".into(),
            request_hash: "h".into(),
        }
    }

    #[test]
    fn a_sealed_answer_opens_only_with_its_idempotency_key() {
        let sealed = seal(
            "retry-1",
            &scope(),
            b"application/json\n{\"key\":\"ks_live_x\"}",
        )
        .unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"ks_live_x"));
        assert_eq!(
            open("retry-1", &scope(), &sealed).unwrap(),
            b"application/json\n{\"key\":\"ks_live_x\"}"
        );
        assert!(open("retry-2", &scope(), &sealed).is_err());
        let other = Scope {
            account_id: "acc_2".into(),
            ..scope()
        };
        assert!(open("retry-1", &other, &sealed).is_err());
        let other_member = Scope {
            holder: "usr_2".into(),
            ..scope()
        };
        assert!(open("retry-1", &other_member, &sealed).is_err());
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
    fn stored_digests_need_the_server_key_and_differ_per_account_and_member() {
        let digest = stored_digest(&[7; 32], "acc_1", "usr_1", "retry-1");
        assert_ne!(digest, hex::encode(Sha256::digest(b"retry-1")));
        assert_ne!(digest, stored_digest(&[8; 32], "acc_1", "usr_1", "retry-1"));
        assert_ne!(digest, stored_digest(&[7; 32], "acc_2", "usr_1", "retry-1"));
        assert_ne!(digest, stored_digest(&[7; 32], "acc_1", "usr_2", "retry-1"));
        assert_eq!(digest, stored_digest(&[7; 32], "acc_1", "usr_1", "retry-1"));
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
