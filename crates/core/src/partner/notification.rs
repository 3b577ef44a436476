//! What we tell applicants and partners about their account: every notification is recorded
//! (readable through the API) and, when a mailer is configured, also sent by e-mail. The text
//! of each [`Message`] is written here, in Chinese and English: the application form records
//! no language, so every message carries both (Chinese first, for a mainland operator).
//!
//! A failed e-mail never fails the use case that wrote it: it is recorded as `failed`, with its
//! attempt count and when to try next ([`EmailAttempt`]), and tried again later by whoever
//! asks the store for the due ones ([`MailRetryPolicy`], [`MailRetryQueue`]), also after a
//! restart.
//!
//! An e-mail not yet tried is recorded `pending` with its first attempt already scheduled
//! [`FIRST_SEND_LEASE`] ahead: the inline send normally comes first and clears it, and if the
//! process dies before sending, the retries find it once the lease is over.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::PartnerId;
use crate::operator::Email;

/// Why we wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    ApplicationReceived,
    ApplicationResubmitted,
    ApplicationApproved,
    ApplicationRejected,
    PartnerSuspended,
    PartnerResumed,
    SecretRotated,
    SecretRevoked,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 8] = [
        Self::ApplicationReceived,
        Self::ApplicationResubmitted,
        Self::ApplicationApproved,
        Self::ApplicationRejected,
        Self::PartnerSuspended,
        Self::PartnerResumed,
        Self::SecretRotated,
        Self::SecretRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApplicationReceived => "application_received",
            Self::ApplicationResubmitted => "application_resubmitted",
            Self::ApplicationApproved => "application_approved",
            Self::ApplicationRejected => "application_rejected",
            Self::PartnerSuspended => "partner_suspended",
            Self::PartnerResumed => "partner_resumed",
            Self::SecretRotated => "secret_rotated",
            Self::SecretRevoked => "secret_revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What became of the e-mail copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    /// No mailer is configured: the recorded notification is all there is.
    NotConfigured,
    /// Recorded, not sent yet.
    Pending,
    Sent,
    Failed,
}

impl EmailStatus {
    pub const ALL: [EmailStatus; 4] =
        [Self::NotConfigured, Self::Pending, Self::Sent, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One message to a partner. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: String,
    pub partner_id: PartnerId,
    pub kind: NotificationKind,
    pub subject: String,
    pub body: String,
    pub email_to: Email,
    pub email_status: EmailStatus,
    pub created_at: DateTime<Utc>,
}

/// Why an e-mail could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("mail not sent")]
pub struct MailError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Sends e-mail (SMTP in production). Optional: without one, notifications are only recorded.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `notification.subject` and `.body` to `.email_to`. An implementation may add what
    /// only it knows (links to where the server is reached) but must not drop any of the
    /// text. Retries send the same notification again, so its `id` can make the message id
    /// that lets a receiver drop a duplicate.
    async fn send(&self, notification: &Notification) -> Result<(), MailError>;
}

/// What a notification says, with the facts it needs; [`Message::subject`] and
/// [`Message::body`] render it in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    ApplicationReceived {
        company: &'a str,
        sandbox_client_id: &'a str,
    },
    ApplicationResubmitted {
        revision: u32,
    },
    ApplicationApproved {
        revision: u32,
        production_client_id: &'a str,
    },
    ApplicationRejected {
        application_id: &'a str,
        revision: u32,
        reason: &'a str,
    },
    PartnerSuspended {
        reason: &'a str,
    },
    PartnerResumed,
    SecretRotated {
        client_id: &'a str,
        /// When the previous secret stops working.
        previous_valid_until: DateTime<Utc>,
    },
    SecretRevoked {
        client_id: &'a str,
        secret_id: &'a str,
    },
}

