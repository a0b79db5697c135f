//! Invitations: made once, shown once, accepted once by the invited email,
//! refused clearly, bounded under concurrency.

use super::*;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_invitation_link_is_shown_once_and_only_its_digest_is_kept() {
    let app = roomy_app().await;
    let owner = owner(&app).await;
    let (email, link) = invite(&app, &owner.token, "developer").await;
    assert_eq!(link.len(), 64, "256 bits as hex");

    let listed = read(&app, "/invitations", &owner.token).await;
    assert_eq!(listed.status, StatusCode::OK);
    let invitations = listed.body["data"].as_array().unwrap();
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0]["email"], email.as_str());
    assert_eq!(invitations[0]["role"], "developer");
    assert_eq!(invitations[0]["invited_by"], owner.email.as_str());
    let week_ms = 7 * 24 * 3600 * 1000;
    let lifetime = invitations[0]["expires_at"].as_i64().unwrap()
        - invitations[0]["created_at"].as_i64().unwrap();
    assert_eq!(lifetime, week_ms);
    assert!(!listed.body.to_string().contains(&link));
    if postgres_server().is_none() {
        assert!(!contains(&app.database_bytes(), link.as_bytes()));
    }
    assert!(!app.logs().contains(&link), "the link is not logged");
}

#[tokio::test]
async fn an_invitation_is_accepted_once_by_the_invited_email() {
    let app = roomy_app().await;
    let owner = owner(&app).await;
    let (email, link) = invite(&app, &owner.token, "viewer").await;
    let accept = |token: String| {
        let app = &app;
        let link = link.clone();
        async move {
            app.api(
                Method::POST,
                "/invitations/accept",
                Auth::Bearer(&token),
                Some(json!({ "token": link })),
            )
            .await
        }
    };

    // Someone else holding the link cannot use it.
    let stranger = owner_of_new_account(&app).await;
    let wrong = accept(stranger.token.clone()).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert!(code(&wrong) == "forbidden");
    assert!(wrong.body["detail"].as_str().unwrap().contains(&email));

    // The invited email, signed up on its own first, accepts.
    let invited = signed_up_as(&app, &email).await;
    let joined = accept(invited.token.clone()).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let account_id = me(&app, &owner.token).await["account_id"].clone();
    assert_eq!(joined.body["data"]["account_id"], account_id);
    assert_eq!(joined.body["data"]["role"], "viewer");

    let again = accept(invited.token.clone()).await;
    assert_problem(&again, StatusCode::CONFLICT, "conflict");
    assert!(again.body["detail"].as_str().unwrap().contains("used"));

    // Their first account is still their own; the token for the other
    // account carries the role they were given.
    let theirs = me(&app, &invited.token).await;
    assert_ne!(theirs["account_id"], account_id);
    let team_token = token_for(&app, &email, account_id.as_str()).await;
    let in_team = me(&app, &team_token).await;
    assert_eq!(in_team["account_id"], account_id);
    assert_eq!(in_team["user"]["role"], "viewer");

    let members = read(&app, "/members", &owner.token).await;
    let roles: Vec<(String, String)> = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            (owner.email.clone(), "owner".into()),
            (email, "viewer".into())
        ]
    );
    let pending = read(&app, "/invitations", &owner.token).await;
    assert_eq!(pending.body["data"], json!([]));
}

#[tokio::test]
async fn revoked_expired_and_unknown_links_answer_clearly() {
    let app = roomy_app().await;
    let owner = owner(&app).await;

    let (email, revoked_link) = invite(&app, &owner.token, "developer").await;
    let listed = read(&app, "/invitations", &owner.token).await;
    let id = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let revoked = app
            .api(
                Method::DELETE,
                &format!("/invitations/{id}"),
                Auth::Bearer(&owner.token),
                None,
            )
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    }
    let (expired_email, expired_link) = invite(&app, &owner.token, "developer").await;
    run_sql(
        &app.database_url(),
        &format!("UPDATE invitations SET expires_at = 0 WHERE email = '{expired_email}'"),
    )
    .await;

    for (link, page_text, detail) in [
        (revoked_link.as_str(), "revoked", "revoked"),
        (expired_link.as_str(), "expired", "expired"),
    ] {
        let page = app.get(&format!("/invite/{link}")).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains(page_text), "{html}");
        let response = app
            .new_browser()
            .post(app.url("/rpc/sign_up_invited"))
            .form(&[("token", link), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert!(response.text().await.unwrap().contains(detail));
    }
    // Neither became a user.
    let signed_in = app.sign_in(&email, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::UNAUTHORIZED);

    for link in ["0".repeat(64), "not-a-token".into(), "%00".into()] {
        let page = app.get(&format!("/invite/{link}")).await;
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{link}");
        let html = page.text().await.unwrap();
        assert!(html.contains("not valid"), "{html}");
        let accepted = app
            .api(
                Method::POST,
                "/invitations/accept",
                Auth::Bearer(&owner.token),
                Some(json!({ "token": link })),
            )
            .await;
        assert_problem(&accepted, StatusCode::NOT_FOUND, "not_found");
    }
    assert!(!app.logs().contains("panicked"));
}

