//! The typed configuration, loaded once at start-up in layers: the defaults of
//! `config/default.toml` (compiled in) → an optional TOML file → `OPENPILE__SECTION__KEY`
//! environment variables → command-line flags. Every error names the key and where the bad
//! value came from; secrets (the database URL's password) never appear in `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The documented defaults; also the list of known keys.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Keys that have no default (commented out in `default.toml`) but may be set.
const OPTIONAL_KEYS: &[&str] = &[
    "ocpp.tls_cert",
    "ocpp.tls_key",
    "mail.url",
    "mail.host",
    "mail.username",
    "mail.password",
];

/// Prefix of the environment variables that configure OpenPile.
pub const ENV_PREFIX: &str = "OPENPILE__";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub db: DbConfig,
    pub local: LocalConfig,
    pub admin: AdminConfig,
    pub ocpp: OcppConfig,
    pub partners: PartnersConfig,
    pub events: EventsConfig,
    pub charging: ChargingConfig,
    pub mail: MailConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    pub body_limit: usize,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbConfig {
    /// May hold a password: only exposed to open the connection.
    pub url: SecretString,
}

impl DbConfig {
    /// The URL with any password replaced, for logs and messages.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose_secret())
    }
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &self.redacted_url())
            .finish()
    }
}

/// `scheme://user:password@host/db` → `scheme://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://{user}@{host}{path}")
            }
        }
        None => url.to_owned(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// IANA zone name; checked by [`Config::validate`].
    pub timezone: String,
}

impl LocalConfig {
    /// The validated zone (validation has run by the time anyone calls this).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub token_ttl_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcppConfig {
    pub heartbeat_interval_s: u32,
    pub heartbeat_grace_factor: u32,
    pub call_timeout_s: u32,
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnersConfig {
    pub access_token_ttl_s: u64,
    pub secret_rotation_grace_s: u64,
    /// Requests per second (and burst) allowed to each sandbox credential; production
    /// credentials follow their contract.
    pub sandbox_requests_per_second: u32,
    pub sandbox_burst: u32,
}

/// Events: retention, webhook delivery, the event stream (`[events]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub retention_s: u64,
    pub retry_initial_s: u64,
    pub retry_max_interval_s: u64,
    pub retry_window_s: u64,
    pub disable_after_s: u64,
    pub allow_private_webhook_targets: bool,
    pub allow_private_sandbox_webhook_targets: bool,
    pub delivery_worker: bool,
    pub delivery_concurrency: usize,
    pub delivery_per_endpoint: u32,
    pub delivery_lease_s: u64,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub max_response_bytes: usize,
    pub poll_interval_ms: u64,
    pub secret_rotation_grace_s: u64,
    pub stream_heartbeat_s: u64,
    pub max_streams_per_partner: usize,
}

/// Charging sessions and reservations (`[charging]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargingConfig {
    pub start_timeout_s: u64,
    pub connection_lost_timeout_s: u64,
    pub max_reservation_s: u64,
    pub stop_retry_s: u64,
    /// After an accepted RemoteStopTransaction, how long to wait for StopTransaction.
    pub stop_timeout_s: u64,
    /// How many times an accepted but unconfirmed stop is sent again.
    pub stop_retries: u32,
    /// The longest a `finishing` session waits for its connector to be freed.
    pub idle_cap_s: u64,
    pub update_event_interval_s: u64,
    pub meter_write_interval_s: u64,
    pub sweep_interval_ms: u64,
}

