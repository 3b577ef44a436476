//! Events: the one catalogue of everything partners learn by push (signed webhooks) or by pull
//! (server-sent event stream, feed), and the ports through which faces and the delivery worker
//! read and deliver them (docs/design.md, "outbox").
//!
//! An [`Event`] is written by a store in the same transaction as the state change that causes
//! it, for an [`Audience`]: the partner that owns a session or reservation, or every partner that
//! may see a station. Each partner that may see it gets one row in its own feed, with a
//! per-partner, monotonically increasing sequence number (`seq`), and one delivery per enabled
//! webhook subscribed to the event's type. Partners never see other partners' sessions or
//! reservations, nor stations outside their contract (sandbox credentials: sandbox stations
//! only), because the audience is resolved once, when the event is written.
//!
//! A partner has two feeds, one per [`Environment`]: sandbox credentials read the sandbox feed
//! (sandbox stations, sandbox sessions), production credentials the production feed; account
//! events (`partner.*`, `webhook.*`) are in both; settlement events (`statement.*`) are about
//! production money and go to the production feed only.
//!
//! Partner-account events: `partner.application_decided` (approved or rejected, with the
//! reason) reaches the applicant from the moment it applied (its sandbox feed exists from
//! then); `partner.credentials_rotated` (a new client secret: its id, never the secret, and
//! until when the previous one works) and `partner.credentials_revoked` (a secret dead at
//! once) are separate types because a revocation asks the partner to act now, a rotation
//! within the grace period. Statement events are listed in [`crate::settlement::events`].
//!
//! Nothing here knows JSON, HTTP or SQL: payloads are plain serde types; stores keep them as
//! JSON and the faces render them.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::energy::{Watts, Wh};
use crate::error::{StoreError, ValidationError};
use crate::ids::{ChargerId, ConnectorId, PartnerId, ReservationId, SessionId, StationId};
use crate::money::Money;
use crate::page::Page;
use crate::partner::application::DecisionOutcome;
use crate::partner::credential::Environment;
use crate::session::StartFailure;
use crate::settlement::events::{StatementEvent, StatementEventKind};
use crate::status::ConnectorStatus;

/// A stable event id (UUIDv7: unique across nodes, ordered by creation time). Receivers use it
/// to drop duplicates: at-least-once delivery may repeat an event, never change its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(uuid::Uuid);

