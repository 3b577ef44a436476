//! [`SessionStore`] on SQLite: charging sessions and reservations. Each port method is one
//! write transaction (`BEGIN IMMEDIATE`), so the checks a create makes (the partner's order id,
//! a reservation held by someone else) and the claim of the connector (a partial unique index)
//! cannot interleave with another create. Changes are compare-and-set on `version`, written
//! with their events (`outbox::emit`) in the same transaction.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::charging::TransactionId;
use openpile_core::energy::{Watts, Wh};
use openpile_core::error::StoreError;
use openpile_core::event::{Audience, Event};
use openpile_core::ids::{
    ChargerId, ConnectorId, ConnectorNumber, PartnerId, ReservationId, SessionId, StationId,
    TariffId,
};
use openpile_core::page::Page;
use openpile_core::reservation::ReservationState;
use openpile_core::session::{SessionState, StartFailure};
use openpile_core::sessions::model::{
    ChargingSession, Reservation, SessionLimit, SessionOrigin, SessionStopReason, StopRequester,
};
use openpile_core::sessions::ports::{
    Created, NewSession, ReservationUpdate, SessionQuery, SessionStore, SessionUpdate, constraints,
};
use sqlx::{Row as _, SqliteConnection};

use crate::columns::{parse_decimal, parse_json, parse_opt_ts, parse_ts, parse_with, to_json, ts};
use crate::outbox::{commit, emit};
use crate::{CorruptValue, SqliteStore, db_error, into_page, page_limit};

const SESSION_COLUMNS: [&str; 42] = [
    "id",
    "origin",
    "partner_id",
    "partner_order_id",
    "user_ref",
    "station_id",
    "charger_id",
    "connector_id",
    "connector_number",
    "tariff_id",
    "reservation_id",
    "limit_kind",
    "limit_value",
    "state",
    "failure_reason",
    "failure_detail",
    "id_tag",
    "transaction_id",
    "accepted_at",
    "started_at",
    "meter_start_wh",
    "meter_last_wh",
    "metered_at",
    "energy_wh",
    "power_w",
    "soc_percent",
    "cost",
    "stop_requested_at",
    "stop_requested_by",
    "stopped_at",
    "stop_reason",
    "charger_offline_since",
    "review_required",
    "review_reason",
    "next_check_at",
    "updated_event_at",
    "charging_finished_at",
    "freed_at",
    "stop_attempts",
    "version",
    "created_at",
    "updated_at",
];

const RESERVATION_COLUMNS: [&str; 21] = [
    "ocpp_id",
    "id",
    "partner_id",
    "partner_order_id",
    "station_id",
    "charger_id",
    "connector_id",
    "connector_number",
    "id_tag",
    "state",
    "failure_reason",
    "failure_detail",
    "duration_s",
    "expires_at",
    "ended_at",
    "session_id",
    "cancel_requested_at",
    "next_check_at",
    "version",
    "created_at",
    "updated_at",
];

fn list(columns: &[&str]) -> String {
    columns.join(", ")
}

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

static SELECT_SESSION: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM sessions", list(&SESSION_COLUMNS)));

static INSERT_SESSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO sessions ({}) VALUES ({})",
        list(&SESSION_COLUMNS),
        placeholders(SESSION_COLUMNS.len())
    )
});

/// `?1` is the id; `?43` the expected version; `?44` (0 or 1) asks that no transaction be
/// linked to the session.
static UPDATE_SESSION: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = SESSION_COLUMNS
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| format!("{c} = ?{}", i + 1))
        .collect();
    let n = SESSION_COLUMNS.len();
    format!(
        "UPDATE sessions SET {} WHERE id = ?1 AND version = ?{} AND (?{} = 0 OR NOT EXISTS \
         (SELECT 1 FROM ocpp_transactions WHERE session_id = ?1))",
        sets.join(", "),
        n + 1,
        n + 2
    )
});

