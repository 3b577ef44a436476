//! Charging sessions for partners (issue 5, design flows 2–4):
//!
//! - `POST /v1/sessions`: start charging on a connector, idempotent by `partner_order_id`;
//!   `202` with the session `starting` once the charger accepted, or with `wait_s` the reply
//!   waits until charging started (`201`) or failed;
//! - `GET /v1/sessions/{id}`, `GET /v1/sessions?status=&from=&to=&cursor=&limit=`: the
//!   partner's own sessions (anyone else's are `404`) with energy, power, state of charge and
//!   the running or final cost per tariff segment;
//! - `POST /v1/sessions/{id}/stop`: `202` with the session `stopping`.
//!
//! When the station's tariff has an idle (occupancy) fee, a stopped session whose connector is
//! still occupied is `finishing` (energy final, idle clock running) until the vehicle is
//! unplugged; it then completes with the idle fee in its cost.
//!
//! Failures carry a stable code from [`ChargingCode`] in an RFC 9457 problem, with the session
//! recorded for the attempt (`session_id`) and, for a busy connector, its status. The use cases
//! live in core's sessions service; this module only converts. Reservations are in
//! [`crate::reservations`]; both share this module's router, state and problem rendering.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openpile_core::money::Money;
use openpile_core::page::PageRequest;
use openpile_core::partner::credential::Scope;
use openpile_core::partner::service::PartnerAccess;
use openpile_core::session::{SessionState, StartFailure};
use openpile_core::sessions::model::{ChargingSession, SessionCost, SessionLimit};
use openpile_core::sessions::service::{
    Caller, Failure, LimitRequest, SessionError, SessionService, StartRequest,
};
use openpile_core::status::ConnectorStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::ToSchema;

use crate::error::{self, ApiError, ApiProblem, ErrorCode, PROBLEM_JSON};
use crate::extract::{IdPath, JsonBody, PartnerAuth, QueryMap};
use crate::paging::page_limit;
use crate::reservations;
use crate::{ApiState, BODY_LIMIT};

pub(crate) const AUTH_ERRORS: &str = "`unauthorized`, `invalid_token`, `token_expired`, `token_revoked` or `partner_suspended` (RFC 6750, with `WWW-Authenticate`)";

/// The codes of charging failures, beside the general table of [`ErrorCode`]. Codes are API:
/// never renamed or reused. `partner_suspended` is the general table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargingCode {
    ConnectorNotFound,
    ConnectorUnavailable,
    ConnectorReserved,
    ChargerOffline,
    ChargerRejected,
    ChargerTimeout,
    StartTimeout,
    LimitInvalid,
    OrderConflict,
    SessionNotActive,
    ReservationNotActive,
}

impl ChargingCode {
    pub const ALL: [ChargingCode; 11] = [
        Self::ConnectorNotFound,
        Self::ConnectorUnavailable,
        Self::ConnectorReserved,
        Self::ChargerOffline,
        Self::ChargerRejected,
        Self::ChargerTimeout,
        Self::StartTimeout,
        Self::LimitInvalid,
        Self::OrderConflict,
        Self::SessionNotActive,
        Self::ReservationNotActive,
    ];

