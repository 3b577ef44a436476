//! What a charging session and a reservation are, as the sessions service keeps them: the
//! partner's request (order id, user reference, limit), where it runs, how far it got (the
//! lifecycles of `session.rs` and `reservation.rs`), what the charger measured, the running or
//! final cost, and when the service must look at it again. Pure values and pure rules; no I/O.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::charging::{StopReason, TransactionId};
use crate::energy::{Watts, Wh};
use crate::error::ValidationError;
use crate::ids::{
    ChargerId, ConnectorId, ConnectorNumber, PartnerId, ReservationId, SessionId, StationId,
    TariffId,
};
use crate::money::Money;
use crate::pricing::{PricedLine, PricedSession};
use crate::reservation::ReservationState;
use crate::session::{SessionState, StartFailure};
use crate::status::{ChargePointStatus, ConnectorStatus};

/// Who started a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOrigin {
    /// A partner, through the Open API (or another partner face).
    Partner,
    /// One of the operator's own users at the charger (RFID card): recorded for the operator,
    /// never shown to partners.
    Local,
}

impl SessionOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Partner, Self::Local]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A limit the partner sets on a session; we stop the session when it is reached (partner apps
/// often sell prepaid balances).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionLimit {
    /// Energy delivered.
    EnergyWh(Wh),
    /// Running cost (electricity and service fees) in CNY.
    Amount(Money),
    /// Seconds since the charger started the transaction.
    DurationS(u32),
}

impl SessionLimit {
    /// 1 MWh: far above any vehicle battery, so a larger value is a mistake.
    pub const MAX_ENERGY_WH: i64 = 1_000_000;
    /// 100 000 CNY.
    pub const MAX_AMOUNT: i64 = 100_000;
    /// Two days.
    pub const MAX_DURATION_S: i64 = 172_800;

    pub fn energy_wh(wh: i64) -> Result<Self, ValidationError> {
        if !(1..=Self::MAX_ENERGY_WH).contains(&wh) {
            return Err(ValidationError::new(
                "limit.energy_wh",
                format!(
                    "must be a whole number of Wh from 1 to {}",
                    Self::MAX_ENERGY_WH
                ),
            ));
        }
        Ok(Self::EnergyWh(Wh(wh)))
    }

    pub fn amount(amount: Decimal) -> Result<Self, ValidationError> {
        let field = "limit.amount";
        if amount <= Decimal::ZERO || amount > Decimal::from(Self::MAX_AMOUNT) {
            return Err(ValidationError::new(
                field,
                format!("must be more than 0 and at most {} CNY", Self::MAX_AMOUNT),
            ));
        }
        if amount.normalize().scale() > 2 {
            return Err(ValidationError::new(
                field,
                "must have at most 2 decimal places",
            ));
        }
        Ok(Self::Amount(Money::new(amount.normalize())))
    }

    pub fn duration_s(seconds: i64) -> Result<Self, ValidationError> {
        let s = u32::try_from(seconds)
            .ok()
            .filter(|s| (1..=Self::MAX_DURATION_S).contains(&i64::from(*s)))
            .ok_or_else(|| {
                ValidationError::new(
                    "limit.duration_s",
                    format!(
                        "must be a whole number of seconds from 1 to {}",
                        Self::MAX_DURATION_S
                    ),
                )
            })?;
        Ok(Self::DurationS(s))
    }

