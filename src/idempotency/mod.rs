//! Answers kept for `Idempotency-Key`s: the same key and body within 24
//! hours get the stored answer without the work being done again; the same
//! key with another body is refused; while the first request runs, a second
//! is told so. The REST door's middleware (`rest/idempotency.rs`) speaks
//! HTTP; this service keeps the records.
//!
//! An answer belongs to the credential that asked for it (the member: user
//! and account). A stored answer may hold a new secret, so it is sealed
//! with AES-256-GCM under a key derived (HKDF) from the Idempotency-Key
//! value, which only the client holds; of the key itself only an HMAC under
//! a server-held key is kept, so a guessable Idempotency-Key read from the
//! database does not open its answer. Each holder keeps at most
//! `KEYSMITH_IDEMPOTENCY_MAX_KEYS` unexpired keys; expired answers are swept
//! every few minutes.

use crate::{
    error::AppError,
    shared::{
        clock::{UnixMs, DAY, MINUTE},
        ids::{AccountId, ActorId},
    },
    storage::{Claim, Db, IdempotencyClaim},
};
use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, TryRngCore};
use sha2::Sha256;
use std::time::Duration;

const LIFETIME: Duration = DAY;
/// A claim this old without an answer was left by a process that died.
const ABANDONED_AFTER: Duration = MINUTE;

/// Where idempotent answers are kept, and how.
#[derive(Clone)]
pub struct IdempotentAnswers {
    db: Db,
    /// The server-held key of the HMAC that Idempotency-Keys are stored as.
    digest_key: [u8; 32],
    /// Unexpired keys a holder may keep (`KEYSMITH_IDEMPOTENCY_MAX_KEYS`).
    max_keys: u32,
}

/// Where a record lives, whose it is and what request it answers.
pub struct Scope {
    account_id: AccountId,
    /// The member whose credential made the request.
    holder: ActorId,
    key_digest: String,
    request_hash: String,
}

/// What a request with an Idempotency-Key is to do.
pub enum Begun {
    /// The key is this request's now: do the work, then
    /// [`complete`](IdempotentAnswers::complete) or
    /// [`release`](IdempotentAnswers::release) it.
    Fresh,
    /// The same request was answered before: this status and what
    /// [`complete`](IdempotentAnswers::complete) was given.
    Replay { status: i64, answer: Vec<u8> },
}

impl IdempotentAnswers {
    pub fn new(db: Db, digest_key: [u8; 32], max_keys: u32) -> Self {
        IdempotentAnswers {
            db,
            digest_key,
            max_keys,
        }
    }

    /// Where the answer to `request_hash` under `idempotency_key` lives for
    /// this member.
    pub fn scope(
        &self,
        account_id: &AccountId,
        holder: &ActorId,
        idempotency_key: &str,
        request_hash: String,
    ) -> Scope {
        Scope {
            key_digest: stored_digest(&self.digest_key, account_id, holder, idempotency_key),
            account_id: account_id.clone(),
            holder: holder.clone(),
            request_hash,
        }
    }

    /// Claims the key for this request, or finds its earlier answer. The
    /// count of the holder's keys is taken with the claim.
    pub async fn begin(&self, scope: &Scope, idempotency_key: &str) -> Result<Begun, AppError> {
        for _ in 0..2 {
            let now = UnixMs::now();
            let claim = self
                .db
                .claim_idempotency_key(&IdempotencyClaim {
                    account_id: &scope.account_id,
                    holder: &scope.holder,
                    key_digest: &scope.key_digest,
                    request_hash: &scope.request_hash,
                    now,
                    expired_before: now - LIFETIME,
                    max_live: i64::from(self.max_keys),
                })
                .await?;
            match claim {
                Claim::Claimed => return Ok(Begun::Fresh),
                Claim::Full => return Err(AppError::TooManyIdempotencyKeys(self.max_keys)),
                Claim::Taken => {}
            }
            let Some(record) = self
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
                (Some(status), Some(sealed)) => {
                    let answer = open(idempotency_key, scope, &sealed)?;
                    return Ok(Begun::Replay { status, answer });
                }
                _ if record.created_at < now - ABANDONED_AFTER => {
                    self.db
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

    /// Keeps the answer to a fresh request, sealed.
    pub async fn complete(
        &self,
        scope: &Scope,
        idempotency_key: &str,
        status: u16,
        answer: &[u8],
    ) -> Result<(), AppError> {
        let sealed = seal(idempotency_key, scope, answer)?;
        self.db
            .complete_idempotency_key(&scope.account_id, &scope.key_digest, status, &sealed)
            .await?;
        Ok(())
    }

    /// Gives the key up without an answer: the same key may try again.
    pub async fn release(&self, scope: &Scope) -> Result<(), AppError> {
        self.db
            .release_idempotency_key(&scope.account_id, &scope.key_digest)
            .await?;
        Ok(())
    }
}

/// Forgets expired answers now, then every `period` until the process stops.
pub async fn sweep_every(db: Db, period: Duration) {
    loop {
        match db.sweep_idempotency_records(UnixMs::now() - LIFETIME).await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "expired idempotent answers forgotten"),
            Err(error) => tracing::warn!(%error, "cannot sweep expired idempotent answers"),
        }
        // Verify's answers to a request_id, kept as long.
        match db.sweep_verify_answers(UnixMs::now() - LIFETIME).await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "expired verify answers forgotten"),
            Err(error) => tracing::warn!(%error, "cannot sweep expired verify answers"),
        }
        tokio::time::sleep(period).await;
    }
}

/// HMAC-SHA-256 of an Idempotency-Key under the server-held key, bound to
/// the account and the holder: what is stored instead of the key.
fn stored_digest(
    server_key: &[u8; 32],
    account_id: &AccountId,
    holder: &ActorId,
    idempotency_key: &str,
) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(server_key).expect("HMAC takes a key of any length");
    for part in [account_id.as_str(), holder.as_str(), idempotency_key] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
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
    use crate::shared::ids::UserId;
    use sha2::Digest;

    fn account(n: u8) -> AccountId {
        AccountId::parse(&format!("acc_{n}")).unwrap()
    }

    fn user(n: u8) -> ActorId {
        UserId::parse(&format!("usr_{n}")).unwrap().into()
    }

    fn scope() -> Scope {
        Scope {
            account_id: account(1),
            holder: user(1),
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
            account_id: account(2),
            ..scope()
        };
        assert!(open("retry-1", &other, &sealed).is_err());
        let other_member = Scope {
            holder: user(2),
            ..scope()
        };
        assert!(open("retry-1", &other_member, &sealed).is_err());
    }

    #[test]
    fn stored_digests_need_the_server_key_and_differ_per_account_and_member() {
        let digest = stored_digest(&[7; 32], &account(1), &user(1), "retry-1");
        assert_ne!(digest, hex::encode(Sha256::digest(b"retry-1")));
        assert_ne!(
            digest,
            stored_digest(&[8; 32], &account(1), &user(1), "retry-1")
        );
        assert_ne!(
            digest,
            stored_digest(&[7; 32], &account(2), &user(1), "retry-1")
        );
        assert_ne!(
            digest,
            stored_digest(&[7; 32], &account(1), &user(2), "retry-1")
        );
        assert_eq!(
            digest,
            stored_digest(&[7; 32], &account(1), &user(1), "retry-1")
        );
    }
}
