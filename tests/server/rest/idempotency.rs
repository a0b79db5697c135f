//! `Idempotency-Key` on the POSTs that create, rotate and revoke.

use crate::{
    helpers::*,
    teams::{join, roomy_app, token_for, Team},
};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

async fn key_count(app: &TestApp, token: &str) -> usize {
    let list = app
        .api(
            Method::GET,
            "/api-keys?limit=100",
            Auth::Bearer(token),
            None,
        )
        .await;
    list.body["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_replayed_create_returns_the_same_answer_and_creates_nothing_more() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let body = json!({ "name": "once", "scopes": ["read"] });
    let first = create_idempotently(&app, &token, "create-once-1", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let first_body = first.text().await.unwrap();
    let again = create_idempotently(&app, &token, "create-once-1", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()["cache-control"],
        "no-store",
        "a replay holds the secret too"
    );
    assert_eq!(
        again.text().await.unwrap(),
        first_body,
        "identical body, secret included"
    );
    assert_eq!(key_count(&app, &token).await, 1);

    let other_body = json!({ "name": "twice", "scopes": ["read"] });
    let conflicting = create_idempotently(&app, &token, "create-once-1", &other_body).await;
    assert_eq!(conflicting.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        conflicting.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );

    // The stored answer holds the secret only encrypted.
    let secret: Value = serde_json::from_str(&first_body).unwrap();
    let secret = secret["data"]["key"].as_str().unwrap().to_owned();
    let bytes = app.database_bytes();
    assert!(!contains(&bytes, &secret.as_bytes()[14..]));
    assert!(
        !contains(&bytes, b"create-once-1"),
        "only a digest of the Idempotency-Key is kept"
    );
}

#[tokio::test]
async fn concurrent_identical_creates_make_one_key() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let body = json!({ "name": "raced", "scopes": ["read"] });
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let request = reqwest::Client::new()
                .post(app.url("/api/v2/api-keys"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "race-1")
                .json(&body);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::CREATED));
    assert_eq!(key_count(&app, &token).await, 1);
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_account_and_cover_rotate_and_revoke() {
    let app = TestApp::spawn().await;
    let mine = user_token(&app).await;
    let theirs = user_token(&app).await;
    let body = json!({ "name": "shared key name", "scopes": ["read"] });
    let a = create_idempotently(&app, &mine, "same-key", &body)
        .await
        .text()
        .await
        .unwrap();
    let b = create_idempotently(&app, &theirs, "same-key", &body)
        .await
        .text()
        .await
        .unwrap();
    assert_ne!(a, b, "another account's answer is never replayed");
    assert_eq!(key_count(&app, &theirs).await, 1);

    let id = serde_json::from_str::<Value>(&a).unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotate = || {
        reqwest::Client::new()
            .post(app.url(&format!("/api/v2/api-keys/{id}/rotate")))
            .bearer_auth(&mine)
            .header("Idempotency-Key", "rotate-1")
            .json(&json!({ "grace_period_minutes": 0 }))
            .send()
    };
    let first = rotate().await.unwrap().text().await.unwrap();
    let second = rotate().await.unwrap().text().await.unwrap();
    assert_eq!(first, second, "one rotation, the same new secret");
    let bad = reqwest::Client::new()
        .post(app.url("/api/v2/api-keys"))
        .bearer_auth(&mine)
        .header("Idempotency-Key", "x".repeat(300))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_abandoned_claim_is_taken_over_by_one_retry_only() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let body = json!({ "name": "after a crash", "scopes": ["read"] });
    let first = create_idempotently(&app, &token, "crashed-once", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    // As a process that died mid-request leaves it: claimed, unanswered, old.
    let stale_ms = (now_s() - 120) * 1000;
    let stale = "UPDATE idempotency_records SET status = NULL, sealed_body = NULL, created_at =";
    run_sql(&app.database_url(), &format!("{stale} {stale_ms}")).await;
    for _ in 0..3 {
        let retries = (0..2).map(|_| create_idempotently(&app, &token, "crashed-once", &body));
        let answers = futures::future::join_all(retries).await;
        let created = answers
            .iter()
            .filter(|a| a.status() == StatusCode::CREATED)
            .count();
        assert!(created >= 1, "{answers:?}");
        if key_count(&app, &token).await == 2 {
            break;
        }
    }
    assert_eq!(
        key_count(&app, &token).await,
        2,
        "the first request's key and exactly one re-run"
    );
}

#[tokio::test]
async fn idempotency_keys_are_stored_as_a_server_keyed_hmac() {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let guessable = "order-1";
    let body = json!({ "name": "hmac", "scopes": ["read"] });
    let first = create_idempotently(&app, &token, guessable, &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let plain_digest = hex::encode(Sha256::digest(guessable.as_bytes()));
    let bytes = app.database_bytes();
    assert!(!contains(&bytes, plain_digest.as_bytes()));
    assert!(!contains(&bytes, guessable.as_bytes()));
    let again = create_idempotently(&app, &token, guessable, &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn an_account_keeps_a_bounded_number_of_idempotency_keys() {
    let app = TestApp::spawn_with(&[("KEYSMITH_IDEMPOTENCY_MAX_KEYS", "3")]).await;
    let token = user_token(&app).await;
    let body = json!({ "name": "capped", "scopes": ["read"] });
    for i in 0..3 {
        let created = create_idempotently(&app, &token, &format!("cap-{i}"), &body).await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let over = create_idempotently(&app, &token, "cap-3", &body).await;
    assert_eq!(over.status(), StatusCode::CONFLICT);
    let problem: Value = over.json().await.unwrap();
    assert_eq!(problem["code"], "too_many_idempotency_keys");
    assert!(
        problem["detail"].as_str().unwrap().contains('3'),
        "{problem}"
    );
    let replay = create_idempotently(&app, &token, "cap-0", &body).await;
    assert_eq!(
        replay.headers()["idempotent-replayed"],
        "true",
        "retries still replay"
    );
    let plain = app
        .api(Method::POST, "/api-keys", Auth::Bearer(&token), Some(body))
        .await;
    assert_eq!(
        plain.status,
        StatusCode::CREATED,
        "and requests without a key still run"
    );
}

#[tokio::test]
async fn expired_idempotent_answers_are_swept() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let body = json!({ "name": "swept", "scopes": ["read"] });
    let first = create_idempotently(&app, &token, "sweep-me", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let dir = app.stop().await;
    let yesterday_ms = (now_s() - 25 * 3600) * 1000;
    run_sql(
        &database_url(dir.path()),
        &format!("UPDATE idempotency_records SET created_at = {yesterday_ms}"),
    )
    .await;
    let swept = TestApp::spawn_in(dir, &[]).await;
    let url = swept.database_url();
    eventually(Duration::from_secs(5), "swept at start-up", || async {
        query_number(&url, "SELECT COUNT(*) FROM idempotency_records").await == 0
    })
    .await;
}

#[tokio::test]
async fn a_replay_passes_the_role_check_and_belongs_to_the_member_who_made_it() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let second_developer = join(&app, &team.owner.token, "developer").await;
    let body = json!({ "name": "deploy", "scopes": ["read"] });
    let made = post_idempotently(&app, &team.developer.token, "/api-keys", "deploy-1", &body).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let secret = made["data"]["key"].as_str().unwrap().to_owned();
    let id = made["data"]["id"].as_str().unwrap().to_owned();

    let viewer = post_idempotently(&app, &team.viewer.token, "/api-keys", "deploy-1", &body).await;
    assert_eq!(viewer.status(), StatusCode::FORBIDDEN);
    assert!(viewer.headers().get("idempotent-replayed").is_none());
    let viewer: Value = viewer.json().await.unwrap();
    assert_eq!(viewer["code"], "insufficient_role", "{viewer}");
    assert!(!viewer.to_string().contains(&secret[14..]));

    let other = post_idempotently(
        &app,
        &second_developer.token,
        "/api-keys",
        "deploy-1",
        &body,
    )
    .await;
    assert_eq!(
        other.status(),
        StatusCode::CREATED,
        "an answer of their own"
    );
    assert!(other.headers().get("idempotent-replayed").is_none());
    let other: Value = other.json().await.unwrap();
    assert_ne!(other["data"]["key"], made["data"]["key"]);

    let rotate_path = format!("/api-keys/{id}/rotate");
    let rotate_body = json!({ "grace_period_minutes": 0 });
    let rotated = post_idempotently(
        &app,
        &team.developer.token,
        &rotate_path,
        "rotate-1",
        &rotate_body,
    )
    .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    let new_secret = rotated["data"]["key"].as_str().unwrap().to_owned();
    let viewer = post_idempotently(
        &app,
        &team.viewer.token,
        &rotate_path,
        "rotate-1",
        &rotate_body,
    )
    .await;
    assert_eq!(viewer.status(), StatusCode::FORBIDDEN);
    assert!(!viewer.text().await.unwrap().contains(&new_secret[14..]));
    let other = post_idempotently(
        &app,
        &second_developer.token,
        &rotate_path,
        "rotate-1",
        &rotate_body,
    )
    .await;
    assert!(other.headers().get("idempotent-replayed").is_none());
    assert!(!other.text().await.unwrap().contains(&new_secret[14..]));

    // Demoted, the maker of a stored answer is refused its replay too.
    let demoted = app
        .api(
            Method::PATCH,
            &format!("/members/{}", team.developer.user_id),
            Auth::Bearer(&team.owner.token),
            Some(json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    let viewer_token = token_for(&app, &team.developer.email, None).await;
    let replay = post_idempotently(&app, &viewer_token, "/api-keys", "deploy-1", &body).await;
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    assert!(!replay.text().await.unwrap().contains(&secret[14..]));
}

#[tokio::test]
async fn refused_requests_use_up_no_idempotency_keys_and_the_cap_is_per_member() {
    let app = TestApp::spawn_with(&[
        ("KEYSMITH_IDEMPOTENCY_MAX_KEYS", "3"),
        ("KEYSMITH_SIGNUP_MAX_PER_HOUR", "10000"),
    ])
    .await;
    let team = Team::new(&app).await;
    let body = json!({ "name": "capped", "scopes": ["read"] });
    for i in 0..20 {
        let refused = post_idempotently(
            &app,
            &team.viewer.token,
            "/api-keys",
            &format!("viewer-{i}"),
            &body,
        )
        .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    let unauthenticated =
        post_idempotently(&app, "not-a-token", "/api-keys", "stranger", &body).await;
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        query_number(
            &app.database_url(),
            "SELECT COUNT(*) FROM idempotency_records"
        )
        .await,
        0,
        "refusals are not stored"
    );
    for i in 0..3 {
        let created = post_idempotently(
            &app,
            &team.developer.token,
            "/api-keys",
            &format!("dev-{i}"),
            &body,
        )
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let over = post_idempotently(&app, &team.developer.token, "/api-keys", "dev-3", &body).await;
    assert_eq!(over.status(), StatusCode::CONFLICT);
    let problem: Value = over.json().await.unwrap();
    assert_eq!(problem["code"], "too_many_idempotency_keys");
    let admin = post_idempotently(&app, &team.admin.token, "/api-keys", "admin-0", &body).await;
    assert_eq!(
        admin.status(),
        StatusCode::CREATED,
        "another member's cap is their own"
    );
}

/// The operation's own check (only owners and admins manage management
/// keys) does not run on a replay: the replay checks it itself.
#[tokio::test]
async fn a_demoted_admin_is_refused_the_replay_of_a_management_key() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let body = json!({ "name": "CI", "type": "management", "scopes": ["keys:read"] });
    let made = post_idempotently(&app, &team.admin.token, "/api-keys", "ci-1", &body).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let secret = made["data"]["key"].as_str().unwrap().to_owned();

    let demoted = app
        .api(
            Method::PATCH,
            &format!("/members/{}", team.admin.user_id),
            Auth::Bearer(&team.owner.token),
            Some(json!({ "role": "developer" })),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    let developer_token = token_for(&app, &team.admin.email, None).await;
    let replay = post_idempotently(&app, &developer_token, "/api-keys", "ci-1", &body).await;
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    assert!(replay.headers().get("idempotent-replayed").is_none());
    assert!(!replay.text().await.unwrap().contains(&secret[14..]));

    // An API key's stored answer still replays for the developer.
    let api_key = json!({ "name": "deploy", "scopes": ["read"] });
    let made = post_idempotently(&app, &developer_token, "/api-keys", "deploy-1", &api_key).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let again = post_idempotently(&app, &developer_token, "/api-keys", "deploy-1", &api_key).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert!(again.headers().get("idempotent-replayed").is_some());
}
