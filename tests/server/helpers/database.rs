//! The database under a test server: which one, and statements run on it
//! directly (the same text on both backends).

use std::path::Path;

/// The PostgreSQL server the suite runs on, when `KEYSMITH_TEST_POSTGRES`
/// names one (a superuser URL without a database); else SQLite files.
pub fn postgres_server() -> Option<String> {
    std::env::var("KEYSMITH_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// The database of the test server that keeps its files in `dir`: a file
/// there, or on PostgreSQL a database named after the folder (created on
/// first use, so a restart in the same folder finds its data again).
pub fn database_url(dir: &Path) -> String {
    let Some(server) = postgres_server() else {
        return format!("sqlite://{}/keysmith.db", dir.display());
    };
    let name: String = dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    let name = format!("ks_{name}");
    let created = std::process::Command::new("psql")
        .args([
            &format!("{server}/postgres"),
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs");
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        created.status.success() || stderr.contains("already exists"),
        "{stderr}"
    );
    format!("{server}/{name}")
}

/// Runs one statement, the same on both databases (portable columns).
pub async fn run_sql(url: &str, sql: &str) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// One whole number a query (the same on both backends) answers.
pub async fn query_number(url: &str, query: &str) -> i64 {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}
