//! Members: an owner always remains, a removed or demoted member is
//! signed out at once, keys name who made them, several accounts.

use super::*;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_account_always_keeps_an_owner() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let owner = &team.owner;
    let demote_self = app
        .api(
            Method::PATCH,
            &format!("/members/{}", owner.user_id),
            Auth::Bearer(&owner.token),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_problem(&demote_self, StatusCode::CONFLICT, "conflict");
    assert!(demote_self.body["detail"]
        .as_str()
        .unwrap()
        .contains("at least one owner"));
    let leave = app
        .api(
            Method::DELETE,
            &format!("/members/{}", owner.user_id),
            Auth::Bearer(&owner.token),
            None,
        )
        .await;
    assert_problem(&leave, StatusCode::CONFLICT, "conflict");

    // Two owners demoting each other at the same moment: one wins, and an
    // owner remains.
    let second = join(&app, &owner.token, "owner").await;
    let demote = |token: String, target: String| {
        let app = &app;
        async move {
            app.api(
                Method::PATCH,
                &format!("/members/{target}"),
                Auth::Bearer(&token),
                Some(json!({ "role": "developer" })),
            )
            .await
        }
    };
    let (a, b) = tokio::join!(
        demote(owner.token.clone(), second.user_id.clone()),
        demote(second.token.clone(), owner.user_id.clone())
    );
    let statuses = [a.status, b.status];
    assert_eq!(
        statuses.iter().filter(|s| s.is_success()).count(),
        1,
        "{statuses:?} {} {}",
        a.body,
        b.body
    );
    let fresh = token_for(&app, &owner.email, Some(&team.account_id)).await;
    let token = if a.status.is_success() {
        fresh
    } else {
        token_for(&app, &second.email, Some(&team.account_id)).await
    };
    let members = read(&app, "/members", &token).await;
    let owners = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1, "{}", members.body);
}

#[tokio::test]
async fn a_removed_or_demoted_member_is_signed_out_of_the_account_at_once() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let (developer, viewer) = (&team.developer, &team.viewer);
    let (status, _) = app
        .call_as(&developer.browser, "list_api_keys", json!({ "query": {} }))
        .await;
    assert_eq!(status, StatusCode::OK);

    remove(&app, &team.admin.token, &developer.user_id).await;
    let by_token = read(&app, "/api-keys", &developer.token).await;
    assert_problem(&by_token, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, _) = app
        .call_as(&developer.browser, "list_api_keys", json!({ "query": {} }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let page = developer
        .browser
        .get(app.url("/dashboard/api-keys"))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_redirection(), "back to the sign-in page");
    // Signing in again finds no account to enter.
    let again = ask_token(&app, &developer.email, None).await;
    assert_problem(&again, StatusCode::FORBIDDEN, "forbidden");

    // A new role ends the old credentials too; new ones carry the new role.
    let changed = app
        .api(
            Method::PATCH,
            &format!("/members/{}", viewer.user_id),
            Auth::Bearer(&team.owner.token),
            Some(json!({ "role": "developer" })),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["data"]["role"], "developer");
    let old = read(&app, "/api-keys", &viewer.token).await;
    assert_problem(&old, StatusCode::UNAUTHORIZED, "unauthenticated");
    // A dashboard page is the first to meet the ended session: it is ended
    // before the page streams, and the answer is the way to sign in.
    let page = viewer
        .browser
        .get(app.url("/dashboard/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers()["location"],
        "/login?next=/dashboard/api-keys"
    );
    let (status, _) = app
        .call_as(&viewer.browser, "list_api_keys", json!({ "query": {} }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let fresh = token_for(&app, &viewer.email, None).await;
    assert_eq!(me(&app, &fresh).await["user"]["role"], "developer");

    let events = read(&app, "/audit-events", &team.owner.token).await;
    let actions: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "member.invited",
        "member.joined",
        "member.removed",
        "member.role_changed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let change = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.role_changed")
        .unwrap();
    assert_eq!(change["member"], viewer.email.as_str());
    assert_eq!(change["detail"], "viewer → developer");
    assert_eq!(change["actor"], team.owner.email.as_str());
}

#[tokio::test]
async fn keys_name_who_made_them_and_a_removed_member_as_removed() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let (id, _) = key_with(&app, &team.developer.token, &["read"]).await;
    let key = read(&app, &format!("/api-keys/{id}"), &team.owner.token).await;
    assert_eq!(
        key.body["data"]["created_by"],
        team.developer.user_id.as_str()
    );
    assert_eq!(
        key.body["data"]["updated_by"],
        team.developer.user_id.as_str()
    );
    assert_eq!(
        key.body["data"]["created_by_email"],
        team.developer.email.as_str()
    );

    remove(&app, &team.owner.token, &team.developer.user_id).await;
    let key = read(&app, &format!("/api-keys/{id}"), &team.owner.token).await;
    assert_eq!(
        key.body["data"]["created_by"],
        team.developer.user_id.as_str()
    );
    assert_eq!(key.body["data"]["created_by_email"], Value::Null);
    let page = team
        .owner
        .browser
        .get(app.url("/dashboard/api-keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("removed user"), "{page}");
    assert!(!page.contains(&team.developer.email));
}

#[tokio::test]
async fn a_member_of_several_accounts_switches_between_them() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let (email, link) = invite(&app, &team.owner.token, "viewer").await;
    let person = signed_up_as(&app, &email).await;
    let own_account = me(&app, &person.token).await["account_id"].clone();
    accept_in_browser(&app, &person, &link).await;

    // Accepting entered the team's account.
    let summary = |browser: Client| {
        let app = &app;
        async move {
            let (status, body) = app.call_as(&browser, "current_user", json!({})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let now = summary(person.browser.clone()).await;
    assert_eq!(now["account_id"], team.account_id.as_str());
    assert_eq!(now["role"], "viewer");
    let accounts: Vec<&str> = now["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        accounts,
        [own_account.as_str().unwrap(), team.account_id.as_str()]
    );

    let switched = person
        .browser
        .post(app.url("/rpc/switch_account"))
        .form(&[("account_id", own_account.as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_success(&switched);
    let now = summary(person.browser.clone()).await;
    assert_eq!(now["account_id"], own_account);
    assert_eq!(now["role"], "owner");

    let stranger = owner(&app).await;
    let stranger_account = me(&app, &stranger.token).await["account_id"].clone();
    let refused = person
        .browser
        .post(app.url("/rpc/switch_account"))
        .form(&[("account_id", stranger_account.as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let token = app
        .api(
            Method::POST,
            "/auth/token",
            Auth::None,
            Some(json!({ "email": email, "password": PASSWORD, "account_id": stranger_account })),
        )
        .await;
    assert_problem(&token, StatusCode::FORBIDDEN, "forbidden");

    // Text that is no account id: refused like another account on the
    // dashboard; a token request names the field, before the password is
    // checked, as it does for a malformed email.
    for bad in ["", "acc_", "usr_0193abc", "acc_../x", &"a".repeat(5000)] {
        let refused = person
            .browser
            .post(app.url("/rpc/switch_account"))
            .form(&[("account_id", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{bad:.20}");
        let token = app
            .api(
                Method::POST,
                "/auth/token",
                Auth::None,
                Some(json!({ "email": email, "password": "wrong", "account_id": bad })),
            )
            .await;
        assert_problem(&token, StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(
            token.body["errors"][0]["field"], "account_id",
            "{bad:.20}: {}",
            token.body
        );
    }
}
