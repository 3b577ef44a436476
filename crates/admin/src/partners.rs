//! Operator review of partners (issue 4): the application queue, approval with contract terms,
//! rejection with a required reason, and suspending or resuming a partner. Reviewers and
//! admins decide; any operator may read. Every decision is audited by the partner service in
//! the same transaction as the decision itself (who, when, what).
//!
//! These routes need the process's one `PartnerService` (shared with the Open API, so that a
//! suspension evicts that face's token cache at once); they get their own state,
//! [`PartnersAdminState`], from which the admin extractors still find [`AdminState`].

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::ids::{PartnerId, StationId};
use openpile_core::money::parse_plain_decimal;
use openpile_core::operator::OperatorRole;
use openpile_core::partner::application::{Application, ApplicationStatus, DecisionOutcome};
use openpile_core::partner::contract::{
    Contract, RateLimit, RevenueShare, SettlementCycle, ShareRate, StationScope,
};
use openpile_core::partner::credential::{Partner, ScopeSet};
use openpile_core::partner::service::PartnerService;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AdminState;
use crate::auth::OperatorAuth;
use crate::error::{AdminError, Problem, add_request_id};
use crate::extract::{DecimalText, IdPath, JsonBody, PageDto, PageParams, QueryParams};

/// The admin state plus the partner service.
#[derive(Clone)]
pub struct PartnersAdminState {
    pub admin: AdminState,
    pub partners: Arc<PartnerService>,
}

impl FromRef<PartnersAdminState> for AdminState {
    fn from_ref(s: &PartnersAdminState) -> AdminState {
        s.admin.clone()
    }
}

/// The partner review routes (`/admin/v1/partner-applications…`, `/admin/v1/partners…`).
pub fn router(state: PartnersAdminState) -> Router {
    Router::new()
        .route("/admin/v1/partner-applications", get(list_applications))
        .route("/admin/v1/partner-applications/{id}", get(get_application))
        .route(
            "/admin/v1/partner-applications/{id}/approve",
            post(approve_application),
        )
        .route(
            "/admin/v1/partner-applications/{id}/reject",
            post(reject_application),
        )
        .route("/admin/v1/partners", get(list_partners))
        .route("/admin/v1/partners/{id}", get(get_partner))
        .route("/admin/v1/partners/{id}/suspend", post(suspend_partner))
        .route("/admin/v1/partners/{id}/resume", post(resume_partner))
        .layer(middleware::from_fn(add_request_id))
        .with_state(state)
}

/// These routes' OpenAPI description, to merge with the rest of the admin API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    PartnersAdminApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_applications,
        get_application,
        approve_application,
        reject_application,
        list_partners,
        get_partner,
        suspend_partner,
        resume_partner,
    ),
    tags((name = "admin-partners", description = "Partner applications and partners: review (reviewer or admin), suspension. Decisions are audited and the applicant is notified."))
)]
struct PartnersAdminApi;

fn require_reviewer(auth: &OperatorAuth) -> Result<(), AdminError> {
    if matches!(
        auth.operator.role,
        OperatorRole::Admin | OperatorRole::Reviewer
    ) {
        Ok(())
    } else {
        Err(AdminError::Forbidden {
            needed: "admin or reviewer",
        })
    }
}

// ---- wire types --------------------------------------------------------------------------------

