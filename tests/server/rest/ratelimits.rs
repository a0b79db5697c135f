//! Rate limits: a key's own and its account's, set over the API, counted by
//! verify exactly under concurrency, all or nothing, window by window.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

async fn verify(app: &TestApp, request: Value) -> Value {
    let answer = app
        .api(Method::POST, "/keys/verify", Auth::None, Some(request))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"].clone()
}

fn limited(name: &str, limit: i64, window_seconds: i64) -> Value {
    json!({ "name": name, "limit": limit, "window_seconds": window_seconds })
}

async fn limited_key(app: &TestApp, token: &str, ratelimits: Value) -> (String, String) {
    let body = json!({ "name": "limited", "scopes": ["read"], "ratelimits": ratelimits });
    create_key(app, token, body).await
}

/// The state of the limit named `name` that applies to `holder`.
fn limit_in<'a>(answer: &'a Value, name: &str, holder: &str) -> &'a Value {
    answer["ratelimits"]
        .as_array()
        .unwrap_or_else(|| panic!("no ratelimits in {answer}"))
        .iter()
        .find(|limit| limit["name"] == name && limit["applies_to"] == holder)
        .unwrap_or_else(|| panic!("no {holder} limit {name} in {answer}"))
}

#[tokio::test]
async fn concurrent_verifications_of_a_fresh_limit_admit_exactly_the_limit() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, key) = limited_key(&app, &token, json!([limited("requests", 50, 600)])).await;
    let app = std::sync::Arc::new(app);
    let verifications: Vec<_> = (0..200)
        .map(|_| {
            let app = app.clone();
            let key = key.clone();
            tokio::spawn(async move { verify(&app, json!({ "key": key })).await })
        })
        .collect();
    let mut valid = 0;
    for verification in verifications {
        let answer = verification.await.unwrap();
        match answer["code"].as_str().unwrap() {
            "VALID" => valid += 1,
            "RATE_LIMITED" => {
                assert_eq!(answer["valid"], false);
                let retry = answer["retry_after_ms"].as_i64().unwrap();
                assert!(retry > 0 && retry <= 600_000, "{answer}");
                assert_eq!(limit_in(&answer, "requests", "key")["remaining"], 0);
            }
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!(valid, 50);
}

#[tokio::test]
async fn a_valid_answer_says_what_remains_and_when_the_window_ends() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, key) = limited_key(&app, &token, json!([limited("requests", 3, 60)])).await;
    let before = now_s() as i64 * 1_000;
    let first = verify(&app, json!({ "key": key })).await;
    assert_eq!(first["code"], "VALID");
    let state = limit_in(&first, "requests", "key");
    assert_eq!(
        (&state["limit"], &state["remaining"]),
        (&json!(3), &json!(2))
    );
    let reset_at = state["reset_at"].as_i64().unwrap();
    assert!(
        reset_at >= before + 59_000 && reset_at <= before + 62_000,
        "{reset_at} vs {before}"
    );
    let second = verify(&app, json!({ "key": key, "cost": 2 })).await;
    assert_eq!(limit_in(&second, "requests", "key")["remaining"], 0);
    assert_eq!(limit_in(&second, "requests", "key")["reset_at"], reset_at);
    // A check that costs nothing passes, and takes nothing.
    let check = verify(&app, json!({ "key": key, "cost": 0 })).await;
    assert_eq!(check["code"], "VALID", "{check}");
    let refused = verify(&app, json!({ "key": key })).await;
    assert_eq!(refused["code"], "RATE_LIMITED");
    assert!(refused.get("key_id").is_none(), "{refused}");
}

