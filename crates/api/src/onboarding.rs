//! Becoming a partner: the public application (`POST /v1/partner-applications`), reading and
//! correcting it (`GET`/`PUT`, signed in with the applicant account or a token of the same
//! partner), and the notifications we recorded for the applicant.

use axum::Json;
use axum::extract::RawQuery;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use openpile_core::page::PageRequest;
use openpile_core::partner::application::{
    Application, ApplicationForm, ApplicationInput, ApplicationRevision, ApplicationStatus,
    DecisionOutcome,
};
use openpile_core::partner::notification::{EmailStatus, Notification, NotificationKind};
use openpile_core::partner::service::IssuedSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{ApiError, ApiProblem};
use crate::extract::{AccountAuth, IdPath, JsonBody, QueryMap};
use crate::paging::{Cursor, page_limit};

/// A new application, with the password of the applicant account it creates. (No `Debug`:
/// the password must not reach a log.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "company_name": "上海示例出行科技有限公司",
    "unified_social_credit_code": "91440300708461136T",
    "legal_representative": "张伟",
    "contact_name": "李娜",
    "mobile": "+86 138 0013 8000",
    "email": "integration@partner.example.com",
    "password": "correct horse battery staple",
    "website": "https://partner.example.com",
    "intended_use": "Show stations and live status in our app; start and stop charging for our users.",
    "expected_monthly_volume": 20000,
    "callback_base_url": "https://partner.example.com/openpile"
}))]
pub struct ApplicationSubmission {
    /// 1–100 characters.
    pub company_name: String,
    /// 18 characters, check character valid per GB 32100-2015.
    pub unified_social_credit_code: String,
    pub legal_representative: String,
    pub contact_name: String,
    /// Mainland China mobile number (11 digits, `+86` optional).
    pub mobile: String,
    /// The account's login; notifications go here.
    pub email: String,
    /// At least 12 characters (NIST SP 800-63B); stored as an argon2id hash.
    pub password: String,
    #[serde(default)]
    pub website: Option<String>,
    pub intended_use: String,
    /// Charging sessions per month the partner expects.
    pub expected_monthly_volume: u64,
    /// Base URL of the partner's callbacks (webhooks), http(s).
    pub callback_base_url: String,
}

/// A corrected application (the same fields, without the password; the e-mail must stay).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationCorrection {
    pub company_name: String,
    pub unified_social_credit_code: String,
    pub legal_representative: String,
    pub contact_name: String,
    pub mobile: String,
    pub email: String,
    #[serde(default)]
    pub website: Option<String>,
    pub intended_use: String,
    pub expected_monthly_volume: u64,
    pub callback_base_url: String,
}

impl ApplicationCorrection {
    fn input(self) -> ApplicationInput {
        ApplicationInput {
            company_name: self.company_name,
            unified_social_credit_code: self.unified_social_credit_code,
            legal_representative: self.legal_representative,
            contact_name: self.contact_name,
            mobile: self.mobile,
            email: self.email,
            website: self.website,
            intended_use: self.intended_use,
            expected_monthly_volume: self.expected_monthly_volume,
            callback_base_url: self.callback_base_url,
        }
    }
}

/// The form as we keep it (normalised: mobile as 11 digits, e-mail lower case).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationFormView {
    pub company_name: String,
    pub unified_social_credit_code: String,
    pub legal_representative: String,
    pub contact_name: String,
    pub mobile: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    pub intended_use: String,
    pub expected_monthly_volume: u64,
    pub callback_base_url: String,
}

impl From<&ApplicationForm> for ApplicationFormView {
    fn from(f: &ApplicationForm) -> Self {
        let i = f.to_input();
        Self {
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
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub number: u32,
    pub submitted_at: DateTime<Utc>,
    pub form: ApplicationFormView,
}

impl From<&ApplicationRevision> for RevisionView {
    fn from(r: &ApplicationRevision) -> Self {
        Self {
            number: r.number,
            submitted_at: r.submitted_at,
            form: (&r.form).into(),
        }
    }
}

/// A review decision as the applicant sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    /// The revision decided on.
    pub revision: u32,
    /// `approved` or `rejected`.
    #[schema(example = "rejected")]
    pub outcome: &'static str,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// An application with its history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d",
    "partner_id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8e",
    "status": "rejected",
    "revision": 1,
    "rejection_reason": "营业执照照片不清晰 / the licence scan is unreadable",
    "created_at": "2026-11-28T09:00:00.000Z",
    "updated_at": "2026-11-29T10:00:00.000Z",
    "form": {"company_name": "上海示例出行科技有限公司", "unified_social_credit_code": "91440300708461136T",
             "legal_representative": "张伟", "contact_name": "李娜", "mobile": "13800138000",
             "email": "integration@partner.example.com", "intended_use": "…",
             "expected_monthly_volume": 20000, "callback_base_url": "https://partner.example.com/openpile"},
    "revisions": [],
    "decisions": [{"revision": 1, "outcome": "rejected", "reason": "营业执照照片不清晰 / the licence scan is unreadable", "decided_at": "2026-11-29T10:00:00.000Z"}]
}))]
pub struct ApplicationView {
    pub id: String,
    pub partner_id: String,
    /// `pending`, `approved` or `rejected`.
    #[schema(example = "pending")]
    pub status: &'static str,
    /// The latest revision's number.
    pub revision: u32,
    /// The reviewer's reason, while the application is rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest revision's form.
    pub form: Option<ApplicationFormView>,
    /// Every revision, oldest first.
    pub revisions: Vec<RevisionView>,
    /// Every decision, oldest first.
    pub decisions: Vec<DecisionView>,
}

