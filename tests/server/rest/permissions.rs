//! The permission catalogue: the operator's own scope names (the shipped
//! MediaKit and Vidbeo examples), implications in verify, several required
//! scopes at once, and keys that outlive a scope the catalogue dropped.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn example(file: &str) -> String {
    format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"))
}

async fn verify(app: &TestApp, body: Value) -> Answer {
    app.api(Method::POST, "/keys/verify", Auth::None, Some(body))
        .await
}

/// The `data` of a verification that must be answered (not refused as bad
/// input).
async fn verdict(app: &TestApp, body: Value) -> Value {
    let answer = verify(app, body.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{body}: {}", answer.body);
    answer.body["data"].clone()
}

#[tokio::test]
async fn mediakit_keys_hold_its_scopes_and_verify_follows_their_implications() {
    let file = example("mediakit-permissions.toml");
    let app = TestApp::spawn_with(&[("KEYSMITH_PERMISSIONS_FILE", &file)]).await;
    let token = user_token(&app).await;
    let (_, uploader) = key_with(&app, &token, &["write:assets"]).await;
    let (_, admin) = key_with(&app, &token, &["admin"]).await;

    let implied = verdict(
        &app,
        json!({ "key": uploader, "required_scope": "read:assets" }),
    )
    .await;
    assert_eq!(implied["code"], "VALID");
    assert_eq!(implied["scopes"], json!(["write:assets"]));
    let both = json!({ "key": uploader, "required_scopes": ["read:assets", "read:analytics"] });
    let refused = verdict(&app, both).await;
    assert_eq!(
        refused,
        json!({ "valid": false, "code": "INSUFFICIENT_SCOPE", "missing_scopes": ["read:analytics"] })
    );
    let everything = json!({ "key": admin, "required_scopes": ["write:assets", "read:analytics"] });
    assert_eq!(verdict(&app, everything).await["code"], "VALID");

    // The standard names mean nothing here, in a key or a requirement.
    let standard = try_create_key(
        &app,
        &token,
        json!({ "name": "old habits", "scopes": ["read"] }),
    )
    .await;
    assert_problem(&standard, StatusCode::BAD_REQUEST, "validation_failed");
    let message = field_error(&standard, "scopes").unwrap();
    assert!(
        message.starts_with("Unknown scope \"read\". Choose from read:assets, write:assets"),
        "{message}"
    );
    let unknown = verify(&app, json!({ "key": uploader, "required_scope": "read" })).await;
    assert_problem(&unknown, StatusCode::BAD_REQUEST, "validation_failed");
    assert!(
        field_error(&unknown, "required_scope").is_some(),
        "{}",
        unknown.body
    );
}

#[tokio::test]
async fn a_vidbeo_read_only_key_fetches_and_nothing_more() {
    let file = example("vidbeo-permissions.toml");
    let app = TestApp::spawn_with(&[("KEYSMITH_PERMISSIONS_FILE", &file)]).await;
    let token = user_token(&app).await;
    let (_, read_only) = key_with(&app, &token, &["fetch"]).await;
    let (_, read_write) = key_with(&app, &token, &["write"]).await;
    let fetch = verdict(&app, json!({ "key": read_only, "required_scope": "fetch" })).await;
    assert_eq!(fetch["code"], "VALID");
    let write = verdict(&app, json!({ "key": read_only, "required_scope": "write" })).await;
    assert_eq!(write["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(write["missing_scopes"], json!(["write"]));
    let both = json!({ "key": read_write, "required_scopes": ["fetch", "write"] });
    assert_eq!(verdict(&app, both).await["code"], "VALID");
}

#[tokio::test]
async fn a_scope_the_catalogue_dropped_stays_on_its_keys_and_grants_nothing() {
    // Made under the standard catalogue…
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, secret) = key_with(&app, &token, &["read", "write"]).await;
    let dir = app.stop().await;
    // …then the operator switches to Vidbeo's, which has `write` but no
    // `read`.
    let file = example("vidbeo-permissions.toml");
    let app = TestApp::spawn_in(dir, &[("KEYSMITH_PERMISSIONS_FILE", &file)]).await;
    let key = app
        .api(
            Method::GET,
            &format!("/api-keys/{id}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(key.body["data"]["scopes"], json!(["read", "write"]));
    assert_eq!(key.body["data"]["retired_scopes"], json!(["read"]));
    let valid = verdict(&app, json!({ "key": secret })).await;
    assert_eq!(
        valid["scopes"],
        json!(["write"]),
        "a dropped scope is not answered"
    );
    // `write` implies `fetch` here: what the key holds now is the new
    // catalogue's reading of it.
    let fetch = verdict(&app, json!({ "key": secret, "required_scope": "fetch" })).await;
    assert_eq!(fetch["code"], "VALID");

    // An edit that leaves the scopes alone keeps the dropped one; it may be
    // named again (it is the key's), never given to another key.
    let rename = edit_key(&app, &token, &id, json!({ "name": "renamed" })).await;
    assert_eq!(
        rename.body["data"]["scopes"],
        json!(["read", "write"]),
        "{}",
        rename.body
    );
    let kept = edit_key(&app, &token, &id, json!({ "scopes": ["read", "fetch"] })).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(kept.body["data"]["retired_scopes"], json!(["read"]));
    let only_dropped = edit_key(&app, &token, &id, json!({ "scopes": ["read"] })).await;
    assert_problem(&only_dropped, StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(
        field_error(&only_dropped, "scopes"),
        Some("Choose at least one scope.")
    );
    let given_anew = try_create_key(
        &app,
        &token,
        json!({ "name": "new", "scopes": ["read", "fetch"] }),
    )
    .await;
    assert_problem(&given_anew, StatusCode::BAD_REQUEST, "validation_failed");
}

#[tokio::test]
async fn verify_takes_one_required_scope_or_a_list_and_refuses_bad_ones_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, key) = key_with(&app, &token, &["read"]).await;
    let several = json!({ "key": key, "required_scopes": ["search", "read", "admin", "write"] });
    let refused = verdict(&app, several).await;
    assert_eq!(refused["missing_scopes"], json!(["admin", "write"]));
    assert_eq!(
        verdict(&app, json!({ "key": key, "required_scopes": [] })).await["code"],
        "VALID"
    );
    let many: Vec<String> = (0..101).map(|i| format!("s{i}")).collect();
    let cases = [
        (
            json!({ "key": key, "required_scope": "read", "required_scopes": ["read"] }),
            "required_scopes",
        ),
        (
            json!({ "key": key, "required_scopes": many }),
            "required_scopes",
        ),
        (
            json!({ "key": key, "required_scopes": ["Read Assets"] }),
            "required_scopes",
        ),
        (
            json!({ "key": key, "required_scopes": ["delete"] }),
            "required_scopes",
        ),
        (
            json!({ "key": key, "required_scope": "" }),
            "required_scope",
        ),
    ];
    for (body, field) in cases {
        let answer = verify(&app, body.clone()).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(
            field_error(&answer, field).is_some(),
            "{body}: {}",
            answer.body
        );
    }
    let not_a_list = verify(&app, json!({ "key": key, "required_scopes": "read" })).await;
    assert_eq!(
        not_a_list.status,
        StatusCode::BAD_REQUEST,
        "{}",
        not_a_list.body
    );
}

#[tokio::test]
async fn the_dashboard_is_given_the_catalogue_grouped_with_descriptions_and_implications() {
    let file = example("mediakit-permissions.toml");
    let app = TestApp::spawn_with(&[("KEYSMITH_PERMISSIONS_FILE", &file)]).await;
    let anonymous = app.rpc("permission_catalogue", &[]).await;
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "signed in only"
    );
    app.signed_up(&unique_email()).await;
    let answer = app.rpc("permission_catalogue", &[]).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let catalogue: Value = answer.json().await.unwrap();
    let permissions = catalogue["permissions"].as_array().unwrap();
    let names: Vec<&str> = permissions
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["read:assets", "write:assets", "read:analytics", "admin"]
    );
    assert_eq!(permissions[1]["group"], "Assets");
    assert_eq!(permissions[1]["implies"], json!(["read:assets"]));
    assert_eq!(
        permissions[1]["description"],
        "Upload, update and delete assets."
    );
    assert_eq!(
        permissions[3]["implies"],
        json!(["read:assets", "write:assets", "read:analytics"])
    );
}
