//! The sessions service: what partners ask (start, stop, read sessions; reserve, cancel, read
//! reservations), what chargers report (through [`crate::sessions::observe`]), and what time
//! brings ([`SessionService::sweep`]).
//!
//! Rules that cut across it:
//! - A session is recorded `pending`, with its id tag bound and the connector claimed, before
//!   the charger is asked anything; so a crash at any point leaves a record to resume or fail.
//! - Every change is a compare-and-set on the record's version, computed here and applied by
//!   the store with its events in one transaction. A lost race reloads and decides again.
//! - A start arriving from the charger always wins over a timeout that would fail the session
//!   (the store refuses to fail a session once a transaction is linked to it), and a
//!   transaction we cannot attribute to a live session is stopped: no charger is left
//!   charging for a session we forgot.
//! - Commands to a charger are never sent while one of its messages is being answered (a
//!   charger may process one CALL at a time): reactions spawn them.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::charging::{
    ChargingTransaction, IdTagBinding, Measurement, MeterRecorded, MeterReport, MeterSample,
    StartRecorded, StopReason, StopRecorded, TagStatus, TransactionId, TransactionStart,
    TransactionStore,
};
use crate::clock::Clock;
use crate::energy::{Watts, Wh};
use crate::error::{StoreError, ValidationError};
use crate::ids::{
    ChargerId, ConnectorId, ConnectorNumber, IdGenerator, PartnerId, ReservationId, SessionId,
    StationId, TariffId,
};
use crate::money::parse_plain_decimal;
use crate::page::{Page, PageRequest};
use crate::partner::catalog::{Catalog, Visibility};
use crate::partner::credential::PartnerStatus;
use crate::partner::ports::PartnerStore;
use crate::ports::{
    ChargerCommand, ChargerGateway, CommandReply, ConnectorFilter, ConnectorStatusChanged,
    GatewayError, NetworkStore, TriggerableMessage,
};
use crate::pricing::{self, PricedSession, price_session};
use crate::reservation::ReservationState;
use crate::session::{SessionEvent, SessionState, StartFailure};
use crate::sessions::events;
use crate::sessions::model::{
    ChargingSession, Deadlines, Reservation, SessionCost, SessionLimit, SessionOrigin,
    SessionStopReason, StopRequester, frees_connector, reports_not_charging, validate_reference,
};
use crate::sessions::ports::{
    Created, NewSession, ReservationUpdate, Runtime, SessionQuery, SessionStore, SessionUpdate,
    constraints,
};
use crate::sessions::watch::{Changes, both, first};
use crate::settlement::cdr::{Cdr, SessionCdr, validate_order_id};
use crate::status::{ChargePointStatus, ConnectorStatus};
use crate::tariff::Tariff;

/// How many times a change is recomputed after losing a race before giving up.
const MAX_ATTEMPTS: usize = 8;

/// Settings of the sessions service.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// How long the charger has, after accepting RemoteStartTransaction, to send
    /// StartTransaction (typically: the driver plugs the cable in). Set it to the chargers'
    /// `ConnectionTimeOut`.
    pub start_timeout: Duration,
    /// The gateway's timeout for a charger's answer (bounds how long a start stays pending).
    pub call_timeout: Duration,
    /// How long a charger may stay offline (or its connector faulted) during a session before
    /// the session is closed as `connection_lost` and flagged for review.
    pub connection_lost_timeout: Duration,
    /// How long after a failed stop of a session that reached its limit we try again.
    pub stop_retry: Duration,
    /// How long after the charger accepted RemoteStopTransaction we wait for its
    /// StopTransaction before asking its connector's state and sending the stop again.
    pub stop_timeout: Duration,
    /// How many times RemoteStopTransaction is sent again after `stop_timeout`; once they are
    /// used up (or the charger reports the connector not charging) the session is closed as
    /// `stop_unconfirmed` on its last meter value and flagged for review.
    pub stop_retries: u32,
    /// The longest a `finishing` session (idle fee, connector still occupied) waits for the
    /// connector to be freed; idle time is billed up to this cap and the session flagged.
    pub idle_cap: Duration,
    /// How often a `finishing` session's connector status is read again: a safety net for a
    /// freeing status not acted on when it came (a charger back from offline reports its
    /// charger-wide status first, which the store applies to every connector for a moment,
    /// so a freeing change out of `offline` is confirmed this way rather than believed).
    pub idle_recheck: Duration,
    /// How long after a charger came back a freeing status of a `finishing` session's
    /// connector is confirmed by reading the connector again (its own status follows the
    /// charger-wide one within moments).
    pub status_settle_delay: Duration,
    /// The longest reservation a partner may ask for.
    pub max_reservation: Duration,
    /// At most one `session.updated` event per session per interval (meter values may come
    /// much more often).
    pub update_event_interval: Duration,
    /// How stale a charging session's energy, power and running cost may get before meter
    /// values are written to it (a limit reached is written at once).
    pub meter_write_interval: Duration,
    /// The longest a start request may wait for the outcome (`wait_s`).
    pub max_wait: Duration,
    /// How long to let a charger process our answer to its StartTransaction before we stop a
    /// transaction that belongs to no live session (it cannot stop what it does not know yet).
    pub orphan_stop_delay: Duration,
    /// Tariff segments are local time in this zone.
    pub timezone: Tz,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            start_timeout: Duration::from_secs(90),
            call_timeout: Duration::from_secs(30),
            connection_lost_timeout: Duration::from_secs(2 * 3600),
            stop_retry: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(60),
            stop_retries: 2,
            idle_cap: Duration::from_secs(24 * 3600),
            idle_recheck: Duration::from_secs(60),
            status_settle_delay: Duration::from_secs(2),
            max_reservation: Duration::from_secs(u64::from(Reservation::DEFAULT_MAX_DURATION_S)),
            update_event_interval: Duration::from_secs(30),
            meter_write_interval: Duration::from_secs(5),
            max_wait: Duration::from_secs(60),
            orphan_stop_delay: Duration::from_secs(1),
            timezone: chrono_tz::Asia::Shanghai,
        }
    }
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl SessionConfig {
    pub fn deadlines(&self) -> Deadlines {
        Deadlines {
            call_timeout: chrono_of(self.call_timeout),
            start_timeout: chrono_of(self.start_timeout),
            connection_lost_timeout: chrono_of(self.connection_lost_timeout),
            stop_retry: chrono_of(self.stop_retry),
            stop_timeout: chrono_of(self.stop_timeout),
            idle_cap: chrono_of(self.idle_cap),
            idle_recheck: chrono_of(self.idle_recheck),
        }
    }
}

/// Who asks: a partner, with what it may see of the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub partner_id: PartnerId,
    pub visibility: Visibility,
}

/// A limit as the partner sent it; exactly one member must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitRequest {
    pub energy_wh: Option<i64>,
    /// Decimal CNY as text (`"50.00"`).
    pub amount: Option<String>,
    pub duration_s: Option<i64>,
}

/// `POST /v1/sessions`, in domain terms (ids still unvalidated: an id that cannot exist is
/// simply not found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    pub connector_id: String,
    pub partner_order_id: String,
    pub user_ref: Option<String>,
    pub reservation_id: Option<String>,
    pub limit: Option<LimitRequest>,
}

/// `POST /v1/reservations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveRequest {
    pub connector_id: String,
    pub partner_order_id: String,
    pub duration_s: i64,
}

/// A start or reservation that did not happen, or a command the charger did not carry out:
/// one of the stable failure codes, with what we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: StartFailure,
    pub detail: String,
    /// The offending request field (`limit_invalid`).
    pub field: Option<String>,
    /// The connector's status (`connector_unavailable`).
    pub connector_status: Option<ConnectorStatus>,
    /// The session recorded for the attempt, when one was (it is `failed` with this reason).
    pub session_id: Option<SessionId>,
    pub reservation_id: Option<ReservationId>,
}

impl Failure {
    fn new(reason: StartFailure, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            field: None,
            connector_status: None,
            session_id: None,
            reservation_id: None,
        }
    }
}

/// What the sessions use cases fail with.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{}: {}", .0.reason.as_str(), .0.detail)]
    Failure(Box<Failure>),
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The partner order id was used before for a different request.
    #[error("partner_order_id {order} was already used for {entity} {id} with different content")]
    OrderConflict {
        entity: &'static str,
        id: String,
        order: String,
    },
    /// The object's state does not allow the operation.
    #[error("{entity} {id} is {state}")]
    NotActive {
        entity: &'static str,
        id: String,
        state: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SessionError {
    fn failure(f: Failure) -> Self {
        Self::Failure(Box::new(f))
    }

    fn busy() -> Self {
        Self::Store(StoreError::Unavailable(
            "the record kept changing; retry".into(),
        ))
    }
}

impl From<Failure> for SessionError {
    fn from(f: Failure) -> Self {
        Self::failure(f)
    }
}

/// The result of a start request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub session: ChargingSession,
    /// The same order was requested before: this is the session recorded then.
    pub replay: bool,
}

/// The result of a reservation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    pub reservation: Reservation,
    pub replay: bool,
}

/// What one sweep did (for logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub sessions_failed: usize,
    pub sessions_lost: usize,
    /// Accepted stops never confirmed, closed as `stop_unconfirmed`.
    pub stops_unconfirmed: usize,
    /// RemoteStopTransaction sent again for an accepted stop not confirmed in time.
    pub stops_resent: usize,
    /// `finishing` sessions completed at the idle cap.
    pub idle_capped: usize,
    pub limit_stops: usize,
    pub reservations_expired: usize,
    pub reservations_failed: usize,
}

/// How a start or reservation request reads the connector.
struct Target {
    station_id: StationId,
    charger_id: ChargerId,
    connector_id: ConnectorId,
    number: ConnectorNumber,
    tariff_id: TariffId,
    status: ConnectorStatus,
    ocpp_status: Option<ChargePointStatus>,
}

/// The sessions and reservations use cases. One per process; hand it to the faces, to the
/// observers of the charger-facing stores, and to a task that calls [`SessionService::sweep`].
pub struct SessionService {
    store: Arc<dyn SessionStore>,
    gateway: Arc<dyn ChargerGateway>,
    network: Arc<dyn NetworkStore>,
    transactions: Arc<dyn TransactionStore>,
    partners: Arc<dyn PartnerStore>,
    catalog: Arc<Catalog>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    runtime: Arc<dyn Runtime>,
    config: SessionConfig,
    deadlines: Deadlines,
    changes: Arc<Changes>,
    me: Weak<SessionService>,
}

/// The ports and settings a [`SessionService`] is built from.
pub struct SessionDeps {
    pub store: Arc<dyn SessionStore>,
    pub gateway: Arc<dyn ChargerGateway>,
    pub network: Arc<dyn NetworkStore>,
    pub transactions: Arc<dyn TransactionStore>,
    pub partners: Arc<dyn PartnerStore>,
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub runtime: Arc<dyn Runtime>,
}

fn not_found(entity: &'static str, id: impl Into<String>) -> SessionError {
    SessionError::NotFound {
        entity,
        id: id.into(),
    }
}

