//! The one configuration struct, read from environment variables (a `.env`
//! file is loaded into the environment first, by `main`).

use crate::auth::throttle::ThrottlePolicy;
use ipnet::IpNet;
use std::{fmt, net::SocketAddr, time::Duration};

/// One environment variable Keysmith reads: the catalogue behind `--help`.
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "LEPTOS_SITE_ADDR",
        default: "127.0.0.1:3000",
        help: "Address and port to listen on.",
    },
    Setting {
        name: "DATABASE_URL",
        default: "sqlite://data/keysmith.db",
        help: "SQLite database; its folder and file are created when missing.",
    },
    Setting {
        name: "KEYSMITH_SECRET",
        default: "generated",
        help: "Master secret (at least 32 characters) for signing sessions and tokens. \
               When unset, one is generated on first start and kept in `keysmith.secret` \
               (mode 0600) beside the database.",
    },
    Setting {
        name: "KEYSMITH_PUBLIC_URL",
        default: "unset",
        help: "The URL people reach Keysmith at, e.g. https://keys.example.com. \
               With https, cookies are marked Secure and HSTS is sent.",
    },
    Setting {
        name: "KEYSMITH_ALLOWED_HOSTS",
        default: "the public URL's host",
        help: "Comma-separated host names Keysmith answers for (the Host header); others get \
               400. With neither this nor KEYSMITH_PUBLIC_URL set, any host is answered. \
               Loopback names always reach /healthz, /readyz and /metrics.",
    },
    Setting {
        name: "KEYSMITH_ALLOW_SIGNUP",
        default: "true",
        help: "Whether anyone may sign up. When false, create users with `keysmith user create`.",
    },
    Setting {
        name: "KEYSMITH_SESSION_IDLE_DAYS",
        default: "7",
        help: "Days of inactivity after which a browser session ends (fractions allowed).",
    },
    Setting {
        name: "KEYSMITH_SESSION_MAX_DAYS",
        default: "30",
        help: "Days after signing in when a browser session ends however active it is \
               (fractions allowed).",
    },
    Setting {
        name: "KEYSMITH_LOGIN_MAX_FAILURES",
        default: "5",
        help:
            "Failed password checks allowed per email from one client address, and per client \
               address (an IPv6 client by its /64) for all emails, within the window; then \
               refused until the window passes. Counts sign-in, bearer tokens and password changes.",
    },
    Setting {
        name: "KEYSMITH_LOGIN_WINDOW_MINUTES",
        default: "15",
        help: "The window, in minutes, over which failed sign-ins are counted.",
    },
    Setting {
        name: "KEYSMITH_LOGIN_EMAIL_SLOWDOWN_AFTER",
        default: "20",
        help: "Failed password checks for one email from all addresses within the window after \
               which each further attempt waits a second more (at most 10 s). Never refused, so \
               nobody can lock the owner out from a new address.",
    },
    Setting {
        name: "KEYSMITH_SIGNUP_MAX_PER_HOUR",
        default: "10",
        help: "Sign-ups allowed per client address (an IPv6 client by its /64) per hour.",
    },
    Setting {
        name: "KEYSMITH_MAX_CONCURRENT_HASHES",
        default: "4",
        help: "Password hashes computed at once (each needs 19 MiB of memory).",
    },
    Setting {
        name: "KEYSMITH_TRUSTED_PROXIES",
        default: "none",
        help: "Comma-separated addresses or CIDR ranges of reverse proxies whose \
               X-Forwarded-For header is believed.",
    },
    Setting {
        name: "KEYSMITH_METRICS_ALLOW",
        default: "127.0.0.1,::1",
        help: "Comma-separated addresses or CIDR ranges that may read Prometheus metrics at \
               /metrics (`none` for nobody); others get 403.",
    },
    Setting {
        name: "KEYSMITH_TOKEN_MINUTES",
        default: "15",
        help: "Lifetime, in minutes, of the bearer tokens POST /api/v2/auth/token issues.",
    },
    Setting {
        name: "KEYSMITH_USAGE_FLUSH_SECONDS",
        default: "1",
        help: "How often keys' last-use times are written to the database. At most this much \
               usage data is lost if the process is killed.",
    },
    Setting {
        name: "KEYSMITH_SHUTDOWN_GRACE_SECONDS",
        default: "10",
        help: "On SIGTERM or SIGINT, how long requests in flight may take to finish before \
               Keysmith stops without them.",
    },
    Setting {
        name: "KEYSMITH_HEADER_TIMEOUT_SECONDS",
        default: "10",
        help: "Time a client has to send a request's headers; a keep-alive connection idle this \
               long between requests is closed too.",
    },
    Setting {
        name: "KEYSMITH_REQUEST_TIMEOUT_SECONDS",
        default: "30",
        help: "Time a request (reading its body included) may take before it is answered 408.",
    },
    Setting {
        name: "KEYSMITH_VERIFY_CACHE_SECONDS",
        default: "60",
        help: "How long key verification trusts what it read about a key. Changes made through \
               this process apply at once; this bounds how long another replica's changes take.",
    },
    Setting {
        name: "KEYSMITH_VERIFY_CACHE_ENTRIES",
        default: "100000",
        help: "Keys kept in the verification cache (and as many unknown keys, remembered so a \
               flood of made-up keys cannot reach the database), about 0.5 KB each.",
    },
    Setting {
        name: "KEYSMITH_IDEMPOTENCY_MAX_KEYS",
        default: "1000",
        help: "Idempotency-Keys one account may have used within 24 hours (their answers are \
               kept that long); past it, a request with a new Idempotency-Key gets 409.",
    },
    Setting {
        name: "KEYSMITH_KEY_PREFIX",
        default: "ks_live_",
        help: "What every new API key starts with (2 to 20 letters, digits and underscores), \
               so people and secret scanners can recognise the keys.",
    },
    Setting {
        name: "LEPTOS_SITE_ROOT",
        default: "target/site",
        help: "Folder holding the built site (CSS, JavaScript, wasm).",
    },
    Setting {
        name: "LEPTOS_ENV",
        default: "DEV",
        help: "PROD in production.",
    },
    Setting {
        name: "RUST_LOG",
        default: "info",
        help: "Log filter, e.g. `keysmith=debug,info`.",
    },
];

