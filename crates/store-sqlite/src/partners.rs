//! [`PartnerStore`] on SQLite: applicant accounts, applications with revisions and decisions,
//! partners, client credentials, secrets, access tokens and notifications (migration 0003).
//! Forms and contracts are kept as JSON and re-validated by core on the way out.
//!
//! Decisions and credential changes write their partner-account event
//! (`partner.application_decided`, `partner.credentials_rotated`, `partner.credentials_revoked`)
//! through the outbox in their own transaction, so a change that fails emits nothing.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::event::{
    ApplicationDecidedData, Audience, CredentialsRevokedData, CredentialsRotatedData, Event,
    EventData,
};
use openpile_core::ids::PartnerId;
use openpile_core::operator::{AuditEntry, Email};
use openpile_core::page::{Page, PageRequest};
use openpile_core::partner::application::{
    Application, ApplicationDecision, ApplicationForm, ApplicationInput, ApplicationRevision,
    ApplicationStatus, DecisionOutcome,
};
use openpile_core::partner::contract::Contract;
use openpile_core::partner::credential::{
    AccessToken, ClientId, ClientSecret, Credential, Environment, Partner, PartnerStatus, ScopeSet,
    TokenGrant,
};
use openpile_core::partner::notification::{
    EmailAttempt, EmailStatus, FIRST_SEND_LEASE, MailRetry, MailRetryQueue, Notification,
    NotificationKind,
};
use openpile_core::partner::ports::{
    ApplicantAccount, NewApplication, PartnerStatusChange, PartnerStore,
};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;

use crate::columns::{parse_json, parse_opt_ts, parse_ts, parse_with, to_json, to_u32, ts};
use crate::outbox::{commit, emit};
use crate::{CorruptValue, SqliteStore, db_error, into_page, page_limit};

/// Reported when a resubmission or decision finds the application moved on (another revision,
/// or already decided): the caller read a state that no longer holds.
const REVISION_CHECK: &str = "partner_applications_revision_check";