pub(crate) fn status_name(s: ApplicationStatus) -> &'static str {
    s.as_str()
}

impl From<&Application> for ApplicationView {
    fn from(a: &Application) -> Self {
        Self {
            id: a.id.clone(),
            partner_id: a.partner_id.to_string(),
            status: status_name(a.status),
            revision: a.revision,
            rejection_reason: a.rejection_reason().map(str::to_owned),
            created_at: a.created_at,
            updated_at: a.updated_at,
            form: a.current().map(|r| (&r.form).into()),
            revisions: a.revisions.iter().map(RevisionView::from).collect(),
            decisions: a
                .decisions
                .iter()
                .map(|d| DecisionView {
                    revision: d.revision,
                    outcome: match d.outcome {
                        DecisionOutcome::Approved => "approved",
                        DecisionOutcome::Rejected => "rejected",
                    },
                    reason: d.reason.clone(),
                    decided_at: d.decided_at,
                })
                .collect(),
        }
    }
}

/// A client secret, shown exactly this once. (No `Debug`: it must not reach a log.)
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "client_id": "sbx_0193b2a46c1e7d1a9f1e3c2b1a0f9e8d",
    "client_secret": "opsk_3q2-7wEXAMPLEonlyEXAMPLEonlyEXAMPLEonly0",
    "secret_id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e90",
    "environment": "sandbox",
    "scopes": ["stations:read", "charging:write", "events:read", "settlement:write"],
    "token_url": "/oauth/token"
}))]
pub struct IssuedSecretView {
    pub client_id: String,
    /// 256 random bits. Store it now: it is never shown again.
    pub client_secret: String,
    pub secret_id: String,
    /// `sandbox` or `production`.
    #[schema(example = "sandbox")]
    pub environment: &'static str,
    pub scopes: Vec<&'static str>,
    /// Where to exchange it for access tokens.
    pub token_url: &'static str,
    /// When the secrets this one replaced stop working (rotations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secrets_expire_at: Option<DateTime<Utc>>,
}

impl From<IssuedSecret> for IssuedSecretView {
    fn from(s: IssuedSecret) -> Self {
        Self {
            client_id: s.client_id.to_string(),
            client_secret: s.client_secret,
            secret_id: s.secret_id,
            environment: s.environment.as_str(),
            scopes: s.scopes.iter().map(|x| x.as_str()).collect(),
            token_url: "/oauth/token",
            previous_secrets_expire_at: s.previous_expires_at,
        }
    }
}

/// The answer to a new application.
#[derive(Serialize, ToSchema)]
pub struct ApplicationCreated {
    pub application: ApplicationView,
    /// Sandbox credentials, usable at once against sandbox stations.
    pub sandbox_credentials: IssuedSecretView,
}

/// Applies to become a partner. Creates the applicant account and returns the application
/// (status `pending`) with sandbox credentials, shown once.
#[utoipa::path(
    post,
    path = "/v1/partner-applications",
    tag = "onboarding",
    security(()),
    request_body = ApplicationSubmission,
    responses(
        (status = 201, description = "Application received; sandbox credentials issued", body = ApplicationCreated),
        (status = 400, description = "`bad_request`: the body is not JSON", body = ApiProblem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the e-mail has an account, or the company has applied already", body = ApiProblem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `field` names the invalid field; nothing was stored", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many applications right now", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn submit_application(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<ApplicationSubmission>,
) -> Result<(StatusCode, Json<ApplicationCreated>), ApiError> {
    // Validate before the limiter, so a typo does not cost a slot.
    let input = ApplicationInput {
        company_name: body.company_name,
        unified_social_credit_code: body.unified_social_credit_code,
        legal_representative: body.legal_representative,
        contact_name: body.contact_name,
        mobile: body.mobile,
        email: body.email,
        website: body.website,
        intended_use: body.intended_use,
        expected_monthly_volume: body.expected_monthly_volume,
        callback_base_url: body.callback_base_url,
    };
    ApplicationForm::validate(&input)?;
    openpile_core::operator::validate_password("password", &body.password)?;
    state
        .limiter
        .check_application()
        .map_err(|retry_after_s| ApiError::RateLimited { retry_after_s })?;
    let submitted = state.partners.apply(&input, &body.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApplicationCreated {
            application: (&submitted.application).into(),
            sandbox_credentials: submitted.sandbox.into(),
        }),
    ))
}

