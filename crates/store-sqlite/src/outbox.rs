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
use sqlx::{FromRow, Sqlite, SqliteConnection, Transaction};
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

pub(crate) fn signal_committed() {
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

/// The feed rows an event gets: a CTE naming the recipients `(partner_id, environment)`, then
/// the heads' upsert that hands out each feed's next seq. `?1` is the station of the event (or
/// NULL), `?2` the audience partner (NULL for every partner that may see the station), `?3` the
/// one environment of an event without a station that belongs to one feed only (settlement
/// events: production), else NULL.
///
/// A station event goes to the environment of its station (sandbox stations to sandbox feeds)
/// and, for station watchers, to the partners that may see it: every partner not suspended for
/// a sandbox station (all hold sandbox credentials), active partners whose contract scope has
/// it otherwise. An event without a station (account events) goes to both of the partner's
/// feeds. A partner unknown here has no feed (settlement records may name partners the store
/// does not hold, e.g. imported ones), so its events are kept but reach nobody. One statement, because each statement is a round trip to SQLite's thread and this
/// runs in every status change's transaction.
const FEED_HEADS_SQL: &str = "\
    WITH station AS ( \
        SELECT CASE WHEN ?1 IS NULL THEN ?3 \
                    WHEN (SELECT sandbox FROM stations WHERE id = ?1) = 1 THEN 'sandbox' \
                    ELSE 'production' END AS env), \
    recipients (partner_id, environment) AS ( \
        SELECT ?2, e.value FROM station, json_each('[\"sandbox\",\"production\"]') e \
        WHERE ?2 IS NOT NULL AND (station.env IS NULL OR station.env = e.value) \
          AND EXISTS (SELECT 1 FROM partners WHERE id = ?2) \
        UNION ALL \
        SELECT p.id, station.env FROM partners p, station \
        WHERE ?2 IS NULL AND station.env = 'sandbox' AND p.status <> 'suspended' \
        UNION ALL \
        SELECT p.id, station.env FROM partners p, station \
        WHERE ?2 IS NULL AND station.env = 'production' AND p.status = 'active' \
          AND p.contract IS NOT NULL \
          AND (json_extract(p.contract, '$.station_scope.kind') = 'all' \
               OR EXISTS (SELECT 1 FROM json_each(p.contract, '$.station_scope.station_ids') s \
                          WHERE s.value = ?1))) \
    INSERT INTO event_feed_heads (partner_id, environment, last_seq) \
    SELECT partner_id, environment, 1 FROM recipients WHERE true \
    ON CONFLICT (partner_id, environment) DO UPDATE SET last_seq = last_seq + 1 \
    RETURNING partner_id, environment, last_seq";

/// Writes `event` inside `tx`: the event once, one row in each feed of `audience` with that
/// feed's next `seq`, and one due delivery per enabled webhook of those feeds subscribed to the
/// event's type. Call [`commit`] afterwards. `now` stamps the delivery rows (due at once).
/// Four statements whatever the number of partners.
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
    // The statements below build temporary tables; `connect` keeps them in memory
    // (`temp_store`), not in a file made and deleted per event.
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
    let station = match audience {
        Audience::StationWatchers(station) => Some(station.as_str()),
        Audience::Partner(_) => event.data.station_id().map(|s| s.as_str()),
    };
    let partner = match audience {
        Audience::Partner(p) => Some(p.as_str()),
        Audience::StationWatchers(_) => None,
    };
    let only = event.data.environment().map(Environment::as_str);
    let rows: Vec<(String, String, i64)> = sqlx::query_as(FEED_HEADS_SQL)
        .bind(station)
        .bind(partner)
        .bind(only)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
    if rows.is_empty() {
        return Ok(());
    }
    let rows = to_json("event_feed", &rows)?;
    sqlx::query(
        "INSERT INTO event_feed (partner_id, environment, seq, event_id, event_type, \
         created_at) \
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
                json_extract(value, '$[2]'), ?2, ?3, ?4 FROM json_each(?1)",
    )
    .bind(&rows)
    .bind(&id)
    .bind(event_type.as_str())
    .bind(&created)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, subject, seq, \
         state, round_started_at, next_attempt_at, created_at, updated_at) \
         SELECT w.id, ?2, ?3, ?4, json_extract(f.value, '$[2]'), 'pending', ?5, \
                CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries q \
                                  WHERE q.webhook_id = w.id AND q.subject = ?4 \
                                    AND q.state = 'pending') \
                     THEN NULL ELSE ?5 END, \
                ?5, ?5 \
         FROM json_each(?1) f \
         JOIN webhooks w ON w.partner_id = json_extract(f.value, '$[0]') \
                        AND w.environment = json_extract(f.value, '$[1]') \
         WHERE w.enabled = 1 AND w.disabled_at IS NULL AND instr(w.event_types, ?6) > 0",
    )
    .bind(&rows)
    .bind(&id)
    .bind(event_type.as_str())
    .bind(&subject)
    .bind(&now)
    .bind(format!(" {} ", event_type.as_str()))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
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

const DELIVERY_COLUMNS: &str = "id, event_id, event_type, seq, state, next_attempt_at, created_at";

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

/// A claimed delivery as [`CLAIM_SQL`] returns it: the row, its event, and its webhook as a
/// JSON array `[partner_id, environment, url, secret, previous_secret, previous_secret_until]`.
#[derive(Debug, sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    event_id: String,
    event_type: String,
    event_created_at: String,
    subject: String,
    data: String,
    seq: Option<i64>,
    round_attempts: i64,
    round_started_at: String,
    webhook: String,
}

