//! What we tell applicants and partners about their account: every notification is recorded
//! (readable through the API) and, when a mailer is configured, also sent by e-mail.

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
    async fn send(&self, to: &Email, subject: &str, body: &str) -> Result<(), MailError>;
}
