//! What a change to the team ends: the credentials of a member who was
//! removed (for ever, even after they rejoin) and the invitations of a
//! member who lost the power to make them.

use crate::{helpers::*, teams::*};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn change_role(app: &TestApp, by: &str, user_id: &str, role: &str) {
    let changed = app
        .api(
            Method::PATCH,
            &format!("/members/{user_id}"),
            Auth::Bearer(by),
            Some(json!({ "role": role })),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
}

/// Revokes the pending invitation of `email`.
pub async fn revoke_invitation_of(app: &TestApp, token: &str, email: &str) {
    let pending = read(app, "/invitations", token).await;
    let id = pending.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|invitation| invitation["email"] == email)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app
        .api(
            Method::DELETE,
            &format!("/invitations/{id}"),
            Auth::Bearer(token),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
}

/// The events of the account, newest first.
async fn events(app: &TestApp, owner_token: &str) -> Vec<Value> {
    let answer = read(app, "/audit-events?limit=100", owner_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn credentials_from_before_a_removal_stay_refused_after_the_member_rejoins() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let (email, link) = invite(&app, &team.owner.token, "developer").await;
    let person = signed_up_as(&app, &email).await;
    accept_in_browser(&app, &person, &link).await;
    let old_token = token_for(&app, &email, Some(&team.account_id)).await;
    assert_eq!(
        read(&app, "/api-keys", &old_token).await.status,
        StatusCode::OK
    );

    remove(&app, &team.owner.token, &person.user_id).await;
    // Invited back and accepting with a credential of their own account,
    // without touching the old session or token in between.
    let again = invite_email(&app, &team.owner.token, &email, "developer").await;
    let joined = accept(&app, &person.token, &again).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);

    let by_token = read(&app, "/api-keys", &old_token).await;
    assert_problem(&by_token, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, _) = app
        .call_as(&person.browser, "list_api_keys", json!({ "query": {} }))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old session stays ended"
    );
    let fresh = token_for(&app, &email, Some(&team.account_id)).await;
    assert_eq!(read(&app, "/api-keys", &fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn removing_a_member_revokes_the_invitations_they_made() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let (email, link) = invite(&app, &team.admin.token, "developer").await;
    remove(&app, &team.owner.token, &team.admin.user_id).await;

    let browser = app.new_browser();
    let refused = browser
        .post(app.url("/rpc/sign_up_invited"))
        .form(&[("token", link.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains("revoked"));
    let pending = read(&app, "/invitations", &team.owner.token).await;
    assert_eq!(pending.body["data"], json!([]));
    let revoked = events(&app, &team.owner.token)
        .await
        .into_iter()
        .find(|e| e["action"] == "invitation.revoked")
        .expect("the revocation is audited");
    assert_eq!(revoked["member"], email.as_str());
    let detail = revoked["detail"].as_str().unwrap();
    assert!(detail.contains("inviter was removed"), "{detail}");
}

#[tokio::test]
async fn a_lower_role_revokes_the_invitations_it_could_no_longer_make() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let second_owner = join(&app, &team.owner.token, "owner").await;
    let (owner_email, owner_link) = invite(&app, &second_owner.token, "owner").await;
    let (developer_email, developer_link) = invite(&app, &second_owner.token, "developer").await;
    change_role(&app, &team.owner.token, &second_owner.user_id, "admin").await;

    let invitee = signed_up_as(&app, &owner_email).await;
    let refused = accept(&app, &invitee.token, &owner_link).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("revoked"),
        "{}",
        refused.body
    );
    let developer = signed_up_as(&app, &developer_email).await;
    let still = accept(&app, &developer.token, &developer_link).await;
    assert_eq!(
        still.status,
        StatusCode::OK,
        "an admin may still invite developers: {}",
        still.body
    );
    let revoked: Vec<Value> = events(&app, &team.owner.token)
        .await
        .into_iter()
        .filter(|e| e["action"] == "invitation.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["member"], owner_email.as_str());
    let detail = revoked[0]["detail"].as_str().unwrap();
    assert!(detail.contains("inviter's role became admin"), "{detail}");
}

#[tokio::test]
async fn an_account_sends_a_bounded_number_of_invitations_an_hour_even_when_revoking_them() {
    let app = TestApp::spawn_with(&[("KEYSMITH_INVITATIONS_PER_HOUR", "5")]).await;
    let boss = owner(&app).await;
    for _ in 0..5 {
        let (email, _) = invite(&app, &boss.token, "viewer").await;
        revoke_invitation_of(&app, &boss.token, &email).await;
    }
    let over = app
        .api(
            Method::POST,
            "/invitations",
            Auth::Bearer(&boss.token),
            Some(json!({ "email": unique_email(), "role": "viewer" })),
        )
        .await;
    assert_problem(&over, StatusCode::TOO_MANY_REQUESTS, "too_many_invitations");
    let retry: u64 = over.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((60..=3600).contains(&retry), "{retry}");
}

#[tokio::test]
async fn the_invitation_limit_holds_under_concurrency() {
    let app = TestApp::spawn_with(&[("KEYSMITH_INVITATIONS_PER_HOUR", "10")]).await;
    let boss = owner(&app).await;
    let answers = futures::future::join_all((0..40).map(|_| {
        app.api(
            Method::POST,
            "/invitations",
            Auth::Bearer(&boss.token),
            Some(json!({ "email": unique_email(), "role": "viewer" })),
        )
    }))
    .await;
    let created = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    let limited = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, limited), (10, 30));
}

#[tokio::test]
async fn old_audit_events_and_long_ended_invitations_are_swept() {
    let app = TestApp::spawn_with(&[("KEYSMITH_AUDIT_RETENTION_DAYS", "30")]).await;
    let boss = owner(&app).await;
    let (old_email, _) = invite(&app, &boss.token, "viewer").await;
    let (recent_email, _) = invite(&app, &boss.token, "viewer").await;
    let (pending_email, _) = invite(&app, &boss.token, "viewer").await;
    for email in [&old_email, &recent_email] {
        revoke_invitation_of(&app, &boss.token, email).await;
    }
    let dir = app.stop().await;
    let url = database_url(dir.path());
    let days_ago = |days: u64| (now_s() - days * 86_400) * 1000;
    let (forty, ten) = (days_ago(40), days_ago(10));
    run_sql(
        &url,
        &format!("UPDATE invitations SET revoked_at = {forty} WHERE email = '{old_email}'"),
    )
    .await;
    run_sql(
        &url,
        &format!("UPDATE audit_events SET occurred_at = {forty} WHERE action = 'user.signed_up'"),
    )
    .await;
    run_sql(
        &url,
        &format!("UPDATE audit_events SET occurred_at = {ten} WHERE action = 'member.invited'"),
    )
    .await;
    let swept = TestApp::spawn_in(dir, &[("KEYSMITH_AUDIT_RETENTION_DAYS", "30")]).await;
    let url = swept.database_url();
    eventually(
        std::time::Duration::from_secs(5),
        "swept at start-up",
        || async { query_number(&url, "SELECT COUNT(*) FROM invitations").await == 2 },
    )
    .await;
    let count = |sql: String| {
        let url = url.clone();
        async move { query_number(&url, &sql).await }
    };
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) FROM invitations WHERE email = '{old_email}'"
        ))
        .await,
        0
    );
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) FROM invitations WHERE email IN ('{recent_email}', '{pending_email}')"
        ))
        .await,
        2
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_events WHERE action = 'user.signed_up'".into()).await,
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_events WHERE action = 'member.invited'".into()).await,
        3
    );
}