#[tokio::test]
async fn a_window_that_ended_admits_again() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, key) = limited_key(&app, &token, json!([limited("requests", 2, 1)])).await;
    let codes = |answers: &[Value]| -> Vec<String> {
        answers
            .iter()
            .map(|a| a["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(verify(&app, json!({ "key": key })).await);
    }
    assert_eq!(codes(&answers), ["VALID", "VALID", "RATE_LIMITED"]);
    let retry = answers[2]["retry_after_ms"].as_u64().unwrap();
    assert!(retry <= 1_000, "{retry}");
    tokio::time::sleep(Duration::from_millis(retry + 50)).await;
    let again = verify(&app, json!({ "key": key })).await;
    assert_eq!(again["code"], "VALID", "{again}");
    assert_eq!(limit_in(&again, "requests", "key")["remaining"], 1);
}

#[tokio::test]
async fn an_account_limit_is_shared_by_every_key_of_the_account() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, first) = key_with(&app, &token, &["read"]).await;
    let (_, second) = key_with(&app, &token, &["read"]).await;
    // Cached before the account's limit is set: the change reaches them.
    assert_eq!(verify(&app, json!({ "key": first })).await["code"], "VALID");
    let set = app
        .api(
            Method::PUT,
            "/account/ratelimits",
            Auth::Bearer(&token),
            Some(json!({ "ratelimits": [limited("requests", 3, 600)] })),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(
        set.body["data"]["ratelimits"],
        json!([limited("requests", 3, 600)])
    );
    let read = app
        .api(
            Method::GET,
            "/account/ratelimits",
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(read.body["data"], set.body["data"]);

    let mut codes = Vec::new();
    for key in [&first, &second, &first, &second] {
        let answer = verify(&app, json!({ "key": key })).await;
        codes.push(answer["code"].as_str().unwrap().to_owned());
        assert_eq!(limit_in(&answer, "requests", "account")["limit"], 3);
    }
    assert_eq!(codes, ["VALID", "VALID", "VALID", "RATE_LIMITED"]);

    // Another account's keys are not counted.
    let other_token = user_token(&app).await;
    let (_, stranger) = key_with(&app, &other_token, &["read"]).await;
    let answer = verify(&app, json!({ "key": stranger })).await;
    assert_eq!(answer["code"], "VALID");
    assert!(answer.get("ratelimits").is_none(), "{answer}");

    let cleared = app
        .api(
            Method::PUT,
            "/account/ratelimits",
            Auth::Bearer(&token),
            Some(json!({ "ratelimits": [] })),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(
        verify(&app, json!({ "key": second })).await["code"],
        "VALID"
    );
    let events = app
        .api(Method::GET, "/audit-events", Auth::Bearer(&token), None)
        .await;
    let changes: Vec<&Value> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["action"] == "account.ratelimits_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{}", events.body);
    assert_eq!(
        changes[1]["detail"],
        "ratelimits: none → requests: 3 per 10 minutes"
    );
}

#[tokio::test]
async fn a_refusal_takes_nothing_from_any_limit() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let limits = json!([limited("requests", 2, 600), limited("tokens", 5, 600)]);
    let (_, key) = limited_key(&app, &token, limits).await;
    // Refused before the limits (a scope it lacks): nothing is taken.
    let scoped = json!({ "key": key, "required_scope": "write" });
    assert_eq!(verify(&app, scoped).await["code"], "INSUFFICIENT_SCOPE");
    let both = verify(&app, json!({ "key": key, "cost": 2 })).await;
    assert_eq!(both["code"], "VALID", "{both}");
    assert_eq!(limit_in(&both, "requests", "key")["remaining"], 0);
    assert_eq!(limit_in(&both, "tokens", "key")["remaining"], 3);
    // `requests` is spent: the refusal takes nothing from `tokens` either.
    let refused = verify(&app, json!({ "key": key, "cost": 1 })).await;
    assert_eq!(refused["code"], "RATE_LIMITED", "{refused}");
    assert_eq!(limit_in(&refused, "tokens", "key")["remaining"], 3);
    // Counting against `tokens` alone, its 3 are still there.
    let tokens = json!({ "key": key, "cost": 3, "ratelimits": ["tokens"] });
    let answer = verify(&app, tokens).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    assert_eq!(limit_in(&answer, "tokens", "key")["remaining"], 0);
    assert_eq!(answer["ratelimits"].as_array().unwrap().len(), 1);
    // A cost above a limit can never pass.
    let (_, small) = limited_key(&app, &token, json!([limited("requests", 2, 600)])).await;
    let too_much = verify(&app, json!({ "key": small, "cost": 3 })).await;
    assert_eq!(too_much["code"], "RATE_LIMITED");
    assert_eq!(
        verify(&app, json!({ "key": small, "cost": 2 })).await["code"],
        "VALID"
    );
}

