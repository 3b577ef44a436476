//! Settlement for the operator (issue 7): statements per partner and period — build and close a
//! period, read lines and reconciliations, resolve disputes (accept ours, accept theirs, or
//! adjust with a credit CDR, always with a reason), confirm, and mark settled with the payment
//! reference — plus CDRs, credit CDRs outside any dispute, and partners' revenue-share terms.
//!
//! Reads: any operator. Changes: finance or admin; each is audited by the settlement service in
//! the same transaction as the change (who, when, what, why).
//!
//! These routes need the settlement service, so they get their own state,
//! [`StatementsAdminState`], from which the admin extractors still find [`AdminState`].

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use chrono::{DateTime, NaiveDate, Utc};
use openpile_core::ids::PartnerId;
use openpile_core::money::{Money, parse_plain_decimal};
use openpile_core::operator::OperatorRole;
use openpile_core::partner::contract::ShareRate;
use openpile_core::settlement::cdr::{Cdr, CdrKind};
use openpile_core::settlement::dispute::{Resolution, ResolutionKind};
use openpile_core::settlement::ports::{ItemFilter, StatementFilter, StoredItem, StoredReport};
use openpile_core::settlement::reconcile::Category;
use openpile_core::settlement::service::SettlementService;
use openpile_core::settlement::statement::{Statement, StatementLine, StatementState};
use openpile_core::settlement::terms::{FeeSplit, SettlementTerms, TermsSchedule};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AdminState;
use crate::auth::OperatorAuth;
use crate::error::{AdminError, Problem, add_request_id};
use crate::extract::{DecimalText, IdPath, JsonBody, PageDto, PageParams, QueryParams};

/// The admin state plus the settlement service.
#[derive(Clone)]
pub struct StatementsAdminState {
    pub admin: AdminState,
    pub settlement: Arc<SettlementService>,
}

impl FromRef<StatementsAdminState> for AdminState {
    fn from_ref(s: &StatementsAdminState) -> AdminState {
        s.admin.clone()
    }
}

/// The settlement routes (`/admin/v1/statements…`, `/admin/v1/cdrs…`,
/// `/admin/v1/partners/{id}/settlement-terms`).
pub fn router(state: StatementsAdminState) -> Router {
    Router::new()
        .route(
            "/admin/v1/statements",
            get(list_statements).post(build_statement),
        )
        .route("/admin/v1/statements/{id}", get(get_statement))
        .route("/admin/v1/statements/{id}/lines", get(list_lines))
        .route("/admin/v1/statements/{id}/reports", get(list_reports))
        .route(
            "/admin/v1/statements/{id}/reconciliation",
            get(list_reconciliation),
        )
        .route("/admin/v1/statements/{id}/close", post(close_statement))
        .route("/admin/v1/statements/{id}/resolve", post(resolve_item))
        .route("/admin/v1/statements/{id}/confirm", post(confirm_statement))
        .route("/admin/v1/statements/{id}/settle", post(settle_statement))
        .route("/admin/v1/cdrs", get(list_cdrs))
        .route("/admin/v1/cdrs/{id}", get(get_cdr))
        .route("/admin/v1/cdrs/{id}/credit", post(credit_cdr))
        .route(
            "/admin/v1/partners/{id}/settlement-terms",
            get(get_terms).post(put_terms),
        )
        .layer(middleware::from_fn(add_request_id))
        .with_state(state)
}

/// These routes' OpenAPI description, to merge with the rest of the admin API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    StatementsAdminApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_statements,
        build_statement,
        get_statement,
        list_lines,
        list_reports,
        list_reconciliation,
        close_statement,
        resolve_item,
        confirm_statement,
        settle_statement,
        list_cdrs,
        get_cdr,
        credit_cdr,
        get_terms,
        put_terms,
    ),
    tags((name = "admin-settlement", description = "Statements (draft → reported → reconciled | disputed → confirmed → settled), reconciliation with partners' reports, dispute resolution, CDRs and credit CDRs, revenue-share terms. Reads: any operator; changes: finance or admin, audited."))
)]
struct StatementsAdminApi;

