//! Operations written once for both databases. A body is written once and
//! compiled for each backend by [`on_either!`], which hands it that
//! backend's own pool or connection; the SQL is the same text on both, over
//! portable column types (times as unix milliseconds, digests and addresses
//! as text). What truly differs between the two lives here, one named
//! function per concept, a no-op where a backend does not need it.

use crate::shared::{
    clock::UnixMs,
    ids::{AccountId, ActorId, KeyId, UserId},
};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

/// One value of either backend.
pub(super) enum Either<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// A connection of either backend (inside a transaction, usually).
pub(super) type Conn<'c> = Either<&'c mut SqliteConnection, &'c mut PgConnection>;

/// The pool of either backend, for reads and single statements.
pub(super) type Pool<'p> = Either<&'p SqlitePool, &'p PgPool>;

/// A write transaction of either backend: on SQLite it holds the write lock
/// from its first statement (`BEGIN IMMEDIATE`), so writers queue.
pub(super) type WriteTx = Either<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;

/// Runs `$body` on the backend `$either` is of, with `$c` bound to that
/// backend's own value: the body is written once and compiled for each.
macro_rules! on_either {
    ($either:expr, $c:ident => $body:expr) => {
        match $either {
            $crate::storage::either::Either::Sqlite($c) => $body,
            $crate::storage::either::Either::Postgres($c) => $body,
        }
    };
}
pub(super) use on_either;

impl WriteTx {
    /// The transaction's connection, for the statements of a change.
    pub(super) fn conn(&mut self) -> Conn<'_> {
        match self {
            Either::Sqlite(tx) => Either::Sqlite(&mut **tx),
            Either::Postgres(tx) => Either::Postgres(&mut **tx),
        }
    }

    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        on_either!(self, tx => tx.commit().await)
    }
}

impl Conn<'_> {
    /// The same connection, borrowed again for one more statement.
    pub(super) fn again(&mut self) -> Conn<'_> {
        match self {
            Either::Sqlite(c) => Either::Sqlite(&mut **c),
            Either::Postgres(c) => Either::Postgres(&mut **c),
        }
    }
}

/// Queues the account's team changes one behind another on every replica
/// (PostgreSQL: the account's row, `FOR UPDATE`), so each counts owners,
/// members and invitations as the one before left them. SQLite's write
/// transaction already holds the one write lock there is.
pub(super) async fn lock_account_row(
    conn: Conn<'_>,
    account_id: &AccountId,
) -> Result<(), sqlx::Error> {
    match conn {
        Either::Sqlite(_) => Ok(()),
        Either::Postgres(c) => {
            sqlx::query("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
                .bind(account_id)
                .execute(c)
                .await?;
            Ok(())
        }
    }
}

/// Likewise for the accounts one user joins or makes (always taken after
/// the account's lock, so two joins cannot deadlock).
pub(super) async fn lock_user_row(conn: Conn<'_>, user_id: &UserId) -> Result<(), sqlx::Error> {
    match conn {
        Either::Sqlite(_) => Ok(()),
        Either::Postgres(c) => {
            sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .execute(c)
                .await?;
            Ok(())
        }
    }
}

/// Makes one holder's count of live Idempotency-Keys and their claim one
/// step on every replica (PostgreSQL: a transaction-scoped advisory lock on
/// the account and holder). SQLite's write transaction already is one.
pub(super) async fn lock_idempotency_holder(
    conn: Conn<'_>,
    account_id: &AccountId,
    holder: &ActorId,
) -> Result<(), sqlx::Error> {
    match conn {
        Either::Sqlite(_) => Ok(()),
        Either::Postgres(c) => {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 11))")
                .bind(account_id)
                .bind(holder)
                .execute(c)
                .await?;
            Ok(())
        }
    }
}

/// Queues attempts on the same subjects one behind another on every replica
/// (PostgreSQL: each subject's advisory lock, taken in one order so two
/// attempts cannot deadlock). SQLite's write transaction already queues.
pub(super) async fn lock_throttle_subjects(
    conn: Conn<'_>,
    subjects: &[&str],
) -> Result<(), sqlx::Error> {
    let Either::Postgres(c) = conn else {
        return Ok(());
    };
    let mut sorted = subjects.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for subject in sorted {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
            .bind(subject)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// Forgets throttle hits at or before `before` (unix ms). On PostgreSQL,
/// rows another attempt holds are left for a later sweep (waiting for them
/// could deadlock two attempts), a thousand at a time; SQLite's one writer
/// holds none.
pub(super) async fn sweep_throttle_hits(conn: Conn<'_>, before: UnixMs) -> Result<(), sqlx::Error> {
    let sql = match conn {
        Either::Sqlite(_) => "DELETE FROM throttle_hits WHERE hit_at <= $1",
        Either::Postgres(_) => {
            "DELETE FROM throttle_hits WHERE ctid IN (
                SELECT ctid FROM throttle_hits WHERE hit_at <= $1
                LIMIT 1000 FOR UPDATE SKIP LOCKED)"
        }
    };
    on_either!(conn, c => sqlx::query(sql).bind(before).execute(c).await.map(drop))
}

/// Holds the key's row for a change (PostgreSQL: `FOR UPDATE`), so the
/// digests read before it are the ones the change replaces. SQLite's write
/// transaction already holds the one write lock there is.
pub(super) async fn lock_key_row(
    conn: Conn<'_>,
    account_id: &AccountId,
    id: &KeyId,
) -> Result<(), sqlx::Error> {
    let Either::Postgres(c) = conn else {
        return Ok(());
    };
    sqlx::query("SELECT 1 FROM api_keys WHERE account_id = $1 AND id = $2 FOR UPDATE")
        .bind(account_id)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Holds a key's row, by its id alone, for a change to its credits
/// (PostgreSQL: `FOR UPDATE`); SQLite's write transaction already does.
pub(super) async fn lock_key_by_id(conn: Conn<'_>, id: &KeyId) -> Result<(), sqlx::Error> {
    let Either::Postgres(c) = conn else {
        return Ok(());
    };
    sqlx::query("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Tells every other process sharing the database which digests to forget
/// (PostgreSQL: numbered and NOTIFY'd when the transaction commits). A
/// SQLite file has one process: its own cache is told by the service.
pub(super) async fn announce_key_change(
    conn: Conn<'_>,
    digests: &[&str],
) -> Result<(), sqlx::Error> {
    match conn {
        Either::Sqlite(_) => Ok(()),
        Either::Postgres(c) => super::postgres::announce_key_change(c, digests).await,
    }
}

/// What a claim's subquery adds so that replicas claiming at once skip the
/// rows another is taking rather than wait for them (PostgreSQL); SQLite's
/// one writer claims alone.
pub(super) fn skip_locked(conn: Conn<'_>) -> &'static str {
    match conn {
        Either::Sqlite(_) => "",
        Either::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    }
}
