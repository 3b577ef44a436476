//! The transactional outbox on SQLite (issue 6): [`emit`] writes an event inside the caller's
//! transaction, for each partner feed that may see it, with one delivery per subscribed
//! webhook; [`EventStore`] reads feeds, keeps webhooks and hands deliveries to workers.
//!
//! Every store port that changes state partners must learn about calls [`emit`] before its
//! commit and [`commit`] instead of `tx.commit()`, so readers in this process are woken at once
//! (other processes poll). Who may see an event is decided here, once, when it is written.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::event::{
    AttemptOutcome, Audience, ClaimRequest, ClaimedDelivery, Delivery, DeliveryAttempt,
    DeliveryState, Event, EventData, EventId, EventSignal, EventStore, EventType, FeedError,
    FeedEvent, FeedKey, FeedPage, FeedQuery, NextStep, SignalFuture, SignalSource, Webhook,
    WebhookConfig, WebhookDisabledData, WebhookSecret,
};
use openpile_core::ids::PartnerId;
use openpile_core::page::Page;
use openpile_core::partner::credential::Environment;
use sqlx::{Sqlite, SqliteConnection, Transaction};
use tokio::sync::Notify;

use crate::columns::{parse_opt_ts, parse_ts, parse_with, to_json, ts};
use crate::{CorruptValue, SqliteStore, db_error};

/// Wakes this process's feed readers and delivery workers after events are committed. One for
/// the process rather than per store: a spurious wake-up costs one cheap read, and it keeps the
/// signal out of the store's constructor.
struct Signal {
    generation: AtomicU64,
    notify: Notify,
}

static SIGNAL: LazyLock<Signal> = LazyLock::new(|| Signal {
    generation: AtomicU64::new(0),
    notify: Notify::new(),
});

fn signal_committed() {
    SIGNAL.generation.fetch_add(1, Ordering::SeqCst);
    SIGNAL.notify.notify_waiters();
}

struct ProcessSignal;

impl SignalSource for ProcessSignal {
    fn generation(&self) -> u64 {
        SIGNAL.generation.load(Ordering::SeqCst)
    }

    fn changed_since(&self, generation: u64) -> SignalFuture<'_> {
        Box::pin(async move {
            loop {
                let notified = SIGNAL.notify.notified();
                tokio::pin!(notified);
                // Registered before the check, so a signal in between is not lost.
                notified.as_mut().enable();
                if SIGNAL.generation.load(Ordering::SeqCst) > generation {
                    return;
                }
                notified.await;
            }
        })
    }
}

/// Commits a transaction that may have emitted events, then wakes readers. Use instead of
/// `tx.commit()` in every port that calls [`emit`].
pub(crate) async fn commit(tx: Transaction<'_, Sqlite>) -> Result<(), StoreError> {
    tx.commit().await.map_err(db_error)?;
    signal_committed();
    Ok(())
}

