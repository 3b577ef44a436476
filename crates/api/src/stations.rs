//! The read side of the network for partners: stations (with chargers, connectors and their
//! live status, coordinates in WGS-84 and GCJ-02, opening hours and the tariff in force),
//! single connectors, live connector statuses for polling, and tariffs and prices. Everything
//! is answered from the in-memory catalog; a station outside the caller's scope (or a sandbox
//! station for production credentials, and the reverse) is `not_found`, never `forbidden`.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::{ConnectorId, StationId, TariffId};
use openpile_core::money::{CURRENCY, parse_plain_decimal};
use openpile_core::network::{AreaCode, Charger, ConnectorStandard, ConnectorView, OpeningHours};
use openpile_core::partner::catalog::{CatalogStation, NETWORK_TZ, Near, StationFilter};
use openpile_core::partner::credential::Scope;
use openpile_core::tariff::Tariff;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{ApiError, ApiProblem};
use crate::extract::{IdPath, PartnerAuth, QueryMap};
use crate::paging::{Cursor, page_limit};

// ---- wire types --------------------------------------------------------------------------------

/// A position.
#[derive(Debug, Serialize, ToSchema)]
pub struct GeoPoint {
    pub lat: f64,
    pub lng: f64,
}

/// The same place in two datums: WGS-84 (GPS, OCPI) and GCJ-02 (Amap, Tencent and Baidu-converted
/// maps in mainland China, T/CEC 102).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"wgs84": {"lat": 31.203512, "lng": 121.590634}, "gcj02": {"lat": 31.201467, "lng": 121.595057}}))]
pub struct StationCoordinates {
    pub wgs84: GeoPoint,
    pub gcj02: GeoPoint,
}

fn coordinates(c: Coordinates) -> StationCoordinates {
    let (glat, glng) = c.gcj02();
    StationCoordinates {
        wgs84: GeoPoint {
            lat: c.lat,
            lng: c.lng,
        },
        gcj02: GeoPoint {
            lat: glat,
            lng: glng,
        },
    }
}

/// When the station can be used (local time, Asia/Shanghai).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"kind": "daily", "open": "07:00", "close": "23:30", "text": "07:00-23:30"}))]
pub struct OpeningHoursInfo {
    /// `always_open` or `daily`.
    #[schema(example = "daily")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    /// Not after `open` means the station closes after midnight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
    /// `24/7` or `HH:MM-HH:MM`.
    pub text: String,
}

fn opening_hours(h: &OpeningHours) -> OpeningHoursInfo {
    match h {
        OpeningHours::AlwaysOpen => OpeningHoursInfo {
            kind: "always_open",
            open: None,
            close: None,
            text: h.to_text(),
        },
        OpeningHours::Daily { open, close } => OpeningHoursInfo {
            kind: "daily",
            open: Some(open.format("%H:%M").to_string()),
            close: Some(close.format("%H:%M").to_string()),
            text: h.to_text(),
        },
    }
}

/// A connector with its live status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "SH0001-01-1", "number": 1, "standard": "gbt_dc", "current_type": "DC",
    "max_power_kw": "120", "voltage_v": 750, "current_a": 250,
    "status": "available", "changed_at": "2026-11-28T08:00:00.000Z", "status_seq": 42
}))]
pub struct ConnectorInfo {
    pub id: String,
    /// The connector number on its charger (OCPP connectorId).
    pub number: u32,
    /// `gbt_ac`, `gbt_dc`, `type2`, `ccs2`, `chademo`, `chaoji`.
    #[schema(example = "gbt_dc")]
    pub standard: &'static str,
    /// `AC` or `DC`.
    #[schema(example = "DC")]
    pub current_type: &'static str,
    /// Decimal kW as a string.
    #[schema(example = "120")]
    pub max_power_kw: String,
    pub voltage_v: u32,
    pub current_a: u32,
    /// `available`, `occupied`, `charging`, `reserved`, `unavailable`, `faulted`, `offline`.
    #[schema(example = "available")]
    pub status: &'static str,
    /// When the status last changed.
    pub changed_at: DateTime<Utc>,
    /// Grows by one with every status change: drop updates with a lower number.
    pub status_seq: i64,
}