impl ChargingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
        let checks: [(&str, bool, &str); 10] = [
            (
                "charging.start_timeout_s",
                (1..=3600).contains(&c.start_timeout_s),
                "must be between 1 and 3600 seconds",
            ),
            (
                "charging.connection_lost_timeout_s",
                (1..=7 * 24 * 3600).contains(&c.connection_lost_timeout_s),
                "must be between 1 second and 7 days",
            ),
            (
                "charging.max_reservation_s",
                (60..=24 * 3600).contains(&c.max_reservation_s),
                "must be between 60 seconds and 1 day",
            ),
            (
                "charging.stop_retry_s",
                (1..=3600).contains(&c.stop_retry_s),
                "must be between 1 and 3600 seconds",
            ),
            (
                "charging.stop_timeout_s",
                (1..=3600).contains(&c.stop_timeout_s),
                "must be between 1 and 3600 seconds",
            ),
            (
                "charging.stop_retries",
                c.stop_retries <= 10,
                "must be at most 10",
            ),
            (
                "charging.idle_cap_s",
                (60..=7 * 24 * 3600).contains(&c.idle_cap_s),
                "must be between 60 seconds and 7 days",
            ),
            (
                "charging.update_event_interval_s",
                c.update_event_interval_s <= 3600,
                "must be at most 3600 seconds",
            ),
            (
                "charging.meter_write_interval_s",
                c.meter_write_interval_s <= 3600,
                "must be at most 3600 seconds",
            ),
            (
                "charging.sweep_interval_ms",
                (10..=60_000).contains(&c.sweep_interval_ms),
                "must be between 10 ms and 1 minute",
            ),
        ];
        for (key, ok, message) in checks {
            if !ok {
                return Err(ConfigError::new(key, message));
            }
        }
        Ok(())
    }
}

/// How the SMTP connection is protected (`mail.tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    None,
    Starttls,
    Tls,
}

