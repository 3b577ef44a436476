//! The ports of the sessions service: [`SessionStore`] (one method = one database
//! transaction, events written in it) and [`Runtime`] (spawning and sleeping, which core does
//! not do by itself).

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::charging::{IdTagBinding, TransactionId};
use crate::error::StoreError;
use crate::event::Event;
use crate::ids::{ChargerId, ConnectorId, PartnerId, ReservationId, SessionId};
use crate::page::{Page, PageRequest};
use crate::session::SessionState;
use crate::sessions::model::{ChargingSession, Reservation};
use crate::settlement::cdr::Cdr;

/// The constraint names a [`SessionStore`] reports (PostgreSQL's names for the same rules).
pub mod constraints {
    /// Another active partner session holds the connector (one per connector: the claim).
    pub const CONNECTOR_SESSION: &str = "sessions_connector_active_key";
    /// Another partner holds an active reservation on the connector.
    pub const CONNECTOR_RESERVED: &str = "reservations_connector_held";
    /// A pending or active reservation holds the connector already.
    pub const CONNECTOR_RESERVATION: &str = "reservations_connector_active_key";
    /// The reservation a session was to use is no longer active.
    pub const RESERVATION_NOT_ACTIVE: &str = "reservations_not_active";
}

/// The outcome of an idempotent create: the new record, or the one recorded before under the
/// same partner order id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    New(T),
    Existing(T),
}

impl<T> Created<T> {
    pub fn into_inner(self) -> T {
        match self {
            Self::New(t) | Self::Existing(t) => t,
        }
    }
}

/// A partner's session to record before the charger is asked to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// State `Pending`, version 1.
    pub session: ChargingSession,
    /// The id tag the charger will start with, bound to the session in the same transaction so
    /// that the charger's StartTransaction is recognised even if it overtakes our bookkeeping.
    pub binding: IdTagBinding,
}

/// A change of a session, computed by the service: written only if the stored version is still
/// `expected_version` (otherwise nothing is written and the call returns `false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUpdate {
    /// The new values; `version` must be `expected_version + 1`.
    pub session: ChargingSession,
    pub expected_version: i64,
    /// Written only if no charger transaction is linked to the session yet: a start that has
    /// just arrived must win over a timeout that would fail the session.
    pub unless_transaction_linked: bool,
    /// Drops the session's id tag binding (a failed start: a late StartTransaction with the
    /// tag is refused).
    pub release_binding: bool,
    /// A reservation changing with the session (used by it), applied only if it is still at
    /// its expected version; skipped otherwise, without failing the session's update.
    pub reservation: Option<ReservationUpdate>,
    /// Written with the change, for the session's partner.
    pub events: Vec<Event>,
    /// The session's CDR, written with its completion (at most one per session).
    pub cdr: Option<Cdr>,
}

/// A change of a reservation, written only at the expected version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationUpdate {
    pub reservation: Reservation,
    pub expected_version: i64,
    pub events: Vec<Event>,
}

/// Which of a partner's sessions to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    pub partner_id: PartnerId,
    pub state: Option<SessionState>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Ordered by id (ids grow with creation time); `after` is the last id seen.
    pub page: PageRequest,
}

/// Sessions and reservations. One method = one transaction; every state change partners must
/// learn about writes its events in the same transaction.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Records a partner's session `Pending` with its tag binding, claiming the connector. The
    /// same partner order id again returns the session recorded then (`Existing`), whatever the
    /// content (the service compares). Conflicts: [`constraints::CONNECTOR_SESSION`] (an
    /// active partner session holds the connector), [`constraints::CONNECTOR_RESERVED`] (an
    /// active reservation of another partner), [`constraints::RESERVATION_NOT_ACTIVE`] (the
    /// session's reservation is no longer active), `id_tag_bindings_pkey` (the tag is bound to
    /// another live session).
    async fn create_session(
        &self,
        new: &NewSession,
    ) -> Result<Created<ChargingSession>, StoreError>;

    /// Records a session the charger started for one of the operator's own tags (state
    /// `Charging`, linked to its transaction). Idempotent by transaction: the session recorded
    /// for it before is returned.
    async fn record_local_session(
        &self,
        session: &ChargingSession,
    ) -> Result<ChargingSession, StoreError>;

    async fn get_session(&self, id: &SessionId) -> Result<ChargingSession, StoreError>;

    /// The session a partner recorded under its order id, if any.
    async fn session_of_order(
        &self,
        partner: &PartnerId,
        partner_order_id: &str,
    ) -> Result<Option<ChargingSession>, StoreError>;

    /// The session linked to a charger transaction.
    async fn session_of_transaction(
        &self,
        id: TransactionId,
    ) -> Result<Option<ChargingSession>, StoreError>;

    /// The latest partner session that used `id_tag` (compared case-insensitively).
    async fn session_of_id_tag(&self, id_tag: &str) -> Result<Option<ChargingSession>, StoreError>;

    /// A partner's sessions (partner origin only), by id.
    async fn list_sessions(
        &self,
        query: &SessionQuery,
    ) -> Result<Page<ChargingSession>, StoreError>;

    /// Sessions that are not completed or failed on a charger, or on some of its connectors.
    async fn active_sessions_on(
        &self,
        charger: &ChargerId,
        connectors: Option<&[ConnectorId]>,
    ) -> Result<Vec<ChargingSession>, StoreError>;

    /// Every session that is not completed or failed (at start-up).
    async fn active_sessions(&self) -> Result<Vec<ChargingSession>, StoreError>;

    /// Sessions whose `next_check_at` is at or before `at`, earliest first, at most `limit`.
    async fn due_sessions(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ChargingSession>, StoreError>;

    /// Applies `update` if the session is still at its expected version (and, if asked, has
    /// no linked transaction). `Ok(false)` when it is not: reload and decide again.
    async fn update_session(&self, update: &SessionUpdate) -> Result<bool, StoreError>;

    /// Records a reservation `Pending`, issuing its OCPP reservation id. The same partner order
    /// id again returns the one recorded then. Conflicts:
    /// [`constraints::CONNECTOR_RESERVATION`] (the connector is reserved already),
    /// [`constraints::CONNECTOR_SESSION`] (an active partner session holds it).
    async fn create_reservation(
        &self,
        reservation: &Reservation,
    ) -> Result<Created<Reservation>, StoreError>;

    async fn get_reservation(&self, id: &ReservationId) -> Result<Reservation, StoreError>;

    /// The reservation a partner recorded under its order id, if any.
    async fn reservation_of_order(
        &self,
        partner: &PartnerId,
        partner_order_id: &str,
    ) -> Result<Option<Reservation>, StoreError>;

    /// The pending or active reservation on a connector, if any.
    async fn reservation_on(
        &self,
        connector: &ConnectorId,
    ) -> Result<Option<Reservation>, StoreError>;

    /// Reservations whose `next_check_at` is at or before `at`, earliest first.
    async fn due_reservations(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Reservation>, StoreError>;

    /// Applies `update` if the reservation is still at its expected version.
    async fn update_reservation(&self, update: &ReservationUpdate) -> Result<bool, StoreError>;
}

/// A boxed future the runtime runs.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Running work in the background and waiting, provided by the server (tokio): core has no
/// runtime of its own, and tests may run the service on any executor.
pub trait Runtime: Send + Sync {
    /// Runs `task` in the background.
    fn spawn(&self, task: Task);
    /// Completes after `duration`.
    fn sleep(&self, duration: std::time::Duration) -> Task;
    /// Reports something that went wrong in background work (core does not log by itself).
    fn log_warning(&self, message: String);
}
