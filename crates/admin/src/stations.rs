//! `/admin/v1/stations`: create, read, update and retire stations. The wire types live here and
//! are converted to core's `Station` at the edge; validation is core's (`Station::validate` and
//! the id/area/coordinate parsers), the same the import runs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use openpile_core::error::{StoreError, ValidationError};
use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::{StationId, TariffId};
use openpile_core::network::{AreaCode, OpeningHours, Station, StationStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OperatorAuth;
use crate::error::{AdminError, Problem, StoreResultExt as _};
use crate::extract::{IdPath, JsonBody, PageDto, PageParams, QueryParams, parse_bool};
use crate::{AdminState, audit};

/// A position. On input, `datum` says which datum `lat`/`lng` are in (default `wgs84`;
/// `gcj02` is what Amap and Tencent maps show).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lat": 31.2035, "lng": 121.5906, "datum": "wgs84"}))]
pub struct LocationInput {
    pub lat: f64,
    pub lng: f64,
    /// `wgs84` (default) or `gcj02`.
    #[serde(default)]
    pub datum: Option<String>,
}

/// A position as we send it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

/// A station as the operator writes it (create and full update).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "SH-0001",
    "name": "上海浦东张江充电站",
    "address": "上海市浦东新区祖冲之路2288号",
    "area_code": "310115",
    "province": "上海市",
    "city": "上海市",
    "district": "浦东新区",
    "location": {"lat": 31.2035, "lng": 121.5906, "datum": "wgs84"},
    "opening_hours": "24/7",
    "parking": "停车前2小时免费",
    "service_phone": "400-820-1234",
    "photos": ["https://example.com/sh-0001.jpg"],
    "status": "operational",
    "tariff_id": "T-SH-COMMERCIAL",
    "sandbox": false
}))]
pub struct StationInput {
    /// ≤ 20 characters: letters, digits, `-`, `_`, `.`. On update it must match the path.
    pub id: String,
    pub name: String,
    pub address: String,
    /// 6-digit GB/T 2260 code of the district.
    pub area_code: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub location: LocationInput,
    /// `24/7` or `HH:MM-HH:MM` (local time).
    pub opening_hours: String,
    #[serde(default)]
    pub parking: Option<String>,
    pub service_phone: String,
    #[serde(default)]
    pub photos: Vec<String>,
    /// planned, operational (default), maintenance or closed.
    #[serde(default)]
    pub status: Option<String>,
    /// The tariff that prices charging here; it must exist.
    pub tariff_id: String,
    /// Served by simulated chargers; only sandbox credentials see it.
    #[serde(default)]
    pub sandbox: bool,
}

impl StationInput {
    /// Converts to the domain type, running core's validation.
    pub fn into_station(self) -> Result<Station, ValidationError> {
        let datum = match self.location.datum.as_deref() {
            None | Some("wgs84") => Datum::Wgs84,
            Some("gcj02") => Datum::Gcj02,
            Some(_) => {
                return Err(ValidationError::new(
                    "location.datum",
                    "must be wgs84 or gcj02",
                ));
            }
        };
        let station = Station {
            id: StationId::parse(self.id).map_err(|e| rename(e, "id"))?,
            name: self.name,
            address: self.address,
            area_code: AreaCode::parse(&self.area_code)?,
            province: self.province,
            city: self.city,
            district: self.district,
            location: Coordinates::new(self.location.lat, self.location.lng, datum)
                .map_err(|e| e.within("location"))?,
            opening_hours: OpeningHours::parse(&self.opening_hours)?,
            parking: self.parking,
            service_phone: self.service_phone,
            photos: self.photos,
            status: match self.status.as_deref() {
                None => StationStatus::Operational,
                Some(s) => StationStatus::parse(s)?,
            },
            tariff_id: TariffId::parse(self.tariff_id)?,
            sandbox: self.sandbox,
            retired_at: None,
        };
        station.validate()?;
        Ok(station)
    }
}