static SELECT_RESERVATION: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM reservations", list(&RESERVATION_COLUMNS)));

/// Every column but `ocpp_id`, which the insert issues.
static INSERT_RESERVATION: LazyLock<String> = LazyLock::new(|| {
    let cols = &RESERVATION_COLUMNS[1..];
    format!(
        "INSERT INTO reservations ({}) VALUES ({}) RETURNING ocpp_id",
        cols.join(", "),
        placeholders(cols.len())
    )
});

/// `?1` is the id, `?21` the expected version.
static UPDATE_RESERVATION: LazyLock<String> = LazyLock::new(|| {
    let cols = &RESERVATION_COLUMNS[1..];
    let sets: Vec<String> = cols
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| format!("{c} = ?{}", i + 1))
        .collect();
    format!(
        "UPDATE reservations SET {} WHERE id = ?1 AND version = ?{}",
        sets.join(", "),
        cols.len() + 1
    )
});

#[derive(Debug, sqlx::FromRow)]
struct SessionRow {
    id: String,
    origin: String,
    partner_id: Option<String>,
    partner_order_id: Option<String>,
    user_ref: Option<String>,
    station_id: String,
    charger_id: String,
    connector_id: String,
    connector_number: i64,
    tariff_id: String,
    reservation_id: Option<String>,
    limit_kind: Option<String>,
    limit_value: Option<String>,
    state: String,
    failure_reason: Option<String>,
    failure_detail: Option<String>,
    id_tag: String,
    transaction_id: Option<i64>,
    accepted_at: Option<String>,
    started_at: Option<String>,
    meter_start_wh: Option<i64>,
    meter_last_wh: Option<i64>,
    metered_at: Option<String>,
    energy_wh: i64,
    power_w: Option<i64>,
    soc_percent: Option<String>,
    cost: Option<String>,
    stop_requested_at: Option<String>,
    stop_requested_by: Option<String>,
    stopped_at: Option<String>,
    stop_reason: Option<String>,
    charger_offline_since: Option<String>,
    review_required: i64,
    review_reason: Option<String>,
    next_check_at: Option<String>,
    updated_event_at: Option<String>,
    charging_finished_at: Option<String>,
    freed_at: Option<String>,
    stop_attempts: i64,
    version: i64,
    created_at: String,
    updated_at: String,
}

fn failure_of(column: &'static str, s: Option<&str>) -> Result<Option<StartFailure>, StoreError> {
    s.map(|s| {
        serde_json::from_value::<StartFailure>(serde_json::Value::String(s.to_string()))
            .map_err(|e| CorruptValue::new(column, format!("{s:?}: {e}")))
    })
    .transpose()
}

fn number(column: &'static str, n: i64) -> Result<ConnectorNumber, StoreError> {
    u32::try_from(n)
        .ok()
        .and_then(|n| ConnectorNumber::new(n).ok())
        .ok_or_else(|| CorruptValue::new(column, n))
}

