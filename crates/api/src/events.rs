//! Events for partners (issue 6): the pull feed (`GET /v1/events`), the server-sent event
//! stream (`GET /v1/events/stream`), the webhook routes of [`crate::webhooks`], and the
//! event catalogue of the OpenAPI document (its `webhooks` section, one JSON schema per type).
//!
//! Every channel carries the same JSON envelope, `{id, type, created_at, subject, seq, data}`:
//! `id` is stable across retries and channels, `seq` is the event's place in the partner's
//! feed (one feed per partner and credential environment) and is the feed cursor and the SSE
//! event id. Events are read through core's [`EventStore`] port; who may see what was decided
//! when the event was written, so this face only reads the caller's own feed.
//!
//! These routes need a store the rest of the face does not, so they form their own router
//! ([`router`]) with the same layers as [`crate::router`]; the server merges both.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use axum::middleware;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use openpile_core::event::{EventStore, EventType, FeedError, FeedEvent, FeedKey, FeedQuery};
use openpile_core::partner::credential::Scope;
use openpile_core::partner::service::PartnerAccess;
use serde::Serialize;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::ToSchema;

use crate::error::{self, ApiError, ApiProblem, ErrorChain, PROBLEM_JSON};
use crate::extract::{PartnerAuth, QueryMap};
use crate::{ApiState, BODY_LIMIT, webhooks};

/// Settings of the event routes (the server's `[events]` section).
#[derive(Debug, Clone)]
pub struct EventsSettings {
    /// Production webhooks may point at loopback, private or link-local addresses.
    pub allow_private_targets: bool,
    /// Sandbox webhooks may.
    pub allow_private_sandbox_targets: bool,
    /// How long the previous webhook secret still signs after a rotation.
    pub secret_grace: Duration,
    /// A comment line on idle streams this often, so proxies keep them open.
    pub heartbeat: Duration,
    /// How often an idle stream looks for events written by other server processes.
    pub poll_interval: Duration,
    /// Concurrent streams one partner may hold per environment.
    pub max_streams_per_partner: usize,
}

impl Default for EventsSettings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            allow_private_sandbox_targets: false,
            secret_grace: Duration::from_secs(24 * 3600),
            heartbeat: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            max_streams_per_partner: 10,
        }
    }
}

/// What the event and webhook handlers need. Cheap to clone.
#[derive(Clone)]
pub struct EventsState {
    pub(crate) api: ApiState,
    pub(crate) events: Arc<dyn EventStore>,
    pub(crate) settings: Arc<EventsSettings>,
    streams: Arc<Mutex<HashMap<FeedKey, usize>>>,
}

/// The event and webhook routes with their full paths, with the same problem, body-limit and
/// request-id layers as [`crate::router`]. `api` must be the state given to that router (same
/// partner service), so tokens and rate limits are shared.
pub fn router(api: ApiState, events: Arc<dyn EventStore>, settings: EventsSettings) -> Router {
    let state = EventsState {
        api,
        events,
        settings: Arc::new(settings),
        streams: Arc::new(Mutex::new(HashMap::new())),
    };
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/stream", get(stream_events))
        .route(
            "/v1/webhook",
            put(webhooks::put_webhook).get(webhooks::get_webhook),
        )
        .route("/v1/webhook/secret/rotate", post(webhooks::rotate_secret))
        .route("/v1/webhook/test", post(webhooks::test_webhook))
        .route("/v1/webhook/deliveries", get(webhooks::list_deliveries))
        .route(
            "/v1/webhook/deliveries/{id}/retry",
            post(webhooks::retry_delivery),
        )
        .layer(middleware::from_fn(error::finish_problems))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// A partner with `events:read`, and the feed its token reads.
pub(crate) struct EventsAuth {
    pub(crate) access: Arc<PartnerAccess>,
    pub(crate) feed: FeedKey,
}

impl FromRequestParts<EventsState> for EventsAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &EventsState) -> Result<Self, ApiError> {
        let auth = PartnerAuth::from_request_parts(parts, &state.api).await?;
        auth.require(Scope::EventsRead)?;
        let feed = FeedKey {
            partner_id: auth.0.partner_id.clone(),
            environment: auth.0.environment,
        };
        Ok(Self {
            access: auth.0,
            feed,
        })
    }
}

/// The errors of the event routes: the face's own, plus an expired cursor.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EventsError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the cursor is older than the event retention; start again from after=0")]
    CursorExpired,
}

impl From<FeedError> for EventsError {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::CursorExpired => Self::CursorExpired,
            FeedError::Store(s) => Self::Api(s.into()),
        }
    }
}

/// The problem code of an expired cursor (410 Gone): the events after it were purged.
pub const CURSOR_EXPIRED: &str = "cursor_expired";

impl IntoResponse for EventsError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::CursorExpired => {
                let problem = ApiProblem {
                    type_uri: format!("urn:openpile:problem:{CURSOR_EXPIRED}"),
                    title: "Cursor expired".into(),
                    status: StatusCode::GONE.as_u16(),
                    detail: self.to_string(),
                    code: CURSOR_EXPIRED.into(),
                    field: Some("after".into()),
                    retry_after_s: None,
                    scope: None,
                    request_id: None,
                };
                let mut response = error::render(StatusCode::GONE, &problem, PROBLEM_JSON);
                response.extensions_mut().insert(problem);
                response
            }
        }
    }
}

// ---- the envelope --------------------------------------------------------------------------

