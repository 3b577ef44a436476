//! `/portal/live`: the partner's own event feed as it happens, the same events its webhook and
//! `GET /v1/events/stream` receive (one feed per credential environment), plus the test
//! deliveries it asks for (which are never in the feed). The page lists the latest events,
//! rendered on the server (so it is useful without JavaScript); the embedded script then adds
//! each new event from `/portal/live/stream` and filters the list by type.
//!
//! The stream reads the feed through core's `EventStore` after the position the page showed,
//! waking on the store's event signal (writes in this process) or every `poll_interval`
//! (writes by other nodes, and test deliveries). SSE events are named `feed`; each id is
//! `<feed seq>.<delivery id>`, so a reconnecting browser's `Last-Event-ID` resumes both.

use std::collections::VecDeque;
use std::convert::Infallible;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use openpile_core::event::{Delivery, EventType, FeedError, FeedEvent, FeedKey, FeedQuery};
use serde::Deserialize;
use serde_json::json;

use super::webhooks::{environments, feed_of};
use super::{PartnerSession, env_label, partner_page};
use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::i18n::Messages;
use crate::page::{Chrome, fmt_time, render};

/// Events the page shows when it opens.
const RECENT: u32 = 30;
/// Most events read per store call.
const BATCH: u32 = 200;

/// One event as the page and the stream show it.
struct Row {
    key: String,
    event_type: &'static str,
    at: String,
    subject: String,
    data: String,
}

fn pretty(data: &str) -> String {
    serde_json::from_str::<serde_json::Value>(data)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| data.to_owned())
}

fn feed_row(state: &ConsoleState, e: &FeedEvent) -> Row {
    Row {
        key: format!("e{}", e.seq),
        event_type: e.event_type.as_str(),
        at: fmt_time(state, e.created_at),
        subject: e.subject.clone(),
        data: pretty(&e.data),
    }
}

/// A test delivery, shown like an event (its payload lives with the delivery, not the feed).
fn test_row(state: &ConsoleState, d: &Delivery) -> Row {
    Row {
        key: format!("t{}", d.id),
        event_type: d.event_type.as_str(),
        at: fmt_time(state, d.created_at),
        subject: format!("delivery:{}", d.id),
        data: pretty(
            &json!({ "event_id": d.event_id.to_string(), "delivery_id": d.id }).to_string(),
        ),
    }
}

struct TypeOption {
    name: &'static str,
}

struct EnvTab {
    code: &'static str,
    label: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "portal_live.html")]
