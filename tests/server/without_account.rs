//! A user who belongs to no account (removed from, or having left, every
//! one): signing in leads to the page that offers an account of their own
//! and the invitations waiting for their email, and either way in works.

use crate::{
    helpers::*,
    teams::{
        accept_in_browser, ask_token, invite_email, me, read, remove, roomy_app, token_for, Person,
        Team,
    },
};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// A new browser signed in as `email`: where the sign-in sent it.
async fn sign_in(app: &TestApp, email: &str, next: &str) -> (Client, String) {
    let browser = app.new_browser();
    let response = browser
        .post(app.url("/rpc/sign_in"))
        .form(&[("email", email), ("password", PASSWORD), ("next", next)])
        .send()
        .await
        .unwrap();
    assert_success(&response);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    (browser, location)
}

/// Where a GET of `path` sends this browser (`""` when it is served).
async fn sent_to(app: &TestApp, browser: &Client, path: &str) -> String {
    let page = browser.get(app.url(path)).send().await.unwrap();
    if page.status() == StatusCode::OK {
        return String::new();
    }
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "{path}");
    page.headers()["location"].to_str().unwrap().to_owned()
}

/// A form post to a server function; the status and the JSON answer.
async fn post(
    app: &TestApp,
    browser: &Client,
    name: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    app.post_form(browser, name, form).await
}

