//! Builders of valid domain values for store tests: short ids in, complete and realistic values
//! out. Other crates' tests may reuse them. Times are fixed (around [`BASE`]) so results do not
//! depend on the wall clock; the only wall-clock time in a store is creation bookkeeping.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;

use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::{ChargerId, ConnectorId, ConnectorNumber, StationId, TariffId};
use openpile_core::money::UnitPrice;
use openpile_core::network::{
    AreaCode, Charger, Connector, ConnectorStandard, CurrentType, OpeningHours, Registration,
    Station, StationStatus,
};
use openpile_core::operator::{AuditEntry, Email};
use openpile_core::ports::{NetworkBatch, NetworkStore};
use openpile_core::tariff::{DayMinute, IdleFee, PeriodLabel, Tariff, TariffSegment};

/// The tariff every fixture station uses unless told otherwise.
pub const TARIFF: &str = "T-SH-TOU";

/// 2026-03-01T00:00:00Z: the fixtures' "now".
pub fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

/// [`base`] shifted by `minutes` (negative: earlier).
pub fn at(minutes: i64) -> DateTime<Utc> {
    base() + Duration::minutes(minutes)
}

pub fn station_id(id: &str) -> StationId {
    StationId::parse(id).expect("fixture station id is valid")
}

pub fn charger_id(id: &str) -> ChargerId {
    ChargerId::parse(id).expect("fixture charger id is valid")
}

pub fn connector_id(id: &str) -> ConnectorId {
    ConnectorId::parse(id).expect("fixture connector id is valid")
}

pub fn tariff_id(id: &str) -> TariffId {
    TariffId::parse(id).expect("fixture tariff id is valid")
}

pub fn number(n: u32) -> ConnectorNumber {
    ConnectorNumber::new(n).expect("fixture connector number is valid")
}

pub fn email(s: &str) -> Email {
    Email::parse(s).expect("fixture e-mail is valid")
}

fn price(s: &str) -> UnitPrice {
    UnitPrice::parse("price", s).expect("fixture price is valid")
}

fn minute(s: &str) -> DayMinute {
    DayMinute::parse("time", s).expect("fixture time is valid")
}

/// Version 1 of tariff `id`, in force from 60 days before [`base`].
pub fn tariff(id: &str) -> Tariff {
    tariff_version(id, 1, at(-60 * 24 * 60))
}

/// Version `version` of tariff `id`: a Shanghai-style four-period day (谷 valley across
/// midnight, 平, 峰, 尖) with an idle fee. Prices grow with the version, so versions differ.
pub fn tariff_version(id: &str, version: u32, effective_from: DateTime<Utc>) -> Tariff {
    // +0.01 CNY of electricity per version.
    let bump = Decimal::new(i64::from(version) * 100, 4);
    let seg = |start: &str, end: &str, label, electricity: &str, service: &str| TariffSegment {
        start: minute(start),
        end: minute(end),
        label: Some(label),
        electricity_price: UnitPrice::new(
            "electricity_price",
            Decimal::from_str(electricity).expect("fixture decimal") + bump,
        )
        .expect("fixture price is valid"),
        service_price: price(service),
    };
    Tariff::new(
        tariff_id(id),
        format!("上海分时电价 v{version}"),
        version,
        effective_from,
        vec![
            seg("22:00", "06:00", PeriodLabel::Valley, "0.3100", "0.4"),
            seg("06:00", "08:00", PeriodLabel::Flat, "0.6900", "0.6"),
            seg("08:00", "19:00", PeriodLabel::Peak, "1.0800", "0.8"),
            seg("19:00", "21:00", PeriodLabel::Sharp, "1.2990", "0.8"),
            seg("21:00", "22:00", PeriodLabel::Flat, "0.6900", "0.6"),
        ],
        Some(IdleFee {
            price_per_minute: price("0.5"),
            grace_minutes: 15,
        }),
    )
    .expect("fixture tariff is valid")
}

/// A tariff without idle fee and a single all-day segment (the other shape stores must keep).
pub fn flat_tariff(id: &str) -> Tariff {
    Tariff::new(
        tariff_id(id),
        "单一电价".to_string(),
        1,
        at(-60 * 24 * 60),
        vec![TariffSegment {
            start: DayMinute::MIDNIGHT,
            end: DayMinute::END_OF_DAY,
            label: None,
            electricity_price: price("0.85"),
            service_price: price("0.65"),
        }],
        None,
    )
    .expect("fixture tariff is valid")
}