    /// The stored and wire name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EnergyWh(_) => "energy_wh",
            Self::Amount(_) => "amount",
            Self::DurationS(_) => "duration_s",
        }
    }

    /// The value as text (integer Wh or seconds, decimal CNY).
    pub fn value_text(&self) -> String {
        match self {
            Self::EnergyWh(wh) => wh.0.to_string(),
            Self::Amount(m) => m.amount().to_string(),
            Self::DurationS(s) => s.to_string(),
        }
    }

    /// Rebuilds a stored limit; `None` when the parts do not make a valid one.
    pub fn from_parts(kind: &str, value: &str) -> Option<Self> {
        match kind {
            "energy_wh" => Self::energy_wh(value.parse().ok()?).ok(),
            "amount" => Self::amount(value.parse().ok()?).ok(),
            "duration_s" => Self::duration_s(value.parse().ok()?).ok(),
            _ => None,
        }
    }

    /// Why we stop a session that reached this limit.
    pub fn stop_reason(&self) -> SessionStopReason {
        match self {
            Self::EnergyWh(_) => SessionStopReason::EnergyLimit,
            Self::Amount(_) => SessionStopReason::AmountLimit,
            Self::DurationS(_) => SessionStopReason::DurationLimit,
        }
    }

    /// Whether `session` has reached the limit at `now`. Energy and amount are judged on the
    /// latest meter values and the running cost; duration from the charger's start time.
    pub fn reached(&self, session: &ChargingSession, now: DateTime<Utc>) -> bool {
        match self {
            Self::EnergyWh(limit) => session.energy >= *limit,
            Self::Amount(limit) => session.cost.as_ref().is_some_and(|c| c.total >= *limit),
            Self::DurationS(_) => self.duration_end(session).is_some_and(|end| now >= end),
        }
    }

    /// When a duration limit runs out (`None` for other limits or before the start).
    pub fn duration_end(&self, session: &ChargingSession) -> Option<DateTime<Utc>> {
        match self {
            Self::DurationS(s) => session
                .started_at
                .map(|t| t + Duration::seconds(i64::from(*s))),
            _ => None,
        }
    }
}

/// Why a session ended: the charger's StopTransaction reason, or ours when we ended it (a
/// limit we enforced, or a charger that never came back). Stable codes, part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStopReason {
    /// As the charger reported it (`remote` when the partner asked us to stop).
    Charger(StopReason),
    EnergyLimit,
    AmountLimit,
    DurationLimit,
    /// The charger did not reconnect in time; closed on its last meter value.
    ConnectionLost,
    /// The charger accepted RemoteStopTransaction but never sent StopTransaction while online:
    /// after the retries (or once it reported the connector no longer charging) we closed the
    /// session on its last meter value.
    StopUnconfirmed,
}

impl SessionStopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Charger(r) => r.as_str(),
            Self::EnergyLimit => "energy_limit",
            Self::AmountLimit => "amount_limit",
            Self::DurationLimit => "duration_limit",
            Self::ConnectionLost => "connection_lost",
            Self::StopUnconfirmed => "stop_unconfirmed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "energy_limit" => Some(Self::EnergyLimit),
            "amount_limit" => Some(Self::AmountLimit),
            "duration_limit" => Some(Self::DurationLimit),
            "connection_lost" => Some(Self::ConnectionLost),
            "stop_unconfirmed" => Some(Self::StopUnconfirmed),
            other => StopReason::parse(other).map(Self::Charger),
        }
    }
}

/// Who asked for a stop we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopRequester {
    Partner,
    /// The session reached its limit.
    Limit,
}

impl StopRequester {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::Limit => "limit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Partner, Self::Limit]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A session's cost by the tariff version in force when it started: a running estimate while
/// it charges, final once it completed. Lines are rounded once each; totals are their sums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCost {
    pub tariff_id: TariffId,
    pub tariff_version: u32,
    pub lines: Vec<PricedLine>,
    pub energy: Wh,
    pub electricity_fee: Money,
    pub service_fee: Money,
    pub idle_fee: Money,
    /// Idle minutes billed (after the grace period); 0 without an idle fee. Costs stored
    /// before it was kept read as 0.
    #[serde(default)]
    pub idle_minutes: u32,
    pub total: Money,
    /// A meter register went down somewhere (reset or rollover): energy not billed there.
    pub meter_anomaly: bool,
}

impl SessionCost {
    pub fn from_priced(tariff_id: TariffId, priced: PricedSession) -> Self {
        Self {
            tariff_id,
            tariff_version: priced.tariff_version,
            lines: priced.lines,
            energy: priced.energy,
            electricity_fee: priced.electricity_fee,
            service_fee: priced.service_fee,
            idle_fee: priced.idle_fee,
            idle_minutes: priced.idle.as_ref().map_or(0, |i| i.minutes),
            total: priced.total,
            meter_anomaly: priced.meter_anomaly,
        }
    }
}

