//! The OpenAPI document and the one error format.

use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn every_error_is_a_problem_document() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let missing = app.api(Method::GET, "/nowhere", Auth::None, None).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");
    let method = app.api(Method::PUT, "/me", Auth::None, None).await;
    assert_problem(
        &method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    let client = reqwest::Client::new();
    let url = app.url("/api/v2/api-keys");
    let not_json = client
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let broken = client
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        broken.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let huge = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "name": "x".repeat(200_000) }))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        huge.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );

    let invalid = app
        .api(
            Method::POST,
            "/api-keys",
            Auth::Bearer(&token),
            Some(json!({ "name": "", "scopes": ["root"] })),
        )
        .await;
    assert_problem(&invalid, StatusCode::BAD_REQUEST, "validation_failed");
    let fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "scopes"]);
    let limit = app
        .api(
            Method::GET,
            "/api-keys?limit=abc",
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_problem(&limit, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_both_credentials() {
    let app = TestApp::spawn().await;
    let doc = app
        .api(Method::GET, "/openapi.json", Auth::None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemes = &doc.body["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["access_token"]["name"], "x-access-token");
    let paths = doc.body["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path.replace("{key_id}", "key_00000000000000000000000000000000");
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = app.api(method.clone(), &concrete, Auth::None, None).await;
            assert_ne!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed"
            );
            assert_ne!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{method} {path} is documented but not routed"
            );
            assert!(!answer.status.is_server_error(), "{method} {path}");
            let responses = item[method.as_str().to_lowercase()]["responses"]
                .as_object()
                .unwrap();
            assert!(
                responses.contains_key(answer.status.as_str()),
                "{method} {path} answered {} without a credential, which the document does not list",
                answer.status
            );
        }
    }
    assert_eq!(operations, 26);
    assert_every_reference_resolves(&doc.body);
    // Every moment is one type on the wire: an integer of milliseconds.
    let moment = &doc.body["components"]["schemas"]["UnixMs"];
    assert_eq!(moment["type"], "integer", "{moment}");
    let key = &doc.body["components"]["schemas"]["ApiKeyView"]["properties"];
    assert_eq!(key["created_at"]["$ref"], "#/components/schemas/UnixMs");
}

/// Every `$ref` in the document names a schema it holds, so generated
/// clients and tests can follow each one.
fn assert_every_reference_resolves(doc: &Value) {
    fn walk(node: &Value, schemas: &serde_json::Map<String, Value>) {
        match node {
            Value::Object(fields) => {
                if let Some(Value::String(target)) = fields.get("$ref") {
                    let name = target
                        .strip_prefix("#/components/schemas/")
                        .unwrap_or_else(|| panic!("{target} is not a schema reference"));
                    assert!(schemas.contains_key(name), "{target} names no schema");
                }
                fields.values().for_each(|value| walk(value, schemas));
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, schemas)),
            _ => {}
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    walk(doc, schemas);
}

/// Routes are registered only through `routes!`, from the handlers'
/// OpenAPI annotations, so none can exist without being documented.
#[test]
fn no_rest_route_is_registered_outside_the_document() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rest");
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        for forbidden in [".route(", ".route_service(", ".nest(", ".merge("] {
            assert!(
                !source.contains(forbidden),
                "{} registers a route with {forbidden}",
                path.display()
            );
        }
    }
}