impl EventId {
    /// A fresh id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| ValidationError::new("event_id", "must be a UUID"))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

macro_rules! event_types {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// The type of an event: its public, stable name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum EventType {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl EventType {
            /// Every type, in catalogue order.
            pub const ALL: &'static [EventType] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

event_types! {
    /// A connector's partner-visible status changed.
    ConnectorStatusChanged = "connector.status_changed",
    /// A session was accepted by the charger and waits for the vehicle.
    SessionStarting = "session.starting",
    /// The charger started the transaction: energy may flow.
    SessionStarted = "session.started",
    /// Periodically while charging: energy, power, state of charge, running cost.
    SessionUpdated = "session.updated",
    /// The session ended; its final energy and cost.
    SessionCompleted = "session.completed",
    /// The session could not start.
    SessionFailed = "session.failed",
    ReservationCreated = "reservation.created",
    ReservationCancelled = "reservation.cancelled",
    ReservationExpired = "reservation.expired",
    /// A session consumed the reservation.
    ReservationUsed = "reservation.used",
    /// The operator approved or rejected the partner's application.
    PartnerApplicationDecided = "partner.application_decided",
    /// A client secret was issued or rotated (the old one stays valid for a grace period).
    PartnerCredentialsRotated = "partner.credentials_rotated",
    /// A client secret was revoked: it, and every token issued with it, stopped working.
    PartnerCredentialsRevoked = "partner.credentials_revoked",
    /// The period is closed; the statement awaits the partner's settlement report.
    StatementIssued = "statement.issued",
    /// The partner's report matched ours order by order.
    StatementReconciled = "statement.reconciled",
    /// The partner's report has discrepancies; the operator resolves them.
    StatementDisputed = "statement.disputed",
    /// Resolving a discrepancy put a credit CDR on the statement (its totals changed).
    StatementCreditIssued = "statement.credit_issued",
    /// The operator confirmed the statement's figures; payment is due.
    StatementConfirmed = "statement.confirmed",
    /// The statement was paid.
    StatementSettled = "statement.settled",
    /// The webhook endpoint kept failing and was disabled.
    WebhookDisabled = "webhook.disabled",
    /// Sent on request (`POST /v1/webhook/test`) to check an endpoint; never in the feed.
    WebhookTest = "webhook.test",
}

impl EventType {
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// Types that appear in the feed and stream and may be subscribed to.
    pub fn is_subscribable(self) -> bool {
        self != Self::WebhookTest
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The only currency we settle in (see [`crate::money::CURRENCY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Currency {
    #[default]
    #[serde(rename = "CNY")]
    Cny,
}

/// `connector.status_changed`. `status_seq` grows by one with every change of the connector,
/// so a receiver can drop an update older than one it already applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorStatusChangedData {
    pub station_id: StationId,
    pub charger_id: ChargerId,
    pub connector_id: ConnectorId,
    pub status: ConnectorStatus,
    pub previous_status: ConnectorStatus,
    pub status_seq: i64,
    pub changed_at: DateTime<Utc>,
}

/// What every session event says of its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    pub session_id: SessionId,
    /// The partner's own order id, as given when the session was requested.
    pub partner_order_id: String,
    pub station_id: StationId,
    pub connector_id: ConnectorId,
}

/// `session.starting`: the charger accepted RemoteStartTransaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStartingData {
    #[serde(flatten)]
    pub session: SessionRef,
    pub accepted_at: DateTime<Utc>,
}

/// `session.started`: the charger's StartTransaction arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStartedData {
    #[serde(flatten)]
    pub session: SessionRef,
    pub started_at: DateTime<Utc>,
}

/// `session.updated`: sent periodically while charging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUpdatedData {
    #[serde(flatten)]
    pub session: SessionRef,
    /// Energy delivered so far.
    pub energy_wh: Wh,
    /// Current power, when the charger reports it.
    pub power_w: Option<Watts>,
    /// The vehicle's state of charge in percent, when the charger reports it.
    pub soc_percent: Option<u8>,
    /// The cost so far by the tariff in force (an estimate until completion).
    pub running_cost: Money,
    pub currency: Currency,
    /// When the meter values were taken.
    pub measured_at: DateTime<Utc>,
}

/// One stretch of one tariff segment in a completed session's cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostSegment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The tariff's label for the period (peak, valley, …), when it has one.
    pub label: Option<String>,
    pub energy_wh: Wh,
    pub electricity_fee: Money,
    pub service_fee: Money,
}

/// The cost of a completed session, per tariff segment and in total. Amounts are rounded once
/// per line and fee; `total` is the sum of the fees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostBreakdown {
    pub segments: Vec<CostSegment>,
    pub electricity_fee: Money,
    pub service_fee: Money,
    pub idle_fee: Money,
    pub total: Money,
    pub currency: Currency,
}

/// `session.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCompletedData {
    #[serde(flatten)]
    pub session: SessionRef,
    pub energy_wh: Wh,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_s: i64,
    /// Why the session ended: a stable snake_case code (`local`, `remote`, `ev_disconnected`,
    /// `connection_lost`, `stop_unconfirmed`, `energy_limit`, …), defined by the sessions
    /// service.
    pub stop_reason: String,
    /// The final cost: the figures of the session's CDR (the same pricing, written in the same
    /// transaction).
    pub cost: CostBreakdown,
    /// The session's CDR (`GET /v1/cdrs/{id}`), written with the completion; `None` only when
    /// no tariff could price the session (then flagged for operator review).
    pub cdr_id: Option<crate::settlement::cdr::CdrId>,
    /// The idle (occupancy) charge on the CDR: billed minutes after the grace period, price
    /// per minute and fee (`cost.idle_fee`); `None` when none applies.
    pub idle: Option<crate::pricing::IdleCharge>,
}

/// `session.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFailedData {
    #[serde(flatten)]
    pub session: SessionRef,
    pub reason: StartFailure,
    pub failed_at: DateTime<Utc>,
}

/// What every reservation event says of its reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationRef {
    pub reservation_id: ReservationId,
    pub partner_order_id: String,
    pub station_id: StationId,
    pub connector_id: ConnectorId,
}

/// `reservation.created`: the charger accepted ReserveNow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationCreatedData {
    #[serde(flatten)]
    pub reservation: ReservationRef,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `reservation.cancelled` and `reservation.expired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationEndedData {
    #[serde(flatten)]
    pub reservation: ReservationRef,
    pub ended_at: DateTime<Utc>,
}

/// `reservation.used`: a session consumed the reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationUsedData {
    #[serde(flatten)]
    pub reservation: ReservationRef,
    pub session_id: SessionId,
    pub used_at: DateTime<Utc>,
}

/// `partner.application_decided`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationDecidedData {
    pub application_id: String,
    pub outcome: DecisionOutcome,
    /// The reviewer's reason (always given for rejections).
    pub reason: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// `partner.credentials_rotated`: a new secret was issued for a client. Never the secret itself:
/// only its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsRotatedData {
    pub client_id: String,
    pub environment: Environment,
    /// The new secret's id (as listed by the credentials API).
    pub secret_id: String,
    pub rotated_at: DateTime<Utc>,
    /// Until when the previous secret still works; `None` when there was no live secret (the
    /// first secret of a credential).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Secrets that were still in an earlier rotation's grace period: they stopped working now.
    pub revoked_secret_ids: Vec<String>,
}

/// `partner.credentials_revoked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsRevokedData {
    pub client_id: String,
    pub environment: Environment,
    pub secret_id: String,
    pub revoked_at: DateTime<Utc>,
}

/// `webhook.disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDisabledData {
    pub url: String,
    pub environment: Environment,
    pub failing_since: DateTime<Utc>,
    pub disabled_at: DateTime<Utc>,
    /// The last error seen.
    pub last_error: Option<String>,
}

/// `webhook.test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTestData {
    pub message: String,
    pub requested_at: DateTime<Utc>,
}

/// The payload of an event; its variant decides the event's type and subject.
///
/// Serialized, it is the inner payload alone (the type travels beside it); it is never read
/// back into this enum, since stores keep and pass on the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    ConnectorStatusChanged(ConnectorStatusChangedData),
    SessionStarting(SessionStartingData),
    SessionStarted(SessionStartedData),
    SessionUpdated(SessionUpdatedData),
    SessionCompleted(SessionCompletedData),
    SessionFailed(SessionFailedData),
    ReservationCreated(ReservationCreatedData),
    ReservationCancelled(ReservationEndedData),
    ReservationExpired(ReservationEndedData),
    ReservationUsed(ReservationUsedData),
    ApplicationDecided {
        partner_id: PartnerId,
        #[serde(flatten)]
        data: ApplicationDecidedData,
    },
    CredentialsRotated {
        partner_id: PartnerId,
        #[serde(flatten)]
        data: CredentialsRotatedData,
    },
    CredentialsRevoked {
        partner_id: PartnerId,
        #[serde(flatten)]
        data: CredentialsRevokedData,
    },
    /// Every `statement.*` type: the kind says which. Boxed: it is the largest payload.
    Statement(Box<StatementEvent>),
    WebhookDisabled {
        partner_id: PartnerId,
        #[serde(flatten)]
        data: WebhookDisabledData,
    },
    WebhookTest {
        partner_id: PartnerId,
        #[serde(flatten)]
        data: WebhookTestData,
    },
}

impl EventData {
    pub fn event_type(&self) -> EventType {
        match self {
            Self::ConnectorStatusChanged(_) => EventType::ConnectorStatusChanged,
            Self::SessionStarting(_) => EventType::SessionStarting,
            Self::SessionStarted(_) => EventType::SessionStarted,
            Self::SessionUpdated(_) => EventType::SessionUpdated,
            Self::SessionCompleted(_) => EventType::SessionCompleted,
            Self::SessionFailed(_) => EventType::SessionFailed,
            Self::ReservationCreated(_) => EventType::ReservationCreated,
            Self::ReservationCancelled(_) => EventType::ReservationCancelled,
            Self::ReservationExpired(_) => EventType::ReservationExpired,
            Self::ReservationUsed(_) => EventType::ReservationUsed,
            Self::ApplicationDecided { .. } => EventType::PartnerApplicationDecided,
            Self::CredentialsRotated { .. } => EventType::PartnerCredentialsRotated,
            Self::CredentialsRevoked { .. } => EventType::PartnerCredentialsRevoked,
            Self::Statement(e) => match e.kind {
                StatementEventKind::Issued => EventType::StatementIssued,
                StatementEventKind::Reconciled => EventType::StatementReconciled,
                StatementEventKind::Disputed => EventType::StatementDisputed,
                StatementEventKind::CreditIssued => EventType::StatementCreditIssued,
                StatementEventKind::Confirmed => EventType::StatementConfirmed,
                StatementEventKind::Settled => EventType::StatementSettled,
            },
            Self::WebhookDisabled { .. } => EventType::WebhookDisabled,
            Self::WebhookTest { .. } => EventType::WebhookTest,
        }
    }