/// Contract terms as an operator writes them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "station_scope": {"kind": "list", "station_ids": ["SH-0001", "SH-0002"]},
    "revenue_share": {"electricity": "0", "service": "0.10", "idle": "0"},
    "rate_limit": {"requests_per_second": 50, "burst": 100},
    "settlement_cycle": "monthly",
    "scopes": ["stations:read", "charging:write", "events:read", "settlement:write"]
}))]
pub struct ContractTermsInput {
    pub station_scope: StationScopeInput,
    /// The partner's commission on each fee its users pay, in force from approval; later
    /// changes are scheduled with `POST /admin/v1/partners/{id}/settlement-terms`.
    pub revenue_share: RevenueShareInput,
    pub rate_limit: RateLimitInput,
    /// `daily`, `weekly` or `monthly`.
    pub settlement_cycle: String,
    /// Scopes of the production credentials; all four when absent.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// The revenue share: per fee, the fraction 0–1 (at most 4 decimals, as a string to keep it
/// exact) that the partner keeps as its commission; the operator is due the rest. The example:
/// the partner keeps 10 % of the service fee and passes on every electricity and idle fee.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"electricity": "0", "service": "0.10", "idle": "0"}))]
pub struct RevenueShareInput {
    #[schema(value_type = String, example = "0")]
    pub electricity: DecimalText,
    #[schema(value_type = String, example = "0.10")]
    pub service: DecimalText,
    #[schema(value_type = String, example = "0")]
    pub idle: DecimalText,
}

/// The revenue share as stored: the partner's commission rate on each fee.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueShareView {
    #[schema(example = "0")]
    pub electricity: String,
    #[schema(example = "0.1")]
    pub service: String,
    #[schema(example = "0")]
    pub idle: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationScopeInput {
    /// `all` (every non-sandbox station, present and future) or `list`.
    pub kind: String,
    /// With `list`: the stations, at most 10 000.
    #[serde(default)]
    pub station_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitInput {
    pub requests_per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The revision reviewed; when given, approval fails with 409 if the applicant has
    /// resubmitted since.
    #[serde(default)]
    pub revision: Option<u32>,
    pub contract: ContractTermsInput,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"revision": 1, "reason": "营业执照照片不清晰，请重新上传 / the licence scan is unreadable"}))]