/// A fresh id tag for a session or reservation: `OP` and 18 hex digits of a new id's random
/// part (OCPP IdToken is at most 20 characters; the prefix tells our tags from RFID cards).
fn fresh_tag(ids: &dyn IdGenerator) -> String {
    let hex: String = ids.next().chars().filter(char::is_ascii_hexdigit).collect();
    let tail = &hex[hex.len().saturating_sub(18)..];
    format!("OP{}", tail.to_ascii_uppercase())
}

fn limit_of(req: &LimitRequest) -> Result<SessionLimit, Failure> {
    let invalid = |field: &str, detail: String| Failure {
        field: Some(field.to_string()),
        ..Failure::new(StartFailure::LimitInvalid, detail)
    };
    let set = [
        req.energy_wh.is_some(),
        req.amount.is_some(),
        req.duration_s.is_some(),
    ]
    .into_iter()
    .filter(|b| *b)
    .count();
    if set != 1 {
        return Err(invalid(
            "limit",
            "must set exactly one of energy_wh, amount, duration_s".into(),
        ));
    }
    let result = if let Some(wh) = req.energy_wh {
        SessionLimit::energy_wh(wh)
    } else if let Some(a) = &req.amount {
        parse_plain_decimal("limit.amount", a).and_then(SessionLimit::amount)
    } else {
        SessionLimit::duration_s(req.duration_s.unwrap_or(0))
    };
    result.map_err(|e| invalid(&e.field, e.to_string()))
}

fn gateway_failure(e: &GatewayError) -> Failure {
    match e {
        GatewayError::Offline | GatewayError::NotAccepted => {
            Failure::new(StartFailure::ChargerOffline, e.to_string())
        }
        GatewayError::Timeout => Failure::new(StartFailure::ChargerTimeout, e.to_string()),
        GatewayError::CallError { .. } => {
            Failure::new(StartFailure::ChargerRejected, e.to_string())
        }
    }
}

fn reply_status(reply: &CommandReply) -> String {
    match reply {
        CommandReply::Status(s) => s.clone(),
        CommandReply::Configuration { .. } => "Accepted".into(),
    }
}