#[derive(Clone, Debug)]
pub struct Config {
    pub site_addr: SocketAddr,
    pub database_url: String,
    /// Never printed: see the `Debug` of [`MasterSecret`].
    pub secret: Option<MasterSecret>,
    pub public_url: Option<String>,
    /// Lower-case host names without ports; empty means any host.
    pub allowed_hosts: Vec<String>,
    pub allow_signup: bool,
    pub session_idle: Duration,
    pub session_max: Duration,
    pub throttle: ThrottlePolicy,
    pub max_concurrent_hashes: usize,
    pub trusted_proxies: Vec<IpNet>,
    pub metrics_allow: Vec<IpNet>,
    pub key_prefix: String,
    pub idempotency_max_keys: u32,
    pub token_lifetime: Duration,
    pub usage_flush: Duration,
    pub shutdown_grace: Duration,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub verify_cache_ttl: Duration,
    pub verify_cache_entries: usize,
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
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any source of variables, so tests need
    /// not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        Ok(Config {
            site_addr: vars.parse("LEPTOS_SITE_ADDR", "an address like 127.0.0.1:3000")?,
            database_url: vars.database_url()?,
            secret: vars.secret()?,
            public_url: vars.public_url()?,
            allowed_hosts: vars.allowed_hosts()?,
            allow_signup: vars.boolean("KEYSMITH_ALLOW_SIGNUP")?,
            session_idle: vars.days("KEYSMITH_SESSION_IDLE_DAYS")?,
            session_max: vars.days("KEYSMITH_SESSION_MAX_DAYS")?,
            throttle: ThrottlePolicy {
                max_failures: vars.positive("KEYSMITH_LOGIN_MAX_FAILURES")? as u32,
                window: minutes(vars.positive("KEYSMITH_LOGIN_WINDOW_MINUTES")?),
                email_slowdown_after: vars.positive("KEYSMITH_LOGIN_EMAIL_SLOWDOWN_AFTER")? as u32,
                signups_per_hour: vars.positive("KEYSMITH_SIGNUP_MAX_PER_HOUR")? as u32,
            },
            max_concurrent_hashes: vars.positive("KEYSMITH_MAX_CONCURRENT_HASHES")? as usize,
            trusted_proxies: vars.networks("KEYSMITH_TRUSTED_PROXIES")?,
            metrics_allow: vars.networks("KEYSMITH_METRICS_ALLOW")?,
            key_prefix: vars.key_prefix()?,
            idempotency_max_keys: vars.positive_up_to("KEYSMITH_IDEMPOTENCY_MAX_KEYS", 1_000_000)?
                as u32,
            token_lifetime: minutes(vars.positive("KEYSMITH_TOKEN_MINUTES")?),
            usage_flush: Duration::from_secs(vars.positive("KEYSMITH_USAGE_FLUSH_SECONDS")?),
            shutdown_grace: Duration::from_secs(vars.positive("KEYSMITH_SHUTDOWN_GRACE_SECONDS")?),
            header_timeout: Duration::from_secs(vars.positive("KEYSMITH_HEADER_TIMEOUT_SECONDS")?),
            request_timeout: Duration::from_secs(
                vars.positive("KEYSMITH_REQUEST_TIMEOUT_SECONDS")?,
            ),
            verify_cache_ttl: Duration::from_secs(vars.positive("KEYSMITH_VERIFY_CACHE_SECONDS")?),
            // At most 10^8, so it fits a usize on every platform we build for.
            verify_cache_entries: vars
                .positive_up_to("KEYSMITH_VERIFY_CACHE_ENTRIES", 100_000_000)?
                as usize,
        })
    }

    /// Cookies get the `Secure` flag when Keysmith is served over https.
    pub fn serves_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }

    /// The text of `keysmith --help`'s environment section.
    pub fn help() -> String {
        SETTINGS
            .iter()
            .map(|s| format!("  {:<32} {} [default: {}]\n", s.name, s.help, s.default))
            .collect()
    }
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    /// The trimmed value, or the catalogue's default when unset or blank.
    fn get(&self, name: &'static str) -> String {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default_of(name).to_owned())
    }

    fn explicit(&self, name: &'static str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn parse<T: std::str::FromStr>(
        &self,
        name: &'static str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let value = self.get(name);
        value
            .parse()
            .map_err(|_| invalid(name, format!("expected {expected}, got {value:?}")))
    }

    fn boolean(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            other => Err(invalid(
                name,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }

    fn positive(&self, name: &'static str) -> Result<u64, ConfigError> {
        self.positive_up_to(name, 100_000)
    }

    fn positive_up_to(&self, name: &'static str, max: u64) -> Result<u64, ConfigError> {
        match self.parse::<u64>(name, "a whole number of at least 1")? {
            0 => Err(invalid(
                name,
                "expected a whole number of at least 1, got 0".into(),
            )),
            n if n > max => Err(invalid(name, format!("{n} is unreasonably large"))),
            n => Ok(n),
        }
    }

    /// A positive number of days, fractions allowed, at most ten years;
    /// at least a second.
    fn days(&self, name: &'static str) -> Result<Duration, ConfigError> {
        let value = self.get(name);
        match value.parse::<f64>() {
            Ok(days) if days > 0.0 && days <= 3650.0 => {
                Ok(Duration::from_secs_f64(days * 86_400.0).max(Duration::from_secs(1)))
            }
            _ => Err(invalid(
                name,
                format!("expected a number of days above 0 (at most 3650), got {value:?}"),
            )),
        }
    }

    fn database_url(&self) -> Result<String, ConfigError> {
        let url = self.get("DATABASE_URL");
        if !url.starts_with("sqlite:") {
            return Err(invalid(
                "DATABASE_URL",
                format!("expected a sqlite: URL such as sqlite://data/keysmith.db, got {url:?}"),
            ));
        }
        Ok(url)
    }

    fn secret(&self) -> Result<Option<MasterSecret>, ConfigError> {
        match self.explicit("KEYSMITH_SECRET") {
            None => Ok(None),
            Some(s) if s.len() < 32 => Err(invalid(
                "KEYSMITH_SECRET",
                format!("must be at least 32 characters, got {}", s.len()),
            )),
            Some(s) => Ok(Some(MasterSecret(s))),
        }
    }

    fn public_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = self.explicit("KEYSMITH_PUBLIC_URL") else {
            return Ok(None);
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
                Ok(Some(url.trim_end_matches('/').to_owned()))
            }
            _ => Err(invalid(
                "KEYSMITH_PUBLIC_URL",
                format!("expected a URL like https://keys.example.com, got {url:?}"),
            )),
        }
    }

    /// The listed hosts, or the public URL's; none when neither is set.
    fn allowed_hosts(&self) -> Result<Vec<String>, ConfigError> {
        let listed = match self.explicit("KEYSMITH_ALLOWED_HOSTS") {
            Some(list) => list,
            None => match self.public_url()? {
                Some(url) => url,
                None => return Ok(Vec::new()),
            },
        };
        listed
            .split(',')
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
                    .ok_or_else(|| {
                        invalid(
                            "KEYSMITH_ALLOWED_HOSTS",
                            format!("{entry:?} is not a host name"),
                        )
                    })
            })
            .collect()
    }

    fn key_prefix(&self) -> Result<String, ConfigError> {
        let prefix = self.get("KEYSMITH_KEY_PREFIX");
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if (2..=20).contains(&prefix.len()) && prefix.chars().all(allowed) {
            Ok(prefix)
        } else {
            Err(invalid(
                "KEYSMITH_KEY_PREFIX",
                format!("expected 2 to 20 letters, digits and underscores, got {prefix:?}"),
            ))
        }
    }

    /// A comma-separated list of addresses and ranges; `none` for none.
    fn networks(&self, name: &'static str) -> Result<Vec<IpNet>, ConfigError> {
        let list = self.get(name);
        if list.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                parse_network(entry).ok_or_else(|| {
                    invalid(
                        name,
                        format!("{entry:?} is not an IP address or CIDR range"),
                    )
                })
            })
            .collect()
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

