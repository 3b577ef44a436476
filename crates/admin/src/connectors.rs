//! `/admin/v1/connectors`: create, read, update and retire connectors, with their live status.
//! A connector is validated against its charger (power, AC/DC) by core, as in the import.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use openpile_core::error::{StoreError, ValidationError};
use openpile_core::ids::{ChargerId, ConnectorId, ConnectorNumber, StationId};
use openpile_core::money::parse_plain_decimal;
use openpile_core::network::{Charger, Connector, ConnectorStandard, ConnectorView};
use openpile_core::ports::ConnectorFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::OperatorAuth;
use crate::error::{AdminError, Problem, StoreResultExt as _};
use crate::extract::{DecimalText, IdPath, JsonBody, PageDto, PageParams, QueryParams, parse_bool};
use crate::stations::rename;
use crate::{AdminState, audit};

/// A connector as the operator writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "charger_id": "SH0001-01",
    "number": 1,
    "standard": "gbt_dc",
    "max_power_kw": "120",
    "voltage_v": 750,
    "current_a": 250
}))]
pub struct ConnectorInput {
    /// ≤ 36 characters; defaults to `<charger_id>-<number>` on create. On update, if given,
    /// it must match the path.
    #[serde(default)]
    pub id: Option<String>,
    pub charger_id: String,
    /// 1..=99, as the charger numbers it in OCPP.
    pub number: u32,
    /// gbt_ac, gbt_dc, type2, ccs2, chademo or chaoji.
    pub standard: String,
    /// kW, at most one decimal place, not above the charger's.
    #[schema(value_type = String, example = "120")]
    pub max_power_kw: DecimalText,
    pub voltage_v: u32,
    pub current_a: u32,
}

impl ConnectorInput {
    /// Converts to the domain type and validates it against `charger` with core's rules.
    pub fn into_connector(
        self,
        id: ConnectorId,
        charger: &Charger,
    ) -> Result<Connector, ValidationError> {
        let connector = Connector {
            id,
            charger_id: charger.id.clone(),
            number: ConnectorNumber::new(self.number).map_err(|e| rename(e, "number"))?,
            standard: ConnectorStandard::parse(&self.standard)?,
            max_power_kw: parse_plain_decimal("max_power_kw", &self.max_power_kw.0)?,
            voltage_v: self.voltage_v,
            current_a: self.current_a,
            retired_at: None,
        };
        connector.validate(charger)?;
        Ok(connector)
    }
}

/// The live state of a connector.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorStateDto {
    /// available, occupied, charging, reserved, unavailable, faulted or offline.
    pub status: String,
    /// The OCPP 1.6 status behind it, when the charger reported one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocpp_status: Option<String>,
    pub changed_at: DateTime<Utc>,
    /// Grows by one with every change of `status`.
    pub status_seq: i64,
}

