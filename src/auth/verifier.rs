//! Verifier tokens: the secrets the operator hands the platform's services
//! so that only they may call verify (`KEYSMITH_VERIFY_TOKENS`), keeping
//! keys' metadata off the open internet. Kept as SHA-256 digests and
//! compared in constant time, against every token every time.

use crate::error::AppError;
use sha2::{Digest, Sha256};
use std::{fmt, sync::Arc};
use subtle::ConstantTimeEq;

/// The shortest token accepted: shorter ones could be guessed.
pub const MIN_CHARS: usize = 16;
/// The most tokens one server keeps (each is compared on every call).
pub const MAX_TOKENS: usize = 100;

/// The tokens verify accepts, as digests.
#[derive(Clone)]
pub struct VerifierTokens(Arc<[[u8; 32]]>);

impl VerifierTokens {
    /// Comma-separated tokens, or `file:/path` naming a file of them, one
    /// per line (blank lines and lines starting with `#` aside).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let text;
        let tokens: Vec<&str> = match raw.strip_prefix("file:") {
            Some(path) => {
                text = std::fs::read_to_string(path.trim())
                    .map_err(|error| format!("cannot read {}: {error}", path.trim()))?;
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with('#'))
                    .collect()
            }
            None => raw.split(',').map(str::trim).collect(),
        };
        if tokens.is_empty() || tokens.iter().all(|t| t.is_empty()) {
            return Err("names no token".into());
        }
        if tokens.len() > MAX_TOKENS {
            return Err(format!(
                "holds {} tokens; at most {MAX_TOKENS}",
                tokens.len()
            ));
        }
        if let Some(position) = tokens.iter().position(|t| t.chars().count() < MIN_CHARS) {
            return Err(format!(
                "token {} is shorter than {MIN_CHARS} characters; use long random ones (e.g. `openssl rand -hex 32`)",
                position + 1
            ));
        }
        Ok(VerifierTokens(tokens.iter().map(|t| digest(t)).collect()))
    }

    /// Whether `presented` is one of the tokens. Every token is compared,
    /// each in constant time, so the time taken tells nothing.
    pub fn admit(&self, presented: &str) -> bool {
        let presented = digest(presented);
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |found, token| {
                found | token.ct_eq(&presented)
            })
            .into()
    }
}

/// Who may call verify: anyone, or only a caller presenting one of the
/// operator's tokens as `Authorization: Bearer <token>`.
#[derive(Clone, Debug, Default)]
pub struct VerifyGate(pub Option<VerifierTokens>);

impl VerifyGate {
    /// Lets the call through, given its `Authorization` header (if any).
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), AppError> {
        let Some(tokens) = &self.0 else {
            return Ok(());
        };
        let presented = authorization
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match presented {
            Some(token) if tokens.admit(token) => Ok(()),
            _ => Err(AppError::VerifierTokenRequired),
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl fmt::Debug for VerifierTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierTokens({} tokens, redacted)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaa-first";
    const B: &str = "bbbbbbbbbbbbbbbb-second";

    #[test]
    fn any_listed_token_is_admitted_and_nothing_else() {
        let tokens = VerifierTokens::parse(&format!(" {A} , {B} ")).unwrap();
        assert!(tokens.admit(A));
        assert!(tokens.admit(B));
        for other in ["", "aaaaaaaaaaaaaaaa", &format!("{A} "), "ks_live_x"] {
            assert!(!tokens.admit(other), "{other:?}");
        }
    }

    #[test]
    fn a_file_holds_one_token_a_line_with_comments() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, format!("# services\n{A}\n\n  {B}\n")).unwrap();
        let tokens = VerifierTokens::parse(&format!("file:{}", file.display())).unwrap();
        assert!(tokens.admit(A) && tokens.admit(B));
        let missing = VerifierTokens::parse("file:/nonexistent/tokens").unwrap_err();
        assert!(
            missing.starts_with("cannot read /nonexistent/tokens"),
            "{missing}"
        );
    }

    #[test]
    fn the_gate_is_open_without_tokens_and_wants_a_bearer_token_with_them() {
        assert!(VerifyGate(None).check(None).is_ok());
        let gate = VerifyGate(Some(VerifierTokens::parse(A).unwrap()));
        let bearer = format!("Bearer {A}");
        assert!(gate.check(Some(bearer.as_bytes())).is_ok());
        assert!(gate.check(Some(format!("bearer  {A}").as_bytes())).is_ok());
        for refused in [
            None,
            Some(A.as_bytes()),
            Some(b"Bearer nope".as_slice()),
            Some(b"Basic x".as_slice()),
        ] {
            assert_eq!(gate.check(refused), Err(AppError::VerifierTokenRequired));
        }
    }

    #[test]
    fn short_or_no_tokens_are_refused_without_echoing_them() {
        let error = VerifierTokens::parse(&format!("{A},short-secret")).unwrap_err();
        assert!(
            error.starts_with("token 2 is shorter than 16 characters"),
            "{error}"
        );
        assert!(!error.contains("short-secret"));
        assert!(VerifierTokens::parse(" , ").is_err());
        let tokens = VerifierTokens::parse(A).unwrap();
        assert!(!format!("{tokens:?}").contains("aaaa"));
    }
}
