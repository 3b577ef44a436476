//! The JSON format: one nested document, `{"tariffs": [...], "stations": [{..., "chargers":
//! [{..., "connectors": [...]}]}]}`. The document is read into a `serde_json::Value` and walked
//! by hand rather than derived, so that every unknown field and wrongly typed value in the file
//! is reported with its path (serde's `deny_unknown_fields` stops at the first one and gives a
//! line and column instead).

use serde_json::{Map, Value};

use crate::error::{Errors, ImportError};
use crate::raw::{
    Fields, Parent, RawCharger, RawConnector, RawDocument, RawStation, RawTariff, Scalar,
};

const DOCUMENT: &[&str] = &["tariffs", "stations"];
const TARIFF: &[&str] = &["id", "name", "version", "effective_from"];
const TARIFF_LISTS: &[&str] = &["segments", "idle_fee"];
const SEGMENT: &[&str] = &[
    "start",
    "end",
    "label",
    "electricity_price",
    "service_price",
];
const IDLE_FEE: &[&str] = &["price_per_minute", "grace_minutes"];
const STATION: &[&str] = &[
    "id",
    "name",
    "address",
    "area_code",
    "province",
    "city",
    "district",
    "lat",
    "lng",
    "datum",
    "opening_hours",
    "parking",
    "service_phone",
    "status",
    "tariff_id",
    "sandbox",
];
const STATION_LISTS: &[&str] = &["photos", "chargers"];
const CHARGER: &[&str] = &[
    "id",
    "vendor",
    "model",
    "serial",
    "current_type",
    "max_power_kw",
    "firmware",
    "ocpp_password",
];
const CHARGER_LISTS: &[&str] = &["connectors"];
const CONNECTOR: &[&str] = &[
    "number",
    "id",
    "standard",
    "max_power_kw",
    "voltage_v",
    "current_a",
];

/// Reads the document's structure. Syntax errors end the reading (there is nothing to walk);
/// everything else is added to `errs` and the walk goes on.
pub(crate) fn read(text: &str, errs: &mut Errors) -> Result<RawDocument, ImportError> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json appends the position to its message; it goes into `location` instead.
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let reason = message.strip_suffix(&suffix).unwrap_or(&message);
        ImportError::new(
            format!("line {}, column {}", e.line(), e.column()),
            "",
            format!("not valid JSON: {reason}"),
        )
    })?;
    let mut doc = RawDocument::default();
    let Some(map) = object(&root, "document", "", errs) else {
        return Ok(doc);
    };
    unknown_fields(map, "document", &[], DOCUMENT, errs);
    for (i, t) in list(map, "tariffs", "document", errs).iter().enumerate() {
        let loc = format!("tariffs[{i}]");
        if let Some(t) = tariff(t, &loc, errs) {
            doc.tariffs.push(t);
        }
    }
    for (i, s) in list(map, "stations", "document", errs).iter().enumerate() {
        station(s, &format!("stations[{i}]"), &mut doc, errs);
    }
    Ok(doc)
}

fn tariff(v: &Value, loc: &str, errs: &mut Errors) -> Option<RawTariff> {
    let map = object(v, loc, "", errs)?;
    let fields = record(map, loc, TARIFF, TARIFF_LISTS, errs);
    let segments = list(map, "segments", loc, errs)
        .iter()
        .enumerate()
        .filter_map(|(j, s)| {
            let loc = format!("{loc}.segments[{j}]");
            let map = object(s, &loc, "", errs)?;
            Some(record(map, &loc, SEGMENT, &[], errs))
        })
        .collect();
    let idle_fee = match map.get("idle_fee") {
        None | Some(Value::Null) => None,
        Some(fee) => {
            let fee_loc = format!("{loc}.idle_fee");
            let fee_map = object(fee, loc, "idle_fee", errs)?;
            Some(record(fee_map, &fee_loc, IDLE_FEE, &[], errs))
        }
    };
    Some(RawTariff {
        loc: loc.to_owned(),
        fields,
        segments,
        idle_fee,
    })
}

