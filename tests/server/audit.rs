use crate::{
    helpers::*,
    teams::{roomy_app, Team},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn events(app: &TestApp, query: Value) -> Value {
    let (status, page) = app
        .call("list_audit_events", json!({ "query": query }))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

fn actions(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_sign_in_event_and_key_change_is_recorded_newest_first() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.signed_up(&email).await;
    assert_success(&app.sign_out().await);
    app.sign_in(&email, "not the password at all").await;
    assert_success(&app.sign_in(&email, PASSWORD).await);
    let (key, secret) = app.create_key("Audited", &["read"]).await;
    let id = key["id"].clone();
    app.call(
        "update_api_key",
        json!({ "id": id, "changes": { "name": "Audited 2" } }),
    )
    .await;
    let (_, rotated) = app
        .call(
            "rotate_api_key",
            json!({ "id": id, "grace_period_minutes": 0 }),
        )
        .await;
    app.call("revoke_api_key", json!({ "id": id })).await;
    app.call("delete_api_key", json!({ "id": id })).await;

    let page = events(&app, json!({})).await;
    assert_eq!(
        actions(&page),
        [
            "key.deleted",
            "key.revoked",
            "key.rotated",
            "key.updated",
            "key.created",
            "user.signed_in",
            "user.sign_in_failed",
            "user.signed_out",
            "user.signed_up",
        ]
    );
    let newest = &page["events"][0];
    assert_eq!(newest["actor"], email.as_str());
    assert_eq!(newest["key_id"], id);
    assert_eq!(newest["key_name"], "Audited 2");
    assert_eq!(newest["client_ip"], "127.0.0.1");
    assert!(newest["occurred_at"].as_i64().unwrap() > 0);
    let text = page.to_string();
    assert!(!text.contains(&secret[14..42]));
    assert!(!text.contains(&rotated["secret"].as_str().unwrap()[14..42]));

    let only_key = events(&app, json!({ "key_id": id })).await;
    assert_eq!(actions(&only_key).len(), 5);
}

#[tokio::test]
async fn the_audit_log_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    app.signed_up(&unique_email()).await;
    for i in 0..4 {
        app.create_key(&format!("k{i}"), &["read"]).await;
    }
    let first = events(&app, json!({ "limit": 3 })).await;
    assert_eq!(actions(&first).len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = events(&app, json!({ "limit": 3, "cursor": cursor })).await;
    assert_eq!(actions(&second), ["key.created", "user.signed_up"]);
    assert_eq!(second["next_cursor"], Value::Null);
    let (status, _) = app
        .call("list_audit_events", json!({ "query": { "cursor": "zzz" } }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_failed_sign_in_for_an_unknown_email_is_in_no_account_log() {
    let app = TestApp::spawn().await;
    app.sign_in("nobody@example.com", "whatever it may be")
        .await;
    app.signed_up(&unique_email()).await;
    assert_eq!(actions(&events(&app, json!({})).await), ["user.signed_up"]);
}

/// Viewers and developers see key events without clients, on both doors;
/// owners and admins see everything.
#[tokio::test]
async fn only_owners_and_admins_see_team_events_and_client_details() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let (status, _) = app
        .call_as(
            &team.developer.browser,
            "create_api_key",
            json!({ "draft": { "name": "deploy", "scopes": ["read"], "expires_in_days": null, "ips": [] } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (role, person) in [
        ("owner", &team.owner),
        ("admin", &team.admin),
        ("developer", &team.developer),
        ("viewer", &team.viewer),
    ] {
        let rest = app
            .api(
                reqwest::Method::GET,
                "/audit-events?limit=100",
                Auth::Bearer(&person.token),
                None,
            )
            .await;
        assert_eq!(rest.status, StatusCode::OK, "{role}: {}", rest.body);
        let (status, rpc) = app
            .call_as(&person.browser, "list_audit_events", json!({ "query": {} }))
            .await;
        assert_eq!(status, StatusCode::OK, "{role}: {rpc}");
        for (door, events) in [("rest", &rest.body["data"]), ("rpc", &rpc["events"])] {
            let events = events.as_array().unwrap();
            let everything = matches!(role, "owner" | "admin");
            let team_events = events
                .iter()
                .filter(|e| !e["action"].as_str().unwrap().starts_with("key."))
                .count();
            let with_clients = events
                .iter()
                .filter(|e| !e["client_ip"].is_null() || !e["user_agent"].is_null())
                .count();
            assert!(
                events.iter().any(|e| e["action"] == "key.created"),
                "{role} {door}"
            );
            if everything {
                assert!(team_events > 0, "{role} {door} sees sign-ins and joins");
                assert!(with_clients > 0, "{role} {door} sees clients");
            } else {
                assert_eq!(team_events, 0, "{role} {door}: {events:?}");
                assert_eq!(with_clients, 0, "{role} {door}: {events:?}");
                let text = serde_json::to_string(events).unwrap();
                for email in [&team.admin.email, &team.viewer.email] {
                    assert!(!text.contains(email.as_str()), "{role} {door} sees {email}");
                }
            }
        }
    }
}
