//! Charging transactions as chargers report them (OCPP StartTransaction … MeterValues …
//! StopTransaction), the meter samples taken during them, and the id tags a charger may start
//! them with. This is the charger's view: the partner-facing session (`session.rs`) links to a
//! transaction through the id tag it bound before asking the charger to start.
//!
//! Wire details (OCPP field names, unit strings) stay in the ocpp16 face; here energy is
//! integer Wh, power integer W and every time UTC.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::energy::{Watts, Wh};
use crate::error::{StoreError, ValidationError};
use crate::ids::{ChargerId, ConnectorNumber, SessionId};

/// A transaction id as we issue them: 1..=2³¹−1. Many firmwares keep it in an int32, and 0 or
/// negative ids are sentinels some chargers send back ("no transaction"), so we never issue
/// them (protocol reference §1.5, R-T1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct TransactionId(i64);

impl TransactionId {
    pub const MAX: i64 = i32::MAX as i64;

    pub fn new(id: i64) -> Result<Self, ValidationError> {
        if !(1..=Self::MAX).contains(&id) {
            return Err(ValidationError::new(
                "transaction_id",
                format!("must be between 1 and {}", Self::MAX),
            ));
        }
        Ok(Self(id))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for TransactionId {
    type Error = ValidationError;
    fn try_from(id: i64) -> Result<Self, ValidationError> {
        Self::new(id)
    }
}

impl From<TransactionId> for i64 {
    fn from(id: TransactionId) -> i64 {
        id.0
    }
}

impl std::fmt::Display for TransactionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What we answer about an id tag (the OCPP AuthorizationStatus values, as the domain uses
/// them). `Invalid` means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagStatus {
    Accepted,
    Blocked,
    Expired,
    Invalid,
    ConcurrentTx,
}

impl TagStatus {
    pub const ALL: [TagStatus; 5] = [
        Self::Accepted,
        Self::Blocked,
        Self::Expired,
        Self::Invalid,
        Self::ConcurrentTx,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Blocked => "blocked",
            Self::Expired => "expired",
            Self::Invalid => "invalid",
            Self::ConcurrentTx => "concurrent_tx",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// An id tag bound to a session that is about to start: the sessions service binds a fresh tag
/// before sending RemoteStartTransaction with it, so that the charger's StartTransaction (or
/// its Authorize) can be recognised and linked to the session. Tags are compared
/// case-insensitively (OCPP IdToken is a CiString).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTagBinding {
    /// ≤ 20 characters (OCPP CiString20).
    pub id_tag: String,
    pub session_id: SessionId,
    pub charger_id: ChargerId,
    /// `None`: any connector of the charger.
    pub connector: Option<ConnectorNumber>,
    /// After this the tag is no longer accepted (RemoteStart never followed by a Start).
    pub expires_at: DateTime<Utc>,
}

/// A tag configured by the operator (staff cards, test tags, the demo's tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalIdTag {
    /// ≤ 20 characters (OCPP CiString20).
    pub id_tag: String,
    pub status: TagStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub parent_id_tag: Option<String>,
}

/// Validates an id tag: 1–20 printable ASCII characters (OCPP IdToken = CiString20).
pub fn validate_id_tag(tag: &str) -> Result<(), ValidationError> {
    if tag.is_empty() || tag.len() > 20 {
        return Err(ValidationError::new(
            "id_tag",
            "must be 1 to 20 characters long",
        ));
    }
    if !tag.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Err(ValidationError::new("id_tag", "must be printable ASCII"));
    }
    Ok(())
}

impl IdTagBinding {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_id_tag(&self.id_tag)
    }
}

impl LocalIdTag {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_id_tag(&self.id_tag)?;
        if let Some(parent) = &self.parent_id_tag {
            validate_id_tag(parent).map_err(|e| e.within("parent"))?;
        }
        Ok(())
    }
}

/// The answer about an id tag, and the session it is bound to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagVerdict {
    pub status: TagStatus,
    /// When a charger should drop the tag from its cache.
    pub expires_at: Option<DateTime<Utc>>,
    pub parent_id_tag: Option<String>,
    /// Set when the tag is bound to a session on this charger and still valid.
    pub session_id: Option<SessionId>,
}

impl TagVerdict {
    pub fn invalid() -> Self {
        Self {
            status: TagStatus::Invalid,
            expires_at: None,
            parent_id_tag: None,
            session_id: None,
        }
    }