fn connector_info(c: &ConnectorView) -> ConnectorInfo {
    ConnectorInfo {
        id: c.connector.id.to_string(),
        number: c.connector.number.get(),
        standard: c.connector.standard.as_str(),
        current_type: c.connector.standard.current_type().as_str(),
        max_power_kw: c.connector.max_power_kw.normalize().to_string(),
        voltage_v: c.connector.voltage_v,
        current_a: c.connector.current_a,
        status: c.state.status.as_str(),
        changed_at: c.state.changed_at,
        status_seq: c.state.status_seq,
    }
}

/// A charger (one OCPP charge point) and its connectors.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChargerInfo {
    pub id: String,
    #[schema(example = "DC")]
    pub current_type: &'static str,
    #[schema(example = "120")]
    pub max_power_kw: String,
    pub vendor: String,
    pub model: String,
    pub connectors: Vec<ConnectorInfo>,
}

fn charger_info(c: &Charger, connectors: &[ConnectorView]) -> ChargerInfo {
    ChargerInfo {
        id: c.id.to_string(),
        current_type: c.current_type.as_str(),
        max_power_kw: c.max_power_kw.normalize().to_string(),
        vendor: c.vendor.clone(),
        model: c.model.clone(),
        connectors: connectors.iter().map(connector_info).collect(),
    }
}

