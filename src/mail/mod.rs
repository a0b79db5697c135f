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
    shared::{
        clock::{new_id, UnixMs},
        sealed::Sealer,
    },
    storage::{Db, NewMail},
};
use lettre::message::Mailbox;
use message::Mail;
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
    sealer: Sealer,
    /// Wakes this process's sender when a message was queued here.
    queued: Notify,
}

impl Mailer {
    /// Mail on, sealing the outbox under `seal_key` (derived from the
    /// server's secret, the same on every replica).
    pub fn new(settings: MailSettings, seal_key: &[u8; 32]) -> Self {
        Mailer(Some(Arc::new(Parts {
            settings,
            sealer: Sealer::new(seal_key),
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
        let sealed_body = parts.sealer.seal(&id, &plain);
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

/// The fields sealed in outbox row `id`; `None` if they cannot be opened
/// (sealed under another server secret).
fn open(sealer: &Sealer, id: &str, sealed: &str) -> Option<Mail> {
    serde_json::from_slice(&sealer.open(id, sealed)?).ok()
}
