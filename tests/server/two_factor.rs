//! Two-factor sign-in with an authenticator app, on both doors: enrolment,
//! codes accepted once (never replayed), recovery codes once each, the
//! throttle under 40 wrong codes at once, and turning it off.

use crate::{
    helpers::*,
    teams::{owner, Person},
};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// What an authenticator app computes: RFC 6238, SHA-1, six digits.
fn code(secret: &[u8], step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes().filter(|c| *c != b' ') {
        let value = alphabet.iter().position(|a| *a == c).unwrap() as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

fn step_now() -> u64 {
    now_s() / 30
}

/// Turns two-factor sign-in on for `person`: the secret and the codes.
async fn enrol(app: &TestApp, person: &Person) -> (Vec<u8>, Vec<String>) {
    let (status, enrolment) = app.post_form(&person.browser, "begin_totp", &[]).await;
    assert_eq!(status, StatusCode::OK, "{enrolment}");
    assert!(
        enrolment["qr_svg"].as_str().unwrap().starts_with("<?xml")
            || enrolment["qr_svg"].as_str().unwrap().contains("<svg")
    );
    assert!(enrolment["uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Keysmith%3A"));
    let secret = base32_decode(enrolment["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);
    let (status, wrong) = app
        .post_form(&person.browser, "enable_totp", &[("code", "000000")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
    let (status, codes) = app
        .post_form(
            &person.browser,
            "enable_totp",
            &[("code", &code(&secret, step_now()))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    let codes: Vec<String> = serde_json::from_value(codes).unwrap();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

pub(crate) async fn token(app: &TestApp, email: &str, otp: Option<&str>) -> Answer {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let Some(otp) = otp {
        body["otp"] = json!(otp);
    }
    app.api(Method::POST, "/auth/token", Auth::None, Some(body))
        .await
}

#[tokio::test]
async fn a_code_from_the_app_is_asked_for_and_accepted_once() {
    let app = TestApp::spawn().await;
    let person = owner(&app).await;
    let (secret, _) = enrol(&app, &person).await;
    let (_, status) = app
        .post_form(&person.browser, "two_factor_status", &[])
        .await;
    assert_eq!(
        status,
        json!({ "totp": true, "passkeys": [], "recovery_codes_left": 10 })
    );

    let without = token(&app, &person.email, None).await;
    assert_problem(&without, StatusCode::UNAUTHORIZED, "otp_required");

    // The code that turned it on was accepted already: the next step's
    // code (a step ahead is allowed, for clocks that drift) works, once.
    let next = code(&secret, step_now() + 1);
    assert_eq!(
        token(&app, &person.email, Some(&next)).await.status,
        StatusCode::OK
    );
    let replayed = token(&app, &person.email, Some(&next)).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.body
    );
    assert!(field_error(&replayed, "otp")
        .unwrap()
        .contains("used already"));
    let stale = token(&app, &person.email, Some(&code(&secret, step_now()))).await;
    assert_eq!(
        stale.status,
        StatusCode::BAD_REQUEST,
        "an earlier step after a later one"
    );
    let wrong_password = app
        .api(Method::POST, "/auth/token", Auth::None, Some(json!({ "email": person.email, "password": "wrong password entirely", "otp": "123456" })))
        .await;
    assert_problem(
        &wrong_password,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    // The browser's door asks the same.
    let browser = app.new_browser();
    let asked = browser
        .post(app.url("/rpc/sign_in"))
        .form(&[
            ("email", person.email.as_str()),
            ("password", PASSWORD),
            ("next", "/dashboard"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::UNAUTHORIZED);
    assert!(asked.text().await.unwrap().contains("SecondFactorRequired"));
}

#[tokio::test]
async fn each_recovery_code_works_once() {
    let app = TestApp::spawn().await;
    let person = owner(&app).await;
    let (_, codes) = enrol(&app, &person).await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(
        token(&app, &person.email, Some(&typed)).await.status,
        StatusCode::OK
    );
    let again = token(&app, &person.email, Some(&codes[3])).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        token(&app, &person.email, Some("abcde-fghjk")).await.status,
        StatusCode::BAD_REQUEST
    );
    let (_, status) = app
        .post_form(&person.browser, "two_factor_status", &[])
        .await;
    assert_eq!(status["recovery_codes_left"], 9);
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords_under_40_at_once() {
    let app = TestApp::spawn().await;
    let person = owner(&app).await;
    let (secret, _) = enrol(&app, &person).await;
    let right = code(&secret, step_now() + 1);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let answers =
        futures::future::join_all((0..40).map(|_| token(&app, &person.email, Some(wrong)))).await;
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::BAD_REQUEST)
        .count();
    let throttled = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        refused <= 5,
        "at most 5 wrong codes are checked, got {refused}"
    );
    assert_eq!(refused + throttled, 40);
    // Even the right code waits for the window now.
    assert_eq!(
        token(&app, &person.email, Some(&right)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn turning_it_off_needs_the_password_and_a_code() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let person = owner(&app).await;
    let (secret, codes) = enrol(&app, &person).await;
    let (status, body) = app
        .post_form(
            &person.browser,
            "disable_totp",
            &[("current_password", "not my password"), ("code", &codes[0])],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .post_form(
            &person.browser,
            "disable_totp",
            &[("current_password", PASSWORD), ("code", "000000")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let next = code(&secret, step_now() + 1);
    let (status, body) = app
        .post_form(
            &person.browser,
            "disable_totp",
            &[("current_password", PASSWORD), ("code", &next)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        token(&app, &person.email, None).await.status,
        StatusCode::OK
    );
    let notice = "Two-factor sign-in was turned off for your Keysmith account";
    mail.wait_for(&person.email, notice, 1).await;

    // The audit log has both.
    let fresh = token(&app, &person.email, None).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let audit = app
        .api(Method::GET, "/audit-events", Auth::Bearer(&fresh), None)
        .await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"user.two_factor_enabled")
            && actions.contains(&"user.two_factor_disabled"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_password_reset_does_not_get_past_the_second_factor() {
    let mail = MailServer::start().await;
    let app = app_with_mail(&mail, &[]).await;
    let person = owner(&app).await;
    let (secret, _) = enrol(&app, &person).await;
    let asked = app
        .api(
            Method::POST,
            "/auth/password-reset",
            Auth::None,
            Some(json!({ "email": person.email })),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    let link = mail
        .wait_for(&person.email, "Reset your Keysmith password", 1)
        .await[0]
        .token_after("/reset-password?token=");
    let browser = app.new_browser();
    let reset = browser
        .post(app.url("/rpc/reset_password"))
        .form(&[
            ("token", link.as_str()),
            ("password", "a brand new passphrase for keysmith"),
        ])
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success() || reset.status().is_redirection());
    let me = browser
        .post(app.url("/rpc/current_user"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "the reset must not sign in past the second factor"
    );
    let next = code(&secret, step_now() + 1);
    let signed_in = app
        .api(Method::POST, "/auth/token", Auth::None, Some(json!({ "email": person.email, "password": "a brand new passphrase for keysmith", "otp": next })))
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
}

#[tokio::test]
async fn the_operator_turns_it_off_for_a_user_who_lost_everything() {
    let app = TestApp::spawn().await;
    let person = owner(&app).await;
    enrol(&app, &person).await;
    let run = |email: &str| {
        std::process::Command::new(binary())
            .current_dir(app.dir.path())
            .envs(base_env(app.dir.path()))
            .args(["user", "disable-two-factor", email])
            .output()
            .unwrap()
    };
    let done = run(&person.email);
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        token(&app, &person.email, None).await.status,
        StatusCode::OK
    );
    let again = run(&person.email);
    assert!(!again.status.success());
    assert!(String::from_utf8(again.stderr)
        .unwrap()
        .contains("off for this user already"));
}

#[tokio::test]
async fn an_owner_requires_it_and_members_without_it_are_sent_to_set_it_up() {
    let app = TestApp::spawn().await;
    let owner = owner(&app).await;
    let member = crate::teams::join(&app, &owner.token, "developer").await;

    // An owner requires it only once they have it; others may not at all.
    let (status, body) = app
        .post_form(
            &owner.browser,
            "set_account_two_factor",
            &[("required", "true")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    enrol(&app, &owner).await;
    let (status, _) = app
        .post_form(
            &member.browser,
            "set_account_two_factor",
            &[("required", "true")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post_form(
            &owner.browser,
            "set_account_two_factor",
            &[("required", "true")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The member's bearer token and a new one are refused; so are their
    // pages' server functions, but not what setting it up needs.
    let keys = app
        .api(Method::GET, "/api-keys", Auth::Bearer(&member.token), None)
        .await;
    assert_problem(&keys, StatusCode::FORBIDDEN, "two_factor_required");
    let fresh = token(&app, &member.email, None).await;
    assert_problem(&fresh, StatusCode::FORBIDDEN, "two_factor_required");
    let (status, _) = app.post_form(&member.browser, "key_counts", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, me) = app.post_form(&member.browser, "current_user", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["must_enrol_two_factor"], true);
    let page = member
        .browser
        .get(app.url("/dashboard/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers()["location"],
        "/dashboard/account?two-factor=required"
    );
    let account = member
        .browser
        .get(app.url("/dashboard/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), StatusCode::OK);

    // Once they set it up, everything is theirs again.
    let (secret, _) = enrol(&app, &member).await;
    let (status, _) = app.post_form(&member.browser, "key_counts", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let next = code(&secret, step_now() + 1);
    assert_eq!(
        token(&app, &member.email, Some(&next)).await.status,
        StatusCode::OK
    );
    let (status, _) = app
        .post_form(
            &owner.browser,
            "set_account_two_factor",
            &[("required", "false")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