    /// The ordering key: deliveries of one subject to one endpoint are attempted in order.
    pub fn subject(&self) -> String {
        match self {
            Self::ConnectorStatusChanged(d) => format!("connector:{}", d.connector_id),
            Self::SessionStarting(SessionStartingData { session, .. })
            | Self::SessionStarted(SessionStartedData { session, .. })
            | Self::SessionUpdated(SessionUpdatedData { session, .. })
            | Self::SessionCompleted(SessionCompletedData { session, .. })
            | Self::SessionFailed(SessionFailedData { session, .. }) => {
                format!("session:{}", session.session_id)
            }
            Self::ReservationCreated(ReservationCreatedData { reservation, .. })
            | Self::ReservationCancelled(ReservationEndedData { reservation, .. })
            | Self::ReservationExpired(ReservationEndedData { reservation, .. })
            | Self::ReservationUsed(ReservationUsedData { reservation, .. }) => {
                format!("reservation:{}", reservation.reservation_id)
            }
            Self::ApplicationDecided { partner_id, .. }
            | Self::CredentialsRotated { partner_id, .. }
            | Self::CredentialsRevoked { partner_id, .. }
            | Self::WebhookDisabled { partner_id, .. }
            | Self::WebhookTest { partner_id, .. } => format!("partner:{partner_id}"),
            Self::Statement(e) => format!("statement:{}", e.data.statement_id),
        }
    }

