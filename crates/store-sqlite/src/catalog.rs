//! [`StationCatalog`] on SQLite: the partner-visible network (live stations, chargers,
//! connectors with their live state, tariffs), whole or as the changes after a revision. The
//! revision and the change stamps are kept by the triggers of migration 0003, so every writer
//! (this process, an import from the CLI) is covered.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::{ChargerId, StationId, TariffId};
use openpile_core::money::UnitPrice;
use openpile_core::network::{
    AreaCode, Charger, ConnectorView, CurrentType, OpeningHours, Registration, Station,
    StationStatus,
};
use openpile_core::partner::catalog::{CatalogCharger, CatalogDelta, CatalogStation};
use openpile_core::partner::ports::StationCatalog;
use openpile_core::tariff::{IdleFee, Tariff, TariffSegment};
use sqlx::SqliteConnection;

use crate::columns::{
    parse_decimal, parse_json, parse_opt_ts, parse_ts, parse_with, to_json, to_u32,
};
use crate::network::{CONNECTOR_COLUMNS, ConnectorRow};
use crate::{CorruptValue, SqliteStore, db_error};

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
    updated_at: String,
}

const STATION_COLUMNS: &str = "s.id, s.name, s.address, s.area_code, s.province, s.city, \
     s.district, s.lat, s.lng, s.opening_hours, s.parking, s.service_phone, s.photos, s.status, \
     s.tariff_id, s.sandbox, s.retired_at, s.updated_at";

impl StationRow {
    fn decode(self) -> Result<(Station, DateTime<Utc>), StoreError> {
        let updated_at = parse_ts("stations.updated_at", &self.updated_at)?;
        let station = Station {
            id: parse_with("stations.id", &self.id, StationId::parse)?,
            name: self.name,
            address: self.address,
            area_code: parse_with("stations.area_code", &self.area_code, AreaCode::parse)?,
            province: self.province,
            city: self.city,
            district: self.district,
            location: Coordinates::new(self.lat, self.lng, Datum::Wgs84)
                .map_err(|e| CorruptValue::new("stations.lat/lng", e))?,
            opening_hours: parse_json::<OpeningHours>(
                "stations.opening_hours",
                &self.opening_hours,
            )?,
            parking: self.parking,
            service_phone: self.service_phone,
            photos: parse_json("stations.photos", &self.photos)?,
            status: parse_with("stations.status", &self.status, StationStatus::parse)?,
            tariff_id: parse_with("stations.tariff_id", &self.tariff_id, TariffId::parse)?,
            sandbox: self.sandbox,
            retired_at: parse_opt_ts("stations.retired_at", self.retired_at.as_deref())?,
        };
        Ok((station, updated_at))
    }
}

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
    retired_at: Option<String>,
    updated_at: String,
}

const CHARGER_COLUMNS: &str = "h.id, h.station_id, h.vendor, h.model, h.serial, \
     h.current_type, h.max_power_kw, h.firmware, h.registration, h.retired_at, h.updated_at";

impl ChargerRow {
    fn decode(self) -> Result<(Charger, DateTime<Utc>), StoreError> {
        let updated_at = parse_ts("chargers.updated_at", &self.updated_at)?;
        let registration = Registration::parse(&self.registration)
            .ok_or_else(|| CorruptValue::new("chargers.registration", &self.registration))?;
        let charger = Charger {
            id: parse_with("chargers.id", &self.id, ChargerId::parse)?,
            station_id: parse_with("chargers.station_id", &self.station_id, StationId::parse)?,
            vendor: self.vendor,
            model: self.model,
            serial: self.serial,
            current_type: parse_with(
                "chargers.current_type",
                &self.current_type,
                CurrentType::parse,
            )?,
            max_power_kw: parse_decimal("chargers.max_power_kw", &self.max_power_kw)?,
            firmware: self.firmware,
            registration,
            retired_at: parse_opt_ts("chargers.retired_at", self.retired_at.as_deref())?,
        };
        Ok((charger, updated_at))
    }
}

#[derive(Debug, sqlx::FromRow)]
struct LiveConnectorRow {
    #[sqlx(flatten)]
    row: ConnectorRow,
    updated_at: String,
}

#[derive(Debug, sqlx::FromRow)]
struct TariffRow {
    id: String,
    version: i64,
    name: String,
    effective_from: String,
    segments: String,
    idle_price_per_minute: Option<String>,
    idle_grace_minutes: Option<i64>,
}

impl TryFrom<TariffRow> for Tariff {
    type Error = StoreError;

    fn try_from(r: TariffRow) -> Result<Tariff, StoreError> {
        let idle_fee = match (r.idle_price_per_minute, r.idle_grace_minutes) {
            (Some(price), Some(grace)) => Some(IdleFee {
                price_per_minute: parse_with("tariffs.idle_price_per_minute", &price, |s| {
                    UnitPrice::parse("idle_fee.price_per_minute", s)
                })?,
                grace_minutes: to_u32("tariffs.idle_grace_minutes", grace)?,
            }),
            _ => None,
        };
        let segments: Vec<TariffSegment> = parse_json("tariffs.segments", &r.segments)?;
        Tariff::new(
            parse_with("tariffs.id", &r.id, TariffId::parse)?,
            r.name,
            to_u32("tariffs.version", r.version)?,
            parse_ts("tariffs.effective_from", &r.effective_from)?,
            segments,
            idle_fee,
        )
        .map_err(|e| CorruptValue::new("tariffs", e))
    }
}