impl SessionService {
    pub fn new(deps: SessionDeps, config: SessionConfig) -> Arc<SessionService> {
        let deadlines = config.deadlines();
        Arc::new_cyclic(|me| SessionService {
            store: deps.store,
            gateway: deps.gateway,
            network: deps.network,
            transactions: deps.transactions,
            partners: deps.partners,
            catalog: deps.catalog,
            clock: deps.clock,
            ids: deps.ids,
            runtime: deps.runtime,
            config,
            deadlines,
            changes: Arc::new(Changes::default()),
            me: me.clone(),
        })
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs `task` with this service in the background.
    fn spawn<F, Fut>(&self, task: F)
    where
        F: FnOnce(Arc<SessionService>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Some(me) = self.me.upgrade() {
            self.runtime.spawn(Box::pin(async move { task(me).await }));
        }
    }

    pub(crate) fn warn(&self, message: String) {
        self.runtime.log_warning(message);
    }

    // ---- records -------------------------------------------------------------------------

    /// `new` as the successor of `old`: next version, touched now, next check recomputed.
    fn successor(&self, old: &ChargingSession, mut new: ChargingSession) -> ChargingSession {
        new.version = old.version + 1;
        new.updated_at = self.now();
        new.next_check_at = new.next_check(&self.deadlines);
        new
    }

    /// Writes `update`; on success wakes whoever waits for the session.
    async fn write(&self, update: &SessionUpdate) -> Result<bool, SessionError> {
        let applied = self.store.update_session(update).await?;
        if applied {
            self.changes.notify(&update.session.id);
        }
        Ok(applied)
    }

    fn plain_update(&self, old: &ChargingSession, new: ChargingSession) -> SessionUpdate {
        SessionUpdate {
            session: self.successor(old, new),
            expected_version: old.version,
            unless_transaction_linked: false,
            release_binding: false,
            reservation: None,
            events: Vec::new(),
            cdr: None,
        }
    }

    fn reservation_successor(&self, old: &Reservation, mut new: Reservation) -> Reservation {
        new.version = old.version + 1;
        new.updated_at = self.now();
        new.next_check_at = new.next_check(&self.deadlines);
        new
    }

    async fn tariff(&self, id: &TariffId, at: DateTime<Utc>) -> Option<Tariff> {
        if let Ok(snap) = self.catalog.snapshot().await
            && let Some(t) = snap.tariff_in_force(id, at)
        {
            return Some(t.clone());
        }
        self.network.tariff_in_force(id, at).await.ok()
    }

    /// Prices the session from its transaction's energy readings, up to `end` (the stop, or
    /// the latest reading for an estimate).
    async fn price(
        &self,
        session: &ChargingSession,
        tx: &ChargingTransaction,
        samples: &[MeterSample],
        end: Option<(DateTime<Utc>, Wh)>,
    ) -> Option<SessionCost> {
        let priced = self.price_raw(session, tx, samples, end).await?;
        Some(SessionCost::from_priced(session.tariff_id.clone(), priced))
    }

    /// The tariff engine's result for the session (see [`SessionService::price`]).
    async fn price_raw(
        &self,
        session: &ChargingSession,
        tx: &ChargingTransaction,
        samples: &[MeterSample],
        end: Option<(DateTime<Utc>, Wh)>,
    ) -> Option<PricedSession> {
        let tariff = self.tariff(&session.tariff_id, tx.started_at).await?;
        Some(self.price_with(&tariff, tx, samples, end, None))
    }

    /// Prices the transaction's energy readings up to `end` under `tariff`, with the idle time
    /// `(charging finished, connector freed)` when there is one to bill.
    fn price_with(
        &self,
        tariff: &Tariff,
        tx: &ChargingTransaction,
        samples: &[MeterSample],
        end: Option<(DateTime<Utc>, Wh)>,
        idle: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> PricedSession {
        let mut points = vec![pricing::MeterSample {
            at: tx.started_at,
            register: tx.meter_start,
        }];
        let last = end.map_or(DateTime::<Utc>::MAX_UTC, |(at, _)| at);
        points.extend(samples.iter().filter_map(|s| match s.measurement {
            Measurement::EnergyImportRegister(wh)
                if s.phase.is_none() && s.at >= tx.started_at && s.at <= last =>
            {
                Some(pricing::MeterSample {
                    at: s.at,
                    register: wh,
                })
            }
            _ => None,
        }));
        if let Some((at, register)) = end {
            points.push(pricing::MeterSample { at, register });
        }
        price_session(tariff, self.config.timezone, &points, idle)
    }

    /// The CDR of a session that has just completed (written with the completion, once).
    fn cdr_of(
        &self,
        s: &ChargingSession,
        tx: &ChargingTransaction,
        stop: (DateTime<Utc>, Wh),
        priced: PricedSession,
        now: DateTime<Utc>,
    ) -> Option<Cdr> {
        let record = SessionCdr {
            session_id: s.id.clone(),
            partner_id: s.partner_id.clone(),
            partner_order_id: s.partner_order_id.clone(),
            station_id: s.station_id.clone(),
            charger_id: s.charger_id.clone(),
            connector_id: s.connector_id.clone(),
            started_at: tx.started_at,
            stopped_at: stop.0,
            meter_start: tx.meter_start,
            meter_stop: stop.1,
            tariff_id: s.tariff_id.clone(),
            time_zone: self.config.timezone.name().to_string(),
            priced,
            created_at: now,
        };
        match Cdr::for_session(record) {
            Ok(cdr) => Some(cdr),
            Err(e) => {
                self.warn(format!("session {}: no CDR: {e}", s.id));
                None
            }
        }
    }

    // ---- reads ---------------------------------------------------------------------------

    /// A partner's own session (anything else is not found).
    pub async fn session(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ChargingSession, SessionError> {
        let sid = SessionId::parse(id).map_err(|_| not_found("session", id))?;
        match self.store.get_session(&sid).await {
            Ok(s) if s.belongs_to(&caller.partner_id) => Ok(s),
            Ok(_) | Err(StoreError::NotFound) => Err(not_found("session", id)),
            Err(e) => Err(e.into()),
        }
    }

    /// A partner's sessions, oldest first.
    pub async fn sessions(
        &self,
        caller: &Caller,
        state: Option<SessionState>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: PageRequest,
    ) -> Result<Page<ChargingSession>, SessionError> {
        let query = SessionQuery {
            partner_id: caller.partner_id.clone(),
            state,
            from,
            to,
            page,
        };
        Ok(self.store.list_sessions(&query).await?)
    }

    /// Waits (at most `max`, capped by the configured maximum) until the session has left
    /// `pending` and `starting`, and returns it as it is then.
    pub async fn wait_for_start(
        &self,
        caller: &Caller,
        id: &SessionId,
        max: Duration,
    ) -> Result<ChargingSession, SessionError> {
        let max = max.min(self.config.max_wait);
        let deadline = std::time::Instant::now() + max;
        loop {
            // Listen first, then read: a change in between is not lost.
            let listener = self.changes.listen(id);
            let session = self.session(caller, id.as_str()).await?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if !matches!(
                session.state,
                SessionState::Pending | SessionState::Starting
            ) || left.is_zero()
            {
                return Ok(session);
            }
            // Changes made by another process are not notified here: read again now and then.
            let nap = left.min(Duration::from_secs(1));
            first(listener, self.runtime.sleep(nap)).await;
        }
    }

    // ---- start ---------------------------------------------------------------------------

    /// Whether a replayed order asks for the same thing as the session recorded for it.
    fn same_request(s: &ChargingSession, req: &StartRequest, limit: Option<SessionLimit>) -> bool {
        s.connector_id.as_str() == req.connector_id
            && s.user_ref == req.user_ref
            && s.limit == limit
            && req
                .reservation_id
                .as_ref()
                .is_none_or(|r| s.reservation_id.as_ref().map(ReservationId::as_str) == Some(r))
    }

    fn replay(
        s: ChargingSession,
        req: &StartRequest,
        limit: Option<SessionLimit>,
    ) -> Result<Started, SessionError> {
        if !Self::same_request(&s, req, limit) {
            return Err(SessionError::OrderConflict {
                entity: "session",
                id: s.id.to_string(),
                order: req.partner_order_id.clone(),
            });
        }
        if s.state == SessionState::Failed {
            // The same order gets the same answer.
            return Err(SessionError::failure(Failure {
                session_id: Some(s.id.clone()),
                reservation_id: s.reservation_id.clone(),
                ..Failure::new(
                    s.failure.unwrap_or(StartFailure::ChargerRejected),
                    s.failure_detail.unwrap_or_default(),
                )
            }));
        }
        Ok(Started {
            session: s,
            replay: true,
        })
    }

    async fn check_partner(&self, partner: &PartnerId) -> Result<(), SessionError> {
        let p = self
            .partners
            .get_partner(partner)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_found("partner", partner.as_str()),
                other => other.into(),
            })?;
        if p.status == PartnerStatus::Suspended {
            return Err(Failure::new(
                StartFailure::PartnerSuspended,
                "the operator suspended this partner",
            )
            .into());
        }
        Ok(())
    }

    /// The connector as the caller may see it, with its live status.
    async fn target(&self, caller: &Caller, raw: &str) -> Result<Target, SessionError> {
        let missing = || {
            SessionError::failure(Failure::new(
                StartFailure::ConnectorNotFound,
                format!("no connector {raw:?} in this partner's scope"),
            ))
        };
        let cid = ConnectorId::parse(raw).map_err(|_| missing())?;
        let snap = self.catalog.snapshot().await?;
        let (station_id, charger_id, number, tariff_id) = {
            let c = snap
                .connector(&caller.visibility, &cid)
                .ok_or_else(missing)?;
            (
                c.station.station.id.clone(),
                c.charger().id.clone(),
                c.connector().connector.number,
                c.station.station.tariff_id.clone(),
            )
        };
        // The live status from the store: the catalog may be a moment behind.
        let view = match self.network.get_connector(&cid).await {
            Ok(v) if v.connector.retired_at.is_none() => v,
            Ok(_) | Err(StoreError::NotFound) => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        Ok(Target {
            station_id,
            charger_id,
            connector_id: cid,
            number,
            tariff_id,
            status: view.state.status,
            ocpp_status: view.state.ocpp_status,
        })
    }

    fn unavailable(status: ConnectorStatus, detail: impl Into<String>) -> SessionError {
        SessionError::failure(Failure {
            connector_status: Some(status),
            ..Failure::new(StartFailure::ConnectorUnavailable, detail)
        })
    }

    /// The checks before a session is recorded: the partner, the connector in its scope, a
    /// reservation (its own is used, another's keeps it out), the connector's status and the
    /// charger's connection.
    async fn admit(
        &self,
        caller: &Caller,
        req: &StartRequest,
    ) -> Result<(Target, Option<Reservation>), SessionError> {
        // Three independent reads, run together (this is the path of every start); their
        // errors count in the order the checks are listed.
        let held_on = ConnectorId::parse(&req.connector_id).ok();
        let (partner, (target, held)) = both(
            self.check_partner(&caller.partner_id),
            both(self.target(caller, &req.connector_id), async {
                match &held_on {
                    Some(c) => self.store.reservation_on(c).await,
                    None => Ok(None),
                }
            }),
        )
        .await;
        partner?;
        let target = target?;
        // A reservation on the connector: ours is used, another partner's keeps us out.
        let held = held?;
        let reservation = match (&held, &req.reservation_id) {
            (Some(r), _) if r.partner_id != caller.partner_id => {
                return Err(Failure::new(
                    StartFailure::ConnectorReserved,
                    "the connector is reserved by someone else",
                )
                .into());
            }
            (Some(r), Some(asked)) if r.id.as_str() != asked => {
                return Err(ValidationError::new(
                    "reservation_id",
                    format!("the connector is held by your reservation {}", r.id),
                )
                .into());
            }
            (Some(r), _) if r.state != ReservationState::Active => {
                return Err(Failure::new(
                    StartFailure::ConnectorReserved,
                    "your reservation of this connector is not confirmed by the charger yet",
                )
                .into());
            }
            (Some(r), _) => Some(r.clone()),
            (None, Some(asked)) => {
                let rid =
                    ReservationId::parse(asked).map_err(|_| not_found("reservation", asked))?;
                let r = match self.store.get_reservation(&rid).await {
                    Ok(r) if r.partner_id == caller.partner_id => r,
                    Ok(_) | Err(StoreError::NotFound) => {
                        return Err(not_found("reservation", asked));
                    }
                    Err(e) => return Err(e.into()),
                };
                if r.connector_id != target.connector_id {
                    return Err(ValidationError::new(
                        "reservation_id",
                        format!("reservation {} is for connector {}", r.id, r.connector_id),
                    )
                    .into());
                }
                return Err(SessionError::NotActive {
                    entity: "reservation",
                    id: r.id.to_string(),
                    state: r.state.as_str(),
                });
            }
            (None, None) => None,
        };

        match target.status {
            ConnectorStatus::Available => {}
            ConnectorStatus::Occupied
                if target
                    .ocpp_status
                    .is_some_and(ChargePointStatus::cable_plugged) => {}
            ConnectorStatus::Reserved if reservation.is_some() => {}
            ConnectorStatus::Reserved => {
                return Err(Failure::new(
                    StartFailure::ConnectorReserved,
                    "the charger holds the connector for a reservation",
                )
                .into());
            }
            ConnectorStatus::Offline => {
                return Err(Failure::new(
                    StartFailure::ChargerOffline,
                    "the charger is not connected",
                )
                .into());
            }
            other => {
                return Err(Self::unavailable(
                    other,
                    format!("the connector is {}", other.as_str()),
                ));
            }
        }
        if !self.gateway.is_connected(&target.charger_id) {
            return Err(
                Failure::new(StartFailure::ChargerOffline, "the charger is not connected").into(),
            );
        }

        Ok((target, reservation))
    }

    /// Starts a session for a partner: the checks, the pending record, RemoteStartTransaction.
    /// Returns the session `starting` (or already `charging`), or the failure, which is also
    /// recorded on the session when one was created.
    pub async fn start(&self, caller: &Caller, req: StartRequest) -> Result<Started, SessionError> {
        validate_order_id("partner_order_id", &req.partner_order_id)?;
        if let Some(u) = &req.user_ref {
            validate_reference("user_ref", u)?;
        }
        let limit = req.limit.as_ref().map(limit_of).transpose()?;
        // The checks come first; only when one fails is the order looked up, since the same
        // order sent again must get the session recorded then, whatever the connector says now
        // (on success, recording the session finds a replay anyway).
        let (target, reservation) = match self.admit(caller, &req).await {
            Ok(admitted) => admitted,
            Err(e) => {
                return match self
                    .store
                    .session_of_order(&caller.partner_id, &req.partner_order_id)
                    .await?
                {
                    Some(existing) => Self::replay(existing, &req, limit),
                    None => Err(e),
                };
            }
        };
        let now = self.now();
        let id = SessionId::parse(self.ids.next())?;
        let id_tag = reservation
            .as_ref()
            .map_or_else(|| fresh_tag(self.ids.as_ref()), |r| r.id_tag.clone());
        let mut session = ChargingSession {
            id: id.clone(),
            origin: SessionOrigin::Partner,
            partner_id: Some(caller.partner_id.clone()),
            partner_order_id: Some(req.partner_order_id.clone()),
            user_ref: req.user_ref.clone(),
            station_id: target.station_id.clone(),
            charger_id: target.charger_id.clone(),
            connector_id: target.connector_id.clone(),
            connector_number: target.number,
            tariff_id: target.tariff_id.clone(),
            reservation_id: reservation.as_ref().map(|r| r.id.clone()),
            limit,
            state: SessionState::Pending,
            failure: None,
            failure_detail: None,
            id_tag: id_tag.clone(),
            transaction_id: None,
            created_at: now,
            updated_at: now,
            accepted_at: None,
            started_at: None,
            meter_start: None,
            meter_last: None,
            metered_at: None,
            energy: Wh::ZERO,
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
        };
        session.next_check_at = session.next_check(&self.deadlines);
        let new = NewSession {
            binding: IdTagBinding {
                id_tag: id_tag.clone(),
                session_id: id.clone(),
                charger_id: target.charger_id.clone(),
                connector: Some(target.number),
                expires_at: self.deadlines.binding_expiry(now),
            },
            session,
        };
        let created = match self.store.create_session(&new).await {
            Ok(Created::New(s)) => s,
            Ok(Created::Existing(s)) => return Self::replay(s, &req, limit),
            Err(StoreError::Conflict { constraint }) => {
                return Err(match constraint.as_str() {
                    constraints::CONNECTOR_RESERVED => Failure::new(
                        StartFailure::ConnectorReserved,
                        "the connector is reserved by someone else",
                    )
                    .into(),
                    constraints::RESERVATION_NOT_ACTIVE => SessionError::NotActive {
                        entity: "reservation",
                        id: req.reservation_id.clone().unwrap_or_default(),
                        state: "not active",
                    },
                    _ => Self::unavailable(target.status, "another session holds the connector"),
                });
            }
            Err(e) => return Err(e.into()),
        };

        // OCPP 1.6 §5.11: the charger decides; the id tag identifies the session in its
        // StartTransaction.
        let command = ChargerCommand::RemoteStartTransaction {
            connector: target.number,
            id_tag,
        };
        let failure = match self.gateway.send(&target.charger_id, command).await {
            Ok(reply) if reply.is_accepted() => None,
            Ok(reply) => Some(Failure::new(
                StartFailure::ChargerRejected,
                format!(
                    "the charger answered {} to RemoteStartTransaction",
                    reply_status(&reply)
                ),
            )),
            Err(e) => Some(gateway_failure(&e)),
        };
        let session = match failure {
            None => self.mark_starting(created).await?,
            Some(f) => {
                let s = self.fail_start(&created.id, f.reason, &f.detail).await?;
                if s.state == SessionState::Failed {
                    return Err(SessionError::failure(Failure {
                        session_id: Some(s.id.clone()),
                        reservation_id: s.reservation_id,
                        ..f
                    }));
                }
                // The charger's StartTransaction overtook its own answer: it is charging.
                s
            }
        };
        Ok(Started {
            session,
            replay: false,
        })
    }

    /// Pending → starting, after the charger accepted RemoteStartTransaction (a no-op when its
    /// StartTransaction came first).
    async fn mark_starting(
        &self,
        created: ChargingSession,
    ) -> Result<ChargingSession, SessionError> {
        let id = created.id.clone();
        let mut known = Some(created);
        for _ in 0..MAX_ATTEMPTS {
            let s = match known.take() {
                Some(s) => s,
                None => self.store.get_session(&id).await?,
            };
            let Ok(state) = s.state.apply(crate::session::SessionEvent::StartAccepted) else {
                return Ok(s);
            };
            let now = self.now();
            let mut next = s.clone();
            next.state = state;
            next.accepted_at = Some(now);
            let mut update = self.plain_update(&s, next);
            update.events = events::starting(&update.session, now);
            if self.write(&update).await? {
                return Ok(update.session);
            }
        }
        Err(SessionError::busy())
    }

    /// Fails a start (pending or starting) with `reason`, releasing its id tag — unless a
    /// transaction of the charger is linked to it by now, which then wins: the session is
    /// moved to charging instead.
    async fn fail_start(
        &self,
        id: &SessionId,
        reason: StartFailure,
        detail: &str,
    ) -> Result<ChargingSession, SessionError> {
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            let Ok(state) = s.state.apply(crate::session::SessionEvent::StartFailed) else {
                return Ok(s);
            };
            let now = self.now();
            let mut next = s.clone();
            next.state = state;
            next.failure = Some(reason);
            next.failure_detail = Some(detail.to_string());
            let mut update = self.plain_update(&s, next);
            update.unless_transaction_linked = true;
            update.release_binding = true;
            update.events = events::failed(&update.session, now);
            if self.write(&update).await? {
                return Ok(update.session);
            }
            if let Some(tx) = self.transactions.transaction_of_session(id).await? {
                return self.adopt_start(id, &tx).await;
            }
        }
        Err(SessionError::busy())
    }

    /// The charger started a transaction for the session: pending or starting → charging, the
    /// reservation it used → used. Returns the session as it is afterwards.
    async fn adopt_start(
        &self,
        id: &SessionId,
        tx: &ChargingTransaction,
    ) -> Result<ChargingSession, SessionError> {
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            if s.transaction_id == Some(tx.id) {
                return Ok(s);
            }
            let Ok(state) = s
                .state
                .apply(crate::session::SessionEvent::TransactionStarted)
            else {
                // Failed or ended meanwhile: the transaction belongs to nobody; stop it.
                self.stop_orphan(tx.charger_id.clone(), tx.id);
                return Ok(s);
            };
            let now = self.now();
            let mut next = s.clone();
            next.state = state;
            next.transaction_id = Some(tx.id);
            next.started_at = Some(tx.started_at);
            next.meter_start = Some(tx.meter_start);
            next.meter_last = Some(tx.meter_last.unwrap_or(tx.meter_start));
            next.metered_at = Some(tx.meter_last_at.unwrap_or(tx.started_at));
            next.energy = tx.energy().unwrap_or(Wh::ZERO);
            if next.accepted_at.is_none() {
                next.accepted_at = Some(now);
            }
            // The charger is talking to us.
            next.charger_offline_since = None;
            let reservation = match &s.reservation_id {
                Some(rid) => match self.store.get_reservation(rid).await {
                    Ok(r)
                        if r.state
                            .apply(crate::reservation::ReservationEvent::Consumed)
                            .is_ok() =>
                    {
                        let mut used = r.clone();
                        used.state = ReservationState::Used;
                        used.session_id = Some(s.id.clone());
                        used.ended_at = Some(now);
                        let used = self.reservation_successor(&r, used);
                        Some(ReservationUpdate {
                            events: events::reservation_used(&used, now),
                            expected_version: r.version,
                            reservation: used,
                        })
                    }
                    Ok(_) | Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                },
                None => None,
            };
            let mut update = self.plain_update(&s, next);
            if s.state == SessionState::Pending {
                // The charger's start overtook its answer to RemoteStart: the partner still
                // learns both steps, in order.
                update.events = events::starting(&update.session, now);
            }
            update.events.extend(events::started(&update.session, now));
            update.reservation = reservation;
            if self.write(&update).await? {
                return Ok(update.session);
            }
        }
        Err(SessionError::busy())
    }

