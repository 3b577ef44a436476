//! `GET /console/events`: live connector status as server-sent events, for the dashboard and the
//! network pages. Each stream polls `NetworkStore::list_connectors` with `updated_since` every
//! `poll_interval`: the store is the one place every node writes to, so a status recorded by
//! whichever node holds the charger's connection reaches every browser, with no message bus.
//!
//! A poll looks back a little before the previous one (`LOOKBACK`), since `updated_at` carries
//! the time the charger reported, which may trail our clock; the stream remembers each
//! connector's `status_seq` and sends only real changes. Every `RESYNC_EVERY` polls it reads the
//! whole scope again, catching anything a clock skew larger than the look-back would hide.
//!
//! Events (JSON data, labels already in the operator's language):
//! - `connector`: `{id, charger, status, label, seq, changed_at}` for each change;
//! - `charger`: `{id, online, label}` when a charger connects or disconnects;
//! - `summary`: `{online, offline, statuses: {available: n, …}}` after any change.
//!
//! Each event's id is the poll time (RFC 3339): a reconnecting browser sends it back as
//! `Last-Event-ID` and the stream resumes from there. The page passes `since` (when it read
//! its data) for the first connection.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::Stream;
use openpile_core::error::StoreError;
use openpile_core::ids::{ChargerId, StationId};
use openpile_core::network::ConnectorView;
use openpile_core::ports::ConnectorFilter;
use openpile_core::status::ConnectorStatus;
use serde::Deserialize;
use serde_json::json;

use crate::ConsoleState;
use crate::auth::Staff;
use crate::error::ConsoleError;
use crate::i18n::Messages;
use crate::nav::Permission;
use crate::network::{all_chargers, all_connectors};

/// How far each poll looks back before the previous one.
const LOOKBACK: TimeDelta = TimeDelta::seconds(10);
/// Full re-read every this many polls.
const RESYNC_EVERY: u64 = 30;
/// The session is checked again every this many polls, so a logout ends its streams.
const SESSION_CHECK_EVERY: u64 = 30;
/// What the browser waits before reconnecting after the stream drops.
const RETRY: Duration = Duration::from_secs(3);

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    station: Option<String>,
    #[serde(default)]
    charger: Option<String>,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `GET /console/events?since=…&station=…&charger=…`
pub(crate) async fn stream(
    State(state): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ConsoleError> {
    staff.require(Permission::ViewNetwork)?;
    let station = match q.station.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(StationId::parse(s).map_err(|e| ConsoleError::BadRequest(e.to_string()))?),
        None => None,
    };
    let charger = match q.charger.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(ChargerId::parse(s).map_err(|e| ConsoleError::BadRequest(e.to_string()))?),
        None => None,
    };
    let since = since_of(&state, &headers, q.since.as_deref());
    let scope = Scope {
        filter: ConnectorFilter {
            station_id: station,
            charger_id: charger,
            ..ConnectorFilter::default()
        },
        stations: None,
    };
    Ok(live_stream(
        state,
        staff.t(),
        scope,
        Guard::Operator(staff.token_sha256()),
        since,
    ))
}

/// Which connectors a stream follows.
pub(crate) struct Scope {
    /// Passed to the store (one station or one charger, or everything).
    pub(crate) filter: ConnectorFilter,
    /// Further limited to these stations (a partner's visible stations).
    pub(crate) stations: Option<HashSet<StationId>>,
}

/// What keeps a stream alive.
pub(crate) enum Guard {
    /// An operator session, by token hash: the stream ends when it is revoked or expires.
    Operator(String),
    /// A partner-portal session: the stream ends when the signed cookie expires.
    Partner(DateTime<Utc>),
}

/// The starting point of a stream: `Last-Event-ID` (a reconnect), else the page's `since`,
/// else now.
pub(crate) fn since_of(
    state: &ConsoleState,
    headers: &HeaderMap,
    since: Option<&str>,
) -> DateTime<Utc> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_time)
        .or_else(|| since.and_then(parse_time))
        .unwrap_or_else(|| state.clock.now())
}

