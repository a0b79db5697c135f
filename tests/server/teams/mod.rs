//! Teams: members with roles, invitations, several accounts per user. Every
//! member is made the way a person joins: invited by the owner, then signing
//! up on the invitation's page (a browser session) and asking for a token.
//! The people and steps of those tests are here; the tests are in
//! `invitations.rs` and `members.rs`.

mod invitations;
mod members;

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

pub async fn accept(app: &TestApp, bearer: &str, link: &str) -> Answer {
    app.api(
        Method::POST,
        "/invitations/accept",
        Auth::Bearer(bearer),
        Some(json!({ "token": link })),
    )
    .await
}

fn code(answer: &Answer) -> String {
    answer.body["code"].as_str().unwrap_or_default().to_owned()
}