pub struct RejectRequest {
    #[serde(default)]
    pub revision: Option<u32>,
    /// Required; shown to the applicant as written.
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Required; recorded in the audit trail and sent to the partner.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractTerms {
    /// `all`, or the station ids.
    #[schema(value_type = Object)]
    pub station_scope: serde_json::Value,
    pub revenue_share: RevenueShareView,
    pub rate_limit: RateLimitView,
    pub settlement_cycle: &'static str,
    pub scopes: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitView {
    pub requests_per_second: u32,
    pub burst: u32,
}

fn contract_terms(c: &Contract) -> ContractTerms {
    ContractTerms {
        station_scope: match &c.station_scope {
            StationScope::All => serde_json::json!({"kind": "all"}),
            StationScope::List { station_ids } => serde_json::json!({
                "kind": "list",
                "station_ids": station_ids.iter().map(StationId::as_str).collect::<Vec<_>>(),
            }),
        },
        revenue_share: RevenueShareView {
            electricity: c.revenue_share.electricity.to_string(),
            service: c.revenue_share.service.to_string(),
            idle: c.revenue_share.idle.to_string(),
        },
        rate_limit: RateLimitView {
            requests_per_second: c.rate_limit.requests_per_second,
            burst: c.rate_limit.burst,
        },
        settlement_cycle: c.settlement_cycle.as_str(),
        scopes: c.scopes.iter().map(|s| s.as_str()).collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewRevision {
    pub number: u32,
    pub submitted_at: DateTime<Utc>,
    /// The form fields as submitted (normalised).
    #[schema(value_type = Object)]
    pub form: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewDecision {
    pub id: String,
    pub revision: u32,
    #[schema(example = "approved")]
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The operator account that decided.
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractTerms>,
}

/// An application with its whole history, as reviewers see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewApplication {
    pub id: String,
    pub partner_id: String,
    #[schema(example = "pending")]
    pub status: &'static str,
    pub revision: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revisions: Vec<ReviewRevision>,
    pub decisions: Vec<ReviewDecision>,
}

fn review_application(a: &Application) -> ReviewApplication {
    ReviewApplication {
        id: a.id.clone(),
        partner_id: a.partner_id.to_string(),
        status: a.status.as_str(),
        revision: a.revision,
        created_at: a.created_at,
        updated_at: a.updated_at,
        revisions: a
            .revisions
            .iter()
            .map(|r| ReviewRevision {
                number: r.number,
                submitted_at: r.submitted_at,
                form: serde_json::to_value(&r.form).unwrap_or_default(),
            })
            .collect(),
        decisions: a
            .decisions
            .iter()
            .map(|d| ReviewDecision {
                id: d.id.clone(),
                revision: d.revision,
                outcome: match d.outcome {
                    DecisionOutcome::Approved => "approved",
                    DecisionOutcome::Rejected => "rejected",
                },
                reason: d.reason.clone(),
                decided_by: d.decided_by.clone(),
                decided_at: d.decided_at,
                contract: d.contract.as_ref().map(contract_terms),
            })
            .collect(),
    }
}

/// A partner as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerAccount {
    pub id: String,
    pub name: String,
    pub application_id: String,
    pub email: String,
    /// `applicant`, `active` or `suspended`.
    #[schema(example = "active")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractTerms>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspension_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn partner_account(p: &Partner) -> PartnerAccount {
    PartnerAccount {
        id: p.id.to_string(),
        name: p.name.clone(),
        application_id: p.application_id.clone(),
        email: p.email.as_str().to_string(),
        status: p.status.as_str(),
        contract: p.contract.as_ref().map(contract_terms),
        suspended_at: p.suspended_at,
        suspension_reason: p.suspension_reason.clone(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// The result of an approval.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalResult {
    pub application: ReviewApplication,
    pub partner: PartnerAccount,
    /// The production client id. Its secret is issued to the partner (never to the operator)
    /// when it calls `POST /v1/credentials/rotate`.
    pub production_client_id: String,
}

// ---- contract validation ----------------------------------------------------------------------

/// The per-fee rates, each a fraction 0–1 with at most 4 decimals; errors name the fee
/// (`contract.revenue_share.service`).
fn revenue_share(input: &RevenueShareInput) -> Result<RevenueShare, AdminError> {
    let rate = |fee: &str, text: &DecimalText| {
        let field = format!("revenue_share.{fee}");
        parse_plain_decimal(&field, &text.0)
            .and_then(|d| ShareRate::new(&field, d))
            .map_err(|e| AdminError::validation(format!("contract.{}", e.field), e.reason))
    };
    Ok(RevenueShare::per_fee(
        rate("electricity", &input.electricity)?,
        rate("service", &input.service)?,
        rate("idle", &input.idle)?,
    ))
}

async fn contract(
    state: &PartnersAdminState,
    t: ContractTermsInput,
) -> Result<Contract, AdminError> {
    let station_scope = match (t.station_scope.kind.as_str(), t.station_scope.station_ids) {
        ("all", None) => StationScope::All,
        ("all", Some(_)) => {
            return Err(AdminError::validation(
                "contract.station_scope.station_ids",
                "must be absent when kind is all",
            ));
        }
        ("list", Some(ids)) => {
            let mut parsed = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                let field = format!("contract.station_scope.station_ids[{i}]");
                let sid =
                    StationId::parse(id).map_err(|e| AdminError::validation(&field, e.reason))?;
                // Only real stations of the network: a sandbox or unknown id is a typo.
                match state.admin.network.get_station(&sid).await {
                    Ok(s) if s.sandbox => {
                        return Err(AdminError::validation(
                            &field,
                            "is a sandbox station; production scopes hold real stations",
                        ));
                    }
                    Ok(_) => {}
                    Err(StoreError::NotFound) => {
                        return Err(AdminError::validation(&field, "is not a known station"));
                    }
                    Err(e) => return Err(e.into()),
                }
                parsed.push(sid);
            }
            StationScope::list(parsed)
                .map_err(|e| AdminError::validation(format!("contract.{}", e.field), e.reason))?
        }
        ("list", None) => {
            return Err(AdminError::validation(
                "contract.station_scope.station_ids",
                "is required when kind is list",
            ));
        }
        _ => {
            return Err(AdminError::validation(
                "contract.station_scope.kind",
                "must be all or list",
            ));
        }
    };
    let within = |e: openpile_core::error::ValidationError| {
        AdminError::validation(format!("contract.{}", e.field), e.reason)
    };
    let revenue_share = revenue_share(&t.revenue_share)?;
    let rate_limit =
        RateLimit::new(t.rate_limit.requests_per_second, t.rate_limit.burst).map_err(within)?;
    let settlement_cycle = SettlementCycle::parse(&t.settlement_cycle).map_err(within)?;
    let scopes = match t.scopes {
        None => ScopeSet::all(),
        Some(names) => ScopeSet::from_names("scopes", &names).map_err(within)?,
    };
    Ok(Contract {
        station_scope,
        revenue_share,
        rate_limit,
        settlement_cycle,
        scopes,
    })
}

fn partner_id(id: &str) -> Result<PartnerId, AdminError> {
    PartnerId::parse(id).map_err(|_| AdminError::not_found("partner", id))
}

// ---- handlers ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplicationListParams {
    /// `pending`, `approved` or `rejected`.
    pub status: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// Applications by id (= submission order), optionally by status: the review queue is
/// `status=pending`.
#[utoipa::path(
    get,
    path = "/admin/v1/partner-applications",
    tag = "admin-partners",
    security(("bearer" = [])),
    params(ApplicationListParams),
    responses(
        (status = 200, description = "A page of applications", body = PageDto<ReviewApplication>),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_applications(
    State(state): State<PartnersAdminState>,
    _auth: OperatorAuth,
    QueryParams(params): QueryParams<ApplicationListParams>,
) -> Result<Json<PageDto<ReviewApplication>>, AdminError> {
    let status = match params.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(ApplicationStatus::parse(s).ok_or_else(|| {
            AdminError::invalid_query("status", "must be pending, approved or rejected")
        })?),
    };
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .to_request()?;
    let found = state.partners.list_applications(status, &page).await?;
    Ok(Json(PageDto::from_page(found, |a| review_application(&a))))
}

/// One application with every revision and decision.
#[utoipa::path(
    get,
    path = "/admin/v1/partner-applications/{id}",
    tag = "admin-partners",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Application id")),
    responses(
        (status = 200, description = "The application", body = ReviewApplication),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_application(
    State(state): State<PartnersAdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<ReviewApplication>, AdminError> {
    let app = state.partners.application(&id).await?;
    Ok(Json(review_application(&app)))
}

/// Approves the latest revision under the given contract: the partner becomes active and gets
/// a production client id. Audited; the applicant is notified.
#[utoipa::path(
    post,
    path = "/admin/v1/partner-applications/{id}/approve",
    tag = "admin-partners",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Application id")),
    request_body = ApproveRequest,
    responses(
        (status = 200, description = "Approved", body = ApprovalResult),
        (status = 400, description = "`bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs reviewer or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: not pending (`invalid_state`), or resubmitted since `revision`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `field` names the contract term", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn approve_application(
    State(state): State<PartnersAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<ApproveRequest>,
) -> Result<Json<ApprovalResult>, AdminError> {
    require_reviewer(&auth)?;
    let contract = contract(&state, body.contract).await?;
    let approved = state
        .partners
        .approve(&id, body.revision, contract, &auth.operator.id)
        .await?;
    Ok(Json(ApprovalResult {
        application: review_application(&approved.application),
        partner: partner_account(&approved.partner),
        production_client_id: approved.production_client_id.to_string(),
    }))
}

/// Rejects the latest revision with a reason the applicant reads. Audited; the applicant is
/// notified and may resubmit.
#[utoipa::path(
    post,
    path = "/admin/v1/partner-applications/{id}/reject",
    tag = "admin-partners",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Application id")),
    request_body = RejectRequest,
    responses(
        (status = 200, description = "Rejected", body = ReviewApplication),
        (status = 400, description = "`bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: not pending, or resubmitted since `revision`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `reason` is required", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn reject_application(
    State(state): State<PartnersAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<RejectRequest>,
) -> Result<Json<ReviewApplication>, AdminError> {
    require_reviewer(&auth)?;
    let app = state
        .partners
        .reject(&id, body.revision, &body.reason, &auth.operator.id)
        .await?;
    Ok(Json(review_application(&app)))
}

/// Partners by id.
#[utoipa::path(
    get,
    path = "/admin/v1/partners",
    tag = "admin-partners",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of partners", body = PageDto<PartnerAccount>),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_partners(
    State(state): State<PartnersAdminState>,
    _auth: OperatorAuth,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<PageDto<PartnerAccount>>, AdminError> {
    let page = state.partners.list_partners(&params.to_request()?).await?;
    Ok(Json(PageDto::from_page(page, |p| partner_account(&p))))
}

#[utoipa::path(
    get,
    path = "/admin/v1/partners/{id}",
    tag = "admin-partners",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Partner id")),
    responses(
        (status = 200, description = "The partner", body = PartnerAccount),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_partner(
    State(state): State<PartnersAdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<PartnerAccount>, AdminError> {
    let p = state.partners.partner(&partner_id(&id)?).await?;
    Ok(Json(partner_account(&p)))
}

/// Suspends a partner: all its tokens stop working at once and no new ones are issued.
/// Audited; the partner is notified.
#[utoipa::path(
    post,
    path = "/admin/v1/partners/{id}/suspend",
    tag = "admin-partners",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Partner id")),
    request_body = SuspendRequest,
    responses(
        (status = 200, description = "Suspended", body = PartnerAccount),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: suspended already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `reason` is required", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn suspend_partner(
    State(state): State<PartnersAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<SuspendRequest>,
) -> Result<Json<PartnerAccount>, AdminError> {
    require_reviewer(&auth)?;
    let p = state
        .partners
        .suspend(&partner_id(&id)?, &body.reason, &auth.operator.id)
        .await?;
    Ok(Json(partner_account(&p)))
}

/// Lifts a suspension. Tokens from before it stay dead; the partner requests new ones.
#[utoipa::path(
    post,
    path = "/admin/v1/partners/{id}/resume",
    tag = "admin-partners",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Partner id")),
    responses(
        (status = 200, description = "Resumed", body = PartnerAccount),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: not suspended", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn resume_partner(
    State(state): State<PartnersAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<PartnerAccount>, AdminError> {
    require_reviewer(&auth)?;
    let p = state
        .partners
        .resume(&partner_id(&id)?, &auth.operator.id)
        .await?;
    Ok(Json(partner_account(&p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_review_route() {
        let json = serde_json::to_value(openapi()).unwrap();
        let paths = json["paths"].as_object().unwrap();
        for p in [
            "/admin/v1/partner-applications",
            "/admin/v1/partner-applications/{id}",
            "/admin/v1/partner-applications/{id}/approve",
            "/admin/v1/partner-applications/{id}/reject",
            "/admin/v1/partners",
            "/admin/v1/partners/{id}",
            "/admin/v1/partners/{id}/suspend",
            "/admin/v1/partners/{id}/resume",
        ] {
            assert!(paths.contains_key(p), "missing {p}");
        }
    }

    #[test]
    fn the_revenue_share_is_a_rate_per_fee() {
        let input = |v: serde_json::Value| serde_json::from_value::<RevenueShareInput>(v);
        let share = revenue_share(
            &input(serde_json::json!({"electricity": "0", "service": "0.10", "idle": "0"}))
                .unwrap(),
        )
        .unwrap();
        assert!(share.electricity.value().is_zero());
        assert_eq!(share.service.to_string(), "0.1");
        // The old single rate, a missing or unknown fee: refused as JSON.
        for bad in [
            serde_json::json!("0.05"),
            serde_json::json!({"electricity": "0", "service": "0.1"}),
            serde_json::json!({"electricity": "0", "service": "0.1", "idle": "0", "tip": "0"}),
        ] {
            assert!(input(bad.clone()).is_err(), "{bad}");
        }
        // A bad rate names its fee.
        for (v, field) in [
            (
                serde_json::json!({"electricity": "0", "service": "1.5", "idle": "0"}),
                "contract.revenue_share.service",
            ),
            (
                serde_json::json!({"electricity": "0.00001", "service": "0", "idle": "0"}),
                "contract.revenue_share.electricity",
            ),
            (
                serde_json::json!({"electricity": "0", "service": "0", "idle": "-0.1"}),
                "contract.revenue_share.idle",
            ),
        ] {
            let err = revenue_share(&input(v).unwrap()).unwrap_err();
            assert!(format!("{err:?}").contains(field), "{err:?}");
        }
        // The documented example is the issue's: 10 % of the service fee, 0 % of electricity.
        let doc = serde_json::to_value(openapi()).unwrap();
        let example = &doc["components"]["schemas"]["ContractTermsInput"]["example"];
        assert_eq!(
            example["revenue_share"],
            serde_json::json!({"electricity": "0", "service": "0.10", "idle": "0"})
        );
    }

    #[test]
    fn only_reviewers_and_admins_decide() {
        let auth = |role| OperatorAuth {
            operator: openpile_core::operator::OperatorAccount {
                id: "op".into(),
                email: openpile_core::operator::Email::parse("op@x.cn").unwrap(),
                role,
                password_hash: String::new(),
                disabled: false,
                created_at: Utc::now(),
            },
            token_sha256: String::new(),
            expires_at: Utc::now(),
        };
        assert!(require_reviewer(&auth(OperatorRole::Reviewer)).is_ok());
        assert!(require_reviewer(&auth(OperatorRole::Admin)).is_ok());
        assert!(require_reviewer(&auth(OperatorRole::Finance)).is_err());
        assert!(require_reviewer(&auth(OperatorRole::Operations)).is_err());
    }
}