    /// Code, HTTP status, title, when.
    pub fn describe(self) -> (&'static str, StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::ConnectorNotFound => (
                "connector_not_found",
                S::NOT_FOUND,
                "Connector not found",
                "No such connector in the partner's scope.",
            ),
            Self::ConnectorUnavailable => (
                "connector_unavailable",
                S::CONFLICT,
                "Connector unavailable",
                "The connector cannot start a session now (charging, faulted, out of service, or held by another session); `connector_status` says which.",
            ),
            Self::ConnectorReserved => (
                "connector_reserved",
                S::CONFLICT,
                "Connector reserved",
                "Another partner holds a reservation of the connector.",
            ),
            Self::ChargerOffline => (
                "charger_offline",
                S::CONFLICT,
                "Charger offline",
                "The charger is not connected to us.",
            ),
            Self::ChargerRejected => (
                "charger_rejected",
                S::CONFLICT,
                "Charger rejected the command",
                "The charger answered Rejected (or an error) to our command.",
            ),
            Self::ChargerTimeout => (
                "charger_timeout",
                S::GATEWAY_TIMEOUT,
                "Charger did not answer",
                "The charger did not answer our command in time.",
            ),
            Self::StartTimeout => (
                "start_timeout",
                S::CONFLICT,
                "Charging did not start",
                "The charger accepted, but no transaction started within its connection timeout (typically the cable was not plugged in).",
            ),
            Self::LimitInvalid => (
                "limit_invalid",
                S::UNPROCESSABLE_ENTITY,
                "Invalid limit",
                "`limit` must set exactly one of `energy_wh`, `amount`, `duration_s`, within bounds; `field` names it.",
            ),
            Self::OrderConflict => (
                "order_conflict",
                S::CONFLICT,
                "Order id already used",
                "The `partner_order_id` was used before with different content; the same content returns the object recorded then.",
            ),
            Self::SessionNotActive => (
                "session_not_active",
                S::CONFLICT,
                "Session not active",
                "The session is not charging (pending, starting, completed or failed); `status` says which.",
            ),
            Self::ReservationNotActive => (
                "reservation_not_active",
                S::CONFLICT,
                "Reservation not active",
                "The reservation is not active (pending, used, cancelled, expired or failed); `status` says which.",
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    fn of(reason: StartFailure) -> Option<Self> {
        Some(match reason {
            StartFailure::ConnectorNotFound => Self::ConnectorNotFound,
            StartFailure::ConnectorUnavailable => Self::ConnectorUnavailable,
            StartFailure::ConnectorReserved => Self::ConnectorReserved,
            StartFailure::ChargerOffline => Self::ChargerOffline,
            StartFailure::ChargerRejected => Self::ChargerRejected,
            StartFailure::ChargerTimeout => Self::ChargerTimeout,
            StartFailure::StartTimeout => Self::StartTimeout,
            StartFailure::LimitInvalid => Self::LimitInvalid,
            // The general table's code (401, like every other sign of suspension).
            StartFailure::PartnerSuspended => return None,
        })
    }

    /// The table as Markdown, for the OpenAPI description.
    pub fn markdown_table() -> String {
        let mut out = String::from("| code | HTTP | when |\n|---|---|---|\n");
        for c in Self::ALL {
            let (code, status, _, when) = c.describe();
            out.push_str(&format!("| `{code}` | {} | {when} |\n", status.as_u16()));
        }
        out
    }
}

/// An RFC 9457 problem of a charging failure: the general members and what the failure is
/// about.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:openpile:problem:connector_unavailable",
    "title": "Connector unavailable",
    "status": 409,
    "detail": "connector_unavailable: the connector is charging",
    "code": "connector_unavailable",
    "connector_status": "charging",
    "request_id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d"
}))]
pub struct ChargingProblem {
    /// `urn:openpile:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A code of the charging table (or `partner_suspended`).
    pub code: String,
    /// The offending field (`limit_invalid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The session recorded for the attempt; it is `failed` with this code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<String>,
    /// The connector's status (`connector_unavailable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_status: Option<&'static str>,
    /// The state of the session or reservation (`*_not_active`).
    #[serde(skip_serializing_if = "Option::is_none", rename = "state")]
    pub object_state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ChargingProblem {
    fn new(code: ChargingCode, detail: String) -> Self {
        let (name, status, title, _) = code.describe();
        Self {
            type_uri: format!("urn:openpile:problem:{name}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            code: name.to_string(),
            field: None,
            session_id: None,
            reservation_id: None,
            connector_status: None,
            object_state: None,
            request_id: None,
        }
    }
}

/// What the charging handlers fail with: a general API error, or a charging problem.
#[derive(Debug)]
pub enum ChargingError {
    Api(ApiError),
    Problem(Box<ChargingProblem>),
}

impl From<ApiError> for ChargingError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<Failure> for ChargingError {
    fn from(f: Failure) -> Self {
        let Some(code) = ChargingCode::of(f.reason) else {
            return Self::Api(ApiError::Token(ErrorCode::PartnerSuspended, f.detail));
        };
        let mut p = ChargingProblem::new(code, f.detail);
        p.field = f.field;
        p.session_id = f.session_id.map(|s| s.to_string());
        p.reservation_id = f.reservation_id.map(|r| r.to_string());
        p.connector_status = f.connector_status.map(ConnectorStatus::as_str);
        Self::Problem(Box::new(p))
    }
}

impl From<SessionError> for ChargingError {
    fn from(e: SessionError) -> Self {
        let detail = e.to_string();
        let about = |p: &mut ChargingProblem, entity: &str, id: String| {
            if entity == "reservation" {
                p.reservation_id = Some(id);
            } else {
                p.session_id = Some(id);
            }
        };
        match e {
            SessionError::Failure(f) => (*f).into(),
            SessionError::NotFound { entity, id } => Self::Api(ApiError::NotFound { entity, id }),
            SessionError::Validation(v) => Self::Api(ApiError::Validation(v)),
            SessionError::OrderConflict { entity, id, .. } => {
                let mut p = ChargingProblem::new(ChargingCode::OrderConflict, detail);
                about(&mut p, entity, id);
                Self::Problem(Box::new(p))
            }
            SessionError::NotActive { entity, id, state } => {
                let code = if entity == "reservation" {
                    ChargingCode::ReservationNotActive
                } else {
                    ChargingCode::SessionNotActive
                };
                let mut p = ChargingProblem::new(code, detail);
                p.object_state = Some(state);
                about(&mut p, entity, id);
                Self::Problem(Box::new(p))
            }
            SessionError::Store(s) => Self::Api(s.into()),
        }
    }
}

impl IntoResponse for ChargingError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Problem(p) => {
                let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::CONFLICT);
                let body = serde_json::to_vec(&*p).unwrap_or_default();
                let mut response = (
                    status,
                    [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
                    body,
                )
                    .into_response();
                response.extensions_mut().insert(*p);
                response
            }
        }
    }
}

