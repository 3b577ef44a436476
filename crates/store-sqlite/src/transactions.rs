//! [`TransactionStore`] on SQLite: transactions as chargers report them, their meter samples,
//! orphan stops, parked messages and the id tags chargers may start with. Which tag is accepted
//! is core's [`TagVerdict::judge`]; this module loads what it needs, calls it and saves the
//! outcome, each port method in one write transaction so a retransmitted start cannot be
//! issued two ids.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::charging::{
    ChargingTransaction, IdTagBinding, LocalIdTag, Measurement, MeterRecorded, MeterReport,
    MeterSample, ParkedMessage, StartRecorded, StopReason, StopRecorded, TagStatus, TagVerdict,
    TransactionId, TransactionStart, TransactionStop, TransactionStore,
};
use openpile_core::energy::Wh;
use openpile_core::error::StoreError;
use openpile_core::ids::{ChargerId, ConnectorNumber, SessionId};
use sqlx::SqliteConnection;

use crate::columns::{now, parse_opt_ts, parse_ts, parse_with, ts};
use crate::{CorruptValue, SqliteStore, db_error, meter};

const TRANSACTION_COLUMNS: &str = "id, charger_id, connector_number, id_tag, tag_status, \
     tag_expires_at, parent_id_tag, session_id, reservation_id, meter_start_wh, started_at, \
     meter_last_wh, meter_last_at, meter_stop_wh, stopped_at, stop_reason, stop_id_tag";

#[derive(Debug, sqlx::FromRow)]
struct TransactionRow {
    id: i64,
    charger_id: String,
    connector_number: Option<i64>,
    id_tag: String,
    tag_status: String,
    tag_expires_at: Option<String>,
    parent_id_tag: Option<String>,
    session_id: Option<String>,
    reservation_id: Option<i64>,
    meter_start_wh: i64,
    started_at: String,
    meter_last_wh: Option<i64>,
    meter_last_at: Option<String>,
    meter_stop_wh: Option<i64>,
    stopped_at: Option<String>,
    stop_reason: Option<String>,
    stop_id_tag: Option<String>,
}

fn connector_number(
    column: &'static str,
    n: Option<i64>,
) -> Result<Option<ConnectorNumber>, StoreError> {
    n.map(|n| {
        u32::try_from(n)
            .ok()
            .and_then(|n| ConnectorNumber::new(n).ok())
            .ok_or_else(|| CorruptValue::new(column, n))
    })
    .transpose()
}

fn transaction_id(id: i64) -> Result<TransactionId, StoreError> {
    TransactionId::new(id).map_err(|e| CorruptValue::new("ocpp_transactions.id", e))
}

fn tag_status(column: &'static str, s: &str) -> Result<TagStatus, StoreError> {
    TagStatus::parse(s).ok_or_else(|| CorruptValue::new(column, format!("{s:?}")))
}

fn session_id(column: &'static str, s: Option<&str>) -> Result<Option<SessionId>, StoreError> {
    s.map(|s| parse_with(column, s, SessionId::parse))
        .transpose()
}

impl TransactionRow {
    fn into_transaction(self) -> Result<ChargingTransaction, StoreError> {
        Ok(ChargingTransaction {
            id: transaction_id(self.id)?,
            charger_id: parse_with(
                "ocpp_transactions.charger_id",
                &self.charger_id,
                ChargerId::parse,
            )?,
            connector: connector_number(
                "ocpp_transactions.connector_number",
                self.connector_number,
            )?,
            tag_status: tag_status("ocpp_transactions.tag_status", &self.tag_status)?,
            id_tag: self.id_tag,
            session_id: session_id("ocpp_transactions.session_id", self.session_id.as_deref())?,
            reservation_id: self.reservation_id,
            meter_start: Wh(self.meter_start_wh),
            started_at: parse_ts("ocpp_transactions.started_at", &self.started_at)?,
            meter_last: self.meter_last_wh.map(Wh),
            meter_last_at: parse_opt_ts(
                "ocpp_transactions.meter_last_at",
                self.meter_last_at.as_deref(),
            )?,
            meter_stop: self.meter_stop_wh.map(Wh),
            stopped_at: parse_opt_ts("ocpp_transactions.stopped_at", self.stopped_at.as_deref())?,
            stop_reason: self
                .stop_reason
                .as_deref()
                .map(|r| {
                    StopReason::parse(r)
                        .ok_or_else(|| CorruptValue::new("ocpp_transactions.stop_reason", r))
                })
                .transpose()?,
            stop_id_tag: self.stop_id_tag,
        })
    }

