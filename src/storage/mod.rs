//! Storage: the one seam between the services and a database. Every SQL
//! statement Keysmith runs lives below this module; the services call
//! [`Db`] and never learn which backend answers. Each operation is written
//! once for both databases, as a plain method of [`Db`] in the file of its
//! area (`users.rs`, `members.rs`, `api_keys.rs`, `audit.rs`,
//! `idempotency.rs`, `throttle.rs`, `limits.rs`, `links.rs`, `outbox.rs`, `two_factor.rs`, `user_sessions.rs`), over portable column types (times in
//! unix milliseconds, digests and addresses as text). `either.rs` compiles
//! each body for both backends and holds what truly differs, one named
//! function per concept (row and advisory locks, the throttle sweep, the
//! key-change announcement). `sqlite/` and `postgres/` keep each backend's
//! pool and PostgreSQL's key-change listener.

mod api_keys;
mod audit;
mod credits;
mod either;
mod expiry_notices;
mod idempotency;
mod limits;
mod links;
mod members;
mod outbox;
mod passkeys;
mod postgres;
mod records;
mod sessions;
mod sqlite;
mod throttle;
mod two_factor;
mod user_sessions;
mod users;

pub use credits::{CreditGrant, CreditPlan, CreditRow, Holding};
pub use expiry_notices::{ExpiringKey, ExpiryWarning};
pub use limits::{LeaseRequest, LimitLease};
pub use links::{LinkPurpose, LiveLink, NewUserLink};
pub use outbox::{ClaimedMail, NewMail};
pub use passkeys::{
    CeremonyCaps, FactorChange, NewCeremony, NewPasskey, PasskeyInsert, PasskeyRow, StoredPasskey,
};
pub use records::*;
pub use sessions::SessionStore;
pub use two_factor::TotpRow;
pub use user_sessions::{NewSignIn, SessionRow, TokenRow};

use postgres::PostgresStore;
use sqlite::SqliteStore;
use std::path::PathBuf;

/// A new membership's generation, drawn at random: a person removed and
/// invited back starts a membership whose generation no credential of the
/// ended one carries (a 2^-62 chance of meeting it), so tokens and sessions
/// from before the removal stay refused for ever. 62 bits leave room for
/// each role change's `+ 1`.
fn fresh_membership_generation() -> i64 {
    use rand::{rngs::OsRng, TryRngCore};
    let mut bytes = [0u8; 8];
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    i64::from_be_bytes(bytes) & (i64::MAX >> 1)
}

/// How many invitations waiting for one email are listed: an address may be
/// invited to many accounts, a page shows the newest.
pub const WAITING_INVITATIONS_SHOWN: i64 = 50;

/// The database the server was configured with (`DATABASE_URL`).
#[derive(Clone)]
pub struct Db(Backend);

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot open the database: {0}")]
    Open(#[from] sqlx::Error),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens the database at `url` (`postgres://…` for PostgreSQL, else
    /// SQLite, created when missing) and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Ok(Db(if is_postgres(url) {
            Backend::Postgres(PostgresStore::connect(url).await?)
        } else {
            Backend::Sqlite(SqliteStore::connect(url).await?)
        }))
    }

    /// The folder holding the database file, where server secrets are kept
    /// beside it; `None` when the database is not a local file.
    pub fn folder_of(url: &str) -> Option<PathBuf> {
        if is_postgres(url) {
            return None;
        }
        SqliteStore::folder_of(url)
    }

    /// The store behind browser sessions, in this database, its table
    /// created.
    pub async fn session_store(&self) -> Result<SessionStore, sqlx::Error> {
        Ok(match &self.0 {
            Backend::Sqlite(store) => SessionStore::Sqlite(store.session_store().await?),
            Backend::Postgres(store) => SessionStore::Postgres(store.session_store().await?),
        })
    }

    /// An ear on the key changes other processes make, on a database several
    /// processes can share; `None` on SQLite, which one process owns.
    pub fn listen_for_key_changes(&self) -> Option<KeyChanges> {
        match &self.0 {
            Backend::Sqlite(_) => None,
            Backend::Postgres(store) => Some(KeyChanges(store.listen_for_key_changes())),
        }
    }

    /// Whether other processes may share this database (PostgreSQL); a
    /// SQLite file has one.
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Backend::Postgres(_))
    }

    /// The number of the last key change any process made (`None` on
    /// SQLite).
    pub async fn last_key_change(&self) -> Result<Option<i64>, sqlx::Error> {
        match &self.0 {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(store) => store.last_key_change().await.map(Some),
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        match &self.0 {
            Backend::Sqlite(store) => store.ping().await,
            Backend::Postgres(store) => store.ping().await,
        }
    }

    pub async fn close(&self) {
        match &self.0 {
            Backend::Sqlite(store) => store.close().await,
            Backend::Postgres(store) => store.close().await,
        }
    }
}

/// Key changes as other processes announce them.
pub struct KeyChanges(postgres::ChangeListener);

impl KeyChanges {
    /// The next change; `None` once the database is closed.
    pub async fn next(&mut self) -> Option<KeyChange> {
        self.0.next().await
    }
}

impl Db {
    /// The pool, for reads and single statements written once.
    fn pool(&self) -> either::Pool<'_> {
        match &self.0 {
            Backend::Sqlite(store) => either::Either::Sqlite(&store.pool),
            Backend::Postgres(store) => either::Either::Postgres(&store.pool),
        }
    }

    /// A write transaction, for changes written once.
    async fn write(&self) -> Result<either::WriteTx, sqlx::Error> {
        Ok(match &self.0 {
            Backend::Sqlite(store) => either::Either::Sqlite(store.write().await?),
            Backend::Postgres(store) => either::Either::Postgres(store.write().await?),
        })
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A `LIKE` pattern matching text that contains `text`: `%`, `_` and the
/// escape character itself match literally (the query says `ESCAPE '\'`).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_a_search_match_literally() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("ci"), "%ci%");
    }

    #[test]
    fn postgres_urls_choose_postgres() {
        assert!(is_postgres("postgres://keysmith@db/keysmith"));
        assert!(is_postgres("postgresql://db/keysmith"));
        assert!(!is_postgres("sqlite://data/keysmith.db"));
        assert_eq!(Db::folder_of("postgres://db/keysmith"), None);
    }
}