    /// The station the event is about, which decides its environment (a sandbox station's
    /// events go to sandbox feeds only). `None` for account events, which go to both.
    pub fn station_id(&self) -> Option<&StationId> {
        match self {
            Self::ConnectorStatusChanged(d) => Some(&d.station_id),
            Self::SessionStarting(SessionStartingData { session, .. })
            | Self::SessionStarted(SessionStartedData { session, .. })
            | Self::SessionUpdated(SessionUpdatedData { session, .. })
            | Self::SessionCompleted(SessionCompletedData { session, .. })
            | Self::SessionFailed(SessionFailedData { session, .. }) => Some(&session.station_id),
            Self::ReservationCreated(ReservationCreatedData { reservation, .. })
            | Self::ReservationCancelled(ReservationEndedData { reservation, .. })
            | Self::ReservationExpired(ReservationEndedData { reservation, .. })
            | Self::ReservationUsed(ReservationUsedData { reservation, .. }) => {
                Some(&reservation.station_id)
            }
            Self::ApplicationDecided { .. }
            | Self::CredentialsRotated { .. }
            | Self::CredentialsRevoked { .. }
            | Self::WebhookDisabled { .. }
            | Self::WebhookTest { .. }
            | Self::Statement(_) => None,
        }
    }

    /// The one feed environment an event without a station goes to: production for
    /// settlement events (statements are production money); `None` for station events (their
    /// station decides) and account events (both feeds).
    pub fn environment(&self) -> Option<Environment> {
        match self {
            Self::Statement(_) => Some(Environment::Production),
            _ => None,
        }
    }
}

/// An event as written: stable id, type (from the payload), creation time, ordering subject,
/// payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub created_at: DateTime<Utc>,
    pub data: EventData,
}

impl Event {
    /// A new event with a fresh id.
    pub fn new(data: EventData, created_at: DateTime<Utc>) -> Self {
        Self {
            id: EventId::generate(),
            created_at,
            data,
        }
    }

    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    pub fn subject(&self) -> String {
        self.data.subject()
    }
}

/// Who may see an event: resolved by the store in the transaction that writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// One partner: its own sessions and reservations, its account.
    Partner(PartnerId),
    /// Every partner that may see the station: active partners whose contract scope includes
    /// it (production), or, for a sandbox station, every partner that is not suspended
    /// (sandbox credentials).
    StationWatchers(StationId),
}

/// One partner's feed: the partner and which of its credentials' environments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub partner_id: PartnerId,
    pub environment: Environment,
}

/// An event as a partner reads it: with its place in that partner's feed. The payload is kept
/// as the JSON the store wrote (the serde form of [`EventData`]'s inner value), so readers pass
/// it on without decoding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// The per-feed sequence number: also the cursor and the SSE event id.
    pub seq: i64,
    pub id: EventId,
    pub event_type: EventType,
    pub created_at: DateTime<Utc>,
    pub subject: String,
    /// JSON object.
    pub data: String,
}