    /// The verdict given when the start was first recorded.
    fn verdict(&self) -> Result<TagVerdict, StoreError> {
        Ok(TagVerdict {
            status: tag_status("ocpp_transactions.tag_status", &self.tag_status)?,
            expires_at: parse_opt_ts(
                "ocpp_transactions.tag_expires_at",
                self.tag_expires_at.as_deref(),
            )?,
            parent_id_tag: self.parent_id_tag.clone(),
            session_id: session_id("ocpp_transactions.session_id", self.session_id.as_deref())?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct BindingRow {
    id_tag: String,
    session_id: String,
    charger_id: String,
    connector_number: Option<i64>,
    expires_at: String,
}

impl BindingRow {
    fn into_binding(self) -> Result<IdTagBinding, StoreError> {
        Ok(IdTagBinding {
            id_tag: self.id_tag,
            session_id: parse_with(
                "id_tag_bindings.session_id",
                &self.session_id,
                SessionId::parse,
            )?,
            charger_id: parse_with(
                "id_tag_bindings.charger_id",
                &self.charger_id,
                ChargerId::parse,
            )?,
            connector: connector_number("id_tag_bindings.connector_number", self.connector_number)?,
            expires_at: parse_ts("id_tag_bindings.expires_at", &self.expires_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct LocalTagRow {
    id_tag: String,
    status: String,
    expires_at: Option<String>,
    parent_id_tag: Option<String>,
}

impl LocalTagRow {
    fn into_tag(self) -> Result<LocalIdTag, StoreError> {
        Ok(LocalIdTag {
            status: tag_status("local_id_tags.status", &self.status)?,
            expires_at: parse_opt_ts("local_id_tags.expires_at", self.expires_at.as_deref())?,
            id_tag: self.id_tag,
            parent_id_tag: self.parent_id_tag,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct ParkedRow {
    charger_id: String,
    action: String,
    payload: String,
    reason: String,
    received_at: String,
}

/// The binding and the operator tag for `id_tag` (case-insensitive, by the columns' collation).
async fn tag_knowledge(
    conn: &mut SqliteConnection,
    id_tag: &str,
) -> Result<(Option<IdTagBinding>, Option<LocalIdTag>), StoreError> {
    let binding: Option<BindingRow> = sqlx::query_as(
        "SELECT id_tag, session_id, charger_id, connector_number, expires_at \
         FROM id_tag_bindings WHERE id_tag = ?1",
    )
    .bind(id_tag)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let local: Option<LocalTagRow> = sqlx::query_as(
        "SELECT id_tag, status, expires_at, parent_id_tag FROM local_id_tags WHERE id_tag = ?1",
    )
    .bind(id_tag)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok((
        binding.map(BindingRow::into_binding).transpose()?,
        local.map(LocalTagRow::into_tag).transpose()?,
    ))
}

async fn load_transaction(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Option<TransactionRow>, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TRANSACTION_COLUMNS} FROM ocpp_transactions WHERE id = ?1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_error)
}

/// Where a batch of samples comes from and what it is tied to.
struct SampleOrigin<'a> {
    charger_id: &'a ChargerId,
    connector: Option<ConnectorNumber>,
    transaction_id: Option<i64>,
    reported_transaction_id: Option<i64>,
    source: &'static str,
    received_at: DateTime<Utc>,
}

/// Stores `samples` as one report (nothing when there are none).
async fn insert_samples(
    conn: &mut SqliteConnection,
    origin: &SampleOrigin<'_>,
    samples: &[MeterSample],
) -> Result<(), StoreError> {
    if samples.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO ocpp_meter_values (charger_id, connector_number, transaction_id, \
         reported_transaction_id, source, samples, received_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(origin.charger_id.as_str())
    .bind(origin.connector.map(|c| i64::from(c.get())))
    .bind(origin.transaction_id)
    .bind(origin.reported_transaction_id)
    .bind(origin.source)
    .bind(meter::to_column(samples)?)
    .bind(ts(origin.received_at))
    .bind(now())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Raises a transaction's last register reading to the highest energy sample, if higher.
async fn raise_meter_last(
    conn: &mut SqliteConnection,
    transaction_id: i64,
    samples: &[MeterSample],
) -> Result<(), StoreError> {
    let highest = samples
        .iter()
        .filter_map(|s| match s.measurement {
            Measurement::EnergyImportRegister(wh) => Some((wh, s.at)),
            _ => None,
        })
        .max_by_key(|(wh, _)| *wh);
    if let Some((wh, at)) = highest {
        raise_meter_to(conn, transaction_id, wh, at).await?;
    }
    Ok(())
}

async fn raise_meter_to(
    conn: &mut SqliteConnection,
    transaction_id: i64,
    wh: Wh,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE ocpp_transactions SET meter_last_wh = ?2, meter_last_at = ?3, \
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
         WHERE id = ?1 AND (meter_last_wh IS NULL OR meter_last_wh < ?2)",
    )
    .bind(transaction_id)
    .bind(wh.0)
    .bind(ts(at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl TransactionStore for SqliteStore {
    async fn authorize_tag(
        &self,
        charger: &ChargerId,
        id_tag: &str,
        at: DateTime<Utc>,
    ) -> Result<TagVerdict, StoreError> {
        let mut tx = self.read().await?;
        let (binding, local) = tag_knowledge(&mut tx, id_tag).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(TagVerdict::judge(
            binding.as_ref(),
            local.as_ref(),
            charger,
            None,
            at,
        ))
    }

    async fn start_transaction(
        &self,
        start: &TransactionStart,
    ) -> Result<StartRecorded, StoreError> {
        let connector = start.connector.map(|c| i64::from(c.get()));
        let mut tx = self.write().await?;
        // R-T6: a retransmitted start (same charger, connector, tag, time and meter) is the
        // same transaction.
        let existing: Option<TransactionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TRANSACTION_COLUMNS} FROM ocpp_transactions \
             WHERE charger_id = ?1 AND started_at = ?2 AND meter_start_wh = ?3 \
             AND connector_number IS ?4 AND id_tag = ?5 ORDER BY id LIMIT 1"
        )))
        .bind(start.charger_id.as_str())
        .bind(ts(start.started_at))
        .bind(start.meter_start.0)
        .bind(connector)
        .bind(&start.id_tag)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if let Some(row) = existing {
            let verdict = row.verdict()?;
            let transaction_id = transaction_id(row.id)?;
            tx.commit().await.map_err(db_error)?;
            return Ok(StartRecorded {
                transaction_id,
                duplicate: true,
                verdict,
            });
        }
        let (binding, local) = tag_knowledge(&mut tx, &start.id_tag).await?;
        let verdict = TagVerdict::judge(
            binding.as_ref(),
            local.as_ref(),
            &start.charger_id,
            start.connector,
            start.received_at,
        );
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO ocpp_transactions (charger_id, connector_number, id_tag, tag_status, \
             tag_expires_at, parent_id_tag, session_id, reservation_id, meter_start_wh, \
             started_at, start_received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
        )
        .bind(start.charger_id.as_str())
        .bind(connector)
        .bind(&start.id_tag)
        .bind(verdict.status.as_str())
        .bind(verdict.expires_at.map(ts))
        .bind(verdict.parent_id_tag.as_deref())
        .bind(verdict.session_id.as_ref().map(SessionId::as_str))
        .bind(start.reservation_id)
        .bind(start.meter_start.0)
        .bind(ts(start.started_at))
        .bind(ts(start.received_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        // AUTOINCREMENT only grows; past 2^31-1 we stop issuing rather than hand chargers an
        // id their int32 cannot hold.
        let transaction_id = TransactionId::new(id).map_err(|e| StoreError::Other(Box::new(e)))?;
        if let Some(session) = &verdict.session_id {
            // The binding is used up: a second start with the tag is no longer this session's.
            sqlx::query("DELETE FROM id_tag_bindings WHERE session_id = ?1")
                .bind(session.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(StartRecorded {
            transaction_id,
            duplicate: false,
            verdict,
        })
    }

    async fn record_meter_values(&self, report: &MeterReport) -> Result<MeterRecorded, StoreError> {
        // Group-committed with the other chargers' hot-path writes (`group_commit.rs`).
        self.hot().record_meter_values(report).await
    }

    async fn stop_transaction(&self, stop: &TransactionStop) -> Result<StopRecorded, StoreError> {
        let mut tx = self.write().await?;
        let row = load_transaction(&mut tx, stop.transaction_id)
            .await?
            .filter(|row| row.charger_id == stop.charger_id.as_str());
        let Some(row) = row else {
            // R-T5: never refuse a stop. Record it once (a retransmission is ignored).
            let inserted = sqlx::query(
                "INSERT INTO ocpp_orphan_stops (charger_id, transaction_id, id_tag, \
                 meter_stop_wh, stopped_at, reason, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (charger_id, transaction_id, stopped_at, meter_stop_wh) DO NOTHING",
            )
            .bind(stop.charger_id.as_str())
            .bind(stop.transaction_id)
            .bind(stop.id_tag.as_deref())
            .bind(stop.meter_stop.0)
            .bind(ts(stop.stopped_at))
            .bind(stop.reason.as_str())
            .bind(ts(stop.received_at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if inserted.rows_affected() > 0 {
                let origin = SampleOrigin {
                    charger_id: &stop.charger_id,
                    connector: None,
                    transaction_id: None,
                    reported_transaction_id: Some(stop.transaction_id),
                    source: "stop_transaction",
                    received_at: stop.received_at,
                };
                insert_samples(&mut tx, &origin, &stop.samples).await?;
            }
            tx.commit().await.map_err(db_error)?;
            return Ok(StopRecorded::Orphan);
        };
        if row.stopped_at.is_some() {
            let transaction = row.into_transaction()?;
            tx.commit().await.map_err(db_error)?;
            return Ok(StopRecorded::AlreadyStopped(transaction));
        }
        sqlx::query(
            "UPDATE ocpp_transactions SET meter_stop_wh = ?2, stopped_at = ?3, stop_reason = ?4, \
             stop_id_tag = ?5, stop_received_at = ?6, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        )
        .bind(row.id)
        .bind(stop.meter_stop.0)
        .bind(ts(stop.stopped_at))
        .bind(stop.reason.as_str())
        .bind(stop.id_tag.as_deref())
        .bind(ts(stop.received_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let origin = SampleOrigin {
            charger_id: &stop.charger_id,
            connector: connector_number(
                "ocpp_transactions.connector_number",
                row.connector_number,
            )?,
            transaction_id: Some(row.id),
            reported_transaction_id: Some(stop.transaction_id),
            source: "stop_transaction",
            received_at: stop.received_at,
        };
        insert_samples(&mut tx, &origin, &stop.samples).await?;
        raise_meter_last(&mut tx, row.id, &stop.samples).await?;
        raise_meter_to(&mut tx, row.id, stop.meter_stop, stop.stopped_at).await?;
        let updated = load_transaction(&mut tx, row.id)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_transaction()?;
        tx.commit().await.map_err(db_error)?;
        Ok(StopRecorded::Stopped(updated))
    }

    async fn park_message(&self, message: &ParkedMessage) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO ocpp_parked_messages (charger_id, action, payload, reason, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(message.charger_id.as_str())
        .bind(&message.action)
        .bind(&message.payload)
        .bind(&message.reason)
        .bind(ts(message.received_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn bind_id_tag(
        &self,
        binding: &IdTagBinding,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        binding
            .validate()
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let mut tx = self.write().await?;
        // A tag held by another session that is still live is a conflict; a lapsed one is
        // replaced. Checked here rather than by the primary key so that the lapsed case works.
        let holder: Option<(String, String)> =
            sqlx::query_as("SELECT session_id, expires_at FROM id_tag_bindings WHERE id_tag = ?1")
                .bind(&binding.id_tag)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if let Some((session, expires_at)) = holder {
            let live = parse_ts("id_tag_bindings.expires_at", &expires_at)? > at;
            if session != binding.session_id.as_str() && live {
                return Err(StoreError::Conflict {
                    constraint: "id_tag_bindings_pkey".into(),
                });
            }
        }
        sqlx::query("DELETE FROM id_tag_bindings WHERE id_tag = ?1 OR session_id = ?2")
            .bind(&binding.id_tag)
            .bind(binding.session_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO id_tag_bindings (id_tag, session_id, charger_id, connector_number, \
             expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&binding.id_tag)
        .bind(binding.session_id.as_str())
        .bind(binding.charger_id.as_str())
        .bind(binding.connector.map(|c| i64::from(c.get())))
        .bind(ts(binding.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn unbind_id_tag(&self, session: &SessionId) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM id_tag_bindings WHERE session_id = ?1")
            .bind(session.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn put_local_id_tag(&self, tag: &LocalIdTag) -> Result<(), StoreError> {
        tag.validate().map_err(|e| StoreError::Other(Box::new(e)))?;
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO local_id_tags (id_tag, status, expires_at, parent_id_tag) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id_tag) DO UPDATE SET status = excluded.status, \
             expires_at = excluded.expires_at, parent_id_tag = excluded.parent_id_tag, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(&tag.id_tag)
        .bind(tag.status.as_str())
        .bind(tag.expires_at.map(ts))
        .bind(tag.parent_id_tag.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_transaction(&self, id: TransactionId) -> Result<ChargingTransaction, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        load_transaction(&mut conn, id.get())
            .await?
            .ok_or(StoreError::NotFound)?
            .into_transaction()
    }

    async fn transaction_of_session(
        &self,
        session: &SessionId,
    ) -> Result<Option<ChargingTransaction>, StoreError> {
        let row: Option<TransactionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TRANSACTION_COLUMNS} FROM ocpp_transactions WHERE session_id = ?1 \
             ORDER BY id LIMIT 1"
        )))
        .bind(session.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?;
        row.map(TransactionRow::into_transaction).transpose()
    }

    async fn transaction_samples(&self, id: TransactionId) -> Result<Vec<MeterSample>, StoreError> {
        let reports: Vec<String> = sqlx::query_scalar(
            "SELECT samples FROM ocpp_meter_values WHERE transaction_id = ?1 ORDER BY id",
        )
        .bind(id.get())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let mut samples = Vec::new();
        for report in &reports {
            samples.extend(meter::from_column(report)?);
        }
        // In the charger's time order; as received among samples taken at the same time.
        samples.sort_by_key(|s| s.at);
        Ok(samples)
    }

    async fn open_transactions(
        &self,
        charger: &ChargerId,
    ) -> Result<Vec<ChargingTransaction>, StoreError> {
        let rows: Vec<TransactionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TRANSACTION_COLUMNS} FROM ocpp_transactions \
             WHERE charger_id = ?1 AND stopped_at IS NULL ORDER BY id"
        )))
        .bind(charger.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(TransactionRow::into_transaction)
            .collect()
    }

    async fn list_parked(&self, limit: u32) -> Result<Vec<ParkedMessage>, StoreError> {
        let rows: Vec<ParkedRow> = sqlx::query_as(
            "SELECT charger_id, action, payload, reason, received_at FROM ocpp_parked_messages \
             ORDER BY received_at DESC, id DESC LIMIT ?1",
        )
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|r| {
                Ok(ParkedMessage {
                    charger_id: parse_with(
                        "ocpp_parked_messages.charger_id",
                        &r.charger_id,
                        ChargerId::parse,
                    )?,
                    action: r.action,
                    payload: r.payload,
                    reason: r.reason,
                    received_at: parse_ts("ocpp_parked_messages.received_at", &r.received_at)?,
                })
            })
            .collect()
    }
}