/// Puts the request id into charging problems (the general problems get theirs from
/// [`error::finish_problems`]).
async fn finish_charging_problems(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let Some(mut problem) = response.extensions().get::<ChargingProblem>().cloned() else {
        return response;
    };
    problem.request_id = request_id;
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// What the charging handlers need. Cheap to clone.
#[derive(Clone)]
pub struct ChargingState {
    pub(crate) api: ApiState,
    pub(crate) sessions: Arc<SessionService>,
}

/// The session and reservation routes with their full paths, with the same layers as
/// [`crate::router`]. `api` must be the state given to that router (same partner service), so
/// tokens and rate limits are shared.
pub fn router(api: ApiState, sessions: Arc<SessionService>) -> Router {
    let state = ChargingState { api, sessions };
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/v1/sessions", post(start_session).get(list_sessions))
        .route("/v1/sessions/{id}", get(get_session))
        .route("/v1/sessions/{id}/stop", post(stop_session))
        .route("/v1/reservations", post(reservations::create_reservation))
        .route("/v1/reservations/{id}", get(reservations::get_reservation))
        .route(
            "/v1/reservations/{id}/cancel",
            post(reservations::cancel_reservation),
        )
        .layer(middleware::from_fn(finish_charging_problems))
        .layer(middleware::from_fn(error::finish_problems))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// A partner with `charging:write`.
pub(crate) struct ChargingAuth(pub(crate) Arc<PartnerAccess>);

impl ChargingAuth {
    pub(crate) fn caller(&self) -> Caller {
        Caller {
            partner_id: self.0.partner_id.clone(),
            visibility: self.0.visibility.clone(),
        }
    }
}

impl FromRequestParts<ChargingState> for ChargingAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ChargingState,
    ) -> Result<Self, ApiError> {
        let auth = PartnerAuth::from_request_parts(parts, &state.api).await?;
        auth.require(Scope::ChargingWrite)?;
        Ok(Self(auth.0))
    }
}

pub(crate) fn money(m: Money) -> String {
    format!("{:.2}", m.amount())
}

// ---- wire types ----------------------------------------------------------------------------

/// A limit: exactly one member.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"energy_wh": 20000}))]
pub struct LimitInfo {
    /// Stop after this much energy, Wh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_wh: Option<i64>,
    /// Stop when the running cost reaches this many CNY (decimal string, at most 2 places).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Stop this many seconds after the charger started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<i64>,
}

fn limit_info(l: &SessionLimit) -> LimitInfo {
    let mut out = LimitInfo {
        energy_wh: None,
        amount: None,
        duration_s: None,
    };
    match l {
        SessionLimit::EnergyWh(wh) => out.energy_wh = Some(wh.0),
        SessionLimit::Amount(m) => out.amount = Some(money(*m)),
        SessionLimit::DurationS(s) => out.duration_s = Some(i64::from(*s)),
    }
    out
}

