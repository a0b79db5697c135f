//! The one configuration struct. Each setting is declared once, below: its
//! flag, its environment variable, its default and its help, from which
//! clap builds `keysmith --help` and `settings_table` builds the README's
//! table. Values are parsed (and refused) here, before anything starts.

use crate::{
    auth::{throttle::ThrottlePolicy, verifier::VerifierTokens},
    keys::catalogue::Catalogue,
    mail::{smtp::SmtpServer, MailSettings},
    storage::MembershipLimits,
};
use clap::{ArgAction, Args};
use ipnet::IpNet;
use lettre::message::Mailbox;
use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

/// Comma-separated host names, read as one value.
pub type HostNames = Vec<String>;
/// Comma-separated addresses and CIDR ranges, read as one value.
pub type Networks = Vec<IpNet>;

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000", value_parser = address)]
    pub site_addr: SocketAddr,

    /// The database: `sqlite://…` (its folder and file are created when missing) or `postgres://user:password@host/database` for PostgreSQL, which several replicas can share (then set `KEYSMITH_SECRET`, the same on every replica).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/keysmith.db", value_parser = database_url)]
    pub database_url: String,

    /// Master secret (at least 32 characters) for signing sessions and bearer tokens. When unset, one is generated from the OS CSPRNG on first start and kept in `keysmith.secret` (mode 0600) beside the database, so restarts keep people signed in.
    #[arg(long, env = "KEYSMITH_SECRET", hide_env_values = true, value_parser = secret)]
    pub secret: Option<MasterSecret>,

    /// The URL people use, e.g. `https://keys.example.com`. With https, cookies are `Secure` and HSTS is sent; behind a proxy it is also accepted as our origin.
    #[arg(long, env = "KEYSMITH_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,

    /// The SMTP server Keysmith sends mail through: `smtps://user:password@host:465`, `smtp://user:password@host:587?tls=starttls`, or `smtp://host:25` for a relay on this machine (no password in clear across a network). Needs `KEYSMITH_MAIL_FROM` and `KEYSMITH_PUBLIC_URL` (links in mail start there). Unset: nothing is emailed, and pages say to ask the operator (`keysmith user reset-password`).
    #[arg(long, env = "KEYSMITH_SMTP_URL", hide_env_values = true, value_parser = SmtpServer::parse)]
    pub smtp_url: Option<SmtpServer>,

    /// Who Keysmith's mail comes from, e.g. `Keysmith <keys@example.com>`.
    #[arg(long, env = "KEYSMITH_MAIL_FROM", value_parser = mailbox)]
    pub mail_from: Option<Mailbox>,

    /// Password reset emails one address may be sent per hour; further requests get 429 with `Retry-After`. One client address may ask for ten times as many, for any addresses.
    #[arg(long, env = "KEYSMITH_PASSWORD_RESETS_PER_HOUR", default_value = "3", value_parser = count::<u32, 1_000>)]
    pub password_resets_per_hour: u32,

    /// Comma-separated host names Keysmith answers for (the `Host` header); others get 400, so a name an attacker points at the server (DNS rebinding) reaches nothing. Unset: the public URL's host; with neither set, any host is answered. Loopback names always reach `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "KEYSMITH_ALLOWED_HOSTS", value_parser = host_names)]
    allowed_hosts: Option<HostNames>,

    /// Public sign-up; when `false`, create users with `keysmith user create`.
    #[arg(long, env = "KEYSMITH_ALLOW_SIGNUP", default_value = "true", value_parser = boolean, action = ArgAction::Set)]
    pub allow_signup: bool,

    /// Days of inactivity before a browser session ends; use moves the end on (fractions allowed).
    #[arg(long = "session-idle-days", env = "KEYSMITH_SESSION_IDLE_DAYS", default_value = "7", value_parser = days)]
    pub session_idle: Duration,

    /// Days after sign-in when a browser session ends however active it is (fractions allowed).
    #[arg(long = "session-max-days", env = "KEYSMITH_SESSION_MAX_DAYS", default_value = "30", value_parser = days)]
    pub session_max: Duration,

    /// Failed password checks allowed per email from one client address, and per client address (an IPv6 client by its /64) for all emails, within the window; then refused (429, `Retry-After`) until it passes. Counts sign-in, bearer tokens and password changes.
    #[arg(long, env = "KEYSMITH_LOGIN_MAX_FAILURES", default_value = "5", value_parser = count::<u32, 100_000>)]
    pub login_max_failures: u32,

    /// The window, in minutes, over which failed password checks are counted.
    #[arg(long = "login-window-minutes", env = "KEYSMITH_LOGIN_WINDOW_MINUTES", default_value = "15", value_parser = minutes)]
    pub login_window: Duration,

    /// Failed password checks for one email from all addresses within the window after which each further attempt waits a second more (at most 10 s); never refused, so nobody can lock the owner out from a new address.
    #[arg(long, env = "KEYSMITH_LOGIN_EMAIL_SLOWDOWN_AFTER", default_value = "20", value_parser = count::<u32, 100_000>)]
    pub login_email_slowdown_after: u32,

    /// Sign-ups allowed per client address (an IPv6 client by its /64) per hour; 429 with `Retry-After` beyond.
    #[arg(long, env = "KEYSMITH_SIGNUP_MAX_PER_HOUR", default_value = "10", value_parser = count::<u32, 100_000>)]
    pub signup_max_per_hour: u32,

    /// Password hashes computed at once (19 MiB each); sign-ups may use at most half, and when 32 more sign-ups wait, the next gets 503 with `Retry-After`.
    #[arg(long, env = "KEYSMITH_MAX_CONCURRENT_HASHES", default_value = "4", value_parser = count::<usize, 100_000>)]
    pub max_concurrent_hashes: usize,

    /// Comma-separated addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` is believed (`none` for none).
    #[arg(long, env = "KEYSMITH_TRUSTED_PROXIES", default_value = "none", value_parser = networks)]
    pub trusted_proxies: Networks,

    /// Comma-separated addresses or CIDR ranges that may read Prometheus metrics at `/metrics` (`none` for nobody); others get 403.
    #[arg(long, env = "KEYSMITH_METRICS_ALLOW", default_value = "127.0.0.1,::1", value_parser = networks)]
    pub metrics_allow: Networks,

    /// Idempotency-Keys one member may have used within 24 hours (their answers are kept that long, then swept); past it a new one gets 409 `too_many_idempotency_keys`.
    #[arg(long, env = "KEYSMITH_IDEMPOTENCY_MAX_KEYS", default_value = "1000", value_parser = count::<u32, 1_000_000>)]
    pub idempotency_max_keys: u32,

    /// Members one account may have, owners included; accepting an invitation past it gets 409.
    #[arg(long, env = "KEYSMITH_MAX_MEMBERS_PER_ACCOUNT", default_value = "1000", value_parser = count::<u32, 1_000_000>)]
    pub max_members_per_account: u32,

    /// Invitations one account may send in any hour; past it inviting gets 429 with `Retry-After`.
    #[arg(long, env = "KEYSMITH_INVITATIONS_PER_HOUR", default_value = "50", value_parser = count::<u32, 100_000>)]
    pub invitations_per_hour: u32,

    /// Days audit events are kept; older ones are deleted once a day.
    #[arg(long, env = "KEYSMITH_AUDIT_RETENTION_DAYS", default_value = "365", value_parser = count::<u32, 36_500>)]
    pub audit_retention_days: u32,

    /// Accounts one user may belong to (their own included); accepting an invitation past it gets 409.
    #[arg(long, env = "KEYSMITH_MAX_ACCOUNTS_PER_USER", default_value = "100", value_parser = count::<u32, 10_000>)]
    pub max_accounts_per_user: u32,

    /// What new API keys start with (2 to 20 letters, digits and underscores), so people and secret scanners can recognise them.
    #[arg(long, env = "KEYSMITH_KEY_PREFIX", default_value = "ks_live_", value_parser = key_prefix)]
    pub key_prefix: String,

    /// A TOML file declaring the permissions keys may hold, each with a name, a description, an optional group and what it implies (see Permissions; examples/ has two). Checked at start-up: a flaw stops Keysmith with the file's line and the fix. Unset: `search`, `read`, `write` and `admin`, each implying the ones before it.
    #[arg(long, env = "KEYSMITH_PERMISSIONS_FILE", value_parser = permissions_file)]
    pub permissions_file: Option<PermissionsFile>,

    /// Secrets the platform's services present to call `POST /api/v2/keys/verify`, as `Authorization: Bearer <token>`: comma-separated, or `file:/path` to a file of them, one per line (lines starting with `#` aside). Each at least 16 characters. Set, verify answers 401 without one, so keys' metadata never reaches the open internet; unset, verify is open.
    #[arg(long, env = "KEYSMITH_VERIFY_TOKENS", hide_env_values = true, value_parser = VerifierTokens::parse)]
    pub verify_tokens: Option<VerifierTokens>,

    /// Lifetime, in minutes, of the bearer tokens `POST /api/v2/auth/token` issues.
    #[arg(long = "token-minutes", env = "KEYSMITH_TOKEN_MINUTES", default_value = "15", value_parser = minutes)]
    pub token_lifetime: Duration,

    /// How often keys' last-use times are written. If the process is killed (not stopped), at most this much usage data is lost; SIGTERM writes it first.
    #[arg(long = "usage-flush-seconds", env = "KEYSMITH_USAGE_FLUSH_SECONDS", default_value = "1", value_parser = seconds)]
    pub usage_flush: Duration,

    /// On SIGTERM or SIGINT, how long requests in flight may take to finish before Keysmith stops without them.
    #[arg(long = "shutdown-grace-seconds", env = "KEYSMITH_SHUTDOWN_GRACE_SECONDS", default_value = "10", value_parser = seconds)]
    pub shutdown_grace: Duration,

    /// Time a client has to send a request's headers; a keep-alive connection idle this long between requests is closed too (slowloris). Checked once per period: a connection is closed between one and two periods after its last request.
    #[arg(long = "header-timeout-seconds", env = "KEYSMITH_HEADER_TIMEOUT_SECONDS", default_value = "10", value_parser = seconds)]
    pub header_timeout: Duration,

    /// Time a request, reading its body included, may take before it is answered 408.
    #[arg(long = "request-timeout-seconds", env = "KEYSMITH_REQUEST_TIMEOUT_SECONDS", default_value = "30", value_parser = seconds)]
    pub request_timeout: Duration,

    /// How long key verification trusts what it read about a key. Changes made through this process (edit, rotate, revoke, delete) apply to the very next verification; this bounds how long another replica's changes would take.
    #[arg(long = "verify-cache-seconds", env = "KEYSMITH_VERIFY_CACHE_SECONDS", default_value = "60", value_parser = seconds)]
    pub verify_cache_ttl: Duration,

    /// Keys kept in the verification cache, and as many unknown keys (so a flood of made-up keys reaches the database once each), about 0.5 KB each.
    #[arg(long, env = "KEYSMITH_VERIFY_CACHE_ENTRIES", default_value = "100000", value_parser = count::<usize, 100_000_000>)]
    pub verify_cache_entries: usize,
}

