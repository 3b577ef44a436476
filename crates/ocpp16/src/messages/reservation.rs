//! The Reservation profile (OCPP 1.6 §5.1, §5.13).

use serde::{Deserialize, Serialize};

use super::types::{IdToken, Timestamp, wire_enum};

wire_enum!(
    /// OCPP 1.6 §7.36 ReservationStatus.
    ReservationStatus {
        Accepted = "Accepted",
        Faulted = "Faulted",
        Occupied = "Occupied",
        Rejected = "Rejected",
        Unavailable = "Unavailable",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.9 CancelReservationStatus.
    CancelReservationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
);

/// §5.13 ReserveNow.req. Connector 0 = any connector (only with ReserveConnectorZeroSupported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReserveNowRequest {
    pub connector_id: i64,
    pub expiry_date: Timestamp,
    pub id_tag: IdToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id_tag: Option<IdToken>,
    pub reservation_id: i64,
}

/// §5.13 ReserveNow.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReserveNowResponse {
    pub status: ReservationStatus,
}

/// §5.1 CancelReservation.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelReservationRequest {
    pub reservation_id: i64,
}

/// §5.1 CancelReservation.conf. Rejected = no such reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelReservationResponse {
    pub status: CancelReservationStatus,
}

super::payloads!(
    ReserveNowRequest,
    ReserveNowResponse,
    CancelReservationRequest,
    CancelReservationResponse,
);

super::requests!(
    ReserveNow: ReserveNowRequest => ReserveNowResponse,
    CancelReservation: CancelReservationRequest => CancelReservationResponse,
);
