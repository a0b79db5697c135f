use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn signed_in_app() -> TestApp {
    let app = TestApp::spawn().await;
    app.signed_up(&unique_email()).await;
    app
}

async fn verify(app: &TestApp, key: &str) -> String {
    app.verdict(key, None).await
}

async fn list(app: &TestApp, query: Value) -> (StatusCode, Value) {
    app.call("list_api_keys", json!({ "query": query })).await
}

fn names(page: &Value) -> Vec<String> {
    page["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_created_key_is_shown_in_full_once_then_only_masked() {
    let app = signed_in_app().await;
    let (key, secret) = app.create_key("CI deploys", &["write", "read"]).await;
    assert!(
        secret.starts_with("ks_live_") && secret.len() == 46,
        "{secret}"
    );
    let masked = key["masked_key"].as_str().unwrap();
    assert_eq!(masked, format!("{}…{}", &secret[..14], &secret[42..]));
    assert!(key["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(key["scopes"], json!(["read", "write"]));
    assert_eq!(key["status"], "active");
    let expires = key["expires_at"].as_i64().unwrap() - key["created_at"].as_i64().unwrap();
    assert_eq!(expires, 90 * 86_400_000);

    let (status, page) = list(&app, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&page), ["CI deploys"]);
    assert_eq!(page["keys"][0]["masked_key"], masked);
    assert!(!page.to_string().contains(&secret[14..42]));
    let (status, one) = app.call("get_api_key", json!({ "id": key["id"] })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["masked_key"], masked);
    assert_eq!(verify(&app, &secret).await, "VALID");
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_created() {
    let app = signed_in_app().await;
    let (status, body) = app
        .call(
            "create_api_key",
            json!({ "draft": { "name": " ", "scopes": ["read", "root"], "expires_in_days": 400, "ips": ["10.0.0.1", "10.0.0.300"] } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let text = body.to_string();
    for expected in [
        "name",
        "\\\"root\\\"",
        "between 1 and 365",
        "\\\"10.0.0.300\\\"",
    ] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }
    let (status, _) = app
        .call("create_api_key", json!({ "draft": { "name": "x" } }))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a malformed body is a bad request"
    );
    let (_, page) = list(&app, json!({})).await;
    assert_eq!(names(&page).len(), 0);
}

#[tokio::test]
async fn a_key_that_never_expires_has_no_expiry() {
    let app = signed_in_app().await;
    let (status, body) = app
        .call(
            "create_api_key",
            json!({ "draft": { "name": "forever", "scopes": ["search"], "expires_in_days": null, "ips": ["192.0.2.0/24"] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"]["expires_at"], Value::Null);
    assert_eq!(body["key"]["ips"], json!(["192.0.2.0/24"]));
}

#[tokio::test]
async fn the_list_pages_newest_first_with_an_opaque_cursor() {
    let app = signed_in_app().await;
    for i in 0..27 {
        app.create_key(&format!("key {i:02}"), &["read"]).await;
    }
    let (status, first) = list(&app, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let first_names = names(&first);
    assert_eq!(first_names.len(), 25);
    assert_eq!(first_names[0], "key 26");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = list(&app, json!({ "cursor": cursor })).await;
    assert_eq!(names(&second), ["key 01", "key 00"]);
    assert_eq!(second["next_cursor"], Value::Null);

    let (_, small) = list(&app, json!({ "limit": 10 })).await;
    assert_eq!(names(&small).len(), 10);
    for bad in [
        json!({ "cursor": "not-a-cursor" }),
        json!({ "limit": 0 }),
        json!({ "limit": 101 }),
    ] {
        let (status, body) = list(&app, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn the_list_filters_by_status_and_searches_names() {
    let app = signed_in_app().await;
    let (revoked, _) = app.create_key("Old billing", &["read"]).await;
    app.create_key("Billing sync", &["read"]).await;
    app.create_key("50% off_campaign", &["read"]).await;
    let (status, _) = app
        .call("revoke_api_key", json!({ "id": revoked["id"] }))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, active) = list(&app, json!({ "status": "active" })).await;
    assert_eq!(names(&active), ["50% off_campaign", "Billing sync"]);
    let (_, gone) = list(&app, json!({ "status": "revoked" })).await;
    assert_eq!(names(&gone), ["Old billing"]);
    let (_, expired) = list(&app, json!({ "status": "expired" })).await;
    assert!(names(&expired).is_empty());
    let (_, found) = list(&app, json!({ "search": "BILLING" })).await;
    assert_eq!(names(&found), ["Billing sync", "Old billing"]);
    let (_, literal) = list(&app, json!({ "search": "0% o" })).await;
    assert_eq!(names(&literal), ["50% off_campaign"]);
    let (_, none) = list(&app, json!({ "search": "%" })).await;
    assert_eq!(names(&none), ["50% off_campaign"], "% matches only itself");
    let (status, _) = list(&app, json!({ "status": "lost" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_key_is_edited_but_never_its_secret() {
    let app = signed_in_app().await;
    let (key, secret) = app.create_key("Draft", &["read"]).await;
    let (status, edited) = app
        .call(
            "update_api_key",
            json!({ "id": key["id"], "changes": { "name": "  Production  ", "scopes": ["admin"], "ips": ["2001:db8::/32"] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["name"], "Production");
    assert_eq!(edited["scopes"], json!(["admin"]));
    assert_eq!(edited["ips"], json!(["2001:db8::/32"]));
    assert_eq!(edited["masked_key"], key["masked_key"]);
    assert!(edited["updated_by"].as_str().unwrap().starts_with("usr_"));
    assert!(edited["updated_by_email"].as_str().unwrap().contains('@'));

    let (status, only_name) = app
        .call(
            "update_api_key",
            json!({ "id": key["id"], "changes": { "name": "Prod" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        only_name["scopes"],
        json!(["admin"]),
        "unnamed fields are kept"
    );

    let (status, body) = app
        .call(
            "update_api_key",
            json!({ "id": key["id"], "changes": { "ips": ["ten.0.0.1"], "scopes": [] } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("ten.0.0.1"), "{body}");
    assert!(body.to_string().contains("at least one scope"), "{body}");
    let inside = app.verdict(&secret, Some("2001:db8::7")).await;
    assert_eq!(inside, "VALID", "the secret is unchanged");
    let outside = app.verdict(&secret, Some("192.0.2.1")).await;
    assert_eq!(outside, "IP_NOT_ALLOWED");
}

#[tokio::test]
async fn rotating_without_a_grace_period_stops_the_old_secret_at_once() {
    let app = signed_in_app().await;
    let (key, old) = app.create_key("Rotated", &["read"]).await;
    let (status, rotated) = app
        .call(
            "rotate_api_key",
            json!({ "id": key["id"], "grace_period_minutes": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(rotated["key"]["id"], key["id"]);
    assert_ne!(rotated["key"]["masked_key"], key["masked_key"]);
    assert_eq!(rotated["key"]["previous_secret_expires_at"], Value::Null);
    assert_eq!(verify(&app, &old).await, "NOT_FOUND");
    assert_eq!(verify(&app, new).await, "VALID");
}

#[tokio::test]
async fn during_a_grace_period_both_secrets_work_and_the_list_says_so() {
    let app = signed_in_app().await;
    let (key, old) = app.create_key("Graceful", &["read"]).await;
    let (status, rotated) = app
        .call(
            "rotate_api_key",
            json!({ "id": key["id"], "grace_period_minutes": 60 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap();
    assert_eq!(verify(&app, &old).await, "VALID");
    assert_eq!(verify(&app, new).await, "VALID");
    let (_, page) = list(&app, json!({})).await;
    let grace_end = page["keys"][0]["previous_secret_expires_at"]
        .as_i64()
        .unwrap();
    let updated = page["keys"][0]["updated_at"].as_i64().unwrap();
    assert_eq!(grace_end - updated, 60 * 60_000);

    for bad in [-1, 10_081] {
        let (status, _) = app
            .call(
                "rotate_api_key",
                json!({ "id": key["id"], "grace_period_minutes": bad }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _) = app.call("revoke_api_key", json!({ "id": key["id"] })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        verify(&app, &old).await,
        "REVOKED",
        "revoking ends the grace period too"
    );
}

#[tokio::test]
async fn a_revoked_key_stays_listed_refuses_to_verify_and_cannot_be_rotated() {
    let app = signed_in_app().await;
    let (key, secret) = app.create_key("Leaked", &["write"]).await;
    let (status, revoked) = app.call("revoke_api_key", json!({ "id": key["id"] })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_by"].as_str().unwrap().starts_with("usr_"));
    assert!(revoked["revoked_by_email"].as_str().unwrap().contains('@'));
    assert_eq!(verify(&app, &secret).await, "REVOKED");
    let (status, again) = app.call("revoke_api_key", json!({ "id": key["id"] })).await;
    assert_eq!(status, StatusCode::OK, "revoking twice is harmless");
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    let (status, body) = app
        .call(
            "rotate_api_key",
            json!({ "id": key["id"], "grace_period_minutes": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, page) = list(&app, json!({})).await;
    assert_eq!(page["keys"][0]["status"], "revoked");
}

#[tokio::test]
async fn a_deleted_key_is_gone_but_its_audit_events_remain() {
    let app = signed_in_app().await;
    let (key, secret) = app.create_key("Temporary", &["read"]).await;
    let (status, _) = app.call("delete_api_key", json!({ "id": key["id"] })).await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = list(&app, json!({})).await;
    assert!(names(&page).is_empty());
    let (status, _) = app.call("get_api_key", json!({ "id": key["id"] })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call("delete_api_key", json!({ "id": key["id"] })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(verify(&app, &secret).await, "NOT_FOUND");
    let (_, events) = app
        .call(
            "list_audit_events",
            json!({ "query": { "key_id": key["id"] } }),
        )
        .await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["key.deleted", "key.created"]);
}

#[tokio::test]
async fn another_account_cannot_see_or_touch_a_key() {
    let app = signed_in_app().await;
    let (key, secret) = app.create_key("Mine", &["admin"]).await;
    let intruder = app.second_user().await;
    let id = key["id"].clone();
    let (_, page) = app
        .call_as(&intruder, "list_api_keys", json!({ "query": {} }))
        .await;
    assert!(names(&page).is_empty());
    for (name, body) in [
        ("get_api_key", json!({ "id": id })),
        (
            "update_api_key",
            json!({ "id": id, "changes": { "name": "Theirs" } }),
        ),
        (
            "rotate_api_key",
            json!({ "id": id, "grace_period_minutes": 0 }),
        ),
        ("revoke_api_key", json!({ "id": id })),
        ("delete_api_key", json!({ "id": id })),
    ] {
        let (status, answer) = app.call_as(&intruder, name, body.clone()).await;
        let (missing_status, missing) = app
            .call_as(&intruder, name, {
                let mut b = body;
                b["id"] = json!("key_00000000000000000000000000000000");
                b
            })
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        assert_eq!(
            (status, answer),
            (missing_status, missing),
            "{name}: same as a missing id"
        );
    }
    let (_, events) = app
        .call_as(&intruder, "list_audit_events", json!({ "query": {} }))
        .await;
    assert!(!events.to_string().contains(id.as_str().unwrap()));
    let (status, mine) = app.call("get_api_key", json!({ "id": id })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["name"], "Mine");
    assert_eq!(mine["status"], "active");
    assert_eq!(verify(&app, &secret).await, "VALID");
}

#[tokio::test]
async fn key_operations_need_a_signed_in_user() {
    let app = TestApp::spawn().await;
    let response = app.rpc("key_counts", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for name in ["list_api_keys", "create_api_key", "list_audit_events"] {
        let response = app
            .client
            .post(app.url(&format!("/rpc/{name}")))
            .json(&json!({ "query": {}, "draft": { "name": "x", "scopes": ["read"], "expires_in_days": null, "ips": [] } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
}

#[tokio::test]
async fn overview_counts_active_expiring_and_recently_used_keys() {
    // Uses are counted in memory and written every second here.
    let app = TestApp::spawn_with(&[("KEYSMITH_USAGE_FLUSH_SECONDS", "1")]).await;
    app.signed_up(&unique_email()).await;
    let (_, used) = app.create_key("Used", &["read"]).await;
    app.create_key("Unused", &["read"]).await;
    let (status, _) = app
        .call(
            "create_api_key",
            json!({ "draft": { "name": "Soon", "scopes": ["read"], "expires_in_days": 7, "ips": [] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (revoked, _) = app.create_key("Revoked", &["read"]).await;
    app.call("revoke_api_key", json!({ "id": revoked["id"] }))
        .await;
    for _ in 0..2 {
        assert_eq!(verify(&app, &used).await, "VALID");
    }

    let expected =
        json!({ "active": 3, "expiring_soon": 1, "used_last_day": 1, "requests_today": 2 });
    eventually(
        Duration::from_secs(10),
        "the overview counts both uses",
        || async {
            let (status, counts) = app.call("key_counts", json!({})).await;
            assert_eq!(status, StatusCode::OK);
            counts == expected
        },
    )
    .await;
}

#[tokio::test]
async fn full_keys_never_reach_the_database_or_the_logs() {
    let app = signed_in_app().await;
    let (key, created) = app.create_key("Sensitive", &["read"]).await;
    let (_, rotated) = app
        .call(
            "rotate_api_key",
            json!({ "id": key["id"], "grace_period_minutes": 30 }),
        )
        .await;
    let rotated = rotated["secret"].as_str().unwrap().to_owned();
    let logs = app.logs();
    let bytes = app.database_bytes();
    let _dir = app.stop().await;
    for secret in [&created, &rotated] {
        // The random part beyond the displayed prefix must appear nowhere.
        let hidden = &secret[14..42];
        assert!(
            !contains(&bytes, hidden.as_bytes()),
            "a secret is in the database"
        );
        assert!(!logs.contains(hidden), "a secret is in the logs");
    }
}

#[tokio::test]
async fn a_key_cannot_be_created_from_another_site_even_with_the_session_cookie() {
    let app = signed_in_app().await;
    let response = app
        .client
        .post(app.url("/rpc/create_api_key"))
        .header(reqwest::header::ORIGIN, "https://evil.example")
        .json(&json!({ "draft": { "name": "csrf", "scopes": ["admin"], "expires_in_days": null, "ips": [] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, page) = list(&app, json!({})).await;
    assert!(names(&page).is_empty());
}

#[tokio::test]
async fn the_keys_page_lists_keys_masked_and_escaped_in_its_server_html() {
    let app = signed_in_app().await;
    let (key, secret) = app
        .create_key("<img src=x onerror=alert(1)>", &["read"])
        .await;
    let response = app.get("/dashboard/api-keys").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains(key["masked_key"].as_str().unwrap()));
    assert!(!html.contains(&secret[14..]));
}

#[tokio::test]
async fn a_keys_own_page_shows_its_settings_and_usage_chart_in_its_server_html() {
    let app = signed_in_app().await;
    let (key, secret) = app.create_key("charted", &["read"]).await;
    let id = key["id"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(app.verdict(&secret, None).await, "VALID");
    }
    let page = format!("/dashboard/api-keys/{id}");
    // Usage is written once a second (KEYSMITH_USAGE_FLUSH_SECONDS).
    eventually(
        Duration::from_secs(10),
        "the page counts the uses",
        || async {
            let html = app.get(&page).await.text().await.unwrap();
            html.contains("3 verifications in the last 30 days: 3 valid, 0 refused.")
        },
    )
    .await;
    // Without the hydration markers (`<!>`) between the pieces of text.
    let html = app
        .get(&page)
        .await
        .text()
        .await
        .unwrap()
        .replace("<!>", "");
    assert!(html.contains("<h1>charted</h1>"), "{html}");
    assert!(html.contains(key["masked_key"].as_str().unwrap()));
    assert!(
        !html.contains(&secret[14..]),
        "the secret is never on the page"
    );
    assert!(html.contains(r#"role="img""#) && html.contains("Requests per day, last 30 days"));
    assert_eq!(
        html.matches(r#"<g class="chart-day">"#).count(),
        30,
        "a bar per day"
    );
    assert!(
        html.contains(": 3 valid, 0 refused</title>"),
        "hovering today's bar says so"
    );
    assert!(
        html.contains("Show the numbers"),
        "the numbers as a table too"
    );
    assert!(html.contains("Key created"), "its audit events: {html}");
    // The list links each key to its page.
    let list = app.get("/dashboard/api-keys").await.text().await.unwrap();
    assert!(list.contains(&format!(r#"href="/dashboard/api-keys/{id}""#)));

    // Another account's key, or no such key, is a clear page, not a 500.
    let stranger = app.second_user().await;
    for path in [
        page.as_str(),
        "/dashboard/api-keys/key_nonexistent",
        "/dashboard/api-keys/%00",
    ] {
        let response = stranger.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("Key not found") && html.contains("Not found."),
            "{path}: {html}"
        );
        assert!(!html.contains("charted"), "{path}");
    }
}

#[tokio::test]
async fn the_overview_charts_the_accounts_requests_and_lists_most_used_and_expiring_keys() {
    let app = signed_in_app().await;
    let (busy, busy_secret) = app.create_key("Busy", &["read"]).await;
    let (_, quiet_secret) = app.create_key("Quiet", &["read"]).await;
    let (_, _) = app.create_key("Unused", &["read"]).await;
    for _ in 0..3 {
        assert_eq!(app.verdict(&busy_secret, None).await, "VALID");
    }
    assert_eq!(app.verdict(&quiet_secret, None).await, "VALID");
    // Usage is written once a second (KEYSMITH_USAGE_FLUSH_SECONDS).
    eventually(
        Duration::from_secs(10),
        "the overview counts the uses",
        || async {
            let html = app.get("/dashboard").await.text().await.unwrap();
            html.contains("4 verifications in the last 30 days: 4 valid, 0 refused.")
        },
    )
    .await;
    let html = app
        .get("/dashboard")
        .await
        .text()
        .await
        .unwrap()
        .replace("<!>", "");
    assert!(html.contains("Verified requests per day, all keys, last 30 days"));
    assert_eq!(html.matches(r#"<g class="chart-day">"#).count(), 30);
    let most_used =
        &html[html.find("Most used keys").unwrap()..html.find("Expiring soonest").unwrap()];
    let (busy_at, quiet_at) = (
        most_used.find(">Busy<").unwrap(),
        most_used.find(">Quiet<").unwrap(),
    );
    assert!(busy_at < quiet_at, "most used first: {most_used}");
    assert!(most_used.contains("3 valid, 0 refused"), "{most_used}");
    assert!(
        !most_used.contains("Unused"),
        "a key never used is not listed"
    );
    assert!(most_used.contains(&format!(
        r#"href="/dashboard/api-keys/{}""#,
        busy["id"].as_str().unwrap()
    )));
    // Every key here expires in 90 days: all three are listed.
    let expiring = &html[html.find("Expiring soonest").unwrap()..];
    for name in ["Busy", "Quiet", "Unused"] {
        assert!(
            expiring.contains(&format!(">{name}<")),
            "{name}: {expiring}"
        );
    }
}