/// Read from the environment by Leptos and the logger rather than by
/// [`Config`]; listed with the settings in `--help` and the README.
pub const OTHER_VARIABLES: &[(&str, &str, &str)] = &[
    (
        "LEPTOS_SITE_ROOT",
        "target/site",
        "Folder with the built CSS, JavaScript and wasm.",
    ),
    ("LEPTOS_ENV", "DEV", "`PROD` in production."),
    (
        "RUST_LOG",
        "info",
        "Log filter, e.g. `keysmith=debug,info`.",
    ),
];

/// A permission catalogue read from its file, checked.
#[derive(Clone)]
pub struct PermissionsFile {
    pub path: String,
    pub catalogue: Arc<Catalogue>,
}

impl fmt::Debug for PermissionsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PermissionsFile({})", self.path)
    }
}

/// The operator-supplied master secret.
#[derive(Clone)]
pub struct MasterSecret(pub String);

impl fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterSecret(<redacted>)")
    }
}

/// A setting that could not be used; its `Display` is the one line printed
/// before Keysmith refuses to start.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Applies the rules that join settings, once parsed: the allowed hosts
    /// default to the public URL's.
    pub fn finish(mut self) -> Self {
        if self.allowed_hosts.is_none() {
            let public = self.public_url.as_deref().map(host_names).transpose();
            self.allowed_hosts = Some(public.ok().flatten().unwrap_or_default());
        }
        self
    }

    /// Lower-case host names without ports; empty means any host.
    pub fn allowed_hosts(&self) -> &[String] {
        self.allowed_hosts.as_deref().unwrap_or_default()
    }

    /// The permissions keys may hold: the file's, or the standard four.
    pub fn catalogue(&self) -> Arc<Catalogue> {
        match &self.permissions_file {
            Some(file) => Arc::clone(&file.catalogue),
            None => Arc::new(Catalogue::standard()),
        }
    }

    pub fn throttle(&self) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: self.login_max_failures,
            window: self.login_window,
            email_slowdown_after: self.login_email_slowdown_after,
            signups_per_hour: self.signup_max_per_hour,
            resets_per_hour: self.password_resets_per_hour,
        }
    }

    /// What mail needs, when it is on: the SMTP server, the sender and the
    /// public URL, all three or none of the first two.
    pub fn mail(&self) -> Result<Option<MailSettings>, ConfigError> {
        let missing = |variable: &str, message: &str| ConfigError {
            variable: variable.into(),
            message: message.into(),
        };
        match (&self.smtp_url, &self.mail_from, &self.public_url) {
            (None, None, _) => Ok(None),
            (Some(server), Some(from), Some(public_url)) => Ok(Some(MailSettings {
                server: server.clone(),
                from: from.clone(),
                public_url: public_url.clone(),
            })),
            (None, Some(_), _) => Err(missing(
                "KEYSMITH_SMTP_URL",
                "must be set with KEYSMITH_MAIL_FROM (where mail goes)",
            )),
            (Some(_), None, _) => Err(missing(
                "KEYSMITH_MAIL_FROM",
                "must be set with KEYSMITH_SMTP_URL (who mail comes from)",
            )),
            (Some(_), Some(_), None) => Err(missing(
                "KEYSMITH_PUBLIC_URL",
                "must be set to send mail: links in mail start there",
            )),
        }
    }

    pub fn membership_limits(&self) -> MembershipLimits {
        MembershipLimits {
            members_per_account: self.max_members_per_account.into(),
            accounts_per_user: self.max_accounts_per_user.into(),
        }
    }

    /// Cookies get the `Secure` flag when Keysmith is served over https.
    pub fn serves_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }

    /// The one line naming the variable (or flag) whose value clap refused,
    /// with our parser's reason; `None` for other command-line errors.
    pub fn setting_error(error: &clap::Error, command: &clap::Command) -> Option<ConfigError> {
        use clap::error::{ContextKind, ErrorKind};
        if !matches!(
            error.kind(),
            ErrorKind::ValueValidation | ErrorKind::InvalidValue
        ) {
            return None;
        }
        let shown = error.get(ContextKind::InvalidArg)?.to_string();
        let arg = command.get_arguments().find(|arg| {
            arg.get_long()
                .is_some_and(|long| shown.starts_with(&format!("--{long}")))
        })?;
        let variable = match arg.get_env() {
            Some(env) => env.to_string_lossy().into_owned(),
            None => shown,
        };
        let message = std::error::Error::source(error)
            .map(ToString::to_string)
            .unwrap_or_else(|| "not a valid value".into());
        Some(ConfigError { variable, message })
    }

    /// The README's table of settings: every variable, its default and
    /// what it means, as `--help` gives them.
    pub fn settings_table(command: &clap::Command) -> String {
        let mut table = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let default = arg
                .get_default_values()
                .first()
                .map(|value| format!("`{}`", value.to_string_lossy()))
                .unwrap_or_else(|| "unset".into());
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            table.push_str(&format!(
                "| `{}` | {default} | {help} |\n",
                env.to_string_lossy()
            ));
        }
        for (name, default, help) in OTHER_VARIABLES {
            table.push_str(&format!("| `{name}` | `{default}` | {help} |\n"));
        }
        table
    }

    /// The environment section of `--help` for the variables that are not
    /// settings of this struct.
    pub fn other_variables_help() -> String {
        let mut help = String::from("Also read from the environment:\n");
        for (name, default, meaning) in OTHER_VARIABLES {
            help.push_str(&format!("  {name:<18} {meaning} [default: {default}]\n"));
        }
        help
    }
}

