//! `/admin/v1/chargers`: create, read, update and retire chargers, and set or reset a charger's
//! OCPP password (shown once, stored as an argon2 hash). Online state comes from the
//! `ChargerGateway`, so this face never sees a WebSocket.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use openpile_core::error::{StoreError, ValidationError};
use openpile_core::ids::{ChargerId, StationId};
use openpile_core::money::parse_plain_decimal;
use openpile_core::network::{Charger, CurrentType, Registration};
use openpile_core::page::PageRequest;
use openpile_core::ports::{ChargerView, ConnectorFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OperatorAuth;
use crate::error::{AdminError, Problem, StoreResultExt as _};
use crate::extract::{DecimalText, IdPath, JsonBody, PageDto, PageParams, QueryParams, parse_json};
use crate::stations::{live_station, rename};
use crate::{AdminState, audit};
use openpile_secrets as secrets;

/// A charger as the operator writes it (create and full update).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "SH0001-01",
    "station_id": "SH-0001",
    "vendor": "星星充电",
    "model": "DC120",
    "serial": "XX2026000123",
    "current_type": "DC",
    "max_power_kw": "120",
    "firmware": "3.2.1",
    "disabled": false
}))]
pub struct ChargerInput {
    /// The OCPP charge point identity (≤ 20 printable ASCII characters, no `/`). On update it
    /// must match the path.
    pub id: String,
    pub station_id: String,
    pub vendor: String,
    pub model: String,
    #[serde(default)]
    pub serial: Option<String>,
    /// `AC` or `DC`.
    pub current_type: String,
    /// kW, at most one decimal place.
    #[schema(value_type = String, example = "120")]
    pub max_power_kw: DecimalText,
    #[serde(default)]
    pub firmware: Option<String>,
    /// A disabled charger is refused when it connects.
    #[serde(default)]
    pub disabled: bool,
}

impl ChargerInput {
    /// Converts to the domain type with core's validation. `registration` is what the charger
    /// had (a new one is provisioned); `disabled` overrides it.
    pub fn into_charger(self, registration: Registration) -> Result<Charger, ValidationError> {
        let registration = match (self.disabled, registration) {
            (true, _) => Registration::Disabled,
            (false, Registration::Disabled) => Registration::Provisioned,
            (false, r) => r,
        };
        let charger = Charger {
            id: ChargerId::parse(self.id).map_err(|e| rename(e, "id"))?,
            station_id: StationId::parse(self.station_id)?,
            vendor: self.vendor,
            model: self.model,
            serial: self.serial,
            current_type: CurrentType::parse(&self.current_type)?,
            max_power_kw: parse_plain_decimal("max_power_kw", &self.max_power_kw.0)?,
            firmware: self.firmware,
            registration,
            retired_at: None,
        };
        charger.validate()?;
        Ok(charger)
    }
}

/// A charger as the admin API returns it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "SH0001-01",
    "station_id": "SH-0001",
    "vendor": "星星充电",
    "model": "DC120",
    "serial": "XX2026000123",
    "current_type": "DC",
    "max_power_kw": "120",
    "firmware": "3.2.1",
    "registration": "registered",
    "has_password": true,
    "online": true,
    "last_boot_at": "2026-11-30T07:58:12.004Z",
    "last_seen_at": "2026-11-30T08:14:59.310Z"
}))]
pub struct ChargerDto {
    pub id: String,
    pub station_id: String,
    pub vendor: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    pub current_type: String,
    #[schema(value_type = String, example = "120")]
    pub max_power_kw: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// provisioned (never booted), registered (booted) or disabled.
    pub registration: String,
    /// Whether an OCPP password is set (without one the charger cannot connect).
    pub has_password: bool,
    /// Holds a connection to us now.
    pub online: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_boot_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<DateTime<Utc>>,
}

impl ChargerDto {
    fn new(v: ChargerView, online: bool) -> Self {
        let c = v.charger;
        Self {
            id: c.id.to_string(),
            station_id: c.station_id.to_string(),
            vendor: c.vendor,
            model: c.model,
            serial: c.serial,
            current_type: c.current_type.as_str().to_owned(),
            max_power_kw: c.max_power_kw.normalize().to_string(),
            firmware: c.firmware,
            registration: c.registration.as_str().to_owned(),
            has_password: v.has_password,
            online,
            last_boot_at: v.last_boot_at,
            last_seen_at: v.last_seen_at,
            retired_at: c.retired_at,
        }
    }