/// `POST /v1/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "connector_id": "SH0101-01-1", "partner_order_id": "ORD-20261128-0001",
    "user_ref": "u-8841", "limit": {"amount": "50.00"}, "wait_s": 30
}))]
pub struct StartSessionBody {
    pub connector_id: String,
    /// Your order id: unique per partner; the same order returns the same session.
    pub partner_order_id: String,
    /// An opaque reference to your user (≤ 64 characters).
    #[serde(default)]
    pub user_ref: Option<String>,
    /// Your reservation of the connector to use (your active reservation of it is used anyway).
    #[serde(default)]
    pub reservation_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<LimitInfo>)]
    pub limit: Option<Value>,
    /// Hold the reply up to this many seconds (0–60) until charging started or failed.
    #[serde(default)]
    pub wait_s: Option<u32>,
}

/// Reads `limit` leniently, so that every mistake in it is `limit_invalid` naming the field.
fn limit_request(v: &Value) -> Result<LimitRequest, ChargingError> {
    let invalid = |field: &str, detail: &str| -> ChargingError {
        Failure {
            reason: StartFailure::LimitInvalid,
            detail: detail.to_string(),
            field: Some(field.to_string()),
            connector_status: None,
            session_id: None,
            reservation_id: None,
        }
        .into()
    };
    let Some(obj) = v.as_object() else {
        return Err(invalid(
            "limit",
            "must be an object with one of energy_wh, amount, duration_s",
        ));
    };
    let mut req = LimitRequest::default();
    for (k, v) in obj {
        let field = format!("limit.{k}");
        match k.as_str() {
            "energy_wh" => {
                req.energy_wh = Some(
                    v.as_i64()
                        .ok_or_else(|| invalid(&field, "must be a whole number of Wh"))?,
                );
            }
            "duration_s" => {
                req.duration_s = Some(
                    v.as_i64()
                        .ok_or_else(|| invalid(&field, "must be a whole number of seconds"))?,
                );
            }
            "amount" => {
                req.amount = Some(match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(invalid(&field, "must be a decimal amount in CNY")),
                });
            }
            _ => return Err(invalid(&field, "is not a known limit")),
        }
    }
    Ok(req)
}

/// One priced stretch of a tariff segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostLineInfo {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `sharp`, `peak`, `flat` or `valley`, when the tariff names the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<&'static str>,
    pub energy_wh: i64,
    /// CNY per kWh.
    pub electricity_price: String,
    /// CNY per kWh.
    pub service_price: String,
    pub electricity_fee: String,
    pub service_fee: String,
}

/// The cost by the tariff version in force at the start: a running estimate while charging,
/// final once completed. Each line is rounded once (to 0.01 CNY); totals are their sums.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostInfo {
    /// False while the session runs.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub tariff_id: String,
    pub tariff_version: u32,
    /// `CNY`.
    pub currency: &'static str,
    /// One line per stretch of a time-of-use segment.
    pub segments: Vec<CostLineInfo>,
    pub energy_wh: i64,
    pub electricity_fee: String,
    pub service_fee: String,
    /// Idle minutes billed (after the tariff's grace period), priced at completion.
    pub idle_minutes: u32,
    pub idle_fee: String,
    pub total: String,
}

pub(crate) fn cost_info(c: &SessionCost, is_final: bool) -> CostInfo {
    CostInfo {
        is_final,
        tariff_id: c.tariff_id.to_string(),
        tariff_version: c.tariff_version,
        currency: openpile_core::money::CURRENCY,
        segments: c
            .lines
            .iter()
            .map(|l| CostLineInfo {
                start: l.start,
                end: l.end,
                label: l.label.map(|p| p.as_str()),
                energy_wh: l.energy.0,
                electricity_price: l.electricity_price.to_string(),
                service_price: l.service_price.to_string(),
                electricity_fee: money(l.electricity_fee),
                service_fee: money(l.service_fee),
            })
            .collect(),
        energy_wh: c.energy.0,
        electricity_fee: money(c.electricity_fee),
        service_fee: money(c.service_fee),
        idle_minutes: c.idle_minutes,
        idle_fee: money(c.idle_fee),
        total: money(c.total),
    }
}

/// Why a session failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailureInfo {
    /// `connector_unavailable`, `charger_offline`, `charger_rejected`, `charger_timeout`,
    /// `start_timeout`, …
    pub code: &'static str,
    pub detail: String,
}

