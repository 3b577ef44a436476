//! The ports of the partner use cases: [`PartnerStore`] (one method = one transaction),
//! [`StationCatalog`] (what partners may read of the network, incrementally) and
//! [`CredentialCrypto`] (hashing and randomness, which core does not do itself).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::ids::PartnerId;
use crate::operator::{AuditEntry, Email};
use crate::page::{Page, PageRequest};
use crate::partner::application::{
    Application, ApplicationDecision, ApplicationRevision, ApplicationStatus,
};
use crate::partner::catalog::CatalogDelta;
use crate::partner::credential::{
    AccessToken, ClientId, ClientSecret, Credential, Partner, PartnerStatus, TokenGrant,
};
use crate::partner::notification::{EmailAttempt, EmailStatus, MailRetryQueue, Notification};

/// The login of an applicant (later the partner's portal account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicantAccount {
    pub partner_id: PartnerId,
    pub application_id: String,
    pub email: Email,
    /// Argon2 PHC string.
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// Everything a new application creates, written together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    pub application_id: String,
    /// Status `applicant`.
    pub partner: Partner,
    pub account: ApplicantAccount,
    /// Revision 1.
    pub revision: ApplicationRevision,
    /// The sandbox credential with its first secret.
    pub sandbox: Credential,
    pub notification: Notification,
}

/// A change of a partner's status by an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerStatusChange {
    pub partner_id: PartnerId,
    /// The status the partner must be in now (a concurrent change makes this a conflict on
    /// `partners_status_check`).
    pub from: PartnerStatus,
    pub to: PartnerStatus,
    pub at: DateTime<Utc>,
    /// For suspensions.
    pub reason: Option<String>,
}

/// Applications, partners, credentials, tokens and notifications.
#[async_trait]
pub trait PartnerStore: Send + Sync {
    /// Writes the account, partner, application, its first revision, the sandbox credential and
    /// the notification. `partner_accounts_email_key` when the e-mail has an account already,
    /// `partner_applications_uscc_key` when the company has applied already.
    async fn create_application(&self, new: &NewApplication) -> Result<(), StoreError>;

    /// With all revisions and decisions, oldest first.
    async fn get_application(&self, id: &str) -> Result<Application, StoreError>;

    /// Ordered by id (ids grow with time), optionally only those in `status`.
    async fn list_applications(
        &self,
        status: Option<ApplicationStatus>,
        page: &PageRequest,
    ) -> Result<Page<Application>, StoreError>;

    async fn find_account(&self, email: &Email) -> Result<ApplicantAccount, StoreError>;

    /// Adds `revision` (number n) to an application whose latest revision is n − 1 and that is
    /// not approved, sets it pending and renames the partner after the new company name.
    /// `partner_applications_revision_check` when the application moved on meanwhile.
    async fn resubmit_application(
        &self,
        application_id: &str,
        revision: &ApplicationRevision,
        notification: &Notification,
    ) -> Result<(), StoreError>;