    // ---- stop ----------------------------------------------------------------------------

    /// Asks the charger to stop a partner's charging session: `stopping` once it accepted.
    pub async fn stop(&self, caller: &Caller, id: &str) -> Result<ChargingSession, SessionError> {
        let s = self.session(caller, id).await?;
        match s.state {
            SessionState::Charging => {}
            // Asked before and accepted: the same answer.
            SessionState::Stopping => return Ok(s),
            other => {
                return Err(SessionError::NotActive {
                    entity: "session",
                    id: s.id.to_string(),
                    state: other.as_str(),
                });
            }
        }
        self.request_stop(&s.id, StopRequester::Partner).await
    }

    /// Records who asked for the stop, sends RemoteStopTransaction and moves the session to
    /// stopping when the charger accepted. A failed partner stop is forgotten (the partner got
    /// the error); a failed limit stop is retried by the sweep.
    async fn request_stop(
        &self,
        id: &SessionId,
        by: StopRequester,
    ) -> Result<ChargingSession, SessionError> {
        let mut marked = None;
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            if s.state != SessionState::Charging {
                return Ok(s);
            }
            let mut next = s.clone();
            next.stop_requested_at = Some(self.now());
            next.stop_requested_by = Some(by);
            let update = self.plain_update(&s, next);
            if self.write(&update).await? {
                marked = Some(update.session);
                break;
            }
        }
        let s = marked.ok_or_else(SessionError::busy)?;
        let Some(tx) = s.transaction_id else {
            return Ok(s);
        };
        let outcome = self
            .gateway
            .send(
                &s.charger_id,
                ChargerCommand::RemoteStopTransaction {
                    transaction_id: tx.get(),
                },
            )
            .await;
        let failure = match outcome {
            Ok(reply) if reply.is_accepted() => None,
            Ok(reply) => Some(Failure::new(
                StartFailure::ChargerRejected,
                format!(
                    "the charger answered {} to RemoteStopTransaction",
                    reply_status(&reply)
                ),
            )),
            Err(e) => Some(gateway_failure(&e)),
        };
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            if s.state != SessionState::Charging {
                // The StopTransaction overtook the answer.
                return Ok(s);
            }
            let now = self.now();
            let mut next = s.clone();
            let update = match &failure {
                None => {
                    next.state = SessionState::Stopping;
                    next.stop_attempts = 0;
                    let mut u = self.plain_update(&s, next);
                    u.events = events::updated(&u.session, now);
                    u
                }
                Some(_) if by == StopRequester::Partner => {
                    next.stop_requested_at = None;
                    next.stop_requested_by = None;
                    self.plain_update(&s, next)
                }
                // A limit stop that failed stays requested: the sweep retries it.
                Some(_) => break,
            };
            if self.write(&update).await? {
                if failure.is_none() {
                    return Ok(update.session);
                }
                break;
            }
        }
        match failure {
            None => Err(SessionError::busy()),
            Some(f) => Err(SessionError::failure(Failure {
                session_id: Some(id.clone()),
                ..f
            })),
        }
    }

    /// Stops a transaction that no live session owns (started too late, or for a session we
    /// closed), after giving the charger time to take in our answer to its start.
    fn stop_orphan(&self, charger: ChargerId, tx: TransactionId) {
        let delay = self.config.orphan_stop_delay;
        self.spawn(move |me| async move {
            me.runtime.sleep(delay).await;
            let command = ChargerCommand::RemoteStopTransaction {
                transaction_id: tx.get(),
            };
            match me.gateway.send(&charger, command).await {
                Ok(reply) if reply.is_accepted() => {}
                Ok(reply) => me.warn(format!(
                    "charger {charger} answered {} to stopping orphan transaction {tx}",
                    reply_status(&reply)
                )),
                Err(e) => me.warn(format!(
                    "could not stop orphan transaction {tx} on charger {charger}: {e}"
                )),
            }
        });
    }

    // ---- reactions to chargers -----------------------------------------------------------

    /// A StartTransaction was recorded: link it to its session, record a local session for
    /// the operator's own tags, or stop a transaction started with the tag of a session that
    /// is over.
    pub async fn on_transaction_started(
        &self,
        start: &TransactionStart,
        recorded: &StartRecorded,
    ) -> Result<(), SessionError> {
        if let Some(sid) = &recorded.verdict.session_id {
            // The transaction as just recorded (no need to read it back).
            let tx = ChargingTransaction {
                id: recorded.transaction_id,
                charger_id: start.charger_id.clone(),
                connector: start.connector,
                id_tag: start.id_tag.clone(),
                tag_status: recorded.verdict.status,
                session_id: Some(sid.clone()),
                reservation_id: start.reservation_id,
                meter_start: start.meter_start,
                started_at: start.started_at,
                meter_last: None,
                meter_last_at: None,
                meter_stop: None,
                stopped_at: None,
                stop_reason: None,
                stop_id_tag: None,
            };
            // The charger waits for our answer, and commands to its other connectors wait
            // behind it (one CALL at a time each way): the session's bookkeeping runs next to
            // the answer, not before it. The store linked the transaction to the session
            // already, so nothing is lost if it does not complete: a late meter value is
            // simply not attributed yet, the stop adopts the start itself, and a timeout
            // cannot fail a session with a linked transaction (the sweep adopts it instead).
            let sid = sid.clone();
            self.spawn(move |me| async move {
                if let Err(e) = me.adopt_start(&sid, &tx).await {
                    me.warn(format!("session {sid}: recording its start failed: {e}"));
                }
            });
            return Ok(());
        }
        if recorded.verdict.status == TagStatus::Accepted {
            return self.record_local(start, recorded.transaction_id).await;
        }
        // A refused tag: if it was one of our sessions' (a start after the session failed),
        // make sure the charger does not go on charging.
        if let Some(s) = self.store.session_of_id_tag(&start.id_tag).await?
            && s.charger_id == start.charger_id
            && !s.is_active()
            && s.transaction_id != Some(recorded.transaction_id)
        {
            self.stop_orphan(start.charger_id.clone(), recorded.transaction_id);
        }
        Ok(())
    }

    /// Records a session started at the charger with one of the operator's own tags.
    async fn record_local(
        &self,
        start: &TransactionStart,
        tx_id: TransactionId,
    ) -> Result<(), SessionError> {
        let Some(number) = start.connector else {
            return Ok(());
        };
        let charger = self.network.get_charger(&start.charger_id).await?;
        let station = self
            .network
            .get_station(&charger.charger.station_id)
            .await?;
        let filter = ConnectorFilter {
            charger_id: Some(start.charger_id.clone()),
            include_retired: true,
            ..ConnectorFilter::default()
        };
        let connectors = self
            .network
            .list_connectors(&filter, &PageRequest::first(PageRequest::MAX_LIMIT))
            .await?;
        let Some(view) = connectors
            .items
            .into_iter()
            .find(|c| c.connector.number == number)
        else {
            return Ok(());
        };
        let now = self.now();
        let mut s = ChargingSession {
            id: SessionId::parse(self.ids.next())?,
            origin: SessionOrigin::Local,
            partner_id: None,
            partner_order_id: None,
            user_ref: None,
            station_id: station.id.clone(),
            charger_id: start.charger_id.clone(),
            connector_id: view.connector.id.clone(),
            connector_number: number,
            tariff_id: station.tariff_id.clone(),
            reservation_id: None,
            limit: None,
            state: SessionState::Charging,
            failure: None,
            failure_detail: None,
            id_tag: start.id_tag.clone(),
            transaction_id: Some(tx_id),
            created_at: now,
            updated_at: now,
            accepted_at: None,
            started_at: Some(start.started_at),
            meter_start: Some(start.meter_start),
            meter_last: Some(start.meter_start),
            metered_at: Some(start.started_at),
            energy: Wh::ZERO,
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
        };
        s.next_check_at = s.next_check(&self.deadlines);
        self.store.record_local_session(&s).await?;
        // A transaction on a connector whose previous session is still `finishing` (only a
        // card can start there: the claim keeps partners out): that idle time ends here.
        let on_connector = std::slice::from_ref(&s.connector_id);
        for f in self
            .store
            .active_sessions_on(&start.charger_id, Some(on_connector))
            .await?
        {
            if f.state == SessionState::Finishing {
                self.finish_idle(&f.id, start.started_at, SessionEvent::ConnectorFreed)
                    .await?;
            }
        }
        Ok(())
    }

    /// MeterValues of a transaction: the session's energy, power, state of charge and running
    /// cost; a throttled `session.updated`; the limit, stopping the session when reached.
    /// The session record is rewritten at most every `meter_write_interval` (chargers may
    /// report every few seconds), except when a limit is reached or the charger is back.
    pub async fn on_meter_values(
        &self,
        report: &MeterReport,
        recorded: &MeterRecorded,
    ) -> Result<(), SessionError> {
        // The store read the transaction's session link in the transaction that recorded the
        // values: without one (a transaction started with a tag no session owns) there is
        // nothing to react to, so nothing is looked up.
        let Some(tx_id) = report
            .transaction_id
            .filter(|_| recorded.linked && recorded.session_linked)
            .and_then(|id| TransactionId::new(id).ok())
        else {
            return Ok(());
        };
        let Some(mut s) = self.store.session_of_transaction(tx_id).await? else {
            return Ok(());
        };
        if !matches!(s.state, SessionState::Charging | SessionState::Stopping) {
            return Ok(());
        }
        let tx = self.transactions.get_transaction(tx_id).await?;
        let now = self.now();
        let write_due =
            s.cost.is_none() || now - s.updated_at >= chrono_of(self.config.meter_write_interval);
        let energy_hit = matches!(
            (s.limit, tx.energy()),
            (Some(SessionLimit::EnergyWh(limit)), Some(e)) if e >= limit
        );
        let amount_limit = matches!(s.limit, Some(SessionLimit::Amount(_)));
        let back = s.charger_offline_since.is_some() && self.gateway.is_connected(&s.charger_id);
        if !(write_due || energy_hit || amount_limit || back) {
            return Ok(());
        }
        let samples = self.transactions.transaction_samples(tx_id).await?;
        let (power, soc) = latest_power_and_soc(&samples);
        let power_at = samples
            .iter()
            .filter(|x| matches!(x.measurement, Measurement::PowerImport(_)))
            .map(|x| x.at)
            .max()
            .zip(power);
        let end = tx.meter_last.zip(tx.meter_last_at).map(|(wh, at)| (at, wh));
        let cost = self.price(&s, &tx, &samples, end).await;
        let mut limit_reached = false;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                s = self.store.get_session(&s.id).await?;
                if !matches!(s.state, SessionState::Charging | SessionState::Stopping) {
                    return Ok(());
                }
            }
            let mut next = s.clone();
            next.meter_last = tx.meter_last.or(s.meter_last);
            next.metered_at = tx.meter_last_at.or(s.metered_at);
            next.energy = cost
                .as_ref()
                .map(|c| c.energy)
                .or_else(|| tx.energy())
                .unwrap_or(s.energy);
            next.power = power.or(s.power);
            next.soc_percent = soc.or(s.soc_percent);
            // The vehicle draws power again after it was reported full: charging has not
            // finished after all (its idle clock starts again at the next report, or the stop).
            if next.state == SessionState::Charging
                && s.charging_finished_at
                    .is_some_and(|t| power_at.is_some_and(|(at, w)| at > t && w.0 > 0))
            {
                next.charging_finished_at = None;
            }
            if cost.is_some() {
                next.cost = cost.clone();
            }
            // Meter values prove the charger is back (they may be ones it queued offline).
            if back {
                next.charger_offline_since = None;
            }
            let reached = next.state == SessionState::Charging
                && next.stop_requested_at.is_none()
                && next.limit.is_some_and(|l| l.reached(&next, now));
            if !(write_due || reached || back) {
                return Ok(());
            }
            let emit = back
                || s.updated_event_at
                    .is_none_or(|t| now - t >= chrono_of(self.config.update_event_interval));
            if emit {
                next.updated_event_at = Some(now);
            }
            let mut update = self.plain_update(&s, next);
            if emit {
                update.events = events::updated(&update.session, now);
            }
            if self.write(&update).await? {
                limit_reached = reached;
                break;
            }
        }
        if limit_reached {
            let id = s.id.clone();
            self.spawn(move |me| async move {
                if let Err(e) = me.request_stop(&id, StopRequester::Limit).await {
                    me.warn(format!("session {id} reached its limit; stop failed: {e}"));
                }
            });
        }
        Ok(())
    }

    /// A StopTransaction was recorded (now, or before a restart): the session completes with
    /// the charger's meter values and reason, priced by the tariff version in force at its
    /// start.
    pub async fn on_transaction_stopped(
        &self,
        recorded: &StopRecorded,
    ) -> Result<(), SessionError> {
        let tx = match recorded {
            StopRecorded::Stopped(tx) | StopRecorded::AlreadyStopped(tx) => tx,
            StopRecorded::Orphan => return Ok(()),
        };
        self.complete_with(tx).await.map(|_| ())
    }

    async fn complete_with(
        &self,
        tx: &ChargingTransaction,
    ) -> Result<Option<ChargingSession>, SessionError> {
        let mut found = self.store.session_of_transaction(tx.id).await?;
        if found.is_none()
            && let Some(sid) = &tx.session_id
        {
            // The start was recorded but its session never heard of it (a crash in between).
            found = Some(self.adopt_start(sid, tx).await?);
        }
        let Some(found) = found else {
            return Ok(None);
        };
        let (Some(meter_stop), Some(stopped_at)) = (tx.meter_stop, tx.stopped_at) else {
            return Ok(Some(found));
        };
        let samples = self.transactions.transaction_samples(tx.id).await?;
        let tariff = self.tariff(&found.tariff_id, tx.started_at).await;
        // Idle time is billed only under a tariff with an idle fee; then a connector that is
        // still occupied keeps the session `finishing` until it is freed. Without one the
        // session completes here, as it always did.
        let bills_idle = tariff.as_ref().is_some_and(|t| t.idle_fee.is_some());
        let freed = if bills_idle {
            self.freed_after_stop(&found.connector_id).await?
        } else {
            None
        };
        let charger_reason = tx.stop_reason.unwrap_or(StopReason::Local);
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(&found.id).await?;
            if s.transaction_id != Some(tx.id) {
                return Ok(Some(s));
            }
            let event = if bills_idle && freed.is_none() {
                SessionEvent::StoppedOccupied
            } else {
                SessionEvent::TransactionStopped
            };
            let Ok(state) = s.state.apply(event) else {
                return Ok(Some(s));
            };
            // Charging finished when the vehicle was first reported full, or at the stop.
            let ended = s
                .charging_finished_at
                .map_or(stopped_at, |t| t.min(stopped_at));
            let idle = freed.filter(|_| bills_idle).map(|f| (ended, f.max(ended)));
            let priced = tariff
                .as_ref()
                .map(|t| self.price_with(t, tx, &samples, Some((stopped_at, meter_stop)), idle));
            let cost = priced
                .clone()
                .map(|p| SessionCost::from_priced(found.tariff_id.clone(), p));
            let now = self.now();
            let mut next = s.clone();
            next.state = state;
            next.meter_last = Some(meter_stop);
            next.metered_at = Some(stopped_at);
            next.stopped_at = Some(stopped_at);
            next.charging_finished_at = Some(ended);
            next.freed_at = idle.map(|(_, f)| f);
            next.energy = cost
                .as_ref()
                .map(|c| c.energy)
                .or_else(|| tx.energy())
                .unwrap_or(Wh::ZERO);
            next.power = None;
            next.stop_reason = Some(match (s.stop_requested_by, s.limit) {
                // We stopped it for its limit; the charger reports our RemoteStop.
                (Some(StopRequester::Limit), Some(limit))
                    if charger_reason == StopReason::Remote =>
                {
                    limit.stop_reason()
                }
                _ => SessionStopReason::Charger(charger_reason),
            });
            next.charger_offline_since = None;
            match &cost {
                Some(c) => {
                    if c.meter_anomaly {
                        next.review_required = true;
                        next.review_reason =
                            Some("the meter register went down during the session".into());
                    }
                    next.cost = Some(c.clone());
                }
                None => {
                    next.review_required = true;
                    next.review_reason = Some("no tariff in force to price the session".into());
                }
            }
            let mut update = self.plain_update(&s, next);
            if state == SessionState::Completed {
                update.cdr =
                    priced.and_then(|p| self.cdr_of(&s, tx, (stopped_at, meter_stop), p, now));
                update.events = events::completed(&update.session, now, update.cdr.as_ref());
            } else {
                // Energy is final; the partner learns the idle clock runs.
                update.events = events::updated(&update.session, now);
            }
            if self.write(&update).await? {
                if state == SessionState::Finishing
                    && let Some(f) = self.freed_after_stop(&s.connector_id).await?
                {
                    // The status that freed the connector may have been handled before this
                    // write (it found no `finishing` session then): it is not lost.
                    self.finish_idle(&s.id, f, SessionEvent::ConnectorFreed)
                        .await?;
                    return Ok(Some(self.store.get_session(&s.id).await?));
                }
                return Ok(Some(update.session));
            }
        }
        Err(SessionError::busy())
    }

    /// When the connector was freed, if its status says it is free now (see
    /// [`frees_connector`]). `charging` does not count here: right after a stop it is the
    /// stopped transaction's own status, not yet replaced by the charger's next report.
    async fn freed_after_stop(
        &self,
        connector: &ConnectorId,
    ) -> Result<Option<DateTime<Utc>>, SessionError> {
        let view = match self.network.get_connector(connector).await {
            Ok(v) => v,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let status = view.state.status;
        Ok(
            (frees_connector(status) && status != ConnectorStatus::Charging)
                .then_some(view.state.changed_at),
        )
    }

    /// Completes a `finishing` session: the connector was freed at `freed` (or the idle cap
    /// was reached, `freed` being the cap), its idle time priced with the energy, its CDR
    /// written with the completion. False when the session was not `finishing`.
    async fn finish_idle(
        &self,
        id: &SessionId,
        freed: DateTime<Utc>,
        event: SessionEvent,
    ) -> Result<bool, SessionError> {
        let first = self.store.get_session(id).await?;
        let (SessionState::Finishing, Some(tx_id)) = (first.state, first.transaction_id) else {
            return Ok(false);
        };
        let tx = self.transactions.get_transaction(tx_id).await?;
        let samples = self.transactions.transaction_samples(tx_id).await?;
        let stop = match (tx.stopped_at, tx.meter_stop) {
            (Some(at), Some(wh)) => (at, wh),
            _ => (
                first.stopped_at.unwrap_or(freed),
                first.meter_last.unwrap_or(tx.meter_start),
            ),
        };
        let tariff = self.tariff(&first.tariff_id, tx.started_at).await;
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            let Ok(state) = s.state.apply(event) else {
                return Ok(false);
            };
            let ended = s.charging_finished_at.or(s.stopped_at).unwrap_or(stop.0);
            let freed = freed.max(ended);
            let priced = tariff
                .as_ref()
                .map(|t| self.price_with(t, &tx, &samples, Some(stop), Some((ended, freed))));
            let now = self.now();
            let mut next = s.clone();
            next.state = state;
            next.freed_at = Some(freed);
            if let Some(p) = &priced {
                next.cost = Some(SessionCost::from_priced(s.tariff_id.clone(), p.clone()));
            }
            if event == SessionEvent::IdleCapReached {
                let why = format!(
                    "the connector was still occupied {} s after charging finished; idle time \
                     billed up to that cap",
                    self.config.idle_cap.as_secs()
                );
                next.review_required = true;
                next.review_reason = Some(match s.review_reason.clone() {
                    Some(earlier) => format!("{earlier}; {why}"),
                    None => why,
                });
            }
            let mut update = self.plain_update(&s, next);
            update.cdr = priced.and_then(|p| self.cdr_of(&s, &tx, stop, p, now));
            update.events = events::completed(&update.session, now, update.cdr.as_ref());
            if self.write(&update).await? {
                return Ok(true);
            }
        }
        Err(SessionError::busy())
    }

    /// Connector status changes: a fault or a lost charger marks its sessions
    /// `charger_offline`; its return clears the mark and stops transactions nobody owns; a
    /// reservation the charger dropped (reserved → available) has expired. The vehicle reported
    /// full (charging → SuspendedEV) starts a session's idle clock, charging again clears it;
    /// a connector freed after its transaction completes a `finishing` session.
    pub async fn on_status_changes(
        &self,
        changes: &[ConnectorStatusChanged],
    ) -> Result<(), SessionError> {
        let lost =
            |s: ConnectorStatus| matches!(s, ConnectorStatus::Offline | ConnectorStatus::Faulted);
        let mut back_chargers: Vec<ChargerId> = Vec::new();
        for c in changes {
            let now_lost = lost(c.state.status);
            let was_lost = lost(c.previous);
            // Only a partner-visible change is reported, so SuspendedEV is seen when it follows
            // charging (SuspendedEVSE → SuspendedEV is not; the stop time counts then).
            let suspended = c.previous == ConnectorStatus::Charging
                && c.state.ocpp_status == Some(ChargePointStatus::SuspendedEV);
            // A new transaction taking a `finishing` session's connector over (`charging`) is
            // seen at its start instead (`record_local`: partners cannot start there, the claim
            // holds it), so nothing is looked up on the path every start takes (available →
            // occupied → charging).
            let frees =
                frees_connector(c.state.status) && c.state.status != ConnectorStatus::Charging;
            // The store says whether the connector had an active session when it recorded
            // the change: with none, there is nothing to look up.
            let none_here = c.active_session == Some(false);
            if (now_lost != was_lost || suspended || frees) && !none_here {
                let sessions = self
                    .store
                    .active_sessions_on(&c.charger_id, Some(std::slice::from_ref(&c.connector_id)))
                    .await?;
                for s in sessions {
                    if s.state == SessionState::Finishing {
                        // Out of `offline`, the first status may be the charger-wide one
                        // applied to every connector: the re-check confirms it instead.
                        if frees && c.previous == ConnectorStatus::Offline {
                            self.confirm_freed_later(s.id.clone(), s.connector_id.clone());
                        } else if frees {
                            self.finish_idle(
                                &s.id,
                                c.state.changed_at,
                                SessionEvent::ConnectorFreed,
                            )
                            .await?;
                        }
                        continue;
                    }
                    if now_lost != was_lost {
                        self.set_offline(&s.id, now_lost).await?;
                    }
                    if suspended {
                        self.set_charging_finished(&s.id, Some(c.state.changed_at))
                            .await?;
                    }
                }
            }
            if c.previous == ConnectorStatus::Offline
                && c.state.status != ConnectorStatus::Offline
                && !back_chargers.contains(&c.charger_id)
            {
                back_chargers.push(c.charger_id.clone());
            }
            if c.previous == ConnectorStatus::Reserved
                && matches!(
                    c.state.status,
                    ConnectorStatus::Available
                        | ConnectorStatus::Faulted
                        | ConnectorStatus::Unavailable
                )
                && let Some(r) = self.store.reservation_on(&c.connector_id).await?
                && r.is_active()
                && r.cancel_requested_at.is_none()
            {
                self.end_reservation(&r.id, ReservationState::Expired)
                    .await?;
            }
        }
        for charger in back_chargers {
            self.spawn(move |me| async move {
                if let Err(e) = me.reconcile(&charger).await {
                    me.warn(format!("could not reconcile charger {charger}: {e}"));
                }
            });
        }
        Ok(())
    }

    /// Completes a `finishing` session after `status_settle_delay` if its connector is still
    /// free then (the sweep's re-check does the same later, should this process stop first).
    fn confirm_freed_later(&self, id: SessionId, connector: ConnectorId) {
        let delay = self.config.status_settle_delay;
        self.spawn(move |me| async move {
            me.runtime.sleep(delay).await;
            let result = match me.freed_after_stop(&connector).await {
                Ok(Some(freed)) => me
                    .finish_idle(&id, freed, SessionEvent::ConnectorFreed)
                    .await
                    .map(|_| ()),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                me.warn(format!(
                    "session {id}: confirming its freed connector failed: {e}"
                ));
            }
        });
    }

    /// Starts the idle clock of a session whose transaction runs: the vehicle reported full
    /// (the first report counts; meter values showing power again clear it, see
    /// [`SessionService::on_meter_values`]).
    async fn set_charging_finished(
        &self,
        id: &SessionId,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), SessionError> {
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            if !s.state.has_transaction() || s.charging_finished_at.is_some() == at.is_some() {
                return Ok(());
            }
            let mut next = s.clone();
            next.charging_finished_at = at;
            let update = self.plain_update(&s, next);
            if self.write(&update).await? {
                return Ok(());
            }
        }
        Err(SessionError::busy())
    }

    /// Marks (or clears) a session's `charger_offline`, for started sessions.
    async fn set_offline(&self, id: &SessionId, offline: bool) -> Result<(), SessionError> {
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            if !matches!(s.state, SessionState::Charging | SessionState::Stopping)
                || s.charger_offline_since.is_some() == offline
            {
                return Ok(());
            }
            let now = self.now();
            let mut next = s.clone();
            next.charger_offline_since = offline.then_some(now);
            let mut update = self.plain_update(&s, next);
            update.events = events::updated(&update.session, now);
            if self.write(&update).await? {
                return Ok(());
            }
        }
        Err(SessionError::busy())
    }

    /// A charger is back: its open transactions are matched with our sessions. One linked to
    /// a session that is over (failed, or closed as connection lost while the charger was
    /// away) is stopped; one whose session never heard of it is adopted.
    pub async fn reconcile(&self, charger: &ChargerId) -> Result<(), SessionError> {
        for tx in self.transactions.open_transactions(charger).await? {
            let session = match &tx.session_id {
                Some(sid) => Some(self.store.get_session(sid).await?),
                None => self.store.session_of_transaction(tx.id).await?,
            };
            match session {
                Some(s) if !s.is_active() => self.stop_orphan(charger.clone(), tx.id),
                Some(s) if s.transaction_id.is_none() => {
                    self.adopt_start(&s.id, &tx).await?;
                }
                Some(_) => {}
                None if tx.tag_status != TagStatus::Accepted
                    && self
                        .store
                        .session_of_id_tag(&tx.id_tag)
                        .await?
                        .is_some_and(|s| !s.is_active() && &s.charger_id == charger) =>
                {
                    self.stop_orphan(charger.clone(), tx.id);
                }
                None => {}
            }
        }
        Ok(())
    }

    // ---- time ----------------------------------------------------------------------------

    /// After a restart: no charger is connected yet, so every started session is marked
    /// `charger_offline` (the mark clears when its charger reports again); pending and
    /// starting sessions keep their deadlines and are resumed by a late start or failed by
    /// the sweep.
    pub async fn recover(&self) -> Result<usize, SessionError> {
        let mut marked = 0;
        for s in self.store.active_sessions().await? {
            if matches!(s.state, SessionState::Charging | SessionState::Stopping)
                && s.charger_offline_since.is_none()
                && !self.gateway.is_connected(&s.charger_id)
            {
                self.set_offline(&s.id, true).await?;
                marked += 1;
            }
        }
        Ok(marked)
    }

    /// Handles everything due now: starts that timed out, chargers that did not come back,
    /// duration limits, stops to retry, reservations that expired or were never answered.
    pub async fn sweep(&self) -> Result<SweepReport, SessionError> {
        let mut report = SweepReport::default();
        let now = self.now();
        for s in self.store.due_sessions(now, 200).await? {
            self.handle_due(s, now, &mut report).await?;
        }
        for r in self.store.due_reservations(now, 200).await? {
            match r.state {
                ReservationState::Pending => {
                    let reason = StartFailure::ChargerTimeout;
                    if self
                        .fail_reservation(&r.id, reason, "no answer to ReserveNow")
                        .await?
                    {
                        report.reservations_failed += 1;
                    }
                }
                ReservationState::Active if r.expires_at <= now => {
                    if self
                        .end_reservation(&r.id, ReservationState::Expired)
                        .await?
                    {
                        report.reservations_expired += 1;
                    }
                }
                _ => {
                    let next = self.reservation_successor(&r, r.clone());
                    self.store
                        .update_reservation(&ReservationUpdate {
                            reservation: next,
                            expected_version: r.version,
                            events: Vec::new(),
                        })
                        .await?;
                }
            }
        }
        Ok(report)
    }

    async fn handle_due(
        &self,
        s: ChargingSession,
        now: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<(), SessionError> {
        let d = &self.deadlines;
        match s.state {
            SessionState::Pending => {
                let after = self
                    .fail_start(
                        &s.id,
                        StartFailure::ChargerTimeout,
                        "no answer to RemoteStartTransaction",
                    )
                    .await?;
                report.sessions_failed += usize::from(after.state == SessionState::Failed);
            }
            SessionState::Starting => {
                let detail = format!(
                    "no StartTransaction within {} s of the charger accepting (cable not plugged in?)",
                    self.config.start_timeout.as_secs()
                );
                let after = self
                    .fail_start(&s.id, StartFailure::StartTimeout, &detail)
                    .await?;
                report.sessions_failed += usize::from(after.state == SessionState::Failed);
            }
            SessionState::Charging | SessionState::Stopping => {
                if s.charger_offline_since
                    .is_some_and(|t| t + d.connection_lost_timeout <= now)
                {
                    let review = format!(
                        "the charger did not come back within {} s; closed on its last meter \
                         value",
                        self.config.connection_lost_timeout.as_secs()
                    );
                    if self
                        .close_unstopped(
                            &s.id,
                            SessionStopReason::ConnectionLost,
                            SessionEvent::TransactionStopped,
                            review,
                        )
                        .await?
                    {
                        report.sessions_lost += 1;
                    }
                    return Ok(());
                }
                if s.state == SessionState::Stopping
                    && s.charger_offline_since.is_none()
                    && s.stop_requested_at
                        .is_some_and(|t| t + d.stop_timeout <= now)
                {
                    return self.unconfirmed_stop(s, report).await;
                }
                let retry = s.stop_requested_at.is_some_and(|t| t + d.stop_retry <= now)
                    && s.stop_requested_by == Some(StopRequester::Limit);
                let limit =
                    s.stop_requested_at.is_none() && s.limit.is_some_and(|l| l.reached(&s, now));
                if s.state == SessionState::Charging && (retry || limit) {
                    report.limit_stops += 1;
                    // Move the check forward first, so the next sweep does not send it again.
                    let mut next = s.clone();
                    next.stop_requested_at = Some(now);
                    next.stop_requested_by = Some(StopRequester::Limit);
                    let update = self.plain_update(&s, next);
                    if self.write(&update).await? {
                        let id = s.id.clone();
                        self.spawn(move |me| async move {
                            if let Err(e) = me.send_limit_stop(&id).await {
                                me.warn(format!("limit stop of session {id} failed: {e}"));
                            }
                        });
                    }
                    return Ok(());
                }
                // Nothing to do yet (the record's check time is stale): move it.
                let update = self.plain_update(&s, s.clone());
                self.write(&update).await?;
            }
            SessionState::Finishing => {
                let cap = s
                    .charging_finished_at
                    .or(s.stopped_at)
                    .unwrap_or(s.updated_at)
                    + d.idle_cap;
                if let Some(freed) = self.freed_after_stop(&s.connector_id).await? {
                    // Freed, but not acted on when it was reported.
                    self.finish_idle(&s.id, freed.min(cap), SessionEvent::ConnectorFreed)
                        .await?;
                } else if cap <= now {
                    // Nothing freed the connector in time: idle time is billed up to the cap.
                    if self
                        .finish_idle(&s.id, cap, SessionEvent::IdleCapReached)
                        .await?
                    {
                        report.idle_capped += 1;
                    }
                } else {
                    let update = self.plain_update(&s, s.clone());
                    self.write(&update).await?;
                }
            }
            SessionState::Completed | SessionState::Failed => {
                let update = self.plain_update(&s, s.clone());
                self.write(&update).await?;
            }
        }
        Ok(())
    }

    /// The charger accepted RemoteStopTransaction `stop_timeout` ago and sent no
    /// StopTransaction while online. If it reports the connector not charging (it was asked
    /// at the previous attempt), or the retries are used up, the session is closed as
    /// `stop_unconfirmed`; otherwise the stop is sent again, with requests for the connector's
    /// status and a meter reading. The attempt is recorded before anything is sent, so the
    /// sweep (of this process, or of the next one after a restart) never sends it twice.
    async fn unconfirmed_stop(
        &self,
        s: ChargingSession,
        report: &mut SweepReport,
    ) -> Result<(), SessionError> {
        if !self.gateway.is_connected(&s.charger_id) {
            // Gone, but not marked yet: the status change that follows marks it offline and
            // the connection-lost timeout takes over. Look again after another timeout.
            let mut next = s.clone();
            next.stop_requested_at = Some(self.now());
            self.write(&self.plain_update(&s, next)).await?;
            return Ok(());
        }
        let view = self.network.get_connector(&s.connector_id).await?;
        let attempts = s.stop_attempts;
        let idle_report = reports_not_charging(view.state.status, view.state.ocpp_status);
        if idle_report || attempts >= self.config.stop_retries {
            let review = if idle_report {
                format!(
                    "the charger accepted RemoteStopTransaction but sent no StopTransaction; it                      reports the connector {}; closed on its last meter value",
                    view.state.ocpp_status.map_or_else(
                        || view.state.status.as_str().to_string(),
                        |o| format!("{o:?}")
                    )
                )
            } else {
                format!(
                    "the charger accepted RemoteStopTransaction {} times but sent no                      StopTransaction; closed on its last meter value",
                    attempts + 1
                )
            };
            if self
                .close_unstopped(
                    &s.id,
                    SessionStopReason::StopUnconfirmed,
                    SessionEvent::StopUnconfirmed,
                    review,
                )
                .await?
            {
                report.stops_unconfirmed += 1;
            }
            return Ok(());
        }
        let mut next = s.clone();
        next.stop_attempts = attempts + 1;
        next.stop_requested_at = Some(self.now());
        if self.write(&self.plain_update(&s, next)).await? {
            report.stops_resent += 1;
            let id = s.id.clone();
            self.spawn(move |me| async move {
                if let Err(e) = me.resend_stop(&id).await {
                    me.warn(format!(
                        "sending the stop of session {id} again failed: {e}"
                    ));
                }
            });
        }
        Ok(())
    }

    /// Asks the charger for a fresh meter reading, to stop the session's transaction again,
    /// and for its connector's status (which the next check reads). Answers are not needed:
    /// what the charger does (a StopTransaction, a status) arrives as its own messages.
    async fn resend_stop(&self, id: &SessionId) -> Result<(), SessionError> {
        let s = self.store.get_session(id).await?;
        let Some(tx) = s
            .transaction_id
            .filter(|_| s.state == SessionState::Stopping)
        else {
            return Ok(());
        };
        let connector = Some(s.connector_number);
        // OCPP 1.6 §5.17 TriggerMessage, §5.12 RemoteStopTransaction.
        let commands = [
            ChargerCommand::TriggerMessage {
                message: TriggerableMessage::MeterValues,
                connector,
            },
            ChargerCommand::RemoteStopTransaction {
                transaction_id: tx.get(),
            },
            ChargerCommand::TriggerMessage {
                message: TriggerableMessage::StatusNotification,
                connector,
            },
        ];
        for command in commands {
            let action = command.action();
            match self.gateway.send(&s.charger_id, command).await {
                Ok(reply) if reply.is_accepted() => {}
                Ok(reply) => self.warn(format!(
                    "session {id}: the charger answered {} to {action}",
                    reply_status(&reply)
                )),
                Err(e) => self.warn(format!("session {id}: {action} failed: {e}")),
            }
        }
        Ok(())
    }

    /// Sends the RemoteStop of a limit stop already recorded as requested.
    async fn send_limit_stop(&self, id: &SessionId) -> Result<(), SessionError> {
        let s = self.store.get_session(id).await?;
        let Some(tx) = s
            .transaction_id
            .filter(|_| s.state == SessionState::Charging)
        else {
            return Ok(());
        };
        let reply = self
            .gateway
            .send(
                &s.charger_id,
                ChargerCommand::RemoteStopTransaction {
                    transaction_id: tx.get(),
                },
            )
            .await;
        if !reply.as_ref().is_ok_and(CommandReply::is_accepted) {
            return Ok(());
        }
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            let Ok(state) = s.state.apply(crate::session::SessionEvent::StopAccepted) else {
                return Ok(());
            };
            let now = self.now();
            let mut next = s.clone();
            next.state = state;
            next.stop_attempts = 0;
            let mut update = self.plain_update(&s, next);
            update.events = events::updated(&update.session, now);
            if self.write(&update).await? {
                return Ok(());
            }
        }
        Err(SessionError::busy())
    }

    /// Closes a session without the charger's StopTransaction (its charger did not come back
    /// in time: `connection_lost`; it never confirmed an accepted stop: `stop_unconfirmed`):
    /// completed with `reason`, priced on the last meter value (no idle time: when charging
    /// really ended is not known), flagged for review with `review`.
    async fn close_unstopped(
        &self,
        id: &SessionId,
        reason: SessionStopReason,
        event: SessionEvent,
        review: String,
    ) -> Result<bool, SessionError> {
        let s = self.store.get_session(id).await?;
        let (tx, samples) = match s.transaction_id {
            Some(t) => (
                Some(self.transactions.get_transaction(t).await?),
                self.transactions.transaction_samples(t).await?,
            ),
            None => (None, Vec::new()),
        };
        // Priced up to the last meter value we have (the start's, if none came).
        let last = tx.as_ref().map(|tx| {
            (
                tx.meter_last_at.unwrap_or(tx.started_at),
                tx.meter_last.unwrap_or(tx.meter_start),
            )
        });
        let priced = match (&tx, last) {
            (Some(tx), Some(end)) => self.price_raw(&s, tx, &samples, Some(end)).await,
            _ => None,
        };
        let cost = priced
            .clone()
            .map(|p| SessionCost::from_priced(s.tariff_id.clone(), p));
        for _ in 0..MAX_ATTEMPTS {
            let s = self.store.get_session(id).await?;
            let Ok(state) = s.state.apply(event) else {
                return Ok(false);
            };
            let now = self.now();
            let mut next = s.clone();
            next.state = state;
            next.stopped_at = Some(
                last.map(|(at, _)| at)
                    .or(s.charger_offline_since)
                    .unwrap_or(now),
            );
            next.stop_reason = Some(reason);
            next.power = None;
            if let Some(c) = &cost {
                next.energy = c.energy;
                next.cost = Some(c.clone());
            }
            next.review_required = true;
            next.review_reason = Some(review.clone());
            let mut update = self.plain_update(&s, next);
            update.cdr = match (&tx, last, priced.clone()) {
                (Some(tx), Some(stop), Some(p)) => self.cdr_of(&s, tx, stop, p, now),
                _ => None,
            };
            update.events = events::completed(&update.session, now, update.cdr.as_ref());
            if self.write(&update).await? {
                return Ok(true);
            }
        }
        Err(SessionError::busy())
    }

    // ---- reservations --------------------------------------------------------------------

    /// A partner's own reservation.
    pub async fn reservation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Reservation, SessionError> {
        let rid = ReservationId::parse(id).map_err(|_| not_found("reservation", id))?;
        match self.store.get_reservation(&rid).await {
            Ok(r) if r.partner_id == caller.partner_id => Ok(r),
            Ok(_) | Err(StoreError::NotFound) => Err(not_found("reservation", id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Reserves a connector: the checks, the pending record, ReserveNow; `active` once the
    /// charger accepted.
    pub async fn reserve(
        &self,
        caller: &Caller,
        req: ReserveRequest,
    ) -> Result<Reserved, SessionError> {
        validate_order_id("partner_order_id", &req.partner_order_id)?;
        let max = i64::try_from(self.config.max_reservation.as_secs()).unwrap_or(i64::MAX);
        let duration_s = u32::try_from(req.duration_s)
            .ok()
            .filter(|d| (1..=max).contains(&i64::from(*d)))
            .ok_or_else(|| {
                ValidationError::new(
                    "duration_s",
                    format!("must be a whole number of seconds from 1 to {max}"),
                )
            })?;
        if let Some(r) = self
            .store
            .reservation_of_order(&caller.partner_id, &req.partner_order_id)
            .await?
        {
            return Self::replay_reservation(r, &req, duration_s);
        }
        self.check_partner(&caller.partner_id).await?;
        let target = self.target(caller, &req.connector_id).await?;
        match target.status {
            ConnectorStatus::Available => {}
            ConnectorStatus::Reserved => {
                return Err(Failure::new(
                    StartFailure::ConnectorReserved,
                    "the connector is reserved already",
                )
                .into());
            }
            ConnectorStatus::Offline => {
                return Err(Failure::new(
                    StartFailure::ChargerOffline,
                    "the charger is not connected",
                )
                .into());
            }
            other => {
                return Err(Self::unavailable(
                    other,
                    format!("the connector is {}", other.as_str()),
                ));
            }
        }
        if !self.gateway.is_connected(&target.charger_id) {
            return Err(
                Failure::new(StartFailure::ChargerOffline, "the charger is not connected").into(),
            );
        }
        let now = self.now();
        let mut r = Reservation {
            id: ReservationId::parse(self.ids.next())?,
            ocpp_id: 0,
            partner_id: caller.partner_id.clone(),
            partner_order_id: req.partner_order_id.clone(),
            station_id: target.station_id.clone(),
            charger_id: target.charger_id.clone(),
            connector_id: target.connector_id.clone(),
            connector_number: target.number,
            id_tag: fresh_tag(self.ids.as_ref()),
            state: ReservationState::Pending,
            failure: None,
            failure_detail: None,
            duration_s,
            created_at: now,
            updated_at: now,
            expires_at: now + chrono::Duration::seconds(i64::from(duration_s)),
            ended_at: None,
            session_id: None,
            cancel_requested_at: None,
            next_check_at: None,
            version: 1,
        };
        r.next_check_at = r.next_check(&self.deadlines);
        let r = match self.store.create_reservation(&r).await {
            Ok(Created::New(r)) => r,
            Ok(Created::Existing(r)) => return Self::replay_reservation(r, &req, duration_s),
            Err(StoreError::Conflict { constraint }) => {
                return Err(if constraint == constraints::CONNECTOR_SESSION {
                    Self::unavailable(target.status, "a session holds the connector")
                } else {
                    Failure::new(
                        StartFailure::ConnectorReserved,
                        "the connector is reserved already",
                    )
                    .into()
                });
            }
            Err(e) => return Err(e.into()),
        };
        // OCPP 1.6 §5.13: the charger holds the connector for the tag until the expiry.
        let command = ChargerCommand::ReserveNow {
            connector: r.connector_number,
            expiry: r.expires_at,
            id_tag: r.id_tag.clone(),
            reservation_id: r.ocpp_id,
        };
        let failure = match self.gateway.send(&r.charger_id, command).await {
            Ok(reply) if reply.is_accepted() => None,
            Ok(reply) => {
                let status = reply_status(&reply);
                let detail = format!("the charger answered {status} to ReserveNow");
                Some(match status.as_str() {
                    "Occupied" | "Faulted" | "Unavailable" => Failure {
                        connector_status: Some(match status.as_str() {
                            "Occupied" => ConnectorStatus::Occupied,
                            "Faulted" => ConnectorStatus::Faulted,
                            _ => ConnectorStatus::Unavailable,
                        }),
                        ..Failure::new(StartFailure::ConnectorUnavailable, detail)
                    },
                    _ => Failure::new(StartFailure::ChargerRejected, detail),
                })
            }
            Err(e) => Some(gateway_failure(&e)),
        };
        match failure {
            None => {
                let r = self.activate_reservation(&r.id).await?;
                Ok(Reserved {
                    reservation: r,
                    replay: false,
                })
            }
            Some(f) => {
                self.fail_reservation(&r.id, f.reason, &f.detail).await?;
                Err(SessionError::failure(Failure {
                    reservation_id: Some(r.id.clone()),
                    ..f
                }))
            }
        }
    }

    fn replay_reservation(
        r: Reservation,
        req: &ReserveRequest,
        duration_s: u32,
    ) -> Result<Reserved, SessionError> {
        if r.connector_id.as_str() != req.connector_id || r.duration_s != duration_s {
            return Err(SessionError::OrderConflict {
                entity: "reservation",
                id: r.id.to_string(),
                order: req.partner_order_id.clone(),
            });
        }
        if r.state == ReservationState::Failed {
            return Err(SessionError::failure(Failure {
                reservation_id: Some(r.id.clone()),
                ..Failure::new(
                    r.failure.unwrap_or(StartFailure::ChargerRejected),
                    r.failure_detail.unwrap_or_default(),
                )
            }));
        }
        Ok(Reserved {
            reservation: r,
            replay: true,
        })
    }

    async fn activate_reservation(&self, id: &ReservationId) -> Result<Reservation, SessionError> {
        for _ in 0..MAX_ATTEMPTS {
            let r = self.store.get_reservation(id).await?;
            let Ok(state) = r
                .state
                .apply(crate::reservation::ReservationEvent::Accepted)
            else {
                return Ok(r);
            };
            let now = self.now();
            let mut next = r.clone();
            next.state = state;
            let next = self.reservation_successor(&r, next);
            let update = ReservationUpdate {
                events: events::reservation_created(&next, now),
                expected_version: r.version,
                reservation: next,
            };
            if self.store.update_reservation(&update).await? {
                return Ok(update.reservation);
            }
        }
        Err(SessionError::busy())
    }

    async fn fail_reservation(
        &self,
        id: &ReservationId,
        reason: StartFailure,
        detail: &str,
    ) -> Result<bool, SessionError> {
        for _ in 0..MAX_ATTEMPTS {
            let r = self.store.get_reservation(id).await?;
            let Ok(state) = r.state.apply(crate::reservation::ReservationEvent::Refused) else {
                return Ok(false);
            };
            let mut next = r.clone();
            next.state = state;
            next.failure = Some(reason);
            next.failure_detail = Some(detail.to_string());
            next.ended_at = Some(self.now());
            let next = self.reservation_successor(&r, next);
            let update = ReservationUpdate {
                reservation: next,
                expected_version: r.version,
                events: Vec::new(),
            };
            if self.store.update_reservation(&update).await? {
                return Ok(true);
            }
        }
        Err(SessionError::busy())
    }

    /// Active → cancelled or expired, with its event. False when it was not active.
    async fn end_reservation(
        &self,
        id: &ReservationId,
        to: ReservationState,
    ) -> Result<bool, SessionError> {
        let event = match to {
            ReservationState::Cancelled => crate::reservation::ReservationEvent::Cancel,
            _ => crate::reservation::ReservationEvent::Expire,
        };
        for _ in 0..MAX_ATTEMPTS {
            let r = self.store.get_reservation(id).await?;
            let Ok(state) = r.state.apply(event) else {
                return Ok(false);
            };
            let now = self.now();
            let mut next = r.clone();
            next.state = state;
            next.ended_at = Some(now);
            let next = self.reservation_successor(&r, next);
            let events = if state == ReservationState::Cancelled {
                events::reservation_cancelled(&next, now)
            } else {
                events::reservation_expired(&next, now)
            };
            let update = ReservationUpdate {
                reservation: next,
                expected_version: r.version,
                events,
            };
            if self.store.update_reservation(&update).await? {
                return Ok(true);
            }
        }
        Err(SessionError::busy())
    }

    /// Cancels a partner's active reservation: CancelReservation to the charger (whatever it
    /// answers, or if it cannot be reached, the reservation ends on our side: the partner's
    /// hold is released; the charger's own expiry clears what it kept).
    pub async fn cancel_reservation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Reservation, SessionError> {
        let r = self.reservation(caller, id).await?;
        if r.state != ReservationState::Active {
            return Err(SessionError::NotActive {
                entity: "reservation",
                id: r.id.to_string(),
                state: r.state.as_str(),
            });
        }
        // Mark the request first, so the charger's status change that follows is not read as
        // its own expiry.
        let mut marked = false;
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.store.get_reservation(&r.id).await?;
            if !cur.is_active() {
                break;
            }
            let mut next = cur.clone();
            next.cancel_requested_at = Some(self.now());
            let next = self.reservation_successor(&cur, next);
            if self
                .store
                .update_reservation(&ReservationUpdate {
                    reservation: next,
                    expected_version: cur.version,
                    events: Vec::new(),
                })
                .await?
            {
                marked = true;
                break;
            }
        }
        if marked {
            // OCPP 1.6 §5.1.
            let command = ChargerCommand::CancelReservation {
                reservation_id: r.ocpp_id,
            };
            if let Err(e) = self.gateway.send(&r.charger_id, command).await {
                self.warn(format!(
                    "reservation {} cancelled here; the charger was not told: {e}",
                    r.id
                ));
            }
            self.end_reservation(&r.id, ReservationState::Cancelled)
                .await?;
        }
        let after = self.store.get_reservation(&r.id).await?;
        if after.state == ReservationState::Cancelled {
            Ok(after)
        } else {
            Err(SessionError::NotActive {
                entity: "reservation",
                id: after.id.to_string(),
                state: after.state.as_str(),
            })
        }
    }
}

/// The latest power (overall, or the sum of the phases of the latest reading) and state of
/// charge in `samples`.
fn latest_power_and_soc(samples: &[MeterSample]) -> (Option<Watts>, Option<Decimal>) {
    let latest_at = samples
        .iter()
        .filter(|s| matches!(s.measurement, Measurement::PowerImport(_)))
        .map(|s| s.at)
        .max();
    let power = latest_at.and_then(|at| {
        let at_latest = samples.iter().filter_map(|s| match s.measurement {
            Measurement::PowerImport(w) if s.at == at => Some((s.phase.is_none(), w)),
            _ => None,
        });
        let mut overall = None;
        let mut phases = 0i64;
        let mut any_phase = false;
        for (is_overall, w) in at_latest {
            if is_overall {
                overall = Some(w);
            } else {
                phases += w.0;
                any_phase = true;
            }
        }
        overall.or(any_phase.then_some(Watts(phases)))
    });
    let soc = samples
        .iter()
        .filter_map(|s| match s.measurement {
            Measurement::StateOfCharge(d) => Some((s.at, d)),
            _ => None,
        })
        .max_by_key(|(at, _)| *at)
        .map(|(_, d)| d);
    (power, soc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sec: i64, m: Measurement, phase: Option<&str>) -> MeterSample {
        use chrono::TimeZone;
        MeterSample {
            at: Utc.timestamp_opt(1_780_000_000 + sec, 0).unwrap(),
            measurement: m,
            phase: phase.map(str::to_string),
            context: None,
        }
    }

    #[test]
    fn a_limit_request_must_name_exactly_one_valid_limit() {
        let f = limit_of(&LimitRequest::default()).unwrap_err();
        assert_eq!(f.reason, StartFailure::LimitInvalid);
        assert_eq!(f.field.as_deref(), Some("limit"));
        let two = LimitRequest {
            energy_wh: Some(1000),
            duration_s: Some(60),
            ..LimitRequest::default()
        };
        assert_eq!(limit_of(&two).unwrap_err().field.as_deref(), Some("limit"));
        let bad_amount = LimitRequest {
            amount: Some("1.234".into()),
            ..LimitRequest::default()
        };
        let f = limit_of(&bad_amount).unwrap_err();
        assert_eq!(f.field.as_deref(), Some("limit.amount"));
        let not_a_number = LimitRequest {
            amount: Some("ten".into()),
            ..LimitRequest::default()
        };
        assert_eq!(
            limit_of(&not_a_number).unwrap_err().reason,
            StartFailure::LimitInvalid
        );
        let ok = LimitRequest {
            amount: Some("25.50".into()),
            ..LimitRequest::default()
        };
        assert_eq!(
            limit_of(&ok).unwrap(),
            SessionLimit::amount(Decimal::new(2550, 2)).unwrap()
        );
    }

    #[test]
    fn power_is_the_overall_value_or_the_sum_of_phases_of_the_latest_reading() {
        let samples = vec![
            sample(0, Measurement::PowerImport(Watts(1000)), None),
            sample(10, Measurement::PowerImport(Watts(2000)), Some("L1")),
            sample(10, Measurement::PowerImport(Watts(2100)), Some("L2")),
            sample(10, Measurement::StateOfCharge(Decimal::from(40)), None),
            sample(5, Measurement::StateOfCharge(Decimal::from(35)), None),
        ];
        let (p, soc) = latest_power_and_soc(&samples);
        assert_eq!(p, Some(Watts(4100)));
        assert_eq!(soc, Some(Decimal::from(40)));
        let (p, soc) = latest_power_and_soc(&samples[..1]);
        assert_eq!(p, Some(Watts(1000)));
        assert_eq!(soc, None);
    }

    #[test]
    fn fresh_tags_fit_ocpp_and_differ() {
        let ids = crate::ids::UuidV7Ids;
        let a = fresh_tag(&ids);
        let b = fresh_tag(&ids);
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("OP"));
        assert!(crate::charging::validate_id_tag(&a).is_ok());
        assert_ne!(a, b);
    }
}
