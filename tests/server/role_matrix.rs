//! The role catalogue on both doors: one table names, for each operation,
//! its REST call and the server function the dashboard uses for it, and what
//! each role gets. Both doors must answer alike, and a member of another
//! account must see nothing of this one through either.

use crate::{helpers::*, teams::*};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// What a cell of the table expects.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Allowed,
    /// 403 `insufficient_role` naming this role.
    Needs(&'static str),
}
use Expect::{Allowed, Needs};

/// One operation: whether the REST API has it, the server function that
/// does it for the dashboard (if one does), and what the owner, admin,
/// developer and viewer get.
struct Row {
    operation: &'static str,
    rest: bool,
    server_function: Option<&'static str>,
    expect: [Expect; 4],
}

const fn row(
    operation: &'static str,
    rest: bool,
    server_function: Option<&'static str>,
    expect: [Expect; 4],
) -> Row {
    Row {
        operation,
        rest,
        server_function,
        expect,
    }
}

const EVERYONE: [Expect; 4] = [Allowed, Allowed, Allowed, Allowed];
const DEVELOPERS: [Expect; 4] = [Allowed, Allowed, Allowed, Needs("developer")];
const ADMINS: [Expect; 4] = [Allowed, Allowed, Needs("admin"), Needs("admin")];
const OWNERS: [Expect; 4] = [Allowed, Needs("owner"), Needs("admin"), Needs("admin")];

const TABLE: &[Row] = &[
    row("list keys", true, Some("list_api_keys"), EVERYONE),
    row("get key", true, Some("get_api_key"), EVERYONE),
    row("key page", false, Some("api_key_detail"), EVERYONE),
    row("key usage", true, None, EVERYONE),
    row("key counts", false, Some("key_counts"), EVERYONE),
    row(
        "overview activity",
        false,
        Some("overview_activity"),
        EVERYONE,
    ),
    row("audit log", true, Some("list_audit_events"), EVERYONE),
    row("create key", true, Some("create_api_key"), DEVELOPERS),
    row("update key", true, Some("update_api_key"), DEVELOPERS),
    row("rotate key", true, Some("rotate_api_key"), DEVELOPERS),
    row("revoke key", true, Some("revoke_api_key"), DEVELOPERS),
    row(
        "delete another's key",
        true,
        Some("delete_api_key"),
        [Allowed, Allowed, Needs("admin"), Needs("developer")],
    ),
    row("delete own key", true, Some("delete_api_key"), DEVELOPERS),
    row("list members", true, Some("load_team"), ADMINS),
    row("list invitations", true, Some("load_team"), ADMINS),
    row("invite developer", true, Some("invite_member"), ADMINS),
    row("invite admin", true, Some("invite_member"), OWNERS),
    row("invite owner", true, Some("invite_member"), OWNERS),
    row(
        "revoke developer invitation",
        true,
        Some("revoke_invitation"),
        ADMINS,
    ),
    row(
        "revoke admin invitation",
        true,
        Some("revoke_invitation"),
        OWNERS,
    ),
    row(
        "make developer viewer",
        true,
        Some("change_member_role"),
        ADMINS,
    ),
    row(
        "make viewer admin",
        true,
        Some("change_member_role"),
        OWNERS,
    ),
    row(
        "make admin developer",
        true,
        Some("change_member_role"),
        OWNERS,
    ),
    row("remove developer", true, Some("remove_member"), ADMINS),
    row("remove admin", true, Some("remove_member"), OWNERS),
];