/// The claim, as one transaction in one round trip. Parameters are anonymous, bound in the
/// order they appear: the lease's end, `now` four times, the per-webhook cap, the limit.
/// In RETURNING the updated row's columns carry no type; `CAST` keeps the event's lookup on
/// its primary key whatever SQLite's version (3.40 scans `events` without it; the bundled
/// one does not).
///
/// Only queue heads are due (see 0004), the NOT EXISTS guards the order even when a replay
/// put an older delivery back; the window counts, per webhook, what is already in flight
/// (leases not yet expired, on any worker) against the cap. Leased deliveries were due when
/// claimed, so they are found in the due index's range up to `now` (0009 dropped the index
/// on leases: it cost an index write on every claim and every result).
macro_rules! claim_statement {
    () => {
        "    UPDATE webhook_deliveries SET lease_until = ? WHERE id IN ( \
        WITH inflight AS ( \
            SELECT webhook_id, COUNT(*) AS n \
            FROM webhook_deliveries INDEXED BY webhook_deliveries_due_idx \
            WHERE state = 'pending' AND next_attempt_at <= ? AND lease_until > ? \
            GROUP BY webhook_id), \
        due AS ( \
            SELECT d.id, d.webhook_id, d.next_attempt_at, \
                   ROW_NUMBER() OVER (PARTITION BY d.webhook_id \
                                      ORDER BY d.next_attempt_at, d.id) AS rn \
            FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
            WHERE d.state = 'pending' AND d.next_attempt_at <= ? \
              AND (d.lease_until IS NULL OR d.lease_until <= ?) \
              AND w.enabled = 1 AND w.disabled_at IS NULL \
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                              WHERE e.webhook_id = d.webhook_id AND e.subject = d.subject \
                                AND e.state = 'pending' AND e.id < d.id)) \
        SELECT due.id FROM due LEFT JOIN inflight i ON i.webhook_id = due.webhook_id \
        WHERE due.rn + COALESCE(i.n, 0) <= ? \
        ORDER BY due.next_attempt_at, due.id LIMIT ?) \
    RETURNING id, event_id, event_type, subject, seq, round_attempts, round_started_at, \
        (SELECT e.created_at FROM events e \
         WHERE e.id = CAST(webhook_deliveries.event_id AS TEXT)) \
            AS event_created_at, \
        (SELECT e.data FROM events e \
         WHERE e.id = CAST(webhook_deliveries.event_id AS TEXT)) AS data, \
        (SELECT json_array(w.partner_id, w.environment, w.url, w.secret, w.previous_secret, \
                           w.previous_secret_until) \
         FROM webhooks w WHERE w.id = webhook_deliveries.webhook_id) AS webhook; "
    };
}

const CLAIM_SQL: &str = concat!("BEGIN IMMEDIATE; ", claim_statement!(), "COMMIT");

/// A batch of results, as one transaction in one round trip. Every parameter but one is the
/// batch as a JSON array of `[delivery id, state, next attempt, at, status, latency_ms,
/// error]`; they are anonymous, bound in order: the batch four times, the time a finished
/// delivery's successor becomes due, the batch.
///
/// Only deliveries still pending take a result (`d.state = 'pending'`): a worker whose lease
/// ran out may report after another worker already finished the delivery, and its late
/// result must not undo that. The statements that read that state run before the UPDATE
/// that changes it. Each webhook's health: failures start (or continue) `failing_since`; any
/// success in the batch clears it, so it comes after. A finished delivery makes the next one
/// of its (webhook, subject) queue due.
macro_rules! record_statements {
    () => {
        "    INSERT INTO webhook_attempts (delivery_id, number, at, status, latency_ms, error) \
    SELECT d.id, d.attempts + 1, o.value ->> 3, o.value ->> 4, o.value ->> 5, o.value ->> 6 \
    FROM json_each(?) o JOIN webhook_deliveries d ON d.id = o.value ->> 0 \
    WHERE d.state = 'pending'; \
    UPDATE webhooks SET failing_since = COALESCE(failing_since, f.f_at), \
        last_error = f.f_error \
    FROM (SELECT d.webhook_id AS f_webhook, MIN(o.value ->> 3) AS f_at, \
                 o.value ->> 6 AS f_error \
          FROM json_each(?) o JOIN webhook_deliveries d ON d.id = o.value ->> 0 \
          WHERE d.state = 'pending' AND o.value ->> 1 <> 'delivered' \
          GROUP BY d.webhook_id) AS f \
    WHERE webhooks.id = f.f_webhook; \
    UPDATE webhooks SET failing_since = NULL, last_error = NULL \
    WHERE failing_since IS NOT NULL AND id IN ( \
        SELECT d.webhook_id FROM json_each(?) o \
        JOIN webhook_deliveries d ON d.id = o.value ->> 0 \
        WHERE d.state = 'pending' AND o.value ->> 1 = 'delivered'); \
    UPDATE webhook_deliveries SET attempts = attempts + 1, \
        round_attempts = round_attempts + 1, state = o.o_state, next_attempt_at = o.o_next, \
        lease_until = NULL, updated_at = o.o_at \
    FROM (SELECT value ->> 0 AS o_id, value ->> 1 AS o_state, value ->> 2 AS o_next, \
                 value ->> 3 AS o_at FROM json_each(?)) AS o \
    WHERE webhook_deliveries.id = o.o_id AND webhook_deliveries.state = 'pending'; \
    UPDATE webhook_deliveries SET next_attempt_at = ? \
    WHERE state = 'pending' AND next_attempt_at IS NULL AND id IN ( \
        SELECT (SELECT q.id FROM webhook_deliveries q \
                WHERE q.webhook_id = d.webhook_id AND q.subject = d.subject \
                  AND q.state = 'pending' ORDER BY q.id LIMIT 1) \
        FROM json_each(?) o JOIN webhook_deliveries d ON d.id = o.value ->> 0 \
        WHERE o.value ->> 1 <> 'pending'); "
    };
}