    fn of(state: &AdminState, v: ChargerView) -> Self {
        let online = state.gateway.is_connected(&v.charger.id);
        Self::new(v, online)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChargerListParams {
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// Only the chargers of this station.
    pub station_id: Option<String>,
}

/// Set (with `password`) or reset (without) a charger's OCPP password.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct SetPasswordRequest {
    /// 8 to 40 printable ASCII characters without spaces (as in the import). Omit to have a
    /// strong one generated.
    #[serde(default)]
    pub password: Option<String>,
}

/// The new password, shown this once: we keep only its hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "charger_id": "SH0001-01",
    "password": "q7TgR2mXz9KdP4wBvN8s",
    "authorization_key_hex": "7137546752326d587a394b6450347742764e3873",
    "generated": true
}))]
pub struct SetPasswordResponse {
    pub charger_id: String,
    /// The HTTP Basic password of OCPP Security Profile 1/2.
    pub password: String,
    /// The same password hex-encoded, the form of the OCPP `AuthorizationKey` configuration key.
    pub authorization_key_hex: String,
    /// True when we generated it.
    pub generated: bool,
}

pub(crate) fn charger_id(id: &str) -> Result<ChargerId, AdminError> {
    ChargerId::parse(id).map_err(|_| AdminError::not_found("charger", id))
}

/// Generated OCPP passwords: 20 characters, the largest size every charger accepts as a plain
/// `AuthorizationKey` (16–20 bytes), ~117 bits.
const GENERATED_OCPP_PASSWORD_LEN: usize = 20;

/// The import's rule for OCPP passwords, so that both ways of setting one accept the same.
fn check_ocpp_password(p: &str) -> Result<(), ValidationError> {
    openpile_import::OcppPassword::parse(p)
        .map(drop)
        .map_err(|e| rename(e, "password"))
}

/// Lists chargers, ordered by id.
#[utoipa::path(
    get,
    path = "/admin/v1/chargers",
    tag = "admin-network",
    security(("bearer" = [])),
    params(ChargerListParams),
    responses(
        (status = 200, description = "A page of chargers", body = PageDto<ChargerDto>),
        (status = 400, description = "Bad query (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_chargers(
    State(state): State<AdminState>,
    _auth: OperatorAuth,
    QueryParams(q): QueryParams<ChargerListParams>,
) -> Result<Json<PageDto<ChargerDto>>, AdminError> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .to_request()?;
    let station = match q.station_id.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            StationId::parse(s).map_err(|e| AdminError::invalid_query("station_id", e.reason))?,
        ),
    };
    let chargers = state.network.list_chargers(station.as_ref(), &page).await?;
    Ok(Json(PageDto::from_page(chargers, |v| {
        ChargerDto::of(&state, v)
    })))
}

