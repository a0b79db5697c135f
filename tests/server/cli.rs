use crate::helpers::*;
use reqwest::StatusCode;
use std::{io::Write, process::Stdio};

fn keysmith(dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary());
    command.current_dir(dir).envs(base_env(dir));
    command
}

#[test]
fn help_lists_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = keysmith(dir.path()).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for name in [
        "LEPTOS_SITE_ADDR",
        "DATABASE_URL",
        "KEYSMITH_SECRET",
        "KEYSMITH_ALLOW_SIGNUP",
        "KEYSMITH_SESSION_IDLE_DAYS",
        "user create --email",
    ] {
        assert!(help.contains(name), "--help should mention {name}");
    }
}

#[test]
fn a_malformed_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = keysmith(dir.path())
        .env("KEYSMITH_SESSION_IDLE_DAYS", "soon")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("KEYSMITH_SESSION_IDLE_DAYS"), "{stderr}");
}

#[test]
fn a_flawed_permission_catalogue_stops_start_up_with_its_file_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("permissions.toml");
    std::fs::write(
        &file,
        "[[permission]]\nname = \"write:assets\"\ndescription = \"Upload.\"\nimplies = [\"read:asset\"]\n",
    )
    .unwrap();
    let output = keysmith(dir.path())
        .env("KEYSMITH_PERMISSIONS_FILE", &file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let expected = format!(
        "error: invalid KEYSMITH_PERMISSIONS_FILE: {}:4: \"write:assets\" implies \"read:asset\", which the file does not declare. Declare it, or correct the name.",
        file.display()
    );
    assert_eq!(stderr.trim_end(), expected);
}

#[test]
fn a_short_verifier_token_stops_start_up_without_being_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let output = keysmith(dir.path())
        .env(
            "KEYSMITH_VERIFY_TOKENS",
            "a-long-enough-verifier-token,hunter2",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "error: invalid KEYSMITH_VERIFY_TOKENS: token 2 is shorter than 16 characters"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("a-long-enough"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = keysmith(dir.path()).arg("frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

fn create_user(dir: &std::path::Path, email: &str, stdin: &str) -> std::process::Output {
    let mut child = keysmith(dir)
        .args(["user", "create", "--email", email])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn a_user_created_on_the_command_line_can_sign_in_even_with_sign_up_off() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let output = create_user(dir.path(), "ops@example.com", &format!("{PASSWORD}\n"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created user usr_"));

    let app = TestApp::spawn_in(dir, &[("KEYSMITH_ALLOW_SIGNUP", "false")]).await;
    assert_success(&app.sign_in("ops@example.com", PASSWORD).await);
    assert_eq!(app.current_user().await.0, StatusCode::OK);
}

#[test]
fn the_command_line_applies_the_same_rules_as_the_sign_up_form() {
    let dir = tempfile::tempdir().unwrap();
    let output = create_user(dir.path(), "ops@example.com", "short\n");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 12 characters"));

    let output = create_user(dir.path(), "not-an-email", &format!("{PASSWORD}\n"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("valid email"));
}

#[test]
fn settings_are_read_from_a_dot_env_file_in_the_working_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "KEYSMITH_LOGIN_WINDOW_MINUTES=never\n",
    )
    .unwrap();
    let output = keysmith(dir.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("invalid KEYSMITH_LOGIN_WINDOW_MINUTES"),
        "{stderr}"
    );
}
