//! The server's own secrets. An operator may supply a master secret; when
//! none is given, one is generated from the OS CSPRNG on first start and kept
//! beside the database (mode 0600), so restarts do not sign everyone out.
//! Every key the server uses is derived from the master secret with HKDF.

use super::{config::Config, BoxError};
use crate::storage::Db;
use hkdf::Hkdf;
use rand::{rngs::OsRng, TryRngCore};
use sha2::Sha256;
use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

const SECRET_FILE: &str = "keysmith.secret";
const SECRET_BYTES: usize = 64;

/// Keys derived from the master secret, one per purpose.
pub struct ServerKeys {
    /// Signs the session cookie.
    pub session: [u8; 64],
    /// Signs the REST API's bearer tokens.
    pub jwt: [u8; 32],
    /// Keys the HMAC under which Idempotency-Keys are stored.
    pub idempotency: [u8; 32],
    /// Seals the fields of mail waiting in the outbox.
    pub mail: [u8; 32],
    /// Seals two-factor (TOTP) secrets.
    pub two_factor: [u8; 32],
}

impl ServerKeys {
    pub fn load(config: &Config) -> Result<Self, BoxError> {
        let master = match &config.secret {
            Some(secret) => secret.0.as_bytes().to_vec(),
            None if crate::storage::is_postgres(&config.database_url) => {
                return Err(
                    "KEYSMITH_SECRET must be set with PostgreSQL: every replica signs \
                            sessions and tokens with it, so it must be the same on all of them"
                        .into(),
                )
            }
            None => match Db::folder_of(&config.database_url) {
                Some(folder) => read_or_create(&folder.join(SECRET_FILE))?,
                None => {
                    tracing::warn!("in-memory database: sessions will not survive a restart");
                    random_bytes()
                }
            },
        };
        Ok(Self::from_master(&master))
    }

    /// The keys a master secret derives (the same on every start).
    pub fn from_master(master: &[u8]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"keysmith"), master);
        let mut session = [0u8; 64];
        hkdf.expand(b"session-cookie-v1", &mut session)
            .expect("64 bytes is a valid HKDF-SHA256 output length");
        let mut jwt = [0u8; 32];
        hkdf.expand(b"api-bearer-token-v1", &mut jwt)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut idempotency = [0u8; 32];
        hkdf.expand(b"idempotency-key-digest-v1", &mut idempotency)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut mail = [0u8; 32];
        hkdf.expand(b"mail-outbox-seal-v1", &mut mail)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut two_factor = [0u8; 32];
        hkdf.expand(b"totp-secret-seal-v1", &mut two_factor)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        ServerKeys {
            session,
            jwt,
            idempotency,
            mail,
            two_factor,
        }
    }
}

fn random_bytes() -> Vec<u8> {
    let mut bytes = vec![0u8; SECRET_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}

fn read_or_create(path: &Path) -> Result<Vec<u8>, BoxError> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let secret = random_bytes();
            file.write_all(hex::encode(&secret).as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "generated a new server secret");
            Ok(secret)
        }
        // Another process (or an earlier start) made it first: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_existing(path),
        Err(e) => Err(format!("cannot create {}: {e}", path.display()).into()),
    }
}

fn read_existing(path: &Path) -> Result<Vec<u8>, BoxError> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} can be read or written by other users (mode {:o}); run `chmod 600` on it and start again",
            path.display(),
            mode & 0o777
        )
        .into());
    }
    let text = fs::read_to_string(path)?;
    match hex::decode(text.trim()) {
        Ok(secret) if secret.len() >= 32 => Ok(secret),
        _ => Err(format!("{} is not a valid Keysmith secret file", path.display()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_private_and_stable_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE);
        let first = read_or_create(&path).unwrap();
        let second = read_or_create(&path).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), SECRET_BYTES);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_corrupt_secret_file_is_an_error_not_a_new_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE);
        fs::write(&path, "zz").unwrap();
        assert!(read_or_create(&path).is_err());
    }

    #[test]
    fn a_secret_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE);
        read_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = read_or_create(&path).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }

    #[test]
    fn different_master_secrets_derive_different_keys() {
        let a = ServerKeys::from_master(b"a master secret of at least 32 bytes!");
        let b = ServerKeys::from_master(b"another master secret, 32 bytes or more");
        assert_ne!(a.session, b.session);
    }
}
