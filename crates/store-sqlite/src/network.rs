//! [`NetworkStore`] on SQLite: tariffs, stations, chargers and connectors as the operator
//! manages them. Also owns the row types of those tables, which the charger port reuses. Live
//! connector state is only initialised here; the charger port changes it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::{ChargerId, ConnectorId, ConnectorNumber, StationId, TariffId};
use openpile_core::money::UnitPrice;
use openpile_core::network::{
    AreaCode, Charger, Connector, ConnectorStandard, ConnectorView, CurrentType, OpeningHours,
    Registration, Station, StationStatus,
};
use openpile_core::page::{Page, PageRequest};
use openpile_core::ports::{
    ChargerView, ConnectorFilter, ImportSummary, NetworkBatch, NetworkStore,
};
use openpile_core::status::{ConnectorState, ConnectorStatus};
use openpile_core::tariff::{IdleFee, Tariff, TariffSegment};
use sqlx::SqliteConnection;

use crate::columns::{
    now, parse_decimal, parse_json, parse_ocpp_status, parse_opt_ts, parse_ts, parse_with, to_json,
    to_u32, ts,
};
use crate::{CorruptValue, SqliteStore, db_error, into_page, page_limit};

/// Raised when a tariff version does not follow the previous one (numbering or
/// `effective_from`). Not a database constraint: checked here, reported under this name by
/// every store.
pub(crate) const TARIFF_VERSION_ORDER: &str = "tariffs_version_order";