fn station(v: &Value, loc: &str, doc: &mut RawDocument, errs: &mut Errors) {
    let Some(map) = object(v, loc, "", errs) else {
        return;
    };
    let fields = record(map, loc, STATION, STATION_LISTS, errs);
    let photos = list(map, "photos", loc, errs)
        .iter()
        .enumerate()
        .filter_map(|(j, p)| match p {
            Value::String(url) => Some(url.clone()),
            other => {
                errs.push(
                    loc,
                    &format!("photos[{j}]"),
                    format!("must be a URL string, not {}", kind(other)),
                );
                None
            }
        })
        .collect();
    let station_index = doc.stations.len();
    doc.stations.push(RawStation { fields, photos });
    for (j, c) in list(map, "chargers", loc, errs).iter().enumerate() {
        let charger_loc = format!("{loc}.chargers[{j}]");
        let Some(charger_map) = object(c, &charger_loc, "", errs) else {
            continue;
        };
        let fields = record(charger_map, &charger_loc, CHARGER, CHARGER_LISTS, errs);
        let charger_index = doc.chargers.len();
        doc.chargers.push(RawCharger {
            fields,
            station: Parent::Nested(station_index),
        });
        for (k, n) in list(charger_map, "connectors", &charger_loc, errs)
            .iter()
            .enumerate()
        {
            let connector_loc = format!("{charger_loc}.connectors[{k}]");
            let Some(connector_map) = object(n, &connector_loc, "", errs) else {
                doc.unread_connectors = true;
                continue;
            };
            let fields = record(connector_map, &connector_loc, CONNECTOR, &[], errs);
            doc.connectors.push(RawConnector {
                fields,
                charger: Parent::Nested(charger_index),
            });
        }
    }
}

/// `v` as an object, or an error at `loc` (naming `field` when the object is a field's value).
fn object<'v>(
    v: &'v Value,
    loc: &str,
    field: &str,
    errs: &mut Errors,
) -> Option<&'v Map<String, Value>> {
    match v {
        Value::Object(map) => Some(map),
        other => {
            errs.push(
                loc,
                field,
                format!("must be an object, not {}", kind(other)),
            );
            None
        }
    }
}

/// The array under `key`; absent or null is empty.
fn list<'v>(map: &'v Map<String, Value>, key: &str, loc: &str, errs: &mut Errors) -> &'v [Value] {
    match map.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(other) => {
            errs.push(loc, key, format!("must be an array, not {}", kind(other)));
            &[]
        }
    }
}

/// The scalar fields of an object; `nested` are the keys its caller walks itself. Any other key
/// is reported as unknown.
fn record(
    map: &Map<String, Value>,
    loc: &str,
    scalars: &'static [&'static str],
    nested: &[&str],
    errs: &mut Errors,
) -> Fields {
    let mut fields = Fields::new(loc.to_owned(), &[]);
    for &key in scalars {
        let value = match map.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => Scalar::Text(s.clone()),
            Some(Value::Number(n)) => Scalar::Number(n.clone()),
            Some(Value::Bool(b)) => Scalar::Bool(*b),
            Some(other) => {
                errs.push(
                    loc,
                    key,
                    format!("must be a single value, not {}", kind(other)),
                );
                Scalar::Reported
            }
        };
        fields.insert(key, value);
    }
    unknown_fields(map, loc, scalars, nested, errs);
    fields
}

/// Reports every key that is neither in `scalars` nor in `nested`: typos must not pass silently.
fn unknown_fields(
    map: &Map<String, Value>,
    loc: &str,
    scalars: &[&str],
    nested: &[&str],
    errs: &mut Errors,
) {
    for key in map.keys() {
        if !scalars.contains(&key.as_str()) && !nested.contains(&key.as_str()) {
            let expected: Vec<&str> = scalars.iter().chain(nested).copied().collect();
            errs.push(
                loc,
                key,
                format!("unknown field (expected one of {})", expected.join(", ")),
            );
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
