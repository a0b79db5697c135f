//! Upgrades keep data: a database as the migrations before portable columns
//! left it, full of users, memberships, invitations, keys, usage, audit
//! events, sessions and idempotency answers, reads the same through the API
//! after the new migrations ran.

use crate::{helpers::*, teams::*};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{
    migrate::Migrator, postgres::PgConnectOptions, sqlite::SqliteConnectOptions, PgPool, SqlitePool,
};
use std::{borrow::Cow, path::Path, str::FromStr, time::Duration};

/// The first migration of this redesign on each backend: a database made
/// before it is what an upgrade starts from.
const FIRST_NEW_POSTGRES_MIGRATION: i64 = 20261202000007;
const FIRST_NEW_SQLITE_MIGRATION: i64 = 20261202000012;

#[tokio::test]
async fn an_upgrade_keeps_every_row_reading_the_same() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let (_, pending_link) = invite(&app, &team.owner.token, "viewer").await;
    let (revoked_email, _) = invite(&app, &team.owner.token, "developer").await;
    crate::team_changes::revoke_invitation_of(&app, &team.owner.token, &revoked_email).await;
    let body = json!({ "name": "kept", "scopes": ["read"] });
    let first = create_idempotently(&app, &team.developer.token, "upgrade-1", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let made: Value = first.json().await.unwrap();
    let secret = made["data"]["key"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(app.verdict(&secret, None).await, "VALID");
    }
    // Uses are written once a second: the snapshot waits for them.
    let key_id = made["data"]["id"].as_str().unwrap().to_owned();
    let usage = format!("/api-keys/{key_id}/usage?days=7");
    eventually(
        Duration::from_secs(10),
        "the key's uses are written",
        || async {
            let used = read(&app, &usage, &team.owner.token).await;
            used.body.to_string().contains("\"valid\":3")
        },
    )
    .await;
    let before = snapshot(&app, &team, &pending_link).await;
    let dir = app.stop().await;

    if postgres_server().is_some() {
        as_before_portable_columns(&database_url(dir.path())).await;
    } else {
        as_before_the_new_migrations(dir.path()).await;
    }
    let upgraded = TestApp::spawn_in(dir, &[("KEYSMITH_SIGNUP_MAX_PER_HOUR", "10000")]).await;

    assert_eq!(snapshot(&upgraded, &team, &pending_link).await, before);
    assert_eq!(upgraded.verdict(&secret, None).await, "VALID");
    let replayed = create_idempotently(&upgraded, &team.developer.token, "upgrade-1", &body).await;
    assert_eq!(replayed.status(), StatusCode::CREATED);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed["data"]["key"], secret.as_str());
}

/// What the API shows of everything: each member's view of who they are,
/// the team, the invitations, the keys and their use, the audit log, a
/// pending invitation's page and the owner's browser session. Bearer tokens
/// and sessions from before are the ones asking.
async fn snapshot(app: &TestApp, team: &Team, pending_link: &str) -> Value {
    let owner = &team.owner.token;
    let keys = read(app, "/api-keys", owner).await.body;
    let key_id = keys["data"][0]["id"].as_str().unwrap();
    let mut views = json!({
        "members": read(app, "/members", owner).await.body,
        "invitations": read(app, "/invitations", owner).await.body,
        "keys": keys,
        "usage": read(app, &format!("/api-keys/{key_id}/usage?days=7"), owner).await.body,
        "audit": read(app, "/audit-events?limit=100", owner).await.body,
    });
    for (role, person) in [
        ("owner", &team.owner),
        ("admin", &team.admin),
        ("developer", &team.developer),
        ("viewer", &team.viewer),
    ] {
        views[role] = me(app, &person.token).await;
    }
    // The owner's browser, its session from before; the server is on a new
    // port, so the browser names this origin.
    let browser = |name: &str| {
        team.owner
            .browser
            .post(app.url(&format!("/rpc/{name}")))
            .header(reqwest::header::ORIGIN, app.url(""))
    };
    let preview = browser("open_invitation")
        .json(&json!({ "token": pending_link }))
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), StatusCode::OK);
    views["pending_invitation_page"] = preview.json().await.unwrap();
    let session = browser("current_user").send().await.unwrap();
    assert_eq!(
        session.status(),
        StatusCode::OK,
        "the session still signed in"
    );
    views["session"] = session.json().await.unwrap();
    let answer = app.api(Method::GET, "/me", Auth::Bearer(owner), None).await;
    assert_eq!(answer.status, StatusCode::OK);
    views
}