/// Every operation for every role on both doors: allowed, or refused naming
/// the role needed. Each cell gets fresh things to act on.
#[tokio::test]
async fn every_operation_obeys_the_role_catalogue_on_both_doors() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let stranger = owner(&app).await;
    for row in TABLE {
        for ((role, person), expect) in team.by_role().into_iter().zip(row.expect) {
            let cell = format!("{role} {}", row.operation);
            if row.rest {
                let answer = rest_operation(&app, row.operation, &person.token, &team).await;
                check_rest(&answer, expect, &cell);
            }
            if let Some(function) = row.server_function {
                let body = server_function_input(&app, row.operation, person, &team).await;
                let (status, answer) = app.call_as(&person.browser, function, body).await;
                check_server_function(status, &answer, expect, &format!("{cell} ({function})"));
            }
        }
        // The stranger owns another account: anything naming this account's
        // things is not found, and lists show only their own.
        if row.rest {
            let answer = rest_operation(&app, row.operation, &stranger.token, &team).await;
            check_stranger(answer.status, &answer.body, &team, row.operation);
        }
        if let Some(function) = row.server_function {
            let body = server_function_input(&app, row.operation, &stranger, &team).await;
            let (status, answer) = app.call_as(&stranger.browser, function, body).await;
            check_stranger(status, &answer, &team, function);
        }
    }
}

fn check_rest(answer: &Answer, expect: Expect, cell: &str) {
    match expect {
        Allowed => assert!(
            answer.status.is_success(),
            "{cell}: {} {}",
            answer.status,
            answer.body
        ),
        Needs(needed) => {
            assert_problem(answer, StatusCode::FORBIDDEN, "insufficient_role");
            assert_eq!(
                answer.body["required_role"], needed,
                "{cell}: {}",
                answer.body
            );
        }
    }
}

fn check_server_function(status: StatusCode, answer: &Value, expect: Expect, cell: &str) {
    match expect {
        Allowed => assert_eq!(status, StatusCode::OK, "{cell}: {answer}"),
        Needs(needed) => {
            assert_eq!(status, StatusCode::FORBIDDEN, "{cell}: {answer}");
            assert_eq!(
                answer["InsufficientRole"]["needed"], needed,
                "{cell}: {answer}"
            );
        }
    }
}

fn check_stranger(status: StatusCode, answer: &Value, team: &Team, operation: &str) {
    let names_ours = answer.to_string().contains(&team.owner.email);
    assert!(!names_ours, "{operation} showed the stranger {answer}");
    assert!(
        status.is_success() || status == StatusCode::NOT_FOUND,
        "stranger {operation}: {status} {answer}"
    );
}

/// Performs `operation` as `token`, after setting up what it acts on with
/// the owner's token.
async fn rest_operation(app: &TestApp, operation: &str, token: &str, team: &Team) -> Answer {
    let owner = team.owner.token.as_str();
    let key = || key_with(app, owner, &["read"]);
    let call = |method: Method, path: String, body: Option<Value>| async move {
        app.api(method, &path, Auth::Bearer(token), body).await
    };
    match operation {
        "list keys" => call(Method::GET, "/api-keys".into(), None).await,
        "get key" => call(Method::GET, format!("/api-keys/{}", key().await.0), None).await,
        "key usage" => {
            call(
                Method::GET,
                format!("/api-keys/{}/usage", key().await.0),
                None,
            )
            .await
        }
        "audit log" => call(Method::GET, "/audit-events".into(), None).await,
        "create key" => {
            call(
                Method::POST,
                "/api-keys".into(),
                Some(json!({ "name": "made", "scopes": ["read"] })),
            )
            .await
        }
        "update key" => {
            call(
                Method::PATCH,
                format!("/api-keys/{}", key().await.0),
                Some(json!({ "name": "renamed" })),
            )
            .await
        }
        "rotate key" => {
            call(
                Method::POST,
                format!("/api-keys/{}/rotate", key().await.0),
                None,
            )
            .await
        }
        "revoke key" => {
            call(
                Method::POST,
                format!("/api-keys/{}/revoke", key().await.0),
                None,
            )
            .await
        }
        "delete another's key" => {
            call(Method::DELETE, format!("/api-keys/{}", key().await.0), None).await
        }
        "delete own key" => {
            // Made by the caller when they may make keys, else by the owner.
            let made = app
                .api(
                    Method::POST,
                    "/api-keys",
                    Auth::Bearer(token),
                    Some(json!({ "name": "mine", "scopes": ["read"] })),
                )
                .await;
            let id = match made.body["data"]["id"].as_str() {
                Some(id) => id.to_owned(),
                None => key().await.0,
            };
            call(Method::DELETE, format!("/api-keys/{id}"), None).await
        }
        "list members" => call(Method::GET, "/members".into(), None).await,
        "list invitations" => call(Method::GET, "/invitations".into(), None).await,
        "invite developer" | "invite admin" | "invite owner" => {
            let role = operation.trim_start_matches("invite ");
            call(
                Method::POST,
                "/invitations".into(),
                Some(json!({ "email": unique_email(), "role": role })),
            )
            .await
        }
        "revoke developer invitation" | "revoke admin invitation" => {
            let role = operation.split(' ').nth(1).unwrap();
            let id = invitation_id(app, owner, role).await;
            call(Method::DELETE, format!("/invitations/{id}"), None).await
        }
        "make developer viewer" | "make viewer admin" | "make admin developer" => {
            let mut words = operation.split(' ').skip(1);
            let (from, to) = (words.next().unwrap(), words.next().unwrap());
            let target = join(app, owner, from).await;
            call(
                Method::PATCH,
                format!("/members/{}", target.user_id),
                Some(json!({ "role": to })),
            )
            .await
        }
        "remove developer" | "remove admin" => {
            let role = operation.trim_start_matches("remove ");
            let target = join(app, owner, role).await;
            call(Method::DELETE, format!("/members/{}", target.user_id), None).await
        }
        other => panic!("no REST operation {other}"),
    }
}

