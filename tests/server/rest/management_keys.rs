//! Management keys: keys that manage keys (a CI job's, Terraform's), held
//! to Keysmith's own management scopes, confined to their account, never
//! making or changing another management key, audited as themselves.

use crate::{helpers::*, teams::Team};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A management key made by `token` holding `scopes`: its id and secret.
async fn management_key(app: &TestApp, token: &str, scopes: &[&str]) -> (String, String) {
    let body = json!({ "name": "CI", "type": "management", "scopes": scopes });
    create_key(app, token, body).await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> Answer {
    app.api(method, path, auth, body).await
}

#[tokio::test]
async fn an_owner_makes_a_management_key_and_it_manages_the_accounts_api_keys() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let body = json!({ "name": "CI", "type": "management", "scopes": ["keys:read", "keys:write"] });
    let made = try_create_key(&app, &token, body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["data"]["type"], "management");
    assert_eq!(
        made.body["data"]["scopes"],
        json!(["keys:read", "keys:write"])
    );
    let ci_id = made.body["data"]["id"].as_str().unwrap().to_owned();
    let ci = made.body["data"]["key"].as_str().unwrap().to_owned();

    // As `Authorization: Bearer` and as `X-API-Key` alike.
    for auth in [Auth::Bearer(&ci), Auth::Key(&ci)] {
        let listed = call(&app, Method::GET, "/api-keys", auth, None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    }
    let draft = json!({ "name": "billing", "scopes": ["read"] });
    let created = call(
        &app,
        Method::POST,
        "/api-keys",
        Auth::Bearer(&ci),
        Some(draft),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = &created.body["data"];
    assert_eq!(
        (&key["type"], &key["created_by"]),
        (&json!("api"), &json!(ci_id))
    );
    assert_eq!(key["created_by_name"], "CI");
    assert_eq!(key["created_by_email"], Value::Null);
    let billing_id = key["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.verdict(key["key"].as_str().unwrap(), None).await,
        "VALID"
    );

    let path = format!("/api-keys/{billing_id}");
    let renamed = call(
        &app,
        Method::PATCH,
        &path,
        Auth::Key(&ci),
        Some(json!({ "name": "billing v2" })),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["data"]["updated_by"], ci_id.as_str());
    let rotated = call(
        &app,
        Method::POST,
        &format!("{path}/rotate"),
        Auth::Key(&ci),
        None,
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert!(
        rotated.body["data"]["key"].is_string(),
        "the secret it rotated, shown once"
    );

    // Every change is the management key's own in the audit log.
    let events = call(
        &app,
        Method::GET,
        "/audit-events",
        Auth::Bearer(&token),
        None,
    )
    .await;
    let by_ci: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["actor_key_id"] == ci_id.as_str())
        .map(|event| {
            assert_eq!(event["actor_key_name"], "CI");
            assert_eq!(event["actor"], Value::Null);
            event["action"].as_str().unwrap()
        })
        .collect();
    assert_eq!(by_ci, ["key.rotated", "key.updated", "key.created"]);
}

#[tokio::test]
async fn a_management_key_is_held_to_its_scopes() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, _) = key_with(&app, &token, &["read"]).await;
    let (_, reader) = management_key(&app, &token, &["keys:read"]).await;
    let by_id = format!("/api-keys/{id}");
    let refusals = [
        (Method::POST, "/api-keys".to_owned(), "keys:write"),
        (Method::PATCH, by_id.clone(), "keys:write"),
        (Method::POST, format!("{by_id}/rotate"), "keys:write"),
        (Method::POST, format!("{by_id}/revoke"), "keys:revoke"),
        (Method::DELETE, by_id.clone(), "keys:delete"),
        (Method::GET, "/members".to_owned(), "members:read"),
        (Method::GET, "/invitations".to_owned(), "members:read"),
        (Method::GET, "/audit-events".to_owned(), "audit:read"),
    ];
    let draft = json!({ "name": "x", "scopes": ["read"] });
    for (method, path, needed) in refusals {
        let refused = call(
            &app,
            method.clone(),
            &path,
            Auth::Key(&reader),
            Some(draft.clone()),
        )
        .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "insufficient_scope");
        assert_eq!(refused.body["required_scope"], needed, "{method} {path}");
    }
    for path in [
        "/api-keys".to_owned(),
        by_id.clone(),
        format!("{by_id}/usage"),
    ] {
        let read = call(&app, Method::GET, &path, Auth::Key(&reader), None).await;
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.body);
    }

    let (_, revoker) = management_key(&app, &token, &["keys:revoke", "keys:delete"]).await;
    let revoked = call(
        &app,
        Method::POST,
        &format!("{by_id}/revoke"),
        Auth::Key(&revoker),
        None,
    )
    .await;
    assert_eq!(
        revoked.body["data"]["status"], "revoked",
        "{}",
        revoked.body
    );
    let deleted = call(&app, Method::DELETE, &by_id, Auth::Key(&revoker), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);

    let (_, auditor) = management_key(&app, &token, &["members:read", "audit:read"]).await;
    let members = call(&app, Method::GET, "/members", Auth::Key(&auditor), None).await;
    assert_eq!(
        members.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        members.body
    );
    let log = call(
        &app,
        Method::GET,
        "/audit-events",
        Auth::Key(&auditor),
        None,
    )
    .await;
    let events = log.body["data"].as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        assert!(
            event["action"].as_str().unwrap().starts_with("key."),
            "{event}"
        );
        assert_eq!(event["client_ip"], Value::Null, "as developers see it");
    }
}

