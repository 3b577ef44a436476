//! `/admin/v1/tariffs`: list the latest version of each tariff, read every version of one, and
//! add a version. Versions never change once written (they price past sessions), so there is
//! no update: a change is a new version with a later `effective_from`. Coverage of the day,
//! overlaps and price precision are checked by core's `Tariff::new`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use openpile_core::error::{StoreError, ValidationError};
use openpile_core::ids::TariffId;
use openpile_core::money::UnitPrice;
use openpile_core::tariff::{DayMinute, IdleFee, PeriodLabel, Tariff, TariffSegment};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::OperatorAuth;
use crate::error::{AdminError, Problem};
use crate::extract::{DecimalText, IdPath, JsonBody, PageDto, PageParams, QueryParams};
use crate::stations::rename;
use crate::{AdminState, audit};

/// One time-of-use segment, local time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// `HH:MM`.
    #[schema(example = "08:00")]
    pub start: String,
    /// `HH:MM`, `24:00` for the end of the day; at or before `start` wraps past midnight.
    #[schema(example = "22:00")]
    pub end: String,
    /// sharp/尖, peak/峰, flat/平 or valley/谷.
    #[serde(default)]
    pub label: Option<String>,
    /// CNY per kWh, at most 4 decimal places.
    #[schema(value_type = String, example = "0.8512")]
    pub electricity_price: DecimalText,
    /// CNY per kWh, at most 4 decimal places.
    #[schema(value_type = String, example = "0.6000")]
    pub service_price: DecimalText,
}

/// Fee per minute a connector stays occupied after charging, after a grace period.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdleFeeInput {
    /// CNY per minute, at most 4 decimal places.
    #[schema(value_type = String, example = "0.5")]
    pub price_per_minute: DecimalText,
    pub grace_minutes: u32,
}

/// A new tariff version. The version number is assigned: 1 for a new id, else the next.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "T-SH-COMMERCIAL",
    "name": "上海工商业分时电价",
    "effective_from": "2027-01-01T00:00:00+08:00",
    "segments": [
        {"start": "00:00", "end": "08:00", "label": "valley", "electricity_price": "0.3500", "service_price": "0.4000"},
        {"start": "08:00", "end": "10:00", "label": "flat", "electricity_price": "0.7000", "service_price": "0.6000"},
        {"start": "10:00", "end": "15:00", "label": "peak", "electricity_price": "1.1000", "service_price": "0.8000"},
        {"start": "15:00", "end": "24:00", "label": "flat", "electricity_price": "0.7000", "service_price": "0.6000"}
    ],
    "idle_fee": {"price_per_minute": "0.5", "grace_minutes": 30}
}))]
pub struct TariffInput {
    pub id: String,
    pub name: String,
    /// When this version takes effect (RFC 3339). A new version of an existing tariff must take
    /// effect after the latest one and not in the past.
    pub effective_from: DateTime<Utc>,
    /// Together they cover the local day exactly once.
    pub segments: Vec<SegmentInput>,
    #[serde(default)]
    pub idle_fee: Option<IdleFeeInput>,
}

impl TariffInput {
    /// Converts to the domain type; core's `Tariff::new` checks coverage and names the field.
    pub fn into_tariff(self, version: u32) -> Result<Tariff, ValidationError> {
        let id = TariffId::parse(self.id).map_err(|e| rename(e, "id"))?;
        let segments = self
            .segments
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let at = |f: &str| format!("segments[{i}].{f}");
                Ok(TariffSegment {
                    start: DayMinute::parse(&at("start"), &s.start)?,
                    end: DayMinute::parse(&at("end"), &s.end)?,
                    label: s
                        .label
                        .as_deref()
                        .map(PeriodLabel::parse)
                        .transpose()
                        .map_err(|e| e.within(format!("segments[{i}]")))?,
                    electricity_price: UnitPrice::parse(
                        &at("electricity_price"),
                        &s.electricity_price.0,
                    )?,
                    service_price: UnitPrice::parse(&at("service_price"), &s.service_price.0)?,
                })
            })
            .collect::<Result<Vec<_>, ValidationError>>()?;
        let idle_fee = self
            .idle_fee
            .map(|f| {
                Ok::<_, ValidationError>(IdleFee {
                    price_per_minute: UnitPrice::parse(
                        "idle_fee.price_per_minute",
                        &f.price_per_minute.0,
                    )?,
                    grace_minutes: f.grace_minutes,
                })
            })
            .transpose()?;
        Tariff::new(
            id,
            self.name,
            version,
            self.effective_from,
            segments,
            idle_fee,
        )
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentDto {
    pub start: String,
    pub end: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[schema(value_type = String, example = "0.8512")]
    pub electricity_price: String,
    #[schema(value_type = String, example = "0.6")]
    pub service_price: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdleFeeDto {
    #[schema(value_type = String, example = "0.5")]
    pub price_per_minute: String,
    pub grace_minutes: u32,
}

/// One version of a tariff.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "T-SH-COMMERCIAL",
    "name": "上海工商业分时电价",
    "version": 2,
    "effective_from": "2026-12-31T16:00:00Z",
    "segments": [
        {"start": "00:00", "end": "08:00", "label": "valley", "electricity_price": "0.35", "service_price": "0.4"},
        {"start": "08:00", "end": "24:00", "label": "flat", "electricity_price": "0.7", "service_price": "0.6"}
    ],
    "idle_fee": {"price_per_minute": "0.5", "grace_minutes": 30}
}))]
pub struct TariffDto {
    pub id: String,
    pub name: String,
    pub version: u32,
    pub effective_from: DateTime<Utc>,
    /// Sorted by start.
    pub segments: Vec<SegmentDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_fee: Option<IdleFeeDto>,
}