/// A charging session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    /// `pending`, `starting`, `charging`, `stopping`, `finishing` (the transaction is over but
    /// the vehicle still occupies the connector and the tariff bills idle time: the idle clock
    /// runs until it is unplugged), `completed` or `failed`.
    #[schema(example = "charging")]
    pub status: &'static str,
    pub partner_order_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_ref: Option<String>,
    pub station_id: String,
    pub connector_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitInfo>,
    pub created_at: DateTime<Utc>,
    /// When the charger accepted the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
    /// The charger's start of the transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Seconds charged (so far).
    pub duration_s: i64,
    /// Energy delivered (so far), from the charger's meter values.
    pub energy_wh: i64,
    /// Power now, W (while charging, when the charger reports it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_w: Option<i64>,
    /// The vehicle's state of charge, percent, when the charger reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soc_percent: Option<String>,
    /// When the latest meter values were taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metered_at: Option<DateTime<Utc>>,
    /// Running estimate while charging; final once completed (while `finishing` the energy
    /// fees are final and the idle fee is added at completion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostInfo>,
    /// When charging finished and the idle clock started: the vehicle first reported full
    /// (SuspendedEV) during the transaction, or the charger's stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_since: Option<DateTime<Utc>>,
    /// Whole minutes (started minutes count) the connector has stayed occupied since
    /// `idle_since`: running while `finishing`, final once completed. The tariff's grace
    /// period is deducted only in the billed `cost.idle_minutes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<i64>,
    /// When the connector was freed after the transaction (unplugged, or no longer usable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freed_at: Option<DateTime<Utc>>,
    /// `local`, `remote`, `ev_disconnected`, … (the charger's), or `energy_limit`,
    /// `amount_limit`, `duration_limit`, `connection_lost`, `stop_unconfirmed` (ours: the
    /// charger accepted the stop but never confirmed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<&'static str>,
    /// `partner` or `limit`, when we asked the charger to stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_requested_by: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureInfo>,
    /// The charger went offline (or the connector faulted) during the session; it goes on
    /// when the charger comes back.
    pub charger_offline: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charger_offline_since: Option<DateTime<Utc>>,
    /// The operator will review the session (e.g. closed without the charger's stop).
    pub review_required: bool,
}

