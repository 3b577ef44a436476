//! CDRs for partners (issue 7): `GET /v1/cdrs` (the partner's CDRs booked in a time range,
//! oldest first, cursor-paged) and `GET /v1/cdrs/{id}`. A CDR is the priced, immutable record
//! of a completed session; corrections are credit CDRs (`kind: credit`) that reference the
//! original. Another partner's CDR does not exist for the caller (404).
//!
//! Amounts are strings with exactly two decimals (CNY), unit prices strings with up to four,
//! energy integer Wh plus a kWh string: no JSON floats anywhere.

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use openpile_core::money::Money;
use openpile_core::page::PageRequest;
use openpile_core::settlement::cdr::{Cdr, CdrKind};
use openpile_core::settlement::report::kwh_text;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiProblem};
use crate::extract::{IdPath, QueryMap};
use crate::paging::page_limit;
use crate::statements::{
    AUTH_ERRORS, SettlementAuth, SettlementState, decode_cursor, encode_cursor, parse_time,
};

/// Money as the wire shows it: exactly two decimals.
pub(crate) fn money(m: Money) -> String {
    format!("{:.2}", m.amount())
}

/// One priced stretch of a tariff segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CdrLineView {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `sharp`, `peak`, `flat` or `valley`, when the tariff labels the segment.
    pub label: Option<String>,
    pub energy_wh: i64,
    /// CNY per kWh.
    #[schema(example = "0.8000")]
    pub electricity_price: String,
    /// CNY per kWh.
    #[schema(example = "0.6000")]
    pub service_price: String,
    #[schema(example = "16.00")]
    pub electricity_fee: String,
    #[schema(example = "12.00")]
    pub service_fee: String,
}

/// The idle (occupancy) fee of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdleView {
    pub minutes: u32,
    pub price_per_minute: String,
    pub fee: String,
}

/// What a credit CDR corrects.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditView {
    /// The CDR it corrects.
    pub original_cdr_id: String,
    pub reason: String,
}

