//! The real server as a test runs it: a process on a free port with its
//! own database, a browser-like client, and waiting for things to happen.

use super::database::{database_url, postgres_server};
use reqwest::{header, redirect::Policy, Client, Response, StatusCode};
use serde_json::Value;
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

/// Posts a form to `url` (a server function) as a page does: the status
/// and the JSON answer (or its text).
pub async fn post_form_to(
    client: &Client,
    url: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = client.post(url).form(form).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
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

    /// A form post to a server function from `client`, as a page's form
    /// sends it; the status and the JSON answer (or the text).
    pub async fn post_form(
        &self,
        client: &Client,
        name: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        post_form_to(client, &self.url(&format!("/rpc/{name}")), form).await
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

pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
