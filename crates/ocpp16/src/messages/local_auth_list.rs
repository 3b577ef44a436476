//! The LocalAuthListManagement profile (OCPP 1.6 §5.10, §5.15).

use serde::{Deserialize, Serialize};

use super::types::{IdTagInfo, IdToken, wire_enum};

wire_enum!(
    /// OCPP 1.6 §7.47 UpdateType.
    UpdateType {
        Differential = "Differential",
        Full = "Full",
    }
);

wire_enum!(
    /// OCPP 1.6 §7.48 UpdateStatus.
    UpdateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        NotSupported = "NotSupported",
        VersionMismatch = "VersionMismatch",
    }
);

/// §7.1 AuthorizationData. In a Differential update, no `idTagInfo` deletes the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationData {
    pub id_tag: IdToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfo>,
}

/// §5.10 GetLocalListVersion.req (empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetLocalListVersionRequest {}

/// §5.10 GetLocalListVersion.conf. 0 = empty list, -1 = not supported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetLocalListVersionResponse {
    pub list_version: i64,
}

/// §5.15 SendLocalList.req.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendLocalListRequest {
    pub list_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_authorization_list: Option<Vec<AuthorizationData>>,
    pub update_type: UpdateType,
}

/// §5.15 SendLocalList.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendLocalListResponse {
    pub status: UpdateStatus,
}

super::payloads!(
    GetLocalListVersionRequest,
    GetLocalListVersionResponse,
    SendLocalListRequest,
    SendLocalListResponse,
);

super::requests!(
    GetLocalListVersion: GetLocalListVersionRequest => GetLocalListVersionResponse,
    SendLocalList: SendLocalListRequest => SendLocalListResponse,
);