impl SessionRow {
    fn into_session(self) -> Result<ChargingSession, StoreError> {
        let limit = match (&self.limit_kind, &self.limit_value) {
            (Some(k), Some(v)) => Some(
                SessionLimit::from_parts(k, v)
                    .ok_or_else(|| CorruptValue::new("sessions.limit_value", format!("{k} {v}")))?,
            ),
            _ => None,
        };
        Ok(ChargingSession {
            id: parse_with("sessions.id", &self.id, SessionId::parse)?,
            origin: SessionOrigin::parse(&self.origin)
                .ok_or_else(|| CorruptValue::new("sessions.origin", &self.origin))?,
            partner_id: self
                .partner_id
                .as_deref()
                .map(|p| parse_with("sessions.partner_id", p, PartnerId::parse))
                .transpose()?,
            partner_order_id: self.partner_order_id,
            user_ref: self.user_ref,
            station_id: parse_with("sessions.station_id", &self.station_id, StationId::parse)?,
            charger_id: parse_with("sessions.charger_id", &self.charger_id, ChargerId::parse)?,
            connector_id: parse_with(
                "sessions.connector_id",
                &self.connector_id,
                ConnectorId::parse,
            )?,
            connector_number: number("sessions.connector_number", self.connector_number)?,
            tariff_id: parse_with("sessions.tariff_id", &self.tariff_id, TariffId::parse)?,
            reservation_id: self
                .reservation_id
                .as_deref()
                .map(|r| parse_with("sessions.reservation_id", r, ReservationId::parse))
                .transpose()?,
            limit,
            state: SessionState::parse(&self.state)
                .ok_or_else(|| CorruptValue::new("sessions.state", &self.state))?,
            failure: failure_of("sessions.failure_reason", self.failure_reason.as_deref())?,
            failure_detail: self.failure_detail,
            id_tag: self.id_tag,
            transaction_id: self
                .transaction_id
                .map(|t| {
                    TransactionId::new(t)
                        .map_err(|e| CorruptValue::new("sessions.transaction_id", e))
                })
                .transpose()?,
            accepted_at: parse_opt_ts("sessions.accepted_at", self.accepted_at.as_deref())?,
            started_at: parse_opt_ts("sessions.started_at", self.started_at.as_deref())?,
            meter_start: self.meter_start_wh.map(Wh),
            meter_last: self.meter_last_wh.map(Wh),
            metered_at: parse_opt_ts("sessions.metered_at", self.metered_at.as_deref())?,
            energy: Wh(self.energy_wh),
            power: self.power_w.map(Watts),
            soc_percent: self
                .soc_percent
                .as_deref()
                .map(|s| parse_decimal("sessions.soc_percent", s))
                .transpose()?,
            cost: self
                .cost
                .as_deref()
                .map(|c| parse_json("sessions.cost", c))
                .transpose()?,
            stop_requested_at: parse_opt_ts(
                "sessions.stop_requested_at",
                self.stop_requested_at.as_deref(),
            )?,
            stop_requested_by: self
                .stop_requested_by
                .as_deref()
                .map(|s| {
                    StopRequester::parse(s)
                        .ok_or_else(|| CorruptValue::new("sessions.stop_requested_by", s))
                })
                .transpose()?,
            stopped_at: parse_opt_ts("sessions.stopped_at", self.stopped_at.as_deref())?,
            stop_reason: self
                .stop_reason
                .as_deref()
                .map(|s| {
                    SessionStopReason::parse(s)
                        .ok_or_else(|| CorruptValue::new("sessions.stop_reason", s))
                })
                .transpose()?,
            charger_offline_since: parse_opt_ts(
                "sessions.charger_offline_since",
                self.charger_offline_since.as_deref(),
            )?,
            review_required: self.review_required != 0,
            review_reason: self.review_reason,
            next_check_at: parse_opt_ts("sessions.next_check_at", self.next_check_at.as_deref())?,
            updated_event_at: parse_opt_ts(
                "sessions.updated_event_at",
                self.updated_event_at.as_deref(),
            )?,
            charging_finished_at: parse_opt_ts(
                "sessions.charging_finished_at",
                self.charging_finished_at.as_deref(),
            )?,
            freed_at: parse_opt_ts("sessions.freed_at", self.freed_at.as_deref())?,
            stop_attempts: u32::try_from(self.stop_attempts)
                .map_err(|e| CorruptValue::new("sessions.stop_attempts", e))?,
            version: self.version,
            created_at: parse_ts("sessions.created_at", &self.created_at)?,
            updated_at: parse_ts("sessions.updated_at", &self.updated_at)?,
        })
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds every column of `s`, in [`SESSION_COLUMNS`] order (`?1`…`?42`).
fn bind_session<'q>(q: Query<'q>, s: &ChargingSession) -> Result<Query<'q>, StoreError> {
    let cost = s
        .cost
        .as_ref()
        .map(|c| to_json("sessions.cost", c))
        .transpose()?;
    Ok(q.bind(s.id.as_str().to_string())
        .bind(s.origin.as_str())
        .bind(s.partner_id.as_ref().map(|p| p.as_str().to_string()))
        .bind(s.partner_order_id.clone())
        .bind(s.user_ref.clone())
        .bind(s.station_id.as_str().to_string())
        .bind(s.charger_id.as_str().to_string())
        .bind(s.connector_id.as_str().to_string())
        .bind(i64::from(s.connector_number.get()))
        .bind(s.tariff_id.as_str().to_string())
        .bind(s.reservation_id.as_ref().map(|r| r.as_str().to_string()))
        .bind(s.limit.map(|l| l.kind()))
        .bind(s.limit.map(|l| l.value_text()))
        .bind(s.state.as_str())
        .bind(s.failure.map(StartFailure::as_str))
        .bind(s.failure_detail.clone())
        .bind(s.id_tag.clone())
        .bind(s.transaction_id.map(TransactionId::get))
        .bind(s.accepted_at.map(ts))
        .bind(s.started_at.map(ts))
        .bind(s.meter_start.map(|w| w.0))
        .bind(s.meter_last.map(|w| w.0))
        .bind(s.metered_at.map(ts))
        .bind(s.energy.0)
        .bind(s.power.map(|w| w.0))
        .bind(s.soc_percent.map(|d| d.to_string()))
        .bind(cost)
        .bind(s.stop_requested_at.map(ts))
        .bind(s.stop_requested_by.map(StopRequester::as_str))
        .bind(s.stopped_at.map(ts))
        .bind(s.stop_reason.map(SessionStopReason::as_str))
        .bind(s.charger_offline_since.map(ts))
        .bind(i64::from(s.review_required))
        .bind(s.review_reason.clone())
        .bind(s.next_check_at.map(ts))
        .bind(s.updated_event_at.map(ts))
        .bind(s.charging_finished_at.map(ts))
        .bind(s.freed_at.map(ts))
        .bind(i64::from(s.stop_attempts))
        .bind(s.version)
        .bind(ts(s.created_at))
        .bind(ts(s.updated_at)))
}