#[tokio::test]
async fn limits_are_kept_with_the_key_shown_changed_and_audited() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let limits = json!([limited("requests", 100, 60)]);
    let (id, key) = limited_key(&app, &token, limits.clone()).await;
    let path = format!("/api-keys/{id}");
    let shown = app
        .api(Method::GET, &path, Auth::Bearer(&token), None)
        .await;
    assert_eq!(shown.body["data"]["ratelimits"], limits);
    let listed = app
        .api(Method::GET, "/api-keys", Auth::Bearer(&token), None)
        .await;
    assert_eq!(listed.body["data"][0]["ratelimits"], limits);
    assert_eq!(verify(&app, json!({ "key": key })).await["code"], "VALID");

    let tighter = json!([limited("requests", 1, 60)]);
    let changed = edit_key(&app, &token, &id, json!({ "ratelimits": tighter })).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["data"]["ratelimits"], tighter);
    // A rename leaves them as they are.
    let renamed = edit_key(&app, &token, &id, json!({ "name": "renamed" })).await;
    assert_eq!(renamed.body["data"]["ratelimits"], tighter);
    // The window already admitted one: the tighter limit has no room left.
    let answer = verify(&app, json!({ "key": key })).await;
    assert_eq!(answer["code"], "RATE_LIMITED", "{answer}");

    let removed = edit_key(&app, &token, &id, json!({ "ratelimits": [] })).await;
    assert_eq!(removed.body["data"]["ratelimits"], json!([]));
    let free = verify(&app, json!({ "key": key })).await;
    assert_eq!(free["code"], "VALID");
    assert!(free.get("ratelimits").is_none(), "{free}");

    let events = app
        .api(Method::GET, "/audit-events", Auth::Bearer(&token), None)
        .await;
    let details: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["detail"].as_str())
        .collect();
    assert!(
        details.contains(&"ratelimits: requests: 1 per minute → none"),
        "{details:?}"
    );
    assert!(
        details.contains(&"ratelimits: requests: 100 per minute"),
        "{details:?}"
    );
}

#[tokio::test]
async fn bad_limits_and_bad_costs_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let six: Vec<Value> = (0..6).map(|i| limited(&format!("l{i}"), 1, 1)).collect();
    for (ratelimits, expected) in [
        (json!(six), "At most 5 rate limits"),
        (json!([limited("requests", 0, 60)]), "the limit must be"),
        (
            json!([limited("requests", 5, 86_401)]),
            "the window must be",
        ),
        (json!([limited("", 5, 60)]), "give it a name"),
        (
            json!([limited("a", 1, 1), limited("a", 2, 2)]),
            "another limit has this name",
        ),
    ] {
        let body = json!({ "name": "k", "scopes": ["read"], "ratelimits": ratelimits });
        let answer = try_create_key(&app, &token, body).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "validation_failed");
        let message = field_error(&answer, "ratelimits").unwrap();
        assert!(message.contains(expected), "{message}");
        let put = app
            .api(
                Method::PUT,
                "/account/ratelimits",
                Auth::Bearer(&token),
                Some(json!({ "ratelimits": ratelimits })),
            )
            .await;
        assert_problem(&put, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(field_error(&put, "ratelimits").is_some());
    }
    let shapeless = json!({ "name": "k", "scopes": ["read"], "ratelimits": [{ "name": "x" }] });
    let answer = try_create_key(&app, &token, shapeless).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);

    let (_, key) = limited_key(&app, &token, json!([limited("requests", 5, 60)])).await;
    for cost in [json!(-1), json!(1_001)] {
        let request = json!({ "key": key, "cost": cost });
        let answer = app
            .api(Method::POST, "/keys/verify", Auth::None, Some(request))
            .await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(field_error(&answer, "cost").is_some(), "{}", answer.body);
    }
    for bad in [json!("one"), json!(1.5)] {
        let request = json!({ "key": key, "cost": bad });
        let answer = app
            .api(Method::POST, "/keys/verify", Auth::None, Some(request))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    }
    let names: Vec<String> = (0..11).map(|i| format!("l{i}")).collect();
    let request = json!({ "key": key, "ratelimits": names });
    let answer = app
        .api(Method::POST, "/keys/verify", Auth::None, Some(request))
        .await;
    assert!(
        field_error(&answer, "ratelimits").is_some(),
        "{}",
        answer.body
    );
    // None of that took anything.
    let answer = verify(&app, json!({ "key": key })).await;
    assert_eq!(limit_in(&answer, "requests", "key")["remaining"], 4);
}