/// Rebuilds the PostgreSQL database as the migrations before
/// [`FIRST_NEW_POSTGRES_MIGRATION`] made it, holding the same rows in the types of then (times `timestamptz`,
/// the invitation digest `bytea`, addresses `inet`), so that the next start
/// upgrades it. The old schema is built beside the current one, filled from
/// it, and takes its place; the session store's schema is left as it is.
async fn as_before_portable_columns(url: &str) {
    let options = PgConnectOptions::from_str(url).unwrap();
    let pool = PgPool::connect_with(options.clone()).await.unwrap();
    sqlx::raw_sql("CREATE SCHEMA before")
        .execute(&pool)
        .await
        .unwrap();
    let in_before = PgPool::connect_with(options.options([("search_path", "before")]))
        .await
        .unwrap();
    old_migrations("postgres", FIRST_NEW_POSTGRES_MIGRATION)
        .await
        .run(&in_before)
        .await
        .unwrap();
    in_before.close().await;
    sqlx::raw_sql(COPY_INTO_THE_OLD_TYPES)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// Rebuilds the SQLite file as the migrations before
/// [`FIRST_NEW_SQLITE_MIGRATION`] made it (its types are the portable ones
/// already), with every row of every table, sessions included.
async fn as_before_the_new_migrations(dir: &Path) {
    let (current, before) = (dir.join("keysmith.db"), dir.join("before.db"));
    let options = SqliteConnectOptions::new()
        .filename(&before)
        .create_if_missing(true)
        .foreign_keys(false);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    old_migrations("sqlite", FIRST_NEW_SQLITE_MIGRATION)
        .await
        .run(&pool)
        .await
        .unwrap();
    let new_migrations: String =
        Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"))
            .await
            .unwrap()
            .migrations
            .iter()
            .filter(|m| m.version >= FIRST_NEW_SQLITE_MIGRATION)
            .map(|m| m.sql.to_string())
            .collect();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("ATTACH DATABASE ? AS current")
        .bind(current.display().to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    let tables: Vec<(String, bool)> = sqlx::query_as(
        "SELECT name, name IN (SELECT name FROM main.sqlite_master WHERE type = 'table')
         FROM current.sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for (table, in_schema) in tables {
        // A table a new migration makes is made again by the upgrade.
        if !in_schema && new_migrations.contains(&format!("CREATE TABLE {table} (")) {
            continue;
        }
        // The session store makes its own table when the server starts.
        // Columns later migrations added are left behind: the upgrade adds
        // them again.
        let copy = if in_schema {
            let columns: Vec<(String,)> = sqlx::query_as(&format!(
                "SELECT name FROM pragma_table_info('{table}', 'main')"
            ))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            let columns: Vec<String> = columns.into_iter().map(|(name,)| name).collect();
            let columns = columns.join(", ");
            format!("INSERT INTO main.{table} ({columns}) SELECT {columns} FROM current.{table}")
        } else {
            format!("CREATE TABLE main.{table} AS SELECT * FROM current.{table}")
        };
        sqlx::query(&copy).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    pool.close().await;
    for leftover in ["keysmith.db-wal", "keysmith.db-shm"] {
        let _ = std::fs::remove_file(dir.join(leftover));
    }
    std::fs::rename(&before, &current).unwrap();
}

async fn old_migrations(backend: &str, first_new: i64) -> Migrator {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut migrator = Migrator::new(folder).await.unwrap();
    let old: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < first_new)
        .cloned()
        .collect();
    assert!(
        old.len() < migrator.migrations.len(),
        "the new migrations are there"
    );
    migrator.migrations = Cow::Owned(old);
    migrator
}

const COPY_INTO_THE_OLD_TYPES: &str = "
INSERT INTO before.accounts (id, name, created_at)
    SELECT id, name, to_timestamp(created_at / 1000.0) FROM public.accounts;
INSERT INTO before.users (id, email, password_hash, created_at, token_generation, last_signed_in_at)
    SELECT id, email, password_hash, to_timestamp(created_at / 1000.0), token_generation,
           to_timestamp(last_signed_in_at / 1000.0)
    FROM public.users;
INSERT INTO before.memberships (account_id, user_id, role, joined_at, generation)
    SELECT account_id, user_id, role, to_timestamp(joined_at / 1000.0), generation
    FROM public.memberships;
INSERT INTO before.invitations (id, account_id, email, role, token_digest, invited_by, created_at,
        expires_at, accepted_at, accepted_by, revoked_at, revoked_by)
    SELECT id, account_id, email, role, decode(token_digest, 'hex'), invited_by,
           to_timestamp(created_at / 1000.0), to_timestamp(expires_at / 1000.0),
           to_timestamp(accepted_at / 1000.0), accepted_by, to_timestamp(revoked_at / 1000.0),
           revoked_by
    FROM public.invitations;
INSERT INTO before.api_keys (id, account_id, name, secret_digest, key_prefix, last_four,
        previous_digest, previous_expires_at, scopes, ip_allowlist, created_at, created_by,
        updated_at, updated_by, expires_at, revoked_at, revoked_by, last_used_at, last_used_ip)
    SELECT id, account_id, name, decode(secret_digest, 'hex'), key_prefix, last_four,
           decode(previous_digest, 'hex'), to_timestamp(previous_expires_at / 1000.0), scopes,
           ip_allowlist, to_timestamp(created_at / 1000.0), created_by,
           to_timestamp(updated_at / 1000.0), updated_by, to_timestamp(expires_at / 1000.0),
           to_timestamp(revoked_at / 1000.0), revoked_by, to_timestamp(last_used_at / 1000.0),
           last_used_ip::inet
    FROM public.api_keys;
INSERT INTO before.audit_events (id, account_id, actor_id, action, key_id, key_name, occurred_at,
        client_ip, user_agent, member_email, detail)
    SELECT id, account_id, actor_id, action, key_id, key_name, to_timestamp(occurred_at / 1000.0),
           client_ip::inet, user_agent, member_email, detail
    FROM public.audit_events;
INSERT INTO before.idempotency_records (account_id, key_digest, request_hash, created_at, status,
        sealed_body, holder)
    SELECT account_id, key_digest, request_hash, to_timestamp(created_at / 1000.0), status,
           sealed_body, holder
    FROM public.idempotency_records;
INSERT INTO before.key_usage_daily (key_id, account_id, day, requests, revoked, expired,
        insufficient_scope, ip_not_allowed)
    SELECT key_id, account_id, DATE '1970-01-01' + day::int4, requests, revoked, expired,
           insufficient_scope, ip_not_allowed
    FROM public.key_usage_daily;
INSERT INTO before.throttle_hits (subject, hit_at, attempt_id)
    SELECT subject, to_timestamp(hit_at / 1000.0), attempt_id FROM public.throttle_hits;
UPDATE before.key_change_feed SET sequence = (SELECT sequence FROM public.key_change_feed);
DROP SCHEMA public CASCADE;
ALTER SCHEMA before RENAME TO public;
";
