//! The events of the catalogue (`crate::event`) that sessions and reservations cause, built
//! from their records. Sessions started at the charger by the operator's own users have no
//! partner and cause none.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;

use crate::event::{
    CostBreakdown, CostSegment, Currency, Event, EventData, ReservationCreatedData,
    ReservationEndedData, ReservationRef, ReservationUsedData, SessionCompletedData,
    SessionFailedData, SessionRef, SessionStartedData, SessionStartingData, SessionUpdatedData,
};
use crate::money::Money;
use crate::session::StartFailure;
use crate::sessions::model::{ChargingSession, Reservation, SessionCost, SessionOrigin};
use crate::settlement::cdr::Cdr;

fn session_ref(s: &ChargingSession) -> Option<SessionRef> {
    if s.origin != SessionOrigin::Partner {
        return None;
    }
    Some(SessionRef {
        session_id: s.id.clone(),
        partner_order_id: s.partner_order_id.clone()?,
        station_id: s.station_id.clone(),
        connector_id: s.connector_id.clone(),
    })
}

fn one(data: Option<EventData>, at: DateTime<Utc>) -> Vec<Event> {
    data.map(|d| Event::new(d, at)).into_iter().collect()
}

/// The cost as the catalogue carries it.
pub fn breakdown(cost: Option<&SessionCost>) -> CostBreakdown {
    match cost {
        Some(c) => CostBreakdown {
            segments: c
                .lines
                .iter()
                .map(|l| CostSegment {
                    start: l.start,
                    end: l.end,
                    label: l.label.map(|p| p.as_str().to_string()),
                    energy_wh: l.energy,
                    electricity_fee: l.electricity_fee,
                    service_fee: l.service_fee,
                })
                .collect(),
            electricity_fee: c.electricity_fee,
            service_fee: c.service_fee,
            idle_fee: c.idle_fee,
            total: c.total,
            currency: Currency::Cny,
        },
        None => CostBreakdown {
            segments: Vec::new(),
            electricity_fee: Money::ZERO,
            service_fee: Money::ZERO,
            idle_fee: Money::ZERO,
            total: Money::ZERO,
            currency: Currency::Cny,
        },
    }
}

pub(crate) fn starting(s: &ChargingSession, at: DateTime<Utc>) -> Vec<Event> {
    let data = session_ref(s).map(|session| {
        EventData::SessionStarting(SessionStartingData {
            session,
            accepted_at: s.accepted_at.unwrap_or(at),
        })
    });
    one(data, at)
}

pub(crate) fn started(s: &ChargingSession, at: DateTime<Utc>) -> Vec<Event> {
    let data = session_ref(s).map(|session| {
        EventData::SessionStarted(SessionStartedData {
            session,
            started_at: s.started_at.unwrap_or(at),
        })
    });
    one(data, at)
}

pub(crate) fn updated(s: &ChargingSession, at: DateTime<Utc>) -> Vec<Event> {
    let data = session_ref(s).map(|session| {
        EventData::SessionUpdated(SessionUpdatedData {
            session,
            energy_wh: s.energy,
            power_w: s.power,
            soc_percent: s.soc_percent.and_then(|d| d.round().to_u8()),
            running_cost: s.cost.as_ref().map_or(Money::ZERO, |c| c.total),
            currency: Currency::Cny,
            measured_at: s.metered_at.unwrap_or(at),
        })
    });
    one(data, at)
}

/// `session.completed`, with the session's CDR (written in the same transaction) when it has
/// one: its id, and its idle charge (the rest of its figures are the `cost` breakdown's).
pub(crate) fn completed(s: &ChargingSession, at: DateTime<Utc>, cdr: Option<&Cdr>) -> Vec<Event> {
    let data = session_ref(s).map(|session| {
        let started_at = s.started_at.unwrap_or(s.created_at);
        let ended_at = s.stopped_at.unwrap_or(at);
        EventData::SessionCompleted(SessionCompletedData {
            session,
            energy_wh: s.energy,
            started_at,
            ended_at,
            duration_s: s.duration_s(at),
            stop_reason: s.stop_reason.map_or("other", |r| r.as_str()).to_string(),
            cost: breakdown(s.cost.as_ref()),
            cdr_id: cdr.map(|c| c.id.clone()),
            idle: cdr.and_then(|c| c.idle.clone()),
        })
    });
    one(data, at)
}

pub(crate) fn failed(s: &ChargingSession, at: DateTime<Utc>) -> Vec<Event> {
    let data = session_ref(s).map(|session| {
        EventData::SessionFailed(SessionFailedData {
            session,
            reason: s.failure.unwrap_or(StartFailure::ChargerRejected),
            failed_at: at,
        })
    });
    one(data, at)
}

fn reservation_ref(r: &Reservation) -> ReservationRef {
    ReservationRef {
        reservation_id: r.id.clone(),
        partner_order_id: r.partner_order_id.clone(),
        station_id: r.station_id.clone(),
        connector_id: r.connector_id.clone(),
    }
}

pub(crate) fn reservation_created(r: &Reservation, at: DateTime<Utc>) -> Vec<Event> {
    vec![Event::new(
        EventData::ReservationCreated(ReservationCreatedData {
            reservation: reservation_ref(r),
            created_at: r.created_at,
            expires_at: r.expires_at,
        }),
        at,
    )]
}

pub(crate) fn reservation_cancelled(r: &Reservation, at: DateTime<Utc>) -> Vec<Event> {
    vec![Event::new(
        EventData::ReservationCancelled(ReservationEndedData {
            reservation: reservation_ref(r),
            ended_at: at,
        }),
        at,
    )]
}

pub(crate) fn reservation_expired(r: &Reservation, at: DateTime<Utc>) -> Vec<Event> {
    vec![Event::new(
        EventData::ReservationExpired(ReservationEndedData {
            reservation: reservation_ref(r),
            ended_at: at,
        }),
        at,
    )]
}

pub(crate) fn reservation_used(r: &Reservation, at: DateTime<Utc>) -> Vec<Event> {
    match &r.session_id {
        Some(session_id) => vec![Event::new(
            EventData::ReservationUsed(ReservationUsedData {
                reservation: reservation_ref(r),
                session_id: session_id.clone(),
                used_at: at,
            }),
            at,
        )],
        None => Vec::new(),
    }
}
