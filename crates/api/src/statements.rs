//! Statements and settlement reports for partners (issue 7, design flow 6).
//!
//! - `GET /v1/statements`, `GET /v1/statements/{id}`: the partner's statements, one per period
//!   (local time), with totals, the revenue-share terms applied and the latest reconciliation;
//! - `GET /v1/statements/{id}/lines` (JSON, cursor) and `/lines.csv` (the whole statement);
//! - `POST /v1/statements/{id}/report`: the partner's own order list and totals, as JSON or CSV,
//!   up to 100 000 lines, validated line by line. A rejected report changes nothing; a statement
//!   may be re-reported until the operator confirms it;
//! - `GET /v1/statements/{id}/reconciliation`: the latest report's items, order by order.
//!
//! These routes (with [`crate::cdrs`]) need the settlement service, which the rest of the face
//! does not, so they form their own router ([`router`]) with the same layers as
//! [`crate::router`]; the server merges both.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use openpile_core::ids::PartnerId;
use openpile_core::page::PageRequest;
use openpile_core::partner::credential::Scope;
use openpile_core::partner::service::PartnerAccess;
use openpile_core::settlement::ports::{ItemFilter, MAX_LINES_PAGE, StoredItem, StoredReport};
use openpile_core::settlement::reconcile::{Category, ReconciliationSummary};
use openpile_core::settlement::report::{
    RawReport, RawReportLine, RawReportTotals, ReportError as LineError, ReportFormat,
    ReportRejected, json_number_text, kwh_text,
};
use openpile_core::settlement::report_csv::csv_report;
use openpile_core::settlement::service::{ReportError, SettlementService};
use openpile_core::settlement::statement::{Statement, StatementLine, StatementTotals};
use openpile_core::settlement::terms::{FeeSplit, operator_share};
use serde::{Deserialize, Serialize};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::ToSchema;

use crate::cdrs::{self, money};
use crate::error::{self, ApiError, ApiProblem, PROBLEM_JSON};
use crate::extract::{IdPath, PartnerAuth, QueryMap, parse_json, read_body};
use crate::paging::page_limit;
use crate::{ApiState, BODY_LIMIT};

/// A report of 100 000 lines is a few megabytes of JSON or CSV; this leaves room for long order
/// ids while still bounding the work one request can cause.
pub const REPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;

pub(crate) const AUTH_ERRORS: &str = "`unauthorized`, `invalid_token`, `token_expired`, `token_revoked` or `partner_suspended` (RFC 6750, with `WWW-Authenticate`)";

/// What the settlement handlers need. Cheap to clone.
#[derive(Clone)]
pub struct SettlementState {
    pub(crate) api: ApiState,
    pub(crate) settlement: Arc<SettlementService>,
}

/// The CDR and statement routes with their full paths, with the same problem, body-limit and
/// request-id layers as [`crate::router`]. `api` must be the state given to that router (same
/// partner service), so tokens and rate limits are shared.
pub fn router(api: ApiState, settlement: Arc<SettlementService>) -> Router {
    let state = SettlementState { api, settlement };
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/v1/cdrs", get(cdrs::list_cdrs))
        .route("/v1/cdrs/{id}", get(cdrs::get_cdr))
        .route("/v1/statements", get(list_statements))
        .route("/v1/statements/{id}", get(get_statement))
        .route("/v1/statements/{id}/lines", get(list_lines))
        .route("/v1/statements/{id}/lines.csv", get(export_lines))
        .route(
            "/v1/statements/{id}/reconciliation",
            get(list_reconciliation),
        )
        .route(
            "/v1/statements/{id}/report",
            post(submit_report).layer(DefaultBodyLimit::max(REPORT_BODY_LIMIT)),
        )
        .layer(middleware::from_fn(error::finish_problems))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// These routes' OpenAPI description (paths, schemas, the `settlement` tag), to merge into the
/// published document together with [`router`] — never one without the other, so the document
/// lists only what is served. Its security scheme is [`crate::api_doc`]'s `oauth2`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    SettlementApi::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        cdrs::list_cdrs,
        cdrs::get_cdr,
        list_statements,
        get_statement,
        list_lines,
        export_lines,
        list_reconciliation,
        submit_report,
    ),
    tags(
        (name = "settlement", description = "CDRs (the priced, immutable record of each completed session; corrections are credit CDRs that reference the original), statements (one per period in local time, monthly by default, with the revenue-share commission), your settlement report (JSON or CSV, up to 100 000 orders) and its reconciliation order by order. Amounts are strings with 2 decimals (CNY)."),
    )
)]
struct SettlementApi;