/// An event as every channel carries it (webhook body, SSE `data`, feed item). `data` depends
/// on `type`; see the `webhooks` section for each type's schema.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d",
    "type": "connector.status_changed",
    "created_at": "2026-11-29T10:00:00.123Z",
    "subject": "connector:CP-0001-1",
    "seq": 42,
    "data": {"station_id": "SH-0001", "charger_id": "CP-0001", "connector_id": "CP-0001-1",
             "status": "charging", "previous_status": "occupied", "status_seq": 7,
             "changed_at": "2026-11-29T10:00:00.100Z"}
}))]
pub struct EventEnvelope {
    /// Stable across retries and channels: drop duplicates by it.
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "connector.status_changed")]
    pub event_type: String,
    pub created_at: DateTime<Utc>,
    /// What the event is about; events of one subject are delivered in order.
    #[schema(example = "connector:CP-0001-1")]
    pub subject: String,
    /// The event's place in the partner's feed: the pull cursor and the SSE event id.
    pub seq: i64,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl EventEnvelope {
    pub(crate) fn from_feed(e: &FeedEvent) -> Self {
        Self {
            id: e.id.to_string(),
            event_type: e.event_type.as_str().to_string(),
            created_at: e.created_at,
            subject: e.subject.clone(),
            seq: e.seq,
            // The store wrote it from a typed payload; an unreadable one is passed as null
            // rather than failing the whole page.
            data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Oldest first.
    pub events: Vec<EventEnvelope>,
    /// Pass as `after` to continue (also when `events` is empty).
    pub next_cursor: String,
    /// More events are already waiting after `next_cursor`.
    pub has_more: bool,
}

/// `types=a,b`: known, subscribable event types.
pub(crate) fn parse_types(value: Option<&str>) -> Result<Vec<EventType>, ApiError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match EventType::parse(name).filter(|t| t.is_subscribable()) {
            Some(t) if !out.contains(&t) => out.push(t),
            Some(_) => {}
            None => {
                return Err(ApiError::invalid_query(
                    "types",
                    format!("{name:?} is not an event type"),
                ));
            }
        }
    }
    Ok(out)
}

/// A feed position: a whole number ≥ 0.
fn parse_cursor(field: &str, value: &str) -> Result<i64, ApiError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::InvalidCursor(format!(
                "{field} must be the seq of an event (a whole number ≥ 0)"
            ))
        })
}

const AUTH_ERRORS: &str = "`unauthorized`, `invalid_token`, `token_expired`, `token_revoked` or `partner_suspended` (RFC 6750, with `WWW-Authenticate`)";

// ---- pull ----------------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    security(("oauth2" = ["events:read"])),
    params(
        ("after" = Option<String>, Query, description = "`next_cursor` of the previous page, or the `seq` of the last event seen; absent or `0`: from the oldest event kept"),
        ("limit" = Option<u32>, Query, description = "1–1000, default 100", minimum = 1, maximum = 1000),
        ("types" = Option<String>, Query, description = "Comma-separated event types; default all", example = "connector.status_changed,session.completed"),
    ),
    responses(
        (status = 200, description = "Events after the cursor, oldest first", body = EventPage),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `events:read`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 410, description = "`cursor_expired`: events after the cursor were purged (retention, 7 days by default); start again with `after=0` and resynchronise statuses from `/v1/connector-statuses`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_events(
    State(state): State<EventsState>,
    auth: EventsAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<EventPage>, EventsError> {
    let q = QueryMap::parse(query.as_deref(), &["after", "limit", "types"])?;
    let after = q
        .get("after")
        .map(|s| parse_cursor("after", s))
        .transpose()?
        .unwrap_or(0);
    let limit = crate::paging::page_limit(q.get("limit"), 100, FeedQuery::MAX_LIMIT as usize)?;
    let types = parse_types(q.get("types"))?;
    let page = state
        .events
        .read_feed(
            &auth.feed,
            &FeedQuery {
                after,
                limit: u32::try_from(limit).unwrap_or(FeedQuery::MAX_LIMIT),
                types,
            },
        )
        .await?;
    Ok(Json(EventPage {
        events: page.events.iter().map(EventEnvelope::from_feed).collect(),
        next_cursor: page.next_after.to_string(),
        has_more: page.next_after < page.last_seq,
    }))
}

// ---- stream --------------------------------------------------------------------------------

/// Holds one of a partner's stream slots; gives it back when the stream ends.
struct StreamSlot {
    streams: Arc<Mutex<HashMap<FeedKey, usize>>>,
    feed: FeedKey,
}

impl StreamSlot {
    fn take(state: &EventsState, feed: &FeedKey) -> Option<Self> {
        let mut streams = state.streams.lock().unwrap_or_else(|p| p.into_inner());
        let n = streams.entry(feed.clone()).or_default();
        if *n >= state.settings.max_streams_per_partner {
            return None;
        }
        *n += 1;
        Some(Self {
            streams: state.streams.clone(),
            feed: feed.clone(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = streams.get_mut(&self.feed) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                streams.remove(&self.feed);
            }
        }
    }
}

/// Events read per store round trip while a stream catches up.
const STREAM_BATCH: u32 = 500;

/// How often a stream checks that its token still works (revoked, partner suspended).
const STREAM_REAUTH: Duration = Duration::from_secs(30);

struct StreamCursor {
    events: Arc<dyn EventStore>,
    /// The caller's token and the service that checks it: a stream ends when its token
    /// expires, is revoked or its partner is suspended, as a request would be refused.
    token: String,
    partners: Arc<openpile_core::partner::service::PartnerService>,
    expires_at: DateTime<Utc>,
    clock: Arc<dyn openpile_core::clock::Clock>,
    checked: tokio::time::Instant,
    feed: FeedKey,
    types: Vec<EventType>,
    after: i64,
    buffer: std::collections::VecDeque<FeedEvent>,
    poll: Duration,
    done: bool,
    _slot: StreamSlot,
}

impl StreamCursor {
    /// Whether the token still authenticates (checked every [`STREAM_REAUTH`]).
    async fn authorized(&mut self) -> bool {
        if self.clock.now() >= self.expires_at {
            return false;
        }
        if self.checked.elapsed() < STREAM_REAUTH {
            return true;
        }
        self.checked = tokio::time::Instant::now();
        match self.partners.authenticate(&self.token).await {
            Ok(_) => true,
            // A store hiccup is not the partner's fault: keep streaming, check again later.
            Err(openpile_core::partner::service::AuthError::Store(_)) => true,
            Err(_) => false,
        }
    }

    /// The next SSE event: buffered, or read, or waited for; `None` ends the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        if self.done {
            return None;
        }
        let signal = self.events.event_signal();
        loop {
            if !self.authorized().await {
                self.done = true;
                return Some(SseEvent::default().event("error").data(
                    "{\"code\":\"invalid_token\",\"detail\":\"the token expired or was revoked; reconnect with a new one\"}",
                ));
            }
            if let Some(e) = self.buffer.pop_front() {
                return Some(sse_event(&e));
            }
            // Noted before the read: a write in between still wakes the wait below.
            let generation = signal.generation();
            let query = FeedQuery {
                after: self.after,
                limit: STREAM_BATCH,
                types: self.types.clone(),
            };
            match self.events.read_feed(&self.feed, &query).await {
                Ok(page) => {
                    let caught_up = page.next_after >= page.last_seq;
                    self.after = page.next_after;
                    self.buffer.extend(page.events);
                    if !self.buffer.is_empty() || !caught_up {
                        continue;
                    }
                }
                Err(FeedError::CursorExpired) => {
                    // A reader slower than the retention: say so and end; the client resumes
                    // from the feed with after=0.
                    self.done = true;
                    return Some(
                        SseEvent::default()
                            .event("error")
                            .data(format!("{{\"code\":\"{CURSOR_EXPIRED}\"}}")),
                    );
                }
                Err(FeedError::Store(e)) => {
                    tracing::warn!(error = %ErrorChain(&e), "event stream read failed; retrying");
                }
            }
            let expiry = (self.expires_at - self.clock.now())
                .to_std()
                .unwrap_or_default();
            tokio::select! {
                () = signal.changed_since(generation) => {}
                () = tokio::time::sleep(self.poll) => {}
                () = tokio::time::sleep(expiry) => {}
            }
        }
    }
}

