//! Several processes on one PostgreSQL database, as behind a load balancer
//! (run by the PostgreSQL pass of the test command).

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// Three servers on one database, each hearing the others' key changes.
async fn three_replicas() -> [TestApp; 3] {
    assert!(postgres_server().is_some(), "set KEYSMITH_TEST_POSTGRES");
    let a = TestApp::spawn().await;
    let url = a.database_url();
    let b = TestApp::spawn_with(&[("DATABASE_URL", &url)]).await;
    let c = TestApp::spawn_with(&[("DATABASE_URL", &url)]).await;
    for app in [&a, &b, &c] {
        wait_until_listening(app).await;
    }
    [a, b, c]
}

async fn readiness(app: &TestApp) -> (StatusCode, Value) {
    let response = app.get("/readyz").await;
    (response.status(), response.json().await.unwrap())
}

async fn wait_until_listening(app: &TestApp) {
    eventually(
        Duration::from_secs(10),
        "the replica hears key changes",
        || async {
            let (status, body) = readiness(app).await;
            status == StatusCode::OK && body["key_changes"]["listening"] == true
        },
    )
    .await;
}

/// How long until every one of `replicas` answers `code` for `key`.
async fn reaches_all(replicas: &[&TestApp], key: &str, code: &str) -> Duration {
    let started = Instant::now();
    for app in replicas {
        eventually(Duration::from_secs(2), code, || async {
            app.verdict(key, Some("10.1.2.3")).await == code
        })
        .await;
    }
    started.elapsed()
}

async fn change(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) {
    let answer = app.api(method, path, Auth::Bearer(token), body).await;
    assert!(answer.status.is_success(), "{path}: {}", answer.body);
}

#[tokio::test]
async fn on_postgres_every_change_on_one_replica_reaches_the_others_at_once() {
    let [a, b, c] = three_replicas().await;
    let token = user_token(&a).await;
    let others = [&b, &c];
    for (what, path_of, body) in [
        ("revoke", "/revoke", None),
        (
            "rotate without grace",
            "/rotate",
            Some(json!({ "grace_period_minutes": 0 })),
        ),
        (
            "narrow the addresses",
            "",
            Some(json!({ "ips": ["192.0.2.0/24"] })),
        ),
        ("delete", "", None),
    ] {
        let (id, key) = key_with(&a, &token, &["read"]).await;
        reaches_all(&others, &key, "VALID").await;
        let method = match (what, path_of) {
            ("delete", _) => Method::DELETE,
            (_, "") => Method::PATCH,
            _ => Method::POST,
        };
        change(
            &a,
            &token,
            method,
            &format!("/api-keys/{id}{path_of}"),
            body,
        )
        .await;
        let expected = match what {
            "revoke" => "REVOKED",
            "narrow the addresses" => "IP_NOT_ALLOWED",
            _ => "NOT_FOUND",
        };
        let took = reaches_all(&others, &key, expected).await;
        println!("{what}: every replica answered {expected} after {took:?}");
    }
}