const RECORD_SQL: &str = concat!("BEGIN IMMEDIATE; ", record_statements!(), "COMMIT");

/// A batch of results, then a claim: [`RECORD_SQL`]'s statements and [`CLAIM_SQL`]'s, in one
/// transaction and one round trip; parameters as theirs, in that order.
const RECORD_CLAIM_SQL: &str = concat!(
    "BEGIN IMMEDIATE; ",
    record_statements!(),
    claim_statement!(),
    "COMMIT"
);

/// Runs a whole write transaction sent as one multi-statement query (`BEGIN IMMEDIATE; …;
/// COMMIT`) on the writer connection. Each statement sent separately is a round trip between
/// a Tokio worker and sqlx's SQLite thread, and while a transaction is open every one of them
/// holds the single write lock that the chargers' status writes also wait for; on a busy
/// 2-core machine a hand-off can wait milliseconds for a core. If a statement fails, the
/// rest of the script does not run and the transaction is rolled back here, so the pooled
/// connection goes back clean.
async fn script(
    writer: &sqlx::SqlitePool,
    query: ScriptQuery<'_>,
) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
    let mut conn = writer.acquire().await.map_err(db_error)?;
    match query.fetch_all(&mut *conn).await {
        Ok(rows) => Ok(rows),
        Err(e) => {
            if let Err(r) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                let none_open = matches!(&r, sqlx::Error::Database(db)
                    if db.message().contains("no transaction is active"));
                if !none_open {
                    tracing::warn!(error = %r, "could not roll back; closing the connection");
                    conn.close_on_drop();
                }
            }
            Err(db_error(e))
        }
    }
}

type ScriptQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds [`claim_statement`]'s parameters, in their order.
fn bind_claim<'q>(query: ScriptQuery<'q>, request: &ClaimRequest) -> ScriptQuery<'q> {
    let now = ts(request.now);
    query
        .bind(ts(request.now + request.lease))
        .bind(now.clone())
        .bind(now.clone())
        .bind(now.clone())
        .bind(now)
        .bind(i64::from(request.per_webhook))
        .bind(i64::from(request.limit))
}

