//! The sessions a person can see and end: each browser (device, address,
//! times), the bearer tokens issued, signing one out, signing out
//! everywhere else, and the mail about a sign-in from a new device.

use crate::helpers::*;
use reqwest::{header, redirect::Policy, Client, Method, StatusCode};
use serde_json::{json, Value};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

/// A browser that names itself `agent`.
fn browser(app: &TestApp, agent: &str) -> Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(header::ORIGIN, app.base.parse().unwrap());
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .user_agent(agent)
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn sign_in(app: &TestApp, client: &Client, email: &str) {
    let (status, body) = app
        .post_form(
            client,
            "sign_in",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("next", "/dashboard"),
            ],
        )
        .await;
    assert!(
        status.is_success() || status.is_redirection(),
        "{status} {body}"
    );
    // As a browser does: the page it lands on is its first checked request.
    let (status, _) = app.post_form(client, "current_user", &[]).await;
    assert_eq!(status, StatusCode::OK);
}

async fn sessions(app: &TestApp, client: &Client) -> Vec<Value> {
    let (status, list) = app.post_form(client, "sign_ins", &[]).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["sessions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn each_browser_is_listed_and_one_can_sign_out_another() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let laptop = browser(&app, FIREFOX);
    let (status, _) = app
        .post_form(
            &laptop,
            "sign_up",
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert!(status.is_success() || status.is_redirection());
    let phone = browser(&app, SAFARI);
    sign_in(&app, &phone, &email).await;
    let listed = sessions(&app, &laptop).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let devices: Vec<&str> = listed
        .iter()
        .map(|s| s["device"].as_str().unwrap())
        .collect();
    assert!(
        devices.contains(&"Firefox on Linux") && devices.contains(&"Safari on iOS"),
        "{devices:?}"
    );
    let this = listed.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(this["device"], "Firefox on Linux");
    assert_eq!(this["address"], "127.0.0.1");
    let other = listed.iter().find(|s| s["current"] == false).unwrap();

    // Another user cannot end it; the owner can.
    let stranger = browser(&app, FIREFOX);
    let (status, _) = app
        .post_form(
            &stranger,
            "sign_up",
            &[("email", &unique_email()), ("password", PASSWORD)],
        )
        .await;
    assert!(status.is_success() || status.is_redirection());
    let id = other["id"].as_str().unwrap();
    let (status, _) = app.post_form(&stranger, "end_session", &[("id", id)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.post_form(&laptop, "end_session", &[("id", id)]).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = app.post_form(&phone, "current_user", &[]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the phone's session ended"
    );
    assert_eq!(sessions(&app, &laptop).await.len(), 1);

    // Signing out ends the session's row too.
    let (status, _) = app.post_form(&laptop, "sign_out", &[]).await;
    assert!(status.is_success() || status.is_redirection());
    sign_in(&app, &laptop, &email).await;
    assert_eq!(sessions(&app, &laptop).await.len(), 1);
}

#[tokio::test]
async fn signing_out_everywhere_else_ends_every_other_session_and_token() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let laptop = browser(&app, FIREFOX);
    let (status, _) = app
        .post_form(
            &laptop,
            "sign_up",
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert!(status.is_success() || status.is_redirection());
    let phone = browser(&app, SAFARI);
    sign_in(&app, &phone, &email).await;
    let token = Client::builder()
        .user_agent("curl/8.5.0")
        .build()
        .unwrap()
        .post(app.url("/api/v2/auth/token"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    let token: Value = token.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    let (_, list) = app.post_form(&laptop, "sign_ins", &[]).await;
    assert_eq!(list["tokens"][0]["device"], "curl", "{list}");

    let (status, body) = app
        .post_form(&laptop, "sign_out_everywhere_else", &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.post_form(&phone, "current_user", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let me = app
        .api(Method::GET, "/me", Auth::Bearer(&token), None)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.post_form(&laptop, "current_user", &[]).await;
    assert_eq!(status, StatusCode::OK, "this session carries on");
    let listed = sessions(&app, &laptop).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["current"], true);
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_mailed_once() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let email = unique_email();
    let laptop = browser(&app, FIREFOX);
    let (status, _) = app
        .post_form(
            &laptop,
            "sign_up",
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert!(status.is_success() || status.is_redirection());
    app.post_form(&laptop, "current_user", &[]).await;
    let phone = browser(&app, SAFARI);
    sign_in(&app, &phone, &email).await;
    app.post_form(&phone, "current_user", &[]).await;
    let subject = "New sign-in to your Keysmith account";
    let notice = &mail.wait_for(&email, subject, 1).await[0];
    assert!(
        notice.content.contains("Safari on iOS"),
        "{}",
        notice.content
    );

    // The same device again, and the first device: no more mail.
    let again = browser(&app, SAFARI);
    sign_in(&app, &again, &email).await;
    app.post_form(&again, "current_user", &[]).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(mail.about(&email, subject).len(), 1);
}