#[derive(Debug, sqlx::FromRow)]
struct ReservationRow {
    ocpp_id: i64,
    id: String,
    partner_id: String,
    partner_order_id: String,
    station_id: String,
    charger_id: String,
    connector_id: String,
    connector_number: i64,
    id_tag: String,
    state: String,
    failure_reason: Option<String>,
    failure_detail: Option<String>,
    duration_s: i64,
    expires_at: String,
    ended_at: Option<String>,
    session_id: Option<String>,
    cancel_requested_at: Option<String>,
    next_check_at: Option<String>,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl ReservationRow {
    fn into_reservation(self) -> Result<Reservation, StoreError> {
        Ok(Reservation {
            id: parse_with("reservations.id", &self.id, ReservationId::parse)?,
            ocpp_id: self.ocpp_id,
            partner_id: parse_with(
                "reservations.partner_id",
                &self.partner_id,
                PartnerId::parse,
            )?,
            partner_order_id: self.partner_order_id,
            station_id: parse_with(
                "reservations.station_id",
                &self.station_id,
                StationId::parse,
            )?,
            charger_id: parse_with(
                "reservations.charger_id",
                &self.charger_id,
                ChargerId::parse,
            )?,
            connector_id: parse_with(
                "reservations.connector_id",
                &self.connector_id,
                ConnectorId::parse,
            )?,
            connector_number: number("reservations.connector_number", self.connector_number)?,
            id_tag: self.id_tag,
            state: ReservationState::parse(&self.state)
                .ok_or_else(|| CorruptValue::new("reservations.state", &self.state))?,
            failure: failure_of(
                "reservations.failure_reason",
                self.failure_reason.as_deref(),
            )?,
            failure_detail: self.failure_detail,
            duration_s: u32::try_from(self.duration_s)
                .map_err(|e| CorruptValue::new("reservations.duration_s", e))?,
            expires_at: parse_ts("reservations.expires_at", &self.expires_at)?,
            ended_at: parse_opt_ts("reservations.ended_at", self.ended_at.as_deref())?,
            session_id: self
                .session_id
                .as_deref()
                .map(|s| parse_with("reservations.session_id", s, SessionId::parse))
                .transpose()?,
            cancel_requested_at: parse_opt_ts(
                "reservations.cancel_requested_at",
                self.cancel_requested_at.as_deref(),
            )?,
            next_check_at: parse_opt_ts(
                "reservations.next_check_at",
                self.next_check_at.as_deref(),
            )?,
            version: self.version,
            created_at: parse_ts("reservations.created_at", &self.created_at)?,
            updated_at: parse_ts("reservations.updated_at", &self.updated_at)?,
        })
    }
}

/// Binds every column of `r` but `ocpp_id`, from `id` on (`?1`…`?20`).
fn bind_reservation<'q>(q: Query<'q>, r: &Reservation) -> Query<'q> {
    q.bind(r.id.as_str().to_string())
        .bind(r.partner_id.as_str().to_string())
        .bind(r.partner_order_id.clone())
        .bind(r.station_id.as_str().to_string())
        .bind(r.charger_id.as_str().to_string())
        .bind(r.connector_id.as_str().to_string())
        .bind(i64::from(r.connector_number.get()))
        .bind(r.id_tag.clone())
        .bind(r.state.as_str())
        .bind(r.failure.map(StartFailure::as_str))
        .bind(r.failure_detail.clone())
        .bind(i64::from(r.duration_s))
        .bind(ts(r.expires_at))
        .bind(r.ended_at.map(ts))
        .bind(r.session_id.as_ref().map(|s| s.as_str().to_string()))
        .bind(r.cancel_requested_at.map(ts))
        .bind(r.next_check_at.map(ts))
        .bind(r.version)
        .bind(ts(r.created_at))
        .bind(ts(r.updated_at))
}

