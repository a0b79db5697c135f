//! Email through a real SMTP server, and the password reset it carries:
//! the message arrives with its link, the link works once within the hour,
//! the answer never tells whether an address has an account, and nothing
//! is lost while the mail server is down.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// The subject of a password reset message.
const RESET: &str = "Reset your Keysmith password";
const NEW_PASSWORD: &str = "a brand new passphrase for keysmith";

async fn ask_reset(app: &TestApp, email: &str) -> Answer {
    app.api(
        Method::POST,
        "/auth/password-reset",
        Auth::None,
        Some(json!({ "email": email })),
    )
    .await
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> Answer {
    app.api(
        Method::POST,
        "/auth/password-reset/confirm",
        Auth::None,
        Some(json!({ "token": token, "password": password })),
    )
    .await
}

async fn token_for(app: &TestApp, email: &str, password: &str) -> Answer {
    app.api(
        Method::POST,
        "/auth/token",
        Auth::None,
        Some(json!({ "email": email, "password": password })),
    )
    .await
}

/// A user with a bearer token, signed up through the API.
async fn user_with_token(app: &TestApp) -> (String, String) {
    let email = unique_email();
    let created = app
        .api(
            Method::POST,
            "/auth/signup",
            Auth::None,
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = token_for(app, &email, PASSWORD).await;
    (
        email,
        token.body["access_token"].as_str().unwrap().to_owned(),
    )
}

async fn reset_token(app: &TestApp, mail: &MailServer, email: &str, nth: usize) -> String {
    let answer = ask_reset(app, email).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let messages = mail.wait_for(email, RESET, nth).await;
    messages[nth - 1].token_after("/reset-password?token=")
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let (email, old_token) = user_with_token(&app).await;

    let answer = ask_reset(&app, &email).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(answer.body["message"]
        .as_str()
        .unwrap()
        .starts_with("If an account exists"));
    let message = &mail.wait_for(&email, RESET, 1).await[0];
    assert_eq!(message.subject, "Reset your Keysmith password");
    assert!(
        message
            .content
            .contains("From: Keysmith <keys@keysmith.test>"),
        "{}",
        message.content
    );
    assert!(message.content.contains("text/plain") && message.content.contains("text/html"));
    assert!(message
        .content
        .contains("http://127.0.0.1/reset-password?token="));
    let token = message.token_after("/reset-password?token=");

    let done = confirm(&app, &token, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);

    // Every bearer token of the user ended; only the new password works.
    let me = app
        .api(Method::GET, "/me", Auth::Bearer(&old_token), None)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        token_for(&app, &email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let fresh = token_for(&app, &email, NEW_PASSWORD).await;
    assert_eq!(fresh.status, StatusCode::OK);
    let fresh = fresh.body["access_token"].as_str().unwrap().to_owned();

    // The link worked once.
    let again = confirm(&app, &token, "yet another passphrase entirely").await;
    assert_problem(&again, StatusCode::BAD_REQUEST, "validation_failed");
    assert!(field_error(&again, "token")
        .unwrap()
        .contains("does not work"));

    let audit = app
        .api(Method::GET, "/audit-events", Auth::Bearer(&fresh), None)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    let resets = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["action"] == "user.password_reset")
        .count();
    assert_eq!(resets, 1, "{}", audit.body);
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answer_and_no_mail() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let (known, _) = user_with_token(&app).await;
    let unknown = unique_email();

    let for_known = ask_reset(&app, &known).await;
    let for_unknown = ask_reset(&app, &unknown).await;
    assert_eq!(for_known.status, for_unknown.status);
    assert_eq!(for_known.body, for_unknown.body);

    mail.wait_for(&known, RESET, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(mail.to(&unknown).is_empty());
    assert!(
        !app.logs().contains("/reset-password?token="),
        "a link was logged"
    );
}

#[tokio::test]
async fn foreign_malformed_and_expired_links_are_refused() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let (email, _) = user_with_token(&app).await;
    for token in ["", "abc", &"0".repeat(64), &"G".repeat(64)] {
        let answer = confirm(&app, token, NEW_PASSWORD).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{token}: {}",
            answer.body
        );
        assert!(field_error(&answer, "token").is_some(), "{}", answer.body);
    }

    // A weak password is refused, and the link still works after.
    let token = reset_token(&app, &mail, &email, 1).await;
    let weak = confirm(&app, &token, "short").await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(field_error(&weak, "password").is_some(), "{}", weak.body);

    // Only the newest link works.
    let newer = reset_token(&app, &mail, &email, 2).await;
    assert_eq!(
        confirm(&app, &token, NEW_PASSWORD).await.status,
        StatusCode::BAD_REQUEST
    );

    // An expired link does not.
    run_sql(&app.database_url(), "UPDATE user_links SET expires_at = 1").await;
    let expired = confirm(&app, &newer, NEW_PASSWORD).await;
    assert!(field_error(&expired, "token").is_some(), "{}", expired.body);
    assert_eq!(
        token_for(&app, &email, PASSWORD).await.status,
        StatusCode::OK
    );

    // Bodies that are not what the endpoint takes get a clear 400 or 415.
    let odd = app
        .api(
            Method::POST,
            "/auth/password-reset",
            Auth::None,
            Some(json!({ "email": 5 })),
        )
        .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST, "{}", odd.body);
    let bad_email = ask_reset(&app, "not an email").await;
    assert!(
        field_error(&bad_email, "email").is_some(),
        "{}",
        bad_email.body
    );
}