/// What a feed read asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedQuery {
    /// Events with a greater `seq`; 0 for the oldest still kept.
    pub after: i64,
    /// 1..=[`FeedQuery::MAX_LIMIT`].
    pub limit: u32,
    /// Only these types; empty for all.
    pub types: Vec<EventType>,
}

impl FeedQuery {
    pub const MAX_LIMIT: u32 = 1000;
}

/// A page of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    pub events: Vec<FeedEvent>,
    /// Where the next read continues: the `seq` of the last event returned, or, when there were
    /// none (or all were filtered out), the position reached, so that polling with a filter
    /// does not rescan the same events.
    pub next_after: i64,
    /// The `seq` of the newest event in the feed: more to read while `next_after` is below it.
    pub last_seq: i64,
}

/// Reading a feed failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The cursor points before the oldest event still kept: events were purged in between.
    #[error("the cursor is older than the event retention")]
    CursorExpired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a partner's webhook is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    /// The types delivered; never empty.
    pub event_types: Vec<EventType>,
    pub enabled: bool,
}

/// The `whsec_`-prefixed secret a webhook is signed with (Standard Webhooks). Its `Debug` does
/// not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub const PREFIX: &'static str = "whsec_";

    /// Wraps a secret made elsewhere (randomness is not core's business). Must be `whsec_`
    /// followed by base64 of at least 24 bytes.
    pub fn new(s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        let body = s
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| ValidationError::new("secret", "must start with whsec_"))?;
        if body.len() < 32
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(ValidationError::new(
                "secret",
                "must be base64 of at least 24 bytes",
            ));
        }
        Ok(Self(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// A partner's webhook, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub feed: FeedKey,
    pub config: WebhookConfig,
    pub secret: WebhookSecret,
    /// The secret before the last rotation, still signed with until `previous_secret_until`.
    pub previous_secret: Option<WebhookSecret>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Since when every attempt failed (cleared by a success).
    pub failing_since: Option<DateTime<Utc>>,
    /// Set when we disabled it for failing too long (the partner re-enables it with `PUT`).
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt, or being attempted.
    Pending,
    Delivered,
    /// Gave up after the retry window; replay with a retry.
    Dead,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [Self::Pending, Self::Delivered, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// What went wrong (`None` for a 2xx).
    pub error: Option<String>,
}

/// A delivery of one event to one webhook, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub event_id: EventId,
    pub event_type: EventType,
    /// The feed position of the event (`None` for test events, which are not in the feed).
    pub seq: Option<i64>,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A delivery handed to a worker: everything needed to make the request without another read.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub feed: FeedKey,
    pub url: String,
    pub secret: WebhookSecret,
    /// Still signed with during a rotation's grace period.
    pub previous_secret: Option<WebhookSecret>,
    pub event_id: EventId,
    pub event_type: EventType,
    pub event_created_at: DateTime<Utc>,
    pub subject: String,
    /// The payload JSON as stored.
    pub data: String,
    /// The event's place in the feed (`None` for test events).
    pub seq: Option<i64>,
    /// Attempts made in this retry round before this one.
    pub round_attempts: u32,
    /// When this retry round began (creation, or the last replay).
    pub round_started_at: DateTime<Utc>,
    /// Until when this worker holds it; afterwards any worker may take it again.
    pub lease_until: DateTime<Utc>,
}

/// What became of an attempt, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub delivery_id: i64,
    pub attempt: DeliveryAttempt,
    pub next: NextStep,
}

/// After an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// Give up (dead letter).
    Dead,
}

/// How workers claim deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRequest {
    pub now: DateTime<Utc>,
    /// Most deliveries to return.
    pub limit: u32,
    /// How long the claim holds before another worker may retry it (a crashed worker's
    /// deliveries come back after this).
    pub lease: Duration,
    /// Most deliveries in flight (leased, anywhere) per webhook: a slow endpoint holds no more
    /// workers than this.
    pub per_webhook: u32,
}

