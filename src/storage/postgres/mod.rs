//! The PostgreSQL backend, for several replicas on one database: its pool,
//! the key-change feed, and the operations not yet written once for both
//! databases. Accounts, users, teams and the audit log have SQLite's
//! portable columns (migration 20261202000008); in the tables still here
//! times are `timestamptz` (written with `to_timestamp($n::float8 / 1000)`,
//! read back with `(EXTRACT(EPOCH FROM column) * 1000)::int8`), digests
//! `bytea` and addresses `inet`.

mod feed;

pub(super) use feed::announce_key_change;
pub use feed::ChangeListener;

use super::ConnectError;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;
use tower_sessions_sqlx_store::PostgresStore as PostgresSessions;

#[derive(Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
}

impl PostgresStore {
    /// Connects and brings the schema up to date. sqlx holds an advisory
    /// lock while it migrates, so replicas starting together take turns.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// The store behind browser sessions, with its table created.
    pub async fn session_store(&self) -> Result<PostgresSessions, sqlx::Error> {
        let store = PostgresSessions::new(self.pool.clone());
        store.migrate().await?;
        Ok(store)
    }

    /// An ear on the key changes other processes make.
    pub fn listen_for_key_changes(&self) -> ChangeListener {
        ChangeListener::new(self.pool.clone())
    }

    /// The number of the last key change made by any process.
    pub async fn last_key_change(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT sequence FROM key_change_feed")
            .fetch_one(&self.pool)
            .await
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub(super) async fn write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
