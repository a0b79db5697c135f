//! Passkeys through the server functions the pages call, with a software
//! authenticator that does what a device does (ES256 keys, WebAuthn's
//! CBOR and JSON): added under a name, signing in without a password, a
//! second factor after one, removed with the password; and every refusal
//! (replayed and foreign answers, unknown passkeys, IP addresses, the cap
//! on waiting prompts under concurrency).

use crate::{helpers::*, two_factor::token};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// A browser on `http://localhost:PORT` (WebAuthn binds passkeys to a
/// name, never an IP address), reaching the test server's loopback port.
struct Device {
    client: Client,
    origin: String,
}

impl Device {
    fn new(app: &TestApp) -> Device {
        let address: SocketAddr = app
            .url("")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let origin = format!("http://localhost:{}", address.port());
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::ORIGIN, origin.parse().unwrap());
        let client = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .resolve("localhost", address)
            .build()
            .unwrap();
        Device { client, origin }
    }

    async fn rpc(&self, name: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        post_form_to(&self.client, &format!("{}/rpc/{name}", self.origin), form).await
    }

    /// Signs up a new user here; their email.
    async fn sign_up(&self) -> String {
        let email = unique_email();
        let (status, body) = self
            .rpc("sign_up", &[("email", &email), ("password", PASSWORD)])
            .await;
        assert!(status.is_success() || status.is_redirection(), "{body}");
        email
    }

    async fn signed_in_as(&self) -> Option<String> {
        let (status, me) = self.rpc("current_user", &[]).await;
        (status == StatusCode::OK).then(|| me["email"].as_str().unwrap().to_owned())
    }
}

/// What a platform authenticator holds: one ES256 key per credential.
struct Authenticator {
    credentials: Vec<Credential>,
}

struct Credential {
    seed: [u8; 32],
    id: Vec<u8>,
    key: SigningKey,
    user_handle: Vec<u8>,
    counter: u32,
}

fn cbor_head(major: u8, value: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend([major | 24, value as u8]),
        _ => {
            out.push(major | 25);
            out.extend((value as u16).to_be_bytes());
        }
    }
}

fn cbor_int(value: i64, out: &mut Vec<u8>) {
    match value >= 0 {
        true => cbor_head(0, value as u64, out),
        false => cbor_head(1, (-1 - value) as u64, out),
    }
}

fn cbor_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    cbor_head(2, bytes.len() as u64, out);
    out.extend(bytes);
}

fn cbor_text(text: &str, out: &mut Vec<u8>) {
    cbor_head(3, text.len() as u64, out);
    out.extend(text.as_bytes());
}

fn client_data(kind: &str, options: &Value, origin: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": kind,
        "challenge": options["publicKey"]["challenge"],
        "origin": origin,
        "crossOrigin": false,
    }))
    .unwrap()
}

fn rp_id_hash(origin: &str) -> Vec<u8> {
    let host = origin
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap();
    Sha256::digest(host.as_bytes()).to_vec()
}

impl Authenticator {
    fn new() -> Authenticator {
        Authenticator {
            credentials: Vec::new(),
        }
    }

    /// `navigator.credentials.create`: a new key pair, attested with
    /// "none", user present and verified.
    fn create(&mut self, options: &str, origin: &str) -> String {
        self.create_from(Sha256::digest(unique_email()).into(), options, origin)
    }