fn conflict(constraint: &str) -> StoreError {
    StoreError::Conflict {
        constraint: constraint.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Rows

/// The stored form: the fields as text, so a stored form goes through the same validation as a
/// submitted one.
#[derive(Debug, Serialize, Deserialize)]
struct FormJson {
    company_name: String,
    unified_social_credit_code: String,
    legal_representative: String,
    contact_name: String,
    mobile: String,
    email: String,
    website: Option<String>,
    intended_use: String,
    expected_monthly_volume: u64,
    callback_base_url: String,
}

impl FormJson {
    fn encode(form: &ApplicationForm) -> Result<String, StoreError> {
        let i = form.to_input();
        to_json(
            "partner_application_revisions.form",
            &FormJson {
                company_name: i.company_name,
                unified_social_credit_code: i.unified_social_credit_code,
                legal_representative: i.legal_representative,
                contact_name: i.contact_name,
                mobile: i.mobile,
                email: i.email,
                website: i.website,
                intended_use: i.intended_use,
                expected_monthly_volume: i.expected_monthly_volume,
                callback_base_url: i.callback_base_url,
            },
        )
    }

    fn decode(s: &str) -> Result<ApplicationForm, StoreError> {
        let f: FormJson = parse_json("partner_application_revisions.form", s)?;
        ApplicationForm::validate(&ApplicationInput {
            company_name: f.company_name,
            unified_social_credit_code: f.unified_social_credit_code,
            legal_representative: f.legal_representative,
            contact_name: f.contact_name,
            mobile: f.mobile,
            email: f.email,
            website: f.website,
            intended_use: f.intended_use,
            expected_monthly_volume: f.expected_monthly_volume,
            callback_base_url: f.callback_base_url,
        })
        .map_err(|e| CorruptValue::new("partner_application_revisions.form", e))
    }
}

fn parse_contract(column: &'static str, s: Option<&str>) -> Result<Option<Contract>, StoreError> {
    s.map(|s| parse_json::<Contract>(column, s)).transpose()
}

fn parse_scopes(column: &'static str, s: &str) -> Result<ScopeSet, StoreError> {
    ScopeSet::parse_delimited(s).map_err(|e| CorruptValue::new(column, e))
}

fn parse_environment(column: &'static str, s: &str) -> Result<Environment, StoreError> {
    Environment::parse(s).ok_or_else(|| CorruptValue::new(column, format!("{s:?}")))
}

fn parse_partner_status(column: &'static str, s: &str) -> Result<PartnerStatus, StoreError> {
    PartnerStatus::parse(s).ok_or_else(|| CorruptValue::new(column, format!("{s:?}")))
}

#[derive(Debug, sqlx::FromRow)]
struct PartnerRow {
    id: String,
    name: String,
    application_id: String,
    email: String,
    status: String,
    contract: Option<String>,
    suspended_at: Option<String>,
    suspension_reason: Option<String>,
    created_at: String,
    updated_at: String,
}

const PARTNER_COLUMNS: &str = "id, name, application_id, email, status, contract, suspended_at, \
     suspension_reason, created_at, updated_at";

impl TryFrom<PartnerRow> for Partner {
    type Error = StoreError;

    fn try_from(r: PartnerRow) -> Result<Partner, StoreError> {
        Ok(Partner {
            id: parse_with("partners.id", &r.id, PartnerId::parse)?,
            name: r.name,
            application_id: r.application_id,
            email: parse_with("partners.email", &r.email, Email::parse)?,
            status: parse_partner_status("partners.status", &r.status)?,
            contract: parse_contract("partners.contract", r.contract.as_deref())?,
            suspended_at: parse_opt_ts("partners.suspended_at", r.suspended_at.as_deref())?,
            suspension_reason: r.suspension_reason,
            created_at: parse_ts("partners.created_at", &r.created_at)?,
            updated_at: parse_ts("partners.updated_at", &r.updated_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct ApplicationRow {
    id: String,
    partner_id: String,
    status: String,
    revision: i64,
    created_at: String,
    updated_at: String,
}

const APPLICATION_COLUMNS: &str = "id, partner_id, status, revision, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
struct RevisionRow {
    application_id: String,
    number: i64,
    form: String,
    submitted_at: String,
}

#[derive(Debug, sqlx::FromRow)]
struct DecisionRow {
    id: String,
    application_id: String,
    revision: i64,
    outcome: String,
    reason: Option<String>,
    decided_by: String,
    decided_at: String,
    contract: Option<String>,
}

impl TryFrom<RevisionRow> for ApplicationRevision {
    type Error = StoreError;

    fn try_from(r: RevisionRow) -> Result<Self, StoreError> {
        Ok(ApplicationRevision {
            number: to_u32("partner_application_revisions.number", r.number)?,
            form: FormJson::decode(&r.form)?,
            submitted_at: parse_ts(
                "partner_application_revisions.submitted_at",
                &r.submitted_at,
            )?,
        })
    }
}

impl TryFrom<DecisionRow> for ApplicationDecision {
    type Error = StoreError;

    fn try_from(r: DecisionRow) -> Result<Self, StoreError> {
        Ok(ApplicationDecision {
            id: r.id,
            revision: to_u32("partner_application_decisions.revision", r.revision)?,
            outcome: DecisionOutcome::parse(&r.outcome).ok_or_else(|| {
                CorruptValue::new("partner_application_decisions.outcome", &r.outcome)
            })?,
            reason: r.reason,
            decided_by: r.decided_by,
            decided_at: parse_ts("partner_application_decisions.decided_at", &r.decided_at)?,
            contract: parse_contract(
                "partner_application_decisions.contract",
                r.contract.as_deref(),
            )?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct CredentialRow {
    client_id: String,
    partner_id: String,
    environment: String,
    scopes: String,
    created_at: String,
}

#[derive(Debug, sqlx::FromRow)]
struct SecretRow {
    id: String,
    client_id: String,
    secret_sha256: String,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
}

impl TryFrom<SecretRow> for ClientSecret {
    type Error = StoreError;

    fn try_from(r: SecretRow) -> Result<Self, StoreError> {
        Ok(ClientSecret {
            id: r.id,
            hash: r.secret_sha256,
            created_at: parse_ts("partner_secrets.created_at", &r.created_at)?,
            expires_at: parse_opt_ts("partner_secrets.expires_at", r.expires_at.as_deref())?,
            revoked_at: parse_opt_ts("partner_secrets.revoked_at", r.revoked_at.as_deref())?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct NotificationRow {
    id: String,
    partner_id: String,
    kind: String,
    subject: String,
    body: String,
    email_to: String,
    email_status: String,
    at: String,
}

const NOTIFICATION_COLUMNS: &str =
    "id, partner_id, kind, subject, body, email_to, email_status, at";

impl TryFrom<NotificationRow> for Notification {
    type Error = StoreError;

    fn try_from(r: NotificationRow) -> Result<Self, StoreError> {
        Ok(Notification {
            id: r.id,
            partner_id: parse_with(
                "partner_notifications.partner_id",
                &r.partner_id,
                PartnerId::parse,
            )?,
            kind: NotificationKind::parse(&r.kind)
                .ok_or_else(|| CorruptValue::new("partner_notifications.kind", &r.kind))?,
            subject: r.subject,
            body: r.body,
            email_to: parse_with("partner_notifications.email_to", &r.email_to, Email::parse)?,
            email_status: EmailStatus::parse(&r.email_status).ok_or_else(|| {
                CorruptValue::new("partner_notifications.email_status", &r.email_status)
            })?,
            created_at: parse_ts("partner_notifications.at", &r.at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct TokenRow {
    token_sha256: String,
    client_id: String,
    secret_id: String,
    partner_id: String,
    environment: String,
    scopes: String,
    issued_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    secret_expires_at: Option<String>,
    secret_revoked_at: Option<String>,
    partner_status: String,
    contract: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Writes and reads on a connection, so that one transaction can combine them.

async fn insert_notification(
    conn: &mut SqliteConnection,
    n: &Notification,
) -> Result<(), StoreError> {
    // An e-mail still to send gets its first attempt scheduled in this same write, a lease
    // ahead: the inline send records its outcome well before, but a process that dies first
    // leaves it for the retries instead of `pending` for good.
    let first_attempt =
        (n.email_status == EmailStatus::Pending).then(|| ts(n.created_at + FIRST_SEND_LEASE));
    sqlx::query(
        "INSERT INTO partner_notifications (id, partner_id, kind, subject, body, email_to, \
         email_status, at, created_at, updated_at, email_next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8, ?9)",
    )
    .bind(&n.id)
    .bind(n.partner_id.as_str())
    .bind(n.kind.as_str())
    .bind(&n.subject)
    .bind(&n.body)
    .bind(n.email_to.as_str())
    .bind(n.email_status.as_str())
    .bind(ts(n.created_at))
    .bind(first_attempt)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn insert_audit(conn: &mut SqliteConnection, a: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, object, details, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?2, ?2)",
    )
    .bind(&a.id)
    .bind(ts(a.at))
    .bind(&a.actor)
    .bind(&a.action)
    .bind(&a.object)
    .bind(&a.details)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn insert_credential(conn: &mut SqliteConnection, c: &Credential) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO partner_credentials (client_id, partner_id, environment, scopes, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )
    .bind(c.client_id.as_str())
    .bind(c.partner_id.as_str())
    .bind(c.environment.as_str())
    .bind(c.scopes.to_string())
    .bind(ts(c.created_at))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    for s in &c.secrets {
        insert_secret(conn, &c.client_id, s).await?;
    }
    Ok(())
}

async fn insert_secret(
    conn: &mut SqliteConnection,
    client_id: &ClientId,
    s: &ClientSecret,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO partner_secrets (id, client_id, secret_sha256, expires_at, revoked_at, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )
    .bind(&s.id)
    .bind(client_id.as_str())
    .bind(&s.hash)
    .bind(s.expires_at.map(ts))
    .bind(s.revoked_at.map(ts))
    .bind(ts(s.created_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Applications with their revisions and decisions, in the order of `rows`.
async fn complete_applications(
    conn: &mut SqliteConnection,
    rows: Vec<ApplicationRow>,
) -> Result<Vec<Application>, StoreError> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let ids_json = to_json("partner_applications.id", &ids)?;
    let revisions: Vec<RevisionRow> = sqlx::query_as(
        "SELECT application_id, number, form, submitted_at FROM partner_application_revisions \
         WHERE application_id IN (SELECT value FROM json_each(?1)) \
         ORDER BY application_id, number",
    )
    .bind(&ids_json)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let decisions: Vec<DecisionRow> = sqlx::query_as(
        "SELECT id, application_id, revision, outcome, reason, decided_by, decided_at, contract \
         FROM partner_application_decisions \
         WHERE application_id IN (SELECT value FROM json_each(?1)) \
         ORDER BY application_id, decided_at, id",
    )
    .bind(&ids_json)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut revs_by_app: HashMap<String, Vec<ApplicationRevision>> = HashMap::new();
    for r in revisions {
        let app = r.application_id.clone();
        revs_by_app.entry(app).or_default().push(r.try_into()?);
    }
    let mut decs_by_app: HashMap<String, Vec<ApplicationDecision>> = HashMap::new();
    for d in decisions {
        let app = d.application_id.clone();
        decs_by_app.entry(app).or_default().push(d.try_into()?);
    }
    rows.into_iter()
        .map(|r| {
            Ok(Application {
                partner_id: parse_with(
                    "partner_applications.partner_id",
                    &r.partner_id,
                    PartnerId::parse,
                )?,
                status: ApplicationStatus::parse(&r.status)
                    .ok_or_else(|| CorruptValue::new("partner_applications.status", &r.status))?,
                revision: to_u32("partner_applications.revision", r.revision)?,
                created_at: parse_ts("partner_applications.created_at", &r.created_at)?,
                updated_at: parse_ts("partner_applications.updated_at", &r.updated_at)?,
                revisions: revs_by_app.remove(&r.id).unwrap_or_default(),
                decisions: decs_by_app.remove(&r.id).unwrap_or_default(),
                id: r.id,
            })
        })
        .collect()
}

async fn credentials_where(
    conn: &mut SqliteConnection,
    column: &'static str,
    value: &str,
) -> Result<Vec<Credential>, StoreError> {
    // `column` is one of two fixed names chosen below, never input.
    let sql = format!(
        "SELECT client_id, partner_id, environment, scopes, created_at FROM partner_credentials \
         WHERE {column} = ?1 ORDER BY client_id"
    );
    let rows: Vec<CredentialRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let sql = format!(
        "SELECT s.id, s.client_id, s.secret_sha256, s.created_at, s.expires_at, s.revoked_at \
         FROM partner_secrets s JOIN partner_credentials c ON c.client_id = s.client_id \
         WHERE c.{column} = ?1 ORDER BY s.created_at DESC, s.id DESC"
    );
    let secrets: Vec<SecretRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut secrets: Vec<(String, ClientSecret)> = secrets
        .into_iter()
        .map(|r| {
            let client = r.client_id.clone();
            ClientSecret::try_from(r).map(|s| (client, s))
        })
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|r| {
            let mine: Vec<ClientSecret> = secrets
                .iter()
                .filter(|(c, _)| *c == r.client_id)
                .map(|(_, s)| s.clone())
                .collect();
            secrets.retain(|(c, _)| *c != r.client_id);
            Ok(Credential {
                client_id: parse_with(
                    "partner_credentials.client_id",
                    &r.client_id,
                    ClientId::parse,
                )?,
                partner_id: parse_with(
                    "partner_credentials.partner_id",
                    &r.partner_id,
                    PartnerId::parse,
                )?,
                environment: parse_environment("partner_credentials.environment", &r.environment)?,
                scopes: parse_scopes("partner_credentials.scopes", &r.scopes)?,
                created_at: parse_ts("partner_credentials.created_at", &r.created_at)?,
                secrets: mine,
            })
        })
        .collect()
}

/// The partner and environment of a credential, `None` if there is no such client.
async fn credential_owner(
    conn: &mut SqliteConnection,
    client_id: &ClientId,
) -> Result<Option<(PartnerId, Environment)>, StoreError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT partner_id, environment FROM partner_credentials WHERE client_id = ?1",
    )
    .bind(client_id.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    row.map(|(p, e)| {
        Ok((
            parse_with("partner_credentials.partner_id", &p, PartnerId::parse)?,
            parse_environment("partner_credentials.environment", &e)?,
        ))
    })
    .transpose()
}

async fn partner_by_id(conn: &mut SqliteConnection, id: &str) -> Result<Partner, StoreError> {
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id = ?1");
    let row: PartnerRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(conn)
        .await
        .map_err(db_error)?;
    row.try_into()
}

// ---------------------------------------------------------------------------------------------

#[async_trait]
impl PartnerStore for SqliteStore {
    async fn create_application(&self, new: &NewApplication) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let p = &new.partner;
        sqlx::query(
            "INSERT INTO partners (id, name, application_id, email, status, contract, \
             suspended_at, suspension_reason, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, NULL, ?6, ?7)",
        )
        .bind(p.id.as_str())
        .bind(&p.name)
        .bind(&new.application_id)
        .bind(p.email.as_str())
        .bind(p.status.as_str())
        .bind(ts(p.created_at))
        .bind(ts(p.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let a = &new.account;
        sqlx::query(
            "INSERT INTO partner_accounts (partner_id, email, password_hash, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        )
        .bind(a.partner_id.as_str())
        .bind(a.email.as_str())
        .bind(&a.password_hash)
        .bind(ts(a.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let r = &new.revision;
        sqlx::query(
            "INSERT INTO partner_applications (id, partner_id, status, revision, uscc, \
             created_at, updated_at) VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?5)",
        )
        .bind(&new.application_id)
        .bind(p.id.as_str())
        .bind(i64::from(r.number))
        .bind(r.form.unified_social_credit_code.as_str())
        .bind(ts(r.submitted_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO partner_application_revisions (application_id, number, form, \
             submitted_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4, ?4)",
        )
        .bind(&new.application_id)
        .bind(i64::from(r.number))
        .bind(FormJson::encode(&r.form)?)
        .bind(ts(r.submitted_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_credential(&mut tx, &new.sandbox).await?;
        insert_notification(&mut tx, &new.notification).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_application(&self, id: &str) -> Result<Application, StoreError> {
        let mut tx = self.read().await?;
        let sql = format!("SELECT {APPLICATION_COLUMNS} FROM partner_applications WHERE id = ?1");
        let row: ApplicationRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let mut apps = complete_applications(&mut tx, vec![row]).await?;
        tx.commit().await.map_err(db_error)?;
        apps.pop().ok_or(StoreError::NotFound)
    }

    async fn list_applications(
        &self,
        status: Option<ApplicationStatus>,
        page: &PageRequest,
    ) -> Result<Page<Application>, StoreError> {
        let limit = page_limit(page);
        let mut tx = self.read().await?;
        let sql = format!(
            "SELECT {APPLICATION_COLUMNS} FROM partner_applications \
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id > ?2) \
             ORDER BY id LIMIT ?3"
        );
        let rows: Vec<ApplicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(status.map(ApplicationStatus::as_str))
            .bind(page.after.as_deref())
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let apps = complete_applications(&mut tx, rows).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(into_page(apps, limit, |a| a.id.clone()))
    }

    async fn find_account(&self, email: &Email) -> Result<ApplicantAccount, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            partner_id: String,
            application_id: String,
            email: String,
            password_hash: String,
            created_at: String,
        }
        let r: Row = sqlx::query_as(
            "SELECT a.partner_id, p.application_id, a.email, a.password_hash, a.created_at \
             FROM partner_accounts a JOIN partners p ON p.id = a.partner_id WHERE a.email = ?1",
        )
        .bind(email.as_str())
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        Ok(ApplicantAccount {
            partner_id: parse_with(
                "partner_accounts.partner_id",
                &r.partner_id,
                PartnerId::parse,
            )?,
            application_id: r.application_id,
            email: parse_with("partner_accounts.email", &r.email, Email::parse)?,
            password_hash: r.password_hash,
            created_at: parse_ts("partner_accounts.created_at", &r.created_at)?,
        })
    }

    async fn resubmit_application(
        &self,
        application_id: &str,
        revision: &ApplicationRevision,
        notification: &Notification,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let previous = i64::from(revision.number) - 1;
        let done = sqlx::query(
            "UPDATE partner_applications SET status = 'pending', revision = ?2, uscc = ?3, \
             updated_at = ?4 WHERE id = ?1 AND revision = ?5 AND status <> 'approved'",
        )
        .bind(application_id)
        .bind(i64::from(revision.number))
        .bind(revision.form.unified_social_credit_code.as_str())
        .bind(ts(revision.submitted_at))
        .bind(previous)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            let exists: Option<(i64,)> =
                sqlx::query_as("SELECT 1 FROM partner_applications WHERE id = ?1")
                    .bind(application_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            return Err(match exists {
                Some(_) => conflict(REVISION_CHECK),
                None => StoreError::NotFound,
            });
        }
        sqlx::query(
            "INSERT INTO partner_application_revisions (application_id, number, form, \
             submitted_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4, ?4)",
        )
        .bind(application_id)
        .bind(i64::from(revision.number))
        .bind(FormJson::encode(&revision.form)?)
        .bind(ts(revision.submitted_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "UPDATE partners SET name = ?2, updated_at = ?3 \
             WHERE id = (SELECT partner_id FROM partner_applications WHERE id = ?1)",
        )
        .bind(application_id)
        .bind(&revision.form.company_name)
        .bind(ts(revision.submitted_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_notification(&mut tx, notification).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn decide_application(
        &self,
        application_id: &str,
        decision: &ApplicationDecision,
        production: Option<&Credential>,
        notification: &Notification,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let status = match decision.outcome {
            DecisionOutcome::Approved => "approved",
            DecisionOutcome::Rejected => "rejected",
        };
        let contract_json = decision
            .contract
            .as_ref()
            .map(|c| to_json("partner_application_decisions.contract", c))
            .transpose()?;
        let mut tx = self.write().await?;
        let partner: Option<(String,)> = sqlx::query_as(
            "UPDATE partner_applications SET status = ?2, updated_at = ?3 \
             WHERE id = ?1 AND status = 'pending' AND revision = ?4 RETURNING partner_id",
        )
        .bind(application_id)
        .bind(status)
        .bind(ts(decision.decided_at))
        .bind(i64::from(decision.revision))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((partner_id,)) = partner else {
            let exists: Option<(i64,)> =
                sqlx::query_as("SELECT 1 FROM partner_applications WHERE id = ?1")
                    .bind(application_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            return Err(match exists {
                Some(_) => conflict(REVISION_CHECK),
                None => StoreError::NotFound,
            });
        };
        sqlx::query(
            "INSERT INTO partner_application_decisions (id, application_id, revision, outcome, \
             reason, decided_by, decided_at, contract, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?7)",
        )
        .bind(&decision.id)
        .bind(application_id)
        .bind(i64::from(decision.revision))
        .bind(decision.outcome.as_str())
        .bind(&decision.reason)
        .bind(&decision.decided_by)
        .bind(ts(decision.decided_at))
        .bind(&contract_json)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if decision.outcome == DecisionOutcome::Approved {
            // A suspended applicant stays suspended; it becomes active when resumed.
            sqlx::query(
                "UPDATE partners SET contract = ?2, updated_at = ?3, \
                 status = CASE WHEN status = 'suspended' THEN 'suspended' ELSE 'active' END \
                 WHERE id = ?1",
            )
            .bind(&partner_id)
            .bind(&contract_json)
            .bind(ts(decision.decided_at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if let Some(c) = production {
                insert_credential(&mut tx, c).await?;
            }
        }
        insert_notification(&mut tx, notification).await?;
        insert_audit(&mut tx, audit).await?;
        // The applicant learns the decision in its feeds (its sandbox credential exists from
        // the application on); a rejection carries the reviewer's reason.
        let partner_id = parse_with(
            "partner_applications.partner_id",
            &partner_id,
            PartnerId::parse,
        )?;
        let event = Event::new(
            EventData::ApplicationDecided {
                partner_id: partner_id.clone(),
                data: ApplicationDecidedData {
                    application_id: application_id.to_string(),
                    outcome: decision.outcome,
                    reason: decision.reason.clone(),
                    decided_at: decision.decided_at,
                },
            },
            decision.decided_at,
        );
        emit(
            &mut tx,
            &event,
            &Audience::Partner(partner_id),
            decision.decided_at,
        )
        .await?;
        commit(tx).await
    }

    async fn get_partner(&self, id: &PartnerId) -> Result<Partner, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        partner_by_id(&mut conn, id.as_str()).await
    }

    async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>, StoreError> {
        let limit = page_limit(page);
        let sql = format!(
            "SELECT {PARTNER_COLUMNS} FROM partners WHERE (?1 IS NULL OR id > ?1) \
             ORDER BY id LIMIT ?2"
        );
        let rows: Vec<PartnerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(page.after.as_deref())
            .bind(i64::from(limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(db_error)?;
        let partners = rows
            .into_iter()
            .map(Partner::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(partners, limit, |p| p.id.to_string()))
    }

    async fn set_partner_status(
        &self,
        change: &PartnerStatusChange,
        notification: &Notification,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let suspended = change.to == PartnerStatus::Suspended;
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE partners SET status = ?2, updated_at = ?3, \
             suspended_at = CASE WHEN ?4 THEN ?3 ELSE NULL END, suspension_reason = ?5 \
             WHERE id = ?1 AND status = ?6",
        )
        .bind(change.partner_id.as_str())
        .bind(change.to.as_str())
        .bind(ts(change.at))
        .bind(suspended)
        .bind(&change.reason)
        .bind(change.from.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            let exists: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM partners WHERE id = ?1")
                .bind(change.partner_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
            return Err(match exists {
                Some(_) => conflict("partners_status_check"),
                None => StoreError::NotFound,
            });
        }
        if suspended {
            sqlx::query(
                "UPDATE partner_tokens SET revoked_at = ?2, updated_at = ?2 \
                 WHERE partner_id = ?1 AND revoked_at IS NULL",
            )
            .bind(change.partner_id.as_str())
            .bind(ts(change.at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        insert_notification(&mut tx, notification).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_credential(&self, client_id: &ClientId) -> Result<Credential, StoreError> {
        let mut tx = self.read().await?;
        let mut found = credentials_where(&mut tx, "client_id", client_id.as_str()).await?;
        tx.commit().await.map_err(db_error)?;
        found.pop().ok_or(StoreError::NotFound)
    }

    async fn list_credentials(&self, partner: &PartnerId) -> Result<Vec<Credential>, StoreError> {
        let mut tx = self.read().await?;
        let found = credentials_where(&mut tx, "partner_id", partner.as_str()).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(found)
    }

    async fn add_secret(
        &self,
        client_id: &ClientId,
        secret: &ClientSecret,
        grace_until: DateTime<Utc>,
        at: DateTime<Utc>,
        notification: Option<&Notification>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let Some((partner_id, environment)) = credential_owner(&mut tx, client_id).await? else {
            return Err(StoreError::NotFound);
        };
        // A secret still in an earlier grace period ends now, so at most two are ever live.
        let mut revoked: Vec<String> = sqlx::query_scalar(
            "UPDATE partner_secrets SET revoked_at = ?2, updated_at = ?2 \
             WHERE client_id = ?1 AND revoked_at IS NULL AND expires_at IS NOT NULL \
             AND expires_at > ?2 RETURNING id",
        )
        .bind(client_id.as_str())
        .bind(ts(at))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        revoked.sort();
        let graced = sqlx::query(
            "UPDATE partner_secrets SET expires_at = ?2, updated_at = ?3 \
             WHERE client_id = ?1 AND revoked_at IS NULL AND expires_at IS NULL",
        )
        .bind(client_id.as_str())
        .bind(ts(grace_until))
        .bind(ts(at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        insert_secret(&mut tx, client_id, secret).await?;
        if let Some(n) = notification {
            insert_notification(&mut tx, n).await?;
        }
        let event = Event::new(
            EventData::CredentialsRotated {
                partner_id: partner_id.clone(),
                data: CredentialsRotatedData {
                    client_id: client_id.as_str().to_string(),
                    environment,
                    secret_id: secret.id.clone(),
                    rotated_at: at,
                    previous_secret_expires_at: (graced > 0).then_some(grace_until),
                    revoked_secret_ids: revoked,
                },
            },
            at,
        );
        emit(&mut tx, &event, &Audience::Partner(partner_id), at).await?;
        commit(tx).await
    }

    async fn revoke_secret(
        &self,
        client_id: &ClientId,
        secret_id: &str,
        at: DateTime<Utc>,
        notification: &Notification,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let Some((partner_id, environment)) = credential_owner(&mut tx, client_id).await? else {
            return Err(StoreError::NotFound);
        };
        // `revoked_at IS NULL`: revoking a dead secret again changes nothing and says nothing.
        let was_live: Option<bool> = sqlx::query_scalar(
            "SELECT revoked_at IS NULL FROM partner_secrets WHERE id = ?2 AND client_id = ?1",
        )
        .bind(client_id.as_str())
        .bind(secret_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(was_live) = was_live else {
            return Err(StoreError::NotFound);
        };
        sqlx::query(
            "UPDATE partner_secrets SET revoked_at = COALESCE(revoked_at, ?3), updated_at = ?3 \
             WHERE id = ?2 AND client_id = ?1",
        )
        .bind(client_id.as_str())
        .bind(secret_id)
        .bind(ts(at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_notification(&mut tx, notification).await?;
        if was_live {
            let event = Event::new(
                EventData::CredentialsRevoked {
                    partner_id: partner_id.clone(),
                    data: CredentialsRevokedData {
                        client_id: client_id.as_str().to_string(),
                        environment,
                        secret_id: secret_id.to_string(),
                        revoked_at: at,
                    },
                },
                at,
            );
            emit(&mut tx, &event, &Audience::Partner(partner_id), at).await?;
        }
        commit(tx).await
    }

    async fn create_token(&self, t: &AccessToken) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO partner_tokens (token_sha256, client_id, secret_id, partner_id, \
             environment, scopes, issued_at, expires_at, revoked_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?7, ?7)",
        )
        .bind(&t.token_sha256)
        .bind(t.client_id.as_str())
        .bind(&t.secret_id)
        .bind(t.partner_id.as_str())
        .bind(t.environment.as_str())
        .bind(t.scopes.to_string())
        .bind(ts(t.issued_at))
        .bind(ts(t.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn find_token(&self, token_sha256: &str) -> Result<TokenGrant, StoreError> {
        let r: TokenRow = sqlx::query_as(
            "SELECT t.token_sha256, t.client_id, t.secret_id, t.partner_id, t.environment, \
             t.scopes, t.issued_at, t.expires_at, t.revoked_at, \
             s.expires_at AS secret_expires_at, s.revoked_at AS secret_revoked_at, \
             p.status AS partner_status, p.contract \
             FROM partner_tokens t \
             JOIN partner_secrets s ON s.id = t.secret_id \
             JOIN partners p ON p.id = t.partner_id \
             WHERE t.token_sha256 = ?1",
        )
        .bind(token_sha256)
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        Ok(TokenGrant {
            token: AccessToken {
                token_sha256: r.token_sha256,
                client_id: parse_with("partner_tokens.client_id", &r.client_id, ClientId::parse)?,
                secret_id: r.secret_id,
                partner_id: parse_with(
                    "partner_tokens.partner_id",
                    &r.partner_id,
                    PartnerId::parse,
                )?,
                environment: parse_environment("partner_tokens.environment", &r.environment)?,
                scopes: parse_scopes("partner_tokens.scopes", &r.scopes)?,
                issued_at: parse_ts("partner_tokens.issued_at", &r.issued_at)?,
                expires_at: parse_ts("partner_tokens.expires_at", &r.expires_at)?,
            },
            revoked_at: parse_opt_ts("partner_tokens.revoked_at", r.revoked_at.as_deref())?,
            secret_expires_at: parse_opt_ts(
                "partner_secrets.expires_at",
                r.secret_expires_at.as_deref(),
            )?,
            secret_revoked_at: parse_opt_ts(
                "partner_secrets.revoked_at",
                r.secret_revoked_at.as_deref(),
            )?,
            partner_status: parse_partner_status("partners.status", &r.partner_status)?,
            contract: parse_contract("partners.contract", r.contract.as_deref())?,
        })
    }

    async fn purge_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM partner_tokens WHERE expires_at < ?1")
            .bind(ts(before))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn list_notifications(
        &self,
        partner: &PartnerId,
        page: &PageRequest,
    ) -> Result<Page<Notification>, StoreError> {
        let limit = page_limit(page);
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM partner_notifications \
             WHERE partner_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
        );
        let rows: Vec<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(partner.as_str())
            .bind(page.after.as_deref())
            .bind(i64::from(limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(db_error)?;
        let items = rows
            .into_iter()
            .map(Notification::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |n| n.id.clone()))
    }

    async fn set_email_status(
        &self,
        notification_id: &str,
        status: EmailStatus,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE partner_notifications SET email_status = ?2, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        )
        .bind(notification_id)
        .bind(status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db_error)
    }

    async fn record_email_attempt(
        &self,
        notification_id: &str,
        attempt: &EmailAttempt,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE partner_notifications SET email_status = ?2, email_attempts = ?3, \
             email_next_attempt_at = ?4, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        )
        .bind(notification_id)
        .bind(attempt.status.as_str())
        .bind(i64::from(attempt.attempts))
        .bind(attempt.next_attempt_at.map(ts))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db_error)
    }

    async fn due_mail_retries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<MailRetryQueue, StoreError> {
        // Both queries use partner_notifications_mail_due_idx (its WHERE is repeated so the
        // planner may pick the partial index). `pending` rows are due once their first-send
        // lease is over: the process that wrote them died before sending.
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS}, email_attempts, email_next_attempt_at \
             FROM partner_notifications \
             WHERE email_status IN ('failed', 'pending') AND email_next_attempt_at IS NOT NULL \
             AND email_next_attempt_at <= ?1 ORDER BY email_next_attempt_at, id LIMIT ?2"
        );
        let rows: Vec<MailRetryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ts(now))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(db_error)?;
        let scheduled: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM partner_notifications \
             WHERE email_status IN ('failed', 'pending') AND email_next_attempt_at IS NOT NULL",
        )
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        let due = rows
            .into_iter()
            .map(MailRetry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let waiting = u64::try_from(scheduled)
            .unwrap_or(0)
            .saturating_sub(due.len() as u64);
        Ok(MailRetryQueue { due, waiting })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct MailRetryRow {
    #[sqlx(flatten)]
    notification: NotificationRow,
    email_attempts: i64,
    email_next_attempt_at: String,
}

impl TryFrom<MailRetryRow> for MailRetry {
    type Error = StoreError;

    fn try_from(r: MailRetryRow) -> Result<Self, StoreError> {
        Ok(MailRetry {
            attempts: to_u32("partner_notifications.email_attempts", r.email_attempts)?,
            due: parse_ts(
                "partner_notifications.email_next_attempt_at",
                &r.email_next_attempt_at,
            )?,
            notification: Notification::try_from(r.notification)?,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The partner-account events: written in the transaction of the change, so a change that
    //! fails writes none; seen by the partner concerned only, in both of its feeds.

    use super::*;
    use chrono::TimeZone;
    use openpile_core::event::{EventStore, EventType, FeedEvent, FeedKey, FeedQuery};
    use openpile_core::partner::notification::EmailStatus;
    use openpile_store_contract::partners::{new_application, sandbox_client};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, minute, 0).unwrap()
    }

    fn note(id: &str, partner: &PartnerId) -> Notification {
        Notification {
            id: id.into(),
            partner_id: partner.clone(),
            kind: NotificationKind::ApplicationRejected,
            subject: "s".into(),
            body: "b".into(),
            email_to: Email::parse("p@example.com").unwrap(),
            email_status: EmailStatus::NotConfigured,
            created_at: at(1),
        }
    }

    fn audit(id: &str) -> AuditEntry {
        AuditEntry {
            id: id.into(),
            at: at(1),
            actor: "operator:op".into(),
            action: "partner_application.reject".into(),
            object: "partner_application:a".into(),
            details: "{}".into(),
        }
    }

    fn rejection(revision: u32) -> ApplicationDecision {
        ApplicationDecision {
            id: format!("dec-{revision}"),
            revision,
            outcome: DecisionOutcome::Rejected,
            reason: Some("营业执照不清晰".into()),
            decided_by: "op".into(),
            decided_at: at(2),
            contract: None,
        }
    }

    async fn feed(store: &SqliteStore, partner: &PartnerId, env: Environment) -> Vec<FeedEvent> {
        let key = FeedKey {
            partner_id: partner.clone(),
            environment: env,
        };
        let q = FeedQuery {
            after: 0,
            limit: 100,
            types: vec![],
        };
        store.read_feed(&key, &q).await.unwrap().events
    }

    #[tokio::test]
    async fn a_decision_is_told_to_its_applicant_only_and_only_when_written() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let (one, two) = (new_application(1), new_application(2));
        store.create_application(&one).await.unwrap();
        store.create_application(&two).await.unwrap();
        let p1 = one.partner.id.clone();
        // A stale revision is refused: nothing is decided, nothing is told.
        let stale = store
            .decide_application(
                &one.application_id,
                &rejection(7),
                None,
                &note("n-1", &p1),
                &audit("a-1"),
            )
            .await;
        assert!(
            matches!(stale, Err(StoreError::Conflict { .. })),
            "{stale:?}"
        );
        assert!(feed(&store, &p1, Environment::Sandbox).await.is_empty());
        store
            .decide_application(
                &one.application_id,
                &rejection(1),
                None,
                &note("n-2", &p1),
                &audit("a-2"),
            )
            .await
            .unwrap();
        for env in [Environment::Sandbox, Environment::Production] {
            let events = feed(&store, &p1, env).await;
            assert_eq!(events.len(), 1, "{env:?}");
            assert_eq!(events[0].event_type, EventType::PartnerApplicationDecided);
            assert!(events[0].data.contains("\"outcome\":\"rejected\""));
            assert!(events[0].data.contains("营业执照不清晰"));
            assert!(events[0].data.contains(&one.application_id));
        }
        assert!(
            feed(&store, &two.partner.id, Environment::Sandbox)
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn rotations_and_revocations_are_told_without_secrets() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let app = new_application(3);
        store.create_application(&app).await.unwrap();
        let p = app.partner.id.clone();
        let client = sandbox_client(3);
        let first = app.sandbox.secrets[0].id.clone();
        let new = ClientSecret {
            id: "sec-new".into(),
            hash: "sha256-of-new".into(),
            created_at: at(5),
            expires_at: None,
            revoked_at: None,
        };
        store
            .add_secret(&client, &new, at(35), at(5), None)
            .await
            .unwrap();
        // An unknown client: refused, and nothing told.
        let unknown = ClientId::parse("sbx_unknown").unwrap();
        assert!(
            store
                .add_secret(&unknown, &new, at(35), at(5), None)
                .await
                .is_err()
        );
        store
            .revoke_secret(&client, &first, at(6), &note("n-r", &p))
            .await
            .unwrap();
        // Revoking it again changes nothing and tells nothing.
        store
            .revoke_secret(&client, &first, at(7), &note("n-r2", &p))
            .await
            .unwrap();
        let events = feed(&store, &p, Environment::Production).await;
        let types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(
            types,
            vec![
                EventType::PartnerCredentialsRotated,
                EventType::PartnerCredentialsRevoked
            ]
        );
        let rotated: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
        assert_eq!(rotated["secret_id"], "sec-new");
        assert_eq!(rotated["client_id"], client.as_str());
        assert_eq!(rotated["environment"], "sandbox");
        let until = rotated["previous_secret_expires_at"].as_str().unwrap();
        assert_eq!(DateTime::parse_from_rfc3339(until).unwrap(), at(35));
        assert!(!events[0].data.contains("sha256-of-new"));
        let revoked: serde_json::Value = serde_json::from_str(&events[1].data).unwrap();
        assert_eq!(revoked["secret_id"], first.as_str());
        assert_eq!(feed(&store, &p, Environment::Sandbox).await.len(), 2);
    }

    /// Migration 0008 turns a contract's single `revenue_share` into the same rate on every
    /// fee, and leaves per-fee contracts alone (so running it on new data changes nothing).
    #[tokio::test]
    async fn failed_emails_are_found_again_when_their_retry_is_due() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let (one, two) = (new_application(1), new_application(2));
        store.create_application(&one).await.unwrap();
        store.create_application(&two).await.unwrap();
        let failed = |attempts, next| EmailAttempt {
            status: EmailStatus::Failed,
            attempts,
            next_attempt_at: next,
        };
        store
            .record_email_attempt(&one.notification.id, &failed(1, Some(at(10))))
            .await
            .unwrap();
        store
            .record_email_attempt(&two.notification.id, &failed(2, Some(at(5))))
            .await
            .unwrap();
        // Not due yet: both wait.
        let q = store.due_mail_retries(at(4), 10).await.unwrap();
        assert_eq!((q.due.len(), q.waiting), (0, 2));
        // Due ones come earliest first, with their attempts and the whole notification.
        let q = store.due_mail_retries(at(10), 10).await.unwrap();
        let due: Vec<_> = q
            .due
            .iter()
            .map(|r| (r.notification.id.as_str(), r.attempts, r.due))
            .collect();
        assert_eq!(
            due,
            [
                (two.notification.id.as_str(), 2, at(5)),
                (one.notification.id.as_str(), 1, at(10))
            ]
        );
        assert_eq!(
            q.due[1].notification,
            Notification {
                email_status: EmailStatus::Failed,
                ..one.notification.clone()
            }
        );
        // The limit bounds a round; the rest count as waiting.
        let q = store.due_mail_retries(at(10), 1).await.unwrap();
        assert_eq!((q.due.len(), q.waiting), (1, 1));
        // Sent, or failed for the last time: no longer scheduled.
        store
            .record_email_attempt(
                &two.notification.id,
                &EmailAttempt {
                    status: EmailStatus::Sent,
                    attempts: 3,
                    next_attempt_at: None,
                },
            )
            .await
            .unwrap();
        store
            .record_email_attempt(&one.notification.id, &failed(5, None))
            .await
            .unwrap();
        let q = store.due_mail_retries(at(59), 10).await.unwrap();
        assert_eq!((q.due.len(), q.waiting), (0, 0));
        assert!(matches!(
            store.record_email_attempt("nope", &failed(1, None)).await,
            Err(StoreError::NotFound)
        ));
    }

    /// A `pending` e-mail is scheduled a lease after it is written: not due while the inline
    /// send may still run, due after (its process died), and cleared by the inline send.
    #[tokio::test]
    async fn pending_emails_are_due_once_their_first_send_lease_is_over() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let pending = |n| {
            let mut new = new_application(n);
            new.notification.email_status = EmailStatus::Pending;
            new.notification.created_at = at(0);
            new
        };
        let (one, two) = (pending(1), pending(2));
        store.create_application(&one).await.unwrap();
        store.create_application(&two).await.unwrap();
        // Within the lease the inline send owns them: not due, but counted as waiting.
        let lease_end = at(0) + FIRST_SEND_LEASE;
        let q = store
            .due_mail_retries(lease_end - chrono::TimeDelta::seconds(1), 10)
            .await
            .unwrap();
        assert_eq!((q.due.len(), q.waiting), (0, 2));
        // The inline send of `one` happens and is recorded: it is no longer scheduled.
        store
            .record_email_attempt(
                &one.notification.id,
                &EmailAttempt {
                    status: EmailStatus::Sent,
                    attempts: 1,
                    next_attempt_at: None,
                },
            )
            .await
            .unwrap();
        // `two` was never sent (its process died): due at the end of the lease, untried.
        let q = store.due_mail_retries(lease_end, 10).await.unwrap();
        assert_eq!(q.waiting, 0);
        let due: Vec<_> = q
            .due
            .iter()
            .map(|r| (r.notification.id.as_str(), r.attempts, r.due))
            .collect();
        assert_eq!(due, [(two.notification.id.as_str(), 0, lease_end)]);
        assert_eq!(q.due[0].notification, two.notification);
        // Without a mailer nothing is sent, so nothing is scheduled.
        let three = new_application(3);
        store.create_application(&three).await.unwrap();
        let q = store.due_mail_retries(at(59), 10).await.unwrap();
        assert_eq!((q.due.len(), q.waiting), (1, 0));
    }

    #[tokio::test]
    async fn migration_0011_schedules_emails_left_pending_before_it() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let mut one = new_application(1);
        one.notification.email_status = EmailStatus::Pending;
        store.create_application(&one).await.unwrap();
        // As a database written before 0011 holds it: pending, with no schedule.
        sqlx::query("UPDATE partner_notifications SET email_next_attempt_at = NULL")
            .execute(store.pool())
            .await
            .unwrap();
        let later = Utc::now() + chrono::TimeDelta::minutes(1);
        assert_eq!(
            store.due_mail_retries(later, 10).await.unwrap().due.len(),
            0
        );
        let sql = include_str!("../migrations/0011_mail_pending.sql");
        let update = sql
            .split(';')
            .find(|s| s.contains("UPDATE partner_notifications"))
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(update.to_owned()))
            .execute(store.pool())
            .await
            .unwrap();
        let q = store.due_mail_retries(later, 10).await.unwrap();
        assert_eq!(q.due.len(), 1);
        assert_eq!(q.due[0].attempts, 0);
        assert_eq!(q.due[0].notification.email_status, EmailStatus::Pending);
    }

    #[tokio::test]
    async fn migration_0010_schedules_emails_that_failed_before_it() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let one = new_application(1);
        store.create_application(&one).await.unwrap();
        store
            .set_email_status(&one.notification.id, EmailStatus::Failed)
            .await
            .unwrap();
        // As a database written before 0010 holds it: failed, with no schedule.
        sqlx::query(
            "UPDATE partner_notifications SET email_attempts = 0, email_next_attempt_at = NULL",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let sql = include_str!("../migrations/0010_mail_retry.sql");
        let update = sql
            .split(';')
            .find(|s| s.contains("UPDATE partner_notifications"))
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(update.to_owned()))
            .execute(store.pool())
            .await
            .unwrap();
        let q = store
            .due_mail_retries(Utc::now() + chrono::TimeDelta::minutes(1), 10)
            .await
            .unwrap();
        assert_eq!(q.due.len(), 1);
        assert_eq!(q.due[0].attempts, 1);
    }

    #[tokio::test]
    async fn migration_0008_gives_old_contracts_their_rate_on_every_fee() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let legacy = r#"{"station_scope":{"kind":"all"},"revenue_share":"0.05",
            "rate_limit":{"requests_per_second":10,"burst":10},"settlement_cycle":"monthly",
            "scopes":["stations:read"]}"#;
        let current = legacy.replace(
            r#""revenue_share":"0.05""#,
            r#""revenue_share":{"electricity":"0","service":"0.1","idle":"0"}"#,
        );
        for (id, contract) in [("OLD", legacy.to_string()), ("NEW", current)] {
            sqlx::query(
                "INSERT INTO partners (id, name, application_id, email, status, contract, \
                 created_at, updated_at) VALUES (?1, ?1, 'app', 'p@example.com', 'active', ?2, \
                 '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
            )
            .bind(id)
            .bind(contract)
            .execute(store.pool())
            .await
            .unwrap();
        }
        sqlx::raw_sql(include_str!("../migrations/0008_revenue_terms.sql"))
            .execute(store.pool())
            .await
            .unwrap();
        let share = |id: &'static str| {
            let store = store.clone();
            async move {
                store
                    .get_partner(&PartnerId::parse(id).unwrap())
                    .await
                    .unwrap()
                    .contract
                    .unwrap()
                    .revenue_share
            }
        };
        let old = share("OLD").await;
        assert_eq!(old.electricity.to_string(), "0.05");
        assert_eq!(old.electricity, old.service);
        assert_eq!(old.service, old.idle);
        let new = share("NEW").await;
        assert_eq!(new.to_string(), "electricity 0 · service 0.1 · idle 0");
    }
}