    /// Records a decision on a pending application whose latest revision is
    /// `decision.revision` (else `partner_applications_revision_check`). An approval also
    /// stores the contract, makes the partner active and creates `production` (a credential
    /// without secrets yet). The audit entry and notification are written in the same
    /// transaction.
    async fn decide_application(
        &self,
        application_id: &str,
        decision: &ApplicationDecision,
        production: Option<&Credential>,
        notification: &Notification,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    async fn get_partner(&self, id: &PartnerId) -> Result<Partner, StoreError>;

    /// Ordered by id.
    async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>, StoreError>;

    /// Suspends or resumes. A suspension also revokes every token of the partner, so resuming
    /// does not bring old tokens back.
    async fn set_partner_status(
        &self,
        change: &PartnerStatusChange,
        notification: &Notification,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// With its secrets, newest first.
    async fn get_credential(&self, client_id: &ClientId) -> Result<Credential, StoreError>;

    /// A partner's credentials ordered by client id.
    async fn list_credentials(&self, partner: &PartnerId) -> Result<Vec<Credential>, StoreError>;

    /// Rotation, in one transaction: secrets of `client_id` still in an earlier grace period
    /// are revoked at `at`; the other live ones get `expires_at = grace_until`; `secret` is
    /// added. So at most two secrets are live at any time.
    async fn add_secret(
        &self,
        client_id: &ClientId,
        secret: &ClientSecret,
        grace_until: DateTime<Utc>,
        at: DateTime<Utc>,
        notification: Option<&Notification>,
    ) -> Result<(), StoreError>;

    /// Revokes one secret of `client_id` (`NotFound` if it has no such secret). Tokens issued
    /// with it die with it, because token lookups read the secret's state.
    async fn revoke_secret(
        &self,
        client_id: &ClientId,
        secret_id: &str,
        at: DateTime<Utc>,
        notification: &Notification,
    ) -> Result<(), StoreError>;

    async fn create_token(&self, token: &AccessToken) -> Result<(), StoreError>;

    /// The token with its secret's and partner's state, in one indexed lookup.
    async fn find_token(&self, token_sha256: &str) -> Result<TokenGrant, StoreError>;

    /// Removes tokens that expired before `before`; returns how many.
    async fn purge_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Newest first.
    async fn list_notifications(
        &self,
        partner: &PartnerId,
        page: &PageRequest,
    ) -> Result<Page<Notification>, StoreError>;

    async fn set_email_status(
        &self,
        notification_id: &str,
        status: EmailStatus,
    ) -> Result<(), StoreError>;

    /// Records an attempt at e-mailing a notification: its status, the attempts so far and
    /// when to try again (cleared when `attempt.next_attempt_at` is `None`). `NotFound` for an
    /// unknown notification.
    async fn record_email_attempt(
        &self,
        notification_id: &str,
        attempt: &EmailAttempt,
    ) -> Result<(), StoreError>;

    /// The notifications whose next attempt is due at `now`, earliest first, at most `limit`:
    /// `failed` ones, and `pending` ones past their [`FIRST_SEND_LEASE`] (every write of a
    /// `pending` notification schedules its first attempt that far after `created_at`, so one
    /// whose process died before the send is not lost). `waiting` counts the other ones still
    /// scheduled. One indexed read.
    ///
    /// [`FIRST_SEND_LEASE`]: crate::partner::notification::FIRST_SEND_LEASE
    async fn due_mail_retries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<MailRetryQueue, StoreError>;
}

/// What partners may read of the network, fed incrementally into the in-memory catalog
/// ([`crate::partner::catalog::Catalog`]). Every change to stations, chargers, connectors
/// (including their live status) and tariffs advances a revision.
#[async_trait]
pub trait StationCatalog: Send + Sync {
    /// With `since: None`, or a revision the store no longer knows, everything (`complete`);
    /// otherwise what changed after `since`. A delta with `revision == since` means nothing
    /// changed, and should cost one indexed read.
    async fn catalog_changes(&self, since: Option<i64>) -> Result<CatalogDelta, StoreError>;
}

/// Hashing and randomness for credentials.
#[async_trait]
pub trait CredentialCrypto: Send + Sync {
    /// 256 random bits from the operating system's CSPRNG, as URL-safe text.
    fn random_secret(&self) -> String;

    /// A fast one-way digest (SHA-256, hex) for high-entropy machine secrets and tokens: they
    /// cannot be guessed, so a slow hash would add only cost (and a denial-of-service lever).
    fn digest(&self, value: &str) -> String;

    /// A slow, salted hash (argon2id) for human passwords. May take tens of milliseconds;
    /// implementations run it off the async executor.
    async fn hash_password(&self, password: &str) -> Result<String, CryptoError>;

    /// Whether `password` matches `hash`; false for malformed hashes.
    async fn verify_password(&self, password: &str, hash: &str) -> bool;
}

/// Hashing failed (resources, or a bug).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct CryptoError(#[source] pub Box<dyn std::error::Error + Send + Sync>);
