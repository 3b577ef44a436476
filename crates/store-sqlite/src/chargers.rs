//! [`ChargerStore`] on SQLite: what the charger-facing face records (boots, liveness, reported
//! statuses, going offline). The status rules themselves (what counts as a change, stale
//! reports, the sequence number) are core's [`ConnectorState::observe`]; the store only loads
//! the state, calls it and saves the result. The per-charger writes go through the group
//! commit (`group_commit.rs`), many chargers' in one transaction; this module keeps the
//! credentials read and `mark_all_offline` (once, at start-up).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::event::{Audience, ConnectorStatusChangedData, Event, EventData};
use openpile_core::ids::{ChargerId, ConnectorId, StationId};
use openpile_core::network::Registration;
use openpile_core::ports::{
    BootInfo, ChargerCredentials, ChargerStore, ConnectorStatusChanged, ReportedStatus,
};
use openpile_core::status::{ChargePointStatus, ConnectorState, ConnectorStatus};
use sqlx::SqliteConnection;

use crate::columns::{ocpp_status_name, parse_opt_ts, parse_with, stored, ts};
use crate::network::{CONNECTOR_COLUMNS, ConnectorRow};
use crate::outbox;
use crate::{CorruptValue, SqliteStore, db_error};

#[derive(Debug, sqlx::FromRow)]
struct CredentialsRow {
    registration: String,
    retired_at: Option<String>,
    ocpp_password_hash: Option<String>,
}

/// A connector's live state together with the station it belongs to (for the change events).
#[derive(Debug, sqlx::FromRow)]
struct LiveRow {
    #[sqlx(flatten)]
    connector: ConnectorRow,
    station_id: String,
}

/// The state to observe from. A connector never heard from (sequence 0) has no baseline time:
/// its first report applies whenever it was made, even if that is before the connector was
/// provisioned (a charger's clock, or a test's fake clock, may lag ours).
fn baseline(state: ConnectorState) -> ConnectorState {
    if state.status_seq == 0 {
        ConnectorState {
            changed_at: DateTime::<Utc>::MIN_UTC,
            ..state
        }
    } else {
        state
    }
}

/// Applies one observation to each of `rows` and saves what changed, emitting
/// `connector.status_changed` to every partner that may see the station for each change a
/// partner sees, in the same transaction. Retired connectors are left alone: partners no
/// longer see them, so nothing about them is news.
async fn observe_all(
    conn: &mut SqliteConnection,
    rows: Vec<LiveRow>,
    status: ConnectorStatus,
    ocpp_status: Option<ChargePointStatus>,
    at: DateTime<Utc>,
) -> Result<Vec<ConnectorStatusChanged>, StoreError> {
    let at = stored(at);
    // The event's own time is ours, not the charger's (whose clock may be off): it orders the
    // feed and its retention.
    let emitted_at = stored(Utc::now());
    let mut changes = Vec::new();
    for row in rows {
        if row.connector.retired_at.is_some() {
            continue;
        }
        let before = row.connector.state()?;
        let mut state = baseline(before);
        let change = state.observe(status, ocpp_status, at);
        if state == baseline(before) {
            continue;
        }
        // Only a finer OCPP status changed on a never-observed connector: keep its time.
        let changed_at = if state.status_seq == 0 {
            before.changed_at
        } else {
            state.changed_at
        };
        sqlx::query(
            "UPDATE connectors SET status = ?2, ocpp_status = ?3, status_changed_at = ?4, \
             status_seq = ?5, updated_at = ?6 WHERE id = ?1",
        )
        .bind(&row.connector.id)
        .bind(state.status.as_str())
        .bind(state.ocpp_status.map(ocpp_status_name))
        .bind(ts(changed_at))
        .bind(state.status_seq)
        .bind(ts(at))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        if let Some(change) = change {
            let change = ConnectorStatusChanged {
                connector_id: parse_with("connectors.id", &row.connector.id, ConnectorId::parse)?,
                charger_id: parse_with(
                    "connectors.charger_id",
                    &row.connector.charger_id,
                    ChargerId::parse,
                )?,
                station_id: parse_with("chargers.station_id", &row.station_id, StationId::parse)?,
                previous: change.previous,
                state: change.current,
                // Not looked up on this path (the sessions service looks itself).
                active_session: None,
            };
            emit_change(conn, &change, emitted_at).await?;
            changes.push(change);
        }
    }
    Ok(changes)
}

/// Writes the `connector.status_changed` event of `change`.
async fn emit_change(
    conn: &mut SqliteConnection,
    change: &ConnectorStatusChanged,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let event = Event::new(
        EventData::ConnectorStatusChanged(ConnectorStatusChangedData {
            station_id: change.station_id.clone(),
            charger_id: change.charger_id.clone(),
            connector_id: change.connector_id.clone(),
            status: change.state.status,
            previous_status: change.previous,
            status_seq: change.state.status_seq,
            changed_at: change.state.changed_at,
        }),
        now,
    );
    outbox::emit(
        conn,
        &event,
        &Audience::StationWatchers(change.station_id.clone()),
        now,
    )
    .await
}

/// The connectors of one charger (or of all chargers), optionally only number `number`.
async fn live_rows(
    conn: &mut SqliteConnection,
    charger: Option<&ChargerId>,
    number: Option<u32>,
) -> Result<Vec<LiveRow>, StoreError> {
    let sql = format!(
        "SELECT {CONNECTOR_COLUMNS}, ch.station_id FROM connectors c \
         JOIN chargers ch ON ch.id = c.charger_id \
         WHERE (?1 IS NULL OR c.charger_id = ?1) AND (?2 IS NULL OR c.number = ?2) \
         ORDER BY c.charger_id, c.number"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(charger.map(ChargerId::as_str))
        .bind(number.map(i64::from))
        .fetch_all(conn)
        .await
        .map_err(db_error)
}

#[async_trait]
impl ChargerStore for SqliteStore {
    async fn charger_credentials(&self, id: &ChargerId) -> Result<ChargerCredentials, StoreError> {
        let row: CredentialsRow = sqlx::query_as(
            "SELECT registration, retired_at, ocpp_password_hash FROM chargers WHERE id = ?1",
        )
        .bind(id.as_str())
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        let registration = Registration::parse(&row.registration).ok_or_else(|| {
            CorruptValue::new("chargers.registration", format!("{:?}", row.registration))
        })?;
        Ok(ChargerCredentials {
            registration,
            retired: parse_opt_ts("chargers.retired_at", row.retired_at.as_deref())?.is_some(),
            password_hash: row.ocpp_password_hash,
        })
    }

    // The hot path (boots, liveness, statuses, offline marks) is group-committed: many
    // chargers' writes share one transaction (`group_commit.rs`), with the rules below.

    async fn record_boot(
        &self,
        id: &ChargerId,
        boot: &BootInfo,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.hot().record_boot(id, boot, at).await
    }

    async fn record_seen(&self, id: &ChargerId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.hot().record_seen(id, at).await
    }

    async fn record_status(
        &self,
        id: &ChargerId,
        status: &ReportedStatus,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError> {
        self.hot().record_status(id, status).await
    }

    async fn mark_offline(
        &self,
        id: &ChargerId,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError> {
        self.hot().mark_offline(id, at).await
    }

    async fn mark_all_offline(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError> {
        let mut tx = self.write().await?;
        let rows = live_rows(&mut tx, None, None).await?;
        let changes = observe_all(&mut tx, rows, ConnectorStatus::Offline, None, at).await?;
        outbox::commit(tx).await?;
        Ok(changes)
    }
}
