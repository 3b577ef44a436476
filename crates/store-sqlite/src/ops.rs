//! The operator views port (`OperatorViews`): plain reads over the sessions, events, CDR and
//! webhook tables, across every partner, for the operator console. No writes, so every method
//! uses the reading pool.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::charging::TransactionId;
use openpile_core::energy::{Watts, Wh};
use openpile_core::error::StoreError;
use openpile_core::ids::{ChargerId, ConnectorId, PartnerId, SessionId, StationId};
use openpile_core::money::Money;
use openpile_core::ops::{
    BookedTotals, EndpointHealth, OperatorViews, PartnerDeliveryHealth, SessionEvent,
    SessionFilter, SessionSummary, StationActivity,
};
use openpile_core::page::Page;
use openpile_core::partner::credential::Environment;
use openpile_core::session::SessionState;
use openpile_core::sessions::model::SessionOrigin;

use crate::columns::{parse_decimal, parse_json, parse_opt_ts, parse_ts, parse_with, ts};
use crate::{CorruptValue, SqliteStore, db_error, into_page, page_limit};

/// The columns of [`SummaryRow`], with the partner's name joined in.
const SELECT_SUMMARY: &str = "SELECT s.id, s.origin, s.partner_id, p.name AS partner_name, \
     s.partner_order_id, s.station_id, s.charger_id, s.connector_id, s.state, s.failure_reason, \
     s.failure_detail, s.transaction_id, s.created_at, s.accepted_at, s.started_at, \
     s.stop_requested_at, s.stop_requested_by, s.stopped_at, s.stop_reason, s.energy_wh, \
     s.power_w, s.soc_percent, s.cost, s.review_required, s.review_reason \
     FROM sessions s LEFT JOIN partners p ON p.id = s.partner_id";

#[derive(Debug, sqlx::FromRow)]
struct SummaryRow {
    id: String,
    origin: String,
    partner_id: Option<String>,
    partner_name: Option<String>,
    partner_order_id: Option<String>,
    station_id: String,
    charger_id: String,
    connector_id: String,
    state: String,
    failure_reason: Option<String>,
    failure_detail: Option<String>,
    transaction_id: Option<i64>,
    created_at: String,
    accepted_at: Option<String>,
    started_at: Option<String>,
    stop_requested_at: Option<String>,
    stop_requested_by: Option<String>,
    stopped_at: Option<String>,
    stop_reason: Option<String>,
    energy_wh: i64,
    power_w: Option<i64>,
    soc_percent: Option<String>,
    cost: Option<String>,
    review_required: i64,
    review_reason: Option<String>,
}