/// One charger, with its connection state.
#[utoipa::path(
    get,
    path = "/admin/v1/chargers/{id}",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Charger id (OCPP identity)")),
    responses(
        (status = 200, description = "The charger", body = ChargerDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such charger", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_charger(
    State(state): State<AdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<ChargerDto>, AdminError> {
    let cid = charger_id(&id)?;
    let view = state
        .network
        .get_charger(&cid)
        .await
        .or_not_found("charger", &id)?;
    Ok(Json(ChargerDto::of(&state, view)))
}

/// Create a charger (without an OCPP password: set one with `POST .../password`).
#[utoipa::path(
    post,
    path = "/admin/v1/chargers",
    tag = "admin-network",
    security(("bearer" = [])),
    request_body = ChargerInput,
    responses(
        (status = 201, description = "Created", body = ChargerDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A charger with this id exists (`conflict`, constraint `chargers_pkey`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_charger(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    JsonBody(input): JsonBody<ChargerInput>,
) -> Result<(StatusCode, Json<ChargerDto>), AdminError> {
    auth.require_network_writer()?;
    let charger = input.into_charger(Registration::Provisioned)?;
    live_station(&state, "station_id", &charger.station_id).await?;
    match state.network.get_charger(&charger.id).await {
        Ok(_) => {
            return Err(AdminError::conflict(
                "chargers_pkey",
                format!("charger {} already exists", charger.id),
            ));
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    state.network.put_charger(&charger, None).await?;
    audit::record(
        &state,
        auth.actor(),
        "charger.create",
        format!("charger:{}", charger.id),
        serde_json::json!({ "station_id": charger.station_id, "max_power_kw": charger.max_power_kw.to_string() }),
    )
    .await?;
    let view = state
        .network
        .get_charger(&charger.id)
        .await
        .or_not_found("charger", charger.id.as_str())?;
    Ok((StatusCode::CREATED, Json(ChargerDto::of(&state, view))))
}

/// Replace a charger's data. Its OCPP password and what it reported at boot are kept.
#[utoipa::path(
    put,
    path = "/admin/v1/chargers/{id}",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Charger id")),
    request_body = ChargerInput,
    responses(
        (status = 200, description = "Updated", body = ChargerDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such charger", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The charger is retired (`conflict`, constraint `retired`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field, or the change does not fit the charger's connectors (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_charger(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(input): JsonBody<ChargerInput>,
) -> Result<Json<ChargerDto>, AdminError> {
    auth.require_network_writer()?;
    let cid = charger_id(&id)?;
    if input.id != id {
        return Err(AdminError::validation(
            "id",
            "must match the id in the path",
        ));
    }
    let existing = state
        .network
        .get_charger(&cid)
        .await
        .or_not_found("charger", &id)?;
    if existing.charger.retired_at.is_some() {
        return Err(AdminError::conflict(
            "retired",
            format!("charger {id} is retired"),
        ));
    }
    let charger = input.into_charger(existing.charger.registration)?;
    if charger.station_id != existing.charger.station_id {
        live_station(&state, "station_id", &charger.station_id).await?;
    }
    // The charger's connectors must still fit it (power, AC/DC), as the import checks.
    let connectors = state
        .network
        .list_connectors(
            &ConnectorFilter {
                charger_id: Some(cid.clone()),
                ..ConnectorFilter::default()
            },
            &PageRequest::first(PageRequest::MAX_LIMIT),
        )
        .await?;
    for view in &connectors.items {
        view.connector.validate(&charger).map_err(|e| {
            let field = if e.field == "standard" {
                "current_type"
            } else {
                "max_power_kw"
            };
            AdminError::validation(
                field,
                format!(
                    "connector {} would not fit: {}",
                    view.connector.id, e.reason
                ),
            )
        })?;
    }
    state.network.put_charger(&charger, None).await?;
    audit::record(
        &state,
        auth.actor(),
        "charger.update",
        format!("charger:{id}"),
        serde_json::json!({
            "station_id": charger.station_id,
            "max_power_kw": charger.max_power_kw.to_string(),
            "registration": charger.registration.as_str(),
        }),
    )
    .await?;
    let view = state
        .network
        .get_charger(&cid)
        .await
        .or_not_found("charger", &id)?;
    Ok(Json(ChargerDto::of(&state, view)))
}

/// Retire a charger and its connectors; it can no longer connect.
#[utoipa::path(
    post,
    path = "/admin/v1/chargers/{id}/retire",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Charger id")),
    responses(
        (status = 200, description = "Retired", body = ChargerDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such charger", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already retired (`conflict`, constraint `retired`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn retire_charger(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<ChargerDto>, AdminError> {
    auth.require_network_writer()?;
    let cid = charger_id(&id)?;
    let existing = state
        .network
        .get_charger(&cid)
        .await
        .or_not_found("charger", &id)?;
    if existing.charger.retired_at.is_some() {
        return Err(AdminError::conflict(
            "retired",
            format!("charger {id} is already retired"),
        ));
    }
    state
        .network
        .retire_charger(&cid, state.clock.now())
        .await?;
    audit::record(
        &state,
        auth.actor(),
        "charger.retire",
        format!("charger:{id}"),
        serde_json::json!({}),
    )
    .await?;
    let view = state
        .network
        .get_charger(&cid)
        .await
        .or_not_found("charger", &id)?;
    Ok(Json(ChargerDto::of(&state, view)))
}

/// Set or reset the charger's OCPP (HTTP Basic) password. The answer carries it once; we store
/// only an argon2 hash. The charger must then be given the new password (ChangeConfiguration
/// `AuthorizationKey`, or on site).
#[utoipa::path(
    post,
    path = "/admin/v1/chargers/{id}/password",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Charger id")),
    request_body(content = Option<SetPasswordRequest>, description = "Optional: omit the body (or `password`) to generate one"),
    responses(
        (status = 200, description = "The new password, shown once", body = SetPasswordResponse),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such charger", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The charger is retired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The given password is unusable (`validation_failed`, field `password`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_password(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SetPasswordResponse>, AdminError> {
    auth.require_network_writer()?;
    let cid = charger_id(&id)?;
    let request: SetPasswordRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SetPasswordRequest::default()
    } else {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(AdminError::UnsupportedMediaType);
        }
        parse_json(&body)?
    };
    let existing = state
        .network
        .get_charger(&cid)
        .await
        .or_not_found("charger", &id)?;
    if existing.charger.retired_at.is_some() {
        return Err(AdminError::conflict(
            "retired",
            format!("charger {id} is retired"),
        ));
    }
    let (password, generated) = match request.password {
        Some(p) => {
            check_ocpp_password(&p)?;
            (p, false)
        }
        None => (
            secrets::generate_password(GENERATED_OCPP_PASSWORD_LEN),
            true,
        ),
    };
    let hash = secrets::hash_password_blocking(password.clone())
        .await
        .map_err(AdminError::internal)?;
    state.network.set_charger_password(&cid, &hash).await?;
    audit::record(
        &state,
        auth.actor(),
        "charger.password_reset",
        format!("charger:{id}"),
        serde_json::json!({ "generated": generated }),
    )
    .await?;
    Ok(Json(SetPasswordResponse {
        charger_id: id,
        authorization_key_hex: hex::encode(password.as_bytes()),
        password,
        generated,
    }))
}
