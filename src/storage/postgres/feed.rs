//! Key changes told to every process: each change is numbered and
//! announced with NOTIFY in its own transaction (`announce_key_change`);
//! each process listens (`ChangeListener`) and hands what it hears to its
//! verification cache.
//!
//! A listening connection can die without closing (a half-open TCP
//! connection: a lost NAT entry, a crashed middlebox), and then hears
//! nothing while looking healthy. So each process also notifies a channel of
//! its own every second, from another connection, and listens to it: when
//! nothing at all, not even its own heartbeat, arrives for three seconds,
//! the connection is presumed dead and dropped, and the cache is distrusted
//! until listening again. NOTIFY is delivered in commit order, so hearing a
//! heartbeat means every change committed before it was heard too.
//!
//! The listening connection and the heartbeat's each come from a pool of
//! their own: a busy server pool cannot delay a heartbeat into a false
//! alarm, and a dead listening connection (whose closing can hang until
//! TCP gives up) never holds one of the server's connections.

use crate::storage::KeyChange;
use sqlx::{
    postgres::{PgListener, PgPool, PgPoolOptions},
    PgConnection,
};
use std::time::Duration;

const CHANNEL: &str = "keysmith_key_changes";
/// How long to wait before listening again after the connection was lost.
const RETRY: Duration = Duration::from_secs(1);
/// How often a process notifies its own heartbeat channel.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence after which the listening connection is presumed dead (and a
/// new one that does not answer LISTEN in this time is given up).
const SILENCE_LIMIT: Duration = Duration::from_secs(3);

/// Numbers the change and announces the digests a cache must forget; the
/// announcement is delivered when (and if) the transaction commits. The
/// number's row stays locked until then, so numbers follow commits.
pub(in crate::storage) async fn announce_key_change(
    tx: &mut PgConnection,
    digests: &[&str],
) -> Result<(), sqlx::Error> {
    let sequence: i64 =
        sqlx::query_scalar("UPDATE key_change_feed SET sequence = sequence + 1 RETURNING sequence")
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(format!("{sequence}:{}", digests.join(",")))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// One process's ear on the channel.
pub struct ChangeListener {
    pool: PgPool,
    listener: Option<PgListener>,
    /// This process's own heartbeat channel.
    heartbeat: String,
}

impl ChangeListener {
    /// Starts this process's heartbeat too; it stops with the pool.
    pub(super) fn new(pool: PgPool) -> Self {
        let heartbeat = format!("keysmith_heartbeat_{}", hex::encode(random_bytes()));
        tokio::spawn(beat(pool.clone(), one_connection(&pool), heartbeat.clone()));
        ChangeListener {
            pool,
            listener: None,
            heartbeat,
        }
    }

    /// What happened next: listening (again), a change, or the connection
    /// lost (changes made meanwhile are not heard); `None` once the
    /// database is closed, as the process stops.
    pub async fn next(&mut self) -> Option<KeyChange> {
        let change = loop {
            let Some(listener) = self.listener.as_mut() else {
                break self.listen().await;
            };
            // Only a connection given up on is cancelled mid-read, so no
            // notification of a connection still in use can be lost.
            match tokio::time::timeout(SILENCE_LIMIT, listener.try_recv()).await {
                Ok(Ok(Some(heard))) if heard.channel() == self.heartbeat => continue,
                Ok(Ok(Some(notification))) => break parse(notification.payload()),
                Ok(Ok(None)) => break self.lost("the connection closed".into()),
                Ok(Err(error)) => break self.lost(error.to_string()),
                Err(_) => {
                    break self.lost(format!(
                        "nothing heard for {} s, not even this process's heartbeat",
                        SILENCE_LIMIT.as_secs()
                    ))
                }
            }
        };
        (!self.pool.is_closed()).then_some(change)
    }

    async fn listen(&mut self) -> KeyChange {
        let subscribed = tokio::time::timeout(SILENCE_LIMIT, self.subscribe()).await;
        match subscribed {
            Ok(Ok((listener, sequence))) => {
                self.listener = Some(listener);
                KeyChange::Listening { sequence }
            }
            failed => {
                tokio::time::sleep(RETRY).await;
                KeyChange::Lost {
                    reason: match failed {
                        Ok(Err(error)) => error.to_string(),
                        _ => "LISTEN was not answered in time".into(),
                    },
                }
            }
        }
    }

    /// Listens, then reads the number of the last change: everything after
    /// it will be heard.
    async fn subscribe(&self) -> Result<(PgListener, i64), sqlx::Error> {
        let mut listener = PgListener::connect_with(&one_connection(&self.pool)).await?;
        // A lost connection must be noticed, not quietly replaced.
        listener.eager_reconnect(false);
        listener.listen_all([CHANNEL, &self.heartbeat]).await?;
        let sequence = sqlx::query_scalar("SELECT sequence FROM key_change_feed")
            .fetch_one(&self.pool)
            .await?;
        Ok((listener, sequence))
    }

    fn lost(&mut self, reason: String) -> KeyChange {
        self.listener = None;
        KeyChange::Lost { reason }
    }
}

/// A pool of one connection to the server's database, opened when first
/// used.
fn one_connection(server: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(SILENCE_LIMIT)
        .connect_lazy_with((*server.connect_options()).clone())
}

/// Notifies `channel` every [`HEARTBEAT`] from `own`, until the server's
/// pool closes. A failed or slow beat is not reported here: the listener
/// notices the silence.
async fn beat(server: PgPool, own: PgPool, channel: String) {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !server.is_closed() {
        every.tick().await;
        let notify = sqlx::query("SELECT pg_notify($1, '')")
            .bind(&channel)
            .execute(&own);
        let _ = tokio::time::timeout(HEARTBEAT, notify).await;
    }
    own.close().await;
}

fn random_bytes() -> [u8; 8] {
    use rand::{rngs::OsRng, TryRngCore};
    let mut bytes = [0u8; 8];
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}

/// `sequence:digest,digest,…`; anything else (which only another program
/// could send) counts as a change of unknown keys.
fn parse(payload: &str) -> KeyChange {
    let parsed = payload.split_once(':').and_then(|(sequence, digests)| {
        let sequence = sequence.parse().ok()?;
        let digests = digests
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect();
        Some(KeyChange::Changed { sequence, digests })
    });
    parsed.unwrap_or(KeyChange::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_are_read_back() {
        assert_eq!(
            parse("7:aa,bb"),
            KeyChange::Changed {
                sequence: 7,
                digests: vec!["aa".into(), "bb".into()]
            }
        );
        assert_eq!(
            parse("8:"),
            KeyChange::Changed {
                sequence: 8,
                digests: vec![]
            }
        );
        assert_eq!(parse("nonsense"), KeyChange::Unreadable);
    }
}
