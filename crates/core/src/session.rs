//! The lifecycle of a charging session: pending → starting → charging → stopping → completed,
//! or failed; with an idle (occupancy) fee in the tariff, a stopped transaction whose connector
//! is still occupied waits in `finishing` until the connector is freed. A pure state machine;
//! the session service decides when events happen and the store persists the result.

use serde::{Deserialize, Serialize};

use crate::error::TransitionError;

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Recorded; the charger has not been asked yet (or has not answered).
    Pending,
    /// The charger accepted RemoteStartTransaction; waiting for its StartTransaction.
    Starting,
    /// The charger reported StartTransaction: the transaction exists.
    Charging,
    /// RemoteStopTransaction accepted; waiting for StopTransaction.
    Stopping,
    /// The transaction is over (energy final) but the connector is still occupied and the
    /// tariff has an idle fee: the idle clock runs until the connector is freed (or a cap).
    Finishing,
    Completed,
    Failed,
}

/// What happens to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionEvent {
    /// The charger accepted RemoteStartTransaction.
    StartAccepted,
    /// The start failed before a transaction existed (rejected, offline, no answer, no cable).
    StartFailed,
    /// StartTransaction arrived for this session. It may overtake our handling of the
    /// RemoteStart answer, so it is accepted from `Pending` too.
    TransactionStarted,
    /// RemoteStopTransaction accepted.
    StopAccepted,
    /// The charger refused RemoteStopTransaction: the transaction goes on.
    StopRejected,
    /// StopTransaction arrived (nothing left to wait for), or the connection was lost for good
    /// and we closed it.
    TransactionStopped,
    /// StopTransaction arrived while the connector stays occupied and the tariff bills idle
    /// time: the session waits for the connector to be freed.
    StoppedOccupied,
    /// The connector was freed after the transaction (unplugged, or no longer usable).
    ConnectorFreed,
    /// The connector stayed occupied for the longest idle time we wait out.
    IdleCapReached,
    /// The charger accepted RemoteStopTransaction but never confirmed the stop (retries and
    /// its reported state decided it): closed without its StopTransaction.
    StopUnconfirmed,
}

impl SessionState {
    pub const ALL: [SessionState; 7] = [
        Self::Pending,
        Self::Starting,
        Self::Charging,
        Self::Stopping,
        Self::Finishing,
        Self::Completed,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Starting => "starting",
            Self::Charging => "charging",
            Self::Stopping => "stopping",
            Self::Finishing => "finishing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Completed and failed sessions never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// A transaction exists on the charger.
    pub fn has_transaction(self) -> bool {
        matches!(self, Self::Charging | Self::Stopping)
    }

    /// The state after `event`, or why it cannot happen.
    pub fn apply(self, event: SessionEvent) -> Result<SessionState, TransitionError> {
        use SessionEvent as E;
        use SessionState as S;
        let next = match (self, event) {
            (S::Pending, E::StartAccepted) => S::Starting,
            (S::Pending | S::Starting, E::StartFailed) => S::Failed,
            (S::Pending | S::Starting, E::TransactionStarted) => S::Charging,
            (S::Charging, E::StopAccepted) => S::Stopping,
            (S::Stopping, E::StopRejected) => S::Charging,
            (S::Charging | S::Stopping, E::TransactionStopped) => S::Completed,
            (S::Charging | S::Stopping, E::StoppedOccupied) => S::Finishing,
            (S::Finishing, E::ConnectorFreed | E::IdleCapReached) => S::Completed,
            (S::Stopping, E::StopUnconfirmed) => S::Completed,
            _ => {
                return Err(TransitionError {
                    entity: "session",
                    from: self.as_str(),
                    event: event.as_str(),
                });
            }
        };
        Ok(next)
    }
}

impl SessionEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartAccepted => "start_accepted",
            Self::StartFailed => "start_failed",
            Self::TransactionStarted => "transaction_started",
            Self::StopAccepted => "stop_accepted",
            Self::StopRejected => "stop_rejected",
            Self::TransactionStopped => "transaction_stopped",
            Self::StoppedOccupied => "stopped_occupied",
            Self::ConnectorFreed => "connector_freed",
            Self::IdleCapReached => "idle_cap_reached",
            Self::StopUnconfirmed => "stop_unconfirmed",
        }
    }

    pub const ALL: [SessionEvent; 10] = [
        Self::StartAccepted,
        Self::StartFailed,
        Self::TransactionStarted,
        Self::StopAccepted,
        Self::StopRejected,
        Self::TransactionStopped,
        Self::StoppedOccupied,
        Self::ConnectorFreed,
        Self::IdleCapReached,
        Self::StopUnconfirmed,
    ];
}

