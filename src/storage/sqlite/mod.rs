//! The SQLite backend: one file in WAL mode, FULL synchronous writes, and a
//! pool whose connections never carry a transaction back into it.

use super::ConnectError;
use sqlx::{
    sqlite::{
        SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
        SqliteSynchronous,
    },
    Connection, Sqlite, TransactionManager,
};
use std::{path::PathBuf, str::FromStr, time::Duration};
use tower_sessions_sqlx_store::SqliteStore as SqliteSessions;

#[derive(Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` and brings its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a write acknowledged to a client survives a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(folder) = database_folder(&options) {
            std::fs::create_dir_all(&folder).map_err(|source| ConnectError::Folder {
                path: folder.clone(),
                source,
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_release(|conn, _| Box::pin(async move { Ok(left_no_transaction(conn).await) }))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// The folder holding the database file, where server secrets are kept
    /// beside it; `None` for an in-memory database.
    pub fn folder_of(url: &str) -> Option<PathBuf> {
        SqliteConnectOptions::from_str(url)
            .ok()
            .as_ref()
            .and_then(database_folder)
    }

    /// The store behind browser sessions, with its table created.
    pub async fn session_store(&self) -> Result<SqliteSessions, sqlx::Error> {
        let store = SqliteSessions::new(self.pool.clone());
        store.migrate().await?;
        Ok(store)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// A transaction that holds SQLite's write lock from its first
    /// statement (`BEGIN IMMEDIATE`). A deferred transaction that reads and
    /// then writes fails with SQLITE_BUSY at once when another connection
    /// wrote in between; this one waits its turn (up to the busy timeout).
    pub(super) async fn write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether a connection given back to the pool is outside any transaction.
/// A request dropped at the wrong moment (its client gone) can leave one
/// inside: sqlx acknowledges a `BEGIN` into a channel the dropped caller
/// never reads, so no `Transaction` exists to roll it back, and the
/// connection would keep SQLite's write lock, failing every later write.
/// Such a connection is closed instead of reused.
async fn left_no_transaction(conn: &mut SqliteConnection) -> bool {
    // Lets a rollback queued by a dropped `Transaction` run first.
    if conn.ping().await.is_err() {
        return false;
    }
    <Sqlite as sqlx::Database>::TransactionManager::get_transaction_depth(conn) == 0
}

fn database_folder(options: &SqliteConnectOptions) -> Option<PathBuf> {
    let file = options.get_filename();
    let name = file.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return None;
    }
    let parent = file.parent()?;
    Some(if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent.to_path_buf()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_of_a_file_database_is_its_parent() {
        assert_eq!(
            SqliteStore::folder_of("sqlite://data/keysmith.db"),
            Some(PathBuf::from("data"))
        );
        assert_eq!(
            SqliteStore::folder_of("sqlite:keysmith.db"),
            Some(PathBuf::from("."))
        );
        assert_eq!(SqliteStore::folder_of("sqlite::memory:"), None);
    }

    #[tokio::test]
    async fn connecting_creates_the_folder_and_file_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/k.db", dir.path().display());
        let db = SqliteStore::connect(&url).await.unwrap();
        assert!(dir.path().join("nested/k.db").exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
    }
}