impl From<Tariff> for TariffDto {
    fn from(t: Tariff) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            version: t.version,
            effective_from: t.effective_from,
            segments: t
                .segments
                .into_iter()
                .map(|s| SegmentDto {
                    start: s.start.to_string(),
                    end: s.end.to_string(),
                    label: s.label.map(|l| l.as_str().to_owned()),
                    electricity_price: s.electricity_price.to_string(),
                    service_price: s.service_price.to_string(),
                })
                .collect(),
            idle_fee: t.idle_fee.map(|f| IdleFeeDto {
                price_per_minute: f.price_per_minute.to_string(),
                grace_minutes: f.grace_minutes,
            }),
        }
    }
}

/// Every version of a tariff, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TariffVersionsDto {
    pub id: String,
    pub versions: Vec<TariffDto>,
}

async fn versions_of(state: &AdminState, id: &TariffId) -> Result<Vec<Tariff>, AdminError> {
    match state.network.tariff_versions(id).await {
        Ok(v) => Ok(v),
        Err(StoreError::NotFound) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// List tariffs (latest version of each), ordered by id.
#[utoipa::path(
    get,
    path = "/admin/v1/tariffs",
    tag = "admin-network",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of tariffs", body = PageDto<TariffDto>),
        (status = 400, description = "Bad query (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_tariffs(
    State(state): State<AdminState>,
    _auth: OperatorAuth,
    QueryParams(q): QueryParams<PageParams>,
) -> Result<Json<PageDto<TariffDto>>, AdminError> {
    let page = state.network.list_tariffs(&q.to_request()?).await?;
    Ok(Json(PageDto::from_page(page, TariffDto::from)))
}

/// Every version of one tariff.
#[utoipa::path(
    get,
    path = "/admin/v1/tariffs/{id}",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tariff id")),
    responses(
        (status = 200, description = "The versions, oldest first", body = TariffVersionsDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tariff", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_tariff(
    State(state): State<AdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<TariffVersionsDto>, AdminError> {
    let tid = TariffId::parse(&id).map_err(|_| AdminError::not_found("tariff", &id))?;
    let versions = versions_of(&state, &tid).await?;
    if versions.is_empty() {
        return Err(AdminError::not_found("tariff", id));
    }
    Ok(Json(TariffVersionsDto {
        id,
        versions: versions.into_iter().map(TariffDto::from).collect(),
    }))
}

/// Add a tariff version (version 1 creates the tariff).
#[utoipa::path(
    post,
    path = "/admin/v1/tariffs",
    tag = "admin-network",
    security(("bearer" = [])),
    request_body = TariffInput,
    responses(
        (status = 201, description = "The new version", body = TariffDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another version was added at the same time (`conflict`, constraint `tariffs_id_version_key`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field: gaps or overlaps in `segments`, prices with more than 4 decimals, `effective_from` too early (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_tariff_version(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    JsonBody(input): JsonBody<TariffInput>,
) -> Result<(StatusCode, Json<TariffDto>), AdminError> {
    auth.require_network_writer()?;
    let id = TariffId::parse(input.id.clone()).map_err(|e| rename(e, "id"))?;
    let versions = versions_of(&state, &id).await?;
    let version = match versions.last() {
        None => 1,
        Some(latest) => {
            // A version prices sessions from its effective time on: one in the past would
            // reprice sessions already billed.
            if input.effective_from <= latest.effective_from {
                return Err(AdminError::validation(
                    "effective_from",
                    format!(
                        "must be after version {} ({})",
                        latest.version,
                        latest.effective_from.to_rfc3339()
                    ),
                ));
            }
            if input.effective_from < state.clock.now() {
                return Err(AdminError::validation(
                    "effective_from",
                    "must not be in the past for a new version of an existing tariff",
                ));
            }
            latest.version + 1
        }
    };
    let tariff = input.into_tariff(version)?;
    state.network.put_tariff(&tariff).await?;
    audit::record(
        &state,
        auth.actor(),
        "tariff.version_create",
        format!("tariff:{}", tariff.id),
        serde_json::json!({
            "version": tariff.version,
            "effective_from": tariff.effective_from,
            "segments": tariff.segments.len(),
        }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(tariff.into())))
}
