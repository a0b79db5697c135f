use crate::helpers::*;
use keysmith::keys::secret::KeyFormat;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn verify(app: &TestApp, key: &str) -> String {
    let answer: serde_json::Value = app
        .client
        .post(app.url("/api/v2/keys/verify"))
        .json(&json!({ "key": key }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["data"]["code"].as_str().unwrap().to_owned()
}

async fn metrics(app: &TestApp) -> String {
    let response = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

/// The value of the sample whose line starts with `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// The metrics once the usage of this test's verifications has been
/// written: the flush runs every second, later on a busy machine.
async fn metrics_after_a_usage_flush(app: &TestApp) -> String {
    for _ in 0..100 {
        let text = metrics(app).await;
        if text.contains("keysmith_usage_flushed_keys_total ") {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no usage flush within 10 s")
}

#[tokio::test]
async fn metrics_count_requests_verifications_cache_hits_and_usage_flushes() {
    let app = TestApp::spawn().await;
    app.signed_up(&unique_email()).await;
    let (_, key) = app.create_key("Metered", &["read"]).await;
    let (unknown, _) = KeyFormat::new("ks_live_").generate();
    let unknown = unknown.reveal();
    for _ in 0..2 {
        assert_eq!(verify(&app, &key).await, "VALID");
        assert_eq!(verify(&app, &unknown).await, "NOT_FOUND");
    }
    assert_eq!(verify(&app, "ks_live_typo").await, "MALFORMED");
    app.get("/no-such-page").await;

    let text = metrics_after_a_usage_flush(&app).await;
    let verifications = "keysmith_key_verifications_total";
    assert_eq!(
        sample(&text, &format!("{verifications}{{code=\"VALID\"}}")),
        2.0
    );
    assert_eq!(
        sample(&text, &format!("{verifications}{{code=\"NOT_FOUND\"}}")),
        2.0
    );
    assert_eq!(
        sample(&text, &format!("{verifications}{{code=\"MALFORMED\"}}")),
        1.0
    );
    // The first look-up of each key reads the database (the unknown one
    // too); the second is answered from memory.
    assert_eq!(sample(&text, "keysmith_verify_cache_misses_total"), 2.0);
    assert_eq!(sample(&text, "keysmith_verify_cache_hits_total"), 2.0);
    assert_eq!(sample(&text, "keysmith_verify_cache_hit_ratio"), 0.5);
    let verify_route = "method=\"POST\",route=\"/api/v2/keys/verify\"";
    assert_eq!(
        sample(
            &text,
            &format!("keysmith_http_requests_total{{{verify_route},status=\"200\"}}")
        ),
        5.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("keysmith_http_request_duration_seconds_count{{{verify_route}}}")
        ),
        5.0
    );
    assert!(text.contains(&format!(
        "keysmith_http_request_duration_seconds_bucket{{{verify_route},le=\"0.0001\"}}"
    )));
    assert!(
        text.contains("route=\"unmatched\",status=\"404\""),
        "{text}"
    );
    // Usually one flush; two when a tick fell between the two uses. Each
    // wrote the one key that was used.
    let flushes = sample(&text, "keysmith_usage_flush_duration_seconds_count");
    assert!(flushes >= 1.0, "{text}");
    assert_eq!(sample(&text, "keysmith_usage_flushed_keys_total"), flushes);
    assert!(!text.contains(&key[8..]), "no secret in the metrics");
}

#[tokio::test]
async fn metrics_are_refused_to_addresses_not_allowed() {
    let app = TestApp::spawn_with(&[("KEYSMITH_METRICS_ALLOW", "10.0.0.0/8")]).await;
    let response = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

/// A built site with content-hashed names, as `cargo leptos build` makes.
fn hashed_site(dir: &std::path::Path) -> Vec<u8> {
    let pkg = dir.join("site/pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let css = "body { color: black; }\n".repeat(200).into_bytes();
    std::fs::write(pkg.join("keysmith.h4sh.css"), &css).unwrap();
    std::fs::write(pkg.join("keysmith.h4sh.js"), "export default 1;").unwrap();
    std::fs::write(pkg.join("keysmith.h4sh.wasm"), [0u8, 97, 115, 109]).unwrap();
    std::fs::write(pkg.join("keysmith.h4sh.css.gz"), b"precompressed").unwrap();
    std::fs::write(dir.join("hash.txt"), "js: h4sh\nwasm: h4sh\ncss: h4sh\n").unwrap();
    css
}

async fn fetch(app: &TestApp, path: &str, encodings: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .header("accept-encoding", encodings)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn hashed_assets_are_compressed_and_cached_for_a_year() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let css = hashed_site(dir.path());
    let hash_file = dir.path().join("hash.txt").display().to_string();
    let app = TestApp::spawn_in(dir, &[("LEPTOS_HASH_FILE_NAME", &hash_file)]).await;

    let page = app.get("/login").await.text().await.unwrap();
    for name in [
        "keysmith.h4sh.css",
        "keysmith.h4sh.js",
        "keysmith.h4sh.wasm",
    ] {
        assert!(page.contains(&format!("/pkg/{name}")), "{name} in\n{page}");
    }
    let brotli = fetch(&app, "/pkg/keysmith.h4sh.css", "br").await;
    assert_eq!(brotli.status(), StatusCode::OK);
    assert_eq!(brotli.headers()["content-encoding"], "br");
    assert_eq!(
        brotli.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(brotli.headers()["vary"]
        .to_str()
        .unwrap()
        .contains("accept-encoding"));
    assert!(brotli.bytes().await.unwrap().len() < css.len() / 10);

    let gzip = fetch(&app, "/pkg/keysmith.h4sh.css", "gzip").await;
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    assert_eq!(
        &gzip.bytes().await.unwrap()[..],
        b"precompressed",
        "the .gz file is served as it is"
    );

    let plain = fetch(&app, "/pkg/keysmith.h4sh.css", "identity").await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap(), css);
    let wasm = fetch(&app, "/pkg/keysmith.h4sh.wasm", "gzip, br").await;
    assert_eq!(wasm.headers()["content-type"], "application/wasm");

    let missing = fetch(&app, "/pkg/keysmith.other.js", "br").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()["cache-control"],
        "no-store",
        "a 404 is not cached for a year"
    );
}

#[tokio::test]
async fn unhashed_assets_are_revalidated() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    hashed_site(dir.path());
    std::fs::write(dir.path().join("site/pkg/keysmith.css"), "body {}").unwrap();
    let absent = dir.path().join("no-hash.txt").display().to_string();
    let app = TestApp::spawn_in(dir, &[("LEPTOS_HASH_FILE_NAME", &absent)]).await;
    let page = app.get("/login").await.text().await.unwrap();
    assert!(page.contains("/pkg/keysmith.css"), "{page}");
    let css = fetch(&app, "/pkg/keysmith.css", "br").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["cache-control"], "no-cache");
}

/// Starts a sign-up whose body is only half sent: a request in flight.
async fn half_sent_request(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = "POST /api/v2/auth/signup HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 80\r\n\r\n{\"email\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_0() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut app = TestApp::spawn().await;
    let mut stream = half_sent_request(&app).await;
    app.terminate();
    assert!(app.printed("shutting down").await, "{}", app.logs());
    assert!(app.is_running(), "waits for the request in flight");
    let rest = format!(
        "{:<71}",
        "\"ops@example.com\",\"password\":\"long enough pw\"}"
    );
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(app.exit_within(Duration::from_secs(5)).await.success());
    assert!(app.printed("stopped").await, "{}", app.logs());
}

#[tokio::test]
async fn sigterm_waits_for_requests_in_flight_only_so_long() {
    let mut app = TestApp::spawn_with(&[("KEYSMITH_SHUTDOWN_GRACE_SECONDS", "1")]).await;
    let _stalled = half_sent_request(&app).await;
    app.terminate();
    assert!(app.exit_within(Duration::from_secs(5)).await.success());
    assert!(
        app.printed("requests still in flight").await,
        "{}",
        app.logs()
    );
}

#[tokio::test]
async fn made_up_http_methods_add_no_metric_series() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let send = |i: usize| {
        let method = reqwest::Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
        client.request(method, app.url("/api/v2/me")).send()
    };
    for i in 0..20 {
        send(i).await.unwrap();
    }
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    // The first scrape counts itself: take the measure from the second.
    metrics(&app).await;
    let before = series(&metrics(&app).await);
    for i in 20..2_000 {
        send(i).await.unwrap();
    }
    let after = metrics(&app).await;
    assert_eq!(series(&after), before, "{after}");
    assert!(!after.contains("method=\"X1999\""));
    assert!(after.contains("method=\"other\""), "{after}");
}

async fn connect(app: &TestApp) -> tokio::net::TcpStream {
    let address = app.base.trim_start_matches("http://").to_owned();
    tokio::net::TcpStream::connect(address).await.unwrap()
}

/// What the server sent until it closed the connection (or 10 s passed).
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn headers_sent_too_slowly_get_the_connection_closed() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(&[("KEYSMITH_HEADER_TIMEOUT_SECONDS", "1")]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // The rest of the headers may no longer be welcome at all.
    let _ = stream.write_all(b"alhost\r\n\r\n").await;
    let answer = read_until_closed(&mut stream).await;
    assert!(!answer.contains(" 200 "), "{answer}");
}

#[tokio::test]
async fn a_body_trickled_past_the_request_timeout_is_answered_408() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(&[("KEYSMITH_REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let mut stream = connect(&app).await;
    let head = "POST /api/v2/auth/token HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 80\r\n\r\n{\"email\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// The idle watchdog leaves a request in flight alone: a body still
/// coming in after two header timeouts is the request timeout's to answer.
#[tokio::test]
async fn a_request_in_flight_outlives_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(&[
        ("KEYSMITH_HEADER_TIMEOUT_SECONDS", "1"),
        ("KEYSMITH_REQUEST_TIMEOUT_SECONDS", "3"),
    ])
    .await;
    let mut stream = connect(&app).await;
    let head = "POST /api/v2/auth/token HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 80\r\n\r\n{\"email\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(2_500));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(&[("KEYSMITH_HEADER_TIMEOUT_SECONDS", "1")]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let started = std::time::Instant::now();
    read_until_closed(&mut stream).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// On PostgreSQL every replica must sign with the same secret, so none is
/// generated: start-up without one stops with a line saying why. (Run by
/// the PostgreSQL pass of the test command only.)
#[test]
fn on_postgres_start_up_without_the_shared_secret_is_refused() {
    assert!(postgres_server().is_some(), "set KEYSMITH_TEST_POSTGRES");
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(binary())
        .current_dir(dir.path())
        .envs(base_env(dir.path()))
        .env_remove("KEYSMITH_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KEYSMITH_SECRET must be set"), "{stderr}");
}
