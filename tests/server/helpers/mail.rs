//! A real SMTP server for the mail tests: `scripts/smtp_sink.py`
//! (aiosmtpd) on a free port, writing each message it accepts to a folder
//! the test reads.

use super::app::{eventually, TestApp};
use std::{path::PathBuf, process::Stdio, time::Duration};
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    /// Every header and part, transfer encoding undone.
    pub content: String,
}

impl Received {
    /// The 64-hex-digit token after `marker` (`/reset-password?token=`).
    pub fn token_after(&self, marker: &str) -> String {
        let start = self
            .content
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker} in:\n{}", self.content))
            + marker.len();
        self.content[start..start + 64].to_owned()
    }
}

pub struct MailServer {
    pub port: u16,
    folder: TempDir,
    child: Option<Child>,
}

impl MailServer {
    pub async fn start() -> MailServer {
        let port = free_port();
        let mut server = MailServer {
            port,
            folder: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.start_again().await;
        server
    }

    /// (Re)starts the server on its port, keeping what it received.
    pub async fn start_again(&mut self) {
        let mut child = Command::new(python())
            .arg(manifest_dir().join("scripts/smtp_sink.py"))
            .args(["--port", &self.port.to_string(), "--folder"])
            .arg(self.folder.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python with aiosmtpd starts (scripts/setup.sh test installs it)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        assert!(
            matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"),
            "the SMTP server did not start: {ready:?}"
        );
        self.child = Some(child);
    }

    /// Stops the server: connections are refused until it starts again.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// The settings a Keysmith server sends here with.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "KEYSMITH_SMTP_URL",
                format!("smtp://127.0.0.1:{}", self.port),
            ),
            ("KEYSMITH_MAIL_FROM", "Keysmith <keys@keysmith.test>".into()),
            ("KEYSMITH_PUBLIC_URL", "http://127.0.0.1".into()),
        ]
    }

    /// Every message received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| parse(&std::fs::read(path).unwrap()))
            .collect()
    }

    /// The messages to `to` with `subject`, once there are `count`.
    pub async fn wait_for(&self, to: &str, subject: &str, count: usize) -> Vec<Received> {
        let what = format!("{count} messages \"{subject}\" to {to}");
        eventually(Duration::from_secs(20), &what, || async {
            self.about(to, subject).len() >= count
        })
        .await;
        self.about(to, subject)
    }

    /// The messages to `to` with `subject` so far.
    pub fn about(&self, to: &str, subject: &str) -> Vec<Received> {
        self.to(to)
            .into_iter()
            .filter(|m| m.subject == subject)
            .collect()
    }

    pub fn to(&self, to: &str) -> Vec<Received> {
        self.received().into_iter().filter(|m| m.to == to).collect()
    }
}

/// A server that mails through `mail`.
pub async fn app_with_mail(mail: &MailServer, extra: &[(&str, &str)]) -> TestApp {
    let settings = mail.settings();
    let mut env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    TestApp::spawn_with(&env).await
}

fn parse(raw: &[u8]) -> Received {
    let text = String::from_utf8_lossy(raw).into_owned();
    // Long headers are folded onto lines that start with white space.
    let unfolded = text.replace("\r\n ", " ").replace("\r\n\t", " ");
    let header = |name: &str| {
        unfolded
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    Received {
        to: header("X-Envelope-To:"),
        subject: header("Subject:"),
        content: undo_quoted_printable(&text),
    }
}

/// Soft line breaks and `=XX` escapes of quoted-printable parts undone
/// (7-bit parts hold neither).
fn undo_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::with_capacity(joined.len());
    let mut rest = joined.as_str();
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest
            .get(at + 1..at + 3)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) if byte.is_ascii() => {
                out.push(byte as char);
                rest = &rest[at + 3..];
            }
            _ => {
                out.push('=');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has aiosmtpd: `KEYSMITH_TEST_PYTHON`, else the test
/// tools' virtual environment.
fn python() -> PathBuf {
    std::env::var_os("KEYSMITH_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("tools/venv/bin/python"))
}