fn conflict(constraint: &str) -> StoreError {
    StoreError::Conflict {
        constraint: constraint.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(Debug, Clone, sqlx::FromRow)]
struct TariffRow {
    id: String,
    version: i64,
    name: String,
    effective_from: String,
    segments: String,
    idle_price_per_minute: Option<String>,
    idle_grace_minutes: Option<i64>,
}

impl TariffRow {
    fn encode(t: &Tariff) -> Result<Self, StoreError> {
        Ok(Self {
            id: t.id.to_string(),
            version: i64::from(t.version),
            name: t.name.clone(),
            effective_from: ts(t.effective_from),
            segments: to_json("tariffs.segments", &t.segments)?,
            idle_price_per_minute: t.idle_fee.as_ref().map(|f| f.price_per_minute.to_string()),
            idle_grace_minutes: t.idle_fee.as_ref().map(|f| i64::from(f.grace_minutes)),
        })
    }
}

impl TryFrom<TariffRow> for Tariff {
    type Error = StoreError;

    fn try_from(r: TariffRow) -> Result<Tariff, StoreError> {
        let id = parse_with("tariffs.id", &r.id, TariffId::parse)?;
        let version = to_u32("tariffs.version", r.version)?;
        let effective_from = parse_ts("tariffs.effective_from", &r.effective_from)?;
        let segments: Vec<TariffSegment> = parse_json("tariffs.segments", &r.segments)?;
        let idle_fee = match (r.idle_price_per_minute, r.idle_grace_minutes) {
            (Some(price), Some(grace)) => Some(IdleFee {
                price_per_minute: parse_with("tariffs.idle_price_per_minute", &price, |s| {
                    UnitPrice::parse("idle_fee.price_per_minute", s)
                })?,
                grace_minutes: to_u32("tariffs.idle_grace_minutes", grace)?,
            }),
            _ => None,
        };
        // Re-validated as on the way in: a stored tariff always covers the day.
        Tariff::new(id, r.name, version, effective_from, segments, idle_fee)
            .map_err(|e| CorruptValue::new("tariffs", e))
    }
}

#[derive(Debug, sqlx::FromRow)]
struct StationRow {
    id: String,
    name: String,
    address: String,
    area_code: String,
    province: String,
    city: String,
    district: String,
    lat: f64,
    lng: f64,
    opening_hours: String,
    parking: Option<String>,
    service_phone: String,
    photos: String,
    status: String,
    tariff_id: String,
    sandbox: bool,
    retired_at: Option<String>,
}

impl TryFrom<StationRow> for Station {
    type Error = StoreError;

    fn try_from(r: StationRow) -> Result<Station, StoreError> {
        Ok(Station {
            id: parse_with("stations.id", &r.id, StationId::parse)?,
            name: r.name,
            address: r.address,
            area_code: parse_with("stations.area_code", &r.area_code, AreaCode::parse)?,
            province: r.province,
            city: r.city,
            district: r.district,
            location: Coordinates::new(r.lat, r.lng, Datum::Wgs84)
                .map_err(|e| CorruptValue::new("stations.lat/lng", e))?,
            opening_hours: parse_json::<OpeningHours>("stations.opening_hours", &r.opening_hours)?,
            parking: r.parking,
            service_phone: r.service_phone,
            photos: parse_json("stations.photos", &r.photos)?,
            status: parse_with("stations.status", &r.status, StationStatus::parse)?,
            tariff_id: parse_with("stations.tariff_id", &r.tariff_id, TariffId::parse)?,
            sandbox: r.sandbox,
            retired_at: parse_opt_ts("stations.retired_at", r.retired_at.as_deref())?,
        })
    }
}

const STATION_COLUMNS: &str = "id, name, address, area_code, province, city, district, lat, lng, \
     opening_hours, parking, service_phone, photos, status, tariff_id, sandbox, retired_at";

#[derive(Debug, sqlx::FromRow)]
struct ChargerRow {
    id: String,
    station_id: String,
    vendor: String,
    model: String,
    serial: Option<String>,
    current_type: String,
    max_power_kw: String,
    firmware: Option<String>,
    registration: String,
    has_password: bool,
    last_boot_at: Option<String>,
    last_seen_at: Option<String>,
    retired_at: Option<String>,
}

impl TryFrom<ChargerRow> for ChargerView {
    type Error = StoreError;

    fn try_from(r: ChargerRow) -> Result<ChargerView, StoreError> {
        let registration = Registration::parse(&r.registration).ok_or_else(|| {
            CorruptValue::new("chargers.registration", format!("{:?}", r.registration))
        })?;
        Ok(ChargerView {
            charger: Charger {
                id: parse_with("chargers.id", &r.id, ChargerId::parse)?,
                station_id: parse_with("chargers.station_id", &r.station_id, StationId::parse)?,
                vendor: r.vendor,
                model: r.model,
                serial: r.serial,
                current_type: parse_with(
                    "chargers.current_type",
                    &r.current_type,
                    CurrentType::parse,
                )?,
                max_power_kw: parse_decimal("chargers.max_power_kw", &r.max_power_kw)?,
                firmware: r.firmware,
                registration,
                retired_at: parse_opt_ts("chargers.retired_at", r.retired_at.as_deref())?,
            },
            has_password: r.has_password,
            last_boot_at: parse_opt_ts("chargers.last_boot_at", r.last_boot_at.as_deref())?,
            last_seen_at: parse_opt_ts("chargers.last_seen_at", r.last_seen_at.as_deref())?,
        })
    }
}

const CHARGER_COLUMNS: &str = "id, station_id, vendor, model, serial, current_type, \
     max_power_kw, firmware, registration, ocpp_password_hash IS NOT NULL AS has_password, \
     last_boot_at, last_seen_at, retired_at";

/// A connector row with its live state. Shared with the charger port, which changes the state.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ConnectorRow {
    pub(crate) id: String,
    pub(crate) charger_id: String,
    pub(crate) number: i64,
    pub(crate) standard: String,
    pub(crate) max_power_kw: String,
    pub(crate) voltage_v: i64,
    pub(crate) current_a: i64,
    pub(crate) status: String,
    pub(crate) ocpp_status: Option<String>,
    pub(crate) status_changed_at: String,
    pub(crate) status_seq: i64,
    pub(crate) retired_at: Option<String>,
}

/// The columns of [`ConnectorRow`], qualified by the alias `c`.
pub(crate) const CONNECTOR_COLUMNS: &str = "c.id, c.charger_id, c.number, c.standard, \
     c.max_power_kw, c.voltage_v, c.current_a, c.status, c.ocpp_status, c.status_changed_at, \
     c.status_seq, c.retired_at";