/// Why a session failed to start; stable codes, part of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFailure {
    ConnectorNotFound,
    ConnectorUnavailable,
    ConnectorReserved,
    ChargerOffline,
    ChargerRejected,
    ChargerTimeout,
    StartTimeout,
    PartnerSuspended,
    LimitInvalid,
}

impl StartFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectorNotFound => "connector_not_found",
            Self::ConnectorUnavailable => "connector_unavailable",
            Self::ConnectorReserved => "connector_reserved",
            Self::ChargerOffline => "charger_offline",
            Self::ChargerRejected => "charger_rejected",
            Self::ChargerTimeout => "charger_timeout",
            Self::StartTimeout => "start_timeout",
            Self::PartnerSuspended => "partner_suspended",
            Self::LimitInvalid => "limit_invalid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionEvent as E;
    use SessionState as S;

    /// Every (state, event) pair, with the expected outcome. A new state or event fails the
    /// length assertion until this table is extended.
    #[test]
    fn exhaustive_transition_table() {
        let allowed = [
            (S::Pending, E::StartAccepted, S::Starting),
            (S::Pending, E::StartFailed, S::Failed),
            (S::Starting, E::StartFailed, S::Failed),
            (S::Pending, E::TransactionStarted, S::Charging),
            (S::Starting, E::TransactionStarted, S::Charging),
            (S::Charging, E::StopAccepted, S::Stopping),
            (S::Stopping, E::StopRejected, S::Charging),
            (S::Charging, E::TransactionStopped, S::Completed),
            (S::Stopping, E::TransactionStopped, S::Completed),
            (S::Charging, E::StoppedOccupied, S::Finishing),
            (S::Stopping, E::StoppedOccupied, S::Finishing),
            (S::Finishing, E::ConnectorFreed, S::Completed),
            (S::Finishing, E::IdleCapReached, S::Completed),
            (S::Stopping, E::StopUnconfirmed, S::Completed),
        ];
        let mut checked = 0;
        for state in S::ALL {
            for event in E::ALL {
                let expected = allowed.iter().find(|(s, e, _)| *s == state && *e == event);
                match (state.apply(event), expected) {
                    (Ok(next), Some((_, _, want))) => {
                        assert_eq!(next, *want, "{state:?}+{event:?}")
                    }
                    (Err(err), None) => {
                        assert_eq!(err.from, state.as_str());
                        assert_eq!(err.event, event.as_str());
                    }
                    (got, want) => panic!("{state:?}+{event:?}: got {got:?}, want {want:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 70);
    }

    #[test]
    fn final_states_accept_nothing() {
        for state in [S::Completed, S::Failed] {
            assert!(state.is_final());
            for event in E::ALL {
                assert!(state.apply(event).is_err());
            }
        }
    }

    #[test]
    fn finishing_has_no_transaction_and_is_not_final() {
        assert!(!S::Finishing.has_transaction());
        assert!(!S::Finishing.is_final());
        assert_eq!(S::parse("finishing"), Some(S::Finishing));
    }

    #[test]
    fn state_names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
    }
}