    /// The key pair of `seed` (the same seed: the same credential).
    fn create_from(&mut self, seed: [u8; 32], options: &str, origin: &str) -> String {
        let options: Value = serde_json::from_str(options).unwrap();
        let user_handle = B64
            .decode(options["publicKey"]["user"]["id"].as_str().unwrap())
            .unwrap();
        let key = SigningKey::from_slice(&seed).unwrap();
        let id = Sha256::digest(seed).to_vec();
        let point = key.verifying_key().to_encoded_point(false);
        let mut cose = Vec::new();
        cbor_head(5, 5, &mut cose);
        for (label, value) in [(1, 2), (3, -7), (-1, 1)] {
            cbor_int(label, &mut cose);
            cbor_int(value, &mut cose);
        }
        cbor_int(-2, &mut cose);
        cbor_bytes(point.x().unwrap(), &mut cose);
        cbor_int(-3, &mut cose);
        cbor_bytes(point.y().unwrap(), &mut cose);
        let mut auth_data = rp_id_hash(origin);
        auth_data.push(0x01 | 0x04 | 0x40); // user present, verified, attested
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(cose);
        let mut attestation = Vec::new();
        cbor_head(5, 3, &mut attestation);
        cbor_text("fmt", &mut attestation);
        cbor_text("none", &mut attestation);
        cbor_text("attStmt", &mut attestation);
        cbor_head(5, 0, &mut attestation);
        cbor_text("authData", &mut attestation);
        cbor_bytes(&auth_data, &mut attestation);
        let client_data = client_data("webauthn.create", &options, origin);
        self.credentials.push(Credential {
            seed,
            id: id.clone(),
            key,
            user_handle,
            counter: 0,
        });
        json!({
            "id": B64.encode(&id),
            "rawId": B64.encode(&id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(client_data),
                "attestationObject": B64.encode(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }

    /// `navigator.credentials.get` with credential `which`: a signature
    /// over the authenticator data and the client data's digest.
    fn get(&mut self, which: usize, options: &str, origin: &str) -> String {
        let options: Value = serde_json::from_str(options).unwrap();
        let credential = &mut self.credentials[which];
        credential.counter += 1;
        let mut auth_data = rp_id_hash(origin);
        auth_data.push(0x01 | 0x04);
        auth_data.extend(credential.counter.to_be_bytes());
        let client_data = client_data("webauthn.get", &options, origin);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: Signature = credential.key.sign(&signed);
        json!({
            "id": B64.encode(&credential.id),
            "rawId": B64.encode(&credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(client_data),
                "authenticatorData": B64.encode(auth_data),
                "signature": B64.encode(signature.to_der().as_bytes()),
                "userHandle": B64.encode(&credential.user_handle),
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }
}

/// Adds a passkey named `name` on `device`: the recovery codes answered.
async fn add(
    device: &Device,
    authenticator: &mut Authenticator,
    name: &str,
) -> (StatusCode, Value) {
    let (status, prompt) = device
        .rpc("begin_passkey", &[("current_password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::OK, "{prompt}");
    let answer = authenticator.create(prompt["options"].as_str().unwrap(), &device.origin);
    let ceremony = prompt["ceremony"].as_str().unwrap();
    device
        .rpc(
            "add_passkey",
            &[("ceremony", ceremony), ("name", name), ("answer", &answer)],
        )
        .await
}

/// Signs in on `device` with credential `which` (as `email`'s second step
/// when given).
async fn sign_in(
    device: &Device,
    authenticator: &mut Authenticator,
    which: usize,
    email: Option<&str>,
) -> (StatusCode, Value) {
    let (status, prompt) = device.rpc("begin_passkey_sign_in", &[]).await;
    assert_eq!(status, StatusCode::OK, "{prompt}");
    let answer = authenticator.get(which, prompt["options"].as_str().unwrap(), &device.origin);
    let ceremony = prompt["ceremony"].as_str().unwrap();
    let mut form = vec![
        ("ceremony", ceremony),
        ("answer", answer.as_str()),
        ("next", "/dashboard"),
    ];
    if let Some(email) = email {
        form.push(("email", email));
    }
    device.rpc("sign_in_with_passkey", &form).await
}

async fn passkeys_of(device: &Device) -> Vec<Value> {
    let (status, state) = device.rpc("two_factor_status", &[]).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    state["passkeys"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_passkey_is_added_under_a_name_and_signs_in_without_a_password() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    let email = device.sign_up().await;
    let mut authenticator = Authenticator::new();

    let (status, codes) = add(&device, &mut authenticator, "Work laptop").await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    assert_eq!(
        codes.as_array().unwrap().len(),
        10,
        "the first second factor brings recovery codes"
    );
    let (status, codes) = add(&device, &mut authenticator, "Phone").await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    assert!(
        codes.as_array().unwrap().is_empty(),
        "codes come once: {codes}"
    );
    let listed = passkeys_of(&device).await;
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Work laptop", "Phone"]);
    assert!(listed[0]["last_used_at"].is_null());

    let elsewhere = Device::new(&app);
    let (status, body) = sign_in(&elsewhere, &mut authenticator, 1, None).await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
    assert_eq!(
        elsewhere.signed_in_as().await.as_deref(),
        Some(email.as_str())
    );
    let listed = passkeys_of(&elsewhere).await;
    assert!(listed[1]["last_used_at"].is_number(), "its use is shown");

    let audit = app.logs();
    assert!(
        !audit.contains(&B64.encode(&authenticator.credentials[0].id)),
        "no credential ids in logs"
    );
}

#[tokio::test]
async fn after_the_password_a_passkey_is_the_second_factor() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    let email = device.sign_up().await;
    let mut authenticator = Authenticator::new();
    let (_, codes) = add(&device, &mut authenticator, "Laptop").await;
    let recovery = codes[0].as_str().unwrap().to_owned();

    let second = Device::new(&app);
    let password = [
        ("email", email.as_str()),
        ("password", PASSWORD),
        ("next", "/dashboard"),
    ];
    let (status, body) = second.rpc("sign_in", &password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(second.signed_in_as().await, None);
    let token = token(&app, &email, None).await;
    assert_eq!(token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(token.body["code"], "otp_required", "{}", token.body);

    // Someone else's passkey does not finish this user's sign-in.
    let other = Device::new(&app);
    other.sign_up().await;
    let mut theirs = Authenticator::new();
    add(&other, &mut theirs, "Theirs").await;
    let (status, body) = sign_in(&second, &mut theirs, 0, Some(&email)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(second.signed_in_as().await, None);

    let (status, body) = sign_in(&second, &mut authenticator, 0, Some(&email)).await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
    assert_eq!(second.signed_in_as().await.as_deref(), Some(email.as_str()));

    // A recovery code still stands in for the passkey.
    let third = Device::new(&app);
    let mut with_code = password.to_vec();
    with_code.push(("otp", &recovery));
    let (status, body) = third.rpc("sign_in", &with_code).await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
}

#[tokio::test]
async fn replayed_foreign_and_unknown_answers_are_refused() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    device.sign_up().await;
    let mut authenticator = Authenticator::new();
    add(&device, &mut authenticator, "Laptop").await;

    let stranger = Device::new(&app);
    let (_, prompt) = stranger.rpc("begin_passkey_sign_in", &[]).await;
    let ceremony = prompt["ceremony"].as_str().unwrap().to_owned();
    let answer = authenticator.get(0, prompt["options"].as_str().unwrap(), &stranger.origin);
    let form = [
        ("ceremony", ceremony.as_str()),
        ("answer", answer.as_str()),
        ("next", "/"),
    ];
    let (status, body) = stranger.rpc("sign_in_with_passkey", &form).await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
    // The same answer again: its prompt was used.
    let replay = Device::new(&app);
    let (status, body) = replay.rpc("sign_in_with_passkey", &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The answer to one prompt under another's handle: another challenge.
    let (_, fresh) = replay.rpc("begin_passkey_sign_in", &[]).await;
    let form = [
        ("ceremony", fresh["ceremony"].as_str().unwrap()),
        ("answer", answer.as_str()),
        ("next", "/"),
    ];
    let (status, body) = replay.rpc("sign_in_with_passkey", &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(replay.signed_in_as().await, None);

    // A passkey the server never saw.
    let mut unknown = Authenticator::new();
    let other = Device::new(&app);
    other.sign_up().await;
    add(&other, &mut unknown, "Gone").await;
    let id = passkeys_of(&other).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = other
        .rpc(
            "remove_passkey",
            &[("id", &id), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = sign_in(&Device::new(&app), &mut unknown, 0, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // A prompt to add a passkey is its user's alone.
    let (_, prompt) = device
        .rpc("begin_passkey", &[("current_password", PASSWORD)])
        .await;
    let answer = Authenticator::new().create(prompt["options"].as_str().unwrap(), &device.origin);
    let form = [
        ("ceremony", prompt["ceremony"].as_str().unwrap()),
        ("name", "Stolen"),
        ("answer", answer.as_str()),
    ];
    let (status, body) = other.rpc("add_passkey", &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Bad input: a clear 400, never a 500.
    let (_, prompt) = device
        .rpc("begin_passkey", &[("current_password", PASSWORD)])
        .await;
    let ceremony = prompt["ceremony"].as_str().unwrap();
    for (name, answer) in [("", "{}"), ("x", "not json"), ("x", "{}")] {
        let (status, body) = device
            .rpc(
                "add_passkey",
                &[("ceremony", ceremony), ("name", name), ("answer", answer)],
            )
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{name:?} {answer:?}: {body}"
        );
    }
    let (status, body) = device
        .rpc(
            "sign_in_with_passkey",
            &[("ceremony", "nonsense"), ("answer", "[]"), ("next", "/")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn the_same_authenticator_is_added_once() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    device.sign_up().await;
    let mut authenticator = Authenticator::new();
    add(&device, &mut authenticator, "Laptop").await;
    // A device that ignores the exclusion list answers with its old key.
    let (_, prompt) = device
        .rpc("begin_passkey", &[("current_password", PASSWORD)])
        .await;
    let options = prompt["options"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(options).unwrap();
    let excluded = parsed["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(excluded.len(), 1, "{parsed}");
    let seed = authenticator.credentials[0].seed;
    let answer = authenticator.create_from(seed, options, &device.origin);
    let form = [
        ("ceremony", prompt["ceremony"].as_str().unwrap()),
        ("name", "Again"),
        ("answer", answer.as_str()),
    ];
    let (status, body) = device.rpc("add_passkey", &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("added already"), "{body}");
    assert_eq!(passkeys_of(&device).await.len(), 1);
}

#[tokio::test]
async fn removing_takes_the_password_and_the_last_one_turns_two_factor_off() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    let email = device.sign_up().await;
    let mut authenticator = Authenticator::new();
    add(&device, &mut authenticator, "Laptop").await;
    let id = passkeys_of(&device).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = device
        .rpc(
            "remove_passkey",
            &[("id", &id), ("current_password", "wrong password!")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["Validation"][0]["field"], "current_password", "{body}");
    let (status, body) = device
        .rpc(
            "remove_passkey",
            &[("id", "pk_nothing"), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Another user's passkey is not theirs to remove.
    let other = Device::new(&app);
    other.sign_up().await;
    let (status, body) = other
        .rpc(
            "remove_passkey",
            &[("id", &id), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = device
        .rpc(
            "remove_passkey",
            &[("id", &id), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, state) = device.rpc("two_factor_status", &[]).await;
    assert_eq!(state["passkeys"], json!([]));
    assert_eq!(
        state["recovery_codes_left"], 0,
        "the codes went with the last factor"
    );
    let token = token(&app, &email, None).await;
    assert_eq!(
        token.status,
        StatusCode::OK,
        "the password alone signs in again"
    );
}

#[tokio::test]
async fn passkeys_are_refused_on_an_ip_address() {
    let app = TestApp::spawn().await;
    let browser = app.second_user().await;
    let (status, body) = app
        .post_form(&browser, "begin_passkey", &[("current_password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("not an IP address"), "{body}");
}

#[tokio::test]
async fn waiting_prompts_are_capped_per_address_under_concurrency() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    let answers =
        futures::future::join_all((0..60).map(|_| device.rpc("begin_passkey_sign_in", &[]))).await;
    let granted = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::OK)
        .collect();
    assert_eq!(granted, 50, "{refused:?}");
    for (status, body) in refused {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(body.get("TooManyPasskeyPrompts").is_some(), "{body}");
    }
}

#[tokio::test]
async fn a_passkey_is_the_second_factor_an_owner_may_require() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    device.sign_up().await;
    let (status, body) = device
        .rpc("set_account_two_factor", &[("required", "true")])
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "not before they have one: {body}"
    );
    add(&device, &mut Authenticator::new(), "Laptop").await;
    let (status, body) = device
        .rpc("set_account_two_factor", &[("required", "true")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, me) = device.rpc("current_user", &[]).await;
    assert_eq!(me["must_enrol_two_factor"], false, "{me}");
}

#[tokio::test]
async fn the_operator_removes_passkeys_for_a_user_who_lost_them() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    let email = device.sign_up().await;
    let mut authenticator = Authenticator::new();
    add(&device, &mut authenticator, "Lost phone").await;
    let done = std::process::Command::new(binary())
        .current_dir(app.dir.path())
        .envs(base_env(app.dir.path()))
        .args(["user", "disable-two-factor", &email])
        .output()
        .unwrap();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(token(&app, &email, None).await.status, StatusCode::OK);
    assert_eq!(passkeys_of(&device).await, Vec::<Value>::new());
    let (status, body) = sign_in(&Device::new(&app), &mut authenticator, 0, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the lost passkey no longer signs in: {body}"
    );
}

#[tokio::test]
async fn adding_one_takes_the_password_and_is_mailed() {
    let mail = MailServer::start().await;
    // Passkeys belong to the public URL's name: the server is reached there.
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let public = format!("http://localhost:{port}");
    let app = app_with_mail(
        &mail,
        &[
            ("LEPTOS_SITE_ADDR", &address),
            ("KEYSMITH_PUBLIC_URL", &public),
        ],
    )
    .await;
    let device = Device::new(&app);
    let email = device.sign_up().await;
    for wrong in ["", "not my password at all"] {
        let (status, body) = device
            .rpc("begin_passkey", &[("current_password", wrong)])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["Validation"][0]["field"], "current_password", "{body}");
    }
    let (status, codes) = add(&device, &mut Authenticator::new(), "Desk <key>").await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    let notice = mail
        .wait_for(&email, "A passkey was added to your Keysmith account", 1)
        .await;
    let content = &notice[0].content;
    assert!(content.contains("Desk <key>"), "{content}");
    assert!(
        content.contains("Desk &lt;key&gt;"),
        "escaped in HTML: {content}"
    );
}

#[tokio::test]
async fn an_app_code_from_a_user_without_an_app_is_just_wrong() {
    let app = TestApp::spawn().await;
    let device = Device::new(&app);
    let email = device.sign_up().await;
    add(&device, &mut Authenticator::new(), "Laptop").await;
    let answer = token(&app, &email, Some("123456")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let (status, body) = Device::new(&app)
        .rpc(
            "sign_in",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("otp", "123456"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(!app.logs().contains("cannot be opened"), "no error logged");
}