fn sse_event(e: &FeedEvent) -> SseEvent {
    let body = serde_json::to_string(&EventEnvelope::from_feed(e)).unwrap_or_default();
    SseEvent::default()
        .id(e.seq.to_string())
        .event(e.event_type.as_str())
        .data(body)
}

#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    security(("oauth2" = ["events:read"])),
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (the `id:` of the last SSE event received, its `seq`); sent by EventSource on reconnect"),
        ("after" = Option<String>, Query, description = "Start after this `seq` when there is no `Last-Event-ID`; `0` replays every event kept. Absent: only new events"),
        ("types" = Option<String>, Query, description = "Comma-separated event types; default all"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: one SSE event per event (`id:` its seq, `event:` its type, `data:` the envelope JSON), a `: heartbeat` comment every 15 s when idle. A stream that falls behind the retention gets `event: error` with `{\"code\":\"cursor_expired\"}` and ends; one whose token expires or is revoked (or whose partner is suspended) gets `event: error` with `{\"code\":\"invalid_token\"}` and ends: reconnect with a new token and `Last-Event-ID`.", content_type = "text/event-stream", body = EventEnvelope),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 401, description = AUTH_ERRORS, body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: needs `events:read`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 410, description = "`cursor_expired`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, also when the partner already holds its maximum of concurrent streams (10 by default)", body = ApiProblem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = ApiProblem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn stream_events(
    State(state): State<EventsState>,
    auth: EventsAuth,
    headers: axum::http::HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, EventsError> {
    let q = QueryMap::parse(query.as_deref(), &["after", "types"])?;
    let types = parse_types(q.get("types"))?;
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_string())
        .unwrap_or_default();
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::InvalidCursor("Last-Event-ID must be a seq".into()))
                .and_then(|s| parse_cursor("Last-Event-ID", s))
        })
        .transpose()?;
    let after = match (last_event_id, q.get("after")) {
        (Some(seq), _) => seq,
        (None, Some(a)) => parse_cursor("after", a)?,
        (None, None) => state
            .events
            .feed_head(&auth.feed)
            .await
            .map_err(ApiError::from)?,
    };
    // Fail before the stream starts if the cursor is already gone (a 410 the client can see).
    let first = state
        .events
        .read_feed(
            &auth.feed,
            &FeedQuery {
                after,
                limit: STREAM_BATCH,
                types: types.clone(),
            },
        )
        .await?;
    let slot =
        StreamSlot::take(&state, &auth.feed).ok_or(ApiError::RateLimited { retry_after_s: 5 })?;
    tracing::debug!(partner = %auth.access.partner_id, after, "event stream opened");
    let cursor = StreamCursor {
        events: state.events.clone(),
        token,
        partners: state.api.partners.clone(),
        expires_at: auth.access.expires_at,
        clock: state.api.clock.clone(),
        checked: tokio::time::Instant::now(),
        feed: auth.feed,
        types,
        after: first.next_after,
        buffer: first.events.into(),
        poll: state.settings.poll_interval,
        done: false,
        _slot: slot,
    };
    let stream =
        futures_util::stream::unfold(
            cursor,
            |mut c| async move { c.next().await.map(|e| (Ok(e), c)) },
        );
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(state.settings.heartbeat)
            .text("heartbeat"),
    ))
}

// ---- the catalogue in the OpenAPI document ---------------------------------------------------

