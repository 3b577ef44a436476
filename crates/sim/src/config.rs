//! What a simulated charger is (its connectors) and how it behaves (timings, power, how it
//! answers remote starts). Everything here is plain data; the state machine reads it.

use std::time::Duration;

use openpile_core::network::CurrentType;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::error::SimError;

/// One connector of a simulated charger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConnector {
    /// OCPP connector id, 1-based; a charger's connectors are numbered 1..N without gaps.
    pub number: u32,
    /// The connector's power limit; the simulated car never draws more.
    pub max_power_kw: Decimal,
    /// AC connectors report 230 V per phase, DC connectors a battery voltage.
    pub current: CurrentType,
}

impl SimConnector {
    /// A connector whose current type follows from its power: up to 22 kW is AC (the largest
    /// three-phase AC rating in use), above is DC.
    pub fn new(number: u32, max_power_kw: Decimal) -> Self {
        let current = if max_power_kw <= Decimal::from(22) {
            CurrentType::Ac
        } else {
            CurrentType::Dc
        };
        Self {
            number,
            max_power_kw,
            current,
        }
    }

    /// The limit in whole watts (the simulator's unit for power).
    pub(crate) fn max_power_w(&self) -> u32 {
        kw_to_w(self.max_power_kw)
    }
}

/// `n` connectors of `max_power_kw` each, numbered 1..=n.
pub fn uniform_connectors(n: u32, max_power_kw: Decimal) -> Vec<SimConnector> {
    (1..=n)
        .map(|number| SimConnector::new(number, max_power_kw))
        .collect()
}

/// Checks that connectors are numbered 1..N without gaps (OCPP 1.6 §3.8) and have a power.
pub(crate) fn validate_connectors(connectors: &[SimConnector]) -> Result<(), SimError> {
    if connectors.is_empty() {
        return Err(SimError::Config(
            "a charger needs at least one connector".into(),
        ));
    }
    for (i, c) in connectors.iter().enumerate() {
        let expected = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if c.number != expected {
            return Err(SimError::Config(format!(
                "connector numbers must be 1..N without gaps; found {} at position {expected}",
                c.number
            )));
        }
        if c.max_power_kw <= Decimal::ZERO {
            return Err(SimError::Config(format!(
                "connector {} needs a positive max_power_kw",
                c.number
            )));
        }
    }
    Ok(())
}

pub(crate) fn kw_to_w(kw: Decimal) -> u32 {
    (kw * Decimal::from(1000))
        .round()
        .to_u32()
        .unwrap_or(u32::MAX)
}

/// How the charger answers RemoteStartTransaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteStartPolicy {
    /// Accept when the connector can take a session (the normal case).
    #[default]
    Accept,
    /// Always answer Rejected.
    Reject,
    /// Never answer at all, so the central system's call times out.
    Ignore,
}

/// How the charger answers RemoteStopTransaction for a transaction it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteStopPolicy {
    /// Accept and stop: StopTransaction follows (the normal case).
    #[default]
    Stop,
    /// Answer Accepted but go on charging and never send StopTransaction, while staying
    /// online (a charger firmware bug the central system must survive).
    AcceptAndIgnore,
}