/// The feeds that may see an event.
async fn recipients(
    conn: &mut SqliteConnection,
    event: &Event,
    audience: &Audience,
) -> Result<Vec<(String, &'static str)>, StoreError> {
    let station_env = match event.data.station_id() {
        Some(station) => {
            let sandbox: Option<i64> =
                sqlx::query_scalar("SELECT sandbox FROM stations WHERE id = ?1")
                    .bind(station.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
            // An unknown station (deleted meanwhile) is seen by nobody but its partner.
            Some(if sandbox == Some(1) {
                Environment::Sandbox
            } else {
                Environment::Production
            })
        }
        None => None,
    };
    match audience {
        Audience::Partner(partner) => {
            let envs: &[Environment] = match station_env {
                Some(Environment::Sandbox) => &[Environment::Sandbox],
                Some(Environment::Production) => &[Environment::Production],
                None => &[Environment::Sandbox, Environment::Production],
            };
            Ok(envs
                .iter()
                .map(|e| (partner.as_str().to_string(), e.as_str()))
                .collect())
        }
        Audience::StationWatchers(station) => {
            let env = station_env.unwrap_or(Environment::Production);
            let ids: Vec<String> = match env {
                // Every partner holds sandbox credentials from its application on.
                Environment::Sandbox => sqlx::query_scalar(
                    "SELECT id FROM partners WHERE status <> 'suspended' ORDER BY id",
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
                Environment::Production => sqlx::query_scalar(
                    "SELECT id FROM partners WHERE status = 'active' AND contract IS NOT NULL \
                     AND (json_extract(contract, '$.station_scope.kind') = 'all' \
                          OR EXISTS (SELECT 1 FROM json_each(contract, \
                                     '$.station_scope.station_ids') WHERE value = ?1)) \
                     ORDER BY id",
                )
                .bind(station.as_str())
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
            };
            Ok(ids.into_iter().map(|id| (id, env.as_str())).collect())
        }
    }
}

/// Writes `event` inside `tx`: the event once, one row in each feed of `audience` with that
/// feed's next `seq`, and one due delivery per enabled webhook of those feeds subscribed to the
/// event's type. Call [`commit`] afterwards. `now` stamps the delivery rows (due at once).
pub(crate) async fn emit(
    tx: &mut SqliteConnection,
    event: &Event,
    audience: &Audience,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let event_type = event.event_type();
    let subject = event.subject();
    let id = event.id.to_string();
    let created = ts(event.created_at);
    let now = ts(now);
    sqlx::query(
        "INSERT INTO events (id, event_type, subject, data, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&id)
    .bind(event_type.as_str())
    .bind(&subject)
    .bind(to_json("events.data", &event.data)?)
    .bind(&created)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let pattern = format!(" {} ", event_type.as_str());
    for (partner, env) in recipients(tx, event, audience).await? {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO event_feed_heads (partner_id, environment, last_seq) \
             VALUES (?1, ?2, 1) \
             ON CONFLICT (partner_id, environment) DO UPDATE SET last_seq = last_seq + 1 \
             RETURNING last_seq",
        )
        .bind(&partner)
        .bind(env)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO event_feed (partner_id, environment, seq, event_id, event_type, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&partner)
        .bind(env)
        .bind(seq)
        .bind(&id)
        .bind(event_type.as_str())
        .bind(&created)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, subject, seq, \
             state, round_started_at, next_attempt_at, created_at, updated_at) \
             SELECT w.id, ?3, ?4, ?5, ?6, 'pending', ?7, \
                    CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries q \
                                      WHERE q.webhook_id = w.id AND q.subject = ?5 \
                                        AND q.state = 'pending') \
                         THEN NULL ELSE ?7 END, \
                    ?7, ?7 \
             FROM webhooks w \
             WHERE w.partner_id = ?1 AND w.environment = ?2 AND w.enabled = 1 \
               AND w.disabled_at IS NULL AND instr(w.event_types, ?8) > 0",
        )
        .bind(&partner)
        .bind(env)
        .bind(&id)
        .bind(event_type.as_str())
        .bind(&subject)
        .bind(seq)
        .bind(&now)
        .bind(&pattern)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// A feed read looks at most this many positions past its cursor, so that a type filter that
/// matches little cannot make one read scan a whole feed; the page then ends early and its
/// `next_after` says where to go on.
const SCAN_WINDOW: i64 = 10_000;

/// Deletes run in chunks of this many rows, each its own transaction, so that a purge never
/// holds the write lock long enough to delay chargers.
const PURGE_CHUNK: i64 = 5_000;

/// `' a b '`: the padded list `instr` matches a type against.
fn padded_types(types: &[EventType]) -> String {
    let mut out = String::from(" ");
    for t in types {
        out.push_str(t.as_str());
        out.push(' ');
    }
    out
}

fn parse_types(column: &'static str, s: &str) -> Result<Vec<EventType>, StoreError> {
    s.split_whitespace()
        .map(|t| EventType::parse(t).ok_or_else(|| CorruptValue::new(column, t)))
        .collect()
}

fn parse_type(column: &'static str, s: &str) -> Result<EventType, StoreError> {
    EventType::parse(s).ok_or_else(|| CorruptValue::new(column, s))
}

fn parse_event_id(column: &'static str, s: &str) -> Result<EventId, StoreError> {
    parse_with(column, s, EventId::parse)
}

fn parse_env(column: &'static str, s: &str) -> Result<Environment, StoreError> {
    Environment::parse(s).ok_or_else(|| CorruptValue::new(column, s))
}

fn parse_secret(column: &'static str, s: &str) -> Result<WebhookSecret, StoreError> {
    parse_with(column, s, WebhookSecret::new)
}

#[derive(Debug, sqlx::FromRow)]
struct FeedRow {
    seq: i64,
    id: String,
    event_type: String,
    created_at: String,
    subject: String,
    data: String,
}

impl FeedRow {
    fn into_event(self) -> Result<FeedEvent, StoreError> {
        Ok(FeedEvent {
            seq: self.seq,
            id: parse_event_id("events.id", &self.id)?,
            event_type: parse_type("events.event_type", &self.event_type)?,
            created_at: parse_ts("events.created_at", &self.created_at)?,
            subject: self.subject,
            data: self.data,
        })
    }
}

const WEBHOOK_COLUMNS: &str = "id, partner_id, environment, url, event_types, enabled, secret, \
     previous_secret, previous_secret_until, failing_since, disabled_at, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
struct WebhookRow {
    id: i64,
    partner_id: String,
    environment: String,
    url: String,
    event_types: String,
    enabled: i64,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<String>,
    failing_since: Option<String>,
    disabled_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl WebhookRow {
    fn into_webhook(self) -> Result<Webhook, StoreError> {
        Ok(Webhook {
            feed: FeedKey {
                partner_id: parse_with("webhooks.partner_id", &self.partner_id, PartnerId::parse)?,
                environment: parse_env("webhooks.environment", &self.environment)?,
            },
            config: WebhookConfig {
                url: self.url,
                event_types: parse_types("webhooks.event_types", &self.event_types)?,
                enabled: self.enabled == 1,
            },
            secret: parse_secret("webhooks.secret", &self.secret)?,
            previous_secret: self
                .previous_secret
                .as_deref()
                .map(|s| parse_secret("webhooks.previous_secret", s))
                .transpose()?,
            previous_secret_until: parse_opt_ts(
                "webhooks.previous_secret_until",
                self.previous_secret_until.as_deref(),
            )?,
            failing_since: parse_opt_ts("webhooks.failing_since", self.failing_since.as_deref())?,
            disabled_at: parse_opt_ts("webhooks.disabled_at", self.disabled_at.as_deref())?,
            created_at: parse_ts("webhooks.created_at", &self.created_at)?,
            updated_at: parse_ts("webhooks.updated_at", &self.updated_at)?,
        })
    }
}

async fn webhook_row(
    conn: &mut SqliteConnection,
    feed: &FeedKey,
) -> Result<Option<WebhookRow>, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE partner_id = ?1 AND environment = ?2"
    )))
    .bind(feed.partner_id.as_str())
    .bind(feed.environment.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db_error)
}