fn require_finance(auth: &OperatorAuth) -> Result<(), AdminError> {
    if matches!(
        auth.operator.role,
        OperatorRole::Admin | OperatorRole::Finance
    ) {
        Ok(())
    } else {
        Err(AdminError::Forbidden {
            needed: "finance or admin",
        })
    }
}

fn money(m: Money) -> String {
    format!("{:.2}", m.amount())
}

fn partner_id(id: &str) -> Result<PartnerId, AdminError> {
    PartnerId::parse(id).map_err(|_| AdminError::not_found("partner", id))
}

/// Reads a positive amount with at most two decimals.
fn amount(field: &str, text: &str) -> Result<Money, AdminError> {
    let m = Money::parse_amount(field, text)?;
    if m.is_negative() || m == Money::ZERO {
        return Err(AdminError::validation(field, "must be more than 0"));
    }
    Ok(m)
}

// ---- wire types --------------------------------------------------------------------------------

/// A statement's totals (sums of its lines); amounts with two decimals.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsDto {
    pub sessions: u64,
    pub credits: u64,
    pub energy_wh: i64,
    pub electricity_fee: String,
    pub service_fee: String,
    pub idle_fee: String,
    pub total: String,
    pub commission: String,
    pub due_to_operator: String,
    /// `commission` per fee.
    pub commission_by_fee: FeeSplitDto,
    /// `due_to_operator` per fee: each fee less its commission.
    pub due_to_operator_by_fee: FeeSplitDto,
}

/// An amount per fee (CNY, two decimals).
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeSplitDto {
    #[schema(example = "0.00")]
    pub electricity: String,
    #[schema(example = "1.24")]
    pub service: String,
    #[schema(example = "0.00")]
    pub idle: String,
}

fn fee_split(f: &FeeSplit) -> FeeSplitDto {
    FeeSplitDto {
        electricity: money(f.electricity),
        service: money(f.service),
        idle: money(f.idle),
    }
}

/// Revenue-share terms: the partner's commission rate on each fee.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermsDto {
    /// `null` for the contract's default.
    pub effective_from: Option<DateTime<Utc>>,
    pub partner_share_of_electricity: String,
    pub partner_share_of_service: String,
    pub partner_share_of_idle: String,
}

fn terms_dto(s: &TermsSchedule) -> Vec<TermsDto> {
    s.entries()
        .iter()
        .map(|t| TermsDto {
            effective_from: (t.effective_from != DateTime::<Utc>::MIN_UTC)
                .then_some(t.effective_from),
            partner_share_of_electricity: t.partner_share_of_electricity.value().to_string(),
            partner_share_of_service: t.partner_share_of_service.value().to_string(),
            partner_share_of_idle: t.partner_share_of_idle.value().to_string(),
        })
        .collect()
}

/// A partner's report with its reconciliation summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportDto {
    pub id: String,
    pub received_at: DateTime<Utc>,
    pub format: String,
    pub lines: u64,
    pub total_energy_wh: i64,
    pub total_amount: String,
    /// Counts per category, our and their sums, the difference and the tolerance applied.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

fn report_dto(r: &StoredReport) -> ReportDto {
    ReportDto {
        id: r.id.clone(),
        received_at: r.received_at,
        format: r.format.as_str().into(),
        lines: r.line_count,
        total_energy_wh: r.total_energy.0,
        total_amount: money(r.total_amount),
        summary: serde_json::to_value(&r.summary).unwrap_or_default(),
    }
}

/// A statement as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementDto {
    pub id: String,
    pub partner_id: String,
    pub period: String,
    pub cycle: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub time_zone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub state: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub totals: TotalsDto,
    pub terms: Vec<TermsDto>,
    pub latest_report: Option<ReportDto>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
    pub payment_reference: Option<String>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

