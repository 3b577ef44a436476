//! What the simulated charger remembers: its connectors (cable, session, pending start,
//! reservation, availability, fault) and its configuration keys (OCPP 1.6 §9).

use std::time::Duration;

use openpile_ocpp16::messages::types::{ChargePointErrorCode, ChargePointStatus, IdToken};
use tokio::time::Instant;

use super::outgoing::Sample;
use crate::config::{Behaviour, SimConnector};

#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) local: u64,
    pub(super) id_tag: IdToken,
    pub(super) meter_start_wh: u64,
    pub(super) begin: Sample,
    pub(super) last_integrated: Instant,
    pub(super) next_sample: Instant,
    /// The car is full: no power, status SuspendedEV.
    pub(super) full: bool,
}

#[derive(Debug, Clone)]
pub(super) struct PendingStart {
    pub(super) id_tag: IdToken,
    pub(super) reservation_id: Option<i64>,
    /// False while our Authorize is outstanding.
    pub(super) authorized: bool,
    /// `ConnectionTimeOut`: when the connector gives up waiting for a cable.
    pub(super) deadline: Instant,
}

#[derive(Debug, Clone)]
pub(super) struct Reservation {
    pub(super) id: i64,
    pub(super) id_tag: IdToken,
    pub(super) parent_id_tag: Option<IdToken>,
    pub(super) expires: Instant,
}

impl Reservation {
    /// The reserved tag or its parent may use the connector (R-V2); tags are
    /// case-insensitive (§7.28).
    pub(super) fn admits(&self, id_tag: &str) -> bool {
        self.id_tag.eq_ignore_case(id_tag)
            || self
                .parent_id_tag
                .as_ref()
                .is_some_and(|p| p.eq_ignore_case(id_tag))
    }
}

#[derive(Debug, Clone)]
pub(super) struct Connector {
    pub(super) spec: SimConnector,
    /// What we last reported (or would have); a change queues a StatusNotification.
    pub(super) reported: (ChargePointStatus, ChargePointErrorCode),
    pub(super) fault: Option<ChargePointErrorCode>,
    pub(super) operative: bool,
    /// An availability change that waits for the running session to end (R-A1).
    pub(super) scheduled_operative: Option<bool>,
    pub(super) plugged: bool,
    /// The simulator plugged the cable itself (remote start), so it also unplugs it.
    pub(super) auto_plugged: bool,
    /// The session ended with the cable still in.
    pub(super) finishing: bool,
    /// Energy is integrated in milliwatt-hours so short intervals do not round away.
    pub(super) meter_mwh: u64,
    pub(super) session: Option<Session>,
    pub(super) pending: Option<PendingStart>,
    pub(super) reservation: Option<Reservation>,
}

impl Connector {
    pub(super) fn new(spec: SimConnector, meter_wh: u64) -> Self {
        Self {
            spec,
            reported: (ChargePointStatus::Available, ChargePointErrorCode::NoError),
            fault: None,
            operative: true,
            scheduled_operative: None,
            plugged: false,
            auto_plugged: false,
            finishing: false,
            meter_mwh: meter_wh.saturating_mul(1000),
            session: None,
            pending: None,
            reservation: None,
        }
    }

    pub(super) fn meter_wh(&self) -> u64 {
        self.meter_mwh / 1000
    }

    /// Takes out a cable the simulator put in itself.
    pub(super) fn release_auto_cable(&mut self) {
        if self.auto_plugged {
            self.plugged = false;
            self.auto_plugged = false;
        }
    }

    /// The status this connector is in, by the §4.9 state diagram.
    pub(super) fn desired(&self) -> (ChargePointStatus, ChargePointErrorCode) {
        if let Some(code) = self.fault {
            return (ChargePointStatus::Faulted, code);
        }
        let status = if let Some(s) = &self.session {
            if s.full {
                ChargePointStatus::SuspendedEv
            } else {
                ChargePointStatus::Charging
            }
        } else if !self.operative {
            ChargePointStatus::Unavailable
        } else if self.finishing {
            ChargePointStatus::Finishing
        } else if self.plugged || self.pending.as_ref().is_some_and(|p| p.authorized) {
            ChargePointStatus::Preparing
        } else if self.reservation.is_some() {
            ChargePointStatus::Reserved
        } else {
            ChargePointStatus::Available
        };
        (status, ChargePointErrorCode::NoError)
    }
}

/// One configuration key.
#[derive(Debug, Clone)]
pub(super) struct ConfigKey {
    pub(super) key: &'static str,
    pub(super) value: String,
    pub(super) readonly: bool,
}

/// The keys a central system commonly reads, and the ones the simulator acts on.
/// `AuthorizationKey` is write-only (whitepaper A01), so it is not listed.
pub(super) fn initial_config(b: &Behaviour, connectors: usize) -> Vec<ConfigKey> {
    let bool_s = |v: bool| if v { "true" } else { "false" }.to_owned();
    let secs = |d: Duration| d.as_secs().to_string();
    let rw = |key, value: String| ConfigKey {
        key,
        value,
        readonly: false,
    };
    let ro = |key, value: String| ConfigKey {
        key,
        value,
        readonly: true,
    };
    vec![
        rw("AllowOfflineTxForUnknownId", bool_s(true)),
        rw("AuthorizationCacheEnabled", bool_s(false)),
        rw(
            "AuthorizeRemoteTxRequests",
            bool_s(b.authorize_remote_start),
        ),
        rw("ClockAlignedDataInterval", "0".into()),
        rw("ConnectionTimeOut", secs(b.connection_timeout)),
        rw("ConnectorPhaseRotation", "NotApplicable".into()),
        ro("GetConfigurationMaxKeys", "50".into()),
        rw("HeartbeatInterval", "300".into()),
        rw("LocalAuthorizeOffline", bool_s(true)),
        rw("LocalPreAuthorize", bool_s(false)),
        rw(
            "MeterValuesAlignedData",
            "Energy.Active.Import.Register".into(),
        ),
        rw(
            "MeterValuesSampledData",
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC".into(),
        ),
        rw("MeterValueSampleInterval", secs(b.meter_interval)),
        ro("NumberOfConnectors", connectors.to_string()),
        ro("ReserveConnectorZeroSupported", bool_s(false)),
        rw("ResetRetries", "1".into()),
        rw("StopTransactionOnEVSideDisconnect", bool_s(true)),
        rw("StopTransactionOnInvalidId", bool_s(true)),
        rw("StopTxnAlignedData", String::new()),
        rw("StopTxnSampledData", "Energy.Active.Import.Register".into()),
        ro(
            "SupportedFeatureProfiles",
            "Core,Reservation,RemoteTrigger".into(),
        ),
        rw(
            "TransactionMessageAttempts",
            b.transaction_message_attempts.to_string(),
        ),
        rw(
            "TransactionMessageRetryInterval",
            secs(b.transaction_message_retry),
        ),
        rw("UnlockConnectorOnEVSideDisconnect", bool_s(true)),
        rw("WebSocketPingInterval", "0".into()),
    ]
}
