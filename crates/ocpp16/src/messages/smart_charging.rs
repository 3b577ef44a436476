//! The SmartCharging profile (OCPP 1.6 §5.5, §5.7, §5.16).

use serde::{Deserialize, Serialize};

use super::types::{
    ChargingProfile, ChargingProfilePurpose, ChargingRateUnit, ChargingSchedule, Timestamp,
    wire_enum,
};

wire_enum!(
    /// OCPP 1.6 §7.16 ChargingProfileStatus.
    ChargingProfileStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotSupported = "NotSupported",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.17 ClearChargingProfileStatus.
    ClearChargingProfileStatus {
        Accepted = "Accepted",
        Unknown = "Unknown",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.26 GetCompositeScheduleStatus.
    GetCompositeScheduleStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
);

/// §5.16 SetChargingProfile.req. Connector 0 = charger-wide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetChargingProfileRequest {
    pub connector_id: i64,
    pub cs_charging_profiles: ChargingProfile,
}

/// §5.16 SetChargingProfile.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetChargingProfileResponse {
    pub status: ChargingProfileStatus,
}

/// §5.5 ClearChargingProfile.req: every field is a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClearChargingProfileRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_profile_purpose: Option<ChargingProfilePurpose>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_level: Option<i64>,
}

/// §5.5 ClearChargingProfile.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClearChargingProfileResponse {
    pub status: ClearChargingProfileStatus,
}

/// §5.7 GetCompositeSchedule.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetCompositeScheduleRequest {
    pub connector_id: i64,
    /// Seconds.
    pub duration: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_rate_unit: Option<ChargingRateUnit>,
}

/// §5.7 GetCompositeSchedule.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetCompositeScheduleResponse {
    pub status: GetCompositeScheduleStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_schedule: Option<ChargingSchedule>,
}

super::payloads!(
    SetChargingProfileRequest,
    SetChargingProfileResponse,
    ClearChargingProfileRequest,
    ClearChargingProfileResponse,
    GetCompositeScheduleRequest,
    GetCompositeScheduleResponse,
);

super::requests!(
    SetChargingProfile: SetChargingProfileRequest => SetChargingProfileResponse,
    ClearChargingProfile: ClearChargingProfileRequest => ClearChargingProfileResponse,
    GetCompositeSchedule: GetCompositeScheduleRequest => GetCompositeScheduleResponse,
);
