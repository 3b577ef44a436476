//! The connector status model. One vocabulary for every face; the OCPP 1.6 mapping lives here
//! because it decides what partners see (docs/design.md, "Status model").

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a partner sees of a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorStatus {
    Available,
    /// A vehicle or cable is there but no energy flows (preparing, finishing, suspended).
    Occupied,
    Charging,
    Reserved,
    /// Taken out of service by the operator (OCPP Unavailable).
    Unavailable,
    Faulted,
    /// We have no connection to the charger, or it stopped heartbeating.
    Offline,
}

impl ConnectorStatus {
    pub const ALL: [ConnectorStatus; 7] = [
        Self::Available,
        Self::Occupied,
        Self::Charging,
        Self::Reserved,
        Self::Unavailable,
        Self::Faulted,
        Self::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Occupied => "occupied",
            Self::Charging => "charging",
            Self::Reserved => "reserved",
            Self::Unavailable => "unavailable",
            Self::Faulted => "faulted",
            Self::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for ConnectorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ChargePointStatus values of OCPP 1.6 StatusNotification, as the domain knows them. The
/// ocpp16 face converts its wire enum into this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChargePointStatus {
    Available,
    Preparing,
    Charging,
    SuspendedEV,
    SuspendedEVSE,
    Finishing,
    Reserved,
    Unavailable,
    Faulted,
}

impl ChargePointStatus {
    pub const ALL: [ChargePointStatus; 9] = [
        Self::Available,
        Self::Preparing,
        Self::Charging,
        Self::SuspendedEV,
        Self::SuspendedEVSE,
        Self::Finishing,
        Self::Reserved,
        Self::Unavailable,
        Self::Faulted,
    ];

    /// The OCPP 1.6 → OpenPile mapping of docs/design.md.
    pub fn connector_status(self) -> ConnectorStatus {
        match self {
            Self::Available => ConnectorStatus::Available,
            Self::Preparing | Self::SuspendedEV | Self::SuspendedEVSE | Self::Finishing => {
                ConnectorStatus::Occupied
            }
            Self::Charging => ConnectorStatus::Charging,
            Self::Reserved => ConnectorStatus::Reserved,
            Self::Unavailable => ConnectorStatus::Unavailable,
            Self::Faulted => ConnectorStatus::Faulted,
        }
    }

    /// True when a vehicle is plugged in (a session may start without waiting for a cable).
    pub fn cable_plugged(self) -> bool {
        matches!(
            self,
            Self::Preparing | Self::SuspendedEV | Self::SuspendedEVSE | Self::Finishing
        )
    }
}

/// The live state of a connector: its status, when it last changed, and a sequence number that
/// grows with every change so receivers can drop stale updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectorState {
    pub status: ConnectorStatus,
    /// The finer OCPP status behind `status`, when the charger reported one.
    pub ocpp_status: Option<ChargePointStatus>,
    pub changed_at: DateTime<Utc>,
    pub status_seq: i64,
}

/// The result of applying a reported status to a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub previous: ConnectorStatus,
    pub current: ConnectorState,
}

impl ConnectorState {
    /// A connector we have never heard from is offline.
    pub fn initial(at: DateTime<Utc>) -> Self {
        Self {
            status: ConnectorStatus::Offline,
            ocpp_status: None,
            changed_at: at,
            status_seq: 0,
        }
    }

    /// Applies a status observed at `at`. Returns the change when the partner-visible status
    /// changed (then `status_seq` has grown by one); `None` when nothing a partner sees changed.
    /// A finer OCPP change within the same status (Preparing → Finishing) is recorded without a
    /// new sequence number. Observations older than the current state are ignored: chargers
    /// send queued messages after reconnecting and a stale status must not win. The first
    /// observation of a connector (sequence 0) has no baseline to be stale against and is
    /// always taken, whatever the charger's clock says.
    pub fn observe(
        &mut self,
        status: ConnectorStatus,
        ocpp_status: Option<ChargePointStatus>,
        at: DateTime<Utc>,
    ) -> Option<StatusChange> {
        if at < self.changed_at && self.status_seq > 0 {
            return None;
        }
        if status == self.status {
            if ocpp_status.is_some() {
                self.ocpp_status = ocpp_status;
            }
            return None;
        }
        let previous = self.status;
        self.status = status;
        self.ocpp_status = ocpp_status;
        self.changed_at = at;
        self.status_seq += 1;
        Some(StatusChange {
            previous,
            current: *self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ocpp_statuses_map_as_the_design_table_says() {
        use ChargePointStatus as P;
        use ConnectorStatus as S;
        let table = [
            (P::Available, S::Available),
            (P::Preparing, S::Occupied),
            (P::Finishing, S::Occupied),
            (P::SuspendedEV, S::Occupied),
            (P::SuspendedEVSE, S::Occupied),
            (P::Charging, S::Charging),
            (P::Reserved, S::Reserved),
            (P::Unavailable, S::Unavailable),
            (P::Faulted, S::Faulted),
        ];
        assert_eq!(table.len(), P::ALL.len());
        for (ocpp, ours) in table {
            assert_eq!(ocpp.connector_status(), ours, "{ocpp:?}");
        }
    }

    #[test]
    fn status_names_round_trip() {
        for s in ConnectorStatus::ALL {
            assert_eq!(ConnectorStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ConnectorStatus::parse("busy"), None);
    }

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_change_advances_the_sequence() {
        let mut st = ConnectorState::initial(t(0));
        let c = st.observe(
            ConnectorStatus::Available,
            Some(ChargePointStatus::Available),
            t(1),
        );
        let c = c.unwrap();
        assert_eq!(c.previous, ConnectorStatus::Offline);
        assert_eq!(c.current.status_seq, 1);
        assert_eq!(st.changed_at, t(1));
    }

    #[test]
    fn a_repeated_status_is_not_a_change() {
        let mut st = ConnectorState::initial(t(0));
        st.observe(
            ConnectorStatus::Occupied,
            Some(ChargePointStatus::Preparing),
            t(1),
        );
        let again = st.observe(
            ConnectorStatus::Occupied,
            Some(ChargePointStatus::Finishing),
            t(2),
        );
        assert!(again.is_none());
        assert_eq!(st.status_seq, 1);
        assert_eq!(st.ocpp_status, Some(ChargePointStatus::Finishing));
        assert_eq!(st.changed_at, t(1));
    }

    #[test]
    fn the_first_observation_is_taken_even_if_dated_earlier() {
        let mut st = ConnectorState::initial(t(100));
        let c = st.observe(ConnectorStatus::Available, None, t(5)).unwrap();
        assert_eq!(c.current.status_seq, 1);
        assert_eq!(st.changed_at, t(5));
    }

    #[test]
    fn a_stale_observation_is_ignored() {
        let mut st = ConnectorState::initial(t(0));
        st.observe(ConnectorStatus::Charging, None, t(10));
        assert!(st.observe(ConnectorStatus::Available, None, t(5)).is_none());
        assert_eq!(st.status, ConnectorStatus::Charging);
        assert_eq!(st.status_seq, 1);
    }
}