fn statement_dto(st: &Statement, report: Option<&StoredReport>) -> StatementDto {
    let t = &st.totals;
    StatementDto {
        id: st.id.to_string(),
        partner_id: st.partner_id.to_string(),
        period: st.period.to_string(),
        cycle: st.period.cycle.as_str().into(),
        period_start: st.period.start,
        period_end: st.period.end,
        time_zone: st.time_zone.clone(),
        starts_at: st.starts_at,
        ends_at: st.ends_at,
        state: st.state.as_str().into(),
        closed_at: st.closed_at,
        totals: TotalsDto {
            sessions: t.sessions,
            credits: t.credits,
            energy_wh: t.energy.0,
            electricity_fee: money(t.electricity_fee),
            service_fee: money(t.service_fee),
            idle_fee: money(t.idle_fee),
            total: money(t.total),
            commission: money(t.commission),
            due_to_operator: money(t.due_to_operator),
            commission_by_fee: fee_split(&t.commission_by_fee),
            due_to_operator_by_fee: fee_split(&t.due_to_operator_by_fee),
        },
        terms: terms_dto(&st.terms),
        latest_report: report.map(report_dto),
        confirmed_at: st.confirmed_at,
        settled_at: st.settled_at,
        payment_reference: st.payment_reference.clone(),
        version: st.version,
        updated_at: st.updated_at,
    }
}

/// One statement line (one CDR).
#[derive(Debug, Serialize, ToSchema)]
pub struct LineDto {
    pub cdr_id: String,
    pub original_cdr_id: Option<String>,
    pub session_id: String,
    pub partner_order_id: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub booked_at: DateTime<Utc>,
    pub energy_wh: i64,
    pub electricity_fee: String,
    pub service_fee: String,
    pub idle_fee: String,
    pub total: String,
    pub commission: String,
    pub due_to_operator: String,
    pub commission_by_fee: FeeSplitDto,
    pub due_to_operator_by_fee: FeeSplitDto,
    pub late: bool,
}

fn line_dto(l: StatementLine) -> LineDto {
    let c = l.cdr;
    LineDto {
        cdr_id: c.cdr_id.to_string(),
        original_cdr_id: c.original.map(|o| o.to_string()),
        session_id: c.session_id.to_string(),
        partner_order_id: c.partner_order_id,
        started_at: c.started_at,
        stopped_at: c.stopped_at,
        booked_at: c.booked_at,
        energy_wh: c.energy.0,
        electricity_fee: money(c.electricity_fee),
        service_fee: money(c.service_fee),
        idle_fee: money(c.idle_fee),
        total: money(c.total),
        commission: money(l.commission),
        due_to_operator: money(l.due_to_operator),
        commission_by_fee: fee_split(&l.commission_by_fee),
        due_to_operator_by_fee: fee_split(&l.due_to_operator_by_fee),
        late: l.late,
    }
}

/// One compared order, with its resolution.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemDto {
    pub seq: u64,
    pub category: String,
    pub order_id: Option<String>,
    pub cdr_id: Option<String>,
    pub report_line: Option<u64>,
    pub our_energy_wh: Option<i64>,
    pub their_energy_wh: Option<i64>,
    pub our_amount: Option<String>,
    pub their_amount: Option<String>,
    pub resolution: Option<String>,
    pub resolution_reason: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub credit_cdr_id: Option<String>,
}

fn item_dto(s: StoredItem) -> ItemDto {
    let i = s.item;
    let r = s.resolution;
    ItemDto {
        seq: i.seq,
        category: i.category.as_str().into(),
        order_id: i.order_id,
        cdr_id: i.cdr_id.map(|c| c.to_string()),
        report_line: i.report_line,
        our_energy_wh: i.our_energy.map(|w| w.0),
        their_energy_wh: i.their_energy.map(|w| w.0),
        our_amount: i.our_amount.map(money),
        their_amount: i.their_amount.map(money),
        resolution: r.as_ref().map(|r| r.kind.as_str().into()),
        resolution_reason: r.as_ref().map(|r| r.reason.clone()),
        resolved_by: r.as_ref().map(|r| r.resolved_by.clone()),
        resolved_at: r.as_ref().map(|r| r.resolved_at),
        credit_cdr_id: r.and_then(|r| r.credit_cdr_id.map(|c| c.to_string())),
    }
}