pub(crate) fn live_stream(
    state: ConsoleState,
    t: &'static Messages,
    scope: Scope,
    guard: Guard,
    since: DateTime<Utc>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut interval = tokio::time::interval(state.config.poll_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let live = Live {
        t,
        guard,
        scope,
        since,
        known: HashMap::new(),
        chargers: Vec::new(),
        online: HashSet::new(),
        queue: VecDeque::new(),
        started: false,
        polls: 0,
        interval,
        state,
    };
    let events = futures_util::stream::unfold(live, |mut live| async move {
        live.next_event().await.map(|e| (Ok(e), live))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// One browser's stream.
struct Live {
    state: ConsoleState,
    t: &'static Messages,
    guard: Guard,
    scope: Scope,
    /// The previous poll's time.
    since: DateTime<Utc>,
    /// Each connector's last status and sequence number as sent (or as the page showed it).
    known: HashMap<String, (ConnectorStatus, i64)>,
    chargers: Vec<ChargerId>,
    online: HashSet<String>,
    queue: VecDeque<Event>,
    started: bool,
    polls: u64,
    interval: tokio::time::Interval,
}

impl Live {
    /// The next event to send; `None` ends the stream (the session is gone).
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if !self.started {
                self.started = true;
                if let Err(e) = self.start().await {
                    tracing::warn!(error = %e, "live status: first read failed");
                }
                continue;
            }
            self.interval.tick().await;
            self.polls += 1;
            if self.polls.is_multiple_of(SESSION_CHECK_EVERY) && !self.session_alive().await {
                return None;
            }
            if let Err(e) = self.poll().await {
                // The store may come back; the next poll tries again from the same point.
                tracing::warn!(error = %e, "live status: poll failed");
            }
        }
    }

    async fn session_alive(&self) -> bool {
        let now = self.state.clock.now();
        match &self.guard {
            Guard::Partner(expires_at) => now < *expires_at,
            Guard::Operator(token_sha256) => match self
                .state
                .operators
                .find_operator_token(token_sha256, now)
                .await
            {
                Ok(s) => !s.operator.disabled,
                Err(StoreError::NotFound) => false,
                // A store hiccup is not a logout.
                Err(_) => true,
            },
        }
    }

    async fn load_chargers(&mut self) -> Result<(), StoreError> {
        self.chargers = match &self.scope.filter.charger_id {
            Some(c) => vec![c.clone()],
            None => all_chargers(&self.state, self.scope.filter.station_id.as_ref())
                .await?
                .into_iter()
                .filter(|c| {
                    self.scope
                        .stations
                        .as_ref()
                        .is_none_or(|s| s.contains(&c.charger.station_id))
                })
                .map(|c| c.charger.id)
                .collect(),
        };
        Ok(())
    }

    /// The connectors of `all` this stream follows.
    fn in_scope(&self, all: Vec<ConnectorView>) -> Vec<ConnectorView> {
        if self.scope.stations.is_none() {
            return all;
        }
        let chargers: HashSet<&ChargerId> = self.chargers.iter().collect();
        all.into_iter()
            .filter(|c| chargers.contains(&c.connector.charger_id))
            .collect()
    }

    /// Learns the scope as it is now, sending what changed after the page read its data.
    async fn start(&mut self) -> Result<(), StoreError> {
        let poll_at = self.state.clock.now();
        self.load_chargers().await?;
        self.online = self.connected_now();
        let all = self.in_scope(all_connectors(&self.state, &self.scope.filter).await?);
        let cutoff = self.since - LOOKBACK;
        for c in &all {
            if c.state.changed_at >= cutoff {
                self.push_connector(c, poll_at);
            }
            self.remember(c);
        }
        self.since = poll_at;
        self.push_summary(poll_at);
        self.queue
            .push_front(Event::default().retry(RETRY).comment("live"));
        Ok(())
    }

    async fn poll(&mut self) -> Result<(), StoreError> {
        let poll_at = self.state.clock.now();
        let resync = self.polls.is_multiple_of(RESYNC_EVERY);
        let connectors = if resync {
            self.load_chargers().await?;
            all_connectors(&self.state, &self.scope.filter).await?
        } else {
            let filter = ConnectorFilter {
                updated_since: Some(self.since - LOOKBACK),
                ..self.scope.filter.clone()
            };
            all_connectors(&self.state, &filter).await?
        };
        let connectors = self.in_scope(connectors);
        let mut changed = false;
        if resync {
            // Connectors retired since the last read leave the scope.
            let present: HashSet<&str> =
                connectors.iter().map(|c| c.connector.id.as_str()).collect();
            let before = self.known.len();
            self.known.retain(|id, _| present.contains(id.as_str()));
            changed |= self.known.len() != before;
        }
        for c in &connectors {
            let id = c.connector.id.as_str();
            let news = self
                .known
                .get(id)
                .is_none_or(|&(status, seq)| seq != c.state.status_seq || status != c.state.status);
            if news {
                self.push_connector(c, poll_at);
                self.remember(c);
                changed = true;
            }
        }
        let online = self.connected_now();
        for id in online.symmetric_difference(&self.online) {
            let is_online = online.contains(id);
            let data = json!({ "id": id, "online": is_online, "label": self.t.online(is_online) });
            self.queue.push_back(
                Event::default()
                    .event("charger")
                    .id(poll_at.to_rfc3339())
                    .data(data.to_string()),
            );
            changed = true;
        }
        self.online = online;
        if changed {
            self.push_summary(poll_at);
        }
        self.since = poll_at;
        Ok(())
    }

    fn connected_now(&self) -> HashSet<String> {
        self.chargers
            .iter()
            .filter(|c| self.state.gateway.is_connected(c))
            .map(|c| c.to_string())
            .collect()
    }

    fn remember(&mut self, c: &ConnectorView) {
        self.known.insert(
            c.connector.id.to_string(),
            (c.state.status, c.state.status_seq),
        );
    }

    fn push_connector(&mut self, c: &ConnectorView, poll_at: DateTime<Utc>) {
        let data = json!({
            "id": c.connector.id.as_str(),
            "charger": c.connector.charger_id.as_str(),
            "status": c.state.status.as_str(),
            "label": self.t.status(c.state.status),
            "seq": c.state.status_seq,
            "changed_at": c.state.changed_at
                .with_timezone(&self.state.config.timezone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
        });
        self.queue.push_back(
            Event::default()
                .event("connector")
                .id(poll_at.to_rfc3339())
                .data(data.to_string()),
        );
    }

    fn push_summary(&mut self, poll_at: DateTime<Utc>) {
        let statuses: serde_json::Map<String, serde_json::Value> = ConnectorStatus::ALL
            .into_iter()
            .map(|s| {
                let n = self.known.values().filter(|(st, _)| *st == s).count();
                (s.as_str().to_owned(), json!(n))
            })
            .collect();
        let online = self.online.len();
        let data = json!({
            "online": online,
            "offline": self.chargers.len().saturating_sub(online),
            "statuses": statuses,
        });
        self.queue.push_back(
            Event::default()
                .event("summary")
                .id(poll_at.to_rfc3339())
                .data(data.to_string()),
        );
    }
}