#[tokio::test]
async fn another_accounts_invitations_and_members_are_out_of_reach() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let stranger = owner(&app).await;
    invite(&app, &team.owner.token, "viewer").await;
    let listed = read(&app, "/invitations", &team.owner.token).await;
    let id = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    let target = &team.developer.user_id;
    for (method, path, body) in [
        (Method::DELETE, format!("/invitations/{id}"), None),
        (
            Method::PATCH,
            format!("/members/{target}"),
            Some(json!({ "role": "viewer" })),
        ),
        (Method::DELETE, format!("/members/{target}"), None),
    ] {
        let answer = app
            .api(method, &path, Auth::Bearer(&stranger.token), body)
            .await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let theirs = read(&app, "/members", &stranger.token).await;
    assert_eq!(theirs.body["data"].as_array().unwrap().len(), 1);
    // Still there.
    let ours = read(&app, "/invitations", &team.owner.token).await;
    assert_eq!(ours.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_invitations_get_clear_errors() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let post = |body: Value| {
        app.api(
            Method::POST,
            "/invitations",
            Auth::Bearer(&team.owner.token),
            Some(body),
        )
    };
    let bad = post(json!({ "email": "nope", "role": "emperor" })).await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "validation_failed");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "role"]);
    let member = post(json!({ "email": team.viewer.email, "role": "viewer" })).await;
    assert_problem(&member, StatusCode::CONFLICT, "conflict");
    let email = unique_email();
    let first = post(json!({ "email": email, "role": "viewer" })).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let twice = post(json!({ "email": email, "role": "viewer" })).await;
    assert_problem(&twice, StatusCode::CONFLICT, "conflict");
    let missing = post(json!({ "email": unique_email() })).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let key = key_with(&app, &team.owner.token, &["admin"]).await.1;
    let by_key = app
        .api(Method::GET, "/members", Auth::Key(&key), None)
        .await;
    assert_problem(&by_key, StatusCode::FORBIDDEN, "insufficient_scope");
}

/// The cap on pending invitations holds when they all arrive at once, and
/// one email is invited once however many ask together.
#[tokio::test]
async fn an_account_holds_at_most_100_pending_invitations_under_concurrency() {
    let app = roomy_app().await;
    let owner = owner_of_new_account(&app).await;
    let invite = |email: String| {
        let (app, token) = (&app, owner.token.clone());
        async move {
            app.api(
                Method::POST,
                "/invitations",
                Auth::Bearer(&token),
                Some(json!({ "email": email, "role": "viewer" })),
            )
            .await
        }
    };
    let same = unique_email();
    let twice = futures::future::join_all((0..5).map(|_| invite(same.clone()))).await;
    assert_eq!(
        passed_or_conflict(&twice, StatusCode::CREATED, ""),
        1,
        "one invitation per email"
    );

    let answers = futures::future::join_all((0..110).map(|_| invite(unique_email()))).await;
    assert_eq!(
        passed_or_conflict(&answers, StatusCode::CREATED, "100 pending invitations"),
        99,
        "100 pending in all, the first included"
    );
    let pending = read(&app, "/invitations", &owner.token).await;
    assert_eq!(pending.body["data"].as_array().unwrap().len(), 100);
}

/// Accepting invitations at the same moment cannot take an account past its
/// members, nor a user past their accounts.
#[tokio::test]
async fn the_membership_limits_hold_under_concurrency() {
    let app = TestApp::spawn_with(&[
        ("KEYSMITH_SIGNUP_MAX_PER_HOUR", "10000"),
        ("KEYSMITH_MAX_MEMBERS_PER_ACCOUNT", "3"),
        ("KEYSMITH_MAX_ACCOUNTS_PER_USER", "2"),
    ])
    .await;

    // Four invitees for an account with room for two more.
    let owner = owner(&app).await;
    let mut invitees = Vec::new();
    for _ in 0..4 {
        let (email, link) = invite(&app, &owner.token, "viewer").await;
        invitees.push((signed_up_as(&app, &email).await, link));
    }
    let answers = futures::future::join_all(
        invitees
            .iter()
            .map(|(person, link)| accept(&app, &person.token, link)),
    )
    .await;
    assert_eq!(
        passed_or_conflict(&answers, StatusCode::OK, "has 3 members"),
        2,
        "the owner and two members"
    );
    let members = read(&app, "/members", &owner.token).await;
    assert_eq!(members.body["data"].as_array().unwrap().len(), 3);

    // A user with an account of their own, invited to three more, may join
    // one: two accounts in all.
    let user = owner_of_new_account(&app).await;
    let mut links = Vec::new();
    for _ in 0..3 {
        let other = owner_of_new_account(&app).await;
        links.push(invite_email(&app, &other.token, &user.email, "developer").await);
    }
    let answers =
        futures::future::join_all(links.iter().map(|link| accept(&app, &user.token, link))).await;
    assert_eq!(
        passed_or_conflict(&answers, StatusCode::OK, "You belong to 2 accounts"),
        1,
        "their own account and one more"
    );
    let accounts = me(&app, &user.token).await["user"]["accounts"].clone();
    assert_eq!(accounts.as_array().map(Vec::len), Some(2), "{accounts}");
}