/// A charge detail record.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d", "kind": "session",
    "session_id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d", "partner_order_id": "ORD-1001",
    "credit": null, "station_id": "SH-0001", "connector_id": "CP-0001-1",
    "started_at": "2026-03-01T13:00:00Z", "stopped_at": "2026-03-01T15:00:00Z",
    "meter_start_wh": 1000, "meter_stop_wh": 31000, "energy_wh": 30000, "energy_kwh": "30.000",
    "tariff_id": "T-SH", "tariff_version": 3, "time_zone": "Asia/Shanghai",
    "lines": [], "idle": null, "electricity_fee": "16.50", "service_fee": "15.00",
    "idle_fee": "0.00", "total": "31.50", "currency": "CNY", "meter_anomaly": false,
    "created_at": "2026-03-01T15:00:01Z"
}))]
pub struct CdrView {
    pub id: String,
    /// `session` or `credit`.
    pub kind: String,
    pub session_id: String,
    pub partner_order_id: Option<String>,
    /// Set for credit CDRs.
    pub credit: Option<CreditView>,
    pub station_id: String,
    pub connector_id: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub meter_start_wh: i64,
    pub meter_stop_wh: i64,
    /// Billed energy (negative on a reversal).
    pub energy_wh: i64,
    pub energy_kwh: String,
    pub tariff_id: String,
    pub tariff_version: u32,
    /// The zone the tariff's time-of-use segments were read in.
    pub time_zone: String,
    /// One line per stretch of a tariff segment; their fees add up to the CDR's.
    pub lines: Vec<CdrLineView>,
    pub idle: Option<IdleView>,
    pub electricity_fee: String,
    pub service_fee: String,
    pub idle_fee: String,
    pub total: String,
    pub currency: String,
    /// The meter register went down during the session: the interval was not billed.
    pub meter_anomaly: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Cdr> for CdrView {
    fn from(c: &Cdr) -> Self {
        let (kind, credit) = match &c.kind {
            CdrKind::Session => ("session", None),
            CdrKind::Credit(k) => (
                "credit",
                Some(CreditView {
                    original_cdr_id: k.original.to_string(),
                    reason: k.reason.clone(),
                }),
            ),
        };
        Self {
            id: c.id.to_string(),
            kind: kind.into(),
            session_id: c.session_id.to_string(),
            partner_order_id: c.partner_order_id.clone(),
            credit,
            station_id: c.station_id.to_string(),
            connector_id: c.connector_id.to_string(),
            started_at: c.started_at,
            stopped_at: c.stopped_at,
            meter_start_wh: c.meter_start.0,
            meter_stop_wh: c.meter_stop.0,
            energy_wh: c.energy.0,
            energy_kwh: kwh_text(c.energy),
            tariff_id: c.tariff_id.to_string(),
            tariff_version: c.tariff_version,
            time_zone: c.time_zone.clone(),
            lines: c
                .lines
                .iter()
                .map(|l| CdrLineView {
                    start: l.start,
                    end: l.end,
                    label: l.label.map(|p| p.as_str().to_string()),
                    energy_wh: l.energy.0,
                    electricity_price: format!("{:.4}", l.electricity_price.value()),
                    service_price: format!("{:.4}", l.service_price.value()),
                    electricity_fee: money(l.electricity_fee),
                    service_fee: money(l.service_fee),
                })
                .collect(),
            idle: c.idle.as_ref().map(|i| IdleView {
                minutes: i.minutes,
                price_per_minute: format!("{:.4}", i.price_per_minute.value()),
                fee: money(i.fee),
            }),
            electricity_fee: money(c.electricity_fee),
            service_fee: money(c.service_fee),
            idle_fee: money(c.idle_fee),
            total: money(c.total),
            currency: c.currency.clone(),
            meter_anomaly: c.meter_anomaly,
            created_at: c.created_at,
        }
    }
}

/// A page of CDRs.
#[derive(Debug, Serialize, ToSchema)]
pub struct CdrList {
    /// Oldest first by booking time (a session's stop, a credit's issue).
    pub items: Vec<CdrView>,
    /// Pass as `cursor` for the next page (same `from`/`to`); absent on the last page.
    pub next_cursor: Option<String>,
}

const CDR_PARAMS: [&str; 4] = ["from", "to", "cursor", "limit"];

/// The partner's CDRs booked in [`from`, `to`).
#[utoipa::path(
    get,
    path = "/v1/cdrs",
    tag = "settlement",
    security(("oauth2" = ["settlement:write"]), ("oauth2" = ["charging:write"])),
    params(
        ("from" = Option<DateTime<Utc>>, Query, description = "Booked at or after (RFC 3339)"),
        ("to" = Option<DateTime<Utc>>, Query, description = "Booked before (RFC 3339)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1–500, default 100", minimum = 1, maximum = 500),
    ),
    responses(
        (status = 200, description = "A page of CDRs", body = CdrList),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `settlement:write` or `charging:write`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `to` before `from`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_cdrs(
    State(state): State<SettlementState>,
    auth: SettlementAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<CdrList>, ApiError> {
    auth.require_cdrs()?;
    let q = QueryMap::parse(query.as_deref(), &CDR_PARAMS)?;
    let limit = page_limit(q.get("limit"), 100, 500)?;
    let from = q.get("from").map(|v| parse_time("from", v)).transpose()?;
    let to = q.get("to").map(|v| parse_time("to", v)).transpose()?;
    let page = PageRequest {
        limit: limit as u32,
        after: q
            .get("cursor")
            .map(|c| decode_cursor("cdr", c))
            .transpose()?,
    };
    let page = state
        .settlement
        .partner_cdrs(auth.partner(), from, to, &page)
        .await?;
    Ok(Json(CdrList {
        items: page.items.iter().map(CdrView::from).collect(),
        next_cursor: page.next.map(|k| encode_cursor("cdr", &k)),
    }))
}

/// One of the partner's CDRs.
#[utoipa::path(
    get,
    path = "/v1/cdrs/{id}",
    tag = "settlement",
    security(("oauth2" = ["settlement:write"]), ("oauth2" = ["charging:write"])),
    params(("id" = String, Path, description = "CDR id (a session's CDR has the session's id)")),
    responses(
        (status = 200, description = "The CDR", body = CdrView),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: unknown, or another partner's", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_cdr(
    State(state): State<SettlementState>,
    auth: SettlementAuth,
    IdPath(id): IdPath,
) -> Result<Json<CdrView>, ApiError> {
    auth.require_cdrs()?;
    let cdr = state.settlement.cdr(Some(auth.partner()), &id).await?;
    Ok(Json(CdrView::from(&cdr)))
}