/// A station in Shanghai Pudong on tariff [`TARIFF`].
pub fn station(id: &str) -> Station {
    Station {
        id: station_id(id),
        name: format!("张江高科充电站{id}"),
        address: "上海市浦东新区祖冲之路2288号".to_string(),
        area_code: AreaCode::parse("310115").expect("fixture area code is valid"),
        province: "上海市".to_string(),
        city: "上海市".to_string(),
        district: "浦东新区".to_string(),
        location: Coordinates::new(31.203_512, 121.590_634, Datum::Wgs84)
            .expect("fixture coordinates are valid"),
        opening_hours: OpeningHours::Daily {
            open: chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("valid time"),
            close: chrono::NaiveTime::from_hms_opt(23, 30, 0).expect("valid time"),
        },
        parking: Some("充电车辆停车前2小时免费".to_string()),
        service_phone: "400-820-1234".to_string(),
        photos: vec![
            "https://img.example.com/stations/a.jpg".to_string(),
            "https://img.example.com/stations/b.jpg".to_string(),
        ],
        status: StationStatus::Operational,
        tariff_id: tariff_id(TARIFF),
        sandbox: false,
        retired_at: None,
    }
}

/// A 120 kW DC charger at `station`.
pub fn charger(id: &str, station: &str) -> Charger {
    Charger {
        id: charger_id(id),
        station_id: station_id(station),
        vendor: "星星充电".to_string(),
        model: "DC120-2G".to_string(),
        serial: Some(format!("SN-{id}")),
        current_type: CurrentType::Dc,
        max_power_kw: Decimal::new(1200, 1),
        firmware: Some("v2.3.1".to_string()),
        registration: Registration::Provisioned,
        retired_at: None,
    }
}

/// Connector `n` of DC charger `charger` (id `<charger>-<n>`), GB/T DC, 120 kW.
pub fn connector(charger: &str, n: u32) -> Connector {
    let charger = charger_id(charger);
    Connector {
        id: ConnectorId::derive(&charger, number(n)).expect("fixture connector id is valid"),
        charger_id: charger,
        number: number(n),
        standard: ConnectorStandard::GbtDc,
        max_power_kw: Decimal::from(120),
        voltage_v: 750,
        current_a: 250,
        retired_at: None,
    }
}

/// The id of station number `i` in [`network`]: `S001`, `S002`, …
pub fn network_station(i: usize) -> String {
    format!("S{i:03}")
}

/// The id of charger `j` of station `i` in [`network`]: `S001-C1`, …
pub fn network_charger(i: usize, j: usize) -> String {
    format!("{}-C{j}", network_station(i))
}

/// A whole network: tariff [`TARIFF`], `stations` stations, each with `chargers` chargers of
/// `connectors` connectors. Ids count from 1 (see [`network_station`], [`network_charger`]).
/// Every charger has the OCPP password hash `"$argon2id$fixture"`.
pub fn network(stations: usize, chargers: usize, connectors: u32) -> NetworkBatch {
    let mut batch = NetworkBatch {
        tariffs: vec![tariff(TARIFF)],
        ..NetworkBatch::default()
    };
    for i in 1..=stations {
        batch.stations.push(station(&network_station(i)));
        for j in 1..=chargers {
            let cid = network_charger(i, j);
            batch.chargers.push((
                charger(&cid, &network_station(i)),
                Some(PASSWORD_HASH.to_string()),
            ));
            for n in 1..=connectors {
                batch.connectors.push(connector(&cid, n));
            }
        }
    }
    batch
}

/// The OCPP password hash [`network`] gives every charger.
pub const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$fixture$fixture";

/// Imports `batch`, failing the test if the store refuses it.
pub async fn seed<S: NetworkStore>(store: &S, batch: &NetworkBatch) {
    store
        .import_network(batch)
        .await
        .expect("fixture network imports");
}

/// An audit entry with id `id` at `at`.
pub fn audit(id: &str, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        id: id.to_string(),
        at,
        actor: "operator:op-1".to_string(),
        action: "station.update".to_string(),
        object: "station:S001".to_string(),
        details: r#"{"field":"name"}"#.to_string(),
    }
}