    /// Judges a tag from what the store knows of it. A binding for this charger (and connector,
    /// when it names one) that has not expired wins; then the operator's tag with its own
    /// status (Accepted turns Expired after its expiry); a binding that lapsed or belongs to
    /// another charger or connector is Expired or Invalid; anything else is unknown: Invalid.
    pub fn judge(
        binding: Option<&IdTagBinding>,
        local: Option<&LocalIdTag>,
        charger: &ChargerId,
        connector: Option<ConnectorNumber>,
        at: DateTime<Utc>,
    ) -> TagVerdict {
        let binding_here = binding.filter(|b| {
            &b.charger_id == charger
                && match (b.connector, connector) {
                    (Some(want), Some(got)) => want == got,
                    _ => true,
                }
        });
        if let Some(b) = binding_here.filter(|b| at < b.expires_at) {
            return TagVerdict {
                status: TagStatus::Accepted,
                expires_at: Some(b.expires_at),
                parent_id_tag: None,
                session_id: Some(b.session_id.clone()),
            };
        }
        if let Some(tag) = local {
            let expired = tag.expires_at.is_some_and(|e| e <= at);
            let status = if tag.status == TagStatus::Accepted && expired {
                TagStatus::Expired
            } else {
                tag.status
            };
            return TagVerdict {
                status,
                expires_at: tag.expires_at,
                parent_id_tag: tag.parent_id_tag.clone(),
                session_id: None,
            };
        }
        if binding_here.is_some() {
            return TagVerdict {
                status: TagStatus::Expired,
                ..TagVerdict::invalid()
            };
        }
        TagVerdict::invalid()
    }
}

/// Why a transaction ended (OCPP 1.6 StopTransaction reason; absent means `Local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Local,
    Remote,
    EvDisconnected,
    DeAuthorized,
    EmergencyStop,
    HardReset,
    SoftReset,
    PowerLoss,
    Reboot,
    UnlockCommand,
    Other,
}

impl StopReason {
    pub const ALL: [StopReason; 11] = [
        Self::Local,
        Self::Remote,
        Self::EvDisconnected,
        Self::DeAuthorized,
        Self::EmergencyStop,
        Self::HardReset,
        Self::SoftReset,
        Self::PowerLoss,
        Self::Reboot,
        Self::UnlockCommand,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
            Self::EvDisconnected => "ev_disconnected",
            Self::DeAuthorized => "de_authorized",
            Self::EmergencyStop => "emergency_stop",
            Self::HardReset => "hard_reset",
            Self::SoftReset => "soft_reset",
            Self::PowerLoss => "power_loss",
            Self::Reboot => "reboot",
            Self::UnlockCommand => "unlock_command",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a meter sample measured, in the unit we keep it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Measurement {
    /// The active energy import register (a raw meter reading, not re-based to 0).
    EnergyImportRegister(Wh),
    /// Active power drawn by the vehicle.
    PowerImport(Watts),
    /// State of charge of the vehicle's battery, percent.
    StateOfCharge(Decimal),
    /// Volts, as reported (one phase or overall).
    Voltage(Decimal),
    /// Amperes drawn, as reported (one phase or overall).
    CurrentImport(Decimal),
}

impl Measurement {
    /// The stored name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EnergyImportRegister(_) => "energy_import_register_wh",
            Self::PowerImport(_) => "power_import_w",
            Self::StateOfCharge(_) => "soc_percent",
            Self::Voltage(_) => "voltage_v",
            Self::CurrentImport(_) => "current_import_a",
        }
    }

    /// The value as a decimal in the kind's unit.
    pub fn value(&self) -> Decimal {
        match *self {
            Self::EnergyImportRegister(wh) => Decimal::from(wh.0),
            Self::PowerImport(w) => Decimal::from(w.0),
            Self::StateOfCharge(d) | Self::Voltage(d) | Self::CurrentImport(d) => d,
        }
    }

