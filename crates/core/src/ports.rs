//! The ports: traits the core's use cases need from the outside world. Stores implement the
//! store ports (one method = one database transaction); the ocpp16 face implements
//! [`ChargerGateway`]. No wire or SQL type appears here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::ids::{ChargerId, ConnectorId, ConnectorNumber, StationId, TariffId};
use crate::network::{Charger, Connector, ConnectorView, Registration, Station};
use crate::operator::{AuditEntry, Email, OperatorAccount, OperatorRole};
use crate::page::{Page, PageRequest};
use crate::status::{ChargePointStatus, ConnectorState, ConnectorStatus};
use crate::tariff::Tariff;

/// A whole set of network data written at once (import, demo seeding): all or nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkBatch {
    pub tariffs: Vec<Tariff>,
    pub stations: Vec<Station>,
    /// Each charger with the argon2 hash of its OCPP password, when one is set.
    pub chargers: Vec<(Charger, Option<String>)>,
    pub connectors: Vec<Connector>,
}

/// Counts of what a batch wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub tariffs: usize,
    pub stations: usize,
    pub chargers: usize,
    pub connectors: usize,
}

/// A charger with what we know of its connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerView {
    pub charger: Charger,
    pub has_password: bool,
    pub last_boot_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// Which connectors a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectorFilter {
    pub station_id: Option<StationId>,
    pub charger_id: Option<ChargerId>,
    pub updated_since: Option<DateTime<Utc>>,
    /// Include retired connectors (operators only).
    pub include_retired: bool,
}

/// Stations, chargers, connectors and tariffs: the operator's network data.
#[async_trait]
pub trait NetworkStore: Send + Sync {
    /// Creates or updates everything in `batch` in one transaction, tariffs first. A tariff
    /// version that already exists with different content is a conflict
    /// (`tariffs_id_version_key`).
    async fn import_network(&self, batch: &NetworkBatch) -> Result<ImportSummary, StoreError>;

    /// Creates or updates a station. Its tariff must exist (`stations_tariff_fk`).
    async fn put_station(&self, station: &Station) -> Result<(), StoreError>;
    async fn get_station(&self, id: &StationId) -> Result<Station, StoreError>;
    /// Stations ordered by id, retired ones only when asked.
    async fn list_stations(
        &self,
        page: &PageRequest,
        include_retired: bool,
    ) -> Result<Page<Station>, StoreError>;
    /// Marks a station, its chargers and connectors retired.
    async fn retire_station(&self, id: &StationId, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Creates or updates a charger; a `Some` hash replaces its OCPP password. Registration
    /// state learnt from the charger (registered) is kept on update unless the update disables.
    async fn put_charger(
        &self,
        charger: &Charger,
        ocpp_password_hash: Option<&str>,
    ) -> Result<(), StoreError>;
    async fn get_charger(&self, id: &ChargerId) -> Result<ChargerView, StoreError>;
    async fn list_chargers(
        &self,
        station: Option<&StationId>,
        page: &PageRequest,
    ) -> Result<Page<ChargerView>, StoreError>;
    async fn set_charger_password(
        &self,
        id: &ChargerId,
        ocpp_password_hash: &str,
    ) -> Result<(), StoreError>;
    async fn retire_charger(&self, id: &ChargerId, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Creates or updates a connector; a new one starts `offline` with `status_seq` 0.
    /// (charger, number) is unique (`connectors_charger_number_key`).
    async fn put_connector(&self, connector: &Connector) -> Result<(), StoreError>;
    async fn get_connector(&self, id: &ConnectorId) -> Result<ConnectorView, StoreError>;
    /// Connectors ordered by id.
    async fn list_connectors(
        &self,
        filter: &ConnectorFilter,
        page: &PageRequest,
    ) -> Result<Page<ConnectorView>, StoreError>;
    async fn retire_connector(&self, id: &ConnectorId, at: DateTime<Utc>)
    -> Result<(), StoreError>;

    /// Adds a tariff version. Versions of one id must be numbered 1, 2, … and have increasing
    /// `effective_from` (`tariffs_id_version_key` on a duplicate).
    async fn put_tariff(&self, tariff: &Tariff) -> Result<(), StoreError>;
    /// All versions, oldest first.
    async fn tariff_versions(&self, id: &TariffId) -> Result<Vec<Tariff>, StoreError>;
    /// The version in force at `at`.
    async fn tariff_in_force(&self, id: &TariffId, at: DateTime<Utc>)
    -> Result<Tariff, StoreError>;
    /// The latest version of every tariff, ordered by id.
    async fn list_tariffs(&self, page: &PageRequest) -> Result<Page<Tariff>, StoreError>;
}

/// How a charger may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargerCredentials {
    pub registration: Registration,
    pub retired: bool,
    /// Argon2 PHC string; `None` when no password is set (then it cannot connect).
    pub password_hash: Option<String>,
}

/// What a charger tells about itself in BootNotification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootInfo {
    pub vendor: String,
    pub model: String,
    pub serial: Option<String>,
    pub firmware: Option<String>,
}

