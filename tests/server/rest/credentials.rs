//! Credentials of the REST API: what every endpoint answers to no credential,
//! a bad one, an expired token, a key and a token.

use crate::helpers::*;
use keysmith::auth::{
    identity::{AuthenticatedUser, Generations, Membership},
    role::Role,
    token::TokenSigner,
};
use reqwest::{header, Method, StatusCode};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn bad_credentials_get_401_with_www_authenticate() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, key) = key_with(&app, &token, &["read"]).await;
    let expired = TokenSigner::new(&[1u8; 32], Duration::from_secs(60));
    let user = Membership {
        user: AuthenticatedUser {
            user_id: "usr_x".parse().unwrap(),
            account_id: "acc_x".parse().unwrap(),
            role: Role::Owner,
        },
        generations: Generations::default(),
        must_enrol: false,
    };
    let foreign = expired.issue(&user, now_s()).unwrap().token;
    let payload = token.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let mut typo = key.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for auth in [
        Auth::None,
        Auth::Bearer("not-a-token"),
        Auth::Bearer(&foreign),
        Auth::Bearer(&unsigned),
        Auth::Key(&typo),
        Auth::Key("ks_live_short"),
    ] {
        let answer = app.api(Method::GET, "/me", auth, None).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    let wrong = app
        .api(
            Method::POST,
            "/auth/token",
            Auth::None,
            Some(json!({ "email": "nobody@example.com", "password": "whatever it is" })),
        )
        .await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn an_expired_bearer_token_is_refused() {
    let app = TestApp::spawn_with(&[(
        "KEYSMITH_SECRET",
        "a-master-secret-of-at-least-32-characters",
    )])
    .await;
    let token = user_token(&app).await;
    let me = app
        .api(Method::GET, "/me", Auth::Bearer(&token), None)
        .await;
    let user_id = me.body["data"]["user"]["id"].as_str().unwrap();
    // A membership starts at a random generation, which the token names.
    let membership = query_number(
        &app.database_url(),
        &format!("SELECT generation FROM memberships WHERE user_id = '{user_id}'"),
    )
    .await;
    let user = Membership {
        user: AuthenticatedUser {
            user_id: user_id.parse().unwrap(),
            account_id: me.body["data"]["account_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            role: Role::Owner,
        },
        generations: Generations {
            user: 0,
            membership,
        },
        must_enrol: false,
    };
    // The same secret as the server derives, so only the expiry is wrong.
    let signer = TokenSigner::new(
        &keysmith::server::secrets::ServerKeys::from_master(
            b"a-master-secret-of-at-least-32-characters",
        )
        .jwt,
        Duration::from_secs(60),
    );
    let fresh = signer.issue(&user, now_s()).unwrap().token;
    assert_eq!(
        app.api(Method::GET, "/me", Auth::Bearer(&fresh), None)
            .await
            .status,
        StatusCode::OK
    );
    let stale = signer.issue(&user, now_s() - 120).unwrap().token;
    let answer = app
        .api(Method::GET, "/me", Auth::Bearer(&stale), None)
        .await;
    assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn api_signup_is_refused_when_public_signup_is_off() {
    let app = TestApp::spawn_with(&[("KEYSMITH_ALLOW_SIGNUP", "false")]).await;
    let answer = app
        .api(
            Method::POST,
            "/auth/signup",
            Auth::None,
            Some(json!({ "email": "a@example.com", "password": PASSWORD })),
        )
        .await;
    assert_problem(&answer, StatusCode::FORBIDDEN, "forbidden");
}

/// Every credential against every endpoint that takes one.
#[tokio::test]
async fn every_endpoint_answers_every_kind_of_credential_as_documented() {
    const SECRET: &str = "another-master-secret-of-32-characters-at-least";
    let app = TestApp::spawn_with(&[("KEYSMITH_SECRET", SECRET)]).await;
    let owner = user_token(&app).await;
    let stranger = user_token(&app).await;
    let me = app
        .api(Method::GET, "/me", Auth::Bearer(&owner), None)
        .await;
    let user = Membership {
        user: AuthenticatedUser {
            user_id: me.body["data"]["user"]["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            account_id: me.body["data"]["account_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            role: Role::Owner,
        },
        generations: Generations::default(),
        must_enrol: false,
    };
    let signer = TokenSigner::new(
        &keysmith::server::secrets::ServerKeys::from_master(SECRET.as_bytes()).jwt,
        Duration::from_secs(60),
    );
    let expired_jwt = signer.issue(&user, now_s() - 600).unwrap().token;
    let foreign_jwt = TokenSigner::new(&[9u8; 32], Duration::from_secs(60))
        .issue(&user, now_s())
        .unwrap()
        .token;
    let payload = owner.split('.').nth(1).unwrap().to_owned();
    let unsigned_jwt = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");

    let (target, _) = key_with(&app, &owner, &["read"]).await;
    let mut scoped = Vec::new();
    for scope in ["search", "read", "write", "admin"] {
        scoped.push((scope, key_with(&app, &owner, &[scope]).await.1));
    }
    let (revoked_id, revoked) = key_with(&app, &owner, &["admin"]).await;
    app.api(
        Method::POST,
        &format!("/api-keys/{revoked_id}/revoke"),
        Auth::Bearer(&owner),
        None,
    )
    .await;
    let (expired_id, expired) = key_with(&app, &owner, &["admin"]).await;
    expire(&app, &expired_id).await;
    let (graced_id, graced) = key_with(&app, &owner, &["admin"]).await;
    app.api(
        Method::POST,
        &format!("/api-keys/{graced_id}/rotate"),
        Auth::Bearer(&owner),
        Some(json!({ "grace_period_minutes": 60 })),
    )
    .await;
    let (_, fenced) = create_key(
        &app,
        &owner,
        json!({ "name": "fenced", "scopes": ["admin"], "ips": ["203.0.113.0/24"] }),
    )
    .await;

    let by_id = format!("/api-keys/{target}");
    let endpoints: Vec<(Method, String)> = vec![
        (Method::POST, "/api-keys".into()),
        (Method::GET, "/api-keys".into()),
        (Method::GET, by_id.clone()),
        (Method::PATCH, by_id.clone()),
        (Method::DELETE, by_id.clone()),
        (Method::POST, format!("{by_id}/rotate")),
        (Method::POST, format!("{by_id}/revoke")),
        (Method::GET, "/me".into()),
        (Method::GET, "/audit-events".into()),
    ];
    let is_management = |path: &str| path.starts_with("/api-keys");
    let body = json!({ "name": "matrix", "scopes": ["read"] });

    let refused = [
        ("none", Auth::None),
        ("malformed bearer", Auth::Bearer("abc.def.ghi")),
        ("expired token", Auth::Bearer(&expired_jwt)),
        (
            "token signed with another secret",
            Auth::Bearer(&foreign_jwt),
        ),
        ("alg none", Auth::Bearer(&unsigned_jwt)),
        ("malformed key", Auth::Key("ks_live_123")),
        ("revoked key", Auth::Key(&revoked)),
        ("expired key", Auth::Key(&expired)),
    ];
    for (method, path) in &endpoints {
        for (label, auth) in refused {
            let answer = app
                .api(method.clone(), path, auth, Some(body.clone()))
                .await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{label}: {method} {path}"
            );
            assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
        }
        let fenced_answer = app
            .api(method.clone(), path, Auth::Key(&fenced), Some(body.clone()))
            .await;
        assert_eq!(
            fenced_answer.status,
            StatusCode::FORBIDDEN,
            "disallowed IP: {method} {path}"
        );
        for (scope, key) in scoped
            .iter()
            .map(|(s, k)| (*s, k.as_str()))
            // The key in its grace period holds `admin`.
            .chain([("admin", graced.as_str())])
        {
            let answer = app
                .api(method.clone(), path, Auth::Key(key), Some(body.clone()))
                .await;
            let expected = if is_management(path) || (path == "/audit-events" && scope != "admin") {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::OK
            };
            assert_eq!(answer.status, expected, "{scope} key: {method} {path}");
        }
        let foreign = app
            .api(
                method.clone(),
                path,
                Auth::Bearer(&stranger),
                Some(body.clone()),
            )
            .await;
        let expected = match (method.as_str(), path.as_str()) {
            ("POST", "/api-keys") => StatusCode::CREATED,
            (_, p) if p.starts_with(&by_id) => StatusCode::NOT_FOUND,
            _ => StatusCode::OK,
        };
        assert_eq!(
            foreign.status, expected,
            "another account's token: {method} {path}"
        );
    }
    let still_there = app
        .api(Method::GET, &by_id, Auth::Bearer(&owner), None)
        .await;
    assert_eq!(still_there.body["data"]["status"], "active");
    assert_eq!(still_there.body["data"]["name"], "[\"read\"]");
}

#[tokio::test]
async fn a_key_in_x_access_token_is_accepted_wherever_an_api_key_is() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (id, admin) = key_with(&app, &token, &["admin"]).await;
    let me = app
        .api(Method::GET, "/me", Auth::AccessToken(&admin), None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["data"]["key"]["id"], id.as_str());
    let log = app
        .api(
            Method::GET,
            "/audit-events",
            Auth::AccessToken(&admin),
            None,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    // Like X-API-Key, it holds keys only, never a person's token.
    let refused = app
        .api(Method::GET, "/me", Auth::AccessToken(&token), None)
        .await;
    assert_problem(&refused, StatusCode::UNAUTHORIZED, "unauthenticated");
    // And a key cannot manage keys, whichever header carries it.
    let managing = app
        .api(Method::GET, "/api-keys", Auth::AccessToken(&admin), None)
        .await;
    assert_eq!(managing.status, StatusCode::FORBIDDEN, "{}", managing.body);
}

/// Credential headers sent together.
type Headers<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn more_than_one_credential_header_is_refused_naming_them_never_guessed() {
    let app = TestApp::spawn().await;
    let token = user_token(&app).await;
    let (_, key) = key_with(&app, &token, &["admin"]).await;
    let bearer = format!("Bearer {token}");
    let cases: [(Headers, &[&str]); 4] = [
        (
            &[("X-API-Key", &key), ("Authorization", &bearer)],
            &["X-API-Key", "Authorization"],
        ),
        (
            &[("x-access-token", &key), ("X-API-Key", &key)],
            &["X-API-Key", "x-access-token"],
        ),
        (
            &[("x-access-token", &key), ("Authorization", &bearer)],
            &["x-access-token", "Authorization"],
        ),
        (
            &[("X-API-Key", &key), ("X-API-Key", &key)],
            &["X-API-Key", "X-API-Key"],
        ),
    ];
    for (headers, named) in cases {
        for path in ["/me", "/api-keys", "/audit-events"] {
            let answer = app
                .api(Method::GET, path, Auth::Headers(headers), None)
                .await;
            assert_problem(&answer, StatusCode::BAD_REQUEST, "ambiguous_credentials");
            assert_eq!(answer.body["headers"], json!(named), "{path}");
            let detail = answer.body["detail"].as_str().unwrap();
            assert!(detail.contains(&named.join(", ")), "{detail}");
        }
    }
}
