//! E-mail to applicants and partners over SMTP: core's [`Mailer`] port implemented with lettre
//! (tokio, rustls), and [`run_retries`], the task that tries failed e-mails again (their
//! schedule is in the store, so retries outlive a restart).
//!
//! What a message says is core's business ([`openpile_core::partner::notification::Message`]);
//! this crate adds only what the server knows: the sender, the links to the partner portal
//! and the documentation, and the SMTP envelope. It knows nothing of HTTP or the store.
//!
//! The SMTP password (and a password inside an SMTP URL) is a [`SecretString`]: it is shown to
//! lettre when the transport is built and appears in no `Debug` output or log line.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message as MimeMessage};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use openpile_core::partner::notification::{MailError, Mailer, Notification};
use openpile_core::partner::service::PartnerService;
use secrecy::{ExposeSecret as _, SecretString};

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text: only for a relay on the same host or a trusted network.
    None,
    /// STARTTLS required (RFC 3207; submission port 587).
    StartTls,
    /// TLS from the first byte (RFC 8314 implicit TLS; port 465).
    Tls,
}

impl TlsMode {
    pub const ALL: [TlsMode; 3] = [Self::None, Self::StartTls, Self::Tls];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Where the SMTP server is.
#[derive(Clone)]
pub enum SmtpServer {
    /// `smtp://[user[:password]@]host[:port][?tls=required]` (STARTTLS with `tls=required`) or
    /// `smtps://…` (implicit TLS), as lettre reads them. May hold a password.
    Url(SecretString),
    Host {
        host: String,
        port: u16,
        tls: TlsMode,
    },
}

impl fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f
                .debug_tuple("Url")
                .field(&redact_url(url.expose_secret()))
                .finish(),
            Self::Host { host, port, tls } => f
                .debug_struct("Host")
                .field("host", host)
                .field("port", port)
                .field("tls", tls)
                .finish(),
        }
    }
}

/// `smtp://user:password@host` → `smtp://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

/// Where partners find the portal and the documentation, linked from every e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    pub portal: String,
    pub docs: String,
    pub guide: String,
}

impl Links {
    /// The links of a server reached at `public_url` (e.g. `https://open.example.com`).
    pub fn under(public_url: &str) -> Links {
        let base = public_url.trim_end_matches('/');
        Links {
            portal: format!("{base}/portal"),
            docs: format!("{base}/docs"),
            guide: format!("{base}/getting-started"),
        }
    }
}

/// Everything [`SmtpMailer`] needs. `Debug` hides the password.
#[derive(Clone)]
pub struct SmtpSettings {
    pub server: SmtpServer,
    /// With `password`: SMTP AUTH (PLAIN or LOGIN, as the server offers). Overrides
    /// credentials in a URL.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// `Name <address>` or a bare address.
    pub from: String,
    /// Bounds connecting and each SMTP command.
    pub timeout: Duration,
    pub links: Links,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("links", &self.links)
            .finish()
    }
}

/// Settings that cannot work; names the setting, never shows a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct SettingsError {
    /// `url`, `host`, `from`, `username` or `password`.
    pub setting: &'static str,
    pub reason: String,
}

impl SettingsError {
    fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

/// Core's [`Mailer`] over SMTP. Opens one connection per message: notifications are rare
/// (a few per partner and month), so a pool would only hold idle connections.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of `from`, for message ids.
    from_domain: String,
    links: Links,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Builds the transport; connects only when the first message is sent.
    pub fn new(settings: &SmtpSettings) -> Result<SmtpMailer, SettingsError> {
        let from: Mailbox = settings.from.parse().map_err(|e| {
            SettingsError::new("from", format!("is not an e-mail address or mailbox ({e})"))
        })?;
        let builder = match &settings.server {
            SmtpServer::Url(url) => {
                let url = url.expose_secret();
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    return Err(SettingsError::new(
                        "url",
                        format!(
                            "must start with smtp:// or smtps:// (got {})",
                            redact_url(url)
                        ),
                    ));
                }
                // lettre's error may quote the URL; say what is wrong without it.
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| {
                    SettingsError::new(
                        "url",
                        format!(
                            "is not a valid SMTP URL: {} (smtp://host:port, ?tls=required for \
                             STARTTLS, smtps:// for TLS)",
                            redact_url(url)
                        ),
                    )
                })?
            }
            SmtpServer::Host { host, port, tls } => {
                if host.trim().is_empty() {
                    return Err(SettingsError::new("host", "must not be empty"));
                }
                let tls = match tls {
                    TlsMode::None => Tls::None,
                    TlsMode::StartTls => Tls::Required(tls_parameters(host)?),
                    TlsMode::Tls => Tls::Wrapper(tls_parameters(host)?),
                };
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
                    .port(*port)
                    .tls(tls)
            }
        };
        let builder = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            )),
            (None, None) => builder,
            (Some(_), None) => {
                return Err(SettingsError::new("password", "is required with username"));
            }
            (None, Some(_)) => {
                return Err(SettingsError::new("username", "is required with password"));
            }
        };
        let transport = builder.timeout(Some(settings.timeout)).build();
        let from_domain = from.email.domain().to_owned();
        Ok(SmtpMailer {
            transport,
            from,
            from_domain,
            links: settings.links.clone(),
        })
    }

    /// The message for a notification: UTF-8 plain text, the notification's text and then the
    /// links, in both languages like the text.
    pub fn message(&self, n: &Notification) -> Result<MimeMessage, MailError> {
        let to: Mailbox = n
            .email_to
            .as_str()
            .parse()
            .map_err(|e| MailError(Box::new(e)))?;
        let Links {
            portal,
            docs,
            guide,
        } = &self.links;
        let body = format!(
            "{}\n\n-- \n合作伙伴门户 / Partner portal: {portal}\n\
             接口文档 / API reference: {docs}\n入门指南 / Getting started: {guide}\n",
            n.body
        );
        MimeMessage::builder()
            .from(self.from.clone())
            .to(to)
            .subject(n.subject.clone())
            // The same id on every attempt, so a receiver drops a retry that got through twice.
            .message_id(Some(format!("<{}@{}>", n.id, self.from_domain)))
            .header(ContentType::TEXT_PLAIN)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Content-Language"),
                "zh-CN, en".to_owned(),
            ))
            .body(body)
            .map_err(|e| MailError(Box::new(e)))
    }
}