/// A partner authenticated by a bearer token.
pub(crate) struct SettlementAuth(Arc<PartnerAccess>);

impl SettlementAuth {
    pub(crate) fn partner(&self) -> &PartnerId {
        &self.0.partner_id
    }

    /// Statements and reports: `settlement:write`.
    fn require_settlement(&self) -> Result<(), ApiError> {
        if self.0.scopes.contains(Scope::SettlementWrite) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(Scope::SettlementWrite))
        }
    }

    /// CDRs: the result of a partner's charging, so `charging:write` reads them too.
    pub(crate) fn require_cdrs(&self) -> Result<(), ApiError> {
        if self.0.scopes.contains(Scope::ChargingWrite) {
            return Ok(());
        }
        self.require_settlement()
    }
}

impl FromRequestParts<SettlementState> for SettlementAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SettlementState,
    ) -> Result<Self, ApiError> {
        let auth = PartnerAuth::from_request_parts(parts, &state.api).await?;
        Ok(Self(auth.0))
    }
}

/// Cursors of this module: base64url of `<kind>:<store key>`, so one list's cursor on another
/// is `invalid_cursor`.
pub(crate) fn encode_cursor(kind: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

pub(crate) fn decode_cursor(kind: &str, s: &str) -> Result<String, ApiError> {
    let bad = || ApiError::InvalidCursor("is not a cursor this list issued".into());
    let text = URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (k, key) = text.split_once(':').ok_or_else(bad)?;
    if k != kind || key.is_empty() {
        return Err(bad());
    }
    Ok(key.to_string())
}

pub(crate) fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid_query(field, "must be an RFC 3339 time"))
}

// ---- views ---------------------------------------------------------------------------------

/// A statement's figures: sums of its lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsView {
    /// Session CDRs on the statement.
    pub sessions: u64,
    /// Credit CDRs on the statement.
    pub credits: u64,
    pub energy_wh: i64,
    pub energy_kwh: String,
    pub electricity_fee: String,
    pub service_fee: String,
    pub idle_fee: String,
    /// What the partner's users paid in all.
    pub total: String,
    /// The partner's commission under the revenue-share terms.
    pub commission: String,
    /// `total − commission`: what the partner owes the operator.
    pub due_to_operator: String,
    /// `commission` per fee: each fee times the partner's rate for it, rounded per line.
    pub commission_by_fee: FeeSplitView,
    /// `due_to_operator` per fee: each fee less its commission.
    pub due_to_operator_by_fee: FeeSplitView,
}

/// An amount per fee (CNY, two decimals).
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeSplitView {
    #[schema(example = "0.00")]
    pub electricity: String,
    #[schema(example = "1.24")]
    pub service: String,
    #[schema(example = "0.00")]
    pub idle: String,
}

impl From<&FeeSplit> for FeeSplitView {
    fn from(f: &FeeSplit) -> Self {
        Self {
            electricity: money(f.electricity),
            service: money(f.service),
            idle: money(f.idle),
        }
    }
}

impl From<&StatementTotals> for TotalsView {
    fn from(t: &StatementTotals) -> Self {
        Self {
            sessions: t.sessions,
            credits: t.credits,
            energy_wh: t.energy.0,
            energy_kwh: kwh_text(t.energy),
            electricity_fee: money(t.electricity_fee),
            service_fee: money(t.service_fee),
            idle_fee: money(t.idle_fee),
            total: money(t.total),
            commission: money(t.commission),
            due_to_operator: money(t.due_to_operator),
            commission_by_fee: FeeSplitView::from(&t.commission_by_fee),
            due_to_operator_by_fee: FeeSplitView::from(&t.due_to_operator_by_fee),
        }
    }
}

/// Revenue-share terms: the partner's commission rate per fee (a fraction), and the operator's.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermsView {
    /// `null`: the contract's terms, in force until explicit ones.
    pub effective_from: Option<DateTime<Utc>>,
    #[schema(example = "0")]
    pub partner_share_of_electricity: String,
    #[schema(example = "0.1")]
    pub partner_share_of_service: String,
    pub partner_share_of_idle: String,
    pub operator_share_of_electricity: String,
    pub operator_share_of_service: String,
    pub operator_share_of_idle: String,
}

