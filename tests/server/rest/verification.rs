//! `POST /api/v2/keys/verify`: every verdict, usage bookkeeping, and every
//! change to a key reaching the very next verification through the server's
//! own cache.

use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

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
    app.api(
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
        let answer = app
            .api(Method::POST, "/keys/verify", Auth::None, Some(body.clone()))
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
    let bad = app
        .api(
            Method::POST,
            "/keys/verify",
            Auth::None,
            Some(json!({ "key": read, "required_scope": "root" })),
        )
        .await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "validation_failed");
}

#[tokio::test]
async fn key_use_is_recorded_in_batches_and_flushed_at_shutdown() {
    let app = TestApp::spawn_with(&[("KEYSMITH_USAGE_FLUSH_SECONDS", "3600")]).await;
    let token = user_token(&app).await;
    let (id, key) = key_with(&app, &token, &["read"]).await;
    for _ in 0..3 {
        let answer = app.api(Method::GET, "/me", Auth::Key(&key), None).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let before = app
        .api(
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
    let after = app
        .api(
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
    let requests = query_number(
        &app.database_url(),
        &format!("SELECT requests FROM key_usage_daily WHERE key_id = '{id}'"),
    )
    .await;
    assert_eq!(requests, 3, "one row per key and day, counting every use");
}

#[tokio::test]
async fn key_use_is_written_within_the_flush_interval() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with(&app, &token, &["read"]).await;
    app.api(
        Method::POST,
        "/keys/verify",
        Auth::None,
        Some(json!({ "key": key, "client_ip": "198.51.100.4" })),
    )
    .await;
    // Uses are written once a second (KEYSMITH_USAGE_FLUSH_SECONDS).
    eventually(Duration::from_secs(5), "the use is written", || async {
        let after = app
            .api(
                Method::GET,
                &format!("/api-keys/{id}"),
                Auth::Bearer(&token),
                None,
            )
            .await;
        after.body["data"]["last_used_ip"] == "198.51.100.4"
    })
    .await;
}

async fn verify_code(app: &TestApp, key: &str, required_scope: Option<&str>) -> String {
    let answer = app
        .api(
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
    let answer = app.api(method, path, Auth::Bearer(token), body).await;
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
    let answer = app
        .api(Method::DELETE, &path, Auth::Bearer(&token), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(verify_code(&app, &third, None).await, "NOT_FOUND");
}

#[tokio::test]
async fn expiry_is_judged_against_the_clock_even_for_a_cached_key() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with(&app, &token, &["read"]).await;
    let soon_ms = (now_s() as i64 + 2) * 1000;
    run_sql(
        &app.database_url(),
        &format!("UPDATE api_keys SET expires_at = {soon_ms} WHERE id = '{id}'"),
    )
    .await;
    assert_eq!(verify_code(&app, &key, None).await, "VALID");
    // Cached as valid now; the clock alone must end it.
    eventually(Duration::from_secs(5), "the cached key expires", || async {
        verify_code(&app, &key, None).await == "EXPIRED"
    })
    .await;
}

/// Verification skips the browser's layers (sessions, cookies, the client's
/// address) but keeps the edge every request passes: security headers,
/// limits, the host check, and problem documents for every error.
#[tokio::test]
async fn the_verify_route_is_lean_but_keeps_every_edge_defence() {
    let app = TestApp::spawn_with(&[("KEYSMITH_ALLOWED_HOSTS", "keys.example")]).await;
    let url = app.url("/api/v2/keys/verify");
    let client = reqwest::Client::new();
    let answer = client
        .post(&url)
        .header(header::HOST, "keys.example")
        .json(&json!({ "key": "ks_live_typo" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let headers = answer.headers();
    assert!(headers.get(header::SET_COOKIE).is_none(), "no session");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["code"], "MALFORMED");

    let problem = |response: reqwest::Response| async move {
        let status = response.status();
        let allow = response.headers().get(header::ALLOW).cloned();
        let body: Value = response.json().await.unwrap();
        (
            status,
            allow,
            body["code"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let (status, allow, code) = problem(
        client
            .get(&url)
            .header(header::HOST, "keys.example")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    assert_eq!(allow.unwrap(), "POST");
    // Refused on its declared length, before a byte of the body is read
    // (raw, so the client is not cut off half-way through sending it).
    let too_large = raw_exchange(
        &app,
        "POST /api/v2/keys/verify HTTP/1.1\r\nHost: keys.example\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert!(too_large.starts_with("HTTP/1.1 413"), "{too_large}");
    assert!(too_large.contains("payload_too_large"), "{too_large}");
    let (status, _, code) = problem(
        client
            .post(&url)
            .header(header::HOST, "keys.example")
            .header(header::CONTENT_TYPE, "text/plain")
            .body("key=x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let foreign = client
        .post(&url)
        .header(header::HOST, "elsewhere.example")
        .json(&json!({ "key": "ks_live_typo" }))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST, "host check");
}

/// Sends `request` as it is over a new connection; everything the server
/// answers until it closes the connection.
async fn raw_exchange(app: &TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

const VERIFIER_A: &str = "verifier-token-of-the-billing-service";
const VERIFIER_B: &str = "verifier-token-of-the-media-service";

#[tokio::test]
async fn with_verifier_tokens_set_verify_answers_only_callers_presenting_one() {
    let tokens = format!("{VERIFIER_A}, {VERIFIER_B}");
    let app = TestApp::spawn_with(&[("KEYSMITH_VERIFY_TOKENS", &tokens)]).await;
    let token = user_token(&app).await;
    let (_, key) = key_with(&app, &token, &["read"]).await;
    let body = json!({ "key": key });
    for auth in [
        Auth::None,
        Auth::Bearer("verifier-token-of-someone-else"),
        Auth::Key(VERIFIER_A),
        Auth::Bearer(&token),
        Auth::Bearer(&key),
    ] {
        let refused = app
            .api(Method::POST, "/keys/verify", auth, Some(body.clone()))
            .await;
        assert_problem(
            &refused,
            StatusCode::UNAUTHORIZED,
            "verifier_token_required",
        );
        assert!(refused.headers.contains_key(header::WWW_AUTHENTICATE));
        assert!(
            !refused.body.to_string().contains(&key[14..]),
            "no key detail"
        );
    }
    // Refused before the body is read: a malformed body is 401 too.
    let unread = app
        .api(
            Method::POST,
            "/keys/verify",
            Auth::None,
            Some(json!({ "nope": 1 })),
        )
        .await;
    assert_eq!(unread.status, StatusCode::UNAUTHORIZED);
    for verifier in [VERIFIER_A, VERIFIER_B] {
        let answer = app
            .api(
                Method::POST,
                "/keys/verify",
                Auth::Bearer(verifier),
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["data"]["code"], "VALID");
    }
}

#[tokio::test]
async fn verifier_tokens_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("verifier-tokens");
    std::fs::write(&file, format!("# the billing service\n{VERIFIER_A}\n")).unwrap();
    let setting = format!("file:{}", file.display());
    let app = TestApp::spawn_with(&[("KEYSMITH_VERIFY_TOKENS", &setting)]).await;
    let body = json!({ "key": "ks_live_nope" });
    let open = app
        .api(Method::POST, "/keys/verify", Auth::None, Some(body.clone()))
        .await;
    assert_eq!(open.status, StatusCode::UNAUTHORIZED);
    let answer = app
        .api(
            Method::POST,
            "/keys/verify",
            Auth::Bearer(VERIFIER_A),
            Some(body),
        )
        .await;
    assert_eq!(answer.body["data"]["code"], "MALFORMED", "{}", answer.body);
}