#[tokio::test]
async fn a_management_key_never_makes_nor_changes_a_management_key() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let every = [
        "keys:read",
        "keys:write",
        "keys:revoke",
        "keys:delete",
        "members:read",
        "audit:read",
    ];
    let (_, all_powerful) = management_key(&app, &token, &every).await;
    let (other_id, _) = management_key(&app, &token, &["keys:read"]).await;
    let another = json!({ "name": "CI 2", "type": "management", "scopes": ["keys:read"] });
    let minted = call(
        &app,
        Method::POST,
        "/api-keys",
        Auth::Key(&all_powerful),
        Some(another),
    )
    .await;
    assert_problem(&minted, StatusCode::FORBIDDEN, "forbidden");
    let by_id = format!("/api-keys/{other_id}");
    for (method, path) in [
        (Method::PATCH, by_id.clone()),
        (Method::POST, format!("{by_id}/rotate")),
        (Method::POST, format!("{by_id}/revoke")),
        (Method::DELETE, by_id.clone()),
    ] {
        let body = json!({ "scopes": every });
        let refused = call(
            &app,
            method.clone(),
            &path,
            Auth::Key(&all_powerful),
            Some(body),
        )
        .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    // No team change either: keys never change the team.
    let invite = json!({ "email": unique_email(), "role": "viewer" });
    let refused = call(
        &app,
        Method::POST,
        "/invitations",
        Auth::Key(&all_powerful),
        Some(invite),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // It reads management keys (masked), never their secrets.
    let read = call(&app, Method::GET, &by_id, Auth::Key(&all_powerful), None).await;
    assert_eq!(read.body["data"]["type"], "management");
    assert_eq!(read.body["data"]["key"], Value::Null);
}

#[tokio::test]
async fn only_owners_and_admins_make_and_change_management_keys() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let (ci_id, _) = management_key(&app, &team.admin.token, &["keys:read"]).await;
    let body = json!({ "name": "CI", "type": "management", "scopes": ["keys:read"] });
    for person in [&team.developer, &team.viewer] {
        let refused = try_create_key(&app, &person.token, body.clone()).await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "insufficient_role");
    }
    let dev = &team.developer.token;
    let revoke = format!("/api-keys/{ci_id}/revoke");
    let refused = call(&app, Method::POST, &revoke, Auth::Bearer(dev), None).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "insufficient_role");
    assert_eq!(refused.body["required_role"], "admin");
    let revoked = call(
        &app,
        Method::POST,
        &revoke,
        Auth::Bearer(&team.owner.token),
        None,
    )
    .await;
    assert_eq!(
        revoked.body["data"]["status"], "revoked",
        "{}",
        revoked.body
    );
    // The dashboard's door holds the same rule.
    let draft = json!({ "draft": { "type": "management", "name": "CI", "scopes": ["keys:read"] } });
    let (status, _) = app
        .call_as(&team.developer.browser, "create_api_key", draft.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, made) = app
        .call_as(&team.admin.browser, "create_api_key", draft)
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["key"]["type"], "management");
}