impl Message<'_> {
    pub fn kind(&self) -> NotificationKind {
        match self {
            Self::ApplicationReceived { .. } => NotificationKind::ApplicationReceived,
            Self::ApplicationResubmitted { .. } => NotificationKind::ApplicationResubmitted,
            Self::ApplicationApproved { .. } => NotificationKind::ApplicationApproved,
            Self::ApplicationRejected { .. } => NotificationKind::ApplicationRejected,
            Self::PartnerSuspended { .. } => NotificationKind::PartnerSuspended,
            Self::PartnerResumed => NotificationKind::PartnerResumed,
            Self::SecretRotated { .. } => NotificationKind::SecretRotated,
            Self::SecretRevoked { .. } => NotificationKind::SecretRevoked,
        }
    }

    /// `中文 / English`: short enough for both to fit a mail client's subject column.
    pub fn subject(&self) -> String {
        let (zh, en) = match self {
            Self::ApplicationReceived { .. } => ("申请已收到", "Application received"),
            Self::ApplicationResubmitted { .. } => ("申请已更新", "Application resubmitted"),
            Self::ApplicationApproved { .. } => ("申请已通过", "Application approved"),
            Self::ApplicationRejected { .. } => ("申请未通过", "Application rejected"),
            Self::PartnerSuspended { .. } => ("账户已暂停", "Account suspended"),
            Self::PartnerResumed => ("账户已恢复", "Account resumed"),
            Self::SecretRotated { .. } => ("密钥已轮换", "Client secret rotated"),
            Self::SecretRevoked { .. } => ("密钥已吊销", "Client secret revoked"),
        };
        format!("{zh} / {en}")
    }

    /// The Chinese text, a blank line, the English text. Never carries a secret.
    pub fn body(&self) -> String {
        let (zh, en) = match *self {
            Self::ApplicationReceived {
                company,
                sandbox_client_id,
            } => (
                format!(
                    "我们已收到{company}的合作申请（第 1 版），将尽快审核。\n\
                     审核期间，您可以使用沙箱客户端 ID {sandbox_client_id} 对接沙箱充电站。"
                ),
                format!(
                    "We have received the application of {company} (revision 1) and will \
                     review it.\nMeanwhile your sandbox client id {sandbox_client_id} can be \
                     used against sandbox stations."
                ),
            ),
            Self::ApplicationResubmitted { revision } => (
                format!("您的申请第 {revision} 版已收到，等待审核。"),
                format!(
                    "Revision {revision} of your application has been received and awaits review."
                ),
            ),
            Self::ApplicationApproved {
                revision,
                production_client_id,
            } => (
                format!(
                    "您的申请（第 {revision} 版）已通过审核。生产环境客户端 ID：\
                     {production_client_id}。\n请登录后用该客户端 ID 调用 \
                     POST /v1/credentials/rotate 获取密钥；密钥只显示一次。"
                ),
                format!(
                    "Your application (revision {revision}) has been approved. Your production \
                     client id is {production_client_id}.\nSign in and call \
                     POST /v1/credentials/rotate with this client id to obtain its secret; it \
                     is shown once."
                ),
            ),
            Self::ApplicationRejected {
                application_id,
                revision,
                reason,
            } => (
                format!(
                    "您的申请（第 {revision} 版）未通过审核。原因：{reason}\n\
                     您可以修改后重新提交（PUT /v1/partner-applications/{application_id}）。"
                ),
                format!(
                    "Revision {revision} of your application was not approved. Reason: \
                     {reason}\nYou may correct it and resubmit \
                     (PUT /v1/partner-applications/{application_id})."
                ),
            ),
            Self::PartnerSuspended { reason } => (
                format!("您的接入已被暂停，所有访问令牌立即失效。原因：{reason}"),
                format!(
                    "Your access has been suspended; every access token stopped working. \
                     Reason: {reason}"
                ),
            ),
            Self::PartnerResumed => (
                "您的接入已恢复。请重新申请访问令牌。".to_string(),
                "Your access has been restored. Request new access tokens.".to_string(),
            ),
            Self::SecretRotated {
                client_id,
                previous_valid_until,
            } => {
                let until = previous_valid_until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                (
                    format!("客户端 {client_id} 已签发新密钥。旧密钥在 {until} 之前仍然有效。"),
                    format!(
                        "A new secret was issued for client {client_id}. The previous one \
                         stays valid until {until}."
                    ),
                )
            }
            Self::SecretRevoked {
                client_id,
                secret_id,
            } => (
                format!(
                    "客户端 {client_id} 的密钥 {secret_id} 已吊销，用它签发的访问令牌立即失效。"
                ),
                format!(
                    "Secret {secret_id} of client {client_id} was revoked; tokens issued with \
                     it no longer work."
                ),
            ),
        };
        format!("{zh}\n\n{en}")
    }
}

/// How often, and how soon, a failed e-mail is tried again: after `first_delay`, then twice
/// as long each time up to `max_delay`, `max_attempts` attempts in all (the first included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailRetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl Default for MailRetryPolicy {
    /// 1 min, 2, 4, 8: a relay that is down for a quarter of an hour still gets the mail.
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(3600),
            max_attempts: 5,
        }
    }
}