/// A connector as the admin API returns it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "SH0001-01-1",
    "charger_id": "SH0001-01",
    "number": 1,
    "standard": "gbt_dc",
    "max_power_kw": "120",
    "voltage_v": 750,
    "current_a": 250,
    "state": {
        "status": "charging",
        "ocpp_status": "Charging",
        "changed_at": "2026-11-30T08:02:41.512Z",
        "status_seq": 17
    }
}))]
pub struct ConnectorDto {
    pub id: String,
    pub charger_id: String,
    pub number: u32,
    pub standard: String,
    #[schema(value_type = String, example = "120")]
    pub max_power_kw: String,
    pub voltage_v: u32,
    pub current_a: u32,
    pub state: ConnectorStateDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<ConnectorView> for ConnectorDto {
    fn from(v: ConnectorView) -> Self {
        let c = v.connector;
        Self {
            id: c.id.to_string(),
            charger_id: c.charger_id.to_string(),
            number: c.number.get(),
            standard: c.standard.as_str().to_owned(),
            max_power_kw: c.max_power_kw.normalize().to_string(),
            voltage_v: c.voltage_v,
            current_a: c.current_a,
            state: ConnectorStateDto {
                status: v.state.status.as_str().to_owned(),
                // Core's variant names are the OCPP 1.6 spellings (`SuspendedEVSE`).
                ocpp_status: v.state.ocpp_status.map(|s| format!("{s:?}")),
                changed_at: v.state.changed_at,
                status_seq: v.state.status_seq,
            },
            retired_at: c.retired_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectorListParams {
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// Only connectors at this station.
    pub station_id: Option<String>,
    /// Only connectors of this charger.
    pub charger_id: Option<String>,
    /// Only connectors changed at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_since: Option<String>,
    /// Include retired connectors (default false).
    #[param(value_type = Option<bool>)]
    pub include_retired: Option<String>,
}

impl ConnectorListParams {
    fn filter(&self) -> Result<ConnectorFilter, AdminError> {
        let nonempty =
            |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(ConnectorFilter {
            station_id: nonempty(&self.station_id)
                .map(StationId::parse)
                .transpose()
                .map_err(|e| AdminError::invalid_query("station_id", e.reason))?,
            charger_id: nonempty(&self.charger_id)
                .map(ChargerId::parse)
                .transpose()
                .map_err(|e| AdminError::invalid_query("charger_id", e.reason))?,
            updated_since: nonempty(&self.updated_since)
                .map(|s| {
                    DateTime::parse_from_rfc3339(&s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| {
                            AdminError::invalid_query(
                                "updated_since",
                                "must be an RFC 3339 time, e.g. 2026-11-30T08:00:00Z",
                            )
                        })
                })
                .transpose()?,
            include_retired: parse_bool("include_retired", self.include_retired.as_deref())?,
        })
    }
}

fn connector_id(id: &str) -> Result<ConnectorId, AdminError> {
    ConnectorId::parse(id).map_err(|_| AdminError::not_found("connector", id))
}

/// The charger a connector is put on must exist and not be retired.
async fn live_charger(state: &AdminState, id: &str) -> Result<Charger, AdminError> {
    let cid = ChargerId::parse(id)?;
    match state.network.get_charger(&cid).await {
        Ok(v) if v.charger.retired_at.is_none() => Ok(v.charger),
        Ok(_) => Err(AdminError::validation(
            "charger_id",
            format!("charger {id} is retired"),
        )),
        Err(StoreError::NotFound) => Err(AdminError::validation(
            "charger_id",
            format!("no charger {id}"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// List connectors with their live status, ordered by id.
#[utoipa::path(
    get,
    path = "/admin/v1/connectors",
    tag = "admin-network",
    security(("bearer" = [])),
    params(ConnectorListParams),
    responses(
        (status = 200, description = "A page of connectors", body = PageDto<ConnectorDto>),
        (status = 400, description = "Bad query (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_connectors(
    State(state): State<AdminState>,
    _auth: OperatorAuth,
    QueryParams(q): QueryParams<ConnectorListParams>,
) -> Result<Json<PageDto<ConnectorDto>>, AdminError> {
    let filter = q.filter()?;
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .to_request()?;
    let connectors = state.network.list_connectors(&filter, &page).await?;
    Ok(Json(PageDto::from_page(connectors, ConnectorDto::from)))
}

/// One connector with its live status.
#[utoipa::path(
    get,
    path = "/admin/v1/connectors/{id}",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connector id")),
    responses(
        (status = 200, description = "The connector", body = ConnectorDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_connector(
    State(state): State<AdminState>,
    _auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<ConnectorDto>, AdminError> {
    let view = state
        .network
        .get_connector(&connector_id(&id)?)
        .await
        .or_not_found("connector", &id)?;
    Ok(Json(view.into()))
}

/// Create a connector; it starts `offline` until its charger reports a status.
#[utoipa::path(
    post,
    path = "/admin/v1/connectors",
    tag = "admin-network",
    security(("bearer" = [])),
    request_body = ConnectorInput,
    responses(
        (status = 201, description = "Created", body = ConnectorDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id, or the number on this charger, is taken (`conflict`, constraint `connectors_pkey` or `connectors_charger_number_key`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_connector(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    JsonBody(input): JsonBody<ConnectorInput>,
) -> Result<(StatusCode, Json<ConnectorDto>), AdminError> {
    auth.require_network_writer()?;
    let charger = live_charger(&state, &input.charger_id).await?;
    let number = ConnectorNumber::new(input.number).map_err(|e| rename(e, "number"))?;
    let id = match input.id.as_deref() {
        Some(id) => ConnectorId::parse(id).map_err(|e| rename(e, "id"))?,
        None => ConnectorId::derive(&charger.id, number).map_err(|e| rename(e, "id"))?,
    };
    let connector = input.into_connector(id, &charger)?;
    match state.network.get_connector(&connector.id).await {
        Ok(_) => {
            return Err(AdminError::conflict(
                "connectors_pkey",
                format!("connector {} already exists", connector.id),
            ));
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    state.network.put_connector(&connector).await?;
    audit::record(
        &state,
        auth.actor(),
        "connector.create",
        format!("connector:{}", connector.id),
        serde_json::json!({
            "charger_id": connector.charger_id,
            "number": connector.number.get(),
            "standard": connector.standard.as_str(),
            "max_power_kw": connector.max_power_kw.to_string(),
        }),
    )
    .await?;
    let view = state
        .network
        .get_connector(&connector.id)
        .await
        .or_not_found("connector", connector.id.as_str())?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Replace a connector's data; its live status is kept.
#[utoipa::path(
    put,
    path = "/admin/v1/connectors/{id}",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connector id")),
    request_body = ConnectorInput,
    responses(
        (status = 200, description = "Updated", body = ConnectorDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Retired, or the number is taken on that charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_connector(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
    JsonBody(input): JsonBody<ConnectorInput>,
) -> Result<Json<ConnectorDto>, AdminError> {
    auth.require_network_writer()?;
    let cid = connector_id(&id)?;
    if input.id.as_deref().is_some_and(|given| given != id) {
        return Err(AdminError::validation(
            "id",
            "must match the id in the path",
        ));
    }
    let existing = state
        .network
        .get_connector(&cid)
        .await
        .or_not_found("connector", &id)?;
    if existing.connector.retired_at.is_some() {
        return Err(AdminError::conflict(
            "retired",
            format!("connector {id} is retired"),
        ));
    }
    let charger = live_charger(&state, &input.charger_id).await?;
    let connector = input.into_connector(cid.clone(), &charger)?;
    state.network.put_connector(&connector).await?;
    audit::record(
        &state,
        auth.actor(),
        "connector.update",
        format!("connector:{id}"),
        serde_json::json!({
            "charger_id": connector.charger_id,
            "number": connector.number.get(),
            "standard": connector.standard.as_str(),
            "max_power_kw": connector.max_power_kw.to_string(),
        }),
    )
    .await?;
    let view = state
        .network
        .get_connector(&cid)
        .await
        .or_not_found("connector", &id)?;
    Ok(Json(view.into()))
}

/// Retire a connector.
#[utoipa::path(
    post,
    path = "/admin/v1/connectors/{id}/retire",
    tag = "admin-network",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connector id")),
    responses(
        (status = 200, description = "Retired", body = ConnectorDto),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not change the network", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already retired (`conflict`, constraint `retired`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn retire_connector(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    IdPath(id): IdPath,
) -> Result<Json<ConnectorDto>, AdminError> {
    auth.require_network_writer()?;
    let cid = connector_id(&id)?;
    let existing = state
        .network
        .get_connector(&cid)
        .await
        .or_not_found("connector", &id)?;
    if existing.connector.retired_at.is_some() {
        return Err(AdminError::conflict(
            "retired",
            format!("connector {id} is already retired"),
        ));
    }
    state
        .network
        .retire_connector(&cid, state.clock.now())
        .await?;
    audit::record(
        &state,
        auth.actor(),
        "connector.retire",
        format!("connector:{id}"),
        serde_json::json!({}),
    )
    .await?;
    let view = state
        .network
        .get_connector(&cid)
        .await
        .or_not_found("connector", &id)?;
    Ok(Json(view.into()))
}
