//! Validation shared by both formats: turns raw records into core types through their own
//! `parse`/`new`/`validate` (so an import accepts exactly what the admin API accepts), then
//! checks the document as a whole: duplicate ids, connector numbers, tariff versions, chargers
//! without connectors, and references to records the document does not define. Every problem
//! is collected; a document is returned only when there is none.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use openpile_core::error::ValidationError;
use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::{ChargerId, ConnectorId, ConnectorNumber, StationId, TariffId};
use openpile_core::money::{UnitPrice, parse_plain_decimal};
use openpile_core::network::{
    AreaCode, Charger, Connector, ConnectorStandard, CurrentType, OpeningHours, Registration,
    Station, StationStatus,
};
use openpile_core::tariff::{DayMinute, IdleFee, PeriodLabel, Tariff, TariffSegment};
use rust_decimal::Decimal;

use crate::document::{ChargerImport, ImportDocument, OcppPassword, Reference, ReferenceTarget};
use crate::error::{Errors, ImportError, ImportErrors};
use crate::raw::{
    Fields, Parent, RawCharger, RawConnector, RawDocument, RawStation, RawTariff, Scalar,
};

/// Validates `raw`, adding to the problems the reader already found.
pub(crate) fn build(raw: &RawDocument, mut errs: Errors) -> Result<ImportDocument, ImportErrors> {
    let tariffs: Vec<Option<Tariff>> = raw.tariffs.iter().map(|t| tariff(t, &mut errs)).collect();
    let stations: Vec<Built<StationId, Station>> =
        raw.stations.iter().map(|s| station(s, &mut errs)).collect();
    let chargers: Vec<Built<ChargerId, ChargerImport>> = raw
        .chargers
        .iter()
        .map(|c| charger(c, &stations, &mut errs))
        .collect();
    let defined_chargers = first_by_id(&chargers);
    let connectors: Vec<BuiltConnector> = raw
        .connectors
        .iter()
        .map(|c| connector(c, &chargers, &defined_chargers, &mut errs))
        .collect();

    check_tariff_versions(raw, &tariffs, &mut errs);
    let mut references = Vec::new();
    check_stations(raw, &stations, &tariffs, &mut references, &mut errs);
    check_chargers(
        raw,
        &chargers,
        &stations,
        &connectors,
        &mut references,
        &mut errs,
    );
    check_connectors(
        raw,
        &connectors,
        &defined_chargers,
        &mut references,
        &mut errs,
    );
    errs.into_result()?;

    // With no problem reported every record was built. A missing one would be a bug here, and
    // must not silently shrink the import.
    let tariffs: Option<Vec<Tariff>> = tariffs.into_iter().collect();
    let stations: Option<Vec<Station>> = stations.into_iter().map(|b| b.value).collect();
    let chargers: Option<Vec<ChargerImport>> = chargers.into_iter().map(|b| b.value).collect();
    let connectors: Option<Vec<Connector>> = connectors.into_iter().map(|b| b.value).collect();
    let (Some(tariffs), Some(stations), Some(chargers), Some(connectors)) =
        (tariffs, stations, chargers, connectors)
    else {
        return Err(ImportErrors::single(ImportError::new(
            "document",
            "",
            "internal error: a record was neither built nor reported",
        )));
    };
    let connector_locations = raw
        .connectors
        .iter()
        .map(|c| c.fields.loc.clone())
        .collect();
    Ok(ImportDocument {
        tariffs,
        stations,
        chargers,
        connectors,
        connector_locations,
        references,
    })
}

/// A record with its id, which cross-checks need even when another field is invalid.
struct Built<I, T> {
    id: Option<I>,
    value: Option<T>,
}

struct BuiltConnector {
    charger_id: Option<ChargerId>,
    number: Option<ConnectorNumber>,
    id: Option<ConnectorId>,
    /// The id is `<charger>-<number>`, not the file's.
    derived_id: bool,
    value: Option<Connector>,
}

