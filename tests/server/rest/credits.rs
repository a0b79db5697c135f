//! Usage credits: set on a key, spent by verify's cost exactly under
//! concurrency, never below zero, refilled, and changed with a reason.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn verify(app: &TestApp, request: Value) -> Value {
    let answer = app
        .api(Method::POST, "/keys/verify", Auth::None, Some(request))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"].clone()
}

async fn key_with_credits(app: &TestApp, token: &str, credits: Value) -> (String, String) {
    let body = json!({ "name": "metered", "scopes": ["read"], "credits": credits });
    create_key(app, token, body).await
}

async fn credits_of(app: &TestApp, token: &str, id: &str) -> Value {
    let answer = app
        .api(
            Method::GET,
            &format!("/api-keys/{id}"),
            Auth::Bearer(token),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"]["credits"].clone()
}

async fn change_credits(app: &TestApp, token: &str, id: &str, body: Value) -> Answer {
    let path = format!("/api-keys/{id}/credits");
    app.api(Method::POST, &path, Auth::Bearer(token), Some(body))
        .await
}

#[tokio::test]
async fn credits_are_spent_and_refused_once_fewer_than_the_cost_remain() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with_credits(&app, &token, json!({ "remaining": 2 })).await;
    let mut codes = Vec::new();
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let answer = verify(&app, json!({ "key": key })).await;
        codes.push(answer["code"].as_str().unwrap().to_owned());
        remaining.push(answer["credits"]["remaining"].clone());
    }
    assert_eq!(
        codes,
        [
            "VALID",
            "VALID",
            "USAGE_EXCEEDED",
            "USAGE_EXCEEDED",
            "USAGE_EXCEEDED"
        ]
    );
    assert_eq!(
        remaining,
        [json!(1), json!(0), json!(0), json!(0), json!(0)]
    );
    let refused = verify(&app, json!({ "key": key })).await;
    assert_eq!(refused["valid"], false);
    assert!(refused.get("key_id").is_none(), "{refused}");
    assert_eq!(
        credits_of(&app, &token, &id).await,
        json!({ "remaining": 0, "refill": null, "refill_at": null, "lost": 0 })
    );
}

#[tokio::test]
async fn concurrent_verifications_never_spend_more_than_the_credits() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let token = user_token(&app).await;
    let (id, key) = key_with_credits(&app, &token, json!({ "remaining": 50 })).await;
    let verifications: Vec<_> = (0..200)
        .map(|_| {
            let (app, key) = (app.clone(), key.clone());
            tokio::spawn(async move { verify(&app, json!({ "key": key })).await })
        })
        .collect();
    let mut valid = 0;
    for verification in verifications {
        let answer = verification.await.unwrap();
        match answer["code"].as_str().unwrap() {
            "VALID" => valid += 1,
            "USAGE_EXCEEDED" => {}
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!(valid, 50);
    assert_eq!(credits_of(&app, &token, &id).await["remaining"], 0);
}

#[tokio::test]
async fn a_cost_takes_that_many_a_check_takes_none_and_a_refusal_takes_nothing() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with_credits(&app, &token, json!({ "remaining": 10 })).await;
    let spend = |cost: i64| verify(&app, json!({ "key": key, "cost": cost }));
    let answer = spend(8).await;
    assert_eq!(
        (&answer["code"], &answer["credits"]["remaining"]),
        (&json!("VALID"), &json!(2))
    );
    let answer = spend(3).await;
    assert_eq!(
        (&answer["code"], &answer["credits"]["remaining"]),
        (&json!("USAGE_EXCEEDED"), &json!(2)),
        "fewer than the cost: none taken"
    );
    let answer = spend(0).await;
    assert_eq!(
        (&answer["code"], &answer["credits"]["remaining"]),
        (&json!("VALID"), &json!(2))
    );
    let answer = spend(2).await;
    assert_eq!(
        (&answer["code"], &answer["credits"]["remaining"]),
        (&json!("VALID"), &json!(0))
    );
    assert_eq!(
        spend(0).await["code"],
        "VALID",
        "a check of nothing passes at 0"
    );
    assert_eq!(credits_of(&app, &token, &id).await["remaining"], 0);
}

