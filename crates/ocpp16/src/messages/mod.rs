//! Our own typed OCPP 1.6 messages (JSON flavour), the RPC frame and the payload decoder.
//!
//! Every type mirrors one of the official 1.6 JSON schemas (PyPI `ocpp` 2.1.0,
//! `ocpp/v16/schemas`): camelCase fields, every optional field omitted rather than `null`,
//! unknown fields refused (the schemas say `additionalProperties: false`), string limits and
//! enumerations checked while decoding. Tests prove agreement with the schemas. This module
//! knows nothing of WebSockets, stores or the domain core; the simulator uses it too.
//!
//! Decode incoming payloads with [`decode::decode`], which reports the CALLERROR code a defect
//! deserves; `serde_json::from_value` works as well but is laxer (it reads `null` as absent).

pub mod core_profile;
pub mod decode;
pub mod firmware;
pub mod frame;
pub mod local_auth_list;
pub mod remote_trigger;
pub mod reservation;
pub mod smart_charging;
pub mod types;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use decode::PayloadError;

/// Who may send an action as a CALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    ChargePoint,
    CentralSystem,
    Either,
}

macro_rules! actions {
    ($($name:ident => $initiator:ident),+ $(,)?) => {
        /// The 28 actions of OCPP 1.6 (all six feature profiles). Names are case-sensitive and
        /// carry no `.req`/`.conf` suffix (OCPP-J §4.2.1).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($name),+
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$name),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$name => stringify!($name)),+
                }
            }

            /// The exact action name, or `None` for anything that is not an OCPP 1.6 action.
            pub fn parse(s: &str) -> Option<Action> {
                match s {
                    $(stringify!($name) => Some(Action::$name),)+
                    _ => None,
                }
            }

            /// Which side sends this action as a CALL.
            pub fn initiator(self) -> Initiator {
                match self {
                    $(Action::$name => Initiator::$initiator),+
                }
            }
        }
    };
}

actions!(
    Authorize => ChargePoint,
    BootNotification => ChargePoint,
    CancelReservation => CentralSystem,
    ChangeAvailability => CentralSystem,
    ChangeConfiguration => CentralSystem,
    ClearCache => CentralSystem,
    ClearChargingProfile => CentralSystem,
    DataTransfer => Either,
    DiagnosticsStatusNotification => ChargePoint,
    FirmwareStatusNotification => ChargePoint,
    GetCompositeSchedule => CentralSystem,
    GetConfiguration => CentralSystem,
    GetDiagnostics => CentralSystem,
    GetLocalListVersion => CentralSystem,
    Heartbeat => ChargePoint,
    MeterValues => ChargePoint,
    RemoteStartTransaction => CentralSystem,
    RemoteStopTransaction => CentralSystem,
    ReserveNow => CentralSystem,
    Reset => CentralSystem,
    SendLocalList => CentralSystem,
    SetChargingProfile => CentralSystem,
    StartTransaction => ChargePoint,
    StatusNotification => ChargePoint,
    StopTransaction => ChargePoint,
    TriggerMessage => CentralSystem,
    UnlockConnector => CentralSystem,
    UpdateFirmware => CentralSystem,
);

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Actions of the "Improved security for OCPP 1.6-J" whitepaper. They are known names, so a
/// charger sending one gets NotSupported rather than NotImplemented (OCPP-J §4.2.3 Table 7).
pub const SECURITY_EXTENSION_ACTIONS: &[&str] = &[
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "SignedUpdateFirmware",
];

/// A request or response payload.
pub trait Payload: Serialize + DeserializeOwned + fmt::Debug + Send + Sync + 'static {
    /// Constraints the Rust types cannot carry (the schemas' `minItems`). Called by
    /// [`decode::decode`] after deserialising.
    fn check(&self) -> Result<(), PayloadError> {
        Ok(())
    }
}

/// A request (`.req`) and the response (`.conf`) it expects.
pub trait OcppRequest: Payload {
    const ACTION: Action;
    type Response: Payload;
}

/// Implements [`Payload`] with no extra checks.
macro_rules! payloads {
    ($($ty:ty),+ $(,)?) => {
        $(impl $crate::messages::Payload for $ty {})+
    };
}
pub(crate) use payloads;

/// Binds requests to their action and response.
macro_rules! requests {
    ($($action:ident: $req:ty => $resp:ty),+ $(,)?) => {
        $(impl $crate::messages::OcppRequest for $req {
            const ACTION: $crate::messages::Action = $crate::messages::Action::$action;
            type Response = $resp;
        })+
    };
}
pub(crate) use requests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_are_case_sensitive() {
        assert_eq!(Action::ALL.len(), 28);
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        assert_eq!(Action::parse("heartbeat"), None);
        assert_eq!(Action::parse("Heartbeat.req"), None);
        assert_eq!(Action::DataTransfer.initiator(), Initiator::Either);
        for name in SECURITY_EXTENSION_ACTIONS {
            assert_eq!(Action::parse(name), None);
        }
    }
}