#[tokio::test]
async fn only_admins_and_keys_that_write_set_the_account_limits() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let management =
        |scopes: &[&str]| json!({ "name": "ops", "type": "management", "scopes": scopes });
    let (_, reader) = create_key(&app, &token, management(&["keys:read"])).await;
    let (_, writer) = create_key(&app, &token, management(&["keys:write"])).await;
    let (_, api_key) = key_with(&app, &token, &["read"]).await;
    let body = json!({ "ratelimits": [limited("requests", 10, 60)] });
    let as_reader = app
        .api(
            Method::PUT,
            "/account/ratelimits",
            Auth::Key(&reader),
            Some(body.clone()),
        )
        .await;
    assert_problem(&as_reader, StatusCode::FORBIDDEN, "insufficient_scope");
    let read = app
        .api(Method::GET, "/account/ratelimits", Auth::Key(&reader), None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let as_api_key = app
        .api(
            Method::PUT,
            "/account/ratelimits",
            Auth::Key(&api_key),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        as_api_key.status,
        StatusCode::FORBIDDEN,
        "{}",
        as_api_key.body
    );
    let as_writer = app
        .api(
            Method::PUT,
            "/account/ratelimits",
            Auth::Key(&writer),
            Some(body),
        )
        .await;
    assert_eq!(as_writer.status, StatusCode::OK, "{}", as_writer.body);
    let unauthenticated = app
        .api(Method::GET, "/account/ratelimits", Auth::None, None)
        .await;
    assert_problem(
        &unauthenticated,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

#[tokio::test]
async fn refusals_by_a_limit_are_counted_in_the_keys_usage() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = limited_key(&app, &token, json!([limited("requests", 2, 600)])).await;
    for _ in 0..5 {
        verify(&app, json!({ "key": key })).await;
    }
    let path = format!("/api-keys/{id}/usage?days=1");
    eventually(Duration::from_secs(10), "usage is written", || async {
        let answer = app
            .api(Method::GET, &path, Auth::Bearer(&token), None)
            .await;
        let today = &answer.body["data"][0];
        today["valid"] == 2 && today["refused"]["RATE_LIMITED"] == 3
    })
    .await;
}

#[tokio::test]
async fn a_restart_keeps_what_the_window_admitted() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, key) = limited_key(&app, &token, json!([limited("requests", 10, 600)])).await;
    for _ in 0..6 {
        assert_eq!(verify(&app, json!({ "key": key })).await["code"], "VALID");
    }
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &[]).await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let answer = verify(&app, json!({ "key": key })).await;
        codes.push(answer["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        codes,
        ["VALID", "VALID", "VALID", "VALID", "RATE_LIMITED"],
        "the unused part of the lease was given back as the server stopped"
    );
}

#[tokio::test]
async fn windows_that_ended_are_swept_and_current_ones_kept() {
    let app = TestApp::spawn().await;
    let dir = app.stop().await;
    let url = database_url(dir.path());
    let now = now_s() as i64 * 1_000;
    for (subject, started_at) in [("key_ended", now - 3_600_000), ("key_current", now)] {
        run_sql(
            &url,
            &format!(
                "INSERT INTO ratelimit_windows
                   (subject, name, window_ms, started_at, granted, last_given)
                 VALUES ('{subject}', 'requests', 60000, {started_at}, 5, 5)"
            ),
        )
        .await;
    }
    let swept = TestApp::spawn_in(dir, &[]).await;
    let url = swept.database_url();
    eventually(Duration::from_secs(5), "swept at start-up", || async {
        query_number(
            &url,
            "SELECT COUNT(*) FROM ratelimit_windows WHERE subject = 'key_ended'",
        )
        .await
            == 0
    })
    .await;
    let current = "SELECT COUNT(*) FROM ratelimit_windows WHERE subject = 'key_current'";
    assert_eq!(query_number(&url, current).await, 1);
}
