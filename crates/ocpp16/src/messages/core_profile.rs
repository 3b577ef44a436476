//! The Core profile messages of OCPP 1.6 (§4 charger-initiated, §5 central-system-initiated),
//! request and response (`.req`/`.conf`).

use serde::{Deserialize, Serialize};

use super::Payload;
use super::decode::PayloadError;
use super::types::{
    ChargePointErrorCode, ChargePointStatus, ChargingProfile, CiString20, CiString25, CiString50,
    CiString255, CiString500, IdTagInfo, IdToken, MeterValue, Reason, Timestamp, wire_enum,
};

wire_enum!(
    /// OCPP 1.6 §7.41 RegistrationStatus.
    RegistrationStatus {
        Accepted = "Accepted",
        Pending = "Pending",
        Rejected = "Rejected",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.4 AvailabilityType.
    AvailabilityType {
        Inoperative = "Inoperative",
        Operative = "Operative",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.3 AvailabilityStatus.
    AvailabilityStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Scheduled = "Scheduled",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.18 ConfigurationStatus.
    ConfigurationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        RebootRequired = "RebootRequired",
        NotSupported = "NotSupported",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.5 ClearCacheStatus.
    ClearCacheStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.20 DataTransferStatus.
    DataTransferStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownMessageId = "UnknownMessageId",
        UnknownVendorId = "UnknownVendorId",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.42 RemoteStartStopStatus.
    RemoteStartStopStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.38 ResetType.
    ResetType {
        Hard = "Hard",
        Soft = "Soft",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.37 ResetStatus.
    ResetStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.44 UnlockStatus.
    UnlockStatus {
        Unlocked = "Unlocked",
        UnlockFailed = "UnlockFailed",
        NotSupported = "NotSupported",
    }
);

/// §4.1 Authorize.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizeRequest {
    pub id_tag: IdToken,
}

/// §4.1 Authorize.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizeResponse {
    pub id_tag_info: IdTagInfo,
}

/// §4.2 BootNotification.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootNotificationRequest {
    pub charge_point_vendor: CiString20,
    pub charge_point_model: CiString20,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_point_serial_number: Option<CiString25>,
    /// Deprecated in 1.6 in favour of chargePointSerialNumber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_box_serial_number: Option<CiString25>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<CiString50>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<CiString20>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imsi: Option<CiString20>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_type: Option<CiString25>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_serial_number: Option<CiString25>,
}

/// §4.2 BootNotification.conf. The field is `interval`, not `heartbeatInterval` (a known trap in
/// the OCPP-J example).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootNotificationResponse {
    pub status: RegistrationStatus,
    pub current_time: Timestamp,
    /// Heartbeat interval in seconds when Accepted; otherwise the minimum wait before the next
    /// BootNotification.
    pub interval: i64,
}

/// §5.2 ChangeAvailability.req. Connector 0 is the whole charger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeAvailabilityRequest {
    pub connector_id: i64,
    #[serde(rename = "type")]
    pub kind: AvailabilityType,
}

/// §5.2 ChangeAvailability.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeAvailabilityResponse {
    pub status: AvailabilityStatus,
}

/// §5.3 ChangeConfiguration.req. Values are always strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeConfigurationRequest {
    pub key: CiString50,
    pub value: CiString500,
}

/// §5.3 ChangeConfiguration.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeConfigurationResponse {
    pub status: ConfigurationStatus,
}

/// §5.4 ClearCache.req (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearCacheRequest {}

/// §5.4 ClearCache.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClearCacheResponse {
    pub status: ClearCacheStatus,
}

/// §4.3/§5.6 DataTransfer.req, in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataTransferRequest {
    pub vendor_id: CiString255,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<CiString50>,
    /// Unbounded text, vendor-defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// §4.3/§5.6 DataTransfer.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataTransferResponse {
    pub status: DataTransferStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// §5.8 GetConfiguration.req. No keys (absent or empty) asks for all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetConfigurationRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Vec<CiString50>>,
}

/// §7.22 KeyValue in GetConfiguration.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyValue {
    pub key: CiString50,
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<CiString500>,
}

/// §5.8 GetConfiguration.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetConfigurationResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_key: Option<Vec<KeyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_key: Option<Vec<CiString50>>,
}

/// §4.6 Heartbeat.req (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {}

/// §4.6 Heartbeat.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeartbeatResponse {
    pub current_time: Timestamp,
}

/// §4.7 MeterValues.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterValuesRequest {
    /// 0 = the main meter of the charger.
    pub connector_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i64>,
    pub meter_value: Vec<MeterValue>,
}

/// §4.7 MeterValues.conf (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterValuesResponse {}

/// §5.11 RemoteStartTransaction.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteStartTransactionRequest {
    /// SHALL be > 0 when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i64>,
    pub id_tag: IdToken,
    /// A TxProfile without transactionId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_profile: Option<ChargingProfile>,
}