#[tokio::test]
async fn on_postgres_a_replica_that_stops_hearing_changes_verifies_from_the_database() {
    let [a, b, c] = three_replicas().await;
    let token = user_token(&a).await;
    let (id, key) = key_with(&a, &token, &["read"]).await;
    assert_eq!(b.verdict(&key, None).await, "VALID", "cached on b");
    // Every listener of this database is cut off, as a network blip would.
    run_sql(
        &a.database_url(),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .await;
    change(
        &a,
        &token,
        Method::POST,
        &format!("/api-keys/{id}/revoke"),
        None,
    )
    .await;
    // Whether b noticed the loss (reading through) or is listening again
    // (its cache emptied), it must not answer from what it cached.
    assert_eq!(b.verdict(&key, None).await, "REVOKED");
    assert_eq!(c.verdict(&key, None).await, "REVOKED");
    for app in [&a, &b, &c] {
        wait_until_listening(app).await;
    }
    let metrics = reqwest::get(b.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("keysmith_key_changes_listening 1"),
        "{metrics}"
    );
    // b heard nothing while cut off, but listening again it is level.
    assert!(
        metrics.contains("keysmith_key_changes_behind 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn on_postgres_state_is_shared_by_every_replica() {
    let [a, b, c] = three_replicas().await;
    // An Idempotency-Key used on a replays on b.
    let token = user_token(&a).await;
    let body = json!({ "name": "once", "scopes": ["read"] });
    let first = create_idempotently(&a, &token, "across-replicas", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let retried = create_idempotently(&b, &token, "across-replicas", &body).await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");

    // Failed sign-ins spread over the replicas meet one limit.
    let email = unique_email();
    a.signed_up(&email).await;
    let replicas = [&a, &b, &c, &a, &b];
    for app in replicas {
        let refused = app.new_browser();
        let answer = refused
            .post(app.url("/rpc/sign_in"))
            .form(&[
                ("email", email.as_str()),
                ("password", "a wrong password 123"),
                ("next", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let sixth = c
        .new_browser()
        .post(c.url("/rpc/sign_in"))
        .form(&[
            ("email", email.as_str()),
            ("password", "a wrong password 123"),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sixth.status(), StatusCode::TOO_MANY_REQUESTS);

    // A browser session made on a is signed in on b.
    let page = a.client.get(b.url("/dashboard")).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the session a made is known to b"
    );
}

/// A TCP relay between a replica and PostgreSQL that the test can cut, as
/// a network failure would: while cut, it closes every connection it
/// carries and each new one at once.
struct Relay {
    port: u16,
    cut: Arc<watch::Sender<bool>>,
}

impl Relay {
    async fn to(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(watch::channel(false).0);
        let cuts = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                if *cut.borrow() {
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Relay { port, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

#[tokio::test]
async fn on_postgres_a_replica_that_loses_its_database_answers_503_and_recovers() {
    let a = TestApp::spawn().await;
    // b reaches the same database through the relay.
    let url = a.database_url();
    // postgres://user@host:port/database
    let address = url.split(['@', '/']).nth(3).unwrap().to_owned();
    let relay = Relay::to(address.clone()).await;
    let through_relay = url.replace(&address, &format!("127.0.0.1:{}", relay.port));
    let b = TestApp::spawn_with(&[("DATABASE_URL", &through_relay)]).await;
    wait_until_listening(&b).await;
    let token = user_token(&b).await;

    relay.set_cut(true);
    // A load balancer polling /readyz takes it out (readiness looks at the
    // database every 250 ms)...
    eventually(
        Duration::from_secs(3),
        "b's readiness finds its database unreachable",
        || async {
            let (status, body) = readiness(&b).await;
            status == StatusCode::SERVICE_UNAVAILABLE && body["database"] == "unreachable"
        },
    )
    .await;
    // ...and a request that reaches it anyway is told to retry, not that
    // something broke: 503 is also what nginx counts against a replica.
    let answer = b
        .api(Method::GET, "/api-keys", Auth::Bearer(&token), None)
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.body
    );
    assert_eq!(
        answer.body["code"], "database_unavailable",
        "{}",
        answer.body
    );
    assert_eq!(answer.headers["retry-after"], "5");
    eventually(
        Duration::from_secs(5),
        "b knows it is not listening",
        || async { readiness(&b).await.1["key_changes"]["listening"] == false },
    )
    .await;
    // a, on its own connections, goes on.
    assert_eq!(readiness(&a).await.0, StatusCode::OK);

    relay.set_cut(false);
    wait_until_listening(&b).await;
    let answer = b
        .api(Method::GET, "/api-keys", Auth::Bearer(&token), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn on_postgres_replicas_starting_at_once_on_a_new_database_migrate_it_once() {
    assert!(postgres_server().is_some(), "set KEYSMITH_TEST_POSTGRES");
    let empty = tempfile::tempdir().unwrap();
    let url = database_url(empty.path());
    let env = [("DATABASE_URL", url.as_str())];
    let (a, b, c) = tokio::join!(
        TestApp::spawn_with(&env),
        TestApp::spawn_with(&env),
        TestApp::spawn_with(&env),
    );
    for app in [&a, &b, &c] {
        wait_until_listening(app).await;
    }
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i64;
    let applied = query_number(&url, "SELECT COUNT(*) FROM _sqlx_migrations WHERE success").await;
    assert_eq!(applied, migrations, "each migration applied once");
    let token = user_token(&a).await;
    let (_, key) = key_with(&c, &token, &["read"]).await;
    assert_eq!(b.verdict(&key, None).await, "VALID");
}

/// A relay to PostgreSQL that can fall silent for the connections that
/// LISTEN: it stops carrying their bytes without closing them, as a lost
/// NAT entry or a crashed middlebox leaves a half-open connection. Every
/// other connection goes on as before.
struct SilentRelay {
    port: u16,
    silent: Arc<watch::Sender<bool>>,
}

impl SilentRelay {
    async fn to(target: String) -> SilentRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = Arc::new(watch::channel(false).0);
        let silence = silent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                tokio::spawn(carry(client, server, silence.subscribe()));
            }
        });
        SilentRelay { port, silent }
    }

    fn set_silent(&self, silent: bool) {
        self.silent.send_replace(silent);
    }
}

/// Carries one connection both ways until it closes, or holds it open
/// carrying nothing once it has sent LISTEN while the relay is silent.
async fn carry(mut client: TcpStream, mut server: TcpStream, silent: watch::Receiver<bool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listens = AtomicBool::new(false);
    let hold = || async {
        if *silent.borrow() && listens.load(Ordering::Acquire) {
            std::future::pending::<()>().await;
        }
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let up = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = client_read.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            if contains(&buffer[..n], b"LISTEN") {
                listens.store(true, Ordering::Release);
            }
            hold().await;
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = server_read.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            hold().await;
            if client_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

#[tokio::test]
async fn on_postgres_a_listener_connection_that_dies_silently_is_noticed_within_seconds() {
    let a = TestApp::spawn().await;
    let url = a.database_url();
    let address = url.split(['@', '/']).nth(3).unwrap().to_owned();
    let relay = SilentRelay::to(address.clone()).await;
    let through_relay = url.replace(&address, &format!("127.0.0.1:{}", relay.port));
    let b = TestApp::spawn_with(&[
        ("DATABASE_URL", &through_relay),
        ("KEYSMITH_VERIFY_CACHE_SECONDS", "300"),
    ])
    .await;
    wait_until_listening(&b).await;
    let token = user_token(&a).await;
    let (id, key) = key_with(&a, &token, &["read"]).await;
    assert_eq!(b.verdict(&key, None).await, "VALID", "cached on b");

    relay.set_silent(true);
    let silenced = Instant::now();
    eventually(
        Duration::from_secs(10),
        "b notices it hears nothing",
        || async { readiness(&b).await.1["key_changes"]["listening"] == false },
    )
    .await;
    println!("a silent listener noticed after {:?}", silenced.elapsed());
    change(
        &a,
        &token,
        Method::POST,
        &format!("/api-keys/{id}/revoke"),
        None,
    )
    .await;
    assert_eq!(
        b.verdict(&key, None).await,
        "REVOKED",
        "b reads the database instead of its cache"
    );

    relay.set_silent(false);
    wait_until_listening(&b).await;
    assert_eq!(b.verdict(&key, None).await, "REVOKED");
}

/// Verifications of `key` spread over `replicas` in turn, all at once; how
/// many were admitted.
async fn admitted_across(replicas: &[Arc<TestApp>], key: &str, count: usize) -> i64 {
    let verifications: Vec<_> = (0..count)
        .map(|n| {
            let app = Arc::clone(&replicas[n % replicas.len()]);
            let key = key.to_owned();
            tokio::spawn(async move {
                let body = json!({ "key": key });
                let answer = app
                    .api(Method::POST, "/keys/verify", Auth::None, Some(body))
                    .await;
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
                answer.body["data"]["code"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut admitted = 0;
    for verification in verifications {
        match verification.await.unwrap().as_str() {
            "VALID" => admitted += 1,
            "RATE_LIMITED" | "USAGE_EXCEEDED" => {}
            other => panic!("{other}"),
        }
    }
    admitted
}

#[tokio::test]
async fn on_postgres_a_rate_limit_is_never_exceeded_across_replicas_even_when_one_is_killed() {
    let [a, b, c] = three_replicas().await;
    let token = user_token(&a).await;
    // Leases of ⌈60/32⌉ = 2: each replica strands at most 1 at the end.
    let limit = json!({ "name": "requests", "limit": 60, "window_seconds": 600 });
    let body = json!({ "name": "shared", "scopes": ["read"], "ratelimits": [limit] });
    let (_, key) = create_key(&a, &token, body).await;
    let [a, b, c] = [Arc::new(a), Arc::new(b), Arc::new(c)];
    let before = admitted_across(&[a.clone(), b.clone(), c.clone()], &key, 30).await;
    assert_eq!(before, 30, "30 of a limit of 60, wherever they land");
    // Killed mid-lease: what it leased and did not use stays granted.
    drop(Arc::into_inner(c).expect("no other holder"));
    let after = admitted_across(&[a.clone(), b.clone()], &key, 100).await;
    let total = before + after;
    assert!(total <= 60, "never over the limit: {total}");
    assert!(
        total >= 60 - 3 - 2,
        "at most one unused lease part per replica, and the killed one's lease: {total}"
    );
}

#[tokio::test]
async fn on_postgres_credits_are_never_overspent_across_replicas_and_a_killed_ones_lease_is_counted_lost(
) {
    let [a, b, c] = three_replicas().await;
    let token = user_token(&a).await;
    // Leases of ⌈100/32⌉ = 4 while 100 are left.
    let body = json!({ "name": "metered", "scopes": ["read"], "credits": { "remaining": 100 } });
    let (id, key) = create_key(&a, &token, body).await;
    let once = json!({ "key": key, "request_id": "invoice-7" });
    let on_a = a
        .api(Method::POST, "/keys/verify", Auth::None, Some(once.clone()))
        .await;
    let on_b = b
        .api(Method::POST, "/keys/verify", Auth::None, Some(once))
        .await;
    assert_eq!(on_a.body["data"]["code"], "VALID");
    assert_eq!(
        on_b.body, on_a.body,
        "a retry on another replica is answered the same"
    );
    let [a, b, c] = [Arc::new(a), Arc::new(b), Arc::new(c)];
    let mut admitted = 1 + admitted_across(&[a.clone(), b.clone(), c.clone()], &key, 60).await;
    assert_eq!(admitted, 61);
    // Killed holding a lease: its credits are never handed out again.
    drop(Arc::into_inner(c).expect("no other holder"));
    admitted += admitted_across(&[a.clone(), b.clone()], &key, 60).await;
    assert!(admitted <= 100, "never overspent: {admitted}");
    // Unreported for 10 s, the lease is counted lost by the next lease.
    tokio::time::sleep(Duration::from_secs(11)).await;
    admitted += admitted_across(std::slice::from_ref(&a), &key, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let shown = a
        .api(
            Method::GET,
            &format!("/api-keys/{id}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    let credits = &shown.body["data"]["credits"];
    let (remaining, lost) = (
        credits["remaining"].as_i64().unwrap(),
        credits["lost"].as_i64().unwrap(),
    );
    assert!(
        lost <= 4,
        "at most the killed replica's one lease: {credits}"
    );
    assert!(
        admitted + remaining <= 100,
        "{admitted} admitted, {credits}"
    );
    assert!(
        admitted + remaining + lost >= 100,
        "every credit admitted, left or counted lost: {admitted} admitted, {credits}"
    );
    let metrics = a.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("keysmith_credits_lost_total"), "{metrics}");
}

/// Two replicas sending from one outbox: each message is claimed by one
/// sender and reaches its recipient exactly once.
#[tokio::test]
async fn on_postgres_two_replicas_send_each_message_exactly_once() {
    assert!(postgres_server().is_some(), "set KEYSMITH_TEST_POSTGRES");
    let mail = MailServer::start().await;
    let a = app_with_mail(&mail, &[]).await;
    let url = a.database_url();
    let b = app_with_mail(&mail, &[("DATABASE_URL", &url)]).await;
    let emails: Vec<String> = (0..8).map(|_| unique_email()).collect();
    for email in &emails {
        a.signed_up(email).await;
    }
    // Asked on both replicas at once; both senders race for the outbox.
    let asks = emails.iter().enumerate().map(|(n, email)| {
        let app = if n % 2 == 0 { &a } else { &b };
        app.api(
            Method::POST,
            "/auth/password-reset",
            Auth::None,
            Some(json!({ "email": email })),
        )
    });
    for answer in futures::future::join_all(asks).await {
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    let reset = "Reset your Keysmith password";
    for email in &emails {
        mail.wait_for(email, reset, 1).await;
    }
    // Long enough for any second copy: both senders look every 2 s.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for email in &emails {
        assert_eq!(
            mail.about(email, reset).len(),
            1,
            "{email}: more than one copy"
        );
        let confirm = "Confirm your email address for Keysmith";
        assert_eq!(
            mail.about(email, confirm).len(),
            1,
            "{email}: more than one copy"
        );
    }
}