/// A unique violation on one of this module's partial indexes, by the column SQLite names
/// (partial unique indexes have no constraint name of their own in its messages).
fn claim_conflict(e: &sqlx::Error, column: &str, constraint: &str) -> Option<StoreError> {
    match e {
        sqlx::Error::Database(db)
            if db.is_unique_violation()
                && db
                    .message()
                    .strip_prefix("UNIQUE constraint failed: ")
                    .is_some_and(|c| c.trim() == column) =>
        {
            Some(StoreError::Conflict {
                constraint: constraint.to_string(),
            })
        }
        _ => None,
    }
}

async fn load_session(
    conn: &mut SqliteConnection,
    filter: &'static str,
    key: &str,
) -> Result<Option<ChargingSession>, StoreError> {
    let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE {filter}",
        *SELECT_SESSION
    )))
    .bind(key.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    row.map(SessionRow::into_session).transpose()
}

async fn session_by_order(
    conn: &mut SqliteConnection,
    partner: &str,
    order: &str,
) -> Result<Option<ChargingSession>, StoreError> {
    let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE partner_id = ?1 AND partner_order_id = ?2",
        *SELECT_SESSION
    )))
    .bind(partner.to_string())
    .bind(order.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    row.map(SessionRow::into_session).transpose()
}

async fn reservation_by(
    conn: &mut SqliteConnection,
    filter: &'static str,
    keys: &[&str],
) -> Result<Option<Reservation>, StoreError> {
    let sql = format!("{} WHERE {filter}", *SELECT_RESERVATION);
    let mut q = sqlx::query_as::<_, ReservationRow>(sqlx::AssertSqlSafe(sql));
    for k in keys {
        q = q.bind(k.to_string());
    }
    let row = q.fetch_optional(&mut *conn).await.map_err(db_error)?;
    row.map(ReservationRow::into_reservation).transpose()
}