/// `host` of `host[:port]`, `[v6]` of `[v6][:port]`.
pub fn host_without_port(authority: &str) -> Option<&str> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        return Some(&authority[..=end]);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

// The value parsers: each takes the raw text (from a flag or the
// environment) and says in one phrase what it expected.

fn address(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    raw.parse()
        .map_err(|_| format!("expected an address like 127.0.0.1:3000, got {raw:?}"))
}

/// Never echoes the value: a PostgreSQL URL may hold a password.
fn database_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    if url.starts_with("sqlite:") || crate::storage::is_postgres(url) {
        Ok(url.to_owned())
    } else {
        Err("expected sqlite://path/to/file.db or postgres://user:password@host/database".into())
    }
}

/// Never echoes the value: it is a secret even when it is too short.
fn secret(raw: &str) -> Result<MasterSecret, String> {
    let secret = raw.trim();
    if secret.len() < 32 {
        return Err(format!(
            "must be at least 32 characters, got {}",
            secret.len()
        ));
    }
    Ok(MasterSecret(secret.to_owned()))
}

fn public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "expected a URL like https://keys.example.com, got {url:?}"
        )),
    }
}

/// Host names, from a comma-separated list of names or URLs.
fn host_names(raw: &str) -> Result<HostNames, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let host = entry
                .strip_prefix("https://")
                .or_else(|| entry.strip_prefix("http://"))
                .unwrap_or(entry);
            let host = host.split(['/', '?', '#']).next().unwrap_or_default();
            host_without_port(host)
                .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| format!("{entry:?} is not a host name"))
        })
        .collect()
}

