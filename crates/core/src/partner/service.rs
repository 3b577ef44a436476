//! The partner use cases: onboarding (apply, resubmit, approve, reject), account control
//! (suspend, resume), credentials (rotate, revoke), OAuth2 client-credentials tokens and their
//! validation on every request.
//!
//! Token validation is the hot path: a token is 256 random bits, looked up by its SHA-256 in an
//! in-process cache, falling back to one indexed store lookup. What this process revokes or
//! suspends is evicted from the cache at once; the cache TTL bounds how long another process's
//! revocation can take to be seen here.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::error::{CoreError, StoreError, TransitionError, ValidationError};
use crate::ids::{IdGenerator, PartnerId};
use crate::operator::{AuditEntry, Email, validate_password};
use crate::page::{Page, PageRequest};
use crate::partner::application::{
    Application, ApplicationDecision, ApplicationForm, ApplicationInput, ApplicationRevision,
    ApplicationStatus, DecisionOutcome, validate_reason,
};
use crate::partner::catalog::Visibility;
use crate::partner::contract::{Contract, RateLimit, StationScope};
use crate::partner::credential::{
    AccessToken, ClientId, ClientSecret, Credential, Environment, Partner, PartnerStatus, ScopeSet,
    TokenGrant,
};
use crate::partner::notification::{
    EmailAttempt, EmailStatus, MailRetryPolicy, Mailer, Message, Notification,
};
use crate::partner::ports::{
    ApplicantAccount, CredentialCrypto, NewApplication, PartnerStatusChange, PartnerStore,
};

/// Prefix of client secrets, so secret scanners and people recognise a leaked one.
pub const SECRET_PREFIX: &str = "opsk_";
/// Prefix of access tokens.
pub const TOKEN_PREFIX: &str = "opat_";

/// Settings of the partner use cases.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerConfig {
    /// Lifetime of an access token (RFC 6749 §4.4.3 `expires_in`).
    pub token_ttl: Duration,
    /// How long the previous secret stays valid after a rotation, unless the request says.
    pub rotation_grace: Duration,
    /// The longest grace period a rotation may ask for.
    pub max_rotation_grace: Duration,
    /// How long a validated token is trusted without asking the store again: bounds how late
    /// a revocation made by another process is seen here.
    pub token_cache_ttl: Duration,
    /// The rate limit of sandbox credentials (production ones follow the contract).
    pub sandbox_rate_limit: RateLimit,
    /// Entries above which the token cache is swept of expired tokens.
    pub token_cache_capacity: usize,
    /// How failed e-mails are tried again ([`PartnerService::retry_failed_mail`]).
    pub mail_retry: MailRetryPolicy,
}

impl Default for PartnerConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(2 * 3600),
            rotation_grace: Duration::from_secs(24 * 3600),
            max_rotation_grace: Duration::from_secs(30 * 24 * 3600),
            token_cache_ttl: Duration::from_secs(5),
            sandbox_rate_limit: RateLimit {
                requests_per_second: 20,
                burst: 40,
            },
            token_cache_capacity: 100_000,
            mail_retry: MailRetryPolicy::default(),
        }
    }
}

/// A secret shown exactly once, when issued. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedSecret {
    pub client_id: ClientId,
    pub environment: Environment,
    pub secret_id: String,
    pub client_secret: String,
    pub scopes: ScopeSet,
    /// When the secrets it replaced stop working (rotations only).
    pub previous_expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("client_id", &self.client_id)
            .field("environment", &self.environment)
            .field("secret_id", &self.secret_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("previous_expires_at", &self.previous_expires_at)
            .finish()
    }
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The result of an application.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub application: Application,
    pub sandbox: IssuedSecret,
}

/// The result of an approval.
#[derive(Debug, Clone)]
pub struct Approved {
    pub application: Application,
    pub partner: Partner,
    /// The production credential; its first secret is issued to the partner by a rotation.
    pub production_client_id: ClientId,
}

/// An access token, shown once. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scopes: ScopeSet,
}

