//! The REST API as the tests call it.

use super::{app::*, database::run_sql};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Key(&'a str),
    /// A key in VideoDB's `x-access-token` header.
    AccessToken(&'a str),
    /// These headers as they are (several credentials at once).
    Headers(&'a [(&'a str, &'a str)]),
}

/// A REST answer: its status, headers and JSON body (or the text, as a
/// JSON string, when it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// A REST call to `/api/v2{path}` with `auth`; the status, headers and
    /// decoded body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> Answer {
        let url = self.url(&format!("/api/v2{path}"));
        let mut request = reqwest::Client::new().request(method, url);
        request = match auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Key(key) => request.header("X-API-Key", key),
            Auth::AccessToken(key) => request.header("x-access-token", key),
            Auth::Headers(headers) => headers.iter().fold(request, |request, (name, value)| {
                request.header(*name, *value)
            }),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }
}

pub fn assert_problem(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE].to_str().unwrap(),
        "application/problem+json"
    );
    assert_eq!(answer.body["code"], code, "{}", answer.body);
    assert_eq!(answer.body["status"], status.as_u16());
    for field in ["type", "title", "detail"] {
        assert!(answer.body[field].is_string(), "{field} in {}", answer.body);
    }
}

/// Signs up over the API and returns a bearer token.
/// The message a 400 problem gives for `field`, if it names it.
pub fn field_error<'a>(answer: &'a Answer, field: &str) -> Option<&'a str> {
    answer.body["errors"]
        .as_array()?
        .iter()
        .find(|error| error["field"] == field)
        .and_then(|error| error["message"].as_str())
}

pub async fn user_token(app: &TestApp) -> String {
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
    let token = app
        .api(
            Method::POST,
            "/auth/token",
            Auth::None,
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    assert_eq!(token.body["token_type"], "Bearer");
    assert_eq!(token.body["expires_in"], 900);
    token.body["access_token"].as_str().unwrap().to_owned()
}

pub async fn create_key(app: &TestApp, token: &str, body: Value) -> (String, String) {
    let created = app
        .api(Method::POST, "/api-keys", Auth::Bearer(token), Some(body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    (
        data["id"].as_str().unwrap().to_owned(),
        data["key"].as_str().unwrap().to_owned(),
    )
}

/// `POST /api-keys` with `draft`, whatever the answer.
pub async fn try_create_key(app: &TestApp, token: &str, draft: Value) -> Answer {
    app.api(Method::POST, "/api-keys", Auth::Bearer(token), Some(draft))
        .await
}

/// `PATCH /api-keys/{id}` with `changes`, whatever the answer.
pub async fn edit_key(app: &TestApp, token: &str, id: &str, changes: Value) -> Answer {
    let path = format!("/api-keys/{id}");
    app.api(Method::PATCH, &path, Auth::Bearer(token), Some(changes))
        .await
}

pub async fn key_with(app: &TestApp, token: &str, scopes: &[&str]) -> (String, String) {
    create_key(
        app,
        token,
        json!({ "name": format!("{scopes:?}"), "scopes": scopes }),
    )
    .await
}

/// Moves a key's expiry into the past, in the real database.
pub async fn expire(app: &TestApp, id: &str) {
    run_sql(
        &app.database_url(),
        &format!("UPDATE api_keys SET expires_at = 1 WHERE id = '{id}'"),
    )
    .await;
}

/// Creates a key with an `Idempotency-Key`.
pub async fn create_idempotently(
    app: &TestApp,
    token: &str,
    idempotency_key: &str,
    body: &Value,
) -> reqwest::Response {
    post_idempotently(app, token, "/api-keys", idempotency_key, body).await
}

/// A POST with an `Idempotency-Key` as `token`'s holder.
pub async fn post_idempotently(
    app: &TestApp,
    token: &str,
    path: &str,
    idempotency_key: &str,
    body: &Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(&format!("/api/v2{path}")))
        .bearer_auth(token)
        .header("Idempotency-Key", idempotency_key)
        .json(body)
        .send()
        .await
        .unwrap()
}
