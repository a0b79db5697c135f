//! The sender each process runs: it claims due messages from the outbox
//! (one claimant per message on every replica), hands each to the SMTP
//! server and records what came of it.

use super::{
    message::PRODUCT,
    open,
    smtp::{Failure, SmtpServer},
    Parts,
};
use crate::{
    shared::clock::{new_id, UnixMs},
    storage::{ClaimedMail, Db},
};
use lettre::{
    message::{header::ContentType, Mailbox, MultiPart, SinglePart},
    Message,
};
use std::{sync::Arc, time::Duration};

/// How long a claim lasts: far longer than one delivery may take (connect
/// and each command time out after 30 s), so a live sender never loses a
/// message it is sending; a dead one's messages are claimed again after it.
const CLAIM: Duration = Duration::from_secs(5 * 60);
/// Messages claimed at once.
const BATCH: i64 = 10;
/// How often the outbox is looked at when nothing woke the sender: for
/// messages other replicas queued, and retries that came due.
const LOOK_EVERY: Duration = Duration::from_secs(2);
/// The longest wait between two attempts at one message.
const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);

pub(super) async fn run(db: Db, parts: Arc<Parts>) {
    let holder = new_id("sender");
    loop {
        let claimed = match db.claim_mail(&holder, UnixMs::now(), CLAIM, BATCH).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "cannot read the mail outbox");
                Vec::new()
            }
        };
        let full = claimed.len() as i64 == BATCH;
        for mail in claimed {
            send(&db, &parts, &holder, mail).await;
        }
        forget_unconfirmed(&db).await;
        if !full {
            let _ = tokio::time::timeout(LOOK_EVERY, parts.queued.notified()).await;
        }
    }
}

/// One claimed message: opened, rendered, handed over, and its outcome
/// recorded. Nothing here names the recipient's link or fields in logs.
async fn send(db: &Db, parts: &Parts, holder: &str, mail: ClaimedMail) {
    let settings = &parts.settings;
    let opened = mail
        .sealed_body
        .as_deref()
        .and_then(|sealed| open(&parts.sealer, &mail.id, sealed));
    let Some(fields) = opened else {
        record(
            db,
            &mail,
            Outcome::Failed("its fields cannot be opened: was the server's secret changed?".into()),
        )
        .await;
        return;
    };
    let rendered = fields.render(&settings.public_url);
    let built = build(&mail, &settings.from, rendered);
    let (envelope, body) = match built {
        Ok(message) => (message.envelope().clone(), message.formatted()),
        Err(reason) => {
            record(db, &mail, Outcome::Failed(reason)).await;
            return;
        }
    };
    let commit = async {
        match db.hand_over_mail(&mail.id, holder, UnixMs::now()).await {
            Ok(ours) => ours,
            Err(error) => {
                tracing::warn!(%error, "cannot record a message's hand-over; sending it later");
                false
            }
        }
    };
    let outcome = match deliver(&settings.server, &envelope, &body, commit).await {
        Ok(()) => Outcome::Sent,
        Err(
            Failure::Before {
                permanent: true,
                reason,
            }
            | Failure::Refused {
                permanent: true,
                reason,
            },
        ) => Outcome::Failed(reason),
        Err(Failure::Before { reason, .. } | Failure::Refused { reason, .. }) => {
            Outcome::Retry(reason)
        }
        Err(Failure::Unconfirmed { reason }) => Outcome::Unconfirmed(reason),
        Err(Failure::Abandoned) => return,
    };
    record(db, &mail, outcome).await;
}

async fn deliver(
    server: &SmtpServer,
    envelope: &lettre::address::Envelope,
    body: &[u8],
    commit: impl std::future::Future<Output = bool>,
) -> Result<(), Failure> {
    server.deliver(envelope, body, commit).await
}

/// The message as the wire carries it: plain text and HTML alternatives,
/// and a Message-ID of the outbox row, so a copy is recognisably the same.
fn build(
    mail: &ClaimedMail,
    from: &Mailbox,
    rendered: super::message::Rendered,
) -> Result<Message, String> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|_| "the recipient is not an address SMTP can carry".to_owned())?;
    let domain = from.email.domain().to_owned();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(format!("<{}@{domain}>", mail.id)))
        .user_agent(PRODUCT.to_owned())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(rendered.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(rendered.html),
                ),
        )
        .map_err(|error| format!("cannot build the message: {error}"))
}

enum Outcome {
    Sent,
    Retry(String),
    Failed(String),
    /// Written out, no answer: never sent again (see `smtp`).
    Unconfirmed(String),
}

async fn record(db: &Db, mail: &ClaimedMail, outcome: Outcome) {
    let now = UnixMs::now();
    let kind = mail.kind.as_str();
    let written = match outcome {
        Outcome::Sent => {
            tracing::info!(mail_id = %mail.id, kind, "mail sent");
            metrics::counter!("keysmith_mail_sent_total", "kind" => kind.to_owned()).increment(1);
            db.mail_sent(&mail.id, now).await
        }
        Outcome::Retry(reason) => {
            let next = now + backoff(mail.attempts);
            if next > mail.give_up_at {
                give_up(db, mail, now, &reason).await
            } else {
                tracing::warn!(mail_id = %mail.id, kind, attempts = mail.attempts, %reason, "mail not sent; trying again");
                db.retry_mail(&mail.id, next, &reason).await
            }
        }
        Outcome::Failed(reason) => give_up(db, mail, now, &reason).await,
        Outcome::Unconfirmed(reason) => {
            tracing::warn!(mail_id = %mail.id, kind, %reason, "the SMTP server did not confirm a message; it is not sent again");
            metrics::counter!("keysmith_mail_unconfirmed_total").increment(1);
            db.mail_sent(&mail.id, now).await
        }
    };
    if let Err(error) = written {
        tracing::warn!(mail_id = %mail.id, %error, "cannot record what became of a message");
    }
}

async fn give_up(
    db: &Db,
    mail: &ClaimedMail,
    now: UnixMs,
    reason: &str,
) -> Result<(), sqlx::Error> {
    tracing::error!(mail_id = %mail.id, kind = %mail.kind, attempts = mail.attempts, %reason, "mail given up");
    metrics::counter!("keysmith_mail_failed_total", "kind" => mail.kind.clone()).increment(1);
    db.mail_failed(&mail.id, now, reason).await
}

/// Messages handed over by a sender that died before the server's answer
/// reached it: finished, their fields forgotten, never sent again.
async fn forget_unconfirmed(db: &Db) {
    match db.forget_unconfirmed_mail(UnixMs::now()).await {
        Ok(0) => {}
        Ok(count) => {
            tracing::warn!(
                count,
                "messages handed over by a sender that stopped; not sent again"
            );
            metrics::counter!("keysmith_mail_unconfirmed_total").increment(count);
        }
        Err(error) => tracing::warn!(%error, "cannot look for unconfirmed mail"),
    }
}

/// 2 s after the first attempt, doubling, at most [`MAX_BACKOFF`].
fn backoff(attempts: i64) -> Duration {
    let exponent = attempts.clamp(1, 20) as u32;
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_two_seconds_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(4));
        assert_eq!(backoff(9), Duration::from_secs(512));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(1_000), MAX_BACKOFF);
    }
}
