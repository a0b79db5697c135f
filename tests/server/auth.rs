use crate::helpers::*;
use reqwest::{header, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn signing_up_creates_an_account_and_signs_the_user_in() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("  New.User@Example.COM ", PASSWORD).await;
    assert_success(&response);

    let (status, user) = app.current_user().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["email"], "new.user@example.com");
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_duplicate_email_is_refused_whatever_its_case() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;

    let other = TestApp::new_browser(&app);
    let response = other
        .post(app.url("/rpc/sign_up"))
        .form(&[("email", "ADA@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Validation"][0]["field"], "email");
    assert!(body["Validation"][0]["message"]
        .as_str()
        .unwrap()
        .contains("already exists"));
}

#[tokio::test]
async fn every_bad_sign_up_field_is_reported_at_once_with_the_rule_that_failed() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("not-an-email", "short").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    let errors = body["Validation"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["field"], "email");
    assert_eq!(errors[1]["field"], "password");
    assert_eq!(
        errors[1]["message"],
        "Password must be at least 12 characters."
    );

    let long = "x".repeat(257);
    let body: Value = app
        .sign_up(&unique_email(), &long)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["Validation"][0]["message"],
        "Password must be at most 256 characters."
    );
}

#[tokio::test]
async fn missing_form_fields_are_a_bad_request_not_a_server_error() {
    let app = TestApp::spawn().await;
    let response = app.rpc("sign_up", &[("email", "a@example.com")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app.rpc("sign_in", &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn signing_in_with_the_right_password_works_and_follows_the_return_path() {
    let app = TestApp::spawn().await;
    app.signed_up("grace@example.com").await;
    assert_success(&app.sign_out().await);

    let response = app
        .rpc(
            "sign_in",
            &[
                ("email", "Grace@Example.com"),
                ("password", PASSWORD),
                ("next", "/dashboard/api-keys"),
            ],
        )
        .await;
    assert_success(&response);
    assert_eq!(response.headers()[header::LOCATION], "/dashboard/api-keys");
    assert_eq!(app.current_user().await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_off_site_return_path_is_replaced_by_the_dashboard() {
    let app = TestApp::spawn().await;
    app.signed_up("mallory-target@example.com").await;
    assert_success(&app.sign_out().await);
    let response = app
        .rpc(
            "sign_in",
            &[
                ("email", "mallory-target@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/phish"),
            ],
        )
        .await;
    assert_eq!(response.headers()[header::LOCATION], "/dashboard");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.signed_up("alan@example.com").await;
    assert_success(&app.sign_out().await);

    let wrong_password = app.sign_in("alan@example.com", "not the password").await;
    let status = wrong_password.status();
    let wrong_password = wrong_password.text().await.unwrap();
    let unknown = app.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.text().await.unwrap(), wrong_password);
    assert_eq!(wrong_password, "\"InvalidCredentials\"");
    assert_eq!(app.current_user().await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn five_failures_from_one_address_block_that_address_even_with_the_right_password() {
    let app = TestApp::spawn().await;
    app.signed_up("target@example.com").await;
    assert_success(&app.sign_out().await);

    for _ in 0..5 {
        let response = app.sign_in("target@example.com", "wrong password!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.sign_in("target@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "900");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Throttled"]["retry_after_minutes"], 15);
}

/// A server behind a proxy on loopback, so each request can say which
/// client address it comes from.
async fn behind_proxy(extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![("KEYSMITH_TRUSTED_PROXIES", "127.0.0.1")];
    settings.extend_from_slice(extra);
    TestApp::spawn_with(&settings).await
}

async fn token_from(
    app: &TestApp,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v2/auth/token"))
        .header("X-Forwarded-For", address)
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn concurrent_guesses_cannot_pass_the_limit() {
    let app = TestApp::spawn().await;
    app.signed_up("victim@example.com").await;
    let guesses = (0..40).map(|i| {
        let app = &app;
        async move {
            token_from(
                app,
                "127.0.0.1",
                "victim@example.com",
                &format!("guess number {i}"),
            )
            .await
            .status()
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(checked <= 5, "{checked} guesses were checked: {answers:?}");
    assert_eq!(checked + refused, 40, "{answers:?}");
}

#[tokio::test]
async fn failures_from_one_address_do_not_lock_the_owner_out_from_another() {
    let app = behind_proxy(&[]).await;
    app.signed_up("owner@example.com").await;
    for _ in 0..5 {
        let answer = token_from(&app, "203.0.113.66", "owner@example.com", "wrong password!").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let attacker = token_from(&app, "203.0.113.66", "owner@example.com", PASSWORD).await;
    assert_eq!(attacker.status(), StatusCode::TOO_MANY_REQUESTS);
    let owner = token_from(&app, "198.51.100.20", "owner@example.com", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_ipv6_client_is_throttled_by_its_64_not_its_address() {
    let app = behind_proxy(&[]).await;
    for i in 1..=5 {
        let address = format!("2001:db8:7:7::{i:x}");
        let answer = token_from(
            &app,
            &address,
            &format!("u{i}@example.com"),
            "wrong password!",
        )
        .await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let same_64 = token_from(
        &app,
        "2001:db8:7:7:ffff::9",
        "new@example.com",
        "wrong password!",
    )
    .await;
    assert_eq!(same_64.status(), StatusCode::TOO_MANY_REQUESTS);
    let other_64 = token_from(
        &app,
        "2001:db8:7:8::1",
        "new@example.com",
        "wrong password!",
    )
    .await;
    assert_eq!(other_64.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn many_failures_for_one_email_from_many_addresses_slow_down_but_never_refuse_the_owner() {
    let app = behind_proxy(&[("KEYSMITH_LOGIN_EMAIL_SLOWDOWN_AFTER", "3")]).await;
    app.signed_up("popular@example.com").await;
    for i in 0..4 {
        let answer = token_from(
            &app,
            &format!("192.0.2.{i}"),
            "popular@example.com",
            "wrong password!",
        )
        .await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let started = std::time::Instant::now();
    let owner = token_from(&app, "198.51.100.20", "popular@example.com", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "slowed down"
    );
}

#[tokio::test]
async fn sign_ups_from_one_address_are_limited_even_all_at_once() {
    let app = TestApp::spawn_with(&[("KEYSMITH_SIGNUP_MAX_PER_HOUR", "10")]).await;
    let sign_ups = (0..60).map(|_| {
        let app = &app;
        async move {
            reqwest::Client::new()
                .post(app.url("/api/v2/auth/signup"))
                .json(&serde_json::json!({ "email": unique_email(), "password": PASSWORD }))
                .send()
                .await
                .unwrap()
        }
    });
    let answers = futures::future::join_all(sign_ups).await;
    let created = answers
        .iter()
        .filter(|a| a.status() == StatusCode::CREATED)
        .count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(created, 10);
    assert_eq!(refused.len(), 50);
    for answer in refused {
        let wait: u64 = answer.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&wait), "{wait}");
    }
    let page_door = app.sign_up(&unique_email(), PASSWORD).await;
    assert_eq!(page_door.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failures_from_one_address_block_that_address_for_other_emails() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        let response = app
            .sign_in(&format!("spray{i}@example.com"), "wrong password!")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app
        .sign_in("someone-else@example.com", "wrong password!")
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_success_forgives_earlier_failures_of_that_email() {
    let app = TestApp::spawn_with(&[("KEYSMITH_LOGIN_MAX_FAILURES", "3")]).await;
    app.signed_up("forgetful@example.com").await;
    assert_success(&app.sign_out().await);
    for _ in 0..2 {
        app.sign_in("forgetful@example.com", "wrong password!")
            .await;
    }
    assert_success(&app.sign_in("forgetful@example.com", PASSWORD).await);
    assert_success(&app.sign_out().await);
    // The address still has two failures; the email has none left to count.
    let response = app.sign_in("forgetful@example.com", PASSWORD).await;
    assert_success(&response);
}

#[tokio::test]
async fn signing_out_deletes_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    app.signed_up("leaver@example.com").await;
    let cookie = session_cookie(&app).await;

    assert_success(&app.sign_out().await);

    // Replaying the old cookie from another client gets nowhere.
    let replay = app
        .new_browser()
        .get(app.url("/dashboard"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    assert_eq!(replay.headers()[header::LOCATION], "/login?next=/dashboard");
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in() {
    let app = TestApp::spawn().await;
    app.signed_up("fixation@example.com").await;
    let first = session_cookie(&app).await;
    let response = app.sign_in("fixation@example.com", PASSWORD).await;
    assert_success(&response);
    let second = set_cookie(&response).expect("sign-in issues a new session cookie");
    assert_ne!(first.split(';').next(), second.split(';').next());
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("cookies@example.com", PASSWORD).await;
    let cookie = set_cookie(&response).unwrap();
    assert!(cookie.starts_with("keysmith_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http cannot carry Secure cookies: {cookie}"
    );
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure() {
    let app = TestApp::spawn_with(&[("KEYSMITH_PUBLIC_URL", "https://keys.example.com")]).await;
    // As the TLS-terminating proxy in front passes it on.
    let response = app
        .client
        .post(app.url("/rpc/sign_up"))
        .header("Host", "keys.example.com")
        .header("Origin", "https://keys.example.com")
        .form(&[("email", "secure@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&response).unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn an_unauthenticated_dashboard_visit_redirects_to_sign_in_with_the_return_path() {
    let app = TestApp::spawn().await;
    for (path, next) in [
        ("/dashboard", "/dashboard"),
        ("/dashboard/api-keys", "/dashboard/api-keys"),
        (
            "/dashboard/api-keys?page=2",
            "/dashboard/api-keys%3Fpage%3D2",
        ),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            response.headers()[header::LOCATION],
            format!("/login?next={next}").as_str()
        );
    }
    assert_eq!(app.current_user().await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_signed_in_user_skips_the_sign_in_page() {
    let app = TestApp::spawn().await;
    app.signed_up("returning@example.com").await;
    let response = app.get("/login").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/dashboard");
}

#[tokio::test]
async fn public_sign_up_can_be_switched_off() {
    let app = TestApp::spawn_with(&[("KEYSMITH_ALLOW_SIGNUP", "false")]).await;
    let response = app.sign_up("late@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Sign-up is disabled"));
    let page = app.get("/signup").await.text().await.unwrap();
    assert!(page.contains("Sign-up is disabled on this server."));
    assert!(!page.contains("Create account"));
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let app = TestApp::spawn().await;
    app.signed_up("durable@example.com").await;
    let cookie = session_cookie(&app).await;
    let dir = app.stop().await;

    let app = TestApp::spawn_in(dir, &[]).await;
    let response = app
        .client
        .get(app.url("/dashboard"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    if postgres_server().is_none() {
        // On SQLite the generated secret is kept beside the database.
        let secret = app.dir.path().join("keysmith.secret");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(secret).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn the_password_is_never_stored_or_logged() {
    let app = TestApp::spawn().await;
    let password = "a very particular passphrase 1234";
    assert_success(&app.sign_up("secretive@example.com", password).await);
    assert_success(&app.sign_out().await);
    app.sign_in("secretive@example.com", "a wrong passphrase 5678")
        .await;
    assert_success(&app.sign_in("secretive@example.com", password).await);
    let logs = app.logs();
    let bytes = app.database_bytes();
    for secret in [password, "a wrong passphrase 5678"] {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "{secret:?} in the database"
        );
        assert!(!logs.contains(secret), "{secret:?} in the logs");
    }
    assert!(contains(&bytes, b"$argon2id$v=19$m=19456,t=2,p=1$"));
}

fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("keysmith_session="))
        .map(str::to_owned)
}

/// The session cookie the app's client holds, as a `Cookie` header value,
/// got by signing in again (the cookie jar does not expose its cookies).
async fn session_cookie(app: &TestApp) -> String {
    let (status, user) = app.current_user().await;
    assert_eq!(status, StatusCode::OK);
    let email = user["email"].as_str().unwrap().to_owned();
    let response = app.sign_in(&email, PASSWORD).await;
    let cookie = set_cookie(&response).expect("sign-in sets the session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_active_session_outlives_its_idle_period_and_an_idle_one_ends() {
    // 0.00004 days: about 3.5 seconds of inactivity.
    let app = TestApp::spawn_with(&[("KEYSMITH_SESSION_IDLE_DAYS", "0.00004")]).await;
    app.signed_up(&unique_email()).await;
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert_eq!(app.current_user().await.0, StatusCode::OK, "still in use");
    }
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(
        app.current_user().await.0,
        StatusCode::UNAUTHORIZED,
        "idle too long"
    );
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_active() {
    // 0.00003 days: about 2.6 seconds.
    let app = TestApp::spawn_with(&[("KEYSMITH_SESSION_MAX_DAYS", "0.00003")]).await;
    app.signed_up(&unique_email()).await;
    assert_eq!(app.current_user().await.0, StatusCode::OK);
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(3) {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.current_user().await;
    }
    assert_eq!(app.current_user().await.0, StatusCode::UNAUTHORIZED);
    let page = app.get("/dashboard").await;
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "back to the sign-in page"
    );
}

#[tokio::test]
async fn common_passwords_and_the_email_itself_are_refused_at_sign_up() {
    let app = TestApp::spawn().await;
    for (email, password) in [
        ("common@example.com", "qwertyuiop123"),
        ("common@example.com", "Password1234"),
        ("mirror.image@example.com", "Mirror.Image@example.com"),
    ] {
        let response = app.sign_up(email, password).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{password}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["Validation"][0]["field"], "password", "{body}");
    }
    let api = reqwest::Client::new()
        .post(app.url("/api/v2/auth/signup"))
        .json(&serde_json::json!({ "email": "api@example.com", "password": "1234567890qwerty" }))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::BAD_REQUEST);
    let problem: Value = api.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("most common"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_password_typed_in_another_unicode_form_signs_in() {
    let app = TestApp::spawn().await;
    let composed = "caf\u{e9} au lait, s'il vous pla\u{ee}t";
    let decomposed = "cafe\u{301} au lait, s'il vous plai\u{302}t";
    app.signed_up_with("unicode@example.com", composed).await;
    assert_success(&app.sign_out().await);
    assert_success(&app.sign_in("unicode@example.com", decomposed).await);
}
