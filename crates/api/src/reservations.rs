//! Reservations for partners (issue 5, design flow 5):
//!
//! - `POST /v1/reservations` `{connector_id, partner_order_id, duration_s}`: ReserveNow to the
//!   charger; `201` with the reservation `active` (the connector turns `reserved`), idempotent
//!   by `partner_order_id`. Other partners then get `connector_reserved`.
//! - `GET /v1/reservations/{id}`: the partner's own reservations (anyone else's are `404`).
//! - `POST /v1/reservations/{id}/cancel`: CancelReservation; `cancelled`.
//!
//! A reservation ends `expired` at its expiry (ours or the charger's), or `used` when a session
//! of the partner starts on the connector. Routes, state and problems are those of
//! [`crate::sessions`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use openpile_core::sessions::model::Reservation;
use openpile_core::sessions::service::ReserveRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiProblem;
use crate::extract::{IdPath, JsonBody};
use crate::sessions::{AUTH_ERRORS, ChargingAuth, ChargingError, ChargingProblem, ChargingState};

/// `POST /v1/reservations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"connector_id": "SH0101-01-1", "partner_order_id": "RSV-20261128-0001", "duration_s": 900}))]
pub struct CreateReservationBody {
    pub connector_id: String,
    /// Your order id: unique per partner; the same order returns the same reservation.
    pub partner_order_id: String,
    /// How long to hold the connector: 1 s up to the operator's maximum (15 min by default).
    pub duration_s: i64,
}

/// A reservation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationInfo {
    pub id: String,
    /// `pending`, `active`, `used`, `cancelled`, `expired` or `failed`.
    #[schema(example = "active")]
    pub status: &'static str,
    pub partner_order_id: String,
    pub station_id: String,
    pub connector_id: String,
    pub duration_s: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it was used, cancelled, expired or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// The session that used it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Why it failed (`connector_unavailable`, `charger_rejected`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::sessions::FailureInfo>,
}

pub(crate) fn reservation_info(r: &Reservation) -> ReservationInfo {
    ReservationInfo {
        id: r.id.to_string(),
        status: r.state.as_str(),
        partner_order_id: r.partner_order_id.clone(),
        station_id: r.station_id.to_string(),
        connector_id: r.connector_id.to_string(),
        duration_s: r.duration_s,
        created_at: r.created_at,
        expires_at: r.expires_at,
        ended_at: r.ended_at,
        session_id: r.session_id.as_ref().map(ToString::to_string),
        failure: r.failure.map(|f| crate::sessions::FailureInfo {
            code: f.as_str(),
            detail: r.failure_detail.clone().unwrap_or_default(),
        }),
    }
}

#[utoipa::path(
    post,
    path = "/v1/reservations",
    tag = "reservations",
    security(("oauth2" = ["charging:write"])),
    request_body = CreateReservationBody,
    responses(
        (status = 201, description = "The charger holds the connector: `active`", body = ReservationInfo),
        (status = 200, description = "The same `partner_order_id` as before: the reservation recorded then, as it is now", body = ReservationInfo),
        (status = 400, description = "`bad_request`: the body is not JSON", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `charging:write`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`connector_not_found`", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 409, description = "`connector_unavailable` (with `connector_status`), `connector_reserved`, `charger_offline`, `charger_rejected`, `order_conflict`; `reservation_id` names the failed reservation when one was recorded", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body must be application/json", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`duration_s` beyond the maximum)", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 504, description = "`charger_timeout`", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_reservation(
    State(state): State<ChargingState>,
    auth: ChargingAuth,
    JsonBody(body): JsonBody<CreateReservationBody>,
) -> Result<Response, ChargingError> {
    let reserved = state
        .sessions
        .reserve(
            &auth.caller(),
            ReserveRequest {
                connector_id: body.connector_id,
                partner_order_id: body.partner_order_id,
                duration_s: body.duration_s,
            },
        )
        .await?;
    let status = if reserved.replay {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let r = &reserved.reservation;
    let mut response = (status, Json(reservation_info(r))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/reservations/{}", r.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/v1/reservations/{id}",
    tag = "reservations",
    security(("oauth2" = ["charging:write"])),
    params(("id" = String, Path, description = "Reservation id")),
    responses(
        (status = 200, description = "The reservation", body = ReservationInfo),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: unknown, or another partner's", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_reservation(
    State(state): State<ChargingState>,
    auth: ChargingAuth,
    IdPath(id): IdPath,
) -> Result<Json<ReservationInfo>, ChargingError> {
    let r = state.sessions.reservation(&auth.caller(), &id).await?;
    Ok(Json(reservation_info(&r)))
}

#[utoipa::path(
    post,
    path = "/v1/reservations/{id}/cancel",
    tag = "reservations",
    security(("oauth2" = ["charging:write"])),
    params(("id" = String, Path, description = "Reservation id")),
    responses(
        (status = 200, description = "`cancelled`: the connector is free again", body = ReservationInfo),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 409, description = "`reservation_not_active` (with `state`)", body = ChargingProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cancel_reservation(
    State(state): State<ChargingState>,
    auth: ChargingAuth,
    IdPath(id): IdPath,
) -> Result<Json<ReservationInfo>, ChargingError> {
    let r = state
        .sessions
        .cancel_reservation(&auth.caller(), &id)
        .await?;
    Ok(Json(reservation_info(&r)))
}
