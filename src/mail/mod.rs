//! Email that is never lost. A change that causes a message writes it to
//! the outbox in its own transaction ([`Mailer::compose`] seals it for
//! that); a sender in every process claims due messages and hands them to
//! the operator's SMTP server, retrying with backoff for up to a day.
//! Without `KEYSMITH_SMTP_URL` the [`Mailer`] is off: nothing is composed
//! and nothing is logged in its place (links in mail are secrets).

pub mod message;
mod sender;
pub mod smtp;

use crate::{
    shared::clock::{new_id, UnixMs},
    storage::{Db, NewMail},
};
use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use lettre::message::Mailbox;
use message::Mail;
use rand::{rngs::OsRng, TryRngCore};
use smtp::SmtpServer;
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// How long the outbox keeps trying one message.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How long sent and failed messages are kept (without their fields).
pub const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What the operator configured for mail.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub server: SmtpServer,
    pub from: Mailbox,
    /// Where links in mail start (`KEYSMITH_PUBLIC_URL`).
    pub public_url: String,
}

/// The mail service: off, or the settings and the key that seals the
/// outbox. A clone is one reference count.
#[derive(Clone, Default)]
pub struct Mailer(Option<Arc<Parts>>);

struct Parts {
    settings: MailSettings,
    cipher: Aes256Gcm,
    /// Wakes this process's sender when a message was queued here.
    queued: Notify,
}

impl Mailer {
    /// Mail on, sealing the outbox under `seal_key` (derived from the
    /// server's secret, the same on every replica).
    pub fn new(settings: MailSettings, seal_key: &[u8; 32]) -> Self {
        Mailer(Some(Arc::new(Parts {
            settings,
            cipher: Aes256Gcm::new(seal_key.into()),
            queued: Notify::new(),
        })))
    }

    /// Whether this server sends mail at all.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The message for the outbox, its fields sealed; `None` when mail is
    /// off. Written by the storage operation of the change that causes it.
    pub fn compose(&self, to: &str, mail: &Mail) -> Option<NewMail> {
        let parts = self.0.as_ref()?;
        let id = new_id("mail");
        let plain = serde_json::to_vec(mail).expect("a message's fields serialise");
        let sealed_body = seal(&parts.cipher, &id, &plain);
        let now = UnixMs::now();
        Some(NewMail {
            id,
            kind: mail.kind(),
            recipient: to.to_owned(),
            sealed_body,
            created_at: now,
            give_up_at: now + GIVE_UP_AFTER,
        })
    }

    /// Tells this process's sender that a message was just queued, so it
    /// goes now rather than at the next look at the outbox.
    pub fn queued(&self) {
        if let Some(parts) = &self.0 {
            parts.queued.notify_one();
        }
    }

    /// Starts this process's sender (when mail is on).
    pub fn start_sending(&self, db: Db) {
        if let Some(parts) = &self.0 {
            tokio::spawn(sender::run(db, Arc::clone(parts)));
        }
    }
}

/// `nonce (12 bytes) ‖ ciphertext` in hex, bound to its outbox row.
fn seal(cipher: &Aes256Gcm, id: &str, plain: &[u8]) -> String {
    let mut nonce = [0u8; 12];
    OsRng
        .try_fill_bytes(&mut nonce)
        .expect("the operating system's random number generator failed");
    let payload = Payload {
        msg: plain,
        aad: id.as_bytes(),
    };
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), payload)
        .expect("AES-GCM seals any message this size");
    hex::encode([nonce.as_slice(), &sealed].concat())
}

/// The fields sealed in row `id`; `None` if they were not sealed under
/// this key (the server's secret changed) or for this row.
fn open(cipher: &Aes256Gcm, id: &str, sealed: &str) -> Option<Mail> {
    let bytes = hex::decode(sealed).ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(12);
    let payload = Payload {
        msg: sealed,
        aad: id.as_bytes(),
    };
    let plain = cipher.decrypt(Nonce::from_slice(nonce), payload).ok()?;
    serde_json::from_slice(&plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> Aes256Gcm {
        Aes256Gcm::new(&[byte; 32].into())
    }

    #[test]
    fn a_sealed_message_opens_only_in_its_own_row_under_its_own_key() {
        let mail = Mail::PasswordReset {
            token: "ab".repeat(32),
        };
        let plain = serde_json::to_vec(&mail).unwrap();
        let sealed = seal(&cipher(1), "mail_a", &plain);
        assert!(!sealed.contains(&"ab".repeat(32)));
        assert_eq!(open(&cipher(1), "mail_a", &sealed), Some(mail));
        assert_eq!(open(&cipher(1), "mail_b", &sealed), None);
        assert_eq!(open(&cipher(2), "mail_a", &sealed), None);
        assert_eq!(open(&cipher(1), "mail_a", "zz"), None);
    }
}
