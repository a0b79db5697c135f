use crate::helpers::*;
use reqwest::{header, StatusCode};
use std::sync::Arc;

#[tokio::test]
async fn pages_carry_strict_security_headers_and_a_nonce_for_their_script() {
    let app = TestApp::spawn().await;
    let response = app.get("/login").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();

    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(!csp.contains("'unsafe-inline'"), "{csp}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "same-origin");

    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page CSP names a nonce");
    assert!(page.contains(&format!("<script type=\"module\" nonce=\"{nonce}\">")));

    let again = app.get("/login").await;
    let csp_again = again.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        !csp_again.contains(nonce),
        "each response gets its own nonce"
    );
}

#[tokio::test]
async fn every_other_response_has_the_headers_too() {
    let app = TestApp::spawn().await;
    for path in ["/dashboard", "/no/such/page", "/favicon.svg"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert!(
            headers.contains_key(header::CONTENT_SECURITY_POLICY),
            "{path}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert!(headers.contains_key(header::REFERRER_POLICY), "{path}");
    }
}

#[tokio::test]
async fn an_unknown_page_is_a_404_page() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn a_state_changing_request_from_another_site_is_refused() {
    let app = TestApp::spawn().await;
    let response = reqwest::Client::new()
        .post(app.url("/rpc/sign_up"))
        .header(header::ORIGIN, "https://evil.example")
        .form(&[("email", "victim@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Nothing was created: the same sign-up from our own origin still works.
    assert_success(&app.sign_up("victim@example.com", PASSWORD).await);
}

#[tokio::test]
async fn a_state_changing_request_that_cannot_say_where_it_came_from_is_refused() {
    let app = TestApp::spawn().await;
    let response = reqwest::Client::new()
        .post(app.url("/rpc/sign_out"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let with_referer = reqwest::Client::new()
        .post(app.url("/rpc/auth_options"))
        .header(header::REFERER, app.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_referer.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(200 * 1024);
    let response = app
        .rpc(
            "sign_in",
            &[
                ("email", "a@example.com"),
                ("password", &huge),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn user_input_is_escaped_when_shown() {
    let app = TestApp::spawn().await;
    let response = app
        .get("/login?next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
        .await;
    let page = response.text().await.unwrap();
    assert!(!page.contains("<script>alert(1)</script>"));
}

#[tokio::test]
async fn health_probes_answer_without_a_session() {
    let app = TestApp::spawn().await;
    let live = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(
        live.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["database"],
        "ok"
    );
    // The edge answers their GET itself; their other methods are the
    // router's, as every route's are.
    let client = reqwest::Client::new();
    for probe in ["/healthz", "/readyz"] {
        let head = client.head(app.url(probe)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "{probe}");
        let post = client.post(app.url(probe)).send().await.unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED, "{probe}");
        assert_eq!(post.headers()[header::ALLOW], "GET,HEAD", "{probe}");
    }
}

#[tokio::test]
async fn nothing_that_can_hold_a_secret_may_be_cached() {
    let app = TestApp::spawn().await;
    let no_store = |response: &reqwest::Response, what: &str| {
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "no-store",
            "{what}"
        );
    };
    no_store(&app.get("/login").await, "sign-in page");
    app.signed_up(&unique_email()).await;
    no_store(&app.get("/dashboard/api-keys").await, "API keys page");
    let created = app
        .client
        .post(app.url("/rpc/create_api_key"))
        .json(&serde_json::json!({ "draft": { "name": "c", "scopes": ["read"], "expires_in_days": null, "ips": [] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    no_store(&created, "create_api_key");
    let id = created.json::<serde_json::Value>().await.unwrap()["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = app
        .client
        .post(app.url("/rpc/rotate_api_key"))
        .json(&serde_json::json!({ "id": id, "grace_period_minutes": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        rotated.status(),
        StatusCode::OK,
        "{}",
        rotated.text().await.unwrap()
    );
    no_store(&rotated, "rotate_api_key");
}

/// Unix permission bits of a file in the app's folder.
fn mode_of(app: &TestApp, name: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(app.dir.path().join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_database_and_secret_files_are_readable_by_their_owner_only() {
    let app = TestApp::spawn().await;
    app.signed_up(&unique_email()).await;
    app.create_key("on disk", &["read"]).await;
    for name in [
        "keysmith.db",
        "keysmith.db-wal",
        "keysmith.db-shm",
        "keysmith.secret",
    ] {
        assert_eq!(mode_of(&app, name), 0o600, "{name}");
    }
}

#[tokio::test]
async fn a_secret_file_other_users_can_read_stops_start_up() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let dir = app.stop().await;
    let secret = dir.path().join("keysmith.secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = std::process::Command::new(binary())
        .current_dir(dir.path())
        .envs(base_env(dir.path()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("chmod 600"), "{said}");
}

#[tokio::test]
async fn key_names_with_text_direction_or_invisible_characters_are_refused() {
    let app = TestApp::spawn().await;
    app.signed_up(&unique_email()).await;
    for name in [
        "invoice\u{202E}fdp.exe",
        "zero\u{200B}width",
        "iso\u{2066}late\u{2069}",
    ] {
        let (status, body) = app
            .call(
                "create_api_key",
                serde_json::json!({ "draft": { "name": name, "scopes": ["read"], "expires_in_days": null, "ips": [] } }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        assert!(body.to_string().contains("invisible"), "{body}");
    }
}

async fn get_with_host(app: &TestApp, path: &str, host: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header(header::HOST, host)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_a_public_url_only_its_host_is_answered() {
    let app = TestApp::spawn_with(&[("KEYSMITH_PUBLIC_URL", "https://keys.example.com")]).await;
    assert_eq!(
        get_with_host(&app, "/login", "keys.example.com")
            .await
            .status(),
        StatusCode::OK
    );
    let forged = get_with_host(&app, "/login", "evil.example").await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let api = get_with_host(&app, "/api/v2/openapi.json", "evil.example").await;
    assert_eq!(api.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        api.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(
        get_with_host(&app, "/healthz", "127.0.0.1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get_with_host(&app, "/healthz", "localhost:9")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        get_with_host(&app, "/login", "127.0.0.1").await.status(),
        StatusCode::BAD_REQUEST,
        "loopback reaches the probes only"
    );
}

#[tokio::test]
async fn allowed_hosts_can_be_listed_and_without_any_setting_every_host_is_answered() {
    let app = TestApp::spawn_with(&[("KEYSMITH_ALLOWED_HOSTS", "a.example,b.example")]).await;
    assert_eq!(
        get_with_host(&app, "/login", "A.example").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get_with_host(&app, "/login", "b.example:8080")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        get_with_host(&app, "/login", "c.example").await.status(),
        StatusCode::BAD_REQUEST
    );
    let open = TestApp::spawn().await;
    assert_eq!(
        get_with_host(&open, "/login", "anything.example")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_proxy_seen_as_an_ipv4_mapped_address_is_still_trusted() {
    // Listening on [::], an IPv4 peer arrives as ::ffff:127.0.0.1.
    let app = TestApp::spawn_with(&[
        ("LEPTOS_SITE_ADDR", "[::]:0"),
        ("KEYSMITH_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let over_ipv4 = format!("http://127.0.0.1:{port}");
    let browser = browser_client(&over_ipv4);
    let signed_up = browser
        .post(format!("{over_ipv4}/rpc/sign_up"))
        .form(&[("email", unique_email().as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_success(&signed_up);
    let created: serde_json::Value = browser
        .post(format!("{over_ipv4}/rpc/create_api_key"))
        .json(&serde_json::json!({ "draft": { "name": "fenced", "scopes": ["read"], "expires_in_days": null, "ips": ["203.0.113.0/24"] } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["secret"].as_str().unwrap();
    let me_from = |address: &'static str| {
        reqwest::Client::new()
            .get(format!("{over_ipv4}/api/v2/me"))
            .header("X-API-Key", key)
            .header("X-Forwarded-For", address)
            .send()
    };
    assert_eq!(
        me_from("203.0.113.7").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        me_from("198.51.100.7").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

/// The nonce a page's CSP header names, and every nonce its HTML carries.
fn nonces(csp: &str, html: &str) -> (Option<String>, Vec<String>) {
    let named = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .map(str::to_owned);
    let carried = html
        .split("nonce=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    (named, carried)
}

/// Each page keeps its own nonce however many requests run beside it on
/// the same worker threads: assets, unknown files and server functions
/// never carry a page nonce, nor touch a page's header.
#[tokio::test]
async fn every_page_names_exactly_the_nonce_its_scripts_carry_under_concurrency() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    std::fs::create_dir_all(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/favicon.svg"), "<svg/>").unwrap();
    let app = TestApp::spawn_in(dir, &[]).await;
    // A browser's client: same-origin, so server functions are served.
    let client = app.new_browser();
    let requests = (0..400).map(|i| {
        let client = client.clone();
        let (path, post) = match i % 4 {
            0 | 1 => (["/login", "/signup", "/no/such/page"][i % 3], false),
            2 => (
                ["/favicon.svg", "/robots.txt", "/missing.png"][i % 3],
                false,
            ),
            _ => ("/rpc/current_user", true),
        };
        let url = app.url(path);
        async move {
            let request = if post {
                client
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
            } else {
                client.get(url)
            };
            let response = request.send().await.unwrap();
            let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned();
            let is_page = response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html");
            if post {
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "served, not refused"
                );
            }
            (path, is_page, csp, response.text().await.unwrap())
        }
    });
    let answers = futures::future::join_all(requests).await;
    let mut pages = 0;
    for (path, is_page, csp, body) in answers {
        let (named, carried) = nonces(&csp, &body);
        if is_page {
            pages += 1;
            let named = named.unwrap_or_else(|| panic!("{path}: no nonce in {csp}"));
            assert!(!carried.is_empty(), "{path}");
            assert!(
                carried.iter().all(|n| *n == named),
                "{path}: {named} vs {carried:?}"
            );
        } else {
            assert_eq!(named, None, "{path} carries a page nonce: {csp}");
            assert!(carried.is_empty(), "{path}");
        }
    }
    assert!(pages >= 200, "{pages} pages");
}

#[tokio::test]
async fn files_the_router_does_not_name_are_plain_404s_not_pages() {
    let app = TestApp::spawn().await;
    for path in ["/robots.txt", "/favicon.ico", "/images/missing.png"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let kind = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!kind.starts_with("text/html"), "{path}: {kind}");
    }
    let page = app.get("/no/such/page").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.text().await.unwrap().contains("nonce="));
}