/// One time-of-use segment (local time).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"start": "08:00", "end": "19:00", "label": "peak", "electricity_price": "1.0800", "service_price": "0.8", "total_price": "1.8800"}))]
pub struct TariffSegmentInfo {
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM`; not after `start` means the segment runs past midnight.
    pub end: String,
    /// `sharp` (尖), `peak` (峰), `flat` (平) or `valley` (谷).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<&'static str>,
    /// CNY per kWh, decimal string.
    pub electricity_price: String,
    /// CNY per kWh, decimal string.
    pub service_price: String,
    /// Electricity plus service, CNY per kWh.
    pub total_price: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdleFeeInfo {
    /// CNY per minute.
    pub price_per_minute: String,
    /// Free minutes after charging ends.
    pub grace_minutes: u32,
}

/// One version of a tariff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TariffInfo {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub effective_from: DateTime<Utc>,
    /// The time zone of the segments: `Asia/Shanghai`.
    pub timezone: &'static str,
    /// `CNY`.
    pub currency: &'static str,
    /// Cover the day exactly once, by start time.
    pub segments: Vec<TariffSegmentInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_fee: Option<IdleFeeInfo>,
}

fn tariff_info(t: &Tariff) -> TariffInfo {
    TariffInfo {
        id: t.id.to_string(),
        version: t.version,
        name: t.name.clone(),
        effective_from: t.effective_from,
        timezone: NETWORK_TZ.name(),
        currency: CURRENCY,
        segments: t
            .segments
            .iter()
            .map(|s| TariffSegmentInfo {
                start: s.start.to_string(),
                end: s.end.to_string(),
                label: s.label.map(|l| l.as_str()),
                electricity_price: s.electricity_price.to_string(),
                service_price: s.service_price.to_string(),
                total_price: (s.electricity_price.value() + s.service_price.value())
                    .normalize()
                    .to_string(),
            })
            .collect(),
        idle_fee: t.idle_fee.as_ref().map(|f| IdleFeeInfo {
            price_per_minute: f.price_per_minute.to_string(),
            grace_minutes: f.grace_minutes,
        }),
    }
}

/// A station as partners see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StationInfo {
    pub id: String,
    pub name: String,
    pub address: String,
    /// GB/T 2260 district code.
    #[schema(example = "310115")]
    pub area_code: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub coordinates: StationCoordinates,
    /// Metres from `near` (only in `near` searches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    pub opening_hours: OpeningHoursInfo,
    /// Whether the opening hours cover the time of the answer.
    pub open_now: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parking: Option<String>,
    pub service_phone: String,
    pub photos: Vec<String>,
    /// `planned`, `operational`, `maintenance` or `closed`.
    #[schema(example = "operational")]
    pub status: &'static str,
    pub chargers: Vec<ChargerInfo>,
    /// The tariff version in force now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tariff: Option<TariffInfo>,
    /// The latest change to the station, its chargers, connectors or their statuses.
    pub updated_at: DateTime<Utc>,
}

fn station_info(
    st: &CatalogStation,
    distance_m: Option<f64>,
    now: DateTime<Utc>,
    tariff: Option<TariffInfo>,
) -> StationInfo {
    let s = &st.station;
    StationInfo {
        id: s.id.to_string(),
        name: s.name.clone(),
        address: s.address.clone(),
        area_code: s.area_code.to_string(),
        province: s.province.clone(),
        city: s.city.clone(),
        district: s.district.clone(),
        coordinates: coordinates(s.location),
        distance_m: distance_m.map(|d| d.round()),
        opening_hours: opening_hours(&s.opening_hours),
        open_now: st.is_open_at(now),
        parking: s.parking.clone(),
        service_phone: s.service_phone.clone(),
        photos: s.photos.clone(),
        status: s.status.as_str(),
        chargers: st
            .chargers
            .iter()
            .map(|c| charger_info(&c.charger, &c.connectors))
            .collect(),
        tariff,
        updated_at: st.updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StationList {
    pub items: Vec<StationInfo>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

// ---- query parsing -----------------------------------------------------------------------------

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid_query(
                field,
                "must be an RFC 3339 date-time with offset, e.g. 2026-11-28T08:00:00Z",
            )
        })
}

fn parse_bool(field: &str, s: Option<&str>) -> Result<bool, ApiError> {
    match s {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid_query(field, "must be true or false")),
    }
}

const STATION_PARAMS: [&str; 10] = [
    "limit",
    "cursor",
    "updated_since",
    "area_code",
    "near",
    "radius_m",
    "datum",
    "connector_standard",
    "min_power_kw",
    "available_now",
];

fn station_filter(q: &QueryMap) -> Result<StationFilter, ApiError> {
    let updated_since = q
        .get("updated_since")
        .map(|s| parse_time("updated_since", s))
        .transpose()?;
    let area_code = q
        .get("area_code")
        .map(|s| AreaCode::parse(s).map_err(|e| ApiError::invalid_query("area_code", e.reason)))
        .transpose()?;
    let datum = match q.get("datum") {
        None | Some("wgs84") => Datum::Wgs84,
        Some("gcj02") => Datum::Gcj02,
        Some(_) => return Err(ApiError::invalid_query("datum", "must be wgs84 or gcj02")),
    };
    let near = match (q.get("near"), q.get("radius_m")) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(ApiError::invalid_query(
                "radius_m",
                "is only allowed with near",
            ));
        }
        (Some(near), radius) => {
            let bad = || ApiError::invalid_query("near", "must be lat,lng in decimal degrees");
            let (lat, lng) = near.split_once(',').ok_or_else(bad)?;
            let lat = f64::from_str(lat.trim()).map_err(|_| bad())?;
            let lng = f64::from_str(lng.trim()).map_err(|_| bad())?;
            let center = Coordinates::new(lat, lng, datum)
                .map_err(|e| ApiError::invalid_query("near", e.to_string()))?;
            let radius_m = match radius {
                None => 5_000,
                Some(r) => r.parse::<u32>().map_err(|_| {
                    ApiError::invalid_query(
                        "radius_m",
                        format!("must be a whole number from 1 to {}", Near::MAX_RADIUS_M),
                    )
                })?,
            };
            Some(
                Near::new(center, radius_m)
                    .map_err(|e| ApiError::invalid_query("radius_m", e.reason))?,
            )
        }
    };
    let connector_standard = q
        .get("connector_standard")
        .map(|s| {
            ConnectorStandard::parse(s)
                .map_err(|e| ApiError::invalid_query("connector_standard", e.reason))
        })
        .transpose()?;
    let min_power_kw = q
        .get("min_power_kw")
        .map(|s| {
            parse_plain_decimal("min_power_kw", s)
                .and_then(StationFilter::validate_min_power)
                .map_err(|e| ApiError::invalid_query("min_power_kw", e.reason))
        })
        .transpose()?;
    Ok(StationFilter {
        updated_since,
        area_code,
        near,
        connector_standard,
        min_power_kw,
        available_now: parse_bool("available_now", q.get("available_now"))?,
    })
}

const AUTH_ERRORS: &str = "`unauthorized`, `invalid_token`, `token_expired`, `token_revoked` or `partner_suspended` (RFC 6750, with `WWW-Authenticate`)";

// ---- handlers ----------------------------------------------------------------------------------

/// Lists the stations in the partner's scope, in a stable order (by id; by distance then id
/// with `near`), with keyset cursors: a page never repeats or skips a station that existed
/// before and after the call, whatever changes meanwhile.
#[utoipa::path(
    get,
    path = "/v1/stations",
    tag = "stations",
    security(("oauth2" = ["stations:read"])),
    params(
        ("limit" = Option<u32>, Query, description = "1–100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page (same filters)"),
        ("updated_since" = Option<DateTime<Utc>>, Query, description = "Only stations where anything (station, chargers, connectors, statuses) changed at or after this time"),
        ("area_code" = Option<String>, Query, description = "GB/T 2260 code: a province (310000), city (310100) or district (310115)", example = "310000"),
        ("near" = Option<String>, Query, description = "`lat,lng`: stations within `radius_m`, nearest first", example = "31.2035,121.5906"),
        ("radius_m" = Option<u32>, Query, description = "With `near`: 1–50 000 m, default 5 000", minimum = 1, maximum = 50000),
        ("datum" = Option<String>, Query, description = "Datum of `near`: `wgs84` (default) or `gcj02`"),
        ("connector_standard" = Option<String>, Query, description = "`gbt_ac`, `gbt_dc`, `type2`, `ccs2`, `chademo`, `chaoji`"),
        ("min_power_kw" = Option<String>, Query, description = "A connector with at least this power (decimal kW, > 0, ≤ 1000)", example = "60"),
        ("available_now" = Option<bool>, Query, description = "Operational, open now, with an available connector (matching the connector filters)"),
    ),
    responses(
        (status = 200, description = "A page of stations", body = StationList),
        (status = 400, description = "`invalid_query` (`field` names the parameter) or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `stations:read`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_stations(
    State(state): State<ApiState>,
    auth: PartnerAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<StationList>, ApiError> {
    auth.require(Scope::StationsRead)?;
    let q = QueryMap::parse(query.as_deref(), &STATION_PARAMS)?;
    let limit = page_limit(q.get("limit"), 20, 100)?;
    let filter = station_filter(&q)?;
    let after = match q.get("cursor") {
        None => None,
        Some(c) => match Cursor::decode(c)? {
            Cursor::Station(s) => Some(s),
            _ => {
                return Err(ApiError::InvalidCursor(
                    "was issued for another list".into(),
                ));
            }
        },
    };
    let snap = state.catalog.snapshot().await?;
    let now = state.clock.now();
    let page = snap
        .stations(&auth.0.visibility, &filter, now, limit, after.as_ref())
        .map_err(|e| ApiError::InvalidCursor(e.reason))?;
    // A page's stations mostly share a few tariffs: render each once.
    let mut tariffs: HashMap<&TariffId, Option<TariffInfo>> = HashMap::new();
    let items = page
        .items
        .iter()
        .map(|h| {
            let tid = &h.station.station.tariff_id;
            let tariff = tariffs
                .entry(tid)
                .or_insert_with(|| snap.tariff_in_force(tid, now).map(tariff_info))
                .clone();
            station_info(&h.station, h.distance_m, now, tariff)
        })
        .collect();
    Ok(Json(StationList {
        items,
        next_cursor: page.next.map(|c| Cursor::Station(c).encode()),
    }))
}

fn station_id(id: &str) -> Result<StationId, ApiError> {
    StationId::parse(id).map_err(|_| ApiError::not_found("station", id))
}

/// One station in the partner's scope.
#[utoipa::path(
    get,
    path = "/v1/stations/{station_id}",
    tag = "stations",
    security(("oauth2" = ["stations:read"])),
    params(("station_id" = String, Path, description = "Station id")),
    responses(
        (status = 200, description = "The station", body = StationInfo),
        (status = 400, description = "`bad_request`: a malformed path segment", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: unknown, retired or outside the partner's scope", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_station(
    State(state): State<ApiState>,
    auth: PartnerAuth,
    IdPath(id): IdPath,
) -> Result<Json<StationInfo>, ApiError> {
    auth.require(Scope::StationsRead)?;
    let sid = station_id(&id)?;
    let snap = state.catalog.snapshot().await?;
    let st = snap
        .station(&auth.0.visibility, &sid)
        .ok_or_else(|| ApiError::not_found("station", id.clone()))?;
    let now = state.clock.now();
    let tariff = snap
        .tariff_in_force(&st.station.tariff_id, now)
        .map(tariff_info);
    Ok(Json(station_info(st, None, now, tariff)))
}

/// A station's tariff: the version in force and the versions announced for later.
#[derive(Debug, Serialize, ToSchema)]
pub struct StationTariff {
    pub station_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<TariffInfo>,
    /// Versions taking effect later, earliest first.
    pub upcoming: Vec<TariffInfo>,
}

/// The full time-of-use table of a station.
#[utoipa::path(
    get,
    path = "/v1/stations/{station_id}/tariff",
    tag = "tariffs",
    security(("oauth2" = ["stations:read"])),
    params(("station_id" = String, Path, description = "Station id")),
    responses(
        (status = 200, description = "The tariff in force and upcoming versions", body = StationTariff),
        (status = 400, description = "`bad_request`: a malformed path segment", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_station_tariff(
    State(state): State<ApiState>,
    auth: PartnerAuth,
    IdPath(id): IdPath,
) -> Result<Json<StationTariff>, ApiError> {
    auth.require(Scope::StationsRead)?;
    let sid = station_id(&id)?;
    let snap = state.catalog.snapshot().await?;
    let st = snap
        .station(&auth.0.visibility, &sid)
        .ok_or_else(|| ApiError::not_found("station", id.clone()))?;
    let now = state.clock.now();
    let tid = &st.station.tariff_id;
    Ok(Json(StationTariff {
        station_id: id,
        current: snap.tariff_in_force(tid, now).map(tariff_info),
        upcoming: snap
            .tariff_versions(tid)
            .iter()
            .filter(|t| t.effective_from > now)
            .map(tariff_info)
            .collect(),
    }))
}

/// A connector with where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorDetail {
    pub station_id: String,
    pub charger_id: String,
    #[serde(flatten)]
    pub connector: ConnectorInfo,
}

fn connector_id(id: &str) -> Result<ConnectorId, ApiError> {
    ConnectorId::parse(id).map_err(|_| ApiError::not_found("connector", id))
}

/// One connector in the partner's scope, with its live status.
#[utoipa::path(
    get,
    path = "/v1/connectors/{connector_id}",
    tag = "stations",
    security(("oauth2" = ["stations:read"])),
    params(("connector_id" = String, Path, description = "Connector id")),
    responses(
        (status = 200, description = "The connector", body = ConnectorDetail),
        (status = 400, description = "`bad_request`: a malformed path segment", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_connector(
    State(state): State<ApiState>,
    auth: PartnerAuth,
    IdPath(id): IdPath,
) -> Result<Json<ConnectorDetail>, ApiError> {
    auth.require(Scope::StationsRead)?;
    let cid = connector_id(&id)?;
    let snap = state.catalog.snapshot().await?;
    let c = snap
        .connector(&auth.0.visibility, &cid)
        .ok_or_else(|| ApiError::not_found("connector", id.clone()))?;
    Ok(Json(ConnectorDetail {
        station_id: c.station.station.id.to_string(),
        charger_id: c.charger().id.to_string(),
        connector: connector_info(c.connector()),
    }))
}

/// The price in force on a connector at a time.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "connector_id": "SH0001-01-1", "station_id": "SH-0001", "at": "2026-11-28T02:30:00Z",
    "local_time": "10:30", "tariff_id": "T-SH-TOU", "tariff_version": 3,
    "segment": {"start": "08:00", "end": "19:00", "label": "peak", "electricity_price": "1.08", "service_price": "0.8", "total_price": "1.88"},
    "currency": "CNY"
}))]
pub struct ConnectorPrice {
    pub connector_id: String,
    pub station_id: String,
    pub at: DateTime<Utc>,
    /// `at` in Asia/Shanghai, `HH:MM`.
    pub local_time: String,
    pub tariff_id: String,
    pub tariff_version: u32,
    /// The segment in force, with its prices per kWh.
    pub segment: TariffSegmentInfo,
    pub currency: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_fee: Option<IdleFeeInfo>,
}

/// The price per kWh in force on a connector at `at` (default: now).
#[utoipa::path(
    get,
    path = "/v1/connectors/{connector_id}/price",
    tag = "tariffs",
    security(("oauth2" = ["stations:read"])),
    params(
        ("connector_id" = String, Path, description = "Connector id"),
        ("at" = Option<DateTime<Utc>>, Query, description = "RFC 3339 time; default now"),
    ),
    responses(
        (status = 200, description = "The price", body = ConnectorPrice),
        (status = 400, description = "`invalid_query` (`at`)", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such connector, or no tariff version in force at `at`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_connector_price(
    State(state): State<ApiState>,
    auth: PartnerAuth,
    IdPath(id): IdPath,
    RawQuery(query): RawQuery,
) -> Result<Json<ConnectorPrice>, ApiError> {
    auth.require(Scope::StationsRead)?;
    let q = QueryMap::parse(query.as_deref(), &["at"])?;
    let at = match q.get("at") {
        Some(s) => parse_time("at", s)?,
        None => state.clock.now(),
    };
    let cid = connector_id(&id)?;
    let snap = state.catalog.snapshot().await?;
    let c = snap
        .connector(&auth.0.visibility, &cid)
        .ok_or_else(|| ApiError::not_found("connector", id.clone()))?;
    let station = &c.station.station;
    let tariff = snap
        .tariff_in_force(&station.tariff_id, at)
        .ok_or_else(|| {
            ApiError::not_found("tariff in force at that time for connector", id.clone())
        })?;
    let local = at.with_timezone(&NETWORK_TZ).time();
    let seg = tariff.segment_at(local);
    let info = tariff_info(tariff);
    let segment = info
        .segments
        .into_iter()
        .find(|s| s.start == seg.start.to_string())
        .ok_or_else(|| ApiError::Internal("tariff segment vanished".into()))?;
    Ok(Json(ConnectorPrice {
        connector_id: id,
        station_id: station.id.to_string(),
        at,
        local_time: local.format("%H:%M").to_string(),
        tariff_id: tariff.id.to_string(),
        tariff_version: tariff.version,
        segment,
        currency: CURRENCY,
        idle_fee: info.idle_fee,
    }))
}

/// The live status of one connector.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"connector_id": "SH0001-01-1", "station_id": "SH-0001", "charger_id": "SH0001-01", "status": "charging", "changed_at": "2026-11-28T08:00:00.000Z", "status_seq": 43}))]
pub struct ConnectorStatusInfo {
    pub connector_id: String,
    pub station_id: String,
    pub charger_id: String,
    #[schema(example = "charging")]
    pub status: &'static str,
    pub changed_at: DateTime<Utc>,
    pub status_seq: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorStatusList {
    pub items: Vec<ConnectorStatusInfo>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Live connector statuses for cheap polling: by connector id, optionally of one station and
/// only those changed at or after `updated_since`. Use `status_seq` to drop stale updates.
#[utoipa::path(
    get,
    path = "/v1/connector-statuses",
    tag = "stations",
    security(("oauth2" = ["stations:read"])),
    params(
        ("station_id" = Option<String>, Query, description = "Only this station's connectors"),
        ("updated_since" = Option<DateTime<Utc>>, Query, description = "Only statuses that changed at or after this time"),
        ("limit" = Option<u32>, Query, description = "1–1000, default 500", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of statuses", body = ConnectorStatusList),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: `station_id` unknown or out of scope", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_connector_statuses(
    State(state): State<ApiState>,
    auth: PartnerAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<ConnectorStatusList>, ApiError> {
    auth.require(Scope::StationsRead)?;
    let q = QueryMap::parse(
        query.as_deref(),
        &["station_id", "updated_since", "limit", "cursor"],
    )?;
    let limit = page_limit(q.get("limit"), 500, 1000)?;
    let updated_since = q
        .get("updated_since")
        .map(|s| parse_time("updated_since", s))
        .transpose()?;
    let station = q.get("station_id").map(station_id).transpose()?;
    let after = match q.get("cursor") {
        None => None,
        Some(c) => match Cursor::decode(c)? {
            Cursor::Connector(id) => Some(id),
            _ => {
                return Err(ApiError::InvalidCursor(
                    "was issued for another list".into(),
                ));
            }
        },
    };
    let snap = state.catalog.snapshot().await?;
    let page = snap
        .statuses(
            &auth.0.visibility,
            station.as_ref(),
            updated_since,
            limit,
            after.as_ref(),
        )
        .ok_or_else(|| ApiError::not_found("station", q.get("station_id").unwrap_or_default()))?;
    Ok(Json(ConnectorStatusList {
        items: page
            .items
            .iter()
            .map(|r| {
                let v = r.connector();
                ConnectorStatusInfo {
                    connector_id: v.connector.id.to_string(),
                    station_id: r.station.station.id.to_string(),
                    charger_id: r.charger().id.to_string(),
                    status: v.state.status.as_str(),
                    changed_at: v.state.changed_at,
                    status_seq: v.state.status_seq,
                }
            })
            .collect(),
        next_cursor: page.next.map(|c| Cursor::Connector(c).encode()),
    }))
}