#[tokio::test]
async fn a_rate_limit_refusal_takes_no_credits_and_a_credit_refusal_takes_nothing_from_limits() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let limit = |n: i64| json!([{ "name": "requests", "limit": n, "window_seconds": 600 }]);
    let body = json!({ "name": "both", "scopes": ["read"], "ratelimits": limit(1),
                       "credits": { "remaining": 10 } });
    let (id, key) = create_key(&app, &token, body).await;
    assert_eq!(
        verify(&app, json!({ "key": key })).await["credits"]["remaining"],
        9
    );
    let limited = verify(&app, json!({ "key": key })).await;
    assert_eq!(limited["code"], "RATE_LIMITED");
    assert_eq!(credits_of(&app, &token, &id).await["remaining"], 9);

    let body = json!({ "name": "poor", "scopes": ["read"], "ratelimits": limit(5),
                       "credits": { "remaining": 1 } });
    let (_, poor) = create_key(&app, &token, body).await;
    assert_eq!(verify(&app, json!({ "key": poor })).await["code"], "VALID");
    let exceeded = verify(&app, json!({ "key": poor })).await;
    assert_eq!(exceeded["code"], "USAGE_EXCEEDED", "{exceeded}");
    assert_eq!(exceeded["ratelimits"][0]["remaining"], 4, "{exceeded}");
    assert_eq!(exceeded["credits"]["remaining"], 0);
}

#[tokio::test]
async fn credits_are_added_and_taken_with_a_reason_and_audited() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with_credits(&app, &token, json!({ "remaining": 2 })).await;
    assert_eq!(verify(&app, json!({ "key": key })).await["code"], "VALID");
    let added = change_credits(
        &app,
        &token,
        &id,
        json!({ "delta": 10, "reason": "refund" }),
    )
    .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["data"]["credits"]["remaining"], 11);
    // Every credit is there to spend, and no more.
    let answer = verify(&app, json!({ "key": key, "cost": 11 })).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    let taken = change_credits(
        &app,
        &token,
        &id,
        json!({ "delta": -1, "reason": "correction" }),
    )
    .await;
    assert_problem(&taken, StatusCode::BAD_REQUEST, "validation_failed");
    assert!(field_error(&taken, "delta")
        .unwrap()
        .contains("holds 0 credits"));
    change_credits(&app, &token, &id, json!({ "delta": 5, "reason": "top-up" })).await;
    let taken = change_credits(
        &app,
        &token,
        &id,
        json!({ "delta": -5, "reason": "chargeback" }),
    )
    .await;
    assert_eq!(
        taken.body["data"]["credits"]["remaining"], 0,
        "{}",
        taken.body
    );

    for (body, field) in [
        (json!({ "delta": 0, "reason": "nothing" }), "delta"),
        (json!({ "delta": 5, "reason": "  " }), "reason"),
        (json!({ "delta": 5, "reason": "x".repeat(201) }), "reason"),
        (
            json!({ "delta": 1_000_000_000_001_i64, "reason": "much" }),
            "delta",
        ),
    ] {
        let answer = change_credits(&app, &token, &id, body).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(field_error(&answer, field).is_some(), "{}", answer.body);
    }
    let shapeless = change_credits(&app, &token, &id, json!({ "delta": "5" })).await;
    assert_eq!(shapeless.status, StatusCode::BAD_REQUEST);
    let (plain, _) = key_with(&app, &token, &["read"]).await;
    let none = change_credits(
        &app,
        &token,
        &plain,
        json!({ "delta": 5, "reason": "gift" }),
    )
    .await;
    assert_problem(&none, StatusCode::CONFLICT, "conflict");
    let stranger = user_token(&app).await;
    let theirs = change_credits(
        &app,
        &stranger,
        &id,
        json!({ "delta": 5, "reason": "theft" }),
    )
    .await;
    assert_problem(&theirs, StatusCode::NOT_FOUND, "not_found");

    let events = app
        .api(Method::GET, "/audit-events", Auth::Bearer(&token), None)
        .await;
    let details: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["action"] == "key.credits_changed")
        .filter_map(|event| event["detail"].as_str())
        .collect();
    assert_eq!(
        details,
        [
            "credits: -5 (chargeback)",
            "credits: +5 (top-up)",
            "credits: +10 (refund)"
        ]
    );
}