/// A raw value that the reader has not already reported as wrongly shaped.
#[derive(Clone, Copy)]
enum Val<'a> {
    Text(&'a str),
    Number(&'a serde_json::Number),
    Bool(bool),
    /// A CSV cell, which may stand for any type.
    Cell(&'a str),
}

/// A required field: absent is an error.
fn req<T>(
    f: &Fields,
    errs: &mut Errors,
    key: &'static str,
    conv: impl FnOnce(Val<'_>) -> Result<T, String>,
) -> Option<T> {
    match f.get(key) {
        None => {
            errs.push(&f.loc, f.spelled(key), "is required");
            None
        }
        Some(v) => convert(f, errs, key, v, conv),
    }
}

/// An optional field: `None` when absent (or invalid, which is reported).
fn opt<T>(
    f: &Fields,
    errs: &mut Errors,
    key: &'static str,
    conv: impl FnOnce(Val<'_>) -> Result<T, String>,
) -> Option<T> {
    f.get(key).and_then(|v| convert(f, errs, key, v, conv))
}

fn convert<T>(
    f: &Fields,
    errs: &mut Errors,
    key: &'static str,
    v: &Scalar,
    conv: impl FnOnce(Val<'_>) -> Result<T, String>,
) -> Option<T> {
    let v = match v {
        Scalar::Text(s) => Val::Text(s),
        Scalar::Number(n) => Val::Number(n),
        Scalar::Bool(b) => Val::Bool(*b),
        Scalar::Cell(s) => Val::Cell(s),
        Scalar::Reported => return None,
    };
    conv(v)
        .map_err(|reason| errs.push(&f.loc, f.spelled(key), reason))
        .ok()
}

fn text(v: Val<'_>) -> Result<&str, String> {
    match v {
        Val::Text(s) | Val::Cell(s) => Ok(s),
        Val::Number(n) => Err(format!("must be a string, not the number {n}")),
        Val::Bool(b) => Err(format!("must be a string, not {b}")),
    }
}

fn string(v: Val<'_>) -> Result<String, String> {
    text(v).map(str::to_owned)
}

/// Optional free text: blank means absent.
fn nonblank(v: Val<'_>) -> Result<Option<String>, String> {
    let s = text(v)?;
    Ok((!s.trim().is_empty()).then(|| s.to_owned()))
}

/// A text field read by a core parser, whose reason is kept and whose field name is replaced by
/// the file's.
fn parsed<T>(
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> impl FnOnce(Val<'_>) -> Result<T, String> {
    move |v| parse(text(v)?).map_err(|e| e.reason)
}

/// A decimal given as a string (`"0.3500"`) or a JSON number, never through a float rounding.
fn decimal(v: Val<'_>) -> Result<Decimal, String> {
    match v {
        Val::Text(s) | Val::Cell(s) => parse_plain_decimal("", s).map_err(|e| e.reason),
        Val::Number(n) => {
            if let Some(u) = n.as_u64() {
                return Ok(Decimal::from(u));
            }
            if let Some(i) = n.as_i64() {
                return Ok(Decimal::from(i));
            }
            // serde_json holds a fraction as an f64 (the workspace must not enable
            // `arbitrary_precision`, see crates.md), and prints the shortest text that reads
            // back as that f64. For any number of up to 15 significant digits, which covers
            // every price and power we accept (≤ 1000 with ≤ 4 decimals), that text is exactly
            // what the file said, so "0.35" stays 0.35 and "0.35001" is still seen to have 5.
            let s = n.to_string();
            let d = if s.contains(['e', 'E']) {
                Decimal::from_scientific(&s)
            } else {
                Decimal::from_str(&s)
            };
            d.map_err(|_| format!("{s} is out of range"))
        }
        Val::Bool(b) => Err(format!("must be a number, not {b}")),
    }
}

fn price(v: Val<'_>) -> Result<UnitPrice, String> {
    UnitPrice::new("", decimal(v)?).map_err(|e| e.reason)
}

fn whole(v: Val<'_>) -> Result<u32, String> {
    let err = |shown: &dyn std::fmt::Display| format!("{shown} is not a whole number");
    match v {
        Val::Number(n) => n
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .ok_or_else(|| err(n)),
        Val::Cell(s) => s.parse().map_err(|_| err(&format!("{s:?}"))),
        Val::Text(s) => Err(format!("must be a number, not the string {s:?}")),
        Val::Bool(b) => Err(format!("must be a number, not {b}")),
    }
}

fn float(v: Val<'_>) -> Result<f64, String> {
    match v {
        Val::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Val::Cell(s) => s.parse().map_err(|_| format!("{s:?} is not a number")),
        Val::Text(s) => Err(format!("must be a number, not the string {s:?}")),
        Val::Bool(b) => Err(format!("must be a number, not {b}")),
    }
}

fn flag(v: Val<'_>) -> Result<bool, String> {
    match v {
        Val::Bool(b) => Ok(b),
        Val::Cell(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(format!("{s:?} is not true or false")),
        },
        Val::Text(s) => Err(format!("must be true or false, not the string {s:?}")),
        Val::Number(n) => Err(format!("must be true or false, not {n}")),
    }
}

fn datum(s: &str) -> Result<Datum, ValidationError> {
    match s.to_ascii_lowercase().as_str() {
        "wgs84" => Ok(Datum::Wgs84),
        "gcj02" => Ok(Datum::Gcj02),
        _ => Err(ValidationError::new("datum", "must be wgs84 or gcj02")),
    }
}

fn rfc3339(s: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            ValidationError::new(
                "effective_from",
                format!("{s:?} is not an RFC 3339 time such as 2026-01-01T00:00:00+08:00"),
            )
        })
}

fn tariff(t: &RawTariff, errs: &mut Errors) -> Option<Tariff> {
    let f = &t.fields;
    let id = req(f, errs, "id", parsed(|s| TariffId::parse(s)));
    let name = req(f, errs, "name", string);
    let version = opt(f, errs, "version", whole).unwrap_or(1);
    let effective_from = req(f, errs, "effective_from", parsed(rfc3339));
    let segments: Vec<Option<TariffSegment>> =
        t.segments.iter().map(|s| segment(s, errs)).collect();
    let idle_fee = match &t.idle_fee {
        Some(fee) => idle_fee(fee, errs).map(Some),
        None => Some(None),
    };
    let segments: Option<Vec<TariffSegment>> = segments.into_iter().collect();
    let (Some(id), Some(name), Some(effective_from), Some(segments), Some(idle_fee)) =
        (id, name, effective_from, segments, idle_fee)
    else {
        return None;
    };
    Tariff::new(id, name, version, effective_from, segments, idle_fee)
        .map_err(|e| report_tariff(t, e, errs))
        .ok()
}

/// Places a `Tariff::new` error on the record it concerns: a segment's errors on that segment
/// (core numbers segments in file order, and its reasons name other segments the same way, so
/// those are rewritten to locations the operator can find).
fn report_tariff(t: &RawTariff, e: ValidationError, errs: &mut Errors) {
    let segment = e
        .field
        .strip_prefix("segments[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(i, rest)| Some((t.segments.get(i.parse::<usize>().ok()?)?, rest)));
    if let Some((seg, rest)) = segment {
        let mut reason = e.reason;
        // Highest index first, so that `segments[1]` does not eat into `segments[12]`.
        for (j, other) in t.segments.iter().enumerate().rev() {
            reason = reason.replace(&format!("segments[{j}]"), &other.loc);
        }
        errs.push(&seg.loc, rest.trim_start_matches('.'), reason);
    } else if let (Some(("idle_fee", field)), Some(fee)) =
        (e.field.split_once('.'), t.idle_fee.as_ref())
    {
        let field = if field == "grace_minutes" {
            fee.spelled("grace_minutes")
        } else {
            fee.spelled("price_per_minute")
        };
        errs.push(&fee.loc, field, e.reason);
    } else if e.field == "segments" {
        errs.push(&t.loc, "segments", e.reason);
    } else {
        errs.push(&t.fields.loc, &e.field, e.reason);
    }
}

fn segment(f: &Fields, errs: &mut Errors) -> Option<TariffSegment> {
    let start = req(f, errs, "start", parsed(|s| DayMinute::parse("start", s)));
    let end = req(f, errs, "end", parsed(|s| DayMinute::parse("end", s)));
    let label = opt(f, errs, "label", parsed(PeriodLabel::parse));
    let electricity_price = req(f, errs, "electricity_price", price);
    let service_price = req(f, errs, "service_price", price);
    Some(TariffSegment {
        start: start?,
        end: end?,
        label,
        electricity_price: electricity_price?,
        service_price: service_price?,
    })
}

fn idle_fee(f: &Fields, errs: &mut Errors) -> Option<IdleFee> {
    let price_per_minute = req(f, errs, "price_per_minute", price);
    let grace_minutes = req(f, errs, "grace_minutes", whole);
    Some(IdleFee {
        price_per_minute: price_per_minute?,
        grace_minutes: grace_minutes?,
    })
}

fn station(s: &RawStation, errs: &mut Errors) -> Built<StationId, Station> {
    let f = &s.fields;
    let id = req(f, errs, "id", parsed(|s| StationId::parse(s)));
    let name = req(f, errs, "name", string);
    let address = req(f, errs, "address", string);
    let area_code = req(f, errs, "area_code", parsed(AreaCode::parse));
    let province = req(f, errs, "province", string);
    let city = req(f, errs, "city", string);
    let district = req(f, errs, "district", string);
    let lat = req(f, errs, "lat", float);
    let lng = req(f, errs, "lng", float);
    let datum = opt(f, errs, "datum", parsed(datum)).unwrap_or(Datum::Wgs84);
    let location = match (lat, lng) {
        (Some(lat), Some(lng)) => Coordinates::new(lat, lng, datum)
            .map_err(|e| errs.push(&f.loc, &e.field, e.reason))
            .ok(),
        _ => None,
    };
    let opening_hours = req(f, errs, "opening_hours", parsed(OpeningHours::parse));
    let parking = opt(f, errs, "parking", nonblank).flatten();
    let service_phone = req(f, errs, "service_phone", string);
    let status =
        opt(f, errs, "status", parsed(StationStatus::parse)).unwrap_or(StationStatus::Operational);
    let tariff_id = req(f, errs, "tariff_id", parsed(|s| TariffId::parse(s)));
    let sandbox = opt(f, errs, "sandbox", flag).unwrap_or(false);
    let value = (|| {
        Some(Station {
            id: id.clone()?,
            name: name?,
            address: address?,
            area_code: area_code?,
            province: province?,
            city: city?,
            district: district?,
            location: location?,
            opening_hours: opening_hours?,
            parking,
            service_phone: service_phone?,
            photos: s.photos.clone(),
            status,
            tariff_id: tariff_id?,
            sandbox,
            retired_at: None,
        })
    })()
    .filter(|station| match station.validate() {
        Ok(()) => true,
        Err(e) => {
            errs.push(&f.loc, &e.field, e.reason);
            false
        }
    });
    Built { id, value }
}

fn charger(
    c: &RawCharger,
    stations: &[Built<StationId, Station>],
    errs: &mut Errors,
) -> Built<ChargerId, ChargerImport> {
    let f = &c.fields;
    let id = req(f, errs, "id", parsed(|s| ChargerId::parse(s)));
    let station_id = match c.station {
        // The station's own id problem, if any, is reported on the station.
        Parent::Nested(i) => stations.get(i).and_then(|s| s.id.clone()),
        Parent::ByField => req(f, errs, "station_id", parsed(|s| StationId::parse(s))),
    };
    let vendor = req(f, errs, "vendor", string);
    let model = req(f, errs, "model", string);
    let serial = opt(f, errs, "serial", nonblank).flatten();
    let current_type = req(f, errs, "current_type", parsed(CurrentType::parse));
    let max_power_kw = req(f, errs, "max_power_kw", decimal);
    let firmware = opt(f, errs, "firmware", nonblank).flatten();
    let ocpp_password = opt(f, errs, "ocpp_password", parsed(OcppPassword::parse));
    let value = (|| {
        Some(Charger {
            id: id.clone()?,
            station_id: station_id?,
            vendor: vendor?,
            model: model?,
            serial,
            current_type: current_type?,
            max_power_kw: max_power_kw?,
            firmware,
            // Imports provision; the store keeps what a charger's boot taught it.
            registration: Registration::Provisioned,
            retired_at: None,
        })
    })()
    .filter(|charger| match charger.validate() {
        Ok(()) => true,
        Err(e) => {
            errs.push(&f.loc, &e.field, e.reason);
            false
        }
    })
    .map(|charger| ChargerImport {
        charger,
        ocpp_password,
    });
    Built { id, value }
}

/// The index of the first charger with each id.
fn first_by_id(chargers: &[Built<ChargerId, ChargerImport>]) -> HashMap<ChargerId, usize> {
    let mut by_id = HashMap::new();
    for (i, c) in chargers.iter().enumerate() {
        if let Some(id) = &c.id {
            by_id.entry(id.clone()).or_insert(i);
        }
    }
    by_id
}

fn connector(
    c: &RawConnector,
    chargers: &[Built<ChargerId, ChargerImport>],
    defined: &HashMap<ChargerId, usize>,
    errs: &mut Errors,
) -> BuiltConnector {
    let f = &c.fields;
    let (charger_id, parent) = match c.charger {
        Parent::Nested(i) => {
            let parent = chargers.get(i);
            (parent.and_then(|p| p.id.clone()), parent)
        }
        Parent::ByField => {
            let id = req(f, errs, "charger_id", parsed(|s| ChargerId::parse(s)));
            let parent = id
                .as_ref()
                .and_then(|id| defined.get(id))
                .and_then(|&i| chargers.get(i));
            (id, parent)
        }
    };
    let number = req(f, errs, "number", whole).and_then(|n| {
        ConnectorNumber::new(n)
            .map_err(|e| errs.push(&f.loc, f.spelled("number"), e.reason))
            .ok()
    });
    let derived_id = f.get("id").is_none();
    let id = match (f.get("id"), &charger_id, number) {
        (Some(_), _, _) => opt(f, errs, "id", parsed(|s| ConnectorId::parse(s))),
        (None, Some(charger), Some(number)) => ConnectorId::derive(charger, number)
            .map_err(|e| {
                errs.push(
                    &f.loc,
                    f.spelled("id"),
                    format!(
                        "cannot be derived from charger id {:?} ({}); give the connector an id",
                        charger.as_str(),
                        e.reason
                    ),
                );
            })
            .ok(),
        (None, _, _) => None,
    };
    let standard = req(f, errs, "standard", parsed(ConnectorStandard::parse));
    let max_power_kw = req(f, errs, "max_power_kw", decimal);
    let voltage_v = req(f, errs, "voltage_v", whole);
    let current_a = req(f, errs, "current_a", whole);
    let value = (|| {
        Some(Connector {
            id: id.clone()?,
            charger_id: charger_id.clone()?,
            number: number?,
            standard: standard?,
            max_power_kw: max_power_kw?,
            voltage_v: voltage_v?,
            current_a: current_a?,
            retired_at: None,
        })
    })()
    .filter(|connector| {
        let checked = match parent.and_then(|p| p.value.as_ref()) {
            Some(charger) => connector.validate(&charger.charger),
            None => validate_alone(connector),
        };
        match checked {
            Ok(()) => true,
            Err(e) => {
                errs.push(&f.loc, &e.field, e.reason);
                false
            }
        }
    });
    BuiltConnector {
        charger_id,
        number,
        id,
        derived_id,
        value,
    }
}

/// Checks a connector whose charger is not (validly) in the document on its own. Core checks a
/// connector only together with its charger; a stand-in charger of the connector's own current
/// type and the highest power core accepts passes the two comparisons with the charger, so
/// exactly the connector's own checks (power, voltage, current) remain. The comparisons with the
/// real charger happen in `ImportDocument::verify_references` for stored chargers.
fn validate_alone(connector: &Connector) -> Result<(), ValidationError> {
    let Ok(station_id) = StationId::parse("stand-in") else {
        return Ok(());
    };
    let stand_in = Charger {
        id: connector.charger_id.clone(),
        station_id,
        vendor: String::new(),
        model: String::new(),
        serial: None,
        current_type: connector.standard.current_type(),
        max_power_kw: Decimal::from(1000),
        firmware: None,
        registration: Registration::Provisioned,
        retired_at: None,
    };
    connector.validate(&stand_in)
}

/// The same (id, version) twice, and versions of one tariff whose `effective_from` does not
/// increase with the version (the store orders versions by both).
fn check_tariff_versions(raw: &RawDocument, tariffs: &[Option<Tariff>], errs: &mut Errors) {
    let mut seen: HashMap<(&TariffId, u32), &str> = HashMap::new();
    let mut by_id: HashMap<&TariffId, Vec<(&Tariff, &Fields)>> = HashMap::new();
    for (t, r) in tariffs.iter().zip(&raw.tariffs) {
        let Some(t) = t else { continue };
        match seen.entry((&t.id, t.version)) {
            Entry::Occupied(first) => errs.push(
                &r.fields.loc,
                r.fields.spelled("version"),
                format!(
                    "tariff {} version {} is already defined at {}",
                    t.id,
                    t.version,
                    first.get()
                ),
            ),
            Entry::Vacant(v) => {
                v.insert(&r.fields.loc);
                by_id.entry(&t.id).or_default().push((t, &r.fields));
            }
        }
    }
    let mut ids: Vec<_> = by_id.into_iter().collect();
    ids.sort_by_key(|(id, _)| *id);
    for (_, mut versions) in ids {
        versions.sort_by_key(|(t, _)| t.version);
        for pair in versions.windows(2) {
            let [(earlier, _), (later, f)] = pair else {
                continue;
            };
            if later.effective_from <= earlier.effective_from {
                errs.push(
                    &f.loc,
                    f.spelled("effective_from"),
                    format!(
                        "must be later than version {}'s {}",
                        earlier.version,
                        earlier.effective_from.to_rfc3339()
                    ),
                );
            }
        }
    }
}

/// Duplicate station ids, and tariffs referenced but not defined.
fn check_stations(
    raw: &RawDocument,
    stations: &[Built<StationId, Station>],
    tariffs: &[Option<Tariff>],
    references: &mut Vec<Reference>,
    errs: &mut Errors,
) {
    let defined_tariffs: HashSet<&TariffId> = tariffs.iter().flatten().map(|t| &t.id).collect();
    let mut seen: HashMap<&StationId, &str> = HashMap::new();
    for (s, r) in stations.iter().zip(&raw.stations) {
        let f = &r.fields;
        if let Some(id) = &s.id {
            duplicate(&mut seen, id, f, "id", "station", errs);
        }
        if let Some(station) = &s.value
            && !defined_tariffs.contains(&station.tariff_id)
        {
            references.push(Reference {
                target: ReferenceTarget::Tariff(station.tariff_id.clone()),
                location: f.loc.clone(),
                field: f.spelled("tariff_id").to_owned(),
            });
        }
    }
}

/// Duplicate charger ids, chargers without connectors, and stations referenced by id but not
/// defined.
fn check_chargers(
    raw: &RawDocument,
    chargers: &[Built<ChargerId, ChargerImport>],
    stations: &[Built<StationId, Station>],
    connectors: &[BuiltConnector],
    references: &mut Vec<Reference>,
    errs: &mut Errors,
) {
    let defined_stations: HashSet<&StationId> = stations.iter().flat_map(|s| &s.id).collect();
    // The chargers that have a connector: by position when nested, by id when named.
    let mut nested_parents = HashSet::new();
    let mut named_parents = HashSet::new();
    for (rc, bc) in raw.connectors.iter().zip(connectors) {
        match (rc.charger, &bc.charger_id) {
            (Parent::Nested(i), _) => {
                nested_parents.insert(i);
            }
            (Parent::ByField, Some(id)) => {
                named_parents.insert(id);
            }
            (Parent::ByField, None) => {}
        }
    }
    let mut seen: HashMap<&ChargerId, &str> = HashMap::new();
    for (i, (c, r)) in chargers.iter().zip(&raw.chargers).enumerate() {
        let f = &r.fields;
        let Some(id) = &c.id else { continue };
        duplicate(&mut seen, id, f, "id", "charger", errs);
        let has_connector = nested_parents.contains(&i) || named_parents.contains(id);
        if !has_connector && !raw.unread_connectors {
            errs.push(
                &f.loc,
                f.spelled("connectors"),
                "a charger needs at least one connector, and the import has none for it",
            );
        }
        if let (Parent::ByField, Some(charger)) = (r.station, &c.value) {
            let station_id = &charger.charger.station_id;
            if !defined_stations.contains(station_id) {
                references.push(Reference {
                    target: ReferenceTarget::Station(station_id.clone()),
                    location: f.loc.clone(),
                    field: f.spelled("station_id").to_owned(),
                });
            }
        }
    }
}

/// Duplicate connector ids and numbers, and chargers referenced by id but not defined.
fn check_connectors(
    raw: &RawDocument,
    connectors: &[BuiltConnector],
    defined_chargers: &HashMap<ChargerId, usize>,
    references: &mut Vec<Reference>,
    errs: &mut Errors,
) {
    let mut ids: HashMap<&ConnectorId, &str> = HashMap::new();
    let mut numbers: HashMap<(&ChargerId, ConnectorNumber), &str> = HashMap::new();
    for (c, r) in connectors.iter().zip(&raw.connectors) {
        let f = &r.fields;
        let mut number_taken = false;
        if let (Some(charger), Some(number)) = (&c.charger_id, c.number) {
            match numbers.entry((charger, number)) {
                Entry::Occupied(first) => {
                    number_taken = true;
                    errs.push(
                        &f.loc,
                        f.spelled("number"),
                        format!(
                            "charger {charger} already has connector {number} at {}",
                            first.get()
                        ),
                    );
                }
                Entry::Vacant(v) => {
                    v.insert(&f.loc);
                }
            }
        }
        // A derived id repeats exactly when the number does; one error says it.
        if let Some(id) = &c.id
            && !(number_taken && c.derived_id)
        {
            duplicate(&mut ids, id, f, "id", "connector", errs);
        }
        if let (Parent::ByField, Some(connector)) = (r.charger, &c.value)
            && !defined_chargers.contains_key(&connector.charger_id)
        {
            references.push(Reference {
                target: ReferenceTarget::Charger(connector.charger_id.clone()),
                location: f.loc.clone(),
                field: f.spelled("charger_id").to_owned(),
            });
        }
    }
}

/// Reports `id` if an earlier record of the same kind has it.
fn duplicate<'a, I: std::hash::Hash + Eq + std::fmt::Display>(
    seen: &mut HashMap<&'a I, &'a str>,
    id: &'a I,
    f: &'a Fields,
    key: &'static str,
    kind: &str,
    errs: &mut Errors,
) {
    match seen.entry(id) {
        Entry::Occupied(first) => errs.push(
            &f.loc,
            f.spelled(key),
            format!("{kind} {id} is already defined at {}", first.get()),
        ),
        Entry::Vacant(v) => {
            v.insert(&f.loc);
        }
    }
}
