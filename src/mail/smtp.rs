//! The SMTP server mail is handed to (`KEYSMITH_SMTP_URL`), and the one
//! delivery that marks its own point of no return.
//!
//! A message is the SMTP server's once it acknowledges the final dot after
//! DATA. [`SmtpServer::deliver`] runs MAIL, RCPT and DATA itself, then asks
//! the caller to record the hand-over (`commit`) before it writes the body
//! and the dot. A crash before that record leaves nothing at the server
//! (an unfinished DATA is discarded), so the message is sent again; after
//! it, the message is never sent again. That is how a crash between send
//! and mark cannot send a message twice: the mark comes first.

use lettre::{
    address::Envelope,
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, TlsParameters},
        commands::{Data, Mail, Rcpt},
        extension::ClientId,
    },
};
use percent_encoding::percent_decode_str;
use std::{fmt, time::Duration};

/// How long connecting, and then each command, may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// `smtps://`: TLS from the first byte (port 465).
    Implicit,
    /// `smtp://…?tls=starttls`: plain, then STARTTLS, required.
    StartTls,
    /// `smtp://` alone: no TLS, for a relay on this machine or network.
    None,
}

/// Where mail goes and how to sign in there, parsed from the URL once.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    credentials: Option<(String, String)>,
}

impl fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("signs_in", &self.credentials.is_some())
            .finish()
    }
}

impl SmtpServer {
    /// `smtps://user:pass@host[:465]`, `smtp://user:pass@host[:587]?tls=starttls`
    /// or `smtp://host[:25]`. Never echoes the URL: it may hold a password.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|_| {
            "expected smtps://user:password@host:465 or smtp://user:password@host:587?tls=starttls"
                .to_owned()
        })?;
        let mut tls = match url.scheme() {
            "smtps" => Tls::Implicit,
            "smtp" => Tls::None,
            other => return Err(format!("expected smtp:// or smtps://, got {other}://")),
        };
        for (name, value) in url.query_pairs() {
            match (name.as_ref(), value.as_ref(), tls) {
                ("tls", "starttls", Tls::None) => tls = Tls::StartTls,
                ("tls", "none", Tls::None) => {}
                _ => {
                    return Err(format!(
                        "unknown option {name}={value} (smtp:// takes tls=starttls or tls=none)"
                    ))
                }
            }
        }
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.trim_matches(['[', ']']).to_owned(),
            _ => return Err("the URL names no host".into()),
        };
        let port = url.port().unwrap_or(match tls {
            Tls::Implicit => 465,
            Tls::StartTls => 587,
            Tls::None => 25,
        });
        let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
        let credentials = (!url.username().is_empty())
            .then(|| (decode(url.username()), decode(url.password().unwrap_or(""))));
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if credentials.is_some() && tls == Tls::None && !loopback {
            return Err(
                "a password would cross the network in clear: use smtps:// or add ?tls=starttls"
                    .into(),
            );
        }
        Ok(SmtpServer {
            host,
            port,
            tls,
            credentials,
        })
    }

    /// Hands one message over: `commit` is awaited after the server agreed
    /// to take the DATA and before the body is written; when it says no
    /// (another sender has the message now) the transaction is abandoned.
    pub async fn deliver(
        &self,
        envelope: &Envelope,
        body: &[u8],
        commit: impl std::future::Future<Output = bool>,
    ) -> Result<(), Failure> {
        let mut connection = self.connect().await.map_err(Failure::before)?;
        let prepared = async {
            connection
                .command(Mail::new(envelope.from().cloned(), vec![]))
                .await?;
            for to in envelope.to() {
                connection.command(Rcpt::new(to.clone(), vec![])).await?;
            }
            connection.command(Data).await
        };
        if let Err(error) = prepared.await {
            connection.abort().await;
            return Err(Failure::before(error));
        }
        if !commit.await {
            connection.abort().await;
            return Err(Failure::Abandoned);
        }
        let accepted = connection.message(body).await;
        let _ = connection.quit().await;
        accepted.map(drop).map_err(Failure::after)
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, lettre::transport::smtp::Error> {
        let hello = ClientId::default();
        let tls = || TlsParameters::new(self.host.clone());
        let implicit = match self.tls {
            Tls::Implicit => Some(tls()?),
            _ => None,
        };
        let address = (self.host.as_str(), self.port);
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            address,
            Some(COMMAND_TIMEOUT),
            &hello,
            implicit,
            None,
        )
        .await?;
        if self.tls == Tls::StartTls {
            connection.starttls(tls()?, &hello).await?;
        }
        if let Some((user, password)) = &self.credentials {
            let credentials = Credentials::new(user.clone(), password.clone());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await?;
        }
        Ok(connection)
    }
}

/// Why a message was not handed over.
#[derive(Debug)]
pub enum Failure {
    /// Before the hand-over was recorded: nothing reached the recipient.
    /// `permanent` when the server refused for good (5xx).
    Before { permanent: bool, reason: String },
    /// The server answered the final dot with a refusal: it did not take
    /// the message (`permanent` as above).
    Refused { permanent: bool, reason: String },
    /// The body was written but no answer came: the server may have it.
    Unconfirmed { reason: String },
    /// The hand-over could not be recorded: another sender has it now.
    Abandoned,
}

impl Failure {
    fn before(error: lettre::transport::smtp::Error) -> Self {
        Failure::Before {
            permanent: error.is_permanent(),
            reason: error.to_string(),
        }
    }

    fn after(error: lettre::transport::smtp::Error) -> Self {
        if error.is_permanent() || error.is_transient() {
            Failure::Refused {
                permanent: error.is_permanent(),
                reason: error.to_string(),
            }
        } else {
            Failure::Unconfirmed {
                reason: error.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_of_url_choose_their_protection_and_port() {
        let implicit = SmtpServer::parse("smtps://ada:p%40ss@mail.example.com").unwrap();
        assert_eq!(
            (implicit.tls, implicit.port, implicit.host.as_str()),
            (Tls::Implicit, 465, "mail.example.com")
        );
        assert_eq!(
            implicit.credentials,
            Some(("ada".to_owned(), "p@ss".to_owned()))
        );
        let starttls = SmtpServer::parse("smtp://ada:pw@mail.example.com?tls=starttls").unwrap();
        assert_eq!((starttls.tls, starttls.port), (Tls::StartTls, 587));
        let plain = SmtpServer::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((plain.tls, plain.port), (Tls::None, 2525));
        assert_eq!(plain.credentials, None);
    }

    #[test]
    fn a_password_in_clear_across_the_network_is_refused() {
        let error = SmtpServer::parse("smtp://ada:hunter2@mail.example.com").unwrap_err();
        assert!(error.contains("in clear"), "{error}");
        assert!(!error.contains("hunter2"));
        assert!(SmtpServer::parse("smtp://ada:pw@localhost:25").is_ok());
    }

    #[test]
    fn malformed_urls_are_refused_without_echoing_them() {
        for bad in [
            "mail.example.com",
            "http://mail.example.com",
            "smtps://mail.example.com?tls=starttls",
            "smtp://mail.example.com?tls=maybe",
            "smtp://:pw@/",
        ] {
            let error = SmtpServer::parse(bad).unwrap_err();
            assert!(!error.contains("example.com"), "{bad}: {error}");
        }
        let server = SmtpServer::parse("smtps://ada:hunter2@mail.example.com").unwrap();
        assert!(!format!("{server:?}").contains("hunter2"));
    }
}