/// Counts and sums of a reconciliation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    pub report_lines: u64,
    pub our_orders: u64,
    pub matched: u64,
    pub energy_mismatch: u64,
    pub amount_mismatch: u64,
    pub missing_on_partner: u64,
    pub missing_on_operator: u64,
    pub duplicate: u64,
    pub our_energy_wh: i64,
    pub their_energy_wh: i64,
    pub our_amount: String,
    pub their_amount: String,
    /// `their_amount − our_amount`.
    pub difference: String,
    /// Amounts within this of ours match.
    pub amount_tolerance: String,
    /// Energies within this many Wh of ours match.
    pub energy_tolerance_wh: i64,
}

impl From<&ReconciliationSummary> for SummaryView {
    fn from(s: &ReconciliationSummary) -> Self {
        Self {
            report_lines: s.report_lines,
            our_orders: s.our_orders,
            matched: s.matched,
            energy_mismatch: s.energy_mismatch,
            amount_mismatch: s.amount_mismatch,
            missing_on_partner: s.missing_on_partner,
            missing_on_operator: s.missing_on_operator,
            duplicate: s.duplicate,
            our_energy_wh: s.our_energy.0,
            their_energy_wh: s.their_energy.0,
            our_amount: money(s.our_amount),
            their_amount: money(s.their_amount),
            difference: money(s.difference),
            amount_tolerance: money(s.tolerance.amount),
            energy_tolerance_wh: s.tolerance.energy.0,
        }
    }
}

/// A partner's report as received, with its reconciliation summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    pub id: String,
    pub received_at: DateTime<Utc>,
    /// `json` or `csv`.
    pub format: String,
    pub lines: u64,
    pub total_energy_kwh: String,
    pub total_amount: String,
    pub summary: SummaryView,
}

impl From<&StoredReport> for ReportView {
    fn from(r: &StoredReport) -> Self {
        Self {
            id: r.id.clone(),
            received_at: r.received_at,
            format: r.format.as_str().into(),
            lines: r.line_count,
            total_energy_kwh: kwh_text(r.total_energy),
            total_amount: money(r.total_amount),
            summary: SummaryView::from(&r.summary),
        }
    }
}

/// A statement.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementView {
    pub id: String,
    /// `2026-03` (monthly), `2026-03-02` (daily), `2026-03-02/2026-03-09` (weekly).
    pub period: String,
    /// `daily`, `weekly` or `monthly`.
    pub cycle: String,
    /// First local day.
    pub period_start: NaiveDate,
    /// Local day after the last.
    pub period_end: NaiveDate,
    pub time_zone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `draft`, `reported`, `reconciled`, `disputed`, `confirmed` or `settled`.
    pub state: String,
    /// Reports are accepted once the statement is closed.
    pub closed_at: Option<DateTime<Utc>>,
    pub totals: TotalsView,
    pub terms: Vec<TermsView>,
    /// The latest report and its reconciliation.
    pub report: Option<ReportView>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
    pub payment_reference: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn statement_view(st: &Statement, report: Option<&StoredReport>) -> StatementView {
    StatementView {
        id: st.id.to_string(),
        period: st.period.to_string(),
        cycle: st.period.cycle.as_str().into(),
        period_start: st.period.start,
        period_end: st.period.end,
        time_zone: st.time_zone.clone(),
        starts_at: st.starts_at,
        ends_at: st.ends_at,
        state: st.state.as_str().into(),
        closed_at: st.closed_at,
        totals: TotalsView::from(&st.totals),
        terms: st
            .terms
            .entries()
            .iter()
            .map(|t| TermsView {
                effective_from: (t.effective_from != DateTime::<Utc>::MIN_UTC)
                    .then_some(t.effective_from),
                partner_share_of_electricity: t.partner_share_of_electricity.value().to_string(),
                partner_share_of_service: t.partner_share_of_service.value().to_string(),
                partner_share_of_idle: t.partner_share_of_idle.value().to_string(),
                operator_share_of_electricity: operator_share(t.partner_share_of_electricity)
                    .normalize()
                    .to_string(),
                operator_share_of_service: operator_share(t.partner_share_of_service)
                    .normalize()
                    .to_string(),
                operator_share_of_idle: operator_share(t.partner_share_of_idle)
                    .normalize()
                    .to_string(),
            })
            .collect(),
        report: report.map(ReportView::from),
        confirmed_at: st.confirmed_at,
        settled_at: st.settled_at,
        payment_reference: st.payment_reference.clone(),
        updated_at: st.updated_at,
    }
}

/// A page of statements.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementList {
    pub items: Vec<StatementView>,
    pub next_cursor: Option<String>,
}