struct LivePage {
    t: &'static Messages,
    chrome: Chrome,
    env_label: &'static str,
    tabs: Vec<EnvTab>,
    types: Vec<TypeOption>,
    rows: Vec<Row>,
    stream_url: String,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct LiveQuery {
    #[serde(default)]
    env: Option<String>,
}

/// The newest test deliveries of the feed, newest first.
async fn test_deliveries(
    state: &ConsoleState,
    feed: &FeedKey,
    limit: u32,
) -> Result<Vec<Delivery>, ConsoleError> {
    let page = state
        .services()?
        .events
        .list_deliveries(feed, None, limit)
        .await?;
    Ok(page
        .items
        .into_iter()
        .filter(|d| d.event_type == EventType::WebhookTest)
        .collect())
}

/// `GET /portal/live?env=…`
pub(crate) async fn live(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Query(q): Query<LiveQuery>,
) -> Result<Response, ConsoleError> {
    let t = session.t();
    let envs = environments(&state, &session).await?;
    let feed = feed_of(&session, &envs, q.env.as_deref())?;
    let env = feed.environment;
    let (_, chrome) = partner_page(
        &state,
        &session,
        &format!("/portal/live?env={}", env.as_str()),
    )
    .await?;
    let events = &state.services()?.events;
    let head = events.feed_head(&feed).await?;
    let query = FeedQuery {
        after: (head - i64::from(RECENT)).max(0),
        limit: RECENT,
        types: Vec::new(),
    };
    let recent = match events.read_feed(&feed, &query).await {
        Ok(page) => page.events,
        // Purged in between: nothing older to show; the stream still starts at the head.
        Err(FeedError::CursorExpired) => Vec::new(),
        Err(FeedError::Store(e)) => return Err(e.into()),
    };
    let tests = test_deliveries(&state, &feed, 20).await?;
    let last_test = tests.first().map_or(0, |d| d.id);
    // Newest first, events and tests interleaved by time.
    let mut rows: Vec<(DateTime<Utc>, Row)> = recent
        .iter()
        .map(|e| (e.created_at, feed_row(&state, e)))
        .chain(tests.iter().map(|d| (d.created_at, test_row(&state, d))))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.truncate(RECENT as usize);
    render(
        StatusCode::OK,
        &LivePage {
            t,
            chrome,
            env_label: env_label(env, t),
            tabs: envs
                .iter()
                .map(|e| EnvTab {
                    code: e.as_str(),
                    label: env_label(*e, t),
                    current: *e == env,
                })
                .collect(),
            types: EventType::ALL
                .iter()
                .map(|ty| TypeOption { name: ty.as_str() })
                .collect(),
            rows: rows.into_iter().map(|(_, r)| r).collect(),
            stream_url: format!(
                "/portal/live/stream?env={}&after={head}&tests={last_test}",
                env.as_str()
            ),
        },
    )
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct StreamQuery {
    #[serde(default)]
    env: Option<String>,
    /// The feed position the page showed.
    #[serde(default)]
    after: Option<i64>,
    /// The newest test delivery the page showed.
    #[serde(default)]
    tests: Option<i64>,
}

/// `Last-Event-ID` of a reconnect: `<seq>.<delivery id>`.
fn resume_point(headers: &HeaderMap) -> Option<(i64, i64)> {
    let id = headers.get("last-event-id")?.to_str().ok()?;
    let (seq, test) = id.split_once('.')?;
    Some((seq.parse().ok()?, test.parse().ok()?))
}

/// `GET /portal/live/stream?env=…&after=…&tests=…`: server-sent events.
pub(crate) async fn live_events(
    State(state): State<ConsoleState>,
    session: PartnerSession,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let envs = environments(&state, &session).await?;
    let feed = feed_of(&session, &envs, q.env.as_deref())?;
    let events = state.services()?.events.clone();
    let (after, last_test) = match resume_point(&headers) {
        Some(p) => p,
        None => {
            let after = match q.after {
                Some(n) if n >= 0 => n,
                _ => events.feed_head(&feed).await?,
            };
            (after, q.tests.unwrap_or(0).max(0))
        }
    };
    let live = Live {
        state,
        feed,
        expires_at: session.expires_at,
        after,
        last_test,
        queue: VecDeque::new(),
        done: false,
    };
    Ok(sse(live).into_response())
}

fn sse(live: Live) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = futures_util::stream::unfold(live, |mut live| async move {
        live.next().await.map(|e| (Ok(e), live))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// One browser's stream.
struct Live {
    state: ConsoleState,
    feed: FeedKey,
    /// The portal session's end: the stream ends with it.
    expires_at: DateTime<Utc>,
    after: i64,
    last_test: i64,
    queue: VecDeque<SseEvent>,
    done: bool,
}

impl Live {
    fn event(&self, row: &Row) -> SseEvent {
        let body = json!({
            "key": row.key,
            "type": row.event_type,
            "at": row.at,
            "subject": row.subject,
            "data": row.data,
        });
        SseEvent::default()
            .event("feed")
            .id(format!("{}.{}", self.after, self.last_test))
            .data(body.to_string())
    }

    /// Reads what is new into the queue.
    async fn read(&mut self) -> Result<(), ConsoleError> {
        let events = self.state.services()?.events.clone();
        loop {
            let page = events
                .read_feed(
                    &self.feed,
                    &FeedQuery {
                        after: self.after,
                        limit: BATCH,
                        types: Vec::new(),
                    },
                )
                .await;
            let page = match page {
                Ok(p) => p,
                // Fell behind the retention: go on from the oldest event still kept.
                Err(FeedError::CursorExpired) => {
                    self.after = 0;
                    continue;
                }
                Err(FeedError::Store(e)) => return Err(e.into()),
            };
            for e in &page.events {
                self.after = e.seq;
                let row = feed_row(&self.state, e);
                let ev = self.event(&row);
                self.queue.push_back(ev);
            }
            self.after = self.after.max(page.next_after);
            if page.next_after >= page.last_seq {
                break;
            }
        }
        let mut tests = test_deliveries(&self.state, &self.feed, 20).await?;
        tests.retain(|d| d.id > self.last_test);
        tests.reverse();
        for d in &tests {
            self.last_test = d.id;
            let row = test_row(&self.state, d);
            let ev = self.event(&row);
            self.queue.push_back(ev);
        }
        Ok(())
    }

    async fn next(&mut self) -> Option<SseEvent> {
        let signal = self.state.services().ok()?.events.event_signal();
        loop {
            if self.done || self.state.clock.now() >= self.expires_at {
                return None;
            }
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            let generation = signal.generation();
            if let Err(e) = self.read().await {
                // The store may come back; the next round reads from the same point.
                tracing::warn!(error = %e, "portal live events: read failed");
            }
            if !self.queue.is_empty() {
                continue;
            }
            let expiry = (self.expires_at - self.state.clock.now())
                .to_std()
                .unwrap_or_default();
            tokio::select! {
                () = signal.changed_since(generation) => {}
                () = tokio::time::sleep(self.state.config.poll_interval) => {}
                () = tokio::time::sleep(expiry) => { self.done = true; }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_resumes_from_its_last_event_id() {
        let mut h = HeaderMap::new();
        assert_eq!(resume_point(&h), None);
        h.insert("last-event-id", "41.7".parse().unwrap());
        assert_eq!(resume_point(&h), Some((41, 7)));
        h.insert("last-event-id", "garbage".parse().unwrap());
        assert_eq!(resume_point(&h), None);
    }
}