/// The id of a new invitation as `role`.
async fn invitation_id(app: &TestApp, owner: &str, role: &str) -> String {
    let (email, _) = invite(app, owner, role).await;
    let listed = read(app, "/invitations", owner).await;
    listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The server function's input for `operation` as `person`, naming fresh
/// things of the team's account (made with the owner's token).
async fn server_function_input(
    app: &TestApp,
    operation: &str,
    person: &Person,
    team: &Team,
) -> Value {
    let owner = team.owner.token.as_str();
    let key = || async { key_with(app, owner, &["read"]).await.0 };
    match operation {
        "list keys" | "audit log" => json!({ "query": {} }),
        "key counts" | "overview activity" | "list members" | "list invitations" => json!({}),
        "get key" | "key page" | "revoke key" | "delete another's key" => {
            json!({ "id": key().await })
        }
        "update key" => json!({ "id": key().await, "changes": { "name": "renamed" } }),
        "rotate key" => json!({ "id": key().await, "grace_period_minutes": 0 }),
        "create key" => {
            json!({ "draft": { "name": "made", "scopes": ["read"], "expires_in_days": null, "ips": [] } })
        }
        "delete own key" => json!({ "id": own_key(app, &person.browser, owner).await }),
        "invite developer" | "invite admin" | "invite owner" => {
            let role = operation.trim_start_matches("invite ");
            json!({ "email": unique_email(), "role": role })
        }
        "revoke developer invitation" | "revoke admin invitation" => {
            let role = operation.split(' ').nth(1).unwrap();
            json!({ "id": invitation_id(app, owner, role).await })
        }
        "make developer viewer" | "make viewer admin" | "make admin developer" => {
            let mut words = operation.split(' ').skip(1);
            let (from, to) = (words.next().unwrap(), words.next().unwrap());
            let target = join(app, owner, from).await;
            json!({ "user_id": target.user_id, "role": to })
        }
        "remove developer" | "remove admin" => {
            let role = operation.trim_start_matches("remove ");
            let target = join(app, owner, role).await;
            json!({ "user_id": target.user_id })
        }
        other => panic!("no server function for {other}"),
    }
}

/// A key made by this browser's user when they may make keys, else by the
/// owner.
async fn own_key(app: &TestApp, browser: &Client, owner: &str) -> String {
    let draft = json!({ "draft": { "name": "mine", "scopes": ["read"], "expires_in_days": null, "ips": [] } });
    let (_, made) = app.call_as(browser, "create_api_key", draft).await;
    match made["key"]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => key_with(app, owner, &["read"]).await.0,
    }
}