/// `Name <address>` or a bare address.
fn mailbox(raw: &str) -> Result<Mailbox, String> {
    let raw = raw.trim();
    raw.parse()
        .map_err(|_| format!("expected an address like Keysmith <keys@example.com>, got {raw:?}"))
}

fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

/// A whole number from 1 to `MAX`.
fn count<T: TryFrom<u64>, const MAX: u64>(raw: &str) -> Result<T, String> {
    let raw = raw.trim();
    let expected = || format!("expected a whole number of at least 1, got {raw:?}");
    match raw.parse::<u64>() {
        Ok(0) | Err(_) => Err(expected()),
        Ok(n) if n > MAX => Err(format!("{n} is unreasonably large (at most {MAX})")),
        Ok(n) => T::try_from(n).map_err(|_| expected()),
    }
}

fn seconds(raw: &str) -> Result<Duration, String> {
    count::<u64, 100_000>(raw).map(Duration::from_secs)
}

fn minutes(raw: &str) -> Result<Duration, String> {
    count::<u64, 100_000>(raw).map(|n| Duration::from_secs(n * 60))
}

/// A positive number of days, fractions allowed, at most ten years; at
/// least a second.
fn days(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    match raw.parse::<f64>() {
        Ok(days) if days > 0.0 && days <= 3650.0 => {
            Ok(Duration::from_secs_f64(days * 86_400.0).max(Duration::from_secs(1)))
        }
        _ => Err(format!(
            "expected a number of days above 0 (at most 3650), got {raw:?}"
        )),
    }
}

