use crate::helpers::*;
use keysmith::auth::{identity::AuthenticatedUser, token::TokenSigner};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Key(&'a str),
}

struct Answer {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Value,
}

async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, app.url(&format!("/api/v2{path}")));
    request = match auth {
        Auth::None => request,
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Key(key) => request.header("X-API-Key", key),
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

fn assert_problem(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE].to_str().unwrap(),
        "application/problem+json"
    );
    assert_eq!(answer.body["code"], code, "{}", answer.body);
    assert_eq!(answer.body["status"], status.as_u16());
    for field in ["type", "title", "detail"] {
        assert!(answer.body[field].is_string(), "{field} in {}", answer.body);
    }
}

/// Signs up over the API and returns a bearer token.
async fn user_token(app: &TestApp) -> String {
    let email = unique_email();
    let created = api(
        app,
        Method::POST,
        "/auth/signup",
        Auth::None,
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = api(
        app,
        Method::POST,
        "/auth/token",
        Auth::None,
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    assert_eq!(token.body["token_type"], "Bearer");
    assert_eq!(token.body["expires_in"], 900);
    token.body["access_token"].as_str().unwrap().to_owned()
}

async fn create_key(app: &TestApp, token: &str, body: Value) -> (String, String) {
    let created = api(
        app,
        Method::POST,
        "/api-keys",
        Auth::Bearer(token),
        Some(body),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    (
        data["id"].as_str().unwrap().to_owned(),
        data["key"].as_str().unwrap().to_owned(),
    )
}

async fn key_with(app: &TestApp, token: &str, scopes: &[&str]) -> (String, String) {
    create_key(
        app,
        token,
        json!({ "name": format!("{scopes:?}"), "scopes": scopes }),
    )
    .await
}

#[tokio::test]
async fn keys_are_managed_end_to_end_with_a_bearer_token() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = create_key(
        &app,
        &token,
        json!({ "name": "SDK", "scopes": ["read"], "expires_in_days": 30, "ips": [] }),
    )
    .await;
    assert!(key.starts_with("ks_live_"));

    let list = api(
        &app,
        Method::GET,
        "/api-keys?limit=10",
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["data"][0]["id"], id.as_str());
    assert_eq!(list.body["next_cursor"], Value::Null);
    assert!(!list.body.to_string().contains(&key[14..]), "listed masked");

    let one = api(
        &app,
        Method::GET,
        &format!("/api-keys/{id}"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(one.body["data"]["name"], "SDK");
    assert!(one.body["data"].get("key").is_none());

    let patched = api(
        &app,
        Method::PATCH,
        &format!("/api-keys/{id}"),
        Auth::Bearer(&token),
        Some(json!({ "name": "SDK v2", "scopes": ["write"] })),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["data"]["scopes"], json!(["write"]));

    let rotated = api(
        &app,
        Method::POST,
        &format!("/api-keys/{id}/rotate"),
        Auth::Bearer(&token),
        Some(json!({ "grace_period_minutes": 5 })),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_key = rotated.body["data"]["key"].as_str().unwrap().to_owned();
    let both = [&key, &new_key];
    for k in both {
        assert_eq!(
            api(&app, Method::GET, "/me", Auth::Key(k), None)
                .await
                .status,
            StatusCode::OK,
            "grace period"
        );
    }
    let bare = api(
        &app,
        Method::POST,
        &format!("/api-keys/{id}/rotate"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(
        bare.status,
        StatusCode::OK,
        "a rotate without a body has no grace period"
    );

    let revoked = api(
        &app,
        Method::POST,
        &format!("/api-keys/{id}/revoke"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(revoked.body["data"]["status"], "revoked");
    let deleted = api(
        &app,
        Method::DELETE,
        &format!("/api-keys/{id}"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = api(
        &app,
        Method::GET,
        &format!("/api-keys/{id}"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn an_api_key_can_never_manage_keys() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, admin) = key_with(&app, &token, &["admin"]).await;
    for (method, path) in [
        (Method::POST, "/api-keys".to_owned()),
        (Method::GET, "/api-keys".to_owned()),
        (Method::GET, format!("/api-keys/{id}")),
        (Method::PATCH, format!("/api-keys/{id}")),
        (Method::POST, format!("/api-keys/{id}/rotate")),
        (Method::POST, format!("/api-keys/{id}/revoke")),
        (Method::DELETE, format!("/api-keys/{id}")),
    ] {
        let answer = api(
            &app,
            method.clone(),
            &path,
            Auth::Key(&admin),
            Some(json!({ "name": "x", "scopes": ["read"] })),
        )
        .await;
        assert_problem(&answer, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("bearer token"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn bad_credentials_get_401_with_www_authenticate() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, key) = key_with(&app, &token, &["read"]).await;
    let expired = TokenSigner::new(&[1u8; 32], Duration::from_secs(60));
    let user = AuthenticatedUser {
        user_id: "usr_x".into(),
        account_id: "acc_x".into(),
    };
    let foreign = expired.issue(&user, 0, now_s()).unwrap().token;
    let payload = token.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let mut typo = key.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for auth in [
        Auth::None,
        Auth::Bearer("not-a-token"),
        Auth::Bearer(&foreign),
        Auth::Bearer(&unsigned),
        Auth::Key(&typo),
        Auth::Key("ks_live_short"),
    ] {
        let answer = api(&app, Method::GET, "/me", auth, None).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    let wrong = api(
        &app,
        Method::POST,
        "/auth/token",
        Auth::None,
        Some(json!({ "email": "nobody@example.com", "password": "whatever it is" })),
    )
    .await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn an_expired_bearer_token_is_refused() {
    let app = TestApp::spawn_with(&[(
        "KEYSMITH_SECRET",
        "a-master-secret-of-at-least-32-characters",
    )])
    .await;
    let token = user_token(&app).await;
    let me = api(&app, Method::GET, "/me", Auth::Bearer(&token), None).await;
    let user = AuthenticatedUser {
        user_id: me.body["data"]["user"]["id"].as_str().unwrap().into(),
        account_id: me.body["data"]["account_id"].as_str().unwrap().into(),
    };
    // The same secret as the server derives, so only the expiry is wrong.
    let signer = TokenSigner::new(
        &keysmith::server::secrets::ServerKeys::from_master(
            b"a-master-secret-of-at-least-32-characters",
        )
        .jwt,
        Duration::from_secs(60),
    );
    let fresh = signer.issue(&user, 0, now_s()).unwrap().token;
    assert_eq!(
        api(&app, Method::GET, "/me", Auth::Bearer(&fresh), None)
            .await
            .status,
        StatusCode::OK
    );
    let stale = signer.issue(&user, 0, now_s() - 120).unwrap().token;
    let answer = api(&app, Method::GET, "/me", Auth::Bearer(&stale), None).await;
    assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_token_from_another_account_sees_nothing_of_this_one() {
    let app = TestApp::spawn().await;
    let mine = user_token(&app).await;
    let theirs = user_token(&app).await;
    let (id, _) = key_with(&app, &mine, &["read"]).await;
    let list = api(&app, Method::GET, "/api-keys", Auth::Bearer(&theirs), None).await;
    assert_eq!(list.body["data"], json!([]));
    for (method, path) in [
        (Method::GET, format!("/api-keys/{id}")),
        (Method::PATCH, format!("/api-keys/{id}")),
        (Method::POST, format!("/api-keys/{id}/rotate")),
        (Method::POST, format!("/api-keys/{id}/revoke")),
        (Method::DELETE, format!("/api-keys/{id}")),
    ] {
        let answer = api(
            &app,
            method,
            &path,
            Auth::Bearer(&theirs),
            Some(json!({ "name": "mine now" })),
        )
        .await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let events = api(
        &app,
        Method::GET,
        "/audit-events",
        Auth::Bearer(&theirs),
        None,
    )
    .await;
    assert!(!events.body.to_string().contains(&id));
}

#[tokio::test]
async fn keys_call_other_endpoints_within_their_scope_and_addresses() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (search_id, search) = key_with(&app, &token, &["search"]).await;
    let (_, read) = key_with(&app, &token, &["read"]).await;
    let (_, write) = key_with(&app, &token, &["write"]).await;
    let (_, elsewhere) = create_key(
        &app,
        &token,
        json!({ "name": "fenced", "scopes": ["admin"], "ips": ["203.0.113.0/24"] }),
    )
    .await;

    let me = api(&app, Method::GET, "/me", Auth::Key(&search), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["data"]["key"]["id"], search_id.as_str());
    assert_eq!(me.body["data"]["key"]["scopes"], json!(["search"]));
    let as_bearer = api(&app, Method::GET, "/me", Auth::Bearer(&search), None).await;
    assert_eq!(
        as_bearer.status,
        StatusCode::OK,
        "a key is accepted as a bearer credential too"
    );

    // The audit log holds people's emails, addresses and browsers: only an
    // admin key (or a user's token) reads it.
    for key in [&search, &read, &write] {
        let denied = api(&app, Method::GET, "/audit-events", Auth::Key(key), None).await;
        assert_problem(&denied, StatusCode::FORBIDDEN, "insufficient_scope");
        assert!(denied.body["detail"].as_str().unwrap().contains("`admin`"));
    }
    let (_, admin) = key_with(&app, &token, &["admin"]).await;
    let events = api(
        &app,
        Method::GET,
        "/audit-events?limit=2",
        Auth::Key(&admin),
        None,
    )
    .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    assert_eq!(events.body["data"].as_array().unwrap().len(), 2);
    assert!(events.body["next_cursor"].is_string());
    let fenced = api(&app, Method::GET, "/me", Auth::Key(&elsewhere), None).await;
    assert_problem(&fenced, StatusCode::FORBIDDEN, "ip_not_allowed");
}

#[tokio::test]
async fn revoked_and_expired_keys_are_refused() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (revoked_id, revoked) = key_with(&app, &token, &["read"]).await;
    api(
        &app,
        Method::POST,
        &format!("/api-keys/{revoked_id}/revoke"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    let (expired_id, expired) = key_with(&app, &token, &["read"]).await;
    expire(&app, &expired_id).await;
    for key in [&revoked, &expired] {
        let answer = api(&app, Method::GET, "/me", Auth::Key(key), None).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}

#[tokio::test]
async fn verification_answers_every_code_and_nothing_more() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, read) = create_key(
        &app,
        &token,
        json!({ "name": "svc", "scopes": ["read"], "ips": ["10.0.0.0/8"] }),
    )
    .await;
    let (revoked_id, revoked) = key_with(&app, &token, &["read"]).await;
    api(
        &app,
        Method::POST,
        &format!("/api-keys/{revoked_id}/revoke"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    let (expired_id, expired) = key_with(&app, &token, &["read"]).await;
    expire(&app, &expired_id).await;
    let unknown = keysmith::keys::secret::KeyFormat::new("ks_live_")
        .generate()
        .0
        .reveal();
    let cases = [
        (json!({ "key": read, "client_ip": "10.1.2.3" }), "VALID"),
        (
            json!({ "key": read, "required_scope": "search", "client_ip": "10.1.2.3" }),
            "VALID",
        ),
        (json!({ "key": "ks_live_nope" }), "MALFORMED"),
        (json!({ "key": unknown }), "NOT_FOUND"),
        (json!({ "key": revoked }), "REVOKED"),
        (json!({ "key": expired }), "EXPIRED"),
        (
            json!({ "key": read, "required_scope": "write", "client_ip": "10.1.2.3" }),
            "INSUFFICIENT_SCOPE",
        ),
        (
            json!({ "key": read, "client_ip": "192.0.2.1" }),
            "IP_NOT_ALLOWED",
        ),
    ];
    for (body, code) in cases {
        let answer = api(
            &app,
            Method::POST,
            "/keys/verify",
            Auth::None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{body}");
        let data = &answer.body["data"];
        assert_eq!(data["code"], code, "{body}");
        assert_eq!(data["valid"], code == "VALID");
        if code == "VALID" {
            assert_eq!(data["key_id"], id.as_str());
            assert_eq!(data["scopes"], json!(["read"]));
        } else {
            assert_eq!(data["key_id"], Value::Null, "{code} reveals nothing");
            assert_eq!(data["account_id"], Value::Null);
        }
    }
    let bad = api(
        &app,
        Method::POST,
        "/keys/verify",
        Auth::None,
        Some(json!({ "key": read, "required_scope": "root" })),
    )
    .await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "validation_failed");
}

#[tokio::test]
async fn every_error_is_a_problem_document() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let missing = api(&app, Method::GET, "/nowhere", Auth::None, None).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");
    let method = api(&app, Method::PUT, "/me", Auth::None, None).await;
    assert_problem(
        &method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    let client = reqwest::Client::new();
    let url = app.url("/api/v2/api-keys");
    let not_json = client
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let broken = client
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        broken.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let huge = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "name": "x".repeat(200_000) }))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        huge.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );

    let invalid = api(
        &app,
        Method::POST,
        "/api-keys",
        Auth::Bearer(&token),
        Some(json!({ "name": "", "scopes": ["root"] })),
    )
    .await;
    assert_problem(&invalid, StatusCode::BAD_REQUEST, "validation_failed");
    let fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "scopes"]);
    let limit = api(
        &app,
        Method::GET,
        "/api-keys?limit=abc",
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_problem(&limit, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn api_signup_is_refused_when_public_signup_is_off() {
    let app = TestApp::spawn_with(&[("KEYSMITH_ALLOW_SIGNUP", "false")]).await;
    let answer = api(
        &app,
        Method::POST,
        "/auth/signup",
        Auth::None,
        Some(json!({ "email": "a@example.com", "password": PASSWORD })),
    )
    .await;
    assert_problem(&answer, StatusCode::FORBIDDEN, "forbidden");
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Moves a key's expiry into the past, in the real database file.
async fn expire(app: &TestApp, id: &str) {
    let url = format!("sqlite://{}", app.database_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE api_keys SET expires_at = 1 WHERE id = ?")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn create_idempotently(
    app: &TestApp,
    token: &str,
    idempotency_key: &str,
    body: &Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v2/api-keys"))
        .bearer_auth(token)
        .header("Idempotency-Key", idempotency_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn key_count(app: &TestApp, token: &str) -> usize {
    let list = api(
        app,
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
async fn key_use_is_recorded_in_batches_and_flushed_at_shutdown() {
    let app = TestApp::spawn_with(&[("KEYSMITH_USAGE_FLUSH_SECONDS", "3600")]).await;
    let token = user_token(&app).await;
    let (id, key) = key_with(&app, &token, &["read"]).await;
    for _ in 0..3 {
        let answer = api(&app, Method::GET, "/me", Auth::Key(&key), None).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let before = api(
        &app,
        Method::GET,
        &format!("/api-keys/{id}"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(
        before.body["data"]["last_used_at"],
        Value::Null,
        "not written per request"
    );

    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &[]).await;
    // The bearer token outlives the restart: the server's secret is kept.
    let after = api(
        &app,
        Method::GET,
        &format!("/api-keys/{id}"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert!(
        after.body["data"]["last_used_at"].is_i64(),
        "{}",
        after.body
    );
    assert_eq!(after.body["data"]["last_used_ip"], "127.0.0.1");
    let url = format!("sqlite://{}", app.database_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let requests: i64 = sqlx::query_scalar("SELECT requests FROM key_usage_daily WHERE key_id = ?")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(requests, 3, "one row per key and day, counting every use");
}

#[tokio::test]
async fn key_use_is_written_within_the_flush_interval() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with(&app, &token, &["read"]).await;
    api(
        &app,
        Method::POST,
        "/keys/verify",
        Auth::None,
        Some(json!({ "key": key, "client_ip": "198.51.100.4" })),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after = api(
        &app,
        Method::GET,
        &format!("/api-keys/{id}"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(after.body["data"]["last_used_ip"], "198.51.100.4");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_both_credentials() {
    let app = TestApp::spawn().await;
    let doc = api(&app, Method::GET, "/openapi.json", Auth::None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemes = &doc.body["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    let paths = doc.body["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path.replace("{key_id}", "key_00000000000000000000000000000000");
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = api(&app, method.clone(), &concrete, Auth::None, None).await;
            assert_ne!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed"
            );
            assert_ne!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{method} {path} is documented but not routed"
            );
            assert!(!answer.status.is_server_error(), "{method} {path}");
            let responses = item[method.as_str().to_lowercase()]["responses"]
                .as_object()
                .unwrap();
            assert!(
                responses.contains_key(answer.status.as_str()),
                "{method} {path} answered {} without a credential, which the document does not list",
                answer.status
            );
        }
    }
    assert_eq!(operations, 13);
}

/// Routes are registered only through `routes!`, from the handlers'
/// OpenAPI annotations, so none can exist without being documented.
#[test]
fn no_rest_route_is_registered_outside_the_document() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rest");
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        for forbidden in [".route(", ".route_service(", ".nest(", ".merge("] {
            assert!(
                !source.contains(forbidden),
                "{} registers a route with {forbidden}",
                path.display()
            );
        }
    }
}

/// Every credential against every endpoint that takes one.
#[tokio::test]
async fn every_endpoint_answers_every_kind_of_credential_as_documented() {
    const SECRET: &str = "another-master-secret-of-32-characters-at-least";
    let app = TestApp::spawn_with(&[("KEYSMITH_SECRET", SECRET)]).await;
    let owner = user_token(&app).await;
    let stranger = user_token(&app).await;
    let me = api(&app, Method::GET, "/me", Auth::Bearer(&owner), None).await;
    let user = AuthenticatedUser {
        user_id: me.body["data"]["user"]["id"].as_str().unwrap().into(),
        account_id: me.body["data"]["account_id"].as_str().unwrap().into(),
    };
    let signer = TokenSigner::new(
        &keysmith::server::secrets::ServerKeys::from_master(SECRET.as_bytes()).jwt,
        Duration::from_secs(60),
    );
    let expired_jwt = signer.issue(&user, 0, now_s() - 600).unwrap().token;
    let foreign_jwt = TokenSigner::new(&[9u8; 32], Duration::from_secs(60))
        .issue(&user, 0, now_s())
        .unwrap()
        .token;
    let payload = owner.split('.').nth(1).unwrap().to_owned();
    let unsigned_jwt = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");

    let (target, _) = key_with(&app, &owner, &["read"]).await;
    let mut scoped = Vec::new();
    for scope in ["search", "read", "write", "admin"] {
        scoped.push((scope, key_with(&app, &owner, &[scope]).await.1));
    }
    let (revoked_id, revoked) = key_with(&app, &owner, &["admin"]).await;
    api(
        &app,
        Method::POST,
        &format!("/api-keys/{revoked_id}/revoke"),
        Auth::Bearer(&owner),
        None,
    )
    .await;
    let (expired_id, expired) = key_with(&app, &owner, &["admin"]).await;
    expire(&app, &expired_id).await;
    let (graced_id, graced) = key_with(&app, &owner, &["admin"]).await;
    api(
        &app,
        Method::POST,
        &format!("/api-keys/{graced_id}/rotate"),
        Auth::Bearer(&owner),
        Some(json!({ "grace_period_minutes": 60 })),
    )
    .await;
    let (_, fenced) = create_key(
        &app,
        &owner,
        json!({ "name": "fenced", "scopes": ["admin"], "ips": ["203.0.113.0/24"] }),
    )
    .await;

    let by_id = format!("/api-keys/{target}");
    let endpoints: Vec<(Method, String)> = vec![
        (Method::POST, "/api-keys".into()),
        (Method::GET, "/api-keys".into()),
        (Method::GET, by_id.clone()),
        (Method::PATCH, by_id.clone()),
        (Method::DELETE, by_id.clone()),
        (Method::POST, format!("{by_id}/rotate")),
        (Method::POST, format!("{by_id}/revoke")),
        (Method::GET, "/me".into()),
        (Method::GET, "/audit-events".into()),
    ];
    let is_management = |path: &str| path.starts_with("/api-keys");
    let body = json!({ "name": "matrix", "scopes": ["read"] });

    let refused = [
        ("none", Auth::None),
        ("malformed bearer", Auth::Bearer("abc.def.ghi")),
        ("expired token", Auth::Bearer(&expired_jwt)),
        (
            "token signed with another secret",
            Auth::Bearer(&foreign_jwt),
        ),
        ("alg none", Auth::Bearer(&unsigned_jwt)),
        ("malformed key", Auth::Key("ks_live_123")),
        ("revoked key", Auth::Key(&revoked)),
        ("expired key", Auth::Key(&expired)),
    ];
    for (method, path) in &endpoints {
        for (label, auth) in refused {
            let answer = api(&app, method.clone(), path, auth, Some(body.clone())).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{label}: {method} {path}"
            );
            assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
        }
        let fenced_answer = api(
            &app,
            method.clone(),
            path,
            Auth::Key(&fenced),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            fenced_answer.status,
            StatusCode::FORBIDDEN,
            "disallowed IP: {method} {path}"
        );
        for (scope, key) in scoped
            .iter()
            .map(|(s, k)| (*s, k.as_str()))
            // The key in its grace period holds `admin`.
            .chain([("admin", graced.as_str())])
        {
            let answer = api(
                &app,
                method.clone(),
                path,
                Auth::Key(key),
                Some(body.clone()),
            )
            .await;
            let expected = if is_management(path) || (path == "/audit-events" && scope != "admin") {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::OK
            };
            assert_eq!(answer.status, expected, "{scope} key: {method} {path}");
        }
        let foreign = api(
            &app,
            method.clone(),
            path,
            Auth::Bearer(&stranger),
            Some(body.clone()),
        )
        .await;
        let expected = match (method.as_str(), path.as_str()) {
            ("POST", "/api-keys") => StatusCode::CREATED,
            (_, p) if p.starts_with(&by_id) => StatusCode::NOT_FOUND,
            _ => StatusCode::OK,
        };
        assert_eq!(
            foreign.status, expected,
            "another account's token: {method} {path}"
        );
    }
    let still_there = api(&app, Method::GET, &by_id, Auth::Bearer(&owner), None).await;
    assert_eq!(still_there.body["data"]["status"], "active");
    assert_eq!(still_there.body["data"]["name"], "[\"read\"]");
}

async fn verify_code(app: &TestApp, key: &str, required_scope: Option<&str>) -> String {
    let answer = api(
        app,
        Method::POST,
        "/keys/verify",
        Auth::None,
        Some(json!({ "key": key, "required_scope": required_scope })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"]["code"].as_str().unwrap().to_owned()
}

async fn change(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let answer = api(app, method, path, Auth::Bearer(token), body).await;
    assert!(answer.status.is_success(), "{path}: {}", answer.body);
    answer.body
}

#[tokio::test]
async fn every_change_to_a_key_applies_to_the_very_next_verification() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, first) = key_with(&app, &token, &["read"]).await;
    let path = format!("/api-keys/{id}");
    for _ in 0..2 {
        assert_eq!(verify_code(&app, &first, Some("read")).await, "VALID");
    }

    let narrowed = json!({ "scopes": ["search"] });
    change(&app, &token, Method::PATCH, &path, Some(narrowed)).await;
    assert_eq!(
        verify_code(&app, &first, Some("read")).await,
        "INSUFFICIENT_SCOPE"
    );
    let fenced = json!({ "ips": ["10.0.0.0/8"] });
    change(&app, &token, Method::PATCH, &path, Some(fenced)).await;
    assert_eq!(verify_code(&app, &first, None).await, "IP_NOT_ALLOWED");
    change(
        &app,
        &token,
        Method::PATCH,
        &path,
        Some(json!({ "ips": [] })),
    )
    .await;
    assert_eq!(verify_code(&app, &first, None).await, "VALID");

    let rotate = format!("{path}/rotate");
    let grace = json!({ "grace_period_minutes": 60 });
    let second = change(&app, &token, Method::POST, &rotate, Some(grace)).await;
    let second = second["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(
        verify_code(&app, &first, None).await,
        "VALID",
        "in its grace period"
    );
    assert_eq!(verify_code(&app, &second, None).await, "VALID");
    let third = change(&app, &token, Method::POST, &rotate, None).await;
    let third = third["data"]["key"].as_str().unwrap().to_owned();
    assert_ne!(
        verify_code(&app, &first, None).await,
        "VALID",
        "dropped by the second rotation"
    );
    assert_ne!(
        verify_code(&app, &second, None).await,
        "VALID",
        "rotated without grace"
    );
    assert_eq!(verify_code(&app, &third, None).await, "VALID");

    change(&app, &token, Method::POST, &format!("{path}/revoke"), None).await;
    assert_eq!(verify_code(&app, &third, None).await, "REVOKED");
    let answer = api(&app, Method::DELETE, &path, Auth::Bearer(&token), None).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(verify_code(&app, &third, None).await, "NOT_FOUND");
}

#[tokio::test]
async fn expiry_is_judged_against_the_clock_even_for_a_cached_key() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with(&app, &token, &["read"]).await;
    let url = format!("sqlite://{}", app.database_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let soon_ms = (now_s() as i64 + 2) * 1000;
    sqlx::query("UPDATE api_keys SET expires_at = ? WHERE id = ?")
        .bind(soon_ms)
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(verify_code(&app, &key, None).await, "VALID");
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(verify_code(&app, &key, None).await, "EXPIRED");
}

/// Runs one statement on a database file.
async fn run_sql(database: &std::path::Path, statement: &str) {
    let url = format!("sqlite://{}", database.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
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
    run_sql(
        &app.database_path(),
        &format!("UPDATE idempotency_records SET status = NULL, sealed_body = NULL, created_at = {stale_ms}"),
    )
    .await;
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
    let plain = api(
        &app,
        Method::POST,
        "/api-keys",
        Auth::Bearer(&token),
        Some(body),
    )
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
    let file = dir.path().join("keysmith.db");
    run_sql(
        &file,
        &format!("UPDATE idempotency_records SET created_at = {yesterday_ms}"),
    )
    .await;
    let swept = TestApp::spawn_in(dir, &[]).await;
    let url = format!("sqlite://{}", swept.database_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut left: i64 = 1;
    for _ in 0..50 {
        left = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_records")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "swept at start-up");
}