    /// Rebuilds a measurement from its stored kind and value; `None` if they do not fit.
    pub fn from_parts(kind: &str, value: Decimal) -> Option<Self> {
        let whole = || {
            i64::try_from(value.trunc())
                .ok()
                .filter(|_| value.fract().is_zero())
        };
        Some(match kind {
            "energy_import_register_wh" => Self::EnergyImportRegister(Wh(whole()?)),
            "power_import_w" => Self::PowerImport(Watts(whole()?)),
            "soc_percent" => Self::StateOfCharge(value),
            "voltage_v" => Self::Voltage(value),
            "current_import_a" => Self::CurrentImport(value),
            _ => return None,
        })
    }
}

/// One meter reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeterSample {
    /// When the charger took it (its clock).
    pub at: DateTime<Utc>,
    pub measurement: Measurement,
    /// The phase label as the charger sent it (`L1`, `L2-N`, …); `None` for an overall value.
    pub phase: Option<String>,
    /// Why it was taken, as the charger said (`Sample.Periodic`, `Transaction.End`, …).
    pub context: Option<String>,
}

/// A StartTransaction as the charger sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionStart {
    pub charger_id: ChargerId,
    /// `None` when the charger named a connector that cannot exist (0, negative, > 99): the
    /// transaction is still recorded, since a start cannot be refused (OCPP 1.6 §4.8).
    pub connector: Option<ConnectorNumber>,
    pub id_tag: String,
    pub meter_start: Wh,
    /// The charger's timestamp of the start.
    pub started_at: DateTime<Utc>,
    pub reservation_id: Option<i64>,
    pub received_at: DateTime<Utc>,
}

/// The outcome of recording a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRecorded {
    pub transaction_id: TransactionId,
    /// The same start was recorded before (a retransmission): the id is the one issued then.
    pub duplicate: bool,
    /// The tag's verdict, as first judged (a retransmission gets the same answer).
    pub verdict: TagVerdict,
}

/// Meter values reported outside StartTransaction/StopTransaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterReport {
    pub charger_id: ChargerId,
    /// `None`: the charger's main meter (OCPP connector 0).
    pub connector: Option<ConnectorNumber>,
    /// The transaction the charger tied the values to, as it sent it.
    pub transaction_id: Option<i64>,
    pub samples: Vec<MeterSample>,
    pub received_at: DateTime<Utc>,
}

/// What became of a meter report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterRecorded {
    /// The samples were attached to a transaction we know (of this charger).
    pub linked: bool,
    pub stored: usize,
    /// A session is linked to that transaction, as the store saw it in the transaction that
    /// recorded the samples (false when not `linked`). Lets the sessions service skip its own
    /// look-up for the many transactions no session owns (those started with local tags).
    pub session_linked: bool,
}

/// A StopTransaction as the charger sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionStop {
    pub charger_id: ChargerId,
    /// As sent: it may be unknown to us, or a sentinel like -1.
    pub transaction_id: i64,
    pub id_tag: Option<String>,
    pub meter_stop: Wh,
    pub stopped_at: DateTime<Utc>,
    pub reason: StopReason,
    /// `transactionData`, kept with the transaction.
    pub samples: Vec<MeterSample>,
    pub received_at: DateTime<Utc>,
}

/// What became of a stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopRecorded {
    /// The transaction is now stopped.
    Stopped(ChargingTransaction),
    /// It was stopped before (a retransmission or a second stop): nothing changed.
    AlreadyStopped(ChargingTransaction),
    /// We issued no such transaction to this charger: recorded as an orphan stop for review
    /// (the charger still gets its answer, OCPP 1.6 §4.10).
    Orphan,
}

/// A transaction as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargingTransaction {
    pub id: TransactionId,
    pub charger_id: ChargerId,
    pub connector: Option<ConnectorNumber>,
    pub id_tag: String,
    pub tag_status: TagStatus,
    pub session_id: Option<SessionId>,
    pub reservation_id: Option<i64>,
    pub meter_start: Wh,
    pub started_at: DateTime<Utc>,
    /// The highest energy register reading seen so far (samples or the stop).
    pub meter_last: Option<Wh>,
    pub meter_last_at: Option<DateTime<Utc>>,
    pub meter_stop: Option<Wh>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<StopReason>,
    pub stop_id_tag: Option<String>,
}

impl ChargingTransaction {
    /// Energy delivered: last register reading (the stop's when stopped) minus the start.
    /// `None` while nothing after the start is known, or when the register went backwards.
    pub fn energy(&self) -> Option<Wh> {
        let end = self.meter_stop.or(self.meter_last)?;
        (end >= self.meter_start).then(|| end - self.meter_start)
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped_at.is_some()
    }
}