#[derive(Debug, sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    event_id: String,
    event_type: String,
    seq: Option<i64>,
    state: String,
    next_attempt_at: Option<String>,
    created_at: String,
}

#[derive(Debug, sqlx::FromRow)]
struct AttemptRow {
    delivery_id: i64,
    at: String,
    status: Option<i64>,
    latency_ms: i64,
    error: Option<String>,
}

impl AttemptRow {
    fn into_attempt(self) -> Result<DeliveryAttempt, StoreError> {
        Ok(DeliveryAttempt {
            at: parse_ts("webhook_attempts.at", &self.at)?,
            status: self
                .status
                .map(|s| {
                    u16::try_from(s).map_err(|e| CorruptValue::new("webhook_attempts.status", e))
                })
                .transpose()?,
            latency_ms: self.latency_ms,
            error: self.error,
        })
    }
}

const DELIVERY_COLUMNS: &str =
    "id, event_id, event_type, seq, state, next_attempt_at, created_at";

/// The deliveries `rows` with their attempts, oldest attempt first.
async fn with_attempts(
    conn: &mut SqliteConnection,
    rows: Vec<DeliveryRow>,
) -> Result<Vec<Delivery>, StoreError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT delivery_id, at, status, latency_ms, error FROM webhook_attempts \
         WHERE delivery_id IN (SELECT value FROM json_each(?1)) ORDER BY delivery_id, number",
    )
    .bind(to_json("webhook_attempts.delivery_id", &ids)?)
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    let mut by_delivery: HashMap<i64, Vec<DeliveryAttempt>> = HashMap::new();
    for a in attempts {
        by_delivery
            .entry(a.delivery_id)
            .or_default()
            .push(a.into_attempt()?);
    }
    rows.into_iter()
        .map(|r| {
            Ok(Delivery {
                id: r.id,
                event_id: parse_event_id("webhook_deliveries.event_id", &r.event_id)?,
                event_type: parse_type("webhook_deliveries.event_type", &r.event_type)?,
                seq: r.seq,
                state: DeliveryState::parse(&r.state)
                    .ok_or_else(|| CorruptValue::new("webhook_deliveries.state", &r.state))?,
                attempts: by_delivery.remove(&r.id).unwrap_or_default(),
                next_attempt_at: parse_opt_ts(
                    "webhook_deliveries.next_attempt_at",
                    r.next_attempt_at.as_deref(),
                )?,
                created_at: parse_ts("webhook_deliveries.created_at", &r.created_at)?,
            })
        })
        .collect()
}