/// An address (a one-host network) or a CIDR range.
fn parse_network(entry: &str) -> Option<IpNet> {
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

fn default_of(name: &str) -> &'static str {
    SETTINGS
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.default)
        .unwrap_or("")
}

fn invalid(variable: &'static str, message: String) -> ConfigError {
    ConfigError { variable, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
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
        assert_eq!(config.throttle.max_failures, 5);
        assert_eq!(config.throttle.window, Duration::from_secs(15 * 60));
        assert_eq!(config.throttle.email_slowdown_after, 20);
        assert_eq!(config.throttle.signups_per_hour, 10);
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.key_prefix, "ks_live_");
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
        assert!(
            !config_from(&[("KEYSMITH_ALLOW_SIGNUP", "false")])
                .unwrap()
                .allow_signup
        );
        assert!(
            !config_from(&[("KEYSMITH_ALLOW_SIGNUP", "OFF")])
                .unwrap()
                .allow_signup
        );
        let error = config_from(&[("KEYSMITH_ALLOW_SIGNUP", "maybe")]).unwrap_err();
        assert_eq!(error.variable, "KEYSMITH_ALLOW_SIGNUP");
    }

    #[test]
    fn counts_must_be_positive_whole_numbers() {
        for bad in ["0", "-3", "seven", "1.5"] {
            let error = config_from(&[("KEYSMITH_LOGIN_MAX_FAILURES", bad)]).unwrap_err();
            assert_eq!(error.variable, "KEYSMITH_LOGIN_MAX_FAILURES", "{bad}");
        }
        for bad in ["0", "-3", "seven", "NaN", "inf", "4000"] {
            let error = config_from(&[("KEYSMITH_SESSION_IDLE_DAYS", bad)]).unwrap_err();
            assert_eq!(error.variable, "KEYSMITH_SESSION_IDLE_DAYS", "{bad}");
        }
        let config = config_from(&[("KEYSMITH_SESSION_MAX_DAYS", "0.5")]).unwrap();
        assert_eq!(config.session_max, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn only_sqlite_databases_are_accepted_for_now() {
        let error = config_from(&[("DATABASE_URL", "postgres://x")]).unwrap_err();
        assert_eq!(error.variable, "DATABASE_URL");
    }

    #[test]
    fn a_short_secret_is_refused() {
        let error = config_from(&[("KEYSMITH_SECRET", "too-short")]).unwrap_err();
        assert_eq!(error.variable, "KEYSMITH_SECRET");
        assert!(
            !error.to_string().contains("too-short"),
            "never echo a secret"
        );
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
        assert!(config_from(&[]).unwrap().allowed_hosts.is_empty());
        let config =
            config_from(&[("KEYSMITH_PUBLIC_URL", "https://Keys.Example.com:8443/")]).unwrap();
        assert_eq!(config.allowed_hosts, ["keys.example.com"]);
        let config = config_from(&[
            ("KEYSMITH_PUBLIC_URL", "https://keys.example.com"),
            ("KEYSMITH_ALLOWED_HOSTS", "a.example, b.example:3000,[::1]"),
        ])
        .unwrap();
        assert_eq!(config.allowed_hosts, ["a.example", "b.example", "[::1]"]);
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        let config =
            config_from(&[("KEYSMITH_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16,::1")]).unwrap();
        assert_eq!(config.trusted_proxies.len(), 3);
        let error = config_from(&[("KEYSMITH_TRUSTED_PROXIES", "10.0.0.1,nope")]).unwrap_err();
        assert!(error.message.contains("\"nope\""));
    }

    #[test]
    fn help_lists_every_setting() {
        let help = Config::help();
        for setting in SETTINGS {
            assert!(help.contains(setting.name));
        }
    }
}
