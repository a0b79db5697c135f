//! What a platform keeps on a key for itself: `meta` and `external_id`,
//! set on create and update, checked, listed by, answered by verify and
//! written to the audit log.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn verified(app: &TestApp, key: &str) -> Value {
    let body = json!({ "key": key });
    let answer = app
        .api(Method::POST, "/keys/verify", Auth::None, Some(body))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"].clone()
}

async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let answer = app
        .api(
            Method::GET,
            &format!("/api-keys?{query}"),
            Auth::Bearer(token),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn meta_and_the_external_id_are_kept_answered_by_verify_and_listed_by() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let meta = json!({ "plan": "pro", "limits": { "seats": 5 } });
    let draft =
        json!({ "name": "Acme prod", "scopes": ["read"], "external_id": "cust_42", "meta": meta });
    let created = try_create_key(&app, &token, draft).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    assert_eq!(
        (&data["external_id"], &data["meta"]),
        (&json!("cust_42"), &meta)
    );
    let secret = data["key"].as_str().unwrap().to_owned();
    let (_, other) = key_with(&app, &token, &["read"]).await;
    let draft = json!({ "name": "Acme staging", "scopes": ["read"], "external_id": "cust_42" });
    try_create_key(&app, &token, draft).await;
    let draft = json!({ "name": "Globex", "scopes": ["read"], "external_id": "cust_7" });
    try_create_key(&app, &token, draft).await;

    let answer = verified(&app, &secret).await;
    let mut fields: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    let every = [
        "account_id",
        "code",
        "expires_at",
        "external_id",
        "key_id",
        "meta",
        "name",
        "scopes",
        "type",
        "valid",
    ];
    assert_eq!(fields, every);
    assert_eq!(
        (&answer["meta"], &answer["external_id"]),
        (&meta, &json!("cust_42"))
    );
    let plain = verified(&app, &other).await;
    assert_eq!(
        (&plain["meta"], &plain["external_id"]),
        (&Value::Null, &Value::Null)
    );

    assert_eq!(
        listed(&app, &token, "external_id=cust_42").await,
        ["Acme staging", "Acme prod"]
    );
    assert_eq!(
        listed(&app, &token, "external_id=cust_4").await,
        Vec::<String>::new()
    );
    assert_eq!(listed(&app, &token, "search=CUST_7").await, ["Globex"]);
    let bad = app
        .api(
            Method::GET,
            "/api-keys?external_id=",
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "validation_failed");
    assert!(field_error(&bad, "external_id").is_some());
}

#[tokio::test]
async fn an_edit_replaces_or_clears_what_it_names_and_the_next_verification_sees_it() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let draft = json!({ "name": "k", "scopes": ["read"], "external_id": "cust_1", "meta": { "plan": "free" } });
    let created = try_create_key(&app, &token, draft).await;
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let secret = created.body["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(
        verified(&app, &secret).await["meta"],
        json!({ "plan": "free" })
    );

    let upgraded = edit_key(&app, &token, &id, json!({ "meta": { "plan": "pro" } })).await;
    assert_eq!(upgraded.status, StatusCode::OK, "{}", upgraded.body);
    assert_eq!(
        upgraded.body["data"]["external_id"], "cust_1",
        "left out, left alone"
    );
    assert_eq!(
        verified(&app, &secret).await["meta"],
        json!({ "plan": "pro" })
    );

    let renamed = edit_key(&app, &token, &id, json!({ "name": "renamed" })).await;
    assert_eq!(renamed.body["data"]["meta"], json!({ "plan": "pro" }));
    let cleared = edit_key(
        &app,
        &token,
        &id,
        json!({ "meta": null, "external_id": null }),
    )
    .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    let answer = verified(&app, &secret).await;
    assert_eq!(
        (&answer["meta"], &answer["external_id"]),
        (&Value::Null, &Value::Null)
    );
    let moved = edit_key(&app, &token, &id, json!({ "external_id": "cust_2" })).await;
    assert_eq!(moved.body["data"]["external_id"], "cust_2");
    assert_eq!(verified(&app, &secret).await["external_id"], "cust_2");
}