fn tls_parameters(host: &str) -> Result<TlsParameters, SettingsError> {
    TlsParameters::new(host.to_owned())
        .map_err(|e| SettingsError::new("host", format!("cannot set up TLS for it ({e})")))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, notification: &Notification) -> Result<(), MailError> {
        let message = self.message(notification)?;
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(notification = %notification.id, "e-mail sent");
                Ok(())
            }
            Err(e) => {
                // lettre's errors name the server's answer, never the credentials.
                tracing::warn!(notification = %notification.id, error = %e, "e-mail not sent");
                Err(MailError(Box::new(e)))
            }
        }
    }
}

/// Tries failed e-mails again every `every` until `stop` completes, starting at once: the
/// retries are kept in the store, so the first round picks up what a previous process left
/// failed. The backoff and the bound on attempts are the partner service's
/// ([`openpile_core::partner::service::PartnerConfig`] `mail_retry`); this only keeps asking.
pub async fn run_retries(
    partners: Arc<PartnerService>,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        // The interval's first tick completes immediately: the round at start.
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let report = match partners.retry_failed_mail().await {
            Ok(report) => report,
            Err(e) => {
                // The store is unreachable; the schedule is still in it, so the next round
                // resumes where this one could not start.
                tracing::warn!(error = %e, "e-mail retries not read");
                continue;
            }
        };
        if report.sent + report.failed + report.given_up > 0 {
            tracing::info!(
                sent = report.sent,
                failed = report.failed,
                given_up = report.given_up,
                waiting = report.waiting,
                "e-mail retries"
            );
        }
        if report.given_up > 0 {
            tracing::warn!(
                count = report.given_up,
                "e-mails failed their last attempt and stay failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use openpile_core::ids::PartnerId;
    use openpile_core::operator::Email;
    use openpile_core::partner::notification::{EmailStatus, Message};

    use super::*;

    fn settings(server: SmtpServer) -> SmtpSettings {
        SmtpSettings {
            server,
            username: None,
            password: None,
            from: "OpenPile 开放平台 <noreply@openpile.example>".into(),
            timeout: Duration::from_secs(5),
            links: Links::under("https://open.example.com/"),
        }
    }

    fn notification() -> Notification {
        let message = Message::ApplicationRejected {
            application_id: "app-1",
            revision: 1,
            reason: "营业执照复印件不清晰 / the licence copy is unreadable",
        };
        Notification {
            id: "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d".into(),
            partner_id: PartnerId::parse("p-1").unwrap(),
            kind: message.kind(),
            subject: message.subject(),
            body: message.body(),
            email_to: Email::parse("ops@partner.example").unwrap(),
            email_status: EmailStatus::Pending,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn debug_output_hides_every_password() {
        let mut s = settings(SmtpServer::Url(SecretString::from(
            "smtps://mailer:hunter2@smtp.example.com:465",
        )));
        s.username = Some("mailer".into());
        s.password = Some(SecretString::from("hunter3"));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("hunter3"),
            "{debug}"
        );
        assert!(
            debug.contains("smtps://mailer:***@smtp.example.com:465"),
            "{debug}"
        );
        let mailer = SmtpMailer::new(&s).unwrap();
        let debug = format!("{mailer:?}");
        assert!(!debug.contains("hunter"), "{debug}");
    }

    #[test]
    fn bad_settings_name_the_setting_without_the_secret() {
        let cases = [
            (
                settings(SmtpServer::Url(SecretString::from("http://u:hunter2@x"))),
                "url",
            ),
            (
                settings(SmtpServer::Url(SecretString::from(
                    "smtp://u:hunter2@x?tls=maybe",
                ))),
                "url",
            ),
            (
                settings(SmtpServer::Host {
                    host: " ".into(),
                    port: 25,
                    tls: TlsMode::None,
                }),
                "host",
            ),
            (
                SmtpSettings {
                    from: "not an address".into(),
                    ..settings(SmtpServer::Host {
                        host: "localhost".into(),
                        port: 25,
                        tls: TlsMode::None,
                    })
                },
                "from",
            ),
            (
                SmtpSettings {
                    username: Some("u".into()),
                    ..settings(SmtpServer::Host {
                        host: "localhost".into(),
                        port: 25,
                        tls: TlsMode::None,
                    })
                },
                "password",
            ),
        ];
        for (s, setting) in cases {
            let e = SmtpMailer::new(&s).unwrap_err();
            assert_eq!(e.setting, setting, "{e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        for mode in TlsMode::ALL {
            assert_eq!(TlsMode::parse(mode.as_str()), Some(mode));
            SmtpMailer::new(&settings(SmtpServer::Host {
                host: "smtp.example.com".into(),
                port: 587,
                tls: mode,
            }))
            .unwrap();
        }
    }

    #[test]
    fn the_message_is_utf8_text_with_both_languages_and_the_links() {
        let mailer = SmtpMailer::new(&settings(SmtpServer::Host {
            host: "localhost".into(),
            port: 25,
            tls: TlsMode::None,
        }))
        .unwrap();
        let n = notification();
        let m = mailer.message(&n).unwrap();
        let headers = m.headers().to_string();
        assert!(headers.contains("To: ops@partner.example"), "{headers}");
        assert!(
            headers.contains("Message-ID: <0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d@openpile.example>"),
            "{headers}"
        );
        assert!(
            headers.contains("Content-Type: text/plain; charset=utf-8"),
            "{headers}"
        );
        assert!(headers.contains("Content-Language: zh-CN, en"), "{headers}");
        // Non-ASCII subjects are RFC 2047 encoded words.
        assert!(headers.contains("Subject: =?utf-8?"), "{headers}");
        assert_eq!(m.envelope().to()[0].to_string(), "ops@partner.example");
        assert_eq!(
            m.envelope().from().map(ToString::to_string).as_deref(),
            Some("noreply@openpile.example")
        );
        assert_eq!(
            mailer.links,
            Links {
                portal: "https://open.example.com/portal".into(),
                docs: "https://open.example.com/docs".into(),
                guide: "https://open.example.com/getting-started".into(),
            }
        );
    }

    fn local(port: u16) -> SmtpMailer {
        SmtpMailer::new(&SmtpSettings {
            timeout: Duration::from_secs(3),
            ..settings(SmtpServer::Url(SecretString::from(format!(
                "smtp://127.0.0.1:{port}"
            ))))
        })
        .unwrap()
    }

    /// lettre against aiosmtpd: what arrives is what a mail client shows.
    #[tokio::test]
    async fn a_real_smtp_server_receives_the_message_in_both_languages() {
        if !testing::python_ready() {
            return;
        }
        let mut sink = testing::SmtpSink::start(0).await;
        let n = notification();
        local(sink.port()).send(&n).await.unwrap();
        let line = sink.next_message(Duration::from_secs(10)).await.unwrap();
        let m: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(m["mail_from"], "noreply@openpile.example");
        assert_eq!(m["rcpt_tos"], serde_json::json!(["ops@partner.example"]));
        let h = &m["headers"];
        assert_eq!(h["to"], "ops@partner.example");
        assert_eq!(h["from"], "OpenPile 开放平台 <noreply@openpile.example>");
        assert_eq!(h["subject"], "申请未通过 / Application rejected");
        assert_eq!(
            h["message-id"],
            "<0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d@openpile.example>"
        );
        assert_eq!(h["content-language"], "zh-CN, en");
        assert!(h["date"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(m["content_type"], "text/plain");
        assert_eq!(m["charset"], "utf-8");
        let body = m["body"].as_str().unwrap();
        assert!(
            body.starts_with("您的申请（第 1 版）未通过审核。"),
            "{body}"
        );
        assert!(
            body.contains("原因：营业执照复印件不清晰 / the licence copy is unreadable"),
            "{body}"
        );
        assert!(
            body.contains("Revision 1 of your application was not approved."),
            "{body}"
        );
        assert!(
            body.contains("PUT /v1/partner-applications/app-1"),
            "{body}"
        );
        assert!(
            body.contains("Partner portal: https://open.example.com/portal"),
            "{body}"
        );
        assert!(
            body.contains("API reference: https://open.example.com/docs"),
            "{body}"
        );
        assert!(
            body.contains("Getting started: https://open.example.com/getting-started"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_not_a_hang() {
        let started = std::time::Instant::now();
        let e = local(testing::unused_port())
            .send(&notification())
            .await
            .unwrap_err();
        assert!(std::error::Error::source(&e).is_some());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn urls_are_redacted_only_where_they_hold_a_password() {
        assert_eq!(
            redact_url("smtp://u:p@h:587?tls=required"),
            "smtp://u:***@h:587?tls=required"
        );
        assert_eq!(redact_url("smtp://u@h"), "smtp://u@h");
        assert_eq!(redact_url("smtp://h:25"), "smtp://h:25");
    }
}