/// Core names an id error after the id's kind (`station_id`); in a body it is the `id` field.
pub(crate) fn rename(mut e: ValidationError, field: &str) -> ValidationError {
    field.clone_into(&mut e.field);
    e
}

/// A station as the admin API returns it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "SH-0001",
    "name": "上海浦东张江充电站",
    "address": "上海市浦东新区祖冲之路2288号",
    "area_code": "310115",
    "province": "上海市",
    "city": "上海市",
    "district": "浦东新区",
    "location": {"lat": 31.2035, "lng": 121.5906},
    "location_gcj02": {"lat": 31.201384, "lng": 121.595032},
    "opening_hours": "24/7",
    "parking": "停车前2小时免费",
    "service_phone": "400-820-1234",
    "photos": ["https://example.com/sh-0001.jpg"],
    "status": "operational",
    "tariff_id": "T-SH-COMMERCIAL",
    "sandbox": false
}))]
pub struct StationDto {
    pub id: String,
    pub name: String,
    pub address: String,
    pub area_code: String,
    pub province: String,
    pub city: String,
    pub district: String,
    /// WGS-84 (GPS, OCPI).
    pub location: LatLng,
    /// GCJ-02 (Chinese map apps, T/CEC 102).
    pub location_gcj02: LatLng,
    pub opening_hours: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parking: Option<String>,
    pub service_phone: String,
    pub photos: Vec<String>,
    pub status: String,
    pub tariff_id: String,
    pub sandbox: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<Station> for StationDto {
    fn from(s: Station) -> Self {
        let (glat, glng) = s.location.gcj02();
        Self {
            id: s.id.to_string(),
            name: s.name,
            address: s.address,
            area_code: s.area_code.to_string(),
            province: s.province,
            city: s.city,
            district: s.district,
            location: LatLng {
                lat: s.location.lat,
                lng: s.location.lng,
            },
            location_gcj02: LatLng {
                lat: glat,
                lng: glng,
            },
            opening_hours: s.opening_hours.to_text(),
            parking: s.parking,
            service_phone: s.service_phone,
            photos: s.photos,
            status: s.status.as_str().to_owned(),
            tariff_id: s.tariff_id.to_string(),
            sandbox: s.sandbox,
            retired_at: s.retired_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StationListParams {
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// Include retired stations (default false).
    #[param(value_type = Option<bool>)]
    pub include_retired: Option<String>,
}

/// A station id from the path; one that cannot be valid is simply not found.
pub(crate) fn station_id(id: &str) -> Result<StationId, AdminError> {
    StationId::parse(id).map_err(|_| AdminError::not_found("station", id))
}

/// The station must exist and not be retired for something to be placed at it.
pub(crate) async fn live_station(
    state: &AdminState,
    field: &str,
    id: &StationId,
) -> Result<Station, AdminError> {
    match state.network.get_station(id).await {
        Ok(s) if s.retired_at.is_none() => Ok(s),
        Ok(_) => Err(AdminError::validation(
            field,
            format!("station {id} is retired"),
        )),
        Err(StoreError::NotFound) => Err(AdminError::validation(field, format!("no station {id}"))),
        Err(e) => Err(e.into()),
    }
}

async fn check_tariff_exists(state: &AdminState, id: &TariffId) -> Result<(), AdminError> {
    match state.network.tariff_versions(id).await {
        Ok(v) if !v.is_empty() => Ok(()),
        Ok(_) | Err(StoreError::NotFound) => Err(AdminError::validation(
            "tariff_id",
            format!("no tariff {id}"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// List stations, ordered by id.
#[utoipa::path(
    get,
    path = "/admin/v1/stations",
    tag = "admin-network",
    security(("bearer" = [])),
    params(StationListParams),
    responses(
        (status = 200, description = "A page of stations", body = PageDto<StationDto>),
        (status = 400, description = "Bad `limit`, `cursor` or flag (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_stations(
    State(state): State<AdminState>,
    _auth: OperatorAuth,
    QueryParams(q): QueryParams<StationListParams>,
) -> Result<Json<PageDto<StationDto>>, AdminError> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .to_request()?;
    let include_retired = parse_bool("include_retired", q.include_retired.as_deref())?;
    let stations = state.network.list_stations(&page, include_retired).await?;
    Ok(Json(PageDto::from_page(stations, StationDto::from)))
}

/// One station.
#[utoipa::path(
    get,
    path = "/admin/v1/stations/{id}",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Station id")),
    responses(
        (status = 200, description = "The station", body = StationDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such station (`not_found`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_station(
    State(state): State<AdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<StationDto>, AdminError> {
    let sid = station_id(&id)?;
    let station = state
        .network
        .get_station(&sid)
        .await
        .or_not_found("station", &id)?;
    Ok(Json(station.into()))
}

/// Create a station.
#[utoipa::path(
    post,
    path = "/admin/v1/stations",
    tag = "admin-network",
    security(("bearer" = [])),
    request_body = StationInput,
    responses(
        (status = 201, description = "Created", body = StationDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A station with this id exists (`conflict`, constraint `stations_pkey`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (`validation_failed`, `field` names it)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_station(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    JsonBody(input): JsonBody<StationInput>,
) -> Result<(StatusCode, Json<StationDto>), AdminError> {
    auth.require_network_writer()?;
    let station = input.into_station()?;
    check_tariff_exists(&state, &station.tariff_id).await?;
    match state.network.get_station(&station.id).await {
        Ok(_) => {
            return Err(AdminError::conflict(
                "stations_pkey",
                format!("station {} already exists", station.id),
            ));
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    state.network.put_station(&station).await?;
    audit::record(
        &state,
        auth.actor(),
        "station.create",
        format!("station:{}", station.id),
        serde_json::json!({ "name": station.name, "tariff_id": station.tariff_id }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(station.into())))
}

/// Replace a station's data.
#[utoipa::path(
    put,
    path = "/admin/v1/stations/{id}",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Station id")),
    request_body = StationInput,
    responses(
        (status = 200, description = "Updated", body = StationDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such station", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The station is retired (`conflict`, constraint `retired`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_station(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(input): JsonBody<StationInput>,
) -> Result<Json<StationDto>, AdminError> {
    auth.require_network_writer()?;
    let sid = station_id(&id)?;
    if input.id != id {
        return Err(AdminError::validation(
            "id",
            "must match the id in the path",
        ));
    }
    let existing = state
        .network
        .get_station(&sid)
        .await
        .or_not_found("station", &id)?;
    if existing.retired_at.is_some() {
        return Err(AdminError::conflict(
            "retired",
            format!("station {id} is retired"),
        ));
    }
    let station = input.into_station()?;
    check_tariff_exists(&state, &station.tariff_id).await?;
    state.network.put_station(&station).await?;
    audit::record(
        &state,
        auth.actor(),
        "station.update",
        format!("station:{id}"),
        serde_json::json!({ "name": station.name, "tariff_id": station.tariff_id, "status": station.status.as_str() }),
    )
    .await?;
    Ok(Json(station.into()))
}

/// Retire a station with its chargers and connectors. Retired data stays readable.
#[utoipa::path(
    post,
    path = "/admin/v1/stations/{id}/retire",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Station id")),
    responses(
        (status = 200, description = "Retired", body = StationDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such station", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already retired (`conflict`, constraint `retired`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn retire_station(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<StationDto>, AdminError> {
    auth.require_network_writer()?;
    let sid = station_id(&id)?;
    let existing = state
        .network
        .get_station(&sid)
        .await
        .or_not_found("station", &id)?;
    if existing.retired_at.is_some() {
        return Err(AdminError::conflict(
            "retired",
            format!("station {id} is already retired"),
        ));
    }
    state
        .network
        .retire_station(&sid, state.clock.now())
        .await?;
    audit::record(
        &state,
        auth.actor(),
        "station.retire",
        format!("station:{id}"),
        serde_json::json!({}),
    )
    .await?;
    let station = state
        .network
        .get_station(&sid)
        .await
        .or_not_found("station", &id)?;
    Ok(Json(station.into()))
}
