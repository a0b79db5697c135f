//! The secret of a link sent or shown once (invitations, password resets,
//! address checks): 256 random bits, written as 64 hex digits in the link.
//! Only their SHA-256 digest is stored.

use rand::{rngs::OsRng, TryRngCore};
use sha2::{Digest, Sha256};
use std::fmt;

const BYTES: usize = 32;

/// A link's secret. Not `Clone` or `Serialize`, and its `Debug`
/// is redacted, so it is not copied or logged by accident.
pub struct LinkToken(String);

impl LinkToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; BYTES];
        OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random number generator failed");
        LinkToken(hex::encode(bytes))
    }

    /// A token as found in a link: exactly 64 lower-case hex digits.
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == BYTES * 2
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| LinkToken(raw.to_owned()))
    }

    /// What is stored and looked up (hex).
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The token itself, for the link shown once.
    pub fn reveal(self) -> String {
        self.0
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_256_bits_parse_back_and_differ() {
        let a = LinkToken::generate();
        let b = LinkToken::generate();
        assert_eq!(a.digest().len(), 64);
        assert_ne!(a.digest(), b.digest());
        let text = a.reveal();
        assert_eq!(text.len(), 64);
        let parsed = LinkToken::parse(&text).unwrap();
        assert_ne!(parsed.digest(), text, "the digest is not the token");
        assert_eq!(format!("{parsed:?}"), "LinkToken(…)");
    }

    #[test]
    fn anything_but_64_hex_digits_is_no_token() {
        for raw in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"a".repeat(65)] {
            assert!(LinkToken::parse(raw).is_none(), "{raw}");
        }
        assert!(LinkToken::parse(&"0f".repeat(32)).is_some());
    }
}
