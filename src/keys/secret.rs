//! The key itself: `ks_live_` + 32 base62 characters from the OS CSPRNG
//! (190 bits) + a 6-character base62 CRC32 of everything before it. The
//! checksum (GitHub's token scheme) lets typos and random strings be refused
//! without a database look-up, and lets secret scanners recognise our keys.
//! Only a SHA-256 digest of the whole key is ever stored.

use rand::{rngs::OsRng, TryRngCore};
use sha2::{Digest, Sha256};
use std::fmt;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const RANDOM_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;
/// How many random characters the stored, displayable prefix keeps.
const SHOWN_RANDOM_CHARS: usize = 6;
const SHOWN_LAST_CHARS: usize = 4;

/// A full key, shown to its owner once. Not `Clone`, not `Serialize`, and
/// its `Debug` hides it: it leaves the server only in the response that
/// created it.
pub struct KeySecret(String);

impl KeySecret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hands the key over for the one response that shows it.
    pub fn reveal(self) -> String {
        self.0
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySecret(<redacted>)")
    }
}

/// What is stored about a new secret: its digest and what may be displayed.
pub struct StoredSecret {
    pub digest: String,
    /// The prefix and the first random characters, e.g. `ks_live_a1B2c3`.
    pub key_prefix: String,
    pub last_four: String,
}

/// The key format of this server (its prefix is configurable).
#[derive(Clone, Debug)]
pub struct KeyFormat {
    prefix: String,
}

impl KeyFormat {
    pub fn new(prefix: impl Into<String>) -> Self {
        KeyFormat {
            prefix: prefix.into(),
        }
    }

    pub fn generate(&self) -> (KeySecret, StoredSecret) {
        let mut key = format!("{}{}", self.prefix, random_base62(RANDOM_LEN));
        key.extend(checksum(&key).map(char::from));
        let stored = StoredSecret {
            digest: digest(&key),
            key_prefix: key[..self.prefix.len() + SHOWN_RANDOM_CHARS].to_owned(),
            last_four: key[key.len() - SHOWN_LAST_CHARS..].to_owned(),
        };
        (KeySecret(key), stored)
    }

    /// Whether `candidate` has this server's prefix, the right length and
    /// alphabet, and a checksum that matches: no database needed.
    pub fn is_well_formed(&self, candidate: &str) -> bool {
        let Some(rest) = candidate.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        // The base62 alphabet is exactly the ASCII letters and digits.
        if rest.len() != RANDOM_LEN + CHECKSUM_LEN
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return false;
        }
        let (body, sum) = candidate.split_at(candidate.len() - CHECKSUM_LEN);
        checksum(body) == sum.as_bytes()
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// The masked form shown everywhere after creation: `ks_live_a1B2c3…9xQz`.
pub fn mask(key_prefix: &str, last_four: &str) -> String {
    format!("{key_prefix}…{last_four}")
}

/// Hex SHA-256 of a key: how keys are stored and looked up.
pub fn digest(key: &str) -> String {
    hex::encode(raw_digest(key))
}

/// The same SHA-256 as [`digest`], unencoded: what the verification cache
/// is keyed by (32 bytes instead of 64 characters).
pub fn raw_digest(key: &str) -> RawDigest {
    Sha256::digest(key.as_bytes()).into()
}

pub type RawDigest = [u8; 32];

/// The raw form of a stored (hex) digest; `None` if it is not one.
pub fn raw_from_hex(digest: &str) -> Option<RawDigest> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(digest, &mut raw).ok().map(|()| raw)
}

fn checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Uniform base62 characters: bytes of 248 or more are thrown away, so every
/// character is equally likely (248 = 4 × 62).
fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        OsRng
            .try_fill_bytes(&mut buf)
            .expect("the operating system's random number generator failed");
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(BASE62[(b % 62) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format() -> KeyFormat {
        KeyFormat::new("ks_live_")
    }

    #[test]
    fn a_generated_key_has_the_documented_shape() {
        let (secret, stored) = format().generate();
        let key = secret.expose();
        assert!(key.starts_with("ks_live_"));
        assert_eq!(key.len(), 8 + RANDOM_LEN + CHECKSUM_LEN);
        assert!(key[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(format().is_well_formed(key));
        assert_eq!(stored.key_prefix, &key[..14]);
        assert_eq!(stored.last_four, &key[key.len() - 4..]);
        assert_eq!(stored.digest, digest(key));
        assert_eq!(stored.digest.len(), 64);
    }

    #[test]
    fn keys_are_unique() {
        let keys: std::collections::HashSet<String> =
            (0..1000).map(|_| format().generate().0.reveal()).collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn changing_any_one_character_breaks_the_checksum() {
        let key = format().generate().0.reveal();
        for i in 8..key.len() {
            let mut bytes = key.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(!format().is_well_formed(&typo), "position {i}");
        }
    }

    #[test]
    fn wrong_prefix_length_or_alphabet_is_malformed() {
        let key = format().generate().0.reveal();
        assert!(!format().is_well_formed(&key.replacen("ks_live_", "ks_test_", 1)));
        assert!(!format().is_well_formed(&key[..key.len() - 1]));
        assert!(!format().is_well_formed(&format!("{key}0")));
        assert!(!format().is_well_formed(&key.replace(&key[10..11], "-")));
        assert!(!format().is_well_formed(""));
        assert!(!format().is_well_formed("ks_live_"));
    }

    #[test]
    fn the_mask_shows_the_prefix_and_the_last_four_only() {
        assert_eq!(mask("ks_live_a1B2c3", "9xQz"), "ks_live_a1B2c3…9xQz");
    }

    #[test]
    fn the_checksum_is_six_base62_characters() {
        assert_eq!(checksum("").len(), 6);
        assert_eq!(checksum("ks_live_abc"), checksum("ks_live_abc"));
        assert_ne!(checksum("ks_live_abc"), checksum("ks_live_abd"));
    }

    proptest::proptest! {
        #[test]
        fn any_input_is_judged_without_panicking(candidate in "\\PC*") {
            let _ = format().is_well_formed(&candidate);
        }

        #[test]
        fn only_keys_with_a_matching_checksum_are_well_formed(body in "[0-9A-Za-z]{32}", sum in "[0-9A-Za-z]{6}") {
            let key = format!("ks_live_{body}{sum}");
            let expected = checksum(&format!("ks_live_{body}")) == sum.as_bytes();
            proptest::prop_assert_eq!(format().is_well_formed(&key), expected);
        }
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let (secret, _) = format().generate();
        let shown = format!("{secret:?}");
        assert!(!shown.contains(&secret.expose()[8..]));
    }
}
