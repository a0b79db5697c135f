//! Values sealed at rest (AES-256-GCM) under a key derived from the
//! server's secret, each bound to the row it belongs to: mail waiting in
//! the outbox, two-factor secrets.

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use rand::{rngs::OsRng, TryRngCore};

const NONCE_BYTES: usize = 12;

/// Seals and opens values under one key.
pub struct Sealer(Aes256Gcm);

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Sealer(Aes256Gcm::new(key.into()))
    }

    /// `nonce ‖ ciphertext` in hex, opened only for the same `row`.
    pub fn seal(&self, row: &str, plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng
            .try_fill_bytes(&mut nonce)
            .expect("the operating system's random number generator failed");
        let payload = Payload {
            msg: plain,
            aad: row.as_bytes(),
        };
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM seals any value this size");
        hex::encode([nonce.as_slice(), &sealed].concat())
    }

    /// The value sealed for `row`; `None` if it was sealed under another
    /// key (the server's secret changed) or for another row.
    pub fn open(&self, row: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: sealed,
            aad: row.as_bytes(),
        };
        self.0.decrypt(Nonce::from_slice(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_own_row_under_its_own_key() {
        let sealer = Sealer::new(&[1; 32]);
        let sealed = sealer.seal("row_a", b"a secret");
        assert!(!sealed.contains(&hex::encode(b"a secret")));
        assert_eq!(
            sealer.open("row_a", &sealed).as_deref(),
            Some(&b"a secret"[..])
        );
        assert_eq!(sealer.open("row_b", &sealed), None);
        assert_eq!(Sealer::new(&[2; 32]).open("row_a", &sealed), None);
        assert_eq!(sealer.open("row_a", "zz"), None);
    }
}