#[tokio::test]
async fn credits_are_set_on_update_shown_with_their_refill_and_refilled_when_it_comes() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with(&app, &token, &["read"]).await;
    assert_eq!(credits_of(&app, &token, &id).await, Value::Null);
    let credits = json!({ "remaining": 0, "refill": { "amount": 3, "interval": "daily" } });
    let changed = edit_key(&app, &token, &id, json!({ "credits": credits })).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let shown = &changed.body["data"]["credits"];
    assert_eq!(shown["remaining"], 0);
    assert_eq!(shown["refill"], json!({ "amount": 3, "interval": "daily" }));
    let tomorrow = (now_s() as i64 / 86_400 + 1) * 86_400_000;
    assert_eq!(shown["refill_at"], tomorrow);
    // The refill's moment comes (the clock is moved back in the database).
    run_sql(
        &app.database_url(),
        &format!(
            "UPDATE api_keys SET credits_refill_at = {} WHERE id = '{id}'",
            tomorrow - 86_400_000
        ),
    )
    .await;
    assert_eq!(credits_of(&app, &token, &id).await["remaining"], 3);
    let answer = verify(&app, json!({ "key": key })).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    assert_eq!(
        answer["credits"],
        json!({ "remaining": 2, "refill_at": tomorrow })
    );

    let monthly = json!({ "remaining": 5, "refill": { "amount": 5, "interval": "monthly", "day_of_month": 31 } });
    let changed = edit_key(&app, &token, &id, json!({ "credits": monthly })).await;
    assert_eq!(
        changed.body["data"]["credits"]["refill"]["day_of_month"],
        31
    );
    let removed = edit_key(&app, &token, &id, json!({ "credits": null })).await;
    assert_eq!(removed.body["data"]["credits"], Value::Null);
    let free = verify(&app, json!({ "key": key })).await;
    assert_eq!(free["code"], "VALID");
    assert!(free.get("credits").is_none(), "{free}");

    for (credits, expected) in [
        (json!({ "remaining": -1 }), "remaining must be"),
        (
            json!({ "remaining": 1, "refill": { "amount": 0, "interval": "daily" } }),
            "amount",
        ),
        (
            json!({ "remaining": 1, "refill": { "amount": 1, "interval": "monthly", "day_of_month": 32 } }),
            "1 to 31",
        ),
        (
            json!({ "remaining": 1, "refill": { "amount": 1, "interval": "daily", "day_of_month": 3 } }),
            "monthly refill only",
        ),
    ] {
        let body = json!({ "name": "k", "scopes": ["read"], "credits": credits });
        let answer = try_create_key(&app, &token, body).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "validation_failed");
        let message = field_error(&answer, "credits").unwrap();
        assert!(message.contains(expected), "{message}");
    }
    let weekly = json!({ "name": "k", "scopes": ["read"],
                         "credits": { "remaining": 1, "refill": { "amount": 1, "interval": "weekly" } } });
    assert_eq!(
        try_create_key(&app, &token, weekly).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_retried_request_id_is_answered_as_the_first_was_and_spends_once() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let token = user_token(&app).await;
    let (id, key) = key_with_credits(&app, &token, json!({ "remaining": 10 })).await;
    let first = verify(
        &app,
        json!({ "key": key, "cost": 3, "request_id": "req-1" }),
    )
    .await;
    assert_eq!(
        (&first["code"], &first["credits"]["remaining"]),
        (&json!("VALID"), &json!(7))
    );
    let again = verify(
        &app,
        json!({ "key": key, "cost": 3, "request_id": "req-1" }),
    )
    .await;
    assert_eq!(again, first, "answered as the first was");
    // Retried at once, many times over: still spent once.
    let retries: Vec<_> = (0..20)
        .map(|_| {
            let (app, key) = (app.clone(), key.clone());
            tokio::spawn(async move {
                verify(
                    &app,
                    json!({ "key": key, "cost": 2, "request_id": "req-2" }),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for retry in retries {
        answers.push(retry.await.unwrap());
    }
    assert!(
        answers.iter().all(|answer| answer == &answers[0]),
        "{answers:?}"
    );
    assert_eq!(answers[0]["credits"]["remaining"], 5);
    assert_eq!(credits_of(&app, &token, &id).await["remaining"], 5);
    // Another request_id spends again; a refusal is kept as well.
    let other = verify(
        &app,
        json!({ "key": key, "cost": 6, "request_id": "req-3" }),
    )
    .await;
    assert_eq!(other["code"], "USAGE_EXCEEDED");
    verify(&app, json!({ "key": key, "cost": 5 })).await;
    let kept = verify(
        &app,
        json!({ "key": key, "cost": 6, "request_id": "req-3" }),
    )
    .await;
    assert_eq!(kept, other);
    for bad in [json!(""), json!("x".repeat(129)), json!("a\u{7}b")] {
        let request = json!({ "key": key, "request_id": bad });
        let answer = app
            .api(Method::POST, "/keys/verify", Auth::None, Some(request))
            .await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "validation_failed");
        assert!(field_error(&answer, "request_id").is_some());
    }
}

#[tokio::test]
async fn credits_spent_are_counted_per_day_once_per_request_id() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, key) = key_with_credits(&app, &token, json!({ "remaining": 10 })).await;
    for request in [
        json!({ "key": key, "cost": 3, "request_id": "r-1" }),
        json!({ "key": key, "cost": 3, "request_id": "r-1" }),
        json!({ "key": key, "cost": 2 }),
        json!({ "key": key, "cost": 9 }),
    ] {
        verify(&app, request).await;
    }
    let path = format!("/api-keys/{id}/usage?days=1");
    eventually(
        std::time::Duration::from_secs(10),
        "usage is written",
        || async {
            let answer = app
                .api(Method::GET, &path, Auth::Bearer(&token), None)
                .await;
            let today = &answer.body["data"][0];
            today["credits_spent"] == 5 && today["refused"]["USAGE_EXCEEDED"] == 1
        },
    )
    .await;
}

/// The first 00:00 UTC after now on the 31st, or on the last day of a
/// month that has no 31st.
fn next_month_end_refill() -> i64 {
    use keysmith::shared::clock::{Day, UnixMs};
    let today = UnixMs::from_millis(now_s() as i64 * 1_000).day();
    (1..=62)
        .map(|ahead| today + ahead)
        .find(|day| {
            let (year, month, date) = day.civil();
            date == Day::days_in_month(year, month).min(31)
        })
        .unwrap()
        .start()
        .as_millis()
}

#[tokio::test]
async fn a_monthly_refill_on_the_31st_comes_on_the_last_day_of_a_shorter_month() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let refill = json!({ "amount": 7, "interval": "monthly", "day_of_month": 31 });
    let body = json!({ "name": "monthly", "scopes": ["read"],
                       "credits": { "remaining": 1, "refill": refill } });
    let created = try_create_key(&app, &token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let (id, key) = (
        created.body["data"]["id"].as_str().unwrap().to_owned(),
        created.body["data"]["key"].as_str().unwrap().to_owned(),
    );
    let next = next_month_end_refill();
    assert_eq!(created.body["data"]["credits"]["refill_at"], next);
    // The refill before it came (the clock moved back in the database).
    let came = next - 40 * 86_400_000;
    run_sql(
        &app.database_url(),
        &format!("UPDATE api_keys SET credits_refill_at = {came} WHERE id = '{id}'"),
    )
    .await;
    let shown = credits_of(&app, &token, &id).await;
    assert_eq!(
        (&shown["remaining"], &shown["refill_at"]),
        (&json!(7), &json!(next))
    );
    let answer = verify(&app, json!({ "key": key })).await;
    assert_eq!(
        answer["credits"],
        json!({ "remaining": 6, "refill_at": next })
    );
}

#[tokio::test]
async fn forty_concurrent_removals_never_take_more_than_the_key_holds() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let token = user_token(&app).await;
    let (id, _) = key_with_credits(&app, &token, json!({ "remaining": 10 })).await;
    let removals: Vec<_> = (0..40)
        .map(|n| {
            let (app, token, id) = (app.clone(), token.clone(), id.clone());
            tokio::spawn(async move {
                let body = json!({ "delta": -1, "reason": format!("removal {n}") });
                change_credits(&app, &token, &id, body).await.status
            })
        })
        .collect();
    let mut taken = 0;
    for removal in removals {
        match removal.await.unwrap() {
            StatusCode::OK => taken += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(taken, 10);
    assert_eq!(credits_of(&app, &token, &id).await["remaining"], 0);
}