/// One line of a statement: one CDR with the commission on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub cdr_id: String,
    /// `session` or `credit`.
    pub kind: String,
    /// For a credit: the CDR it corrects.
    pub original_cdr_id: Option<String>,
    pub session_id: String,
    pub partner_order_id: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    /// A session's stop, a credit's issue: what placed it on this statement.
    pub booked_at: DateTime<Utc>,
    pub energy_wh: i64,
    pub energy_kwh: String,
    pub electricity_fee: String,
    pub service_fee: String,
    pub idle_fee: String,
    pub total: String,
    pub commission: String,
    pub due_to_operator: String,
    pub commission_by_fee: FeeSplitView,
    pub due_to_operator_by_fee: FeeSplitView,
    /// Booked before the period began: it arrived after that period's statement was closed.
    pub late: bool,
}

impl From<&StatementLine> for LineView {
    fn from(l: &StatementLine) -> Self {
        let c = &l.cdr;
        Self {
            cdr_id: c.cdr_id.to_string(),
            kind: if c.original.is_some() {
                "credit"
            } else {
                "session"
            }
            .into(),
            original_cdr_id: c.original.as_ref().map(ToString::to_string),
            session_id: c.session_id.to_string(),
            partner_order_id: c.partner_order_id.clone(),
            started_at: c.started_at,
            stopped_at: c.stopped_at,
            booked_at: c.booked_at,
            energy_wh: c.energy.0,
            energy_kwh: kwh_text(c.energy),
            electricity_fee: money(c.electricity_fee),
            service_fee: money(c.service_fee),
            idle_fee: money(c.idle_fee),
            total: money(c.total),
            commission: money(l.commission),
            due_to_operator: money(l.due_to_operator),
            commission_by_fee: FeeSplitView::from(&l.commission_by_fee),
            due_to_operator_by_fee: FeeSplitView::from(&l.due_to_operator_by_fee),
            late: l.late,
        }
    }
}

/// A page of statement lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineList {
    /// In the order the CDRs were written.
    pub items: Vec<LineView>,
    pub next_cursor: Option<String>,
}

/// One compared order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    pub seq: u64,
    /// `matched`, `energy_mismatch`, `amount_mismatch`, `missing_on_partner`,
    /// `missing_on_operator` or `duplicate`.
    pub category: String,
    pub order_id: Option<String>,
    pub cdr_id: Option<String>,
    /// The line of the partner's report (JSON: position in `lines`, from 1; CSV: file line).
    pub report_line: Option<u64>,
    pub our_energy_wh: Option<i64>,
    pub their_energy_wh: Option<i64>,
    pub our_amount: Option<String>,
    pub their_amount: Option<String>,
    /// How the operator resolved it: `accept_ours`, `accept_theirs` or `credit`.
    pub resolution: Option<String>,
    pub resolution_reason: Option<String>,
    /// The credit CDR the resolution issued.
    pub credit_cdr_id: Option<String>,
}

impl From<&StoredItem> for ItemView {
    fn from(s: &StoredItem) -> Self {
        let i = &s.item;
        Self {
            seq: i.seq,
            category: i.category.as_str().into(),
            order_id: i.order_id.clone(),
            cdr_id: i.cdr_id.as_ref().map(ToString::to_string),
            report_line: i.report_line,
            our_energy_wh: i.our_energy.map(|w| w.0),
            their_energy_wh: i.their_energy.map(|w| w.0),
            our_amount: i.our_amount.map(money),
            their_amount: i.their_amount.map(money),
            resolution: s.resolution.as_ref().map(|r| r.kind.as_str().into()),
            resolution_reason: s.resolution.as_ref().map(|r| r.reason.clone()),
            credit_cdr_id: s
                .resolution
                .as_ref()
                .and_then(|r| r.credit_cdr_id.as_ref().map(ToString::to_string)),
        }
    }
}

/// A page of reconciliation items.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemList {
    pub report_id: String,
    pub items: Vec<ItemView>,
    pub next_cursor: Option<String>,
}

// ---- reads ---------------------------------------------------------------------------------

const LIST_PARAMS: [&str; 2] = ["cursor", "limit"];

