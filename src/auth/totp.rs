//! Time-based one-time passwords (RFC 6238, the authenticator apps' kind):
//! HMAC-SHA1 over 30-second steps, six digits; and the one-time recovery
//! codes that stand in for the app when it is lost.

use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, TryRngCore};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
/// 160 bits, as RFC 4226 recommends for HMAC-SHA1.
const SECRET_BYTES: usize = 20;
/// Recovery codes made at once.
pub const RECOVERY_CODES: usize = 10;
/// Without look-alikes (0/o, 1/l/i), so a code copied by hand reads back.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// An authenticator app's shared secret. Not `Clone` or `Serialize`, and
/// its `Debug` is redacted.
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        TotpSecret(random_bytes(SECRET_BYTES))
    }

    /// A secret as it was stored (after opening its seal).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        TotpSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as people type it into an app: base32, in groups of four.
    pub fn as_text(&self) -> String {
        base32(&self.0)
            .as_bytes()
            .chunks(4)
            .map(|group| std::str::from_utf8(group).expect("base32 is ASCII"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `otpauth://` URI an app reads from the QR code.
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            percent(&label),
            base32(&self.0),
            percent(issuer)
        )
    }

    fn code_at(&self, step: u64) -> String {
        let mut mac =
            Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[digest.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        format!(
            "{:0width$}",
            binary % 10u32.pow(DIGITS as u32),
            width = DIGITS
        )
    }

    /// The time step of `code` if it is this secret's at `unix_seconds`,
    /// or a step either side (an app's clock may be a little off).
    pub fn step_of(&self, code: &str, unix_seconds: u64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = unix_seconds / STEP_SECONDS;
        [now.saturating_sub(1), now, now + 1]
            .into_iter()
            .find(|step| bool::from(self.code_at(*step).as_bytes().ct_eq(code.as_bytes())))
            .and_then(|step| i64::try_from(step).ok())
    }
}

/// Whether `text` has the shape of a TOTP code (rather than a recovery code).
pub fn looks_like_totp(text: &str) -> bool {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS && digits.iter().all(char::is_ascii_digit)
}

/// Ten new recovery codes, `xxxxx-xxxxx` (49 bits each), to show once.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let letters: String = random_bytes(10)
                .into_iter()
                .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b) % RECOVERY_ALPHABET.len()]))
                .collect();
            format!("{}-{}", &letters[..5], &letters[5..])
        })
        .collect()
}

/// What is stored of a recovery code: the digest of its letters, however
/// it was typed (case, spaces and dashes aside).
pub fn recovery_digest(code: &str) -> String {
    let letters: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(format!("keysmith-recovery:{letters}")))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}

/// RFC 4648 base32, without padding (what authenticator apps expect).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 secret, "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // The RFC's eight-digit values, their last six digits.
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(rfc_secret().code_at(time / 30), code, "{time}");
            assert_eq!(rfc_secret().step_of(code, time), Some((time / 30) as i64));
        }
    }

    #[test]
    fn a_code_works_one_step_either_side_and_no_further() {
        let secret = rfc_secret();
        assert_eq!(secret.step_of("287082", 59 + 30), Some(1));
        assert_eq!(secret.step_of("287082", 59 + 60), None);
        assert_eq!(secret.step_of("28708", 59), None);
        assert_eq!(secret.step_of("28708a", 59), None);
        assert_eq!(secret.step_of(" 287 082 ", 59), Some(1));
    }

    #[test]
    fn the_secret_is_base32_for_apps_and_redacted_in_debug() {
        let secret = TotpSecret::from_bytes(b"foobar".to_vec());
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(secret.as_text(), "MZXW 6YTB OI");
        assert_eq!(format!("{secret:?}"), "TotpSecret(…)");
        let uri = secret.uri("Keysmith", "ada@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Keysmith%3Aada@example.com?secret=MZXW6YTBOI&issuer=Keysmith&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_differ_and_are_recognised_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_digest(code),
            recovery_digest(&code.to_uppercase().replace('-', " "))
        );
        assert!(!looks_like_totp(code));
        assert!(looks_like_totp("123 456"));
    }
}