/// The deliveries a claim returned, oldest first.
fn claimed(
    rows: &[sqlx::sqlite::SqliteRow],
    request: &ClaimRequest,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let mut rows = rows
        .iter()
        .map(ClaimRow::from_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    rows.sort_by_key(|r| r.id);
    let lease_until = crate::columns::stored(request.now + request.lease);
    rows.into_iter()
        .map(|r| {
            let (partner_id, environment, url, secret, previous_secret, previous_until): (
                String,
                String,
                String,
                String,
                Option<String>,
                Option<String>,
            ) = serde_json::from_str(&r.webhook).map_err(|e| CorruptValue::new("webhooks", e))?;
            let previous_until =
                parse_opt_ts("webhooks.previous_secret_until", previous_until.as_deref())?;
            let previous_secret = match (previous_secret.as_deref(), previous_until) {
                (Some(s), Some(until)) if until > request.now => {
                    Some(parse_secret("webhooks.previous_secret", s)?)
                }
                _ => None,
            };
            Ok(ClaimedDelivery {
                id: r.id,
                feed: FeedKey {
                    partner_id: parse_with("webhooks.partner_id", &partner_id, PartnerId::parse)?,
                    environment: parse_env("webhooks.environment", &environment)?,
                },
                url,
                secret: parse_secret("webhooks.secret", &secret)?,
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

/// [`record_statements`]'s parameters for a batch of results.
struct ResultBatch {
    /// `[delivery id, state, next attempt, at, status, latency_ms, error]` per result.
    rows: String,
    /// When a finished delivery's successor becomes due: the batch's last attempt.
    at: String,
}

impl ResultBatch {
    fn new(outcomes: &[AttemptOutcome]) -> Result<ResultBatch, StoreError> {
        // One result per delivery: two for the same one (its lease ran out while this worker
        // still held it, and it claimed it again) would number the same attempt twice.
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<_> = outcomes
            .iter()
            .filter(|o| seen.insert(o.delivery_id))
            .map(|o| {
                let (state, next) = match o.next {
                    NextStep::Delivered => (DeliveryState::Delivered, None),
                    NextStep::RetryAt(t) => (DeliveryState::Pending, Some(ts(t))),
                    NextStep::Dead => (DeliveryState::Dead, None),
                };
                (
                    o.delivery_id,
                    state.as_str(),
                    next,
                    ts(o.attempt.at),
                    o.attempt.status,
                    o.attempt.latency_ms,
                    o.attempt.error.as_deref(),
                )
            })
            .collect();
        Ok(ResultBatch {
            rows: to_json("webhook_attempts", &rows)?,
            at: ts(outcomes
                .iter()
                .map(|o| o.attempt.at)
                .max()
                .unwrap_or_default()),
        })
    }

    /// Binds the parameters, in their order.
    fn bind<'q>(&self, query: ScriptQuery<'q>) -> ScriptQuery<'q> {
        query
            .bind(self.rows.clone())
            .bind(self.rows.clone())
            .bind(self.rows.clone())
            .bind(self.rows.clone())
            .bind(self.at.clone())
            .bind(self.rows.clone())
    }
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
        // Most wake-ups find nothing due (events for partners without a webhook create no
        // delivery; deliveries in backoff wait): answer those from a reader, so the worker
        // takes the single write lock only when there is something to claim, and never once
        // per committed event for nothing.
        let due: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries d \
                            JOIN webhooks w ON w.id = d.webhook_id \
                            WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 \
                              AND (d.lease_until IS NULL OR d.lease_until <= ?1) \
                              AND w.enabled = 1 AND w.disabled_at IS NULL)",
        )
        .bind(&now)
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        if !due {
            return Ok(Vec::new());
        }
        // One round trip for the whole transaction (see `script`): the claim's UPDATE returns
        // each delivery with its event and webhook, so the write lock is held for one
        // hand-off to SQLite's thread, not four.
        let rows = script(&self.writer, bind_claim(sqlx::query(CLAIM_SQL), request)).await?;
        claimed(&rows, request)
    }

    async fn record_attempts(&self, outcomes: &[AttemptOutcome]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let batch = ResultBatch::new(outcomes)?;
        // Workers loop on their own results; feed readers have nothing new to read.
        script(&self.writer, batch.bind(sqlx::query(RECORD_SQL))).await?;
        Ok(())
    }

    async fn record_and_claim(
        &self,
        outcomes: &[AttemptOutcome],
        request: &ClaimRequest,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        if outcomes.is_empty() {
            return self.claim_deliveries(request).await;
        }
        if request.limit == 0 {
            self.record_attempts(outcomes).await?;
            return Ok(Vec::new());
        }
        let batch = ResultBatch::new(outcomes)?;
        let query = bind_claim(batch.bind(sqlx::query(RECORD_CLAIM_SQL)), request);
        let rows = script(&self.writer, query).await?;
        claimed(&rows, request)
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
            // Due at the cutoff: already past, so at once.
            sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = ?1 \
                 WHERE state = 'pending' AND next_attempt_at IS NULL \
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries q \
                                   WHERE q.webhook_id = webhook_deliveries.webhook_id \
                                     AND q.subject = webhook_deliveries.subject \
                                     AND q.state = 'pending' AND q.id < webhook_deliveries.id)",
            )
            .bind(&before)
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use openpile_core::event::{
        ConnectorStatusChangedData, ReservationEndedData, ReservationRef, WebhookTestData,
    };
    use openpile_core::ids::{ChargerId, ConnectorId, ReservationId, StationId};
    use openpile_core::settlement::events::StatementEventKind;
    use openpile_core::status::ConnectorStatus;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap()
    }

    fn feed(partner: &str, env: Environment) -> FeedKey {
        FeedKey {
            partner_id: PartnerId::parse(partner).unwrap(),
            environment: env,
        }
    }

    fn secret() -> WebhookSecret {
        WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    /// Stations S1, S2 (production) and SB (sandbox); partners A (all stations), B (only S1),
    /// C (applicant: sandbox only), D (suspended).
    async fn seeded() -> SqliteStore {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let mut sql = vec![
            "INSERT INTO tariffs (id, version, name, effective_from, segments) \
             VALUES ('T', 1, 't', '2026-01-01', '[]')"
                .to_string(),
        ];
        for (id, sandbox) in [("S1", 0), ("S2", 0), ("SB", 1)] {
            sql.push(format!(
                "INSERT INTO stations (id, name, address, area_code, province, city, district, \
                 lat, lng, opening_hours, service_phone, status, tariff_id, sandbox) VALUES \
                 ('{id}', 'n', 'a', '310115', 'p', 'c', 'd', 31.2, 121.5, \
                 '{{\"kind\":\"always_open\"}}', '400', 'operational', 'T', {sandbox})"
            ));
        }
        for (id, status, scope) in [
            ("A", "active", r#"{"station_scope":{"kind":"all"}}"#),
            (
                "B",
                "active",
                r#"{"station_scope":{"kind":"list","station_ids":["S1"]}}"#,
            ),
            ("C", "applicant", "null"),
            ("D", "suspended", r#"{"station_scope":{"kind":"all"}}"#),
        ] {
            let contract = if scope == "null" {
                "NULL".to_string()
            } else {
                format!("'{scope}'")
            };
            sql.push(format!(
                "INSERT INTO partners (id, name, application_id, email, status, contract) \
                 VALUES ('{id}', '{id}', 'app-{id}', '{id}@x.cn', '{status}', {contract})"
            ));
        }
        for s in sql {
            sqlx::query(sqlx::AssertSqlSafe(s))
                .execute(store.pool())
                .await
                .unwrap();
        }
        store
    }

    fn status_event(station: &str, connector: &str, seq: i64, at: DateTime<Utc>) -> Event {
        Event::new(
            EventData::ConnectorStatusChanged(ConnectorStatusChangedData {
                station_id: StationId::parse(station).unwrap(),
                charger_id: ChargerId::parse("CP").unwrap(),
                connector_id: ConnectorId::parse(connector).unwrap(),
                status: ConnectorStatus::Available,
                previous_status: ConnectorStatus::Offline,
                status_seq: seq,
                changed_at: at,
            }),
            at,
        )
    }

    async fn write(store: &SqliteStore, event: &Event, audience: Audience, now: DateTime<Utc>) {
        let mut tx = store.write().await.unwrap();
        emit(&mut tx, event, &audience, now).await.unwrap();
        commit(tx).await.unwrap();
    }

    async fn status(store: &SqliteStore, station: &str, connector: &str, seq: i64) -> Event {
        let e = status_event(station, connector, seq, t0());
        write(
            store,
            &e,
            Audience::StationWatchers(StationId::parse(station).unwrap()),
            t0(),
        )
        .await;
        e
    }

    async fn all(store: &SqliteStore, f: &FeedKey) -> Vec<FeedEvent> {
        let q = FeedQuery {
            after: 0,
            limit: 1000,
            types: Vec::new(),
        };
        store.read_feed(f, &q).await.unwrap().events
    }

    fn claim(now: DateTime<Utc>, per_webhook: u32) -> ClaimRequest {
        ClaimRequest {
            now,
            limit: 100,
            lease: Duration::seconds(60),
            per_webhook,
        }
    }

    fn outcome(id: i64, next: NextStep, at: DateTime<Utc>) -> AttemptOutcome {
        AttemptOutcome {
            delivery_id: id,
            attempt: DeliveryAttempt {
                at,
                status: Some(if next == NextStep::Delivered {
                    204
                } else {
                    500
                }),
                latency_ms: 3,
                error: (next != NextStep::Delivered).then(|| "HTTP 500".to_string()),
            },
            next,
        }
    }

    async fn hook(store: &SqliteStore, f: &FeedKey, types: &[EventType]) -> Webhook {
        let config = WebhookConfig {
            url: "http://127.0.0.1:9/hook".into(),
            event_types: types.to_vec(),
            enabled: true,
        };
        store
            .put_webhook(f, &config, &secret(), t0())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn station_events_reach_exactly_the_partners_that_may_see_the_station() {
        let store = seeded().await;
        let prod = |p| feed(p, Environment::Production);
        let sbx = |p| feed(p, Environment::Sandbox);
        status(&store, "S2", "S2-1", 1).await;
        assert_eq!(all(&store, &prod("A")).await.len(), 1);
        for f in [prod("B"), prod("C"), prod("D"), sbx("A"), sbx("B")] {
            assert!(all(&store, &f).await.is_empty(), "{f:?}");
        }
        status(&store, "S1", "S1-1", 1).await;
        assert_eq!(all(&store, &prod("A")).await.len(), 2);
        assert_eq!(all(&store, &prod("B")).await.len(), 1);
        assert!(all(&store, &prod("D")).await.is_empty());
        status(&store, "SB", "SB-1", 1).await;
        for p in ["A", "B", "C"] {
            let events = all(&store, &sbx(p)).await;
            assert_eq!(events.len(), 1, "{p}");
            assert_eq!(events[0].subject, "connector:SB-1");
            assert_eq!(events[0].seq, 1);
        }
        assert!(all(&store, &sbx("D")).await.is_empty());
        assert_eq!(all(&store, &prod("A")).await.len(), 2);
    }

    #[tokio::test]
    async fn own_events_go_to_the_owner_only_in_the_station_environment() {
        let store = seeded().await;
        let reservation = |station: &str| {
            Event::new(
                EventData::ReservationExpired(ReservationEndedData {
                    reservation: ReservationRef {
                        reservation_id: ReservationId::parse("r1").unwrap(),
                        partner_order_id: "o1".into(),
                        station_id: StationId::parse(station).unwrap(),
                        connector_id: ConnectorId::parse("X-1").unwrap(),
                    },
                    ended_at: t0(),
                }),
                t0(),
            )
        };
        let b = PartnerId::parse("B").unwrap();
        write(
            &store,
            &reservation("SB"),
            Audience::Partner(b.clone()),
            t0(),
        )
        .await;
        write(
            &store,
            &reservation("S2"),
            Audience::Partner(b.clone()),
            t0(),
        )
        .await;
        let sandbox = all(&store, &feed("B", Environment::Sandbox)).await;
        let production = all(&store, &feed("B", Environment::Production)).await;
        assert_eq!(sandbox.len(), 1);
        assert_eq!(production.len(), 1);
        assert_eq!(sandbox[0].event_type, EventType::ReservationExpired);
        assert!(sandbox[0].data.contains("\"station_id\":\"SB\""));
        assert!(
            all(&store, &feed("A", Environment::Production))
                .await
                .is_empty()
        );
        // Account events: both environments.
        let test = Event::new(
            EventData::WebhookTest {
                partner_id: b.clone(),
                data: WebhookTestData {
                    message: "m".into(),
                    requested_at: t0(),
                },
            },
            t0(),
        );
        write(&store, &test, Audience::Partner(b), t0()).await;
        assert_eq!(all(&store, &feed("B", Environment::Sandbox)).await.len(), 2);
        assert_eq!(
            all(&store, &feed("B", Environment::Production)).await.len(),
            2
        );
    }

    #[tokio::test]
    async fn feeds_page_by_seq_and_filter_by_type() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        for i in 1..=5 {
            status(&store, "S1", &format!("S1-{i}"), 1).await;
        }
        assert_eq!(store.feed_head(&a).await.unwrap(), 5);
        let page = store
            .read_feed(
                &a,
                &FeedQuery {
                    after: 2,
                    limit: 2,
                    types: Vec::new(),
                },
            )
            .await
            .unwrap();
        let seqs: Vec<i64> = page.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4]);
        assert_eq!(page.next_after, 4);
        assert_eq!(page.last_seq, 5);
        let none = store
            .read_feed(
                &a,
                &FeedQuery {
                    after: 0,
                    limit: 10,
                    types: vec![EventType::SessionCompleted],
                },
            )
            .await
            .unwrap();
        assert!(none.events.is_empty());
        // A filtered read still moves the cursor past what it looked at.
        assert_eq!(none.next_after, 5);
    }

    #[tokio::test]
    async fn deliveries_go_only_to_enabled_subscribed_webhooks() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        let b = feed("B", Environment::Production);
        hook(&store, &a, &[EventType::ConnectorStatusChanged]).await;
        hook(&store, &b, &[EventType::SessionCompleted]).await;
        status(&store, "S1", "S1-1", 1).await;
        let claimed = store.claim_deliveries(&claim(t0(), 8)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].feed, a);
        assert_eq!(claimed[0].seq, Some(1));
        assert!(claimed[0].data.contains("S1-1"));
        // Disabled by the partner: nothing new is queued.
        let off = WebhookConfig {
            url: "http://127.0.0.1:9/hook".into(),
            event_types: vec![EventType::ConnectorStatusChanged],
            enabled: false,
        };
        let w = store.put_webhook(&a, &off, &secret(), t0()).await.unwrap();
        assert_eq!(w.secret, secret());
        status(&store, "S1", "S1-2", 1).await;
        let later = t0() + Duration::seconds(120);
        assert!(
            store
                .claim_deliveries(&claim(later, 8))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_subject_is_delivered_in_order_and_endpoints_are_capped() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        hook(&store, &a, &[EventType::ConnectorStatusChanged]).await;
        for seq in 1..=3 {
            status(&store, "S1", "S1-1", seq).await;
        }
        status(&store, "S1", "S1-2", 1).await;
        status(&store, "S1", "S1-3", 1).await;
        // Heads only (S1-1's first, S1-2, S1-3), at most 2 in flight.
        let first = store.claim_deliveries(&claim(t0(), 2)).await.unwrap();
        let subjects: Vec<&str> = first.iter().map(|d| d.subject.as_str()).collect();
        assert_eq!(subjects, vec!["connector:S1-1", "connector:S1-2"]);
        assert_eq!(first[0].seq, Some(1));
        // Leased: not handed out again; the cap counts them.
        assert!(
            store
                .claim_deliveries(&claim(t0(), 2))
                .await
                .unwrap()
                .is_empty()
        );
        let third = store.claim_deliveries(&claim(t0(), 3)).await.unwrap();
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].subject, "connector:S1-3");
        // A failure keeps S1-1's queue blocked until its retry.
        let retry_at = t0() + Duration::seconds(30);
        store
            .record_attempts(&[
                outcome(first[0].id, NextStep::RetryAt(retry_at), t0()),
                outcome(first[1].id, NextStep::Delivered, t0()),
                outcome(third[0].id, NextStep::Delivered, t0()),
            ])
            .await
            .unwrap();
        assert!(
            store
                .claim_deliveries(&claim(t0(), 8))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.next_due().await.unwrap(), Some(retry_at));
        let again = store.claim_deliveries(&claim(retry_at, 8)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].id, again[0].round_attempts), (first[0].id, 1));
        store
            .record_attempts(&[outcome(again[0].id, NextStep::Dead, retry_at)])
            .await
            .unwrap();
        // Dead unblocks the queue: seq 2, then seq 3.
        let next = store.claim_deliveries(&claim(retry_at, 8)).await.unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].seq, Some(2));
        // The successes in between cleared it; the dead letter set it again.
        let w = store.webhook(&a).await.unwrap().unwrap();
        assert_eq!(w.failing_since, Some(retry_at));
    }

    /// The worker's step: a result frees its endpoint's slot and makes the next delivery of
    /// its queue due, and the claim in the same transaction takes that one at once.
    #[tokio::test]
    async fn a_result_and_the_next_claim_go_in_one_step() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        hook(&store, &a, &[EventType::ConnectorStatusChanged]).await;
        status(&store, "S1", "S1-1", 1).await;
        status(&store, "S1", "S1-1", 2).await;
        status(&store, "S1", "S1-2", 1).await;
        let first = store.claim_deliveries(&claim(t0(), 1)).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].subject.as_str(), first[0].seq),
            ("connector:S1-1", Some(1))
        );
        // The cap is full: nothing more without a result.
        assert!(
            store
                .claim_deliveries(&claim(t0(), 1))
                .await
                .unwrap()
                .is_empty()
        );
        let next = store
            .record_and_claim(
                &[outcome(first[0].id, NextStep::Delivered, t0())],
                &claim(t0(), 1),
            )
            .await
            .unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(
            (next[0].subject.as_str(), next[0].seq),
            ("connector:S1-1", Some(2))
        );
        assert!(next[0].data.contains("S1-1"));
        let log = store.list_deliveries(&a, None, 10).await.unwrap();
        let done = log.items.iter().find(|d| d.id == first[0].id).unwrap();
        assert_eq!(done.state, DeliveryState::Delivered);
        assert_eq!(done.attempts.len(), 1);
        // A failure keeps its slot free too, and its queue blocked until the retry.
        let retry_at = t0() + Duration::seconds(30);
        let last = store
            .record_and_claim(
                &[outcome(next[0].id, NextStep::RetryAt(retry_at), t0())],
                &claim(t0(), 1),
            )
            .await
            .unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].subject, "connector:S1-2");
        let w = store.webhook(&a).await.unwrap().unwrap();
        assert_eq!(w.failing_since, Some(t0()));
        // Results alone, with no slot to fill.
        let none = ClaimRequest {
            limit: 0,
            ..claim(t0(), 1)
        };
        let taken = store
            .record_and_claim(&[outcome(last[0].id, NextStep::Delivered, t0())], &none)
            .await
            .unwrap();
        assert!(taken.is_empty());
        let w = store.webhook(&a).await.unwrap().unwrap();
        assert_eq!(w.failing_since, None);
    }

    #[tokio::test]
    async fn expired_leases_come_back_and_late_results_do_not_undo_others() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        hook(&store, &a, &[EventType::ConnectorStatusChanged]).await;
        status(&store, "S1", "S1-1", 1).await;
        let first = store.claim_deliveries(&claim(t0(), 8)).await.unwrap();
        let after_lease = t0() + Duration::seconds(61);
        let second = store
            .claim_deliveries(&claim(after_lease, 8))
            .await
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].event_id, first[0].event_id);
        store
            .record_attempts(&[outcome(second[0].id, NextStep::Delivered, after_lease)])
            .await
            .unwrap();
        // The first worker reports a failure late: ignored.
        store
            .record_attempts(&[outcome(
                first[0].id,
                NextStep::RetryAt(after_lease + Duration::seconds(5)),
                after_lease,
            )])
            .await
            .unwrap();
        let log = store.list_deliveries(&a, None, 10).await.unwrap();
        assert_eq!(log.items.len(), 1);
        assert_eq!(log.items[0].state, DeliveryState::Delivered);
        assert_eq!(log.items[0].attempts.len(), 1);
        assert_eq!(log.items[0].attempts[0].status, Some(204));
        // A replay queues it again.
        let replay = store
            .retry_delivery(&a, log.items[0].id, after_lease)
            .await
            .unwrap();
        assert_eq!(replay.state, DeliveryState::Pending);
        assert_eq!(
            store
                .claim_deliveries(&claim(after_lease, 8))
                .await
                .unwrap()
                .len(),
            1
        );
        let other = feed("B", Environment::Production);
        assert!(matches!(
            store
                .retry_delivery(&other, log.items[0].id, after_lease)
                .await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn purged_feeds_expire_old_cursors() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        hook(&store, &a, &[EventType::ConnectorStatusChanged]).await;
        status(&store, "S1", "S1-1", 1).await;
        status(&store, "S1", "S1-1", 2).await;
        let late = t0() + Duration::days(8);
        let e = status_event("S1", "S1-1", 3, late);
        write(
            &store,
            &e,
            Audience::StationWatchers(StationId::parse("S1").unwrap()),
            late,
        )
        .await;
        let purged = store.purge_events(t0() + Duration::days(1)).await.unwrap();
        assert_eq!(purged, 2);
        let q = |after| FeedQuery {
            after,
            limit: 10,
            types: Vec::new(),
        };
        assert!(matches!(
            store.read_feed(&a, &q(1)).await,
            Err(FeedError::CursorExpired)
        ));
        let from_start = store.read_feed(&a, &q(0)).await.unwrap();
        assert_eq!(from_start.events.len(), 1);
        assert_eq!(from_start.events[0].seq, 3);
        assert_eq!(store.read_feed(&a, &q(2)).await.unwrap().events.len(), 1);
        // The surviving delivery became its queue's head.
        let claimed = store.claim_deliveries(&claim(late, 8)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].seq, Some(3));
    }

    #[tokio::test]
    async fn webhooks_failing_too_long_are_disabled_and_the_partner_told() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        hook(&store, &a, &[EventType::ConnectorStatusChanged]).await;
        status(&store, "S1", "S1-1", 1).await;
        let d = store.claim_deliveries(&claim(t0(), 8)).await.unwrap();
        store
            .record_attempts(&[outcome(d[0].id, NextStep::RetryAt(t0()), t0())])
            .await
            .unwrap();
        let now = t0() + Duration::days(4);
        assert_eq!(
            store
                .disable_failing_webhooks(now - Duration::days(3), now)
                .await
                .unwrap(),
            1
        );
        let w = store.webhook(&a).await.unwrap().unwrap();
        assert_eq!(w.disabled_at, Some(now));
        let events = all(&store, &a).await;
        assert_eq!(
            events.last().unwrap().event_type,
            EventType::WebhookDisabled
        );
        assert!(
            store
                .claim_deliveries(&claim(now, 8))
                .await
                .unwrap()
                .is_empty()
        );
        // Re-enabling sends what waits at once.
        hook(&store, &a, &[EventType::ConnectorStatusChanged]).await;
        let w = store.webhook(&a).await.unwrap().unwrap();
        assert_eq!((w.disabled_at, w.failing_since), (None, None));
        assert_eq!(
            store.claim_deliveries(&claim(now, 8)).await.unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn secrets_rotate_and_test_deliveries_skip_the_feed() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        let first = hook(&store, &a, &[EventType::SessionCompleted]).await;
        let new = WebhookSecret::new("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let until = t0() + Duration::hours(24);
        let w = store
            .rotate_webhook_secret(&a, &new, until, t0())
            .await
            .unwrap();
        assert_eq!(w.secret, new);
        assert_eq!(w.previous_secret, Some(first.secret));
        let test = Event::new(
            EventData::WebhookTest {
                partner_id: a.partner_id.clone(),
                data: WebhookTestData {
                    message: "hi".into(),
                    requested_at: t0(),
                },
            },
            t0(),
        );
        let d = store.queue_test_delivery(&a, &test).await.unwrap();
        assert_eq!((d.seq, d.state), (None, DeliveryState::Pending));
        assert!(all(&store, &a).await.is_empty());
        let claimed = store.claim_deliveries(&claim(t0(), 8)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(claimed[0].previous_secret.is_some());
        let after_grace = store
            .claim_deliveries(&claim(until + Duration::seconds(61), 8))
            .await
            .unwrap();
        assert!(after_grace[0].previous_secret.is_none());
        let none = feed("C", Environment::Production);
        assert!(matches!(
            store.queue_test_delivery(&none, &test).await,
            Err(StoreError::NotFound)
        ));
    }

    fn statement_event(partner: &str, kind: StatementEventKind) -> Event {
        use openpile_core::settlement::events::{StatementEvent, StatementEventData};
        Event::new(
            EventData::Statement(Box::new(StatementEvent {
                kind,
                data: StatementEventData {
                    statement_id: openpile_core::ids::StatementId::parse("st-1").unwrap(),
                    partner_id: PartnerId::parse(partner).unwrap(),
                    period: "2026-03".into(),
                    state: openpile_core::settlement::statement::StatementState::Confirmed,
                    totals: Default::default(),
                    reconciliation: None,
                    credit: None,
                    payment_reference: None,
                    at: t0(),
                },
            })),
            t0(),
        )
    }

    #[tokio::test]
    async fn statement_events_reach_their_partner_in_production_only() {
        let store = seeded().await;
        let b = PartnerId::parse("B").unwrap();
        let e = statement_event("B", StatementEventKind::Confirmed);
        write(&store, &e, Audience::Partner(b), t0()).await;
        let production = all(&store, &feed("B", Environment::Production)).await;
        assert_eq!(production.len(), 1);
        assert_eq!(production[0].event_type, EventType::StatementConfirmed);
        assert_eq!(production[0].subject, "statement:st-1");
        assert!(production[0].data.contains("\"partner_id\":\"B\""));
        assert!(!production[0].data.contains("\"kind\""));
        assert!(
            all(&store, &feed("B", Environment::Sandbox))
                .await
                .is_empty()
        );
        assert!(
            all(&store, &feed("A", Environment::Production))
                .await
                .is_empty()
        );
        // A partner the store does not hold has no feed: the event is kept, seen by nobody.
        let ghost = statement_event("ZZ", StatementEventKind::Issued);
        write(
            &store,
            &ghost,
            Audience::Partner(PartnerId::parse("ZZ").unwrap()),
            t0(),
        )
        .await;
        assert_eq!(
            store
                .feed_head(&feed("ZZ", Environment::Production))
                .await
                .unwrap(),
            0
        );
    }

    /// The claim and the results run on every delivery, on the single writer: each of their
    /// statements must reach rows through an index, never by scanning a table that grows
    /// with the traffic (deliveries, attempts, events).
    #[tokio::test]
    async fn claims_and_results_search_by_index() {
        let store = seeded().await;
        let mut statements = Vec::new();
        for script in [CLAIM_SQL, RECORD_SQL] {
            statements.extend(
                script
                    .split("; ")
                    .map(str::trim)
                    .filter(|s| !matches!(*s, "BEGIN IMMEDIATE" | "COMMIT")),
            );
        }
        assert_eq!(statements.len(), 6);
        for statement in statements {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {statement}"
            )));
            for _ in 0..statement.matches('?').count() {
                query = query.bind("[]");
            }
            let plan: Vec<String> = query
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| sqlx::Row::get::<String, _>(r, 3))
                .collect();
            for line in &plan {
                let scans_a_table = line.starts_with("SCAN ")
                    && !line.contains("VIRTUAL TABLE")
                    && !["SCAN due", "SCAN f", "SCAN (subquery"]
                        .iter()
                        .any(|ok| line.starts_with(ok));
                assert!(!scans_a_table, "{statement}\n{plan:#?}");
            }
        }
    }

    /// Issue 6's delivery worker wakes on every committed event. With nothing due (no partner
    /// has a webhook subscribed) a claim must not queue for the single writer: it answers from
    /// a reader, so it returns even while another transaction holds the write lock.
    #[tokio::test]
    async fn claiming_with_nothing_due_takes_no_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("o.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let held = store.write().await.unwrap();
        let claimed = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            store.claim_deliveries(&claim(t0(), 8)),
        )
        .await
        .expect("the claim waited for the write lock")
        .unwrap();
        assert!(claimed.is_empty());
        drop(held);
    }

    #[tokio::test]
    async fn claiming_with_something_due_still_claims_it() {
        let store = seeded().await;
        let a = feed("A", Environment::Production);
        hook(&store, &a, &[EventType::StatementSettled]).await;
        let e = statement_event("A", StatementEventKind::Settled);
        write(&store, &e, Audience::Partner(a.partner_id.clone()), t0()).await;
        // Not due yet (a second before), then due.
        let early = store
            .claim_deliveries(&claim(t0() - Duration::seconds(1), 8))
            .await
            .unwrap();
        assert!(early.is_empty());
        let claimed = store.claim_deliveries(&claim(t0(), 8)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].event_type, EventType::StatementSettled);
        // Leased: nothing due again until the lease runs out.
        assert!(
            store
                .claim_deliveries(&claim(t0(), 8))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