#[tokio::test]
async fn a_management_key_sees_and_reaches_nothing_of_another_account() {
    let app = TestApp::spawn().await;
    let mine = user_token(&app).await;
    let theirs = user_token(&app).await;
    let (their_key, _) = key_with(&app, &theirs, &["read"]).await;
    let every = ["keys:read", "keys:write", "keys:revoke", "keys:delete"];
    let (_, ci) = management_key(&app, &mine, &every).await;
    let listed = call(&app, Method::GET, "/api-keys", Auth::Key(&ci), None).await;
    let ids: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&their_key.as_str()));
    let by_id = format!("/api-keys/{their_key}");
    for (method, path) in [
        (Method::GET, by_id.clone()),
        (Method::PATCH, by_id.clone()),
        (Method::POST, format!("{by_id}/rotate")),
        (Method::POST, format!("{by_id}/revoke")),
        (Method::DELETE, by_id.clone()),
    ] {
        let refused = call(
            &app,
            method,
            &path,
            Auth::Key(&ci),
            Some(json!({ "name": "mine" })),
        )
        .await;
        assert_problem(&refused, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn each_kind_of_key_holds_only_its_own_catalogues_scopes() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let management_with_platform = json!({ "name": "x", "type": "management", "scopes": ["read"] });
    let api_with_management = json!({ "name": "x", "scopes": ["keys:read"] });
    let unknown_type = json!({ "name": "x", "type": "root", "scopes": ["read"] });
    for body in [management_with_platform, api_with_management] {
        let refused = try_create_key(&app, &token, body.clone()).await;
        assert_problem(&refused, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(
            field_error(&refused, "scopes").is_some(),
            "{body}: {}",
            refused.body
        );
    }
    let refused = try_create_key(&app, &token, unknown_type).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

    // Verify answers a management key by its type; it holds none of the
    // platform's scopes.
    let (_, ci) = management_key(&app, &token, &["keys:write"]).await;
    let answer = call(
        &app,
        Method::POST,
        "/keys/verify",
        Auth::None,
        Some(json!({ "key": ci })),
    )
    .await;
    assert_eq!(answer.body["data"]["type"], "management", "{}", answer.body);
    assert_eq!(answer.body["data"]["scopes"], json!(["keys:write"]));
    let body = json!({ "key": ci, "required_scope": "read" });
    let refused = call(&app, Method::POST, "/keys/verify", Auth::None, Some(body)).await;
    assert_eq!(refused.body["data"]["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(refused.body["data"]["missing_scopes"], json!(["read"]));
}

#[tokio::test]
async fn an_idempotent_create_replays_to_the_management_key_that_made_it_only() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, first) = management_key(&app, &token, &["keys:write"]).await;
    let (_, second) = management_key(&app, &token, &["keys:write"]).await;
    let body = json!({ "name": "from CI", "scopes": ["read"] });
    let post = |key: String| {
        let app = &app;
        let body = body.clone();
        async move {
            let response = reqwest::Client::new()
                .post(app.url("/api/v2/api-keys"))
                .header("X-API-Key", key)
                .header("Idempotency-Key", "deploy-42")
                .json(&body)
                .send()
                .await
                .unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let answer: Value = response.json().await.unwrap();
            (answer["data"]["key"].as_str().unwrap().to_owned(), replayed)
        }
    };
    let (made, _) = post(first.clone()).await;
    let (again, replayed) = post(first).await;
    assert_eq!((again.as_str(), replayed), (made.as_str(), true));
    let (others, replayed) = post(second).await;
    assert!(
        !replayed && others != made,
        "another key never sees that secret"
    );
}