impl SummaryRow {
    fn into_summary(self) -> Result<SessionSummary, StoreError> {
        Ok(SessionSummary {
            id: parse_with("sessions.id", &self.id, SessionId::parse)?,
            origin: SessionOrigin::parse(&self.origin)
                .ok_or_else(|| CorruptValue::new("sessions.origin", &self.origin))?,
            partner_id: self
                .partner_id
                .as_deref()
                .map(|p| parse_with("sessions.partner_id", p, PartnerId::parse))
                .transpose()?,
            partner_name: self.partner_name,
            partner_order_id: self.partner_order_id,
            station_id: parse_with("sessions.station_id", &self.station_id, StationId::parse)?,
            charger_id: parse_with("sessions.charger_id", &self.charger_id, ChargerId::parse)?,
            connector_id: parse_with(
                "sessions.connector_id",
                &self.connector_id,
                ConnectorId::parse,
            )?,
            state: SessionState::parse(&self.state)
                .ok_or_else(|| CorruptValue::new("sessions.state", &self.state))?,
            failure_reason: self.failure_reason,
            failure_detail: self.failure_detail,
            transaction_id: self
                .transaction_id
                .map(|t| {
                    TransactionId::new(t)
                        .map_err(|e| CorruptValue::new("sessions.transaction_id", e))
                })
                .transpose()?,
            created_at: parse_ts("sessions.created_at", &self.created_at)?,
            accepted_at: parse_opt_ts("sessions.accepted_at", self.accepted_at.as_deref())?,
            started_at: parse_opt_ts("sessions.started_at", self.started_at.as_deref())?,
            stop_requested_at: parse_opt_ts(
                "sessions.stop_requested_at",
                self.stop_requested_at.as_deref(),
            )?,
            stop_requested_by: self.stop_requested_by,
            stopped_at: parse_opt_ts("sessions.stopped_at", self.stopped_at.as_deref())?,
            stop_reason: self.stop_reason,
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
            review_reason: (self.review_required != 0)
                .then(|| self.review_reason.unwrap_or_default()),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct EndpointRow {
    partner_id: String,
    partner_name: String,
    environment: Option<String>,
    url: Option<String>,
    enabled: Option<i64>,
    disabled_at: Option<String>,
    failing_since: Option<String>,
    last_error: Option<String>,
    last_success_at: Option<String>,
    pending: i64,
    failing: i64,
    dead: i64,
}

fn count(column: &'static str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| CorruptValue::new(column, n))
}

#[async_trait]
impl OperatorViews for SqliteStore {
    async fn sessions(&self, filter: &SessionFilter) -> Result<Page<SessionSummary>, StoreError> {
        let limit = page_limit(&filter.page);
        let rows: Vec<SummaryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_SUMMARY} WHERE (?1 IS NULL OR s.state = ?1) \
             AND (?2 IS NULL OR s.partner_id = ?2) \
             AND (?3 IS NULL OR s.station_id = ?3) \
             AND (?4 IS NULL OR s.created_at >= ?4) \
             AND (?5 IS NULL OR s.created_at < ?5) \
             AND (?6 IS NULL OR s.id < ?6) \
             ORDER BY s.id DESC LIMIT ?7"
        )))
        .bind(filter.state.map(SessionState::as_str))
        .bind(filter.partner_id.as_ref().map(|p| p.as_str().to_string()))
        .bind(filter.station_id.as_ref().map(|s| s.as_str().to_string()))
        .bind(filter.from.map(ts))
        .bind(filter.to.map(ts))
        .bind(filter.page.after.clone())
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let items = rows
            .into_iter()
            .map(SummaryRow::into_summary)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |s| s.id.to_string()))
    }

    async fn session(&self, id: &SessionId) -> Result<SessionSummary, StoreError> {
        let row: Option<SummaryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_SUMMARY} WHERE s.id = ?1"
        )))
        .bind(id.as_str().to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?;
        row.ok_or(StoreError::NotFound)?.into_summary()
    }

    async fn session_events(&self, id: &SessionId) -> Result<Vec<SessionEvent>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT created_at, event_type, data FROM events WHERE subject = ?1 \
             ORDER BY created_at, id",
        )
        .bind(format!("session:{id}"))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|(at, event_type, data)| {
                Ok(SessionEvent {
                    at: parse_ts("events.created_at", &at)?,
                    event_type,
                    data,
                })
            })
            .collect()
    }

    async fn active_sessions_by_station(&self) -> Result<Vec<StationActivity>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT station_id, COUNT(*) FROM sessions \
             WHERE state NOT IN ('completed', 'failed') GROUP BY station_id ORDER BY station_id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|(station, n)| {
                Ok(StationActivity {
                    station_id: parse_with("sessions.station_id", &station, StationId::parse)?,
                    active: count("sessions.count", n)?,
                })
            })
            .collect()
    }

    async fn booked_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BookedTotals, StoreError> {
        // Amounts are decimal text: summed here, exactly, not by SQLite's floating point.
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT energy_wh, total FROM cdrs WHERE booked_at >= ?1 AND booked_at < ?2",
        )
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let mut totals = BookedTotals {
            cdrs: 0,
            energy: Wh(0),
            revenue: Money::ZERO,
        };
        for (energy, total) in rows {
            totals.cdrs += 1;
            totals.energy = Wh(totals.energy.0 + energy);
            totals.revenue =
                Money::new(totals.revenue.amount() + parse_decimal("cdrs.total", &total)?);
        }
        Ok(totals)
    }

    async fn delivery_health(
        &self,
        partner: Option<&PartnerId>,
    ) -> Result<Vec<PartnerDeliveryHealth>, StoreError> {
        let rows: Vec<EndpointRow> = sqlx::query_as(
            "SELECT p.id AS partner_id, p.name AS partner_name, w.environment, w.url, \
                    w.enabled, w.disabled_at, w.failing_since, w.last_error, \
                    (SELECT MAX(a.at) FROM webhook_attempts a \
                       JOIN webhook_deliveries d ON d.id = a.delivery_id \
                      WHERE d.webhook_id = w.id AND a.status BETWEEN 200 AND 299) \
                       AS last_success_at, \
                    (SELECT COUNT(*) FROM webhook_deliveries d \
                      WHERE d.webhook_id = w.id AND d.state = 'pending') AS pending, \
                    (SELECT COUNT(*) FROM webhook_deliveries d \
                      WHERE d.webhook_id = w.id AND d.state = 'pending' \
                        AND d.round_attempts > 0) AS failing, \
                    (SELECT COUNT(*) FROM webhook_deliveries d \
                      WHERE d.webhook_id = w.id AND d.state = 'dead') AS dead \
               FROM partners p LEFT JOIN webhooks w ON w.partner_id = p.id \
              WHERE (?1 IS NULL OR p.id = ?1) \
              ORDER BY p.name, p.id, w.environment DESC",
        )
        .bind(partner.map(|p| p.as_str().to_string()))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let mut by_partner: BTreeMap<(String, String), PartnerDeliveryHealth> = BTreeMap::new();
        for r in rows {
            let key = (r.partner_name.clone(), r.partner_id.clone());
            let entry = match by_partner.entry(key) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => v.insert(PartnerDeliveryHealth {
                    partner_id: parse_with("partners.id", &r.partner_id, PartnerId::parse)?,
                    partner_name: r.partner_name.clone(),
                    endpoints: Vec::new(),
                }),
            };
            let (Some(environment), Some(url)) = (r.environment.as_deref(), r.url) else {
                continue;
            };
            entry.endpoints.push(EndpointHealth {
                environment: Environment::parse(environment)
                    .ok_or_else(|| CorruptValue::new("webhooks.environment", environment))?,
                url,
                enabled: r.enabled == Some(1),
                disabled_at: parse_opt_ts("webhooks.disabled_at", r.disabled_at.as_deref())?,
                failing_since: parse_opt_ts("webhooks.failing_since", r.failing_since.as_deref())?,
                last_error: r.last_error,
                last_success_at: parse_opt_ts("webhook_attempts.at", r.last_success_at.as_deref())?,
                pending: count("webhook_deliveries.pending", r.pending)?,
                failing: count("webhook_deliveries.failing", r.failing)?,
                dead: count("webhook_deliveries.dead", r.dead)?,
            });
        }
        Ok(by_partner.into_values().collect())
    }
}