/// E-mail to applicants and partners (`[mail]`): off unless `url` or `host` is set. `Debug`
/// hides the password and any password in the URL.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    #[serde(default)]
    pub url: Option<SecretString>,
    #[serde(default)]
    pub host: Option<String>,
    pub port: u16,
    pub tls: MailTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    pub from: String,
    pub timeout_s: u64,
    pub retry_initial_s: u64,
    pub retry_max_interval_s: u64,
    pub max_attempts: u32,
    pub public_url: String,
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field(
                "url",
                &self
                    .url
                    .as_ref()
                    .map(|u| openpile_mailer::redact_url(u.expose_secret())),
            )
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout_s", &self.timeout_s)
            .field("retry_initial_s", &self.retry_initial_s)
            .field("retry_max_interval_s", &self.retry_max_interval_s)
            .field("max_attempts", &self.max_attempts)
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl MailConfig {
    /// The SMTP settings, or `None` when mail is off (neither `url` nor `host`).
    pub fn smtp_settings(&self) -> Option<openpile_mailer::SmtpSettings> {
        use openpile_mailer::{Links, SmtpServer, TlsMode};
        let server = match (&self.url, &self.host) {
            (Some(url), _) => SmtpServer::Url(url.clone()),
            (None, Some(host)) => SmtpServer::Host {
                host: host.clone(),
                port: self.port,
                tls: match self.tls {
                    MailTls::None => TlsMode::None,
                    MailTls::Starttls => TlsMode::StartTls,
                    MailTls::Tls => TlsMode::Tls,
                },
            },
            (None, None) => return None,
        };
        Some(openpile_mailer::SmtpSettings {
            server,
            username: self.username.clone(),
            password: self.password.clone(),
            from: self.from.clone(),
            timeout: std::time::Duration::from_secs(self.timeout_s),
            links: Links::under(&self.public_url),
        })
    }

    /// The partner service's backoff for failed e-mails.
    pub fn retry_policy(&self) -> openpile_core::partner::notification::MailRetryPolicy {
        openpile_core::partner::notification::MailRetryPolicy {
            first_delay: std::time::Duration::from_secs(self.retry_initial_s),
            max_delay: std::time::Duration::from_secs(self.retry_max_interval_s),
            max_attempts: self.max_attempts,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let m = self;
        let checks: [(&str, bool, &str); 6] = [
            (
                "mail.host",
                !(m.url.is_some() && m.host.is_some()),
                "set either mail.url or mail.host, not both",
            ),
            (
                "mail.timeout_s",
                (1..=300).contains(&m.timeout_s),
                "must be between 1 and 300 seconds",
            ),
            (
                "mail.retry_initial_s",
                (1..=86_400).contains(&m.retry_initial_s),
                "must be between 1 second and 1 day",
            ),
            (
                "mail.retry_max_interval_s",
                (m.retry_initial_s..=86_400).contains(&m.retry_max_interval_s),
                "must be between retry_initial_s and 1 day",
            ),
            (
                "mail.max_attempts",
                (1..=20).contains(&m.max_attempts),
                "must be between 1 and 20",
            ),
            (
                "mail.public_url",
                m.public_url.starts_with("http://") || m.public_url.starts_with("https://"),
                "must start with http:// or https://",
            ),
        ];
        for (key, ok, message) in checks {
            if !ok {
                return Err(ConfigError::new(key, message));
            }
        }
        if let Some(settings) = self.smtp_settings() {
            // Builds the transport without connecting: a bad URL or sender stops the start.
            openpile_mailer::SmtpMailer::new(&settings).map_err(|e| ConfigError {
                key: format!("mail.{}", e.setting),
                message: e.reason,
                origin: None,
            })?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

/// A configuration that cannot be used: which key, what is wrong, where the value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: `{key}`: {message}{}", origin.as_deref().map(|o| format!(" (from {o})")).unwrap_or_default())]
pub struct ConfigError {
    /// Dotted key, e.g. `http.addr`; empty when the problem is a whole file.
    pub key: String,
    pub message: String,
    pub origin: Option<String>,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
            origin: None,
        }
    }

    fn from_figment(e: &figment::Error) -> Self {
        let mut key = e.path.join(".");
        // serde names an unknown or missing field in the error kind; figment may or may not
        // have put it into the path already.
        let mut with_field = |field: &str| {
            if e.path.last().map(String::as_str) != Some(field) {
                key = if key.is_empty() {
                    field.to_owned()
                } else {
                    format!("{key}.{field}")
                };
            }
        };
        match &e.kind {
            figment::error::Kind::UnknownField(field, _) => with_field(field),
            figment::error::Kind::MissingField(field) => with_field(field),
            _ => {}
        }
        let origin = e.metadata.as_ref().map(|m| match &m.source {
            Some(source) => format!("{} {source}", m.name),
            None => m.name.to_string(),
        });
        // The value may be a secret (a DB URL with a password): say what was expected, not
        // what was found.
        let message = match &e.kind {
            figment::error::Kind::InvalidType(_, expected) => format!("expected {expected}"),
            figment::error::Kind::InvalidValue(_, expected) => format!("expected {expected}"),
            figment::error::Kind::UnknownField(_, _) => "is not a known setting".to_owned(),
            figment::error::Kind::MissingField(_) => "is required".to_owned(),
            other => other.to_string(),
        };
        Self {
            key,
            message,
            origin,
        }
    }
}

/// Where configuration comes from, besides the compiled-in defaults.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// `--config <path>`: must exist. `None`: `./openpile.toml` when present.
    pub file: Option<PathBuf>,
    /// The process environment (only `OPENPILE__` variables are looked at).
    pub env: Vec<(String, String)>,
    /// Command-line flags, as `(dotted key, value)`.
    pub flags: Vec<(String, String)>,
}

impl ConfigSources {
    /// The sources of a real run: the process environment and an optional file.
    pub fn from_process(file: Option<PathBuf>) -> Self {
        Self {
            file,
            env: std::env::vars().collect(),
            flags: Vec::new(),
        }
    }

    pub fn flag(mut self, key: &str, value: impl Into<String>) -> Self {
        self.flags.push((key.to_owned(), value.into()));
        self
    }
}

/// A loaded configuration and the warnings met on the way (unknown environment variables).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// One value from the environment or a flag, named after where it came from so that errors
/// point at the variable or flag, not at an internal key.
struct OneValue {
    key: String,
    value: Value,
    origin: String,
}

impl Provider for OneValue {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = figment::util::nest(&self.key, self.value.clone())
            .into_dict()
            .unwrap_or_default();
        Ok(Profile::Default.collect(dict))
    }
}