impl ConnectorRow {
    pub(crate) fn state(&self) -> Result<ConnectorState, StoreError> {
        Ok(ConnectorState {
            status: ConnectorStatus::parse(&self.status).ok_or_else(|| {
                CorruptValue::new("connectors.status", format!("{:?}", self.status))
            })?,
            ocpp_status: self
                .ocpp_status
                .as_deref()
                .map(|s| parse_ocpp_status("connectors.ocpp_status", s))
                .transpose()?,
            changed_at: parse_ts("connectors.status_changed_at", &self.status_changed_at)?,
            status_seq: self.status_seq,
        })
    }
}

impl TryFrom<ConnectorRow> for ConnectorView {
    type Error = StoreError;

    fn try_from(r: ConnectorRow) -> Result<ConnectorView, StoreError> {
        let state = r.state()?;
        let number = u32::try_from(r.number)
            .ok()
            .and_then(|n| ConnectorNumber::new(n).ok())
            .ok_or_else(|| CorruptValue::new("connectors.number", r.number))?;
        Ok(ConnectorView {
            connector: Connector {
                id: parse_with("connectors.id", &r.id, ConnectorId::parse)?,
                charger_id: parse_with("connectors.charger_id", &r.charger_id, ChargerId::parse)?,
                number,
                standard: parse_with("connectors.standard", &r.standard, ConnectorStandard::parse)?,
                max_power_kw: parse_decimal("connectors.max_power_kw", &r.max_power_kw)?,
                voltage_v: to_u32("connectors.voltage_v", r.voltage_v)?,
                current_a: to_u32("connectors.current_a", r.current_a)?,
                retired_at: parse_opt_ts("connectors.retired_at", r.retired_at.as_deref())?,
            },
            state,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Writes, on a connection inside a transaction, so that `import_network` can run them all in one.

async fn exists(
    conn: &mut SqliteConnection,
    sql: &'static str,
    id: &str,
) -> Result<bool, StoreError> {
    let found: Option<i64> = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    Ok(found.is_some())
}

async fn put_tariff_in(conn: &mut SqliteConnection, t: &Tariff) -> Result<(), StoreError> {
    let row = TariffRow::encode(t)?;
    let versions: Vec<TariffRow> = sqlx::query_as(
        "SELECT id, version, name, effective_from, segments, idle_price_per_minute, \
         idle_grace_minutes FROM tariffs WHERE id = ?1 ORDER BY version",
    )
    .bind(&row.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;

    if let Some(existing) = versions.iter().find(|v| v.version == row.version) {
        // Re-importing the same file must succeed; changing a version that may already have
        // priced sessions must not. Compare as stored (millisecond times, sorted segments).
        let same = Tariff::try_from(TariffRow::encode(t)?)? == Tariff::try_from(existing.clone())?;
        return if same {
            Ok(())
        } else {
            Err(conflict("tariffs_id_version_key"))
        };
    }
    let previous = versions.last();
    let expected = previous.map_or(1, |p| p.version + 1);
    if row.version != expected {
        return Err(conflict(TARIFF_VERSION_ORDER));
    }
    if let Some(p) = previous
        && row.effective_from <= p.effective_from
    {
        return Err(conflict(TARIFF_VERSION_ORDER));
    }
    sqlx::query(
        "INSERT INTO tariffs (id, version, name, effective_from, segments, \
         idle_price_per_minute, idle_grace_minutes, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )
    .bind(&row.id)
    .bind(row.version)
    .bind(&row.name)
    .bind(&row.effective_from)
    .bind(&row.segments)
    .bind(&row.idle_price_per_minute)
    .bind(row.idle_grace_minutes)
    .bind(now())
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn put_station_in(conn: &mut SqliteConnection, s: &Station) -> Result<(), StoreError> {
    // The trigger would refuse it too; checking first names the error the same way on every
    // backend without relying on trigger messages.
    if !exists(
        conn,
        "SELECT 1 FROM tariffs WHERE id = ?1 LIMIT 1",
        s.tariff_id.as_str(),
    )
    .await?
    {
        return Err(conflict("stations_tariff_fk"));
    }
    sqlx::query(
        "INSERT INTO stations (id, name, address, area_code, province, city, district, lat, lng, \
         opening_hours, parking, service_phone, photos, status, tariff_id, sandbox, retired_at, \
         created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?18) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, address = excluded.address, \
         area_code = excluded.area_code, province = excluded.province, city = excluded.city, \
         district = excluded.district, lat = excluded.lat, lng = excluded.lng, \
         opening_hours = excluded.opening_hours, parking = excluded.parking, \
         service_phone = excluded.service_phone, photos = excluded.photos, \
         status = excluded.status, tariff_id = excluded.tariff_id, sandbox = excluded.sandbox, \
         retired_at = excluded.retired_at, updated_at = excluded.updated_at",
    )
    .bind(s.id.as_str())
    .bind(&s.name)
    .bind(&s.address)
    .bind(s.area_code.to_string())
    .bind(&s.province)
    .bind(&s.city)
    .bind(&s.district)
    .bind(s.location.lat)
    .bind(s.location.lng)
    .bind(to_json("stations.opening_hours", &s.opening_hours)?)
    .bind(&s.parking)
    .bind(&s.service_phone)
    .bind(to_json("stations.photos", &s.photos)?)
    .bind(s.status.as_str())
    .bind(s.tariff_id.as_str())
    .bind(s.sandbox)
    .bind(s.retired_at.map(ts))
    .bind(now())
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn put_charger_in(
    conn: &mut SqliteConnection,
    c: &Charger,
    ocpp_password_hash: Option<&str>,
) -> Result<(), StoreError> {
    if !exists(
        conn,
        "SELECT 1 FROM stations WHERE id = ?1",
        c.station_id.as_str(),
    )
    .await?
    {
        return Err(conflict("chargers_station_fk"));
    }
    // `registered` is learnt from the charger's BootNotification, which an operator's edit
    // must not forget; only an explicit `disabled` overrides it.
    sqlx::query(
        "INSERT INTO chargers (id, station_id, vendor, model, serial, current_type, max_power_kw, \
         firmware, registration, ocpp_password_hash, retired_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) \
         ON CONFLICT (id) DO UPDATE SET station_id = excluded.station_id, \
         vendor = excluded.vendor, model = excluded.model, serial = excluded.serial, \
         current_type = excluded.current_type, max_power_kw = excluded.max_power_kw, \
         firmware = excluded.firmware, \
         registration = CASE \
             WHEN excluded.registration = 'disabled' THEN 'disabled' \
             WHEN chargers.registration = 'registered' THEN 'registered' \
             ELSE excluded.registration END, \
         ocpp_password_hash = COALESCE(excluded.ocpp_password_hash, chargers.ocpp_password_hash), \
         retired_at = excluded.retired_at, updated_at = excluded.updated_at",
    )
    .bind(c.id.as_str())
    .bind(c.station_id.as_str())
    .bind(&c.vendor)
    .bind(&c.model)
    .bind(&c.serial)
    .bind(c.current_type.as_str())
    .bind(c.max_power_kw.to_string())
    .bind(&c.firmware)
    .bind(c.registration.as_str())
    .bind(ocpp_password_hash)
    .bind(c.retired_at.map(ts))
    .bind(now())
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn put_connector_in(conn: &mut SqliteConnection, c: &Connector) -> Result<(), StoreError> {
    if !exists(
        conn,
        "SELECT 1 FROM chargers WHERE id = ?1",
        c.charger_id.as_str(),
    )
    .await?
    {
        return Err(conflict("connectors_charger_fk"));
    }
    // A new connector starts offline with sequence 0 (the column defaults); an update leaves
    // the live state alone, which only the charger changes.
    let now = now();
    sqlx::query(
        "INSERT INTO connectors (id, charger_id, number, standard, max_power_kw, voltage_v, \
         current_a, retired_at, status_changed_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9) \
         ON CONFLICT (id) DO UPDATE SET charger_id = excluded.charger_id, \
         number = excluded.number, standard = excluded.standard, \
         max_power_kw = excluded.max_power_kw, voltage_v = excluded.voltage_v, \
         current_a = excluded.current_a, retired_at = excluded.retired_at, \
         updated_at = excluded.updated_at",
    )
    .bind(c.id.as_str())
    .bind(c.charger_id.as_str())
    .bind(i64::from(c.number.get()))
    .bind(c.standard.as_str())
    .bind(c.max_power_kw.to_string())
    .bind(i64::from(c.voltage_v))
    .bind(i64::from(c.current_a))
    .bind(c.retired_at.map(ts))
    .bind(&now)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The port

#[async_trait]
impl NetworkStore for SqliteStore {
    async fn import_network(&self, batch: &NetworkBatch) -> Result<ImportSummary, StoreError> {
        let mut tx = self.write().await?;
        // Dependencies first, so each item's explicit reference check sees what this batch
        // created before it. Any error returns early and drops `tx`, which rolls back.
        for t in &batch.tariffs {
            put_tariff_in(&mut tx, t).await?;
        }
        for s in &batch.stations {
            put_station_in(&mut tx, s).await?;
        }
        for (c, hash) in &batch.chargers {
            put_charger_in(&mut tx, c, hash.as_deref()).await?;
        }
        for c in &batch.connectors {
            put_connector_in(&mut tx, c).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(ImportSummary {
            tariffs: batch.tariffs.len(),
            stations: batch.stations.len(),
            chargers: batch.chargers.len(),
            connectors: batch.connectors.len(),
        })
    }

    async fn put_station(&self, station: &Station) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        put_station_in(&mut tx, station).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_station(&self, id: &StationId) -> Result<Station, StoreError> {
        let sql = format!("SELECT {STATION_COLUMNS} FROM stations WHERE id = ?1");
        let row: StationRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(db_error)?;
        row.try_into()
    }

    async fn list_stations(
        &self,
        page: &PageRequest,
        include_retired: bool,
    ) -> Result<Page<Station>, StoreError> {
        let limit = page_limit(page);
        let sql = format!(
            "SELECT {STATION_COLUMNS} FROM stations \
             WHERE (?1 OR retired_at IS NULL) AND (?2 IS NULL OR id > ?2) \
             ORDER BY id LIMIT ?3"
        );
        let rows: Vec<StationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(include_retired)
            .bind(page.after.as_deref())
            .bind(i64::from(limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(db_error)?;
        let items = rows
            .into_iter()
            .map(Station::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |s| s.id.to_string()))
    }

    async fn retire_station(&self, id: &StationId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let at = ts(at);
        let done = sqlx::query(
            "UPDATE stations SET retired_at = COALESCE(retired_at, ?2), updated_at = ?2 \
             WHERE id = ?1",
        )
        .bind(id.as_str())
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE connectors SET retired_at = ?2, updated_at = ?2 \
             WHERE retired_at IS NULL \
             AND charger_id IN (SELECT id FROM chargers WHERE station_id = ?1)",
        )
        .bind(id.as_str())
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "UPDATE chargers SET retired_at = ?2, updated_at = ?2 \
             WHERE station_id = ?1 AND retired_at IS NULL",
        )
        .bind(id.as_str())
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn put_charger(
        &self,
        charger: &Charger,
        ocpp_password_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        put_charger_in(&mut tx, charger, ocpp_password_hash).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_charger(&self, id: &ChargerId) -> Result<ChargerView, StoreError> {
        let sql = format!("SELECT {CHARGER_COLUMNS} FROM chargers WHERE id = ?1");
        let row: ChargerRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(db_error)?;
        row.try_into()
    }

    async fn list_chargers(
        &self,
        station: Option<&StationId>,
        page: &PageRequest,
    ) -> Result<Page<ChargerView>, StoreError> {
        let limit = page_limit(page);
        let sql = format!(
            "SELECT {CHARGER_COLUMNS} FROM chargers \
             WHERE (?1 IS NULL OR station_id = ?1) AND (?2 IS NULL OR id > ?2) \
             ORDER BY id LIMIT ?3"
        );
        let rows: Vec<ChargerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(station.map(StationId::as_str))
            .bind(page.after.as_deref())
            .bind(i64::from(limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(db_error)?;
        let items = rows
            .into_iter()
            .map(ChargerView::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |c| c.charger.id.to_string()))
    }

    async fn set_charger_password(
        &self,
        id: &ChargerId,
        ocpp_password_hash: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE chargers SET ocpp_password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id.as_str())
        .bind(ocpp_password_hash)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db_error)
    }

    async fn retire_charger(&self, id: &ChargerId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let at = ts(at);
        let done = sqlx::query(
            "UPDATE chargers SET retired_at = COALESCE(retired_at, ?2), updated_at = ?2 \
             WHERE id = ?1",
        )
        .bind(id.as_str())
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE connectors SET retired_at = ?2, updated_at = ?2 \
             WHERE charger_id = ?1 AND retired_at IS NULL",
        )
        .bind(id.as_str())
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn put_connector(&self, connector: &Connector) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        put_connector_in(&mut tx, connector).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_connector(&self, id: &ConnectorId) -> Result<ConnectorView, StoreError> {
        let sql = format!("SELECT {CONNECTOR_COLUMNS} FROM connectors c WHERE c.id = ?1");
        let row: ConnectorRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(db_error)?;
        row.try_into()
    }

    async fn list_connectors(
        &self,
        filter: &ConnectorFilter,
        page: &PageRequest,
    ) -> Result<Page<ConnectorView>, StoreError> {
        let limit = page_limit(page);
        let sql = format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors c \
             JOIN chargers ch ON ch.id = c.charger_id \
             WHERE (?1 IS NULL OR ch.station_id = ?1) \
             AND (?2 IS NULL OR c.charger_id = ?2) \
             AND (?3 IS NULL OR c.updated_at >= ?3) \
             AND (?4 OR c.retired_at IS NULL) \
             AND (?5 IS NULL OR c.id > ?5) \
             ORDER BY c.id LIMIT ?6"
        );
        let rows: Vec<ConnectorRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.station_id.as_ref().map(StationId::as_str))
            .bind(filter.charger_id.as_ref().map(ChargerId::as_str))
            .bind(filter.updated_since.map(ts))
            .bind(filter.include_retired)
            .bind(page.after.as_deref())
            .bind(i64::from(limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(db_error)?;
        let items = rows
            .into_iter()
            .map(ConnectorView::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |c| c.connector.id.to_string()))
    }

    async fn retire_connector(
        &self,
        id: &ConnectorId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let at = ts(at);
        let done = sqlx::query(
            "UPDATE connectors SET retired_at = COALESCE(retired_at, ?2), updated_at = ?2 \
             WHERE id = ?1",
        )
        .bind(id.as_str())
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db_error)
    }

    async fn put_tariff(&self, tariff: &Tariff) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        put_tariff_in(&mut tx, tariff).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn tariff_versions(&self, id: &TariffId) -> Result<Vec<Tariff>, StoreError> {
        let rows: Vec<TariffRow> = sqlx::query_as(
            "SELECT id, version, name, effective_from, segments, idle_price_per_minute, \
             idle_grace_minutes FROM tariffs WHERE id = ?1 ORDER BY version",
        )
        .bind(id.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        rows.into_iter().map(Tariff::try_from).collect()
    }

    async fn tariff_in_force(
        &self,
        id: &TariffId,
        at: DateTime<Utc>,
    ) -> Result<Tariff, StoreError> {
        // Versions take effect in version order (put_tariff enforces it), so the highest
        // version already in effect is the one in force.
        let row: TariffRow = sqlx::query_as(
            "SELECT id, version, name, effective_from, segments, idle_price_per_minute, \
             idle_grace_minutes FROM tariffs WHERE id = ?1 AND effective_from <= ?2 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(id.as_str())
        .bind(ts(at))
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        row.try_into()
    }

    async fn list_tariffs(&self, page: &PageRequest) -> Result<Page<Tariff>, StoreError> {
        let limit = page_limit(page);
        let rows: Vec<TariffRow> = sqlx::query_as(
            "SELECT t.id, t.version, t.name, t.effective_from, t.segments, \
             t.idle_price_per_minute, t.idle_grace_minutes FROM tariffs t \
             WHERE t.version = (SELECT MAX(version) FROM tariffs v WHERE v.id = t.id) \
             AND (?1 IS NULL OR t.id > ?1) \
             ORDER BY t.id LIMIT ?2",
        )
        .bind(page.after.as_deref())
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let items = rows
            .into_iter()
            .map(Tariff::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |t| t.id.to_string()))
    }
}