/// A CDR: the priced lines per tariff segment, totals, tariff version, meter readings.
#[derive(Debug, Serialize, ToSchema)]
pub struct CdrDto {
    pub id: String,
    /// `session` or `credit`.
    pub kind: String,
    pub partner_id: Option<String>,
    pub partner_order_id: Option<String>,
    pub total: String,
    /// The whole record (amounts as exact decimals).
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

fn cdr_dto(c: &Cdr) -> CdrDto {
    CdrDto {
        id: c.id.to_string(),
        kind: match c.kind {
            CdrKind::Session => "session".into(),
            CdrKind::Credit(_) => "credit".into(),
        },
        partner_id: c.partner_id.as_ref().map(ToString::to_string),
        partner_order_id: c.partner_order_id.clone(),
        total: money(c.total),
        record: serde_json::to_value(c).unwrap_or_default(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementListParams {
    pub partner_id: Option<String>,
    /// `draft`, `reported`, `reconciled`, `disputed`, `confirmed` or `settled`.
    pub state: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"partner_id": "P-0001", "period": "2026-03", "close": true}))]
pub struct BuildRequest {
    pub partner_id: String,
    /// `2026-03` for a monthly cycle; a date (`2026-03-02`) for daily and weekly ones.
    pub period: String,
    /// Close it too (the period must have ended): the partner may then report.
    #[serde(default)]
    pub close: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"seq": 3, "resolution": "credit", "amount": "1.50", "reason": "charger display fault; agreed with partner ops"}))]