impl Config {
    /// The compiled-in defaults.
    pub fn defaults() -> Config {
        // default.toml is part of the binary and a unit test loads it; failing here is a build
        // defect, not a runtime condition.
        #[allow(clippy::expect_used)]
        Figment::from(Toml::string(DEFAULT_TOML))
            .extract()
            .expect("config/default.toml is valid (checked by tests)")
    }

    /// Loads every layer, then validates.
    pub fn load(sources: &ConfigSources) -> Result<Loaded, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        let file = match &sources.file {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError {
                        key: String::new(),
                        message: format!("config file {} does not exist", path.display()),
                        origin: Some("--config".into()),
                    });
                }
                Some(path.clone())
            }
            None => Some(PathBuf::from("openpile.toml")).filter(|p| p.is_file()),
        };
        if let Some(path) = &file {
            figment = figment.merge(Toml::file_exact(path));
        }

        let known = known_keys();
        let mut warnings = Vec::new();
        let mut env: Vec<_> = sources
            .env
            .iter()
            .filter_map(|(k, v)| Some((k, k.strip_prefix(ENV_PREFIX)?, v)))
            .collect();
        env.sort();
        for (var, rest, value) in env {
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if !known.contains(&key) {
                warnings.push(format!(
                    "unknown environment variable {var} ignored (no setting `{key}`)"
                ));
                continue;
            }
            figment = figment.merge(OneValue {
                key,
                value: parse_value(value),
                origin: format!("environment variable {var}"),
            });
        }
        for (key, value) in &sources.flags {
            figment = figment.merge(OneValue {
                key: key.clone(),
                value: Value::from(value.clone()),
                origin: format!("command-line flag for {key}"),
            });
        }

        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::from_figment(&e))?;
        config.validate().map_err(|mut e| {
            // Say where the offending value came from (file, variable or flag).
            e.origin = figment.find_metadata(&e.key).map(|m| match &m.source {
                Some(source) => format!("{} {source}", m.name),
                None => m.name.to_string(),
            });
            e
        })?;
        Ok(Loaded { config, warnings })
    }

    /// What the types cannot say.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.http.body_limit < 1024 {
            return Err(ConfigError::new(
                "http.body_limit",
                "must be at least 1024 bytes",
            ));
        }
        let url = self.db.url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "db.url",
                format!(
                    "must start with sqlite:// or postgres:// (got {})",
                    redact_url(url)
                ),
            ));
        }
        if self.local.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::new(
                "local.timezone",
                format!(
                    "{:?} is not an IANA time zone (e.g. Asia/Shanghai)",
                    self.local.timezone
                ),
            ));
        }
        if !(60..=30 * 24 * 3600).contains(&self.admin.token_ttl_s) {
            return Err(ConfigError::new(
                "admin.token_ttl_s",
                "must be between 60 s and 30 days",
            ));
        }
        if !(1..=86_400).contains(&self.ocpp.heartbeat_interval_s) {
            return Err(ConfigError::new(
                "ocpp.heartbeat_interval_s",
                "must be between 1 and 86400 seconds",
            ));
        }
        if !(1..=100).contains(&self.ocpp.heartbeat_grace_factor) {
            return Err(ConfigError::new(
                "ocpp.heartbeat_grace_factor",
                "must be between 1 and 100",
            ));
        }
        if !(1..=3600).contains(&self.ocpp.call_timeout_s) {
            return Err(ConfigError::new(
                "ocpp.call_timeout_s",
                "must be between 1 and 3600 seconds",
            ));
        }
        match (&self.ocpp.tls_cert, &self.ocpp.tls_key) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "ocpp.tls_key",
                    "must be set together with ocpp.tls_cert",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "ocpp.tls_cert",
                    "must be set together with ocpp.tls_key",
                ));
            }
            (Some(cert), Some(key)) => {
                for (k, p) in [("ocpp.tls_cert", cert), ("ocpp.tls_key", key)] {
                    if !Path::new(p).is_file() {
                        return Err(ConfigError::new(
                            k,
                            format!("{} does not exist", p.display()),
                        ));
                    }
                }
            }
            (None, None) => {}
        }
        if self.partners.access_token_ttl_s == 0 {
            return Err(ConfigError::new(
                "partners.access_token_ttl_s",
                "must be positive",
            ));
        }
        if let Err(e) = openpile_core::partner::contract::RateLimit::new(
            self.partners.sandbox_requests_per_second,
            self.partners.sandbox_burst,
        ) {
            let key = if e.field.ends_with("burst") {
                "partners.sandbox_burst"
            } else {
                "partners.sandbox_requests_per_second"
            };
            return Err(ConfigError::new(key, e.reason));
        }
        self.events.validate()?;
        self.charging.validate()?;
        self.mail.validate()?;
        if self
            .log
            .filter
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(ConfigError::new(
                "log.filter",
                "is not a valid tracing filter (e.g. info,sqlx=warn)",
            ));
        }
        Ok(())
    }
}