impl MailRetryPolicy {
    /// The wait after the `attempts`-th failed attempt (1-based); `None` when that was the last.
    pub fn delay_after(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let factor = 1u32
            .checked_shl(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX);
        Some(
            self.first_delay
                .checked_mul(factor)
                .map_or(self.max_delay, |d| d.min(self.max_delay)),
        )
    }
}

/// How long the process that records a `pending` notification has to send it before the
/// retries may: the store schedules the first attempt this far after `created_at`. Longer than
/// an inline send takes (the SMTP timeout is seconds), so the two do not both send in the
/// normal case; should they, the Message-ID (from the notification id) shows the duplicate.
pub const FIRST_SEND_LEASE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// An e-mail waiting for its next attempt (`failed`, or `pending` past its lease), as the
/// store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRetry {
    pub notification: Notification,
    /// Attempts made so far.
    pub attempts: u32,
    pub due: DateTime<Utc>,
}

/// The outcome of one attempt at e-mailing a notification, recorded on it so that the retries
/// survive a restart: the schedule lives in the store, not in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailAttempt {
    /// `Sent` or `Failed`.
    pub status: EmailStatus,
    /// Attempts made so far, this one included.
    pub attempts: u32,
    /// When to try again: set only for a failure the [`MailRetryPolicy`] retries; `None` after
    /// a success or the last attempt (the notification then stays `failed`).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The failed e-mails due for another attempt, and how many wait for a later one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailRetryQueue {
    /// Earliest due first.
    pub due: Vec<MailRetry>,
    /// Failed e-mails scheduled after `now`, or due but beyond the round's limit.
    pub waiting: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_in_both_languages_and_names_its_kind() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let messages = [
            Message::ApplicationReceived {
                company: "上海示例科技有限公司",
                sandbox_client_id: "sbx_1",
            },
            Message::ApplicationResubmitted { revision: 2 },
            Message::ApplicationApproved {
                revision: 2,
                production_client_id: "prd_1",
            },
            Message::ApplicationRejected {
                application_id: "app-1",
                revision: 1,
                reason: "营业执照不清晰 / licence unreadable",
            },
            Message::PartnerSuspended { reason: "unpaid" },
            Message::PartnerResumed,
            Message::SecretRotated {
                client_id: "prd_1",
                previous_valid_until: at,
            },
            Message::SecretRevoked {
                client_id: "prd_1",
                secret_id: "s-1",
            },
        ];
        let kinds: Vec<_> = messages.iter().map(Message::kind).collect();
        assert_eq!(kinds, NotificationKind::ALL);
        for m in messages {
            let (subject, body) = (m.subject(), m.body());
            let (zh, en) = body.split_once("\n\n").unwrap();
            assert!(subject.contains(" / "), "{subject}");
            // Chinese first (CJK ideographs), English second (no CJK outside quoted facts).
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{zh}"
            );
            assert!(en.starts_with(|c: char| c.is_ascii_alphabetic()), "{en}");
        }
        let rejected = Message::ApplicationRejected {
            application_id: "app-1",
            revision: 3,
            reason: "missing licence",
        }
        .body();
        assert!(rejected.contains("原因：missing licence"), "{rejected}");
        assert!(rejected.contains("Reason: missing licence"), "{rejected}");
        assert!(rejected.contains("PUT /v1/partner-applications/app-1"));
        let rotated = Message::SecretRotated {
            client_id: "prd_1",
            previous_valid_until: at,
        }
        .body();
        assert!(rotated.contains("2026-11-28T10:00:00Z"), "{rotated}");
    }

    #[test]
    fn retries_back_off_and_stop_after_the_last_attempt() {
        let p = MailRetryPolicy {
            first_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(300),
            max_attempts: 5,
        };
        let delays: Vec<_> = (1..=5).map(|n| p.delay_after(n)).collect();
        assert_eq!(
            delays,
            [
                Some(Duration::from_secs(60)),
                Some(Duration::from_secs(120)),
                Some(Duration::from_secs(240)),
                Some(Duration::from_secs(300)),
                None
            ]
        );
        let once = MailRetryPolicy {
            max_attempts: 1,
            ..p
        };
        assert_eq!(once.delay_after(1), None);
        // Absurd attempt counts saturate instead of overflowing.
        let many = MailRetryPolicy {
            max_attempts: u32::MAX,
            ..p
        };
        assert_eq!(many.delay_after(200), Some(Duration::from_secs(300)));
    }
}
