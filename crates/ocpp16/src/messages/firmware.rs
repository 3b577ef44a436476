//! The FirmwareManagement profile (OCPP 1.6 §4.4, §4.5, §5.9, §5.19).

use serde::{Deserialize, Serialize};

use super::types::{CiString255, Timestamp, wire_enum};

wire_enum!(
    /// OCPP 1.6 §7.24 DiagnosticsStatus.
    DiagnosticsStatus {
        Idle = "Idle",
        Uploaded = "Uploaded",
        UploadFailed = "UploadFailed",
        Uploading = "Uploading",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.25 FirmwareStatus.
    FirmwareStatus {
        Downloaded = "Downloaded",
        DownloadFailed = "DownloadFailed",
        Downloading = "Downloading",
        Idle = "Idle",
        InstallationFailed = "InstallationFailed",
        Installing = "Installing",
        Installed = "Installed",
    }
);

/// §4.4 DiagnosticsStatusNotification.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiagnosticsStatusNotificationRequest {
    pub status: DiagnosticsStatus,
}

/// §4.4 DiagnosticsStatusNotification.conf (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsStatusNotificationResponse {}

/// §4.5 FirmwareStatusNotification.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FirmwareStatusNotificationRequest {
    pub status: FirmwareStatus,
}

/// §4.5 FirmwareStatusNotification.conf (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareStatusNotificationResponse {}

/// §5.9 GetDiagnostics.req. `location` is a URI (the schema's `format: uri`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetDiagnosticsRequest {
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_time: Option<Timestamp>,
}

/// §5.9 GetDiagnostics.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetDiagnosticsResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<CiString255>,
}

/// §5.19 UpdateFirmware.req. `location` is a URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateFirmwareRequest {
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    pub retrieve_date: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<i64>,
}

/// §5.19 UpdateFirmware.conf (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateFirmwareResponse {}

super::payloads!(
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
    FirmwareStatusNotificationRequest,
    FirmwareStatusNotificationResponse,
    GetDiagnosticsRequest,
    GetDiagnosticsResponse,
    UpdateFirmwareRequest,
    UpdateFirmwareResponse,
);

super::requests!(
    DiagnosticsStatusNotification: DiagnosticsStatusNotificationRequest => DiagnosticsStatusNotificationResponse,
    FirmwareStatusNotification: FirmwareStatusNotificationRequest => FirmwareStatusNotificationResponse,
    GetDiagnostics: GetDiagnosticsRequest => GetDiagnosticsResponse,
    UpdateFirmware: UpdateFirmwareRequest => UpdateFirmwareResponse,
);