/// A status the charger reported: for one connector, or (`connector: None`) for the whole
/// charger (OCPP connector 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedStatus {
    pub connector: Option<ConnectorNumber>,
    pub status: ChargePointStatus,
    /// The OCPP errorCode when not NoError, with vendor details if any.
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A connector whose partner-visible status changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorStatusChanged {
    pub connector_id: ConnectorId,
    pub charger_id: ChargerId,
    pub station_id: StationId,
    pub previous: ConnectorStatus,
    pub state: ConnectorState,
    /// Whether an active session (pending … finishing) was on the connector, as the store saw
    /// it in the transaction that recorded the change; `None` when the store did not look.
    /// `Some(false)` lets the sessions service skip its own look-up.
    pub active_session: Option<bool>,
}

/// What the charger-facing face records about chargers' connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargerPresence {
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_boot_at: Option<DateTime<Utc>>,
}

/// What the charger-facing face needs from the store.
#[async_trait]
pub trait ChargerStore: Send + Sync {
    /// `NotFound` for unknown chargers.
    async fn charger_credentials(&self, id: &ChargerId) -> Result<ChargerCredentials, StoreError>;
    /// Records boot data and marks the charger registered.
    async fn record_boot(
        &self,
        id: &ChargerId,
        boot: &BootInfo,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Any message from the charger proves it alive.
    async fn record_seen(&self, id: &ChargerId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Applies a reported status (connector 0 applies to every connector of the charger) and
    /// returns the connectors whose status changed, with their new `status_seq`. Unknown
    /// connector numbers are `NotFound`.
    async fn record_status(
        &self,
        id: &ChargerId,
        status: &ReportedStatus,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError>;
    /// The connection is gone or heartbeats stopped: every connector turns offline.
    async fn mark_offline(
        &self,
        id: &ChargerId,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError>;
    /// Marks every connector of every charger offline: used at start-up, when no charger is
    /// connected to this process yet.
    async fn mark_all_offline(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError>;
}

/// A bearer session of an operator, as found by its token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    pub operator: OperatorAccount,
    pub expires_at: DateTime<Utc>,
}

/// Operator accounts, their bearer tokens and the audit trail.
#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// `operators_email_key` on a duplicate e-mail.
    async fn create_operator(
        &self,
        id: &str,
        email: &Email,
        role: OperatorRole,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<OperatorAccount, StoreError>;
    async fn find_operator_by_email(&self, email: &Email) -> Result<OperatorAccount, StoreError>;
    async fn set_operator_password(&self, id: &str, password_hash: &str) -> Result<(), StoreError>;
    /// Stores a token by its SHA-256 (tokens are 256-bit random, so a fast hash is enough and
    /// lets each request be checked without argon2).
    async fn create_operator_token(
        &self,
        token_sha256: &str,
        operator_id: &str,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The session of a live (unexpired, unrevoked) token; `NotFound` otherwise.
    async fn find_operator_token(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<OperatorSession, StoreError>;
    async fn revoke_operator_token(&self, token_sha256: &str) -> Result<(), StoreError>;
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_audit(&self, page: &PageRequest) -> Result<Page<AuditEntry>, StoreError>;
}

/// A command to a charger. The ocpp16 face turns each into its OCPP 1.6 CALL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargerCommand {
    RemoteStartTransaction {
        connector: ConnectorNumber,
        id_tag: String,
    },
    RemoteStopTransaction {
        transaction_id: i64,
    },
    ReserveNow {
        connector: ConnectorNumber,
        expiry: DateTime<Utc>,
        id_tag: String,
        reservation_id: i64,
    },
    CancelReservation {
        reservation_id: i64,
    },
    /// `connector: None` is the whole charger (OCPP connector 0).
    ChangeAvailability {
        connector: Option<ConnectorNumber>,
        operative: bool,
    },
    TriggerMessage {
        message: TriggerableMessage,
        connector: Option<ConnectorNumber>,
    },
    UnlockConnector {
        connector: ConnectorNumber,
    },
    Reset {
        hard: bool,
    },
    GetConfiguration {
        keys: Vec<String>,
    },
    ChangeConfiguration {
        key: String,
        value: String,
    },
    ClearCache,
}

impl ChargerCommand {
    /// The OCPP action name, for logs and metrics.
    pub fn action(&self) -> &'static str {
        match self {
            Self::RemoteStartTransaction { .. } => "RemoteStartTransaction",
            Self::RemoteStopTransaction { .. } => "RemoteStopTransaction",
            Self::ReserveNow { .. } => "ReserveNow",
            Self::CancelReservation { .. } => "CancelReservation",
            Self::ChangeAvailability { .. } => "ChangeAvailability",
            Self::TriggerMessage { .. } => "TriggerMessage",
            Self::UnlockConnector { .. } => "UnlockConnector",
            Self::Reset { .. } => "Reset",
            Self::GetConfiguration { .. } => "GetConfiguration",
            Self::ChangeConfiguration { .. } => "ChangeConfiguration",
            Self::ClearCache => "ClearCache",
        }
    }
}

/// Messages TriggerMessage can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerableMessage {
    BootNotification,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    Heartbeat,
    MeterValues,
    StatusNotification,
}

/// The charger's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandReply {
    /// The `status` field of the .conf, as the charger sent it (`Accepted`, `Rejected`,
    /// `Occupied`, `Scheduled`, `Unlocked`, `NotSupported`, `RebootRequired`, …).
    Status(String),
    /// GetConfiguration.conf.
    Configuration {
        known: Vec<ConfigurationEntry>,
        unknown: Vec<String>,
    },
}

impl CommandReply {
    pub fn is_accepted(&self) -> bool {
        match self {
            Self::Status(s) => s == "Accepted" || s == "Unlocked",
            Self::Configuration { .. } => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationEntry {
    pub key: String,
    pub value: Option<String>,
    pub readonly: bool,
}

/// Why a command got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("charger is not connected")]
    Offline,
    #[error("charger did not answer in time")]
    Timeout,
    #[error("charger answered with CALLERROR {code}: {description}")]
    CallError { code: String, description: String },
    /// The charger has not been accepted by BootNotification yet (OCPP forbids remote
    /// start/stop then).
    #[error("charger has not booted")]
    NotAccepted,
}

/// Sends commands to chargers and awaits their answers, wherever their connection is.
#[async_trait]
pub trait ChargerGateway: Send + Sync {
    async fn send(
        &self,
        charger: &ChargerId,
        command: ChargerCommand,
    ) -> Result<CommandReply, GatewayError>;
    /// Whether the charger holds a connection now.
    fn is_connected(&self, charger: &ChargerId) -> bool;
}