async fn waiting(app: &TestApp, browser: &Client) -> Value {
    let (status, answer) = post(app, browser, "waiting_invitations", &[]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn a_user_who_belongs_to_no_account_signs_in_to_the_welcome_page() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let developer = &team.developer;
    remove(&app, &team.owner.token, &developer.user_id).await;

    let (browser, location) = sign_in(&app, &developer.email, "").await;
    assert_eq!(location, "/welcome");
    assert_eq!(sent_to(&app, &browser, "/welcome").await, "");
    assert_eq!(sent_to(&app, &browser, "/dashboard").await, "/welcome");
    assert_eq!(
        sent_to(&app, &browser, "/dashboard/api-keys").await,
        "/welcome"
    );
    assert_eq!(sent_to(&app, &browser, "/login").await, "/welcome");
    // No account, so nothing of one: the dashboard's functions refuse.
    let (status, _) = app
        .call_as(&browser, "list_api_keys", json!({ "query": {} }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let welcome = browser.get(app.url("/welcome")).send().await.unwrap();
    let html = welcome.text().await.unwrap();
    assert!(html.contains("Create an account of my own"), "{html}");

    let nothing = waiting(&app, &browser).await;
    assert_eq!(nothing["email"], developer.email.as_str());
    assert_eq!(nothing["invitations"], json!([]));

    // A bearer token acts in an account: the answer says where to go.
    let token = ask_token(&app, &developer.email, None).await;
    assert_problem(&token, StatusCode::FORBIDDEN, "forbidden");
    assert!(token.body["detail"].as_str().unwrap().contains("dashboard"));

    // Anyone else is sent to sign in first.
    let stranger = app.new_browser();
    assert_eq!(
        sent_to(&app, &stranger, "/welcome").await,
        "/login?next=/welcome"
    );
    let (status, _) = post(&app, &stranger, "waiting_invitations", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&app, &stranger, "create_own_account", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A member has an account: the welcome page is not theirs.
    assert_eq!(
        sent_to(&app, &team.viewer.browser, "/welcome").await,
        "/dashboard"
    );
    let (status, answer) = post(&app, &team.viewer.browser, "create_own_account", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    // Signing out ends it like any session.
    let (status, _) = post(&app, &browser, "sign_out", &[]).await;
    assert!(status.is_redirection() || status.is_success());
    assert_eq!(
        sent_to(&app, &browser, "/welcome").await,
        "/login?next=/welcome"
    );
}

#[tokio::test]
async fn a_user_without_an_account_accepts_an_invitation_waiting_for_them() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let developer = &team.developer;
    remove(&app, &team.owner.token, &developer.user_id).await;
    let other = crate::teams::owner(&app).await;
    invite_email(&app, &team.owner.token, &developer.email, "viewer").await;
    invite_email(&app, &other.token, &developer.email, "admin").await;
    // Invitations for others are not theirs to see.
    invite_email(&app, &team.owner.token, &unique_email(), "viewer").await;

    let (browser, _) = sign_in(&app, &developer.email, "").await;
    let listed = waiting(&app, &browser).await;
    let invitations = listed["invitations"].as_array().unwrap();
    assert_eq!(invitations.len(), 2, "{listed}");
    assert_eq!(invitations[0]["account_name"], other.email.as_str());
    assert_eq!(invitations[0]["role"], "admin");
    assert_eq!(invitations[0]["invited_by"], other.email.as_str());
    assert_eq!(invitations[1]["account_name"], team.owner.email.as_str());
    assert_eq!(invitations[1]["role"], "viewer");
    let id = invitations[1]["id"].as_str().unwrap();

    // An id that is not waiting for them is refused clearly.
    let strangers = read(&app, "/invitations", &team.owner.token).await;
    let foreign = strangers.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] != developer.email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in [foreign.as_str(), "inv_unknown", "", &"x".repeat(5000)] {
        let (status, answer) =
            post(&app, &browser, "accept_waiting_invitation", &[("id", bad)]).await;
        assert_eq!(status, StatusCode::CONFLICT, "{bad:.20}: {answer}");
    }

    let (status, answer) = post(&app, &browser, "accept_waiting_invitation", &[("id", id)]).await;
    assert!(
        status.is_redirection() || status.is_success(),
        "{status} {answer}"
    );
    assert_eq!(sent_to(&app, &browser, "/dashboard").await, "");
    let (status, user) = post(&app, &browser, "current_user", &[]).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["account_id"], team.account_id.as_str());
    assert_eq!(user["role"], "viewer");
    // The membership is new: credentials from before the removal stay dead.
    let old = read(&app, "/api-keys", &developer.token).await;
    assert_problem(&old, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, _) = app
        .call_as(&developer.browser, "list_api_keys", json!({ "query": {} }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The one used is gone from the list; the other still waits.
    let left = waiting(&app, &browser).await;
    assert_eq!(left["invitations"].as_array().unwrap().len(), 1);
    let (status, _) = post(&app, &browser, "accept_waiting_invitation", &[("id", id)]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let events = read(&app, "/audit-events", &team.owner.token).await;
    let joined = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "member.joined" && e["member"] == developer.email.as_str())
        .count();
    assert_eq!(joined, 2, "joined at first, and again now");
}

#[tokio::test]
async fn a_user_without_an_account_accepts_by_the_link_and_is_not_called_taken() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let developer = &team.developer;
    remove(&app, &team.owner.token, &developer.user_id).await;
    let link = invite_email(&app, &team.owner.token, &developer.email, "developer").await;

    // The invitation page's "Sign in to accept" comes back to the link.
    let next = format!("/invite/{link}");
    let (browser, location) = sign_in(&app, &developer.email, &next).await;
    assert_eq!(location, next);
    let (status, preview) = app
        .call_as(&browser, "open_invitation", json!({ "token": link }))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["signed_in_as"], developer.email.as_str());
    let page = browser.get(app.url(&next)).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Accept invitation"), "{html}");
    assert!(!html.contains("Choose a password"));

    let person = Person {
        user_id: developer.user_id.clone(),
        email: developer.email.clone(),
        browser,
        token: String::new(),
    };
    accept_in_browser(&app, &person, &link).await;
    let (status, user) = post(&app, &person.browser, "current_user", &[]).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["account_id"], team.account_id.as_str());
    assert_eq!(user["role"], "developer");
    let fresh = token_for(&app, &developer.email, None).await;
    assert_eq!(me(&app, &fresh).await["user"]["role"], "developer");
}

#[tokio::test]
async fn a_user_without_an_account_makes_exactly_one_of_their_own() {
    let app = roomy_app().await;
    let team = Team::new(&app).await;
    let viewer = &team.viewer;
    remove(&app, &team.owner.token, &viewer.user_id).await;
    let (browser, _) = sign_in(&app, &viewer.email, "").await;

    let attempts = (0..40).map(|_| post(&app, &browser, "create_own_account", &[]));
    let answers = futures::future::join_all(attempts).await;
    let made = answers
        .iter()
        .filter(|(status, _)| status.is_redirection() || status.is_success())
        .count();
    assert_eq!(made, 1, "{answers:?}");
    for (status, answer) in answers.iter().filter(|(s, _)| s.is_client_error()) {
        assert_eq!(*status, StatusCode::CONFLICT, "{answer}");
        assert!(answer.to_string().contains("already"), "{answer}");
    }

    let token = token_for(&app, &viewer.email, None).await;
    let theirs = me(&app, &token).await;
    assert_eq!(theirs["user"]["role"], "owner");
    assert_ne!(theirs["account_id"], team.account_id.as_str());
    let accounts = read(&app, "/me", &token).await;
    assert_eq!(
        accounts.body["data"]["user"]["accounts"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{}",
        accounts.body
    );
    assert_eq!(sent_to(&app, &browser, "/dashboard").await, "");
    let (status, user) = post(&app, &browser, "current_user", &[]).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["account_id"], theirs["account_id"]);
    assert_eq!(user["accounts"][0]["name"], viewer.email.as_str());

    let events = read(&app, "/audit-events", &token).await;
    let actions: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Newest first: the account was made, then the token asked for.
    assert_eq!(
        actions,
        ["user.signed_in", "account.created"],
        "{}",
        events.body
    );
}