/// The applicant's own application: status, the reviewer's reason when rejected, and every
/// revision and decision.
#[utoipa::path(
    get,
    path = "/v1/partner-applications/{id}",
    tag = "onboarding",
    params(("id" = String, Path, description = "Application id")),
    security(("applicant_basic" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The application", body = ApplicationView),
        (status = 400, description = "`bad_request`: a malformed path segment", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`, `invalid_credentials` or a token error", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such application of this applicant", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_application(
    State(state): State<ApiState>,
    auth: AccountAuth,
    IdPath(id): IdPath,
) -> Result<Json<ApplicationView>, ApiError> {
    let app = state
        .partners
        .application_for(&auth.partner_id, &id)
        .await?;
    Ok(Json((&app).into()))
}

/// Resubmits a corrected application: a new revision, pending review again (not once
/// approved).
#[utoipa::path(
    put,
    path = "/v1/partner-applications/{id}",
    tag = "onboarding",
    params(("id" = String, Path, description = "Application id")),
    security(("applicant_basic" = []), ("oauth2" = [])),
    request_body = ApplicationCorrection,
    responses(
        (status = 200, description = "The application with its new revision", body = ApplicationView),
        (status = 400, description = "`bad_request`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`, `invalid_credentials` or a token error", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state` (already approved) or `conflict` (changed meanwhile; company code taken)", body = ApiProblem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `field` names the invalid field; nothing was stored", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn resubmit_application(
    State(state): State<ApiState>,
    auth: AccountAuth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<ApplicationCorrection>,
) -> Result<Json<ApplicationView>, ApiError> {
    let app = state
        .partners
        .resubmit(&auth.partner_id, &id, &body.input())
        .await?;
    Ok(Json((&app).into()))
}

/// A notification we recorded (and e-mailed, when mail is configured).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    /// `application_received`, `application_resubmitted`, `application_approved`,
    /// `application_rejected`, `partner_suspended`, `partner_resumed`, `secret_rotated`,
    /// `secret_revoked`.
    #[schema(example = "application_rejected")]
    pub kind: &'static str,
    pub subject: String,
    pub body: String,
    /// `not_configured` (recorded only), `pending`, `sent` or `failed`. A failed e-mail is
    /// tried again with backoff (5 attempts in all by default); it stays `failed` only if the
    /// last attempt failed too. Subject and body are in Chinese and English.
    #[schema(example = "not_configured")]
    pub email_status: &'static str,
    pub created_at: DateTime<Utc>,
}

fn kind_name(k: NotificationKind) -> &'static str {
    k.as_str()
}

fn email_status_name(s: EmailStatus) -> &'static str {
    s.as_str()
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: kind_name(n.kind),
            subject: n.subject,
            body: n.body,
            email_status: email_status_name(n.email_status),
            created_at: n.created_at,
        }
    }
}

/// One page of notifications, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The notifications of the applicant or partner, newest first.
#[utoipa::path(
    get,
    path = "/v1/notifications",
    tag = "onboarding",
    security(("applicant_basic" = []), ("oauth2" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "1–100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationPage),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`, `invalid_credentials` or a token error", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_notifications(
    State(state): State<ApiState>,
    auth: AccountAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<NotificationPage>, ApiError> {
    let q = QueryMap::parse(query.as_deref(), &["limit", "cursor"])?;
    let limit = page_limit(q.get("limit"), 20, 100)?;
    let after = match q.get("cursor") {
        None => None,
        Some(c) => match Cursor::decode(c)? {
            Cursor::Notification(id) => Some(id),
            _ => {
                return Err(ApiError::InvalidCursor(
                    "was issued for another list".into(),
                ));
            }
        },
    };
    let page = state
        .partners
        .notifications(
            &auth.partner_id,
            &PageRequest {
                limit: limit as u32,
                after,
            },
        )
        .await?;
    Ok(Json(NotificationPage {
        next_cursor: page.next.map(|n| Cursor::Notification(n).encode()),
        items: page.items.into_iter().map(NotificationView::from).collect(),
    }))
}