/// How long the service waits for things, which decides when it must look at a session again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// How long a charger may take to answer a command (the gateway's call timeout).
    pub call_timeout: Duration,
    /// After RemoteStartTransaction was accepted, how long the charger has to send
    /// StartTransaction (its `ConnectionTimeOut`: typically the cable was never plugged in).
    pub start_timeout: Duration,
    /// How long a charger may stay offline during a session before we close it as
    /// `connection_lost`.
    pub connection_lost_timeout: Duration,
    /// How long after a failed stop (of a limit) we try again.
    pub stop_retry: Duration,
    /// How long after an accepted RemoteStopTransaction we wait for StopTransaction before
    /// asking again (and asking the charger for its connector's state).
    pub stop_timeout: Duration,
    /// The longest a `finishing` session waits for its connector to be freed.
    pub idle_cap: Duration,
    /// How often a `finishing` session's connector is looked at again, in case the status
    /// that freed it was not taken as such (see [`crate::sessions::service`]).
    pub idle_recheck: Duration,
}

impl Deadlines {
    /// Margin on the tag binding beyond the last moment a start is expected, for clock skew
    /// and the time a StartTransaction spends in flight.
    const BINDING_GRACE: i64 = 5;

    /// Until when the id tag of a session created at `created_at` is accepted: any start after
    /// that comes too late and is refused.
    pub fn binding_expiry(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        created_at + self.call_timeout + self.start_timeout + Duration::seconds(Self::BINDING_GRACE)
    }
}

/// One charging session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargingSession {
    pub id: SessionId,
    pub origin: SessionOrigin,
    /// Set for partner sessions.
    pub partner_id: Option<PartnerId>,
    /// The partner's own order id: unique per partner, makes starts idempotent.
    pub partner_order_id: Option<String>,
    /// An opaque reference to the partner's user.
    pub user_ref: Option<String>,
    pub station_id: StationId,
    pub charger_id: ChargerId,
    pub connector_id: ConnectorId,
    pub connector_number: ConnectorNumber,
    /// The station's tariff; the version in force at the start prices the session.
    pub tariff_id: TariffId,
    /// The reservation the session uses, if any.
    pub reservation_id: Option<ReservationId>,
    pub limit: Option<SessionLimit>,
    pub state: SessionState,
    pub failure: Option<StartFailure>,
    /// More about the failure: the connector status, the charger's answer.
    pub failure_detail: Option<String>,
    /// The id tag sent in RemoteStartTransaction (local sessions: the card's).
    pub id_tag: String,
    pub transaction_id: Option<TransactionId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the charger accepted RemoteStartTransaction.
    pub accepted_at: Option<DateTime<Utc>>,
    /// The charger's time of StartTransaction.
    pub started_at: Option<DateTime<Utc>>,
    pub meter_start: Option<Wh>,
    /// The latest energy register reading and when it was taken.
    pub meter_last: Option<Wh>,
    pub metered_at: Option<DateTime<Utc>>,
    /// Energy so far (final once completed).
    pub energy: Wh,
    pub power: Option<Watts>,
    pub soc_percent: Option<Decimal>,
    /// Running estimate while charging, final once completed.
    pub cost: Option<SessionCost>,
    pub stop_requested_at: Option<DateTime<Utc>>,
    pub stop_requested_by: Option<StopRequester>,
    /// The charger's time of StopTransaction (or when we gave up on the charger).
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<SessionStopReason>,
    /// Set while the charger is offline or its connector faulted during the session.
    pub charger_offline_since: Option<DateTime<Utc>>,
    /// An operator should look at it (closed without the charger's stop, meter anomaly).
    pub review_required: bool,
    pub review_reason: Option<String>,
    /// When the service must look at the session again (timeouts, limits); `None` when
    /// nothing is due.
    pub next_check_at: Option<DateTime<Utc>>,
    /// When the last `session.updated` event was written (they are throttled).
    pub updated_event_at: Option<DateTime<Utc>>,
    /// When charging finished: the first SuspendedEV reported during the transaction (the
    /// vehicle is full; cleared if it draws power again), else the StopTransaction time. The
    /// idle clock starts here.
    pub charging_finished_at: Option<DateTime<Utc>>,
    /// When the connector was freed after the transaction (see [`frees_connector`]), or when
    /// we stopped waiting for it (the idle cap).
    pub freed_at: Option<DateTime<Utc>>,
    /// RemoteStopTransaction sent again after the charger accepted one and did not stop.
    pub stop_attempts: u32,
    /// Grows with every change; updates compare it (optimistic concurrency).
    pub version: i64,
}