pub struct ResolveRequest {
    /// The item of the latest report.
    pub seq: u64,
    /// `accept_ours`, `accept_theirs` or `credit`.
    pub resolution: String,
    /// With `credit`: how much to credit, CNY.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub amount: Option<DecimalText>,
    /// Required; shown to the partner.
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    /// The bank or payment system's reference.
    pub payment_reference: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": "5.00", "reason": "connector fault, goodwill refund"}))]
pub struct CreditRequestBody {
    /// CNY to credit; absent reverses the CDR entirely.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub amount: Option<DecimalText>,
    /// Required; shown to the partner.
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"effective_from": "2026-04-01T00:00:00+08:00", "partner_share_of_electricity": "0", "partner_share_of_service": "0.10", "partner_share_of_idle": "0.10"}))]
pub struct TermsRequest {
    /// Sessions starting at or after this use these terms; must not be in the past.
    pub effective_from: DateTime<Utc>,
    /// Fractions 0–1, at most 4 decimals: the partner's commission on each fee.
    #[schema(value_type = String)]
    pub partner_share_of_electricity: DecimalText,
    #[schema(value_type = String)]
    pub partner_share_of_service: DecimalText,
    #[schema(value_type = String)]
    pub partner_share_of_idle: DecimalText,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemParams {
    /// Only this category.
    pub category: Option<String>,
    /// `true`: only discrepancies without a resolution.
    pub unresolved: Option<String>,
    /// A report of the statement; default the latest.
    pub report_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CdrParams {
    pub partner_id: Option<String>,
    /// Booked at or after (RFC 3339).
    pub from: Option<String>,
    /// Booked before (RFC 3339).
    pub to: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

// ---- handlers ----------------------------------------------------------------------------------

/// Statements by id, optionally of one partner or in one state.
#[utoipa::path(
    get,
    path = "/admin/v1/statements",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(StatementListParams),
    responses(
        (status = 200, description = "A page of statements", body = PageDto<StatementDto>),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_statements(
    State(state): State<StatementsAdminState>,
    _auth: OperatorAuth,
    QueryParams(params): QueryParams<StatementListParams>,
) -> Result<Json<PageDto<StatementDto>>, AdminError> {
    let filter = StatementFilter {
        partner_id: match params.partner_id.as_deref() {
            None | Some("") => None,
            Some(p) => Some(partner_id(p)?),
        },
        state: match params.state.as_deref() {
            None | Some("") => None,
            Some(s) => Some(StatementState::parse(s).ok_or_else(|| {
                AdminError::invalid_query(
                    "state",
                    "must be draft, reported, reconciled, disputed, confirmed or settled",
                )
            })?),
        },
    };
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .to_request()?;
    let found = state.settlement.list_statements(&filter, &page).await?;
    Ok(Json(PageDto::from_page(found, |s| statement_dto(&s, None))))
}

/// Builds a partner's statement for a period (or gathers an open draft again), closing it when
/// asked. A period that has not begun, one whose earlier periods still hold unsettled CDRs, or a
/// closed statement is refused with a precise reason.
#[utoipa::path(
    post,
    path = "/admin/v1/statements",
    tag = "admin-settlement",
    security(("bearer" = [])),
    request_body = BuildRequest,
    responses(
        (status = 200, description = "The statement", body = StatementDto),
        (status = 403, description = "`forbidden`: needs finance or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: unknown partner", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: closed already, period not ended (with `close`), or an earlier period not built", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: malformed period, period not begun, partner without contract", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn build_statement(
    State(state): State<StatementsAdminState>,
    auth: OperatorAuth,
    JsonBody(body): JsonBody<BuildRequest>,
) -> Result<Json<StatementDto>, AdminError> {
    require_finance(&auth)?;
    let partner = partner_id(&body.partner_id)?;
    let st = state
        .settlement
        .build(&auth.operator.id, &partner, &body.period, body.close)
        .await?;
    Ok(Json(statement_dto(&st, None)))
}

/// One statement with its latest report.
#[utoipa::path(
    get,
    path = "/admin/v1/statements/{id}",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Statement id")),
    responses(
        (status = 200, description = "The statement", body = StatementDto),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_statement(
    State(state): State<StatementsAdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<StatementDto>, AdminError> {
    let (st, report) = state.settlement.statement_with_report(None, &id).await?;
    Ok(Json(statement_dto(&st, report.as_ref())))
}

/// The statement's lines, in the order the CDRs were written.
#[utoipa::path(
    get,
    path = "/admin/v1/statements/{id}/lines",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Statement id"), PageParams),
    responses(
        (status = 200, description = "A page of lines", body = PageDto<LineDto>),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_lines(
    State(state): State<StatementsAdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<PageDto<LineDto>>, AdminError> {
    let page = params.to_request()?;
    let found = state.settlement.statement_lines(None, &id, &page).await?;
    Ok(Json(PageDto::from_page(found, line_dto)))
}

/// Every report the partner sent for the statement, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/statements/{id}/reports",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Statement id")),
    responses(
        (status = 200, description = "The reports", body = Vec<ReportDto>),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_reports(
    State(state): State<StatementsAdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<Vec<ReportDto>>, AdminError> {
    let reports = state.settlement.reports(None, &id).await?;
    Ok(Json(reports.iter().map(report_dto).collect()))
}

/// A report's reconciliation, order by order (by default the latest report's).
#[utoipa::path(
    get,
    path = "/admin/v1/statements/{id}/reconciliation",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Statement id"), ItemParams),
    responses(
        (status = 200, description = "A page of items", body = PageDto<ItemDto>),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: unknown statement or no report yet", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_reconciliation(
    State(state): State<StatementsAdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
    QueryParams(params): QueryParams<ItemParams>,
) -> Result<Json<PageDto<ItemDto>>, AdminError> {
    let filter = ItemFilter {
        category: match params.category.as_deref() {
            None | Some("") => None,
            Some(c) => Some(Category::parse(c).ok_or_else(|| {
                AdminError::invalid_query("category", format!("{c:?} is not a category"))
            })?),
        },
        unresolved: crate::extract::parse_bool("unresolved", params.unresolved.as_deref())?,
    };
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .to_request()?;
    let report = match params.report_id.filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => state
            .settlement
            .statement(None, &id)
            .await?
            .latest_report_id
            .ok_or_else(|| AdminError::not_found("report of statement", id.clone()))?,
    };
    let found = state
        .settlement
        .report_items(None, &id, &report, &filter, &page)
        .await?;
    Ok(Json(PageDto::from_page(found, item_dto)))
}

/// Closes a statement once its period has ended: its CDRs are gathered a last time and the
/// partner may report.
#[utoipa::path(
    post,
    path = "/admin/v1/statements/{id}/close",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Statement id")),
    responses(
        (status = 200, description = "Closed", body = StatementDto),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the period has not ended, or closed already", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn close_statement(
    State(state): State<StatementsAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<StatementDto>, AdminError> {
    require_finance(&auth)?;
    let st = state.settlement.close(&auth.operator.id, &id).await?;
    Ok(Json(statement_dto(&st, None)))
}

/// Resolves one discrepancy of the latest report: accept ours, accept theirs (a credit CDR for
/// the difference when they collected less), or credit an amount. A credit CDR lands on this
/// statement.
#[utoipa::path(
    post,
    path = "/admin/v1/statements/{id}/resolve",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Statement id")),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "Resolved; the statement with its new totals", body = StatementDto),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: statement or item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the statement is not disputed, the item is resolved already, or a concurrent change", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the resolution does not fit the item (e.g. accept theirs on an order we have no CDR for), no reason, bad amount", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn resolve_item(
    State(state): State<StatementsAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<ResolveRequest>,
) -> Result<Json<StatementDto>, AdminError> {
    require_finance(&auth)?;
    let kind = ResolutionKind::parse(&body.resolution).ok_or_else(|| {
        AdminError::validation("resolution", "must be accept_ours, accept_theirs or credit")
    })?;
    let amount = body.amount.map(|a| amount("amount", &a.0)).transpose()?;
    let st = state
        .settlement
        .resolve(
            &auth.operator.id,
            &id,
            body.seq,
            Resolution {
                kind,
                amount,
                reason: body.reason,
            },
        )
        .await?;
    Ok(Json(statement_dto(&st, None)))
}

/// Confirms the statement's figures (every discrepancy must be resolved).
#[utoipa::path(
    post,
    path = "/admin/v1/statements/{id}/confirm",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Statement id")),
    responses(
        (status = 200, description = "Confirmed", body = StatementDto),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: not reconciled or disputed, or discrepancies unresolved", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn confirm_statement(
    State(state): State<StatementsAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<StatementDto>, AdminError> {
    require_finance(&auth)?;
    let st = state.settlement.confirm(&auth.operator.id, &id).await?;
    Ok(Json(statement_dto(&st, None)))
}

/// Records the payment of a confirmed statement.
#[utoipa::path(
    post,
    path = "/admin/v1/statements/{id}/settle",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Statement id")),
    request_body = SettleRequest,
    responses(
        (status = 200, description = "Settled", body = StatementDto),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: not confirmed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: payment_reference", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn settle_statement(
    State(state): State<StatementsAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<SettleRequest>,
) -> Result<Json<StatementDto>, AdminError> {
    require_finance(&auth)?;
    let st = state
        .settlement
        .settle(&auth.operator.id, &id, &body.payment_reference)
        .await?;
    Ok(Json(statement_dto(&st, None)))
}

/// CDRs by booking time, optionally of one partner.
#[utoipa::path(
    get,
    path = "/admin/v1/cdrs",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(CdrParams),
    responses(
        (status = 200, description = "A page of CDRs", body = PageDto<CdrDto>),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_cdrs(
    State(state): State<StatementsAdminState>,
    _auth: OperatorAuth,
    QueryParams(params): QueryParams<CdrParams>,
) -> Result<Json<PageDto<CdrDto>>, AdminError> {
    let time = |field: &str, v: Option<&str>| -> Result<Option<DateTime<Utc>>, AdminError> {
        match v {
            None | Some("") => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| AdminError::invalid_query(field, "must be an RFC 3339 time")),
        }
    };
    let from = time("from", params.from.as_deref())?;
    let to = time("to", params.to.as_deref())?;
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .to_request()?;
    let found = match params.partner_id.as_deref() {
        None | Some("") => state.settlement.all_cdrs(from, to, &page).await?,
        Some(p) => {
            state
                .settlement
                .partner_cdrs(&partner_id(p)?, from, to, &page)
                .await?
        }
    };
    Ok(Json(PageDto::from_page(found, |c| cdr_dto(&c))))
}

/// One CDR.
#[utoipa::path(
    get,
    path = "/admin/v1/cdrs/{id}",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "CDR id")),
    responses(
        (status = 200, description = "The CDR", body = CdrDto),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_cdr(
    State(state): State<StatementsAdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<CdrDto>, AdminError> {
    let cdr = state.settlement.cdr(None, &id).await?;
    Ok(Json(cdr_dto(&cdr)))
}

/// Issues a credit CDR against a session's CDR, with a reason: an amount, or (without one) a
/// full reversal. It is booked now, so it lands on the statement of the current period.
#[utoipa::path(
    post,
    path = "/admin/v1/cdrs/{id}/credit",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The CDR to correct")),
    request_body = CreditRequestBody,
    responses(
        (status = 200, description = "The credit CDR", body = CdrDto),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no reason, amount above what is left, a credit of a credit", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn credit_cdr(
    State(state): State<StatementsAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<CreditRequestBody>,
) -> Result<Json<CdrDto>, AdminError> {
    require_finance(&auth)?;
    let amount = body.amount.map(|a| amount("amount", &a.0)).transpose()?;
    let credit = state
        .settlement
        .issue_credit(&auth.operator.id, &id, amount, &body.reason)
        .await?;
    Ok(Json(cdr_dto(&credit)))
}

/// A partner's revenue-share terms over time (the contract's first).
#[utoipa::path(
    get,
    path = "/admin/v1/partners/{id}/settlement-terms",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Partner id")),
    responses(
        (status = 200, description = "The terms, oldest first", body = Vec<TermsDto>),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_terms(
    State(state): State<StatementsAdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<Vec<TermsDto>>, AdminError> {
    let terms = state.settlement.terms_of(&partner_id(&id)?).await?;
    Ok(Json(terms_dto(&terms)))
}

/// Schedules revenue-share terms from a future time on (not in the past, nor before the end of
/// the latest statement). Sessions that start from then on are settled under them; sessions
/// that started before keep the terms they started under, even on the same statement.
#[utoipa::path(
    post,
    path = "/admin/v1/partners/{id}/settlement-terms",
    tag = "admin-settlement",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Partner id")),
    request_body = TermsRequest,
    responses(
        (status = 200, description = "The terms now, oldest first", body = Vec<TermsDto>),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: terms starting then exist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn put_terms(
    State(state): State<StatementsAdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<TermsRequest>,
) -> Result<Json<Vec<TermsDto>>, AdminError> {
    require_finance(&auth)?;
    let share = |field: &str, t: &DecimalText| -> Result<ShareRate, AdminError> {
        parse_plain_decimal(field, &t.0)
            .and_then(|d| ShareRate::new(field, d))
            .map_err(|e| AdminError::validation(field, e.reason))
    };
    let terms = SettlementTerms {
        effective_from: body.effective_from,
        partner_share_of_electricity: share(
            "partner_share_of_electricity",
            &body.partner_share_of_electricity,
        )?,
        partner_share_of_service: share(
            "partner_share_of_service",
            &body.partner_share_of_service,
        )?,
        partner_share_of_idle: share("partner_share_of_idle", &body.partner_share_of_idle)?,
    };
    let schedule = state
        .settlement
        .put_terms(&auth.operator.id, &partner_id(&id)?, terms)
        .await?;
    Ok(Json(terms_dto(&schedule)))
}