fn permissions_file(raw: &str) -> Result<PermissionsFile, String> {
    let path = raw.trim().to_owned();
    let catalogue = Catalogue::from_file(&path)?;
    Ok(PermissionsFile {
        path,
        catalogue: Arc::new(catalogue),
    })
}

fn key_prefix(raw: &str) -> Result<String, String> {
    let prefix = raw.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if (2..=20).contains(&prefix.len()) && prefix.chars().all(allowed) {
        Ok(prefix.to_owned())
    } else {
        Err(format!(
            "expected 2 to 20 letters, digits and underscores, got {prefix:?}"
        ))
    }
}

/// A comma-separated list of addresses and CIDR ranges; `none` for none.
fn networks(raw: &str) -> Result<Networks, String> {
    let list = raw.trim();
    if list.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .ok()
                .or_else(|| entry.parse::<std::net::IpAddr>().ok().map(IpNet::from))
                .ok_or_else(|| format!("{entry:?} is not an IP address or CIDR range"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Command, FromArgMatches};

    /// The settings as clap reads them, without this process's environment.
    fn command() -> Command {
        Config::augment_args(Command::new("keysmith")).mut_args(|arg| arg.env(None))
    }

    /// A configuration from variables, given as the flags they stand for.
    fn config_from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let with_env = Config::augment_args(Command::new("keysmith"));
        let mut args = vec!["keysmith".to_owned()];
        for (name, value) in vars {
            let arg = with_env
                .get_arguments()
                .find(|arg| arg.get_env().is_some_and(|env| env == *name))
                .unwrap_or_else(|| panic!("{name} is not a setting"));
            args.push(format!("--{}={value}", arg.get_long().unwrap()));
        }
        let command = command();
        let matches = command
            .clone()
            .try_get_matches_from(args)
            .map_err(|error| Config::setting_error(&error, &with_env).expect("a setting error"))?;
        Ok(Config::from_arg_matches(&matches).unwrap().finish())
    }

    #[test]
    fn no_configuration_at_all_gives_working_defaults() {
        let config = config_from(&[]).unwrap();
        assert_eq!(config.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.database_url, "sqlite://data/keysmith.db");
        assert!(config.allow_signup);
        assert!(config.secret.is_none());
        assert!(!config.serves_https());
        assert_eq!(config.session_idle, Duration::from_secs(7 * 86_400));
        assert_eq!(config.session_max, Duration::from_secs(30 * 86_400));
        let throttle = config.throttle();
        assert_eq!(throttle.max_failures, 5);
        assert_eq!(throttle.window, Duration::from_secs(15 * 60));
        assert_eq!(throttle.email_slowdown_after, 20);
        assert_eq!(throttle.signups_per_hour, 10);
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.metrics_allow.len(), 2);
        assert_eq!(config.key_prefix, "ks_live_");
        assert_eq!(config.verify_cache_entries, 100_000);
    }

    #[test]
    fn the_key_prefix_is_configurable_within_a_safe_alphabet() {
        let config = config_from(&[("KEYSMITH_KEY_PREFIX", "acme_prod_")]).unwrap();
        assert_eq!(config.key_prefix, "acme_prod_");
        for bad in ["k", "ks-live-", "ks live", "a_very_long_prefix_indeed_"] {
            let error = config_from(&[("KEYSMITH_KEY_PREFIX", bad)]).unwrap_err();
            assert_eq!(error.variable, "KEYSMITH_KEY_PREFIX", "{bad}");
        }
    }

    #[test]
    fn a_malformed_address_names_the_variable() {
        let error = config_from(&[("LEPTOS_SITE_ADDR", "localhost:http")]).unwrap_err();
        assert_eq!(error.variable, "LEPTOS_SITE_ADDR");
        assert!(error.to_string().starts_with("invalid LEPTOS_SITE_ADDR: "));
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn booleans_accept_the_usual_spellings_and_refuse_others() {
        let signup = |value| config_from(&[("KEYSMITH_ALLOW_SIGNUP", value)]);
        assert!(!signup("false").unwrap().allow_signup);
        assert!(!signup("OFF").unwrap().allow_signup);
        assert!(signup(" yes ").unwrap().allow_signup);
        assert_eq!(
            signup("maybe").unwrap_err().variable,
            "KEYSMITH_ALLOW_SIGNUP"
        );
    }

    #[test]
    fn counts_must_be_positive_whole_numbers() {
        for bad in ["0", "-3", "seven", "1.5", "100001"] {
            let error = config_from(&[("KEYSMITH_LOGIN_MAX_FAILURES", bad)]).unwrap_err();
            assert_eq!(error.variable, "KEYSMITH_LOGIN_MAX_FAILURES", "{bad}");
        }
        for bad in ["0", "-3", "seven", "NaN", "inf", "4000"] {
            let error = config_from(&[("KEYSMITH_SESSION_IDLE_DAYS", bad)]).unwrap_err();
            assert_eq!(error.variable, "KEYSMITH_SESSION_IDLE_DAYS", "{bad}");
        }
        let config = config_from(&[("KEYSMITH_SESSION_MAX_DAYS", "0.5")]).unwrap();
        assert_eq!(config.session_max, Duration::from_secs(12 * 3600));
        let config = config_from(&[("KEYSMITH_TOKEN_MINUTES", "2")]).unwrap();
        assert_eq!(config.token_lifetime, Duration::from_secs(120));
    }

    #[test]
    fn sqlite_and_postgres_databases_are_accepted() {
        for url in [
            "sqlite://data/k.db",
            "postgres://k:pw@db/k",
            "postgresql://db/k",
        ] {
            assert_eq!(
                config_from(&[("DATABASE_URL", url)]).unwrap().database_url,
                url
            );
        }
        let error = config_from(&[("DATABASE_URL", "mysql://k:hunter2@db/k")]).unwrap_err();
        assert_eq!(error.variable, "DATABASE_URL");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn a_short_secret_is_refused_without_being_echoed() {
        let error = config_from(&[("KEYSMITH_SECRET", "too-short")]).unwrap_err();
        assert_eq!(error.variable, "KEYSMITH_SECRET");
        assert!(!error.to_string().contains("too-short"), "{error}");
        let config = config_from(&[("KEYSMITH_SECRET", &"s".repeat(32))]).unwrap();
        assert!(!format!("{config:?}").contains(&"s".repeat(32)));
    }

    #[test]
    fn an_https_public_url_turns_on_secure_cookies() {
        let config = config_from(&[("KEYSMITH_PUBLIC_URL", "https://keys.example.com/")]).unwrap();
        assert!(config.serves_https());
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://keys.example.com")
        );
        assert!(config_from(&[("KEYSMITH_PUBLIC_URL", "keys.example.com")]).is_err());
    }

    #[test]
    fn allowed_hosts_come_from_the_list_or_the_public_url() {
        assert!(config_from(&[]).unwrap().allowed_hosts().is_empty());
        let config =
            config_from(&[("KEYSMITH_PUBLIC_URL", "https://Keys.Example.com:8443/")]).unwrap();
        assert_eq!(config.allowed_hosts(), ["keys.example.com"]);
        let config = config_from(&[
            ("KEYSMITH_PUBLIC_URL", "https://keys.example.com"),
            ("KEYSMITH_ALLOWED_HOSTS", "a.example, b.example:3000,[::1]"),
        ])
        .unwrap();
        assert_eq!(config.allowed_hosts(), ["a.example", "b.example", "[::1]"]);
    }

    #[test]
    fn mail_needs_a_server_a_sender_and_the_public_url_together() {
        assert!(config_from(&[]).unwrap().mail().unwrap().is_none());
        let smtp = ("KEYSMITH_SMTP_URL", "smtp://127.0.0.1:2525");
        let from = ("KEYSMITH_MAIL_FROM", "Keysmith <keys@example.com>");
        let public = ("KEYSMITH_PUBLIC_URL", "https://keys.example.com");
        let mail = config_from(&[smtp, from, public])
            .unwrap()
            .mail()
            .unwrap()
            .unwrap();
        assert_eq!(mail.from.email.to_string(), "keys@example.com");
        assert_eq!(mail.public_url, "https://keys.example.com");
        for (vars, variable) in [
            (&[smtp, public][..], "KEYSMITH_MAIL_FROM"),
            (&[from, public], "KEYSMITH_SMTP_URL"),
            (&[smtp, from], "KEYSMITH_PUBLIC_URL"),
        ] {
            let error = config_from(vars).unwrap().mail().unwrap_err();
            assert_eq!(error.variable, variable);
        }
        let error = config_from(&[("KEYSMITH_MAIL_FROM", "not an address")]).unwrap_err();
        assert_eq!(error.variable, "KEYSMITH_MAIL_FROM");
        let error =
            config_from(&[("KEYSMITH_SMTP_URL", "smtp://a:hunter2@mail.example.com")]).unwrap_err();
        assert_eq!(error.variable, "KEYSMITH_SMTP_URL");
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        let config =
            config_from(&[("KEYSMITH_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16,::1")]).unwrap();
        assert_eq!(config.trusted_proxies.len(), 3);
        let error = config_from(&[("KEYSMITH_TRUSTED_PROXIES", "10.0.0.1,nope")]).unwrap_err();
        assert!(error.message.contains("\"nope\""), "{error}");
    }

    #[test]
    fn the_readme_table_is_the_settings() {
        let table = Config::settings_table(&Config::augment_args(Command::new("keysmith")));
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&table),
            "README.md's settings table is out of date; it should read:\n{table}"
        );
        for variable in [
            "KEYSMITH_SECRET",
            "KEYSMITH_VERIFY_CACHE_ENTRIES",
            "RUST_LOG",
        ] {
            assert!(table.contains(variable), "{variable}");
        }
    }
}
