//! Proving an address while the server sends mail: sign-up mails a link,
//! keys wait for it (on both doors), a new address is proven again, and an
//! emailed invitation arrives and proves the address it was sent to.

use crate::{
    helpers::*,
    teams::{invite_email, owner, Person},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const LINK: &str = "/verify-email?token=";
const CONFIRM: &str = "Confirm your email address for Keysmith";

async fn confirm(app: &TestApp, person: &Person, token: &str) -> reqwest::Response {
    person
        .browser
        .post(app.url("/rpc/confirm_address"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn summary(app: &TestApp, person: &Person) -> Value {
    let response = person
        .browser
        .post(app.url("/rpc/current_user"))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

async fn try_key(app: &TestApp, person: &Person) -> Answer {
    try_create_key(
        app,
        &person.token,
        json!({ "name": "ci", "scopes": ["read"] }),
    )
    .await
}

#[tokio::test]
async fn sign_up_mails_a_link_and_keys_wait_for_it() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let person = owner(&app).await;
    let message = &mail.wait_for(&person.email, CONFIRM, 1).await[0];
    let token = message.token_after(LINK);
    assert_eq!(summary(&app, &person).await["email_verified"], false);

    // Both doors refuse keys until then.
    let refused = try_key(&app, &person).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "email_not_verified");
    let (status, body) = app
        .call_as(
            &person.browser,
            "create_api_key",
            json!({ "draft": { "name": "ci", "scopes": ["read"] } }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let confirmed = confirm(&app, &person, &token).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert_eq!(
        confirmed.json::<Value>().await.unwrap(),
        json!(person.email)
    );
    assert_eq!(summary(&app, &person).await["email_verified"], true);
    assert_eq!(try_key(&app, &person).await.status, StatusCode::CREATED);

    // Once only; foreign and malformed links are refused.
    for token in [token.as_str(), &"0".repeat(64), "nope"] {
        let again = confirm(&app, &person, token).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST, "{token}");
    }
    let page = app.get(&format!("{LINK}{}", "1".repeat(64))).await;
    assert!(page.text().await.unwrap().contains("does not work"));
}

#[tokio::test]
async fn the_link_is_sent_again_on_request_within_limits() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let person = owner(&app).await;
    mail.wait_for(&person.email, CONFIRM, 1).await;
    let asks = (0..40).map(|_| {
        person
            .browser
            .post(app.url("/rpc/send_address_check"))
            .send()
    });
    let answers = futures::future::join_all(asks).await;
    let sent = answers
        .iter()
        .filter(|a| a.as_ref().unwrap().status() == StatusCode::OK)
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.as_ref().unwrap().status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((sent, refused), (3, 37));
    let messages = mail.wait_for(&person.email, CONFIRM, 4).await;
    // Only the newest link works (whichever message arrived last).
    let mut worked = 0;
    for message in &messages {
        let answer = confirm(&app, &person, &message.token_after(LINK)).await;
        worked += usize::from(answer.status() == StatusCode::OK);
    }
    assert_eq!(worked, 1);
    let done = person
        .browser
        .post(app.url("/rpc/send_address_check"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_new_address_is_proven_again_and_a_taken_one_is_refused() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let person = owner(&app).await;
    let first = mail.wait_for(&person.email, CONFIRM, 1).await[0].token_after(LINK);
    assert_eq!(
        confirm(&app, &person, &first).await.status(),
        StatusCode::OK
    );
    let other = owner(&app).await;

    let change = |email: String, password: &'static str| {
        let browser = person.browser.clone();
        let url = app.url("/rpc/change_email");
        async move {
            browser
                .post(url)
                .form(&[("email", email.as_str()), ("current_password", password)])
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = change(unique_email(), "not my password at all").await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let taken = change(other.email.clone(), PASSWORD).await;
    assert_eq!(taken.status(), StatusCode::BAD_REQUEST);
    assert!(taken
        .text()
        .await
        .unwrap()
        .contains("Another account uses this email"));

    let new_email = unique_email();
    assert_eq!(
        change(new_email.clone(), PASSWORD).await.status(),
        StatusCode::OK
    );
    let me = summary(&app, &person).await;
    assert_eq!(
        (me["email"].as_str().unwrap(), &me["email_verified"]),
        (new_email.as_str(), &json!(false))
    );
    assert_problem(
        &try_key(&app, &person).await,
        StatusCode::FORBIDDEN,
        "email_not_verified",
    );
    let token = mail.wait_for(&new_email, CONFIRM, 1).await[0].token_after(LINK);
    assert_eq!(
        confirm(&app, &person, &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(try_key(&app, &person).await.status, StatusCode::CREATED);
    let signed_in = app
        .api(
            Method::POST,
            "/auth/token",
            Auth::None,
            Some(json!({ "email": new_email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK);
}

#[tokio::test]
async fn an_emailed_invitation_arrives_and_accepting_it_proves_the_address() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let owner = owner(&app).await;
    let first = mail.wait_for(&owner.email, CONFIRM, 1).await[0].token_after(LINK);
    assert_eq!(confirm(&app, &owner, &first).await.status(), StatusCode::OK);

    let invitee = unique_email();
    let shown = invite_email(&app, &owner.token, &invitee, "developer").await;
    let subject = format!("{} invited you to {} on Keysmith", owner.email, owner.email);
    let message = &mail.wait_for(&invitee, &subject, 1).await[0];
    assert_eq!(
        message.token_after("/invite/"),
        shown,
        "the mail carries the link shown once"
    );

    let browser = app.new_browser();
    let joined = browser
        .post(app.url("/rpc/sign_up_invited"))
        .form(&[("token", shown.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(joined.status().is_success() || joined.status().is_redirection());
    let token = app
        .api(
            Method::POST,
            "/auth/token",
            Auth::None,
            Some(json!({ "email": invitee, "password": PASSWORD })),
        )
        .await;
    let token = token.body["access_token"].as_str().unwrap().to_owned();
    let created = try_create_key(&app, &token, json!({ "name": "ci", "scopes": ["read"] })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(
        mail.to(&invitee).iter().all(|m| !m.content.contains(LINK)),
        "no confirmation needed"
    );
}