/// §5.11 RemoteStartTransaction.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteStartTransactionResponse {
    pub status: RemoteStartStopStatus,
}

/// §5.12 RemoteStopTransaction.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteStopTransactionRequest {
    pub transaction_id: i64,
}

/// §5.12 RemoteStopTransaction.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteStopTransactionResponse {
    pub status: RemoteStartStopStatus,
}

/// §5.14 Reset.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetRequest {
    #[serde(rename = "type")]
    pub kind: ResetType,
}

/// §5.14 Reset.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetResponse {
    pub status: ResetStatus,
}

/// §4.8 StartTransaction.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartTransactionRequest {
    /// SHALL be > 0; checked by the handler, which answers anyway (§4.8 / R-T4).
    pub connector_id: i64,
    pub id_tag: IdToken,
    /// Meter register in Wh.
    pub meter_start: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<i64>,
    pub timestamp: Timestamp,
}

/// §4.8 StartTransaction.conf. The transaction id is assigned by the central system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartTransactionResponse {
    pub id_tag_info: IdTagInfo,
    pub transaction_id: i64,
}

/// §4.9 StatusNotification.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusNotificationRequest {
    /// 0 = the charger as a whole.
    pub connector_id: i64,
    pub error_code: ChargePointErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<CiString50>,
    pub status: ChargePointStatus,
    /// Absent: the time of receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<CiString255>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_error_code: Option<CiString50>,
}

/// §4.9 StatusNotification.conf (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusNotificationResponse {}

/// §4.10 StopTransaction.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopTransactionRequest {
    /// Absent when the charger stopped the transaction itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_tag: Option<IdToken>,
    /// Meter register in Wh.
    pub meter_stop: i64,
    pub timestamp: Timestamp,
    pub transaction_id: i64,
    /// Absent means `Local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_data: Option<Vec<MeterValue>>,
}

/// §4.10 StopTransaction.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopTransactionResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfo>,
}

/// §5.18 UnlockConnector.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockConnectorRequest {
    pub connector_id: i64,
}

/// §5.18 UnlockConnector.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockConnectorResponse {
    pub status: UnlockStatus,
}

impl Payload for MeterValuesRequest {
    /// The schema's `minItems: 1` on `meterValue` and on each `sampledValue`.
    fn check(&self) -> Result<(), PayloadError> {
        if self.meter_value.is_empty() {
            return Err(PayloadError::too_few("meterValue"));
        }
        if self
            .meter_value
            .iter()
            .any(|mv| mv.sampled_value.is_empty())
        {
            return Err(PayloadError::too_few("meterValue[].sampledValue"));
        }
        Ok(())
    }
}

super::payloads!(
    AuthorizeResponse,
    BootNotificationResponse,
    ChangeAvailabilityResponse,
    ChangeConfigurationResponse,
    ClearCacheResponse,
    DataTransferResponse,
    GetConfigurationResponse,
    HeartbeatResponse,
    MeterValuesResponse,
    RemoteStartTransactionResponse,
    RemoteStopTransactionResponse,
    ResetResponse,
    StartTransactionResponse,
    StatusNotificationResponse,
    StopTransactionResponse,
    UnlockConnectorResponse,
    AuthorizeRequest,
    BootNotificationRequest,
    ChangeAvailabilityRequest,
    ChangeConfigurationRequest,
    ClearCacheRequest,
    DataTransferRequest,
    GetConfigurationRequest,
    HeartbeatRequest,
    RemoteStartTransactionRequest,
    RemoteStopTransactionRequest,
    ResetRequest,
    StartTransactionRequest,
    StatusNotificationRequest,
    StopTransactionRequest,
    UnlockConnectorRequest,
);

super::requests!(
    Authorize: AuthorizeRequest => AuthorizeResponse,
    BootNotification: BootNotificationRequest => BootNotificationResponse,
    ChangeAvailability: ChangeAvailabilityRequest => ChangeAvailabilityResponse,
    ChangeConfiguration: ChangeConfigurationRequest => ChangeConfigurationResponse,
    ClearCache: ClearCacheRequest => ClearCacheResponse,
    DataTransfer: DataTransferRequest => DataTransferResponse,
    GetConfiguration: GetConfigurationRequest => GetConfigurationResponse,
    Heartbeat: HeartbeatRequest => HeartbeatResponse,
    MeterValues: MeterValuesRequest => MeterValuesResponse,
    RemoteStartTransaction: RemoteStartTransactionRequest => RemoteStartTransactionResponse,
    RemoteStopTransaction: RemoteStopTransactionRequest => RemoteStopTransactionResponse,
    Reset: ResetRequest => ResetResponse,
    StartTransaction: StartTransactionRequest => StartTransactionResponse,
    StatusNotification: StatusNotificationRequest => StatusNotificationResponse,
    StopTransaction: StopTransactionRequest => StopTransactionResponse,
    UnlockConnector: UnlockConnectorRequest => UnlockConnectorResponse,
);