impl ChargingSession {
    /// Not completed or failed.
    pub fn is_active(&self) -> bool {
        !self.state.is_final()
    }

    /// Whether `partner` may see the session: its own partner sessions only.
    pub fn belongs_to(&self, partner: &PartnerId) -> bool {
        self.origin == SessionOrigin::Partner && self.partner_id.as_ref() == Some(partner)
    }

    /// Seconds the connector has been occupied since charging finished: until it was freed,
    /// or until `now` while the session is `finishing`. `None` before charging finished.
    pub fn idle_seconds(&self, now: DateTime<Utc>) -> Option<i64> {
        let from = self.charging_finished_at?;
        let to = match (self.freed_at, self.state) {
            (Some(freed), _) => freed,
            (None, SessionState::Finishing) => now,
            (None, _) => self.stopped_at.unwrap_or(now),
        };
        Some((to - from).num_seconds().max(0))
    }

    /// Seconds between start and stop (or `now` while running); 0 before the start.
    pub fn duration_s(&self, now: DateTime<Utc>) -> i64 {
        match self.started_at {
            Some(start) => (self.stopped_at.unwrap_or(now) - start)
                .num_seconds()
                .max(0),
            None => 0,
        }
    }

    /// When the service must next look at the session, given its state: the end of the wait
    /// for the charger's start, the connection-lost timeout while the charger is away, the end
    /// of a duration limit, a retry of a stop that failed.
    pub fn next_check(&self, d: &Deadlines) -> Option<DateTime<Utc>> {
        match self.state {
            SessionState::Pending => Some(self.created_at + d.call_timeout + d.start_timeout),
            SessionState::Starting => {
                Some(self.accepted_at.unwrap_or(self.created_at) + d.start_timeout)
            }
            SessionState::Charging | SessionState::Stopping => {
                let lost = self
                    .charger_offline_since
                    .map(|t| t + d.connection_lost_timeout);
                let (limit_end, retry) = if self.state == SessionState::Charging {
                    let retry = self.stop_requested_at.map(|t| t + d.stop_retry);
                    let end = if self.stop_requested_at.is_none() {
                        self.limit.and_then(|l| l.duration_end(self))
                    } else {
                        None
                    };
                    (end, retry)
                } else if self.charger_offline_since.is_none() {
                    // An accepted stop the charger has not confirmed yet (while it is offline,
                    // the connection-lost timeout decides instead).
                    (None, self.stop_requested_at.map(|t| t + d.stop_timeout))
                } else {
                    (None, None)
                };
                [lost, limit_end, retry].into_iter().flatten().min()
            }
            SessionState::Finishing => {
                let cap = self
                    .charging_finished_at
                    .or(self.stopped_at)
                    .unwrap_or(self.updated_at)
                    + d.idle_cap;
                Some(cap.min(self.updated_at + d.idle_recheck))
            }
            SessionState::Completed | SessionState::Failed => None,
        }
    }
}