async fn emit_all(
    conn: &mut SqliteConnection,
    events: &[Event],
    partner: Option<&PartnerId>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(partner) = partner else {
        return Ok(());
    };
    let audience = Audience::Partner(partner.clone());
    for e in events {
        emit(conn, e, &audience, now).await?;
    }
    Ok(())
}

/// Writes a reservation change if its version still matches. True if written.
async fn apply_reservation(
    conn: &mut SqliteConnection,
    update: &ReservationUpdate,
) -> Result<bool, StoreError> {
    let r = &update.reservation;
    let q = sqlx::query(sqlx::AssertSqlSafe(UPDATE_RESERVATION.as_str()));
    let done = bind_reservation(q, r)
        .bind(update.expected_version)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    emit_all(conn, &update.events, Some(&r.partner_id), r.updated_at).await?;
    Ok(true)
}

/// Every state but the final ones (`finishing` still holds the connector).
const ACTIVE_STATES: &str = "('pending', 'starting', 'charging', 'stopping', 'finishing')";

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        new: &NewSession,
    ) -> Result<Created<ChargingSession>, StoreError> {
        let s = &new.session;
        let partner = s.partner_id.as_ref().map(PartnerId::as_str).unwrap_or("");
        let order = s.partner_order_id.as_deref().unwrap_or("");
        let mut tx = self.write().await?;
        if let Some(existing) = session_by_order(&mut tx, partner, order).await? {
            tx.commit().await.map_err(db_error)?;
            return Ok(Created::Existing(existing));
        }
        let held = reservation_by(
            &mut tx,
            "connector_id = ?1 AND state IN ('pending', 'active')",
            &[s.connector_id.as_str()],
        )
        .await?;
        if held
            .as_ref()
            .is_some_and(|r| r.partner_id.as_str() != partner)
        {
            return Err(StoreError::Conflict {
                constraint: constraints::CONNECTOR_RESERVED.into(),
            });
        }
        if let Some(rid) = &s.reservation_id
            && !held
                .as_ref()
                .is_some_and(|r| &r.id == rid && r.state == ReservationState::Active)
        {
            return Err(StoreError::Conflict {
                constraint: constraints::RESERVATION_NOT_ACTIVE.into(),
            });
        }
        let q = sqlx::query(sqlx::AssertSqlSafe(INSERT_SESSION.as_str()));
        if let Err(e) = bind_session(q, s)?.execute(&mut *tx).await {
            return Err(claim_conflict(
                &e,
                "sessions.connector_id",
                constraints::CONNECTOR_SESSION,
            )
            .unwrap_or_else(|| db_error(e)));
        }
        // The tag binding, as `TransactionStore::bind_id_tag` keeps it: a tag held by another
        // session that is still live is a conflict; a lapsed one is replaced.
        let b = &new.binding;
        let holder: Option<(String, String)> =
            sqlx::query_as("SELECT session_id, expires_at FROM id_tag_bindings WHERE id_tag = ?1")
                .bind(&b.id_tag)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if let Some((session, expires_at)) = holder
            && session != b.session_id.as_str()
            && parse_ts("id_tag_bindings.expires_at", &expires_at)? > s.created_at
        {
            return Err(StoreError::Conflict {
                constraint: "id_tag_bindings_pkey".into(),
            });
        }
        sqlx::query("DELETE FROM id_tag_bindings WHERE id_tag = ?1 OR session_id = ?2")
            .bind(&b.id_tag)
            .bind(b.session_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO id_tag_bindings (id_tag, session_id, charger_id, connector_number, \
             expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&b.id_tag)
        .bind(b.session_id.as_str())
        .bind(b.charger_id.as_str())
        .bind(b.connector.map(|c| i64::from(c.get())))
        .bind(ts(b.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Created::New(s.clone()))
    }

    async fn record_local_session(
        &self,
        session: &ChargingSession,
    ) -> Result<ChargingSession, StoreError> {
        let Some(transaction) = session.transaction_id else {
            return Err(StoreError::Other(Box::new(CorruptValue::new(
                "sessions.transaction_id",
                "a local session needs its transaction",
            ))));
        };
        let mut tx = self.write().await?;
        if let Some(existing) = load_session(
            &mut tx,
            "transaction_id = ?1",
            &transaction.get().to_string(),
        )
        .await?
        {
            tx.commit().await.map_err(db_error)?;
            return Ok(existing);
        }
        let q = sqlx::query(sqlx::AssertSqlSafe(INSERT_SESSION.as_str()));
        bind_session(q, session)?
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(session.clone())
    }

    async fn get_session(&self, id: &SessionId) -> Result<ChargingSession, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        load_session(&mut conn, "id = ?1", id.as_str())
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn session_of_order(
        &self,
        partner: &PartnerId,
        partner_order_id: &str,
    ) -> Result<Option<ChargingSession>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        session_by_order(&mut conn, partner.as_str(), partner_order_id).await
    }

    async fn session_of_transaction(
        &self,
        id: TransactionId,
    ) -> Result<Option<ChargingSession>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE transaction_id = ?1",
            *SELECT_SESSION
        )))
        .bind(id.get())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn session_of_id_tag(&self, id_tag: &str) -> Result<Option<ChargingSession>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE id_tag = ?1 AND origin = 'partner' ORDER BY created_at DESC, id DESC \
             LIMIT 1",
            *SELECT_SESSION
        )))
        .bind(id_tag.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn list_sessions(
        &self,
        query: &SessionQuery,
    ) -> Result<Page<ChargingSession>, StoreError> {
        let limit = page_limit(&query.page);
        let rows: Vec<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE partner_id = ?1 AND origin = 'partner' \
             AND (?2 IS NULL OR state = ?2) \
             AND (?3 IS NULL OR created_at >= ?3) \
             AND (?4 IS NULL OR created_at < ?4) \
             AND (?5 IS NULL OR id > ?5) \
             ORDER BY id LIMIT ?6",
            *SELECT_SESSION
        )))
        .bind(query.partner_id.as_str().to_string())
        .bind(query.state.map(SessionState::as_str))
        .bind(query.from.map(ts))
        .bind(query.to.map(ts))
        .bind(query.page.after.clone())
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let items = rows
            .into_iter()
            .map(SessionRow::into_session)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |s| s.id.to_string()))
    }

    async fn active_sessions_on(
        &self,
        charger: &ChargerId,
        connectors: Option<&[ConnectorId]>,
    ) -> Result<Vec<ChargingSession>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE charger_id = ?1 AND state IN {ACTIVE_STATES} ORDER BY id",
            *SELECT_SESSION
        )))
        .bind(charger.as_str().to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let s = row.into_session()?;
            if connectors.is_none_or(|c| c.contains(&s.connector_id)) {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn active_sessions(&self) -> Result<Vec<ChargingSession>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE state IN {ACTIVE_STATES} ORDER BY id",
            *SELECT_SESSION
        )))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        rows.into_iter().map(SessionRow::into_session).collect()
    }

    async fn due_sessions(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ChargingSession>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE next_check_at IS NOT NULL AND next_check_at <= ?1 \
             ORDER BY next_check_at, id LIMIT ?2",
            *SELECT_SESSION
        )))
        .bind(ts(at))
        .bind(i64::from(limit.max(1)))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        rows.into_iter().map(SessionRow::into_session).collect()
    }

    async fn update_session(&self, update: &SessionUpdate) -> Result<bool, StoreError> {
        let s = &update.session;
        let mut tx = self.write().await?;
        let q = sqlx::query(sqlx::AssertSqlSafe(UPDATE_SESSION.as_str()));
        let done = bind_session(q, s)?
            .bind(update.expected_version)
            .bind(i64::from(update.unless_transaction_linked))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                claim_conflict(&e, "sessions.connector_id", constraints::CONNECTOR_SESSION)
                    .unwrap_or_else(|| db_error(e))
            })?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_error)?;
            return Ok(false);
        }
        if update.release_binding {
            sqlx::query("DELETE FROM id_tag_bindings WHERE session_id = ?1")
                .bind(s.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        if let Some(r) = &update.reservation {
            // A reservation that moved on meanwhile is left as it is.
            apply_reservation(&mut tx, r).await?;
        }
        if let Some(cdr) = &update.cdr {
            // Exactly one per session: the completion that writes it happens once (the version
            // check above), and `cdrs_session_key` refuses a second.
            crate::settlement::insert_cdr(&mut tx, cdr).await?;
        }
        emit_all(&mut tx, &update.events, s.partner_id.as_ref(), s.updated_at).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn create_reservation(
        &self,
        reservation: &Reservation,
    ) -> Result<Created<Reservation>, StoreError> {
        let r = reservation;
        let mut tx = self.write().await?;
        if let Some(existing) = reservation_by(
            &mut tx,
            "partner_id = ?1 AND partner_order_id = ?2",
            &[r.partner_id.as_str(), &r.partner_order_id],
        )
        .await?
        {
            tx.commit().await.map_err(db_error)?;
            return Ok(Created::Existing(existing));
        }
        let busy: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM sessions WHERE connector_id = ?1 AND origin = 'partner' \
             AND state IN {ACTIVE_STATES} LIMIT 1"
        )))
        .bind(r.connector_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if busy.is_some() {
            return Err(StoreError::Conflict {
                constraint: constraints::CONNECTOR_SESSION.into(),
            });
        }
        let q = sqlx::query(sqlx::AssertSqlSafe(INSERT_RESERVATION.as_str()));
        let ocpp_id: i64 = match bind_reservation(q, r).fetch_one(&mut *tx).await {
            Ok(row) => row.try_get(0).map_err(db_error)?,
            Err(e) => {
                return Err(claim_conflict(
                    &e,
                    "reservations.connector_id",
                    constraints::CONNECTOR_RESERVATION,
                )
                .unwrap_or_else(|| db_error(e)));
            }
        };
        if ocpp_id > i64::from(i32::MAX) {
            // Chargers keep reservationId in an int32.
            return Err(StoreError::Other(Box::new(CorruptValue::new(
                "reservations.ocpp_id",
                "out of OCPP integer range",
            ))));
        }
        tx.commit().await.map_err(db_error)?;
        Ok(Created::New(Reservation {
            ocpp_id,
            ..r.clone()
        }))
    }

    async fn get_reservation(&self, id: &ReservationId) -> Result<Reservation, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        reservation_by(&mut conn, "id = ?1", &[id.as_str()])
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn reservation_of_order(
        &self,
        partner: &PartnerId,
        partner_order_id: &str,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        reservation_by(
            &mut conn,
            "partner_id = ?1 AND partner_order_id = ?2",
            &[partner.as_str(), partner_order_id],
        )
        .await
    }

    async fn reservation_on(
        &self,
        connector: &ConnectorId,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        reservation_by(
            &mut conn,
            "connector_id = ?1 AND state IN ('pending', 'active')",
            &[connector.as_str()],
        )
        .await
    }

    async fn due_reservations(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Reservation>, StoreError> {
        let rows: Vec<ReservationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE next_check_at IS NOT NULL AND next_check_at <= ?1 \
             ORDER BY next_check_at, ocpp_id LIMIT ?2",
            *SELECT_RESERVATION
        )))
        .bind(ts(at))
        .bind(i64::from(limit.max(1)))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(ReservationRow::into_reservation)
            .collect()
    }

    async fn update_reservation(&self, update: &ReservationUpdate) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        if !apply_reservation(&mut tx, update).await? {
            tx.rollback().await.map_err(db_error)?;
            return Ok(false);
        }
        commit(tx).await?;
        Ok(true)
    }
}