/// Why no token was issued: the RFC 6749 §5.2 error codes we use.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Unknown client, wrong or dead secret.
    #[error("client authentication failed")]
    InvalidClient,
    /// The client authenticated but its partner is suspended.
    #[error("partner is suspended")]
    Suspended,
    #[error("{0}")]
    InvalidScope(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a bearer token was refused (all are RFC 6750 `invalid_token`).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is not valid")]
    Unknown,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token has been revoked")]
    Revoked,
    #[error("the partner is suspended")]
    Suspended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a request authenticated with a bearer token may do.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerAccess {
    pub partner_id: PartnerId,
    pub client_id: ClientId,
    pub secret_id: String,
    pub environment: Environment,
    pub scopes: ScopeSet,
    pub visibility: Visibility,
    pub rate_limit: RateLimit,
    pub expires_at: DateTime<Utc>,
}

struct CachedGrant {
    access: Arc<PartnerAccess>,
    cached_at: DateTime<Utc>,
}

/// Validated tokens by SHA-256.
#[derive(Default)]
struct TokenCache {
    entries: RwLock<HashMap<String, CachedGrant>>,
}

impl TokenCache {
    fn get(
        &self,
        digest: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Option<Arc<PartnerAccess>> {
        let map = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let e = map.get(digest)?;
        (now - e.cached_at < ttl).then(|| e.access.clone())
    }

    fn put(&self, digest: String, access: Arc<PartnerAccess>, now: DateTime<Utc>, capacity: usize) {
        let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= capacity {
            map.retain(|_, e| e.access.expires_at > now);
            if map.len() >= capacity {
                // Still full of live tokens: start over rather than grow without bound; the
                // store answers for the evicted ones.
                map.clear();
            }
        }
        map.insert(
            digest,
            CachedGrant {
                access,
                cached_at: now,
            },
        );
    }

    fn evict(&self, pred: impl Fn(&PartnerAccess) -> bool) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| !pred(&e.access));
    }
}

/// Compares two digests in time independent of where they differ.
fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A JSON string literal (for audit details; core has no JSON library).
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Maps "not found" to the entity the caller asked for.
fn not_found(entity: &'static str, id: impl Into<String>) -> impl FnOnce(StoreError) -> CoreError {
    let id = id.into();
    move |e| match e {
        StoreError::NotFound => CoreError::NotFound { entity, id },
        other => CoreError::Store(other),
    }
}

/// The partner use cases. One instance per process, shared by the faces that need it (the
/// Open API and the admin API), so that revocations evict the one token cache.
pub struct PartnerService {
    store: Arc<dyn PartnerStore>,
    crypto: Arc<dyn CredentialCrypto>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    mailer: Option<Arc<dyn Mailer>>,
    config: PartnerConfig,
    tokens: TokenCache,
}

/// What one round of [`PartnerService::retry_failed_mail`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailRetryReport {
    pub sent: usize,
    /// Failed again; tried later.
    pub failed: usize,
    /// Failed for the last time: they stay `failed`.
    pub given_up: usize,
    /// Not due yet (or beyond this round's batch).
    pub waiting: u64,
}

/// Most e-mails tried in one round of [`PartnerService::retry_failed_mail`]: bounds a round
/// after a long SMTP outage; the rest are due still and go in the next rounds.
const MAIL_RETRY_BATCH: u32 = 100;

impl PartnerService {
    pub fn new(
        store: Arc<dyn PartnerStore>,
        crypto: Arc<dyn CredentialCrypto>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        mailer: Option<Arc<dyn Mailer>>,
        config: PartnerConfig,
    ) -> Self {
        Self {
            store,
            crypto,
            clock,
            ids,
            mailer,
            config,
            tokens: TokenCache::default(),
        }
    }

    pub fn config(&self) -> &PartnerConfig {
        &self.config
    }

    fn new_partner_id(&self) -> Result<PartnerId, CoreError> {
        Ok(PartnerId::parse(self.ids.next())?)
    }