/// The events port: feeds, webhooks and deliveries. Writing events is not here: stores write
/// them inside the transactions of the state changes that cause them.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events of one feed after `query.after`, oldest first. `CursorExpired` when events after
    /// the cursor were purged.
    async fn read_feed(&self, feed: &FeedKey, query: &FeedQuery) -> Result<FeedPage, FeedError>;

    /// The `seq` of the newest event in the feed (0 when empty): where a new stream starts.
    async fn feed_head(&self, feed: &FeedKey) -> Result<i64, StoreError>;

    /// A handle that resolves when events may have been written (in this process; other
    /// processes are noticed by polling).
    fn event_signal(&self) -> EventSignal;

    async fn webhook(&self, feed: &FeedKey) -> Result<Option<Webhook>, StoreError>;

    /// Creates or updates the webhook. A new webhook takes `new_secret`; an existing one keeps
    /// its secret. Re-enabling clears `disabled_at` and `failing_since`.
    async fn put_webhook(
        &self,
        feed: &FeedKey,
        config: &WebhookConfig,
        new_secret: &WebhookSecret,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError>;

    /// Replaces the secret; the old one keeps signing until `previous_until`. `NotFound` without
    /// a webhook.
    async fn rotate_webhook_secret(
        &self,
        feed: &FeedKey,
        secret: &WebhookSecret,
        previous_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError>;

    /// Queues a `webhook.test` delivery (even if the webhook is disabled or not subscribed to
    /// anything). `NotFound` without a webhook.
    async fn queue_test_delivery(
        &self,
        feed: &FeedKey,
        event: &Event,
    ) -> Result<Delivery, StoreError>;

    /// Deliveries of the feed's webhook, newest first. The page key is the delivery id.
    async fn list_deliveries(
        &self,
        feed: &FeedKey,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Delivery>, StoreError>;

    /// Queues a delivery again at once (a replay): dead and delivered ones become pending.
    /// `NotFound` for another feed's delivery.
    async fn retry_delivery(
        &self,
        feed: &FeedKey,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError>;

    /// Takes due deliveries for a worker: only the oldest pending delivery of each (webhook,
    /// subject) — a later one never overtakes an earlier one — of enabled webhooks, at most
    /// `per_webhook` in flight per webhook. Concurrent claimers never get the same delivery
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_deliveries(
        &self,
        request: &ClaimRequest,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Records attempts and releases their claims; a success clears the webhook's
    /// `failing_since`, a failure sets it if unset.
    async fn record_attempts(&self, outcomes: &[AttemptOutcome]) -> Result<(), StoreError>;

    /// Records `outcomes`, then claims: a worker's loop in one step, so that the claim's
    /// per-webhook window counts only requests still in flight, never finished ones whose
    /// results wait to be written (which would cap each endpoint's rate at the window over
    /// the time results take to be recorded). A store may do both in one transaction.
    async fn record_and_claim(
        &self,
        outcomes: &[AttemptOutcome],
        request: &ClaimRequest,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        self.record_attempts(outcomes).await?;
        self.claim_deliveries(request).await
    }

    /// Disables webhooks failing since before `failing_since_before`, emitting
    /// `webhook.disabled` to their partners. Returns how many.
    async fn disable_failing_webhooks(
        &self,
        failing_since_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes events, feed rows and finished deliveries created before `before`. Returns the
    /// number of events deleted.
    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// When the next pending delivery becomes due (for the worker to sleep until then).
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// Wakes readers when events are written. Race-free by generations: a reader notes
/// [`EventSignal::generation`] *before* reading, then waits with
/// [`EventSignal::changed_since`], which resolves at once if anything was written in between.
#[derive(Clone)]
pub struct EventSignal(std::sync::Arc<dyn SignalSource>);

/// A boxed future, as the signal hands them out.
pub type SignalFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// What an [`EventSignal`] is made from (a store's notifier).
pub trait SignalSource: Send + Sync {
    /// A number that grows with every signal.
    fn generation(&self) -> u64;
    /// Resolves once the generation is greater than `generation`.
    fn changed_since(&self, generation: u64) -> SignalFuture<'_>;
}

impl EventSignal {
    pub fn new(source: std::sync::Arc<dyn SignalSource>) -> Self {
        Self(source)
    }

    pub fn generation(&self) -> u64 {
        self.0.generation()
    }

    pub fn changed_since(&self, generation: u64) -> SignalFuture<'_> {
        self.0.changed_since(generation)
    }
}

impl fmt::Debug for EventSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSignal")
    }
}

/// Whether a webhook may be sent to `ip` when private targets are not allowed: false for
/// loopback, private (RFC 1918), shared (RFC 6598), link-local, unique-local (RFC 4193),
/// site-local, multicast, broadcast, unspecified, documentation, benchmarking and reserved
/// addresses, and for IPv6 forms that embed such an IPv4 address (mapped, compatible, NAT64,
/// 6to4). What is left is the public internet.
pub fn is_public_address(ip: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    fn v4(ip: Ipv4Addr) -> bool {
        let [a, b, c, _] = ip.octets();
        !(ip.is_unspecified()
            || ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_multicast()
            || ip.is_broadcast()
            || ip.is_documentation()
            || a == 0
            || (a == 100 && (64..128).contains(&b))
            || (a == 192 && b == 0 && c == 0)
            || (a == 198 && (18..20).contains(&b))
            || a >= 240)
    }
    fn v6(ip: Ipv6Addr) -> bool {
        let seg = ip.segments();
        if let Some(mapped) = ip.to_ipv4_mapped() {
            return v4(mapped);
        }
        // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry an IPv4
        // address in the last 32 bits; 6to4 (2002::/16) in bits 16–48.
        let low = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        if seg[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
            return v4(low);
        }
        if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
            return v4(low);
        }
        if seg[0] == 0x2002 {
            let embedded = Ipv4Addr::new(
                (seg[1] >> 8) as u8,
                seg[1] as u8,
                (seg[2] >> 8) as u8,
                seg[2] as u8,
            );
            return v4(embedded);
        }
        !(ip.is_unspecified()
            || ip.is_loopback()
            || ip.is_multicast()
            || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
            || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
            || (seg[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
            || (seg[0] == 0x2001 && seg[1] == 0x0db8)) // documentation
    }
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => v6(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn event_type_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
            assert!(seen.insert(t.as_str()));
        }
        assert_eq!(EventType::parse("statement.created"), None);
        assert!(!EventType::WebhookTest.is_subscribable());
    }

    #[test]
    fn subjects_order_by_connector_session_reservation_or_partner() {
        let status = EventData::ConnectorStatusChanged(ConnectorStatusChangedData {
            station_id: StationId::parse("S1").unwrap(),
            charger_id: ChargerId::parse("CP1").unwrap(),
            connector_id: ConnectorId::parse("CP1-1").unwrap(),
            status: ConnectorStatus::Charging,
            previous_status: ConnectorStatus::Occupied,
            status_seq: 4,
            changed_at: at(),
        });
        assert_eq!(status.subject(), "connector:CP1-1");
        assert_eq!(status.station_id().map(StationId::as_str), Some("S1"));
        let session = SessionRef {
            session_id: SessionId::parse("sess1").unwrap(),
            partner_order_id: "o1".into(),
            station_id: StationId::parse("S1").unwrap(),
            connector_id: ConnectorId::parse("CP1-1").unwrap(),
        };
        let failed = EventData::SessionFailed(SessionFailedData {
            session,
            reason: StartFailure::ChargerTimeout,
            failed_at: at(),
        });
        assert_eq!(failed.subject(), "session:sess1");
        assert_eq!(failed.event_type(), EventType::SessionFailed);
        let rotated = EventData::CredentialsRotated {
            partner_id: PartnerId::parse("p1").unwrap(),
            data: CredentialsRotatedData {
                client_id: "prd_x".into(),
                environment: Environment::Production,
                secret_id: "sec-2".into(),
                rotated_at: at(),
                previous_secret_expires_at: None,
                revoked_secret_ids: vec![],
            },
        };
        assert_eq!(rotated.subject(), "partner:p1");
        assert_eq!(rotated.station_id(), None);
        assert_eq!(rotated.environment(), None);
    }

    #[test]
    fn webhook_secrets_need_the_prefix_and_enough_bytes() {
        assert!(WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(WebhookSecret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::new("whsec_short").is_err());
        assert!(WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!").is_err());
        let s = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert!(!format!("{s:?}").contains("MfKQ"));
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:0101::1",
            "::127.0.0.1",
            "2001:db8::1",
        ] {
            let ip: std::net::IpAddr = bad.parse().unwrap();
            assert!(!is_public_address(ip), "{bad}");
        }
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "203.0.114.1",
            "2400:3200::1",
            "::ffff:1.1.1.1",
            "2002:0101:0101::1",
        ] {
            let ip: std::net::IpAddr = good.parse().unwrap();
            assert!(is_public_address(ip), "{good}");
        }
    }
}