pub(crate) fn session_info(s: &ChargingSession, now: DateTime<Utc>) -> SessionInfo {
    SessionInfo {
        id: s.id.to_string(),
        status: s.state.as_str(),
        partner_order_id: s.partner_order_id.clone().unwrap_or_default(),
        user_ref: s.user_ref.clone(),
        station_id: s.station_id.to_string(),
        connector_id: s.connector_id.to_string(),
        reservation_id: s.reservation_id.as_ref().map(ToString::to_string),
        limit: s.limit.as_ref().map(limit_info),
        created_at: s.created_at,
        accepted_at: s.accepted_at,
        started_at: s.started_at,
        stopped_at: s.stopped_at,
        updated_at: s.updated_at,
        duration_s: s.duration_s(now),
        energy_wh: s.energy.0,
        power_w: s.power.map(|w| w.0),
        soc_percent: s.soc_percent.map(|d| d.normalize().to_string()),
        metered_at: s.metered_at,
        cost: s
            .cost
            .as_ref()
            .map(|c| cost_info(c, s.state == SessionState::Completed)),
        idle_since: s.charging_finished_at,
        idle_minutes: s.idle_seconds(now).map(|secs| (secs + 59) / 60),
        freed_at: s.freed_at,
        stop_reason: s.stop_reason.map(|r| r.as_str()),
        stop_requested_by: s.stop_requested_by.map(|r| r.as_str()),
        failure: s.failure.map(|f| FailureInfo {
            code: f.as_str(),
            detail: s.failure_detail.clone().unwrap_or_default(),
        }),
        charger_offline: s.charger_offline_since.is_some(),
        charger_offline_since: s.charger_offline_since,
        review_required: s.review_required,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionInfo>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn with_location(status: StatusCode, s: &ChargingSession, now: DateTime<Utc>) -> Response {
    let mut r = (status, Json(session_info(s, now))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/sessions/{}", s.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

// ---- handlers ------------------------------------------------------------------------------

/// The longest `wait_s`.
const MAX_WAIT_S: u32 = 60;

#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "sessions",
    security(("oauth2" = ["charging:write"])),
    request_body = StartSessionBody,
    responses(
        (status = 202, description = "The charger accepted: the session is `starting` (it turns `charging` when the charger starts the transaction)", body = SessionInfo),
        (status = 201, description = "Charging started (with `wait_s`, or the charger was quick)", body = SessionInfo),
        (status = 200, description = "The same `partner_order_id` as before: the session recorded then, as it is now", body = SessionInfo),
        (status = 400, description = "`bad_request`: the body is not JSON", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `charging:write`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`connector_not_found`, or `not_found` for `reservation_id`", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 409, description = "`connector_unavailable` (with `connector_status`), `connector_reserved`, `charger_offline`, `charger_rejected`, `start_timeout` (with `wait_s`), `order_conflict`, `reservation_not_active`; `session_id` names the failed session when one was recorded", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body must be application/json", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`limit_invalid` (with `field`) or `validation_failed`", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 504, description = "`charger_timeout`: no answer to RemoteStartTransaction", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start_session(
    State(state): State<ChargingState>,
    auth: ChargingAuth,
    JsonBody(body): JsonBody<StartSessionBody>,
) -> Result<Response, ChargingError> {
    let wait = match body.wait_s {
        Some(w) if w > MAX_WAIT_S => {
            return Err(
                ApiError::Validation(openpile_core::error::ValidationError::new(
                    "wait_s",
                    format!("must be from 0 to {MAX_WAIT_S} seconds"),
                ))
                .into(),
            );
        }
        w => Duration::from_secs(u64::from(w.unwrap_or(0))),
    };
    let limit = body.limit.as_ref().map(limit_request).transpose()?;
    let caller = auth.caller();
    let started = state
        .sessions
        .start(
            &caller,
            StartRequest {
                connector_id: body.connector_id,
                partner_order_id: body.partner_order_id,
                user_ref: body.user_ref,
                reservation_id: body.reservation_id,
                limit,
            },
        )
        .await?;
    let mut session = started.session;
    if !wait.is_zero()
        && matches!(
            session.state,
            SessionState::Pending | SessionState::Starting
        )
    {
        session = state
            .sessions
            .wait_for_start(&caller, &session.id, wait)
            .await?;
        if session.state == SessionState::Failed {
            // The outcome the partner waited for, with the same code as on the session.
            return Err(Failure {
                reason: session.failure.unwrap_or(StartFailure::ChargerRejected),
                detail: session.failure_detail.clone().unwrap_or_default(),
                field: None,
                connector_status: None,
                session_id: Some(session.id.clone()),
                reservation_id: session.reservation_id.clone(),
            }
            .into());
        }
    }
    let now = state.api.clock.now();
    let status = if started.replay {
        StatusCode::OK
    } else if matches!(
        session.state,
        SessionState::Pending | SessionState::Starting
    ) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok(with_location(status, &session, now))
}

#[utoipa::path(
    get,
    path = "/v1/sessions/{id}",
    tag = "sessions",
    security(("oauth2" = ["charging:write"])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = SessionInfo),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: unknown, or another partner's", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_session(
    State(state): State<ChargingState>,
    auth: ChargingAuth,
    IdPath(id): IdPath,
) -> Result<Json<SessionInfo>, ChargingError> {
    let s = state.sessions.session(&auth.caller(), &id).await?;
    Ok(Json(session_info(&s, state.api.clock.now())))
}

const LIST_PARAMS: [&str; 5] = ["status", "from", "to", "cursor", "limit"];

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

/// Cursors of the session list: base64url of `session:<id>`.
fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("session:{id}"))
}

fn decode_cursor(s: &str) -> Result<String, ApiError> {
    let bad = || ApiError::InvalidCursor("is not a cursor this list issued".into());
    let text = URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    match text.strip_prefix("session:") {
        Some(key) if !key.is_empty() => Ok(key.to_string()),
        _ => Err(bad()),
    }
}

#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "sessions",
    security(("oauth2" = ["charging:write"])),
    params(
        ("status" = Option<String>, Query, description = "`pending`, `starting`, `charging`, `stopping`, `finishing`, `completed` or `failed`"),
        ("from" = Option<DateTime<Utc>>, Query, description = "Created at or after (RFC 3339)"),
        ("to" = Option<DateTime<Utc>>, Query, description = "Created before (RFC 3339)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page (same filters)"),
        ("limit" = Option<u32>, Query, description = "1–100, default 20", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "Your sessions, oldest first", body = SessionList),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_sessions(
    State(state): State<ChargingState>,
    auth: ChargingAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<SessionList>, ChargingError> {
    let q = QueryMap::parse(query.as_deref(), &LIST_PARAMS)?;
    let status = q
        .get("status")
        .map(|s| {
            SessionState::parse(s).ok_or_else(|| {
                ApiError::invalid_query(
                    "status",
                    "must be pending, starting, charging, stopping, finishing, completed or \
                     failed",
                )
            })
        })
        .transpose()?;
    let from = q.get("from").map(|s| parse_time("from", s)).transpose()?;
    let to = q.get("to").map(|s| parse_time("to", s)).transpose()?;
    let limit = page_limit(q.get("limit"), 20, 100)?;
    let after = q.get("cursor").map(decode_cursor).transpose()?;
    let page = PageRequest {
        limit: u32::try_from(limit).unwrap_or(20),
        after,
    };
    let result = state
        .sessions
        .sessions(&auth.caller(), status, from, to, page)
        .await?;
    let now = state.api.clock.now();
    Ok(Json(SessionList {
        items: result.items.iter().map(|s| session_info(s, now)).collect(),
        next_cursor: result.next.as_deref().map(encode_cursor),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/stop",
    tag = "sessions",
    security(("oauth2" = ["charging:write"])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 202, description = "The charger accepted: the session is `stopping` (or already `completed`); it completes when the charger reports the stop", body = SessionInfo),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 409, description = "`session_not_active` (with `state`), `charger_offline`, `charger_rejected`", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 504, description = "`charger_timeout`", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn stop_session(
    State(state): State<ChargingState>,
    auth: ChargingAuth,
    IdPath(id): IdPath,
) -> Result<Response, ChargingError> {
    let s = state.sessions.stop(&auth.caller(), &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(session_info(&s, state.api.clock.now())),
    )
        .into_response())
}

/// Adds the charging codes to the API description and their problem schema.
pub struct ChargingErrors;

impl utoipa::Modify for ChargingErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let base = openapi.info.description.clone().unwrap_or_default();
        openapi.info.description = Some(format!(
            "{base}\n\nCharging failures (sessions and reservations) are problems with one of these codes, the failed session's `session_id` (or `reservation_id`) when one was recorded, and `connector_status` for a busy connector; the same code is kept on the session (`failure.code`).\n\n{}",
            ChargingCode::markdown_table()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charging_codes_are_unique_and_apart_from_the_general_table() {
        let general: std::collections::HashSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let mut seen = std::collections::HashSet::new();
        for c in ChargingCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert!(!general.contains(c.as_str()), "{} is in both", c.as_str());
            assert!(c.describe().1.is_client_error() || c.describe().1.is_server_error());
        }
        // Every failure code of a session has its problem code.
        for f in [
            StartFailure::ConnectorNotFound,
            StartFailure::ConnectorUnavailable,
            StartFailure::ConnectorReserved,
            StartFailure::ChargerOffline,
            StartFailure::ChargerRejected,
            StartFailure::ChargerTimeout,
            StartFailure::StartTimeout,
            StartFailure::LimitInvalid,
        ] {
            assert_eq!(
                ChargingCode::of(f).map(ChargingCode::as_str),
                Some(f.as_str())
            );
        }
        assert_eq!(ChargingCode::of(StartFailure::PartnerSuspended), None);
    }

    #[test]
    fn limits_are_read_leniently_and_name_the_field() {
        let field = |v: Value| match limit_request(&v) {
            Err(ChargingError::Problem(p)) => (p.code.clone(), p.field.clone()),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(serde_json::json!({"energy_wh": "ten"})),
            ("limit_invalid".into(), Some("limit.energy_wh".into()))
        );
        assert_eq!(
            field(serde_json::json!({"volts": 1})),
            ("limit_invalid".into(), Some("limit.volts".into()))
        );
        assert_eq!(
            field(serde_json::json!(5)),
            ("limit_invalid".into(), Some("limit".into()))
        );
        let ok = limit_request(&serde_json::json!({"amount": 12.5})).unwrap();
        assert_eq!(ok.amount.as_deref(), Some("12.5"));
    }

    #[test]
    fn session_cursors_round_trip_and_refuse_others() {
        assert_eq!(decode_cursor(&encode_cursor("0193-x")).unwrap(), "0193-x");
        assert!(decode_cursor("czpTMQ").is_err());
        assert!(decode_cursor("!!").is_err());
    }
}
