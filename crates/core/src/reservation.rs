//! The lifecycle of a reservation: pending → active → used / cancelled / expired, or failed.

use serde::{Deserialize, Serialize};

use crate::error::TransitionError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// Recorded; ReserveNow sent or about to be.
    Pending,
    /// The charger accepted ReserveNow; the connector is held.
    Active,
    /// A session started with it.
    Used,
    Cancelled,
    Expired,
    /// The charger refused, was offline, or did not answer.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationEvent {
    Accepted,
    Refused,
    Consumed,
    Cancel,
    Expire,
}

impl ReservationState {
    pub const ALL: [ReservationState; 6] = [
        Self::Pending,
        Self::Active,
        Self::Used,
        Self::Cancelled,
        Self::Expired,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Used => "used",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Active)
    }

    pub fn apply(self, event: ReservationEvent) -> Result<ReservationState, TransitionError> {
        use ReservationEvent as E;
        use ReservationState as S;
        match (self, event) {
            (S::Pending, E::Accepted) => Ok(S::Active),
            (S::Pending, E::Refused) => Ok(S::Failed),
            (S::Active, E::Consumed) => Ok(S::Used),
            (S::Active, E::Cancel) => Ok(S::Cancelled),
            (S::Active, E::Expire) => Ok(S::Expired),
            _ => Err(TransitionError {
                entity: "reservation",
                from: self.as_str(),
                event: event.as_str(),
            }),
        }
    }
}

impl ReservationEvent {
    pub const ALL: [ReservationEvent; 5] = [
        Self::Accepted,
        Self::Refused,
        Self::Consumed,
        Self::Cancel,
        Self::Expire,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Consumed => "consumed",
            Self::Cancel => "cancel",
            Self::Expire => "expire",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReservationEvent as E;
    use ReservationState as S;

    #[test]
    fn exhaustive_transition_table() {
        let allowed = [
            (S::Pending, E::Accepted, S::Active),
            (S::Pending, E::Refused, S::Failed),
            (S::Active, E::Consumed, S::Used),
            (S::Active, E::Cancel, S::Cancelled),
            (S::Active, E::Expire, S::Expired),
        ];
        let mut checked = 0;
        for state in S::ALL {
            for event in E::ALL {
                let expected = allowed.iter().find(|(s, e, _)| *s == state && *e == event);
                match (state.apply(event), expected) {
                    (Ok(next), Some((_, _, want))) => assert_eq!(next, *want),
                    (Err(err), None) => assert_eq!(err.entity, "reservation"),
                    (got, want) => panic!("{state:?}+{event:?}: got {got:?}, want {want:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 30);
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
            assert_eq!(s.is_final(), !matches!(s, S::Pending | S::Active));
        }
    }
}
