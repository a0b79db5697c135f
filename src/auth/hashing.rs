//! Password hashing with argon2id, off the async runtime and bounded in how
//! many hashes run at once (each holds 19 MiB while it runs).
//!
//! Sign-in has priority: sign-ups may hold at most half the slots, and at
//! most [`SIGN_UP_QUEUE`] more may wait; past that a sign-up is answered
//! `Busy` at once instead of queueing in front of people signing in.

use super::password::Password;
use crate::error::AppError;
use argon2::{
    password_hash::{PasswordHasher as _, PasswordVerifier as _},
    Algorithm, Argon2, Params, Version,
};
use std::{
    borrow::Cow,
    sync::{Arc, OnceLock},
};
use tokio::sync::Semaphore;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// OWASP's recommended argon2id settings: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;
/// Sign-ups that may wait for a slot (a waiting sign-up holds no memory).
pub const SIGN_UP_QUEUE: usize = 32;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .expect("the argon2 parameters are valid constants");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Slots sign-ups may use, a subset of `permits`.
    sign_up_slots: Arc<Semaphore>,
    /// Sign-ups running or waiting for a slot.
    sign_up_queue: Arc<Semaphore>,
}

impl PasswordHasher {
    pub fn new(max_concurrent: usize) -> Self {
        let max_concurrent = max_concurrent.max(1);
        let sign_up_slots = (max_concurrent / 2).max(1);
        PasswordHasher {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            sign_up_slots: Arc::new(Semaphore::new(sign_up_slots)),
            sign_up_queue: Arc::new(Semaphore::new(sign_up_slots + SIGN_UP_QUEUE)),
        }
    }

    /// Hashes a new account's password in the sign-up lane: `Busy` when
    /// that lane's queue is full.
    pub async fn hash_for_sign_up(&self, password: Password) -> Result<String, AppError> {
        let _queued = self
            .sign_up_queue
            .try_acquire()
            .map_err(|_| AppError::Busy)?;
        let _slot = self
            .sign_up_slots
            .acquire()
            .await
            .map_err(|_| AppError::Internal)?;
        self.hash(password).await
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for storage, of
    /// the password in Unicode NFKC form.
    pub async fn hash(&self, password: Password) -> Result<String, AppError> {
        self.run(move || {
            argon2()
                .hash_password(normalize(password.expose()).as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| {
                    tracing::error!(%error, "password hashing failed");
                    AppError::Internal
                })
        })
        .await?
    }

    /// Whether `password` matches `stored`. With no stored hash (an unknown
    /// email) a dummy hash is checked instead, so both cases cost the same
    /// time and the answer cannot reveal whether the account exists.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, AppError> {
        self.run(move || {
            let hash = stored.as_deref().unwrap_or_else(|| dummy_hash());
            let typed = password.expose();
            let normalized = normalize(typed);
            let verifies = |text: &str| argon2().verify_password(text.as_bytes(), hash).is_ok();
            // A hash made before passwords were normalised is of the text as
            // typed; it is tried only when normalising changed something.
            let matches = verifies(&normalized) || (normalized != typed && verifies(typed));
            matches && stored.is_some()
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::Internal)?;
        tokio::task::spawn_blocking(work).await.map_err(|error| {
            tracing::error!(%error, "password hashing task failed");
            AppError::Internal
        })
    }
}

/// The password in Unicode NFKC form, so the same password typed on another
/// keyboard or system (composed or decomposed accents, full-width forms)
/// hashes the same.
pub fn normalize(password: &str) -> Cow<'_, str> {
    if is_nfkc_quick(password.chars()) == IsNormalized::Yes {
        Cow::Borrowed(password)
    } else {
        Cow::Owned(password.nfkc().collect())
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        argon2()
            .hash_password(b"keysmith timing-equaliser")
            .expect("hashing a constant cannot fail")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse_attempt(raw.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher
            .hash(password("correct horse battery"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
        assert!(hasher
            .verify(password("correct horse battery"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify(password("wrong horse battery"), Some(hash))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new(1);
        assert!(!hasher
            .verify(password("keysmith timing-equaliser"), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn sign_ups_past_their_queue_are_turned_away_at_once() {
        // Two slots: one for sign-ups, and SIGN_UP_QUEUE more may wait.
        let hasher = PasswordHasher::new(2);
        let attempts = (0..SIGN_UP_QUEUE + 5)
            .map(|_| hasher.hash_for_sign_up(password("correct horse battery")));
        let results = futures::future::join_all(attempts).await;
        let busy = results
            .iter()
            .filter(|r| matches!(r, Err(AppError::Busy)))
            .count();
        let hashed = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!((hashed, busy), (SIGN_UP_QUEUE + 1, 4));
        // With the lane free again, sign-ups are served.
        assert!(hasher
            .hash_for_sign_up(password("correct horse battery"))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn the_same_password_in_another_unicode_form_verifies() {
        let hasher = PasswordHasher::new(1);
        let composed = "caf\u{e9} au lait, s'il vous pla\u{ee}t";
        let decomposed = "cafe\u{301} au lait, s'il vous plai\u{302}t";
        let hash = hasher.hash(password(composed)).await.unwrap();
        assert!(hasher
            .verify(password(decomposed), Some(hash.clone()))
            .await
            .unwrap());
        assert!(hasher.verify(password(composed), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_of_a_password_as_typed_before_normalising_still_verifies() {
        let hasher = PasswordHasher::new(1);
        let decomposed = "cafe\u{301} au lait, s'il vous plai\u{302}t";
        let legacy = argon2()
            .hash_password(decomposed.as_bytes())
            .unwrap()
            .to_string();
        assert!(hasher
            .verify(password(decomposed), Some(legacy))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_a_mismatch_not_a_crash() {
        let hasher = PasswordHasher::new(1);
        assert!(!hasher
            .verify(password("anything"), Some("not a hash".into()))
            .await
            .unwrap());
    }
}