/// `None`: every live station; `Some(ids)`: those of `ids` that are live.
async fn load_stations(
    conn: &mut SqliteConnection,
    ids: Option<&str>,
) -> Result<Vec<CatalogStation>, StoreError> {
    // One query per table, filtered by the same station list: the tables are read in one
    // transaction, so they agree.
    let filter = "(?1 IS NULL OR s.id IN (SELECT value FROM json_each(?1)))";
    let sql = format!(
        "SELECT {STATION_COLUMNS} FROM stations s WHERE s.retired_at IS NULL AND {filter} \
         ORDER BY s.id"
    );
    let stations: Vec<StationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let sql = format!(
        "SELECT {CHARGER_COLUMNS} FROM chargers h JOIN stations s ON s.id = h.station_id \
         WHERE h.retired_at IS NULL AND s.retired_at IS NULL AND {filter} ORDER BY h.id"
    );
    let chargers: Vec<ChargerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let sql = format!(
        "SELECT {CONNECTOR_COLUMNS}, c.updated_at AS updated_at \
         FROM connectors c JOIN chargers h ON h.id = c.charger_id \
         JOIN stations s ON s.id = h.station_id \
         WHERE c.retired_at IS NULL AND h.retired_at IS NULL AND s.retired_at IS NULL \
         AND {filter} ORDER BY c.charger_id, c.number"
    );
    let connectors: Vec<LiveConnectorRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;

    let mut by_charger: HashMap<String, Vec<(ConnectorView, DateTime<Utc>)>> = HashMap::new();
    for c in connectors {
        let updated = parse_ts("connectors.updated_at", &c.updated_at)?;
        let charger = c.row.charger_id.clone();
        let view = ConnectorView::try_from(c.row)?;
        by_charger.entry(charger).or_default().push((view, updated));
    }
    let mut by_station: HashMap<String, Vec<(CatalogCharger, DateTime<Utc>)>> = HashMap::new();
    for h in chargers {
        let station = h.station_id.clone();
        let id = h.id.clone();
        let (charger, mut updated) = h.decode()?;
        let mut views = Vec::new();
        for (v, u) in by_charger.remove(&id).unwrap_or_default() {
            updated = updated.max(u).max(v.state.changed_at);
            views.push(v);
        }
        by_station.entry(station).or_default().push((
            CatalogCharger {
                charger,
                connectors: views,
            },
            updated,
        ));
    }
    stations
        .into_iter()
        .map(|row| {
            let key = row.id.clone();
            let (station, mut updated_at) = row.decode()?;
            let mut chargers = Vec::new();
            for (c, u) in by_station.remove(&key).unwrap_or_default() {
                updated_at = updated_at.max(u);
                chargers.push(c);
            }
            Ok(CatalogStation {
                station,
                chargers,
                updated_at,
            })
        })
        .collect()
}

async fn load_tariffs(
    conn: &mut SqliteConnection,
    ids: Option<&str>,
) -> Result<Vec<Tariff>, StoreError> {
    let rows: Vec<TariffRow> = sqlx::query_as(
        "SELECT id, version, name, effective_from, segments, idle_price_per_minute, \
         idle_grace_minutes FROM tariffs \
         WHERE (?1 IS NULL OR id IN (SELECT value FROM json_each(?1))) ORDER BY id, version",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(Tariff::try_from).collect()
}

#[async_trait]
impl StationCatalog for SqliteStore {
    async fn catalog_changes(&self, since: Option<i64>) -> Result<CatalogDelta, StoreError> {
        let mut tx = self.read().await?;
        let (revision,): (i64,) =
            sqlx::query_as("SELECT revision FROM catalog_revision WHERE id = 1")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
        let delta = match since {
            Some(s) if s == revision => CatalogDelta {
                revision,
                ..CatalogDelta::default()
            },
            Some(s) if s < revision => {
                let changed: Vec<(String, String)> =
                    sqlx::query_as("SELECT kind, key FROM catalog_changes WHERE revision > ?1")
                        .bind(s)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?;
                let (station_keys, tariff_keys): (Vec<_>, Vec<_>) =
                    changed.into_iter().partition(|(kind, _)| kind == "station");
                let station_keys: BTreeSet<String> =
                    station_keys.into_iter().map(|(_, k)| k).collect();
                let tariff_keys: Vec<String> = tariff_keys.into_iter().map(|(_, k)| k).collect();
                let stations = if station_keys.is_empty() {
                    vec![]
                } else {
                    let json = to_json("catalog_changes.key", &station_keys)?;
                    load_stations(&mut tx, Some(&json)).await?
                };
                let tariffs = if tariff_keys.is_empty() {
                    vec![]
                } else {
                    let json = to_json("catalog_changes.key", &tariff_keys)?;
                    load_tariffs(&mut tx, Some(&json)).await?
                };
                let live: BTreeSet<&str> = stations.iter().map(|s| s.station.id.as_str()).collect();
                let removed = station_keys
                    .iter()
                    .filter(|k| !live.contains(k.as_str()))
                    // A key that is not a valid id was never a partner-visible station.
                    .filter_map(|k| StationId::parse(k.as_str()).ok())
                    .collect();
                CatalogDelta {
                    revision,
                    complete: false,
                    stations,
                    removed,
                    tariffs,
                }
            }
            // First load, or a revision from another database (restored, recreated).
            _ => CatalogDelta {
                revision,
                complete: true,
                stations: load_stations(&mut tx, None).await?,
                removed: vec![],
                tariffs: load_tariffs(&mut tx, None).await?,
            },
        };
        tx.commit().await.map_err(db_error)?;
        Ok(delta)
    }
}