/// The event types a partner may subscribe to, as the documentation lists them.
pub fn subscribable_types() -> impl Iterator<Item = EventType> {
    EventType::ALL
        .iter()
        .copied()
        .filter(|t| t.is_subscribable())
}

pub mod catalogue {
    //! One JSON schema per event payload, mirroring core's serde form of [`EventData`]
    //! (a test keeps the two in step), and the OpenAPI 3.1 `webhooks` section built from them.
    //!
    //! [`EventData`]: openpile_core::event::EventData

    use chrono::{DateTime, Utc};
    use openpile_core::event::EventType;
    use serde::Serialize;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::{PartialSchema, ToSchema};

    /// A connector's partner-visible status.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ConnectorStatusName {
        Available,
        Occupied,
        Charging,
        Reserved,
        Unavailable,
        Faulted,
        Offline,
    }

    /// `connector.status_changed`. Drop an update whose `status_seq` is not above the last one
    /// applied for the connector.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct ConnectorStatusChangedData {
        pub station_id: String,
        pub charger_id: String,
        pub connector_id: String,
        pub status: ConnectorStatusName,
        pub previous_status: ConnectorStatusName,
        /// Grows by one with every change of this connector's status.
        pub status_seq: i64,
        pub changed_at: DateTime<Utc>,
    }

    /// `session.starting`: the charger accepted the remote start; waiting for the vehicle.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct SessionStartingData {
        pub session_id: String,
        /// Your order id, as given when starting.
        pub partner_order_id: String,
        pub station_id: String,
        pub connector_id: String,
        pub accepted_at: DateTime<Utc>,
    }

    /// `session.started`: the charger started the transaction.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct SessionStartedData {
        pub session_id: String,
        pub partner_order_id: String,
        pub station_id: String,
        pub connector_id: String,
        pub started_at: DateTime<Utc>,
    }

    /// `session.updated`: periodically while charging.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct SessionUpdatedData {
        pub session_id: String,
        pub partner_order_id: String,
        pub station_id: String,
        pub connector_id: String,
        /// Energy so far, Wh.
        pub energy_wh: i64,
        /// Current power, W, when the charger reports it.
        pub power_w: Option<i64>,
        /// State of charge, %, when the charger reports it.
        pub soc_percent: Option<u8>,
        /// Cost so far (estimate), decimal CNY.
        #[schema(example = "12.34")]
        pub running_cost: String,
        #[schema(example = "CNY")]
        pub currency: String,
        pub measured_at: DateTime<Utc>,
    }

    /// One stretch of one tariff segment of a completed session.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct CostSegment {
        pub start: DateTime<Utc>,
        pub end: DateTime<Utc>,
        /// The tariff's label for the period (peak, valley, …).
        pub label: Option<String>,
        pub energy_wh: i64,
        #[schema(example = "8.10")]
        pub electricity_fee: String,
        #[schema(example = "4.00")]
        pub service_fee: String,
    }

    /// The cost of a session, per tariff segment and in total (decimal CNY).
    #[derive(Debug, Serialize, ToSchema)]
    pub struct CostBreakdown {
        pub segments: Vec<CostSegment>,
        pub electricity_fee: String,
        pub service_fee: String,
        pub idle_fee: String,
        pub total: String,
        #[schema(example = "CNY")]
        pub currency: String,
    }

    /// `session.completed`.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct SessionCompletedData {
        pub session_id: String,
        pub partner_order_id: String,
        pub station_id: String,
        pub connector_id: String,
        pub energy_wh: i64,
        pub started_at: DateTime<Utc>,
        pub ended_at: DateTime<Utc>,
        pub duration_s: i64,
        /// `local`, `remote`, `ev_disconnected`, `connection_lost`, a limit reached, …
        #[schema(example = "remote")]
        pub stop_reason: String,
        /// The final cost: the figures of the session's CDR.
        pub cost: CostBreakdown,
        /// The session's CDR (`GET /v1/cdrs/{id}`), written with the completion; null only
        /// when no tariff could price the session (flagged for operator review).
        pub cdr_id: Option<String>,
        /// The idle (occupancy) charge on the CDR, when one applies.
        pub idle: Option<crate::cdrs::IdleView>,
    }

    /// Why a session could not start.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum SessionFailureReason {
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

    /// `session.failed`.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct SessionFailedData {
        pub session_id: String,
        pub partner_order_id: String,
        pub station_id: String,
        pub connector_id: String,
        pub reason: SessionFailureReason,
        pub failed_at: DateTime<Utc>,
    }

    /// `reservation.created`.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct ReservationCreatedData {
        pub reservation_id: String,
        pub partner_order_id: String,
        pub station_id: String,
        pub connector_id: String,
        pub created_at: DateTime<Utc>,
        pub expires_at: DateTime<Utc>,
    }

    /// `reservation.cancelled` and `reservation.expired`.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct ReservationEndedData {
        pub reservation_id: String,
        pub partner_order_id: String,
        pub station_id: String,
        pub connector_id: String,
        pub ended_at: DateTime<Utc>,
    }

    /// `reservation.used`: a session consumed the reservation.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct ReservationUsedData {
        pub reservation_id: String,
        pub partner_order_id: String,
        pub station_id: String,
        pub connector_id: String,
        pub session_id: String,
        pub used_at: DateTime<Utc>,
    }

    /// `approved` or `rejected`.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum DecisionOutcome {
        Approved,
        Rejected,
    }

    /// `sandbox` or `production`.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum EnvironmentName {
        Sandbox,
        Production,
    }

    /// `partner.application_decided`.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct ApplicationDecidedData {
        pub partner_id: String,
        pub application_id: String,
        pub outcome: DecisionOutcome,
        /// The reviewer's reason (always for rejections).
        pub reason: Option<String>,
        pub decided_at: DateTime<Utc>,
    }

    /// `partner.credentials_rotated`: a new client secret was issued (never the secret itself).
    #[derive(Debug, Serialize, ToSchema)]
    pub struct CredentialsRotatedData {
        pub partner_id: String,
        pub client_id: String,
        pub environment: EnvironmentName,
        /// The new secret's id, as listed by `GET /v1/credentials`.
        pub secret_id: String,
        pub rotated_at: DateTime<Utc>,
        /// Until when the previous secret still works; `null` when there was none (a
        /// credential's first secret).
        pub previous_secret_expires_at: Option<DateTime<Utc>>,
        /// Secrets still in an earlier rotation's grace period: they stopped working now.
        pub revoked_secret_ids: Vec<String>,
    }

    /// `partner.credentials_revoked`: a client secret stopped working at once, with every
    /// token issued with it.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct CredentialsRevokedData {
        pub partner_id: String,
        pub client_id: String,
        pub environment: EnvironmentName,
        pub secret_id: String,
        pub revoked_at: DateTime<Utc>,
    }

    /// Where a statement is.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum StatementStateName {
        Draft,
        Reported,
        Reconciled,
        Disputed,
        Confirmed,
        Settled,
    }

    /// An amount per fee, decimal CNY.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct EventFeeSplit {
        #[schema(example = "0.00")]
        pub electricity: String,
        #[schema(example = "1.24")]
        pub service: String,
        #[schema(example = "0.00")]
        pub idle: String,
    }

    /// A statement's totals when the event was written (decimal CNY, energy in Wh).
    #[derive(Debug, Serialize, ToSchema)]
    pub struct EventStatementTotals {
        /// Session CDRs.
        pub sessions: u64,
        /// Credit CDRs.
        pub credits: u64,
        /// Wh.
        pub energy: i64,
        pub electricity_fee: String,
        pub service_fee: String,
        pub idle_fee: String,
        pub total: String,
        /// Your commission under the revenue-share terms.
        pub commission: String,
        /// `total − commission`.
        pub due_to_operator: String,
        pub commission_by_fee: EventFeeSplit,
        pub due_to_operator_by_fee: EventFeeSplit,
    }

    /// The tolerance a reconciliation applied.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct EventTolerance {
        /// Wh.
        pub energy: i64,
        /// Decimal CNY.
        pub amount: String,
    }

    /// Counts per category of a reconciliation, and the sums compared.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct EventReconciliationSummary {
        pub tolerance: EventTolerance,
        pub report_lines: u64,
        pub our_orders: u64,
        pub matched: u64,
        pub energy_mismatch: u64,
        pub amount_mismatch: u64,
        pub missing_on_partner: u64,
        pub missing_on_operator: u64,
        pub duplicate: u64,
        /// Wh.
        pub our_energy: i64,
        /// Wh.
        pub their_energy: i64,
        pub our_amount: String,
        pub their_amount: String,
        /// `their_amount − our_amount`.
        pub difference: String,
    }

    /// The credit CDR a `statement.credit_issued` event reports.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct EventStatementCredit {
        pub cdr_id: String,
        /// The CDR it corrects.
        pub original_cdr_id: String,
        /// Negative: a refund (decimal CNY).
        #[schema(example = "-1.00")]
        pub total: String,
        pub reason: String,
    }

    /// Every `statement.*` event: the statement as it stands after the change. Production feed
    /// only. `statement.issued`: closed, report now; `statement.reconciled` / `disputed`: your
    /// report was reconciled (`reconciliation` has the counts); `statement.credit_issued`: a
    /// dispute resolution put a credit CDR on it (`credit`); `statement.confirmed`: payment is
    /// due; `statement.settled`: paid (`payment_reference`).
    #[derive(Debug, Serialize, ToSchema)]
    pub struct StatementEventData {
        pub statement_id: String,
        pub partner_id: String,
        /// `2026-03` for a month; the first day for daily and weekly periods.
        #[schema(example = "2026-03")]
        pub period: String,
        pub state: StatementStateName,
        pub totals: EventStatementTotals,
        /// For `reconciled` and `disputed`.
        pub reconciliation: Option<EventReconciliationSummary>,
        /// For `credit_issued`.
        pub credit: Option<EventStatementCredit>,
        /// For `settled` (and after).
        pub payment_reference: Option<String>,
        pub at: DateTime<Utc>,
    }

    /// `webhook.disabled`: the endpoint kept failing and was disabled; `PUT /v1/webhook` with
    /// `enabled: true` turns it on again (and retries what waits at once).
    #[derive(Debug, Serialize, ToSchema)]
    pub struct WebhookDisabledData {
        pub partner_id: String,
        pub url: String,
        pub environment: EnvironmentName,
        pub failing_since: DateTime<Utc>,
        pub disabled_at: DateTime<Utc>,
        pub last_error: Option<String>,
    }

    /// `webhook.test`: sent on `POST /v1/webhook/test`; not in the feed.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct WebhookTestData {
        pub partner_id: String,
        pub message: String,
        pub requested_at: DateTime<Utc>,
    }

    /// The payload schema name and summary of each type.
    pub fn describe(t: EventType) -> (&'static str, &'static str) {
        match t {
            EventType::ConnectorStatusChanged => {
                ("ConnectorStatusChangedData", "A connector's status changed")
            }
            EventType::SessionStarting => ("SessionStartingData", "A session is starting"),
            EventType::SessionStarted => ("SessionStartedData", "A session started charging"),
            EventType::SessionUpdated => ("SessionUpdatedData", "Progress of a charging session"),
            EventType::SessionCompleted => ("SessionCompletedData", "A session completed"),
            EventType::SessionFailed => ("SessionFailedData", "A session could not start"),
            EventType::ReservationCreated => ("ReservationCreatedData", "A reservation is active"),
            EventType::ReservationCancelled => {
                ("ReservationEndedData", "A reservation was cancelled")
            }
            EventType::ReservationExpired => ("ReservationEndedData", "A reservation expired"),
            EventType::ReservationUsed => ("ReservationUsedData", "A session used a reservation"),
            EventType::PartnerApplicationDecided => (
                "ApplicationDecidedData",
                "The partner application was decided",
            ),
            EventType::PartnerCredentialsRotated => {
                ("CredentialsRotatedData", "A client secret was rotated")
            }
            EventType::PartnerCredentialsRevoked => {
                ("CredentialsRevokedData", "A client secret was revoked")
            }
            EventType::StatementIssued => (
                "StatementEventData",
                "A statement was closed and awaits your report",
            ),
            EventType::StatementReconciled => {
                ("StatementEventData", "Your report matched the statement")
            }
            EventType::StatementDisputed => ("StatementEventData", "Your report has discrepancies"),
            EventType::StatementCreditIssued => (
                "StatementEventData",
                "A credit CDR was put on the statement",
            ),
            EventType::StatementConfirmed => ("StatementEventData", "The statement was confirmed"),
            EventType::StatementSettled => ("StatementEventData", "The statement was paid"),
            EventType::WebhookDisabled => (
                "WebhookDisabledData",
                "The webhook was disabled for failing",
            ),
            EventType::WebhookTest => ("WebhookTestData", "A test delivery"),
        }
    }

    /// Every payload schema with its name (and the enums they use).
    pub fn payload_schemas() -> Vec<(String, RefOr<Schema>)> {
        let mut out = Vec::new();
        macro_rules! add {
            ($($t:ty),*) => {$(
                out.push((<$t as ToSchema>::name().into_owned(), <$t as PartialSchema>::schema()));
                <$t as ToSchema>::schemas(&mut out);
            )*};
        }
        add!(
            ConnectorStatusChangedData,
            SessionStartingData,
            SessionStartedData,
            SessionUpdatedData,
            SessionCompletedData,
            SessionFailedData,
            ReservationCreatedData,
            ReservationEndedData,
            ReservationUsedData,
            ApplicationDecidedData,
            CredentialsRotatedData,
            CredentialsRevokedData,
            StatementEventData,
            WebhookDisabledData,
            WebhookTestData
        );
        out
    }

    /// The envelope schema of one event type: `data` refers to its payload schema.
    pub fn envelope_schema(t: EventType) -> Schema {
        let (payload, summary) = describe(t);
        let string = |desc: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(desc))
                .build()
        };
        let mut b = ObjectBuilder::new()
            .description(Some(summary))
            .property("id", string("Event id (UUIDv7), the same on every retry: drop duplicates by it; also the `webhook-id` header"))
            .required("id")
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([t.as_str()])),
            )
            .required("type")
            .property(
                "created_at",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::DateTime,
                    ))),
            )
            .required("created_at")
            .property("subject", string("Ordering key: `connector:<id>`, `session:<id>`, `reservation:<id>`, `statement:<id>` or `partner:<id>`"))
            .required("subject")
            .property("data", RefOr::Ref(utoipa::openapi::Ref::from_schema_name(payload)))
            .required("data");
        if t.is_subscribable() {
            b = b
                .property(
                    "seq",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .description(Some("The event's place in your feed (per credential environment): the pull cursor and SSE id")),
                )
                .required("seq");
        }
        Schema::Object(b.build())
    }

    /// Adds the event catalogue to `doc`: payload and envelope schemas under `components`,
    /// and the OpenAPI 3.1 `webhooks` section with one `POST` per event type.
    pub fn document(doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in payload_schemas() {
            components.schemas.entry(name).or_insert(schema);
        }
        let mut hooks = serde_json::Map::new();
        for t in EventType::ALL.iter().copied() {
            let envelope = envelope_name(t);
            components
                .schemas
                .insert(envelope.clone(), RefOr::T(envelope_schema(t)));
            let (_, summary) = describe(t);
            hooks.insert(
                t.as_str().to_string(),
                serde_json::json!({
                    "post": {
                        "operationId": format!("webhook_{}", t.as_str().replace('.', "_")),
                        "summary": summary,
                        "tags": ["events"],
                        "description": format!(
                            "Delivered to your webhook when subscribed to `{}` (and in the feed and stream). \
                             Signed per Standard Webhooks: verify `webhook-signature` over `<webhook-id>.<webhook-timestamp>.<body>` \
                             with your `whsec_` secret (HMAC-SHA256; during a secret rotation two signatures are sent). \
                             At least once: drop duplicates by `id`. Events of one subject arrive in order.",
                            t.as_str()
                        ),
                        "parameters": signature_headers(),
                        "requestBody": {
                            "required": true,
                            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{envelope}")}}}
                        },
                        "responses": {
                            "2XX": {"description": "Received. Any other answer, a redirect or no answer within 10 s is retried with exponential backoff for about three days."}
                        }
                    }
                }),
            );
        }
        let extensions = doc.extensions.get_or_insert_with(Default::default);
        extensions.insert("webhooks".into(), serde_json::Value::Object(hooks));
    }

    /// `ConnectorStatusChangedEvent`, …
    pub fn envelope_name(t: EventType) -> String {
        let mut name = String::new();
        for part in t.as_str().split(['.', '_']) {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                name.extend(first.to_uppercase());
                name.push_str(chars.as_str());
            }
        }
        name.push_str("Event");
        name
    }

    fn signature_headers() -> serde_json::Value {
        serde_json::json!([
            {"name": "webhook-id", "in": "header", "required": true, "schema": {"type": "string"},
             "description": "The event id"},
            {"name": "webhook-timestamp", "in": "header", "required": true, "schema": {"type": "integer"},
             "description": "Unix seconds when this attempt was signed; reject if far from now"},
            {"name": "webhook-signature", "in": "header", "required": true, "schema": {"type": "string"},
             "description": "`v1,<base64 HMAC-SHA256>`, space-separated when several secrets are valid"}
        ])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;
    use openpile_core::event::*;
    use openpile_core::ids::{
        ChargerId, ConnectorId, PartnerId, ReservationId, SessionId, StationId,
    };
    use openpile_core::money::Money;
    use openpile_core::partner::application::DecisionOutcome;
    use openpile_core::partner::credential::Environment;
    use openpile_core::session::StartFailure;
    use openpile_core::status::ConnectorStatus;
    use serde_json::Value;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()
    }

    /// A payload of every type, as core serializes it.
    fn sample(t: EventType) -> EventData {
        let session = SessionRef {
            session_id: SessionId::parse("s1").unwrap(),
            partner_order_id: "o1".into(),
            station_id: StationId::parse("SH-0101").unwrap(),
            connector_id: ConnectorId::parse("CP-1").unwrap(),
        };
        let reservation = ReservationRef {
            reservation_id: ReservationId::parse("r1").unwrap(),
            partner_order_id: "o2".into(),
            station_id: StationId::parse("SH-0101").unwrap(),
            connector_id: ConnectorId::parse("CP-1").unwrap(),
        };
        let partner_id = PartnerId::parse("p1").unwrap();
        let money = Money::new(rust_decimal::Decimal::new(1234, 2));
        match t {
            EventType::ConnectorStatusChanged => {
                EventData::ConnectorStatusChanged(ConnectorStatusChangedData {
                    station_id: StationId::parse("SH-0101").unwrap(),
                    charger_id: ChargerId::parse("CP").unwrap(),
                    connector_id: ConnectorId::parse("CP-1").unwrap(),
                    status: ConnectorStatus::Charging,
                    previous_status: ConnectorStatus::Occupied,
                    status_seq: 3,
                    changed_at: at(),
                })
            }
            EventType::SessionStarting => EventData::SessionStarting(SessionStartingData {
                session,
                accepted_at: at(),
            }),
            EventType::SessionStarted => EventData::SessionStarted(SessionStartedData {
                session,
                started_at: at(),
            }),
            EventType::SessionUpdated => EventData::SessionUpdated(SessionUpdatedData {
                session,
                energy_wh: openpile_core::energy::Wh(1500),
                power_w: Some(openpile_core::energy::Watts(60_000)),
                soc_percent: Some(40),
                running_cost: money,
                currency: Currency::Cny,
                measured_at: at(),
            }),
            EventType::SessionCompleted => EventData::SessionCompleted(SessionCompletedData {
                session,
                energy_wh: openpile_core::energy::Wh(1500),
                started_at: at(),
                ended_at: at(),
                duration_s: 600,
                stop_reason: "remote".into(),
                cost: CostBreakdown {
                    segments: vec![CostSegment {
                        start: at(),
                        end: at(),
                        label: Some("peak".into()),
                        energy_wh: openpile_core::energy::Wh(1500),
                        electricity_fee: money,
                        service_fee: money,
                    }],
                    electricity_fee: money,
                    service_fee: money,
                    idle_fee: Money::ZERO,
                    total: money,
                    currency: Currency::Cny,
                },
                cdr_id: Some(openpile_core::settlement::cdr::CdrId::for_session(
                    &openpile_core::ids::SessionId::parse("s-1").unwrap(),
                )),
                idle: Some(openpile_core::pricing::IdleCharge {
                    minutes: 3,
                    price_per_minute: openpile_core::money::UnitPrice::new(
                        "price",
                        rust_decimal::Decimal::new(5000, 4),
                    )
                    .unwrap(),
                    fee: money,
                }),
            }),
            EventType::SessionFailed => EventData::SessionFailed(SessionFailedData {
                session,
                reason: StartFailure::StartTimeout,
                failed_at: at(),
            }),
            EventType::ReservationCreated => {
                EventData::ReservationCreated(ReservationCreatedData {
                    reservation,
                    created_at: at(),
                    expires_at: at(),
                })
            }
            EventType::ReservationCancelled => {
                EventData::ReservationCancelled(ReservationEndedData {
                    reservation,
                    ended_at: at(),
                })
            }
            EventType::ReservationExpired => EventData::ReservationExpired(ReservationEndedData {
                reservation,
                ended_at: at(),
            }),
            EventType::ReservationUsed => EventData::ReservationUsed(ReservationUsedData {
                reservation,
                session_id: SessionId::parse("s1").unwrap(),
                used_at: at(),
            }),
            EventType::PartnerApplicationDecided => EventData::ApplicationDecided {
                partner_id,
                data: ApplicationDecidedData {
                    application_id: "a1".into(),
                    outcome: DecisionOutcome::Rejected,
                    reason: Some("incomplete".into()),
                    decided_at: at(),
                },
            },
            EventType::PartnerCredentialsRotated => EventData::CredentialsRotated {
                partner_id,
                data: CredentialsRotatedData {
                    client_id: "prd_x".into(),
                    environment: Environment::Production,
                    secret_id: "sec-2".into(),
                    rotated_at: at(),
                    previous_secret_expires_at: Some(at()),
                    revoked_secret_ids: vec!["sec-0".into()],
                },
            },
            EventType::PartnerCredentialsRevoked => EventData::CredentialsRevoked {
                partner_id,
                data: CredentialsRevokedData {
                    client_id: "prd_x".into(),
                    environment: Environment::Production,
                    secret_id: "sec-1".into(),
                    revoked_at: at(),
                },
            },
            EventType::StatementIssued
            | EventType::StatementReconciled
            | EventType::StatementDisputed
            | EventType::StatementCreditIssued
            | EventType::StatementConfirmed
            | EventType::StatementSettled => statement_sample(t, partner_id, money),
            EventType::WebhookDisabled => EventData::WebhookDisabled {
                partner_id,
                data: WebhookDisabledData {
                    url: "https://x.example".into(),
                    environment: Environment::Sandbox,
                    failing_since: at(),
                    disabled_at: at(),
                    last_error: None,
                },
            },
            EventType::WebhookTest => EventData::WebhookTest {
                partner_id,
                data: WebhookTestData {
                    message: "m".into(),
                    requested_at: at(),
                },
            },
        }
    }

    /// A statement event of type `t`, with every optional part filled so that the schema check
    /// sees every field.
    fn statement_sample(t: EventType, partner_id: PartnerId, money: Money) -> EventData {
        use openpile_core::settlement::cdr::CdrId;
        use openpile_core::settlement::events::{
            StatementCredit, StatementEvent, StatementEventData, StatementEventKind,
        };
        use openpile_core::settlement::reconcile::{ReconciliationSummary, Tolerance};
        use openpile_core::settlement::statement::{StatementState, StatementTotals};
        let kind = StatementEventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == t.as_str())
            .unwrap();
        EventData::Statement(Box::new(StatementEvent {
            kind,
            data: StatementEventData {
                statement_id: openpile_core::ids::StatementId::parse("st1").unwrap(),
                partner_id,
                period: "2026-03".into(),
                state: StatementState::Disputed,
                totals: StatementTotals {
                    total: money,
                    ..Default::default()
                },
                reconciliation: Some(ReconciliationSummary {
                    tolerance: Tolerance::default(),
                    report_lines: 2,
                    our_orders: 2,
                    matched: 1,
                    energy_mismatch: 0,
                    amount_mismatch: 1,
                    missing_on_partner: 0,
                    missing_on_operator: 0,
                    duplicate: 0,
                    our_energy: openpile_core::energy::Wh(1500),
                    their_energy: openpile_core::energy::Wh(1500),
                    our_amount: money,
                    their_amount: money,
                    difference: Money::ZERO,
                }),
                credit: Some(StatementCredit {
                    cdr_id: CdrId::parse("CR-1").unwrap(),
                    original_cdr_id: CdrId::parse("s1").unwrap(),
                    total: money,
                    reason: "r".into(),
                }),
                payment_reference: Some("PAY-1".into()),
                at: at(),
            },
        }))
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn every_payload_has_exactly_the_fields_its_schema_documents() {
        let schemas: std::collections::HashMap<String, Value> = catalogue::payload_schemas()
            .into_iter()
            .map(|(name, s)| (name, serde_json::to_value(s).unwrap()))
            .collect();
        for t in EventType::ALL.iter().copied() {
            let data = sample(t);
            assert_eq!(data.event_type(), t);
            let json = serde_json::to_value(&data).unwrap();
            let (name, _) = catalogue::describe(t);
            let schema = &schemas[name];
            assert_eq!(keys(&json), keys(&schema["properties"]), "{t}");
            for required in schema["required"].as_array().unwrap() {
                assert!(
                    json.get(required.as_str().unwrap()).is_some(),
                    "{t}: {required}"
                );
            }
            // Enumerated values are among the documented ones.
            for (field, value) in json.as_object().unwrap() {
                let prop = &schema["properties"][field];
                let target = prop["$ref"]
                    .as_str()
                    .or_else(|| prop["oneOf"][0]["$ref"].as_str())
                    .and_then(|r| r.rsplit('/').next())
                    .and_then(|n| schemas.get(n));
                if let Some(values) = target.and_then(|s| s["enum"].as_array()) {
                    assert!(values.contains(value), "{t}.{field}: {value}");
                }
                // Nested objects (a statement's totals, a reconciliation summary) are documented
                // field for field too.
                if let (Some(nested), true) = (target, value.is_object()) {
                    assert_eq!(keys(value), keys(&nested["properties"]), "{t}.{field}");
                }
            }
        }
    }

    #[test]
    fn the_document_has_a_webhook_per_event_type_with_resolvable_schemas() {
        let doc = serde_json::to_value(crate::api_doc()).unwrap();
        let schemas = &doc["components"]["schemas"];
        for t in EventType::ALL {
            let hook = &doc["webhooks"][t.as_str()]["post"];
            let reference = hook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("no webhook for {t}"));
            let envelope = &schemas[reference.rsplit('/').next().unwrap()];
            assert_eq!(envelope["properties"]["type"]["enum"][0], t.as_str());
            let payload = envelope["properties"]["data"]["$ref"].as_str().unwrap();
            assert!(
                schemas[payload.rsplit('/').next().unwrap()].is_object(),
                "{t}"
            );
            assert_eq!(hook["parameters"].as_array().unwrap().len(), 3);
        }
        for path in [
            "/v1/events",
            "/v1/events/stream",
            "/v1/webhook",
            "/v1/webhook/deliveries/{id}/retry",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
    }

    #[test]
    fn type_filters_name_known_subscribable_types() {
        assert_eq!(
            parse_types(Some(
                "session.completed, connector.status_changed,session.completed"
            ))
            .unwrap(),
            vec![
                EventType::SessionCompleted,
                EventType::ConnectorStatusChanged
            ]
        );
        assert!(parse_types(Some("webhook.test")).is_err());
        assert!(parse_types(None).unwrap().is_empty());
        assert_eq!(
            catalogue::envelope_name(EventType::ConnectorStatusChanged),
            "ConnectorStatusChangedEvent"
        );
    }
}
