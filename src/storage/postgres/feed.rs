//! Key changes told to every process: each change is numbered and
//! announced with NOTIFY in its own transaction (`announce_key_change`);
//! each process listens (`ChangeListener`) and hands what it hears to its
//! verification cache.

use crate::storage::KeyChange;
use sqlx::{
    postgres::{PgListener, PgPool},
    PgConnection,
};
use std::time::Duration;

const CHANNEL: &str = "keysmith_key_changes";
/// How long to wait before listening again after the connection was lost.
const RETRY: Duration = Duration::from_secs(1);

/// Numbers the change and announces the digests a cache must forget; the
/// announcement is delivered when (and if) the transaction commits. The
/// number's row stays locked until then, so numbers follow commits.
pub(super) async fn announce_key_change(
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
}

impl ChangeListener {
    pub(super) fn new(pool: PgPool) -> Self {
        ChangeListener {
            pool,
            listener: None,
        }
    }

    /// What happened next: listening (again), a change, or the connection
    /// lost (changes made meanwhile are not heard); `None` once the
    /// database is closed, as the process stops.
    pub async fn next(&mut self) -> Option<KeyChange> {
        let change = match self.listener.as_mut() {
            None => self.listen().await,
            Some(listener) => match listener.try_recv().await {
                Ok(Some(notification)) => parse(notification.payload()),
                Ok(None) => self.lost("the connection closed".into()),
                Err(error) => self.lost(error.to_string()),
            },
        };
        (!self.pool.is_closed()).then_some(change)
    }

    async fn listen(&mut self) -> KeyChange {
        match self.subscribe().await {
            Ok((listener, sequence)) => {
                self.listener = Some(listener);
                KeyChange::Listening { sequence }
            }
            Err(error) => {
                tokio::time::sleep(RETRY).await;
                KeyChange::Lost {
                    reason: error.to_string(),
                }
            }
        }
    }

    /// Listens, then reads the number of the last change: everything after
    /// it will be heard.
    async fn subscribe(&self) -> Result<(PgListener, i64), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        // A lost connection must be noticed, not quietly replaced.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
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