/// One reservation of a connector by a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    /// The OCPP `reservationId` (an integer), issued by the store.
    pub ocpp_id: i64,
    pub partner_id: PartnerId,
    pub partner_order_id: String,
    pub station_id: StationId,
    pub charger_id: ChargerId,
    pub connector_id: ConnectorId,
    pub connector_number: ConnectorNumber,
    /// The tag the charger holds the connector for; a session using the reservation starts
    /// with it.
    pub id_tag: String,
    pub state: ReservationState,
    pub failure: Option<StartFailure>,
    pub failure_detail: Option<String>,
    pub duration_s: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it was used, cancelled, expired or failed.
    pub ended_at: Option<DateTime<Utc>>,
    /// The session that used it.
    pub session_id: Option<SessionId>,
    /// Set when the partner asked to cancel (so the charger's own status change that follows
    /// is not taken for an expiry).
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub next_check_at: Option<DateTime<Utc>>,
    pub version: i64,
}

impl Reservation {
    /// 15 minutes, the default longest reservation.
    pub const DEFAULT_MAX_DURATION_S: u32 = 900;

    pub fn is_active(&self) -> bool {
        self.state == ReservationState::Active
    }

    /// When the service must next look at it: a ReserveNow never answered (after a restart),
    /// or the expiry of an active reservation.
    pub fn next_check(&self, d: &Deadlines) -> Option<DateTime<Utc>> {
        match self.state {
            ReservationState::Pending => Some(self.created_at + d.call_timeout),
            ReservationState::Active => Some(self.expires_at),
            _ => None,
        }
    }
}

/// Whether a connector status reported after a transaction ends the idle time of a
/// `finishing` session: the cable was unplugged (`available`, or `reserved`, which a charger
/// reports only for a free connector), or the connector can no longer serve anyone
/// (`unavailable`, `faulted`: occupancy of a connector nobody could use is not billed), or a
/// new transaction took it over (`charging`). `occupied` keeps the clock running, and so does
/// `offline`: we cannot tell, and the status the charger reports when it is back decides.
pub fn frees_connector(status: ConnectorStatus) -> bool {
    !matches!(status, ConnectorStatus::Occupied | ConnectorStatus::Offline)
}

/// Whether the charger's reported status of a connector says no transaction is running on it
/// (used to close a stop the charger accepted but never confirmed): anything but charging or
/// suspended. `None` (never reported) says nothing.
pub fn reports_not_charging(status: ConnectorStatus, ocpp: Option<ChargePointStatus>) -> bool {
    if status == ConnectorStatus::Offline {
        return false;
    }
    ocpp.is_some_and(|s| {
        !matches!(
            s,
            ChargePointStatus::Charging
                | ChargePointStatus::SuspendedEV
                | ChargePointStatus::SuspendedEVSE
        )
    })
}