#[tokio::test]
async fn reset_requests_for_one_address_are_limited_under_40_at_once() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let (email, _) = user_with_token(&app).await;
    let answers = futures::future::join_all((0..40).map(|_| ask_reset(&app, &email))).await;
    let accepted = answers
        .iter()
        .filter(|a| a.status == StatusCode::ACCEPTED)
        .count();
    let refused: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(accepted, 3, "the default is 3 per address per hour");
    assert_eq!(refused.len(), 37);
    assert_eq!(refused[0].body["code"], "too_many_emails");
    assert!(refused[0].headers.contains_key("retry-after"));
    mail.wait_for(&email, RESET, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.about(&email, RESET).len(), 3);
}

#[tokio::test]
async fn mail_waits_for_a_mail_server_that_is_down() {
    let mut mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let (email, _) = user_with_token(&app).await;
    mail.stop().await;
    assert_eq!(ask_reset(&app, &email).await.status, StatusCode::ACCEPTED);
    assert!(
        app.printed("mail not sent; trying again").await,
        "{}",
        app.logs()
    );
    mail.start_again().await;
    let message = &mail.wait_for(&email, RESET, 1).await[0];
    let token = message.token_after("/reset-password?token=");
    assert_eq!(
        confirm(&app, &token, NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_mail_a_reset_by_email_is_not_offered() {
    let app = TestApp::spawn().await;
    let answer = ask_reset(&app, &unique_email()).await;
    assert_problem(&answer, StatusCode::FORBIDDEN, "email_not_configured");
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("reset-password"));
    let page = app.get("/forgot-password").await.text().await.unwrap();
    assert!(page.contains("does not send email"), "{page}");
}

#[tokio::test]
async fn a_server_with_mail_needs_its_sender_and_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(binary())
        .current_dir(dir.path())
        .envs(base_env(dir.path()))
        .env("KEYSMITH_SMTP_URL", "smtp://127.0.0.1:2525")
        .env("KEYSMITH_MAIL_FROM", "keys@example.com")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("KEYSMITH_PUBLIC_URL"), "{stderr}");
}

#[tokio::test]
async fn the_operator_hands_out_a_reset_link_or_sets_the_password() {
    let app = TestApp::spawn().await;
    let (email, old_token) = user_with_token(&app).await;
    let operator = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(binary())
            .current_dir(app.dir.path())
            .envs(base_env(app.dir.path()))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };

    let printed = operator(&["user", "reset-password", &email], None);
    assert!(printed.status.success(), "{printed:?}");
    let link = String::from_utf8(printed.stdout).unwrap();
    let token = link.trim().rsplit("token=").next().unwrap().to_owned();
    assert!(link.contains("/reset-password?token="), "{link}");
    assert_eq!(
        confirm(&app, &token, NEW_PASSWORD).await.status,
        StatusCode::OK
    );
    let me = app
        .api(Method::GET, "/me", Auth::Bearer(&old_token), None)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);

    let set = operator(
        &["user", "reset-password", &email, "--set-password"],
        Some("the operator chose this passphrase\n"),
    );
    assert!(set.status.success(), "{set:?}");
    let signed_in = token_for(&app, &email, "the operator chose this passphrase").await;
    assert_eq!(signed_in.status, StatusCode::OK);

    let nobody = operator(&["user", "reset-password", "nobody@example.com"], None);
    assert!(!nobody.status.success());
    assert!(String::from_utf8(nobody.stderr)
        .unwrap()
        .contains("No user has this email"));
}

/// The browser's door: the reset page's server functions, which sign the
/// browser in once the new password is set.
#[tokio::test]
async fn the_reset_page_signs_the_browser_in_with_the_new_password() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let email = unique_email();
    app.signed_up(&email).await;
    app.sign_out().await;
    let token = reset_token(&app, &mail, &email, 1).await;
    let shown = app.rpc("reset_link_email", &[("token", &token)]).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(shown, Value::String(email.clone()));
    let reset = app
        .rpc(
            "reset_password",
            &[("token", &token), ("password", NEW_PASSWORD)],
        )
        .await;
    assert!(
        reset.status().is_success() || reset.status().is_redirection(),
        "{}",
        reset.status()
    );
    let (status, me) = app.current_user().await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], email);
}

/// A key about to expire: its account's owners and admins and its maker
/// hear of it a week before and a day before, once each, whatever the
/// restarts. (The look runs at start-up, then every ten minutes.)
#[tokio::test]
async fn keys_about_to_expire_are_warned_of_once_each() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let (email, token) = user_with_token(&app).await;
    let verify = mail
        .wait_for(&email, "Confirm your email address for Keysmith", 1)
        .await;
    let link = verify[0].token_after("/verify-email?token=");
    let confirmed = app.rpc("confirm_address", &[("token", &link)]).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let (day_key, _) = create_key(
        &app,
        &token,
        json!({ "name": "short lived", "scopes": ["read"], "expires_in_days": 1 }),
    )
    .await;
    create_key(
        &app,
        &token,
        json!({ "name": "three days", "scopes": ["read"], "expires_in_days": 3 }),
    )
    .await;
    create_key(
        &app,
        &token,
        json!({ "name": "a year", "scopes": ["read"], "expires_in_days": 365 }),
    )
    .await;

    let settings = mail.settings();
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &env).await;
    let day = mail
        .wait_for(&email, "API key \"short lived\" expires within a day", 1)
        .await;
    assert!(
        day[0]
            .content
            .contains(&format!("/dashboard/api-keys/{day_key}")),
        "{}",
        day[0].content
    );
    mail.wait_for(&email, "API key \"three days\" expires within a week", 1)
        .await;

    let dir = app.stop().await;
    let _app = TestApp::spawn_in(dir, &env).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let warnings: Vec<String> = mail
        .to(&email)
        .into_iter()
        .map(|m| m.subject)
        .filter(|s| s.starts_with("API key"))
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "one warning each, none for the year-long key: {warnings:?}"
    );
}