/// Everything configurable about one simulated charger.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    pub vendor: String,
    pub model: String,
    /// `chargePointSerialNumber`; `None` = the charger id.
    pub serial: Option<String>,
    pub firmware: String,
    /// Power the simulated car asks for; the connector's limit caps it. `None` = the limit.
    pub power_kw: Option<Decimal>,
    /// `MeterValueSampleInterval`: how often a running session reports MeterValues.
    pub meter_interval: Duration,
    /// `AuthorizeRemoteTxRequests`: send Authorize before starting a remotely started session.
    pub authorize_remote_start: bool,
    /// Whether a car is already plugged in when a remote start arrives. `false` leaves the
    /// connector `Preparing` until [`crate::SimHandle::plug`] or `ConnectionTimeOut`.
    pub plug_on_remote_start: bool,
    /// Unplug the cable (→ Available) as soon as a session ends, when it was plugged by the
    /// simulator itself rather than by [`crate::SimHandle::plug`].
    pub unplug_after_stop: bool,
    /// `ConnectionTimeOut`: how long a connector stays `Preparing` waiting for a cable.
    pub connection_timeout: Duration,
    pub remote_start: RemoteStartPolicy,
    pub remote_stop: RemoteStopPolicy,
    /// Send BootNotification again after a plain reconnect (OCPP says a charger should not).
    pub boot_on_reconnect: bool,
    /// Use this heartbeat interval instead of the one the central system returns.
    pub heartbeat_override: Option<Duration>,
    /// How long to wait for a CALLRESULT before the connection counts as broken.
    pub call_timeout: Duration,
    /// First delay before reconnecting after a failure; doubles up to `reconnect_max`.
    pub reconnect_delay: Duration,
    pub reconnect_max: Duration,
    /// Time a Reset keeps the charger off the network ("rebooting").
    pub reboot_delay: Duration,
    /// Simulated car: battery size and state of charge when plugged in.
    pub ev_battery_wh: u64,
    pub ev_start_soc_percent: u8,
    /// Meter register of every connector at start-up, in Wh (a real meter never starts at 0).
    pub initial_meter_wh: u64,
    /// `TransactionMessageAttempts` and `TransactionMessageRetryInterval` for CALLERRORs on
    /// transaction messages.
    pub transaction_message_attempts: u32,
    pub transaction_message_retry: Duration,
    /// Largest frame accepted from the central system.
    pub max_message_bytes: usize,
    /// For `wss://` (Security Profile 2): a PEM file with the certificate(s) to trust — the
    /// central system's CA, or its self-signed certificate. Required for `wss://`.
    pub ca_certificate: Option<std::path::PathBuf>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            vendor: "OpenPile".into(),
            model: "SimCharger".into(),
            serial: None,
            firmware: concat!("sim-", env!("CARGO_PKG_VERSION")).into(),
            power_kw: None,
            meter_interval: Duration::from_secs(10),
            authorize_remote_start: false,
            plug_on_remote_start: true,
            unplug_after_stop: true,
            connection_timeout: Duration::from_secs(60),
            remote_start: RemoteStartPolicy::Accept,
            remote_stop: RemoteStopPolicy::Stop,
            boot_on_reconnect: false,
            heartbeat_override: None,
            call_timeout: Duration::from_secs(30),
            reconnect_delay: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(30),
            reboot_delay: Duration::from_secs(1),
            ev_battery_wh: 60_000,
            ev_start_soc_percent: 20,
            initial_meter_wh: 1_000_000,
            transaction_message_attempts: 3,
            transaction_message_retry: Duration::from_secs(5),
            max_message_bytes: 256 * 1024,
            ca_certificate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_type_follows_power() {
        assert_eq!(
            SimConnector::new(1, Decimal::from(7)).current,
            CurrentType::Ac
        );
        assert_eq!(
            SimConnector::new(1, Decimal::from(22)).current,
            CurrentType::Ac
        );
        assert_eq!(
            SimConnector::new(1, Decimal::from(60)).current,
            CurrentType::Dc
        );
    }

    #[test]
    fn connectors_must_be_numbered_without_gaps() {
        assert!(validate_connectors(&uniform_connectors(2, Decimal::from(7))).is_ok());
        assert!(validate_connectors(&[]).is_err());
        let gap = vec![
            SimConnector::new(1, Decimal::from(7)),
            SimConnector::new(3, Decimal::from(7)),
        ];
        assert!(validate_connectors(&gap).is_err());
        assert!(validate_connectors(&[SimConnector::new(1, Decimal::ZERO)]).is_err());
    }

    #[test]
    fn kilowatts_become_whole_watts() {
        assert_eq!(kw_to_w(Decimal::new(74, 1)), 7400);
        assert_eq!(kw_to_w(Decimal::from(160)), 160_000);
    }
}