/// A message we answered but could not use as sent: kept for review instead of refused, since
/// a refused transaction message is retried and then discarded by the charger (OCPP 1.6
/// §3.7.1, §4.7–4.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedMessage {
    pub charger_id: ChargerId,
    /// The OCPP action.
    pub action: String,
    /// The payload as received (JSON text).
    pub payload: String,
    /// What was wrong with it.
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

/// Transactions, their meter samples and the id tags chargers may use: what the charger-facing
/// face records, and what the sessions service binds. One method = one database transaction.
#[async_trait::async_trait]
pub trait TransactionStore: Send + Sync {
    /// Judges an id tag for `charger` (Authorize): see [`TagVerdict::judge`].
    async fn authorize_tag(
        &self,
        charger: &ChargerId,
        id_tag: &str,
        at: DateTime<Utc>,
    ) -> Result<TagVerdict, StoreError>;

    /// Records a start and issues its transaction id. A start equal to one recorded before
    /// (same charger, connector, tag, timestamp and meter start) is a retransmission and gets
    /// the same id. The tag is judged at `received_at`; a tag bound to a session links the
    /// transaction to it and the binding is used up.
    async fn start_transaction(
        &self,
        start: &TransactionStart,
    ) -> Result<StartRecorded, StoreError>;

    /// Stores meter samples, attached to the transaction when it is one of this charger's.
    async fn record_meter_values(&self, report: &MeterReport) -> Result<MeterRecorded, StoreError>;

    /// Records a stop and its transaction data; see [`StopRecorded`].
    async fn stop_transaction(&self, stop: &TransactionStop) -> Result<StopRecorded, StoreError>;

    /// Keeps a message that was answered but not usable.
    async fn park_message(&self, message: &ParkedMessage) -> Result<(), StoreError>;

