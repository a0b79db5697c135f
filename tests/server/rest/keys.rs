//! Key management over the REST API: bearer tokens manage keys, keys never do,
//! and nothing crosses accounts.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

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

    let list = app
        .api(
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

    let one = app
        .api(
            Method::GET,
            &format!("/api-keys/{id}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(one.body["data"]["name"], "SDK");
    assert!(one.body["data"].get("key").is_none());

    let patched = app
        .api(
            Method::PATCH,
            &format!("/api-keys/{id}"),
            Auth::Bearer(&token),
            Some(json!({ "name": "SDK v2", "scopes": ["write"] })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["data"]["scopes"], json!(["write"]));

    let rotated = app
        .api(
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
            app.api(Method::GET, "/me", Auth::Key(k), None).await.status,
            StatusCode::OK,
            "grace period"
        );
    }
    let bare = app
        .api(
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

    let revoked = app
        .api(
            Method::POST,
            &format!("/api-keys/{id}/revoke"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(revoked.body["data"]["status"], "revoked");
    let deleted = app
        .api(
            Method::DELETE,
            &format!("/api-keys/{id}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app
        .api(
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
        let answer = app
            .api(
                method.clone(),
                &path,
                Auth::Key(&admin),
                Some(json!({ "name": "x", "scopes": ["read"] })),
            )
            .await;
        // It holds no management scope, and never will: the answer says
        // what would do instead.
        assert_problem(&answer, StatusCode::FORBIDDEN, "insufficient_scope");
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("bearer token") && detail.contains("management key"),
            "{method} {path}: {detail}"
        );
    }
}

#[tokio::test]
async fn a_token_from_another_account_sees_nothing_of_this_one() {
    let app = TestApp::spawn().await;
    let mine = user_token(&app).await;
    let theirs = user_token(&app).await;
    let (id, _) = key_with(&app, &mine, &["read"]).await;
    let list = app
        .api(Method::GET, "/api-keys", Auth::Bearer(&theirs), None)
        .await;
    assert_eq!(list.body["data"], json!([]));
    for (method, path) in [
        (Method::GET, format!("/api-keys/{id}")),
        (Method::PATCH, format!("/api-keys/{id}")),
        (Method::POST, format!("/api-keys/{id}/rotate")),
        (Method::POST, format!("/api-keys/{id}/revoke")),
        (Method::DELETE, format!("/api-keys/{id}")),
    ] {
        let answer = app
            .api(
                method,
                &path,
                Auth::Bearer(&theirs),
                Some(json!({ "name": "mine now" })),
            )
            .await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let events = app
        .api(Method::GET, "/audit-events", Auth::Bearer(&theirs), None)
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

    let me = app.api(Method::GET, "/me", Auth::Key(&search), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["data"]["key"]["id"], search_id.as_str());
    assert_eq!(me.body["data"]["key"]["scopes"], json!(["search"]));
    let as_bearer = app
        .api(Method::GET, "/me", Auth::Bearer(&search), None)
        .await;
    assert_eq!(
        as_bearer.status,
        StatusCode::OK,
        "a key is accepted as a bearer credential too"
    );

    // The audit log holds people's emails, addresses and browsers: only an
    // admin key (or a user's token) reads it.
    for key in [&search, &read, &write] {
        let denied = app
            .api(Method::GET, "/audit-events", Auth::Key(key), None)
            .await;
        assert_problem(&denied, StatusCode::FORBIDDEN, "insufficient_scope");
        assert!(denied.body["detail"].as_str().unwrap().contains("`admin`"));
    }
    let (_, admin) = key_with(&app, &token, &["admin"]).await;
    let events = app
        .api(
            Method::GET,
            "/audit-events?limit=2",
            Auth::Key(&admin),
            None,
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    assert_eq!(events.body["data"].as_array().unwrap().len(), 2);
    assert!(events.body["next_cursor"].is_string());
    let fenced = app
        .api(Method::GET, "/me", Auth::Key(&elsewhere), None)
        .await;
    assert_problem(&fenced, StatusCode::FORBIDDEN, "ip_not_allowed");
}

#[tokio::test]
async fn revoked_and_expired_keys_are_refused() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
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
    for key in [&revoked, &expired] {
        let answer = app.api(Method::GET, "/me", Auth::Key(key), None).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}