#[tokio::test]
async fn bad_meta_or_external_ids_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, _) = key_with(&app, &token, &["read"]).await;
    let deep = json!({ "a": { "b": { "c": { "d": { "e": { "f": 1 } } } } } });
    let cases = [
        ("meta", json!([1, 2])),
        ("meta", json!("pro")),
        ("meta", json!({ "k": "x".repeat(4 * 1024) })),
        ("meta", deep),
        ("external_id", json!("")),
        ("external_id", json!("x".repeat(257))),
        ("external_id", json!("two\nlines")),
        ("external_id", json!("two\u{2028}lines")),
        ("external_id", json!("soft\u{00AD}hyphen")),
        ("external_id", json!("private\u{E000}use")),
        ("external_id", json!(" padded")),
    ];
    for (field, value) in cases {
        let mut draft = json!({ "name": "k", "scopes": ["read"] });
        draft[field] = value.clone();
        let refused = try_create_key(&app, &token, draft).await;
        assert_problem(&refused, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(
            field_error(&refused, field).is_some(),
            "{value}: {}",
            refused.body
        );
        let refused = edit_key(&app, &token, &id, json!({ field: value })).await;
        assert_problem(&refused, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(
            field_error(&refused, field).is_some(),
            "{value}: {}",
            refused.body
        );
    }
    let five_levels = json!({ "a": { "b": { "c": { "d": [1] } } } });
    let fits = edit_key(&app, &token, &id, json!({ "meta": five_levels })).await;
    assert_eq!(fits.status, StatusCode::OK, "{}", fits.body);
}

/// A NUL in a search would reach PostgreSQL, whose text cannot hold one:
/// refused first, the same on both backends.
#[tokio::test]
async fn a_search_or_filter_with_control_characters_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    for (field, query) in [
        ("search", "search=a%00b"),
        ("search", "search=a%0Ab"),
        ("external_id", "external_id=a%00b"),
    ] {
        let refused = app
            .api(
                Method::GET,
                &format!("/api-keys?{query}"),
                Auth::Bearer(&token),
                None,
            )
            .await;
        assert_problem(&refused, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(
            field_error(&refused, field).is_some(),
            "{query}: {}",
            refused.body
        );
    }
}

#[tokio::test]
async fn each_change_is_audited_with_meta_by_digest_once_it_is_long() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let draft = json!({ "name": "k", "scopes": ["read"], "external_id": "cust_1", "meta": { "plan": "free" } });
    let created = try_create_key(&app, &token, draft).await;
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let long = json!({ "notes": "confidential ".repeat(30) });
    edit_key(
        &app,
        &token,
        &id,
        json!({ "meta": long, "external_id": "cust_2" }),
    )
    .await;
    let events = app
        .api(Method::GET, "/audit-events", Auth::Bearer(&token), None)
        .await;
    let details: Vec<(&str, &str)> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["key_id"] == id.as_str())
        .map(|event| {
            (
                event["action"].as_str().unwrap(),
                event["detail"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let (updated, created) = (details[0], details[1]);
    assert_eq!(
        created,
        (
            "key.created",
            r#"external_id: cust_1; meta: {"plan":"free"}"#
        )
    );
    assert_eq!(updated.0, "key.updated");
    assert!(
        updated
            .1
            .starts_with("external_id: cust_1 → cust_2; meta: sha256:"),
        "{}",
        updated.1
    );
    assert!(!updated.1.contains("confidential"), "{}", updated.1);
}

#[tokio::test]
async fn the_dashboard_sets_them_through_its_own_door_with_the_same_rules() {
    let app = TestApp::spawn().await;
    app.signed_up(&unique_email()).await;
    let draft = json!({ "draft": { "name": "k", "scopes": ["read"], "external_id": "cust_9", "meta": { "tier": 2 } } });
    let (status, issued) = app.call("create_api_key", draft).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let id = issued["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(issued["key"]["external_id"], "cust_9");
    let changes = json!({ "id": id, "changes": { "meta": [1] } });
    let (status, refused) = app.call("update_api_key", changes).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused.to_string().contains("meta must be a JSON object"),
        "{refused}"
    );
    let changes = json!({ "id": id, "changes": { "meta": null, "external_id": "cust_10" } });
    let (status, key) = app.call("update_api_key", changes).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    assert_eq!(
        (&key["meta"], &key["external_id"]),
        (&Value::Null, &json!("cust_10"))
    );
}