    /// Binds a tag to a session (replacing an earlier binding of the same session). A tag bound
    /// to another session that has not expired at `at` is a conflict (`id_tag_bindings_pkey`).
    async fn bind_id_tag(
        &self,
        binding: &IdTagBinding,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Removes a session's binding (the start failed or was cancelled). No-op if none.
    async fn unbind_id_tag(&self, session: &SessionId) -> Result<(), StoreError>;

    /// Creates or replaces an operator-configured tag.
    async fn put_local_id_tag(&self, tag: &LocalIdTag) -> Result<(), StoreError>;

    /// `NotFound` for unknown ids.
    async fn get_transaction(&self, id: TransactionId) -> Result<ChargingTransaction, StoreError>;

    /// The transaction linked to a session, if its start has arrived.
    async fn transaction_of_session(
        &self,
        session: &SessionId,
    ) -> Result<Option<ChargingTransaction>, StoreError>;

    /// The samples of a transaction, oldest first (including its stop's transaction data).
    async fn transaction_samples(&self, id: TransactionId) -> Result<Vec<MeterSample>, StoreError>;

    /// Transactions of a charger that have not stopped, oldest first.
    async fn open_transactions(
        &self,
        charger: &ChargerId,
    ) -> Result<Vec<ChargingTransaction>, StoreError>;

    /// Parked messages, newest first, at most `limit`.
    async fn list_parked(&self, limit: u32) -> Result<Vec<ParkedMessage>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn cp(s: &str) -> ChargerId {
        ChargerId::parse(s).unwrap()
    }

    fn binding(connector: Option<u32>) -> IdTagBinding {
        IdTagBinding {
            id_tag: "S-1".into(),
            session_id: SessionId::parse("sess-1").unwrap(),
            charger_id: cp("CP1"),
            connector: connector.map(|n| ConnectorNumber::new(n).unwrap()),
            expires_at: t(100),
        }
    }

    fn local(status: TagStatus, expires: Option<i64>) -> LocalIdTag {
        LocalIdTag {
            id_tag: "CARD".into(),
            status,
            expires_at: expires.map(t),
            parent_id_tag: Some("FLEET".into()),
        }
    }

    #[test]
    fn transaction_ids_are_positive_int32() {
        assert!(TransactionId::new(0).is_err());
        assert!(TransactionId::new(-1).is_err());
        assert!(TransactionId::new(1).is_ok());
        assert!(TransactionId::new(i64::from(i32::MAX)).is_ok());
        assert!(TransactionId::new(i64::from(i32::MAX) + 1).is_err());
    }

    #[test]
    fn a_live_binding_on_its_charger_is_accepted_and_names_the_session() {
        let b = binding(Some(1));
        let one = ConnectorNumber::new(1).ok();
        let v = TagVerdict::judge(Some(&b), None, &cp("CP1"), one, t(10));
        assert_eq!(v.status, TagStatus::Accepted);
        assert_eq!(v.session_id, Some(b.session_id.clone()));
        // Authorize does not name a connector: still accepted.
        let v = TagVerdict::judge(Some(&b), None, &cp("CP1"), None, t(10));
        assert_eq!(v.status, TagStatus::Accepted);
    }

    #[test]
    fn a_binding_elsewhere_or_lapsed_is_not_accepted() {
        let b = binding(Some(1));
        let two = ConnectorNumber::new(2).ok();
        assert_eq!(
            TagVerdict::judge(Some(&b), None, &cp("CP2"), None, t(10)).status,
            TagStatus::Invalid
        );
        assert_eq!(
            TagVerdict::judge(Some(&b), None, &cp("CP1"), two, t(10)).status,
            TagStatus::Invalid
        );
        let lapsed = TagVerdict::judge(Some(&b), None, &cp("CP1"), None, t(100));
        assert_eq!(lapsed.status, TagStatus::Expired);
        assert_eq!(lapsed.session_id, None);
    }

    #[test]
    fn local_tags_keep_their_status_and_expire() {
        let v = TagVerdict::judge(
            None,
            Some(&local(TagStatus::Accepted, None)),
            &cp("CP1"),
            None,
            t(0),
        );
        assert_eq!(v.status, TagStatus::Accepted);
        assert_eq!(v.parent_id_tag.as_deref(), Some("FLEET"));
        let v = TagVerdict::judge(
            None,
            Some(&local(TagStatus::Accepted, Some(5))),
            &cp("CP1"),
            None,
            t(5),
        );
        assert_eq!(v.status, TagStatus::Expired);
        let v = TagVerdict::judge(
            None,
            Some(&local(TagStatus::Blocked, None)),
            &cp("CP1"),
            None,
            t(0),
        );
        assert_eq!(v.status, TagStatus::Blocked);
        assert_eq!(
            TagVerdict::judge(None, None, &cp("CP1"), None, t(0)),
            TagVerdict::invalid()
        );
    }

    #[test]
    fn energy_is_last_reading_minus_start() {
        let mut tx = ChargingTransaction {
            id: TransactionId::new(1).unwrap(),
            charger_id: cp("CP1"),
            connector: ConnectorNumber::new(1).ok(),
            id_tag: "A".into(),
            tag_status: TagStatus::Accepted,
            session_id: None,
            reservation_id: None,
            meter_start: Wh(1000),
            started_at: t(0),
            meter_last: None,
            meter_last_at: None,
            meter_stop: None,
            stopped_at: None,
            stop_reason: None,
            stop_id_tag: None,
        };
        assert_eq!(tx.energy(), None);
        tx.meter_last = Some(Wh(1500));
        assert_eq!(tx.energy(), Some(Wh(500)));
        tx.meter_stop = Some(Wh(1800));
        assert_eq!(tx.energy(), Some(Wh(800)));
        tx.meter_stop = Some(Wh(900));
        assert_eq!(tx.energy(), None);
    }

    #[test]
    fn names_round_trip() {
        for r in StopReason::ALL {
            assert_eq!(StopReason::parse(r.as_str()), Some(r));
        }
        for s in TagStatus::ALL {
            assert_eq!(TagStatus::parse(s.as_str()), Some(s));
        }
        let m = Measurement::EnergyImportRegister(Wh(1234));
        assert_eq!(Measurement::from_parts(m.kind(), m.value()), Some(m));
        assert_eq!(
            Measurement::from_parts("power_import_w", Decimal::new(15, 1)),
            None
        );
    }

    #[test]
    fn id_tags_are_ci_string_20() {
        assert!(validate_id_tag("04A2B3C4D5E6F7").is_ok());
        assert!(validate_id_tag("").is_err());
        assert!(validate_id_tag(&"x".repeat(21)).is_err());
        assert!(validate_id_tag("tag\u{1}").is_err());
    }
}
