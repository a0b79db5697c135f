//! `GET /api/v2/api-keys/{key_id}/usage`: a key's verifications per day.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

async fn usage(app: &TestApp, token: &str, path: &str) -> Answer {
    app.api(Method::GET, path, Auth::Bearer(token), None).await
}

async fn verify(app: &TestApp, key: &str, request: Value) -> String {
    let mut request = request;
    request["key"] = key.into();
    let answer = app
        .api(Method::POST, "/keys/verify", Auth::None, Some(request))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn usage_counts_every_verification_of_the_key_by_outcome_and_day() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = create_key(
        &app,
        &token,
        json!({ "name": "charted", "scopes": ["read"], "ips": ["10.1.0.0/16"] }),
    )
    .await;
    let (_, other_key) = key_with(&app, &token, &["read"]).await;
    for _ in 0..3 {
        let code = verify(&app, &key, json!({ "client_ip": "10.1.2.3" })).await;
        assert_eq!(code, "VALID");
    }
    let scope = json!({ "client_ip": "10.1.2.3", "required_scope": "write" });
    assert_eq!(verify(&app, &key, scope).await, "INSUFFICIENT_SCOPE");
    let outside = json!({ "client_ip": "192.0.2.1" });
    assert_eq!(verify(&app, &key, outside.clone()).await, "IP_NOT_ALLOWED");
    assert_eq!(verify(&app, &key, outside).await, "IP_NOT_ALLOWED");
    // Another key's use and a made-up key count for nobody here.
    assert_eq!(verify(&app, &other_key, json!({})).await, "VALID");
    assert_eq!(verify(&app, "ks_live_madeup", json!({})).await, "MALFORMED");
    let revoked = app
        .api(
            Method::POST,
            &format!("/api-keys/{id}/revoke"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(verify(&app, &key, json!({})).await, "REVOKED");

    let path = format!("/api-keys/{id}/usage");
    let expected = json!({
        "valid": 3,
        "refused": {
            "REVOKED": 1, "EXPIRED": 0, "INSUFFICIENT_SCOPE": 1, "IP_NOT_ALLOWED": 2,
            "RATE_LIMITED": 0, "USAGE_EXCEEDED": 0,
        },
    });
    // Usage is written once a second (KEYSMITH_USAGE_FLUSH_SECONDS).
    eventually(
        Duration::from_secs(10),
        "today's counts are written",
        || async {
            let today = &usage(&app, &token, &path).await.body["data"][29];
            today["valid"] == expected["valid"] && today["refused"] == expected["refused"]
        },
    )
    .await;
    let answer = usage(&app, &token, &path).await;
    assert_eq!(answer.status, StatusCode::OK);
    let days = answer.body["data"].as_array().unwrap();
    assert_eq!(days.len(), 30, "30 days unless asked");
    let today = days[29]["date"].as_str().unwrap();
    assert_eq!(today.len(), 10, "{today}");
    assert!(days
        .windows(2)
        .all(|d| d[0]["date"].as_str() < d[1]["date"].as_str()));
    let quiet = json!({
        "valid": 0,
        "refused": {
            "REVOKED": 0, "EXPIRED": 0, "INSUFFICIENT_SCOPE": 0, "IP_NOT_ALLOWED": 0,
            "RATE_LIMITED": 0, "USAGE_EXCEEDED": 0,
        },
    });
    for day in &days[..29] {
        assert_eq!(day["valid"], quiet["valid"], "{day}");
        assert_eq!(day["refused"], quiet["refused"], "{day}");
    }
    let week = usage(&app, &token, &format!("{path}?days=7")).await;
    assert_eq!(week.body["data"].as_array().unwrap().len(), 7);
    assert_eq!(week.body["data"][6]["date"], today);
}

#[tokio::test]
async fn usage_refuses_bad_spans_and_other_accounts_keys() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, _) = key_with(&app, &token, &["read"]).await;
    let path = format!("/api-keys/{id}/usage");
    for (days, code) in [
        ("0", "validation_failed"),
        ("91", "validation_failed"),
        ("-3", "validation_failed"),
        ("soon", "bad_request"),
        ("1.5", "bad_request"),
    ] {
        let answer = usage(&app, &token, &format!("{path}?days={days}")).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{days}: {}",
            answer.body
        );
        assert_eq!(answer.body["code"], code, "{days}: {}", answer.body);
        assert!(
            answer.body["detail"].as_str().unwrap().contains("days"),
            "{}",
            answer.body
        );
    }
    assert_eq!(
        usage(&app, &token, &format!("{path}?days=90")).await.status,
        StatusCode::OK
    );

    let stranger = user_token(&app).await;
    let answer = usage(&app, &stranger, &path).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    let answer = usage(&app, &token, "/api-keys/key_nonexistent/usage").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    let answer = app.api(Method::GET, &path, Auth::None, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}