impl EventsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let e = &self;
        let day = 24 * 3600;
        let checks: [(&str, bool, &str); 12] = [
            (
                "events.retention_s",
                (3600..=365 * day).contains(&e.retention_s),
                "must be between 1 hour and 365 days",
            ),
            (
                "events.retry_initial_s",
                (1..=3600).contains(&e.retry_initial_s),
                "must be between 1 and 3600 seconds",
            ),
            (
                "events.retry_max_interval_s",
                (e.retry_initial_s..=day).contains(&e.retry_max_interval_s),
                "must be between retry_initial_s and 1 day",
            ),
            (
                "events.retry_window_s",
                (60..=e.retention_s).contains(&e.retry_window_s),
                "must be between 60 seconds and retention_s",
            ),
            (
                "events.disable_after_s",
                e.disable_after_s >= 60,
                "must be at least 60 seconds",
            ),
            (
                "events.delivery_concurrency",
                (1..=4096).contains(&e.delivery_concurrency),
                "must be between 1 and 4096",
            ),
            (
                "events.delivery_per_endpoint",
                (1..=1024).contains(&e.delivery_per_endpoint),
                "must be between 1 and 1024",
            ),
            (
                "events.delivery_lease_s",
                e.delivery_lease_s * 1000 > e.request_timeout_ms + e.connect_timeout_ms,
                "must be longer than connect_timeout_ms + request_timeout_ms",
            ),
            (
                "events.request_timeout_ms",
                (100..=120_000).contains(&e.request_timeout_ms),
                "must be between 100 ms and 2 minutes",
            ),
            (
                "events.connect_timeout_ms",
                (100..=60_000).contains(&e.connect_timeout_ms),
                "must be between 100 ms and 1 minute",
            ),
            (
                "events.poll_interval_ms",
                (10..=60_000).contains(&e.poll_interval_ms),
                "must be between 10 ms and 1 minute",
            ),
            (
                "events.max_streams_per_partner",
                (1..=1000).contains(&e.max_streams_per_partner),
                "must be between 1 and 1000",
            ),
        ];
        for (key, ok, message) in checks {
            if !ok {
                return Err(ConfigError::new(key, message));
            }
        }
        if e.stream_heartbeat_s == 0 || e.max_response_bytes == 0 {
            return Err(ConfigError::new(
                if e.stream_heartbeat_s == 0 {
                    "events.stream_heartbeat_s"
                } else {
                    "events.max_response_bytes"
                },
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// Environment values are typed the way TOML would read them: `8080` is a number, `true` a
/// boolean, anything else a string.
fn parse_value(s: &str) -> Value {
    s.parse().unwrap_or_else(|_| Value::from(s.to_owned()))
}

/// Every dotted key the configuration has: those of `default.toml` plus the optional ones.
pub fn known_keys() -> Vec<String> {
    fn walk(prefix: &str, dict: &Dict, out: &mut Vec<String>) {
        for (k, v) in dict {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v.as_dict() {
                Some(d) => walk(&key, d, out),
                None => out.push(key),
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(data) = Toml::string(DEFAULT_TOML).data()
        && let Some(dict) = data.get(&Profile::Default)
    {
        walk("", dict, &mut out);
    }
    out.extend(OPTIONAL_KEYS.iter().map(|k| (*k).to_owned()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        Config::load(&ConfigSources {
            file: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            flags: Vec::new(),
        })
    }

    #[test]
    fn the_embedded_defaults_load_and_validate() {
        let c = Config::defaults();
        c.validate().unwrap();
        assert_eq!(c.http.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.local.timezone, "Asia/Shanghai");
        assert_eq!(c.log.format, LogFormat::Pretty);
    }

    #[test]
    fn environment_variables_override_defaults() {
        let l = load(&[
            ("OPENPILE__HTTP__ADDR", "0.0.0.0:9000"),
            ("OPENPILE__OCPP__HEARTBEAT_INTERVAL_S", "60"),
            ("OPENPILE__LOG__FORMAT", "json"),
            ("OPENPILE__OCPP__TLS_CERT", "/nonexistent.pem"),
            ("HOME", "/root"),
        ]);
        // tls_cert without tls_key names the missing one.
        assert_eq!(l.unwrap_err().key, "ocpp.tls_key");
        let l = load(&[
            ("OPENPILE__HTTP__ADDR", "0.0.0.0:9000"),
            ("OPENPILE__OCPP__HEARTBEAT_INTERVAL_S", "60"),
            ("OPENPILE__LOG__FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(l.config.http.addr.port(), 9000);
        assert_eq!(l.config.ocpp.heartbeat_interval_s, 60);
        assert_eq!(l.config.log.format, LogFormat::Json);
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn unknown_environment_variables_are_warnings() {
        let l = load(&[("OPENPILE__HTTP__ADRR", "x")]).unwrap();
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].contains("OPENPILE__HTTP__ADRR"));
    }

    #[test]
    fn bad_values_name_the_key_and_the_variable() {
        let cases: &[(&str, &str, &str)] = &[
            ("OPENPILE__HTTP__ADDR", "not-an-address", "http.addr"),
            ("OPENPILE__HTTP__BODY_LIMIT", "lots", "http.body_limit"),
            (
                "OPENPILE__LOCAL__TIMEZONE",
                "Mars/Olympus",
                "local.timezone",
            ),
            ("OPENPILE__LOG__FORMAT", "xml", "log.format"),
            ("OPENPILE__ADMIN__TOKEN_TTL_S", "0", "admin.token_ttl_s"),
            ("OPENPILE__DB__URL", "mysql://x", "db.url"),
            (
                "OPENPILE__OCPP__HEARTBEAT_GRACE_FACTOR",
                "0.5",
                "ocpp.heartbeat_grace_factor",
            ),
        ];
        for (var, value, key) in cases {
            let e = load(&[(var, value)]).unwrap_err();
            assert_eq!(e.key, *key, "{var}={value}: {e}");
            assert!(e.to_string().contains(key), "{e}");
        }
        let e = load(&[("OPENPILE__HTTP__ADDR", "nope")]).unwrap_err();
        assert!(e.to_string().contains("OPENPILE__HTTP__ADDR"), "{e}");
        let e = load(&[("OPENPILE__LOCAL__TIMEZONE", "Moon/Base")]).unwrap_err();
        assert!(e.to_string().contains("OPENPILE__LOCAL__TIMEZONE"), "{e}");
    }

    #[test]
    fn unknown_keys_in_a_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openpile.toml");
        std::fs::write(&path, "[http]\nadress = \"0.0.0.0:1\"\n").unwrap();
        let e = Config::load(&ConfigSources {
            file: Some(path),
            ..ConfigSources::default()
        })
        .unwrap_err();
        assert_eq!(e.key, "http.adress");
        let e = Config::load(&ConfigSources {
            file: Some(dir.path().join("missing.toml")),
            ..ConfigSources::default()
        })
        .unwrap_err();
        assert!(e.message.contains("does not exist"));
    }

    #[test]
    fn flags_win_over_the_environment() {
        let l = Config::load(
            &ConfigSources {
                env: vec![("OPENPILE__DB__URL".into(), "sqlite://env.db".into())],
                ..ConfigSources::default()
            }
            .flag("db.url", "sqlite://flag.db"),
        )
        .unwrap();
        assert_eq!(l.config.db.url.expose_secret(), "sqlite://flag.db");
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/openpile"),
            "postgres://app:***@db:5432/openpile"
        );
        assert_eq!(redact_url("sqlite://openpile.db"), "sqlite://openpile.db");
        let mut c = Config::defaults();
        c.db.url = SecretString::from("postgres://app:hunter2@db/openpile");
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let e = load(&[("OPENPILE__DB__URL", "mysql://u:hunter2@h/d")]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn mail_is_off_by_default_and_validated_when_on() {
        let l = load(&[]).unwrap();
        assert!(l.config.mail.smtp_settings().is_none());
        let l = load(&[
            ("OPENPILE__MAIL__HOST", "smtp.example.com"),
            ("OPENPILE__MAIL__TLS", "tls"),
            ("OPENPILE__MAIL__PORT", "465"),
            ("OPENPILE__MAIL__USERNAME", "openpile"),
            ("OPENPILE__MAIL__PASSWORD", "hunter2"),
            ("OPENPILE__MAIL__MAX_ATTEMPTS", "3"),
        ])
        .unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let settings = l.config.mail.smtp_settings().unwrap();
        assert!(matches!(
            settings.server,
            openpile_mailer::SmtpServer::Host {
                port: 465,
                tls: openpile_mailer::TlsMode::Tls,
                ..
            }
        ));
        assert_eq!(l.config.mail.retry_policy().max_attempts, 3);
        let debug = format!("{:?} {settings:?}", l.config);
        assert!(!debug.contains("hunter2"), "{debug}");
        let l = load(&[(
            "OPENPILE__MAIL__URL",
            "smtp://openpile:hunter2@smtp.example.com:587?tls=required",
        )])
        .unwrap();
        let debug = format!("{:?}", l.config);
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("openpile:***@smtp.example.com"), "{debug}");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("OPENPILE__MAIL__TLS", "ssl")], "mail.tls"),
            (
                &[
                    ("OPENPILE__MAIL__HOST", "a"),
                    ("OPENPILE__MAIL__URL", "smtp://b"),
                ],
                "mail.host",
            ),
            (&[("OPENPILE__MAIL__URL", "imap://u:hunter2@b")], "mail.url"),
            (
                &[
                    ("OPENPILE__MAIL__HOST", "smtp.example.com"),
                    ("OPENPILE__MAIL__FROM", "nobody"),
                ],
                "mail.from",
            ),
            (
                &[
                    ("OPENPILE__MAIL__HOST", "smtp.example.com"),
                    ("OPENPILE__MAIL__PASSWORD", "hunter2"),
                ],
                "mail.username",
            ),
            (
                &[("OPENPILE__MAIL__MAX_ATTEMPTS", "0")],
                "mail.max_attempts",
            ),
            (
                &[("OPENPILE__MAIL__PUBLIC_URL", "example.com")],
                "mail.public_url",
            ),
        ];
        for (env, key) in cases {
            let e = load(env).unwrap_err();
            assert_eq!(e.key, *key, "{env:?}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn every_known_key_is_a_field() {
        let keys = known_keys();
        for k in [
            "http.addr",
            "db.url",
            "ocpp.tls_cert",
            "partners.access_token_ttl_s",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k}");
        }
    }
}