async fn delivery(conn: &mut SqliteConnection, id: i64) -> Result<Delivery, StoreError> {
    let row: DeliveryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1"
    )))
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    with_attempts(conn, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

#[derive(Debug, sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    partner_id: String,
    environment: String,
    url: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<String>,
    event_id: String,
    event_type: String,
    event_created_at: String,
    subject: String,
    data: String,
    seq: Option<i64>,
    round_attempts: i64,
    round_started_at: String,
}

/// Makes the oldest pending delivery of a (webhook, subject) queue due, when its predecessor
/// finished. Does nothing when that delivery is already due.
async fn promote_next(
    conn: &mut SqliteConnection,
    webhook_id: i64,
    subject: &str,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = ?3 \
         WHERE id = (SELECT id FROM webhook_deliveries \
                     WHERE webhook_id = ?1 AND subject = ?2 AND state = 'pending' \
                     ORDER BY id LIMIT 1) \
           AND next_attempt_at IS NULL",
    )
    .bind(webhook_id)
    .bind(subject)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(db_error)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn read_feed(&self, feed: &FeedKey, query: &FeedQuery) -> Result<FeedPage, FeedError> {
        let mut tx = self.read().await?;
        let head: Option<(i64, i64)> = sqlx::query_as(
            "SELECT last_seq, purged_through FROM event_feed_heads \
             WHERE partner_id = ?1 AND environment = ?2",
        )
        .bind(feed.partner_id.as_str())
        .bind(feed.environment.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((last, purged)) = head else {
            return Ok(FeedPage {
                events: Vec::new(),
                next_after: query.after.max(0),
                last_seq: 0,
            });
        };
        // 0 means "from the oldest kept"; any other cursor below the purge line lost events.
        if query.after > 0 && query.after < purged {
            return Err(FeedError::CursorExpired);
        }
        let start = query.after.max(purged);
        let end = last.min(start.saturating_add(SCAN_WINDOW));
        if start >= end {
            return Ok(FeedPage {
                events: Vec::new(),
                next_after: query.after.max(0),
                last_seq: last,
            });
        }
        let limit = query.limit.clamp(1, FeedQuery::MAX_LIMIT);
        let types = (!query.types.is_empty()).then(|| padded_types(&query.types));
        let rows: Vec<FeedRow> = sqlx::query_as(
            "SELECT f.seq, e.id, e.event_type, e.created_at, e.subject, e.data \
             FROM event_feed f JOIN events e ON e.id = f.event_id \
             WHERE f.partner_id = ?1 AND f.environment = ?2 AND f.seq > ?3 AND f.seq <= ?4 \
               AND (?5 IS NULL OR instr(?5, ' ' || f.event_type || ' ') > 0) \
             ORDER BY f.seq LIMIT ?6",
        )
        .bind(feed.partner_id.as_str())
        .bind(feed.environment.as_str())
        .bind(start)
        .bind(end)
        .bind(types)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let full = rows.len() == limit as usize;
        let events = rows
            .into_iter()
            .map(FeedRow::into_event)
            .collect::<Result<Vec<_>, _>>()?;
        let next_after = match events.last() {
            Some(e) if full => e.seq,
            _ => end,
        };
        Ok(FeedPage {
            events,
            next_after,
            last_seq: last,
        })
    }

    async fn feed_head(&self, feed: &FeedKey) -> Result<i64, StoreError> {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT last_seq FROM event_feed_heads WHERE partner_id = ?1 AND environment = ?2",
        )
        .bind(feed.partner_id.as_str())
        .bind(feed.environment.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?;
        Ok(last.unwrap_or(0))
    }

    fn event_signal(&self) -> EventSignal {
        EventSignal::new(Arc::new(ProcessSignal))
    }

    async fn webhook(&self, feed: &FeedKey) -> Result<Option<Webhook>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        webhook_row(&mut conn, feed)
            .await?
            .map(WebhookRow::into_webhook)
            .transpose()
    }

    async fn put_webhook(
        &self,
        feed: &FeedKey,
        config: &WebhookConfig,
        new_secret: &WebhookSecret,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        let now = ts(now);
        let mut tx = self.write().await?;
        let row: WebhookRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webhooks (partner_id, environment, url, event_types, enabled, secret, \
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
             ON CONFLICT (partner_id, environment) DO UPDATE SET \
               url = excluded.url, event_types = excluded.event_types, \
               enabled = excluded.enabled, updated_at = excluded.updated_at, \
               disabled_at = CASE WHEN excluded.enabled = 1 THEN NULL ELSE disabled_at END, \
               failing_since = CASE WHEN excluded.enabled = 1 THEN NULL ELSE failing_since END \
             RETURNING {WEBHOOK_COLUMNS}"
        )))
        .bind(feed.partner_id.as_str())
        .bind(feed.environment.as_str())
        .bind(&config.url)
        .bind(padded_types(&config.event_types))
        .bind(i64::from(config.enabled))
        .bind(new_secret.expose())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        if config.enabled {
            // The partner says its endpoint works again: what waits in backoff goes now, with
            // a fresh retry window.
            sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = ?2, round_started_at = ?2, \
                 round_attempts = 0, updated_at = ?2 \
                 WHERE webhook_id = ?1 AND state = 'pending' AND next_attempt_at > ?2",
            )
            .bind(row.id)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        commit(tx).await?;
        row.into_webhook()
    }

    async fn rotate_webhook_secret(
        &self,
        feed: &FeedKey,
        secret: &WebhookSecret,
        previous_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        let mut tx = self.write().await?;
        let row: WebhookRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET previous_secret = secret, previous_secret_until = ?3, \
             secret = ?4, updated_at = ?5 WHERE partner_id = ?1 AND environment = ?2 \
             RETURNING {WEBHOOK_COLUMNS}"
        )))
        .bind(feed.partner_id.as_str())
        .bind(feed.environment.as_str())
        .bind(ts(previous_until))
        .bind(secret.expose())
        .bind(ts(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        row.into_webhook()
    }

    async fn queue_test_delivery(
        &self,
        feed: &FeedKey,
        event: &Event,
    ) -> Result<Delivery, StoreError> {
        let mut tx = self.write().await?;
        let webhook = webhook_row(&mut tx, feed)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = ts(event.created_at);
        let subject = event.subject();
        sqlx::query(
            "INSERT INTO events (id, event_type, subject, data, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(event.id.to_string())
        .bind(event.event_type().as_str())
        .bind(&subject)
        .bind(to_json("events.data", &event.data)?)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, subject, seq, \
             state, round_started_at, next_attempt_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, NULL, 'pending', ?5, \
                     CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries q \
                                       WHERE q.webhook_id = ?1 AND q.subject = ?4 \
                                         AND q.state = 'pending') \
                          THEN NULL ELSE ?5 END, ?5, ?5) \
             RETURNING id",
        )
        .bind(webhook.id)
        .bind(event.id.to_string())
        .bind(event.event_type().as_str())
        .bind(&subject)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let delivery = delivery(&mut tx, id).await?;
        commit(tx).await?;
        Ok(delivery)
    }

    async fn list_deliveries(
        &self,
        feed: &FeedKey,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Delivery>, StoreError> {
        let limit = limit.clamp(1, openpile_core::page::PageRequest::MAX_LIMIT);
        let mut tx = self.read().await?;
        let Some(webhook) = webhook_row(&mut tx, feed).await? else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE webhook_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
        )))
        .bind(webhook.id)
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let items = with_attempts(&mut tx, rows).await?;
        Ok(crate::into_page(items, limit, |d| d.id.to_string()))
    }

    async fn retry_delivery(
        &self,
        feed: &FeedKey,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        let now = ts(now);
        let mut tx = self.write().await?;
        let webhook = webhook_row(&mut tx, feed)
            .await?
            .ok_or(StoreError::NotFound)?;
        // A replay starts a new retry round; it waits its turn behind older pending
        // deliveries of its subject like any other.
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', round_started_at = ?3, \
             round_attempts = 0, updated_at = ?3, \
             next_attempt_at = CASE WHEN EXISTS ( \
                 SELECT 1 FROM webhook_deliveries q WHERE q.webhook_id = ?2 \
                   AND q.subject = webhook_deliveries.subject AND q.state = 'pending' \
                   AND q.id < webhook_deliveries.id) THEN NULL ELSE ?3 END \
             WHERE id = ?1 AND webhook_id = ?2",
        )
        .bind(id)
        .bind(webhook.id)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let delivery = delivery(&mut tx, id).await?;
        commit(tx).await?;
        Ok(delivery)
    }

    async fn claim_deliveries(
        &self,
        request: &ClaimRequest,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let now = ts(request.now);
        let lease_until = request.now + request.lease;
        let mut tx = self.write().await?;
        // Only queue heads are due (see the migration), the NOT EXISTS guards the order even
        // when a replay put an older delivery back; the window counts, per webhook, what is
        // already in flight (leases not yet expired, on any worker) against `per_webhook`.
        let ids: Vec<i64> = sqlx::query_scalar(
            "WITH inflight AS ( \
                 SELECT webhook_id, COUNT(*) AS n FROM webhook_deliveries \
                 WHERE lease_until IS NOT NULL AND lease_until > ?1 AND state = 'pending' \
                 GROUP BY webhook_id), \
             due AS ( \
                 SELECT d.id, d.webhook_id, d.next_attempt_at, \
                        ROW_NUMBER() OVER (PARTITION BY d.webhook_id \
                                           ORDER BY d.next_attempt_at, d.id) AS rn \
                 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 \
                   AND (d.lease_until IS NULL OR d.lease_until <= ?1) \
                   AND w.enabled = 1 AND w.disabled_at IS NULL \
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                                   WHERE e.webhook_id = d.webhook_id AND e.subject = d.subject \
                                     AND e.state = 'pending' AND e.id < d.id)) \
             SELECT due.id FROM due LEFT JOIN inflight i ON i.webhook_id = due.webhook_id \
             WHERE due.rn + COALESCE(i.n, 0) <= ?2 \
             ORDER BY due.next_attempt_at, due.id LIMIT ?3",
        )
        .bind(&now)
        .bind(i64::from(request.per_webhook))
        .bind(i64::from(request.limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = to_json("webhook_deliveries.id", &ids)?;
        sqlx::query(
            "UPDATE webhook_deliveries SET lease_until = ?2 \
             WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(&ids)
        .bind(ts(lease_until))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "SELECT d.id, w.partner_id, w.environment, w.url, w.secret, w.previous_secret, \
                    w.previous_secret_until, d.event_id, d.event_type, \
                    e.created_at AS event_created_at, d.subject, e.data, d.seq, \
                    d.round_attempts, d.round_started_at \
             FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id \
             WHERE d.id IN (SELECT value FROM json_each(?1)) ORDER BY d.id",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let lease_until = crate::columns::stored(lease_until);
        rows.into_iter()
            .map(|r| {
                let previous_until =
                    parse_opt_ts("webhooks.previous_secret_until", r.previous_secret_until.as_deref())?;
                let previous_secret = match (r.previous_secret.as_deref(), previous_until) {
                    (Some(s), Some(until)) if until > request.now => {
                        Some(parse_secret("webhooks.previous_secret", s)?)
                    }
                    _ => None,
                };
                Ok(ClaimedDelivery {
                    id: r.id,
                    feed: FeedKey {
                        partner_id: parse_with(
                            "webhooks.partner_id",
                            &r.partner_id,
                            PartnerId::parse,
                        )?,
                        environment: parse_env("webhooks.environment", &r.environment)?,
                    },
                    url: r.url,
                    secret: parse_secret("webhooks.secret", &r.secret)?,
                    previous_secret,
                    event_id: parse_event_id("webhook_deliveries.event_id", &r.event_id)?,
                    event_type: parse_type("webhook_deliveries.event_type", &r.event_type)?,
                    event_created_at: parse_ts("events.created_at", &r.event_created_at)?,
                    subject: r.subject,
                    data: r.data,
                    seq: r.seq,
                    round_attempts: u32::try_from(r.round_attempts).unwrap_or(u32::MAX),
                    round_started_at: parse_ts(
                        "webhook_deliveries.round_started_at",
                        &r.round_started_at,
                    )?,
                    lease_until,
                })
            })
            .collect()
    }

    async fn record_attempts(&self, outcomes: &[AttemptOutcome]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for outcome in outcomes {
            let at = ts(outcome.attempt.at);
            let (state, next) = match outcome.next {
                NextStep::Delivered => (DeliveryState::Delivered, None),
                NextStep::RetryAt(t) => (DeliveryState::Pending, Some(ts(t))),
                NextStep::Dead => (DeliveryState::Dead, None),
            };
            // `state = 'pending'`: a worker whose lease ran out may report after another
            // worker already finished the delivery; its late result must not undo that.
            let updated: Option<(i64, i64, String)> = sqlx::query_as(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, \
                 round_attempts = round_attempts + 1, state = ?2, next_attempt_at = ?3, \
                 lease_until = NULL, updated_at = ?4 \
                 WHERE id = ?1 AND state = 'pending' \
                 RETURNING attempts, webhook_id, subject",
            )
            .bind(outcome.delivery_id)
            .bind(state.as_str())
            .bind(next)
            .bind(&at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
            let Some((number, webhook_id, subject)) = updated else {
                continue;
            };
            sqlx::query(
                "INSERT INTO webhook_attempts (delivery_id, number, at, status, latency_ms, \
                 error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(outcome.delivery_id)
            .bind(number)
            .bind(&at)
            .bind(outcome.attempt.status.map(i64::from))
            .bind(outcome.attempt.latency_ms)
            .bind(&outcome.attempt.error)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if state != DeliveryState::Pending {
                promote_next(&mut tx, webhook_id, &subject, &at).await?;
            }
            if outcome.next == NextStep::Delivered {
                sqlx::query(
                    "UPDATE webhooks SET failing_since = NULL, last_error = NULL \
                     WHERE id = ?1 AND failing_since IS NOT NULL",
                )
                .bind(webhook_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            } else {
                sqlx::query(
                    "UPDATE webhooks SET failing_since = COALESCE(failing_since, ?2), \
                     last_error = ?3 WHERE id = ?1",
                )
                .bind(webhook_id)
                .bind(&at)
                .bind(&outcome.attempt.error)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
        }
        // Workers loop on their own results; feed readers have nothing new to read.
        tx.commit().await.map_err(db_error)
    }

    async fn disable_failing_webhooks(
        &self,
        failing_since_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let rows: Vec<(i64, String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, partner_id, environment, url, failing_since, last_error FROM webhooks \
             WHERE enabled = 1 AND disabled_at IS NULL AND failing_since IS NOT NULL \
               AND failing_since < ?1",
        )
        .bind(ts(failing_since_before))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let count = rows.len() as u64;
        for (id, partner, env, url, failing_since, last_error) in rows {
            sqlx::query("UPDATE webhooks SET disabled_at = ?2, updated_at = ?2 WHERE id = ?1")
                .bind(id)
                .bind(ts(now))
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            let partner_id = parse_with("webhooks.partner_id", &partner, PartnerId::parse)?;
            let event = Event::new(
                EventData::WebhookDisabled {
                    partner_id: partner_id.clone(),
                    data: WebhookDisabledData {
                        url,
                        environment: parse_env("webhooks.environment", &env)?,
                        failing_since: parse_ts("webhooks.failing_since", &failing_since)?,
                        disabled_at: now,
                        last_error,
                    },
                },
                now,
            );
            emit(&mut tx, &event, &Audience::Partner(partner_id), now).await?;
        }
        commit(tx).await?;
        Ok(count)
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = ts(before);
        // 1. Each feed's purge line: the newest of its rows older than the cutoff. Cursors
        // below it have expired.
        let lines: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT partner_id, environment, MAX(seq) FROM event_feed \
             WHERE created_at < ?1 GROUP BY partner_id, environment",
        )
        .bind(&before)
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        for (partner, env, line) in lines {
            let mut tx = self.write().await?;
            sqlx::query(
                "UPDATE event_feed_heads SET purged_through = MAX(purged_through, ?3), \
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                 WHERE partner_id = ?1 AND environment = ?2",
            )
            .bind(&partner)
            .bind(&env)
            .bind(line)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            loop {
                let mut tx = self.write().await?;
                let done = sqlx::query(
                    "DELETE FROM event_feed WHERE partner_id = ?1 AND environment = ?2 \
                     AND seq IN (SELECT seq FROM event_feed \
                                 WHERE partner_id = ?1 AND environment = ?2 AND seq <= ?3 \
                                 ORDER BY seq LIMIT ?4)",
                )
                .bind(&partner)
                .bind(&env)
                .bind(line)
                .bind(PURGE_CHUNK)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                if done.rows_affected() < PURGE_CHUNK as u64 {
                    break;
                }
            }
        }
        // 2. Deliveries (whatever their state: past retention nothing is retried any more)
        // with their attempts; a queue whose head went gets its next delivery due.
        loop {
            let mut tx = self.write().await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM webhook_deliveries WHERE created_at < ?1 ORDER BY id LIMIT ?2",
            )
            .bind(&before)
            .bind(PURGE_CHUNK)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
            let n = ids.len();
            if n > 0 {
                let ids = to_json("webhook_deliveries.id", &ids)?;
                sqlx::query(
                    "DELETE FROM webhook_attempts \
                     WHERE delivery_id IN (SELECT value FROM json_each(?1))",
                )
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                sqlx::query(
                    "DELETE FROM webhook_deliveries WHERE id IN (SELECT value FROM json_each(?1))",
                )
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)?;
            if n < PURGE_CHUNK as usize {
                break;
            }
        }
        {
            let mut tx = self.write().await?;
            sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                 WHERE state = 'pending' AND next_attempt_at IS NULL \
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries q \
                                   WHERE q.webhook_id = webhook_deliveries.webhook_id \
                                     AND q.subject = webhook_deliveries.subject \
                                     AND q.state = 'pending' AND q.id < webhook_deliveries.id)",
            )
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
        }
        // 3. Events nothing refers to any more.
        let mut purged = 0;
        loop {
            let mut tx = self.write().await?;
            let done = sqlx::query(
                "DELETE FROM events WHERE rowid IN ( \
                     SELECT rowid FROM events e WHERE e.created_at < ?1 \
                       AND NOT EXISTS (SELECT 1 FROM event_feed f WHERE f.event_id = e.id) \
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
                                       WHERE d.event_id = e.id) \
                     LIMIT ?2)",
            )
            .bind(&before)
            .bind(PURGE_CHUNK)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            purged += done.rows_affected();
            if done.rows_affected() < PURGE_CHUNK as u64 {
                break;
            }
        }
        Ok(purged)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // The earliest moment a delivery may be claimed: when it is due and, if a worker holds
        // it, when that lease runs out.
        let next: Option<String> = sqlx::query_scalar(
            "SELECT MIN(MAX(d.next_attempt_at, COALESCE(d.lease_until, ''))) \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.state = 'pending' AND d.next_attempt_at IS NOT NULL \
               AND w.enabled = 1 AND w.disabled_at IS NULL",
        )
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        parse_opt_ts("webhook_deliveries.next_attempt_at", next.as_deref())
    }
}
