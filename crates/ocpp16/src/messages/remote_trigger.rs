//! The RemoteTrigger profile (OCPP 1.6 §5.17).

use serde::{Deserialize, Serialize};

use super::types::wire_enum;

wire_enum!(
    /// OCPP 1.6 §7.33 MessageTrigger.
    MessageTrigger {
        BootNotification = "BootNotification",
        DiagnosticsStatusNotification = "DiagnosticsStatusNotification",
        FirmwareStatusNotification = "FirmwareStatusNotification",
        Heartbeat = "Heartbeat",
        MeterValues = "MeterValues",
        StatusNotification = "StatusNotification",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.44 TriggerMessageStatus.
    TriggerMessageStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotImplemented = "NotImplemented",
    }
);

/// §5.17 TriggerMessage.req. The .conf comes before the triggered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerMessageRequest {
    pub requested_message: MessageTrigger,
    /// > 0 when present; absent for StatusNotification means connector 0 and every connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i64>,
}

/// §5.17 TriggerMessage.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerMessageResponse {
    pub status: TriggerMessageStatus,
}

super::payloads!(TriggerMessageRequest, TriggerMessageResponse);

super::requests!(
    TriggerMessage: TriggerMessageRequest => TriggerMessageResponse,
);
