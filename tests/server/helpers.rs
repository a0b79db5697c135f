use reqwest::{header, redirect::Policy, Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::{
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::oneshot,
};

pub const PASSWORD: &str = "correct horse battery staple";

/// A running server with its own database folder, and a browser-like client
/// (cookies kept, same-origin `Origin` header, redirects not followed).
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub dir: Arc<TempDir>,
    log: Arc<Mutex<String>>,
    child: Child,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_keysmith")
}

/// The master secret test servers on PostgreSQL share (and tests that
/// forge tokens derive keys from).
pub const TEST_SECRET: &str = "a-master-secret-of-at-least-32-characters";

/// The PostgreSQL server the suite runs on, when `KEYSMITH_TEST_POSTGRES`
/// names one (a superuser URL without a database); else SQLite files.
pub fn postgres_server() -> Option<String> {
    std::env::var("KEYSMITH_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// The database of the test server that keeps its files in `dir`: a file
/// there, or on PostgreSQL a database named after the folder (created on
/// first use, so a restart in the same folder finds its data again).
pub fn database_url(dir: &Path) -> String {
    let Some(server) = postgres_server() else {
        return format!("sqlite://{}/keysmith.db", dir.display());
    };
    let name: String = dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    let name = format!("ks_{name}");
    let created = std::process::Command::new("psql")
        .args([
            &format!("{server}/postgres"),
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs");
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        created.status.success() || stderr.contains("already exists"),
        "{stderr}"
    );
    format!("{server}/{name}")
}

/// The environment every test server gets: its own database, any free port.
pub fn base_env(dir: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url(dir)),
        ("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()),
        ("LEPTOS_OUTPUT_NAME".into(), "keysmith".into()),
        (
            "LEPTOS_SITE_ROOT".into(),
            dir.join("site").display().to_string(),
        ),
        ("RUST_LOG".into(), "info".into()),
    ];
    if postgres_server().is_some() {
        env.push(("KEYSMITH_SECRET".into(), TEST_SECRET.into()));
    }
    env
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        Self::spawn_in(Arc::new(tempfile::tempdir().unwrap()), extra).await
    }

    /// Starts a server on an existing folder (to test restarts).
    pub async fn spawn_in(dir: Arc<TempDir>, extra: &[(&str, &str)]) -> TestApp {
        let mut command = Command::new(binary());
        command
            .current_dir(dir.path())
            .envs(base_env(dir.path()))
            .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the keysmith binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = oneshot::channel();
        collect_output(&mut child, log.clone(), address_tx);
        let base = tokio::time::timeout(Duration::from_secs(30), address_rx)
            .await
            .unwrap_or_else(|_| panic!("server did not start:\n{}", log.lock().unwrap()))
            .unwrap_or_else(|_| panic!("server exited:\n{}", log.lock().unwrap()));
        TestApp {
            client: browser_client(&base),
            base,
            dir,
            log,
            child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the server printed so far.
    pub fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Whether the server printed `text` within a few seconds: its output
    /// is read by other tasks, which may lag behind the process's exit.
    pub async fn printed(&self, text: &str) -> bool {
        for _ in 0..50 {
            if self.logs().contains(text) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn database_url(&self) -> String {
        database_url(self.dir.path())
    }

    /// Stops the server with SIGTERM, as an operator would, and waits.
    pub async fn stop(mut self) -> Arc<TempDir> {
        self.terminate();
        let status = self.exit_within(Duration::from_secs(10)).await;
        assert!(status.success(), "graceful stop exits 0, got {status}");
        self.dir.clone()
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }

    /// How the process ended; panics if it runs longer than `limit`.
    pub async fn exit_within(&mut self, limit: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the server still runs after {limit:?}"))
            .unwrap()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Calls a server function as the browser's form post does.
    pub async fn rpc(&self, name: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(&format!("/rpc/{name}")))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Response {
        self.rpc("sign_up", &[("email", email), ("password", password)])
            .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.rpc(
            "sign_in",
            &[("email", email), ("password", password), ("next", "")],
        )
        .await
    }

    pub async fn sign_out(&self) -> Response {
        self.rpc("sign_out", &[]).await
    }

    /// Signs up a new user and checks it worked.
    pub async fn signed_up(&self, email: &str) {
        self.signed_up_with(email, PASSWORD).await;
    }

    /// Signs up a new user with this password and checks it worked.
    pub async fn signed_up_with(&self, email: &str, password: &str) {
        let response = self.sign_up(email, password).await;
        assert_success(&response);
    }

    /// The email the dashboard would greet, or the error.
    pub async fn current_user(&self) -> (StatusCode, Value) {
        let response = self.rpc("current_user", &[]).await;
        (response.status(), response.json().await.unwrap())
    }

    /// A second browser: no cookies shared with this app's client.
    pub fn new_browser(&self) -> Client {
        browser_client(&self.base)
    }

    /// A second browser, signed up as a new user of a new account.
    pub async fn second_user(&self) -> Client {
        let client = self.new_browser();
        let response = client
            .post(self.url("/rpc/sign_up"))
            .form(&[("email", unique_email().as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_success(&response);
        client
    }
}

pub fn browser_client(base: &str) -> Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(header::ORIGIN, base.parse().unwrap());
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A server function that succeeded (possibly with a redirect).
pub fn assert_success(response: &Response) {
    assert!(
        response.status().is_success() || response.status().is_redirection(),
        "expected success, got {}",
        response.status()
    );
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Appends the server's stdout and stderr to `log`, and reports the address
/// from the "listening on" line.
fn collect_output(child: &mut Child, log: Arc<Mutex<String>>, address: oneshot::Sender<String>) {
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let err_log = log.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            err_log.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    tokio::spawn(async move {
        let mut address = Some(address);
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1) {
                if let Some(tx) = address.take() {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
            log.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
}

impl TestApp {
    /// Calls a JSON server function; the status and the decoded body.
    pub async fn call(&self, name: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(&self.client, name, body).await
    }

    /// Calls a JSON server function from another browser.
    pub async fn call_as(&self, client: &Client, name: &str, body: Value) -> (StatusCode, Value) {
        let response = client
            .post(self.url(&format!("/rpc/{name}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Creates a key that must succeed; the response's `key` and `secret`.
    pub async fn create_key(&self, name: &str, scopes: &[&str]) -> (Value, String) {
        let (status, body) = self
            .call(
                "create_api_key",
                serde_json::json!({ "draft": { "name": name, "scopes": scopes, "expires_in_days": 90, "ips": [] } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let secret = body["secret"].as_str().unwrap().to_owned();
        (body["key"].clone(), secret)
    }

    /// The server's verdict on `key` used from `client_ip`, as a service
    /// asking `POST /api/v2/keys/verify` for the `search` scope gets it:
    /// its `code` (`VALID`, `REVOKED`, …). Through the server's own cache,
    /// so a change the cache failed to forget shows here.
    pub async fn verdict(&self, key: &str, client_ip: Option<&str>) -> String {
        let mut request = serde_json::json!({ "key": key, "required_scope": "search" });
        if let Some(ip) = client_ip {
            request["client_ip"] = ip.into();
        }
        let response = self
            .client
            .post(self.url("/api/v2/keys/verify"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let answer: Value = response.json().await.unwrap();
        answer["data"]["code"].as_str().unwrap().to_owned()
    }

    /// Every byte the database holds: SQLite's files, write-ahead log
    /// included, or a dump of the PostgreSQL database.
    pub fn database_bytes(&self) -> Vec<u8> {
        if postgres_server().is_some() {
            let dump = std::process::Command::new("pg_dump")
                .arg(self.database_url())
                .output()
                .expect("pg_dump runs");
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            return dump.stdout;
        }
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("keysmith.db") {
                bytes.extend(std::fs::read(&path).unwrap());
            }
        }
        bytes
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Waits until `condition` holds, checking every 50 ms; panics naming
/// `what` if it still does not after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still not the case after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// The REST API

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Key(&'a str),
}

/// A REST answer: its status, headers and JSON body (or the text, as a
/// JSON string, when it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Value,
}

pub async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, app.url(&format!("/api/v2{path}")));
    request = match auth {
        Auth::None => request,
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Key(key) => request.header("X-API-Key", key),
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
pub async fn user_token(app: &TestApp) -> String {
    let email = unique_email();
    let created = api(
        app,
        Method::POST,
        "/auth/signup",
        Auth::None,
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = api(
        app,
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
    let created = api(
        app,
        Method::POST,
        "/api-keys",
        Auth::Bearer(token),
        Some(body),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    (
        data["id"].as_str().unwrap().to_owned(),
        data["key"].as_str().unwrap().to_owned(),
    )
}

pub async fn key_with(app: &TestApp, token: &str, scopes: &[&str]) -> (String, String) {
    create_key(
        app,
        token,
        json!({ "name": format!("{scopes:?}"), "scopes": scopes }),
    )
    .await
}

pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Moves a key's expiry into the past, in the real database.
pub async fn expire(app: &TestApp, id: &str) {
    run_sql(
        &app.database_url(),
        &format!("UPDATE api_keys SET expires_at = 1 WHERE id = '{id}'"),
    )
    .await;
}

/// Runs one statement, the same on both databases (portable columns).
pub async fn run_sql(url: &str, sql: &str) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// One whole number a query (the same on both backends) answers.
pub async fn query_number(url: &str, query: &str) -> i64 {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
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
