//! Teams: members with roles, invitations, several accounts per user. Every
//! member is made the way a person joins: invited by the owner, then signing
//! up on the invitation's page (a browser session) and asking for a token.

use crate::helpers::*;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// One person in the test: their browser (signed in, acting in the team's
/// account) and a bearer token for the same account.
pub struct Person {
    pub user_id: String,
    pub email: String,
    pub browser: Client,
    pub token: String,
}

/// The account of the tests: an owner and one member of each other role.
pub struct Team {
    pub account_id: String,
    pub owner: Person,
    pub admin: Person,
    pub developer: Person,
    pub viewer: Person,
}

impl Team {
    pub async fn new(app: &TestApp) -> Team {
        let owner = owner(app).await;
        let account_id = me(app, &owner.token).await["account_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let admin = join(app, &owner.token, "admin").await;
        let developer = join(app, &owner.token, "developer").await;
        let viewer = join(app, &owner.token, "viewer").await;
        Team {
            account_id,
            owner,
            admin,
            developer,
            viewer,
        }
    }

    pub fn by_role(&self) -> [(&'static str, &Person); 4] {
        [
            ("owner", &self.owner),
            ("admin", &self.admin),
            ("developer", &self.developer),
            ("viewer", &self.viewer),
        ]
    }
}

/// A new user who signed up with their own account (its owner).
pub async fn owner(app: &TestApp) -> Person {
    let email = unique_email();
    let browser = app.new_browser();
    let response = browser
        .post(app.url("/rpc/sign_up"))
        .form(&[("email", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_success(&response);
    person(app, email, browser).await
}

async fn person(app: &TestApp, email: String, browser: Client) -> Person {
    let token = token_for(app, &email, None).await;
    let user_id = me(app, &token).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Person {
        user_id,
        email,
        browser,
        token,
    }
}

/// Asks for a bearer token for `email`, in `account_id` or their first
/// account.
pub async fn ask_token(app: &TestApp, email: &str, account_id: Option<&str>) -> Answer {
    app.api(
        Method::POST,
        "/auth/token",
        Auth::None,
        Some(json!({ "email": email, "password": PASSWORD, "account_id": account_id })),
    )
    .await
}

/// A bearer token for `email`, in `account_id` or their first account.
pub async fn token_for(app: &TestApp, email: &str, account_id: Option<&str>) -> String {
    let answer = ask_token(app, email, account_id).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

pub async fn me(app: &TestApp, token: &str) -> Value {
    let answer = read(app, "/me", token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"].clone()
}

/// A GET with a member's bearer token.
pub async fn read(app: &TestApp, path: &str, token: &str) -> Answer {
    app.api(Method::GET, path, Auth::Bearer(token), None).await
}

/// Invites a new email as `role`; the email and the link's token.
pub async fn invite(app: &TestApp, token: &str, role: &str) -> (String, String) {
    let email = unique_email();
    let link_token = invite_email(app, token, &email, role).await;
    (email, link_token)
}

/// Invites `email`: the link's token.
pub async fn invite_email(app: &TestApp, token: &str, email: &str, role: &str) -> String {
    let answer = app
        .api(
            Method::POST,
            "/invitations",
            Auth::Bearer(token),
            Some(json!({ "email": email, "role": role })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let url = answer.body["data"]["invite_url"].as_str().unwrap();
    url.rsplit("/invite/").next().unwrap().to_owned()
}

/// A new person who joined the owner's account as `role` by signing up on
/// the invitation's page.
pub async fn join(app: &TestApp, owner_token: &str, role: &str) -> Person {
    let (email, link) = invite(app, owner_token, role).await;
    let browser = app.new_browser();
    let response = browser
        .post(app.url("/rpc/sign_up_invited"))
        .form(&[("token", link.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_success(&response);
    person(app, email, browser).await
}

/// Accepts an invitation on its page, as the person signed in there: their
/// session then acts in the account they joined.
pub async fn accept_in_browser(app: &TestApp, person: &Person, link: &str) {
    let response = person
        .browser
        .post(app.url("/rpc/accept_invitation"))
        .form(&[("token", link)])
        .send()
        .await
        .unwrap();
    assert_success(&response);
}

/// Removes a member, as the holder of `by` (a member's token).
pub async fn remove(app: &TestApp, by: &str, user_id: &str) {
    let removed = app
        .api(
            Method::DELETE,
            &format!("/members/{user_id}"),
            Auth::Bearer(by),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
}

/// A server that lets the tests sign up and invite as many people as they
/// need from one address.
pub async fn roomy_app() -> TestApp {
    TestApp::spawn_with(&[
        ("KEYSMITH_SIGNUP_MAX_PER_HOUR", "10000"),
        ("KEYSMITH_INVITATIONS_PER_HOUR", "10000"),
    ])
    .await
}

fn code(answer: &Answer) -> String {
    answer.body["code"].as_str().unwrap_or_default().to_owned()
}

// Invitations

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

async fn owner_of_new_account(app: &TestApp) -> Person {
    owner(app).await
}

pub async fn signed_up_as(app: &TestApp, email: &str) -> Person {
    let browser = app.new_browser();
    let response = browser
        .post(app.url("/rpc/sign_up"))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_success(&response);
    person(app, email.to_owned(), browser).await
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
    assert_problem(&by_key, StatusCode::FORBIDDEN, "forbidden");
}

/// How many of `answers` have `status`; every other is 409 `conflict`
/// whose detail says `why`.
fn passed_or_conflict(answers: &[Answer], status: StatusCode, why: &str) -> usize {
    for refused in answers.iter().filter(|a| a.status != status) {
        assert_problem(refused, StatusCode::CONFLICT, "conflict");
        assert!(
            refused.body["detail"].as_str().unwrap().contains(why),
            "{}",
            refused.body
        );
    }
    answers.iter().filter(|a| a.status == status).count()
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

pub async fn accept(app: &TestApp, bearer: &str, link: &str) -> Answer {
    app.api(
        Method::POST,
        "/invitations/accept",
        Auth::Bearer(bearer),
        Some(json!({ "token": link })),
    )
    .await
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

// Roles

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
}
