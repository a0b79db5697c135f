use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn bearer_token(app: &TestApp, email: &str, password: &str) -> String {
    let response = reqwest::Client::new()
        .post(app.url("/api/v2/auth/token"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn token_works(app: &TestApp, token: &str) -> bool {
    let response = reqwest::Client::new()
        .get(app.url("/api/v2/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    response.status() == StatusCode::OK
}

async fn browser_signed_in(app: &TestApp, email: &str, password: &str) -> reqwest::Client {
    let browser = app.new_browser();
    let response = browser
        .post(app.url("/rpc/sign_in"))
        .form(&[("email", email), ("password", password), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_success(&response);
    browser
}

async fn is_signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    let response = browser
        .post(app.url("/rpc/current_user"))
        .send()
        .await
        .unwrap();
    response.status() == StatusCode::OK
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_and_bearer_token() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.signed_up(&email).await;
    let other = browser_signed_in(&app, &email, PASSWORD).await;
    let token = bearer_token(&app, &email, PASSWORD).await;
    assert!(token_works(&app, &token).await);

    assert_success(&app.rpc("sign_out_everywhere", &[]).await);
    assert!(
        !is_signed_in(&app, &other).await,
        "the other browser is signed out"
    );
    assert!(!is_signed_in(&app, &app.client).await, "and this one too");
    assert!(
        !token_works(&app, &token).await,
        "tokens issued before stop working"
    );
    let fresh = bearer_token(&app, &email, PASSWORD).await;
    assert!(token_works(&app, &fresh).await, "new tokens work");

    // The dashboard does not loop between sign-in and dashboard afterwards.
    let page = other.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let login = other.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_rest() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.signed_up(&email).await;
    let other = browser_signed_in(&app, &email, PASSWORD).await;
    let token = bearer_token(&app, &email, PASSWORD).await;
    let new_password = "an entirely new passphrase";

    let wrong = app
        .rpc(
            "change_password",
            &[
                ("current_password", "not my password"),
                ("new_password", new_password),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.unwrap().contains("current_password"));
    let weak = app
        .rpc(
            "change_password",
            &[("current_password", PASSWORD), ("new_password", "short")],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    assert!(weak.text().await.unwrap().contains("new_password"));
    assert!(
        token_works(&app, &token).await,
        "failed attempts change nothing"
    );

    let changed = app
        .rpc(
            "change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new_password),
            ],
        )
        .await;
    assert_success(&changed);
    assert!(
        is_signed_in(&app, &app.client).await,
        "this session carries on"
    );
    assert!(!is_signed_in(&app, &other).await, "other sessions end");
    assert!(
        !token_works(&app, &token).await,
        "tokens issued before stop working"
    );
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let _ = bearer_token(&app, &email, new_password).await;

    let (status, events) = app
        .call("list_audit_events", serde_json::json!({ "query": {} }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(events.to_string().contains("user.password_changed"));
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_like_signing_in() {
    let app = TestApp::spawn().await;
    app.signed_up(&unique_email()).await;
    let new = "an entirely new passphrase";
    for _ in 0..5 {
        let wrong = [
            ("current_password", "a wrong guess!"),
            ("new_password", new),
        ];
        let answer = app.rpc("change_password", &wrong).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    }
    let right = [("current_password", PASSWORD), ("new_password", new)];
    let right = app.rpc("change_password", &right).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(right.headers()["retry-after"], "900");
    assert!(is_signed_in(&app, &app.client).await, "nothing changed");
}

#[tokio::test]
async fn a_new_password_may_not_be_common_or_the_email() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.signed_up(&email).await;
    for new in ["qwertyuiop123", email.as_str()] {
        let answer = app
            .rpc(
                "change_password",
                &[("current_password", PASSWORD), ("new_password", new)],
            )
            .await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{new}");
        assert!(answer.text().await.unwrap().contains("new_password"));
    }
}