    fn new_secret(&self, now: DateTime<Utc>) -> (ClientSecret, String) {
        let plain = format!("{SECRET_PREFIX}{}", self.crypto.random_secret());
        let secret = ClientSecret {
            id: self.ids.next(),
            hash: self.crypto.digest(&plain),
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        (secret, plain)
    }

    fn notification(
        &self,
        partner_id: &PartnerId,
        email: &Email,
        message: Message<'_>,
        now: DateTime<Utc>,
    ) -> Notification {
        Notification {
            id: self.ids.next(),
            partner_id: partner_id.clone(),
            kind: message.kind(),
            subject: message.subject(),
            body: message.body(),
            email_to: email.clone(),
            email_status: if self.mailer.is_some() {
                EmailStatus::Pending
            } else {
                EmailStatus::NotConfigured
            },
            created_at: now,
        }
    }

    /// Sends the e-mail copy of a recorded notification, when a mailer is configured. A
    /// failure is recorded on the notification with its next attempt; the use case has
    /// succeeded regardless.
    async fn deliver(&self, n: &Notification) {
        self.attempt_mail(n, 0).await;
    }

    /// One attempt at e-mailing `n`, after `attempts` failed ones: `Ok` when sent, else the
    /// attempts made so far; `None` without a mailer. The outcome and, while the policy
    /// allows, the time of the next attempt are written to the store, which is where the
    /// retries are found again (also after a restart).
    async fn attempt_mail(&self, n: &Notification, attempts: u32) -> Option<Result<(), u32>> {
        let mailer = self.mailer.as_ref()?;
        let sent = mailer.send(n).await.is_ok();
        let attempts = attempts.saturating_add(1);
        let attempt = if sent {
            EmailAttempt {
                status: EmailStatus::Sent,
                attempts,
                next_attempt_at: None,
            }
        } else {
            EmailAttempt {
                // Kept on the notification, where operators and partners see it.
                status: EmailStatus::Failed,
                attempts,
                next_attempt_at: self
                    .config
                    .mail_retry
                    .delay_after(attempts)
                    .map(|wait| self.clock.now() + to_chrono(wait)),
            }
        };
        // The notification is recorded; losing its delivery status is not worth failing the
        // use case for. A failed retry whose outcome is lost stays due, so it is tried again.
        let _ = self.store.record_email_attempt(&n.id, &attempt).await;
        Some(if sent { Ok(()) } else { Err(attempts) })
    }

    /// Tries again the e-mails whose retry is due (call it every few seconds, and once at
    /// start; the server's mail task does). The schedule is read from the store, so a new
    /// process picks up what an old one left, including e-mails it recorded `pending` but
    /// died before sending (due once their first-send lease is over). Each e-mail gets at most
    /// `mail_retry.max_attempts` attempts in all, with the policy's backoff between them; one
    /// that fails its last stays `failed`.
    pub async fn retry_failed_mail(&self) -> Result<MailRetryReport, CoreError> {
        let mut report = MailRetryReport::default();
        if self.mailer.is_none() {
            return Ok(report);
        }
        let queue = self
            .store
            .due_mail_retries(self.clock.now(), MAIL_RETRY_BATCH)
            .await?;
        for retry in queue.due {
            match self.attempt_mail(&retry.notification, retry.attempts).await {
                Some(Ok(())) => report.sent += 1,
                Some(Err(attempts)) if self.config.mail_retry.delay_after(attempts).is_some() => {
                    report.failed += 1;
                }
                Some(Err(_)) => report.given_up += 1,
                None => {}
            }
        }
        report.waiting = queue.waiting;
        Ok(report)
    }

    fn audit(
        &self,
        operator_id: &str,
        action: &str,
        object: String,
        details: String,
    ) -> AuditEntry {
        AuditEntry {
            id: self.ids.next(),
            at: self.clock.now(),
            actor: format!("operator:{operator_id}"),
            action: action.to_string(),
            object,
            details,
        }
    }

    // ---- onboarding -------------------------------------------------------------------

    /// A new application: validates every field, creates the applicant account (argon2
    /// password hash), the partner, the first revision, sandbox credentials and a
    /// notification, all in one transaction. The sandbox secret is returned once.
    pub async fn apply(
        &self,
        input: &ApplicationInput,
        password: &str,
    ) -> Result<Submitted, CoreError> {
        let form = ApplicationForm::validate(input)?;
        validate_password("password", password)?;
        let password_hash = self
            .crypto
            .hash_password(password)
            .await
            .map_err(|e| CoreError::Store(StoreError::Other(Box::new(e))))?;
        let now = self.clock.now();
        let application_id = self.ids.next();
        let partner_id = self.new_partner_id()?;
        let client_id = ClientId::generate(Environment::Sandbox, &self.ids.next());
        let (secret, plain) = self.new_secret(now);
        let scopes = ScopeSet::all();
        let notification = self.notification(
            &partner_id,
            &form.email,
            Message::ApplicationReceived {
                company: &form.company_name,
                sandbox_client_id: client_id.as_str(),
            },
            now,
        );
        let new = NewApplication {
            application_id: application_id.clone(),
            partner: Partner {
                id: partner_id.clone(),
                name: form.company_name.clone(),
                application_id: application_id.clone(),
                email: form.email.clone(),
                status: PartnerStatus::Applicant,
                contract: None,
                suspended_at: None,
                suspension_reason: None,
                created_at: now,
                updated_at: now,
            },
            account: ApplicantAccount {
                partner_id: partner_id.clone(),
                application_id: application_id.clone(),
                email: form.email.clone(),
                password_hash,
                created_at: now,
            },
            revision: ApplicationRevision {
                number: 1,
                form,
                submitted_at: now,
            },
            sandbox: Credential {
                client_id: client_id.clone(),
                partner_id,
                environment: Environment::Sandbox,
                scopes,
                created_at: now,
                secrets: vec![secret.clone()],
            },
            notification,
        };
        self.store
            .create_application(&new)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { constraint } if constraint == "partner_accounts_email_key" => {
                    CoreError::Conflict("email: an account with this e-mail address exists already".into())
                }
                StoreError::Conflict { constraint } if constraint == "partner_applications_uscc_key" => {
                    CoreError::Conflict(
                        "unified_social_credit_code: this company has applied already; sign in and update that application".into(),
                    )
                }
                other => CoreError::Store(other),
            })?;
        self.deliver(&new.notification).await;
        let application = self
            .store
            .get_application(&application_id)
            .await
            .map_err(not_found("application", &application_id))?;
        Ok(Submitted {
            application,
            sandbox: IssuedSecret {
                client_id,
                environment: Environment::Sandbox,
                secret_id: secret.id,
                client_secret: plain,
                scopes,
                previous_expires_at: None,
            },
        })
    }

    /// Checks an applicant's e-mail and password (argon2). Unknown e-mail and wrong password
    /// are the same `Unauthorized`.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
    ) -> Result<ApplicantAccount, CoreError> {
        let Ok(email) = Email::parse(email) else {
            return Err(CoreError::Unauthorized);
        };
        let account = match self.store.find_account(&email).await {
            Ok(a) => a,
            Err(StoreError::NotFound) => return Err(CoreError::Unauthorized),
            Err(e) => return Err(e.into()),
        };
        if self
            .crypto
            .verify_password(password, &account.password_hash)
            .await
        {
            Ok(account)
        } else {
            Err(CoreError::Unauthorized)
        }
    }

    /// An application as its own partner sees it (`NotFound` for anyone else's).
    pub async fn application_for(
        &self,
        partner: &PartnerId,
        id: &str,
    ) -> Result<Application, CoreError> {
        let app = self.application(id).await?;
        if &app.partner_id != partner {
            return Err(CoreError::NotFound {
                entity: "application",
                id: id.to_string(),
            });
        }
        Ok(app)
    }

    /// Any application (operators).
    pub async fn application(&self, id: &str) -> Result<Application, CoreError> {
        self.store
            .get_application(id)
            .await
            .map_err(not_found("application", id))
    }

    pub async fn list_applications(
        &self,
        status: Option<ApplicationStatus>,
        page: &PageRequest,
    ) -> Result<Page<Application>, CoreError> {
        Ok(self.store.list_applications(status, page).await?)
    }

    /// A corrected application: a new revision, pending review again. Only the applicant's
    /// own application, and not once approved.
    pub async fn resubmit(
        &self,
        partner: &PartnerId,
        id: &str,
        input: &ApplicationInput,
    ) -> Result<Application, CoreError> {
        let app = self.application_for(partner, id).await?;
        let form = ApplicationForm::validate(input)?;
        app.status.resubmit()?;
        let current_email = app.current().map(|r| r.form.email.clone());
        if current_email.as_ref().is_some_and(|e| e != &form.email) {
            // The e-mail is the applicant's login; changing it is an account matter.
            return Err(
                ValidationError::new("email", "must stay the account's e-mail address").into(),
            );
        }
        let now = self.clock.now();
        let number = app.revision + 1;
        let notification = self.notification(
            &app.partner_id,
            &form.email,
            Message::ApplicationResubmitted { revision: number },
            now,
        );
        let revision = ApplicationRevision {
            number,
            form,
            submitted_at: now,
        };
        self.store
            .resubmit_application(id, &revision, &notification)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { constraint }
                    if constraint == "partner_applications_uscc_key" =>
                {
                    CoreError::Conflict(
                        "unified_social_credit_code: another application uses this code".into(),
                    )
                }
                StoreError::Conflict { .. } => CoreError::Conflict(
                    "the application changed meanwhile; read it again and retry".into(),
                ),
                other => not_found("application", id)(other),
            })?;
        self.deliver(&notification).await;
        self.application(id).await
    }

    fn check_revision(app: &Application, expected: Option<u32>) -> Result<(), CoreError> {
        match expected {
            Some(r) if r != app.revision => Err(CoreError::Conflict(format!(
                "revision: the application is at revision {}, not {r}",
                app.revision
            ))),
            _ => Ok(()),
        }
    }

    /// Approves the latest revision (`expected_revision`, when given, must be it): the partner
    /// becomes active under `contract` and gets a production client id. Audited.
    pub async fn approve(
        &self,
        id: &str,
        expected_revision: Option<u32>,
        contract: Contract,
        operator_id: &str,
    ) -> Result<Approved, CoreError> {
        let app = self.application(id).await?;
        Self::check_revision(&app, expected_revision)?;
        app.status.decide(DecisionOutcome::Approved)?;
        let email =
            app.current()
                .map(|r| r.form.email.clone())
                .ok_or_else(|| CoreError::NotFound {
                    entity: "application",
                    id: id.to_string(),
                })?;
        let now = self.clock.now();
        let client_id = ClientId::generate(Environment::Production, &self.ids.next());
        let production = Credential {
            client_id: client_id.clone(),
            partner_id: app.partner_id.clone(),
            environment: Environment::Production,
            scopes: contract.scopes,
            created_at: now,
            secrets: vec![],
        };
        let scope_text = match &contract.station_scope {
            StationScope::All => "\"all\"".to_string(),
            StationScope::List { station_ids } => format!("{}", station_ids.len()),
        };
        let details = format!(
            "{{\"revision\":{},\"partner_id\":{},\"client_id\":{},\"station_scope\":{scope_text},\
             \"revenue_share\":{{\"electricity\":{},\"service\":{},\"idle\":{}}},\
             \"rate_limit\":{{\"requests_per_second\":{},\"burst\":{}}},\
             \"settlement_cycle\":{},\"scopes\":{}}}",
            app.revision,
            json_str(app.partner_id.as_str()),
            json_str(client_id.as_str()),
            json_str(&contract.revenue_share.electricity.to_string()),
            json_str(&contract.revenue_share.service.to_string()),
            json_str(&contract.revenue_share.idle.to_string()),
            contract.rate_limit.requests_per_second,
            contract.rate_limit.burst,
            json_str(contract.settlement_cycle.as_str()),
            json_str(&contract.scopes.to_string()),
        );
        let decision = ApplicationDecision {
            id: self.ids.next(),
            revision: app.revision,
            outcome: DecisionOutcome::Approved,
            reason: None,
            decided_by: operator_id.to_string(),
            decided_at: now,
            contract: Some(contract),
        };
        let notification = self.notification(
            &app.partner_id,
            &email,
            Message::ApplicationApproved {
                revision: app.revision,
                production_client_id: client_id.as_str(),
            },
            now,
        );
        let audit = self.audit(
            operator_id,
            "partner_application.approve",
            format!("partner_application:{id}"),
            details,
        );
        self.store
            .decide_application(id, &decision, Some(&production), &notification, &audit)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => CoreError::Conflict(
                    "the application changed meanwhile; read it again and retry".into(),
                ),
                other => not_found("application", id)(other),
            })?;
        self.deliver(&notification).await;
        let application = self.application(id).await?;
        let partner = self.partner(&application.partner_id).await?;
        Ok(Approved {
            application,
            partner,
            production_client_id: client_id,
        })
    }

    /// Rejects the latest revision with a reason the applicant will read. Audited.
    pub async fn reject(
        &self,
        id: &str,
        expected_revision: Option<u32>,
        reason: &str,
        operator_id: &str,
    ) -> Result<Application, CoreError> {
        let reason = validate_reason(reason)?;
        let app = self.application(id).await?;
        Self::check_revision(&app, expected_revision)?;
        app.status.decide(DecisionOutcome::Rejected)?;
        let email =
            app.current()
                .map(|r| r.form.email.clone())
                .ok_or_else(|| CoreError::NotFound {
                    entity: "application",
                    id: id.to_string(),
                })?;
        let now = self.clock.now();
        let decision = ApplicationDecision {
            id: self.ids.next(),
            revision: app.revision,
            outcome: DecisionOutcome::Rejected,
            reason: Some(reason.clone()),
            decided_by: operator_id.to_string(),
            decided_at: now,
            contract: None,
        };
        let notification = self.notification(
            &app.partner_id,
            &email,
            Message::ApplicationRejected {
                application_id: id,
                revision: app.revision,
                reason: &reason,
            },
            now,
        );
        let audit = self.audit(
            operator_id,
            "partner_application.reject",
            format!("partner_application:{id}"),
            format!(
                "{{\"revision\":{},\"reason\":{}}}",
                app.revision,
                json_str(&reason)
            ),
        );
        self.store
            .decide_application(id, &decision, None, &notification, &audit)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => CoreError::Conflict(
                    "the application changed meanwhile; read it again and retry".into(),
                ),
                other => not_found("application", id)(other),
            })?;
        self.deliver(&notification).await;
        self.application(id).await
    }

    // ---- partners -------------------------------------------------------------------------

    pub async fn partner(&self, id: &PartnerId) -> Result<Partner, CoreError> {
        self.store
            .get_partner(id)
            .await
            .map_err(not_found("partner", id.as_str()))
    }

    pub async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>, CoreError> {
        Ok(self.store.list_partners(page).await?)
    }

    /// Suspends a partner: every token stops working at once, no new ones are issued. Audited.
    pub async fn suspend(
        &self,
        id: &PartnerId,
        reason: &str,
        operator_id: &str,
    ) -> Result<Partner, CoreError> {
        let reason = validate_reason(reason)?;
        let partner = self.partner(id).await?;
        if partner.status == PartnerStatus::Suspended {
            return Err(TransitionError {
                entity: "partner",
                from: "suspended",
                event: "suspend",
            }
            .into());
        }
        self.change_status(
            &partner,
            PartnerStatus::Suspended,
            Some(reason),
            operator_id,
        )
        .await
    }

    /// Lifts a suspension: the partner is active again (or an applicant, if never approved).
    /// Tokens from before the suspension stay dead. Audited.
    pub async fn resume(&self, id: &PartnerId, operator_id: &str) -> Result<Partner, CoreError> {
        let partner = self.partner(id).await?;
        if partner.status != PartnerStatus::Suspended {
            return Err(TransitionError {
                entity: "partner",
                from: partner.status.as_str(),
                event: "resume",
            }
            .into());
        }
        let to = if partner.contract.is_some() {
            PartnerStatus::Active
        } else {
            PartnerStatus::Applicant
        };
        self.change_status(&partner, to, None, operator_id).await
    }

    async fn change_status(
        &self,
        partner: &Partner,
        to: PartnerStatus,
        reason: Option<String>,
        operator_id: &str,
    ) -> Result<Partner, CoreError> {
        let email = partner.email.clone();
        let now = self.clock.now();
        let (message, action) = if to == PartnerStatus::Suspended {
            (
                Message::PartnerSuspended {
                    reason: reason.as_deref().unwrap_or(""),
                },
                "partner.suspend",
            )
        } else {
            (Message::PartnerResumed, "partner.resume")
        };
        let notification = self.notification(&partner.id, &email, message, now);
        let details = match &reason {
            Some(r) => format!(
                "{{\"from\":{},\"to\":{},\"reason\":{}}}",
                json_str(partner.status.as_str()),
                json_str(to.as_str()),
                json_str(r)
            ),
            None => format!(
                "{{\"from\":{},\"to\":{}}}",
                json_str(partner.status.as_str()),
                json_str(to.as_str())
            ),
        };
        let audit = self.audit(
            operator_id,
            action,
            format!("partner:{}", partner.id),
            details,
        );
        let change = PartnerStatusChange {
            partner_id: partner.id.clone(),
            from: partner.status,
            to,
            at: now,
            reason,
        };
        self.store
            .set_partner_status(&change, &notification, &audit)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => CoreError::Conflict(
                    "the partner changed meanwhile; read it again and retry".into(),
                ),
                other => not_found("partner", partner.id.as_str())(other),
            })?;
        if to == PartnerStatus::Suspended {
            self.tokens.evict(|a| a.partner_id == partner.id);
        }
        self.deliver(&notification).await;
        self.partner(&partner.id).await
    }

    pub async fn notifications(
        &self,
        partner: &PartnerId,
        page: &PageRequest,
    ) -> Result<Page<Notification>, CoreError> {
        Ok(self.store.list_notifications(partner, page).await?)
    }

    // ---- credentials -----------------------------------------------------------------------

    pub async fn credentials(&self, partner: &PartnerId) -> Result<Vec<Credential>, CoreError> {
        Ok(self.store.list_credentials(partner).await?)
    }

    async fn own_credential(
        &self,
        partner: &PartnerId,
        client_id: &str,
    ) -> Result<Credential, CoreError> {
        let missing = || CoreError::NotFound {
            entity: "credential",
            id: client_id.to_string(),
        };
        let id = ClientId::parse(client_id).map_err(|_| missing())?;
        let cred = match self.store.get_credential(&id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        if &cred.partner_id != partner {
            return Err(missing());
        }
        Ok(cred)
    }

    /// Issues a new secret for one of the partner's credentials. Its other secrets stay valid
    /// for `grace` (default from the config, at most the configured maximum); a secret still in
    /// an earlier grace period is revoked at once, so at most two are ever live.
    pub async fn rotate_secret(
        &self,
        partner: &PartnerId,
        client_id: &str,
        grace: Option<Duration>,
    ) -> Result<IssuedSecret, CoreError> {
        let grace = grace.unwrap_or(self.config.rotation_grace);
        if grace > self.config.max_rotation_grace {
            return Err(ValidationError::new(
                "grace_period_s",
                format!(
                    "must be at most {} seconds",
                    self.config.max_rotation_grace.as_secs()
                ),
            )
            .into());
        }
        let cred = self.own_credential(partner, client_id).await?;
        let now = self.clock.now();
        let grace_until = now + to_chrono(grace);
        let (secret, plain) = self.new_secret(now);
        let had_secret = cred.live_secrets(now).next().is_some();
        let notification = if had_secret {
            Some(
                self.credential_notification(
                    &cred,
                    Message::SecretRotated {
                        client_id: cred.client_id.as_str(),
                        previous_valid_until: grace_until,
                    },
                    now,
                )
                .await?,
            )
        } else {
            None
        };
        self.store
            .add_secret(
                &cred.client_id,
                &secret,
                grace_until,
                now,
                notification.as_ref(),
            )
            .await?;
        self.tokens.evict(|a| a.client_id == cred.client_id);
        if let Some(n) = &notification {
            self.deliver(n).await;
        }
        Ok(IssuedSecret {
            client_id: cred.client_id,
            environment: cred.environment,
            secret_id: secret.id,
            client_secret: plain,
            scopes: cred.scopes,
            previous_expires_at: had_secret.then_some(grace_until),
        })
    }

    async fn credential_notification(
        &self,
        cred: &Credential,
        message: Message<'_>,
        now: DateTime<Utc>,
    ) -> Result<Notification, CoreError> {
        let partner = self.partner(&cred.partner_id).await?;
        Ok(self.notification(&partner.id, &partner.email, message, now))
    }

    /// Revokes one secret at once, with every token issued with it.
    pub async fn revoke_secret(
        &self,
        partner: &PartnerId,
        client_id: &str,
        secret_id: &str,
    ) -> Result<(), CoreError> {
        let cred = self.own_credential(partner, client_id).await?;
        if !cred.secrets.iter().any(|s| s.id == secret_id) {
            return Err(CoreError::NotFound {
                entity: "secret",
                id: secret_id.to_string(),
            });
        }
        let now = self.clock.now();
        let notification = self
            .credential_notification(
                &cred,
                Message::SecretRevoked {
                    client_id: cred.client_id.as_str(),
                    secret_id,
                },
                now,
            )
            .await?;
        self.store
            .revoke_secret(&cred.client_id, secret_id, now, &notification)
            .await
            .map_err(not_found("secret", secret_id))?;
        self.tokens.evict(|a| a.secret_id == secret_id);
        self.deliver(&notification).await;
        Ok(())
    }

    // ---- OAuth2 ------------------------------------------------------------------------------

    /// The client credentials grant (RFC 6749 §4.4): authenticates the client with one of its
    /// live secrets and issues a bearer token for the requested scopes (all granted ones when
    /// `scope` is absent). A token from a secret in its grace period dies with the secret.
    pub async fn issue_token(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<IssuedToken, TokenError> {
        let id = ClientId::parse(client_id).map_err(|_| TokenError::InvalidClient)?;
        let cred = match self.store.get_credential(&id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Err(TokenError::InvalidClient),
            Err(e) => return Err(e.into()),
        };
        let now = self.clock.now();
        let digest = self.crypto.digest(client_secret);
        let secret = cred
            .live_secrets(now)
            .find(|s| digests_equal(&s.hash, &digest))
            .ok_or(TokenError::InvalidClient)?
            .clone();
        let partner = match self.store.get_partner(&cred.partner_id).await {
            Ok(p) => p,
            Err(StoreError::NotFound) => return Err(TokenError::InvalidClient),
            Err(e) => return Err(e.into()),
        };
        if partner.status == PartnerStatus::Suspended {
            return Err(TokenError::Suspended);
        }
        let scopes = match scope {
            None => cred.scopes,
            Some(s) => {
                let asked = ScopeSet::parse_delimited(s)
                    .map_err(|e| TokenError::InvalidScope(e.to_string()))?;
                if asked.is_empty() {
                    cred.scopes
                } else if !asked.is_subset_of(cred.scopes) {
                    return Err(TokenError::InvalidScope(format!(
                        "this client may ask only for: {}",
                        cred.scopes
                    )));
                } else {
                    asked
                }
            }
        };
        let plain = format!("{TOKEN_PREFIX}{}", self.crypto.random_secret());
        let token_sha256 = self.crypto.digest(&plain);
        let mut expires_at = now + to_chrono(self.config.token_ttl);
        if let Some(end) = secret.expires_at {
            expires_at = expires_at.min(end);
        }
        let token = AccessToken {
            token_sha256: token_sha256.clone(),
            client_id: cred.client_id.clone(),
            secret_id: secret.id.clone(),
            partner_id: cred.partner_id.clone(),
            environment: cred.environment,
            scopes,
            issued_at: now,
            expires_at,
        };
        self.store.create_token(&token).await?;
        let grant = TokenGrant {
            token,
            revoked_at: None,
            secret_expires_at: secret.expires_at,
            secret_revoked_at: None,
            partner_status: partner.status,
            contract: partner.contract,
        };
        if let Ok(access) = self.access_of(&grant, now) {
            self.tokens.put(
                token_sha256,
                Arc::new(access),
                now,
                self.config.token_cache_capacity,
            );
        }
        Ok(IssuedToken {
            access_token: plain,
            expires_in: u64::try_from((expires_at - now).num_seconds()).unwrap_or(0),
            scopes,
        })
    }

    fn access_of(
        &self,
        grant: &TokenGrant,
        now: DateTime<Utc>,
    ) -> Result<PartnerAccess, AuthError> {
        let t = &grant.token;
        // Suspension first: it also revokes the tokens, and says more.
        if grant.partner_status == PartnerStatus::Suspended {
            return Err(AuthError::Suspended);
        }
        if grant.revoked_at.is_some() || grant.secret_revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        let expires_at = match grant.secret_expires_at {
            Some(e) => t.expires_at.min(e),
            None => t.expires_at,
        };
        if expires_at <= now {
            return Err(AuthError::Expired);
        }
        let (visibility, rate_limit) = match (t.environment, &grant.contract) {
            (Environment::Sandbox, _) => (Visibility::Sandbox, self.config.sandbox_rate_limit),
            (Environment::Production, Some(c)) => (
                Visibility::Production(Arc::new(c.station_scope.clone())),
                c.rate_limit,
            ),
            // A production credential exists only with a contract; without one it sees nothing.
            (Environment::Production, None) => return Err(AuthError::Revoked),
        };
        Ok(PartnerAccess {
            partner_id: t.partner_id.clone(),
            client_id: t.client_id.clone(),
            secret_id: t.secret_id.clone(),
            environment: t.environment,
            scopes: t.scopes,
            visibility,
            rate_limit,
            expires_at,
        })
    }

    /// Checks a bearer token: SHA-256, then the in-process cache or one indexed lookup.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<PartnerAccess>, AuthError> {
        // Garbage never reaches the store.
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(AuthError::Unknown);
        }
        let now = self.clock.now();
        let digest = self.crypto.digest(token);
        if let Some(access) = self
            .tokens
            .get(&digest, now, to_chrono(self.config.token_cache_ttl))
        {
            if access.expires_at <= now {
                return Err(AuthError::Expired);
            }
            return Ok(access);
        }
        let grant = match self.store.find_token(&digest).await {
            Ok(g) => g,
            Err(StoreError::NotFound) => return Err(AuthError::Unknown),
            Err(e) => return Err(e.into()),
        };
        let access = Arc::new(self.access_of(&grant, now)?);
        self.tokens.put(
            digest,
            access.clone(),
            now,
            self.config.token_cache_capacity,
        );
        Ok(access)
    }

    /// Deletes tokens that expired more than a day ago (call periodically).
    pub async fn purge_expired_tokens(&self) -> Result<u64, CoreError> {
        let before = self.clock.now() - chrono::Duration::days(1);
        Ok(self.store.purge_tokens(before).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_details_are_valid_json_strings() {
        assert_eq!(json_str("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(json_str("资料\u{1}"), "\"资料\\u0001\"");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let s = IssuedSecret {
            client_id: ClientId::parse("sbx_1").unwrap(),
            environment: Environment::Sandbox,
            secret_id: "s".into(),
            client_secret: "opsk_TOPSECRET".into(),
            scopes: ScopeSet::all(),
            previous_expires_at: None,
        };
        assert!(!format!("{s:?}").contains("TOPSECRET"));
        let t = IssuedToken {
            access_token: "opat_TOPSECRET".into(),
            expires_in: 1,
            scopes: ScopeSet::all(),
        };
        assert!(!format!("{t:?}").contains("TOPSECRET"));
    }

    #[test]
    fn digests_compare_exactly() {
        assert!(digests_equal("abc", "abc"));
        assert!(!digests_equal("abc", "abd"));
        assert!(!digests_equal("abc", "abcd"));
    }
}