/// Validates a partner's order id or user reference: 1–64 printable characters.
pub fn validate_reference(field: &str, s: &str) -> Result<(), ValidationError> {
    if s.is_empty() || s.chars().count() > 64 {
        return Err(ValidationError::new(field, "must be 1 to 64 characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + s, 0).unwrap()
    }

    fn deadlines() -> Deadlines {
        Deadlines {
            call_timeout: Duration::seconds(30),
            start_timeout: Duration::seconds(90),
            connection_lost_timeout: Duration::seconds(3600),
            stop_retry: Duration::seconds(20),
            stop_timeout: Duration::seconds(60),
            idle_cap: Duration::seconds(86_400),
            idle_recheck: Duration::seconds(60),
        }
    }

    pub(crate) fn session(state: SessionState) -> ChargingSession {
        ChargingSession {
            id: SessionId::parse("s-1").unwrap(),
            origin: SessionOrigin::Partner,
            partner_id: Some(PartnerId::parse("p-1").unwrap()),
            partner_order_id: Some("o-1".into()),
            user_ref: None,
            station_id: StationId::parse("S1").unwrap(),
            charger_id: ChargerId::parse("CP1").unwrap(),
            connector_id: ConnectorId::parse("CP1-1").unwrap(),
            connector_number: ConnectorNumber::new(1).unwrap(),
            tariff_id: TariffId::parse("T").unwrap(),
            reservation_id: None,
            limit: None,
            state,
            failure: None,
            failure_detail: None,
            id_tag: "OP1".into(),
            transaction_id: None,
            created_at: t(0),
            updated_at: t(0),
            accepted_at: None,
            started_at: None,
            meter_start: None,
            meter_last: None,
            metered_at: None,
            energy: Wh(0),
            power: None,
            soc_percent: None,
            cost: None,
            stop_requested_at: None,
            stop_requested_by: None,
            stopped_at: None,
            stop_reason: None,
            charger_offline_since: None,
            review_required: false,
            review_reason: None,
            next_check_at: None,
            updated_event_at: None,
            charging_finished_at: None,
            freed_at: None,
            stop_attempts: 0,
            version: 1,
        }
    }

    #[test]
    fn limits_are_validated_and_name_their_field() {
        assert!(SessionLimit::energy_wh(20_000).is_ok());
        for bad in [0, -1, SessionLimit::MAX_ENERGY_WH + 1] {
            assert_eq!(
                SessionLimit::energy_wh(bad).unwrap_err().field,
                "limit.energy_wh"
            );
        }
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert!(SessionLimit::amount(d("50.00")).is_ok());
        for bad in ["0", "-5", "0.001", "100000.01"] {
            assert_eq!(
                SessionLimit::amount(d(bad)).unwrap_err().field,
                "limit.amount",
                "{bad}"
            );
        }
        assert!(SessionLimit::duration_s(3600).is_ok());
        assert!(SessionLimit::duration_s(0).is_err());
        assert!(SessionLimit::duration_s(SessionLimit::MAX_DURATION_S + 1).is_err());
    }

    #[test]
    fn limits_round_trip_through_their_parts() {
        for l in [
            SessionLimit::energy_wh(15_000).unwrap(),
            SessionLimit::amount(Decimal::new(4550, 2)).unwrap(),
            SessionLimit::duration_s(600).unwrap(),
        ] {
            assert_eq!(SessionLimit::from_parts(l.kind(), &l.value_text()), Some(l));
        }
        assert_eq!(SessionLimit::from_parts("energy_wh", "x"), None);
        assert_eq!(SessionLimit::from_parts("volts", "1"), None);
    }

    #[test]
    fn a_limit_is_reached_by_energy_cost_or_time() {
        let mut s = session(SessionState::Charging);
        s.started_at = Some(t(0));
        s.energy = Wh(999);
        let energy = SessionLimit::energy_wh(1000).unwrap();
        assert!(!energy.reached(&s, t(10)));
        s.energy = Wh(1000);
        assert!(energy.reached(&s, t(10)));
        let time = SessionLimit::duration_s(60).unwrap();
        assert!(!time.reached(&s, t(59)));
        assert!(time.reached(&s, t(60)));
        let amount = SessionLimit::amount(Decimal::from(5)).unwrap();
        assert!(!amount.reached(&s, t(0)), "no cost yet");
    }

    #[test]
    fn stop_reasons_round_trip() {
        let all = StopReason::ALL
            .into_iter()
            .map(SessionStopReason::Charger)
            .chain([
                SessionStopReason::EnergyLimit,
                SessionStopReason::AmountLimit,
                SessionStopReason::DurationLimit,
                SessionStopReason::ConnectionLost,
                SessionStopReason::StopUnconfirmed,
            ]);
        for r in all {
            assert_eq!(SessionStopReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(SessionStopReason::parse("nope"), None);
    }

    #[test]
    fn next_check_follows_the_state() {
        let d = deadlines();
        let pending = session(SessionState::Pending);
        assert_eq!(pending.next_check(&d), Some(t(120)));
        let mut starting = session(SessionState::Starting);
        starting.accepted_at = Some(t(2));
        assert_eq!(starting.next_check(&d), Some(t(92)));
        let mut charging = session(SessionState::Charging);
        charging.started_at = Some(t(5));
        assert_eq!(charging.next_check(&d), None);
        charging.limit = Some(SessionLimit::duration_s(600).unwrap());
        assert_eq!(charging.next_check(&d), Some(t(605)));
        charging.charger_offline_since = Some(t(10));
        assert_eq!(
            charging.next_check(&d),
            Some(t(605)),
            "the earlier one wins"
        );
        charging.limit = None;
        assert_eq!(charging.next_check(&d), Some(t(3610)));
        charging.charger_offline_since = None;
        charging.stop_requested_at = Some(t(50));
        assert_eq!(
            charging.next_check(&d),
            Some(t(70)),
            "a failed stop is retried"
        );
        for s in [SessionState::Completed, SessionState::Failed] {
            assert_eq!(session(s).next_check(&d), None);
        }
    }

    #[test]
    fn an_unconfirmed_stop_is_checked_after_the_stop_timeout_unless_the_charger_is_away() {
        let d = deadlines();
        let mut s = session(SessionState::Stopping);
        s.started_at = Some(t(5));
        s.stop_requested_at = Some(t(100));
        assert_eq!(s.next_check(&d), Some(t(160)));
        s.charger_offline_since = Some(t(120));
        assert_eq!(
            s.next_check(&d),
            Some(t(3720)),
            "offline: the connection-lost timeout decides, no busy re-checks"
        );
    }

    #[test]
    fn a_finishing_session_is_rechecked_and_waits_at_most_the_idle_cap() {
        let d = deadlines();
        let mut s = session(SessionState::Finishing);
        s.stopped_at = Some(t(500));
        s.charging_finished_at = Some(t(400));
        s.updated_at = t(500);
        assert_eq!(
            s.next_check(&d),
            Some(t(560)),
            "looked at again now and then"
        );
        s.updated_at = t(86_790);
        assert_eq!(
            s.next_check(&d),
            Some(t(86_800)),
            "and at the cap at the latest"
        );
    }

    #[test]
    fn idle_time_runs_from_the_end_of_charging_to_the_freeing_of_the_connector() {
        let mut s = session(SessionState::Charging);
        assert_eq!(s.idle_seconds(t(50)), None);
        s.charging_finished_at = Some(t(100));
        s.state = SessionState::Finishing;
        s.stopped_at = Some(t(130));
        assert_eq!(s.idle_seconds(t(400)), Some(300), "the clock runs");
        s.freed_at = Some(t(250));
        s.state = SessionState::Completed;
        assert_eq!(s.idle_seconds(t(400)), Some(150), "and stops when freed");
        s.freed_at = None;
        assert_eq!(s.idle_seconds(t(400)), Some(30), "completed at the stop");
    }

    #[test]
    fn which_statuses_free_a_connector_and_which_say_it_is_not_charging() {
        use ChargePointStatus as P;
        use ConnectorStatus as C;
        for (status, frees) in [
            (C::Available, true),
            (C::Reserved, true),
            (C::Unavailable, true),
            (C::Faulted, true),
            (C::Charging, true),
            (C::Occupied, false),
            (C::Offline, false),
        ] {
            assert_eq!(frees_connector(status), frees, "{status:?}");
        }
        assert!(reports_not_charging(C::Available, Some(P::Available)));
        assert!(reports_not_charging(C::Occupied, Some(P::Finishing)));
        assert!(!reports_not_charging(C::Occupied, Some(P::SuspendedEV)));
        assert!(!reports_not_charging(C::Charging, Some(P::Charging)));
        assert!(!reports_not_charging(C::Available, None), "never reported");
        assert!(!reports_not_charging(C::Offline, Some(P::Available)));
    }

    #[test]
    fn only_the_owner_sees_a_partner_session() {
        let mut s = session(SessionState::Charging);
        assert!(s.belongs_to(&PartnerId::parse("p-1").unwrap()));
        assert!(!s.belongs_to(&PartnerId::parse("p-2").unwrap()));
        s.origin = SessionOrigin::Local;
        assert!(!s.belongs_to(&PartnerId::parse("p-1").unwrap()));
    }

    #[test]
    fn references_are_bounded() {
        assert!(validate_reference("partner_order_id", "ORD-2026-0001").is_ok());
        assert!(validate_reference("partner_order_id", "").is_err());
        assert!(validate_reference("user_ref", &"x".repeat(65)).is_err());
        assert!(validate_reference("user_ref", "a\nb").is_err());
    }
}
