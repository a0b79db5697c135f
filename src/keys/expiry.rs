//! Warning people of keys about to expire, while mail is on: a week before
//! and a day before, to the account's owners and admins and the key's
//! maker. Every replica looks every ten minutes; marking a key warned and
//! queueing its messages is one transaction, so each warning goes once.

use crate::{
    mail::{message::Mail, Mailer},
    shared::clock::UnixMs,
    storage::{Db, ExpiringKey, ExpiryWarning, NewMail},
};
use std::time::Duration;

const LOOK_EVERY: Duration = Duration::from_secs(10 * 60);
/// Keys warned per look; more wait for the next.
const BATCH: i64 = 100;

/// Looks now (at start-up), then every ten minutes until the process stops.
pub async fn warn_every(db: Db, mailer: Mailer) {
    loop {
        if let Err(error) = warn_now(&db, &mailer, UnixMs::now()).await {
            tracing::warn!(%error, "cannot warn of expiring keys");
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// The day's warnings first: a key that lives less than a week hears once.
async fn warn_now(db: &Db, mailer: &Mailer, now: UnixMs) -> Result<(), sqlx::Error> {
    let mut warned = 0;
    for warning in [ExpiryWarning::Day, ExpiryWarning::Week] {
        for key in db.keys_due_warning(warning, now, BATCH).await? {
            let recipients = db
                .expiry_recipients(&key.account_id, key.created_by.as_deref())
                .await?;
            let mails = messages(mailer, &key, warning, &recipients);
            if db.warn_of_expiry(&key.id, warning, now, &mails).await? {
                warned += 1;
            }
        }
    }
    if warned > 0 {
        tracing::info!(warned, "keys about to expire warned of");
        mailer.queued();
    }
    Ok(())
}

fn messages(
    mailer: &Mailer,
    key: &ExpiringKey,
    warning: ExpiryWarning,
    recipients: &[String],
) -> Vec<NewMail> {
    let within = match warning {
        ExpiryWarning::Week => "a week",
        ExpiryWarning::Day => "a day",
    };
    let mail = Mail::KeyExpiring {
        key_id: key.id.to_string(),
        key: key.name.clone(),
        account: key.account_name.clone(),
        expires_at: key.expires_at,
        within: within.into(),
    };
    recipients
        .iter()
        .filter_map(|to| mailer.compose(to, &mail))
        .collect()
}