/// The partner's statements.
#[utoipa::path(
    get,
    path = "/v1/statements",
    tag = "settlement",
    security(("oauth2" = ["settlement:write"])),
    params(
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1–100, default 20", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "A page of statements, oldest first", body = StatementList),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `settlement:write`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_statements(
    State(state): State<SettlementState>,
    auth: SettlementAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<StatementList>, ApiError> {
    auth.require_settlement()?;
    let q = QueryMap::parse(query.as_deref(), &LIST_PARAMS)?;
    let page = PageRequest {
        limit: page_limit(q.get("limit"), 20, 100)? as u32,
        after: q
            .get("cursor")
            .map(|c| decode_cursor("statement", c))
            .transpose()?,
    };
    let filter = openpile_core::settlement::ports::StatementFilter {
        partner_id: Some(auth.partner().clone()),
        state: None,
    };
    let page = state.settlement.list_statements(&filter, &page).await?;
    Ok(Json(StatementList {
        items: page.items.iter().map(|s| statement_view(s, None)).collect(),
        next_cursor: page.next.map(|k| encode_cursor("statement", &k)),
    }))
}

/// One of the partner's statements, with its latest reconciliation.
#[utoipa::path(
    get,
    path = "/v1/statements/{id}",
    tag = "settlement",
    security(("oauth2" = ["settlement:write"])),
    params(("id" = String, Path, description = "Statement id")),
    responses(
        (status = 200, description = "The statement", body = StatementView),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: unknown, or another partner's", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_statement(
    State(state): State<SettlementState>,
    auth: SettlementAuth,
    IdPath(id): IdPath,
) -> Result<Json<StatementView>, ApiError> {
    auth.require_settlement()?;
    let (st, report) = state
        .settlement
        .statement_with_report(Some(auth.partner()), &id)
        .await?;
    Ok(Json(statement_view(&st, report.as_ref())))
}

/// The statement's lines, one per CDR, in the order the CDRs were written.
#[utoipa::path(
    get,
    path = "/v1/statements/{id}/lines",
    tag = "settlement",
    security(("oauth2" = ["settlement:write"])),
    params(
        ("id" = String, Path, description = "Statement id"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1–500, default 100", minimum = 1, maximum = 500),
    ),
    responses(
        (status = 200, description = "A page of lines", body = LineList),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_lines(
    State(state): State<SettlementState>,
    auth: SettlementAuth,
    IdPath(id): IdPath,
    RawQuery(query): RawQuery,
) -> Result<Json<LineList>, ApiError> {
    auth.require_settlement()?;
    let q = QueryMap::parse(query.as_deref(), &LIST_PARAMS)?;
    let page = PageRequest {
        limit: page_limit(q.get("limit"), 100, 500)? as u32,
        after: q
            .get("cursor")
            .map(|c| {
                // Line cursors are CDR keys: whole numbers.
                decode_cursor("line", c).and_then(|k| {
                    if k.bytes().all(|b| b.is_ascii_digit()) {
                        Ok(k)
                    } else {
                        Err(ApiError::InvalidCursor(
                            "is not a cursor this list issued".into(),
                        ))
                    }
                })
            })
            .transpose()?,
    };
    let page = state
        .settlement
        .statement_lines(Some(auth.partner()), &id, &page)
        .await?;
    Ok(Json(LineList {
        items: page.items.iter().map(LineView::from).collect(),
        next_cursor: page.next.map(|k| encode_cursor("line", &k)),
    }))
}

/// The CSV export's columns, in order.
pub const CSV_COLUMNS: [&str; 22] = [
    "cdr_id",
    "kind",
    "original_cdr_id",
    "session_id",
    "partner_order_id",
    "started_at",
    "stopped_at",
    "booked_at",
    "energy_kwh",
    "electricity_fee",
    "service_fee",
    "idle_fee",
    "total",
    "commission",
    "due_to_operator",
    "electricity_commission",
    "service_commission",
    "idle_commission",
    "electricity_due_to_operator",
    "service_due_to_operator",
    "idle_due_to_operator",
    "late",
];

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn csv_line(out: &mut String, l: &StatementLine) {
    let v = LineView::from(l);
    let t = |d: DateTime<Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let fields = [
        v.cdr_id,
        v.kind,
        v.original_cdr_id.unwrap_or_default(),
        v.session_id,
        v.partner_order_id,
        t(v.started_at),
        t(v.stopped_at),
        t(v.booked_at),
        v.energy_kwh,
        v.electricity_fee,
        v.service_fee,
        v.idle_fee,
        v.total,
        v.commission,
        v.due_to_operator,
        v.commission_by_fee.electricity,
        v.commission_by_fee.service,
        v.commission_by_fee.idle,
        v.due_to_operator_by_fee.electricity,
        v.due_to_operator_by_fee.service,
        v.due_to_operator_by_fee.idle,
        v.late.to_string(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

/// The whole statement as CSV (RFC 4180, UTF-8, CRLF), streamed in chunks so a statement of a
/// million lines never sits in memory. Columns: see [`CSV_COLUMNS`].
#[utoipa::path(
    get,
    path = "/v1/statements/{id}/lines.csv",
    tag = "settlement",
    security(("oauth2" = ["settlement:write"])),
    params(("id" = String, Path, description = "Statement id")),
    responses(
        (status = 200, description = "`text/csv` with a header row: cdr_id, kind, original_cdr_id, session_id, partner_order_id, started_at, stopped_at, booked_at, energy_kwh, electricity_fee, service_fee, idle_fee, total, commission, due_to_operator, electricity_commission, service_commission, idle_commission, electricity_due_to_operator, service_due_to_operator, idle_due_to_operator, late", content_type = "text/csv"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn export_lines(
    State(state): State<SettlementState>,
    auth: SettlementAuth,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    auth.require_settlement()?;
    let partner = auth.partner().clone();
    // Fail before the 200 when the statement is not the caller's.
    let st = state.settlement.statement(Some(&partner), &id).await?;
    let service = state.settlement.clone();
    let header_line = format!("{}\r\n", CSV_COLUMNS.join(","));
    let first = futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(axum::body::Bytes::from(header_line))
    });
    let pages = futures_util::stream::unfold(Some(None::<String>), move |cursor| {
        let service = service.clone();
        let partner = partner.clone();
        let id = st.id.to_string();
        async move {
            let after = cursor?;
            let page = PageRequest {
                limit: MAX_LINES_PAGE,
                after,
            };
            match service.statement_lines(Some(&partner), &id, &page).await {
                Ok(page) => {
                    let mut out = String::with_capacity(page.items.len() * 200);
                    for l in &page.items {
                        csv_line(&mut out, l);
                    }
                    let next = page.next.map(Some);
                    Some((Ok(axum::body::Bytes::from(out)), next))
                }
                Err(e) => {
                    // The status is sent already: end the body short, and say why in the log.
                    tracing::error!(error = %e, statement = %id, "statement export failed");
                    Some((Err(std::io::Error::other("statement export failed")), None))
                }
            }
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(first, pages));
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"statement-{id}.csv\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

const ITEM_PARAMS: [&str; 4] = ["cursor", "limit", "category", "unresolved"];

/// The latest report's reconciliation, order by order.
#[utoipa::path(
    get,
    path = "/v1/statements/{id}/reconciliation",
    tag = "settlement",
    security(("oauth2" = ["settlement:write"])),
    params(
        ("id" = String, Path, description = "Statement id"),
        ("category" = Option<String>, Query, description = "Only this category"),
        ("unresolved" = Option<bool>, Query, description = "Only discrepancies not yet resolved"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1–500, default 100", minimum = 1, maximum = 500),
    ),
    responses(
        (status = 200, description = "A page of items", body = ItemList),
        (status = 404, description = "`not_found`: unknown statement, another partner's, or no report yet", body = ApiProblem, content_type = "application/problem+json"),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_reconciliation(
    State(state): State<SettlementState>,
    auth: SettlementAuth,
    IdPath(id): IdPath,
    RawQuery(query): RawQuery,
) -> Result<Json<ItemList>, ApiError> {
    auth.require_settlement()?;
    let q = QueryMap::parse(query.as_deref(), &ITEM_PARAMS)?;
    let (filter, page) = item_query(&q)?;
    let st = state
        .settlement
        .statement(Some(auth.partner()), &id)
        .await?;
    let report = st
        .latest_report_id
        .ok_or_else(|| ApiError::not_found("report of statement", id.clone()))?;
    let page = state
        .settlement
        .report_items(Some(auth.partner()), &id, &report, &filter, &page)
        .await?;
    Ok(Json(ItemList {
        report_id: report,
        items: page.items.iter().map(ItemView::from).collect(),
        next_cursor: page.next.map(|k| encode_cursor("item", &k)),
    }))
}

/// Reads `category`, `unresolved`, `cursor` and `limit` of an item list.
pub fn item_query(q: &QueryMap) -> Result<(ItemFilter, PageRequest), ApiError> {
    let category = q
        .get("category")
        .map(|c| {
            Category::parse(c).ok_or_else(|| {
                ApiError::invalid_query("category", format!("{c:?} is not a category"))
            })
        })
        .transpose()?;
    let unresolved = match q.get("unresolved") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "unresolved",
                "must be true or false",
            ));
        }
    };
    let page = PageRequest {
        limit: page_limit(q.get("limit"), 100, 500)? as u32,
        after: q
            .get("cursor")
            .map(|c| decode_cursor("item", c))
            .transpose()?,
    };
    Ok((
        ItemFilter {
            category,
            unresolved,
        },
        page,
    ))
}

// ---- the report ----------------------------------------------------------------------------

/// A number a partner may write as a JSON string (`"12.30"`, exact) or a JSON number (judged by
/// its shortest decimal form; see `openpile_core::settlement::report`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberText(pub String);

impl<'de> Deserialize<'de> for NumberText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NumberText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal number, as a string (\"12.30\") or a JSON number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<NumberText, E> {
                Ok(NumberText(json_number_text(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// One order of the partner's report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportLineBody {
    /// The partner's own order id (as given when starting the session).
    pub order_id: String,
    /// Our session id, when the partner knows it.
    #[serde(default)]
    pub session_id: Option<String>,
    /// kWh, at most 3 decimals, not negative.
    #[schema(value_type = String, example = "12.345")]
    pub energy_kwh: NumberText,
    /// CNY the partner collected for the order, at most 2 decimals, not negative.
    #[schema(value_type = String, example = "20.10")]
    pub amount: NumberText,
}

/// The partner's declared totals: must equal the sums of the lines.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportTotalsBody {
    /// How many lines, when given: must equal the number of lines.
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub lines: Option<NumberText>,
    #[schema(value_type = String, example = "12.345")]
    pub energy_kwh: NumberText,
    #[schema(value_type = String, example = "20.10")]
    pub amount: NumberText,
}

/// A settlement report as JSON. As CSV (`Content-Type: text/csv`): a header
/// `order_id,session_id,energy_kwh,amount` (any order), one row per order, and a last row
/// `TOTAL,,<energy_kwh>,<amount>`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    pub lines: Vec<ReportLineBody>,
    pub totals: ReportTotalsBody,
}

impl From<ReportBody> for RawReport {
    fn from(b: ReportBody) -> Self {
        RawReport {
            format: ReportFormat::Json,
            lines: b
                .lines
                .into_iter()
                .enumerate()
                .map(|(i, l)| RawReportLine {
                    line: i as u64 + 1,
                    order_id: l.order_id,
                    session_id: l.session_id.unwrap_or_default(),
                    energy_kwh: l.energy_kwh.0,
                    amount: l.amount.0,
                })
                .collect(),
            totals: RawReportTotals {
                line: 0,
                lines: b.totals.lines.map(|n| n.0),
                energy_kwh: b.totals.energy_kwh.0,
                amount: b.totals.amount.0,
            },
        }
    }
}

/// One error of a rejected report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportErrorView {
    /// JSON: the position in `lines` (from 1); CSV: the file's line. `null`: the report as a
    /// whole (JSON totals have no line).
    pub line: Option<u64>,
    /// JSON: `lines[3].amount`, `totals.amount`; CSV: the column.
    pub field: String,
    pub reason: String,
}

/// A `validation_failed` problem listing what is wrong with a report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportProblem {
    #[serde(flatten)]
    pub problem: ApiProblem,
    /// How many errors there were in all (`errors` lists the first 100).
    pub error_count: usize,
    pub errors: Vec<ReportErrorView>,
}

fn rejected(r: &ReportRejected, format: ReportFormat, request_id: Option<String>) -> Response {
    let errors: Vec<ReportErrorView> = r
        .errors
        .iter()
        .map(|e| ReportErrorView {
            line: e.line.filter(|n| *n > 0),
            field: match (format, e.line) {
                (ReportFormat::Json, Some(n)) if n > 0 && !e.field.starts_with("totals") => {
                    format!("lines[{}].{}", n - 1, e.field)
                }
                _ => e.field.clone(),
            },
            reason: e.reason.clone(),
        })
        .collect();
    let first = errors.first();
    let problem = ApiProblem {
        type_uri: "urn:openpile:problem:validation_failed".into(),
        title: "Validation failed".into(),
        status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
        detail: match first {
            Some(e) => match e.line {
                Some(n) => format!(
                    "the report has {} error(s); first on line {n}: {}: {}",
                    r.count, e.field, e.reason
                ),
                None => format!(
                    "the report has {} error(s); first: {}: {}",
                    r.count, e.field, e.reason
                ),
            },
            None => "the report is invalid".into(),
        },
        code: "validation_failed".into(),
        field: first.map(|e| e.field.clone()),
        retry_after_s: None,
        scope: None,
        request_id,
    };
    // Not through `finish_problems` (which would drop `errors`): the request id is set here.
    error::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ReportProblem {
            problem,
            error_count: r.count,
            errors,
        },
        PROBLEM_JSON,
    )
}

/// What an accepted report yields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportAccepted {
    /// The statement, now `reconciled` or `disputed`.
    pub statement: StatementView,
    pub report: ReportView,
}

/// Reports what the partner collected for the statement's period, order by order. The report is
/// validated as a whole (errors name the line); when it is accepted it is reconciled with our
/// CDRs at once and the statement becomes `reconciled` (everything matched) or `disputed`.
#[utoipa::path(
    post,
    path = "/v1/statements/{id}/report",
    tag = "settlement",
    security(("oauth2" = ["settlement:write"])),
    params(("id" = String, Path, description = "Statement id")),
    request_body(
        content(
            (ReportBody = "application/json"),
            (String = "text/csv", example = "order_id,session_id,energy_kwh,amount\r\nORD-1001,,30.000,31.50\r\nTOTAL,,30.000,31.50\r\n"),
        ),
        description = "Up to 100 000 lines, 32 MiB",
    ),
    responses(
        (status = 200, description = "Accepted and reconciled", body = ReportAccepted),
        (status = 400, description = "`bad_request`: not JSON / not UTF-8", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `settlement:write`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: unknown statement, or another partner's", body = ApiProblem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: the period is not closed yet (the detail says when it ends), or the statement is confirmed or settled", body = ApiProblem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: send application/json or text/csv", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` with `errors`: every line's problems (malformed or negative amounts, too many decimals, negative energy, duplicate order ids, totals that do not add up)", body = ReportProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn submit_report(
    State(state): State<SettlementState>,
    auth: SettlementAuth,
    IdPath(id): IdPath,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    auth.require_settlement()?;
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match mime.as_str() {
        "application/json" => ReportFormat::Json,
        "text/csv" => ReportFormat::Csv,
        _ => return Err(ApiError::UnsupportedMediaType),
    };
    let bytes = read_body(request, &()).await?;
    let raw = match format {
        ReportFormat::Json => match parse_json::<ReportBody>(&bytes) {
            Ok(body) => RawReport::from(body),
            // A field serde could not read is a rejected report like any other: the same
            // problem shape, one error naming the field.
            Err(ApiError::Validation(v)) => {
                let r = ReportRejected {
                    count: 1,
                    errors: vec![LineError {
                        line: None,
                        field: v.field,
                        reason: v.reason,
                    }],
                };
                return Ok(rejected(&r, format, request_id));
            }
            Err(e) => return Err(e),
        },
        ReportFormat::Csv => {
            let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::BadRequest {
                detail: "the CSV is not UTF-8".into(),
            })?;
            match csv_report(text) {
                Ok(raw) => raw,
                Err(r) => return Ok(rejected(&r, format, request_id)),
            }
        }
    };
    match state
        .settlement
        .submit_report(auth.partner(), &id, raw)
        .await
    {
        Ok(outcome) => Ok(Json(ReportAccepted {
            statement: statement_view(&outcome.statement, Some(&outcome.report)),
            report: ReportView::from(&outcome.report),
        })
        .into_response()),
        Err(ReportError::Rejected(r)) => Ok(rejected(&r, format, request_id)),
        Err(e @ ReportError::PeriodNotClosed { .. }) => Err(ApiError::InvalidState(e.to_string())),
        Err(ReportError::Core(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_and_strings_are_both_read_as_text() {
        let b: ReportBody = serde_json::from_str(
            r#"{"lines":[{"order_id":"O-1","energy_kwh":12.5,"amount":"20.10"}],
                "totals":{"energy_kwh":"12.5","amount":20.1,"lines":1}}"#,
        )
        .unwrap();
        let raw = RawReport::from(b);
        assert_eq!(raw.lines[0].energy_kwh, "12.5");
        assert_eq!(raw.totals.amount, "20.1");
        assert_eq!(raw.totals.lines.as_deref(), Some("1"));
    }

    #[test]
    fn cursors_belong_to_their_list() {
        let c = encode_cursor("cdr", "2026-03-01T00:00:00.000Z|s-1");
        assert_eq!(
            decode_cursor("cdr", &c).unwrap(),
            "2026-03-01T00:00:00.000Z|s-1"
        );
        assert!(decode_cursor("line", &c).is_err());
        assert!(decode_cursor("cdr", "%%%").is_err());
    }
}
